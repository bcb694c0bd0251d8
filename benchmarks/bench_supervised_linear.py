"""NCA, MLKR, LFDA and MCML against scikit-learn and metric-learn on the digits protocol.

Protocol (../shared/ANCHORS.md): load_digits, StandardScaler, 70/30 stratified split
(random_state=0), 3-NN accuracy on the learned embedding; fit time is the best of
``REPEAT`` fits (one for the slow peers). MLKR is given the digit label as a real-valued
target, as metric-learn's own benchmark did. Peers run in their own venv (``run_peer``),
measured in this same run; ``speedup`` is the peer's fit time over ours.

    .venv/bin/python benchmarks/bench_supervised_linear.py
"""

import os
import platform
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))

from _common import best_time, digits_split, knn_accuracy, print_table, run_peer  # noqa: E402

REPEAT = 3

PEER_CODE = """
import json, time, warnings
import numpy as np
from _common import digits_split, knn_accuracy
import metric_learn

X_train, X_test, y_train, y_test = digits_split()
out = {}
def measure(name, make, target):
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = make().fit(X_train, target)
        except Exception as exc:
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            return
    fit = time.perf_counter() - start
    L = model.components_
    if np.iscomplexobj(L) or not np.all(np.isfinite(L)):
        said = "; ".join(sorted({str(w.message)[:80] for w in caught}))
        out[name] = {"fit_s": fit, "error": f"{L.dtype} components_ with "
                     f"{int(np.sum(~np.isfinite(L)))} NaN/inf entries (warnings: {said})"}
        try:
            model.transform(X_test)
        except Exception as exc:
            out[name]["error"] += f"; transform raises {type(exc).__name__}: {exc}"
        return
    Z_train, Z_test = model.transform(X_train), model.transform(X_test)
    out[name] = {"fit_s": fit, "accuracy": knn_accuracy(Z_train, y_train, Z_test, y_test)}

measure("NCA", lambda: metric_learn.NCA(random_state=0), y_train)
measure("MLKR", lambda: metric_learn.MLKR(random_state=0), y_train.astype(float))
measure("LFDA", lambda: metric_learn.LFDA(), y_train)
print(json.dumps(out))
"""


def main():
    import numpy as np
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    from skdml.linear.lfda import LFDA
    from skdml.linear.mcml import MCML
    from skdml.linear.mlkr import MLKR
    from skdml.linear.nca import NCA

    X_train, X_test, y_train, y_test = digits_split()
    print(f"digits: {X_train.shape[0]} train / {X_test.shape[0]} test, {X_train.shape[1]} "
          f"features; {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")

    def ours(name, make, target, repeat=REPEAT):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make().fit(X_train[:50], target[:50])  # compile the numba kernels first
            fit_s, model = best_time(lambda: make().fit(X_train, target), repeat=repeat)
        row = {"method": name, "fit_s": fit_s,
               "accuracy": knn_accuracy(model.transform(X_train), y_train,
                                        model.transform(X_test), y_test)}
        if hasattr(model, "n_iter_"):
            row["n_iter"] = model.n_iter_
        row["finite"] = bool(np.isrealobj(model.components_)
                             and np.all(np.isfinite(model.components_)))
        return row

    rows = [{"method": "Euclidean", "fit_s": 0.0,
             "accuracy": knn_accuracy(X_train, y_train, X_test, y_test)}]
    nca = ours("skdml NCA", lambda: NCA(random_state=0), y_train)
    sk_nca = ours("sklearn NCA", lambda: NeighborhoodComponentsAnalysis(random_state=0),
                  y_train)
    mlkr = ours("skdml MLKR", lambda: MLKR(random_state=0), y_train.astype(float))
    lfda = ours("skdml LFDA", LFDA, y_train)
    mcml = ours("skdml MCML", lambda: MCML(random_state=0), y_train, repeat=1)

    print("running metric-learn 0.7.0 in the peer venv ...", flush=True)
    peer = run_peer(PEER_CODE) or {}

    def peer_row(name):
        result = peer.get(name)
        if result is None:
            return {"method": f"metric-learn {name}", "note": "not measured"}
        row = {"method": f"metric-learn {name}"}
        row.update({k: v for k, v in result.items() if k in ("fit_s", "accuracy")})
        if "error" in result:
            row["note"] = "fails (see below)"
        return row

    ml_nca, ml_mlkr, ml_lfda = peer_row("NCA"), peer_row("MLKR"), peer_row("LFDA")
    nca["speedup"] = f"{sk_nca['fit_s'] / nca['fit_s']:.2f}x vs sklearn"
    if "fit_s" in ml_nca:
        nca["speedup"] += f", {ml_nca['fit_s'] / nca['fit_s']:.1f}x vs metric-learn"
    if "fit_s" in ml_mlkr and "accuracy" in ml_mlkr:
        mlkr["speedup"] = f"{ml_mlkr['fit_s'] / mlkr['fit_s']:.1f}x vs metric-learn"
    mcml["note"] = "no peer (metric-learn has no MCML)"
    rows += [nca, sk_nca, ml_nca, mlkr, ml_mlkr, lfda, ml_lfda, mcml]
    print_table(rows, ["method", "fit_s", "accuracy", "n_iter", "speedup", "note"])
    for name, result in peer.items():
        if "error" in result:
            print(f"\nmetric-learn {name} on digits fails: {result['error']}")
    print(f"skdml LFDA on digits: real, finite components: {lfda.pop('finite')}")


if __name__ == "__main__":
    main()
