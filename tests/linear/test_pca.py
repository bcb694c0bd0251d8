"""PCA (skdml/linear/pca.py): scikit-learn's distances, whitening of null directions."""

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA as SkPCA

from skdml import PCA

from .conftest import _pdist


@pytest.mark.parametrize("whiten", [False, True])
def test_pca_distances_match_sklearn(whiten):
    X, _ = load_wine(return_X_y=True)
    ours = PCA(n_components=5, whiten=whiten).fit(X)
    theirs = SkPCA(n_components=5, whiten=whiten).fit(X)
    np.testing.assert_allclose(
        _pdist(ours.transform(X)), _pdist(theirs.transform(X)), rtol=1e-6, atol=1e-8
    )
    np.testing.assert_allclose(ours.explained_variance_ratio_, theirs.explained_variance_ratio_)


def test_pca_whiten_zero_variance_directions_get_zero_weight():
    X = np.random.default_rng(0).normal(size=(5, 12))  # rank 4 after centering
    pca = PCA(whiten=True).fit(X)
    assert pca.n_components_ == 5
    assert np.all(np.isfinite(pca.components_))
    np.testing.assert_allclose(pca.components_[-1], 0.0)
    Z = pca.transform(X)
    np.testing.assert_allclose(np.var(Z[:, :4], axis=0, ddof=1), 1.0, rtol=1e-8)
