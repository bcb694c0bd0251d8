"""Fisher's discriminant directions, shared by LDA and the learners that start from them."""

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

__all__ = ["discriminant_scalings"]


def discriminant_scalings(X, y, *, tol=1e-4):
    """The discriminant axes of scikit-learn's SVD-solver LDA, and their share of the
    between-class variance.

    Returns ``(scalings, explained_variance_ratio)``: ``scalings`` of shape
    ``(n_features, rank)`` (its columns are the axes, ``LinearDiscriminantAnalysis``'s
    ``scalings_``), the ratios of shape ``(rank,)``.

    When no class varies at all (each class one point, repeated or not) the within-class
    covariance is zero: scikit-learn's solver has no axis to scale and fails. Every axis
    along which the class means differ then separates the classes perfectly; the axes
    returned are the principal axes of the class means (unit length, by decreasing spread).
    """
    X = np.asarray(X, dtype=np.float64)
    classes, y = np.unique(y, return_inverse=True)
    means = np.zeros((len(classes), X.shape[1]))
    np.add.at(means, y, X)
    means /= np.bincount(y, minlength=len(classes))[:, None]
    if np.any(X != means[y]):
        lda = LinearDiscriminantAnalysis(solver="svd", tol=tol).fit(X, y)
        return lda.scalings_, lda.explained_variance_ratio_
    weights = np.sqrt(np.bincount(y) / len(y))[:, None]
    _, S, Vt = np.linalg.svd(weights * (means - means.T @ weights[:, 0] ** 2),
                             full_matrices=False)
    rank = int(np.sum(S > tol * S[0])) if S.size and S[0] > 0 else 0
    ratio = S[:rank] ** 2 / np.sum(S[:rank] ** 2) if rank else np.zeros(0)
    return Vt[:rank].T, ratio
