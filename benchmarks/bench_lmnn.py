"""LMNN on the digits protocol: skdml against metric-learn 0.7.0 and mlpack, same run.

Protocol (../shared/ANCHORS.md): sklearn's digits, StandardScaler, 70/30 stratified split
(random_state=0), 3-NN accuracy on the learned embedding, 3 target neighbors, every
implementation otherwise with its defaults (mlpack: the L-BFGS optimizer).

    .venv/bin/python benchmarks/bench_lmnn.py [--repeat 3] [--no-warmup]

Every contender runs on the same threads (one BLAS/OpenMP/numba thread, both sides) and is
timed the same way: the median of ``--repeat`` fits after one untimed warm-up fit (numba
compiles or loads skdml's kernels on the first call of a process; the peers get the same
warm-up). The peers run in the peers' venv (``make peers``); a peer that could not be run
reads "not measured".
"""

import sys
import warnings

from _common import (
    digits_split, knn_accuracy, median_time, protocol_parser, run_peer, start_run,
    thread_settings, write_table,
)

from sklearn.exceptions import ConvergenceWarning

from skdml.linear.lmnn import LMNN


METRIC_LEARN = """
import json, warnings
warnings.simplefilter("ignore")
from _common import attempt, digits_split, knn_accuracy, median_time
from metric_learn import LMNN
X_train, X_test, y_train, y_test = digits_split()

def measure():
    seconds, lmnn = median_time(
        lambda: LMNN(n_neighbors=3, random_state=0).fit(X_train, y_train),
        PARAMS["repeat"], PARAMS["warmup"])
    acc = knn_accuracy(lmnn.transform(X_train), y_train, lmnn.transform(X_test), y_test)
    return {"fit_s": seconds, "accuracy": acc, "n_iter": getattr(lmnn, "n_iter_", "")}
print(json.dumps({"LMNN": attempt(measure)}))
"""

MLPACK = """
import json
import numpy as np
from _common import attempt, digits_split, knn_accuracy, median_time
import mlpack
X_train, X_test, y_train, y_test = digits_split()

def measure():
    seconds, out = median_time(
        lambda: mlpack.lmnn(input_=X_train, labels=y_train.astype(np.uint64), k=3,
                            optimizer="lbfgs", seed=1),
        PARAMS["repeat"], PARAMS["warmup"])
    L = out["output"]
    # The learned L maps x to L x: check the orientation on the transformed training set.
    if not np.allclose(X_train @ L.T, out["transformed_data"], atol=1e-6):
        L = L.T
    assert np.allclose(X_train @ L.T, out["transformed_data"], atol=1e-6)
    acc = knn_accuracy(X_train @ L.T, y_train, X_test @ L.T, y_test)
    return {"fit_s": seconds, "accuracy": acc, "n_iter": ""}
print(json.dumps({"LMNN": attempt(measure)}))
"""


def _peer_row(method, peer, ours):
    result = peer.cell("LMNN")
    if not isinstance(result, dict):  # "not measured" or "raised ..."
        return {"method": method, "fit_s": result}
    return {"method": method, "fit_s": result["fit_s"], "accuracy": result["accuracy"],
            "iterations": result["n_iter"], "peer_s / skdml_s": result["fit_s"] / ours}


def main():
    args = protocol_parser(__doc__).parse_args()
    start_run(threads=args.threads, repeat=args.repeat, warmup=args.warmup)
    X_train, X_test, y_train, y_test = digits_split()
    print(f"digits: {X_train.shape[0]} train / {X_test.shape[0]} test samples, "
          f"{X_train.shape[1]} features")

    with thread_settings(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        seconds, lmnn = median_time(lambda: LMNN(n_neighbors=3).fit(X_train, y_train),
                                    args.repeat, args.warmup)
    params = {"repeat": args.repeat, "warmup": args.warmup}
    peers = [("metric-learn 0.7.0 LMNN", run_peer(METRIC_LEARN, threads=args.threads,
                                                  params=params)),
             ("mlpack 4.8 lmnn (L-BFGS)", run_peer(MLPACK, threads=args.threads, params=params))]
    rows = [
        {"method": "Euclidean (no learning)",
         "accuracy": knn_accuracy(X_train, y_train, X_test, y_test)},
        {"method": "skdml LMNN", "fit_s": seconds, "iterations": lmnn.n_iter_,
         "accuracy": knn_accuracy(lmnn.transform(X_train), y_train,
                                  lmnn.transform(X_test), y_test)},
    ] + [_peer_row(name, peer, seconds) for name, peer in peers]
    reasons = [f"{name} not measured: {peer.reason}" for name, peer in peers
               if not peer.measured]
    write_table("lmnn_digits", rows,
                ["method", "fit_s", "accuracy", "iterations", "peer_s / skdml_s"],
                note="; ".join(reasons))
    return 0


if __name__ == "__main__":
    sys.exit(main())
