"""MMC, SDML, RCA, LSML and SCML against metric-learn 0.7.0's *_Supervised, same run.

Protocol (../shared/ANCHORS.md): digits, StandardScaler, 70/30 stratified split (seed 0),
3-NN accuracy on the learned embedding; every learner fitted from class labels with its
defaults and random_state=0, on the same threads on both sides, timed the same way (the median
of ``--repeat`` fits after one untimed warm-up fit; metric-learn's MMC takes a minute a fit,
so the default is one timed fit for everyone). Then: which of iris / wine / breast cancer /
digits (raw, as loaded) each learner fits with its defaults, skdml's and metric-learn's, in
this run. A peer that raised in this run reads "raised <type>: <message>"; one that could not
be run at all reads "not measured".

    .venv/bin/python benchmarks/bench_weakly_supervised.py [--repeat 1] [--no-warmup]
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import (  # noqa: E402
    NOT_MEASURED, digits_split, fits_raw, knn_accuracy, measure_fit, protocol_parser,
    run_peer, start_run, thread_settings, write_table,
)

from skdml.linear.lsml import LSML  # noqa: E402
from skdml.linear.mmc import MMC  # noqa: E402
from skdml.linear.rca import RCA  # noqa: E402
from skdml.linear.scml import SCML  # noqa: E402
from skdml.linear.sdml import SDML  # noqa: E402

OURS = {
    "MMC": lambda: MMC(random_state=0),
    "MMC diagonal": lambda: MMC(diagonal=True, random_state=0),
    "SDML": lambda: SDML(random_state=0),
    "RCA": lambda: RCA(random_state=0),
    "LSML": lambda: LSML(random_state=0),
    "SCML": lambda: SCML(random_state=0),
}
PEERS = {
    "MMC": "MMC_Supervised(random_state=0)",
    "MMC diagonal": "MMC_Supervised(diagonal=True, random_state=0)",
    "SDML": "SDML_Supervised(random_state=0)",
    "RCA": "RCA_Supervised(random_state=0)",
    "LSML": "LSML_Supervised(random_state=0)",
    "SCML": "SCML_Supervised(random_state=0)",
}
PEER_TIMEOUT = 900  # seconds per peer process; past it, the peer reads "not measured"

PEER_DIGITS = """
import json
from _common import digits_split, measure_fit
import metric_learn
split = digits_split()
print(json.dumps(measure_fit(
    lambda: eval("metric_learn." + PARAMS["make"]), split, repeat=PARAMS["repeat"],
    warmup=PARAMS["warmup"],
    extra=lambda m: {"M": m.get_mahalanobis_matrix().tolist()})))
"""

PEER_DATASETS = """
import json
from _common import fits_raw
import metric_learn
print(json.dumps(fits_raw({name: (lambda make=make: eval("metric_learn." + make))
                           for name, make in PARAMS["peers"].items()})))
"""


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


def exact_mmc(split, diagonal, args):
    """Objective, 3-NN accuracy and fit time of ``MMC(barrier=0)``, the paper's program solved
    exactly (extra skdml columns, when this version of MMC has the ``barrier`` parameter)."""
    if "barrier" not in MMC().get_params():
        return {}
    X_train, _, y_train, _ = split
    with thread_settings(args.threads):
        exact = measure_fit(lambda: MMC(barrier=0, diagonal=diagonal, random_state=0), split,
                            repeat=args.repeat, warmup=args.warmup,
                            extra=lambda m: {"M": m.get_mahalanobis_matrix()})
    if "M" not in exact:
        return {"skdml barrier=0": exact.get("outcome", "")}
    return {"skdml barrier=0": mmc_objective(exact["M"], X_train, y_train, diagonal),
            "skdml barrier=0 acc": exact["accuracy"], "skdml barrier=0 s": exact["fit_s"]}


def _cells(result):
    """fit time and accuracy cells from :func:`measure_fit`'s dict (or a not-measured text)."""
    if not isinstance(result, dict):
        return result, result
    return result.get("fit_s", ""), result.get("accuracy", result.get("outcome", ""))


def main():
    args = protocol_parser(__doc__, repeat=1).parse_args()
    start_run(threads=args.threads, repeat=args.repeat, warmup=args.warmup)
    split = X_train, X_test, y_train, y_test = digits_split()
    keep_M = {"extra": lambda m: {"M": m.get_mahalanobis_matrix().tolist()}}
    rows, objectives, reasons = [], [], []
    for name, make in OURS.items():
        with thread_settings(args.threads):
            ours = measure_fit(make, split, repeat=args.repeat, warmup=args.warmup, **keep_M)
        peer = run_peer(PEER_DIGITS, timeout=PEER_TIMEOUT, threads=args.threads,
                        params={"make": PEERS[name], "repeat": args.repeat,
                                "warmup": args.warmup})
        if not peer.measured:
            reasons.append(f"metric-learn {name} not measured: {peer.reason}")
        peer_result = dict(peer) if peer.measured else NOT_MEASURED
        row = {"learner": name}
        row["skdml s"], row["skdml acc"] = _cells(ours)
        row["metric-learn s"], row["metric-learn acc"] = _cells(peer_result)
        if "accuracy" in ours and "accuracy" in peer:
            row["metric-learn / skdml time"] = peer["fit_s"] / ours["fit_s"]
        rows.append(row)
        if name.startswith("MMC") and "M" in ours and "M" in peer:
            diagonal = name.endswith("diagonal")
            objectives.append({
                "learner": name, "skdml default": mmc_objective(ours["M"], X_train, y_train,
                                                                diagonal),
                "metric-learn": mmc_objective(peer["M"], X_train, y_train, diagonal),
                "metric-learn s": peer["fit_s"], **exact_mmc(split, diagonal, args)})
            if "skdml barrier=0 s" in objectives[-1]:
                objectives[-1]["metric-learn / skdml barrier=0 time"] = (
                    peer["fit_s"] / objectives[-1]["skdml barrier=0 s"])
    print("== digits protocol (Euclidean 3-NN accuracy "
          f"{knn_accuracy(X_train, y_train, X_test, y_test):.4f})")
    write_table("weakly_supervised_digits", rows,
                ["learner", "skdml s", "skdml acc", "metric-learn s", "metric-learn acc",
                 "metric-learn / skdml time"], note="; ".join(reasons))
    if objectives:
        print("== MMC: Xing et al.'s objective on the pairs skdml's MMC(random_state=0) "
              "samples (lower is better)")
        write_table("weakly_supervised_mmc_objective", objectives,
                    ["learner", "skdml default", "skdml barrier=0", "metric-learn",
                     "skdml barrier=0 acc", "skdml barrier=0 s", "metric-learn s",
                     "metric-learn / skdml barrier=0 time"],
                    note="barrier=0: the paper's program, the one metric-learn solves, solved "
                    "exactly by skdml (an extra row, timed like the others)")

    print("== fits with defaults on raw data (ok: finite embedding, no exception)")
    with thread_settings(args.threads):
        ours = fits_raw(OURS)
    peer = run_peer(PEER_DATASETS, timeout=PEER_TIMEOUT, threads=args.threads,
                    params={"peers": PEERS})
    table = []
    for dataset in ["iris", "wine", "breast_cancer", "digits"]:
        row = {"dataset": dataset}
        for learner in OURS:
            row[f"skdml {learner}"] = ours[f"{learner} {dataset}"]
            row[f"metric-learn {learner}"] = peer.cell(f"{learner} {dataset}")
        table.append(row)
    # one table per side keeps the pages readable
    write_table("weakly_supervised_raw_skdml", table, ["dataset"] + [f"skdml {k}" for k in OURS])
    write_table("weakly_supervised_raw_metric_learn", table,
                ["dataset"] + [f"metric-learn {k}" for k in OURS],
                note="" if peer.measured else f"metric-learn not measured: {peer.reason}")


if __name__ == "__main__":
    main()
