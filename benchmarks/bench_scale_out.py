"""Weak scaling of the neighbours estimators on dask: 1 worker against 2, per worker.

    .venv/bin/python benchmarks/bench_scale_out.py [--codes-per-worker 1000000]
        [--vectors-per-worker 100000] [--repeat 3] [--no-warmup]

Needs the ``distributed`` extra. For 1 and then 2 workers (a ``LocalCluster`` of processes,
one thread each, ``NUMBA_NUM_THREADS=1``: one core per worker, so the comparison is fair on a
2-core machine), the gallery grows with the workers (weak scaling) and is generated on the
workers (it never exists on the client):

1. ``HammingNeighbors(n_neighbors=10).fit(codes)`` on ``--codes-per-worker`` random 64-bit
   codes per worker, in 4 shards per worker; the batch is 1000 NumPy queries.
2. ``KernelNeighbors(n_neighbors=10).fit(vectors)`` (Euclidean) on ``--vectors-per-worker``
   random 32-dimensional float32 vectors per worker, in 4 shards per worker; the batch is 250
   NumPy queries.

Each search is timed as every benchmark times (the median of ``--repeat`` batches after one
untimed warm-up batch). Per-worker throughput is (gallery rows x queries) / seconds / workers;
weak-scaling efficiency is the 2-worker per-worker throughput over the 1-worker one (1.0 is
perfect). The bytes each batch moves are read from the workers' own counter,
``Worker.transfer_outgoing_bytes_total`` (every byte a worker serves to another worker or to
the client: the per-shard top-k lists, the merges, the answer), summed over the workers
before and after one batch; the queries travel inside the task graph (their size is given
beside). The first 20 answers are checked against the in-process kernels on the gathered
gallery, after the timings.
"""

import argparse
import os
import time

import numpy as np
from _common import median_time, peer_env, start_run, timing_line, write_table

ENV_ONE_THREAD = peer_env(1)
SHARDS_PER_WORKER = 4
N_BYTES, N_DIMS, K = 8, 32, 10
N_QUERIES = {"hamming": 1000, "float": 250}


def _outgoing_bytes(client):
    return sum(client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total)
               .values())


def _measure(client, n_workers, kind, rows_per_worker, repeat, warmup):
    import dask.array as da

    from skdml.hashing import HammingNeighbors
    from skdml.kernels import hamming_knn, knn
    from skdml.neighbors import KernelNeighbors

    n = rows_per_worker * n_workers
    chunks = -(-n // (SHARDS_PER_WORKER * n_workers))
    rng = np.random.RandomState(1)
    gen = da.random.default_rng(0)
    if kind == "hamming":
        gallery = gen.integers(0, 256, size=(n, N_BYTES), chunks=(chunks, -1), dtype=np.uint8)
        queries = rng.randint(0, 256, (N_QUERIES[kind], N_BYTES)).astype(np.uint8)
        est = HammingNeighbors(n_neighbors=K)
    else:
        gallery = gen.standard_normal(size=(n, N_DIMS), chunks=(chunks, -1),
                                      dtype=np.float32)
        queries = rng.standard_normal((N_QUERIES[kind], N_DIMS)).astype(np.float32)
        est = KernelNeighbors(n_neighbors=K)
    start = time.perf_counter()
    est.fit(gallery)  # generated and persisted on the workers
    fit_seconds = time.perf_counter() - start
    assert est.is_distributed_
    seconds, _ = median_time(lambda: est.kneighbors(queries), repeat, warmup)
    before = _outgoing_bytes(client)
    dist, ind = est.kneighbors(queries)
    moved = _outgoing_bytes(client) - before
    full = est.to_local()  # only to check exactness, after the timings
    gal = full.codes_ if kind == "hamming" else full.gallery_
    if kind == "hamming":
        d_ref, i_ref = hamming_knn(queries[:20], gal, K)
        exact = np.array_equal(dist[:20], d_ref) and np.array_equal(ind[:20], i_ref)
    else:
        d_ref, i_ref = knn(queries[:20], gal, K)
        exact = np.array_equal(ind[:20], i_ref) and np.allclose(dist[:20], d_ref, rtol=1e-5)
    n_q = N_QUERIES[kind]
    return {
        "search": "Hamming, 64-bit codes" if kind == "hamming" else f"float32 kNN, d={N_DIMS}",
        "workers": n_workers, "gallery rows": n, "shards": gallery.numblocks[0],
        "queries": n_q, "fit s": fit_seconds, "s per batch": seconds,
        "Mpairs/s per worker": n * n_q / seconds / n_workers / 1e6,
        "bytes moved per batch": moved, "bytes per query": moved / n_q,
        "query bytes": queries.nbytes, "exact": "yes" if exact else "no",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes-per-worker", type=int, default=1_000_000)
    parser.add_argument("--vectors-per-worker", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-warmup", dest="warmup", action="store_false")
    args = parser.parse_args()
    os.environ.update(ENV_ONE_THREAD)  # the client's own kernels (the exactness check)
    start_run(threads=None, repeat=None, extra=[
        "threads: each dask worker is a process of 1 thread (NUMBA_NUM_THREADS=1, one "
        "BLAS/OpenMP thread), so n workers use n cores",
        timing_line(args.repeat, args.warmup) + " (one batch of NumPy queries per call)",
        f"gallery: {args.codes_per_worker:,} codes and {args.vectors_per_worker:,} vectors per "
        f"worker (weak scaling), {SHARDS_PER_WORKER} shards per worker, generated on the "
        f"workers; k = {K}"])
    from distributed import Client, LocalCluster

    import dask

    rows = []
    # dask's default (work stealing on) and a scheduler started without it: stealing may
    # move a task to an idle worker, and the task's shard with it
    for stealing in (True, False):
        for n_workers in (1, 2):
            with dask.config.set({"distributed.scheduler.work-stealing": stealing}), \
                    LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                 dashboard_address=":0", env=ENV_ONE_THREAD) as cluster, \
                    Client(cluster) as client:
                for kind, per_worker in (("hamming", args.codes_per_worker),
                                         ("float", args.vectors_per_worker)):
                    row = _measure(client, n_workers, kind, per_worker, args.repeat,
                                   args.warmup)
                    rows.append({"work stealing": "on" if stealing else "off", **row})
                    print(rows[-1], flush=True)
    for row in rows:
        one = next(r for r in rows if r["search"] == row["search"] and r["workers"] == 1
                   and r["work stealing"] == row["work stealing"])
        row["weak-scaling efficiency"] = (row["Mpairs/s per worker"]
                                          / one["Mpairs/s per worker"])
    write_table("scale_out", rows,
                ["search", "work stealing", "workers", "gallery rows", "shards", "queries",
                 "fit s", "s per batch", "Mpairs/s per worker", "weak-scaling efficiency",
                 "bytes moved per batch", "bytes per query", "query bytes", "exact"],
                note="bytes moved: the workers' transfer_outgoing_bytes_total over one batch "
                "(shard top-k lists to the merges, the answer to the client); query bytes: "
                "the NumPy batch, sent inside the task graph to each worker holding a shard")
    write_table("scale_out_estimate",
                billion_code_estimate([r for r in rows if r["work stealing"] == "off"]),
                ["quantity", "value", "from"],
                note="a gallery of 10^9 64-bit codes (8 GB) in 63 shards of 16 M codes on 8 "
                "workers of 8 threads (64 cores), 1000 queries per batch, k = 10; computed "
                "by this run from its weak-scaling rows without work stealing")


#: The estimate's cluster: 10^9 codes in shards of 16 M codes, one per core of 64.
BILLION, CORES, SHARDS_1E9, MERGES_1E9 = 10**9, 64, 63, 8


def billion_code_estimate(rows):
    """The 10^9-code estimate of docs/scaling.rst from the Hamming rows of the run."""
    one, two = (next(r for r in rows if r["search"].startswith("Hamming") and r["workers"] == w)
                for w in (1, 2))
    pairs = BILLION * one["queries"]
    list_bytes = one["queries"] * K * 12  # a 4-byte distance and an 8-byte index per entry
    fetched = max(two["bytes moved per batch"] - one["bytes moved per batch"], 0) / (
        two["shards"] * list_bytes)
    lists = SHARDS_1E9 + MERGES_1E9
    return [
        {"quantity": "s per batch on 64 cores, 1-worker throughput",
         "value": pairs / (CORES * one["Mpairs/s per worker"] * 1e6),
         "from": "Mpairs/s per worker, Hamming, 1 worker"},
        {"quantity": "s per batch on 64 cores, 2-worker throughput (as loaded as this run)",
         "value": pairs / (CORES * two["Mpairs/s per worker"] * 1e6),
         "from": "Mpairs/s per worker, Hamming, 2 workers"},
        {"quantity": "fraction of shard lists fetched from another worker",
         "value": fetched,
         "from": "bytes moved per batch, 2 workers less 1 worker, over the 2-worker shards' "
                 "lists"},
        {"quantity": "MB moved per batch (shard lists at that fraction, plus the answer)",
         "value": (fetched * lists + 1) * list_bytes / 1e6,
         "from": f"{lists} lists of {list_bytes:,} bytes ({SHARDS_1E9} shards, "
                 f"{MERGES_1E9} merges)"},
        {"quantity": "MB moved per batch at most (every list fetched)",
         "value": (lists + 1) * list_bytes / 1e6, "from": "the same lists, all fetched"},
        {"quantity": "query bytes sent to the 8 workers per batch",
         "value": 8 * one["query bytes"], "from": "query bytes x 8 workers"},
    ]


if __name__ == "__main__":
    main()
