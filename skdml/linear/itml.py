"""Information-theoretic metric learning (Davis, Kulis, Jain, Sra & Dhillon, ICML 2007)."""

import time
import warnings
from numbers import Integral, Real

import numpy as np
from numba import njit
from sklearn.covariance import ledoit_wolf
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_random_state, validate_data

from .._param_validation import Interval, StrOptions
from .._optional import optional_dependency
from .._validation import (
    check_classification_labels,
)
from ..base import MahalanobisMixin, PairClassifierMixin, fit_context
from ..constraints import neighbor_pairs_from_labels, pairs_from_labels
from ._psd import (
    clip_psd, components_from_psd, feature_scales, standardize, standardized_prior,
    unstandardize_components,
)


@njit(cache=True)
def _bregman_sweep(A, V, delta, xi, lam, gamma, order):
    """One cyclic pass of Bregman projections over the constraints (Algorithm 1 of ITML).

    Hand-written (numba) because the projections are inherently sequential: each is a
    rank-one update of ``A`` that the next one reads, so vectorizing across constraints is
    not possible and a Python loop pays ~1000x in interpreter overhead.
    """
    d = A.shape[0]
    Av = np.empty(d)
    for t in order:
        v = V[t]
        # Av = A v, column by column: A is symmetric, so column j is the contiguous row j,
        # and the inner loop is an axpy that LLVM vectorizes (no reduction to reassociate).
        Av[:] = 0.0
        for j in range(d):
            vj = v[j]
            for i in range(d):
                Av[i] += A[j, i] * vj
        p = 0.0
        for i in range(d):
            p += v[i] * Av[i]
        if p <= 0.0:
            continue  # v in the null space of A: nothing to project
        # The step of the authors' reference code; the printed Algorithm 1 of [1] differs
        # from it when gamma != 1 and does not reach the optimum (tests compare with cvxpy).
        alpha = min(lam[t], delta[t] * gamma / (gamma + 1.0) * (1.0 / p - 1.0 / xi[t]))
        if alpha == 0.0:
            continue  # inactive constraint: the projection changes nothing
        beta = delta[t] * alpha / (1.0 - delta[t] * alpha * p)
        xi[t] = 1.0 / (1.0 / xi[t] + delta[t] * alpha / gamma)
        lam[t] -= alpha
        for i in range(d):
            bi = beta * Av[i]
            for j in range(d):
                A[i, j] += bi * Av[j]


def itml_objective(A, xi, A0, xi0, gamma):
    """The ITML objective ``D_ld(A, A0) + gamma * D_ld(diag(xi), diag(xi0))``.

    ``D_ld(A, B) = tr(A B^-1) - log det(A B^-1) - d`` is the LogDet (Burg) divergence.
    """
    d = A.shape[0]
    B = np.linalg.solve(A0, A)
    sign, logdet = np.linalg.slogdet(B)
    if sign <= 0:
        return np.inf
    r = np.asarray(xi) / np.asarray(xi0)
    return float(np.trace(B) - logdet - d + gamma * np.sum(r - np.log(r) - 1.0))


class ITML(PairClassifierMixin, MahalanobisMixin):
    """Information-theoretic metric learning.

    Finds the Mahalanobis matrix ``A`` closest to a prior ``A0`` in LogDet divergence such
    that similar pairs are at squared distance ``<= u`` and dissimilar pairs at ``>= l``, each
    constraint softened by a slack variable whose own divergence is weighted by ``gamma``:

    .. math::

        \\min_{A \\succeq 0, \\xi} D_{ld}(A, A_0) + \\gamma D_{ld}(\\mathrm{diag}(\\xi),
        \\mathrm{diag}(\\xi_0)) \\text{ s.t. } d_A(x_i, x_j) \\le \\xi_{ij} \\text{ (similar)},
        \\; d_A(x_i, x_j) \\ge \\xi_{ij} \\text{ (dissimilar)}.

    Fitted from labeled pairs, ``fit(pairs, y)`` with pairs of shape (n_pairs, 2, n_features)
    (or integer index pairs with ``preprocessor=``) and ``y`` in {+1, -1}, or from class
    labels, ``fit(X, y)``, which builds the pairs from the labels (see ``constraints``).
    Two solvers: ``'bregman'``,
    the paper's cyclic Bregman projections (numba-compiled), and ``'cvxpy'``, the same convex
    program handed to a conic solver that ships with cvxpy (Clarabel, else SCS).

    Features are standardized internally (and the result mapped back), so the prior
    ``'identity'`` is the identity on standardized features and the units of the input do
    not matter; constant features get weight zero.

    Parameters
    ----------
    gamma : float, default=1.0
        Weight of the slack term: larger means harder constraints.
    bounds : tuple (u, l), default=None
        Squared-distance bounds for similar (``<= u``) and dissimilar (``>= l``) pairs, on
        standardized features; ``u < l``. ``None`` takes the 5th and 95th percentiles of the
        squared distances of the constraint pairs under the prior.
    prior : {'identity', 'covariance', 'random'} or ndarray of shape (n_features, \
n_features), default='identity'
        ``A0``. ``'covariance'`` is the inverse of the (Ledoit-Wolf shrunk, hence invertible)
        correlation matrix; ``'random'`` a random symmetric positive definite matrix on
        standardized features (:func:`sklearn.datasets.make_spd_matrix`, drawn from
        ``random_state``); an array is taken in the units of the input and must be
        symmetric positive definite.
    constraints : {'neighbors', 'random'}, default='neighbors'
        How a label fit builds its pairs. ``'neighbors'``: each sample with its
        ``n_neighbors`` nearest same-class samples (similar) and nearest other-class samples
        (dissimilar), the pairs a kNN classifier depends on
        (:func:`skdml.constraints.neighbor_pairs_from_labels`). ``'random'``:
        ``n_constraints`` pairs drawn uniformly, half similar, as in the paper and
        metric-learn (:func:`skdml.constraints.pairs_from_labels`).
    n_neighbors : int, default=3
        Neighbors per sample and kind for ``constraints='neighbors'``.
    n_constraints : int, default=None
        How many pairs. ``constraints='random'``: the pairs drawn; ``None`` means
        ``20 * n_classes ** 2``. ``constraints='neighbors'``: about this many pairs, from
        ``n_constraints / (2 n_neighbors)`` anchor samples drawn at random (their neighbors
        searched among all samples); ``None`` means every sample is an anchor
        (``2 n_neighbors n_samples`` pairs). A sweep costs ``O(n_constraints d^2)``, so this
        is the path to 10^5 samples and more: the cost stops growing with ``n_samples``
        (see :ref:`itml_scale`).
    solver : {'bregman', 'cvxpy'}, default='bregman'
    max_iter : int, default=1000
        Maximum number of sweeps over the constraints ('bregman') or solver iterations.
    tol : float, default=1e-3
        Stop when the relative l1 change of the dual variables over a sweep is below ``tol``.
    verbose : int, default=0
        Print the convergence measure every sweep.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampled constraints, the random prior and the order of the projections.
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
        The linear map ``L`` with ``L.T @ L = A``.
    bounds_ : tuple (u, l)
        The bounds used (on standardized features).
    classes_ : ndarray of shape (2,)
        ``[-1, 1]`` after a fit on pairs or :meth:`calibrate_threshold` (dissimilar,
        similar): the classes of the pair classifier.
    threshold_ : float
        Pairs at a learned distance ``<= threshold_`` are predicted similar. Set by a fit on
        pairs, or by :meth:`calibrate_threshold`.
    objective_ : float
        The objective at the solution (on standardized features).
    n_iter_ : int
        Sweeps ('bregman') or solver iterations ('cvxpy').
    n_features_in_ : int
        Number of features seen during fit.

    References
    ----------
    .. [1] J. V. Davis, B. Kulis, P. Jain, S. Sra and I. S. Dhillon,
       "Information-theoretic metric learning", ICML 2007.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdml import ITML
    >>> X, y = load_iris(return_X_y=True)
    >>> itml = ITML(random_state=0).fit(X, y)
    >>> itml.transform(X).shape
    (150, 4)
    """

    _parameter_constraints = {
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "bounds": [None, tuple, list, np.ndarray],
        "prior": [StrOptions({"identity", "covariance", "random"}), np.ndarray],
        "constraints": [StrOptions({"neighbors", "random"})],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_constraints": [Interval(Integral, 2, None, closed="left"), None],
        "solver": [StrOptions({"bregman", "cvxpy"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "preprocessor": [None, "array-like", callable],
    }

    def __init__(
        self, *, gamma=1.0, bounds=None, prior="identity", constraints="neighbors",
        n_neighbors=3, n_constraints=None, solver="bregman", max_iter=1000, tol=1e-3,
        verbose=0, random_state=None, n_jobs=None, preprocessor=None,
    ):
        self.gamma = gamma
        self.bounds = bounds
        self.prior = prior
        self.constraints = constraints
        self.n_neighbors = n_neighbors
        self.n_constraints = n_constraints
        self.solver = solver
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
            Class labels of any type, or +1 (similar) / -1 (dissimilar) pair labels.
        preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
            A dataset that index pairs refer to, or a callable turning indices into
            samples; None: the ``preprocessor`` parameter of the learner.

        Returns
        -------
        self : ITML
        """
        rng = check_random_state(self.random_state)
        if self._is_pair_input(X, preprocessor):
            pairs, y_pairs = self._check_pair_fit_input(X, y, preprocessor)
            n_features, from_pairs = pairs.shape[2], True
            data = pairs.reshape(-1, n_features)
        else:
            X, y = validate_data(
                self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2
            )
            classes, y_enc = check_classification_labels(y, estimator=self)
            if self.constraints == "neighbors":  # neighbors on standardized features
                Z = standardize(X)[0]
                idx, y_pairs = neighbor_pairs_from_labels(
                    Z, y_enc, self.n_neighbors, anchors=self._anchors(len(X), rng))
            else:
                n_pairs = self.n_constraints or 20 * len(classes) ** 2
                idx, y_pairs = pairs_from_labels(y_enc, n_pairs, random_state=rng)
            pairs = X[idx].astype(np.float64, copy=False)
            n_features, from_pairs, data = X.shape[1], False, X
        scales = feature_scales(data)
        A0, bounds = self._check_prior_and_bounds(n_features, scales, rng)

        V, _, varying = standardize(pairs[:, 0] - pairs[:, 1], scales)
        keep = np.einsum("ij,ij->i", V, V) > 0
        if np.any(~keep & (y_pairs == -1)):
            warnings.warn(
                f"ITML: {int(np.sum(~keep & (y_pairs == -1)))} dissimilar pairs join identical "
                "points and cannot be satisfied by any metric; they are ignored.",
                UserWarning,
            )
        V, delta = V[keep], y_pairs[keep].astype(np.float64)
        # A similar pair of identical points is satisfied by any metric: when only one
        # kind of pair is left (classes of repeated points), ITML learns from that kind.
        if not keep.any():
            raise ValueError(
                "ITML: every constraint pair joins two identical points (on the non-constant "
                "features), so there is nothing to learn from; give pairs of distinct points."
            )
        if A0 is None:  # prior='covariance': inverse of the shrunk correlation matrix
            Z = standardize(data, scales)[0]
            A0_z = np.linalg.inv(ledoit_wolf(Z)[0])
        else:
            A0_z = A0[np.ix_(varying, varying)]
        u, l_ = bounds if bounds is not None else _default_bounds(V, A0_z)
        xi0 = np.where(delta == 1, u, l_)

        start = time.perf_counter()
        if self.solver == "bregman":
            A, xi, n_iter = self._solve_bregman(V, delta, xi0, A0_z, rng, start)
        else:
            A, xi, n_iter = self._solve_cvxpy(V, delta, xi0, A0_z)
        A = clip_psd(A)

        L = components_from_psd(A)
        components = unstandardize_components(L, scales, varying)
        self.components_ = components
        self.bounds_ = (float(u), float(l_))
        self.objective_ = itml_objective(A, xi, A0_z, xi0, self.gamma)
        self.n_iter_ = n_iter
        if from_pairs:
            self._end_pair_fit(pairs, y_pairs)
        else:
            self._end_label_fit()
        return self

    def _anchors(self, n_samples, rng):
        """The anchors of the 'neighbors' pairs: None (all) or a random subset."""
        if self.n_constraints is None:
            return None
        n_anchors = -(-self.n_constraints // (2 * self.n_neighbors))
        if n_anchors >= n_samples:
            return None
        return np.sort(rng.choice(n_samples, n_anchors, replace=False))

    def _check_prior_and_bounds(self, n_features, scales, rng):
        """The prior in standardized units, and validated bounds (or None)."""
        if not isinstance(self.prior, str) or self.prior == "random":
            A0 = standardized_prior(self.prior, scales, random_state=rng, name="ITML")
        elif self.prior == "identity":
            A0 = np.eye(n_features)
        else:
            A0 = None  # computed lazily below
        bounds = None
        if self.bounds is not None:
            bounds = np.asarray(self.bounds, dtype=np.float64).ravel()
            if bounds.shape != (2,) or not np.all(np.isfinite(bounds)) or bounds[0] <= 0:
                raise ValueError(
                    f"ITML: bounds must be (u, l) with 0 < u < l, got {self.bounds!r}."
                )
            if bounds[1] <= bounds[0]:
                raise ValueError(
                    f"ITML: bounds (u, l) need u < l (similar pairs closer than dissimilar "
                    f"ones), got u={bounds[0]:g} >= l={bounds[1]:g}."
                )
            bounds = tuple(bounds)
        return A0, bounds

    def _solve_bregman(self, V, delta, xi0, A0, rng, start):
        """Cyclic Bregman projections, with an active-set acceleration.

        After each full sweep, up to ``_ACTIVE_SWEEPS`` sweeps revisit only the constraints
        with a positive dual variable (the ones shaping ``A``) until those settle; convergence
        is still judged on full sweeps, so the fixed point is the same. On digits this cuts
        the constraint visits by half.
        """
        A = A0.copy()
        xi = xi0.copy()
        lam = np.zeros(len(delta))
        order = rng.permutation(len(delta)).astype(np.intp)
        gamma = float(self.gamma)
        for it in range(1, self.max_iter + 1):
            lam_old = lam.copy()
            _bregman_sweep(A, V, delta, xi, lam, gamma, order)
            conv = _relative_change(lam, lam_old)
            if self.verbose:
                print(f"[ITML] sweep {it:4d}  change {conv:.3e}  active "
                      f"{int(np.sum(lam > 0))}  ({time.perf_counter() - start:.2f} s)")
            if conv < self.tol:
                return A, xi, it
            active = order[lam[order] > 0]
            for _ in range(_ACTIVE_SWEEPS):
                lam_inner = lam.copy()
                _bregman_sweep(A, V, delta, xi, lam, gamma, active)
                if _relative_change(lam, lam_inner) < self.tol:
                    break
        warnings.warn(
            f"ITML did not converge in max_iter={self.max_iter} sweeps (last relative change "
            f"{conv:.2e} > tol={self.tol:g}); increase max_iter or tol.",
            ConvergenceWarning,
        )
        return A, xi, self.max_iter

    def _solve_cvxpy(self, V, delta, xi0, A0):
        with optional_dependency("ITML(solver='cvxpy')"):
            import cvxpy as cp

        d, m = V.shape[1], V.shape[0]
        A0_inv = np.linalg.inv(A0)
        A = cp.Variable((d, d), PSD=True)
        xi = cp.Variable(m, pos=True)
        quad = cp.sum(cp.multiply(V @ A, V), axis=1)  # v_k^T A v_k, linear in A
        ratio = cp.multiply(xi, 1.0 / xi0)
        objective = (
            cp.trace(A0_inv @ A) - cp.log_det(A)
            + self.gamma * cp.sum(ratio - cp.log(ratio))
        )
        constraints = [
            cp.multiply(delta, quad) <= cp.multiply(delta, xi),
        ]
        problem = cp.Problem(cp.Minimize(objective), constraints)
        # Conic solvers that ship with cvxpy and handle log_det (PSD + exponential cones),
        # with the name each gives its iteration limit.
        iteration_limit = {"CLARABEL": "max_iter", "SCS": "max_iters"}
        installed = cp.installed_solvers()
        status = "no conic solver installed"
        for name in [s for s in iteration_limit if s in installed]:
            options = {iteration_limit[name]: self.max_iter}
            try:
                problem.solve(solver=name, verbose=bool(self.verbose), **options)
            except cp.error.SolverError as exc:
                status = f"{name}: {exc}"
                continue
            status = f"{name}: {problem.status}"
            if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or A.value is None:
                continue
            A_val, xi_val = np.asarray(A.value), np.asarray(xi.value)
            usable = np.all(np.isfinite(A_val)) and np.all(xi_val > 0)
            if problem.status == cp.OPTIMAL_INACCURATE and not usable:
                continue  # stopped early (e.g. at max_iter) far from a solution
            iters = problem.solver_stats.num_iters or 0
            return A_val, xi_val, int(iters)
        raise ValueError(
            f"ITML (solver='cvxpy'): the conic solver did not find a solution (status: "
            f"{status}); the constraints may be infeasible -- try solver='bregman', a "
            "smaller gamma or wider bounds."
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


_ACTIVE_SWEEPS = 20


def _relative_change(new, old):
    """The ITML convergence measure: ``|new - old|_1 / (|new|_1 + |old|_1)``."""
    norm = np.abs(new).sum() + np.abs(old).sum()
    return np.abs(new - old).sum() / norm if norm > 0 else 0.0


def _default_bounds(V, A0):
    """5th / 95th percentiles of the squared distances of the constraint pairs under A0."""
    dist = np.einsum("ij,jk,ik->i", V, A0, V)
    u, l_ = np.percentile(dist, [5, 95])
    if not l_ > u:
        # Degenerate distance distribution (e.g. very few pairs): spread it minimally.
        u, l_ = 0.5 * dist.mean(), 2.0 * dist.mean()
    return float(u), float(l_)
