"""Covariance (skdml/linear/covariance.py): inverse covariance, pseudo-inverse, shrinkage."""

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine

from skdml import Covariance

from .conftest import _knn_score, _noisy_iris


def test_covariance_is_the_inverse_covariance():
    X, _ = load_wine(return_X_y=True)
    cov = Covariance().fit(X)
    expected = np.cov(X, rowvar=False, bias=True)
    np.testing.assert_allclose(cov.covariance_, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        cov.get_mahalanobis_matrix(), np.linalg.inv(expected), rtol=1e-6
    )
    assert cov.n_components_ == X.shape[1]


def test_covariance_singular_gives_the_pseudo_inverse():
    X, _ = load_iris(return_X_y=True)
    X = np.column_stack([X, X[:, 0], np.full(len(X), 7.0)])  # duplicated + constant
    cov = Covariance().fit(X)
    M, S = cov.get_mahalanobis_matrix(), cov.covariance_
    assert cov.n_components_ == 4  # rank of the data
    np.testing.assert_allclose(M @ S @ M, M, atol=1e-8)
    np.testing.assert_allclose(S @ M @ S, S, atol=1e-8)
    np.testing.assert_allclose(M, np.linalg.pinv(np.cov(X, rowvar=False, bias=True)), atol=1e-6)


@pytest.mark.parametrize("shrinkage", ["ledoit_wolf", "oas", 0.3])
def test_covariance_shrinkage_is_between_empirical_and_identity(shrinkage):
    X = np.random.default_rng(0).normal(size=(15, 30))  # d > n: empirical is singular
    cov = Covariance(shrinkage=shrinkage).fit(X)
    assert cov.n_components_ == 30  # shrinkage makes it invertible
    assert np.all(np.isfinite(cov.components_))


def test_covariance_rescues_kNN_from_a_dominating_feature():
    X_train, X_test, y_train, y_test = _noisy_iris(n_noise=1, noise_scale=1e4)
    base = _knn_score(X_train, y_train, X_test, y_test)
    cov = Covariance().fit(X_train)
    learned = _knn_score(cov.transform(X_train), y_train, cov.transform(X_test), y_test)
    assert learned >= base + 0.3, (base, learned)
