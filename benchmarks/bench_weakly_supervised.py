"""MMC, SDML, RCA, LSML and SCML against metric-learn 0.7.0's *_Supervised, same run.

Protocol (../shared/ANCHORS.md): digits, StandardScaler, 70/30 stratified split (seed 0),
3-NN accuracy on the learned embedding; every learner fitted from class labels with its
defaults and random_state=0. Then: which of iris / wine / breast cancer / digits (raw, as
loaded) each learner fits with its defaults, ours beside metric-learn's SDML and RCA.

    .venv/bin/python benchmarks/bench_weakly_supervised.py
"""

import os
import subprocess
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import digits_split, knn_accuracy, print_table, run_peer  # noqa: E402

from skdml.linear.lsml import LSML  # noqa: E402
from skdml.linear.mmc import MMC  # noqa: E402
from skdml.linear.rca import RCA  # noqa: E402
from skdml.linear.scml import SCML  # noqa: E402
from skdml.linear.sdml import SDML  # noqa: E402

# Timing shared by both sides: one fit, and the best of three when a fit takes < 2 s.
TIMER = '''
import time
def timed(fit):
    start = time.perf_counter(); model = fit(); best = time.perf_counter() - start
    if best < 2.0:
        for _ in range(2):
            start = time.perf_counter(); model = fit()
            best = min(best, time.perf_counter() - start)
    return best, model
'''
exec(TIMER)

OURS = {
    "MMC": lambda: MMC(random_state=0),
    "MMC diagonal": lambda: MMC(diagonal=True, random_state=0),
    "SDML": lambda: SDML(random_state=0),
    "RCA": lambda: RCA(random_state=0),
    "LSML": lambda: LSML(random_state=0),
    "SCML": lambda: SCML(random_state=0),
}

PEER_CLASSES = {
    "MMC": "MMC_Supervised(random_state=0)",
    "MMC diagonal": "MMC_Supervised(diagonal=True, random_state=0)",
    "SDML": "SDML_Supervised(random_state=0)",
    "RCA": "RCA_Supervised(random_state=0)",
    "LSML": "LSML_Supervised(random_state=0)",
    "SCML": "SCML_Supervised(random_state=0)",
}
PEER_TIMEOUT = {"MMC": 240}  # metric-learn's full MMC takes minutes on digits

PEER_DIGITS = TIMER + '''
import json, warnings
import numpy as np
warnings.simplefilter("ignore")
from _common import digits_split, knn_accuracy
from metric_learn import *
Xtr, Xte, ytr, yte = digits_split()
try:
    t, m = timed(lambda: {make}.fit(Xtr, ytr))
    Ztr, Zte = m.transform(Xtr), m.transform(Xte)
    if not (np.all(np.isfinite(Ztr)) and np.all(np.isfinite(Zte))):
        print(json.dumps({{"time": t, "error": "non-finite embedding (NaN)"}}))
    else:
        print(json.dumps({{"time": t, "acc": knn_accuracy(Ztr, ytr, Zte, yte),
                          "M": m.get_mahalanobis_matrix().tolist()}}))
except Exception as exc:
    print(json.dumps({{"error": type(exc).__name__ + ": " + str(exc).splitlines()[0][:150]}}))
'''

PEER_DATASETS = '''
import json, warnings
import numpy as np
warnings.simplefilter("ignore")
from sklearn.datasets import load_iris, load_wine, load_breast_cancer, load_digits
from metric_learn import SDML_Supervised, RCA_Supervised
out = {}
for load in [load_iris, load_wine, load_breast_cancer, load_digits]:
    X, y = load(return_X_y=True)
    for name, make in [("SDML", lambda: SDML_Supervised(random_state=0)),
                       ("RCA", lambda: RCA_Supervised(random_state=0))]:
        try:
            Z = make().fit(X, y).transform(X)
            out[name + " " + load.__name__[5:]] = (
                "ok" if np.all(np.isfinite(Z)) else "NaN in the embedding")
        except Exception as exc:
            out[name + " " + load.__name__[5:]] = type(exc).__name__ + ": " + (
                str(exc).splitlines() or [""])[0][:90]
print(json.dumps(out))
'''


def mmc_objective(M, X, y, diagonal):
    """Xing et al.'s objective of ``M`` on the pairs our MMC(random_state=0) samples.

    ``mean_S d^2 - log mean_D d`` at the best scale of ``M`` (the learned scale is
    arbitrary): ``1/2 - log(mean_D d / sqrt(2 mean_S d^2))``, standardized units. Lower is
    better.
    """
    from skdml.constraints import pairs_from_labels
    from skdml.linear._psd import feature_scales
    from skdml.linear.mmc import _MMCObjective

    _, y_enc = np.unique(y, return_inverse=True)
    n = 20 * len(np.unique(y)) ** 2
    idx, labels = pairs_from_labels(y_enc, 2 * n, random_state=np.random.RandomState(0))
    s = feature_scales(X)
    v = s > 0
    Z = (X[idx[:, 0]] - X[idx[:, 1]])[:, v] / s[v]
    obj = _MMCObjective(Z[labels == 1], Z[labels == -1], diagonal)
    M = np.asarray(M)[np.ix_(v, v)] * np.outer(s[v], s[v])
    M = np.diag(M) if diagonal else M
    h = float(obj.S @ M) if diagonal else float(np.sum(obj.S * M))
    return 0.5 - np.log(np.mean(obj.distances(M)) / np.sqrt(2 * h))


def peer_digits(name):
    code = PEER_DIGITS.format(make=PEER_CLASSES[name])
    try:
        return run_peer(code, timeout=PEER_TIMEOUT.get(name, 600))
    except subprocess.TimeoutExpired:
        return {"error": f"still running after {PEER_TIMEOUT[name]} s (stopped)"}


def main():
    X_train, X_test, y_train, y_test = digits_split()
    base = knn_accuracy(X_train, y_train, X_test, y_test)
    print(f"digits protocol: Euclidean 3-NN accuracy {base:.4f}")
    print(f"machine: {os.cpu_count()} cores\n")
    rows, notes = [], []
    for name, make in OURS.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t, model = timed(lambda: make().fit(X_train, y_train))
        acc = knn_accuracy(model.transform(X_train), y_train, model.transform(X_test), y_test)
        peer = peer_digits(name) or {}
        row = {"learner": name, "ours s": t, "ours acc": acc}
        if caught:
            row["ours note"] = type(caught[-1].message).__name__
        if "acc" in peer:
            row.update({"peer s": peer["time"], "peer acc": peer["acc"],
                        "peer/ours time": peer["time"] / t, "acc diff": acc - peer["acc"]})
        else:
            row["peer s"] = peer.get("time", "")
            row["peer acc"] = "failed"
            print(f"  metric-learn {PEER_CLASSES[name]}: {peer.get('error', 'no result')}")
        if name.startswith("MMC") and "M" in peer:
            diagonal = name.endswith("diagonal")
            ours_f = mmc_objective(model.get_mahalanobis_matrix(), X_train, y_train, diagonal)
            peer_f = mmc_objective(peer["M"], X_train, y_train, diagonal)
            notes.append(
                f"  {name}: Xing et al.'s objective on the same pairs (lower is better): "
                f"ours {ours_f:.4f}, metric-learn {peer_f:.4f}"
            )
        rows.append(row)
    print()
    print_table(rows, ["learner", "ours s", "ours acc", "peer s", "peer acc",
                       "peer/ours time", "acc diff", "ours note"])
    print("\n".join(notes))

    print("\nFits with defaults on raw data (finite embedding, no exception):")
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine

    peer = run_peer(PEER_DATASETS) or {}
    table = []
    for load in [load_iris, load_wine, load_breast_cancer, load_digits]:
        X, y = load(return_X_y=True)
        name = load.__name__[5:]
        row = {"dataset": name}
        for learner, make in OURS.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    Z = make().fit(X, y).transform(X)
                row[learner] = "ok" if np.all(np.isfinite(Z)) else "NaN"
            except Exception as exc:  # pragma: no cover - reported, not hidden
                row[learner] = type(exc).__name__
        row["ml SDML"] = "ok" if peer.get(f"SDML {name}") == "ok" else "fails"
        row["ml RCA"] = "ok" if peer.get(f"RCA {name}") == "ok" else "fails"
        table.append(row)
    print_table(table, ["dataset", *OURS, "ml SDML", "ml RCA"])
    for key, value in peer.items():
        if value != "ok":
            print(f"  metric-learn {key}: {value}")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
