"""Scaling up: fit time, peak memory and 3-NN accuracy from 10^4 to 3 x 10^5 samples,
skdml's full-batch and large-n paths against the peers, same run; LMNN, NCA or ITML.

    .venv/bin/python benchmarks/bench_scale_up.py [--learner lmnn|nca|itml] [--max-n 100000]
                                                  [--timeout 600]

Data: ``make_classification`` with 50 features (20 informative, 10 redundant, 20 of noise),
20 classes of two clusters each, ``class_sep=2.0``, ``random_state=0``, standardized,
drawn once for the largest size of the run (so runs of different ``--max-n`` see different
data); the first ``n`` samples train, the same 5,000 held-out samples test every fit (3-NN accuracy on
the learned embedding, Euclidean 3-NN on the raw features for reference). ``n`` runs over
10^4, 3 x 10^4, 10^5, 3 x 10^5 and 10^6, up to ``--max-n`` (default 10^5, about an hour on
this machine; ``--max-n 1e6`` adds the larger sizes; a smaller ``--max-n`` runs that one
size: a quick check of the script).

Contenders, each with its defaults and 3 target neighbors: skdml's ``LMNN()`` (L-BFGS on the
full objective; ``n_passes='auto'`` runs several target-neighbor passes with a validation
split above 10,000 samples), skdml's ``LMNN(solver='sgd')`` (minibatches of 1,000 anchors;
each anchor's 3 nearest impostors among the step's 1,000 reference samples), the same with
``n_impostors=None`` (every impostor inside the margin, the paper's objective, which the
L-BFGS row and metric-learn optimize too), metric-learn's ``LMNN`` and mlpack's ``lmnn``
(L-BFGS; mlpack counts each sample's 3 nearest impostors). skdml gets ``random_state=0``
(validation split, minibatches), metric-learn ``random_state=0``, mlpack ``seed=1``.

``--learner nca``: skdml's ``NCA()`` (L-BFGS on the full softmax objective, O(n^2) per
iteration) and ``NCA(solver='sgd')`` (minibatches), scikit-learn's
``NeighborhoodComponentsAnalysis`` and metric-learn's ``NCA``, all at their defaults.
``--learner itml``: skdml's ``ITML()`` (pairs from every sample's 3 nearest same- and
other-class neighbours, 6 n pairs), ``ITML(n_constraints=60000)`` (the same pairs from 10,000
random anchor samples: the cost of a sweep stops growing with n), and metric-learn's
``ITML_Supervised`` (its default: 20 c^2 random pairs). Tables: ``lmnn_scale_up``,
``nca_scale_up``, ``itml_scale_up``.

Every fit runs in a fresh process of its own venv (the peers': ``make peers``) on one
BLAS/OpenMP/numba thread, after an untimed warm-up fit on 500 samples in that process (imports,
numba's kernels). The process reports the fit's wall time and its peak resident memory
(``VmHWM``) over the resident memory just before the fit (the data already loaded), so
``fit_MB`` is what the fit itself added at its peak. A fit whose process runs past
``--timeout`` seconds (default 600: ten minutes, for the warm-up, the fit and the scoring
together; at 10^6 samples at least 1800, the half hour #23 allows there) is stopped and
reads "timed out"; that contender is then not run on larger ``n``. Each process may map at most ``--memory-limit`` GB (default 12), so a
fit that would need more raises ``MemoryError`` (reported) instead of swapping the machine.
"""

import argparse
import contextlib
import os
import sys
import tempfile

import numpy as np

from _common import knn_accuracy, run_peer, start_run, write_table

SIZES = (10_000, 30_000, 100_000, 300_000, 1_000_000)
#: From this size on a fit may take at least LARGE_TIMEOUT seconds.
LARGE, LARGE_TIMEOUT = 1_000_000, 1800
N_TEST = 5_000

#: The child's prologue: memory cap, data of the first n samples, VmHWM / VmRSS readers.
CHILD = """
import json, resource, time, warnings
import numpy as np
from _common import attempt, knn_accuracy
warnings.simplefilter("ignore")
limit = int(PARAMS["memory_limit_gb"] * 2**30)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

def status_mb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024

root, n = PARAMS["data"], PARAMS["n"]
X_train = np.array(np.load(root + "/X.npy", mmap_mode="r")[:n])
y_train = np.array(np.load(root + "/y.npy", mmap_mode="r")[:n])
X_test, y_test = np.load(root + "/X_test.npy"), np.load(root + "/y_test.npy")

def measure():
    fit(X_train[:500], y_train[:500])  # warm-up
    before = status_mb("VmRSS")
    start = time.perf_counter()
    L, info = fit(X_train, y_train)
    seconds = time.perf_counter() - start
    peak = status_mb("VmHWM")
    acc = knn_accuracy(X_train @ L.T, y_train, X_test @ L.T, y_test)
    return {"fit_s": seconds, "accuracy": acc, "fit_MB": peak - before, "peak_MB": peak, **info}
"""

LMNN_FITS = {
    "skdml LMNN (L-BFGS)": """
from skdml import LMNN
def fit(X, y):
    model = LMNN(n_neighbors=3, random_state=0).fit(X, y)
    return model.components_, {"passes": model.n_passes_, "iterations": model.n_iter_}
""",
    "skdml LMNN (sgd)": """
from skdml import LMNN
def fit(X, y):
    model = LMNN(n_neighbors=3, solver="sgd", random_state=0).fit(X, y)
    return model.components_, {"passes": model.n_passes_, "iterations": model.n_iter_}
""",
    "skdml LMNN (sgd, n_impostors=None)": """
from skdml import LMNN
def fit(X, y):
    model = LMNN(n_neighbors=3, solver="sgd", n_impostors=None, random_state=0).fit(X, y)
    return model.components_, {"passes": model.n_passes_, "iterations": model.n_iter_}
""",
    "metric-learn 0.7.0 LMNN": """
from metric_learn import LMNN
def fit(X, y):
    model = LMNN(n_neighbors=3, random_state=0).fit(X, y)
    return model.components_, {"iterations": getattr(model, "n_iter_", "")}
""",
    "mlpack 4.8 lmnn (L-BFGS)": """
import mlpack
def fit(X, y):
    out = mlpack.lmnn(input_=X, labels=y.astype(np.uint64), k=3, optimizer="lbfgs", seed=1)
    L = out["output"]
    if not np.allclose(X @ L.T, out["transformed_data"], atol=1e-6):
        L = L.T
    return L, {}
""",
}

NCA_FITS = {
    "skdml NCA (L-BFGS)": """
from skdml import NCA
def fit(X, y):
    model = NCA(random_state=0).fit(X, y)
    return model.components_, {"iterations": model.n_iter_}
""",
    "skdml NCA (sgd)": """
from skdml import NCA
def fit(X, y):
    model = NCA(solver="sgd", random_state=0).fit(X, y)
    return model.components_, {"iterations": model.n_iter_}
""",
    "scikit-learn NCA": """
from sklearn.neighbors import NeighborhoodComponentsAnalysis
def fit(X, y):
    model = NeighborhoodComponentsAnalysis(random_state=0).fit(X, y)
    return model.components_, {"iterations": model.n_iter_}
""",
    "metric-learn 0.7.0 NCA": """
from metric_learn import NCA
def fit(X, y):
    model = NCA(random_state=0).fit(X, y)
    return model.components_, {"iterations": getattr(model, "n_iter_", "")}
""",
}

ITML_FITS = {
    "skdml ITML (every sample an anchor)": """
from skdml import ITML
def fit(X, y):
    model = ITML(random_state=0).fit(X, y)
    return model.components_, {"iterations": model.n_iter_}
""",
    "skdml ITML (n_constraints=60000)": """
from skdml import ITML
def fit(X, y):
    model = ITML(n_constraints=60_000, random_state=0).fit(X, y)
    return model.components_, {"iterations": model.n_iter_}
""",
    "metric-learn 0.7.0 ITML_Supervised": """
from metric_learn import ITML_Supervised
def fit(X, y):
    model = ITML_Supervised(random_state=0).fit(X, y)
    return model.components_, {"iterations": getattr(model, "n_iter_", "")}
""",
}

#: learner -> (its contenders, the docs table)
LEARNERS = {"lmnn": (LMNN_FITS, "lmnn_scale_up"), "nca": (NCA_FITS, "nca_scale_up"),
            "itml": (ITML_FITS, "itml_scale_up")}


def make_data(n_max):
    """The benchmark's data: ``n_max`` training samples and the ``N_TEST`` test samples."""
    from sklearn.datasets import make_classification
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(
        n_samples=n_max + N_TEST, n_features=50, n_informative=20, n_redundant=10,
        n_classes=20, n_clusters_per_class=2, class_sep=2.0, random_state=0)
    X = StandardScaler().fit_transform(X)
    return X[:n_max], y[:n_max], X[n_max:], y[n_max:]


@contextlib.contextmanager
def _interpreter(name):
    """skdml's fits run in this venv's Python, the peers' in theirs (``run_peer``'s default;
    it reads ``SKDML_PEER_PYTHON``)."""
    if not name.startswith(("skdml ", "scikit-learn ")):
        yield
        return
    saved = os.environ.get("SKDML_PEER_PYTHON")
    os.environ["SKDML_PEER_PYTHON"] = sys.executable
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SKDML_PEER_PYTHON", None)
        else:
            os.environ["SKDML_PEER_PYTHON"] = saved


def _timeout(n, args):
    """Seconds a fit on ``n`` samples may take."""
    return max(args.timeout, LARGE_TIMEOUT) if n >= LARGE else args.timeout


def run_fit(name, n, root, args):
    """One fit in its own process: a row of the table."""
    code = CHILD + LEARNERS[args.learner][0][name] + '\nprint(json.dumps({"fit": attempt(measure)}))\n'
    params = {"data": root, "n": n, "memory_limit_gb": args.memory_limit}
    timeout = _timeout(n, args)
    with _interpreter(name):
        peer = run_peer(code, timeout=timeout, threads=1, params=params)
    row = {"n": n, "method": name}
    result = peer.cell("fit")
    if isinstance(result, dict):
        row.update(result)
    elif not peer.measured and "ran past" in (peer.reason or ""):
        row["outcome"] = f"timed out (> {timeout} s)"
    else:
        row["outcome"] = result if peer.measured else f"not measured: {peer.reason}"
    print(f"  n={n:>7} {name:<28} " + ", ".join(
        f"{k} {row[k]:.4g}" if isinstance(row[k], float) else f"{k} {row[k]}"
        for k in ("fit_s", "accuracy", "fit_MB", "passes", "outcome") if k in row), flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learner", choices=sorted(LEARNERS), default="lmnn",
                        help="whose contenders run (default: %(default)s)")
    parser.add_argument("--max-n", type=float, default=1e5,
                        help="largest number of training samples (default: %(default)d)")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds one fit may take (default: %(default)s)")
    parser.add_argument("--memory-limit", type=float, default=12.0,
                        help="GB of address space one fit's process may map "
                             "(default: %(default)s)")
    args = parser.parse_args()
    # A --max-n below the first size runs that one size (a smoke test of the script).
    sizes = [n for n in SIZES if n <= args.max_n] or [int(args.max_n)]
    start_run(threads=1, repeat=None, extra=[
        "timing: one fit per contender and size, each in a fresh process after an untimed "
        "warm-up fit on 500 samples; fit_MB is the fit's peak resident memory over the "
        f"process's before the fit; a fit stopped after {args.timeout} s "
        f"({max(args.timeout, LARGE_TIMEOUT)} s from {LARGE} samples on) reads 'timed out' "
        "and its contender is not run on larger sizes"])
    X, y, X_test, y_test = make_data(sizes[-1])
    euclidean = knn_accuracy(X[:sizes[0]], y[:sizes[0]], X_test, y_test)
    rows, stopped = [], {}
    with tempfile.TemporaryDirectory() as root:
        for key, array in {"X": X, "y": y, "X_test": X_test, "y_test": y_test}.items():
            np.save(os.path.join(root, f"{key}.npy"), array)
        for n in sizes:
            rows.append({"n": n, "method": "Euclidean (no learning)",
                         "accuracy": knn_accuracy(X[:n], y[:n], X_test, y_test)})
            for name in LEARNERS[args.learner][0]:
                if name in stopped:
                    rows.append({"n": n, "method": name,
                                 "outcome": f"not run ({stopped[name]} at a smaller n)"})
                    continue
                row = run_fit(name, n, root, args)
                rows.append(row)
                if str(row.get("outcome", "")).startswith(("timed out", "raised MemoryError")):
                    stopped[name] = "timed out" if "timed" in row["outcome"] else "MemoryError"
    print(f"Euclidean 3-NN at n={sizes[0]}: {euclidean:.4f}")
    write_table(LEARNERS[args.learner][1], rows,
                ["n", "method", "fit_s", "accuracy", "fit_MB", "passes", "iterations",
                 "outcome"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
