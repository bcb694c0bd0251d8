"""SCML: sparse compositional metric learning (Shi, Bellet and Sha, 2014)."""

import sys
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.cluster import KMeans
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data
from threadpoolctl import threadpool_limits

from .._param_validation import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, TupleClassifierMixin, fit_context
from .._validation import check_classification_labels, check_tuples, input_ndim
from ..constraints import _target_neighbors, triplets_from_labels
from ..kernels import knn
from ._discriminant import discriminant_scalings
from ._psd import (
    components_from_psd, feature_scales, standardize, unstandardize_components,
)


class SCML(TupleClassifierMixin, MahalanobisMixin, BaseMetricLearner):
    """Sparse compositional metric learning (Shi, Bellet and Sha, AAAI 2014).

    The metric is a sparse non-negative combination of rank-one matrices built on a basis
    of directions ``b_i``: ``M = sum_i w_i b_i b_i^T`` with ``w >= 0``, so ``M`` is PSD by
    construction and only the weights are learned, from triplets ``(a, p, n)`` asking
    ``d(a, p) + 1 <= d(a, n)`` (squared distances):

    .. math::

        \\min_{w \\ge 0} \\frac{1}{m} \\sum_k \\max\\bigl(0, 1 + d_w(a_k, p_k)
        - d_w(a_k, n_k)\\bigr) + \\beta \\lVert w \\rVert_1 .

    The problem is convex in ``w`` and linear inside the hinge; it is solved as in the paper
    by stochastic regularized dual averaging with AdaGrad steps (mini-batches drawn with
    ``random_state``), whose proximal step keeps ``w`` sparse and non-negative; the full
    objective is evaluated every ``output_iter`` iterations and the best ``w`` is kept.

    The basis: ``'lda'`` (with class labels) runs local Fisher discriminants around k-means
    centers, each giving ``n_classes - 1`` directions; ``'triplet_diffs'`` takes normalized
    differences ``a - n`` of the triplets (the directions that separate them); or an array
    of directions of shape (n_basis, n_features). Features are standardized internally
    (constant ones get weight zero) and the metric is mapped back.

    Fitted from triplets ``fit(triplets)`` of shape (n, 3, n_features) (or integer indices
    (n, 3) with ``preprocessor=``), or from class labels ``fit(X, y)``, which builds triplets
    from each sample's ``k_genuine`` nearest neighbors of its class and ``k_impostor``
    nearest neighbors of other classes (the paper's and metric-learn's choice: the
    constraints a kNN classifier cares about), or samples ``n_constraints`` random triplets
    with ``triplets='random'``. Fitted on triplets, it classifies triplets:
    ``decision_function`` is ``d(a, n) - d(a, p)``, ``predict`` is +1 where that is positive
    (-1 otherwise) and ``score`` the fraction predicted right (see
    :class:`skdml.base.TupleClassifierMixin`).

    Parameters
    ----------
    basis : {'auto', 'lda', 'triplet_diffs'} or array of shape (n_basis, n_features), \
default='auto'
        ``'auto'`` is ``'lda'`` with class labels and ``'triplet_diffs'`` with triplets.
    n_basis : int, default=None
        Number of basis directions; ``None`` means ``min(10 * n_features, 1000)`` (at most
        the number of triplets for ``'triplet_diffs'``).
    beta : float, default=1e-5
        Weight of the L1 penalty on ``w`` (sparsity).
    gamma : float, default=10.0
        Inverse step size of AdaGrad (larger is more cautious), for distance differences
        rescaled internally to unit mean magnitude so that it does not depend on the data's
        scale (metric-learn's ``gamma`` acts on the raw differences).
    batch_size : int, default=10
        Triplets per stochastic step.
    max_iter : int, default=10000
        Maximum number of stochastic steps.
    output_iter : int, default=500
        Evaluate the full objective every ``output_iter`` steps.
    tol : float, default=1e-3
        Stop when the best objective improved by less than ``tol`` (relative) over the last
        ``output_iter`` steps.
    triplets : {'neighbors', 'random'}, default='neighbors'
        With class labels: how triplets are built (see above).
    k_genuine : int, default=3
        With ``triplets='neighbors'``: same-class neighbors per sample (fewer in small
        classes), those of :func:`skdml.constraints.target_neighbors` on the standardized
        features; at equal distances the lower sample index comes first.
    k_impostor : int, default=10
        With ``triplets='neighbors'``: other-class neighbors per sample (ties likewise).
    n_constraints : int, default=None
        With ``triplets='random'``: the number of triplets sampled; ``None`` means
        ``max(20 * n_classes ** 2, 10 * n_samples)``.
    verbose : int, default=0
        Print the objective at each evaluation when ``verbose >= 1``.
    random_state : int, RandomState instance or None, default=None
        Seeds the triplets drawn from labels, the basis and the mini-batches.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        The samples that triplets given as integer indices refer to (metric-learn's
        ``preprocessor``). With it, ``fit``, ``decision_function``, ``predict`` and
        ``score`` take integer indices of shape (n_triplets, 3), so ``cross_val_score`` and
        ``GridSearchCV`` work on index triplets as well; the triplets themselves (a 3-D
        array) are still taken as they are, but ``fit`` learns from triplets only (class
        labels need ``preprocessor=None``). A callable, such as a loader, is given the flat
        indices (integers, or identifiers such as file names) and returns one sample per
        index, an array of shape (n_indices, n_features). A ``preprocessor=`` given to a
        method wins over this one; ``transform`` always takes samples.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L`` with ``L.T @ L = M``.
    weights_ : ndarray of shape (n_basis,)
        The sparse non-negative weights ``w``.
    basis_ : ndarray of shape (n_basis, n_features)
        The basis directions, in the units of the input features (each scaled to unit
        norm on standardized features), so that ``M = basis_.T @ diag(weights_) @ basis_``.
    n_iter_ : int
        Number of stochastic steps run.
    objective_ : float
        The best objective seen (standardized units).
    n_components_ : int
    n_features_in_ : int

    Notes
    -----
    The solver keeps one row of ``n_basis`` distance differences per triplet in memory:
    ``8 * n_triplets * n_basis`` bytes (with ``triplets='neighbors'``, ``n_triplets`` is
    ``n_samples * k_genuine * k_impostor``; about 180 MB on digits). For large data pass
    fewer triplets (``triplets='random'``) or a smaller ``n_basis``.

    References
    ----------
    .. [1] Y. Shi, A. Bellet and F. Sha, "Sparse compositional metric learning", AAAI 2014.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdml import SCML
    >>> X, y = load_iris(return_X_y=True)
    >>> scml = SCML(random_state=0).fit(X, y)
    >>> bool((scml.weights_ >= 0).all()), scml.transform(X).shape[0]
    (True, 150)
    """

    _parameter_constraints = {
        "basis": [StrOptions({"auto", "lda", "triplet_diffs"}), "array-like"],
        "n_basis": [Interval(Integral, 1, None, closed="left"), None],
        "beta": [Interval(Real, 0, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "output_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "triplets": [StrOptions({"neighbors", "random"})],
        "k_genuine": [Interval(Integral, 1, None, closed="left")],
        "k_impostor": [Interval(Integral, 1, None, closed="left")],
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "preprocessor": [None, "array-like", callable],
    }

    def __init__(
        self, *, basis="auto", n_basis=None, beta=1e-5, gamma=10.0, batch_size=10,
        max_iter=10000, output_iter=500, tol=1e-3, triplets="neighbors", k_genuine=3,
        k_impostor=10, n_constraints=None, verbose=0, random_state=None, n_jobs=None,
        preprocessor=None,
    ):
        self.basis = basis
        self.n_basis = n_basis
        self.beta = beta
        self.gamma = gamma
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.output_iter = output_iter
        self.tol = tol
        self.triplets = triplets
        self.k_genuine = k_genuine
        self.k_impostor = k_impostor
        self.n_constraints = n_constraints
        self.verbose = verbose
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.preprocessor = preprocessor

    @fit_context
    def fit(self, X, y=None, *, preprocessor=None):
        """Learn the metric from triplets or class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_triplets, 3, n_features)
            Samples (with class labels ``y``) or triplets ``(a, p, n)`` meaning ``a`` is
            closer to ``p`` than to ``n``. With ``preprocessor``, integer indices (n, 3).
        y : array-like of shape (n_samples,), default=None
            Class labels of any type, with samples; must be None with triplets.
        preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
            A dataset that index triplets refer to, or a callable turning indices into
            samples; None: the ``preprocessor`` parameter of the learner.

        Returns
        -------
        self : SCML
        """
        rng = check_random_state(self.random_state)
        preprocessor = self._preprocessor(preprocessor, X)
        if preprocessor is not None or input_ndim(X) == 3:
            if y is not None:
                raise ValueError(
                    "SCML learns from triplets, which carry no labels: call fit(triplets) "
                    "without y, or fit(X, y) with samples and class labels."
                )
            if isinstance(self.basis, str) and self.basis == "lda":
                raise ValueError(
                    "SCML: basis='lda' needs class labels; with triplets use "
                    "basis='triplet_diffs' (or 'auto') or an array of directions."
                )
            t = check_tuples(X, tuple_size=3, preprocessor=preprocessor, estimator=self)
            t = t.astype(np.float64, copy=False)
            points = t.reshape(-1, t.shape[2])
            self._check_basis(t.shape[2])
            self._fit_triplets(t[:, 0] - t[:, 1], t[:, 0] - t[:, 2], points, None, rng)
            self._end_tuple_fit(t.shape[2])
            return self
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64, copy=False)
        classes, y_enc = check_classification_labels(y, estimator=self)
        self._check_basis(X.shape[1])
        if self.triplets == "neighbors":
            t = _neighbor_triplets(X, y_enc, self.k_genuine, self.k_impostor)
        else:
            n = self.n_constraints or max(20 * len(classes) ** 2, 10 * len(X))
            t = triplets_from_labels(y_enc, n, random_state=rng)
        self._fit_triplets(
            X[t[:, 0]] - X[t[:, 1]], X[t[:, 0]] - X[t[:, 2]], X, (X, y_enc), rng
        )
        self._end_label_fit()
        return self

    def _check_basis(self, n_features):
        if isinstance(self.basis, str):
            return
        basis = np.asarray(self.basis, dtype=np.float64)
        if basis.ndim != 2 or basis.shape[1] != n_features or not basis.shape[0]:
            raise ValueError(
                f"SCML expects a basis of shape (n_basis, {n_features}), got an array of "
                f"shape {basis.shape}."
            )
        if not np.all(np.isfinite(basis)):
            raise ValueError("SCML expects a finite basis, got NaN or infinity.")

    def _fit_triplets(self, diff_ap, diff_an, points, labeled, rng):
        scales = feature_scales(points)
        varying = scales > 0
        n_features = len(scales)
        self.n_iter_, self.objective_ = 0, 0.0
        if not varying.any():
            self.basis_ = np.zeros((1, n_features))
            self.weights_ = np.zeros(1)
            self.components_ = np.zeros((1, n_features))
            self.n_components_ = 1
            return
        s = scales[varying]
        zap, zan = standardize(diff_ap, scales)[0], standardize(diff_an, scales)[0]
        d = zap.shape[1]
        n_basis = self.n_basis or min(10 * d, 1000)
        kind = self.basis
        if isinstance(kind, str) and kind == "auto":
            kind = "lda" if labeled is not None else "triplet_diffs"
        if not isinstance(kind, str):
            # Directions given in input units: b^T x = (b * s)^T z on standardized z.
            B = np.asarray(self.basis, dtype=np.float64)[:, varying] * s
        elif kind == "lda":
            X, y = labeled
            B = _lda_basis(standardize(X, scales)[0], y, n_basis, rng)
        else:
            B = _diff_basis(zan, n_basis, rng)
        norms = np.linalg.norm(B, axis=1)
        B = B[norms > 0] / norms[norms > 0, None]
        if not len(B):
            raise ValueError("SCML: every basis direction is zero on the varying features.")
        # Per triplet and basis direction: (b^T (a - p))^2 - (b^T (a - n))^2.
        dist_diff = (zap @ B.T) ** 2 - (zan @ B.T) ** 2
        # Thousands of mini-batch steps on (batch_size x n_basis) blocks: one BLAS thread.
        with threadpool_limits(1, user_api="blas"):
            w, self.n_iter_, self.objective_ = self._rda_adagrad(dist_diff, rng)
        M = (B.T * w) @ B
        L = components_from_psd(M)
        components = unstandardize_components(L, scales, varying)
        basis = unstandardize_components(B, scales, varying)  # b^T z = (b / s)^T x
        self.basis_, self.weights_ = basis, w
        self.components_ = components
        self.n_components_ = components.shape[0]

    def _rda_adagrad(self, dist_diff, rng):
        """Regularized dual averaging with AdaGrad (Xiao 2010; Duchi et al. 2011).

        Written by hand: no library offers a proximal stochastic solver for this
        non-negative L1 problem. The proximal step of ``beta ||w||_1 + indicator(w >= 0)``
        in closed form: ``w = -(t / gamma) min(avg_grad + beta, 0) / (delta + sqrt(G))``.
        """
        # Run on distance differences of unit mean magnitude (w and beta rescaled to match,
        # so the objective is unchanged): the step size then does not depend on the data.
        unit = float(np.mean(np.abs(dist_diff)))
        unit = unit if unit > 0 else 1.0
        w, n_iter, obj = self._rda_adagrad_unit(dist_diff / unit, self.beta / unit, rng)
        return w / unit, n_iter, obj

    def _rda_adagrad_unit(self, dist_diff, beta, rng):
        m, k = dist_diff.shape
        delta = 1e-3  # AdaGrad's guard against division by zero
        w = np.zeros(k)
        avg_grad = np.zeros(k)
        sq_grad = np.zeros(k)
        best_w, best_obj = w.copy(), _objective(dist_diff, w, beta)
        start_obj = last_check = best_obj
        converged = False
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):
            idx = rng.randint(0, m, size=self.batch_size)
            batch = dist_diff[idx]
            active = 1.0 + batch @ w > 0
            grad = batch[active].sum(axis=0) / self.batch_size
            avg_grad += (grad - avg_grad) / n_iter
            sq_grad += grad**2
            w = -(n_iter / self.gamma) * np.minimum(avg_grad + beta, 0.0) / (
                delta + np.sqrt(sq_grad)
            )
            if n_iter % self.output_iter == 0 or n_iter == self.max_iter:
                obj = _objective(dist_diff, w, beta)
                if obj < best_obj:
                    best_obj, best_w = obj, w.copy()
                if self.verbose:
                    print(
                        f"[SCML] iteration {n_iter:6d}  objective {obj:.6e}  best "
                        f"{best_obj:.6e}  non-zero weights {np.count_nonzero(w)}",
                        file=sys.stdout,
                    )
                if n_iter % self.output_iter == 0:
                    started = best_obj < start_obj  # w = 0 is no answer to stop at
                    if started and last_check - best_obj <= self.tol * max(abs(last_check), 1e-12):
                        converged = True
                        break
                    last_check = best_obj
        if not np.any(best_w):
            warnings.warn(
                f"SCML: no step improved on the zero metric (objective {start_obj:.6g} at "
                f"w = 0) in {n_iter} steps, so every learned distance is 0. The steps are "
                f"too large for this data (gamma={self.gamma:g} is too small) or too few; "
                "increase gamma (more cautious steps) or max_iter.",
                ConvergenceWarning,
            )
        elif not converged:
            warnings.warn(
                f"SCML did not converge within max_iter={self.max_iter} steps (best "
                f"objective {best_obj:.6g}); increase max_iter or tol.",
                ConvergenceWarning,
            )
        return best_w, n_iter, float(best_obj)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _neighbor_triplets(X, y, k_genuine, k_impostor):
    """Triplets (a, g, i): ``g`` among the ``k_genuine`` nearest samples of ``a``'s class,
    ``i`` among the ``k_impostor`` nearest samples of other classes; all combinations.

    ``y`` holds class codes 0..n_classes - 1. Distances on standardized features; the
    genuine neighbours are :func:`skdml.constraints.target_neighbors`, the impostors
    :func:`skdml.kernels.knn`'s, so ties (duplicate samples) go to the lower index. A class
    of ``m <= k_genuine`` samples gives each ``m - 1`` genuine neighbours; samples alone in
    their class anchor no triplet.
    """
    Z, _, varying = standardize(X)
    if not varying.any():
        Z = X
    targets = _target_neighbors(Z, y, k_genuine)
    out = []
    for c in np.unique(y):
        same, other = np.flatnonzero(y == c), np.flatnonzero(y != c)
        kg, ki = min(k_genuine, len(same) - 1), min(k_impostor, len(other))
        if kg < 1 or ki < 1:
            continue
        g = targets[same, :kg]
        i = other[knn(Z[same], Z[other], k=ki)[1]]
        a = np.repeat(same, kg * ki)
        p = np.repeat(g, ki, axis=1).ravel()
        n = np.tile(i, (1, kg)).ravel()
        out.append(np.column_stack([a, p, n]))
    if not out:
        raise ValueError(
            "SCML needs a class with at least two samples to build triplets; every class "
            "has a single sample."
        )
    return np.vstack(out)


def _objective(dist_diff, w, beta):
    return float(np.mean(np.maximum(1.0 + dist_diff @ w, 0.0)) + beta * w.sum())


def _diff_basis(diffs, n_basis, rng):
    """``n_basis`` distinct non-zero triplet differences, drawn uniformly."""
    diffs = diffs[np.any(diffs != 0, axis=1)]
    if not len(diffs):
        raise ValueError(
            "SCML: every triplet has identical anchor and negative; no basis can be drawn."
        )
    diffs = np.unique(diffs, axis=0)
    take = rng.choice(len(diffs), size=min(n_basis, len(diffs)), replace=False)
    return diffs[take]


def _lda_basis(Z, y, n_basis, rng):
    """Local Fisher discriminants around k-means centers (Shi et al., section 5).

    Around each center, the ``k`` nearest samples of every class feed a shrinkage LDA whose
    ``n_classes - 1`` discriminant directions join the basis.
    """
    classes = np.unique(y)
    per_center = max(len(classes) - 1, 1)
    n_clusters = int(np.clip(np.ceil(n_basis / per_center), 1, len(Z)))
    centers = KMeans(
        n_clusters=n_clusters, n_init=1, random_state=rng.randint(np.iinfo(np.int32).max)
    ).fit(Z).cluster_centers_
    counts = np.bincount(y)
    k = int(min(max(counts.min(), 2), 10))
    directions = []
    for center in centers:
        chosen = []
        for c in classes:
            members = np.flatnonzero(y == c)
            dist = np.sum((Z[members] - center) ** 2, axis=1)
            chosen.append(members[np.argsort(dist)[:k]])
        idx = np.concatenate(chosen)
        if len(np.unique(y[idx])) < 2:  # pragma: no cover - guarded by two classes
            continue
        try:  # Ledoit-Wolf shrinkage: better directions from few neighbors
            lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(Z[idx], y[idx])
            scalings = lda.scalings_
        except (np.linalg.LinAlgError, ValueError):
            # Singular even with shrinkage (a class of one sample...): the SVD solver copes.
            scalings, _ = discriminant_scalings(Z[idx], y[idx])
        directions.append(scalings[:, :per_center].T)
    return np.vstack(directions)[:n_basis]
