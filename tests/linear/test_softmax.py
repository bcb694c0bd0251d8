"""The neighbour softmax (skdml/linear/_softmax.py) and the gradients of the losses built on it."""

import numpy as np
import pytest
from scipy.optimize import approx_fprime

import skdml.linear._softmax as softmax_module
from skdml.linear._softmax import neighbor_softmax
from skdml.linear.mlkr import _MLKRLoss
from skdml.linear.nca import _NCALoss


@pytest.mark.parametrize("dense_fraction", [-1.0, 2.0], ids=["dense", "sparse"])
@pytest.mark.parametrize("scale", [0.3, 2.0])
@pytest.mark.parametrize("target", ["nca", "mlkr", "mlkr2"])
def test_gradient_matches_finite_differences(monkeypatch, dense_fraction, scale, target):
    monkeypatch.setattr(softmax_module, "_DENSE_FRACTION", dense_fraction)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(25, 5))
    if target == "nca":
        loss = _NCALoss(X, rng.integers(0, 3, 25))
    else:
        loss = _MLKRLoss(X, rng.normal(size=(25,) if target == "mlkr" else (25, 2)))
    L0 = scale * rng.normal(size=(3, 5))
    numeric = approx_fprime(L0.ravel(), lambda w: loss(w.reshape(3, 5))[0], 1e-7)
    analytic = loss(L0)[1].ravel()
    np.testing.assert_allclose(analytic, numeric, rtol=0, atol=1e-5 * np.abs(numeric).max())


def test_sparse_softmax_equals_dense(monkeypatch):
    rng = np.random.default_rng(0)
    Z = 4 * rng.normal(size=(80, 3))  # far apart: most softmax terms below the cutoff
    monkeypatch.setattr(softmax_module, "_DENSE_FRACTION", 2.0)
    P_sparse, lse_sparse = neighbor_softmax(Z)
    assert P_sparse.nnz < 0.5 * 80 * 80
    monkeypatch.setattr(softmax_module, "_DENSE_FRACTION", -1.0)
    P_dense, lse_dense = neighbor_softmax(Z)
    np.testing.assert_allclose(P_sparse.toarray(), P_dense, atol=1e-15)
    np.testing.assert_allclose(lse_sparse, lse_dense, rtol=1e-13)
    np.testing.assert_allclose(P_dense.sum(axis=1), 1.0)
    assert np.all(np.diag(P_dense) == 0)


def test_softmax_is_stable_for_huge_distances():
    Z = np.array([[0.0], [1e3], [2e3], [1e4]])
    P, lse = neighbor_softmax(Z)
    P = P.toarray() if hasattr(P, "toarray") else P
    assert np.all(np.isfinite(P)) and np.all(np.isfinite(lse))
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
