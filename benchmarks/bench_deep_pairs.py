"""DDML learning from labelled pairs against ITML from the very same pairs: verification.

    python benchmarks/bench_deep_pairs.py [--settings] [--threads 1]

Protocol (that of ``bench_itml.py``'s verification table): digits, standardized
(StandardScaler on all the samples), 6000 index pairs in 10 sample-disjoint folds of 600,
half of them similar (``make_pairs(X, y, 6000, n_folds=10, return_indices=True,
random_state=0)``), the restricted protocol of Labeled Faces in the Wild. For each fold,
every learner is fitted at its defaults (``random_state=0``) on the other nine folds' 5400
pairs, given as index pairs with ``preprocessor=X``; its fit calibrates the threshold on
those training pairs. Scored on the held-out fold, whose pairs join samples no training pair
holds: accuracy (``score``) and ROC AUC of ``decision_function``
(:func:`skdml.metrics.verification_roc_auc`); the Euclidean distance, its threshold
calibrated on the training pairs the same way, is the baseline. Every contender gets the
same standardized data (DDML's own standardization then changes nothing; ITML's makes it
independent of the units), folds, pairs and scorer, on the same threads. Fit times: the
median over the folds of one fit each.

``--settings`` adds what moves DDML's figures: its defaults beside one change each (pairs
per batch, epochs, tau, network size, Adam's learning rate), on the first five folds.
"""

import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import protocol_parser, start_run, thread_settings, write_table  # noqa: E402

from skdml import ITML, _threshold  # noqa: E402
from skdml.datasets import make_pairs  # noqa: E402
from skdml.deep import DDML  # noqa: E402
from skdml.metrics import verification_roc_auc  # noqa: E402

N_PAIRS, N_FOLDS = 6000, 10
SETTINGS_FOLDS = 5
SETTINGS = {
    "DDML (defaults: 128 pairs a batch, 30 epochs, tau 3, 64-128-64, lr 1e-3)": {},
    "32 pairs a batch": {"batch_size": 32},
    "512 pairs a batch": {"batch_size": 512},
    "10 epochs": {"max_epochs": 10},
    "60 epochs": {"max_epochs": 60},
    "tau 1": {"tau": 1.0},
    "tau 10": {"tau": 10.0},
    "network 64-64-32": {"hidden_sizes": (64, 32)},
    "network 64-256-128": {"hidden_sizes": (256, 128)},
    "lr 3e-3": {"lr": 3e-3},
    "lr 1e-2": {"lr": 1e-2},
}


def digits_pairs():
    """Standardized digits and the 10-fold index pairs of the protocol."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    idx, labels, folds = make_pairs(X, y, N_PAIRS, n_folds=N_FOLDS, return_indices=True,
                                    random_state=0)
    return X, idx, labels, folds


class Euclidean:
    """The baseline: the Euclidean distance, threshold calibrated on the training pairs."""

    def fit(self, idx, labels, preprocessor):
        self.threshold_, _ = _threshold.best_threshold(self._distance(idx, preprocessor),
                                                       labels)
        return self

    @staticmethod
    def _distance(idx, X):
        return np.linalg.norm(X[idx[:, 0]] - X[idx[:, 1]], axis=1)

    def decision_function(self, idx, preprocessor):
        return self.threshold_ - self._distance(idx, preprocessor)

    def score(self, idx, labels, preprocessor):
        pred = np.where(self.decision_function(idx, preprocessor) >= 0, 1, -1)
        return float(np.mean(pred == labels))


def evaluate(make, X, idx, labels, folds, n_folds):
    """Accuracy, ROC AUC and fit time of ``make()`` on each of the first ``n_folds`` folds."""
    accuracy, auc, seconds = [], [], []
    for f in range(n_folds):
        train, test = folds != f, folds == f
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = make().fit(idx[train], labels[train], preprocessor=X)
        seconds.append(time.perf_counter() - start)
        accuracy.append(model.score(idx[test], labels[test], preprocessor=X))
        auc.append(verification_roc_auc(
            labels[test], model.decision_function(idx[test], preprocessor=X)))
    return np.array(accuracy), np.array(auc), float(np.median(seconds))


def _row(name, accuracy, auc, seconds, reference=None):
    row = {"learner": name, "accuracy": f"{accuracy.mean():.4f} +- {accuracy.std():.4f}",
           "ROC AUC": f"{auc.mean():.4f} +- {auc.std():.4f}", "fit_s": seconds}
    if reference is not None:
        ref_accuracy, ref_auc = reference
        row["folds above ITML (acc / AUC)"] = (
            f"{int(np.sum(accuracy > ref_accuracy))} / {int(np.sum(auc > ref_auc))} "
            f"of {len(accuracy)}")
    return row


def main():
    parser = protocol_parser(__doc__, repeat=1, warmup=False)
    parser.add_argument("--settings", action="store_true",
                        help=f"also DDML at other settings, on {SETTINGS_FOLDS} folds")
    args = parser.parse_args()
    start_run(threads=args.threads, repeat=None, extra=[
        f"digits, standardized; {N_PAIRS} pairs in {N_FOLDS} sample-disjoint folds "
        "(make_pairs, seed 0), fitted on nine folds' index pairs, scored on the tenth",
        "fit_s: the median over the folds of one fit each"])
    X, idx, labels, folds = digits_pairs()
    columns = ["learner", "accuracy", "ROC AUC", "folds above ITML (acc / AUC)", "fit_s"]
    with thread_settings(args.threads):
        results = {name: evaluate(make, X, idx, labels, folds, N_FOLDS) for name, make in [
            ("Euclidean", Euclidean),
            ("ITML", lambda: ITML(random_state=0)),
            ("DDML", lambda: DDML(random_state=0)),
        ]}
        itml = results["ITML"][:2]
        print(f"== verification, digits pairs, {N_FOLDS} sample-disjoint folds of "
              f"{N_PAIRS // N_FOLDS} pairs")
        write_table("deep_pairs", [
            _row(name, *result, reference=None if name == "ITML" else itml)
            for name, result in results.items()
        ], columns, note=f"mean +- standard deviation over the {N_FOLDS} folds; each fit "
           "calibrates its threshold on the training folds' pairs; every learner at its "
           "defaults")
        if not args.settings:
            return
        reference = evaluate(lambda: ITML(random_state=0), X, idx, labels, folds,
                             SETTINGS_FOLDS)
        rows = [_row("ITML (defaults)", *reference)]
        for name, params in SETTINGS.items():
            rows.append(_row(name, *evaluate(lambda: DDML(random_state=0, **params), X,
                                             idx, labels, folds, SETTINGS_FOLDS),
                             reference=reference[:2]))
        print(f"== DDML's settings, the first {SETTINGS_FOLDS} folds")
        write_table("deep_pairs_settings", rows, columns,
                    note=f"the first {SETTINGS_FOLDS} folds of the protocol; DDML at its "
                    "defaults but for the one setting named")


if __name__ == "__main__":
    main()
