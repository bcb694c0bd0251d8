"""Nonlinear discrete hashing (NDH) and nonlinear sparse hashing (NSH)."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skdml.hashing import ITQ
from skdml.hashing import discrete
from skdml.hashing.discrete import NonlinearDiscreteHashing, NonlinearSparseHashing
from skdml.metrics_hashing import hamming_map

CLASSES = [NonlinearDiscreteHashing, NonlinearSparseHashing]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    idx = np.random.default_rng(0).permutation(len(X))
    return X[idx[:500]], y[idx[:500]], X[idx[500:700]], y[idx[500:700]]


def _small(cls, **kw):
    kw.setdefault("n_anchors", 60)
    kw.setdefault("random_state", 0)
    return cls(**kw)


def _tiny_problem():
    rng = np.random.default_rng(1)
    n, r, c, m = 6, 3, 2, 4
    B = np.where(rng.standard_normal((n, r)) >= 0, 1.0, -1.0)
    Y = rng.standard_normal((n, r))
    P = rng.standard_normal((c, r))
    W = rng.standard_normal((m, r))
    Phi = rng.random((n, m))
    L = np.eye(c)[rng.integers(0, c, n)]
    return B, Y, P, W, Phi, L


def test_ndh_objective_terms_match_hand_computation():
    B, Y, P, W, Phi, L = _tiny_problem()
    n, r = B.shape
    # entry by entry: L - B P^T, B - Y, B - Phi W
    cls_term = sum((L[i, j] - sum(B[i, k] * P[j, k] for k in range(r))) ** 2
                   for i in range(n) for j in range(L.shape[1]))
    ind_term = sum((B[i, k] - Y[i, k]) ** 2 for i in range(n) for k in range(r))
    fit_term = sum((B[i, k] - Phi[i] @ W[:, k]) ** 2 for i in range(n) for k in range(r))
    reg_term = np.trace(P.T @ P) + np.trace(W.T @ W)
    terms = discrete._ndh_terms(B, Y, P, W, Phi, L)
    np.testing.assert_allclose(
        [terms["classification"], terms["independence"], terms["hash_fit"],
         terms["regularization"]], [cls_term, ind_term, fit_term, reg_term])
    est = NonlinearDiscreteHashing(lambda1=0.3, lambda2=0.2, lambda3=0.1)
    np.testing.assert_allclose(
        est._objective(B, Y, P, W, Phi, L),
        cls_term + 0.3 * ind_term + 0.2 * fit_term + 0.1 * reg_term)


def test_nsh_objective_terms_match_hand_computation():
    B, _, P, W, Phi, L = _tiny_problem()
    n, r = B.shape
    H = np.array([[Phi[i] @ W[:, k] for k in range(r)] for i in range(n)])
    binary = sum((B[i, k] - H[i, k]) ** 2 for i in range(n) for k in range(r))
    variance = np.trace(H @ H.T)
    l21 = sum(np.sqrt(sum(H[i, k] ** 2 for k in range(r))) for i in range(n))
    cls_term = np.sum((L - B @ P.T) ** 2)
    reg_term = np.sum(P**2) + np.sum(W**2)
    terms = discrete._nsh_terms(B, P, W, Phi, L)
    np.testing.assert_allclose(
        [terms["binary"], terms["variance"], terms["sparsity"], terms["classification"],
         terms["regularization"]], [binary, variance, l21, cls_term, reg_term])
    est = NonlinearSparseHashing(gamma=0.4, lambda0=0.5, lambda1=2.0, reg=0.1)
    np.testing.assert_allclose(
        est._objective(B, P, W, Phi, L),
        binary - 0.4 * variance + 0.5 * l21 + 2.0 * cls_term + 0.1 * reg_term)


@pytest.mark.parametrize("scale", [0.5, 1.0, 10.0])
def test_dcc_never_increases_its_objective_and_keeps_codes_binary(scale):
    rng = np.random.default_rng(2)
    n, r, c = 40, 8, 3
    U = rng.standard_normal((n, r))
    P = rng.standard_normal((c, r))
    B = np.where(rng.standard_normal((n, r)) >= 0, 1.0, -1.0)
    before = discrete._dcc_objective(B, U, P, scale)
    for _ in range(6):  # sweep by sweep
        discrete._dcc(B, U, P, scale, n_sweeps=1)
        after = discrete._dcc_objective(B, U, P, scale)
        assert after <= before + 1e-9
        assert set(np.unique(B)) <= {-1.0, 1.0}
        before = after
    # at the fixed point every column is its exact minimizer: no other column does better
    discrete._dcc(B, U, P, scale, n_sweeps=50)
    best = discrete._dcc_objective(B, U, P, scale)
    for k in range(r):
        for _ in range(20):
            other = B.copy()
            other[:, k] = np.where(rng.standard_normal(n) >= 0, 1.0, -1.0)
            assert discrete._dcc_objective(other, U, P, scale) >= best - 1e-9


@pytest.mark.parametrize("cls", CLASSES)
def test_codes_stay_binary_during_fit_and_objective_decreases(cls, digits, monkeypatch):
    X, y, _, _ = digits
    seen = []
    real_dcc = discrete._dcc

    def recording_dcc(B, U, P, scale, n_sweeps):
        seen.append(np.unique(B))
        out = real_dcc(B, U, P, scale, n_sweeps)
        seen.append(np.unique(out))
        return out

    monkeypatch.setattr(discrete, "_dcc", recording_dcc)
    h = _small(cls, n_bits=12, max_iter=8).fit(X, y)
    assert len(seen) == 2 * h.n_iter_
    for values in seen:
        np.testing.assert_array_equal(values, [-1.0, 1.0])
    obj = h.objective_
    assert len(obj) == h.n_iter_ and np.all(np.isfinite(obj))
    assert np.all(np.diff(obj) <= 1e-9 * np.abs(obj[:-1]))
    assert obj[-1] < obj[0]


@pytest.mark.parametrize("cls", CLASSES)
def test_learns_codes_that_beat_itq(cls, digits):
    X, y, Xq, yq = digits
    h = _small(cls, n_bits=16).fit(X, y)
    codes = h.transform(Xq)
    assert codes.dtype == bool and codes.shape == (len(Xq), 16)
    score = hamming_map(codes, h.transform(X), yq, y)
    itq = ITQ(16, random_state=0).fit(X)
    baseline = hamming_map(itq.transform(Xq), itq.transform(X), yq, y)
    assert score > 0.85
    assert score > baseline + 0.2


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", CLASSES)
def test_string_labels_and_attributes(cls, digits):
    X, y, _, _ = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    h = _small(cls, n_bits=8, max_iter=3).fit(X[:200], names[y[:200]])
    assert set(h.classes_) == set(names[y[:200]])
    assert h.classifier_.shape == (len(h.classes_), 8)
    assert h.projection_.shape == (61, 8) and h.anchors_.shape == (60, 64)
    assert h.n_bits_ == 8 and h.n_features_in_ == 64


@pytest.mark.parametrize("cls", CLASSES)
def test_warns_when_stopped_before_settling(cls, digits):
    X, y, _, _ = digits
    with pytest.warns(ConvergenceWarning, match="raise max_iter"):
        _small(cls, n_bits=8, max_iter=1).fit(X, y)


@pytest.mark.parametrize("cls", CLASSES)
def test_determinism_under_random_state(cls, digits):
    X, y, Xq, _ = digits
    a = _small(cls, n_bits=16, random_state=3).fit(X, y).transform(Xq)
    b = _small(cls, n_bits=16, random_state=3).fit(X, y).transform(Xq)
    np.testing.assert_array_equal(a, b)
    c = _small(cls, n_bits=16, random_state=4).fit(X, y).transform(Xq)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("cls", CLASSES)
def test_clone_pickle_pipeline(cls, digits):
    X, y, Xq, _ = digits
    h = _small(cls, n_bits=16).fit(X, y)
    h2 = pickle.loads(pickle.dumps(h))
    np.testing.assert_array_equal(h.transform(Xq), h2.transform(Xq))
    fresh = clone(h)
    assert not hasattr(fresh, "projection_") and fresh.get_params() == h.get_params()
    pipe = make_pipeline(MinMaxScaler(), _small(cls, n_bits=16)).fit(X, y)
    codes = pipe.transform(Xq)
    assert codes.dtype == bool and codes.shape == (len(Xq), 16)
    assert pipe.named_steps[cls.__name__.lower()].transform_packed(
        MinMaxScaler().fit(X).transform(Xq)).shape == (len(Xq), 2)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("params, match", [
    ({"n_bits": 0}, "n_bits"),
    ({"n_bits": -3}, "n_bits"),
    ({"n_anchors": 0}, "n_anchors"),
    ({"max_iter": 0}, "max_iter"),
])
def test_bad_parameters(cls, params, match, digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match=match):
        _small(cls, **params).fit(X, y)


def test_bad_weights():
    X, y = np.random.default_rng(0).random((20, 4)), np.arange(20) % 2
    with pytest.raises(ValueError, match="gamma"):
        NonlinearSparseHashing(gamma=1.0).fit(X, y)
    with pytest.raises(ValueError, match="lambda2"):
        NonlinearDiscreteHashing(lambda2=0.0).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", CLASSES)
def test_bad_input_leaves_a_fitted_hasher_unchanged(cls, digits):
    X, y, Xq, _ = digits
    h = _small(cls, n_bits=8, max_iter=3).fit(X, y)
    before = h.transform(Xq)
    W = h.projection_.copy()
    with pytest.raises(ValueError, match="requires y"):
        h.fit(X, None)
    with pytest.raises(ValueError, match="samples but y has"):
        h.fit(X, y[:-1])
    with pytest.raises(ValueError, match="class"):
        h.fit(X, np.zeros(len(X)))  # one class
    Xbad = X.copy()
    Xbad[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        h.fit(Xbad, y)
    with pytest.raises(ValueError, match="n_bits"):
        h.set_params(n_bits=0).fit(X, y)
    h.set_params(n_bits=8)
    np.testing.assert_array_equal(h.projection_, W)
    np.testing.assert_array_equal(h.transform(Xq), before)
    with pytest.raises(ValueError, match="features"):
        h.transform(Xq[:, :10])  # wrong width
