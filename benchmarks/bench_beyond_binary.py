"""Beyond binary supervision and sample generation: log-ratio loss, DVML, DAML.

Part 1 -- continuous labels (Kim et al., CVPR 2019). sklearn's diabetes set (442 samples,
10 standardized features, the disease-progression target standardized), 70/30 split (seed
0). ``LogRatioLearner`` (log-ratio loss, dense triplets, nearest-label batches) against the
paper's "binary thresholding" baseline: the same learner, batches and network with
``ThresholdTripletLoss`` (triplet margin loss, a sample is a positive of an anchor when
their squared label distance is below the 10% quantile of the training set's). Test
queries are ranked against the training set by embedding distance:

- Spearman: per query, the rank correlation of embedding distance and label distance to
  every training sample, averaged over queries;
- nDCG@10: graded relevance ``exp(-D_y / median D_y)`` (sklearn's ``ndcg_score``).

MLP 10-64-dim (tanh), dims 4, 8, 16, 64, Adam lr 1e-3, 40 epochs, batch 60 (10 anchors with
5 label neighbors each), mean +- std over 3 seeds. The raw standardized features are shown
as a reference row.

Part 2 -- DVML (Lin et al., ECCV 2018) and DAML (Duan et al., CVPR 2018) on digits (the
../shared/ANCHORS.md split: standardized, 70/30 stratified, seed 0): triplet (all triplets,
margin 0.2) and N-pair, each plain, wrapped by DVML and wrapped by DAML; MLP 64-128-32
tanh, Adam lr 1e-3, 20 epochs, class-balanced batches of 60; MAP@R and R@1 of test queries
against the training set (skdml.metrics), mean +- std over 5 seeds. "DVML net only" is
the control: DVML's network (the extra linear center head) with its three variational
terms switched off, so that a gain of DVML over it is the generated samples' own.

No peer: no metric learning library (pytorch-metric-learning, metric-learn) implements the
log-ratio loss, DVML or DAML, so each method is compared with its own baseline measured in
the same run, and the ratio printed is ours / baseline. Every contender runs on the same
threads (``--threads``, default 1: torch, BLAS/OpenMP and numba): the networks are small and
the machine shared. "s/fit" is one fit per seed, the mean over the seeds.

    .venv/bin/python benchmarks/bench_beyond_binary.py [--threads 1]
"""

import time

import numpy as np
from _common import digits_split, protocol_parser, start_run, thread_settings, write_table
from scipy.stats import rankdata
from sklearn.datasets import load_diabetes
from sklearn.metrics import ndcg_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdml.deep import DeepMetricLearner, NPairLoss, TripletMarginLoss
from skdml.deep.daml import DAML
from skdml.deep.dvml import DVML
from skdml.deep.logratio import LogRatioLearner, ThresholdTripletLoss
from skdml.kernels import pairwise_distances
from skdml.metrics import map_at_r, recall_at_k

DIMS = (4, 8, 16, 64)
LR_SEEDS = (0, 1, 2)
GEN_SEEDS = (0, 1, 2, 3, 4)


def diabetes_split():
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    mean, std = y_tr.mean(), y_tr.std()
    return (scaler.transform(X_tr), scaler.transform(X_te), (y_tr - mean) / std,
            (y_te - mean) / std)


def rank_scores(Z_tr, Z_te, y_tr, y_te):
    """Mean per-query Spearman of embedding vs label distance, and nDCG@10."""
    D = pairwise_distances(Z_te.astype(np.float64), Z_tr.astype(np.float64))
    Dy = (y_te[:, None] - y_tr[None, :]) ** 2
    rd, ry = rankdata(D, axis=1), rankdata(Dy, axis=1)
    rd -= rd.mean(1, keepdims=True)
    ry -= ry.mean(1, keepdims=True)
    rho = (rd * ry).sum(1) / np.sqrt((rd * rd).sum(1) * (ry * ry).sum(1))
    scale = np.median((y_tr[:, None] - y_tr[None, :]) ** 2)
    ndcg = ndcg_score(np.exp(-Dy / scale), -D, k=10)
    return float(rho.mean()), float(ndcg)


def mean_std(values):
    return f"{np.mean(values):.3f} +- {np.std(values):.3f}"


def part_log_ratio():
    X_tr, X_te, y_tr, y_te = diabetes_split()
    threshold = float(np.quantile((y_tr[:, None] - y_tr[None, :]) ** 2, 0.1))
    rows = []
    rho, ndcg = rank_scores(X_tr, X_te, y_tr, y_te)
    rows.append({"dim": "raw (10)", "method": "Euclidean on X", "spearman": f"{rho:.3f}",
                 "nDCG@10": f"{ndcg:.3f}"})
    ratios = []
    for dim in DIMS:
        results = {}
        for method, extra in [("triplet, binary thr.", {"loss": ThresholdTripletLoss,
                                                       "loss__threshold": threshold}),
                              ("log-ratio, dense", {})]:
            scores, start = [], time.perf_counter()
            for seed in LR_SEEDS:
                model = LogRatioLearner(module__hidden_sizes=(64, dim), max_epochs=40,
                                        random_state=seed, **extra).fit(X_tr, y_tr)
                scores.append(rank_scores(model.transform(X_tr), model.transform(X_te),
                                          y_tr, y_te))
            scores = np.array(scores)
            results[method] = scores.mean(0)
            rows.append({"dim": dim, "method": method, "spearman": mean_std(scores[:, 0]),
                         "nDCG@10": mean_std(scores[:, 1]),
                         "s/fit": (time.perf_counter() - start) / len(LR_SEEDS)})
        ratio = results["log-ratio, dense"] / results["triplet, binary thr."]
        ratios.append({"dim": dim, "spearman ratio": float(ratio[0]),
                       "nDCG ratio": float(ratio[1])})
    print("== Part 1: diabetes, continuous target (test queries vs training set)")
    write_table("beyond_binary_log_ratio", rows, ["dim", "method", "spearman", "nDCG@10",
                                                  "s/fit"],
                note=f"mean +- std over {len(LR_SEEDS)} seeds")
    print("== log-ratio / binary-thresholding triplet (> 1: log-ratio better)")
    write_table("beyond_binary_log_ratio_ratios", ratios, ["dim", "spearman ratio",
                                                           "nDCG ratio"])


def part_generation():
    X_tr, X_te, y_tr, y_te = digits_split()
    common = {"module__hidden_sizes": (128, 32), "max_epochs": 20, "batch_size": 60}
    rows, ratios = [], []
    for loss in (TripletMarginLoss, NPairLoss):
        base = None
        variants = [
            ("plain", DeepMetricLearner, {"loss": loss}),
            ("DVML net only", DVML, {"loss": loss, "kl_weight": 0.0,
                                     "reconstruction_weight": 0.0, "generated_weight": 0.0}),
            ("DVML", DVML, {"loss": loss}),
            ("DAML", DAML, {"loss": loss}),
        ]
        for name, cls, params in variants:
            scores, start = [], time.perf_counter()
            for seed in GEN_SEEDS:
                model = cls(random_state=seed, **params, **common).fit(X_tr, y_tr)
                Z_tr, Z_te = model.transform(X_tr), model.transform(X_te)
                scores.append((map_at_r(Z_te, y_te, X_ref=Z_tr, y_ref=y_tr),
                               recall_at_k(Z_te, y_te, 1, X_ref=Z_tr, y_ref=y_tr)))
            scores = np.array(scores)
            rows.append({"loss": loss.__name__, "wrapper": name,
                         "MAP@R": mean_std(scores[:, 0]), "R@1": mean_std(scores[:, 1]),
                         "s/fit": (time.perf_counter() - start) / len(GEN_SEEDS)})
            if base is None:
                base = scores.mean(0)
            else:
                ratio = scores.mean(0) / base
                ratios.append({"loss": loss.__name__, "wrapper": name,
                               "MAP@R ratio": float(ratio[0]), "R@1 ratio": float(ratio[1])})
    print(f"== Part 2: digits, DVML and DAML around triplet and N-pair ({len(GEN_SEEDS)} seeds)")
    write_table("beyond_binary_generation", rows, ["loss", "wrapper", "MAP@R", "R@1", "s/fit"],
                note=f"mean +- std over {len(GEN_SEEDS)} seeds")
    print("== wrapped / plain (> 1: the wrapper helps)")
    write_table("beyond_binary_generation_ratios", ratios,
                ["loss", "wrapper", "MAP@R ratio", "R@1 ratio"])


def main():
    args = protocol_parser(__doc__, repeat=1, warmup=False).parse_args()
    start_run(threads=args.threads, repeat=None, extra=[
        "no peer: no library implements these methods; baselines measured in this run"])
    start = time.perf_counter()
    with thread_settings(args.threads):
        part_log_ratio()
        part_generation()
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
