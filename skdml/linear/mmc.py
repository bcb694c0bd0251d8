"""MMC: Mahalanobis metric for clustering (Xing, Ng, Jordan and Russell, 2002)."""

import time
import warnings
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.covariance import ledoit_wolf_shrinkage
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data
from threadpoolctl import threadpool_limits

from .._param_validation import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, PairClassifierMixin, fit_context
from .._validation import (
    check_classification_labels,
)
from ..constraints import pairs_from_labels
from ._optim import minimize_lbfgs, print_progress
from ._psd import (
    components_from_psd, feature_scales, standardize, unstandardize_components,
)

# Ridge on the similar-pair scatter, relative to its mean eigenvalue (standardized units): it
# keeps the problem bounded when the similar pairs do not span the space (d > n pairs).
_RIDGE = 1e-4
# Relative smoothing of the dissimilar distances (see _MMCObjective.distances).
_SMOOTHING = 1e-10
# Up to this many features the solvers run BLAS on one thread (faster for small matrices).
_SMALL = 256


class MMC(PairClassifierMixin, MahalanobisMixin, BaseMetricLearner):
    """Mahalanobis metric for clustering with side information (Xing et al., 2002).

    Learns a PSD matrix ``M`` that keeps similar pairs close while pushing dissimilar pairs
    apart: the paper's convex program

    .. math::

        \\max_{M \\succeq 0} \\sum_{(i,j) \\in D} d_M(x_i, x_j)
        \\quad \\text{s.t.} \\quad \\sum_{(i,j) \\in S} d_M(x_i, x_j)^2 \\le 1,

    in its equivalent unconstrained form (the paper's own for the diagonal case)
    ``F(M) = mean_S d_M^2 - log mean_D d_M``, whose minimizer is the paper's up to a scale
    (which does not change neighbors; ``threshold_`` absorbs it).

    **What the default solves.** The exact optimum of this program is of low rank: it
    stretches the few directions that separate the sampled dissimilar pairs and flattens the
    rest (on digits, rank 3), which makes a poor metric for neighbors -- worse than the
    Euclidean one on most tables (3-NN on digits: 0.81 against 0.98). Stopping the paper's
    own solver (gradient steps with alternating projections) by its tolerance does not help
    either (metric-learn's MMC, which does: 0.84). So by default MMC minimizes

    .. math::

        F(M) - \\frac{\\mu}{d} \\log\\det M, \\qquad \\mu = \\texttt{barrier},

    the log-determinant barrier of interior-point methods: its minimizer is full rank, lies on
    the central path of the program, and its value of ``F`` is within ``barrier`` of the
    optimal one (the barrier's duality gap); as ``barrier`` grows it moves from Xing et
    al.'s optimum towards the inverse of the similar-pair scatter (the within-class
    whitening of RCA). With the barrier, the similar-pair scatter in ``F`` is also
    estimated with Ledoit-Wolf shrinkage towards a multiple of the identity
    (``shrinkage='auto'``), which keeps its inverse directions trustworthy when the pairs
    are few. ``barrier=0`` solves Xing et al.'s program exactly (``shrinkage='auto'`` then
    means none), for the metric the paper defines.

    With a barrier the solver is L-BFGS over ``M = L^T L`` (or over the logarithms of the
    weights when ``diagonal=True``: a weighting of the features only), which stays inside the
    cone. With ``barrier=0`` it is projected gradient descent with Barzilai-Borwein steps and
    an Armijo backtracking line search that never accepts a worse step, projecting by
    eigenvalue clipping onto the PSD cone (or onto the non-negative orthant). The problem is
    convex, so the result does not depend on the start. A ridge of ``1e-4`` times the mean
    eigenvalue of the similar-pair scatter is added to it (standardized units), so that the
    problem stays bounded when the similar pairs do not span the space (``d > n``).

    Fitted either from labeled pairs, ``fit(pairs, y)`` with pairs of shape
    (n_pairs, 2, n_features) (or integer index pairs of shape (n_pairs, 2) with
    ``preprocessor=``) and ``y`` in {+1 similar, -1 dissimilar}, which also calibrates the
    verification threshold ``threshold_``; or from class labels, ``fit(X, y)``, which samples
    ``n_constraints`` pairs of each kind and leaves ``threshold_`` to
    :meth:`calibrate_threshold`. Features are standardized internally and the metric is
    mapped back, so their units do not slow the solver; constant features get weight zero.

    Parameters
    ----------
    diagonal : bool, default=False
        Learn a diagonal ``M`` (feature weights) instead of a full one.
    barrier : float, default=1.0
        Weight ``mu >= 0`` of the log-determinant barrier ``-(mu / d) log det M`` (``d`` the
        number of non-constant features). ``0`` gives the exact optimum of Xing et al.'s
        program (low rank); larger values give fuller metrics, closer to the whitening of
        the similar pairs.
    shrinkage : 'auto' or float in [0, 1], default='auto'
        Shrinkage ``s`` of the similar-pair scatter ``S`` towards ``tr(S) / d`` times the
        identity: ``(1 - s) S + s tr(S) / d I``. ``'auto'``: the Ledoit-Wolf coefficient
        when ``barrier > 0``, none when ``barrier == 0``.
    n_constraints : int, default=None
        With class labels: the number of similar pairs sampled, and as many dissimilar ones.
        ``None`` means ``20 * n_classes ** 2`` of each kind (metric-learn's default).
    max_iter : int, default=1000
        Maximum number of iterations (L-BFGS, or projected gradient with ``barrier=0``).
    tol : float, default=1e-5
        With a barrier: L-BFGS's gradient tolerance (scipy's ``gtol``). With ``barrier=0``:
        stop when the relative change of ``M`` (Frobenius norm) falls below ``tol``.
    verbose : int, default=0
        Print the objective at every iteration when ``verbose >= 1``.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling of pairs from class labels.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        The samples that pairs given as integer indices refer to (metric-learn's
        ``preprocessor``). With it, ``fit``, ``decision_function``, ``predict``, ``score``,
        ``pair_distance``, ``pair_score`` and ``calibrate_threshold`` take integer indices
        of shape (n_pairs, 2), so ``cross_val_score`` and ``GridSearchCV`` work on index
        pairs as well; the pairs themselves (a 3-D array) are still taken as they are, but
        ``fit`` learns from pairs only (class labels need ``preprocessor=None``). A
        callable, such as a loader, is given the flat indices (integers, or identifiers such
        as file names) and returns one sample per index, an array of shape (n_indices,
        n_features). A ``preprocessor=`` given to a method wins over this one; ``transform``
        always takes samples.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L`` with ``L.T @ L = M``; ``n_components = rank(M)``.
    classes_ : ndarray of shape (2,)
        ``[-1, 1]`` after a fit on pairs or :meth:`calibrate_threshold` (dissimilar,
        similar): the classes of the pair classifier.
    threshold_ : float
        Pairs at a learned distance ``<= threshold_`` are predicted similar. Set by a fit on
        pairs or by :meth:`calibrate_threshold`.
    n_iter_ : int
        Number of iterations run.
    objective_ : float
        Final value of the objective minimized, ``mean_S d_M^2 - log mean_D d_M`` minus the
        barrier term, with the ridge and the shrinkage (standardized units).
    shrinkage_ : float
        The shrinkage of the similar-pair scatter used.
    n_components_ : int
    n_features_in_ : int

    See Also
    --------
    SDML, ITML : other learners from labeled pairs.

    References
    ----------
    .. [1] E. P. Xing, A. Y. Ng, M. I. Jordan and S. Russell, "Distance metric learning, with
       application to clustering with side-information", NIPS 2002.
    .. [2] S. Boyd and L. Vandenberghe, "Convex Optimization", Cambridge University Press,
       2004, section 11.2 (the log-barrier and its central path).
    .. [3] O. Ledoit and M. Wolf, "A well-conditioned estimator for large-dimensional
       covariance matrices", Journal of Multivariate Analysis 88(2), 2004.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from skdml import MMC
    >>> X, y = load_iris(return_X_y=True)
    >>> mmc = MMC(random_state=0).fit(X, y)
    >>> pairs = np.stack([X[[0, 0, 50, 50]], X[[1, 100, 51, 120]]], axis=1)
    >>> mmc.calibrate_threshold(pairs, [1, -1, 1, -1]).predict(pairs).tolist()
    [1, -1, 1, -1]
    """

    _parameter_constraints = {
        "diagonal": ["boolean"],
        "barrier": [Interval(Real, 0, None, closed="left")],
        "shrinkage": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="both")],
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "preprocessor": [None, "array-like", callable],
    }

    def __init__(
        self, *, diagonal=False, barrier=1.0, shrinkage="auto", n_constraints=None,
        max_iter=1000, tol=1e-5, verbose=0, random_state=None, n_jobs=None, preprocessor=None,
    ):
        self.diagonal = diagonal
        self.barrier = barrier
        self.shrinkage = shrinkage
        self.n_constraints = n_constraints
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.preprocessor = preprocessor

    @fit_context
    def fit(self, X, y, *, preprocessor=None):
        """Learn the metric from class labels or from labeled pairs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_pairs, 2, n_features)
            Samples (with class labels ``y``) or pairs (with pair labels ``y``). With
            ``preprocessor``, pairs may be integer indices of shape (n_pairs, 2).
        y : array-like of shape (n_samples,) or (n_pairs,)
            Class labels of any type, or +1 / -1 pair labels.
        preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
            A dataset that index pairs refer to, or a callable turning indices into
            samples; None: the ``preprocessor`` parameter of the learner.

        Returns
        -------
        self : MMC
        """
        if self._is_pair_input(X, preprocessor):
            pairs, y = self._check_pair_fit_input(X, y, preprocessor)
            scales = feature_scales(pairs.reshape(-1, pairs.shape[2]))
            self._fit_diffs(pairs[:, 0] - pairs[:, 1], y, scales)
            self._end_pair_fit(pairs, y)
            return self
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64, copy=False)
        classes, y_enc = check_classification_labels(y, estimator=self)
        n = self.n_constraints or 20 * len(classes) ** 2
        idx, labels = pairs_from_labels(
            y_enc, 2 * n, random_state=check_random_state(self.random_state)
        )
        self._fit_diffs(X[idx[:, 0]] - X[idx[:, 1]], labels, feature_scales(X))
        self._end_label_fit()
        return self

    def _fit_diffs(self, diff, labels, scales):
        Z, _, varying = standardize(diff, scales)
        components = np.zeros((1, len(scales)))
        self.n_iter_, self.objective_, self.shrinkage_ = 0, 0.0, 0.0
        if varying.any():
            similar, dissimilar = Z[labels == 1], Z[labels == -1]
            self.shrinkage_ = self._shrinkage(similar)
            # Many small (d x d) products: BLAS threads cost more than they give.
            with threadpool_limits(1 if Z.shape[1] <= _SMALL else None, user_api="blas"):
                M, self.n_iter_, self.objective_ = _solve_mmc(
                    similar, dissimilar, self.diagonal, self.max_iter, self.tol,
                    self.verbose, barrier=self.barrier, shrinkage=self.shrinkage_,
                )
            L = components_from_psd(np.diag(M) if self.diagonal else M)
            components = unstandardize_components(L, scales, varying)
        self.components_ = components
        self.n_components_ = components.shape[0]

    def _shrinkage(self, similar):
        if self.shrinkage != "auto":
            return float(self.shrinkage)
        if self.barrier == 0 or len(similar) < 2:
            return 0.0
        return float(ledoit_wolf_shrinkage(similar, assume_centered=True))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class _MMCObjective:
    """``F(M) = mean_S d_M^2 + ridge tr(M) - log mean_D d_M - (barrier / d) log det M``.

    With its gradient; ``M`` is a full symmetric matrix, or a vector of diagonal weights when
    ``diagonal``. ``shrinkage`` shrinks the similar-pair scatter towards a multiple of the
    identity. Without a barrier ``M`` lives on the PSD cone (``project`` clips onto it); with
    one, ``F`` is infinite outside the positive definite matrices.
    """

    def __init__(self, similar, dissimilar, diagonal, *, barrier=0.0, shrinkage=0.0):
        d = similar.shape[1] if similar.size else dissimilar.shape[1]
        if diagonal:
            S = np.mean(similar**2, axis=0) if len(similar) else np.zeros(d)
            S = (1.0 - shrinkage) * S + shrinkage * S.mean()
            self.ridge = _RIDGE * max(S.mean(), 1e-12)
            self.S = S + self.ridge
            self.D = dissimilar**2
        else:
            S = similar.T @ similar / max(len(similar), 1)
            S = (1.0 - shrinkage) * S + shrinkage * np.trace(S) / d * np.eye(d)
            self.ridge = _RIDGE * max(np.trace(S) / d, 1e-12)
            self.S = S + self.ridge * np.eye(d)
            self.D = dissimilar
        self.diagonal = diagonal
        self.weight = barrier / d  # of -log det M

    def distances(self, M):
        """Dissimilar-pair distances under ``M``, smoothed as ``sqrt(q + 1e-10 max(q))``.

        A dissimilar pair that ``M`` collapses (features tied on it) has ``q = 0``, where the
        gradient of ``sqrt`` is infinite and a projected step cannot make progress; the
        smoothing keeps it finite and moves each distance by at most 1e-5 of the largest.
        """
        q = self.D @ M if self.diagonal else np.einsum("ij,ij->i", self.D @ M, self.D)
        q = np.maximum(q, 0.0)
        return np.sqrt(q + _SMOOTHING * q.max())

    def log_det(self, M):
        """``log det M``, or None where ``M`` is not positive definite."""
        if self.diagonal:
            return float(np.sum(np.log(M))) if np.all(M > 0) else None
        try:
            chol = linalg.cholesky(M, lower=True)
        except linalg.LinAlgError:
            return None
        return 2.0 * float(np.sum(np.log(np.diag(chol))))

    def value(self, M):
        h = float(self.S @ M) if self.diagonal else float(np.sum(self.S * M))
        f = float(np.mean(self.distances(M)))
        if not f > 0:
            return np.inf
        if not self.weight:
            return h - np.log(f)
        log_det = self.log_det(M)
        return np.inf if log_det is None else h - np.log(f) - self.weight * log_det

    def gradient(self, M):
        dist = self.distances(M)
        f = np.mean(dist)
        w = 1.0 / (2.0 * dist * f * len(dist))
        if self.diagonal:
            g = self.S - w @ self.D
            return g - self.weight / M if self.weight else g
        g = self.S - (self.D * w[:, None]).T @ self.D
        return g - self.weight * linalg.inv(M) if self.weight else g

    def project(self, M):
        if self.diagonal:
            return np.maximum(M, 0.0)
        w, V = linalg.eigh(0.5 * (M + M.T))
        return (V * np.maximum(w, 0.0)) @ V.T

    def start(self):
        """The identity, at its optimal scale ``(1/2 + barrier) / h(I)``."""
        d = len(self.S) if self.diagonal else self.S.shape[0]
        M = np.ones(d) if self.diagonal else np.eye(d)
        h = float(self.S @ M) if self.diagonal else float(np.trace(self.S))
        return M * (0.5 + self.weight * d) / h


def _solve_mmc(similar, dissimilar, diagonal, max_iter, tol, verbose, *, barrier=0.0,
               shrinkage=0.0):
    """Minimize the MMC objective; returns ``(M, n_iter, objective)``.

    ``M`` is a vector of weights when ``diagonal``. Without a barrier the minimizer usually
    sits on the boundary of the PSD cone: :func:`_projected_gradient`. With one it is
    positive definite: :func:`_barrier_lbfgs`.
    """
    # Dissimilar pairs of identical points contribute nothing, whatever M.
    dissimilar = dissimilar[np.any(dissimilar != 0, axis=1)]
    if not len(dissimilar):
        raise ValueError(
            "MMC needs at least one dissimilar pair of distinct points; every dissimilar pair "
            "joins two identical points."
        )
    obj = _MMCObjective(similar, dissimilar, diagonal, barrier=barrier, shrinkage=shrinkage)
    if barrier > 0:
        return _barrier_lbfgs(obj, max_iter, tol, verbose)
    return _projected_gradient(obj, max_iter, tol, verbose)


def _barrier_lbfgs(obj, max_iter, tol, verbose):
    """L-BFGS over a smooth parametrization of the positive definite matrices.

    ``M = exp(u)`` (diagonal) or ``M = L^T L`` (full), both onto the open cone where the
    barrier keeps the minimizer, so that the unconstrained solver needs no projection and,
    the objective being convex in ``M``, a stationary point in the parameters is its
    minimizer. In the parameters the barrier is far better conditioned than in ``M``, where
    gradient steps crawl near the boundary. ``tol`` is scipy's ``gtol``.
    """
    M0 = obj.start()
    if obj.diagonal:
        x0 = np.log(M0)

        def to_metric(x):
            return np.exp(x)

        def chain(x, M, G):
            return G * M
    else:
        x0 = np.sqrt(M0[0, 0]) * np.eye(len(M0))  # M0 is a multiple of the identity

        def to_metric(x):
            return x.T @ x

        def chain(x, M, G):
            return 2.0 * x @ G

    def loss(x):
        M = to_metric(x)
        value = obj.value(M)
        if not np.isfinite(value):  # outside the cone: the line search steps back
            return np.inf, np.zeros_like(x)
        return value, chain(x, M, obj.gradient(M))

    x, n_iter, value = minimize_lbfgs(
        loss, x0, max_iter=max_iter, tol=tol, name="MMC", verbose=verbose,
        require_finite=False, failure_hint="Try a larger barrier or tol.",
    )
    return to_metric(x), max(n_iter, 1), value


def _projected_gradient(obj, max_iter, tol, verbose):
    """Projected gradient descent with Barzilai-Borwein steps and Armijo backtracking.

    Written by hand: scipy offers no projected gradient method over the PSD cone.
    """
    start = time.perf_counter()
    M = obj.start()
    F = obj.value(M)
    g = obj.gradient(M)
    step = 1.0 / max(np.linalg.norm(g), 1e-12) * np.linalg.norm(M)
    converged = stalled = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        while True:
            M_new = obj.project(M - step * g)
            delta = M_new - M
            F_new = obj.value(M_new)
            # Sufficient decrease for a projected gradient step.
            bound = F + np.sum(g * delta) + np.sum(delta * delta) / (2.0 * step)
            if F_new <= bound:
                break
            step *= 0.5
            if step < 1e-20:  # no step decreases F enough: keep M, never a worse one
                stalled = True
                break
        if stalled:
            n_iter -= 1
            break
        g_new = obj.gradient(M_new)
        change = np.linalg.norm(delta) / max(np.linalg.norm(M_new), 1e-300)
        if verbose:
            print_progress("MMC", n_iter, F_new, start, change=change)
        s, r = delta.ravel(), (g_new - g).ravel()
        sr = s @ r
        M, F, g = M_new, F_new, g_new
        if change <= tol:
            converged = True
            break
        step = (s @ s) / sr if sr > 1e-300 else step * 2.0  # Barzilai-Borwein
    if stalled:
        warnings.warn(
            f"MMC stopped after {n_iter} iterations: the line search found no step that "
            f"decreases the objective ({F:.6g}) enough, so the last accepted metric is "
            "returned. The objective is not smooth where a dissimilar pair collapses to "
            "distance zero; try diagonal=False or more (and more varied) dissimilar pairs.",
            ConvergenceWarning,
        )
    elif not converged:
        warnings.warn(
            f"MMC did not converge within max_iter={max_iter} iterations (relative change "
            f"{change:.2e} > tol={tol}); increase max_iter or tol.",
            ConvergenceWarning,
        )
    return M, n_iter, float(F)
