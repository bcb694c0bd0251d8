"""NCA, MLKR, LFDA and MCML against scikit-learn and metric-learn on the digits protocol.

Protocol (../shared/ANCHORS.md): load_digits, StandardScaler, 70/30 stratified split
(random_state=0), 3-NN accuracy on the learned embedding, every learner with its defaults
(``random_state=0``). MLKR is given the digit label as a real-valued target, as
metric-learn's own benchmark did. Every contender (scikit-learn in this process, metric-learn
in the peers' venv) runs on the same threads and is timed the same way: the median of
``--repeat`` fits after one untimed warm-up fit. ``time / skdml`` is a contender's fit time
over skdml's for the same learner.

    .venv/bin/python benchmarks/bench_supervised_linear.py [--repeat 3] [--no-warmup]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _common import (  # noqa: E402
    digits_split, knn_accuracy, measure_fit, protocol_parser, run_peer, start_run,
    thread_settings, write_table,
)


PEER = """
import json
from _common import digits_split, measure_fit
import metric_learn

split = X_train, X_test, y_train, y_test = digits_split()
def measure(make, target=None):
    return measure_fit(make, split, target, PARAMS["repeat"], PARAMS["warmup"])
print(json.dumps({
    "NCA": measure(lambda: metric_learn.NCA(random_state=0)),
    "MLKR": measure(lambda: metric_learn.MLKR(random_state=0), y_train.astype(float)),
    "LFDA": measure(lambda: metric_learn.LFDA()),
}))
"""


def row(method, result, reference=None):
    """A table row from :func:`measure_fit`'s dict; what happened instead goes in the
    accuracy cell."""
    out = {"method": method, "fit_s": result.get("fit_s", ""),
           "accuracy": result.get("accuracy", result.get("outcome", "")),
           "n_iter": result.get("n_iter", "")}
    if reference is not None and "accuracy" in result and "fit_s" in reference:
        out["time / skdml"] = result["fit_s"] / reference["fit_s"]
    return out


def main():
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    from skdml.linear.lfda import LFDA
    from skdml.linear.mcml import MCML
    from skdml.linear.mlkr import MLKR
    from skdml.linear.nca import NCA

    args = protocol_parser(__doc__).parse_args()
    start_run(threads=args.threads, repeat=args.repeat, warmup=args.warmup)
    split = X_train, X_test, y_train, y_test = digits_split()

    def measure(make, target=None):
        return measure_fit(make, split, target, args.repeat, args.warmup)

    with thread_settings(args.threads):
        nca = measure(lambda: NCA(random_state=0))
        sk_nca = measure(lambda: NeighborhoodComponentsAnalysis(random_state=0))
        mlkr = measure(lambda: MLKR(random_state=0), y_train.astype(float))
        lfda = measure(LFDA)
        mcml = measure(lambda: MCML(random_state=0))
    print("running metric-learn 0.7.0 in the peers' venv ...", flush=True)
    peer = run_peer(PEER, threads=args.threads,
                    params={"repeat": args.repeat, "warmup": args.warmup})

    def peer_row(name, ours):
        result = peer.cell(name)
        return row(f"metric-learn {name}",
                   result if isinstance(result, dict) else {"outcome": result}, ours)

    rows = [
        {"method": "Euclidean (no learning)",
         "accuracy": knn_accuracy(X_train, y_train, X_test, y_test)},
        row("skdml NCA", nca), row("scikit-learn NCA", sk_nca, nca), peer_row("NCA", nca),
        row("skdml MLKR", mlkr), peer_row("MLKR", mlkr),
        row("skdml LFDA", lfda), peer_row("LFDA", lfda),
        row("skdml MCML (metric-learn has none)", mcml),
    ]
    write_table("supervised_linear_digits", rows,
                ["method", "fit_s", "accuracy", "n_iter", "time / skdml"],
                note="" if peer.measured else f"metric-learn not measured: {peer.reason}")


if __name__ == "__main__":
    main()
