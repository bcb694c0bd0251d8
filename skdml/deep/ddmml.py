"""DDMML: discriminative deep multi-metric learning (Lu, Hu & Tan)."""

from numbers import Integral, Real

import torch
from torch.nn import functional as F

from .._param_validation import Interval
from ._base import DeepMetricLearner
from ._pairs import DeepPairMixin
from ._views import MultiViewMixin, PerViewMLP
from .distances import LpDistance
from .losses import MetricLoss
from .losses._base import _check_int, _check_real

__all__ = ["DDMML", "MultiMetricLoss"]

_TINY = 1e-12


class MultiMetricLoss(MetricLoss):
    r"""DDMML's objective on a batch: each view's DDML term, weighted, plus the views'
    disagreement.

    The embeddings are the views' embeddings side by side, ``[z_1 | ... | z_K]``, each
    ``view_dims[k]`` wide; ``d_k(i, j) = |z_k,i - z_k,j|``. Over the batch's pairs ``P``
    (similar ``l = +1``, dissimilar ``l = -1``):

    .. math::

        J = \sum_k \alpha_k^p J_k
            + \mu \frac{1}{|P|} \sum_{(i,j) \in P} \sum_{k < k'}
              \left(d_k(i, j) - d_{k'}(i, j)\right)^2,
        \qquad
        J_k = \frac{1}{|P|} \sum_{(i,j) \in P} g\left(1 - l_{ij}(\tau - d_k^2(i, j))\right)

    with ``g(z) = log(1 + exp(beta z)) / beta``: ``J_k`` is
    :class:`~skdml.deep.GeneralizedLogisticLoss` (DDML's loss) on view ``k``. ``alpha``
    are the view weights (the buffer ``view_weights``, on the simplex), set by the
    learner: :meth:`update_view_weights` replaces them by the minimizer of
    ``sum_k alpha_k^p J_k`` over the simplex for the per-view terms averaged since its
    last call (those of the training batches, accumulated in training mode, with any
    per-view penalty added by :meth:`view_penalty`).

    Parameters
    ----------
    view_dims : sequence of int
        The embedding width of each view (at least two views).
    tau : float, default=3.0
    beta : float, default=2.0
        DDML's threshold and sharpness, shared by the views.
    mu : float, default=0.01
        Weight of the disagreement term (>= 0).
    p : float, default=2.0
        Exponent of the view weights (> 1; the larger, the more uniform the weights).

    References
    ----------
    J. Lu, J. Hu and Y.-P. Tan, "Discriminative deep metric learning for face and kinship
    verification", IEEE Transactions on Image Processing 26(9), 2017.
    """

    distance_kind = "distance"
    _reprs = ("view_dims", "tau", "beta", "mu", "p")

    def __init__(self, view_dims, tau=3.0, beta=2.0, mu=0.01, p=2.0):
        super().__init__()
        owner = type(self).__name__
        dims = tuple(_check_int(d, "each of view_dims", owner) for d in view_dims)
        if len(dims) < 2:
            raise ValueError(f"{owner}: view_dims needs at least 2 views, got {view_dims!r}.")
        self.view_dims = dims
        self.tau = _check_real(tau, "tau", owner)
        self.beta = _check_real(beta, "beta", owner, low=0)
        self.mu = _check_real(mu, "mu", owner, low=0, strict=False)
        self.p = _check_real(p, "p", owner, low=1)
        k = len(dims)
        self.register_buffer("view_weights", torch.full((k,), 1.0 / k, dtype=torch.float64))
        self.register_buffer("term_sums", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("n_batches", torch.zeros((), dtype=torch.long))

    def default_distance(self):
        return LpDistance(power=2)

    def view_distances(self, embeddings, pairs):
        """``d_k^2`` of the pairs, of shape (K, n_pairs): the similar pairs first, then
        the dissimilar ones."""
        a1, p, a2, n = pairs
        first, second = torch.cat([a1, a2]), torch.cat([p, n])
        views = torch.split(embeddings, self.view_dims, dim=1)
        if 4 * len(first) < len(embeddings) ** 2:  # a few pairs (a fit on pairs): row by row
            return torch.stack([self.distance.pairwise(z[first], z[second]) for z in views])
        return torch.stack([self.distance(z)[first, second] for z in views])

    def compute(self, embeddings, labels, pairs):
        d2 = self.view_distances(embeddings, pairs)
        a1, _, a2, _ = pairs
        sign = torch.cat([torch.ones_like(a1), -torch.ones_like(a2)]).to(d2.dtype)
        g = F.softplus(1.0 - sign * (self.tau - d2), beta=self.beta)  # DDML's term
        self._record(g.detach().mean(dim=1), new_batch=True)
        # the distances, not their squares, as in LM3L (see DDMML's Notes); the gradient
        # of the square root at 0 is taken as 0
        d = d2.clamp_min(_TINY).sqrt()
        disagreement = (d[:, None, :] - d[None, :, :]).square().sum(dim=(0, 1)) / 2
        return self._weights(g.dtype) @ g + self.mu * disagreement

    def view_penalty(self, values):
        """``sum_k alpha_k^p values_k`` for per-view terms ``values`` (shape (K,)), such as
        each view network's weight decay: terms of ``J_k`` that are not per pair. In
        training mode they count in the next weight update."""
        self._record(values.detach(), new_batch=False)
        return self._weights(values.dtype) @ values

    def _weights(self, dtype):
        return self.view_weights.to(dtype) ** self.p

    def _record(self, values, *, new_batch):
        if self.training:
            self.term_sums += values.to(self.term_sums.dtype)
            self.n_batches += int(new_batch)

    def update_view_weights(self):
        """Set ``view_weights`` to ``argmin_alpha sum_k alpha_k^p J_k`` on the simplex,
        ``alpha_k`` proportional to ``J_k^(1 / (1 - p))``, for the per-view terms ``J_k``
        averaged over the training batches since the last call (kept as they are when
        there were none); returns the weights."""
        if int(self.n_batches) > 0:
            mean = (self.term_sums / self.n_batches).clamp_min(_TINY)
            weights = mean ** (1.0 / (1.0 - self.p))
            self.view_weights.copy_((weights / weights.sum()).to(self.view_weights.dtype))
        self.term_sums.zero_()
        self.n_batches.zero_()
        return self.view_weights.detach().clone()


class DDMML(MultiViewMixin, DeepPairMixin, DeepMetricLearner):
    r"""Discriminative deep multi-metric learning: one DDML network per view, learned jointly.

    Each sample is described by ``K`` feature views (see ``views``); view ``k`` has its own
    tanh network ``f_k`` with its own squared distance ``d_k^2(x_i, x_j) = |f_k(x_i^k) -
    f_k(x_j^k)|^2``. The networks are trained together on

    .. math::

        \min_{f_1..f_K,\ \alpha}\ \sum_k \alpha_k^p \left(J_k
          + \frac{\lambda}{2} \sum_m |W_k^{(m)}|_F^2 + |b_k^{(m)}|^2\right)
          + \mu \frac{1}{|P|} \sum_{(i,j) \in P} \sum_{k < k'}
            \left(d_k(x_i, x_j) - d_{k'}(x_i, x_j)\right)^2,
        \quad \alpha_k \ge 0,\ \sum_k \alpha_k = 1,

    where ``J_k`` is DDML's loss on view ``k`` (the generalized logistic loss
    ``g(1 - l_ij (tau - d_k^2))`` averaged over the pairs ``P``, as
    :class:`~skdml.deep.DDML`), with the weight decay of view ``k``'s network
    (``lambda`` is ``weight_decay``); the last term ties the views: the distances of one
    pair, measured in different views, should agree (the view-correlation term of [1]_).
    The optimization alternates as in [1]_: with the weights ``alpha`` fixed (``1 / K``
    at first), an epoch of gradient steps on the networks; with the networks fixed, the
    weights in closed form, ``alpha_k`` proportional to ``(J_k + decay_k)^(1 / (1 - p))``
    (a view that separates the pairs better weighs more), averaged over the epoch's
    batches (:class:`MultiMetricLoss`).

    The learned distance of two multi-view samples is

    .. math::  d^2(x_i, x_j) = \sum_k \alpha_k\, d_k^2(x_i, x_j),

    and ``transform`` returns ``[sqrt(alpha_1) f_1(x^1) | ... | sqrt(alpha_K) f_K(x^K)]``,
    so that the Euclidean distance of the embeddings is this distance (and
    ``pair_distance``, ``decision_function``, ``predict`` and a kNN on ``transform``
    all use it).

    **Input.** A multi-view sample is one row of a stacked array, its views side by side:
    ``X`` of shape (n_samples, d_1 + ... + d_K), with ``views`` naming the views (``views=3``
    for three equal blocks of columns, ``views=(16, 16, 30)`` for widths). This form
    goes through ``Pipeline``, ``GridSearchCV`` and ``clone`` untouched. ``fit``,
    ``partial_fit`` and ``transform`` also take a list of arrays, one per view, which they
    stack (the widths are then the list's). As :class:`~skdml.deep.DDML`, DDMML learns
    from

    - labelled pairs, the paper's form: ``fit(pairs, y)`` with stacked pairs of shape
      (n_pairs, 2, d_1 + ... + d_K) (or index pairs with ``preprocessor=X``), ``y`` in
      {+1, -1}; batches of ``batch_size`` pairs, each pair seen once per epoch. The fit
      calibrates ``threshold_`` on the training pairs, and DDMML is then a classifier of
      pairs (``decision_function``, ``predict``, ``score``, ``calibrate_threshold``);
    - class labels: ``fit(X, y)``, class-balanced batches, every pair of a batch.

    Parameters
    ----------
    views : int or tuple of int, default=2
        The views of the stacked input: an int ``K >= 2`` cuts the columns into ``K``
        contiguous blocks as equal as can be (the first ``n_features % K`` one column
        wider); a tuple gives the widths of the views in column order, adding up to
        ``n_features``.
    hidden_sizes : tuple of int, default=(64, 32)
        The tanh layers of each view's network; the last is each view's embedding width
        (the embedding has ``K`` times as many).
    tau : float, default=3.0
        DDML's threshold on squared distances, in every view.
    beta : float, default=2.0
        Sharpness of the generalized logistic function.
    mu : float, default=0.01
        Weight of the view-correlation term (0: the views are tied by their weights
        only).
    p : float, default=2.0
        Exponent of the view weights, > 1: near 1 one view takes all the weight, large
        ``p`` makes the weights uniform (and the weighted terms small against ``mu``'s).
    weight_decay : float, default=1e-4
        ``lambda``, the L2 penalty on each view network's weights and biases, weighted
        by ``alpha_k^p`` with the view's pair term (part of the loss, not of the
        optimizer).
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
    lr : float, default=1e-3
    max_epochs : int, default=30
    batch_size : int, default=128
        Samples per batch in a fit on class labels, pairs per batch in a fit on pairs.
    samples_per_class : int or None, default=None
    train_split : callable or None, default=None
    callbacks : list or None, default=None
    device : str or torch.device, default='cpu'
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
    warm_start : bool, default=False
    n_jobs : int or None, default=None
        Threads of torch, BLAS and numba during ``fit``, ``partial_fit`` and ``transform``
        (restored afterwards): ``None`` means 1 unless in a
        ``joblib.parallel_config(n_jobs=...)`` context, ``-1`` means all cores
        (scikit-learn's meaning). One thread is the fastest for small networks on the CPU
        and never oversubscribes a busy machine; a large network may gain from more.
    standardize : bool, default=True
        Centre and scale each input feature with the training data's mean and standard
        deviation before the networks see it (see :class:`~skdml.deep.DeepMetricLearner`).
    **kwargs
        skorch sub-parameters (``module__activation``, ``iterator_train__...``, ...).

    Attributes
    ----------
    view_widths_ : tuple of int
        The input width of each view.
    view_weights_ : ndarray of shape (n_views,)
        The learned weights ``alpha`` (on the simplex); ``history_`` records them after
        every epoch (``'view_weights'``).
    module_ : PerViewMLP
    loss_ : MultiMetricLoss
    history_ : skorch.History
    classes_ : ndarray
        Class labels after a fit on them; ``[-1, 1]`` after a fit on pairs or
        ``calibrate_threshold``.
    threshold_ : float
        Pairs at a learned distance ``<= threshold_`` are predicted similar (after a fit
        on pairs or ``calibrate_threshold``).
    embedding_dim_ : int
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    See Also
    --------
    DDML : one network on one view (or on the views concatenated).
    MvDML : one network per view with sharable and individual projections.
    skdml.datasets.make_digits_views : digits under several feature views.

    Notes
    -----
    The tutorial's slides show DDMML's results but not its objective. The objective
    above is that of [1]_ as we reconstruct it, on the pattern of the multi-metric
    method it makes deep, LM3L [3]_: each view's pair term and weight decay weighted by
    ``alpha_k^p``, and the view-correlation term on the views' Euclidean distances (not
    their squares), summed over unordered pairs of views (a sum over ordered pairs is
    twice it: halve ``mu``) and averaged over the batch's pairs, as the pair term is.
    On squares, the term grows with the fourth power of the embedding's scale: it
    dominates the pair terms and shrinks every view (on the digit views, two seeds of
    2000 training pairs, squares at ``mu=0.01`` cost three points of verification
    accuracy, distances none). ``mu`` acts against ``sum_k alpha_k^p J_k``, whose scale
    falls as ``K^(1 - p)`` with uniform weights: with more views or a larger ``p``, lower
    ``mu``. Departures: the weights are updated once an epoch from the epoch's mean batch
    terms rather than after a full pass at fixed networks; Adam replaces plain gradient
    descent. The final distance weights the views by ``alpha_k`` (not ``alpha_k^p``).

    References
    ----------
    .. [1] J. Lu, J. Hu and Y.-P. Tan, "Discriminative deep metric learning for face and
       kinship verification", IEEE Transactions on Image Processing 26(9), 2017.
    .. [2] J. Hu, J. Lu and Y.-P. Tan, "Discriminative deep metric learning for face
       verification in the wild", CVPR 2014.
    .. [3] J. Hu, J. Lu, J. Yuan and Y.-P. Tan, "Large margin multi-metric learning for
       face and kinship verification in the wild", ACCV 2014.

    Examples
    --------
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from skdml.datasets import make_digits_views
    >>> from skdml.deep import DDMML
    >>> X, y, widths = make_digits_views()
    >>> widths
    (16, 16, 30)
    >>> ddmml = DDMML(views=widths, hidden_sizes=(16, 8), max_epochs=5, random_state=0)
    >>> model = make_pipeline(ddmml, KNeighborsClassifier(n_neighbors=3))
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> model.fit(X_train, y_train).score(X_test, y_test) > 0.9
    True
    >>> ddmml.transform(X[:2]).shape  # three views of 8 dimensions each
    (2, 24)

    From labelled pairs of stacked samples:

    >>> from skdml.datasets import make_pairs
    >>> pairs, labels = make_pairs(X_train, y_train, 2000, random_state=0)
    >>> ddmml.fit(pairs, labels).classes_
    array([-1,  1])
    >>> test_pairs, test_labels = make_pairs(X_test, y_test, 1000, random_state=1)
    >>> ddmml.score(test_pairs, test_labels) > 0.8
    True
    """

    _parameter_constraints = {
        **{k: v for k, v in DeepMetricLearner._parameter_constraints.items()
           if k not in ("module", "loss", "miner", "distance")},
        "views": [Interval(Integral, 2, None, closed="left"), tuple, list],
        "hidden_sizes": [tuple, list],
        "tau": [Interval(Real, None, None, closed="neither")],
        "beta": [Interval(Real, 0, None, closed="neither")],
        "mu": [Interval(Real, 0, None, closed="left")],
        "p": [Interval(Real, 1, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        views=2,
        hidden_sizes=(64, 32),
        *,
        tau=3.0,
        beta=2.0,
        mu=0.01,
        p=2.0,
        weight_decay=1e-4,
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
        self.views = views
        self.hidden_sizes = hidden_sizes
        self.tau = tau
        self.beta = beta
        self.mu = mu
        self.p = p
        self.weight_decay = weight_decay
        super().__init__(
            module=PerViewMLP,
            loss=MultiMetricLoss,
            miner=None,
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

    def get_params_for(self, prefix):
        """skorch's sub-parameters, with DDMML's named parameters filled in where unset."""
        params = dict(super().get_params_for(prefix))
        if prefix == "module":
            params.setdefault("hidden_sizes", tuple(self.hidden_sizes))
            params.setdefault("activation", "tanh")
        elif prefix == "loss":
            params.setdefault("view_dims", (self.module_.view_dim,) * len(self.view_widths_))
            for name in ("tau", "beta", "mu", "p"):
                params.setdefault(name, getattr(self, name))
        return params

    def _batch_loss(self, embeddings, y, X, *, training):
        """The loss's terms, plus each view network's weight decay, weighted by
        ``alpha_k^p`` (:meth:`MultiMetricLoss.view_penalty`)."""
        loss = super()._batch_loss(embeddings, y, X, training=training)
        if self.weight_decay == 0:
            return loss
        squares = torch.stack([sum(p.square().sum() for p in net.parameters())
                               for net in self.module_.nets])
        return loss + self.loss_.view_penalty(0.5 * self.weight_decay * squares)

    @property
    def view_weights_(self):
        """The learned view weights ``alpha``, an ndarray of shape (n_views,) on the
        simplex (kept by the loss, ``loss_.view_weights``)."""
        loss = getattr(self, "loss_", None)
        if loss is None:
            raise AttributeError(f"{type(self).__name__} has no view_weights_ before fit.")
        return loss.view_weights.detach().cpu().numpy().copy()

    def on_epoch_end(self, net, **kwargs):
        """The closed-form update of the view weights after each epoch (skorch's hook)."""
        super().on_epoch_end(net, **kwargs)
        weights = self.loss_.update_view_weights()
        self.history.record("view_weights", weights.cpu().tolist())

    def forward(self, X, training=False, device="cpu"):
        """The embeddings: the views' network outputs, view ``k`` scaled by
        ``sqrt(alpha_k)`` (what ``transform`` returns). Training sees the networks'
        outputs unscaled (``infer``)."""
        Z = super().forward(X, training=training, device=device)
        scale = self.loss_.view_weights.to(Z.device, Z.dtype).sqrt()
        return Z * torch.repeat_interleave(scale, torch.tensor(self.loss_.view_dims,
                                                               device=Z.device))
