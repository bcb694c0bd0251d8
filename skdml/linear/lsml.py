"""LSML: least squares metric learning from relative comparisons (Liu et al., 2012)."""

from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data
from threadpoolctl import threadpool_limits

from .._param_validation import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, TupleClassifierMixin, fit_context
from .._validation import (
    check_classification_labels,
    check_tuples,
    input_ndim,
)
from ..constraints import triplets_from_labels
from ._optim import minimize_lbfgs
from ._psd import (
    components_from_inverse, components_from_psd, feature_scales, standardize,
    standardized_prior, unstandardize_components,
)

# Ridge on the prior covariance (relative to its mean eigenvalue) so that it inverts with
# duplicated or collinear features.
_PRIOR_RIDGE = 1e-3


class LSML(TupleClassifierMixin, MahalanobisMixin, BaseMetricLearner):
    """Least squares metric learning from relative distance comparisons (Liu et al., 2012).

    A quadruplet ``(a, b, c, d)`` says ``d(a, b) < d(c, d)``; a triplet ``(a, p, n)`` is the
    quadruplet ``(a, p, a, n)``. LSML minimizes the squared violations plus a LogDet
    divergence to a prior metric ``M0 = P^{-1}``:

    .. math::

        \\min_{M \\succ 0} \\frac{1}{m} \\sum_k \\max(0, d_M(a_k, b_k) - d_M(c_k, d_k))^2
        + \\lambda \\left(\\operatorname{tr}(M P) - \\log\\det M\\right),

    with ``d_M`` the (not squared) Mahalanobis distance. The LogDet term keeps ``M`` positive
    definite and near the prior. ``M = L^T L`` with a square ``L`` optimized by
    :func:`scipy.optimize.minimize` (L-BFGS-B) from ``L0 = P^{-1/2}``.

    Fitted from quadruplets ``fit(quadruplets)`` of shape (n, 4, n_features), triplets
    ``fit(triplets)`` of shape (n, 3, n_features) (or integer indices (n, 4) / (n, 3) with
    ``preprocessor=``), or from class labels ``fit(X, y)``, which samples ``n_constraints``
    triplets (anchor, same class, other class). Fitted on tuples, it classifies them:
    ``decision_function`` is ``d(c, d) - d(a, b)`` (triplets: ``d(a, n) - d(a, p)``),
    ``predict`` is +1 where that is positive (-1 otherwise) and ``score`` the fraction
    predicted right (see :class:`skdml.base.TupleClassifierMixin`).

    Features are standardized internally (constant ones get weight zero) and the metric is
    mapped back, so ``prior='identity'`` means the identity on standardized features.

    Parameters
    ----------
    prior : {'identity', 'covariance', 'random'} or ndarray of shape (n_features, \
n_features), default='identity'
        The prior covariance ``P``: the identity, or the covariance of the data (the samples,
        or the tuple members; in standardized units the correlation matrix, with a small
        ridge so that it inverts). ``'random'`` and an array give the prior *metric* ``M0``
        (metric-learn's meaning) and ``P = M0^{-1}``: ``'random'`` is a random symmetric
        positive definite ``M0`` on standardized features
        (:func:`sklearn.datasets.make_spd_matrix`, drawn from ``random_state``); an array is
        ``M0`` in the units of the input and must be symmetric positive definite.
    regularization : float, default=1.0
        Weight ``lambda`` of the LogDet divergence.
    n_constraints : int, default=None
        With class labels: the number of triplets sampled; ``None`` means
        ``20 * n_classes ** 2``.
    max_iter : int, default=1000
        Maximum number of L-BFGS-B iterations.
    tol : float, default=1e-5
        Gradient tolerance of L-BFGS-B.
    verbose : int, default=0
        Print the objective at every iteration when ``verbose >= 1``.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling of triplets from class labels and the random prior.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).
    callback : callable or None, default=None
        Called after every L-BFGS-B iteration as ``callback(L, n_iter)``, with the current
        iterate as the components ``fit`` would return (input units, shape
        (n_components, n_features)) and the iteration count: to record the path or to
        watch a score on held-out data.

    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        The samples that tuples given as integer indices refer to (metric-learn's
        ``preprocessor``). With it, ``fit``, ``decision_function``, ``predict`` and
        ``score`` take integer indices of shape (n, 4) (quadruplets) or (n, 3) (triplets),
        so ``cross_val_score`` and ``GridSearchCV`` work on index tuples as well; the tuples
        themselves (a 3-D array) are still taken as they are, but ``fit`` learns from tuples
        only (class labels need ``preprocessor=None``). A callable, such as a loader, is
        given the flat indices (integers, or identifiers such as file names) and returns one
        sample per index, an array of shape (n_indices, n_features). A ``preprocessor=``
        given to a method wins over this one; ``transform`` always takes samples.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L`` with ``L.T @ L = M``.
    n_iter_ : int
        Number of L-BFGS-B iterations.
    objective_ : float
        Final value of the objective (standardized units).
    n_components_ : int
    n_features_in_ : int

    References
    ----------
    .. [1] E. Y. Liu, Z. Guo, X. Zhang, V. Jojic and W. Wang, "Metric learning from relative
       comparisons by minimizing squared residual", ICDM 2012.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from skdml import LSML
    >>> X, y = load_wine(return_X_y=True)
    >>> lsml = LSML(random_state=0).fit(X, y)
    >>> lsml.transform(X).shape
    (178, 13)
    """

    _tuple_sizes = (4, 3)

    _parameter_constraints = {
        "prior": [StrOptions({"identity", "covariance", "random"}), np.ndarray],
        "regularization": [Interval(Real, 0, None, closed="neither")],
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "callback": [callable, None],
        "preprocessor": [None, "array-like", callable],
    }

    def __init__(
        self, *, prior="identity", regularization=1.0, n_constraints=None, max_iter=1000,
        tol=1e-5, verbose=0, random_state=None, n_jobs=None, callback=None,
        preprocessor=None,
    ):
        self.prior = prior
        self.regularization = regularization
        self.n_constraints = n_constraints
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.callback = callback
        self.preprocessor = preprocessor

    @fit_context
    def fit(self, X, y=None, *, preprocessor=None):
        """Learn the metric from quadruplets, triplets or class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n, 4, n_features) or (n, 3, n_features)
            Samples (with class labels ``y``), quadruplets ``(a, b, c, d)`` meaning
            ``d(a, b) < d(c, d)``, or triplets ``(a, p, n)`` meaning ``d(a, p) < d(a, n)``.
            With ``preprocessor``, integer indices of shape (n, 4) or (n, 3).
        y : array-like of shape (n_samples,), default=None
            Class labels of any type, with samples; must be None with tuples.
        preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
            A dataset that index tuples refer to, or a callable turning indices into
            samples; None: the ``preprocessor`` parameter of the learner.

        Returns
        -------
        self : LSML
        """
        rng = check_random_state(self.random_state)
        preprocessor = self._preprocessor(preprocessor, X)
        ndim = input_ndim(X)
        if preprocessor is not None or ndim == 3:
            if y is not None:
                raise ValueError(
                    "LSML learns from triplets or quadruplets, which carry no labels: call "
                    "fit(tuples) without y, or fit(X, y) with samples and class labels."
                )
            size = np.shape(X)[1] if ndim >= 2 else None
            if size is not None and size not in (3, 4):
                raise ValueError(
                    "LSML expects quadruplets of shape (n_quadruplets, 4, n_features) or "
                    "triplets of shape (n_triplets, 3, n_features) (with a preprocessor: indices "
                    f"of shape (n, 4) or (n, 3)), got an array of shape "
                    f"{np.shape(X)}."
                )
            if size == 3:
                t = check_tuples(X, tuple_size=3, preprocessor=preprocessor, estimator=self)
                quads = t[:, [0, 1, 0, 2]]
            else:
                quads = check_tuples(X, tuple_size=4, preprocessor=preprocessor, estimator=self)
            quads = quads.astype(np.float64, copy=False)
            points = quads.reshape(-1, quads.shape[2])
            self._fit_quadruplets(
                quads[:, 0] - quads[:, 1], quads[:, 2] - quads[:, 3], points, rng
            )
            self._end_tuple_fit(quads.shape[2])
            return self
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64, copy=False)
        classes, y_enc = check_classification_labels(y, estimator=self)
        n = self.n_constraints or 20 * len(classes) ** 2
        t = triplets_from_labels(y_enc, n, random_state=rng)
        self._fit_quadruplets(X[t[:, 0]] - X[t[:, 1]], X[t[:, 0]] - X[t[:, 2]], X, rng)
        self._end_label_fit()
        return self

    def _fit_quadruplets(self, diff_ab, diff_cd, points, rng):
        scales = feature_scales(points)
        varying = scales > 0
        M0 = None
        if not isinstance(self.prior, str) or self.prior == "random":
            M0 = standardized_prior(self.prior, scales, random_state=rng, name="LSML")
        components = np.zeros((1, len(scales)))
        self.n_iter_, self.objective_ = 0, 0.0
        if varying.any():
            vab = standardize(diff_ab, scales)[0]
            vcd = standardize(diff_cd, scales)[0]
            d = vab.shape[1]
            if M0 is not None:
                P = linalg.inv(M0[np.ix_(varying, varying)])
                P = 0.5 * (P + P.T)
            elif self.prior == "identity":
                P = np.eye(d)
            else:
                P = np.atleast_2d(np.corrcoef(points[:, varying], rowvar=False))
                P = P + _PRIOR_RIDGE * np.trace(P) / d * np.eye(d)
            L0 = components_from_inverse(P)  # L0.T @ L0 = P^{-1}
            # Many small (d x d) products: BLAS threads cost more than they give.
            with threadpool_limits(1 if d <= 256 else None, user_api="blas"):
                L, self.n_iter_, self.objective_ = self._minimize(
                    vab, vcd, P, L0, self._user_callback(scales, varying))
            components = self._components(L, scales, varying)
        self.components_ = components
        self.n_components_ = components.shape[0]

    @staticmethod
    def _components(L, scales, varying):
        """The components in the input's units of ``L``, learned on the standardized
        varying features."""
        return unstandardize_components(components_from_psd(L.T @ L), scales, varying)

    def _user_callback(self, scales, varying):
        """``callback`` seeing each iterate as the components ``fit`` would return."""
        if self.callback is None:
            return None
        return lambda L, n_iter: self.callback(self._components(L, scales, varying), n_iter)

    def _minimize(self, vab, vcd, P, L0, callback=None):
        d = L0.shape[0]
        lam = self.regularization
        # The objective is inf where L is singular: the line search steps back from there.
        L, n_iter, value = minimize_lbfgs(
            lambda L: _lsml_objective(L, vab, vcd, P, lam), L0, max_iter=self.max_iter,
            tol=self.tol, name="LSML", verbose=self.verbose, callback=callback,
            require_finite=False,
        )
        return L, max(n_iter, 1), value  # n_iter: 0 when the start already meets tol

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _lsml_objective(L, vab, vcd, P, lam):
    """Objective and gradient in ``L`` (``M = L^T L``).

    ``mean_k max(0, d_ab - d_cd)^2 + lam (tr(M P) - log det M)``; with ``G = dF/dM``
    symmetric, ``dF/dL = 2 L G``, and ``d(-log det M)/dL = -2 L^{-T}``.
    """
    sign, logabsdet = np.linalg.slogdet(L)
    if sign == 0 or not np.isfinite(logabsdet):
        return np.inf, np.zeros_like(L)
    zab, zcd = vab @ L.T, vcd @ L.T
    dab = np.sqrt(np.maximum(np.einsum("ij,ij->i", zab, zab), 1e-300))
    dcd = np.sqrt(np.maximum(np.einsum("ij,ij->i", zcd, zcd), 1e-300))
    slack = dab - dcd
    viol = slack > 0
    m = len(slack)
    LP = L @ P
    value = np.sum(slack[viol] ** 2) / m + lam * (np.sum(L * LP) - 2.0 * logabsdet)
    # d/dL of d_ab = L v v^T / d_ab, so the loss gradient is sum_k 2 c_k (L vab vab^T / dab
    # - L vcd vcd^T / dcd) with c_k = slack_k / m: computed through z = L v.
    c = 2.0 * slack[viol] / m
    grad = (zab[viol] * (c / dab[viol])[:, None]).T @ vab[viol]
    grad -= (zcd[viol] * (c / dcd[viol])[:, None]).T @ vcd[viol]
    grad += lam * (2.0 * LP - 2.0 * np.linalg.inv(L).T)
    return value, grad
