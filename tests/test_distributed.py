"""skdml.distributed: sharded / out-of-core exact search, dask transform, dask grid search."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_validate  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from skdml import NCA, Covariance  # noqa: E402
from skdml.distributed import (  # noqa: E402
    chunked_hamming_knn,
    chunked_knn,
    dask_transform,
    sharded_hamming_knn,
    sharded_knn,
    worker_numba_threads,
)
from skdml.kernels import hamming_knn, knn  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as c:
            yield c


def _codes(rng, n, n_bytes, n_distinct=None):
    if n_distinct is None:
        return rng.randint(0, 256, (n, n_bytes)).astype(np.uint8)
    pool = rng.randint(0, 256, (n_distinct, n_bytes)).astype(np.uint8)
    return pool[rng.randint(0, n_distinct, n)]  # many duplicates: many tied distances


# --------------------------------------------------------------------------- Hamming
@pytest.mark.parametrize("n_bytes", [1, 8, 12])
@pytest.mark.parametrize("chunks", [7, 113, 1000])
def test_sharded_hamming_equals_single_machine(client, n_bytes, chunks):
    rng = np.random.RandomState(n_bytes + chunks)
    gallery = _codes(rng, 1000, n_bytes, n_distinct=40)  # duplicate distances everywhere
    queries = _codes(rng, 37, n_bytes)
    k = 25  # larger than a 7-row shard
    d_ref, i_ref = hamming_knn(queries, gallery, k)
    d, i = sharded_hamming_knn(queries, da.from_array(gallery, chunks=(chunks, -1)), k,
                               client=client)
    np.testing.assert_array_equal(d, d_ref)
    np.testing.assert_array_equal(i, i_ref)


def test_sharded_hamming_uneven_chunks_and_column_chunks(client):
    rng = np.random.RandomState(0)
    gallery = _codes(rng, 500, 16, n_distinct=10)
    queries = _codes(rng, 5, 16)
    dg = da.from_array(gallery, chunks=((1, 250, 0, 3, 246), (8, 8)))
    d, i = sharded_hamming_knn(queries, dg, 500, client=client)  # k = the whole gallery
    d_ref, i_ref = hamming_knn(queries, gallery, 500)
    np.testing.assert_array_equal(d, d_ref)
    np.testing.assert_array_equal(i, i_ref)


def test_sharded_without_client_uses_local_scheduler(tmp_path):
    rng = np.random.RandomState(1)
    gallery = _codes(rng, 300, 8, n_distinct=20)
    np.save(tmp_path / "g.npy", gallery)
    mm = np.load(tmp_path / "g.npy", mmap_mode="r")
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0"):
        pass  # no default client is left behind
    d, i = sharded_hamming_knn(gallery[:4], da.from_array(mm, chunks=(41, -1)), 9)
    d_ref, i_ref = hamming_knn(gallery[:4], gallery, 9)
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_array_equal(d, d_ref)


# --------------------------------------------------------------------------- real vectors
@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine", "manhattan",
                                    "mahalanobis"])
def test_sharded_knn_equals_single_machine(client, metric):
    rng = np.random.RandomState(3)
    gallery = rng.randn(400, 6)
    queries = rng.randn(11, 6)
    kw = {}
    if metric == "mahalanobis":
        A = rng.randn(6, 6)
        kw["M"] = A @ A.T
    d_ref, i_ref = knn(queries, gallery, 30, metric=metric, **kw)
    d, i = sharded_knn(queries, da.from_array(gallery, chunks=(17, 6)), 30, metric=metric,
                       client=client, **kw)
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, rtol=1e-10, atol=1e-12)


def test_sharded_knn_ties_by_global_index(client):
    # Integer coordinates: every distance is exact, so ties are real ties.
    rng = np.random.RandomState(4)
    gallery = rng.randint(0, 3, (301, 2)).astype(np.float32)
    queries = rng.randint(0, 3, (9, 2)).astype(np.float32)
    d_ref, i_ref = knn(queries, gallery, 40, metric="manhattan")
    d, i = sharded_knn(queries, da.from_array(gallery, chunks=(13, 2)), 40,
                       metric="manhattan", client=client)
    assert d.dtype == np.float32
    np.testing.assert_array_equal(d, d_ref)
    np.testing.assert_array_equal(i, i_ref)
    # The tie rule itself: within equal distances, increasing index.
    for row_d, row_i in zip(d, i):
        for a in range(len(row_d) - 1):
            assert (row_d[a], row_i[a]) < (row_d[a + 1], row_i[a + 1])


# --------------------------------------------------------------------------- out of core
def test_chunked_search_on_memmap_equals_in_memory(tmp_path):
    rng = np.random.RandomState(5)
    codes = _codes(rng, 2000, 8, n_distinct=50)
    vecs = rng.randn(2000, 5).astype(np.float32)
    np.save(tmp_path / "codes.npy", codes)
    np.save(tmp_path / "vecs.npy", vecs)
    mc = np.load(tmp_path / "codes.npy", mmap_mode="r")
    mv = np.load(tmp_path / "vecs.npy", mmap_mode="r")
    for n, chunk in ((60, 1), (2000, 333), (2000, 5000)):
        d, i = chunked_hamming_knn(codes[:7], mc[:n], 15, chunk_size=chunk)
        d_ref, i_ref = hamming_knn(codes[:7], codes[:n], 15)
        np.testing.assert_array_equal(d, d_ref)
        np.testing.assert_array_equal(i, i_ref)
    d, i = chunked_knn(vecs[:7], mv, 15, chunk_size=333)
    d_ref, i_ref = knn(vecs[:7], vecs, 15)
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, rtol=1e-5)


def test_chunked_search_memory_is_bounded_by_chunk(tmp_path):
    import tracemalloc

    rng = np.random.RandomState(6)
    n, n_bytes = 400_000, 8  # a 3.2 MB gallery, read 10,000 rows (80 kB) at a time
    np.save(tmp_path / "g.npy", rng.randint(0, 256, (n, n_bytes)).astype(np.uint8))
    mm = np.load(tmp_path / "g.npy", mmap_mode="r")
    queries = np.ascontiguousarray(mm[:20])
    chunked_hamming_knn(queries, mm, 5, chunk_size=10_000)  # compile outside the trace
    tracemalloc.start()
    chunked_hamming_knn(queries, mm, 5, chunk_size=10_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.25 * n * n_bytes, peak


# --------------------------------------------------------------------------- transform
def test_dask_transform_matches_transform(client):
    X, y = load_iris(return_X_y=True)
    est = NCA(n_components=2, random_state=0, max_iter=300).fit(X, y)
    dX = da.from_array(X, chunks=(37, 2))  # chunked across columns too
    Z = dask_transform(est, dX)
    assert Z.shape == (150, 2) and Z.chunks[0] == dX.chunks[0]
    np.testing.assert_allclose(client.compute(Z).result(), est.transform(X), rtol=1e-12)
    # The estimator is one key of the graph, whatever the number of chunks.
    graph = dict(Z.__dask_graph__())
    est_keys = [k for k, v in graph.items() if v is est or getattr(v, "value", None) is est]
    assert len(est_keys) == 1


def test_dask_transform_unknown_row_chunks(client):
    X, y = load_iris(return_X_y=True)
    est = Covariance().fit(X)
    dX = da.from_array(X, chunks=(50, 4))
    dX = dX[dX[:, 0] > 5.0]  # unknown row chunk sizes
    Z = dask_transform(est, dX).compute()
    np.testing.assert_allclose(Z, est.transform(X[X[:, 0] > 5.0]))


# --------------------------------------------------------------------------- grid search
def test_grid_search_on_dask_equals_local(client):
    from joblib import parallel_backend

    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(NCA(random_state=0, max_iter=200), KNeighborsClassifier())
    grid = {"nca__n_components": [1, 2], "kneighborsclassifier__n_neighbors": [1, 5]}
    local = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    with parallel_backend("dask"):
        remote = GridSearchCV(pipe, grid, cv=3, n_jobs=-1).fit(X, y)
        cv = cross_validate(pipe, X, y, cv=3, n_jobs=-1)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(cv["test_score"],
                                  cross_validate(pipe, X, y, cv=3)["test_score"])


def test_worker_numba_threads(client):
    threads = worker_numba_threads(client)
    assert len(threads) == 2 and all(t >= 1 for t in threads.values())


# --------------------------------------------------------------------------- bad input
def _never_scheduled(client, fn):
    """Run ``fn`` (expected to raise) and check no task reached the scheduler."""
    def keys(dask_scheduler):
        return set(dask_scheduler.tasks)

    before = client.run_on_scheduler(keys)
    fn()
    assert not client.run_on_scheduler(keys) - before


def test_bad_input_fails_before_scheduling(client):
    rng = np.random.RandomState(7)
    codes = _codes(rng, 100, 8)
    dg = da.from_array(codes, chunks=(30, -1))
    cases = [
        (ValueError, "bytes", lambda: sharded_hamming_knn(codes[:3, :4], dg, 3, client=client)),
        (ValueError, "uint8", lambda: sharded_hamming_knn(
            codes[:3], dg.astype(np.int64), 3, client=client)),
        (ValueError, "k must be", lambda: sharded_hamming_knn(codes[:3], dg, 101,
                                                               client=client)),
        (ValueError, "k must be", lambda: sharded_hamming_knn(codes[:3], dg, 0, client=client)),
        (ValueError, "unknown chunk", lambda: sharded_hamming_knn(
            codes[:3], dg[dg[:, 0] > 3], 3, client=client)),
        (TypeError, "dask.array", lambda: sharded_hamming_knn(codes[:3], codes, 3,
                                                               client=client)),
        (ValueError, "features", lambda: sharded_knn(
            rng.randn(2, 3), da.from_array(rng.randn(50, 4), chunks=10), 3, client=client)),
        (ValueError, "float32 or float64", lambda: sharded_knn(
            rng.randn(2, 4), da.from_array(np.ones((50, 4), int), chunks=10), 3,
            client=client)),
        (ValueError, "n_threads", lambda: sharded_hamming_knn(codes[:3], dg, 3, client=client,
                                                               n_threads=0)),
        (ValueError, "metric", lambda: sharded_knn(
            rng.randn(2, 4), da.from_array(rng.randn(50, 4), chunks=10), 3, metric="foo",
            client=client)),
    ]
    for exc, match, fn in cases:
        def run(fn=fn, exc=exc, match=match):
            with pytest.raises(exc, match=match):
                fn()
        _never_scheduled(client, run)


def test_closed_client_is_a_clear_error():
    codes = _codes(np.random.RandomState(8), 50, 8)
    with distributed.LocalCluster(n_workers=1, processes=False,
                                  dashboard_address=":0") as cluster:
        c = distributed.Client(cluster)
        c.close()
        with pytest.raises(ValueError, match="not running"):
            sharded_hamming_knn(codes[:2], da.from_array(codes, chunks=10), 2, client=c)
        with pytest.raises(ValueError, match="not running"):
            worker_numba_threads(c)


def test_dask_transform_bad_input():
    X, y = load_iris(return_X_y=True)
    est = Covariance().fit(X)
    with pytest.raises(ValueError, match="features"):
        dask_transform(est, da.from_array(X[:, :3], chunks=50))
    with pytest.raises(TypeError, match="dask.array"):
        dask_transform(est, X)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        dask_transform(Covariance(), da.from_array(X, chunks=50))


def test_chunked_bad_input(tmp_path):
    codes = _codes(np.random.RandomState(9), 20, 8)
    with pytest.raises(ValueError, match="chunk_size"):
        chunked_hamming_knn(codes[:2], codes, 2, chunk_size=0)
    with pytest.raises(ValueError, match="k must be"):
        chunked_hamming_knn(codes[:2], codes, 21)
    with pytest.raises(ValueError, match="uint8"):
        chunked_hamming_knn(codes[:2], codes.astype(np.float32), 2)
    with pytest.raises(ValueError, match="features"):
        chunked_knn(np.ones((2, 3)), np.ones((20, 4)), 2)


# --------------------------------------------------------------------------- deep, DDP
def test_data_parallel_training_matches_single_process():
    torch = pytest.importorskip("torch")
    from sklearn.datasets import load_digits

    from skdml.deep import DeepMetricLearner, HardMiner, TripletMarginLoss
    from skdml.distributed import fit_data_parallel

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, y_train, X_test, y_test = X[:450], y[:450], X[450:700], y[450:700]
    # An odd global batch (uneven shares) and a miner, which must see the global batch.
    params = dict(loss=TripletMarginLoss, miner=HardMiner, batch_size=45, max_epochs=3,
                  lr=3e-3, random_state=0)
    threads = torch.get_num_threads()
    single = DeepMetricLearner(**params).fit(X_train, y_train)
    est = DeepMetricLearner(**params)
    assert fit_data_parallel(est, X_train, y_train, n_processes=2) is est
    assert torch.get_num_threads() == threads
    a = np.array(single.history[:, "batches", :, "train_loss"], dtype=float)
    b = np.array(est.history[:, "batches", :, "train_loss"], dtype=float)
    assert a.shape == b.shape and a.size >= 20
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    assert not np.allclose(a[0], a[-1])  # it trained
    np.testing.assert_allclose(est.transform(X_test), single.transform(X_test), atol=1e-4)
    assert est.random_state == 0 and type(est) is DeepMetricLearner
    Z_train, Z_test = est.transform(X_train), est.transform(X_test)
    acc = KNeighborsClassifier(3).fit(Z_train, y_train).score(Z_test, y_test)
    assert acc > 0.8, acc  # three epochs of batch-hard triplets; chance is 0.1


def test_data_parallel_bad_input():
    pytest.importorskip("torch")
    from skdml.deep import DeepMetricLearner
    from skdml.distributed import fit_data_parallel

    X, y = load_iris(return_X_y=True)
    with pytest.raises(TypeError, match="deep learners"):
        fit_data_parallel(NCA(), X, y)
    with pytest.raises(ValueError, match="n_processes"):
        fit_data_parallel(DeepMetricLearner(), X, y, n_processes=0)
    with pytest.raises(ValueError, match="backend"):
        fit_data_parallel(DeepMetricLearner(), X, y, backend="mpi")
    with pytest.raises(ValueError, match="batch_size"):
        fit_data_parallel(DeepMetricLearner(batch_size=1), X, y)
    with pytest.raises(ValueError, match="samples"):
        fit_data_parallel(DeepMetricLearner(), X, y[:-1])
    with pytest.raises(ValueError, match="nccl"):
        fit_data_parallel(DeepMetricLearner(), X, y, backend="nccl")


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
    rng = np.random.RandomState(10)
    codes = _codes(rng, 3000, 8, n_distinct=100)
    queries = _codes(rng, 6, 8)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        base = da.from_array(codes, chunks=(700, -1))
        # The gallery's source recomputes a lost shard; the first shard computed kills its
        # worker, which dask notices, restarts and retries elsewhere.
        gallery = base.map_blocks(_exit_once, str(tmp_path / "killed"), dtype=np.uint8,
                                  meta=np.empty((0, 0), np.uint8))
        d, i = sharded_hamming_knn(queries, gallery, 20, client=c)
    assert (tmp_path / "killed").exists()
    d_ref, i_ref = hamming_knn(queries, codes, 20)
    np.testing.assert_array_equal(d, d_ref)
    np.testing.assert_array_equal(i, i_ref)
