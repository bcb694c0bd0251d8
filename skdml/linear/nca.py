"""Neighborhood Components Analysis (NCA).

Also home of the pieces the softmax-neighbor learners share (NCA, MLKR, MCML): the
initialization of ``L``, the Laplacian form of their gradients, and the L-BFGS-B driver.
"""

import sys
import time
import warnings
from numbers import Integral, Real

import numpy as np
from numba import njit, prange
from scipy import sparse
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from ..base import BaseMetricLearner, MahalanobisMixin, fit_context
from .._validation import check_classification_labels, check_n_components
from ..kernels import pairwise_distances
from ._discriminant import discriminant_scalings

__all__ = ["NCA"]


class NCA(MahalanobisMixin, BaseMetricLearner):
    """Neighborhood Components Analysis: maximize the expected leave-one-out accuracy.

    Each sample ``i`` picks a neighbor ``j`` at random with the softmax probability
    ``p_ij = exp(-||L x_i - L x_j||^2) / sum_{k != i} exp(-||L x_i - L x_k||^2)``; NCA
    learns the linear map ``L`` that maximizes the expected number of samples whose picked
    neighbor has their class, ``sum_i sum_{j in C_i} p_ij``. The objective is smooth but not
    convex; it is optimized by L-BFGS-B from ``init`` with the exact gradient, computed as
    two matrix products with the ``n x n`` softmax weights (memory ``O(n^2)``).

    Use it when k-nearest-neighbor classification is the goal and the data fit in an
    ``n x n`` matrix (up to a few ten thousand samples); ``n_components`` below the number
    of features also gives a supervised dimensionality reduction.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding; ``None`` keeps ``n_features`` (or the rows of an ``init``
        array).
    init : {'auto', 'pca', 'lda', 'identity', 'random'} or ndarray of shape \
(n_components, n_features), default='auto'
        Starting ``L``. ``'auto'``: ``'lda'`` when ``n_components <= n_classes - 1``, else
        ``'pca'`` when ``n_components < min(n_samples, n_features)``, else ``'identity'``.
        ``'pca'``: the leading principal axes (completed by an orthonormal basis of the rest
        when more are asked than the data span); ``'lda'``: the discriminant axes (at most
        ``n_classes - 1``); ``'identity'``: the first ``n_components`` rows of the identity;
        ``'random'``: standard normal entries drawn with ``random_state``. ``'auto'``,
        ``'pca'`` and ``'lda'`` are rescaled so that the mean squared distance between
        embedded samples is ``log(n_samples)``: soft neighborhoods, where the gradient is
        informative (at the raw scale of standardized data the softmax is one-hot and the
        optimizer stalls on a plateau).
    max_iter : int, default=100
        Maximum number of L-BFGS-B iterations.
    tol : float, default=1e-5
        Stop when the largest entry of the gradient (of the objective divided by
        ``n_samples``) is below ``tol``, or when an iteration improves it by less than
        about machine precision.
    verbose : int, default=0
        Print the objective after every iteration when ``verbose >= 1``.
    random_state : int, RandomState instance or None, default=None
        Seeds ``init='random'``.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L``.
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in fit.
    n_components_ : int
        Number of output dimensions.
    n_iter_ : int
        Number of L-BFGS-B iterations run.
    objective_ : float
        The final expected leave-one-out accuracy, ``sum_i p_i / n_samples``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during fit, when ``X`` has string feature names.

    See Also
    --------
    sklearn.neighbors.NeighborhoodComponentsAnalysis : The same objective in scikit-learn.

    References
    ----------
    .. [1] J. Goldberger, S. Roweis, G. Hinton and R. Salakhutdinov, "Neighbourhood
       components analysis", NIPS 2004.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from skdml import NCA
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(NCA(n_components=2, random_state=0),
    ...                       KNeighborsClassifier(n_neighbors=3)).fit(X, y)
    >>> model[0].components_.shape
    (2, 4)
    >>> model.score(X, y) > 0.95
    True
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions({"auto", "pca", "lda", "identity", "random"}), np.ndarray],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self, n_components=None, *, init="auto", max_iter=100, tol=1e-5, verbose=0,
        random_state=None,
    ):
        self.n_components = n_components
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state

    @fit_context
    def fit(self, X, y):
        """Learn ``L`` from class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of any type, at least two distinct ones.

        Returns
        -------
        self : NCA
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64, copy=False)
        classes, y_enc = check_classification_labels(y, estimator=self)
        n_components = resolve_n_components(self.n_components, self.init, X.shape[1], self)
        L0 = initial_components(
            self.init, X, n_components, y=y_enc, random_state=self.random_state, estimator=self
        )
        loss = _NCALoss(X, y_enc)
        L, n_iter, value = minimize_lbfgs(loss, L0, self.max_iter, self.tol, self.verbose, self)
        self.components_ = L
        self.classes_ = classes
        self.n_components_ = L.shape[0]
        self.n_iter_ = n_iter
        self.objective_ = -value
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class _NCALoss:
    """``-sum_i p_i / n`` and its gradient in ``L``, for L-BFGS-B."""

    def __init__(self, X, y):
        self.X = X
        self.y = np.asarray(y)

    def __call__(self, L):
        X, y = self.X, self.y
        n = X.shape[0]
        Z = X @ L.T
        P, _ = neighbor_softmax(Z)
        if sparse.issparse(P):
            rows = np.repeat(np.arange(n), np.diff(P.indptr))
            same = y[P.indices] == y[rows]
            p = np.bincount(rows, weights=P.data * same, minlength=n)
            # W_ij = p_ij (same_ij - p_i)
            W = sparse.csr_array((P.data * (same - p[rows]), P.indices, P.indptr), shape=P.shape)
        else:
            same = y[:, None] == y[None, :]
            p = np.einsum("ij,ij->i", P, same)
            W = P
            W *= same - p[:, None]
        # d(sum_i p_i) / d(d_ik) = -W_ik and d(d_ik) / dL = 2 L (x_i - x_k)(x_i - x_k)^T; the
        # rows of W sum to zero.
        grad = 2.0 * laplacian_product(W, Z, X, rows_sum_to_zero=True) / n
        return -p.sum() / n, grad


def laplacian_product(W, Z, X, *, rows_sum_to_zero=False):
    """``Z^T Lap(W) X = sum_ij W_ij (z_i - z_j)(x_i - x_j)^T``.

    ``Lap(W) = diag(W 1 + W^T 1) - W - W^T``; ``W`` dense or a sparse CSR array. The
    gradients of every softmax-neighbor objective take this form; it costs two products
    with ``W`` (BLAS when dense) and no ``n x n`` temporary.
    """
    degree = np.asarray(W.sum(axis=0)).ravel()
    if not rows_sum_to_zero:
        degree = degree + np.asarray(W.sum(axis=1)).ravel()
    T = (Z * degree[:, None]).T - (W.T @ Z).T - (W @ Z).T
    return T @ X


#: Softmax terms below ``exp(-_CUTOFF)`` times their row's largest are dropped: with fewer
#: than 2**31 terms a row, together they weigh less than 2e-17 of the row sum (>= 1), below
#: double precision; so the objectives and gradients are exact to rounding.
_CUTOFF = 60.0
#: Above this fraction of kept terms the dense path (BLAS) is faster than the sparse one.
_DENSE_FRACTION = 0.2


def neighbor_softmax(Z):
    """``p_ij = exp(-||z_i - z_j||^2) / sum_{k != i} exp(-||z_i - z_k||^2)``, ``p_ii = 0``.

    Returns ``(P, lse)`` with ``lse_i = log sum_{k != i} exp(-||z_i - z_k||^2)``. Rows are
    shifted by their smallest distance before ``exp`` (the logsumexp trick), so no row
    underflows however far apart the points are. Terms below ``exp(-60)`` of the row's
    largest are dropped: when most terms are (the usual case once a metric is learned),
    ``P`` is a sparse CSR array and the products with it cost ``O(nnz)`` instead of
    ``O(n^2)``; otherwise ``P`` is a dense array.
    """
    n = Z.shape[0]
    D = pairwise_distances(Z, metric="sqeuclidean")
    mins = np.empty(n)
    counts = np.empty(n, dtype=np.int64)
    row_min_count, fill_csr = _PARALLEL if n * n >= _PARALLEL_MIN_ENTRIES else _SERIAL
    row_min_count(D, _CUTOFF, mins, counts)
    nnz = int(counts.sum())
    if nnz > _DENSE_FRACTION * n * n:
        np.subtract(mins[:, None], D, out=D)
        np.fill_diagonal(D, -np.inf)
        np.exp(D, out=D)
        sums = D.sum(axis=1)
        D /= sums[:, None]
        return D, np.log(sums) - mins
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(nnz, dtype=np.int64)
    data = np.empty(nnz)
    fill_csr(D, _CUTOFF, mins, indptr, indices, data)
    np.exp(data, out=data)
    sums = np.add.reduceat(data, indptr[:-1])
    data /= np.repeat(sums, counts)
    P = sparse.csr_array((data, indices, indptr), shape=(n, n))
    return P, np.log(sums) - mins


def _row_min_count(D, cutoff, mins, counts):
    """Per row: the smallest off-diagonal entry, and how many are within ``cutoff`` of it."""
    n = D.shape[0]
    for i in prange(n):
        row = D[i]
        m = np.inf
        for j in range(n):
            if j != i and row[j] < m:
                m = row[j]
        limit = m + cutoff
        c = 0
        for j in range(n):
            if j != i and row[j] <= limit:
                c += 1
        mins[i] = m
        counts[i] = c


def _fill_csr(D, cutoff, mins, indptr, indices, data):
    """The kept entries of each row as CSR, with values ``min_i - D_ij`` (<= 0)."""
    n = D.shape[0]
    for i in prange(n):
        row = D[i]
        limit = mins[i] + cutoff
        pos = indptr[i]
        for j in range(n):
            if j != i and row[j] <= limit:
                indices[pos] = j
                data[pos] = mins[i] - row[j]
                pos += 1



# Two compiled versions of each pass: threads pay off on large matrices only; below, one
# parallel region costs more to start (and, on a busy machine, to synchronize) than the
# whole pass.
_PARALLEL_MIN_ENTRIES = 4_000_000
_SERIAL = (njit(cache=True)(_row_min_count), njit(cache=True)(_fill_csr))
_PARALLEL = (
    njit(parallel=True, cache=True)(_row_min_count),
    njit(parallel=True, cache=True)(_fill_csr),
)

# ---------------------------------------------------------------------------------------
# Shared by NCA, MLKR and MCML.


def resolve_n_components(n_components, init, n_features, estimator):
    """``n_components`` from the parameter, or the rows of an ``init`` array."""
    if n_components is None and isinstance(init, np.ndarray) and init.ndim == 2:
        n_components = init.shape[0]
    return check_n_components(n_components, n_features, estimator=estimator)


def initial_components(init, X, n_components, *, y=None, random_state=None, estimator=None):
    """The starting ``L`` of shape (n_components, n_features).

    ``y`` holds encoded class labels for ``'lda'`` / ``'auto'``; ``None`` for a continuous
    target, where ``'auto'`` picks ``'pca'`` or ``'identity'``.
    """
    name = type(estimator).__name__
    n_samples, n_features = X.shape
    if isinstance(init, np.ndarray):
        L = np.asarray(init, dtype=np.float64)
        if L.ndim != 2 or L.shape != (n_components, n_features):
            raise ValueError(
                f"{name}: init must have shape (n_components, n_features) = "
                f"({n_components}, {n_features}), got an array of shape {init.shape}."
            )
        if not np.all(np.isfinite(L)):
            raise ValueError(f"{name}: init contains NaN or infinity.")
        return L.copy()
    n_classes = None if y is None else int(y.max()) + 1
    L = _init_direction(init, X, n_components, y, n_classes, random_state, name)
    if init in ("auto", "pca", "lda"):
        # Data-driven starts are rescaled to soft neighborhoods: a mean squared distance
        # between embedded samples of log(n_samples), where exp(-d) spreads each softmax
        # over many neighbors and the gradient is informative. At the raw scale of
        # standardized data the softmax is one-hot, the gradient vanishes and L-BFGS-B
        # stalls on a plateau (on digits: 0.978 instead of 0.99 test 3-NN accuracy).
        Z = (X - X.mean(axis=0)) @ L.T
        spread = 2.0 * np.einsum("ij,ij->", Z, Z) / n_samples
        if spread > 0:
            L *= np.sqrt(np.log(max(n_samples, 2)) / spread)
    return L


def _init_direction(init, X, n_components, y, n_classes, random_state, name):
    n_samples, n_features = X.shape
    if init == "auto":
        if n_classes is not None and n_components <= n_classes - 1:
            init = "lda"
        elif n_components < min(n_samples, n_features):
            init = "pca"
        else:
            init = "identity"
    if init == "identity":
        return np.eye(n_components, n_features)
    if init == "random":
        return check_random_state(random_state).standard_normal((n_components, n_features))
    if init == "pca":
        # All right singular vectors, so that more axes than the data span still form an
        # orthonormal basis (the trailing ones span the null space).
        Xc = X - X.mean(axis=0)
        _, _, Vt = np.linalg.svd(Xc, full_matrices=True)
        return np.ascontiguousarray(Vt[:n_components])
    if init == "lda":
        if y is None:
            raise ValueError(f"{name}: init='lda' needs class labels.")
        if n_components > n_classes - 1:
            raise ValueError(
                f"{name}: init='lda' gives at most n_classes - 1 = {n_classes - 1} "
                f"components, got n_components={n_components}; use init='pca' or 'auto'."
            )
        scalings, _ = discriminant_scalings(X, y)
        L = np.zeros((n_components, n_features))
        k = min(n_components, scalings.shape[1])  # collinear means give fewer axes
        L[:k] = scalings[:, :k].T
        return L
    raise ValueError(f"{name}: unknown init {init!r}.")  # pragma: no cover


def minimize_lbfgs(loss, L0, max_iter, tol, verbose, estimator):
    """Minimize ``loss(L) -> (value, gradient)`` over ``L`` by L-BFGS-B.

    Returns ``(L, n_iter, value)``; warns with a ``ConvergenceWarning`` when it stopped at
    ``max_iter`` and prints a progress line per iteration when ``verbose``.
    """
    name = type(estimator).__name__
    shape = L0.shape
    state = {"value": np.nan, "n_iter": 0, "start": time.perf_counter()}

    def fun(flat):
        value, grad = loss(flat.reshape(shape))
        if not np.isfinite(value):
            raise FloatingPointError(f"{name}: the objective became {value}.")
        state["value"] = value
        return value, grad.ravel()

    def callback(flat):
        state["n_iter"] += 1
        if verbose:
            elapsed = time.perf_counter() - state["start"]
            print(
                f"[{name}] iteration {state['n_iter']:4d}  objective {state['value']:.6e}  "
                f"time {elapsed:.2f}s",
                file=sys.stdout,
            )

    result = minimize(
        fun, L0.ravel(), jac=True, method="L-BFGS-B", callback=callback,
        options={"maxiter": max_iter, "gtol": tol},
    )
    n_iter = int(result.nit)
    if n_iter >= max_iter:
        warnings.warn(
            f"{name} did not converge within max_iter={max_iter} iterations "
            f"(objective {result.fun:.6g}); increase max_iter or tol.",
            ConvergenceWarning,
        )
    return result.x.reshape(shape).copy(), n_iter, float(result.fun)
