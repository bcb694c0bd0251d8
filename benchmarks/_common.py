"""Shared helpers for the benchmarks: timing, the digits protocol, peers in their own venv.

Every benchmark prints the peer's figure measured in the same run beside ours, and the ratio:
these machines are shared and noisy, so a figure from another day is only a guide.
"""

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np


def best_time(fn, repeat=3):
    """Best wall time of ``repeat`` calls of ``fn()`` (seconds), and its last result."""
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def digits_split():
    """The protocol of ../shared/ANCHORS.md: digits, StandardScaler, 70/30 stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def knn_accuracy(Z_train, y_train, Z_test, y_test, k=3):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=k).fit(Z_train, y_train).score(Z_test, y_test)


def peer_python():
    """The interpreter of the peers' venv (``make peers``), or None when it is absent."""
    path = os.environ.get("SKDML_PEER_PYTHON")
    if path and os.path.exists(path):
        return path
    default = os.path.join(os.path.dirname(__file__), "..", ".venv-peers", "bin", "python")
    return default if os.path.exists(default) else None


def run_peer(code, timeout=900):
    """Run ``code`` in the peers' venv; it must print one JSON object last. None if no venv.

    The peers (metric-learn 0.7.0 needs scikit-learn < 1.6; faiss-cpu) live in their own
    venv so that they never constrain skdml's own dependencies.
    """
    python = peer_python()
    if python is None:
        print("  (peer venv missing: run `make peers` to measure the peer in this run)")
        return None
    proc = subprocess.run(
        [python, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONPATH": os.path.dirname(__file__)},
    )
    if proc.returncode != 0:
        print(f"  (peer failed: {proc.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_table(rows, columns):
    """Print rows (dicts) as an aligned text table with the given column order."""
    cells = [[str(c) for c in columns]] + [
        [_fmt(row.get(c, "")) for c in columns] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for r in cells:  # first column left-aligned, the figures right-aligned
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                        for i, (v, w) in enumerate(zip(r, widths))))


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
