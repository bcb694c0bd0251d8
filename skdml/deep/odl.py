"""ODL: ordinal deep metric learning for ordered targets (Liu, Lu, Feng & Zhou).

For a target whose values are ordered -- an age, a grade, a severity score -- samples whose
labels differ more should lie farther apart: squared embedding distances keep the order of
label differences (the topology-preserving term), pairs of one level are pulled within a
threshold and the others pushed beyond it, with a cost that grows with their label gap (the
age-difference cost term), and, in the end-to-end variant, an ordinal ranker on the
embedding is trained with cross-entropy at the same time.
"""

from numbers import Integral, Real

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._param_validation import Interval
from ._base import DeepMetricLearner
from ._modules import MLP
from ._neighbors import label_distances
from ._ordinal_targets import check_ordinal_target, ordinal_cut_points
from ._pairs import PairBatchSampler
from .losses._base import _check_int, _check_real
from .losses._ordinal import _LabelDistanceLoss

__all__ = ["ODL", "ODLLoss"]


class ODLLoss(_LabelDistanceLoss):
    r"""The ODL objective on a batch: ordered pair distances, level costs, ordinal ranker.

    With ``D_ij`` the squared Euclidean distance of two embeddings, ``y`` the labels,
    ``r`` their ordinal levels (``cuts``) and ``s`` the ``label_scale``:

    - ``J1``, topology-preserving ordinal relation: for each triplet ``(a, i, j)`` of the
      batch (a landmark ``a`` and two other samples; the dense triplets) whose label gaps
      differ, ``|y_a - y_i| > |y_a - y_j|`` after naming them so, the term
      ``zeta * max(0, margin - D_ai + D_aj)``, ``zeta = (|y_a - y_i| - |y_a - y_j|) / s``:
      the pair farther apart in label is farther apart in the embedding by ``margin``, the
      more so the larger the gap;
    - ``J2``, age-difference cost: for each pair ``(i, j)`` of the batch,
      ``omega_ij * g(1 - l_ij (tau - D_ij))``, ``l_ij = +1`` when ``r_i = r_j`` and ``-1``
      otherwise, ``omega_ij = 1 + |y_i - y_j| / s``, ``g(z) = log(1 + exp(beta z)) /
      beta``: pairs of one level within ``tau - 1``, the others beyond ``tau + 1``, a pair
      of distant levels weighing more;
    - ``J_CE``, the ordinal ranker: ``K - 1`` logistic units on the embedding,
      ``P(r > k | x) = sigmoid(w_k . f(x) + b_k)`` (the ``ranker`` layer), trained with the
      binary cross-entropy of their targets ``[r > k]``; built only when ``ce_weight > 0``.

    The loss is ``order_weight * mean J1 + cost_weight * mean J2 + ce_weight * mean J_CE``
    (means over the terms: the weights keep their meaning whatever the batch size). The
    mean of ``J1`` is the ``reducer``'s, with each triplet's landmark as its anchor.

    Called as ``loss(embeddings, labels, tuples=None)``, ``labels`` the float labels of
    shape (n,); ``tuples`` triplets ``(a, i, j)`` (landmark first) to use for ``J1``
    instead of the dense ones.

    Parameters
    ----------
    cuts : sequence of float
        Increasing cut points of the ordinal levels (``K - 1`` of them for ``K`` levels):
        the level of ``v`` is the number of cuts ``<= v``.
    label_scale : float > 0
        ``s``: label gaps are measured in its units.
    embedding_dim : int
        Set from the data by :class:`ODL`; the ranker's input size.
    margin : float, default=1.0
        ``alpha``.
    tau : float, default=3.0
    beta : float, default=2.0
    order_weight : float, default=1.0
        The weight of ``J1`` (1 in the paper); 0 leaves it out.
    cost_weight : float, default=1.0
        ``lambda_1``, the weight of ``J2``.
    ce_weight : float, default=1.0
        The weight of ``J_CE``; 0 leaves the ranker out (ODFL, the metric terms alone).
    distance : distance, default=LpDistance(power=2)
        ``D`` (a distance, not a similarity).
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None

    Attributes
    ----------
    ranker : torch.nn.Linear or None
        The ordinal ranker, ``embedding_dim -> K - 1``.
    """

    distance_kind = "distance"
    label_ndims = (1,)  # one ordinal label per sample
    _reprs = ("margin", "tau", "beta", "order_weight", "cost_weight", "ce_weight")

    def __init__(self, cuts, label_scale, embedding_dim, margin=1.0, tau=3.0, beta=2.0,
                 order_weight=1.0, cost_weight=1.0, ce_weight=1.0, *, distance=None,
                 reducer=None, embedding_regularizer=None):
        super().__init__("cityblock", distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        owner = type(self).__name__
        cuts = np.asarray(cuts, dtype=np.float64).reshape(-1)
        if not np.isfinite(cuts).all() or (np.diff(cuts) <= 0).any():
            raise ValueError(f"{owner}: cuts must be finite and increasing, got {cuts.tolist()}.")
        self.register_buffer("cuts", torch.as_tensor(cuts))
        self.label_scale = _check_real(label_scale, "label_scale", owner, low=0)
        self.embedding_dim = _check_int(embedding_dim, "embedding_dim", owner)
        self.margin = _check_real(margin, "margin", owner, low=0, strict=False)
        self.tau = _check_real(tau, "tau", owner)
        self.beta = _check_real(beta, "beta", owner, low=0)
        self.order_weight = _check_real(order_weight, "order_weight", owner, low=0,
                                        strict=False)
        self.cost_weight = _check_real(cost_weight, "cost_weight", owner, low=0, strict=False)
        self.ce_weight = _check_real(ce_weight, "ce_weight", owner, low=0, strict=False)
        self.ranker = (nn.Linear(self.embedding_dim, len(cuts)) if self.ce_weight > 0
                       and len(cuts) else None)

    def levels(self, labels):
        """The ordinal level of each label, ``0 .. K - 1``."""
        return torch.bucketize(labels.detach().to(self.cuts.dtype), self.cuts, right=True)

    def compute(self, embeddings, labels, tuples):
        """``J1``: one term per triplet of unequal label gaps, its landmark as the anchor.

        Computed by broadcasting on the whole ``(a, i, j)`` cube of the batch (``n^3``
        values), then the triplets taken from it in one gather: the dense ones (``i < j``,
        both other than ``a``), or each distinct one of ``tuples``.
        """
        n = len(embeddings)
        if self.order_weight == 0:
            empty = torch.zeros(0, dtype=torch.long, device=embeddings.device)
            return embeddings.new_zeros(0), empty
        D = self.distance(embeddings)
        gaps = label_distances(labels.to(torch.float64), "cityblock")
        diff = gaps[:, :, None] - gaps[:, None, :]  # |y_a - y_i| - |y_a - y_j|
        zeta = (diff.abs() / self.label_scale).to(D.dtype)
        order = torch.sign(diff).to(D.dtype)  # which of the two pairs is the farther
        terms = zeta * F.relu(self.margin - order * (D[:, :, None] - D[:, None, :]))
        if tuples is None:
            others = ~torch.eye(n, dtype=torch.bool, device=D.device)
            taken = (torch.ones(n, n, dtype=torch.bool, device=D.device).triu(1)[None]
                     & others[:, :, None] & others[:, None, :])
        else:
            a, i, j = self._triplets(embeddings, tuples)
            taken = torch.zeros(n, n, n, dtype=torch.bool, device=D.device)
            taken[a, i, j] = True
        taken &= diff != 0
        flat = torch.nonzero(taken.reshape(-1)).squeeze(1)  # one search, one 1-D gather
        values = self.order_weight * terms.reshape(-1)[flat]
        return values, torch.div(flat, n * n, rounding_mode="floor")

    def penalty(self, embeddings, labels, tuples):
        """``cost_weight * mean J2 + ce_weight * mean J_CE``."""
        loss = 0.0
        levels = self.levels(labels)
        if self.cost_weight > 0 and len(labels) > 1:
            i, j = torch.triu_indices(len(labels), len(labels), offset=1,
                                      device=embeddings.device)
            D = self.distance(embeddings)[i, j]
            sign = torch.where(levels[i] == levels[j], 1.0, -1.0).to(D.dtype)
            omega = (1.0 + (labels[i] - labels[j]).abs() / self.label_scale).to(D.dtype)
            loss = loss + self.cost_weight * (
                omega * F.softplus(1.0 - sign * (self.tau - D), beta=self.beta)).mean()
        if self.ranker is not None:
            logits = self.ranker(embeddings)
            ks = torch.arange(logits.shape[1], device=embeddings.device)
            above = (levels[:, None] > ks[None, :]).to(logits.dtype)
            loss = loss + self.ce_weight * F.binary_cross_entropy_with_logits(logits, above)
        return loss

    def rank(self, embeddings):
        """The level the ranker gives each embedding: the number of ``P(r > k) > 1/2``."""
        if self.ranker is None:
            raise ValueError(f"{type(self).__name__} has no ranker (ce_weight=0).")
        return (self.ranker(embeddings) > 0).sum(1)


class ODL(DeepMetricLearner):
    r"""Ordinal deep metric learning: distances that keep the order of label differences.

    For an ordered target ``y`` -- ordinal levels (integers: an age in years, a grade) or
    continuous values -- a tanh MLP ``f`` is trained so that a pair of samples farther apart
    in label is farther apart in the embedding. The objective is that of Liu et al. [1]_,
    ``J = J1 + lambda_1 J2 + lambda_2 |W|^2``, with the end-to-end ordinal ranker of their
    ODL added with ``ce_weight`` (:class:`ODLLoss` has the formulas):

    - ``J1`` (topology-preserving ordinal relation): for pairs of pairs ``(v_ij, v_kl)``
      with ``|y_i - y_j| > |y_k - y_l|``, the hinge ``zeta * max(0, alpha - d^2(x_i, x_j) +
      d^2(x_k, x_l))``, ``zeta`` growing with the gap between the two label differences;
    - ``J2`` (age-difference cost): the logistic loss ``omega * g(1 - l (tau - d^2))`` of
      each pair, ``l = +1`` for a pair of one ordinal level and ``-1`` otherwise, its cost
      ``omega`` growing with the label gap;
    - ``lambda_2 |W|^2``, the weight decay (the optimizer's ``weight_decay``);
    - ``J_CE`` (ODL's end-to-end variant, "ODL (Cross-Entropy)"): ``K - 1`` logistic
      units on the embedding rank it, ``P(level > k)``, trained by binary cross-entropy
      jointly with the metric terms, so that the embedding separates the levels in order.

    Batches are ``batch_size`` samples in a fresh random order each epoch. The pairs of
    pairs of ``J1`` are those sharing a sample (the landmark), every one of the batch: a
    batch of ``B`` gives at most ``B (B - 1) (B - 2) / 2`` of them (14,880 at the default
    ``B = 32``; fewer where two label gaps tie), computed at once on the batch's
    ``B x B x B`` cube of distance differences; ``J2`` sees every pair, ``B (B - 1) / 2``
    (496).

    ``transform`` returns the embedding, where k-nearest-neighbour regression
    (``KNeighborsRegressor`` after it in a ``Pipeline``) estimates the target, the protocol
    of the documentation's benchmark; :meth:`ranker_levels` gives the ranker's own estimate
    of the level (the paper's estimator), ``level_values_`` the target of each level. Every
    other parameter and skorch sub-parameter is that of
    :class:`~skdml.deep.DeepMetricLearner`.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(128, 64)
        Widths of the tanh layers; the last one is the embedding dimension.
    margin : float, default=1.0
        ``alpha``, the margin between the squared distances of two pairs of different label
        gaps.
    tau : float, default=3.0
        Threshold on squared distances of ``J2``: pairs of one level below ``tau - 1``,
        others above ``tau + 1``.
    beta : float, default=2.0
        Sharpness of the generalized logistic function of ``J2``.
    order_weight : float, default=1.0
        The weight of ``J1`` (1 in the paper); 0 leaves it out, for a target whose order
        the features do not follow (see the Notes).
    cost_weight : float, default=1.0
        ``lambda_1``, the weight of ``J2``; 0 leaves it out.
    ce_weight : float, default=1.0
        The weight of the ordinal ranker's cross-entropy ``J_CE``; 0 gives ODFL, the two
        metric terms alone. On by default: the paper's best result is this end-to-end
        "ODL (Cross-Entropy)", the ranker it trains is the paper's own estimator of the
        target (:meth:`ranker_levels`, ``level_values_``), and it leaves the embedding's
        kNN regression as good as without it (see the Notes).
    n_levels : int, default=10
        The ordinal levels of ``J2`` and of the ranker: a target with at most ``n_levels``
        distinct values keeps one level per value; a continuous one is cut at its
        ``n_levels``-quantiles (:attr:`cut_points_`).
    weight_decay : float, default=1e-4
        ``lambda_2``, the L2 penalty on the network's weights and biases.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
    lr : float, default=2e-3
    max_epochs : int, default=30
    batch_size : int, default=32
        Training batch (the cost of ``J1`` grows as its cube) and the batch size of
        ``transform``.
    train_split, callbacks, device, random_state, verbose, warm_start, n_jobs, standardize
        As in :class:`~skdml.deep.DeepMetricLearner`.
    **kwargs
        skorch sub-parameters (``module__activation``, ``loss__reducer``, ...).

    Attributes
    ----------
    module_ : MLP
    loss_ : ODLLoss
        With the trained ``ranker`` when ``ce_weight > 0``.
    cut_points_ : ndarray of shape (n_levels - 1,)
        The increasing cuts between the ordinal levels: a target ``v`` is of level
        ``np.searchsorted(cut_points_, v, side='right')``.
    n_levels_ : int
        The number of ordinal levels found (at most ``n_levels``).
    level_values_ : ndarray of shape (n_levels,)
        The mean training target of each level: ``level_values_[odl.ranker_levels(X)]`` is
        the ranker's estimate of the target, the paper's own regressor.
    label_scale_ : float
        The standard deviation of the training target, the unit of the label gaps of
        ``zeta`` and ``omega``.
    history_, embedding_dim_, n_iter_, n_features_in_, input_mean_, input_scale_
        As in :class:`~skdml.deep.DeepMetricLearner`.

    Notes
    -----
    What is implemented, against the paper's formulation (its eq. for ``J``; the tutorial's
    slide of it is partly garbled):

    - ``J1`` sums over every pair of pairs in the paper, made tractable there by a
      landmark-based relaxation; here the two pairs share a sample, the landmark, and
      every sample of a batch is one. ``zeta = (|y_a - y_i| - |y_a - y_j|) / s``, the gap
      between the label differences in units of ``s``, the training target's standard
      deviation: a weight that grows with the gap, as the paper asks; its exact form is
      ours.
    - ``J2`` is read as the DDML-style generalized logistic loss
      ``omega * g(1 - l (tau - d^2))``; ``l = +1`` for a pair of one level (one age, in the
      paper), and the cost ``omega = 1 + |y_i - y_j| / s`` grows linearly with the label
      gap (the paper's age-difference cost; its exact form is ours).
    - The end-to-end ODL learns ordinal regression on top of the features jointly with
      them; here that is ``K - 1`` binary classifiers ``P(level > k)`` on the embedding
      (the ordinal hyperplane ranker's decomposition) with cross-entropy, added with weight
      ``ce_weight``; the embedding, not the ranker, is what ``transform`` returns.
    - Each term is a mean over its terms rather than a sum, and the paper's ``lambda_1``
      and ``lambda_2`` are ``cost_weight`` and ``weight_decay``; Adam replaces plain
      gradient descent.
    - Batches are drawn at random, not as anchors with their nearest neighbours in label:
      with tied ordinal labels (ten digit values) those neighbours, found by a stable sort,
      are the same few samples in every batch.

    On the documentation's ordinal tasks (diabetes' continuous target, the digit value of
    digits; 5-NN regression in the embedding, :doc:`/seed_learners`) ODL at its defaults
    has a lower mean error than Euclidean distance, MLKR and
    :class:`~skdml.deep.LogRatioLearner`, and its ranker is the best estimator of
    diabetes' target; the cross-entropy term changes the kNN error by less than the spread
    between seeds. ``J1`` does not pay there: ``order_weight=0`` does better on both.
    Digit values are an order the pixels do not follow (a 1 is not drawn between a 0 and a
    2), and ``J1`` is slow to learn where they do (a swiss roll: 30 epochs bring the
    distances' rank correlation with the label gaps to about 0.5, 100 epochs to 0.9),
    while diabetes' 309 training samples overfit if trained longer. ``batch_size=32`` and
    ``lr=2e-3`` were chosen there (batches of 60 at ``lr=1e-3`` under-trained digits).

    References
    ----------
    .. [1] H. Liu, J. Lu, J. Feng and J. Zhou, "Ordinal deep learning for facial age
       estimation", IEEE Transactions on Circuits and Systems for Video Technology 29(2),
       2019 (online 2017).

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from skdml.deep.odl import ODL
    >>> X, y = load_diabetes(return_X_y=True)
    >>> odl = ODL(hidden_sizes=(16, 4), max_epochs=2, random_state=0).fit(X, y)
    >>> odl.transform(X[:2]).shape
    (2, 4)
    >>> odl.n_levels_
    10
    """

    _parameter_constraints = {
        **{k: v for k, v in DeepMetricLearner._parameter_constraints.items()
           if k not in ("module", "loss", "miner", "distance", "samples_per_class")},
        "hidden_sizes": [tuple, list],
        "margin": [Interval(Real, 0, None, closed="left")],
        "tau": [Interval(Real, None, None, closed="neither")],
        "beta": [Interval(Real, 0, None, closed="neither")],
        "order_weight": [Interval(Real, 0, None, closed="left")],
        "cost_weight": [Interval(Real, 0, None, closed="left")],
        "ce_weight": [Interval(Real, 0, None, closed="left")],
        "n_levels": [Interval(Integral, 2, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        hidden_sizes=(128, 64),
        *,
        margin=1.0,
        tau=3.0,
        beta=2.0,
        order_weight=1.0,
        cost_weight=1.0,
        ce_weight=1.0,
        n_levels=10,
        weight_decay=1e-4,
        optimizer=torch.optim.Adam,
        lr=2e-3,
        max_epochs=30,
        batch_size=32,
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
        self.hidden_sizes = hidden_sizes
        self.margin = margin
        self.tau = tau
        self.beta = beta
        self.order_weight = order_weight
        self.cost_weight = cost_weight
        self.ce_weight = ce_weight
        self.n_levels = n_levels
        self.weight_decay = weight_decay
        super().__init__(
            module=MLP,
            loss=ODLLoss,
            miner=None,
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

    def get_params_for(self, prefix):
        """skorch's sub-parameters, with ODL's named parameters and the levels learned from
        the target filled in where unset."""
        params = dict(super().get_params_for(prefix))
        if prefix == "module":
            params.setdefault("hidden_sizes", tuple(self.hidden_sizes))
            params.setdefault("activation", "tanh")
        elif prefix == "loss":
            if not hasattr(self, "cut_points_"):
                raise ValueError(
                    f"{type(self).__name__}: the loss learns the target's levels from the "
                    "data; call fit(X, y) rather than initialize()."
                )
            params.setdefault("cuts", self.cut_points_)
            params.setdefault("label_scale", self.label_scale_)
            for name in ("margin", "tau", "beta", "order_weight", "cost_weight", "ce_weight"):
                params.setdefault(name, getattr(self, name))
        elif prefix == "optimizer":
            params.setdefault("weight_decay", self.weight_decay)
        return params

    def _validate_target(self, y, n_samples, *, reset):
        """The ordered target as float64 of shape (n,) (:func:`check_ordinal_target`).
        ``fit`` learns its levels and scale; a warm start and ``partial_fit`` keep the first
        fit's."""
        y = check_ordinal_target(y, n_samples, estimator=self)
        if reset and not (self.warm_start and self.initialized_):
            cuts = ordinal_cut_points(y, self.n_levels)
            levels = np.searchsorted(cuts, y, side="right")
            self.cut_points_ = cuts
            self.n_levels_ = len(cuts) + 1
            self.level_values_ = np.bincount(levels, weights=y) / np.bincount(levels)
            self.label_scale_ = float(np.std(y))
        return np.ascontiguousarray(y)

    def _train_batch_sampler(self, dataset):
        """Batches of ``batch_size`` samples in a fresh random order every epoch."""
        return PairBatchSampler(len(dataset), self.batch_size, random_state=int(self._seeds[1]))

    def _batch_loss(self, embeddings, y, X, *, training):
        """The ODL objective of a batch on its float labels (:class:`ODLLoss`)."""
        return self.loss_(embeddings, y, None)

    def ranker_levels(self, X):
        """The ordinal level of each sample by the trained ranker (``ce_weight > 0``).

        Returns
        -------
        levels : ndarray of shape (n_samples,), integers in ``0 .. n_levels_ - 1``
            Level ``k`` covers targets between ``cut_points_[k - 1]`` and
            ``cut_points_[k]``.
        """
        Z = self.transform(X)
        ranker = self.loss_.ranker
        if ranker is None:
            raise ValueError(f"{type(self).__name__} was fitted with ce_weight=0: no ranker.")
        with torch.no_grad():
            Zt = torch.as_tensor(Z, dtype=ranker.weight.dtype)
            return self.loss_.rank(Zt).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False
        return tags
