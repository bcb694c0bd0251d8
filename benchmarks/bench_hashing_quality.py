"""Hashing quality on digits: mAP, P@100 and P@r<=2 at 16/32/64 bits, mean +- std of 5 seeds.

Protocol (../shared/ANCHORS.md, "Hashing quality"): sklearn's digits, raw pixel features,
database = training split of 1617 samples, queries = the 180 held-out samples, split and
hasher seeded by the seed (0..4). Relevance: same class. Hamming ranking ties are broken by
database index (see skdml.metrics_hashing). The classical hashers take the raw features (as
the anchors); the deep hashers are Pipelines StandardScaler -> hasher (a network wants
standardized inputs), trained with torch on one thread.

Peer, measured in the same run: faiss's ITQ (``ITQTransform`` with PCA, then sign) and
faiss's LSH (``IndexLSH``, random rotation, per-bit median thresholds) on the same splits;
the ratio column is our mAP over faiss's.

Run: .venv/bin/python benchmarks/bench_hashing_quality.py
"""

import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import print_table, run_peer  # noqa: E402

SEEDS = range(5)
BITS = (16, 32, 64)
N_QUERIES = 180


def split(seed):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xd, Xq, yd, yq = train_test_split(X, y, test_size=N_QUERIES, random_state=seed)
    return Xd, Xq, yd, yq


def methods(n_bits, seed, scale):
    from functools import partial

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from skdml.hashing import ITQ, LSH, PCAH, SpectralHashing, SupervisedDiscreteHashing
    from skdml.hashing.deep import DeepBitHashing, DeepHashing, SupervisedDeepHashing

    def deep(est):
        # centred, and divided by one global scale: the relative variances of the features,
        # which PCA-like objectives (DH's variance term, like ITQ's PCA) rely on, are kept
        return make_pipeline(StandardScaler(with_std=False),
                             FunctionTransformer(partial(np.multiply, 1.0 / scale)), est)

    return {
        "LSH": LSH(n_bits, random_state=seed),
        "PCAH": PCAH(n_bits),
        "SH": SpectralHashing(n_bits),
        "ITQ": ITQ(n_bits, random_state=seed),
        "DeepBit": deep(DeepBitHashing(n_bits, max_epochs=30, random_state=seed)),
        "DH": deep(DeepHashing(n_bits, max_epochs=30, random_state=seed)),
        "SDH-Shen (300 anchors)": SupervisedDiscreteHashing(n_bits, n_anchors=300,
                                                            random_state=seed),
        "SDH-deep": deep(SupervisedDeepHashing(n_bits, max_epochs=30, random_state=seed)),
    }


def evaluate(codes_q, codes_d, yq, yd):
    from skdml.metrics_hashing import hamming_map, precision_at_n, precision_within_radius

    return (hamming_map(codes_q, codes_d, yq, yd),
            precision_at_n(codes_q, codes_d, yq, yd, n=100),
            precision_within_radius(codes_q, codes_d, yq, yd, radius=2))


PEER = r"""
import json
import numpy as np
import faiss
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

faiss.omp_set_num_threads(1)
X, y = load_digits(return_X_y=True)
X = X.astype("float32")

def hmap(cq, cd, yq, yd):
    d = (cq[:, None, :] != cd[None, :, :]).sum(-1)
    order = np.argsort(d, axis=1, kind="stable")
    hits = (yq[:, None] == yd[order]).astype(float)
    c = np.cumsum(hits, 1)
    return float(np.mean((c / np.arange(1, hits.shape[1] + 1) * hits).sum(1) / c[:, -1]))

out = {}
for seed in range(5):
    Xd, Xq, yd, yq = train_test_split(X, y, test_size=180, random_state=seed)
    for b in (16, 32, 64):
        itq = faiss.ITQTransform(64, b, True)
        itq.train(Xd)
        cq, cd = itq.apply_py(Xq) > 0, itq.apply_py(Xd) > 0
        out.setdefault(f"ITQ/{b}", []).append(hmap(cq, cd, yq, yd))
        lsh = faiss.IndexLSH(64, b, True, True)
        lsh.train(Xd)
        cq = np.unpackbits(lsh.sa_encode(Xq), axis=1, bitorder="little")[:, :b]
        cd = np.unpackbits(lsh.sa_encode(Xd), axis=1, bitorder="little")[:, :b]
        out.setdefault(f"LSH/{b}", []).append(hmap(cq, cd, yq, yd))
print(json.dumps({k: float(np.mean(v)) for k, v in out.items()}))
"""


def main():
    import torch

    torch.set_num_threads(1)
    from threadpoolctl import threadpool_limits

    results = {}  # (method, bits) -> list of (map, p@100, p@r2, fit seconds)
    start = time.perf_counter()
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of short fits is not the point
        for seed in SEEDS:
            Xd, Xq, yd, yq = split(seed)
            scale = float((Xd - Xd.mean(axis=0)).std())
            for b in BITS:
                for name, est in methods(b, seed, scale).items():
                    t = time.perf_counter()
                    est.fit(Xd, yd)
                    fit_s = time.perf_counter() - t
                    scores = evaluate(est.transform(Xq), est.transform(Xd), yq, yd)
                    results.setdefault((name, b), []).append((*scores, fit_s))
    ours_s = time.perf_counter() - start
    peer = run_peer(PEER)

    rows = []
    names = list(dict.fromkeys(name for name, _ in results))
    for name in names:
        row = {"method": name}
        for b in BITS:
            r = np.array(results[(name, b)])
            row[f"mAP@{b}"] = f"{r[:, 0].mean():.3f}+-{r[:, 0].std():.3f}"
            row[f"P@100@{b}"] = f"{r[:, 1].mean():.3f}"
            row[f"P@r2@{b}"] = f"{r[:, 2].mean():.3f}"
        row["fit s (32b)"] = f"{np.mean(np.array(results[(name, 32)])[:, 3]):.2f}"
        rows.append(row)
    cols = ["method"] + [f"{m}@{b}" for b in BITS for m in ("mAP", "P@100", "P@r2")]
    print(f"digits: database {len(yd)}, {N_QUERIES} queries, mean+-std over {len(SEEDS)} "
          f"seeds (ours {ours_s:.0f} s in all)")
    print_table(rows, cols + ["fit s (32b)"])

    if peer is not None:
        print("\npeer (faiss, same splits), mAP; ratio = ours / faiss")
        prow = []
        for ours, theirs in (("ITQ", "ITQ"), ("LSH", "LSH")):
            row = {"method": f"{ours} vs faiss {theirs}"}
            for b in BITS:
                m = np.mean(np.array(results[(ours, b)])[:, 0])
                p = peer[f"{theirs}/{b}"]
                row[f"ours@{b}"] = f"{m:.3f}"
                row[f"faiss@{b}"] = f"{p:.3f}"
                row[f"ratio@{b}"] = f"{m / p:.2f}"
            prow.append(row)
        print_table(prow, ["method"] + [f"{c}@{b}" for b in BITS
                                        for c in ("ours", "faiss", "ratio")])

    def m(name, b):
        return np.mean(np.array(results[(name, b)])[:, 0])

    print("\norderings (mAP):")
    checks = []
    for b in BITS:
        checks += [
            (f"ITQ > PCAH @{b}", m("ITQ", b) > m("PCAH", b), b >= 32),
            (f"ITQ > LSH @{b}", m("ITQ", b) > m("LSH", b), b >= 32),
            (f"DH >= ITQ @{b}", m("DH", b) >= m("ITQ", b), True),
            (f"SDH-deep > DH @{b}", m("SDH-deep", b) > m("DH", b), True),
            (f"SDH-deep > SDH-Shen @{b}",
             m("SDH-deep", b) > m("SDH-Shen (300 anchors)", b), True),
        ]
    for label, held, asked in checks:
        if asked:
            print(f"  {label:28s} {'held' if held else 'NOT held'}")


if __name__ == "__main__":
    main()
