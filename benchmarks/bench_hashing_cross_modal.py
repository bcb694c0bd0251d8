"""Cross-modal hashing on digits: image -> tags and tags -> image mAP, CMDVH against CCA-ITQ.

Protocol: ``skdml.datasets.make_digits_two_views`` (the 8 x 8 pixels, and 78 noisy tags:
class synonyms and stroke attributes), tags drawn with the seed (0..4); database = the
1617 training samples, queries = the 180 held-out ones, split seeded by the seed; every
hasher seeded by the seed, fitted on the training samples seen by both modalities (the
deep one with their class labels, CCA-ITQ unsupervised, as in the paper's comparison).
Retrieval across modalities: *image -> tags* encodes the queries from their pixels alone
(``transform_view(X, view=0)``) and the database from its tags alone (``view=1``);
*tags -> image* the other way round. Relevance: same class; mAP over the whole Hamming
ranking (ties by database index, see skdml.metrics_hashing) and P@100; mean +- std over
the 5 seeds, 16/32/64 bits. Torch, BLAS and numba on ``--threads`` (default 1).

No peer: no library we can run here implements CMDVH or CCA-ITQ; both are skdml's.

Run: .venv/bin/python benchmarks/bench_hashing_cross_modal.py [--threads 1]
(SKDML_BENCH_WRITE_DOCS=1 writes docs/bench_tables/hashing_cross_modal*.rst/.csv)
"""

import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import protocol_parser, start_run, thread_settings, write_table  # noqa: E402

SEEDS = range(5)
BITS = (16, 32, 64)
N_QUERIES = 180
DIRECTIONS = (("image -> tags", 0, 1), ("tags -> image", 1, 0))


def split(seed):
    from sklearn.model_selection import train_test_split

    from skdml.datasets import make_digits_two_views

    X_image, X_tags, y = make_digits_two_views(random_state=seed)
    d, q = train_test_split(np.arange(len(y)), test_size=N_QUERIES, random_state=seed)
    views = (X_image, X_tags)
    return [v[d] for v in views], [v[q] for v in views], y[d], y[q]


def methods(n_bits, seed):
    from skdml.hashing.cmdvh import CrossModalDeepVariationalHashing
    from skdml.hashing.cross_modal import CCAITQ

    return {
        "CCA-ITQ": CCAITQ(n_bits, random_state=seed),
        "CMDVH": CrossModalDeepVariationalHashing(n_bits, random_state=seed),
    }


def main():
    from skdml.metrics_hashing import hamming_map, precision_at_n

    parser = protocol_parser(__doc__, repeat=1, warmup=False)
    args = parser.parse_args()
    start_run(threads=args.threads, repeat=None, extra=[
        "fit s: one fit per seed at 32 bits, the mean over the seeds; no peer"])
    results = {}  # (method, direction, bits) -> list of (mAP, P@100)
    fit_s = {}  # (method, bits) -> list of seconds
    start = time.perf_counter()
    with thread_settings(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of ITQ's rotation is not the point
        for seed in SEEDS:
            views_d, views_q, yd, yq = split(seed)
            for b in BITS:
                for name, est in methods(b, seed).items():
                    t = time.perf_counter()
                    est.fit(views_d, yd)
                    fit_s.setdefault((name, b), []).append(time.perf_counter() - t)
                    for direction, v_query, v_base in DIRECTIONS:
                        codes_q = est.transform_view(views_q[v_query], view=v_query)
                        codes_d = est.transform_view(views_d[v_base], view=v_base)
                        results.setdefault((name, direction, b), []).append(
                            (hamming_map(codes_q, codes_d, yq, yd),
                             precision_at_n(codes_q, codes_d, yq, yd, n=100)))
    total = time.perf_counter() - start

    def m(name, direction, b):
        return float(np.mean(np.array(results[(name, direction, b)])[:, 0]))

    rows = []
    for name in methods(16, 0):
        for direction, _, _ in DIRECTIONS:
            row = {"method": name, "query -> database": direction}
            for b in BITS:
                r = np.array(results[(name, direction, b)])
                row[f"mAP@{b}"] = f"{r[:, 0].mean():.3f} +- {r[:, 0].std():.3f}"
                row[f"P@100@{b}"] = f"{r[:, 1].mean():.3f}"
            row["fit s (32b)"] = float(np.mean(fit_s[(name, 32)]))
            rows.append(row)
    cols = (["method", "query -> database"]
            + [f"{c}@{b}" for b in BITS for c in ("mAP", "P@100")] + ["fit s (32b)"])
    print(f"== digits, two views: database {len(yd)}, {N_QUERIES} queries, mean +- std over "
          f"{len(SEEDS)} seeds ({total:.0f} s in all)")
    write_table("hashing_cross_modal", rows, cols)

    print("== orderings (mAP)")
    orderings = []
    for direction, _, _ in DIRECTIONS:
        for b in BITS:
            ours, base = m("CMDVH", direction, b), m("CCA-ITQ", direction, b)
            orderings.append({"ordering": f"CMDVH > CCA-ITQ, {direction}", "bits": b,
                              "CMDVH": ours, "CCA-ITQ": base,
                              "held": "held" if ours > base else "not held"})
    write_table("hashing_cross_modal_orderings", orderings,
                ["ordering", "bits", "CMDVH", "CCA-ITQ", "held"])


if __name__ == "__main__":
    main()
