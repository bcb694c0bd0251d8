"""The estimators themselves on dask: galleries that stay on the workers, dask transforms.

HammingNeighbors and KernelNeighbors fitted on a dask array persist its shards on the workers
and search them there, exactly; every learner's transform (predict, decision_function) maps a
dask array lazily, chunk by chunk (issue 22).
"""

import pickle

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from sklearn.datasets import load_iris  # noqa: E402

from skdml import KISSME, NCA  # noqa: E402
from skdml.hashing import ITQ, HammingNeighbors  # noqa: E402
from skdml.neighbors import KernelNeighbors  # noqa: E402


def test_fit_on_dask_without_a_client_is_a_clear_error():
    # first in the module: no client of this module's fixture exists yet
    G = np.random.RandomState(6).randn(40, 3)
    with pytest.raises(ValueError, match="no distributed.Client is running"):
        KernelNeighbors().fit(da.from_array(G, chunks=10))


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as c:
            yield c


def _tied_bits(rng, n, n_bits, n_distinct):
    pool = rng.randint(0, 2, (n_distinct, n_bits)).astype(bool)
    return pool[rng.randint(0, n_distinct, n)]  # duplicates: many tied distances


def _tied_vectors(rng, n, d):
    return rng.randint(0, 3, (n, d)).astype(np.float64)  # exact distances, real ties


def _holds_no_gallery(est, n_rows):
    """No attribute of the estimator is an in-memory array of the gallery's rows."""
    for name, value in vars(est).items():
        assert not (isinstance(value, np.ndarray) and value.ndim and value.shape[0] == n_rows
                    ), name
        assert not (isinstance(value, np.ndarray) and value.ndim == 2
                    and value.shape[1] == n_rows), name


def _same_lists(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def _scheduled(client):
    return client.run_on_scheduler(lambda dask_scheduler: set(dask_scheduler.tasks))


# --------------------------------------------------------------------------- galleries
def test_hamming_gallery_stays_on_workers_and_is_exact(client):
    rng = np.random.RandomState(0)
    bits = _tied_bits(rng, 700, 21, n_distinct=30)
    queries = _tied_bits(rng, 41, 21, n_distinct=60)
    ref = HammingNeighbors(n_neighbors=25, radius=4).fit(bits)
    est = HammingNeighbors(n_neighbors=25, radius=4).fit(
        da.from_array(bits, chunks=((7, 300, 0, 13, 380), (10, 11))))
    assert est.is_distributed_ and isinstance(est.codes_, da.Array)
    assert est.codes_.shape == ref.codes_.shape and est.n_bits_ == 21
    assert "shards on the workers of" in repr(est)
    _holds_no_gallery(est, 700)

    for X in (queries, None):
        for a, b in zip(est.kneighbors(X), ref.kneighbors(X)):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(est.radius_neighbors(X, sort_results=True),
                        ref.radius_neighbors(X, sort_results=True)):
            assert _same_lists(a, b)
        assert (est.kneighbors_graph(X, mode="distance")
                != ref.kneighbors_graph(X, mode="distance")).nnz == 0
        assert (est.radius_neighbors_graph(X) != ref.radius_neighbors_graph(X)).nnz == 0

    packed = da.from_array(ref.codes_, chunks=(111, -1))  # packed uint8 codes work alike
    est_packed = HammingNeighbors(n_bits=21).fit(packed)
    np.testing.assert_array_equal(est_packed.kneighbors(queries, 9)[1],
                                  ref.kneighbors(queries, 9)[1])


def test_kernel_neighbors_gallery_stays_on_workers_and_is_exact(client):
    rng = np.random.RandomState(1)
    G, Q = _tied_vectors(rng, 503, 3), _tied_vectors(rng, 23, 3)
    for metric in ("euclidean", "sqeuclidean", "manhattan"):
        ref = KernelNeighbors(n_neighbors=30, radius=1.5, metric=metric).fit(G)
        est = KernelNeighbors(n_neighbors=30, radius=1.5, metric=metric).fit(
            da.from_array(G, chunks=((1, 250, 0, 29, 223), (2, 1))))
        assert est.is_distributed_ and isinstance(est.gallery_, da.Array)
        _holds_no_gallery(est, 503)
        for X in (Q, None):
            for a, b in zip(est.kneighbors(X), ref.kneighbors(X)):
                np.testing.assert_array_equal(a, b)
            for a, b in zip(est.radius_neighbors(X), ref.radius_neighbors(X)):
                assert _same_lists(a, b)
    # a learned Mahalanobis metric (a linear learner's L), on continuous data
    L = rng.randn(2, 3)
    G, Q = rng.randn(300, 3), rng.randn(9, 3)
    ref = KernelNeighbors(metric="mahalanobis", metric_params={"L": L}).fit(G)
    est = KernelNeighbors(metric="mahalanobis", metric_params={"L": L}).fit(
        da.from_array(G, chunks=77))
    d, i = est.kneighbors(Q)
    np.testing.assert_array_equal(i, ref.kneighbors(Q)[1])
    np.testing.assert_allclose(d, ref.kneighbors(Q)[0], rtol=1e-12)


def test_dask_queries_give_lazy_exact_answers(client):
    rng = np.random.RandomState(2)
    bits = _tied_bits(rng, 300, 16, n_distinct=20)
    queries = _tied_bits(rng, 53, 16, n_distinct=20)
    dq = da.from_array(queries, chunks=17)
    ref = HammingNeighbors(n_neighbors=7).fit(bits)
    for est in (HammingNeighbors(n_neighbors=7).fit(da.from_array(bits, chunks=61)), ref):
        before = _scheduled(client)
        dist, ind = est.kneighbors(dq)
        neigh_dist, neigh_ind = est.radius_neighbors(dq, radius=3)
        assert isinstance(ind, da.Array) and isinstance(neigh_ind, da.Array)
        assert not _scheduled(client) - before  # lazy: nothing ran yet
        np.testing.assert_array_equal(ind.compute(), ref.kneighbors(queries)[1])
        np.testing.assert_array_equal(dist.compute(), ref.kneighbors(queries)[0])
        assert _same_lists(neigh_ind.compute(), ref.radius_neighbors(queries, radius=3)[1])
    G = _tied_vectors(rng, 200, 4)
    Q = _tied_vectors(rng, 31, 4)
    ref = KernelNeighbors(n_neighbors=12).fit(G)
    est = KernelNeighbors(n_neighbors=12).fit(da.from_array(G, chunks=47))
    ind = est.kneighbors(da.from_array(Q, chunks=8), return_distance=False)
    np.testing.assert_array_equal(ind.compute(), ref.kneighbors(Q, return_distance=False))


def test_to_local_and_pickling(client):
    rng = np.random.RandomState(3)
    G = rng.randn(120, 5)
    est = KernelNeighbors(n_neighbors=4).fit(da.from_array(G, chunks=50))
    with pytest.raises(TypeError, match="to_local"):
        pickle.dumps(est)
    local = est.to_local()
    assert not local.is_distributed_ and isinstance(local.gallery_, np.ndarray)
    assert est.is_distributed_  # the distributed one is left as it was
    np.testing.assert_array_equal(local.gallery_, G)
    again = pickle.loads(pickle.dumps(local))
    np.testing.assert_array_equal(again.kneighbors(G[:5])[1], est.kneighbors(G[:5])[1])
    assert local.to_local() is local
    codes = HammingNeighbors().fit(da.from_array(rng.rand(90, 12) > 0.5, chunks=40))
    assert isinstance(codes.to_local().codes_, np.ndarray)


# --------------------------------------------------------------------------- transforms
def _lazy_and_equal(client, method, X, chunks, **kwargs):
    dX = da.from_array(X, chunks=chunks)
    before = _scheduled(client)
    out = method(dX, **kwargs)
    assert isinstance(out, da.Array)
    assert not _scheduled(client) - before  # a graph, nothing computed
    expected = method(X, **kwargs)
    np.testing.assert_allclose(out.compute(), expected, rtol=1e-6, atol=1e-6)
    assert out.dtype == expected.dtype and out.shape == expected.shape


def test_transform_of_dask_array_is_lazy_and_equal(client):
    X, y = load_iris(return_X_y=True)
    nca = NCA(max_iter=5, random_state=0).fit(X, y)
    _lazy_and_equal(client, nca.transform, X, (37, 2))
    itq = ITQ(n_bits=4, random_state=0).fit(X)
    _lazy_and_equal(client, itq.transform, X, 41)
    _lazy_and_equal(client, itq.transform_packed, X, 41)
    rng = np.random.RandomState(4)
    pairs = X[rng.randint(0, 150, (80, 2))]
    kissme = KISSME().fit(pairs, np.where(rng.rand(80) > 0.5, 1, -1))
    _lazy_and_equal(client, kissme.decision_function, pairs, 23)
    _lazy_and_equal(client, kissme.predict, pairs, 23)
    with pytest.raises(ValueError, match="features"):
        nca.transform(da.from_array(X[:, :3], chunks=50))


def test_deep_transform_of_dask_array_is_lazy_and_equal(client):
    pytest.importorskip("torch")
    from skdml.deep import DeepMetricLearner

    X, y = load_iris(return_X_y=True)
    net = DeepMetricLearner(max_epochs=1, batch_size=32, random_state=0).fit(X, y)
    _lazy_and_equal(client, net.transform, X.astype(np.float32), 64)
    lazy = net.transform(da.from_array(X.astype(np.float32), chunks=64))
    assert isinstance(lazy, da.Array) and lazy.shape == (150, net.embedding_dim_)


# --------------------------------------------------------------------------- bad input
def test_bad_input_fails_before_scheduling(client):
    rng = np.random.RandomState(5)
    G = rng.randn(60, 4)
    bits = rng.rand(60, 16) > 0.5
    dG = da.from_array(G, chunks=25)
    kn = KernelNeighbors(n_neighbors=3).fit(dG)
    hn = HammingNeighbors(n_neighbors=3).fit(da.from_array(bits, chunks=25))
    cases = [
        ("unknown chunk", lambda: KernelNeighbors().fit(dG[dG[:, 0] > 0])),
        ("unknown chunk", lambda: HammingNeighbors().fit(
            da.from_array(bits, chunks=25)[dG[:, 0] > 0])),
        ("float32 or float64", lambda: KernelNeighbors().fit(dG.astype(int))),
        ("bool bits .* or packed uint8", lambda: HammingNeighbors().fit(dG)),
        ("needs 3 bytes", lambda: HammingNeighbors(n_bits=20).fit(
            da.from_array(np.zeros((9, 2), np.uint8)))),
        ("3 features, but KernelNeighbors is expecting 4", lambda: kn.kneighbors(G[:2, :3])),
        ("3 features, but KernelNeighbors is expecting 4", lambda: kn.kneighbors(
            da.from_array(G[:, :3]))),
        ("16 bits", lambda: hn.kneighbors(bits[:3, :9])),
        ("16 bits", lambda: hn.kneighbors(da.from_array(bits[:, :9]))),
        ("k must be", lambda: kn.kneighbors(G[:2], 61)),
        ("radius", lambda: kn.radius_neighbors(G[:2], -1.0)),
        ("unknown chunk", lambda: kn.kneighbors(dG[dG[:, 0] > 0])),
    ]
    for match, fn in cases:
        before = _scheduled(client)
        with pytest.raises(ValueError, match=match):
            fn()
        assert not _scheduled(client) - before, match


def test_closed_client_is_a_clear_error():
    G = np.random.RandomState(6).randn(40, 3)
    with distributed.LocalCluster(n_workers=1, processes=False,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster):  # the current client, for the fit
            est = KernelNeighbors(n_neighbors=2).fit(da.from_array(G, chunks=10))
        with pytest.raises(ValueError, match="not running"):
            est.kneighbors(G[:2])
        with pytest.raises(ValueError, match="not running"):
            est.to_local()


# --------------------------------------------------------------------------- failures
def _exit_once(block, flag):
    """Kill the worker process the first time any process computes a block."""
    import os

    try:
        fd = os.open(flag, os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return block
    os.close(fd)
    os._exit(1)


def test_worker_killed_mid_search_is_retried_and_exact(tmp_path):
    rng = np.random.RandomState(7)
    bits = _tied_bits(rng, 2000, 32, n_distinct=80)
    queries = _tied_bits(rng, 40, 32, n_distinct=80)
    ref = HammingNeighbors(n_neighbors=15).fit(bits)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        est = HammingNeighbors(n_neighbors=15).fit(da.from_array(bits, chunks=300))
        # A query chunk kills its worker when first computed, in the middle of the search:
        # the shards that worker held are recomputed from their source and the tasks retried.
        dq = da.from_array(queries, chunks=10).map_blocks(
            _exit_once, str(tmp_path / "killed"), dtype=bool, meta=np.empty((0, 0), bool))
        dist, ind = est.kneighbors(dq)
        dist, ind = dist.compute(), ind.compute()
    assert (tmp_path / "killed").exists()
    np.testing.assert_array_equal(ind, ref.kneighbors(queries)[1])
    np.testing.assert_array_equal(dist, ref.kneighbors(queries)[0])
