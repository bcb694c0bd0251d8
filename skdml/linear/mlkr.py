"""Metric Learning for Kernel Regression (MLKR)."""

from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.utils.validation import validate_data

from .._param_validation import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, fit_context
from .._validation import check_regression_target
from ._init import initial_components, resolve_n_components
from ._optim import minimize_lbfgs
from ._softmax import laplacian_product, neighbor_softmax

__all__ = ["MLKR"]


class MLKR(MahalanobisMixin, BaseMetricLearner):
    """Metric Learning for Kernel Regression: the metric of the best leave-one-out regressor.

    Predicts each sample's target by Nadaraya-Watson kernel regression over the other
    samples with the Gaussian kernel of the learned distance,
    ``yhat_i = sum_{j != i} k_ij y_j / sum_{j != i} k_ij`` with
    ``k_ij = exp(-||L x_i - L x_j||^2)``, and learns the ``L`` minimizing the leave-one-out
    squared error ``sum_i ||y_i - yhat_i||^2``. The kernel width is part of ``L``, so no
    bandwidth is tuned. Optimized by L-BFGS-B with the exact gradient.

    Use it for a continuous target (one or several outputs) when neighbors in the learned
    space should have similar targets: kernel or kNN regression, or a supervised
    dimensionality reduction for regression (``n_components``).

    **The target.** ``y`` must be numeric, of shape (n_samples,) or (n_samples, n_outputs);
    the error is measured relative to its total variance, so the objective (and ``tol``) do
    not depend on its units. Strings, objects and other class labels raise a ``ValueError``
    (class labels belong to :class:`NCA`, :class:`LFDA` or :class:`MCML`). Integers are
    accepted as real values -- counts, ratings, grades are legitimate regression targets --
    so integer-coded classes are treated as ordered numbers: only do that on purpose.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding; ``None`` keeps ``n_features`` (or the rows of an ``init``
        array).
    init : {'auto', 'pca', 'identity', 'random'} or ndarray of shape \
(n_components, n_features), default='auto'
        Starting ``L``. ``'auto'``: ``'pca'`` when ``n_components < min(n_samples,
        n_features)``, else ``'identity'``. ``'auto'`` and ``'pca'`` are rescaled so that the
        mean squared distance between embedded samples is ``log(n_samples)``: a kernel wide
        enough to average over several neighbors. ``'random'``: standard normal entries drawn
        with ``random_state``.
    max_iter : int, default=200
        Maximum number of L-BFGS-B iterations.
    tol : float, default=1e-5
        Stop when the largest entry of the gradient of the relative error (the mean squared
        leave-one-out error divided by the variance of ``y``) is below ``tol``, or when an
        iteration improves it by less than about machine precision.
    verbose : int, default=0
        Print the objective after every iteration when ``verbose >= 1``.
    random_state : int, RandomState instance or None, default=None
        Seeds ``init='random'``.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).
    callback : callable or None, default=None
        Called after every L-BFGS-B iteration as ``callback(L, n_iter)``, with a copy of the
        current components ``L`` of shape (n_components, n_features) and the iteration
        count (scikit-learn's NCA passes the same, flattened): to record the path or to
        watch a score on held-out data.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features_in)
        The linear map ``L``.
    n_components_ : int
        Number of output dimensions.
    n_iter_ : int
        Number of L-BFGS-B iterations run.
    objective_ : float
        The final leave-one-out mean squared error divided by the variance of ``y`` (0 is a
        perfect fit, 1 is as bad as predicting the mean).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in,)
        Names of features seen during fit, when ``X`` has string feature names.

    References
    ----------
    .. [1] K. Q. Weinberger and G. Tesauro, "Metric learning for kernel regression",
       AISTATS 2007.

    Examples
    --------
    >>> import numpy as np
    >>> from skdml import MLKR
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> y = np.sin(X[:, 0]) + X[:, 1]  # three features are noise
    >>> mlkr = MLKR(n_components=2).fit(X, y)
    >>> weights = np.linalg.norm(mlkr.components_, axis=0)
    >>> bool(weights[:2].min() > weights[2:].max())
    True
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions({"auto", "pca", "identity", "random"}), np.ndarray],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "callback": [callable, None],
    }

    def __init__(
        self, n_components=None, *, init="auto", max_iter=200, tol=1e-5, verbose=0,
        random_state=None, n_jobs=None, callback=None,
    ):
        self.n_components = n_components
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.callback = callback

    @fit_context
    def fit(self, X, y):
        """Learn ``L`` from a continuous target.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Real-valued target.

        Returns
        -------
        self : MLKR
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64, copy=False)
        Y = check_regression_target(y, X.shape[0], estimator=self)
        n_components = resolve_n_components(self.n_components, self.init, X.shape[1], self)
        L0 = initial_components(
            self.init, X, n_components, random_state=self.random_state, estimator=self
        )
        loss = _MLKRLoss(X, Y)
        L, n_iter, value = minimize_lbfgs(
            loss, L0, max_iter=self.max_iter, tol=self.tol, name="MLKR", verbose=self.verbose,
            callback=self.callback
        )
        self.components_ = L
        self.n_components_ = L.shape[0]
        self.n_iter_ = n_iter
        self.objective_ = value
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class _MLKRLoss:
    """Leave-one-out squared error over ``n * var(y)``, and its gradient in ``L``."""

    def __init__(self, X, Y):
        self.X = X
        self.Y = Y.reshape(X.shape[0], -1)
        variance = float(np.sum(self.Y.var(axis=0)))
        # A constant target is fitted by any metric: the objective is 0 and flat.
        self.scale = 1.0 / (X.shape[0] * (variance if variance > 0 else 1.0))

    def __call__(self, L):
        X, Y = self.X, self.Y
        n = X.shape[0]
        Z = X @ L.T
        P, _ = neighbor_softmax(Z)  # the normalized Gaussian kernel weights
        Yhat = P @ Y
        E = Yhat - Y
        # d(yhat_i)/d(d_ik) = -p_ik (y_k - yhat_i), so d(loss)/d(d_ik) = -2 V_ik with
        # V_ik = p_ik e_i . (y_k - yhat_i); its rows sum to zero.
        if sparse.issparse(P):
            rows = np.repeat(np.arange(n), np.diff(P.indptr))
            inner = np.einsum("ij,ij->i", E[rows], Y[P.indices] - Yhat[rows])
            V = sparse.csr_array((P.data * inner, P.indices, P.indptr), shape=P.shape)
        else:
            V = P
            V *= E @ Y.T - np.einsum("ij,ij->i", E, Yhat)[:, None]
        grad = -4.0 * self.scale * laplacian_product(V, Z, X, rows_sum_to_zero=True)
        return self.scale * float(np.einsum("ij,ij->", E, E)), grad
