"""Reliability: fuzzed inputs, numerical edge cases, determinism and thread safety.

Every public estimator is covered automatically (``conftest.public_estimators``), so a new
learner is fuzzed, run from threads and checked for determinism without a line here.

Fuzzing has two strategies per entry point (see docs/reliability.rst): *legal* draws
(:data:`LEGAL_SPACE`, :func:`run_legal_case`), where any exception or a non-finite output is
a bug, and *malformed* draws, a legal draw with one thing broken (:data:`MUTATIONS`,
:func:`run_malformed_case`), where only a ``ValueError`` / ``TypeError`` whose message names
that problem passes, and a failed call leaves a fitted estimator's learned attributes (names
ending in ``_``) as they were. The building blocks (:func:`draw_cases`, :class:`Expect`,
:class:`Tally`) serve tests/test_fuzz_functions.py too, and
``benchmarks/reliability_report.py`` runs the same functions with more cases to write the
tables of ``docs/reliability.rst``; so do the numerical edge cases (:data:`EDGE_CASES`,
:func:`run_edge_case`).
"""

import concurrent.futures
import contextlib
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skdml.base import BaseMetricLearner, MahalanobisMixin

from .conftest import (ORDINAL, REGRESSION, TRANSFER, make_instance, public_estimators,
                       target_for)

ESTIMATORS = public_estimators()
MAHALANOBIS = [cls for cls in ESTIMATORS if issubclass(cls, MahalanobisMixin)]
ROOT = Path(__file__).resolve().parents[1]


def _ids(classes):
    return [cls.__name__ for cls in classes]


# ------------------------------------------------------------------------------------------
# Building blocks shared with benchmarks/reliability_report.py
# ------------------------------------------------------------------------------------------


def new_instance(cls):
    """A seeded default instance; deep learners train for two epochs only."""
    est = make_instance(cls)
    if "max_epochs" in est.get_params():
        est.set_params(max_epochs=2)
    return est


def _is_image_sets(cls):
    return cls.__name__ == "MMDML"


def _is_code_index(cls):
    return cls.__name__ == "HammingNeighbors"


def _is_index(cls):
    """A neighbours index (HammingNeighbors, KernelNeighbors): it outputs its kneighbors."""
    return hasattr(cls, "kneighbors")


def good_data(cls, n=30, d=4, seed=0):
    """Legal training data for ``cls``: three well-separated classes (codes for the index,
    image sets for MMDML, targets through ``conftest.target_for``)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    if _is_code_index(cls):
        return rng.integers(0, 2, size=(n, d)).astype(np.int64), None
    if _is_image_sets(cls):
        from skdml.datasets import make_digits_image_sets

        sets, y = make_digits_image_sets(n_sets_per_class=3, random_state=seed)
        return [s / 16 for s in sets], y
    X = rng.standard_normal((n, d)) + 3.0 * labels[:, None]
    return X, target_for(cls, labels)


def output(est, X):
    """What a fitted estimator computes from samples: transform, neighbors, or predict."""
    if _is_index(type(est)):
        return est.kneighbors(X, n_neighbors=1)[0]
    if _is_image_sets(type(est)):
        return est.manifold_distances(X)
    return est.transform(X)


def learned_state(est):
    """A comparable fingerprint of the learned attributes (public names ending in ``_``)."""
    state = {}
    for name, value in vars(est).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        state[name] = _fingerprint(value)
    return state


def _fingerprint(value):
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return ("object-array", value.shape, repr(value.tolist()))
        return ("array", value.shape, str(value.dtype), value.tobytes())
    if isinstance(value, (int, float, str, bool, type(None), np.generic)):
        return ("scalar", repr(value))
    if isinstance(value, (tuple, list)) and all(
        isinstance(v, (int, float, str, bool, type(None), np.generic)) for v in value
    ):
        return ("seq", repr(value))
    try:
        import torch

        if isinstance(value, torch.nn.Module):
            return ("module", tuple((k, v.detach().cpu().numpy().tobytes())
                                    for k, v in value.state_dict().items()))
    except ImportError:  # pragma: no cover - torch is a dependency of the deep learners
        pass
    if isinstance(value, dict) and all(isinstance(v, np.ndarray) for v in value.values()):
        return ("dict", tuple((k, v.tobytes()) for k, v in sorted(value.items())))
    # Callbacks, histories, optimizers: their identity and length are what a rollback keeps.
    size = len(value) if hasattr(value, "__len__") else None
    return ("object", type(value).__name__, id(value), size)


# ------------------------------------------------------------------------------------------
# Fuzzing: two strategies per entry point (shared with tests/test_fuzz_functions.py and
# benchmarks/reliability_report.py)
#
# - *legal* draws follow the docstring on purpose (shapes, dtypes, label types, tiny
#   classes, ties, constant and collinear features, d > n, scales from 1e-8 to 1e8): any
#   exception, or a non-finite or misshapen result, is a bug;
# - *malformed* draws are a legal draw with exactly one thing broken, so the problem is
#   known: only a ValueError / TypeError whose message names that problem passes (a
#   success, another exception or a message naming something else is a bug), and a failed
#   call leaves a fitted estimator's learned attributes as they were.
# ------------------------------------------------------------------------------------------


def draw_cases(space, n_cases, seed):
    """``n_cases`` dicts over ``space`` (a dict of lists of choices) plus a data ``seed``.

    Each key runs through its choices in a freshly shuffled order, cycle after cycle, so
    every choice comes up ``n_cases // len(choices)`` times or once more, in combinations
    that vary from case to case.
    """
    rng = np.random.default_rng(seed)
    columns = {}
    for key, choices in space.items():
        cycles = -(-n_cases // len(choices))
        order = np.concatenate([rng.permutation(len(choices)) for _ in range(cycles)])
        columns[key] = [choices[i] for i in order[:n_cases]]
    return [
        {**{key: column[i] for key, column in columns.items()},
         "seed": int(rng.integers(2**31))}
        for i in range(n_cases)
    ]


def word(text):
    """A regex matching ``text`` as a whole word (not inside a longer identifier)."""
    return rf"(?<![A-Za-z0-9_]){re.escape(text)}(?![A-Za-z0-9_])"


class Expect:
    """What the message of a refusal must name: any one of ``alternatives``, each a tuple
    of regular expressions that must all be found (case-insensitive).

    >>> Expect(("nan|inf",), what="NaN").named_by("Input X contains NaN.")
    True
    """

    def __init__(self, *alternatives, what):
        self.alternatives = alternatives
        self.what = what

    def named_by(self, message):
        return any(all(re.search(p, message, re.IGNORECASE) for p in alt)
                   for alt in self.alternatives)


def mismatch(a, b, what, counts):
    """A refusal naming both sizes ``a`` and ``b`` (whole numbers) and what they count."""
    return Expect((word(str(a)), word(str(b)), counts), what=what)


SAMPLES = r"sample|inconsistent|length|label|row|shape"
FEATURES = r"feature|bit|byte|column|shape"
NAN = Expect((r"\bnan\b|infinit|\binf\b|finite",), what="NaN / infinity")
EMPTY = Expect((r"0 sample|minimum of|at least (one|1|2)|empty|got 0|0 rows",),
               what="no samples")
NOT_2D = Expect((r"2d|2-d|reshape|shape",), what="a 2-D array expected")
STRINGS = Expect((r"convert|string|numeric|dtype",), what="non-numeric values")
COMPLEX = Expect((r"complex",), what="complex values")


def check_refusal(exc, expect):
    """``None`` if ``exc`` is a clear refusal naming ``expect``'s problem, else the bug."""
    if exc is None:
        return f"accepted a malformed input ({expect.what}) without an error"
    if not isinstance(exc, (ValueError, TypeError)):
        return f"{type(exc).__name__} instead of ValueError/TypeError: {exc}"
    if not expect.named_by(str(exc)):
        return f"{type(exc).__name__} that does not name {expect.what}: {exc}"
    return None


def check_finite_result(value, n_rows=None):
    """``None`` if ``value`` (an array, or a tuple/list of them) is finite and has
    ``n_rows`` rows, else a description."""
    if isinstance(value, (tuple, list)):
        for item in value:
            bug = check_finite_result(item, n_rows)
            if bug:
                return bug
        return None
    arr = np.asarray(value)
    if n_rows is not None and (arr.ndim == 0 or arr.shape[0] != n_rows):
        return f"result of shape {arr.shape} for {n_rows} samples"
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        return "silent NaN/inf in the result"
    return None


class Tally:
    """Counts of one entry point's fuzz cases, for the tests' messages and the report."""

    def __init__(self, name):
        self.name = name
        self.legal = self.reached = self.malformed = self.refused = 0
        self.bugs = []

    def add_legal(self, bug, case):
        self.legal += 1
        if bug is None:
            self.reached += 1
        else:
            self.bugs.append(f"{self.name} legal {case}: {bug}")

    def add_malformed(self, bug, case):
        self.malformed += 1
        if bug is None:
            self.refused += 1
        else:
            self.bugs.append(f"{self.name} malformed {case}: {bug}")

    def row(self):
        return [self.name, self.legal, self.reached, self.malformed, self.refused,
                len(self.bugs)]


# ---------------------------------------------------------------------------- estimators

#: How each estimator is fed: its kind decides what a legal target is.
_SETS, _CODES, _REGRESSION, _TRANSFER, _CLASSES, _UNSUPERVISED = (
    "image sets", "binary codes", "regression", "transfer", "classification", "unsupervised")


def estimator_kind(cls):
    if _is_image_sets(cls):
        return _SETS
    if _is_code_index(cls):
        return _CODES
    if cls.__name__ in REGRESSION:
        return _REGRESSION
    if cls.__name__ in TRANSFER:
        return _TRANSFER
    if make_instance(cls).__sklearn_tags__().target_tags.required:
        return _CLASSES
    return _UNSUPERVISED


#: The legal input space of the estimators (``fit(X, y)`` then their output on ``X``): the
#: classes' number and sizes (a singleton class included), the width (``d > n`` included),
#: the dtype, the labels' type, the layout of the features and their scale.
LEGAL_SPACE = {
    "n_classes": [2, 3, 5],
    "sizes": ["balanced", "tiny", "imbalanced", "singleton"],
    "d": ["1", "2", "5", "d>n"],
    "dtype": ["float64", "float32", "int64"],
    "labels": ["int", "negative", "float", "str", "object"],
    "layout": ["blobs", "noise", "constant_feature", "collinear", "duplicates", "ties"],
    "scale": [1e-8, 1e-4, 1.0, 1e4, 1e8, "mixed"],
    "container": ["ndarray", "list", "dataframe", "fortran", "strided"],
}
#: Choices of the special kinds: what replaces the labels, or the samples' form.
KIND_SPACE = {
    _REGRESSION: {"target": ["1d", "2d", "integers", "constant"]},
    _CODES: {"codes": ["int01", "bool", "float01", "signed", "packed"],
             "n_bits": [1, 7, 8, 64, 65, 130], "layout": ["noise", "duplicates"]},
    _SETS: {"sets": ["list", "tuple", "array3d", "rows", "vector_sets"]},
}


def legal_space(cls):
    """The legal input space of ``cls``: :data:`LEGAL_SPACE` with its kind's choices."""
    kind = estimator_kind(cls)
    space = {**LEGAL_SPACE, **KIND_SPACE.get(kind, {})}
    if kind == _CODES:  # random bits: no classes, dtypes or scales
        for key in ("n_classes", "sizes", "d", "dtype", "labels", "scale", "container"):
            del space[key]
    if kind in (_UNSUPERVISED, _REGRESSION):
        del space["labels"]
    if kind == _SETS:  # the sets' own forms replace the containers
        del space["container"]
    if cls.__name__ in ORDINAL:  # one ordered label per sample, at least two values
        space["target"] = [t for t in space["target"] if t not in ("2d", "constant")]
    if "views" in make_instance(cls).get_params():  # a multi-view learner: >= 1 feature a view
        space["d"] = [d for d in space["d"] if d != "1"]
    return space


def contained(case, X, y):
    """``(X, y)`` in the case's container: an ndarray, nested lists, a pandas DataFrame
    (string column names) and Series, a Fortran-ordered or a strided (non-contiguous)
    array."""
    container = case.get("container", "ndarray")
    if container == "list":
        # (labels mixing strings and the transfer learners' integer -1 stay an object
        # array, as their docstring asks: a list would turn -1 into the string '-1')
        keep = y is None or np.asarray(y).dtype == object
        return X.tolist(), (y if keep else np.asarray(y).tolist())
    if container == "dataframe":
        import pandas as pd

        frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
        if y is not None:
            y = pd.Series(y) if np.ndim(y) == 1 else pd.DataFrame(y)
        return frame, y
    if container == "fortran":
        return np.asfortranarray(X), y
    if container == "strided":
        wide = np.repeat(X, 2, axis=1)
        return wide[:, ::2], y
    return X, y


#: One broken thing per malformed draw; which apply depends on the estimator's kind.
MUTATIONS = ["X_nan", "X_inf", "X_empty", "X_1d", "X_strings", "X_complex", "y_short",
             "y_none", "y_one_class", "y_continuous", "y_2d", "y_nan", "y_strings",
             "no_target_domain", "codes_not_binary", "transform_wrong_width",
             "transform_nan", "refit_nan"]

_MUTATIONS_BY_KIND = {
    _CLASSES: {"y_short", "y_none", "y_one_class", "y_continuous", "y_2d", "y_nan"},
    _TRANSFER: {"y_short", "y_none", "y_continuous", "no_target_domain"},
    _REGRESSION: {"y_short", "y_none", "y_nan", "y_strings"},
    _UNSUPERVISED: set(),
    _SETS: {"y_short", "y_none", "y_one_class", "y_continuous"},
    _CODES: {"codes_not_binary"},
}
_X_MUTATIONS = {"X_nan", "X_inf", "X_empty", "X_1d", "X_strings", "X_complex",
                "transform_wrong_width", "transform_nan", "refit_nan"}


#: Learners for which one class is legal: RCA whitens the spread inside chunklets of one
#: class each, which a single class has too.
ONE_CLASS_LEGAL = {"RCA"}


def applicable_mutations(cls):
    kind = estimator_kind(cls)
    allowed = _MUTATIONS_BY_KIND[kind] | _X_MUTATIONS
    if kind == _CODES:
        allowed -= {"X_complex", "X_inf"}
    if cls.__name__ in ONE_CLASS_LEGAL:
        allowed -= {"y_one_class"}
    return [m for m in MUTATIONS if m in allowed]


def _class_sizes(case, rng):
    k = case["n_classes"]
    if case["sizes"] == "balanced":
        return [int(rng.integers(3, 9))] * k
    if case["sizes"] == "tiny":
        return [2] * k
    if case["sizes"] == "imbalanced":
        return [int(s) for s in rng.integers(2, 12, size=k)]
    return [1] + [int(s) for s in rng.integers(2, 6, size=k - 1)]  # one singleton class


def label_values(case, codes):
    """Class codes 0..k-1 as the case's label type."""
    kind = case["labels"]
    if kind == "int":
        return codes.astype(np.int64)
    if kind == "negative":
        return -3 * codes.astype(np.int64) - 2  # never -1, the transfer learners' marker
    if kind == "float":
        return 2.0 * codes  # integral floats are class labels (type_of_target: multiclass)
    names = np.array([f"class {c}" for c in range(codes.max() + 1)])[codes]
    return names if kind == "str" else names.astype(object)


def features(case, rng, codes, d):
    """Unit-scale features of the case's ``layout``, one row per class code."""
    n = len(codes)
    if n == 0:
        return np.zeros((0, d))
    means = 3.0 * rng.standard_normal((codes.max() + 1, d))
    X = means[codes] + rng.standard_normal((n, d))
    layout = case["layout"]
    if layout == "noise":
        X = rng.standard_normal((n, d))
    elif layout == "constant_feature" and d >= 2:
        X[:, int(rng.integers(d))] = 4.2
    elif layout == "collinear" and d >= 2:
        X[:, -1] = 2.0 * X[:, 0] - (X[:, 1] if d > 2 else 0.0)
    elif layout == "duplicates":
        for c in np.unique(codes):  # repeat rows within a class
            members = np.flatnonzero(codes == c)
            X[members[1::2]] = X[members[0]]
    elif layout == "ties":
        X = np.round(X)
    return X


def scaled(case, rng, X):
    """``X`` at the case's ``scale`` (one for all, or per feature) and in its ``dtype``."""
    scale = case["scale"]
    if scale == "mixed":
        X = X * 10.0 ** rng.uniform(-8, 8, size=X.shape[1])
    else:
        X = X * scale
    dtype = case["dtype"]
    if dtype == "int64":  # integers: the data's own below 50, else about 100 levels
        peak = np.abs(X).max() if X.size else 0.0
        return np.round(X * (50.0 / peak if 0 < peak < 50 else 1.0)).astype(np.int64)
    return X.astype(dtype)


def legal_input(cls, case):
    """``(X, y)`` of a legal fit for ``cls`` from ``case`` (see :data:`LEGAL_SPACE`)."""
    rng = np.random.default_rng(case["seed"])
    kind = estimator_kind(cls)
    if kind == _CODES:
        return _legal_codes(case, rng), None
    sizes = _class_sizes(case, rng)
    codes = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    n = len(codes)
    d = {"1": 1, "2": 2, "5": 5, "d>n": n + int(rng.integers(1, 6))}[case["d"]]
    if kind == _SETS:
        return _legal_sets(case, rng, sizes, d)
    X = features(case, rng, codes, d)
    if kind == _TRANSFER:  # unlabeled target-domain samples: a shifted copy of some rows
        n_target = int(rng.integers(2, 8))
        X = np.vstack([X, X[rng.integers(n, size=n_target)] + 1.5])
    X = scaled(case, rng, X)
    if kind == _UNSUPERVISED:
        return contained(case, X, None)
    if kind == _REGRESSION:
        return contained(case, X, _legal_regression_target(case, rng, X))
    y = label_values(case, codes)
    if kind == _TRANSFER:
        marker = np.full(len(X) - n, -1, dtype=object if y.dtype.kind == "U" else y.dtype)
        y = np.concatenate([y.astype(marker.dtype), marker])
    return contained(case, X, y)


def _legal_regression_target(case, rng, X):
    n = len(X)
    Xf = np.asarray(X, dtype=np.float64)
    Xf = (Xf - Xf.mean(0)) / np.where(Xf.std(0) > 0, Xf.std(0), 1.0)
    base = Xf[:, 0] + 0.3 * rng.standard_normal(n)
    magnitude = 10.0 ** rng.choice([-8, 0, 8])
    target = case["target"]
    if target == "2d":
        return np.column_stack([base, rng.standard_normal(n)]) * magnitude
    if target == "integers":
        return np.round(3 * base).astype(np.int64)
    if target == "constant":
        return np.full(n, 2.5 * magnitude)
    return base * magnitude


def _legal_codes(case, rng):
    n = int(rng.integers(1, 40))
    bits = rng.integers(0, 2, size=(n, case["n_bits"]))
    if case["layout"] == "duplicates":
        bits[1::2] = bits[0]
    form = case["codes"]
    if form == "bool":
        return bits.astype(bool)
    if form == "float01":
        return bits.astype(np.float64)
    if form == "signed":
        return (2 * bits - 1).astype(np.int8)
    if form == "packed":
        return np.packbits(bits.astype(np.uint8), axis=1)
    return bits.astype(np.int64)


def _legal_sets(case, rng, sizes, d):
    """Image sets: one class per set group; ``sizes`` become sets per class (at most 3)."""
    form = case["sets"]
    labels, sets = [], []
    for c, count in enumerate(sizes):
        for _ in range(min(count, 3)):
            n_i = 1 if form in ("rows", "vector_sets") else (
                3 if form == "array3d" else int(rng.integers(1, 5)))
            sets.append(3.0 * c + rng.standard_normal((n_i, d)))
            labels.append(c)
    # One scale and dtype for all the sets (a feature means the same thing in every set).
    stacked = scaled(case, rng, np.vstack(sets))
    sets = np.split(stacked, np.cumsum([len(s) for s in sets])[:-1])
    y = label_values(case, np.asarray(labels))
    if form == "tuple":
        return tuple(sets), y
    if form == "array3d":
        return np.stack(sets), y
    if form == "rows":
        return np.vstack(sets), y  # (n_sets, n_features): sets of one vector each
    if form == "vector_sets":
        return [s[0] for s in sets], y  # 1-D arrays: a set of one vector each
    return sets, y


def _n_samples(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _check_fitted_output(est, X):
    """``None`` if the fitted ``est`` gives a finite output of one row per sample and, for
    a metric learner, finite non-negative distances between consecutive samples."""
    bug = check_finite_result(output(est, X), _n_samples(X))
    if bug or not isinstance(est, BaseMetricLearner) or _is_image_sets(type(est)):
        return bug
    samples = np.asarray(X, dtype=np.float64)
    distances = est.pair_distance(np.stack([samples[:-1], samples[1:]], axis=1))
    if distances.shape != (len(samples) - 1,) or not np.all(distances >= 0):
        return f"pair_distance gave {distances!r}"
    return check_finite_result(distances)


def run_legal_case(cls, case):
    """Fit a default ``cls`` on a legal draw and compute its output; ``None`` or the bug."""
    X, y = legal_input(cls, case)
    est = new_instance(cls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est.fit(X, y)
            return _check_fitted_output(est, X)
        except Exception as exc:  # noqa: BLE001 - any exception on legal input is the bug
            return f"{type(exc).__name__}: {exc}"


def _nan_like(X, value, rng):
    """``X`` as float with one entry set to ``value`` (or set of vectors / codes likewise)."""
    if isinstance(X, (list, tuple)):
        X = [np.array(s, dtype=np.float64) for s in X]
        X[int(rng.integers(len(X)))].flat[0] = value
        return X
    if X.dtype == np.uint8:  # packed codes: the same codes unpacked, as floats
        X = np.unpackbits(X, axis=1)
    X = np.array(X, dtype=np.float64)
    X.flat[int(rng.integers(X.size))] = value
    return X


def _widen(X):
    """``X`` with one more feature (or one more byte / bit for codes)."""
    if isinstance(X, (list, tuple)):
        return [np.column_stack([np.atleast_2d(s), np.atleast_2d(s)[:, :1]]) for s in X]
    return np.concatenate([X, X[..., :1]], axis=-1)


def _width(X):
    if isinstance(X, (list, tuple)):
        return np.atleast_2d(X[0]).shape[1]
    return X.shape[1] if X.ndim == 2 else X.shape[-1]


def malformed_input(cls, case):
    """``(X, y, stage, expect)``: a legal draw with the case's one mutation.

    ``stage`` is ``'fit'`` (a fresh estimator), ``'refit'`` (fit again on a fitted one) or
    ``'output'`` (the output of a fitted one); ``expect`` says what the refusal must name.
    """
    X, y = legal_input(cls, {**case, "container": "ndarray"})
    rng = np.random.default_rng(case["seed"] + 1)
    mutation = case["mutation"]
    n = _n_samples(X)
    stage = "fit"
    if mutation in ("X_nan", "X_inf", "refit_nan", "transform_nan"):
        X = _nan_like(X, np.inf if mutation == "X_inf" else np.nan, rng)
        expect = NAN
        stage = {"refit_nan": "refit", "transform_nan": "output"}.get(mutation, "fit")
    elif mutation == "X_empty":
        X = X[:0] if hasattr(X, "shape") else []
        y = None if y is None else y[:0]
        expect = EMPTY
    elif mutation == "X_1d":
        X = np.asarray(X[0] if isinstance(X, (list, tuple)) else X)
        X = X.reshape(-1) if X.ndim == 2 else X[..., 0].reshape(-1)
        expect = NOT_2D
    elif mutation == "X_strings":
        X = _as_text(X)
        expect = STRINGS
    elif mutation == "X_complex":
        X = _nan_like(X, 0.0, rng)
        X = [s + 1j for s in X] if isinstance(X, list) else X + 1j
        expect = COMPLEX
    elif mutation == "y_short":
        y = y[:-1]
        expect = mismatch(n, n - 1, f"{n} samples against {n - 1} labels", SAMPLES)
    elif mutation == "y_none":
        y = None
        expect = Expect((word("y"), r"none|requires|needs|missing|passed|given"),
                        what="the missing y")
    elif mutation == "y_one_class":
        y = np.full(n, y[0], dtype=np.asarray(y).dtype)
        expect = Expect((r"class",), what="a single class")
    elif mutation == "y_continuous":
        continuous = rng.standard_normal(n) * 7.3
        y = continuous if y is None else np.where(np.asarray(y) == -1, -1, continuous)
        expect = Expect((r"continuous|class|discrete",), what="a continuous target")
    elif mutation == "y_2d":
        y = np.column_stack([y, y])
        expect = Expect((r"shape|1d|1-d|ravel|multi",), what="a 2-D y")
    elif mutation == "y_nan":
        if np.asarray(y).dtype.kind not in "biuf":  # NaN among class codes as floats
            y = np.unique(y, return_inverse=True)[1]
        y = np.asarray(y, dtype=np.float64).copy()
        y[int(rng.integers(n))] = np.nan
        expect = NAN
    elif mutation == "y_strings":
        y = np.array([f"v{v}" for v in range(n)], dtype=object)
        expect = Expect((r"real|numeric|class|continuous|float|convert",),
                        what="string labels to a regression learner")
    elif mutation == "no_target_domain":
        y = np.where(np.asarray(y) == -1, y[np.flatnonzero(np.asarray(y) != -1)[0]], y)
        expect = Expect((r"-1|target",), what="no target-domain sample")
    elif mutation == "codes_not_binary":
        X = np.asarray(X).astype(np.int64)
        X.flat[int(rng.integers(X.size))] = 2
        expect = Expect((r"binary|\{0, 1\}",), what="codes that are not binary")
    elif mutation == "transform_wrong_width":
        d = _width(X)
        X = _widen(X)
        stage = "output"
        expect = mismatch(d, d + 1, f"{d + 1} features against {d}", FEATURES)
    else:  # pragma: no cover - every mutation is handled above
        raise AssertionError(mutation)
    return X, y, stage, expect


def _as_text(X):
    if isinstance(X, (list, tuple)):
        return [np.array([[f"v{v}" for v in row] for row in np.atleast_2d(s)], dtype=object)
                for s in X]
    flat = np.array([f"v{v}" for v in np.asarray(X).ravel()], dtype=object)
    return flat.reshape(np.shape(X))


def run_malformed_case(cls, case):
    """Run one malformed draw; ``None`` if it was refused clearly, else the bug."""
    X, y, stage, expect = malformed_input(cls, case)
    est = new_instance(cls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = None
        if stage in ("refit", "output"):
            Xg, yg = legal_input(cls, case)
            try:
                est.fit(Xg, yg)
            except Exception as exc:  # noqa: BLE001 - the legal fuzzing reports these
                return f"the legal fit before the malformed call failed: {exc!r}"
            before = learned_state(est)
        try:
            if stage == "output":
                output(est, X)
            else:
                est.fit(X, y)
        except Exception as exc:  # noqa: BLE001 - classifying the outcome is the point
            bug = check_refusal(exc, expect)
        else:
            bug = check_refusal(None, expect)
    if bug is None and before is not None and learned_state(est) != before:
        bug = "learned attributes changed by a failed call"
    return bug


def estimator_cases(cls, n_cases, seed=0):
    """``n_cases`` legal and ``n_cases`` malformed cases for ``cls`` (the mutations that
    apply to its kind, each in turn)."""
    space = legal_space(cls)
    legal = draw_cases(space, n_cases, seed)
    malformed = draw_cases({**space, "mutation": applicable_mutations(cls)}, n_cases, seed + 1)
    return legal, malformed


def fuzz_estimator(cls, n_cases, seed=0):
    """A :class:`Tally` of ``n_cases`` legal and malformed draws for ``cls``."""
    tally = Tally(cls.__name__)
    legal, malformed = estimator_cases(cls, n_cases, seed)
    for case in legal:
        tally.add_legal(run_legal_case(cls, case), case)
    for case in malformed:
        tally.add_malformed(run_malformed_case(cls, case), case)
    return tally


# ------------------------------------------------------------------------------------------
# Known bugs of the numerical edge cases (strict xfail: fixing one makes its marker fail)
# ------------------------------------------------------------------------------------------

KNOWN_EDGE_BUGS = {}


# ------------------------------------------------------------------------------------------
# Fuzzing the estimators
# ------------------------------------------------------------------------------------------

#: Legal and malformed draws per estimator in the test suite (the report draws more); the
#: image-set learner trains one network per class, the slowest fit by far.
TEST_CASES = 10
TEST_CASES_SLOW = {"MMDML": 3}


def _test_cases(cls):
    return TEST_CASES_SLOW.get(cls.__name__, TEST_CASES)


def test_lmnn_object_string_labels_with_a_small_class():
    """Found by the fuzzer: the small-class warning used to call .tolist() on a Python str
    (object-dtype labels) and fit raised AttributeError instead of warning."""
    from skdml import LMNN

    X = np.random.default_rng(0).standard_normal((10, 3))
    y = np.array(["a", "b", "c"], dtype=object)[np.arange(10) % 3]
    with pytest.warns(UserWarning, match=r"'b': 3, 'c': 3"):
        lmnn = LMNN(random_state=0).fit(X, y)
    assert np.all(np.isfinite(lmnn.transform(X)))


def _classes_of_repeated_points():
    """Five classes of two identical points each: no class varies at all."""
    points = np.array([[0.0, 0.0], [1e4, 2e4], [5e4, 1e4], [2e4, -3e4], [-4e4, 1e4]])
    return np.repeat(points, 2, axis=0), np.repeat(-3 * np.arange(5) - 2, 2)


@pytest.mark.parametrize("make", [
    lambda: __import__("skdml").LDA(),
    lambda: __import__("skdml").NCA(random_state=0),  # init='auto' starts from LDA's axes
    lambda: __import__("skdml").LMNN(init="lda", random_state=0),
    lambda: __import__("skdml").SCML(random_state=0),  # a basis of local discriminants
], ids=["LDA", "NCA", "LMNN", "SCML"])
def test_discriminant_axes_of_classes_that_do_not_vary(make):
    """Found by the legal fuzzing: with no within-class spread, scikit-learn's SVD solver
    has no axis to return and fit raised IndexError. The axes are now those of the class
    means, which separate the classes perfectly."""
    X, y = _classes_of_repeated_points()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes smaller than LMNN's n_neighbors + 1
        est = make().fit(X, y)
    Z = est.transform(X)
    assert np.all(np.isfinite(Z))
    D = np.linalg.norm(Z[:, None] - Z[None], axis=2)
    same = y[:, None] == y[None, :]
    assert D[same].max() < 1e-9 * D.max() and D[~same].min() > 0


def test_lda_of_classes_that_do_not_vary_spans_the_class_means():
    from skdml import LDA

    X, y = _classes_of_repeated_points()
    lda = LDA().fit(X, y)
    assert lda.components_.shape == (2, 2)
    np.testing.assert_allclose(lda.components_ @ lda.components_.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(lda.explained_variance_ratio_.sum(), 1.0)


def test_itml_learns_from_dissimilar_pairs_when_similar_ones_join_identical_points():
    """Found by the legal fuzzing: classes of repeated points leave ITML only dissimilar
    pairs between distinct points (the similar ones hold for any metric); fit refused
    them with a ValueError."""
    from skdml import ITML

    X, y = _classes_of_repeated_points()
    itml = ITML(random_state=0).fit(X, y)
    assert np.all(np.isfinite(itml.get_mahalanobis_matrix()))
    pairs = np.stack([X[[0, 2]], X[[1, 3]]], axis=1)  # both join identical points
    with pytest.warns(UserWarning, match="1 dissimilar pairs join identical points"), \
            pytest.raises(ValueError, match="every constraint pair joins two identical points"):
        ITML().fit(pairs, [1, -1])


def test_mmdml_refuses_complex_sets():
    """Found by the malformed fuzzing: complex sets were cast to float, their imaginary
    part silently dropped (a ComplexWarning at most)."""
    from skdml import MMDML

    sets = [np.ones((2, 3)) + 1j, np.zeros((2, 3))]
    with pytest.raises(ValueError, match="set 0 holds complex values"):
        MMDML().fit(sets, [0, 1])


def test_draw_cases_cover_every_choice():
    cases = draw_cases(LEGAL_SPACE, 12, seed=3)
    for key, choices in LEGAL_SPACE.items():
        drawn = [case[key] for case in cases]
        assert all(drawn.count(c) >= 12 // len(choices) for c in choices), key
    assert len({case["seed"] for case in cases}) == 12


@pytest.mark.parametrize("cls", ESTIMATORS, ids=_ids(ESTIMATORS))
def test_legal_inputs_reach_the_computation(cls):
    legal, _ = estimator_cases(cls, _test_cases(cls))
    bugs = [f"{case}: {bug}" for case in legal if (bug := run_legal_case(cls, case))]
    assert not bugs, f"{cls.__name__} failed on legal input:\n" + "\n".join(bugs)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=_ids(ESTIMATORS))
def test_malformed_inputs_are_refused_clearly(cls):
    _, malformed = estimator_cases(cls, _test_cases(cls))
    bugs = [f"{case}: {bug}" for case in malformed if (bug := run_malformed_case(cls, case))]
    assert not bugs, f"{cls.__name__} on malformed input:\n" + "\n".join(bugs)


# ------------------------------------------------------------------------------------------
# Numerical edge cases of the Mahalanobis learners
# ------------------------------------------------------------------------------------------


def _edge_data(kind, seed=0):
    rng = np.random.default_rng(seed)
    n, d = (60, 500) if kind == "d500_n60" else (60, 5)
    labels = np.arange(n) % 3
    X = rng.standard_normal((n, d)) + 2.0 * labels[:, None] * (np.arange(d) < 3)
    if kind == "duplicate_rows":
        X[30:] = X[:30]
    elif kind == "constant_feature":
        X[:, 1] = 4.2
    elif kind == "collinear_features":
        X[:, 3] = 2 * X[:, 0] - X[:, 2]
        X[:, 4] = X[:, 0]
    elif kind == "scaled_1e6":
        X[:, :2] *= 1e6
    elif kind == "scaled_1e-6":
        X[:, :2] *= 1e-6
    return X, labels


EDGE_CASES = ["duplicate_rows", "constant_feature", "collinear_features", "scaled_1e6",
              "scaled_1e-6", "d500_n60"]


def run_edge_case(cls, kind):
    """Fit ``cls`` on an awkward but legal data set; ``None`` if the learned M is finite and
    PSD, the embedding finite and the fit converged or warned ``ConvergenceWarning``, else a
    description of the bug."""
    X, labels = _edge_data(kind)
    y = target_for(cls, labels)
    est = new_instance(cls)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est.fit(X, y)
        except Exception as exc:  # noqa: BLE001
            return f"fit raised {type(exc).__name__}: {exc}"
    M = est.get_mahalanobis_matrix()
    if not np.all(np.isfinite(M)):
        return "M has NaN/inf"
    M = (M + M.T) / 2
    norm = np.linalg.norm(M, 2)
    smallest = np.linalg.eigvalsh(M)[0]
    if smallest < -1e-10 * norm:
        return f"M is not PSD: smallest eigenvalue {smallest:.3g}, ||M|| {norm:.3g}"
    if not np.all(np.isfinite(est.transform(X))):
        return "transform gives NaN/inf"
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    max_iter = est.get_params().get("max_iter")
    n_iter = getattr(est, "n_iter_", None)
    if max_iter is not None and n_iter is not None and n_iter >= max_iter and not warned:
        return f"stopped at max_iter={max_iter} without a ConvergenceWarning"
    return None


def _edge_params():
    params = []
    for cls in MAHALANOBIS:
        for kind in EDGE_CASES:
            reason = KNOWN_EDGE_BUGS.get((cls.__name__, kind))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(cls, kind, marks=marks, id=f"{cls.__name__}-{kind}"))
    return params


@pytest.mark.parametrize(("cls", "kind"), _edge_params())
def test_numerical_edge_case(cls, kind):
    bug = run_edge_case(cls, kind)
    assert bug is None, f"{cls.__name__} on {kind}: {bug}"


# ------------------------------------------------------------------------------------------
# Determinism
# ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _deterministic_torch():
    import torch

    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def _fit_output(cls, seed=0):
    X, y = good_data(cls, n=45, d=6, seed=seed)
    est = new_instance(cls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    if _is_image_sets(cls):
        return np.asarray(est.manifold_distances(X))
    if _is_index(cls):
        return np.concatenate(est.kneighbors(X, n_neighbors=3), axis=1)
    return np.asarray(est.transform(X))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=_ids(ESTIMATORS))
def test_same_random_state_same_result_in_process(cls):
    is_deep = "max_epochs" in new_instance(cls).get_params() or _is_image_sets(cls)
    with _deterministic_torch() if is_deep else contextlib.nullcontext():
        first = _fit_output(cls)
        second = _fit_output(cls)
    # Bit-identical, classical and deep alike (deep: torch's deterministic algorithms, CPU).
    np.testing.assert_array_equal(first, second)


_CROSS_PROCESS = ["LMNN", "NCA", "ITML", "SCML", "LSH", "DDML"]

_SUBPROCESS_CODE = """
import json, sys, warnings
import numpy as np, torch
from threadpoolctl import threadpool_limits
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
from tests.test_reliability import ESTIMATORS, _fit_output
names = json.loads(sys.argv[1])
with threadpool_limits(limits=1):
    out = {c.__name__: _fit_output(c).tolist() for c in ESTIMATORS if c.__name__ in names}
print(json.dumps(out))
"""


def test_same_random_state_same_result_across_processes():
    classes = [c for c in ESTIMATORS if c.__name__ in _CROSS_PROCESS]
    assert len(classes) == len(_CROSS_PROCESS)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="123")
    proc = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS_CODE, json.dumps(_CROSS_PROCESS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    with _deterministic_torch():
        for cls in classes:
            ours = _fit_output(cls)
            np.testing.assert_array_equal(ours, np.asarray(theirs[cls.__name__]),
                                          err_msg=cls.__name__)


# ------------------------------------------------------------------------------------------
# Thread safety
# ------------------------------------------------------------------------------------------


def _concurrently(function, inputs):
    """``function`` over ``inputs`` from 8 threads at once.

    torch's intra-op thread count is per thread (OpenMP): a new thread computes with torch's
    default count, not the caller's, and a float32 network's results then differ from the
    caller's by rounding (~1e-7 relative, BLAS blocking) -- not a race. The workers take the
    caller's count, as a server that sets it at start-up would; the GEMM kernel choice may
    still differ (see the tolerance in test_concurrent_calls_match_serial_calls).
    """
    initializer = None
    if "torch" in sys.modules:
        import torch

        threads = torch.get_num_threads()

        def initializer():
            torch.set_num_threads(threads)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8, initializer=initializer) as pool:
        return list(pool.map(function, inputs))


@pytest.mark.parametrize("cls", [c for c in ESTIMATORS if not _is_index(c)],
                         ids=_ids([c for c in ESTIMATORS if not _is_index(c)]))
def test_concurrent_calls_match_serial_calls(cls):
    X, y = good_data(cls, n=45, d=6)
    est = new_instance(cls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    if _is_image_sets(cls):
        chunks = [X[i::8] for i in range(8)] * 3
        serial = [est.manifold_distances(c) for c in chunks]
        threaded = _concurrently(est.manifold_distances, chunks)
    else:
        rng = np.random.default_rng(1)
        chunks = [X[rng.choice(len(X), size=20)] for _ in range(24)]
        serial = [est.transform(c) for c in chunks]
        threaded = _concurrently(est.transform, chunks)
        pairs = [np.stack([c[:10], c[10:]], axis=1) for c in chunks]
        serial += [est.pair_distance(p) for p in pairs]
        threaded += _concurrently(est.pair_distance, pairs)
    if "max_epochs" in est.get_params() or _is_image_sets(cls):
        # float32 network: the GEMM kernel torch picks depends on the calling thread's
        # OpenMP / MKL settings, which a worker thread does not inherit, so the last rows of
        # a batch may differ by float32 rounding (seen: 4e-7 on distances of 14, i.e. a few
        # float32 ulps of the largest value) -- not a race, whose errors would be of the
        # order of the values themselves.
        for a, b in zip(serial, threaded):
            a, b = np.asarray(a), np.asarray(b)
            scale = np.abs(a).max()
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * scale)
    else:
        for a, b in zip(serial, threaded):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_hamming_neighbors_concurrent_kneighbors_match_serial():
    from skdml.hashing import HammingNeighbors

    rng = np.random.default_rng(0)
    database = rng.integers(0, 2, size=(2000, 96), dtype=np.uint8)
    index = HammingNeighbors(n_neighbors=7, packed=False).fit(database)
    queries = [rng.integers(0, 2, size=(50, 96), dtype=np.uint8) for _ in range(24)]
    serial = [index.kneighbors(q) for q in queries]
    threaded = _concurrently(index.kneighbors, queries)
    for (d1, i1), (d2, i2) in zip(serial, threaded):
        np.testing.assert_array_equal(d1, d2)
        np.testing.assert_array_equal(i1, i2)
