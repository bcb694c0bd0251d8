"""Initial components of the linear learners (skdml/linear/_init.py)."""

import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from skdml import NCA
from skdml.linear._init import initial_directions
from skdml.linear.mcml import MCML
from skdml.linear.mlkr import MLKR

from .conftest import _knn_score


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def many_samples():
    """5,000 samples of 5 features: 200 KB, while an n x n float matrix would take 200 MB."""
    rng = np.random.RandomState(0)
    return rng.standard_normal((5000, 5)), rng.randint(0, 3, 5000)


@pytest.mark.parametrize("null_space", [True, False])
def test_pca_start_memory_is_linear_in_n_samples(many_samples, null_space):
    X, _ = many_samples
    peak = _peak_bytes(lambda: initial_directions("pca", X, 5, name="NCA",
                                                  pca_null_space=null_space))
    assert peak < 10 * X.nbytes


def test_nca_pca_start_with_sgd_fits_in_bounded_memory(many_samples):
    """NCA(init='pca', solver='sgd') is the path for data too large for the full softmax;
    its start must not hold an n x n matrix either (it did: a MemoryError at 10^5 samples)."""
    X, y = many_samples
    nca = NCA(init="pca", solver="sgd", batch_size=256, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one epoch
        peak = _peak_bytes(lambda: nca.fit(X, y))
    assert peak < 32 * 2**20
    assert np.all(np.isfinite(nca.components_))


def test_pca_rows_beyond_the_rank():
    """With more features than the data span, the extra rows complete an orthonormal basis
    (the softmax learners) or stay zero (LMNN)."""
    X = np.random.RandomState(2).standard_normal((3, 6))  # centered rank 2
    full = initial_directions("pca", X, 5, name="t", pca_null_space=True)
    zero = initial_directions("pca", X, 5, name="t", pca_null_space=False)
    np.testing.assert_allclose(full @ full.T, np.eye(5), atol=1e-12)
    np.testing.assert_array_equal(zero[:2], full[:2])
    assert np.all(zero[2:] == 0)
    assert full.flags.c_contiguous and zero.flags.c_contiguous


@pytest.mark.parametrize("init", ["auto", "pca", "lda", "identity", "random"])
def test_nca_inits(init):
    X, y = load_iris(return_X_y=True)
    nca = NCA(n_components=2, init=init, random_state=0).fit(X, y)
    assert nca.components_.shape == (2, 4)
    assert _knn_score(nca.transform(X), y, nca.transform(X), y) > 0.9


def test_init_array_and_random_state():
    X, y = load_iris(return_X_y=True)
    L0 = np.eye(3, 4)
    assert NCA(init=L0).fit(X, y).components_.shape == (3, 4)
    assert MLKR(init=L0).fit(X, y.astype(float)).components_.shape == (3, 4)
    assert MCML(init=L0).fit(X, y).components_.shape[1] == 4
    a = NCA(init="random", random_state=1).fit(X, y).components_
    b = NCA(init="random", random_state=1).fit(X, y).components_
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: NCA(init=np.eye(2, 3)), "init must have shape"),
        (lambda: NCA(n_components=2, init=np.eye(3, 4)), "init must have shape"),
        (lambda: NCA(n_components=3, init="lda"), "n_classes - 1"),
        (lambda: MCML(init=np.eye(2, 3)), "init must have shape"),
        (lambda: NCA(init=np.full((4, 4), np.nan)), "NaN"),
    ],
)
def test_bad_init(make, message):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=message):
        make().fit(X, y)
