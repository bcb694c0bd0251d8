"""ITML: speed and accuracy on the digits protocol, the cvxpy solver's size, verification.

    python benchmarks/bench_itml.py

1. Digits protocol (../shared/ANCHORS.md): fit time and 3-NN accuracy of skdml's ITML
   (Bregman, defaults) beside metric-learn 0.7.0's ITML_Supervised (defaults), same run.
2. The cvxpy solver on a d=20, 500-constraint problem (target <= 5 s), and its objective
   beside the Bregman solver's.
3. Verification on digits pairs, 10 sample-disjoint folds (make_pairs): accuracy at the
   threshold calibrated on the training folds, and ROC AUC, ITML against Euclidean.
"""

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import best_time, digits_split, knn_accuracy, print_table, run_peer  # noqa: E402

from skdml import ITML, PCA  # noqa: E402
from skdml import _threshold  # noqa: E402
from skdml.datasets import make_pairs  # noqa: E402
from skdml.metrics import verification_roc_auc  # noqa: E402


def protocol():
    X_train, X_test, y_train, y_test = digits_split()
    t, itml = best_time(lambda: ITML(random_state=0).fit(X_train, y_train), repeat=3)
    ours = knn_accuracy(itml.transform(X_train), y_train, itml.transform(X_test), y_test)
    base = knn_accuracy(X_train, y_train, X_test, y_test)
    peer = run_peer("""
        import json, time, warnings
        warnings.simplefilter("ignore")
        from _common import digits_split, knn_accuracy
        from metric_learn import ITML_Supervised
        X_train, X_test, y_train, y_test = digits_split()
        start = time.perf_counter()
        itml = ITML_Supervised(random_state=0).fit(X_train, y_train)
        fit = time.perf_counter() - start
        acc = knn_accuracy(itml.transform(X_train), y_train, itml.transform(X_test), y_test)
        print(json.dumps({"fit_s": fit, "accuracy": acc}))
    """)
    rows = [{"method": "Euclidean", "fit_s": 0.0, "3-NN acc": base},
            {"method": "skdml ITML (bregman)", "fit_s": t, "3-NN acc": ours,
             "sweeps": itml.n_iter_}]
    if peer:
        rows.append({"method": "metric-learn ITML_Supervised", "fit_s": peer["fit_s"],
                     "3-NN acc": peer["accuracy"]})
    print("== digits protocol (StandardScaler, 70/30 stratified split, seed 0, 3-NN)")
    print_table(rows, ["method", "fit_s", "3-NN acc", "sweeps"])
    if peer:
        print(f"speed-up over metric-learn: {peer['fit_s'] / t:.1f}x "
              f"(accuracy {ours:.4f} vs {peer['accuracy']:.4f})")


def cvxpy_size():
    X_train, _, y_train, _ = digits_split()
    Z = PCA(n_components=20, random_state=0).fit_transform(X_train)
    idx, labels = make_pairs(Z, y_train, 500, return_indices=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_cvx, cvx = best_time(lambda: ITML(solver="cvxpy").fit(idx, labels, preprocessor=Z), 1)
        t_breg, breg = best_time(
            lambda: ITML(tol=1e-9, max_iter=100_000).fit(idx, labels, preprocessor=Z), 1
        )
    print("\n== ITML solvers, d=20, 500 constraints (target: cvxpy <= 5 s)")
    print_table([
        {"solver": "cvxpy (Clarabel)", "time_s": t_cvx, "objective": cvx.objective_},
        {"solver": "bregman, tol 1e-9", "time_s": t_breg, "objective": breg.objective_},
    ], ["solver", "time_s", "objective"])
    print(f"relative objective gap: {abs(cvx.objective_ - breg.objective_) / cvx.objective_:.2e}")


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
        results["Euclidean"][1].append(verification_roc_auc(labels[test], d_test))
        itml = ITML(random_state=0).fit(idx[train], labels[train], preprocessor=X)
        results["ITML"][0].append(itml.score(idx[test], labels[test], preprocessor=X))
        results["ITML"][1].append(verification_roc_auc(
            labels[test], itml.pair_distance(idx[test], preprocessor=X)))
    print(f"\n== verification, digits pairs, {n_folds} sample-disjoint folds of 600 pairs")
    print_table([
        {"distance": name, "accuracy": f"{np.mean(a):.4f} +- {np.std(a):.4f}",
         "ROC AUC": f"{np.mean(r):.4f} +- {np.std(r):.4f}"}
        for name, (a, r) in results.items()
    ], ["distance", "accuracy", "ROC AUC"])


if __name__ == "__main__":
    print(f"machine: {os.cpu_count()} cores")
    protocol()
    cvxpy_size()
    verification()
