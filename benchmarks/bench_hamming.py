"""Hamming top-10 search: skdml against faiss IndexBinaryFlat, in the same run.

1,000,000 random database codes and 1000 random queries (fixed seed) at 64, 128 and 256 bits,
k=10, all cores (faiss: OpenMP, skdml: numba threads). The codes are written to temporary
.npy files that the faiss peer (in .venv-peers) loads, so both sides search the very same
bits. Reports the search time (index/database construction excluded on both sides; skdml's
functional ``hamming_knn``, which re-lays out the database on every call, is shown too),
throughput in G pairs/s, the ratio faiss time / skdml time (>= 1 means skdml is at least as
fast), and checks that the distances are identical and the neighbor sets equal up to ties at
the k-th distance. NumPy ``bitwise_count``, one query at a time, is a second reference
(measured on the first 100 queries and scaled to 1000, as printed).

Run: .venv/bin/python benchmarks/bench_hamming.py
"""

import os
import sys
import tempfile

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import best_time, print_table, run_peer  # noqa: E402

from skdml.hashing import HammingNeighbors, hamming_knn  # noqa: E402

N_DB, N_Q, K = 1_000_000, 1000, 10
N_NUMPY = 100  # queries for the NumPy reference (scaled to N_Q)

PEER = """
import json, time, sys
import numpy as np, faiss
db = np.load({db!r}); q = np.load({q!r})
index = faiss.IndexBinaryFlat(db.shape[1] * 8)
index.add(db)
index.search(q[:10], {k})
best = float("inf")
for _ in range(3):
    t = time.perf_counter(); D, I = index.search(q, {k}); best = min(best, time.perf_counter() - t)
np.save({out_d!r}, D); np.save({out_i!r}, I)
print(json.dumps({{"time": best, "threads": faiss.omp_get_max_threads(),
                   "version": faiss.__version__}}))
"""


def numpy_reference(db, q, k):
    """One query at a time: xor, np.bitwise_count, a stable argsort of the distances."""
    D = np.empty((len(q), k), dtype=np.int64)
    ind = np.empty((len(q), k), dtype=np.intp)
    for i, code in enumerate(q):
        d = np.bitwise_count(np.bitwise_xor(db, code)).sum(axis=1, dtype=np.int64)
        part = np.argpartition(d, k)[: k + 1]
        cut = np.sort(d[part])[k - 1]
        cand = np.flatnonzero(d <= cut)  # every code tied at the k-th distance
        order = cand[np.argsort(d[cand], kind="stable")][:k]
        D[i], ind[i] = d[order], order
    return D, ind


def agree(d_a, i_a, d_b, i_b):
    """Identical distances, and identical neighbor sets below each query's k-th distance."""
    same_dist = np.array_equal(np.asarray(d_a, np.int64), np.asarray(d_b, np.int64))
    sets = all(
        set(i_a[r][d_a[r] < d_a[r, -1]]) == set(i_b[r][d_b[r] < d_b[r, -1]])
        for r in range(len(d_a))
    )
    exact = int(np.sum(np.all(i_a == i_b, axis=1)))
    return same_dist and sets, exact


def main():
    rng = np.random.default_rng(0)
    print(f"Hamming top-{K}: {N_DB:,} database codes, {N_Q} queries; numba threads: "
          f"{numba.get_num_threads()}, CPUs: {os.cpu_count()}")
    rows = []
    tmp = tempfile.mkdtemp(prefix="skdml_bench_hamming_")
    for n_bits in (64, 128, 256):
        db = rng.integers(0, 256, size=(N_DB, n_bits // 8), dtype=np.uint8)
        q = rng.integers(0, 256, size=(N_Q, n_bits // 8), dtype=np.uint8)
        paths = {name: os.path.join(tmp, f"{name}{n_bits}.npy")
                 for name in ("db", "q", "out_d", "out_i")}
        np.save(paths["db"], db)
        np.save(paths["q"], q)

        nn = HammingNeighbors(n_neighbors=K).fit(db)  # packed: uint8 rows
        nn.kneighbors(q[:10])  # compile / warm up
        t_ours, (d_ours, i_ours) = best_time(lambda: nn.kneighbors(q), repeat=3)
        t_func, (d_func, i_func) = best_time(lambda: hamming_knn(q, db, k=K), repeat=3)
        assert np.array_equal(i_func, i_ours) and np.array_equal(d_func, d_ours)

        peer = run_peer(PEER.format(k=K, **paths))
        t_np, (d_np, i_np) = best_time(lambda: numpy_reference(db, q[:N_NUMPY], K), repeat=1)
        t_np *= N_Q / N_NUMPY
        ok_np, _ = agree(d_ours[:N_NUMPY], i_ours[:N_NUMPY], d_np, i_np)
        row = {
            "bits": n_bits,
            "skdml s": t_ours,
            "skdml Gpairs/s": N_DB * N_Q / t_ours / 1e9,
            "skdml fn s": t_func,
            "numpy s (x10)": t_np,
            "numpy agrees": ok_np and np.array_equal(i_np, i_ours[:N_NUMPY]),
        }
        if peer is not None:
            d_f, i_f = np.load(paths["out_d"]), np.load(paths["out_i"])
            ok, exact = agree(d_ours, i_ours, d_f, i_f)
            row.update({
                "faiss s": peer["time"],
                "faiss Gpairs/s": N_DB * N_Q / peer["time"] / 1e9,
                "ratio faiss/skdml": peer["time"] / t_ours,
                "faiss agrees": ok,
                "same order": f"{exact}/{N_Q}",
            })
        rows.append(row)
        for p in paths.values():
            if os.path.exists(p):
                os.remove(p)
    os.rmdir(tmp)
    if peer is not None:
        print(f"faiss {peer['version']}, OpenMP threads: {peer['threads']}")
    print_table(rows, ["bits", "skdml s", "skdml Gpairs/s", "skdml fn s", "faiss s",
                       "faiss Gpairs/s", "ratio faiss/skdml", "faiss agrees", "same order",
                       "numpy s (x10)", "numpy agrees"])
    print("ratio faiss/skdml >= 1: skdml at least as fast. 'faiss agrees': identical distances "
          "and identical neighbor sets below the k-th distance (ties at the k-th distance may "
          "pick different codes); 'same order': queries whose 10 indices are identical. "
          "'skdml fn s': hamming_knn(q, db), database re-laid out in the call.")


if __name__ == "__main__":
    main()
