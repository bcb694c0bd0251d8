"""Hamming top-10 search: skdml against faiss IndexBinaryFlat, in the same run.

1,000,000 random database codes and 1000 random queries (fixed seed) at 64, 128 and 256 bits,
k=10. The codes are handed to the faiss peer (in .venv-peers) in a temporary .npz file, so
both sides search the very same bits, on the same threads (``--threads``, default 1: numba on
skdml's side, OpenMP on faiss's), timed the same way (the median of ``--repeat`` searches
after one untimed warm-up search). Reports the search time (index/database construction
excluded on both sides; skdml's functional ``hamming_knn``, which re-lays out the database on
every call, is shown too), throughput in G pairs/s, the ratio faiss time / skdml time (>= 1
means skdml is at least as fast), and checks that the distances are identical and the
neighbor sets equal up to ties at the k-th distance. NumPy ``bitwise_count``, one query at a
time, is a second reference (measured on the first 100 queries and scaled to 1000).

A second table times the natural pipeline, the code a user writes:
``HammingNeighbors(n_neighbors=10).fit(hasher.transform(X))`` then
``kneighbors(hasher.transform(Q))``, on the same bits unpacked into the dtype a hasher's
``transform`` returns (whatever it is: read from an ``LSH`` fitted here), against the packed
path and faiss above. It reports the width the index read (``n_bits_``), which must be the
codes' width, the search time and its ratio to the packed search (1 means the natural code
runs the packed kernel), and the ``fit`` time (the packing of the bits, once).

Run: .venv/bin/python benchmarks/bench_hamming.py [--threads 1] [--repeat 3] [--no-warmup]
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import (  # noqa: E402
    median_time, protocol_parser, run_peer, start_run, thread_settings, write_table,
)

from skdml.hashing import LSH, HammingNeighbors, hamming_knn  # noqa: E402

N_DB, N_Q, K = 1_000_000, 1000, 10
N_NUMPY = 100  # queries for the NumPy reference (scaled to N_Q)

PEER = """
import json
import faiss
from _common import median_time, peer_data
faiss.omp_set_num_threads(PARAMS["threads"])
data = peer_data()
db, q = data["db"], data["q"]
index = faiss.IndexBinaryFlat(db.shape[1] * 8)
index.add(db)
seconds, (D, I) = median_time(lambda: index.search(q, PARAMS["k"]), PARAMS["repeat"],
                              PARAMS["warmup"])
print(json.dumps({"time": seconds, "threads": faiss.omp_get_max_threads(),
                  "version": faiss.__version__, "D": D.tolist(), "I": I.tolist()}))
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


def hasher_codes_dtype():
    """The dtype of the codes a hasher's ``transform`` returns."""
    X = np.eye(3)
    return LSH(n_bits=8, random_state=0).fit(X).transform(X).dtype


def main():
    args = protocol_parser(__doc__).parse_args()
    start_run(threads=args.threads, repeat=args.repeat, warmup=args.warmup)
    rng = np.random.default_rng(0)
    codes_dtype = hasher_codes_dtype()
    print(f"Hamming top-{K}: {N_DB:,} database codes, {N_Q} queries")
    rows, pipeline_rows, notes = [], [], []

    def timed(fn):
        return median_time(fn, args.repeat, args.warmup)

    for n_bits in (64, 128, 256):
        db = rng.integers(0, 256, size=(N_DB, n_bits // 8), dtype=np.uint8)
        q = rng.integers(0, 256, size=(N_Q, n_bits // 8), dtype=np.uint8)
        with thread_settings(args.threads):
            nn = HammingNeighbors(n_neighbors=K).fit(db)  # packed: uint8 rows
            t_ours, (d_ours, i_ours) = timed(lambda: nn.kneighbors(q))
            t_func, (d_func, i_func) = timed(lambda: hamming_knn(q, db, k=K))
            t_np, (d_np, i_np) = timed(lambda: numpy_reference(db, q[:N_NUMPY], K))
        assert np.array_equal(i_func, i_ours) and np.array_equal(d_func, d_ours)
        # the natural pipeline: the same bits, as a hasher's transform returns them
        db_bits = np.unpackbits(db, axis=1).astype(codes_dtype)
        q_bits = np.unpackbits(q, axis=1).astype(codes_dtype)
        with thread_settings(args.threads):
            t_fit, natural = timed(lambda: HammingNeighbors(n_neighbors=K).fit(db_bits))
            t_natural, (d_nat, i_nat) = timed(lambda: natural.kneighbors(q_bits))
        assert np.array_equal(i_nat, i_ours) and np.array_equal(d_nat, d_ours)
        del db_bits
        t_np *= N_Q / N_NUMPY
        ok_np, _ = agree(d_ours[:N_NUMPY], i_ours[:N_NUMPY], d_np, i_np)
        peer = run_peer(PEER, threads=args.threads, data={"db": db, "q": q},
                        params={"k": K, "threads": args.threads, "repeat": args.repeat,
                                "warmup": args.warmup})
        row = {
            "bits": n_bits,
            "skdml s": t_ours,
            "skdml Gpairs/s": N_DB * N_Q / t_ours / 1e9,
            "skdml fn s": t_func,
            "numpy s (x10)": t_np,
            "numpy agrees": "yes" if ok_np and np.array_equal(i_np, i_ours[:N_NUMPY]) else "no",
        }
        pipeline_rows.append({
            "bits": n_bits,
            "natural n_bits_": natural.n_bits_,
            "natural s": t_natural,
            "packed s": t_ours,
            "natural / packed": t_natural / t_ours,
            "faiss s": peer.cell("time"),
            "natural fit s": t_fit,
        })
        if peer.measured:
            ok, exact = agree(d_ours, i_ours, np.array(peer["D"]), np.array(peer["I"]))
            row.update({
                "faiss s": peer["time"],
                "faiss Gpairs/s": N_DB * N_Q / peer["time"] / 1e9,
                "faiss / skdml": peer["time"] / t_ours,
                "faiss agrees": "yes" if ok else "no",
                "same order": f"{exact}/{N_Q}",
            })
            notes.append(f"faiss {peer['version']}, {peer['threads']} OpenMP thread(s)")
        else:
            row["faiss s"] = peer.cell("time")
            notes.append(f"faiss not measured: {peer.reason}")
        rows.append(row)
    write_table("hamming_search", rows,
                ["bits", "skdml s", "skdml Gpairs/s", "skdml fn s", "faiss s",
                 "faiss Gpairs/s", "faiss / skdml", "faiss agrees", "same order",
                 "numpy s (x10)", "numpy agrees"],
                note=notes[-1] + ". faiss / skdml >= 1: skdml at least as fast; 'faiss "
                "agrees': identical distances and identical neighbor sets below the k-th "
                "distance (ties at the k-th distance may pick different codes); 'same order': "
                "queries whose 10 indices are identical; 'skdml fn s': hamming_knn(q, db), "
                "the database re-laid out in the call")
    write_table("hamming_pipeline", pipeline_rows,
                ["bits", "natural n_bits_", "natural s", "packed s", "natural / packed",
                 "faiss s", "natural fit s"],
                note=notes[-1] + f". 'natural': HammingNeighbors(n_neighbors={K}).fit(codes) "
                "then kneighbors(query codes), the codes unpacked as a hasher's transform "
                f"returns them ({codes_dtype}); 'packed': the same search on the packed codes "
                "(the first table's 'skdml s'); search times, the index built beforehand; "
                "'natural fit s': the natural fit, which packs the bits once; both give the "
                "same neighbors")


if __name__ == "__main__":
    main()
