"""Local Fisher Discriminant Analysis (LFDA)."""

from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.utils.validation import validate_data

from .._param_validation import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, fit_context
from .._validation import check_classification_labels, check_n_components
from ..kernels import pairwise_distances
from ._psd import standardize, unstandardize_components

__all__ = ["LFDA"]


class LFDA(MahalanobisMixin, BaseMetricLearner):
    """Local Fisher Discriminant Analysis: Fisher's criterion on neighboring pairs only.

    LDA asks every class to be one compact blob. LFDA weights each within-class pair by its
    affinity ``A_ij = exp(-||x_i - x_j||^2 / (sigma_i sigma_j))`` with the local scaling
    ``sigma_i`` = distance from ``x_i`` to its ``k``-th nearest neighbor of the same class
    (Zelnik-Manor & Perona), so only *nearby* same-class pairs are pulled together while
    far apart clusters of a class may stay apart. It then solves, in closed form, the
    generalized eigenproblem ``S_lb v = lambda S_lw v`` of the local between-class and
    local within-class scatters. Multimodal classes keep their modes, and unlike LDA the
    embedding may have up to ``n_features`` dimensions.

    ``S_lw`` is singular whenever a feature is constant or there are more features than
    samples (on digits, for instance). The eigenproblem is therefore solved in standardized
    units (each varying feature divided by its standard deviation; constant features carry
    no distance) with a ridge ``regularization * mean eigenvalue`` added to ``S_lw``, by
    :func:`scipy.linalg.eigh`: a symmetric-definite problem, whose eigenvalues are real.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding, at most the number of non-constant features (the
        directions beyond carry no distance and are not returned); ``None`` keeps them all.
    k : int, default=7
        The neighbor that sets the local scale ``sigma_i`` (capped at the size of the class
        minus one). 7 is the value recommended in the paper.
    embedding_type : {'weighted', 'orthonormalized', 'plain'}, default='weighted'
        ``'weighted'``: each eigenvector scaled by the square root of its eigenvalue, so the
        more discriminative directions count more; ``'orthonormalized'``: an orthonormal
        basis of the same subspace (a projection that keeps Euclidean distances within it);
        ``'plain'``: the eigenvectors as solved (``v^T S_lw v = 1``).
    regularization : float, default=1e-3
        The ridge added to the local within-class scatter, relative to its mean eigenvalue
        in standardized units.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features_in)
        The linear map ``L``.
    eigenvalues_ : ndarray of shape (n_components,)
        The generalized eigenvalues of the kept directions, in decreasing order (the local
        between- over within-class ratio along each).
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in fit.
    n_components_ : int
        Number of output dimensions.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in,)
        Names of features seen during fit, when ``X`` has string feature names.

    See Also
    --------
    LDA : The global version, at most ``n_classes - 1`` directions.

    References
    ----------
    .. [1] M. Sugiyama, "Dimensionality reduction of multimodal labeled data by local
       Fisher discriminant analysis", Journal of Machine Learning Research 8, 2007.
    .. [2] L. Zelnik-Manor and P. Perona, "Self-tuning spectral clustering", NIPS 2004.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdml import LFDA
    >>> X, y = load_iris(return_X_y=True)
    >>> lfda = LFDA(n_components=2).fit(X, y)
    >>> lfda.transform(X).shape
    (150, 2)
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "k": [Interval(Integral, 1, None, closed="left")],
        "embedding_type": [StrOptions({"weighted", "orthonormalized", "plain"})],
        "regularization": [Interval(Real, 0, None, closed="neither")],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_components=None, *, k=7, embedding_type="weighted",
                 regularization=1e-3, n_jobs=None):
        self.n_components = n_components
        self.k = k
        self.embedding_type = embedding_type
        self.regularization = regularization
        self.n_jobs = n_jobs

    @fit_context
    def fit(self, X, y):
        """Learn the local discriminant directions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of any type, at least two distinct ones.

        Returns
        -------
        self : LFDA
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64, copy=False)
        classes, y_enc = check_classification_labels(y, estimator=self)
        n_samples, n_features = X.shape
        n_components = check_n_components(self.n_components, n_features, estimator=self)
        Z, scales, varying = standardize(X, center=True)
        if not varying.any():
            raise ValueError(
                "LFDA: every feature of X is constant; there is no direction to learn."
            )
        S_lb, S_lw = _local_scatters(X, Z, y_enc, self.k)
        # Relative to the mean eigenvalue of S_lw, with a floor of 1e-6 in standardized units:
        # S_lw vanishes when every class is a set of repeated points.
        ridge = self.regularization * max(np.trace(S_lw) / S_lw.shape[0], 1e-6)
        S_lw[np.diag_indices_from(S_lw)] += ridge
        m = min(n_components, Z.shape[1])
        # Symmetric-definite generalized problem: real eigenvalues, ascending.
        w, V = linalg.eigh(S_lb, S_lw, subset_by_index=(Z.shape[1] - m, Z.shape[1] - 1))
        w, V = w[::-1], V[:, ::-1]
        L = unstandardize_components(V.T, scales, varying)  # back to the units of X
        if self.embedding_type == "weighted":
            L *= np.sqrt(np.clip(w, 0.0, None))[:, None]
        elif self.embedding_type == "orthonormalized":
            L = np.linalg.qr(L.T)[0].T
        self.components_ = np.ascontiguousarray(L)
        self.eigenvalues_ = w
        self.classes_ = classes
        self.n_components_ = m
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _local_scatters(X, Z, y, k):
    """The local between- and within-class scatters of Sugiyama (2007), in units of ``Z``.

    With ``A`` the local-scaling affinity (computed on ``X``) and ``G_c = Z_c^T Lap(A_c) Z_c``
    per class (``Lap(A) = diag(A 1) - A``), the pairwise definitions reduce to

    - ``S_lw = sum_c G_c / n_c``;
    - ``S_lb = S_t + sum_c ((1/n - 1/n_c) G_c - (n_c / n) S_c)``, with ``S_t`` the total
      and ``S_c`` the class scatter (``A = 1`` everywhere gives back LDA's ``S_b``).

    Only same-class blocks are ever formed: memory ``O(max n_c^2)``.
    """
    n = Z.shape[0]
    S_t = Z.T @ Z  # Z is centered
    S_lb = S_t.copy()
    S_lw = np.zeros_like(S_t)
    for c in range(int(y.max()) + 1):
        members = np.flatnonzero(y == c)
        n_c = len(members)
        if n_c < 2:
            continue  # a lone sample has no within-class pair; S_c = 0
        Xc, Zc = X[members], Z[members]
        A = _local_affinity(Xc, min(k, n_c - 1))
        G = Zc.T @ (A.sum(axis=1)[:, None] * Zc) - Zc.T @ (A @ Zc)
        Zm = Zc - Zc.mean(axis=0)
        S_lw += G / n_c
        S_lb += (1.0 / n - 1.0 / n_c) * G - (n_c / n) * (Zm.T @ Zm)
    return 0.5 * (S_lb + S_lb.T), 0.5 * (S_lw + S_lw.T)


def _local_affinity(Xc, k):
    """``A_ij = exp(-||x_i - x_j||^2 / (sigma_i sigma_j))``, local scaling.

    ``sigma_i`` is the distance from ``x_i`` to its k-th nearest *distinct* neighbor (the
    farthest one where fewer than k differ from it): on data with ties, such as features with
    a few distinct values, the k-th neighbor is often a duplicate at distance 0, and a zero
    scale would cut every edge to the other points and leave no within-class scatter at all.
    Duplicates get affinity 1 (the limit of the formula); a class of identical points, 1
    throughout.
    """
    D = pairwise_distances(Xc, metric="sqeuclidean")
    positive = np.where(D > 0, D, np.inf)
    sigma2 = np.partition(positive, k - 1, axis=1)[:, k - 1]
    fewer = ~np.isfinite(sigma2)  # fewer than k distinct neighbors: the farthest one
    if fewer.any():
        sigma2[fewer] = D[fewer].max(axis=1)
    scale = np.sqrt(np.outer(sigma2, sigma2))
    A = np.zeros_like(D)
    defined = scale > 0
    np.divide(-D, scale, out=A, where=defined)
    np.exp(A, out=A, where=defined)
    A[~defined] = D[~defined] == 0
    return A
