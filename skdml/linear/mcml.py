"""Maximally Collapsing Metric Learning (MCML)."""

import time
import warnings
from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import validate_data

from .._param_validation import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, fit_context
from .._validation import check_classification_labels, check_n_components
from ._init import initial_components
from ._optim import print_progress
from ._psd import components_from_psd, standardize, unstandardize_components
from ._softmax import laplacian_product, neighbor_softmax

__all__ = ["MCML"]


class MCML(MahalanobisMixin, BaseMetricLearner):
    """Maximally Collapsing Metric Learning: collapse each class to a point, convexly.

    With ``p_M(j|i) = exp(-d_M(x_i, x_j)) / sum_{k != i} exp(-d_M(x_i, x_k))`` the softmax
    neighbor distribution of the Mahalanobis distance ``d_M(x, y) = (x - y)^T M (x - y)``,
    and ``p_0(j|i)`` uniform over the other members of ``i``'s class (zero elsewhere) -- the
    distribution of a metric that collapses every class to a point infinitely far from the
    others -- MCML minimizes ``sum_i KL(p_0(.|i) || p_M(.|i))`` over positive semi-definite
    ``M``. Unlike NCA's objective this one is *convex* in ``M``: the minimizer does not depend
    on the starting point. It is found by projected gradient descent with a backtracking
    step, the projection onto the PSD cone being eigenvalue clipping. ``components_`` is
    then ``L`` with ``L^T L = M``, truncated to ``n_components`` leading eigen-directions.

    Use it as a principled NCA alternative when a reproducible, initialization-free metric
    matters more than speed, and with unimodal classes (it pulls each whole class together;
    for multimodal classes prefer :class:`NCA` or :class:`LFDA`). Cost per iteration: an
    ``n x n`` softmax and an eigendecomposition of ``M``.

    The problem is solved in standardized units (each varying feature divided by its
    standard deviation; constant features carry no distance), where gradient steps are
    well conditioned whatever the features' scales; the result is in the units of ``X``.

    Parameters
    ----------
    n_components : int, default=None
        Keep the leading eigen-directions of ``M`` only; ``None`` keeps its whole range.
    init : {'auto', 'identity', 'random'} or ndarray of shape (n_rows, n_features), \
default='auto'
        Starting point ``M_0 = L_0^T L_0`` (the optimum does not depend on it, only the
        number of iterations). ``'auto'``: a multiple of the identity in standardized units,
        scaled so that the mean squared distance between samples is ``log(n_samples)``;
        ``'identity'``: the identity in standardized units (the Mahalanobis distance of the
        feature variances); ``'random'``: ``L_0`` with standard normal entries; an array:
        ``L_0`` in the units of ``X``.
    max_iter : int, default=100
        Maximum number of projected gradient iterations.
    tol : float, default=1e-5
        Stop when an iteration decreases the objective (per sample) by less than
        ``tol * max(1, |objective|)``.
    verbose : int, default=0
        Print the objective and step after every iteration when ``verbose >= 1``.
    random_state : int, RandomState instance or None, default=None
        Seeds ``init='random'``.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features_in)
        The linear map ``L``; ``L^T L`` is the learned ``M`` (in the units of ``X``).
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in fit.
    n_components_ : int
        Number of output dimensions.
    n_iter_ : int
        Number of projected gradient iterations run.
    objective_ : float
        The final mean KL divergence over samples whose class has another member.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in,)
        Names of features seen during fit, when ``X`` has string feature names.

    References
    ----------
    .. [1] A. Globerson and S. Roweis, "Metric learning by collapsing classes", NIPS 2005.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdml import MCML
    >>> X, y = load_iris(return_X_y=True)
    >>> mcml = MCML(n_components=2).fit(X, y)
    >>> mcml.transform(X).shape
    (150, 2)
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions({"auto", "identity", "random"}), np.ndarray],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self, n_components=None, *, init="auto", max_iter=100, tol=1e-5, verbose=0,
        random_state=None, n_jobs=None,
    ):
        self.n_components = n_components
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.n_jobs = n_jobs

    @fit_context
    def fit(self, X, y):
        """Learn ``M`` from class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of any type: at least two distinct ones, and at least one class
            with two members (a lone sample has nothing to collapse with).

        Returns
        -------
        self : MCML
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64, copy=False)
        classes, y_enc = check_classification_labels(y, estimator=self)
        n_samples, n_features = X.shape
        n_components = check_n_components(self.n_components, n_features, estimator=self)
        if np.bincount(y_enc).max() < 2:
            raise ValueError(
                "MCML needs at least one class with two or more samples; every class of y "
                "has a single member."
            )
        if isinstance(self.init, np.ndarray) and (
            self.init.ndim != 2 or self.init.shape[1] != n_features
        ):
            raise ValueError(
                f"MCML: init must have shape (n_rows, n_features={n_features}), got an array "
                f"of shape {self.init.shape}."
            )
        Z, scales, varying = standardize(X)
        components = np.zeros((1, n_features))
        self.n_iter_, self.objective_ = 0, 0.0
        if varying.any():
            L0 = self._initial_components(Z, scales, varying)
            L, self.n_iter_, self.objective_ = _minimize_kl(
                Z, y_enc, L0, self.max_iter, self.tol, self.verbose
            )
            L = components_from_psd(L.T @ L, n_components)
            components = unstandardize_components(L, scales, varying)
        self.components_ = components
        self.classes_ = classes
        self.n_components_ = components.shape[0]
        return self

    def _initial_components(self, Z, scales, varying):
        """``L_0`` in standardized units."""
        if isinstance(self.init, np.ndarray):
            L = np.asarray(self.init, dtype=np.float64)
            if not np.all(np.isfinite(L)):
                raise ValueError("MCML: init contains NaN or infinity.")
            return L[:, varying] * scales[varying]
        init = "pca" if self.init == "auto" else self.init
        L = initial_components(
            init, Z, Z.shape[1], random_state=self.random_state, estimator=self
        )
        # 'pca' with every axis is a rotation, rescaled (see initial_components): the same
        # distances as a scaled identity.
        return L

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class _MCMLObjective:
    """``f(M) = mean_i KL(p_0(.|i) || p_M(.|i))`` up to a constant, and its gradient in ``M``.

    ``KL = sum_j p0_ij d_ij + log sum_{k != i} exp(-d_ik) + const`` and ``d_ij`` is linear
    in ``M``, so ``f(M) = <M, C_0> / n + mean_i lse_i(M)``, with the constant
    ``C_0 = sum_ij p0_ij (z_i - z_j)(z_i - z_j)^T = sum_c 2 n_c / (n_c - 1) S_c`` (``S_c``
    the scatter of class ``c``), and ``grad f = (C_0 - sum_ij p_ij (z_i - z_j)(z_i - z_j)^T)
    / n`` over the rows ``i`` whose class has another member.
    """

    def __init__(self, Z, y):
        counts = np.bincount(y)
        self.Z = Z
        self.active = counts[y] >= 2  # rows with a p_0 distribution
        self.n_active = int(self.active.sum())
        C0 = np.zeros((Z.shape[1], Z.shape[1]))
        for c in np.flatnonzero(counts >= 2):
            Zc = Z[y == c] - Z[y == c].mean(axis=0)
            C0 += 2.0 * counts[c] / (counts[c] - 1) * (Zc.T @ Zc)
        self.C0 = C0

    def __call__(self, L):
        """Objective and gradient at ``M = L^T L``."""
        Z = self.Z
        P, lse = neighbor_softmax(Z @ L.T)
        if not self.active.all():
            keep = self.active.astype(np.float64)
            P = sparse.diags_array(keep) @ P if sparse.issparse(P) else P * keep[:, None]
            P = sparse.csr_array(P) if sparse.issparse(P) else P
        # rows of P sum to 1 (or 0): Lap(P) = diag(1 + P^T 1) - P - P^T
        pulled = laplacian_product(P, Z, Z)
        M = L.T @ L
        value = (np.sum(M * self.C0) + lse[self.active].sum()) / self.n_active
        grad = (self.C0 - pulled) / self.n_active
        return value, 0.5 * (grad + grad.T)


def _project_psd(M):
    """Projection onto the PSD cone (eigenvalue clipping): ``L`` with ``L^T L = M_+``.

    ``components_from_psd`` returns the factor of the clipped matrix directly, so the
    objective, which needs ``Z L^T``, never forms ``M_+`` twice.
    """
    L = components_from_psd(M)
    return L.T @ L, L


def _minimize_kl(Z, y, L0, max_iter, tol, verbose):
    """Spectral projected gradient (Birgin, Martinez & Raydan, 2000) on ``M``.

    Each iteration projects a Barzilai-Borwein step ``M - alpha G`` onto the PSD cone and
    searches along ``M + lam (P(M - alpha G) - M)`` -- a convex combination of PSD matrices,
    so every trial point is PSD -- with the nonmonotone Armijo test against the largest of
    the last 10 objective values. The BB step adapts to the curvature at the cost of one
    inner product, so most iterations take a single objective evaluation.
    """
    objective = _MCMLObjective(Z, y)
    M, L = _project_psd(L0.T @ L0)
    f, G = objective(L)
    alpha = 1.0 / max(np.linalg.norm(G), 1e-12)
    history = [f]
    best_f, best_L = f, L
    start = time.perf_counter()
    n_iter, converged = 0, False
    while n_iter < max_iter:
        n_iter += 1
        M_proj, L_proj = _project_psd(M - alpha * G)
        D = M_proj - M
        slope = np.sum(G * D)
        if slope >= 0 or np.linalg.norm(D) <= 1e-12 * max(1.0, np.linalg.norm(M)):
            converged = True  # the projected gradient vanishes: M is optimal
            break
        reference = max(history[-10:])
        lam, M_new, L_new = 1.0, M_proj, L_proj
        while True:
            f_new, G_new = objective(L_new)
            if f_new <= reference + 1e-4 * lam * slope or lam < 1e-10:
                break
            lam *= 0.5
            M_new = M + lam * D
            L_new = components_from_psd(M_new)
        s, g_diff = M_new - M, G_new - G
        sy = np.sum(s * g_diff)
        alpha = float(np.clip(np.sum(s * s) / sy, 1e-12, 1e12)) if sy > 0 else 1e12
        improvement = best_f - f_new
        M, L, f, G = M_new, L_new, f_new, G_new
        history.append(f)
        if f < best_f:
            best_f, best_L = f, L
        if verbose:
            print_progress("MCML", n_iter, f, start, step=alpha)
        if 0 <= improvement <= tol * max(1.0, abs(best_f)):
            converged = True
            break
    if not converged:
        warnings.warn(
            f"MCML did not converge within max_iter={max_iter} iterations (objective "
            f"{best_f:.6g}); increase max_iter or tol.",
            ConvergenceWarning,
        )
    return best_L, n_iter, float(best_f)
