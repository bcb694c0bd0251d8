"""LSML (skdml/linear/lsml.py): gradient, comparisons satisfied, triplets and quadruplets."""

import re

import numpy as np
import pytest
from scipy.optimize import check_grad
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from skdml.constraints import triplets_from_labels
from skdml.linear.lsml import LSML, _lsml_objective


def test_lsml_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    vab, vcd = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
    A = rng.normal(size=(5, 5))
    P = A @ A.T + np.eye(5)
    L = rng.normal(size=(5, 5)) + 3 * np.eye(5)

    def f(x):
        return _lsml_objective(x.reshape(5, 5), vab, vcd, P, 0.7)[0]

    def g(x):
        return _lsml_objective(x.reshape(5, 5), vab, vcd, P, 0.7)[1].ravel()

    assert check_grad(f, g, L.ravel()) < 1e-5 * np.linalg.norm(g(L.ravel()))


def _satisfied(est, quads):
    d = lambda a, b: est.pair_distance(np.stack([a, b], axis=1))  # noqa: E731
    return np.mean(d(quads[:, 0], quads[:, 1]) < d(quads[:, 2], quads[:, 3]))


def test_lsml_satisfies_more_comparisons_and_triplets_equal_quadruplets(noisy):
    X_train, _, y_train, _, _ = noisy
    t = triplets_from_labels(y_train, 300, random_state=0)
    quads = X_train[t[:, [0, 1, 0, 2]]]
    est = LSML().fit(quads)
    before = np.mean(
        np.linalg.norm(quads[:, 0] - quads[:, 1], axis=1)
        < np.linalg.norm(quads[:, 2] - quads[:, 3], axis=1)
    )
    assert _satisfied(est, quads) > before + 0.1
    from_triplets = LSML().fit(X_train[t])
    np.testing.assert_allclose(from_triplets.components_, est.components_, atol=1e-8)
    from_index = LSML().fit(t, preprocessor=X_train)
    np.testing.assert_allclose(from_index.components_, est.components_, atol=1e-8)
    with pytest.warns(ConvergenceWarning):
        LSML(max_iter=1).fit(quads)


def test_get_metric_squared():
    from sklearn.decomposition import PCA

    from skdml.base import EmbeddingDistance

    X, y = load_iris(return_X_y=True)
    lsml = LSML(random_state=0).fit(X, y)
    metric = lsml.get_metric()
    diff = X[0] - X[60]
    assert metric(X[0], X[60], squared=True) == pytest.approx(
        diff @ lsml.get_mahalanobis_matrix() @ diff, rel=1e-10)
    assert metric(X[0], X[60], squared=True) == pytest.approx(metric(X[0], X[60]) ** 2,
                                                              rel=1e-12)
    assert metric(X[0], X[60], squared=False) == metric(X[0], X[60])
    embedding = EmbeddingDistance(PCA(n_components=2).fit(X))
    z = embedding.transformer.transform(X[[0, 60]])
    assert embedding(X[0], X[60], squared=True) == pytest.approx(np.sum((z[0] - z[1]) ** 2))
    with pytest.raises(ValueError, match="one sample of 4 features"):
        metric(X[0], X[0:2], squared=True)


@pytest.mark.parametrize("shape", [(10, 5, 4), (10, 2, 4)])
def test_tuples_of_another_size_name_both_accepted_forms(shape):
    with pytest.raises(ValueError, match=r"quadruplets of shape .* or triplets of shape .*"
                                         + re.escape(str(shape))):
        LSML().fit(np.zeros(shape))
