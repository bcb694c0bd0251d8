"""SDML: sparse determinant metric learning (Qi, Tang, Zha, Chua and Zhang, 2009)."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.covariance import graphical_lasso
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from .._param_validation import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, PairClassifierMixin, fit_context
from .._validation import (
    check_classification_labels,
)
from ..constraints import pairs_from_labels
from ._psd import (
    PD_RTOL,
    components_from_psd,
    feature_scales,
    is_positive_definite,
    standardize,
    standardized_prior,
    unstandardize_components,
)


class SDML(PairClassifierMixin, MahalanobisMixin, BaseMetricLearner):
    """Sparse determinant metric learning (Qi et al., ICML 2009).

    Solves the convex program

    .. math::

        \\min_{M \\succ 0} \\operatorname{tr}(M C) - \\log\\det M + \\lambda \\lVert M
        \\rVert_{1,\\text{off}}, \\qquad C = P + \\eta K,

    where ``P`` is the prior covariance (``tr(M P) - log det M`` is the LogDet divergence to the
    prior metric ``P^{-1}``, up to a constant), ``K = mean_S (x_i - x_j)(x_i - x_j)^T -
    mean_D (x_i - x_j)(x_i - x_j)^T`` is the pair term (small similar distances, large
    dissimilar ones), ``eta = balance_param`` and ``lambda = sparsity_param``. This is a
    graphical lasso on ``C``, solved by :func:`sklearn.covariance.graphical_lasso`.

    The program is bounded only when ``C`` is positive definite; with the dissimilar pairs
    dominating, ``P + eta K`` is often indefinite (which is why metric-learn's SDML fails with
    its defaults on iris, wine, breast cancer and digits). Here ``C`` is first made positive
    definite: its eigenvalues are clipped from below at ``min_eigenvalue`` times its largest
    eigenvalue, so a direction that separates dissimilar pairs gets a large but finite
    weight. Should the graphical lasso still fail, the clipping floor is raised tenfold (up to
    three times) and, as the last resort, the dense solution ``M = C^{-1}`` (``lambda = 0``)
    is used, with a warning naming the solver's error: the fit never crashes for numerical
    reasons. ``K`` is averaged over the pairs, so ``balance_param`` does not depend on their
    number; features are standardized internally (constant ones get weight zero) and the
    metric is mapped back.

    Fitted from labeled pairs, ``fit(pairs, y)`` with pairs of shape (n_pairs, 2, n_features)
    (or index pairs (n_pairs, 2) with ``preprocessor=``), ``y`` in {+1, -1}, which also
    calibrates ``threshold_``; or from class labels, ``fit(X, y)``, which samples
    ``n_constraints`` pairs of each kind.

    Parameters
    ----------
    balance_param : float, default=0.5
        Weight ``eta`` of the pair term.
    sparsity_param : float, default=0.01
        Weight ``lambda`` of the L1 penalty on the off-diagonal entries of ``M``.
    prior : {'identity', 'covariance', 'random'} or ndarray of shape (n_features, \
n_features), default='identity'
        The prior covariance ``P``: the identity, or the covariance of the data (the samples,
        or the members of the pairs), in standardized units: the correlation matrix.
        ``'random'`` and an array give the prior *metric* ``M0`` (metric-learn's meaning) and
        ``P = M0^{-1}``: ``'random'`` is a random symmetric positive definite ``M0`` on
        standardized features (:func:`sklearn.datasets.make_spd_matrix`, drawn from
        ``random_state``); an array is ``M0`` in the units of the input and must be symmetric
        positive definite.
    min_eigenvalue : float, default=1e-3
        Eigenvalue floor of ``C``, relative to its largest eigenvalue.
    n_constraints : int, default=None
        With class labels: the number of similar pairs sampled, and as many dissimilar ones.
        ``None`` means ``20 * n_classes ** 2`` of each kind.
    max_iter : int, default=100
        Maximum number of graphical lasso iterations.
    tol : float, default=1e-4
        Tolerance of the graphical lasso.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling of pairs from class labels and the random prior.
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
        The linear map ``L`` with ``L.T @ L = M``.
    classes_ : ndarray of shape (2,)
        ``[-1, 1]`` after a fit on pairs or :meth:`calibrate_threshold` (dissimilar,
        similar): the classes of the pair classifier.
    threshold_ : float
        Set by a fit on pairs or by :meth:`calibrate_threshold`.
    n_iter_ : int
        Graphical lasso iterations (0 when the dense fallback was used).
    solver_ : {'graphical_lasso', 'inverse'}
        What produced ``M``: the graphical lasso, or the dense fallback ``C^{-1}``.
    balance_param_ : float
        The weight of ``K`` used: ``balance_param``, or a smaller one (with a warning) when
        ``P + balance_param * K`` has no positive eigenvalue.
    n_components_ : int
    n_features_in_ : int

    References
    ----------
    .. [1] G.-J. Qi, J. Tang, Z.-J. Zha, T.-S. Chua and H.-J. Zhang, "An efficient sparse
       metric learning in high-dimensional space via l1-penalized log-determinant
       regularization", ICML 2009.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from skdml import SDML
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> sdml = SDML(random_state=0).fit(X, y)
    >>> sdml.components_.shape[1], sdml.solver_
    (30, 'graphical_lasso')
    """

    _parameter_constraints = {
        "balance_param": [Interval(Real, 0, None, closed="left")],
        "sparsity_param": [Interval(Real, 0, None, closed="left")],
        "prior": [StrOptions({"identity", "covariance", "random"}), np.ndarray],
        "min_eigenvalue": [Interval(Real, 0, 1, closed="neither")],
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "preprocessor": [None, "array-like", callable],
    }

    def __init__(
        self, *, balance_param=0.5, sparsity_param=0.01, prior="identity", min_eigenvalue=1e-3,
        n_constraints=None, max_iter=100, tol=1e-4, random_state=None, n_jobs=None,
        preprocessor=None,
    ):
        self.balance_param = balance_param
        self.sparsity_param = sparsity_param
        self.prior = prior
        self.min_eigenvalue = min_eigenvalue
        self.n_constraints = n_constraints
        self.max_iter = max_iter
        self.tol = tol
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
        self : SDML
        """
        rng = check_random_state(self.random_state)
        if self._is_pair_input(X, preprocessor):
            pairs, y = self._check_pair_fit_input(X, y, preprocessor)
            self._fit_diffs(
                pairs[:, 0] - pairs[:, 1], y, pairs.reshape(-1, pairs.shape[2]), rng
            )
            self._end_pair_fit(pairs, y)
            return self
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64, copy=False)
        classes, y_enc = check_classification_labels(y, estimator=self)
        n = self.n_constraints or 20 * len(classes) ** 2
        idx, labels = pairs_from_labels(y_enc, 2 * n, random_state=rng)
        self._fit_diffs(X[idx[:, 0]] - X[idx[:, 1]], labels, X, rng)
        self._end_label_fit()
        return self

    def _fit_diffs(self, diff, labels, points, rng):
        scales = feature_scales(points)
        varying = scales > 0
        M0 = None
        if not isinstance(self.prior, str) or self.prior == "random":
            M0 = standardized_prior(self.prior, scales, random_state=rng, name="SDML")
        components = np.zeros((1, len(scales)))
        self.n_iter_, self.solver_ = 0, "graphical_lasso"
        self.balance_param_ = self.balance_param
        if varying.any():
            Z = standardize(diff, scales)[0]
            d = Z.shape[1]
            if M0 is not None:
                P = linalg.inv(M0[np.ix_(varying, varying)])
                P = 0.5 * (P + P.T)
            elif self.prior == "identity":
                P = np.eye(d)
            else:
                P = np.atleast_2d(np.corrcoef(points[:, varying], rowvar=False))
            sim, dis = Z[labels == 1], Z[labels == -1]
            K = sim.T @ sim / max(len(sim), 1) - dis.T @ dis / max(len(dis), 1)
            self.balance_param_ = self._usable_balance(P, K)
            M = self._solve(P + self.balance_param_ * K)
            L = components_from_psd(M)
            components = unstandardize_components(L, scales, varying)
        self.components_ = components
        self.n_components_ = components.shape[0]

    def _usable_balance(self, P, K):
        """``balance_param``, or a smaller weight (with a warning) where it leaves no metric.

        When ``P + balance_param * K`` has no positive eigenvalue (the dissimilar pairs spread
        more than the prior in every direction), its inverse is no metric at all and the
        eigenvalue floor would return a scaled identity that ignores the constraints. The
        weight is then halved until ``P + b K`` is positive definite, where SDML's objective
        is bounded and its solution uses the pairs.
        """
        balance = self.balance_param
        if not _no_positive_eigenvalue(P + balance * K, P):
            return balance
        usable = balance
        for _ in range(60):
            usable /= 2
            if is_positive_definite(P + usable * K):
                break
        prior = repr(self.prior) if isinstance(self.prior, str) else "array"
        warnings.warn(
            f"SDML: P + balance_param * K has no positive eigenvalue with "
            f"balance_param={balance:g} (the dissimilar pairs spread more than the "
            f"{prior} prior in every direction), so its inverse would ignore the pairs; "
            f"using balance_param={usable:.3g} instead, where it is positive definite. Pass "
            f"a smaller balance_param to choose the weight yourself.",
            UserWarning,
        )
        return usable

    def _solve(self, C):
        w, V = linalg.eigh(0.5 * (C + C.T))
        top = max(w[-1], 1e-12)
        floor = self.min_eigenvalue
        error = None
        for _ in range(4):
            C_pd = (V * np.maximum(w, floor * top)) @ V.T
            C_pd = 0.5 * (C_pd + C_pd.T)
            if len(C_pd) == 1:  # no off-diagonal entries: the inverse is the exact solution
                return 1.0 / C_pd
            if self.sparsity_param == 0:
                self.solver_ = "inverse"
                return linalg.inv(C_pd)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", RuntimeWarning)
                    _, M, n_iter = graphical_lasso(
                        C_pd, alpha=self.sparsity_param, max_iter=self.max_iter, tol=self.tol,
                        return_n_iter=True,
                    )
                if np.all(np.isfinite(M)):
                    self.n_iter_ = int(n_iter)
                    return M
                error = "a non-finite precision matrix"
            except (FloatingPointError, RuntimeWarning, linalg.LinAlgError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            floor = min(10.0 * floor, 1.0)
        warnings.warn(
            f"SDML: the graphical lasso failed ({error}) even with the eigenvalue floor raised "
            f"to {floor:g}; using the dense solution M = C^-1 (no sparsity).",
            ConvergenceWarning,
        )
        self.solver_ = "inverse"
        return linalg.inv(C_pd)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _no_positive_eigenvalue(C, P):
    """Whether ``C`` has no eigenvalue above round-off relative to the prior ``P``."""
    return linalg.eigvalsh(0.5 * (C + C.T))[-1] <= PD_RTOL * linalg.norm(P, 2)
