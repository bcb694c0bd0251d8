"""LMNN: large margin nearest neighbor metric learning (Weinberger & Saul)."""

import contextlib
import sys
import time
import warnings
from numbers import Integral, Real

import numpy as np
import numba
from numba import njit, prange
from scipy import optimize, sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import validate_data
from threadpoolctl import threadpool_limits

from .._param_validation import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, fit_context
from .._validation import check_classification_labels, check_n_components
from ..constraints import _target_neighbors as _target_neighbors_of
from ..kernels import pairwise_distances_chunked
from ._init import initial_directions

__all__ = ["LMNN"]

#: The impostor candidates kept between two full passes: the pairs (i, l) of different
#: classes with ||L(x_i - x_l)||^2 < _SAFETY * (largest target distance of i + 1). Only the
#: pairs below factor 1 can be active; the rest is the safety margin for L moving.
_SAFETY = 1.5
#: Iterations between two full passes over all pairs (the active-set refresh).
_REFRESH_EVERY = 10
#: Fits whose full pass (n_samples^2 * n_components multiply-adds) is below this run
#: single-threaded; see _threads_for.
_SERIAL_WORK = 2**28


class LMNN(MahalanobisMixin, BaseMetricLearner):
    """Large margin nearest neighbor metric learning.

    Learns a linear map ``L`` so that each sample's ``n_neighbors`` *target neighbors*
    (its nearest samples of the same class in the input space) are close, while samples of
    other classes -- *impostors* -- stay at least one unit (in squared distance) farther away
    than any target neighbor. With ``d(a, b) = ||L (x_a - x_b)||^2`` the objective is::

        (1 - mu) * sum_{i, j ~> i} d(i, j)
            + mu * sum_{i, j ~> i, l : y_l != y_i} max(0, 1 + d(i, j) - d(i, l))

    where ``j ~> i`` runs over the target neighbors of ``i`` and ``mu = regularization``.
    The first (pull) term draws target neighbors in; the second (push) term is a hinge loss
    on every triplet whose impostor ``l`` is inside the margin. The distance is then used by a
    k-nearest-neighbor classifier (``Pipeline([LMNN(), KNeighborsClassifier()])``).

    How it is fast: the hinge terms are evaluated on an *active set* of candidate impostor
    pairs -- those within 1.5 times the margin of their anchor -- recomputed from all pairs
    every 10 iterations and once more at the end, where L-BFGS restarts if an impostor outside
    the set appeared; the gradient ``2 L X^T C X`` is formed with a sparse weight matrix
    ``C`` rather than a sum of outer products.

    Parameters
    ----------
    n_neighbors : int, default=3
        Number of target neighbors per sample. A class with fewer than ``n_neighbors + 1``
        members gives its samples all the neighbors it has (with a warning).
    n_components : int, default=None
        Output dimensions (rows of ``L``); ``None`` keeps ``n_features``.
    init : {'pca', 'lda', 'identity', 'random', 'auto'} or ndarray of shape \
            (n_components, n_features), default='pca'
        The starting ``L``. ``'pca'``: the leading principal axes (orthonormal, so with all
        components the starting distance is the Euclidean one); ``'lda'``: the discriminant
        axes, at most ``n_classes - 1`` of them; ``'identity'``: the first ``n_components``
        rows of the identity; ``'random'``: a standard normal matrix (``random_state``);
        ``'auto'``: metric-learn's rule, ``'lda'`` when ``n_components <= min(n_features,
        n_classes - 1)``, else ``'pca'`` when ``n_components < min(n_features,
        n_samples)``, else ``'identity'`` (so with all components, the identity).
        With ``'pca'`` and more components than the data's rank (``n_features >
        n_samples``), the rows beyond the rank start at zero and stay there: the gradient
        lies in the span of the data.
    regularization : float in (0, 1), default=0.5
        ``mu``, the weight of the push (impostor) term against the pull term.
    max_iter : int, default=200
        Maximum number of optimizer iterations.
    tol : float, default=1e-5
        Convergence tolerance: the optimizer stops when an iteration reduces the objective
        by less than ``tol`` relative to its value.
    solver : {'lbfgs', 'gd'}, default='lbfgs'
        ``'lbfgs'``: scipy's L-BFGS-B on ``L``. ``'gd'``: gradient descent with the step
        adaptation of Weinberger & Saul (grow the step by 1% after a success, halve it after
        a failure), slower but with a monotonically decreasing objective.
    verbose : int, default=0
        If positive, print one progress line per iteration (objective, number of active
        triplets and impostor pairs, elapsed time) to stdout.
    random_state : int, RandomState instance or None, default=None
        Used by ``init='random'``.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map ``L``.
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in fit.
    n_components_ : int
        Number of output dimensions.
    n_iter_ : int
        Number of optimizer iterations run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during fit, when ``X`` has string feature names.

    See Also
    --------
    sklearn.neighbors.NeighborhoodComponentsAnalysis : A soft-neighbor relative of LMNN.

    Notes
    -----
    The target neighbors are found with the Euclidean distance of the input, as in the
    paper, so features of very different scales should be standardized first (for example
    ``Pipeline([StandardScaler(), LMNN(), KNeighborsClassifier()])``). The margin is one
    unit of squared distance, so the scale of ``init`` matters; the default (orthonormal
    PCA axes) keeps the scale of the standardized input.

    References
    ----------
    .. [1] K. Q. Weinberger and L. K. Saul, "Distance metric learning for large margin
       nearest neighbor classification", Journal of Machine Learning Research 10, 2009.
    .. [2] K. Q. Weinberger, J. Blitzer and L. K. Saul, "Distance metric learning for large
       margin nearest neighbor classification", NIPS 2005.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from skdml import LMNN
    >>> X, y = load_iris(return_X_y=True)
    >>> lmnn = LMNN(n_neighbors=3, random_state=0).fit(X, y)
    >>> lmnn.transform(X).shape
    (150, 4)
    >>> model = make_pipeline(LMNN(), KNeighborsClassifier(n_neighbors=3)).fit(X, y)
    >>> bool(model.score(X, y) > 0.95)
    True
    """

    _parameter_constraints = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions({"pca", "lda", "identity", "random", "auto"}), "array-like"],
        "regularization": [Interval(Real, 0, 1, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"lbfgs", "gd"})],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        n_neighbors=3,
        n_components=None,
        *,
        init="pca",
        regularization=0.5,
        max_iter=200,
        tol=1e-5,
        solver="lbfgs",
        verbose=0,
        random_state=None,
        n_jobs=None,
    ):
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.init = init
        self.regularization = regularization
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.verbose = verbose
        self.random_state = random_state
        self.n_jobs = n_jobs

    @fit_context
    def fit(self, X, y):
        """Learn the linear map ``L`` from labeled samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of any type, at least two distinct ones.

        Returns
        -------
        self : LMNN
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = np.ascontiguousarray(X, dtype=np.float64)
        classes, y_enc = check_classification_labels(y, estimator=self)
        n_components = self._resolve_n_components(X.shape[1])
        solve = _minimize_lbfgs if self.solver == "lbfgs" else _minimize_gd
        with _threads_for(X.shape[0], n_components):
            L0 = self._initialize(X, y_enc, n_components)
            targets = _target_neighbors(X, y_enc, self.n_neighbors, classes)
            objective = _Objective(X, y_enc, targets, self.regularization)
            L, n_iter, converged = solve(
                objective, L0, self.max_iter, self.tol, _Progress(self.verbose)
            )
        if not converged:
            warnings.warn(
                f"LMNN stopped at max_iter={self.max_iter} iterations before converging "
                f"(tol={self.tol}); increase max_iter for a better metric.",
                ConvergenceWarning,
            )
        self.components_ = L
        self.classes_ = classes
        self.n_components_ = L.shape[0]
        self.n_iter_ = n_iter
        return self

    def _resolve_n_components(self, n_features):
        if isinstance(self.init, str):
            return check_n_components(self.n_components, n_features, estimator=self)
        init = np.asarray(self.init)
        if init.ndim != 2 or init.shape[1] != n_features:
            raise ValueError(
                f"LMNN: init must be 'pca', 'lda', 'identity', 'random', 'auto' or an array of "
                f"shape (n_components, {n_features}), got an array of shape {init.shape}."
            )
        if self.n_components is not None and self.n_components != init.shape[0]:
            raise ValueError(
                f"LMNN: n_components={self.n_components} does not match init, an array with "
                f"{init.shape[0]} rows."
            )
        return check_n_components(init.shape[0], n_features, estimator=self)

    def _initialize(self, X, y, n_components):
        # The unscaled starts: LMNN's margin is one unit of squared distance in the input's
        # units, and PCA rows beyond the data's rank start (and, as the gradient lies in the
        # span of the data, stay) at zero.
        init = self.init if isinstance(self.init, str) else np.asarray(self.init)
        return initial_directions(
            init, X, n_components, y=y, random_state=self.random_state, name="LMNN",
            pca_null_space=False,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


@contextlib.contextmanager
def _threads_for(n_samples, n_components):
    """Run small fits on one thread (BLAS and numba), larger ones on the ``n_jobs`` threads.

    A small fit is thousands of products of a few million multiply-adds each: split over
    threads they cost more in wake-ups than they gain, and on a busy machine OpenBLAS' and
    numba's spinning workers fight for the cores (fits 10-20x slower, measured on 2 loaded
    cores). Both settings are restored on exit.
    """
    if n_samples * n_samples * n_components > _SERIAL_WORK:
        yield
        return
    numba_threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(numba_threads)


def _target_neighbors(X, y, n_neighbors, classes):
    """The ``n_neighbors`` nearest same-class samples of each sample (Euclidean input).

    Returns an intp array of shape (n_samples, n_neighbors), padded with -1 for samples of
    classes with fewer than ``n_neighbors + 1`` members (a warning names them).
    """
    counts = np.bincount(y, minlength=len(classes))
    if counts.max() < 2:
        raise ValueError(
            "LMNN needs a class with at least 2 samples to form target neighbors; every "
            f"class of y has a single sample ({len(classes)} classes)."
        )
    small = np.flatnonzero(counts < n_neighbors + 1)
    if small.size:
        # .item(): a plain Python value whatever the label type (numpy scalar or object).
        names = ", ".join(f"{np.asarray(classes[c]).item()!r}: {counts[c]}" for c in small[:5])
        more = f" and {small.size - 5} more" if small.size > 5 else ""
        warnings.warn(
            f"LMNN: n_neighbors={n_neighbors} but some classes have fewer than "
            f"{n_neighbors + 1} samples ({names}{more}); their samples get all the target "
            "neighbors their class has.",
            UserWarning,
        )
    return _target_neighbors_of(X, y, n_neighbors)


@njit(cache=True)
def _pair_sqdist_kernel(Z, a, b, out):
    # Serial: it only serves the n * n_neighbors target pairs, too few to pay for threads.
    for p in range(a.shape[0]):
        i = a[p]
        j = b[p]
        s = 0.0
        for c in range(Z.shape[1]):
            t = Z[i, c] - Z[j, c]
            s += t * t
        out[p] = s


def _pair_sqdist(Z, a, b):
    """``||Z[a[p]] - Z[b[p]]||^2`` for every p, reading the rows of ``Z`` in place."""
    out = np.empty(len(a))
    _pair_sqdist_kernel(Z, a, b, out)
    return out


@njit(cache=True)
def _hinge_anchor(Z, DT, indptr, others, per_impostor, per_target, i):
    """The hinge terms of anchor ``i`` over its candidate impostors; returns their sum.

    For candidate ``l = others[p]``, ``indptr[i] <= p < indptr[i + 1]``, each target column
    ``j`` with ``DT[i, j] + 1 - ||Z_i - Z_l||^2 > 0`` is an active triplet. Writes the active
    triplets per candidate pair (``per_impostor[p]``) and per target pair
    (``per_target[i, j]``): cells of anchor ``i`` only, so anchors can run in parallel.
    """
    k = DT.shape[1]
    dim = Z.shape[1]
    total = 0.0
    for j in range(k):
        per_target[i, j] = 0
    for p in range(indptr[i], indptr[i + 1]):
        l = others[p]
        d = 0.0
        for c in range(dim):
            t = Z[i, c] - Z[l, c]
            d += t * t
        count = 0
        for j in range(k):
            m = DT[i, j] + 1.0 - d
            if m > 0.0:
                total += m
                count += 1
                per_target[i, j] += 1
        per_impostor[p] = count
    return total


@njit(cache=True)
def _hinge_serial(Z, DT, indptr, others, per_impostor, per_target, push):
    for i in range(DT.shape[0]):
        push[i] = _hinge_anchor(Z, DT, indptr, others, per_impostor, per_target, i)


@njit(parallel=True, cache=True)
def _hinge_parallel(Z, DT, indptr, others, per_impostor, per_target, push):
    for i in prange(DT.shape[0]):
        push[i] = _hinge_anchor(Z, DT, indptr, others, per_impostor, per_target, i)


# Threads pay only when an evaluation has enough work: below _PARALLEL_WORK multiply-adds
# the serial loop is faster (no wake-up, no spinning workers competing with BLAS).
_PARALLEL_WORK = 2**23


class _Objective:
    """The LMNN objective and its gradient in ``L``, on an active set of impostor pairs.

    ``evaluate(L)`` is exact whenever the candidate set holds every active impostor pair at
    ``L``; ``refresh(L)`` rebuilds the set from all pairs and tells how many active impostor
    pairs the previous set had missed.
    """

    def __init__(self, X, y, targets, mu):
        self.X, self.y, self.mu = X, y, mu
        n, k = targets.shape
        self.n, self.k = n, k
        self.valid = targets >= 0
        self.t_anchor = np.repeat(np.arange(n), k)[self.valid.ravel()]
        self.t_other = targets[self.valid]
        self.cand_a = np.empty(0, dtype=np.intp)
        self.cand_b = np.empty(0, dtype=np.intp)
        self.cand_ptr = np.zeros(n + 1, dtype=np.intp)
        self.n_active = 0  # active triplets at the last evaluation
        self.n_impostors = 0  # active impostor pairs at the last evaluation

    def _target_distances(self, Z):
        """(n, k) squared target distances, -inf where a sample has no such neighbor."""
        DT = np.full((self.n, self.k), -np.inf)
        DT[self.valid] = _pair_sqdist(Z, self.t_anchor, self.t_other)
        return DT

    def refresh(self, L):
        """Rebuild the candidate set from all pairs at ``L``.

        Returns the number of active impostor pairs at ``L`` that the old set lacked.
        """
        Z = self.X @ L.T
        DT = self._target_distances(Z)
        reach = DT.max(axis=1) + 1.0  # d(i, l) below this: (i, l) is an active impostor
        limit = np.where(np.isfinite(reach), _SAFETY * reach, -np.inf)
        found_a, found_b, active = [], [], []
        for start, D in pairwise_distances_chunked(Z, metric="sqeuclidean"):
            stop = start + D.shape[0]
            mask = D < limit[start:stop, None]
            mask &= self.y[start:stop, None] != self.y[None, :]
            a, b = np.nonzero(mask)
            found_a.append(a + start)
            found_b.append(b)
            active.append(D[a, b] < reach[a + start])
        a, b, active = np.concatenate(found_a), np.concatenate(found_b), np.concatenate(active)
        old = self.cand_a * self.n + self.cand_b
        new = a[active] * self.n + b[active]
        missed = int(np.count_nonzero(~np.isin(new, old, assume_unique=True)))
        # np.nonzero on row blocks lists the pairs sorted by anchor: store them as CSR.
        self.cand_a, self.cand_b = a.astype(np.intp), b.astype(np.intp)
        self.cand_ptr = np.searchsorted(self.cand_a, np.arange(self.n + 1)).astype(np.intp)
        return missed

    def evaluate(self, L):
        """The objective and its gradient (same shape as ``L``) on the candidate set."""
        X, mu, n, k = self.X, self.mu, self.n, self.k
        Z = X @ L.T
        DT = self._target_distances(Z)
        a, b = self.cand_a, self.cand_b
        per_impostor = np.empty(len(b), dtype=np.int64)
        per_target = np.empty((n, k), dtype=np.int64)
        push = np.empty(n)
        kernel = _hinge_parallel if len(b) * Z.shape[1] > _PARALLEL_WORK else _hinge_serial
        kernel(Z, DT, self.cand_ptr, b, per_impostor, per_target, push)
        push = float(push.sum())
        pull = float(DT[self.valid].sum())
        hit = per_impostor > 0
        self.n_active = int(per_impostor.sum())
        self.n_impostors = int(np.count_nonzero(hit))
        # The objective is sum_{pairs (p, q)} w_pq ||L (x_p - x_q)||^2 + mu * n_active, with
        # w = 1 - mu + mu * (active triplets) on target pairs and -mu * (active triplets) on
        # impostor pairs. Its gradient is 2 L X^T C X, C = diag(W_sym 1) - W_sym the graph
        # Laplacian of the symmetrized sparse weights: no per-triplet outer products.
        rows = np.concatenate([self.t_anchor, a[hit]])
        cols = np.concatenate([self.t_other, b[hit]])
        w = np.concatenate(
            [(1.0 - mu) + mu * per_target[self.valid], -mu * per_impostor[hit]]
        )
        W = sparse.csr_matrix((w, (rows, cols)), shape=(n, n))
        W = W + W.T
        CX = np.asarray(W.sum(axis=1)).ravel()[:, None] * X - W @ X
        grad = 2.0 * (Z.T @ CX)
        return (1.0 - mu) * pull + mu * push, grad


class _Progress:
    """Verbose progress lines: iteration, objective, active triplets and impostors, time."""

    def __init__(self, verbose):
        self.verbose = verbose
        self.start = time.perf_counter()
        self.header = False

    def line(self, n_iter, value, objective, note=""):
        if not self.verbose:
            return
        if not self.header:
            print(
                f"[LMNN] {'iter':>5} {'objective':>14} {'triplets':>10} {'impostors':>10} "
                f"{'candidates':>10} {'time (s)':>9}"
            )
            self.header = True
        print(
            f"[LMNN] {n_iter:5d} {value:14.6g} {objective.n_active:10d} "
            f"{objective.n_impostors:10d} {len(objective.cand_b):10d} "
            f"{time.perf_counter() - self.start:9.2f}{note}"
        )
        sys.stdout.flush()

    def note(self, text):
        if self.verbose:
            print(f"[LMNN] {text}")
            sys.stdout.flush()


def _minimize_lbfgs(objective, L0, max_iter, tol, progress):
    """L-BFGS-B on ``L``; the active set is refreshed every few iterations and at the end.

    Returns ``(L, n_iter, converged)``.
    """
    shape = L0.shape
    L = L0
    objective.refresh(L)
    n_iter = 0

    def fun(x):
        value, grad = objective.evaluate(x.reshape(shape))
        return value, grad.ravel()

    while True:
        run_start = n_iter
        restart = []

        def callback(intermediate_result):
            nonlocal n_iter
            n_iter += 1
            progress.line(n_iter, intermediate_result.fun, objective)
            if (n_iter - run_start) % _REFRESH_EVERY == 0 and n_iter < max_iter:
                missed = objective.refresh(intermediate_result.x.reshape(shape))
                if missed:
                    # The objective L-BFGS has been seeing changed: restart it exactly.
                    restart.append(intermediate_result.x.copy())
                    raise StopIteration

        result = optimize.minimize(
            fun, L.ravel(), method="L-BFGS-B", jac=True, callback=callback,
            options={"maxiter": max_iter - n_iter, "ftol": tol, "gtol": 0.0},
        )
        L = (restart[0] if restart else result.x).reshape(shape)
        if restart:
            progress.note("impostors outside the active set appeared; restarting L-BFGS")
        else:
            # L-BFGS stopped on the active set: check that no impostor appeared outside it.
            missed = objective.refresh(L)
            if not missed and result.status != 1:  # status 1: maxiter
                progress.note(f"converged after {n_iter} iterations ({result.message})")
                return L, n_iter, True
            if missed:
                progress.note(f"{missed} impostor pairs outside the active set at the end; "
                              "restarting L-BFGS")
        if n_iter >= max_iter:
            return L, n_iter, False


def _minimize_gd(objective, L0, max_iter, tol, progress):
    """Gradient descent with step adaptation (Weinberger & Saul): x1.01 on success, /2 on
    failure. Returns ``(L, n_iter, converged)``."""
    L = L0
    objective.refresh(L)
    value, grad = objective.evaluate(L)
    scale = np.linalg.norm(L) or 1.0
    step = 1e-2 * scale / max(np.linalg.norm(grad), np.finfo(float).tiny)
    since_refresh = 0
    for n_iter in range(1, max_iter + 1):
        L_new = L - step * grad
        value_new, grad_new = objective.evaluate(L_new)
        if value_new <= value:
            improvement = value - value_new
            L, grad = L_new, grad_new
            value_old, value = value, value_new
            step *= 1.01
            since_refresh += 1
            progress.line(n_iter, value, objective)
            converged = improvement <= tol * max(abs(value_old), abs(value), 1.0)
            if converged or since_refresh >= _REFRESH_EVERY:
                since_refresh = 0
                missed = objective.refresh(L)
                if missed:
                    value, grad = objective.evaluate(L)
                elif converged:
                    progress.note(f"converged after {n_iter} iterations")
                    return L, n_iter, True
        else:
            step *= 0.5
            progress.line(n_iter, value, objective, note="  (step halved)")
            if step * np.linalg.norm(grad) <= np.finfo(float).eps * scale:
                progress.note(f"step too small after {n_iter} iterations")
                return L, n_iter, True
    return L, max_iter, False
