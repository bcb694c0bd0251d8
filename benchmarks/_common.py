"""Shared helpers for the benchmarks: one protocol for every contender, peers in their own venv.

Every benchmark runs skdml and its peers under the same protocol, in the same run: the same
data and split, the same thread settings (:func:`thread_settings` here, :func:`peer_env` and
:func:`pin_threads` in the peer's process), the same number of timed repeats with the median
(:func:`median_time`) and the same scorer. Tables go through :func:`write_table`, which prints
them and, under ``python -m skdml benchmark --write-docs``, writes the CSV and the provenance
line (date, machine, load average) that the docs pages include.

This module is imported by the peers' venv too (``PYTHONPATH=benchmarks``), where neither
skdml nor numba is installed: it imports nothing beyond NumPy at module level.
"""

import contextlib
import csv
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

NOT_MEASURED = "not measured"
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
_REPO = pathlib.Path(__file__).resolve().parent.parent
_LOAD_AT_IMPORT = os.getloadavg()[0]
_RUN = {}  # what start_run() recorded for the benchmark now running


# -- timing ---------------------------------------------------------------------------------

def median_time(fn, repeat=3, warmup=True):
    """Median wall time of ``repeat`` calls of ``fn()`` (seconds), and the last call's result.

    With ``warmup``, one untimed call comes first (imports, JIT compilation, caches). Every
    contender of a table is timed with the same ``repeat`` and ``warmup``: see
    :func:`timing_line`.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be a positive integer; got {repeat!r}.")
    if warmup:
        fn()
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def protocol_parser(doc, repeat=3, warmup=True, threads=1):
    """The options every benchmark shares, each applied to every contender alike:
    ``--threads``, ``--repeat`` and ``--no-warmup``."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--threads", type=int, default=threads,
                        help="BLAS/OpenMP/torch/numba threads of every contender "
                        "(default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=repeat,
                        help="timed calls per contender, median reported (default: %(default)s)")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false", default=warmup,
                        help="no untimed warm-up call before the timed ones, for any contender")
    return parser


def run_parts(doc, parts, no_peer):
    """The ``main`` of a benchmark made of named parts: ``--threads`` and ``--part NAME``
    (repeatable; default: every part, in the order of ``parts``), the run header with
    ``no_peer`` (why no peer is measured), the parts, and the total time."""
    parser = protocol_parser(doc, repeat=1, warmup=False)
    parser.add_argument("--part", choices=sorted(parts), action="append",
                        help="run only this part (repeatable; default: every part)")
    args = parser.parse_args()
    start_run(threads=args.threads, repeat=None, extra=[f"no peer: {no_peer}"])
    start = time.perf_counter()
    with thread_settings(args.threads):
        for name in args.part or parts:
            parts[name]()
    print(f"total {time.perf_counter() - start:.0f} s")


def timing_line(repeat=3, warmup=True):
    """The timing protocol in words, as each benchmark prints it."""
    fits = "1 timed call" if repeat == 1 else f"median of {repeat} timed calls"
    first = "after one untimed warm-up call" if warmup else "no warm-up call"
    return f"timing: {fits}, {first}, for every contender"


# -- threads --------------------------------------------------------------------------------

def _set_runtime_threads(n):
    """Set the thread counts of torch and numba, those already imported, to ``n``; return the
    previous ones by library. (Importing them here would cost the memory and start-up time of
    a library the benchmark may not use; one imported later reads the environment variables
    that :func:`thread_settings` and :func:`run_peer` set.)"""
    previous = {}
    if "torch" in sys.modules:
        import torch

        previous["torch"] = torch.get_num_threads()
        torch.set_num_threads(n)
    if "numba" in sys.modules:
        import numba

        if n > numba.config.NUMBA_NUM_THREADS:
            raise ValueError(f"numba allows at most {numba.config.NUMBA_NUM_THREADS} threads "
                             f"here (NUMBA_NUM_THREADS); got {n}.")
        previous["numba"] = numba.get_num_threads()
        numba.set_num_threads(n)
    return previous


@contextlib.contextmanager
def thread_settings(n=1):
    """Run the enclosed code with ``n`` BLAS/OpenMP, torch and numba threads, then restore.

    threadpoolctl limits the BLAS and OpenMP libraries already loaded, ``set_num_threads``
    torch and numba when already imported, and the environment variables
    (``OMP_NUM_THREADS`` and the like) the libraries loaded later. The peer's process gets the
    same settings from :func:`run_peer`.
    """
    from threadpoolctl import threadpool_limits

    saved_env = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update({key: str(n) for key in THREAD_ENV})
    previous = _set_runtime_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if "torch" in previous:
            import torch

            torch.set_num_threads(previous["torch"])
        if "numba" in previous:
            import numba

            numba.set_num_threads(previous["numba"])


def pin_threads(n=1):
    """For a peer's process: ``n`` BLAS/OpenMP, torch and numba threads until it exits."""
    from threadpoolctl import threadpool_limits

    _set_runtime_threads(n)
    threadpool_limits(limits=n)


def peer_env(n=1):
    """Environment variables giving a fresh process ``n`` BLAS/OpenMP and numba threads.

    (Not for a running process: numba refuses a change of ``NUMBA_NUM_THREADS`` once its
    threads are started; :func:`thread_settings` calls ``numba.set_num_threads`` instead.)
    """
    return {**{key: str(n) for key in THREAD_ENV}, "NUMBA_NUM_THREADS": str(n)}


def threads_line(n=1):
    """The thread settings in words, as each benchmark prints it."""
    return (f"threads: {n} BLAS/OpenMP/torch/numba thread{'s' if n != 1 else ''} "
            "for every contender (threadpoolctl + torch/numba set_num_threads, both sides)")


# -- provenance -----------------------------------------------------------------------------

def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist):
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info():
    """Date, machine, load average (at the run's start and now) and library versions."""
    versions = {name: _version(dist) for name, dist in [
        ("numpy", "numpy"), ("sklearn", "scikit-learn"), ("torch", "torch"),
        ("skdml", "skdml")]}
    return {
        "date": datetime.date.today().isoformat(),
        "machine": f"{_cpu_model()}, {os.cpu_count()} cores",
        "load_start": _RUN.get("load_start", _LOAD_AT_IMPORT),
        "load_end": os.getloadavg()[0],
        "python": platform.python_version(),
        **{k: v for k, v in versions.items() if v is not None},
    }


_VERSIONS = [("python", "Python"), ("skdml", "skdml"), ("numpy", "NumPy"),
             ("sklearn", "scikit-learn"), ("torch", "torch")]


def start_run(threads=1, repeat=3, warmup=True, extra=()):
    """Record the load average at the benchmark's start and print the protocol of its run.

    Call it first thing in each benchmark's ``main``: its lines (machine, threads, timing,
    and any ``extra``) head the output, and :func:`write_table` puts them in the docs.
    """
    _RUN.clear()
    _RUN["script"] = pathlib.Path(sys.argv[0]).name if sys.argv and sys.argv[0] else None
    _RUN["load_start"] = os.getloadavg()[0]
    protocol = [threads_line(threads) if threads is not None else None,
                timing_line(repeat, warmup) if repeat is not None else None, *extra]
    _RUN["protocol"] = [p for p in protocol if p]
    info = machine_info()
    print(f"{info['date']}, {info['machine']}, load average {info['load_start']:.2f}; "
          + ", ".join(f"{k} {info[k]}" for k in ("python", "numpy", "sklearn", "torch", "skdml")
                      if k in info))
    for line in _RUN["protocol"]:
        print(line)
    print()
    return info


# -- peers ----------------------------------------------------------------------------------

class PeerRun(dict):
    """The JSON object the peer printed; empty, with ``reason``, when it was not measured."""

    def __init__(self, data=None, reason=None, arrays=None):
        super().__init__(data or {})
        self.reason = reason
        self.arrays = arrays or {}  # what the peer saved with peer_save()

    @property
    def measured(self):
        return self.reason is None

    def cell(self, key):
        """The peer's figure ``key``, or "not measured" when the peer was not run."""
        return self.get(key, NOT_MEASURED) if self.measured else NOT_MEASURED


def raised(exc, width=70):
    """How a table cell reads when a contender ran and raised in this run."""
    message = " ".join(str(exc).split())
    if len(message) > width:
        message = message[:width - 3] + "..."
    return f"raised {type(exc).__name__}: {message}" if message else f"raised {type(exc).__name__}"


def attempt(fn):
    """``fn()``, or the :func:`raised` text when it raises (used inside the peers' code)."""
    try:
        return fn()
    except Exception as exc:  # the table reports what actually happened
        return raised(exc)


def peer_python():
    """The interpreter of the peers' venv (``make peers``), or None when it is absent."""
    path = os.environ.get("SKDML_PEER_PYTHON")
    if path and os.path.exists(path):
        return path
    default = _REPO / ".venv-peers" / "bin" / "python"
    return str(default) if default.exists() else None


def peer_data():
    """Inside the peer: the arrays :func:`run_peer` was given (``data=``), as a dict."""
    with np.load(os.environ["SKDML_PEER_DATA"]) as f:
        return {k: f[k] for k in f.files}


def peer_save(**arrays):
    """Inside the peer: hand arrays back to :func:`run_peer` (its result's ``arrays``)."""
    np.savez(os.environ["SKDML_PEER_OUT"], **arrays)


_PROLOGUE = ("import json, _common\n_common.pin_threads({threads})\n"
             "PARAMS = json.loads({params!r})\n")


def run_peer(code, timeout=900, threads=1, data=None, params=None):
    """Run ``code`` in the peers' venv under ``threads`` threads; it prints one JSON object last.

    Returns a :class:`PeerRun`: the JSON object, or an empty one whose ``reason`` says why the
    peer was not measured (no peers' venv, an import that failed, a crash or a timeout). The
    peer's code times its fits with this module's :func:`median_time`, finds ``params`` (a
    JSON-able dict, e.g. the repeat count) as the global ``PARAMS``, and reads ``data`` (a dict
    of arrays, handed over in a temporary ``.npz`` file) with :func:`peer_data`, and hands
    arrays back with :func:`peer_save` (the result's ``arrays``). The thread
    settings reach the peer twice: environment variables for the libraries it loads, and
    :func:`pin_threads` before its code runs.

    The peers (metric-learn 0.7.0 needs scikit-learn < 1.6; faiss-cpu; mlpack; pml) live in
    their own venv so that they never constrain skdml's own dependencies.
    """
    python = peer_python()
    if python is None:
        reason = "no peers' venv (run `make peers`)"
        print(f"  (peer {NOT_MEASURED}: {reason})")
        return PeerRun(reason=reason)
    # The benchmarks' folder first (for _common), then the caller's PYTHONPATH, if any.
    path = [str(pathlib.Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, **peer_env(threads), "PYTHONPATH": os.pathsep.join(filter(None, path))}
    with tempfile.TemporaryDirectory() as tmp:
        env["SKDML_PEER_OUT"] = os.path.join(tmp, "out.npz")
        if data is not None:
            env["SKDML_PEER_DATA"] = os.path.join(tmp, "data.npz")
            np.savez(env["SKDML_PEER_DATA"], **data)
        source = (_PROLOGUE.format(threads=int(threads), params=json.dumps(params or {}))
                  + textwrap.dedent(code))
        try:
            proc = subprocess.run([python, "-c", source], capture_output=True, text=True,
                                  timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            reason = f"the peer's process ran past {timeout} s"
            print(f"  (peer {NOT_MEASURED}: {reason})")
            return PeerRun(reason=reason)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            reason = f"the peer's process exited with {proc.returncode}: {last}"
            print(f"  (peer {NOT_MEASURED}: {reason})", file=sys.stderr)
            return PeerRun(reason=reason)
        arrays = {}
        if os.path.exists(env["SKDML_PEER_OUT"]):
            with np.load(env["SKDML_PEER_OUT"]) as f:
                arrays = {k: f[k] for k in f.files}
    return PeerRun(json.loads(proc.stdout.strip().splitlines()[-1]), arrays=arrays)


# -- data and scorer ------------------------------------------------------------------------

def digits_split():
    """The protocol of ../shared/ANCHORS.md: digits, StandardScaler, 70/30 stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def knn_accuracy(Z_train, y_train, Z_test, y_test, k=3):
    """The scorer of every classical benchmark: k-NN accuracy (Euclidean) in the embedding."""
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=k).fit(Z_train, y_train).score(Z_test, y_test)


def measure_fit(make, split, target=None, repeat=3, warmup=True, extra=None):
    """Time ``make().fit`` on the training split and score its embedding, as every side does.

    ``split`` is ``(X_train, X_test, y_train, y_test)``; the fit gets ``target`` (default
    ``y_train``). Returns a dict with ``fit_s`` (median), ``accuracy`` (:func:`knn_accuracy`)
    and ``n_iter``, plus ``extra(model)`` when given; or, when something else happens, the
    ``outcome`` instead of the accuracy: "raised <Type>: <message>" (in this run), complex or
    non-finite components, a non-finite embedding. Used by skdml's side and, in the peers'
    venv, by the peers' code alike.
    """
    import warnings

    X_train, X_test, y_train, y_test = split
    target = y_train if target is None else target
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds, model = median_time(lambda: make().fit(X_train, target), repeat, warmup)
    except Exception as exc:  # what happened, in this run
        return {"outcome": raised(exc)}
    result = {"fit_s": seconds, "n_iter": int(getattr(model, "n_iter_", -1))}
    result["n_iter"] = "" if result["n_iter"] < 0 else result["n_iter"]
    L = getattr(model, "components_", None)
    if L is not None and (np.iscomplexobj(L) or not np.all(np.isfinite(L))):
        bad = int(np.sum(~np.isfinite(L)))
        result["outcome"] = (f"{'complex' if np.iscomplexobj(L) else 'real'} components_"
                             + (f", {bad} NaN/inf entries" if bad else ""))
        return result
    try:
        Z_train, Z_test = model.transform(X_train), model.transform(X_test)
    except Exception as exc:
        result["outcome"] = "transform " + raised(exc)
        return result
    if not (np.all(np.isfinite(Z_train)) and np.all(np.isfinite(Z_test))):
        result["outcome"] = "NaN in the embedding"
        return result
    result["accuracy"] = knn_accuracy(Z_train, y_train, Z_test, y_test)
    if extra is not None:
        result.update(extra(model))
    return result


def fits_raw(makers):
    """Which of iris / wine / breast cancer / digits (raw) each learner fits with defaults.

    ``makers`` maps a name to a callable returning an unfitted estimator. Returns
    ``{"<name> <dataset>": "ok" | "NaN in the embedding" | "raised ..."}``; skdml's side and
    the peers' code both call it.
    """
    import warnings

    from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine

    out = {}
    for load in [load_iris, load_wine, load_breast_cancer, load_digits]:
        X, y = load(return_X_y=True)
        for name, make in makers.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    Z = make().fit(X, y).transform(X)
                out[f"{name} {load.__name__[5:]}"] = (
                    "ok" if np.all(np.isfinite(Z)) else "NaN in the embedding")
            except Exception as exc:  # reported, not hidden
                out[f"{name} {load.__name__[5:]}"] = raised(exc, width=40)
    return out


# -- tables ---------------------------------------------------------------------------------

def print_table(rows, columns):
    """Print rows (dicts) as an aligned text table with the given column order."""
    cells = [[str(c) for c in columns]] + [
        [_fmt(row.get(c, "")) for c in columns] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for r in cells:  # first column left-aligned, the figures right-aligned
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                        for i, (v, w) in enumerate(zip(r, widths))))


def docs_dir():
    """Where ``--write-docs`` puts the tables: $SKDML_BENCH_DOCS_DIR or docs/bench_tables/."""
    return pathlib.Path(os.environ.get("SKDML_BENCH_DOCS_DIR") or _REPO / "docs" / "bench_tables")


def writing_docs():
    """True under ``python -m skdml benchmark --write-docs`` (SKDML_BENCH_WRITE_DOCS=1)."""
    return os.environ.get("SKDML_BENCH_WRITE_DOCS", "") not in ("", "0")


def write_table(name, rows, columns, note=""):
    """Print a table; under ``--write-docs`` also write ``<name>.csv`` and ``<name>.rst``.

    The CSV holds a header row and the rows, formatted as printed; the ``.rst`` file is the
    provenance paragraph the docs page includes under the table: which script measured it, on
    what date and machine, the load average at the run's start and end, the protocol lines of
    :func:`start_run`, and ``note``.
    """
    print_table(rows, columns)
    if note:
        print(f"  note: {note}")
    print()
    if not writing_docs():
        return None
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"table name must be letters, digits, '_' or '-'; got {name!r}.")
    out = docs_dir()
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{name}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([_rst_text(str(c)) for c in columns])
        writer.writerows([_rst_text(_fmt(row.get(c, ""))) for c in columns] for row in rows)
    info = machine_info()
    script = _RUN.get("script") or pathlib.Path(sys.argv[0] or "benchmark").name
    lines = [f"Measured by ``benchmarks/{script}`` on {info['date']}, {info['machine']}, "
             f"load average {info['load_start']:.2f} at start / {info['load_end']:.2f} at end.",
             ", ".join(f"{label} {info[key]}" for key, label in _VERSIONS if key in info) + "."]
    lines += [_rst_text(_sentence(p)) for p in _RUN.get("protocol", [])]
    if note:
        lines.append(_rst_text(_sentence(note)))
    (out / f"{name}.rst").write_text(" ".join(lines) + "\n")
    print(f"  (wrote {out / name}.csv and .rst)")
    return out / f"{name}.csv"


def _rst_text(text):
    """``text`` as reStructuredText reads it literally (the pages parse every CSV cell):
    ``|a|`` would be a substitution, ``name_`` a link, ``*a*`` emphasis."""
    text = text.replace("\\", "\\\\")
    for char in "|*`_":
        text = text.replace(char, "\\" + char)
    return text


_LOWERCASE_NAMES = ("faiss", "metric-learn", "mlpack", "numba", "scikit-learn", "skdml",
                    "torch", "pytorch-metric-learning")


def _sentence(text):
    """``text`` as a sentence: a capital (unless it opens with a lowercase name) and a stop."""
    text = text.strip()
    if not text.startswith(_LOWERCASE_NAMES):
        text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return "nan" if np.isnan(v) else f"{v:.4g}"
    return str(v)
