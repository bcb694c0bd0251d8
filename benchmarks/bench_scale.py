"""Scale-out: grid search and sharded Hamming search on dask, against serial and faiss.

    .venv/bin/python benchmarks/bench_scale.py [--n-codes 10000000] [--repeat 3]
                                         [--no-warmup] [--only grid|hamming]

Needs the ``distributed`` extra (``pip install 'skdml[distributed]'``). Every configuration
runs in a fresh subprocess of this script, so the peak memory (``ru_maxrss``) printed for the
client and for each dask worker is that configuration's own.

1. Grid search of LMNN + 3-fold cross-validated kNN on digits (70 % train split of the
   ANCHORS.md protocol; 2 x 2 grid, 12 fits): serial (``n_jobs=1``), joblib-local
   (``n_jobs=2``, loky processes), and a 2-worker ``LocalCluster`` (processes, one thread each,
   ``NUMBA_NUM_THREADS=1``) under ``joblib.parallel_backend("dask")``; each after a warm-up
   (worker processes started, skdml imported, numba's cached kernels loaded). The best parameters
   and score must be those of the serial run. (metric-learn's LMNN takes ~22 s per fit here,
   so no peer grid search is run: the ratio is against our own serial run.)
2. Exact Hamming top-10 of 1000 queries over ``--n-codes`` random 64-bit codes, generated on
   the workers (the gallery never exists on the client) in 16 shards: a 1-worker and a
   2-worker ``LocalCluster`` (one thread each), against faiss ``IndexBinaryFlat`` with 1 and 2
   OpenMP threads on a gallery of the same size, and against our own in-process
   ``hamming_knn`` (no dask). The first 50 queries are checked against a single-machine
   search over the gathered gallery (after the memory is read).

The number of cores is the variable here: in each row skdml and faiss get the same number of
cores (dask workers of one thread each; ``hamming_knn`` and faiss with that many numba/OpenMP
threads), and every search is timed the same way (the median of ``--repeat`` searches after
one untimed warm-up search). The serial grid search runs on one BLAS/OpenMP/numba thread.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

from _common import (
    digits_split, median_time, peer_env, run_peer, start_run, thread_settings, timing_line,
    write_table,
)

ENV_ONE_THREAD = peer_env(1)


def _rss_mb():
    """Peak resident memory of this process since it started its program (MB).

    ``VmHWM`` of the new program's memory map: ``ru_maxrss`` would also count the parent's
    resident memory at the time of the fork (Linux carries it across ``exec``), which is
    large when ``python -m skdml benchmark`` has run other families first.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_rss(client):
    return sorted(round(v) for v in client.run(_rss_mb).values())


# --------------------------------------------------------------------------- grid search
def _warm_up():
    """Import skdml and load LMNN's compiled kernels in this process (numba's disk cache)."""
    import warnings

    import numpy as np

    from skdml import LMNN

    rng = np.random.RandomState(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LMNN(max_iter=2).fit(rng.randn(30, 4), np.repeat([0, 1, 2], 10))
    return True


def grid_search(mode):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    from skdml import LMNN

    warnings.simplefilter("ignore", ConvergenceWarning)
    X_train, _, y_train, _ = digits_split()
    pipe = make_pipeline(LMNN(n_neighbors=3, random_state=0), KNeighborsClassifier())
    grid = {"lmnn__n_components": [16, 32], "kneighborsclassifier__n_neighbors": [1, 3]}
    out = {}
    if mode == "dask":
        from distributed import Client, LocalCluster
        from joblib import parallel_backend

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=":0", env=ENV_ONE_THREAD) as cluster, \
                Client(cluster) as client:
            from skdml.distributed import worker_numba_threads

            out["worker numba threads"] = sorted(worker_numba_threads(client).values())
            client.run(_warm_up)  # imports and numba's cache load, as in the loky run
            start = time.perf_counter()
            with parallel_backend("dask"):
                gs = GridSearchCV(pipe, grid, cv=3, n_jobs=-1).fit(X_train, y_train)
            out["seconds"] = time.perf_counter() - start
            out["workers MB"] = _worker_rss(client)
    else:
        n_jobs = 1 if mode == "serial" else 2
        if n_jobs > 1:  # start the loky workers (reused by the timed run), as for dask
            from joblib import Parallel, delayed

            Parallel(n_jobs=n_jobs)(delayed(_warm_up)() for _ in range(n_jobs))
            start = time.perf_counter()
            gs = GridSearchCV(pipe, grid, cv=3, n_jobs=n_jobs).fit(X_train, y_train)
            out["seconds"] = time.perf_counter() - start
        else:
            with thread_settings(1):
                _warm_up()
                start = time.perf_counter()
                gs = GridSearchCV(pipe, grid, cv=3, n_jobs=n_jobs).fit(X_train, y_train)
                out["seconds"] = time.perf_counter() - start
    out["best_params"] = gs.best_params_
    out["best_score"] = gs.best_score_
    out["scores"] = gs.cv_results_["mean_test_score"].tolist()
    out["client MB"] = _rss_mb()
    return out


# --------------------------------------------------------------------------- Hamming
def hamming(n_workers, n_codes, repeat, warmup):
    import dask.array as da
    import numpy as np
    from distributed import Client, LocalCluster, wait

    from skdml.distributed import sharded_hamming_knn
    from skdml.kernels import hamming_knn

    rng = np.random.RandomState(1)
    queries = rng.randint(0, 256, (1000, 8)).astype(np.uint8)
    out = {}
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", env=ENV_ONE_THREAD) as cluster, \
            Client(cluster) as client:
        gallery = da.random.default_rng(0).integers(
            0, 256, size=(n_codes, 8), chunks=(-(-n_codes // 16), 8), dtype=np.uint8)
        gallery = gallery.persist()
        wait(gallery)
        seconds, (dist, ind) = median_time(
            lambda: sharded_hamming_knn(queries, gallery, 10, client=client), repeat, warmup)
        out["seconds"] = seconds
        out["workers MB"] = _worker_rss(client)
        out["client MB"] = _rss_mb()
        full = gallery.compute()  # only to check exactness, after the memory was read
        d_ref, i_ref = hamming_knn(queries[:50], full, 10)
        out["exact"] = bool(np.array_equal(dist[:50], d_ref) and np.array_equal(ind[:50], i_ref))
        out["checksum"] = int(ind.sum() % 1_000_003)
    return out


def local_hamming(n_codes, repeat, warmup, threads):
    import numpy as np

    from skdml.kernels import hamming_knn

    rng = np.random.RandomState(1)
    queries = rng.randint(0, 256, (1000, 8)).astype(np.uint8)
    gallery = np.random.default_rng(0).integers(0, 256, (n_codes, 8), dtype=np.uint8)
    with thread_settings(threads):
        seconds, _ = median_time(lambda: hamming_knn(queries, gallery, 10), repeat, warmup)
    return {"seconds": seconds, "client MB": _rss_mb()}


FAISS = """
import json
import numpy as np
import faiss
from _common import median_time
faiss.omp_set_num_threads(PARAMS["threads"])
rng = np.random.RandomState(1)
q = rng.randint(0, 256, (1000, 8)).astype(np.uint8)
g = np.random.default_rng(0).integers(0, 256, (PARAMS["n"], 8), dtype=np.uint8)
index = faiss.IndexBinaryFlat(64)
index.add(g)
seconds, _ = median_time(lambda: index.search(q, 10), PARAMS["repeat"], PARAMS["warmup"])
print(json.dumps({"seconds": seconds, "threads": faiss.omp_get_max_threads()}))
"""


# --------------------------------------------------------------------------- driver
def _run_one(argv):
    proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-codes", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-warmup", dest="warmup", action="store_false")
    parser.add_argument("--only", choices=["grid", "hamming"], default=None,
                        help="run one part only")
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, arg = args.one[0], args.one[1]
        if kind == "grid":
            result = grid_search(arg)
        elif kind == "hamming":
            result = hamming(int(arg), args.n_codes, args.repeat, args.warmup)
        else:
            result = local_hamming(args.n_codes, args.repeat, args.warmup, int(arg))
        print(json.dumps(result))
        return

    start_run(threads=None, repeat=None, extra=[
        "threads: dask workers are processes of 1 thread each (NUMBA_NUM_THREADS=1, one "
        "BLAS/OpenMP thread); in-process hamming_knn and faiss get as many threads as the "
        "row's cores; the serial grid search runs on 1 thread",
        timing_line(args.repeat, args.warmup) + " (Hamming search; the grid searches are "
        "timed once, each after a warm-up of its workers)"])
    if args.only != "hamming":
        _grid_part()
    if args.only != "grid":
        _hamming_part(args)


def _grid_part():
    print("== 1. GridSearchCV(LMNN + kNN), digits train split, 2x2 grid, cv=3 (12 fits)")
    runs = {mode: _run_one(["--one", "grid", mode]) for mode in ("serial", "joblib", "dask")}
    serial = runs["serial"]
    rows = []
    for label, mode in (("serial (n_jobs=1)", "serial"), ("joblib-local (loky, n_jobs=2)",
                                                         "joblib"),
                        ("dask LocalCluster 2 workers", "dask")):
        r = runs[mode]
        rows.append({
            "run": label, "seconds": r["seconds"],
            "speed-up vs serial": serial["seconds"] / r["seconds"],
            "best_params same": "yes" if r["best_params"] == serial["best_params"] else "no",
            "scores same": "yes" if r["scores"] == serial["scores"] else "no",
            "best score": r["best_score"], "client MB": round(r["client MB"]),
            "workers MB": r.get("workers MB", "-"),
        })
    write_table("scale_grid", rows, ["run", "seconds", "speed-up vs serial", "best_params same",
                                     "scores same", "best score", "client MB", "workers MB"],
                note=f"best_params: {serial['best_params']}; numba threads in a dask task: "
                f"{runs['dask']['worker numba threads']}")


def _hamming_part(args):
    n = args.n_codes
    print(f"== 2. Exact Hamming top-10: {n:,} 64-bit codes in 16 shards, 1000 queries")
    timing = ["--n-codes", str(n), "--repeat", str(args.repeat)]
    timing += [] if args.warmup else ["--no-warmup"]
    h = {w: _run_one(["--one", "hamming", str(w), *timing]) for w in (1, 2)}
    loc = {t: _run_one(["--one", "local", str(t), *timing]) for t in (1, 2)}
    faiss = {t: run_peer(FAISS, threads=t, params={"n": n, "threads": t, "repeat": args.repeat,
                                                   "warmup": args.warmup}) for t in (1, 2)}
    rows = []
    for w in (1, 2):
        r = h[w]
        row = {"cores": w, "skdml dask s": r["seconds"],
               "Gpairs/s": n * 1000 / r["seconds"] / 1e9,
               "in-process hamming_knn s": loc[w]["seconds"],
               "exact": "yes" if r["exact"] else "no", "client MB": round(r["client MB"]),
               "workers MB": r["workers MB"]}
        row["faiss s"] = faiss[w].cell("seconds")
        if faiss[w].measured:
            row["faiss / skdml-dask"] = faiss[w]["seconds"] / r["seconds"]
        rows.append(row)
    reasons = [f"faiss ({t} threads) not measured: {p.reason}" for t, p in faiss.items()
               if not p.measured]
    write_table("scale_hamming", rows,
                ["cores", "skdml dask s", "Gpairs/s", "in-process hamming_knn s", "faiss s",
                 "faiss / skdml-dask", "exact", "client MB", "workers MB"],
                note="; ".join([
                    f"speed-up 2 workers vs 1: {h[1]['seconds'] / h[2]['seconds']:.2f}; same "
                    "indices with 1 and 2 workers: "
                    f"{'yes' if h[1]['checksum'] == h[2]['checksum'] else 'no'}", *reasons]))


if __name__ == "__main__":
    main()
