"""RCA (skdml/linear/rca.py): whitening of chunklets, chunks from labels, bad chunks."""

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris

from skdml.linear.rca import RCA

from .conftest import _fitted


def test_rca_on_digits_is_finite():
    X, y = load_digits(return_X_y=True)
    est = RCA(random_state=0).fit(X, y)
    assert np.all(np.isfinite(est.components_))
    assert np.all(np.isfinite(est.transform(X)))
    assert np.all(est.components_[:, X.std(0) == 0] == 0)  # constant pixels weigh nothing


def test_rca_whitens_the_within_chunklet_covariance():
    X, y = load_iris(return_X_y=True)
    est = RCA(regularization=1e-12).fit(X, chunks=y)  # each class is one chunklet
    W = np.vstack([X[y == c] - X[y == c].mean(0) for c in range(3)])
    C = W.T @ W / len(W)
    L = est.components_
    np.testing.assert_allclose(L @ C @ L.T, np.eye(4), atol=1e-6)
    assert est.n_chunks_ == 3
    est2 = RCA(n_components=2, regularization=1e-12).fit(X, chunks=y)
    np.testing.assert_allclose(est2.components_, L[:2])  # the most discriminative first


def test_rca_chunks_from_labels_are_reproducible_and_disjoint():
    X, y = load_iris(return_X_y=True)
    a = RCA(num_chunks=20, chunk_size=3, random_state=0).fit(X, y)
    b = RCA(num_chunks=20, chunk_size=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert a.n_chunks_ == 20
    with pytest.warns(UserWarning, match="fewer than num_chunks"):
        c = RCA(num_chunks=500, chunk_size=3, random_state=0).fit(X, y)
    assert c.n_chunks_ == 3 * (50 // 3)


@pytest.mark.parametrize(
    "chunks, match",
    [
        (np.zeros(149, dtype=int), "one chunk id per sample"),
        (np.arange(150), "two or more samples"),
        (np.full(150, -2), "chunk ids >= 0"),
        (np.full(150, 0.5), "integer chunk ids"),
    ],
)
def test_rca_rejects_bad_chunks_and_keeps_its_state(chunks, match):
    est, X, _ = _fitted(RCA)
    before = est.components_.copy()
    with pytest.raises(ValueError, match=match):
        est.fit(X, chunks=chunks)
    np.testing.assert_array_equal(est.components_, before)
    with pytest.raises(ValueError, match="chunk_size=3"):
        RCA(chunk_size=3).fit(X[:4], [0, 0, 1, 1])
