"""Distance kernels against scikit-learn and SciPy, measured in the same run.

1. Euclidean, 5000 x 5000 x 64 float64: ``skdml.kernels.pairwise_distances`` against
   ``sklearn.metrics.pairwise_distances`` (BLAS; the installed scikit-learn). Target <= 1.2x.
2. Mahalanobis with a full PSD ``M``, 5000 x 5000 x 64: ours (factor ``M`` once, map the
   data, Euclidean path) against ``scipy.spatial.distance.cdist(..., 'mahalanobis', VI=M)``
   and against sklearn on the data transformed by ``L`` (transform included). cdist takes
   about 30 s at full size, so it is timed on the first 500 rows of X (against all 5000 of
   Y) and scaled by 10, as printed; the results are compared on those rows. Targets: >= 100x
   faster than cdist, <= 1.3x sklearn-on-transformed.
3. kNN top-10, 10,000 queries x 100,000 points, d=64: peak memory of ``knn`` (tracemalloc:
   every NumPy allocation made during the call) and its time, with scikit-learn's
   brute-force ``NearestNeighbors.kneighbors`` time beside it (its buffers are C++
   allocations tracemalloc does not see). Target: peak < 500 MB.

Every contender runs on the same threads (``--threads``, default 1: BLAS, OpenMP and numba)
and is timed the same way: the median of ``--repeat`` calls after one untimed warm-up call
(which also compiles skdml's numba kernels).

Run: .venv/bin/python benchmarks/bench_kernels.py [--threads 1] [--repeat 3] [--no-warmup]
"""

import os
import sys
import tracemalloc

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.metrics import pairwise_distances as sk_pairwise
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, os.path.dirname(__file__))
from _common import (  # noqa: E402
    median_time, protocol_parser, start_run, thread_settings, write_table,
)

from skdml.kernels import knn, pairwise_distances  # noqa: E402


def peak_memory(fn):
    """(result, peak bytes of the allocations traced while fn() runs)."""
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def main():
    args = protocol_parser(__doc__).parse_args()
    start_run(threads=args.threads, repeat=args.repeat, warmup=args.warmup)
    with thread_settings(args.threads):
        run(args)


def run(args):
    rng = np.random.default_rng(0)

    def timed(fn, repeat=args.repeat):
        return median_time(fn, repeat, args.warmup)

    # ---- 3. kNN first, before the big matrices are allocated
    n_q, n_db, d, k = 10_000, 100_000, 64, 10
    Xq = rng.standard_normal((n_q, d))
    Xdb = rng.standard_normal((n_db, d))
    knn(Xq[:5], Xdb[:1000], k)  # compile before tracing the memory
    (dist, ind), peak = peak_memory(lambda: knn(Xq, Xdb, k))
    t_knn, _ = timed(lambda: knn(Xq, Xdb, k))
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(Xdb)
    sk_dist, sk_ind = nn.kneighbors(Xq[:2000])
    t_sk, _ = timed(lambda: nn.kneighbors(Xq))
    agree = np.allclose(dist[:2000], sk_dist, rtol=1e-6) and np.mean(ind[:2000] == sk_ind) > 0.999
    print(f"== kNN top-{k}: {n_q:,} queries x {n_db:,} points, d={d}")
    write_table(
        "kernels_knn",
        [
            {"contender": "skdml knn", "time_s": t_knn, "peak MB": peak / 2**20,
             "time / skdml": 1.0},
            {"contender": "sklearn NearestNeighbors (brute)", "time_s": t_sk,
             "peak MB": "not traced (C++ buffers)", "time / skdml": t_sk / t_knn},
        ],
        ["contender", "time_s", "peak MB", "time / skdml"],
        note=f"inputs {(Xq.nbytes + Xdb.nbytes) / 2**20:.0f} MB; peak: every NumPy allocation "
        f"during the call (tracemalloc); same neighbors as "
        f"scikit-learn on the first 2000 queries: {'yes' if agree else 'no'}")
    del Xq, Xdb, dist, ind, nn

    # ---- 1. Euclidean
    n, d = 5000, 64
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, d))
    pairwise_distances(X[:10], Y[:10])  # compile
    t_ours, D_ours = timed(lambda: pairwise_distances(X, Y))
    t_sk, D_sk = timed(lambda: sk_pairwise(X, Y))
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    t_ours32, _ = timed(lambda: pairwise_distances(X32, Y32))
    t_sk32, _ = timed(lambda: sk_pairwise(X32, Y32))
    print(f"== Euclidean {n} x {n} x {d}")
    write_table(
        "kernels_euclidean",
        [
            {"dtype": "float64", "skdml s": t_ours, "sklearn s": t_sk,
             "skdml/sklearn": t_ours / t_sk,
             "max |diff|": float(np.abs(D_ours - D_sk).max())},
            {"dtype": "float32", "skdml s": t_ours32, "sklearn s": t_sk32,
             "skdml/sklearn": t_ours32 / t_sk32, "max |diff|": ""},
        ],
        ["dtype", "skdml s", "sklearn s", "skdml/sklearn", "max |diff|"],
        note="scikit-learn upcasts float32 to float64 in chunks; skdml computes in float32",
    )
    del D_ours, D_sk

    # ---- 2. Mahalanobis
    A = rng.standard_normal((d, d))
    M = A @ A.T + 1e-3 * np.eye(d)  # full, positive definite
    L = np.linalg.cholesky(M).T  # M = L.T @ L
    t_ours, D_ours = timed(lambda: pairwise_distances(X, Y, metric="mahalanobis", M=M))
    t_L, _ = timed(lambda: pairwise_distances(X, Y, metric="mahalanobis", L=L))
    t_skL, D_skL = timed(lambda: sk_pairwise(X @ L.T, Y @ L.T))
    rows = 500
    t_cd, D_cd = timed(lambda: cdist(X[:rows], Y, "mahalanobis", VI=M))
    t_cd_full = t_cd * n / rows
    rel = float(np.max(np.abs(D_ours[:rows] - D_cd) / np.maximum(D_cd, 1e-12)))
    print(f"== Mahalanobis {n} x {n} x {d}, full M")
    write_table(
        "kernels_mahalanobis",
        [
            {"contender": "skdml, given M (Cholesky + transform + Euclidean)", "time s": t_ours,
             "cdist / skdml": t_cd_full / t_ours, "skdml / sklearn-on-L": t_ours / t_skL},
            {"contender": "skdml, given L", "time s": t_L, "cdist / skdml": t_cd_full / t_L,
             "skdml / sklearn-on-L": t_L / t_skL},
            {"contender": "sklearn on X @ L.T (transform included)", "time s": t_skL},
            {"contender": f"scipy cdist 'mahalanobis' ({rows} rows x 10)", "time s": t_cd_full},
        ],
        ["contender", "time s", "cdist / skdml", "skdml / sklearn-on-L"],
        note=f"cdist timed on {rows} of the {n} rows ({t_cd:.3g} s) and scaled by "
        f"{n // rows}; max relative difference from cdist on those rows: {rel:.2g}",
    )


if __name__ == "__main__":
    main()
