"""LMNN on the digits protocol and on a 20,000-sample stand-in for UCI letter: skdml against
metric-learn 0.7.0 and mlpack, same run.

Protocol (../shared/ANCHORS.md): sklearn's digits, StandardScaler, 70/30 stratified split
(random_state=0), 3-NN accuracy on the learned embedding, 3 target neighbors, every
implementation otherwise with its defaults (mlpack: the L-BFGS optimizer).

    .venv/bin/python benchmarks/bench_lmnn.py [--repeat 3] [--no-warmup] [--only digits|letter]

Every contender runs on the same threads (one BLAS/OpenMP/numba thread, both sides) and is
timed the same way: the median of ``--repeat`` fits after one untimed warm-up fit (numba
compiles or loads skdml's kernels on the first call of a process; the peers get the same
warm-up). The peers run in the peers' venv (``make peers``); a peer that could not be run
reads "not measured".

The letter part. ANCHORS.md measured a 20,000 x 16, 26-class table (UCI letter: 70/30 split,
standardized, 3-NN) where skdml's LMNN stopped at 0.952 and mlpack's L-BFGS LMNN reached
0.960 in 67 s. The UCI set is not shipped with scikit-learn and this benchmark downloads
nothing, so it runs on a stand-in of the same shape: ``make_classification`` with 20,000
samples, 16 features (10 informative, 2 redundant, 4 of noise), 26 classes of one cluster,
``class_sep=2.3``, no label noise, ``random_state=0``; StandardScaler, the 70/30 stratified
split. On it, as on letter, Euclidean 3-NN reads about 0.94 and one LMNN pass about 0.95
while mlpack reaches about 0.96. Its contenders: skdml's LMNN with its defaults
(``random_state=0`` for the validation split of ``n_passes='auto'``), the same with
``n_passes=1`` (one pass over the Euclidean target neighbors, the fit ANCHORS measured), and
mlpack's L-BFGS LMNN (metric-learn's LMNN takes far longer than mlpack here and is not run).
Each fit is timed once, after an untimed warm-up fit on 2,000 samples of the training split
(imports, numba's kernels, the peer's process), the same for every contender.
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


MLPACK_LETTER = """
import json, time
import numpy as np
from _common import attempt, knn_accuracy, peer_data
import mlpack
d = peer_data()
X_train, X_test, y_train, y_test = d["X_train"], d["X_test"], d["y_train"], d["y_test"]

def fit(X, y):
    return mlpack.lmnn(input_=X, labels=y.astype(np.uint64), k=3, optimizer="lbfgs", seed=1)

def measure():
    fit(X_train[:2000], y_train[:2000])  # warm-up, as every contender
    start = time.perf_counter()
    out = fit(X_train, y_train)
    seconds = time.perf_counter() - start
    L = out["output"]
    if not np.allclose(X_train @ L.T, out["transformed_data"], atol=1e-6):
        L = L.T
    acc = knn_accuracy(X_train @ L.T, y_train, X_test @ L.T, y_test)
    return {"fit_s": seconds, "accuracy": acc}
print(json.dumps({"LMNN": attempt(measure)}))
"""


def letter_standin():
    """The stand-in for UCI letter (see the module docstring), split as the protocol."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(
        n_samples=20_000, n_features=16, n_informative=10, n_redundant=2, n_classes=26,
        n_clusters_per_class=1, class_sep=2.3, flip_y=0.0, random_state=0)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def _time_once(make, X_train, y_train):
    """Fit time of ``make().fit`` on the training split, after a warm-up on 2,000 samples."""
    import time

    make().fit(X_train[:2000], y_train[:2000])
    start = time.perf_counter()
    model = make().fit(X_train, y_train)
    return time.perf_counter() - start, model


def letter(threads):
    X_train, X_test, y_train, y_test = split = letter_standin()
    print(f"letter stand-in: {X_train.shape[0]} train / {X_test.shape[0]} test samples, "
          f"{X_train.shape[1]} features, 26 classes")
    rows = [{"method": "Euclidean (no learning)",
             "accuracy": knn_accuracy(X_train, y_train, X_test, y_test)}]
    ours = {}
    for name, params in [("skdml LMNN (defaults)", {"random_state": 0}),
                         ("skdml LMNN n_passes=1", {"n_passes": 1})]:
        with thread_settings(threads), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            seconds, lmnn = _time_once(lambda: LMNN(n_neighbors=3, **params), X_train, y_train)
        ours[name] = seconds
        rows.append({"method": name, "fit_s": seconds, "passes": lmnn.n_passes_,
                     "iterations": lmnn.n_iter_,
                     "accuracy": knn_accuracy(lmnn.transform(X_train), y_train,
                                              lmnn.transform(X_test), y_test)})
    data = dict(zip(["X_train", "X_test", "y_train", "y_test"], split))
    peer = run_peer(MLPACK_LETTER, threads=threads, data=data)
    result = peer.cell("LMNN")
    if isinstance(result, dict):
        rows.append({"method": "mlpack 4.8 lmnn (L-BFGS)", "fit_s": result["fit_s"],
                     "accuracy": result["accuracy"]})
        rows[1]["mlpack_s / skdml_s"] = result["fit_s"] / ours["skdml LMNN (defaults)"]
        rows[2]["mlpack_s / skdml_s"] = result["fit_s"] / ours["skdml LMNN n_passes=1"]
    else:
        rows.append({"method": "mlpack 4.8 lmnn (L-BFGS)", "fit_s": result})
    note = ("timing of this table: one fit per contender, after an untimed warm-up fit on "
            "2,000 training samples")
    if not peer.measured:
        note += f"; mlpack not measured: {peer.reason}"
    write_table("lmnn_letter", rows,
                ["method", "fit_s", "accuracy", "passes", "iterations", "mlpack_s / skdml_s"],
                note=note)


def _peer_row(method, peer, ours):
    result = peer.cell("LMNN")
    if not isinstance(result, dict):  # "not measured" or "raised ..."
        return {"method": method, "fit_s": result}
    return {"method": method, "fit_s": result["fit_s"], "accuracy": result["accuracy"],
            "iterations": result["n_iter"], "peer_s / skdml_s": result["fit_s"] / ours}


def digits(args):
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


def main():
    parser = protocol_parser(__doc__)
    parser.add_argument("--only", choices=["digits", "letter"], default=None,
                        help="run one part (default: both)")
    args = parser.parse_args()
    timed = args.only != "letter"  # the letter part times its fits its own way (its note)
    start_run(threads=args.threads, repeat=args.repeat if timed else None, warmup=args.warmup)
    if args.only in (None, "digits"):
        digits(args)
    if args.only in (None, "letter"):
        letter(args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
