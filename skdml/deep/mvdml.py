"""MvDML: sharable and individual multi-view deep metric learning (Hu, Lu & Tan)."""

from numbers import Integral, Real

import torch
from torch import nn
from torch.nn import functional as F

from .._param_validation import Interval
from ._base import DeepMetricLearner
from ._pairs import DeepPairMixin
from ._views import MultiViewMixin, PerViewMLP
from .distances import LpDistance
from .losses import MetricLoss
from .losses._base import _check_real
from .reducers import BaseReducer, PerAnchorReducer

__all__ = ["MvDML", "PairHingeLoss", "SharableIndividualNet"]


class _SumReducer(BaseReducer):
    """The sum of the terms."""

    def reduce(self, values, anchors):
        return values.sum()


class PairHingeLoss(MetricLoss):
    r"""MvDML's loss: similar pairs above ``tau_s``, dissimilar pairs below ``tau_d``.

    .. math::

        J = \frac{1}{|S|} \sum_{(i,j) \in S} [d^2_{ij} - \tau_s]_+
          + \frac{1}{|D|} \sum_{(i,j) \in D} [\tau_d - d^2_{ij}]_+

    with ``d^2`` the squared Euclidean distance of the embeddings, ``S`` the similar and
    ``D`` the dissimilar pairs of the batch (each mean taken over its own pairs, so the
    rarer similar pairs of a class-balanced batch count as much as the dissimilar ones).
    The terms are returned with anchor ``0`` (similar) or ``1`` (dissimilar), reduced
    by the mean per anchor, then summed.

    Parameters
    ----------
    tau_s : float, default=2.0
        Squared distances of similar pairs above it are penalized.
    tau_d : float, default=8.0
        Squared distances of dissimilar pairs below it are penalized (``tau_d >= tau_s``).
    distance : distance, default=LpDistance(power=2)
    reducer : reducer, default=PerAnchorReducer(anchor_reducer=sum)
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    J. Hu, J. Lu and Y.-P. Tan, "Sharable and individual multi-view metric learning",
    IEEE Transactions on Pattern Analysis and Machine Intelligence 40(9), 2018.
    """

    distance_kind = "distance"
    _reprs = ("tau_s", "tau_d")

    def __init__(self, tau_s=2.0, tau_d=8.0, *, distance=None, reducer=None,
                 embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        owner = type(self).__name__
        self.tau_s = _check_real(tau_s, "tau_s", owner)
        self.tau_d = _check_real(tau_d, "tau_d", owner)
        if self.tau_d < self.tau_s:
            raise ValueError(f"{owner}: tau_d must be >= tau_s, got tau_s={tau_s!r} and "
                             f"tau_d={tau_d!r}.")

    def default_distance(self):
        return LpDistance(power=2)

    def default_reducer(self):
        return PerAnchorReducer(anchor_reducer=_SumReducer())

    def compute(self, embeddings, labels, pairs):
        a1, p, a2, n = pairs
        d = self.distance(embeddings)
        values = torch.cat([F.relu(d[a1, p] - self.tau_s), F.relu(self.tau_d - d[a2, n])])
        anchors = torch.cat([torch.zeros_like(a1), torch.ones_like(a2)])
        return values, anchors


class SharableIndividualNet(PerViewMLP):
    r"""MvDML's network: per view a tanh network ``f_k``, an individual projection
    ``W_k^s`` and a common one ``W_k^c``.

    The embedding of ``x = [x_1 | ... | x_K]`` is ``[h_1^s | ... | h_K^s | h^c]`` with
    ``h_k^s = W_k^s f_k(x_k)`` and ``h^c = (1/K) sum_k W_k^c f_k(x_k)``: its squared
    Euclidean distances are MvDML's ``d^2``. The projections are linear maps without
    bias, initialized Xavier-uniform.

    Parameters
    ----------
    n_features : int
    view_widths : sequence of int
    hidden_sizes : tuple of int, default=(64, 32)
        The layers of every view's network ``f_k``.
    individual_dim : int, default=16
        Width of each ``h_k^s`` (0: no individual part, MvDML-c).
    common_dim : int, default=16
        Width of ``h^c`` (0: no common part, MvDML-s).
    activation : str, default='tanh'
    """

    def __init__(self, n_features, view_widths, hidden_sizes=(64, 32), individual_dim=16,
                 common_dim=16, activation="tanh"):
        super().__init__(n_features, view_widths, hidden_sizes, activation=activation)
        if individual_dim < 0 or common_dim < 0 or individual_dim + common_dim == 0:
            raise ValueError(
                "SharableIndividualNet needs individual_dim >= 0 and common_dim >= 0, not "
                f"both 0; got individual_dim={individual_dim!r}, common_dim={common_dim!r}."
            )

        def projections(dim):
            if dim == 0:
                return None
            maps = nn.ModuleList(nn.Linear(self.view_dim, dim, bias=False)
                                 for _ in self.view_widths)
            for linear in maps:
                nn.init.xavier_uniform_(linear.weight)
            return maps

        self.individual = projections(int(individual_dim))
        self.common = projections(int(common_dim))

    def forward(self, X):
        outputs = self.view_outputs(X)
        parts = []
        if self.individual is not None:
            parts += [W(f) for W, f in zip(self.individual, outputs)]
        if self.common is not None:
            parts.append(torch.stack([W(f) for W, f in zip(self.common, outputs)]).mean(0))
        return torch.cat(parts, dim=1)


class MvDML(MultiViewMixin, DeepPairMixin, DeepMetricLearner):
    r"""Sharable and individual multi-view deep metric learning.

    Each sample is described by ``K`` feature views (see ``views``). View ``k`` has a tanh
    network ``f_k`` followed by two linear maps: an individual projection ``W_k^s`` and a
    common one ``W_k^c``. The common part of the embedding averages the views' common
    projections, so all views build it together (what they share), while each view keeps
    its individual part (what is its own). The learned distance is

    .. math::

        d^2(x_i, x_j) = \sum_k \left|W_k^s (f_k(x_{k,i}) - f_k(x_{k,j}))\right|^2
          + \left|\frac{1}{K} \sum_k W_k^c (f_k(x_{k,i}) - f_k(x_{k,j}))\right|^2

    ([1]_, the tutorial's formulation) and ``transform`` returns
    ``[h_1^s | ... | h_K^s | h^c]`` (:class:`SharableIndividualNet`), whose Euclidean
    distance it is. All networks and projections are trained jointly on

    .. math::

        \frac{1}{|S|} \sum_{S} [d^2_{ij} - \tau_s]_+
        + \frac{1}{|D|} \sum_{D} [\tau_d - d^2_{ij}]_+
        + \lambda \left(\sum_k |W_k^s|_F^2 + |W_k^c|_F^2
          + \sum_m |W_k^{(m)}|_F^2 + |b_k^{(m)}|^2\right)

    (:class:`PairHingeLoss`; ``S`` similar, ``D`` dissimilar pairs), the weight decay
    being the optimizer's ``weight_decay = 2 lambda``.

    **Input.** A multi-view sample is one row of a stacked array, its views side by side:
    ``X`` of shape (n_samples, d_1 + ... + d_K), with ``views`` naming the views (``views=3``
    for three equal blocks of columns, ``views=(16, 16, 30)`` for widths). This form
    goes through ``Pipeline``, ``GridSearchCV`` and ``clone`` untouched. ``fit``,
    ``partial_fit`` and ``transform`` also take a list of arrays, one per view, which they
    stack (the widths are then the list's). MvDML learns from

    - class labels: ``fit(X, y)``, class-balanced batches, every pair of a batch (similar
      when of one class);
    - labelled pairs: ``fit(pairs, y)`` with stacked pairs of shape (n_pairs, 2,
      d_1 + ... + d_K) (or index pairs with ``preprocessor=X``), ``y`` in {+1, -1}; the
      fit calibrates ``threshold_`` on them and MvDML is then a classifier of pairs
      (``decision_function``, ``predict``, ``score``, ``calibrate_threshold``).

    Parameters
    ----------
    views : int or tuple of int, default=2
        The views of the stacked input: an int ``K >= 2`` cuts the columns into ``K``
        contiguous blocks as equal as can be (the first ``n_features % K`` one column
        wider); a tuple gives the widths of the views in column order, adding up to
        ``n_features``.
    hidden_sizes : tuple of int, default=(64, 32)
        The tanh layers of each view's network ``f_k``.
    individual_dim : int, default=16
        Width of each view's individual embedding ``h_k^s`` (0: none, the paper's
        MvDML-c).
    common_dim : int, default=16
        Width of the common embedding ``h^c`` (0: none, the paper's MvDML-s).
    tau_s : float, default=2.0
        Similar pairs are pushed below this squared distance.
    tau_d : float, default=8.0
        Dissimilar pairs are pushed above this squared distance (``>= tau_s``). The
        network's scale is free (its projections are linear), so the ratio
        ``tau_d / tau_s`` and the weight decay matter more than the values; these
        defaults were chosen on the digit views.
    weight_decay : float, default=1e-4
        The optimizer's L2 penalty on every weight, projection and bias (``2 lambda``).
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
    module_ : SharableIndividualNet
    loss_ : PairHingeLoss
    history_ : skorch.History
    classes_ : ndarray
        Class labels after a fit on them; ``[-1, 1]`` after a fit on pairs or
        ``calibrate_threshold``.
    threshold_ : float
        Pairs at a learned distance ``<= threshold_`` are predicted similar (after a fit
        on pairs or ``calibrate_threshold``).
    embedding_dim_ : int
        ``K * individual_dim + common_dim``.
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    See Also
    --------
    DDMML : one DDML network per view, views weighted and tied by their distances.
    DDML : one network on one view (or on the views concatenated).
    skdml.datasets.make_digits_views : digits under several feature views.

    Notes
    -----
    The objective is the tutorial's (its slide on MvDML, from [1]_), term for term, with
    the similar and dissimilar pairs of each batch (class labels) or the batches of given
    pairs (pair labels) for ``S`` and ``D``. Departures: Adam rather than plain gradient
    descent; the weight decay is the optimizer's (``weight_decay / 2`` times the squared
    norms, so the paper's ``lambda`` is ``weight_decay / 2``).

    References
    ----------
    .. [1] J. Hu, J. Lu and Y.-P. Tan, "Sharable and individual multi-view metric
       learning", IEEE Transactions on Pattern Analysis and Machine Intelligence 40(9),
       2018.

    Examples
    --------
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from skdml.datasets import make_digits_views
    >>> from skdml.deep import MvDML
    >>> X, y, widths = make_digits_views()
    >>> mvdml = MvDML(views=widths, hidden_sizes=(16, 8), individual_dim=4, common_dim=4,
    ...               max_epochs=5, random_state=0)
    >>> model = make_pipeline(mvdml, KNeighborsClassifier(n_neighbors=3))
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> model.fit(X_train, y_train).score(X_test, y_test) > 0.9
    True
    >>> mvdml.transform(X[:2]).shape  # 3 individual parts of 4, a common one of 4
    (2, 16)
    """

    _parameter_constraints = {
        **{k: v for k, v in DeepMetricLearner._parameter_constraints.items()
           if k not in ("module", "loss", "miner", "distance")},
        "views": [Interval(Integral, 2, None, closed="left"), tuple, list],
        "hidden_sizes": [tuple, list],
        "individual_dim": [Interval(Integral, 0, None, closed="left")],
        "common_dim": [Interval(Integral, 0, None, closed="left")],
        "tau_s": [Interval(Real, None, None, closed="neither")],
        "tau_d": [Interval(Real, None, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        views=2,
        hidden_sizes=(64, 32),
        *,
        individual_dim=16,
        common_dim=16,
        tau_s=2.0,
        tau_d=8.0,
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
        self.individual_dim = individual_dim
        self.common_dim = common_dim
        self.tau_s = tau_s
        self.tau_d = tau_d
        self.weight_decay = weight_decay
        super().__init__(
            module=SharableIndividualNet,
            loss=PairHingeLoss,
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

    def _validate_fit_data(self, X, y, *, reset):
        if reset:
            self._check_parameters()
        return super()._validate_fit_data(X, y, reset=reset)

    def _check_parameters(self):
        """What the constraints of single parameters cannot say."""
        name = type(self).__name__
        if self.individual_dim == 0 and self.common_dim == 0:
            raise ValueError(f"{name}: individual_dim and common_dim cannot both be 0 (the "
                             "embedding would be empty).")
        if self.tau_d < self.tau_s:
            raise ValueError(f"{name}: tau_d must be >= tau_s, got tau_s={self.tau_s!r} and "
                             f"tau_d={self.tau_d!r}.")

    def get_params_for(self, prefix):
        """skorch's sub-parameters, with MvDML's named parameters filled in where unset."""
        params = dict(super().get_params_for(prefix))
        if prefix == "module":
            params.setdefault("hidden_sizes", tuple(self.hidden_sizes))
            params.setdefault("individual_dim", self.individual_dim)
            params.setdefault("common_dim", self.common_dim)
        elif prefix == "loss":
            params.setdefault("tau_s", self.tau_s)
            params.setdefault("tau_d", self.tau_d)
        elif prefix == "optimizer":
            params.setdefault("weight_decay", self.weight_decay)
        return params
