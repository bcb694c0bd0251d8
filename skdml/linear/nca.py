"""Neighborhood Components Analysis (NCA)."""

from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from .._param_validation import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, fit_context
from .._validation import check_classification_labels
from ._init import initial_components, resolve_n_components
from ._optim import check_batch_size, minimize_lbfgs, minimize_minibatch
from ._softmax import laplacian_product, neighbor_softmax

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
    solver : {'lbfgs', 'sgd'}, default='lbfgs'
        ``'lbfgs'``: L-BFGS-B on the exact objective and gradient (memory ``O(n^2)`` at
        the start, less once the softmax is sparse). ``'sgd'``: Adam on minibatch
        estimates of the same objective, each sample's neighbours drawn from its own
        minibatch of ``batch_size`` samples -- a stochastic approximation (the soft
        neighbourhoods are those of a ``batch_size`` subsample) with memory
        ``O(batch_size^2)``, for data too large for the ``n x n`` softmax.
    batch_size : int or 'auto', default='auto'
        Minibatch size of ``solver='sgd'``; ``'auto'`` is ``min(1000, n_samples)``. Must
        not exceed the number of samples; only ``'auto'`` is accepted with ``'lbfgs'``.
    learning_rate : float, default=0.01
        Adam's initial step with ``solver='sgd'``; halved after every epoch that does not
        improve the objective by ``tol``.
    max_iter : int, default=100
        Maximum number of L-BFGS-B iterations (``'lbfgs'``) or of epochs (``'sgd'``).
    tol : float, default=1e-5
        ``'lbfgs'``: stop when the largest entry of the gradient (of the objective divided
        by ``n_samples``) is below ``tol``, or when an iteration improves it by less than
        about machine precision. ``'sgd'``: an epoch counts as an improvement when its mean
        objective is lower than the best one by more than ``tol`` (relative); three
        epochs in a row without one end the run.
    verbose : int, default=0
        Print the objective after every iteration when ``verbose >= 1``.
    random_state : int, RandomState instance or None, default=None
        Seeds ``init='random'`` and the minibatch order of ``solver='sgd'``.
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
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L``.
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in fit.
    n_components_ : int
        Number of output dimensions.
    n_iter_ : int
        Number of L-BFGS-B iterations (``'lbfgs'``) or epochs (``'sgd'``) run.
    objective_ : float
        The final expected leave-one-out accuracy, ``sum_i p_i / n_samples`` (with
        ``'sgd'``: its minibatch estimate, averaged over the last epoch).
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
        "solver": [StrOptions({"lbfgs", "sgd"})],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 2, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "callback": [callable, None],
    }

    def __init__(
        self, n_components=None, *, init="auto", solver="lbfgs", batch_size="auto",
        learning_rate=0.01, max_iter=100, tol=1e-5, verbose=0, random_state=None,
        n_jobs=None, callback=None,
    ):
        self.n_components = n_components
        self.init = init
        self.solver = solver
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.callback = callback

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
        batch_size = check_batch_size("NCA", self.solver, self.batch_size, X.shape[0])
        n_components = resolve_n_components(self.n_components, self.init, X.shape[1], self)
        L0 = initial_components(
            self.init, X, n_components, y=y_enc, random_state=self.random_state, estimator=self
        )
        if self.solver == "sgd":
            L, n_iter, value = self._minimize_sgd(X, y_enc, L0, batch_size)
        else:
            try:
                L, n_iter, value = minimize_lbfgs(
                    _NCALoss(X, y_enc), L0, max_iter=self.max_iter, tol=self.tol, name="NCA",
                    verbose=self.verbose, callback=self.callback
                )
            except MemoryError as exc:  # the softmax over all pairs is n x n
                raise MemoryError(
                    f"NCA(solver='lbfgs') ran out of memory on {X.shape[0]} samples: the "
                    "full objective holds n x n softmax matrices. Use solver='sgd' (memory "
                    "bounded by batch_size) for data of this size."
                ) from exc
        self.components_ = L
        self.classes_ = classes
        self.n_components_ = L.shape[0]
        self.n_iter_ = n_iter
        self.objective_ = -value
        return self

    def _minimize_sgd(self, X, y, L0, batch_size):
        """Adam on the objective of each minibatch, a sample's neighbours its batch's."""
        # The starts are scaled for soft neighbourhoods among n samples (init='auto'); a
        # batch holds batch_size of them, so its neighbourhoods are as soft at this scale.
        n = X.shape[0]
        if not isinstance(self.init, np.ndarray) and self.init != "random":
            L0 = L0 * np.sqrt(np.log(max(batch_size, 2)) / np.log(max(n, 2)))

        def batch_loss(L, rows):
            return _NCALoss(X[rows], y[rows])(L)

        L, n_iter, value, _ = minimize_minibatch(
            batch_loss, L0, n, batch_size=batch_size, max_iter=self.max_iter, tol=self.tol,
            learning_rate=self.learning_rate, random_state=self._sgd_seed(), name="NCA",
            verbose=self.verbose, callback=self.callback,
        )
        return L, n_iter, value

    def _sgd_seed(self):
        return check_random_state(self.random_state).randint(np.iinfo(np.int32).max)

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
