"""MMC: Mahalanobis metric for clustering (Xing, Ng, Jordan and Russell, 2002)."""

import sys
import warnings
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import validate_data
from threadpoolctl import threadpool_limits

from ..base import BaseMetricLearner, MahalanobisMixin, PairClassifierMixin, fit_context
from .._validation import (
    check_classification_labels,
)
from ..constraints import pairs_from_labels
from ._psd import components_from_psd, feature_scales

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

    solved in its equivalent unconstrained form (the paper's own for the diagonal case)
    ``min_M mean_S d_M^2 - log mean_D d_M``, whose minimizer is the paper's up to a scale
    (which does not change neighbors; ``threshold_`` absorbs it). The solver is projected
    gradient descent with Barzilai-Borwein steps and an Armijo backtracking line search; the
    projection is eigenvalue clipping onto the PSD cone (``diagonal=False``) or onto the
    non-negative orthant (``diagonal=True``: a weighting of the features only). The problem is
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
    n_constraints : int, default=None
        With class labels: the number of similar pairs sampled, and as many dissimilar ones.
        ``None`` means ``20 * n_classes ** 2`` of each kind (metric-learn's default).
    max_iter : int, default=1000
        Maximum number of projected gradient iterations.
    tol : float, default=1e-5
        Stop when the relative change of ``M`` (Frobenius norm) falls below ``tol``.
    verbose : int, default=0
        Print the objective at every iteration when ``verbose >= 1``.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling of pairs from class labels.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L`` with ``L.T @ L = M``; ``n_components = rank(M)``.
    threshold_ : float
        Pairs at a learned distance ``<= threshold_`` are predicted similar. Set by a fit on
        pairs or by :meth:`calibrate_threshold`.
    n_iter_ : int
        Number of iterations run.
    objective_ : float
        Final value of ``mean_S d_M^2 - log mean_D d_M`` (standardized units).
    n_components_ : int
    n_features_in_ : int

    See Also
    --------
    SDML, ITML : other learners from labeled pairs.

    References
    ----------
    .. [1] E. P. Xing, A. Y. Ng, M. I. Jordan and S. Russell, "Distance metric learning, with
       application to clustering with side-information", NIPS 2002.

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
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self, *, diagonal=False, n_constraints=None, max_iter=1000, tol=1e-5, verbose=0,
        random_state=None,
    ):
        self.diagonal = diagonal
        self.n_constraints = n_constraints
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state

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
        preprocessor : array-like of shape (n_samples, n_features), default=None
            A dataset that index pairs refer to.

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
        varying = scales > 0
        components = np.zeros((1, len(scales)))
        self.n_iter_, self.objective_ = 0, 0.0
        if varying.any():
            Z = diff[:, varying] / scales[varying]
            # Many small (d x d) products: BLAS threads cost more than they give.
            with threadpool_limits(1 if Z.shape[1] <= _SMALL else None, user_api="blas"):
                M, self.n_iter_, self.objective_ = _solve_mmc(
                    Z[labels == 1], Z[labels == -1], self.diagonal, self.max_iter, self.tol,
                    self.verbose,
                )
            L = components_from_psd(np.diag(M) if self.diagonal else M)
            components = np.zeros((L.shape[0], len(scales)))
            components[:, varying] = L / scales[varying]
        self.components_ = components
        self.n_components_ = components.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class _MMCObjective:
    """``F(M) = mean_S d_M^2 + ridge tr(M) - log mean_D d_M`` and its gradient.

    ``M`` is a full symmetric matrix, or a vector of diagonal weights when ``diagonal``.
    """

    def __init__(self, similar, dissimilar, diagonal):
        d = similar.shape[1] if similar.size else dissimilar.shape[1]
        if diagonal:
            S = np.mean(similar**2, axis=0) if len(similar) else np.zeros(d)
            self.ridge = _RIDGE * max(S.mean(), 1e-12)
            self.S = S + self.ridge
            self.D = dissimilar**2
        else:
            S = similar.T @ similar / max(len(similar), 1)
            self.ridge = _RIDGE * max(np.trace(S) / d, 1e-12)
            self.S = S + self.ridge * np.eye(d)
            self.D = dissimilar
        self.diagonal = diagonal

    def distances(self, M):
        """Dissimilar-pair distances under ``M``, smoothed as ``sqrt(q + 1e-10 max(q))``.

        A dissimilar pair that ``M`` collapses (features tied on it) has ``q = 0``, where the
        gradient of ``sqrt`` is infinite and a projected step cannot make progress; the
        smoothing keeps it finite and moves each distance by at most 1e-5 of the largest.
        """
        q = self.D @ M if self.diagonal else np.einsum("ij,ij->i", self.D @ M, self.D)
        q = np.maximum(q, 0.0)
        return np.sqrt(q + _SMOOTHING * q.max())

    def value(self, M):
        h = float(self.S @ M) if self.diagonal else float(np.sum(self.S * M))
        f = float(np.mean(self.distances(M)))
        return h - np.log(f) if f > 0 else np.inf

    def gradient(self, M):
        dist = self.distances(M)
        f = np.mean(dist)
        w = 1.0 / (2.0 * dist * f * len(dist))
        if self.diagonal:
            return self.S - w @ self.D
        return self.S - (self.D * w[:, None]).T @ self.D

    def project(self, M):
        if self.diagonal:
            return np.maximum(M, 0.0)
        w, V = linalg.eigh(0.5 * (M + M.T))
        return (V * np.maximum(w, 0.0)) @ V.T

    def start(self):
        """The identity, at its optimal scale ``1 / (2 h(I))``."""
        d = len(self.S) if self.diagonal else self.S.shape[0]
        M = np.ones(d) if self.diagonal else np.eye(d)
        h = float(self.S @ M) if self.diagonal else float(np.trace(self.S))
        return M / (2.0 * h)


def _solve_mmc(similar, dissimilar, diagonal, max_iter, tol, verbose):
    """Projected gradient descent with Barzilai-Borwein steps and Armijo backtracking.

    Written by hand: scipy offers no projected gradient method over the PSD cone. Returns
    ``(M, n_iter, objective)``; ``M`` is a vector of weights when ``diagonal``.
    """
    # Dissimilar pairs of identical points contribute nothing, whatever M.
    dissimilar = dissimilar[np.any(dissimilar != 0, axis=1)]
    if not len(dissimilar):
        raise ValueError(
            "MMC needs at least one dissimilar pair of distinct points; every dissimilar pair "
            "joins two identical points."
        )
    obj = _MMCObjective(similar, dissimilar, diagonal)
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
            print(f"[MMC] iteration {n_iter:4d}  objective {F_new:.8e}  change {change:.2e}",
                  file=sys.stdout)
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
