"""Positive semi-definite helpers shared by the linear learners."""

import numpy as np
from scipy import linalg

__all__ = ["clip_psd", "components_from_psd", "feature_scales", "is_positive_definite"]

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


def is_positive_definite(M, rtol=PD_RTOL):
    """Whether the symmetric ``M`` is positive definite beyond round-off.

    Its smallest eigenvalue must exceed ``rtol`` times its largest: a rank-deficient matrix
    such as ``np.outer(a, a)`` has a smallest eigenvalue of round-off size, positive or not,
    and is refused either way.
    """
    w = linalg.eigvalsh(0.5 * (M + M.T))
    return bool(w.size) and w[-1] > 0 and w[0] > rtol * w[-1]
