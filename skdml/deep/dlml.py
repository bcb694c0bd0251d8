"""DLML: deep localized metric learning (Duan, Lu, Feng & Zhou)."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.cluster import kmeans_plusplus
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from skorch.utils import to_tensor
from torch import nn
from torch.nn import functional as F

from .._param_validation import Interval, StrOptions
from .._threads import uses_threads
from ._base import DeepMetricLearner
from ._modules import MLP
from .losses import ContrastiveLoss

__all__ = ["DLML", "LocalizedMLP", "assignment_information_loss"]

_COMBINE = ("sum", "concat")


class LocalizedMLP(nn.Module):
    r"""Local metrics on a shared trunk, and the soft assignment of samples to them.

    The trunk ``h`` (an :class:`~skdml.deep.MLP` of widths ``hidden_sizes[:-1]``) is
    shared; on top of it, ``n_metrics`` heads ``f_k`` (one layer of ``hidden_sizes[-1]``
    units each) are the local metrics, and ``n_metrics`` learned anchors ``c_k`` in the
    trunk's space define soft regions,

    .. math::

        p_k(x) = \operatorname{softmax}_k\bigl(-\lVert h(x) - c_k \rVert^2 / (m T)\bigr),

    ``m`` the trunk's width (so that ``T``, the ``temperature``, does not depend on it).
    The output is ``z(x) = sum_k p_k(x) f_k(x)`` (``combine='sum'``, of the heads' width) or
    ``[sqrt(p_1(x)) f_1(x), ..., sqrt(p_K(x)) f_K(x)]`` (``combine='concat'``, ``K`` times
    wider); :class:`DLML` says which distance each gives. With a single entry in
    ``hidden_sizes`` the trunk is the identity and the anchors live in the input space.

    Parameters
    ----------
    n_features : int
        Input dimension (the learner sets it from the data).
    hidden_sizes : tuple of int, default=(128, 64)
        Widths of the trunk's layers, then of each head.
    n_metrics : int, default=4
    activation : {'tanh', 'relu', 'sigmoid', 'identity'}, default='tanh'
        Of every layer, the heads' included.
    temperature : float, default=0.1
    combine : {'sum', 'concat'}, default='sum'
    """

    flat_samples = True  # as MLP: (n_samples, n_features) only

    def __init__(self, n_features, hidden_sizes=(128, 64), n_metrics=4, activation="tanh",
                 temperature=0.1, combine="sum"):
        super().__init__()
        sizes = [int(s) for s in hidden_sizes]
        if not sizes:
            raise ValueError("LocalizedMLP needs at least one width (the heads') in "
                             f"hidden_sizes, got {hidden_sizes!r}.")
        if int(n_metrics) < 1:
            raise ValueError(f"LocalizedMLP needs n_metrics >= 1, got {n_metrics!r}.")
        if not float(temperature) > 0:
            raise ValueError(f"LocalizedMLP needs temperature > 0, got {temperature!r}.")
        if combine not in _COMBINE:
            raise ValueError(f"LocalizedMLP: combine must be one of {_COMBINE}, got "
                             f"{combine!r}.")
        self.n_features = int(n_features)
        self.trunk = (MLP(n_features, sizes[:-1], activation=activation) if len(sizes) > 1
                      else nn.Identity())
        width = sizes[-2] if len(sizes) > 1 else self.n_features
        self.heads = nn.ModuleList(
            MLP(width, sizes[-1:], activation=activation) for _ in range(int(n_metrics)))
        self.anchors = nn.Parameter(torch.zeros(int(n_metrics), width))
        # whether the anchors were placed on the data (k-means of the trunk's output at the
        # start of the first fit); saved with the weights, so that a warm start keeps them
        self.register_buffer("anchors_placed", torch.tensor(False))
        self.temperature = float(temperature)
        self.combine = combine

    @property
    def n_metrics(self):
        return len(self.heads)

    def features(self, X):
        """``h(X)``: the trunk's output, where the anchors live."""
        if X.dim() != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"LocalizedMLP expects input of shape (n_samples, {self.n_features}), got a "
                f"tensor of shape {tuple(X.shape)}."
            )
        return self.trunk(X)

    def _log_proba(self, H):
        sq = (H.unsqueeze(1) - self.anchors.unsqueeze(0)).pow(2).mean(-1)
        return F.log_softmax(-sq / self.temperature, dim=1)

    def region_log_proba(self, X):
        """``log p_k(x)``, of shape (n_samples, n_metrics)."""
        return self._log_proba(self.features(X))

    def local_embeddings(self, X):
        """``f_k(x)`` of every head, of shape (n_samples, n_metrics, head width)."""
        H = self.features(X)
        return torch.stack([head(H) for head in self.heads], dim=1)

    def forward(self, X):
        H = self.features(X)
        local = torch.stack([head(H) for head in self.heads], dim=1)
        log_p = self._log_proba(H)
        if self.combine == "sum":
            return (log_p.exp().unsqueeze(-1) * local).sum(1)
        # sqrt(p) as exp(log p / 2): a finite gradient where p underflows to 0
        return ((0.5 * log_p).exp().unsqueeze(-1) * local).flatten(1)


def _kmeans_centres(H, k, seed, n_iter=20):
    """``k`` centres of the rows of ``H``: k-means++ seeding, then ``n_iter`` Lloyd steps
    (a cluster left empty keeps its centre). Rows with fewer than ``k`` distinct values:
    rows drawn at random, some twice.

    Lloyd's steps are written out: scikit-learn's ``KMeans`` costs about a second per call
    on a busy machine (its thread-pool set-up), longer than a short fit of the network.
    """
    if len(np.unique(H, axis=0)) < k:
        return H[np.random.default_rng(seed).choice(len(H), k)]
    centres, _ = kmeans_plusplus(H, k, random_state=seed)
    squared_norms = (H ** 2).sum(1)
    for _ in range(n_iter):
        nearest = (squared_norms[:, None] - 2 * H @ centres.T
                   + (centres ** 2).sum(1)[None, :]).argmin(1)
        counts = np.bincount(nearest, minlength=k)
        sums = np.zeros_like(centres)
        np.add.at(sums, nearest, H)
        filled = counts > 0
        moved = sums[filled] / counts[filled, None]
        if np.allclose(moved, centres[filled]):
            break
        centres[filled] = moved
    return centres


class _PlaceAnchors(Callback):
    """At the start of the first fit of a network: the anchors at the k-means centres of
    the trunk's output on the training data, so that every region starts with samples."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        module = net.module_
        if bool(module.anchors_placed):
            return
        H = net._trunk_features(np.asarray(X))
        centres = _kmeans_centres(H, module.n_metrics, int(net._seeds[1]))
        with torch.no_grad():
            module.anchors.copy_(torch.as_tensor(centres, dtype=module.anchors.dtype))
            module.anchors_placed.fill_(True)


class DLML(DeepMetricLearner):
    r"""Deep localized metric learning: several local metrics, each for a region of the
    input space, learned together with the assignment of the samples to the regions.

    One global metric has to fit all of the data; when the data are heterogeneous (several
    populations, classes whose telling features differ from one part of the space to
    another), Duan et al. [1]_ learn several localized metrics instead. Here
    (:class:`LocalizedMLP`) a shared tanh trunk ``h`` feeds ``K = n_metrics`` heads
    ``f_1 .. f_K``, the local metrics, and ``K`` learned anchors ``c_k`` in the trunk's
    space split it into soft regions,
    ``p_k(x) = softmax_k(-|h(x) - c_k|^2 / (m * temperature))`` (``m`` the trunk's width).
    The anchors start at the k-means centres of the trunk's output on the training data;
    heads, trunk and anchors are then trained together by the metric loss.

    **The distance** (``combine='sum'``, the default). Each sample is mapped by the mixture
    of the local metrics its assignment selects: ``transform(X)`` returns
    ``z(x) = sum_k p_k(x) f_k(x)`` (``hidden_sizes[-1]`` columns), and the learned distance
    is the Euclidean one between these embeddings, ``d(x, y) = |z(x) - z(y)|``:

    - two samples of one region ``k`` (``p_k = 1`` for both) are compared by that region's
      metric, ``d(x, y) = |f_k(x) - f_k(y)|``;
    - two samples of regions ``k != l`` are compared in the common output space, each
      mapped by its own region's metric: ``d(x, y) = |f_k(x) - f_l(y)|``; two samples of one
      class may thus be close although they lie in different regions;
    - in between, each sample has its own metric, ``f_x = sum_k p_k(x) f_k``, the blend of
      the local metrics of the regions it is near (a learned, smooth version of a
      Mahalanobis metric per region).

    ``combine='concat'`` keeps the local spaces apart: ``z(x) = [sqrt(p_1(x)) f_1(x), ...,
    sqrt(p_K(x)) f_K(x)]`` (``K * hidden_sizes[-1]`` columns), whose Euclidean distance is

    .. math::

        d(x, y)^2 = \sum_k \sqrt{p_k(x) p_k(y)}\, \lVert f_k(x) - f_k(y) \rVert^2
        + \sum_k \bigl(\sqrt{p_k(x)} - \sqrt{p_k(y)}\bigr)
          \bigl(\sqrt{p_k(x)} \lVert f_k(x) \rVert^2 - \sqrt{p_k(y)} \lVert f_k(y) \rVert^2\bigr).

    Two samples with one assignment ``p`` are at the squared distance
    ``sum_k p_k |f_k(x) - f_k(y)|^2`` (a mixture of the local distances), but two samples of
    different regions ``k != l`` at ``|f_k(x)|^2 + |f_l(y)|^2``, through the origin,
    however alike they are. On data whose
    classes span several regions that keeps same-class samples apart (docs/seed_learners.rst:
    MAP@R falls from 0.87 to 0.42 on two digit populations), hence the default.

    Either way ``KNeighborsClassifier`` on ``transform(X)``, :meth:`pair_distance` and
    :meth:`get_metric` all use this one distance. :meth:`region_proba` gives ``p_k(x)``,
    :meth:`predict_region` the most likely region, ``region_counts_`` the training
    samples of each region.

    **The objective.** The metric loss (``loss``; the contrastive loss by default, any of
    :mod:`skdml.deep.losses`) on the embeddings ``z`` of class-balanced batches, plus
    ``assignment_weight`` times ``mean_i H(p(x_i)) - H(mean_i p(x_i))``
    (:func:`assignment_information_loss`, ``H`` the entropy), the negative mutual
    information of samples and regions, which asks each sample to sit in one region and
    every region to hold samples. It is off by default: on the benchmark it lowers MAP@R
    (see Notes).

    Parameters
    ----------
    loss : torch.nn.Module class or instance, default=ContrastiveLoss
        The metric loss on ``z`` (see :class:`~skdml.deep.DeepMetricLearner`).
    miner : class, instance or None, default=None
    hidden_sizes : tuple of int, default=(128, 64)
        Widths of the shared trunk's layers, then of each head: by default a trunk
        ``n_features -> 128`` and heads ``128 -> 64``. With ``n_metrics=1`` the network is
        the default :class:`~skdml.deep.MLP` of :class:`~skdml.deep.DeepMetricLearner`,
        and the two learners train identically.
    n_metrics : int, default=4
        ``K``, the number of local metrics (regions, anchors). The tutorial's slides give
        no value; 4 does better than 2 on the benchmark of ``docs/seed_learners.rst``.
    activation : {'tanh', 'relu', 'sigmoid', 'identity'}, default='tanh'
        Of every layer, the heads' included.
    temperature : float, default=0.1
        Of the soft assignment, per unit of the trunk: lower is harder. A very large value
        gives every region the weight ``1 / K``: the same network without regions.
    assignment_weight : float, default=0.0
        Weight of the mutual-information term of the assignment.
    combine : {'sum', 'concat'}, default='sum'
        How the local metrics make one embedding (see above).
    distance, optimizer, lr, max_epochs, batch_size, samples_per_class
        As for :class:`~skdml.deep.DeepMetricLearner`.
    train_split, callbacks, device, random_state, verbose, warm_start
        As for :class:`~skdml.deep.DeepMetricLearner`.
    standardize, n_jobs, **kwargs
        As for :class:`~skdml.deep.DeepMetricLearner`.

    Attributes
    ----------
    module_ : LocalizedMLP
    loss_, miner_, optimizer_, history_, collapsed_, classes_, n_iter_
        As for :class:`~skdml.deep.DeepMetricLearner`.
    input_mean_, input_scale_
        As for :class:`~skdml.deep.DeepMetricLearner`.
    embedding_dim_ : int
        ``hidden_sizes[-1]`` (``combine='sum'``) or ``n_metrics * hidden_sizes[-1]``.
    region_counts_ : ndarray of shape (n_metrics,)
        Training samples whose most likely region is each region, at the end of the last
        ``fit`` or ``partial_fit``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    See Also
    --------
    DeepMetricLearner : one global metric; the same network when ``n_metrics=1``.

    Notes
    -----
    The tutorial [2]_ shows DLML's motivation and results as figures only, without its
    equations; the model above (soft regions around learned anchors in a shared trunk's
    space, one head per region, one embedding whose Euclidean distance is the learned
    distance) is this implementation's reading of [1]_, not a transcription of it. In
    particular the regions are learned by gradient together with the metric, not fixed by
    a clustering beforehand, and the local metrics share the trunk below their last layer.
    The slides give no loss either: the default is the template's contrastive loss, so that
    DLML and a global :class:`~skdml.deep.DeepMetricLearner` compare like for like.

    What the benchmark (``docs/seed_learners.rst``, digits and two digit populations)
    shows: DLML beats :class:`~skdml.deep.DeepMetricLearner` with the same trunk, loss,
    epochs and batches, but the same network with a uniform assignment (a huge
    ``temperature``), which is one global metric, does better still. Left free, the
    metric loss itself makes the assignment softer during training; forcing the regions
    (``assignment_weight > 0``) costs MAP@R. The gain over the global learner comes from
    the ``K`` heads, not from the localization; with ``n_metrics=2`` on the two
    populations, regions that fall on the populations do beat their uniform control, by
    about 0.015 MAP@R.

    References
    ----------
    .. [1] Y. Duan, J. Lu, J. Feng and J. Zhou, "Deep localized metric learning", IEEE
       Transactions on Circuits and Systems for Video Technology, 2018.
    .. [2] J. Lu, Y. Duan and H. Liu, "Deep metric learning for pattern recognition",
       tutorial, CVPR 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdml.deep.dlml import DLML
    >>> X, y = load_iris(return_X_y=True)
    >>> dlml = DLML(hidden_sizes=(16, 4), n_metrics=2, max_epochs=5, random_state=0)
    >>> dlml.fit(X, y).transform(X[:3]).shape
    (3, 4)
    >>> dlml.region_proba(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints = {
        **{k: v for k, v in DeepMetricLearner._parameter_constraints.items()
           if k != "module"},
        "hidden_sizes": [tuple, list],
        "n_metrics": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"tanh", "relu", "sigmoid", "identity"})],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "assignment_weight": [Interval(Real, 0, None, closed="left")],
        "combine": [StrOptions(set(_COMBINE))],
    }

    def __init__(
        self,
        loss=ContrastiveLoss,
        miner=None,
        *,
        hidden_sizes=(128, 64),
        n_metrics=4,
        activation="tanh",
        temperature=0.1,
        assignment_weight=0.0,
        combine="sum",
        distance=None,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=30,
        batch_size=128,
        samples_per_class=None,
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
        self.n_metrics = n_metrics
        self.activation = activation
        self.temperature = temperature
        self.assignment_weight = assignment_weight
        self.combine = combine
        super().__init__(
            module=LocalizedMLP,
            loss=loss,
            miner=miner,
            distance=distance,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            samples_per_class=samples_per_class,
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

    # --- skorch hooks ------------------------------------------------------------------

    def get_params_for(self, prefix):
        """skorch's sub-parameters, with the network's named parameters filled in."""
        params = dict(super().get_params_for(prefix))
        if prefix == "module":
            params.setdefault("hidden_sizes", tuple(self.hidden_sizes))
            for name in ("n_metrics", "activation", "temperature", "combine"):
                params.setdefault(name, getattr(self, name))
        return params

    def get_default_callbacks(self):
        return [*super().get_default_callbacks(), ("dlml_anchors", _PlaceAnchors())]

    def on_train_end(self, net, X=None, y=None, **kwargs):
        """Count the training samples of each region (``region_counts_``)."""
        super().on_train_end(net, X=X, y=y, **kwargs)
        regions = self._region_log_proba(np.asarray(X)).argmax(1)
        self.region_counts_ = np.bincount(regions, minlength=self.module_.n_metrics)

    # --- the template's hooks ----------------------------------------------------------

    def _batch_loss(self, embeddings, y, X, *, training):
        """The metric loss of the batch's embeddings, plus ``assignment_weight`` times the
        negative mutual information of samples and regions."""
        loss = super()._batch_loss(embeddings, y, X, training=training)
        if not self.assignment_weight:
            return loss
        X = to_tensor(X, device=self.device).to(embeddings.dtype)
        log_p = self.module_.region_log_proba(X)
        return loss + self.assignment_weight * assignment_information_loss(log_p)

    # --- the assignment ----------------------------------------------------------------

    def _eval_batches(self, X_scaled, fn):
        """``fn`` of the network-ready rows ``X_scaled``, batch by batch, in eval mode and
        without gradients, as one float64 NumPy array."""
        module = self.module_
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                out = [fn(to_tensor(X_scaled[start:start + self.batch_size],
                                    device=self.device)).cpu()
                       for start in range(0, len(X_scaled), self.batch_size)]
        finally:
            module.train(was_training)
        return torch.cat(out).double().numpy()

    def _trunk_features(self, X_scaled):
        return self._eval_batches(X_scaled, self.module_.features)

    def _region_log_proba(self, X_scaled):
        return self._eval_batches(X_scaled, self.module_.region_log_proba)

    @uses_threads
    def region_proba(self, X):
        """The soft assignment ``p_k(x)`` of each sample to the local metrics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_metrics)
            Rows sum to 1; the dtype of ``X`` (float32 or float64).
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        log_p = self._region_log_proba(self._scale_input(X))
        return np.exp(log_p).astype(X.dtype, copy=False)

    def predict_region(self, X):
        """The most likely region of each sample, ``argmax_k p_k(x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        regions : ndarray of shape (n_samples,)
            Integers in ``0 .. n_metrics - 1``.
        """
        return self.region_proba(X).argmax(axis=1)


def assignment_information_loss(log_p):
    """``mean_i H(p_i) - H(mean_i p_i)``, the negative mutual information of the rows of a
    batch and the regions, from ``log p`` of shape (n_samples, n_regions).

    Lowest, ``-log(n_regions)``, when every sample sits in one region and the regions are
    used equally; ``0`` for a uniform assignment and for one region holding every sample.
    """
    p = log_p.exp()
    conditional = -(p * log_p).sum(1).mean()
    mean = p.mean(0)
    marginal = -(mean * mean.clamp_min(1e-12).log()).sum()
    return conditional - marginal
