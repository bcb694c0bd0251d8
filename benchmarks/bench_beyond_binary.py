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

Part 2 -- DVML (Lin et al., ECCV 2018) on digits (the ../shared/ANCHORS.md split:
standardized, 70/30 stratified, seed 0): triplet (all triplets, margin 0.2) and N-pair,
each plain and wrapped by DVML; MLP 64-128-32 tanh, Adam lr 1e-3, 20 epochs,
class-balanced batches of 60; MAP@R and R@1 of test queries against the training set
(skdml.metrics), mean +- std over 5 seeds. "DVML net only" is the control: DVML's network
(the extra linear center head) with its three variational terms switched off, so that a
gain of DVML over it is the generated samples' own.

Part 3 -- DAML (Duan et al., CVPR 2018) on the same digits split, every learner at its
defaults (MLP 64-128-64 tanh, Adam lr 1e-3, 30 epochs, class-balanced batches of 128):
DAML around the triplet loss against the learner it wraps (``DeepMetricLearner`` with the
triplet loss on every triplet of the batch: same network, same loss, no generator), and
the controls: the triplet loss on DAML's own real triplets (``triplets_per_anchor`` random
ones per sample; DAML with a warm-up as long as the training), DAML without its
adversarial term, DAML with the paper's lambda_1 = 1. 3-NN accuracy (the classical
benchmarks' scorer), MAP@R and R@1 of test queries against the training set, mean +- std
over 3 seeds. ``--part daml_lambda`` and ``--part daml_protocol`` vary one setting at a
time (lambda_1 and J_adv; the number of real triplets, the warm-up, the generator's size)
and also report what the trained generator makes of the training set's triplets: the share
of its synthetic negatives whose 5 nearest real training samples (standardized input, the
generator's space) vote for the anchor's class -- a synthetic "negative" the data would
call a positive -- and for the negative's class.

No peer: no metric learning library (pytorch-metric-learning, metric-learn) implements the
log-ratio loss, DVML or DAML, so each method is compared with its own baseline measured in
the same run, and the ratio printed is ours / baseline. Every contender runs on the same
threads (``--threads``, default 1: torch, BLAS/OpenMP and numba): the networks are small and
the machine shared. "s/fit" is one fit per seed, the mean over the seeds.

    .venv/bin/python benchmarks/bench_beyond_binary.py [--threads 1] [--part NAME ...]
"""

import contextlib
import time

import numpy as np
import torch
from _common import digits_split, knn_accuracy, run_parts, write_table
from scipy.stats import rankdata
from sklearn.datasets import load_diabetes
from sklearn.metrics import ndcg_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from skdml.deep import DeepMetricLearner, NPairLoss, TripletMarginLoss
from skdml.deep.daml import DAML, sample_triplets
from skdml.deep.dvml import DVML
from skdml.deep.logratio import LogRatioLearner, ThresholdTripletLoss
from skdml.kernels import pairwise_distances
from skdml.metrics import map_at_r, recall_at_k

DIMS = (4, 8, 16, 64)
LR_SEEDS = (0, 1, 2)
GEN_SEEDS = (0, 1, 2, 3, 4)
DAML_SEEDS = (0, 1, 2)
BASELINE = "triplet (all triplets), no generator"
DAML_DEFAULT = "DAML (defaults)"


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
    print(f"== Part 2: digits, DVML around triplet and N-pair ({len(GEN_SEEDS)} seeds)")
    write_table("beyond_binary_generation", rows, ["loss", "wrapper", "MAP@R", "R@1", "s/fit"],
                note=f"mean +- std over {len(GEN_SEEDS)} seeds")
    print("== wrapped / plain (> 1: the wrapper helps)")
    write_table("beyond_binary_generation_ratios", ratios,
                ["loss", "wrapper", "MAP@R ratio", "R@1 ratio"])


def daml_scores(model, split):
    """3-NN accuracy, MAP@R and R@1 of the test queries against the training set."""
    X_tr, X_te, y_tr, y_te = split
    Z_tr, Z_te = model.transform(X_tr), model.transform(X_te)
    return (knn_accuracy(Z_tr, y_tr, Z_te, y_te),
            map_at_r(Z_te, y_te, X_ref=Z_tr, y_ref=y_tr),
            recall_at_k(Z_te, y_te, 1, X_ref=Z_tr, y_ref=y_tr))


def synthetic_negative_classes(model, X_tr, y_tr, per_anchor=4, seed=0):
    """What the trained generator makes of the training set's triplets: the share of its
    synthetic negatives that the 5 nearest real training samples (in the generator's
    space, the standardized input) put in the anchor's class, and in the negative's."""
    X = torch.tensor((X_tr - model.input_mean_) / model.input_scale_, dtype=torch.float32)
    labels = torch.as_tensor(np.searchsorted(model.classes_, y_tr))
    with _seeded(seed), torch.no_grad():
        a, p, n = sample_triplets(labels, per_anchor)
        synthetic = model.generator_(X[a], X[p], X[n]).numpy()
    votes = KNeighborsClassifier(n_neighbors=5).fit(X.numpy(), labels).predict(synthetic)
    return np.mean(votes == labels[a].numpy()), np.mean(votes == labels[n].numpy())


@contextlib.contextmanager
def _seeded(seed):
    """torch's global generator seeded for a block, restored after it."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


def daml_rows(variants, split, with_synthetic=False):
    """One row per variant ``(name, make)``: mean +- std over DAML_SEEDS, and the mean
    scores (3-NN, MAP@R, R@1) per variant name."""
    rows, means = [], {}
    for name, make in variants:
        scores, shares, start = [], [], time.perf_counter()
        for seed in DAML_SEEDS:
            model = make(seed).fit(split[0], split[2])
            scores.append(daml_scores(model, split))
            if with_synthetic:
                shares.append(synthetic_negative_classes(model, split[0], split[2]))
        seconds = (time.perf_counter() - start) / len(DAML_SEEDS)
        scores = np.array(scores)
        means[name] = scores.mean(0)
        row = {"method": name, "3-NN": mean_std(scores[:, 0]), "MAP@R": mean_std(scores[:, 1]),
               "R@1": mean_std(scores[:, 2])}
        if with_synthetic:
            shares = np.array(shares)
            row["synthetic in anchor's class"] = f"{shares[:, 0].mean():.3f}"
            row["in negative's class"] = f"{shares[:, 1].mean():.3f}"
        row["s/fit"] = seconds
        rows.append(row)
    return rows, means


def part_daml():
    """DAML at its defaults against the triplet learner it wraps, and the controls."""
    split = digits_split()
    max_epochs = DeepMetricLearner().max_epochs
    variants = [
        (BASELINE, lambda s: DeepMetricLearner(loss=TripletMarginLoss, random_state=s)),
        ("triplet on DAML's real triplets, no generator",
         lambda s: DAML(warmup_epochs=max_epochs, random_state=s)),
        ("DAML without J_adv (adv_weight=0)", lambda s: DAML(adv_weight=0.0, random_state=s)),
        ("DAML, the paper's lambda_1 = 1", lambda s: DAML(reg_weight=1.0, random_state=s)),
        (DAML_DEFAULT, lambda s: DAML(random_state=s)),
    ]
    rows, means = daml_rows(variants, split)
    X_tr, X_te, y_tr, y_te = split
    raw = (knn_accuracy(X_tr, y_tr, X_te, y_te), map_at_r(X_te, y_te, X_ref=X_tr, y_ref=y_tr),
           recall_at_k(X_te, y_te, 1, X_ref=X_tr, y_ref=y_tr))
    rows.insert(0, {"method": "raw features (standardized)",
                    **dict(zip(["3-NN", "MAP@R", "R@1"], (f"{v:.3f}" for v in raw)))})
    print(f"== Part 3: digits, DAML against the triplet learner it wraps ({len(DAML_SEEDS)} "
          "seeds)")
    write_table("beyond_binary_daml", rows, ["method", "3-NN", "MAP@R", "R@1", "s/fit"],
                note=f"mean +- std over {len(DAML_SEEDS)} seeds")
    ratio = means[DAML_DEFAULT] / means[BASELINE]
    print(f"  DAML / {BASELINE}: 3-NN {ratio[0]:.4f}, MAP@R {ratio[1]:.4f}, R@1 {ratio[2]:.4f}")


def daml_why(table, what, variants):
    """One setting of DAML varied at a time (its defaults otherwise), with what the trained
    generator makes of the training set's triplets."""
    rows, _ = daml_rows(variants, digits_split(), with_synthetic=True)
    print(f"== Part 3, why: DAML's {what} ({len(DAML_SEEDS)} seeds; defaults otherwise)")
    columns = ["method", "3-NN", "MAP@R", "synthetic in anchor's class", "in negative's class",
               "s/fit"]
    write_table(table, rows, columns, note=f"mean +- std over {len(DAML_SEEDS)} seeds")


def part_daml_lambda():
    """lambda_1, and J_adv switched off."""
    variants = [(f"reg_weight (lambda_1) = {w:g}",
                 lambda s, w=w: DAML(reg_weight=w, random_state=s))
                for w in (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)]
    variants.append(("reg_weight = 30, adv_weight = 0",
                     lambda s: DAML(adv_weight=0.0, random_state=s)))
    daml_why("beyond_binary_daml_lambda", "lambda_1 and J_adv", variants)


def part_daml_protocol():
    """The number of real triplets, the warm-up, the generator's size."""
    variants = [(f"triplets_per_anchor = {k}",
                 lambda s, k=k: DAML(triplets_per_anchor=k, random_state=s)) for k in (1, 2, 8)]
    variants += [(f"warmup_epochs = {w}", lambda s, w=w: DAML(warmup_epochs=w, random_state=s))
                 for w in (0, 10)]
    variants.append(("generator_hidden_sizes = (64,)",
                     lambda s: DAML(generator_hidden_sizes=(64,), random_state=s)))
    daml_why("beyond_binary_daml_protocol", "protocol", variants)


PARTS = {"log_ratio": part_log_ratio, "generation": part_generation, "daml": part_daml,
         "daml_lambda": part_daml_lambda, "daml_protocol": part_daml_protocol}


def main():
    run_parts(__doc__, PARTS,
              "no library implements these methods; baselines measured in this run")


if __name__ == "__main__":
    main()
