"""Positive semi-definite helpers shared by the linear learners, and their units policy.

Standardization policy. A learner whose objective depends on the units of the features
(ITML, KISSME, LSML, MCML, MMC, RCA, SCML, SDML, LFDA, Covariance) works on standardized
features and reports its metric in the units of the input:

1. ``Z, scales, varying = standardize(X)`` divides each non-constant feature by its standard
   deviation (``feature_scales``) and drops the constant ones (``varying`` marks the kept
   features); ``center=True`` also removes the mean, and ``scales=`` reuses the scales of the
   data for differences or tuples drawn from it.
2. The learner solves its problem on ``Z`` and obtains components ``L`` on the varying features.
3. ``unstandardize_components(L, scales, varying)`` maps them back, ``L / scales`` on the
   varying features and zero columns on the constant ones, so that ``transform(X)`` gives the
   same embedding as ``L`` applied to ``Z``.

A learner whose objective is scale-invariant (LDA), or that works in the units it is given by
design (PCA, NCA, MLKR, LMNN), does not standardize; its docstring says so.
"""

import numpy as np
from scipy import linalg
from sklearn.datasets import make_spd_matrix
from sklearn.utils import check_random_state

__all__ = [
    "clip_psd", "components_from_inverse", "components_from_psd", "feature_scales",
    "is_positive_definite", "principal_axes", "standardize", "standardized_prior",
    "unstandardize_components",
]

#: Relative tolerance below which an eigenvalue counts as zero: ``eigvalsh`` of a singular
#: matrix returns round-off (~1e-16 times the largest eigenvalue), never an exact zero.
PD_RTOL = 1e-10


def clip_psd(M):
    """The nearest PSD matrix to the symmetric part of ``M`` (Frobenius norm).

    Eigenvalue clipping: ``V max(w, 0) V^T`` (Higham, 1988).
    """
    M = 0.5 * (M + M.T)
    w, V = linalg.eigh(M)
    return (V * np.clip(w, 0.0, None)) @ V.T


def components_from_psd(M, n_components=None, *, rtol=1e-10):
    """``L`` with ``L.T @ L == clip_psd(M)``, rows sorted by decreasing eigenvalue.

    Eigen-directions below ``rtol * max(eigenvalue)`` are dropped (they carry no distance),
    so ``L`` has at most ``rank(M)`` rows; ``n_components`` keeps only the leading ones. The
    result has at least one row (a zero row for ``M == 0``), so the embedding never vanishes.
    """
    w, V = linalg.eigh(0.5 * (M + M.T))
    w, V = w[::-1], V[:, ::-1]
    top = max(w[0], 0.0) if w.size else 0.0
    keep = w > rtol * top if top > 0 else np.zeros_like(w, dtype=bool)
    if n_components is not None:
        keep[n_components:] = False
    if not keep.any():
        return np.zeros((1, M.shape[0]))
    return np.sqrt(w[keep])[:, None] * V[:, keep].T


def components_from_inverse(M, *, rtol=0.0):
    """``L`` with ``L.T @ L`` the (pseudo-)inverse of the symmetric PSD ``M``: ``L M L.T = I``.

    From ``M = V diag(w) V^T``, ``L = diag(w)^{-1/2} V^T`` over the eigenvalues above
    ``rtol * max(w)`` (the others, directions ``M`` does not span, are dropped). The rows
    come in increasing order of ``w``, so in decreasing order of the metric's eigenvalues
    ``1 / w``, as in :func:`components_from_psd`. Whitening by a covariance ``M`` is
    ``X @ L.T``.
    """
    w, V = linalg.eigh(M)
    keep = w > rtol * w[-1]
    return (V[:, keep] / np.sqrt(w[keep])).T


def principal_axes(X, n_components, *, complete=False):
    """The ``n_components`` leading principal axes of ``X``: ``(mean, axes, variances)``.

    ``axes`` (n_components, n_features) are eigenvectors of the covariance
    ``(X - mean)^T (X - mean) / (n_samples - 1)``, largest ``variances`` first, each signed
    so that its largest-magnitude entry is positive (a fit is deterministic). LAPACK's
    ``eigh`` on the d x d covariance with an index subset: memory O(n d + d^2), never an
    n x n matrix, so any number of samples fits.

    Axes beyond the data's rank (variance zero up to round-off: at most ``n_features`` *
    eps * the largest) are, with ``complete=True``, an orthonormal basis of the null space of
    the centered data, so that all the rows are orthonormal; with ``complete=False`` they are
    zero rows, with variance zero (a gradient method then leaves them at zero exactly).
    """
    mean = X.mean(axis=0)
    Xc = X - mean
    d = X.shape[1]
    cov = Xc.T @ Xc / max(X.shape[0] - 1, 1)
    evals, evecs = linalg.eigh(cov, subset_by_index=[d - n_components, d - 1])
    order = np.argsort(evals)[::-1]
    evals, evecs = np.clip(evals[order], 0, None), evecs[:, order]
    flip = np.sign(evecs[np.abs(evecs).argmax(axis=0), np.arange(n_components)])
    flip[flip == 0] = 1
    axes = (evecs * flip).T
    if not complete:
        null = evals <= d * np.finfo(evals.dtype).eps * evals[0]
        axes[null] = 0.0
        evals[null] = 0.0
    return mean, axes, evals


def feature_scales(X):
    """Per-feature standard deviations, with 0 for constant features.

    A feature is constant when all its values are equal (exactly), whatever its magnitude;
    dividing by the returned scales (where non-zero) puts features of very different scales
    on an equal footing before any matrix is inverted.
    """
    X = np.asarray(X)
    constant = np.ptp(X, axis=0) == 0 if X.shape[0] else np.ones(X.shape[1], dtype=bool)
    scales = X.std(axis=0)
    scales[constant] = 0.0
    return scales


def standardize(X, scales=None, *, center=False):
    """``X`` on standardized units: ``(Z, scales, varying)``.

    ``Z`` keeps the non-constant features (``varying = scales > 0``), each divided by its
    standard deviation, and centered if ``center``. ``scales`` defaults to
    ``feature_scales(X)``; pass the scales of the data to standardize differences of samples
    (pairs, tuples) in the same units.
    """
    if scales is None:
        scales = feature_scales(X)
    varying = scales > 0
    Z = X[:, varying]
    if center:
        Z = Z - Z.mean(axis=0)
    return Z / scales[varying], scales, varying


def unstandardize_components(L, scales, varying):
    """Components on the varying standardized features -> components in the units of ``X``.

    ``L`` has shape (n_components, n_varying); the result (n_components, n_features) is
    ``L / scales`` on the varying features and zero on the constant ones.
    """
    components = np.zeros((L.shape[0], len(scales)))
    components[:, varying] = L / scales[varying]
    return components


def is_positive_definite(M, rtol=PD_RTOL):
    """Whether the symmetric ``M`` is positive definite beyond round-off.

    Its smallest eigenvalue must exceed ``rtol`` times its largest: a rank-deficient matrix
    such as ``np.outer(a, a)`` has a smallest eigenvalue of round-off size, positive or not,
    and is refused either way.
    """
    w = linalg.eigvalsh(0.5 * (M + M.T))
    return bool(w.size) and w[-1] > 0 and w[0] > rtol * w[-1]


def standardized_prior(prior, scales, *, random_state=None, name):
    """A prior Mahalanobis matrix given as an array or as ``'random'``, on standardized features.

    An array is the prior metric in the units of the input: it must be of shape
    (n_features, n_features), finite, symmetric and positive definite on the non-constant
    features (``is_positive_definite``: a singular prior leaves directions with no
    distance). ``'random'`` is a random symmetric positive definite matrix
    (:func:`sklearn.datasets.make_spd_matrix`) on standardized features, drawn from
    ``random_state``. ``scales`` are the learner's per-feature scales (``feature_scales``).

    Returns the matrix on standardized features, of shape (n_features, n_features); the rows
    and columns of constant features carry no meaning (learners drop those features).
    ``name`` names the learner in error messages.
    """
    n_features = len(scales)
    if isinstance(prior, str):  # 'random': the only named prior handled here
        return make_spd_matrix(n_features, random_state=check_random_state(random_state))
    M0 = np.asarray(prior, dtype=np.float64)
    if M0.shape != (n_features, n_features):
        raise ValueError(
            f"{name}: prior must be of shape ({n_features}, {n_features}), got {M0.shape}."
        )
    if not np.all(np.isfinite(M0)) or not np.allclose(M0, M0.T):
        raise ValueError(f"{name}: prior must be a finite symmetric matrix.")
    M0 = M0 * np.outer(scales, scales)  # to standardized units
    varying = scales > 0
    if not is_positive_definite(M0[np.ix_(varying, varying)]):
        raise ValueError(
            f"{name}: prior must be positive definite (on the non-constant features): its "
            f"smallest eigenvalue must exceed {PD_RTOL:g} times its largest. A singular prior "
            "(e.g. np.outer(a, a)) leaves directions with no distance."
        )
    return M0
