"""The shared linear algebra of the linear learners (skdml/linear/_psd.py): principal axes,
the factor of an inverse, standardization."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from skdml.linear._psd import components_from_inverse, principal_axes


@pytest.mark.parametrize("n_components", [1, 3, 6])
def test_principal_axes_are_pca_with_fixed_signs(n_components):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((200, 6)) @ rng.standard_normal((6, 6)) + 5.0
    mean, axes, variances = principal_axes(X, n_components)
    pca = PCA(n_components=n_components, svd_solver="full").fit(X)
    np.testing.assert_allclose(mean, pca.mean_)
    np.testing.assert_allclose(variances, pca.explained_variance_, rtol=1e-10)
    signs = np.sign(np.sum(axes * pca.components_, axis=1))
    np.testing.assert_allclose(axes, signs[:, None] * pca.components_, atol=1e-10)
    # Each axis has its largest-magnitude entry positive: a fit is deterministic.
    assert np.all(axes[np.arange(n_components), np.abs(axes).argmax(axis=1)] > 0)


@pytest.mark.parametrize("complete", [True, False])
def test_principal_axes_beyond_the_rank(complete):
    # 4 samples in 7 dimensions: the centered data have rank 3.
    X = np.random.RandomState(1).standard_normal((4, 7))
    Xc = X - X.mean(axis=0)
    _, axes, variances = principal_axes(X, 7, complete=complete)
    assert axes.shape == (7, 7) and variances.shape == (7,)
    assert np.all(variances[:3] > 0.01) and np.all(variances[3:] <= 1e-12 * variances[0])
    np.testing.assert_allclose(axes[:3] @ axes[:3].T, np.eye(3), atol=1e-12)
    if complete:  # an orthonormal basis of the whole space, the rest in the null space
        np.testing.assert_allclose(axes @ axes.T, np.eye(7), atol=1e-12)
        np.testing.assert_allclose(Xc @ axes[3:].T, 0, atol=1e-12)
    else:
        assert np.all(axes[3:] == 0) and np.all(variances[3:] == 0)
    # The leading axes do not depend on the completion.
    np.testing.assert_array_equal(axes[:3], principal_axes(X, 7, complete=not complete)[1][:3])


def test_principal_axes_memory_stays_linear_in_n_samples():
    """The covariance is d x d: nothing of size n_samples^2 is formed."""
    import tracemalloc

    X = np.random.RandomState(0).standard_normal((5000, 5))  # an n x n array: 200 MB
    tracemalloc.start()
    try:
        principal_axes(X, 5, complete=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * X.nbytes


def test_standardize_then_unstandardize_keeps_the_embedding():
    from skdml.linear._psd import standardize, unstandardize_components

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4)) * [1e-3, 1.0, 1e3, 0.0] + [0.0, 5.0, -2.0, 7.0]
    Z, scales, varying = standardize(X)
    assert varying.tolist() == [True, True, True, False] and scales[3] == 0
    np.testing.assert_allclose(Z.std(axis=0), 1.0)
    L = rng.normal(size=(2, 3))
    components = unstandardize_components(L, scales, varying)
    assert components.shape == (2, 4) and np.all(components[:, 3] == 0)
    np.testing.assert_allclose(X @ components.T, Z @ L.T, rtol=1e-10)
    Zc = standardize(X, center=True)[0]
    np.testing.assert_allclose(Zc.mean(axis=0), 0.0, atol=1e-12)


@pytest.mark.parametrize("rank", [5, 3])
def test_components_from_inverse_whitens_on_the_span(rank):
    rng = np.random.RandomState(0)
    A = rng.standard_normal((5, rank)) * [10.0, 1.0, 0.1, 1.0, 3.0][:rank]
    M = A @ A.T  # PSD, of rank `rank`
    L = components_from_inverse(M, rtol=1e-10)
    assert L.shape == (rank, 5)
    np.testing.assert_allclose(L @ M @ L.T, np.eye(rank), atol=1e-8)
    np.testing.assert_allclose(L.T @ L, np.linalg.pinv(M, rcond=1e-10, hermitian=True),
                               rtol=1e-6, atol=1e-12 * np.abs(L.T @ L).max())
    norms = np.linalg.norm(L, axis=1)  # 1 / sqrt(w): the metric's eigenvalues, decreasing
    assert np.all(np.diff(norms) <= 0)
