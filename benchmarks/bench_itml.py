"""ITML: speed and accuracy on the digits protocol, the cvxpy solver's size, verification.

    python benchmarks/bench_itml.py [--repeat 1] [--no-warmup]

1. Digits protocol (../shared/ANCHORS.md): fit time and 3-NN accuracy, like for like with
   metric-learn 0.7.0 (same run, same threads, same timing): skdml's
   ``constraints='random', n_constraints=2000`` against ``ITML_Supervised(n_constraints=2000)``
   (each draws its own 2000 pairs from the labels), then the very same 2000 pairs handed to
   skdml's ``ITML`` and to metric-learn's ``ITML``. skdml's tuned default (neighbor
   constraints, a different problem) is an extra row, labelled as such.
2. The cvxpy solver on a d=20, 500-constraint problem, and its objective beside the
   Bregman solver's.
3. Verification on digits pairs, 10 sample-disjoint folds (make_pairs): accuracy at the
   threshold calibrated on the training folds, and ROC AUC, ITML against Euclidean.

metric-learn's ITML takes about 30 s a fit, so the default is one timed fit after one warm-up
fit, for every contender.
"""

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import (  # noqa: E402
    digits_split, knn_accuracy, median_time, protocol_parser, run_peer, start_run,
    thread_settings, write_table,
)

from skdml import ITML, PCA  # noqa: E402
from skdml import _threshold  # noqa: E402
from skdml.constraints import pairs_from_labels  # noqa: E402
from skdml.datasets import make_pairs  # noqa: E402
from skdml.metrics import verification_roc_auc  # noqa: E402

N_PAIRS = 2000  # metric-learn's default for 10 classes: 20 * n_classes ** 2

PEER = """
import json, warnings
warnings.simplefilter("ignore")
from _common import attempt, digits_split, knn_accuracy, median_time, peer_data
from metric_learn import ITML, ITML_Supervised
X_train, X_test, y_train, y_test = digits_split()
same = peer_data()

def run(make_and_fit):
    def measure():
        seconds, model = median_time(make_and_fit, PARAMS["repeat"], PARAMS["warmup"])
        acc = knn_accuracy(model.transform(X_train), y_train, model.transform(X_test), y_test)
        return {"fit_s": seconds, "accuracy": acc, "n_iter": getattr(model, "n_iter_", "")}
    return attempt(measure)

print(json.dumps({
    "supervised": run(lambda: ITML_Supervised(n_constraints=PARAMS["n_pairs"], random_state=0)
                      .fit(X_train, y_train)),
    "same pairs": run(lambda: ITML(preprocessor=X_train, random_state=0)
                      .fit(same["pairs"], same["labels"])),
}))
"""


def _row(method, pairs, seconds, model, split):
    X_train, X_test, y_train, y_test = split
    return {"method": method, "pairs": pairs, "fit_s": seconds, "sweeps": model.n_iter_,
            "3-NN acc": knn_accuracy(model.transform(X_train), y_train,
                                     model.transform(X_test), y_test)}


def _peer_row(method, pairs, result, ours):
    if isinstance(result, dict):
        return {"method": method, "pairs": pairs, "fit_s": result["fit_s"],
                "3-NN acc": result["accuracy"], "sweeps": result["n_iter"],
                "peer_s / skdml_s": result["fit_s"] / ours["fit_s"]}
    return {"method": method, "pairs": pairs, "fit_s": result}  # raised / not measured


def protocol(args):
    split = X_train, X_test, y_train, y_test = digits_split()
    pairs, labels = pairs_from_labels(y_train, N_PAIRS, random_state=0)

    def timed(make_and_fit):
        return median_time(make_and_fit, args.repeat, args.warmup)

    with thread_settings(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tuned = _row("skdml ITML (tuned default: neighbor constraints)",
                     "neighbors (3 + 3 per sample)",
                     *timed(lambda: ITML(random_state=0).fit(X_train, y_train)), split)
        random = _row(f"skdml ITML (constraints='random', n_constraints={N_PAIRS})",
                      f"{N_PAIRS} random, own draw",
                      *timed(lambda: ITML(constraints="random", n_constraints=N_PAIRS,
                                          random_state=0).fit(X_train, y_train)), split)
        same = _row("skdml ITML (pairs)", f"the same {N_PAIRS} pairs",
                    *timed(lambda: ITML(random_state=0).fit(pairs, labels,
                                                            preprocessor=X_train)), split)
    peer = run_peer(PEER, threads=args.threads, data={"pairs": pairs, "labels": labels},
                    params={"repeat": args.repeat, "warmup": args.warmup, "n_pairs": N_PAIRS})
    rows = [
        {"method": "Euclidean (no learning)",
         "3-NN acc": knn_accuracy(X_train, y_train, X_test, y_test)},
        tuned,
        random,
        _peer_row(f"metric-learn ITML_Supervised(n_constraints={N_PAIRS})",
                  f"{N_PAIRS} random, own draw", peer.cell("supervised"), random),
        same,
        _peer_row("metric-learn ITML (pairs)", f"the same {N_PAIRS} pairs",
                  peer.cell("same pairs"), same),
    ]
    print("== digits protocol (StandardScaler, 70/30 stratified split, seed 0, 3-NN)")
    write_table("itml_digits", rows,
                ["method", "pairs", "fit_s", "3-NN acc", "sweeps", "peer_s / skdml_s"],
                note="each metric-learn row's ratio is to the skdml row just above it, which "
                "solves the same kind of problem; bounds (5th/95th percentiles) and stopping rule "
                "(tol 1e-3, max_iter 1000, each library's own convergence measure) are each "
                "library's default"
                + ("" if peer.measured else f"; metric-learn not measured: {peer.reason}"))


def cvxpy_size(args):
    X_train, _, y_train, _ = digits_split()
    Z = PCA(n_components=20, random_state=0).fit_transform(X_train)
    idx, labels = make_pairs(Z, y_train, 500, return_indices=True, random_state=0)
    with thread_settings(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_cvx, cvx = median_time(lambda: ITML(solver="cvxpy").fit(idx, labels, preprocessor=Z),
                                 args.repeat, args.warmup)
        t_breg, breg = median_time(
            lambda: ITML(tol=1e-9, max_iter=100_000).fit(idx, labels, preprocessor=Z),
            args.repeat, args.warmup)
    gap = abs(cvx.objective_ - breg.objective_) / abs(cvx.objective_)
    print("== ITML solvers, d=20, 500 constraints")
    write_table("itml_solvers", [
        {"solver": "cvxpy (Clarabel)", "time_s": t_cvx, "objective": cvx.objective_},
        {"solver": "bregman, tol 1e-9", "time_s": t_breg, "objective": breg.objective_,
         "relative gap": gap},
    ], ["solver", "time_s", "objective", "relative gap"])


def verification(n_folds=10):
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    idx, labels, folds = make_pairs(X, y, 6000, n_folds=n_folds, return_indices=True,
                                    random_state=0)
    results = {"Euclidean": ([], []), "ITML": ([], [])}
    for f in range(n_folds):
        train, test = folds != f, folds == f
        d_train = np.linalg.norm(X[idx[train, 0]] - X[idx[train, 1]], axis=1)
        d_test = np.linalg.norm(X[idx[test, 0]] - X[idx[test, 1]], axis=1)
        threshold, _ = _threshold.best_threshold(d_train, labels[train])
        results["Euclidean"][0].append(np.mean(np.where(d_test <= threshold, 1, -1)
                                               == labels[test]))
        results["Euclidean"][1].append(verification_roc_auc(labels[test], -d_test))
        itml = ITML(random_state=0).fit(idx[train], labels[train], preprocessor=X)
        results["ITML"][0].append(itml.score(idx[test], labels[test], preprocessor=X))
        results["ITML"][1].append(verification_roc_auc(
            labels[test], itml.decision_function(idx[test], preprocessor=X)))
    print(f"== verification, digits pairs, {n_folds} sample-disjoint folds of 600 pairs")
    write_table("itml_verification", [
        {"distance": name, "accuracy": f"{np.mean(a):.4f} +- {np.std(a):.4f}",
         "ROC AUC": f"{np.mean(r):.4f} +- {np.std(r):.4f}"}
        for name, (a, r) in results.items()
    ], ["distance", "accuracy", "ROC AUC"],
        note=f"mean +- standard deviation over the {n_folds} folds; the threshold is "
        "calibrated on the training folds")


def main():
    args = protocol_parser(__doc__, repeat=1).parse_args()
    start_run(threads=args.threads, repeat=args.repeat, warmup=args.warmup)
    protocol(args)
    cvxpy_size(args)
    with thread_settings(args.threads):
        verification()


if __name__ == "__main__":
    main()
