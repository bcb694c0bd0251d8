"""Distance kernels on real vectors against NumPy brute-force twins."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import skdml.kernels._pairwise as P
from skdml.kernels import (
    METRICS,
    knn,
    mahalanobis_components,
    paired_distances,
    pairwise_distances,
    pairwise_distances_chunked,
)

SHAPES = [(0, 4, 3), (1, 1, 5), (1, 7, 1), (7, 13, 3), (33, 600, 17)]


def _psd(d, rank=None, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((rank or d, d))
    return A.T @ A


def brute(X, Y, metric, M=None, L=None):
    """The NumPy twin: every pair from its difference, in float64."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    diff = X[:, None, :] - Y[None, :, :]
    if metric == "sqeuclidean":
        return (diff**2).sum(-1)
    if metric == "euclidean":
        return np.sqrt((diff**2).sum(-1))
    if metric == "mahalanobis":
        if M is None:
            M = L.T @ L
        return np.sqrt(np.maximum(np.einsum("ijk,kl,ijl->ij", diff, M, diff), 0.0))
    if metric == "manhattan":
        return np.abs(diff).sum(-1)
    if metric == "chebyshev":
        return np.abs(diff).max(-1) if diff.shape[-1] else np.zeros(diff.shape[:2])
    if metric == "cosine":
        nx = np.linalg.norm(X, axis=1)
        ny = np.linalg.norm(Y, axis=1)
        nx[nx == 0] = 1.0
        ny[ny == 0] = 1.0
        return np.clip(1.0 - (X / nx[:, None]) @ (Y / ny[:, None]).T, 0.0, 2.0)
    raise AssertionError(metric)


def _extra(metric, d):
    return {"M": _psd(d)} if metric == "mahalanobis" else {}


def _tol(dtype, metric):
    if dtype == np.float32:
        return {"rtol": 2e-3, "atol": 2e-3}
    return {"rtol": 1e-7, "atol": 1e-7 if metric != "sqeuclidean" else 1e-6}


# --------------------------------------------------------------------------- pairwise
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_pairwise_matches_brute_force(metric, dtype, shape):
    n, m, d = shape
    rng = np.random.default_rng(n + m + d)
    X = rng.standard_normal((n, d)).astype(dtype)
    Y = rng.standard_normal((m, d)).astype(dtype)
    extra = _extra(metric, d)
    D = pairwise_distances(X, Y, metric=metric, **extra)
    assert D.shape == (n, m)
    assert D.dtype == dtype
    np.testing.assert_allclose(D, brute(X, Y, metric, **extra), **_tol(dtype, metric))


@pytest.mark.parametrize("metric", METRICS)
def test_pairwise_non_contiguous_input(metric):
    rng = np.random.default_rng(1)
    big = rng.standard_normal((40, 12))
    X = big[::2, ::3]  # strided in both directions
    Y = np.asfortranarray(big[1::3, 1::3])
    extra = _extra(metric, X.shape[1])
    np.testing.assert_allclose(
        pairwise_distances(X, Y, metric=metric, **extra),
        brute(X, Y, metric, **extra),
        rtol=1e-7,
        atol=1e-7,
    )


@pytest.mark.parametrize("metric", METRICS)
def test_self_distances_zero_diagonal_and_symmetric(metric):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((25, 6)) * 1e3 + 1e4  # large offset: cancellation in BLAS form
    X[3] = 0.0  # a zero vector (cosine: distance 1 to everything else)
    extra = _extra(metric, 6)
    D = pairwise_distances(X, metric=metric, **extra)
    assert np.all(np.diag(D) == 0.0)
    np.testing.assert_allclose(D, D.T, rtol=1e-9, atol=1e-9 * np.abs(D).max())
    assert np.all(D >= 0.0)


def test_cosine_zero_vector_is_at_distance_one():
    D = pairwise_distances(np.array([[0.0, 0.0]]), np.array([[1.0, 2.0], [0.0, 0.0]]),
                           metric="cosine")
    np.testing.assert_array_equal(D, [[1.0, 1.0]])


def test_mixed_dtypes_promote():
    X = np.ones((2, 3), dtype=np.float32)
    Y = np.zeros((4, 3), dtype=np.float64)
    assert pairwise_distances(X, Y).dtype == np.float64


# --------------------------------------------------------------------------- Mahalanobis
def test_mahalanobis_M_and_L_agree_and_match_transform():
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((9, 5)), rng.standard_normal((11, 5))
    L = rng.standard_normal((3, 5))  # rectangular: a rank-3 M
    D_L = pairwise_distances(X, Y, metric="mahalanobis", L=L)
    D_M = pairwise_distances(X, Y, metric="mahalanobis", M=L.T @ L)
    np.testing.assert_allclose(D_L, D_M, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(D_L, pairwise_distances(X @ L.T, Y @ L.T), rtol=1e-10)


@pytest.mark.parametrize("rank", [5, 2, 0])
def test_mahalanobis_components_factor_psd(rank):
    M = _psd(5, rank=rank) if rank else np.zeros((5, 5))
    L = mahalanobis_components(M)
    np.testing.assert_allclose(L.T @ L, M, atol=1e-9 * max(1.0, np.abs(M).max()))


def test_mahalanobis_rejects_bad_matrices():
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match="symmetric"):
        pairwise_distances(X, metric="mahalanobis", M=[[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="positive semi-definite"):
        pairwise_distances(X, metric="mahalanobis", M=[[1.0, 0.0], [0.0, -1.0]])
    with pytest.raises(ValueError, match="square"):
        pairwise_distances(X, metric="mahalanobis", M=np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        pairwise_distances(np.zeros((3, 3)), metric="mahalanobis", M=np.eye(2))
    with pytest.raises(ValueError, match=r"\(n_components, 3\)"):
        pairwise_distances(np.zeros((3, 3)), metric="mahalanobis", L=np.eye(2))
    with pytest.raises(ValueError, match="exactly one"):
        pairwise_distances(X, metric="mahalanobis")
    with pytest.raises(ValueError, match="exactly one"):
        pairwise_distances(X, metric="mahalanobis", M=np.eye(2), L=np.eye(2))
    with pytest.raises(ValueError, match="only used with metric='mahalanobis'"):
        pairwise_distances(X, M=np.eye(2))
    with pytest.raises(ValueError, match="NaN|infinity"):
        pairwise_distances(X, metric="mahalanobis", M=[[1.0, np.nan], [np.nan, 1.0]])


# --------------------------------------------------------------------------- chunked / paired
@pytest.mark.parametrize("metric", METRICS)
def test_chunked_equals_full(metric):
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((23, 4)), rng.standard_normal((9, 4))
    extra = _extra(metric, 4)
    full = pairwise_distances(X, Y, metric=metric, **extra)
    # 200 bytes hold 2 rows of 9 float64 distances.
    blocks = list(pairwise_distances_chunked(X, Y, metric=metric, working_memory=200, **extra))
    assert [s for s, _ in blocks] == list(range(0, 23, 2))
    # BLAS may round a 1-row block differently from a many-row one: equal to rounding.
    np.testing.assert_allclose(np.vstack([b for _, b in blocks]), full, rtol=1e-12, atol=1e-12)
    sums = list(pairwise_distances_chunked(
        X, Y, metric=metric, working_memory=200, reduce_func=lambda b, s: (s, b.sum(1)), **extra
    ))
    np.testing.assert_allclose(np.concatenate([v for _, v in sums]), full.sum(1))


def test_chunked_self_search_zero_diagonal():
    X = np.random.default_rng(5).standard_normal((10, 3)) + 100.0
    D = np.vstack([b for _, b in pairwise_distances_chunked(X, working_memory=100)])
    assert np.all(np.diag(D) == 0.0)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_paired_matches_brute_force(metric, dtype):
    rng = np.random.default_rng(6)
    A = rng.standard_normal((17, 6)).astype(dtype)
    B = rng.standard_normal((17, 6)).astype(dtype)
    extra = _extra(metric, 6)
    d = paired_distances(A, B, metric=metric, **extra)
    assert d.dtype == dtype
    want = np.array([brute(a[None], b[None], metric, **extra)[0, 0] for a, b in zip(A, B)])
    np.testing.assert_allclose(d, want, **_tol(dtype, metric))
    assert np.all(paired_distances(A, A, metric=metric, **extra) == 0.0)
    if metric == "cosine":
        Z = np.zeros_like(A[:2])
        np.testing.assert_array_equal(paired_distances(Z, A[:2], metric=metric), 1.0)
    assert paired_distances(A[:0], B[:0], metric=metric, **extra).shape == (0,)


def test_paired_rejects_mismatched_rows():
    with pytest.raises(ValueError, match="same number of rows"):
        paired_distances(np.zeros((3, 2)), np.zeros((4, 2)))


# --------------------------------------------------------------------------- knn
def _full_sort(D, k, exclude_self=False):
    D = D.copy()
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    order = np.argsort(D, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(D, order, axis=1), order


def _assert_topk_up_to_rounding(D, dist, ind, tol):
    """``ind`` holds k smallest of each row of ``D`` (to ``tol``), sorted, ties by index."""
    for r in range(D.shape[0]):
        got = D[r, ind[r]]
        rest = np.delete(D[r], ind[r])
        assert rest.size == 0 or got.max() <= rest.min() + tol
        tied = np.diff(dist[r]) == 0  # equal computed distances: by index
        assert np.all(np.diff(dist[r]) >= 0) and np.all(np.diff(ind[r])[tied] > 0)
        np.testing.assert_allclose(dist[r], got, atol=tol)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_knn_equals_full_stable_sort_with_ties(metric, dtype):
    rng = np.random.default_rng(7)
    # Small integer coordinates: many exact ties, which must go to the smaller index. Every
    # metric but cosine is exact in floating point on them (Mahalanobis with an integer L).
    X = rng.integers(-2, 3, size=(31, 3)).astype(dtype)
    Y = rng.integers(-2, 3, size=(57, 3)).astype(dtype)
    extra = {"L": np.diag([1.0, 2.0, 1.0])} if metric == "mahalanobis" else {}
    D = brute(X, Y, metric, **extra)
    for k in (1, 5, 57):
        # A small working memory: several row chunks and database tiles.
        dist, ind = knn(X, Y, k, metric=metric, working_memory=6 * 20 * 8, **extra)
        assert dist.dtype == dtype and ind.dtype == np.intp
        if metric == "cosine":
            _assert_topk_up_to_rounding(D, dist, ind, 1e-5 if dtype == np.float32 else 1e-12)
            continue
        want_d, want_i = _full_sort(D, k)
        np.testing.assert_array_equal(ind, want_i)
        np.testing.assert_allclose(dist, want_d, rtol=1e-6)


@pytest.mark.parametrize("threaded", [False, True])
def test_row_chunks_over_threads_match_brute_force(threaded, monkeypatch):
    if threaded:
        monkeypatch.setattr(P, "_PARALLEL_WORK", 0)  # small data through the thread pool
    rng = np.random.default_rng(10)
    X = rng.integers(0, 4, size=(300, 8)).astype(float)
    Y = rng.integers(0, 4, size=(900, 8)).astype(float)
    for metric in ("sqeuclidean", "manhattan", "chebyshev"):
        want_d, want_i = _full_sort(brute(X, Y, metric), 7)
        dist, ind = knn(X, Y, 7, metric=metric, working_memory=2**16)
        np.testing.assert_array_equal(ind, want_i)
        np.testing.assert_array_equal(dist, want_d)
        np.testing.assert_array_equal(pairwise_distances(X, Y, metric=metric),
                                      brute(X, Y, metric))


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan"])
def test_knn_exclude_self(metric):
    X = np.random.default_rng(8).integers(0, 3, size=(40, 2)).astype(float)
    D = pairwise_distances(X, metric=metric)
    dist, ind = knn(X, k=4, metric=metric, exclude_self=True, working_memory=400)
    want_d, want_i = _full_sort(D, 4, exclude_self=True)
    np.testing.assert_array_equal(ind, want_i)
    np.testing.assert_allclose(dist, want_d)
    assert not np.any(ind == np.arange(40)[:, None])


def test_knn_zero_queries_and_one_point():
    X0 = np.zeros((0, 3))
    dist, ind = knn(X0, np.ones((5, 3)), 2)
    assert dist.shape == ind.shape == (0, 2)
    dist, ind = knn(np.ones((1, 3)), np.zeros((1, 3)), 1)
    np.testing.assert_allclose(dist, [[np.sqrt(3.0)]])
    np.testing.assert_array_equal(ind, [[0]])


def test_knn_never_allocates_the_full_matrix():
    rng = np.random.default_rng(9)
    X, Y = rng.standard_normal((1000, 8)), rng.standard_normal((3000, 8))
    full_bytes = X.shape[0] * Y.shape[0] * 8  # 24 MB
    knn(X[:10], Y, 3, working_memory=2**20)  # compile outside the measurement
    tracemalloc.start()
    try:
        knn(X, Y, 3, working_memory=2**20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < full_bytes / 4


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("func", [pairwise_distances, knn])
def test_non_finite_input_raises(func):
    X = np.ones((3, 2))
    X[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        func(X, np.ones((3, 2)))
    with pytest.raises(ValueError, match="infinity"):
        func(np.ones((3, 2)), np.full((3, 2), np.inf))


def test_bad_input_messages():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="same number of features"):
        pairwise_distances(X, np.ones((3, 3)))
    with pytest.raises(ValueError, match="metric must be one of"):
        pairwise_distances(X, metric="minkowski")
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 3\]"):
        knn(X, X, 4)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 2\]"):
        knn(X, k=3, exclude_self=True)
    with pytest.raises(ValueError, match="k must be an integer"):
        knn(X, X, 0)
    with pytest.raises(ValueError, match="k must be an integer"):
        knn(X, X, 1.5)
    with pytest.raises(ValueError, match="exclude_self=True needs Y=None"):
        knn(X, X, 1, exclude_self=True)
    with pytest.raises(ValueError, match="working_memory"):
        knn(X, X, 1, working_memory=0)
    with pytest.raises(ValueError, match="2D array"):
        pairwise_distances(np.ones(3))


# --------------------------------------------------------------------------- metric axioms
_points = arrays(
    np.float64,
    st.tuples(st.integers(2, 6), st.integers(1, 4)),
    elements=st.floats(-100, 100, allow_nan=False, width=64),
)


@pytest.mark.parametrize("metric", METRICS)
@settings(max_examples=30, deadline=None)
@given(X=_points)
def test_metric_axioms(metric, X):
    extra = {"L": np.eye(X.shape[1]) + 0.5} if metric == "mahalanobis" else {}
    D = pairwise_distances(X, metric=metric, **extra)
    scale = 1.0 + np.abs(X).max()
    atol = 1e-6 * scale * (scale if metric == "sqeuclidean" else 1.0)
    assert np.all(D >= 0.0)
    assert np.all(np.diag(D) == 0.0)
    np.testing.assert_allclose(D, D.T, atol=atol)
    # The same pairs computed as paired distances (from differences) agree.
    i, j = np.triu_indices(len(X), 1)
    np.testing.assert_allclose(D[i, j], paired_distances(X[i], X[j], metric=metric, **extra),
                               atol=atol)
    if metric not in ("sqeuclidean", "cosine"):  # neither is a metric: no triangle inequality
        assert np.all(D[:, None, :] <= D[:, :, None] + D[None, :, :] + atol)
