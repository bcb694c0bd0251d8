"""LSDML and M-LSDML: label-sensitive deep metric learning (Liu, Lu, Feng & Zhou).

For an ordered target -- an age, a grade, a score -- pairs of samples close in label are
positives and pairs far apart in label negatives. Each positive pair is pulled together;
each negative pair is pushed beyond a margin that grows with its label gap (the
label-sensitive margin), and only the hardest samples of a batch, in the metric being
learned, are looked at. The multi-source form (M-LSDML) learns one metric from several
data sets at once, each with its own labels, forming pairs within each source only.
"""

import contextlib
import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch.nn import functional as F
from torch.utils.data import Sampler

from .._param_validation import Interval, StrOptions
from ._base import DeepMetricLearner, _dataset_labels, _init_params
from ._modules import MLP
from ._neighbors import label_distances
from ._ordinal_targets import check_ordinal_target
from .losses._base import MetricLoss, _check_real

__all__ = ["LSDML", "LabelSensitiveLoss", "SourceBatchSampler", "hard_quadruples"]

_COSTS = ("inverse", "constant")


def hard_quadruples(distances, label_gaps, positive_threshold, negative_threshold):
    """The hard samples of LSDML in one batch: a quadruple ``(i, j, k, l)`` per anchor.

    For each sample ``i`` with at least one positive (another sample whose label gap is at
    most ``positive_threshold``): ``j``, its farthest positive; ``k``, the nearest
    negative of ``i`` (label gap above ``negative_threshold``); ``l``, the nearest negative
    of ``j``. The tutorial's mining, taken per anchor: its ``argmax`` over the positive
    pairs, read literally, would keep one pair per batch.

    Parameters
    ----------
    distances : Tensor of shape (n, n)
        Embedding distances (smaller is closer), e.g. the Euclidean ones.
    label_gaps : Tensor of shape (n, n)
        Label distances.
    positive_threshold, negative_threshold : float

    Returns
    -------
    i, j, k, l : four LongTensors of equal length, one entry per anchor with a positive;
        ``k`` (``l``) is ``-1`` where ``i`` (``j``) has no negative in the batch.
    """
    n = len(distances)
    with torch.no_grad():
        eye = torch.eye(n, dtype=torch.bool, device=distances.device)
        positive = (label_gaps <= positive_threshold) & ~eye
        negative = label_gaps > negative_threshold
        i = torch.nonzero(positive.any(1)).flatten()
        j = distances[i].masked_fill(~positive[i], -math.inf).argmax(1)

        def nearest_negative(rows):
            far = distances[rows].masked_fill(~negative[rows], math.inf)
            return torch.where(negative[rows].any(1), far.argmin(1), -1)

        return i, j, nearest_negative(i), nearest_negative(j)


class LabelSensitiveLoss(MetricLoss):
    r"""The LSDML objective on one batch of real-valued labels.

    With ``d`` the Euclidean distance of two embeddings, ``g_ab`` the label gap
    ``|y_a - y_b|``, ``tau`` the ``margin`` and ``t_n`` the ``negative_threshold``, one
    term per hard quadruple ``(i, j, k, l)`` (:func:`hard_quadruples`, or given as
    ``tuples``):

    ``max(0, tau - d_ik C_ik)^2 + max(0, tau - d_jl C_jl)^2 + positive_weight * d_ij^2``

    with the label-sensitive cost ``C_ab = t_n / g_ab`` (``cost='inverse'``): a negative
    pair needs ``d_ab >= tau g_ab / t_n``, the margin ``tau`` at the threshold and growing
    in proportion to the label gap beyond it; ``cost='constant'`` takes ``C = 1`` (one
    margin for every negative: the label-insensitive ablation). A hinge whose sample has no
    negative in the batch is 0. The first two terms are ``J1``, the last ``lambda J2`` of
    the paper; the reducer (the mean by default, each quadruple's anchor ``i`` given for
    per-anchor reducers) makes the scalar.

    Called as ``loss(embeddings, labels, tuples=None)``, ``labels`` the float labels of
    shape (n,) or (n, k) (label gaps are then Euclidean distances between label vectors).

    Parameters
    ----------
    positive_threshold : float >= 0
        A pair is positive when its label gap is at most this.
    negative_threshold : float > 0
        A pair is negative when its label gap exceeds this; at least
        ``positive_threshold`` (pairs in between are neither).
    margin : float > 0, default=2.0
        ``tau``.
    positive_weight : float >= 0, default=0.1
        ``lambda``, the weight of the positive pairs' squared distances.
    cost : {'inverse', 'constant'}, default='inverse'
        The label-sensitive cost ``C``.
    distance : distance, default=LpDistance()
        ``d`` (a distance, not a similarity).
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.lsdml import LabelSensitiveLoss
    >>> loss = LabelSensitiveLoss(positive_threshold=0.5, negative_threshold=1.0)
    >>> embeddings = torch.tensor([[0.0, 0.0], [0.0, 0.5], [3.0, 0.0], [3.0, 0.5]])
    >>> round(loss(embeddings, torch.tensor([0.0, 0.0, 2.0, 2.0])).item(), 4)
    0.525
    """

    tuple_kind = None
    distance_kind = "distance"
    needs_positive_pairs = False
    label_ndims = (1, 2)
    _reprs = ("positive_threshold", "negative_threshold", "margin", "positive_weight", "cost")

    def __init__(self, positive_threshold, negative_threshold, margin=2.0, positive_weight=0.1,
                 cost="inverse", *, distance=None, reducer=None, embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        owner = type(self).__name__
        self.positive_threshold = _check_real(positive_threshold, "positive_threshold", owner,
                                              low=0, strict=False)
        self.negative_threshold = _check_real(negative_threshold, "negative_threshold", owner,
                                              low=0)
        if self.negative_threshold < self.positive_threshold:
            raise ValueError(
                f"{owner}: negative_threshold ({negative_threshold!r}) must be at least "
                f"positive_threshold ({positive_threshold!r}): a pair cannot be both."
            )
        self.margin = _check_real(margin, "margin", owner, low=0)
        self.positive_weight = _check_real(positive_weight, "positive_weight", owner, low=0,
                                           strict=False)
        if cost not in _COSTS:
            raise ValueError(f"{owner}: cost must be one of {list(_COSTS)}, got {cost!r}.")
        self.cost = cost

    def _hinge(self, embeddings, gaps, a, b):
        """``max(0, tau - d_ab C_ab)^2``, 0 where ``b == -1`` (no negative)."""
        found = b >= 0
        b = b.clamp_min(0)
        d = self.distance.pairwise(embeddings[a], embeddings[b])
        if self.cost == "inverse":
            cost = self.negative_threshold / gaps[a, b].clamp_min(self.negative_threshold)
        else:
            cost = torch.ones_like(gaps[a, b])
        hinge = F.relu(self.margin - d * cost.to(d.dtype)) ** 2
        return torch.where(found, hinge, torch.zeros_like(hinge))

    def compute(self, embeddings, labels, tuples):
        """One term per quadruple, its anchor ``i`` as the anchor."""
        gaps = label_distances(labels.detach().to(torch.float64), "euclidean")
        if tuples is None:
            with torch.no_grad():
                distances = self.distance(embeddings.detach())
            tuples = hard_quadruples(distances, gaps, self.positive_threshold,
                                     self.negative_threshold)
        if len(tuples) != 4:
            raise ValueError(
                f"{type(self).__name__} takes quadruples (i, j, k, l) of indices into the "
                f"batch, got {len(tuples)} index tensors."
            )
        i, j, k, l = tuples
        pulled = self.distance.pairwise(embeddings[i], embeddings[j]) ** 2
        values = (self._hinge(embeddings, gaps, i, k) + self._hinge(embeddings, gaps, j, l)
                  + self.positive_weight * pulled)
        return values, i


class _LabelWindows:
    """Label neighbours of the samples of one source, drawn afresh for every anchor.

    With the labels sorted, the samples within ``radius`` of a label form a window of
    consecutive positions: an anchor's neighbours are ``k`` of its window drawn at random,
    or, where the window holds fewer, the ``k`` samples nearest in label (ties in random
    order). Memory is linear in the number of samples.
    """

    def __init__(self, labels, radius, k, rng):
        self.order = np.argsort(labels, kind="stable")
        self.sorted = labels[self.order]
        self.rank = np.empty(len(labels), dtype=np.intp)
        self.rank[self.order] = np.arange(len(labels))
        self.lo = np.searchsorted(self.sorted, labels - radius, side="left")
        self.hi = np.searchsorted(self.sorted, labels + radius, side="right")
        self.k = min(k, len(labels) - 1)
        self.rng = rng

    def __call__(self, anchor):
        p, lo, hi, k = self.rank[anchor], self.lo[anchor], self.hi[anchor], self.k
        if hi - lo - 1 >= k:  # enough positives: k of them at random
            picked = lo + self.rng.choice(hi - lo - 1, k, replace=False)
            picked[picked >= p] += 1  # skip the anchor itself
        else:  # the k nearest labels, found among the 2k around the anchor's position
            window = np.arange(max(0, p - k), min(len(self.order), p + k + 1))
            window = window[window != p]
            gaps = np.abs(self.sorted[window] - self.sorted[p])
            picked = window[np.lexsort((self.rng.random(len(window)), gaps))[:k]]
        return self.order[picked]


class SourceBatchSampler(Sampler):
    """Batches of anchors with label neighbours drawn within their own source.

    For ``S`` sources, each batch holds ``batch_size // S`` samples of each: anchors (a
    fresh random order per source, cycling) and, for each, ``n_neighbors`` samples of its
    source drawn at random among those whose label is within ``radius`` of its own -- its
    candidate positives -- or its ``n_neighbors`` nearest in label where fewer are. Every
    batch thus holds positives, and negatives across anchors; every source weighs the
    same, whatever its size. Unlike :class:`~skdml.deep.NearestLabelBatchSampler`, whose
    neighbours are fixed once (the first in index order among tied labels), the
    neighbours change from batch to batch, which ordinal labels with many ties need. An
    epoch has ``ceil(n_samples / samples_per_batch)`` batches; a sample appears at most
    once in a batch.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
    sources : array-like of shape (n_samples,)
        The source of each sample (any values); each source needs two samples.
    batch_size : int
    radius : float
        The label gap within which neighbours are drawn at random.
    n_neighbors : int, default=5
    random_state : int, RandomState instance or None, default=None
    """

    def __init__(self, labels, sources, batch_size, radius, n_neighbors=5, random_state=None):
        labels = np.asarray(labels, dtype=np.float64).reshape(-1)
        _, codes = np.unique(np.asarray(sources), return_inverse=True)
        codes = codes.reshape(-1)
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        self._rng = np.random.default_rng(seed)
        self.members = [np.flatnonzero(codes == s) for s in range(codes.max() + 1)]
        if min(len(m) for m in self.members) < 2:
            raise ValueError("SourceBatchSampler needs at least two samples in every source.")
        self.windows = [_LabelWindows(labels[m], radius, n_neighbors, self._rng)
                        for m in self.members]
        share = max(2, int(batch_size) // len(self.members))
        self.n_anchors = [max(1, share // (w.k + 1)) for w in self.windows]
        per_batch = sum(a * (w.k + 1) for a, w in zip(self.n_anchors, self.windows))
        self.n_batches = max(1, math.ceil(len(labels) / per_batch))
        self._order = [None] * len(self.members)
        self._pos = [0] * len(self.members)

    def __len__(self):
        return self.n_batches

    def _anchors(self, s):
        n, m = len(self.members[s]), self.n_anchors[s]
        out = []
        while len(out) < m:
            if self._order[s] is None or self._pos[s] >= n:
                self._order[s], self._pos[s] = self._rng.permutation(n), 0
            take = self._order[s][self._pos[s]:self._pos[s] + m - len(out)]
            self._pos[s] += len(take)
            out.extend(take.tolist())
        return out

    def _part(self, s):
        anchors = self._anchors(s)
        local = np.concatenate([anchors, *[self.windows[s](a) for a in anchors]])
        _, first = np.unique(local, return_index=True)
        return self.members[s][local[np.sort(first)]]

    def __iter__(self):
        for _ in range(self.n_batches):
            yield np.concatenate([self._part(s) for s in range(len(self.members))])


class LSDML(DeepMetricLearner):
    r"""Label-sensitive deep metric learning, on one source (LSDML) or several (M-LSDML).

    For an ordered target ``y`` -- ordinal levels (an age in years, a grade) or continuous
    values -- the network ``f`` is trained with the objective of Liu et al. [1]_,
    ``J = J1 + lambda J2 + mu |W|^2``, with ``d`` the Euclidean distance between
    embeddings:

    - positives are pairs whose label gap is at most ``positive_threshold``, negatives
      pairs whose gap exceeds ``negative_threshold``;
    - hard mining: in each batch, every anchor ``i`` with a positive takes its farthest
      positive ``j``, the nearest negative ``k`` of ``i`` and the nearest negative ``l`` of
      ``j``, in the embedding being learned (:func:`hard_quadruples`);
    - ``J1``, the negatives: ``max(0, tau - d(x_i, x_k) C(y_i, y_k))^2`` and the same for
      ``(j, l)``, with the label-sensitive cost ``C = t_n / |y_i - y_k|`` (``cost``): a
      negative pair must lie at least ``tau |y_i - y_k| / t_n`` apart, farther the farther
      apart its labels are;
    - ``J2``, the positives: ``d(x_i, x_j)^2``, weighted by ``lambda``
      (``positive_weight``);
    - ``mu |W|^2``, the weight decay (the optimizer's ``weight_decay``).

    Each batch gathers anchors, each with ``n_neighbors`` samples drawn among those within
    ``positive_threshold`` of its label (:class:`SourceBatchSampler`), so that it holds
    positives, and negatives across anchors. :class:`LabelSensitiveLoss` has the formula.

    **M-LSDML**, several sources: ``fit(X, y, groups=sources)`` names the source (data
    set) of each sample. One network -- one metric -- is shared by all; pairs, hence
    positives, negatives and hard samples, are formed within each source only, so sources
    whose labels are on different scales or shifted (apparent against real age, another
    population's range) are compared only where their labels are comparable. Each batch
    holds every source (:class:`SourceBatchSampler`), each source's terms are averaged
    and the sources weigh the same. With ``threshold_unit='std'`` each source's
    thresholds are in units of its own label spread. ``transform`` needs no source: the
    metric is one. Through a ``Pipeline``, pass ``lsdml__groups=...`` to ``fit``; with
    scikit-learn's metadata routing on, ``LSDML().set_fit_request(groups=True)`` has
    ``GridSearchCV(...).fit(X, y, groups=sources)`` hand them over.

    ``transform`` returns the embedding, where k-nearest-neighbour regression
    (``KNeighborsRegressor`` after it in a ``Pipeline``) estimates the target. Every other
    parameter and skorch sub-parameter is that of :class:`~skdml.deep.DeepMetricLearner`.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=MLP
        The network (the paper's: a residual network on face images; a tanh MLP,
        ``module__hidden_sizes=(128, 64)``, by default).
    positive_threshold : float, default=0.1
        Largest label gap of a positive pair, in ``threshold_unit``.
    negative_threshold : float, default=0.3
        Label gaps above it make negative pairs, in ``threshold_unit``; at least
        ``positive_threshold``. With the defaults, on digit values 0-9 (spread 2.9) the
        positives are the pairs of one digit and the negatives all others; on a continuous
        target, pairs between 0.1 and 0.3 standard deviations apart are neither.
    threshold_unit : {'std', 'label'}, default='std'
        ``'std'``: the thresholds are multiples of the training target's standard
        deviation (of each source's, for several sources), so the defaults fit a target of
        any scale; ``'label'``: they are in the target's own units (years, as in the
        paper's setting of the thresholds).
    margin : float, default=2.0
        ``tau``, the distance a negative pair at the threshold must exceed (the default
        network's embedding lies in ``[-1, 1]^64``).
    positive_weight : float, default=0.1
        ``lambda``, the weight of ``J2``. Larger values shrink the embedding (its spread
        about 1 at ``lambda = 1`` against 7 at 0.1 on digits), and with it the room for
        the margins.
    cost : {'inverse', 'constant'}, default='inverse'
        The label-sensitive cost ``C``: ``t_n / |y_i - y_k|`` (a margin in proportion to
        the label gap), or 1 (one margin for every negative pair).
    weight_decay : float, default=1e-3
        ``mu``, the L2 penalty on the network's parameters (the optimizer's
        ``weight_decay``).
    n_neighbors : int, default=5
        Label-space neighbours of each anchor in a batch.
    distance : skdml.deep.distances distance or None, default=None
        ``d``; None: the Euclidean distance.
    lr : float, default=3e-3
        Adam's learning rate; at 1e-3, 30 epochs leave the digits task of the
        documentation under-trained.
    optimizer, max_epochs, train_split, callbacks, device, random_state, n_jobs
        As in :class:`~skdml.deep.DeepMetricLearner`.
    verbose, warm_start, standardize
        As in :class:`~skdml.deep.DeepMetricLearner`.
    batch_size : int, default=60
        Largest training batch, and the batch size of ``transform``.
    **kwargs
        skorch sub-parameters (``module__hidden_sizes``, ``loss__reducer``, ...).

    Attributes
    ----------
    sources_ : ndarray of shape (n_sources,)
        The sources of the last fit, sorted (``[0]`` when ``groups`` was not given).
    label_scale_ : ndarray of shape (n_sources,)
        The unit of each source's thresholds: its target's standard deviation (1 where it
        is 0) with ``threshold_unit='std'``, 1 with ``'label'``. The thresholds in label
        units are ``positive_threshold * label_scale_`` and ``negative_threshold *
        label_scale_``.
    module_, loss_, optimizer_, history_, embedding_dim_, n_iter_
        As in :class:`~skdml.deep.DeepMetricLearner`.
    n_features_in_, input_mean_, input_scale_
        As in :class:`~skdml.deep.DeepMetricLearner`.

    Notes
    -----
    The tutorial's slide gives the objective and the mining, not every definition; where
    it is silent, this is what is implemented:

    - ``C(y_i, y_k)`` multiplies the distance inside the hinge, as on the slide; it is
      taken as ``t_n / |y_i - y_k|`` so that the margin a negative pair must clear grows
      with its label gap (the "label-sensitive" margin), and the hinge of the nearest
      negatives keeps a bounded scale. Its exact form in the paper is not on the slide.
    - The mining takes, per anchor, the farthest positive and the nearest negatives (the
      slide's ``argmax`` over all positive pairs, read literally, keeps one pair per
      batch); every term is a mean over the quadruples rather than a sum.
    - The thresholds default to fractions of the target's spread, the paper's being in
      years of age; ``threshold_unit='label'`` takes them in label units.
    - M-LSDML: the paper maximizes a cross-population correlation between its face data
      sets, which the tutorial does not state; here the sources share the network and each
      contributes its own LSDML terms, pairs never crossing sources (labels of different
      sources need not be comparable).
    - Adam replaces stochastic gradient descent; ``mu |W|^2`` is Adam's L2 weight decay.
    - Batches: the nearest-label batches of :class:`~skdml.deep.NearestLabelBatchSampler`
      fix each anchor's neighbours once, the first in index order among tied labels, so
      on ordinal labels (many ties) every anchor of one level meets the same few
      positives; :class:`SourceBatchSampler` draws them afresh, which on digits lowers
      the error of 5-NN regression by about a quarter.

    The defaults were chosen on the documentation's two ordinal tasks (the digit value of
    digits, diabetes' continuous target) with k-nearest-neighbour regression in the
    embedding; see :doc:`/seed_learners`. Hard mining looks at the pairs that disagree
    most with the metric, which on a noisy target (diabetes) are mostly label noise: there
    the gain over the Euclidean distance is within the spread of the splits.

    References
    ----------
    .. [1] H. Liu, J. Lu, J. Feng and J. Zhou, "Label-sensitive deep metric learning for
       facial age estimation", IEEE Transactions on Information Forensics and Security
       13(2), 292-305, 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from skdml.deep.lsdml import LSDML
    >>> X, y = load_diabetes(return_X_y=True)
    >>> lsdml = LSDML(module__hidden_sizes=(16, 4), max_epochs=2, random_state=0)
    >>> lsdml.fit(X, y).transform(X[:2]).shape
    (2, 4)

    M-LSDML, with the two sexes of diabetes as two sources:

    >>> sex = (X[:, 1] > 0).astype(int)
    >>> lsdml.fit(X, y, groups=sex).sources_
    array([0, 1])
    """

    _parameter_constraints = {
        **{k: v for k, v in DeepMetricLearner._parameter_constraints.items()
           if k not in ("loss", "miner", "samples_per_class")},
        "positive_threshold": [Interval(Real, 0, None, closed="left")],
        "negative_threshold": [Interval(Real, 0, None, closed="neither")],
        "threshold_unit": [StrOptions({"std", "label"})],
        "margin": [Interval(Real, 0, None, closed="neither")],
        "positive_weight": [Interval(Real, 0, None, closed="left")],
        "cost": [StrOptions(set(_COSTS))],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        module=MLP,
        *,
        positive_threshold=0.1,
        negative_threshold=0.3,
        threshold_unit="std",
        margin=2.0,
        positive_weight=0.1,
        cost="inverse",
        weight_decay=1e-3,
        n_neighbors=5,
        distance=None,
        optimizer=torch.optim.Adam,
        lr=3e-3,
        max_epochs=30,
        batch_size=60,
        train_split=None,
        callbacks=None,
        device="cpu",
        random_state=None,
        verbose=0,
        warm_start=False,
        n_jobs=None,
        standardize=True,
        **kwargs,
    ):
        self.positive_threshold = positive_threshold
        self.negative_threshold = negative_threshold
        self.threshold_unit = threshold_unit
        self.margin = margin
        self.positive_weight = positive_weight
        self.cost = cost
        self.weight_decay = weight_decay
        self.n_neighbors = n_neighbors
        super().__init__(
            module=module,
            loss=LabelSensitiveLoss,
            miner=None,
            distance=distance,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            samples_per_class=None,
            train_split=train_split,
            callbacks=callbacks,
            device=device,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            n_jobs=n_jobs,
            standardize=standardize,
            **kwargs,
        )

    # --- several sources: fit(X, y, groups=...) ---------------------------------------------

    #: the ``groups`` of the fit or partial_fit under way (None: one source)
    _fit_groups = None

    @contextlib.contextmanager
    def _given_groups(self, groups):
        """Hold ``groups`` for the target's validation during the call; a nested call (the
        template's ``partial_fit`` starting a first ``fit``) keeps the outer call's."""
        if "_fit_groups" in self.__dict__:
            yield
            return
        self._fit_groups = groups
        try:
            yield
        finally:
            object.__delattr__(self, "_fit_groups")

    def fit(self, X, y=None, groups=None, **fit_params):
        """Train the network: LSDML, or M-LSDML when ``groups`` names several sources.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            The ordered target: ordinal levels or continuous values, finite, at least two
            distinct values (in each source).
        groups : array-like of shape (n_samples,) or None, default=None
            The source (data set) of each sample, any hashable values; None: one source.
            Each source needs two samples and two distinct target values.
        **fit_params
            Passed to the module's ``forward`` (skorch's convention).

        Returns
        -------
        self
        """
        with self._given_groups(groups):
            return super().fit(X, y, **fit_params)

    def partial_fit(self, X, y=None, classes=None, groups=None, **fit_params):
        """One more ``max_epochs`` of training on ``(X, y)`` (and ``groups``), keeping the
        network; the first call is ``fit``. ``groups`` take sources of the first fit."""
        with self._given_groups(groups):
            return super().partial_fit(X, y, classes=classes, **fit_params)

    def _source_codes(self, groups, n_samples, *, reset):
        """The source index of each sample, ``0 .. n_sources - 1``; learns ``sources_``."""
        name = type(self).__name__
        if groups is None:
            if not reset and len(self.sources_) > 1:
                raise ValueError(
                    f"{name} was fitted on {len(self.sources_)} sources "
                    f"{self.sources_.tolist()}: give the groups of the new samples."
                )
            if reset:
                self.sources_ = np.array([0])
            return np.zeros(n_samples, dtype=np.intp)
        groups = np.asarray(groups)
        if groups.ndim != 1 or len(groups) != n_samples:
            raise ValueError(
                f"{name}: groups must name the source of each sample, an array of shape "
                f"({n_samples},); got shape {groups.shape}."
            )
        if groups.dtype.kind == "f" and not np.isfinite(groups).all():
            raise ValueError(f"{name}: groups holds NaN or infinity; name every sample's source.")
        try:
            sources, codes = np.unique(groups, return_inverse=True)
        except TypeError:
            raise ValueError(
                f"{name}: groups must be values of one comparable type (numbers or "
                f"strings), got {groups[:5].tolist()}..."
            ) from None
        if reset:
            self.sources_ = sources
            return codes.reshape(-1)
        unknown = ~np.isin(sources, self.sources_)
        if unknown.any():
            raise ValueError(
                f"{name}: groups holds sources unseen in the first fit: "
                f"{sources[unknown][:5].tolist()}; known: {self.sources_.tolist()}."
            )
        return np.searchsorted(self.sources_, groups)

    def _validate_target(self, y, n_samples, *, reset):
        """The target as float64 rows ``(y / label_scale of its source, source index)``:
        each source's labels in the units of its thresholds."""
        name = type(self).__name__
        if self.negative_threshold < self.positive_threshold:
            raise ValueError(
                f"{name}: negative_threshold ({self.negative_threshold!r}) must be at least "
                f"positive_threshold ({self.positive_threshold!r}): a pair cannot be both "
                "positive and negative."
            )
        y = check_ordinal_target(y, n_samples, estimator=self)
        codes = self._source_codes(self._fit_groups, n_samples, reset=reset)
        if reset:
            scales = []
            for s, source in enumerate(self.sources_):
                values = y[codes == s]
                if len(values) < 2 or np.all(values == values[0]):
                    raise ValueError(
                        f"{name}: source {source.item()!r} has {len(values)} sample(s) and "
                        f"{len(np.unique(values))} distinct target value(s); every source "
                        "needs two samples of different targets to form its pairs."
                    )
                spread = float(np.std(values))
                use_std = self.threshold_unit == "std" and spread > 0
                scales.append(spread if use_std else 1.0)
            self.label_scale_ = np.asarray(scales)
        scaled = y / self.label_scale_[codes]
        return np.ascontiguousarray(np.column_stack([scaled, codes]), dtype=np.float64)

    # --- the template's hooks -----------------------------------------------------------

    def get_params_for(self, prefix):
        """skorch's sub-parameters, with the learner's named parameters filled in where
        unset: the loss's thresholds, margin, weight and cost; the optimizer's weight
        decay."""
        params = dict(super().get_params_for(prefix))
        if prefix == "loss" and isinstance(self.loss, type):
            taken = _init_params(self.loss)
            for name in ("positive_threshold", "negative_threshold", "margin",
                         "positive_weight", "cost"):
                if name in taken:
                    params.setdefault(name, getattr(self, name))
        elif prefix == "optimizer":
            params.setdefault("weight_decay", self.weight_decay)
        return params

    def _train_batch_sampler(self, dataset):
        """Every source in each batch, anchors with their label neighbours within their
        source (:class:`SourceBatchSampler`)."""
        target = _dataset_labels(dataset)
        return SourceBatchSampler(target[:, 0], target[:, 1], self.batch_size,
                                  self.positive_threshold, self.n_neighbors,
                                  random_state=int(self._seeds[1]))

    def _batch_loss(self, embeddings, y, X, *, training):
        """The loss of each source's part of the batch, averaged over the sources."""
        labels, sources = y[:, 0], y[:, 1].long()
        present = torch.unique(sources)
        if len(present) == 1:
            return self.loss_(embeddings, labels)
        losses = [self.loss_(embeddings[sources == s], labels[sources == s])
                  for s in present]
        return torch.stack(losses).mean()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False
        return tags
