"""Fuzzing every public function of skdml: legal draws on purpose, malformed ones apart.

The functions are discovered from the ``__all__`` of ``skdml.kernels``, ``metrics``,
``constraints``, ``datasets``, ``plotting``, ``hashing`` and ``io`` (classes there are
estimators, fuzzed in tests/test_reliability.py), and a test fails when one of them has no
entry below, so a new function cannot be forgotten. The kernels that take ``metric=`` get
one entry per metric.

Each entry has two strategies, built on the helpers of tests/test_reliability.py:

- **legal** draws follow the function's docstring on purpose -- empty and one-row inputs
  where allowed, float32 / float64 / int data, string and object labels, ties, duplicates,
  constant and collinear columns, scales from 1e-8 to 1e8 --, and any exception is a bug;
  the result is then checked: against a brute-force NumPy twin where one is cheap and
  exact (distances within a rounding tolerance, Hamming searches, constraint invariants,
  integer-valued retrieval data), for range and finiteness otherwise; and the inputs must
  come back unmodified;
- **malformed** draws break one argument of a legal draw; only a ``ValueError`` /
  ``TypeError`` whose message names that problem (the argument, or the expected shape,
  dtype or range) passes.

``benchmarks/reliability_report.py`` runs the same entries with more cases.
"""

import copy
import inspect
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from sklearn.metrics import DetCurveDisplay, PrecisionRecallDisplay, RocCurveDisplay

from skdml import constraints, datasets, hashing, kernels, metrics, plotting
from skdml import io as skdml_io

from .test_reliability import (
    COMPLEX,
    EMPTY,
    FEATURES,
    NAN,
    NOT_2D,
    SAMPLES,
    STRINGS,
    Expect,
    Tally,
    check_refusal,
    draw_cases,
    features,
    label_values,
    mismatch,
    scaled,
    word,
)

matplotlib.use("Agg")

#: The modules whose public functions are fuzzed.
MODULES = (kernels, metrics, constraints, datasets, plotting, hashing, skdml_io)


def public_functions():
    """``{function: [public names]}`` from the modules' ``__all__`` (``hashing`` re-exports
    the Hamming kernels: one function, two names)."""
    found = {}
    for module in MODULES:
        short = module.__name__.removeprefix("skdml.")
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                found.setdefault(obj, []).append(f"{short}.{name}")
    return found


# ---------------------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------------------


class Entry:
    """One public function (or one ``metric=`` of it) under fuzzing.

    ``legal(case, rng) -> (kwargs, check)``: keyword arguments of a legal call and a check
    of its result (``None`` or the bug); ``malformed(case, rng) -> (kwargs, expect)``: the
    arguments of a call broken by ``case['mutation']`` and what its refusal must name.
    ``invoke(function, kwargs)`` makes the call (a generator is consumed, a file written
    and read back).
    """

    def __init__(self, name, function, space, legal, mutations, malformed, invoke=None):
        self.name = name
        self.function = function
        self.space = space
        self.legal = legal
        self.mutations = mutations
        self.malformed = malformed
        self.invoke = invoke or (lambda function, kwargs: function(**kwargs))

    def cases(self, n_cases, seed=0):
        legal = draw_cases(self.space, n_cases, seed)
        malformed = draw_cases({**self.space, "mutation": self.mutations}, n_cases, seed + 1)
        return legal, malformed


ENTRIES = {}


def entry(function, space, mutations, *, name=None, invoke=None):
    """Register ``builders`` (a namespace with ``legal`` and ``malformed``) for
    ``function``; ``space`` is its legal case space, ``mutations`` its malformed kinds."""

    def register(builders):
        key = name or public_functions()[function][0]
        ENTRIES[key] = Entry(key, function, space, builders.legal, mutations,
                             builders.malformed, invoke)
        return builders

    return register


def _snapshot(kwargs):
    """A comparable copy of the array arguments (NaN equal to NaN, whatever the dtype)."""
    out = {}
    for key, value in kwargs.items():
        if isinstance(value, np.ndarray):
            out[key] = (value.dtype.str, value.shape, repr(value.tolist()))
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], np.ndarray):
            out[key] = [repr(v.tolist()) for v in value]
    return out


def run_legal(entry, case):
    """Run one legal draw; ``None`` or a description of the bug."""
    rng = np.random.default_rng(case["seed"])
    kwargs, check = entry.legal(case, rng)
    before = _snapshot(kwargs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = entry.invoke(entry.function, kwargs)
        bug = check(result)
    except Exception as exc:  # noqa: BLE001 - any exception on legal input is the bug
        bug = f"{type(exc).__name__}: {exc}"
    finally:
        _close_figures()
    if bug is None and _snapshot(kwargs) != before:
        bug = "modified its input"
    return bug


def run_malformed(entry, case):
    """Run one malformed draw; ``None`` if it was refused clearly, else the bug."""
    rng = np.random.default_rng(case["seed"])
    kwargs, expect = entry.malformed(case, rng)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            entry.invoke(entry.function, kwargs)
    except Exception as exc:  # noqa: BLE001 - classifying the outcome is the point
        return check_refusal(exc, expect)
    finally:
        _close_figures()
    return check_refusal(None, expect)


def fuzz_function(entry, n_cases, seed=0):
    """A :class:`Tally` of ``n_cases`` legal and malformed draws of ``entry``."""
    tally = Tally(entry.name)
    legal, malformed = entry.cases(n_cases, seed)
    for case in legal:
        tally.add_legal(run_legal(entry, case), case)
    for case in malformed:
        tally.add_malformed(run_malformed(entry, case), case)
    return tally


def _close_figures():
    import matplotlib.pyplot as plt

    plt.close("all")


# ---------------------------------------------------------------------------------------
# Building blocks of the draws
# ---------------------------------------------------------------------------------------

#: Real data: rows, width, dtype, layout and scale (from 1e-8 to 1e8, or mixed per column).
DATA = {
    "n": [0, 1, 2, 5, 13],
    "d": ["1", "3", "d>n"],
    "dtype": ["float64", "float32", "int64"],
    "layout": ["blobs", "noise", "constant_feature", "collinear", "duplicates", "ties"],
    "scale": [1e-8, 1e-4, 1.0, 1e4, 1e8, "mixed"],
}
#: Labeled data: at least two samples, labels of any type, classes of 1 to 6 members.
LABELED = {
    **DATA,
    "n": [2, 3, 6, 15],
    "labels": ["int", "negative", "float", "str", "object"],
    "n_classes": [1, 2, 3, 5],
}


def width(case, n):
    return {"1": 1, "3": 3, "d>n": n + 2}[case["d"]]


def real_matrix(case, rng, n, d=None, codes=None):
    """An (n, d) matrix of the case's layout, scale and dtype."""
    d = width(case, n) if d is None else d
    codes = np.arange(n) % 3 if codes is None else codes
    return scaled(case, rng, features(case, rng, np.asarray(codes, dtype=np.intp), d))


def class_codes(case, rng, n, *, min_classes=1, pair_class=False):
    """Class codes of ``n`` samples: ``case['n_classes']`` classes (at least
    ``min_classes``, at most ``n``), random sizes, one class of at least two members when
    ``pair_class``."""
    k = int(np.clip(case["n_classes"], min_classes, n - pair_class))
    codes = np.concatenate([np.arange(k), rng.integers(0, k, size=n - k)])
    return rng.permutation(codes)


def labels(case, codes):
    return label_values(case, np.asarray(codes))


def _is_exact(X):
    """Integer data whose squared norms are exact in float32: rankings can be checked
    against a brute-force twin, ties (broken by the smaller index) included."""
    X = np.asarray(X, dtype=np.float64)
    return bool(np.all(X == np.round(X)) and (X**2).sum(axis=1).max(initial=0) < 2**22)


def _mutate_array(kwargs, key, mutation, rng):
    """Break the array argument ``key`` by ``mutation``; return what the refusal names."""
    X = np.asarray(kwargs[key])
    if mutation in ("nan", "inf"):
        X = np.array(X, dtype=np.float64)
        if X.size == 0:
            X = np.ones((2,) + X.shape[1:] if X.ndim > 1 else (2,))
        X.flat[int(rng.integers(X.size))] = np.nan if mutation == "nan" else np.inf
        kwargs[key] = X
        return Expect((word(key), NAN.alternatives[0][0]), what=f"NaN / infinity in {key}")
    if mutation == "1d":
        kwargs[key] = X.reshape(-1)[: max(X.size, 1)] if X.size else np.ones(3)
        return NOT_2D
    if mutation == "3d":
        kwargs[key] = X[None]
        return Expect((r"2d|2-d|shape|dim",), what=f"a 3-D {key}")
    if mutation == "strings":
        kwargs[key] = np.array([f"v{v}" for v in X.ravel()] or ["v"], dtype=object).reshape(
            X.shape if X.size else (1, 1))
        return STRINGS
    if mutation == "complex":
        kwargs[key] = (X if X.size else np.ones((2, 2))) + 1j
        return COMPLEX
    if mutation == "empty":
        kwargs[key] = X[:0]
        return EMPTY
    raise AssertionError(mutation)  # pragma: no cover


# ---------------------------------------------------------------------------------------
# Kernels: brute-force twins with a rounding tolerance
# ---------------------------------------------------------------------------------------

_SQUARED = {"euclidean", "mahalanobis"}


def reference_distances(X, Y, metric, M=None, L=None, *, paired=False, dtype=np.float64):
    """Brute-force distances in float64 -- squared for 'euclidean' / 'mahalanobis' -- and
    the rounding error allowed on each.

    The kernels expand ``||x - y||^2 = ||x||^2 + ||y||^2 - 2 x.y``, whose rounding error
    grows with the norms (``~ d eps (||x||^2 + ||y||^2)``), as in scikit-learn; the other
    metrics are accurate to a few ``eps`` of their terms.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    d = X.shape[1]
    slack = 16 * (d + 4) * np.finfo(dtype).eps
    diff = X - Y if paired else X[:, None, :] - Y[None, :, :]

    def pair(a, b):
        return a + b if paired else a[:, None] + b[None, :]

    if metric in ("euclidean", "sqeuclidean"):
        ref = np.sum(diff**2, axis=-1)
        size = pair(np.sum(X**2, axis=1), np.sum(Y**2, axis=1))
    elif metric == "mahalanobis" and L is not None:
        L = np.asarray(L, dtype=np.float64)
        ref = np.sum((diff @ L.T) ** 2, axis=-1)
        size = pair(np.sum((X @ L.T) ** 2, axis=1), np.sum((Y @ L.T) ** 2, axis=1))
    elif metric == "mahalanobis":
        M = np.asarray(M, dtype=np.float64)
        ref = np.maximum(np.einsum("...i,ij,...j->...", diff, M, diff), 0.0)
        size = np.linalg.norm(M, 2) * pair(np.sum(X**2, axis=1), np.sum(Y**2, axis=1))
    elif metric == "cosine":
        nx, ny = np.linalg.norm(X, axis=1), np.linalg.norm(Y, axis=1)
        Xn = X / np.where(nx > 0, nx, 1)[:, None]
        Yn = Y / np.where(ny > 0, ny, 1)[:, None]
        ref = 1.0 - (np.sum(Xn * Yn, axis=1) if paired else Xn @ Yn.T)
        ref = np.clip(np.where(pair(nx == 0, ny == 0), 1.0, ref), 0.0, 2.0)
        size = np.ones_like(ref)
    elif metric == "manhattan":
        ref = np.sum(np.abs(diff), axis=-1)
        size = pair(np.sum(np.abs(X), axis=1), np.sum(np.abs(Y), axis=1))
    else:  # chebyshev
        ref = np.max(np.abs(diff), axis=-1) if d else np.zeros(diff.shape[:-1])
        size = pair(np.max(np.abs(X), axis=1, initial=0), np.max(np.abs(Y), axis=1, initial=0))
    return ref, slack * size + np.finfo(np.float64).tiny


def comparable(D, metric):
    """Kernel distances in the units of :func:`reference_distances`."""
    D = np.asarray(D, dtype=np.float64)
    return D**2 if metric in _SQUARED else D


def _expected_dtype(*arrays):
    """float32 when every input is float32, else float64 (as the kernels promise)."""
    dtypes = [np.asarray(a).dtype for a in arrays if a is not None]
    return np.float32 if all(dt == np.float32 for dt in dtypes) else np.float64


def check_distance_matrix(D, X, Y, metric, M, L, *, paired=False):
    Y_ = X if Y is None else Y
    dtype = _expected_dtype(X, Y)
    shape = (len(X),) if paired else (len(X), len(Y_))
    if D.shape != shape:
        return f"shape {D.shape}, expected {shape}"
    if D.dtype != dtype:
        return f"dtype {D.dtype}, expected {np.dtype(dtype)}"
    if not np.all(np.isfinite(D)) or np.any(D < 0):
        return "a negative or non-finite distance"
    if Y is None and not paired and np.any(np.diag(D) != 0):
        return "a non-zero diagonal with Y=None"
    ref, tol = reference_distances(X, Y_, metric, M, L, paired=paired, dtype=dtype)
    if Y is None and not paired:  # a point is at distance 0 from itself, zero vector or not
        np.fill_diagonal(ref, 0.0)
    err = np.abs(comparable(D, metric) - ref)
    if np.any(err > tol):
        i = np.unravel_index(np.argmax(err / tol), err.shape)
        got = comparable(D, metric)[i]
        return f"distance {i}: {got!r} against {ref[i]!r} (tolerance {tol[i]:.3g})"
    return None


METRIC_SPACE = {
    **DATA,
    "Y": ["none", "same dtype", "float64", "empty"],
    "given": ["M", "M singular", "L", "L wide", "M zero"],
}


def metric_kwargs(metric, case, rng, d):
    """``metric`` and, for 'mahalanobis', an ``M`` (PSD, maybe singular) or an ``L``."""
    kwargs = {"metric": metric}
    if metric != "mahalanobis":
        return kwargs
    size = 10.0 ** rng.choice([-8, -2, 0, 2, 8])
    given = case["given"]
    if given.startswith("L"):
        rows = d + 2 if given == "L wide" else max(1, d - 1)
        kwargs["L"] = rng.standard_normal((rows, d)) * np.sqrt(size)
    else:
        rank = d if given == "M" else (0 if given == "M zero" else max(1, d // 2))
        A = rng.standard_normal((rank, d))
        M = A.T @ A * size
        kwargs["M"] = (M + M.T) / 2
    return kwargs


def distance_inputs(case, rng, *, min_rows=0):
    n = max(case["n"], min_rows)
    X = real_matrix(case, rng, n)
    Y = None
    if case["Y"] != "none":
        Y = real_matrix(case, rng, 0 if case["Y"] == "empty" else int(rng.integers(1, 9)),
                        X.shape[1])
        if case["Y"] == "float64":
            Y = Y.astype(np.float64)
    return X, Y


def _metric_malformations(kwargs, mutation, rng, metric, first="X", second="Y"):
    """Mutations shared by the distance kernels (``first`` / ``second`` are the data)."""
    if mutation in ("nan", "inf", "strings", "complex", "1d"):
        return _mutate_array(kwargs, first, mutation, rng)
    if mutation == "second_nan":
        kwargs[second] = np.array(kwargs[first], dtype=np.float64) if kwargs.get(second) is None \
            else np.array(kwargs[second], dtype=np.float64)
        if kwargs[second].size == 0:
            kwargs[second] = np.ones((2, kwargs[second].shape[1]))
        return _mutate_array(kwargs, second, "nan", rng)
    if mutation == "width":
        other = np.asarray(kwargs[first])
        d = other.shape[1]
        kwargs[second] = np.ones((max(len(other), 1), d + 1))
        return mismatch(d, d + 1, f"{first} with {d} features and {second} with {d + 1}",
                        FEATURES)
    if mutation == "metric":
        kwargs["metric"] = rng.choice(["euclidian", "l2", "Cosine", 3])
        kwargs.pop("M", None), kwargs.pop("L", None)
        return Expect((word("metric"),), what="an unknown metric")
    if mutation == "M_without_mahalanobis":
        d = np.asarray(kwargs[first]).shape[1]
        if metric == "mahalanobis":
            kwargs.pop("L", None)
            kwargs["M"], kwargs["L"] = np.eye(d), np.eye(d)
        else:
            kwargs["M"] = np.eye(d)
        return Expect((r"\bM\b", r"mahalanobis|both"), what="M with another metric")
    if mutation == "M_not_psd":
        d = np.asarray(kwargs[first]).shape[1]
        kwargs.pop("L", None)
        kwargs["metric"], kwargs["M"] = "mahalanobis", -np.eye(d) * 10.0 ** rng.integers(-8, 9)
        return Expect((r"positive semi-definite|psd",), what="an M that is not PSD")
    if mutation == "M_not_symmetric":
        d = np.asarray(kwargs[first]).shape[1]
        M = np.eye(d) * 2
        M[0, -1] += 1.0 if d > 1 else 0.0
        if d == 1:
            M = np.ones((1, 2))
        kwargs.pop("L", None)
        kwargs["metric"], kwargs["M"] = "mahalanobis", M
        return Expect((r"symmetric|square",), what="an M that is not a symmetric matrix")
    if mutation == "M_wrong_shape":
        d = np.asarray(kwargs[first]).shape[1]
        kwargs.pop("L", None)
        kwargs["metric"], kwargs["M"] = "mahalanobis", np.eye(d + 1)
        return mismatch(d, d + 1, f"an M of shape ({d + 1}, {d + 1}) for {d} features",
                        r"\bM\b")
    raise AssertionError(mutation)  # pragma: no cover


_DISTANCE_MUTATIONS = ["nan", "inf", "strings", "complex", "1d", "second_nan", "width",
                       "metric", "M_without_mahalanobis", "M_not_psd", "M_not_symmetric",
                       "M_wrong_shape"]


class PairwiseDistances:
    @staticmethod
    def legal(case, rng):
        X, Y = distance_inputs(case, rng)
        kwargs = {"X": X, "Y": Y, **metric_kwargs(case["metric"], case, rng, X.shape[1])}

        def check(D):
            return check_distance_matrix(D, X, Y, case["metric"], kwargs.get("M"),
                                         kwargs.get("L"))

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = PairwiseDistances.legal(case, rng)
        return kwargs, _metric_malformations(kwargs, case["mutation"], rng, case["metric"])


class PairwiseDistancesChunked:
    @staticmethod
    def legal(case, rng):
        kwargs, _ = PairwiseDistances.legal(case, rng)
        kwargs["working_memory"] = rng.choice([None, 1, 100, 4096.5, 2**20])
        if rng.integers(2):
            kwargs["reduce_func"] = lambda block, start: (start, block.copy())
        X, Y = kwargs["X"], kwargs["Y"]

        def check(blocks):
            starts = [start for start, _ in blocks]
            D = (np.vstack([b for _, b in blocks]) if blocks
                 else np.zeros((0, len(X if Y is None else Y)), _expected_dtype(X, Y)))
            if starts != sorted(set(starts)) or (blocks and starts[0] != 0):
                return f"block starts {starts}"
            return check_distance_matrix(D, X, Y, case["metric"], kwargs.get("M"),
                                         kwargs.get("L"))

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = PairwiseDistancesChunked.legal(case, rng)
        if case["mutation"] == "working_memory":
            kwargs["working_memory"] = rng.choice([0, -5, "64MB", np.nan])
            return kwargs, Expect((word("working_memory"),), what="a bad working_memory")
        return kwargs, _metric_malformations(kwargs, case["mutation"], rng, case["metric"])


class PairedDistances:
    @staticmethod
    def legal(case, rng):
        A = real_matrix(case, rng, case["n"])
        B = real_matrix(case, rng, case["n"], A.shape[1])
        if case["layout"] == "duplicates":
            B[::2] = A[::2]
        kwargs = {"A": A, "B": B, **metric_kwargs(case["metric"], case, rng, A.shape[1])}

        def check(D):
            return check_distance_matrix(D, A, B, case["metric"], kwargs.get("M"),
                                         kwargs.get("L"), paired=True)

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = PairedDistances.legal(case, rng)
        if case["mutation"] == "rows":
            n = len(kwargs["A"])
            kwargs["B"] = np.ones((n + 1, kwargs["A"].shape[1]))
            return kwargs, mismatch(n, n + 1, "A and B of unequal rows", SAMPLES)
        return kwargs, _metric_malformations(kwargs, case["mutation"], rng, case["metric"],
                                             "A", "B")


class Knn:
    @staticmethod
    def legal(case, rng):
        X, Y = distance_inputs(case, rng, min_rows=1)
        if Y is not None and len(Y) == 0:
            Y = None
        exclude = Y is None and len(X) > 1 and bool(rng.integers(2))
        k = int(rng.integers(1, (len(X) if Y is None else len(Y)) - exclude + 1))
        kwargs = {"X": X, "Y": Y, "k": [k, np.int64(k), np.int32(k)][int(rng.integers(3))],
                  "exclude_self": exclude, "working_memory": rng.choice([None, 1, 200, 2**20]),
                  **metric_kwargs(case["metric"], case, rng, X.shape[1])}

        def check(result):
            dist, ind = result
            return check_knn(dist, ind, X, Y, k, exclude, case["metric"], kwargs.get("M"),
                             kwargs.get("L"))

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = Knn.legal(case, rng)
        mutation = case["mutation"]
        if mutation == "k":
            n_db = len(kwargs["X"] if kwargs["Y"] is None else kwargs["Y"])
            kwargs["k"] = rng.choice([0, -1, n_db + 1, 1.5, True, "3"])
            return kwargs, Expect((r"\bk\b",), what="a k out of range")
        if mutation == "exclude_self_with_Y":
            kwargs["Y"], kwargs["exclude_self"], kwargs["k"] = kwargs["X"], True, 1
            return kwargs, Expect((r"exclude_self",), what="exclude_self with Y")
        if mutation == "working_memory":
            kwargs["working_memory"] = rng.choice([0, -5, "64MB"])
            return kwargs, Expect((word("working_memory"),), what="a bad working_memory")
        if mutation in ("width", "second_nan") and kwargs["Y"] is None:
            kwargs["exclude_self"] = False
        return kwargs, _metric_malformations(kwargs, mutation, rng, case["metric"])


def _register_metric_kernels():
    """One entry per ``metric=`` value for each kernel that takes one."""
    kinds = [
        (kernels.pairwise_distances, PairwiseDistances, [], None),
        (kernels.pairwise_distances_chunked, PairwiseDistancesChunked, ["working_memory"],
         lambda function, kwargs: list(function(**kwargs))),  # a generator: consume it
        (kernels.paired_distances, PairedDistances, ["rows"], None),
        (kernels.knn, Knn, ["k", "exclude_self_with_Y", "working_memory"], None),
    ]
    for metric in kernels.METRICS:
        space = {**METRIC_SPACE, "metric": [metric]}
        if metric != "mahalanobis":
            del space["given"]
        for function, builders, mutations, invoke in kinds:
            name = f"{public_functions()[function][0]}[metric={metric}]"
            entry_space = dict(space)
            if builders is PairedDistances:  # A and B: no optional Y
                del entry_space["Y"]
            entry(function, entry_space, _DISTANCE_MUTATIONS + mutations, name=name,
                  invoke=invoke)(builders)


def check_knn(dist, ind, X, Y, k, exclude, metric, M, L):
    n = len(X)
    if dist.shape != (n, k) or ind.shape != (n, k):
        return f"shapes {dist.shape} and {ind.shape}, expected {(n, k)}"
    if not np.all(np.isfinite(dist)) or np.any(np.diff(dist, axis=1) < 0):
        return "distances not finite or not ascending"
    db = X if Y is None else Y
    if np.any(ind < 0) or np.any(ind >= len(db)):
        return "an index out of range"
    if any(len(set(row)) < k for row in ind.tolist()):
        return "a database point listed twice"
    if exclude and np.any(ind == np.arange(n)[:, None]):
        return "a query among its own neighbors with exclude_self=True"
    ref, tol = reference_distances(X, db, metric, M, L, dtype=_expected_dtype(X, Y))
    if Y is None:  # a point is at distance 0 from itself, zero vector or not
        np.fill_diagonal(ref, 0.0)
    got = comparable(dist, metric)
    at = np.take_along_axis(ref, ind, axis=1)
    if exclude:
        ref = ref.copy()
        np.fill_diagonal(ref, np.inf)
    best = np.sort(ref, axis=1)[:, :k]
    row_tol = tol.max(axis=1, keepdims=True)
    if np.any(np.abs(got - at) > row_tol):
        return "a returned distance differs from the brute-force distance of its index"
    if np.any(np.abs(got - best) > row_tol):
        return "not the k nearest (brute force finds nearer points)"
    return None


_register_metric_kernels()


@entry(kernels.mahalanobis_components,
       {**DATA, "n": [1], "given": ["M", "M singular", "L", "L wide", "M zero"],
        "n_features": [None, "right"]},
       ["M_not_psd", "M_not_symmetric", "M_wrong_shape", "nan", "L_wrong_width", "neither"])
class MahalanobisComponents:
    @staticmethod
    def legal(case, rng):
        d = width(case, 4)
        kwargs = metric_kwargs("mahalanobis", case, rng, d)
        del kwargs["metric"]
        if "M" in kwargs and case["dtype"] == "float32":
            kwargs["M"] = kwargs["M"].astype(np.float32)
        if case["n_features"] == "right":
            kwargs["n_features"] = d

        def check(L):
            if L.ndim != 2 or L.shape[1] != d or not np.all(np.isfinite(L)):
                return f"L of shape {L.shape} (or not finite) for {d} features"
            if "L" in kwargs:
                return None if np.array_equal(L, kwargs["L"]) else "L given, another returned"
            M = np.asarray(kwargs["M"], dtype=np.float64)
            scale = max(np.abs(M).max(), np.finfo(float).tiny)
            eps = np.finfo(kwargs["M"].dtype).eps
            err = np.abs(L.T @ L - M).max()
            return None if err <= 64 * d * eps * scale else f"L.T @ L off M by {err:.3g}"

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = MahalanobisComponents.legal(case, rng)
        d = width(case, 4)
        mutation = case["mutation"]
        kwargs.pop("L", None), kwargs.pop("M", None)
        if mutation == "neither":
            return kwargs, Expect((r"\bM\b|\bL\b",), what="neither M nor L")
        if mutation == "L_wrong_width":
            kwargs["L"], kwargs["n_features"] = np.ones((2, d + 1)), d
            return kwargs, mismatch(d, d + 1, f"an L of {d + 1} columns for {d}", r"\bL\b")
        if mutation == "nan":
            kwargs["M"] = np.eye(d)
            return kwargs, _mutate_array(kwargs, "M", "nan", rng)
        kwargs["X"] = np.ones((1, d))  # for _metric_malformations' width
        if mutation == "M_wrong_shape":
            kwargs["n_features"] = d
        expect = _metric_malformations(kwargs, mutation, rng, "mahalanobis")
        del kwargs["X"], kwargs["metric"]
        return kwargs, expect


# ---------------------------------------------------------------------------------------
# Kernels: binary codes
# ---------------------------------------------------------------------------------------

CODES = {
    "n": [0, 1, 2, 9, 70],
    "n_bits": [1, 7, 8, 63, 64, 65, 130],
    "form": ["int01", "uint8", "bool", "float01", "signed", "signed float"],
    "layout": ["noise", "duplicates", "all ones", "all zeros"],
}


def random_bits(case, rng, n=None):
    n = case["n"] if n is None else n
    bits = rng.integers(0, 2, size=(n, case["n_bits"]), dtype=np.uint8)
    if case["layout"] == "duplicates" and n:
        bits[1::2] = bits[0]
    elif case["layout"] == "all ones":
        bits[:] = 1
    elif case["layout"] == "all zeros":
        bits[:] = 0
    return bits


def code_form(bits, form):
    """``bits`` in one of the accepted unpacked forms."""
    return {
        "int01": bits.astype(np.int64),
        "uint8": bits,
        "bool": bits.astype(bool),
        "float01": bits.astype(np.float64),
        "signed": (2 * bits.astype(np.int8) - 1),
        "signed float": 2.0 * bits - 1.0,
    }[form]


def brute_hamming(A, B):
    a = np.unpackbits(A, axis=1).astype(np.int32)
    b = np.unpackbits(B, axis=1).astype(np.int32)
    return (a[:, None, :] != b[None, :, :]).sum(axis=2, dtype=np.int32)


def _packed_mutation(kwargs, key, mutation, rng):
    """Breaks of packed-code arguments."""
    A = kwargs[key]
    if mutation == "not_uint8":
        kwargs[key] = A.astype(rng.choice([np.int64, np.float64, np.int8]))
        return Expect((word(key), r"uint8"), what=f"{key} not packed as uint8")
    if mutation == "1d":
        kwargs[key] = A.reshape(-1)
        return Expect((word(key), r"2-d|2d|shape"), what=f"a 1-D {key}")
    if mutation == "no_bytes":
        kwargs[key] = A[:, :0]
        return Expect((word(key), r"byte"), what=f"codes of no byte in {key}")
    raise AssertionError(mutation)  # pragma: no cover


@entry(kernels.pack_codes, CODES, ["not_binary", "mixed_signs", "nan", "strings", "1d",
                                   "no_bits", "complex"])
class PackCodes:
    @staticmethod
    def legal(case, rng):
        bits = random_bits(case, rng)
        codes = code_form(bits, case["form"])
        if case["form"].startswith("signed") and case["layout"] == "all zeros" and bits.size:
            codes = -np.ones_like(codes)  # every bit -1: still signed codes

        def check(packed):
            if packed.dtype != np.uint8 or packed.shape != (len(bits), -(-bits.shape[1] // 8)):
                return f"packed {packed.dtype} of shape {packed.shape}"
            back = np.unpackbits(packed, axis=1)
            width = bits.shape[1]
            if not np.array_equal(back[:, :width], bits) or np.any(back[:, width:]):
                return "unpacking does not give the codes back (or padding bits set)"
            return None

        return {"codes": codes}, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = PackCodes.legal({**case, "n": max(case["n"], 2)}, rng)
        mutation = case["mutation"]
        codes = np.array(kwargs["codes"], dtype=np.float64)
        if mutation == "not_binary":
            codes.flat[int(rng.integers(codes.size))] = rng.choice([2, 0.5, -3, 255])
            kwargs["codes"] = codes
            return kwargs, Expect((r"\{0, 1\}|binary",), what="codes that are not binary")
        if mutation == "mixed_signs":
            codes[0, 0], codes[-1, -1] = -1, 0
            if codes.size == 1 or (codes.shape[0] == 1 and codes.shape[1] == 1):
                codes = np.array([[-1.0, 0.0]])
            kwargs["codes"] = codes
            return kwargs, Expect((r"not both|\{0, 1\}",), what="{0, 1} and {-1, +1} mixed")
        if mutation == "no_bits":
            kwargs["codes"] = codes[:, :0]
            return kwargs, Expect((r"bit",), what="codes of no bit")
        if mutation in ("strings", "complex"):
            kwargs["codes"] = codes
            _mutate_array(kwargs, "codes", mutation, rng)
            return kwargs, Expect((r"numeric|boolean|dtype",), what="codes of a non-numeric dtype")
        kwargs["codes"] = codes
        expect = _mutate_array(kwargs, "codes", mutation, rng)
        if mutation == "1d":
            expect = Expect((r"2-d|2d|shape",), what="1-D codes")
        return kwargs, expect


@entry(kernels.unpack_codes, {**CODES, "n_bits_arg": ["none", "exact", "numpy int"],
                              "signed": [False, True]},
       ["not_uint8", "1d", "no_bytes", "n_bits_too_many", "n_bits_too_few", "n_bits_float",
        "padding_set"])
class UnpackCodes:
    @staticmethod
    def legal(case, rng):
        bits = random_bits(case, rng)
        n_bits = bits.shape[1]
        kwargs = {"packed": np.packbits(bits, axis=1), "signed": case["signed"]}
        if case["n_bits_arg"] == "exact":
            kwargs["n_bits"] = n_bits
        elif case["n_bits_arg"] == "numpy int":
            kwargs["n_bits"] = np.int64(n_bits)
        else:
            n_bits = 8 * kwargs["packed"].shape[1]
            bits = np.unpackbits(kwargs["packed"], axis=1)

        def check(out):
            want = (2 * bits.astype(np.int8) - 1) if case["signed"] else bits
            if out.shape != want.shape or not np.array_equal(out, want):
                return f"unpacked {out.shape} differs from the codes {want.shape}"
            return None

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        case = {**case, "n": max(case["n"], 1), "layout": "all ones"}
        kwargs, _ = UnpackCodes.legal(case, rng)
        mutation = case["mutation"]
        n_bytes = kwargs["packed"].shape[1]
        if mutation == "n_bits_too_many":
            kwargs["n_bits"] = 8 * n_bytes + 1
            return kwargs, Expect((r"n_bits",), what="more bits than the bytes hold")
        if mutation == "n_bits_too_few":
            kwargs["n_bits"] = rng.choice([0, -3, 8 * (n_bytes - 1)])
            return kwargs, Expect((r"n_bits",), what="fewer bits than the bytes need")
        if mutation == "n_bits_float":
            kwargs["n_bits"] = float(8 * n_bytes)
            return kwargs, Expect((r"n_bits",), what="a float n_bits")
        if mutation == "padding_set":
            if case["n_bits"] % 8 == 0:
                kwargs["packed"] = np.full((1, 1), 255, np.uint8)
                kwargs["n_bits"] = 5
            else:
                kwargs["n_bits"] = case["n_bits"]
            kwargs["packed"] = kwargs["packed"] | np.uint8(1)
            return kwargs, Expect((r"padding",), what="padding bits set")
        return kwargs, _packed_mutation(kwargs, "packed", mutation, rng)


HAMMING = {**CODES, "B": ["none", "given", "empty"], "form": ["packed"]}


def hamming_inputs(case, rng, *, min_rows=0):
    A = np.packbits(random_bits(case, rng, max(case["n"], min_rows)), axis=1)
    B = None
    if case["B"] != "none":
        m = 0 if case["B"] == "empty" else int(rng.integers(1, 40))
        B = np.packbits(random_bits(case, rng, m), axis=1)
    return A, B


def _hamming_malformed(kwargs, mutation, rng):
    if mutation == "width":
        A = kwargs["A"]
        kwargs["B"] = np.zeros((2, A.shape[1] + 1), np.uint8)
        return mismatch(A.shape[1], A.shape[1] + 1, "codes of unequal widths", FEATURES)
    if mutation == "B_not_uint8":
        kwargs["B"] = kwargs["A"].astype(np.int64)
        return Expect((word("B"), r"uint8"), what="B not packed as uint8")
    return _packed_mutation(kwargs, "A", mutation, rng)


_HAMMING_MUTATIONS = ["not_uint8", "1d", "no_bytes", "width", "B_not_uint8"]


@entry(kernels.hamming_distances, HAMMING, _HAMMING_MUTATIONS)
class HammingDistances:
    @staticmethod
    def legal(case, rng):
        A, B = hamming_inputs(case, rng)

        def check(D):
            want = brute_hamming(A, A if B is None else B)
            if D.dtype != np.int32 or not np.array_equal(D, want):
                return "distances differ from the brute-force count"
            return None

        return {"A": A, "B": B}, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = HammingDistances.legal({**case, "n": max(case["n"], 1)}, rng)
        return kwargs, _hamming_malformed(kwargs, case["mutation"], rng)


def _brute_ranking(D, exclude):
    D = D.astype(np.float64)
    if exclude:
        np.fill_diagonal(D, np.inf)
    order = np.argsort(D, axis=1, kind="stable")
    return np.take_along_axis(D, order, axis=1), order


@entry(kernels.hamming_knn, HAMMING, _HAMMING_MUTATIONS + ["k", "exclude_self_with_B"])
class HammingKnn:
    @staticmethod
    def legal(case, rng):
        A, B = hamming_inputs(case, rng, min_rows=1)
        if B is not None and len(B) == 0:
            B = None
        exclude = B is None and len(A) > 1 and bool(rng.integers(2))
        n_valid = (len(A) if B is None else len(B)) - exclude
        k = int(rng.integers(1, n_valid + 1))

        def check(result):
            dist, ind = result
            want_d, want_i = _brute_ranking(brute_hamming(A, A if B is None else B), exclude)
            if not (np.array_equal(dist, want_d[:, :k]) and np.array_equal(ind, want_i[:, :k])):
                return "differs from a stable brute-force ranking (ties by index)"
            return None

        return {"A": A, "B": B, "k": k, "exclude_self": exclude}, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = HammingKnn.legal(case, rng)
        mutation = case["mutation"]
        if mutation == "k":
            n_db = len(kwargs["A"] if kwargs["B"] is None else kwargs["B"])
            kwargs["k"] = rng.choice([0, -2, n_db + 1, 2.0, None])
            return kwargs, Expect((r"\bk\b",), what="a k out of range")
        if mutation == "exclude_self_with_B":
            kwargs["B"], kwargs["exclude_self"] = kwargs["A"], True
            return kwargs, Expect((r"exclude_self",), what="exclude_self with B")
        kwargs["exclude_self"] = False
        return kwargs, _hamming_malformed(kwargs, mutation, rng)


@entry(kernels.hamming_radius_neighbors,
       {**HAMMING, "radius": [0, 1, 2.5, "bits", 10**6, 1e20, "numpy"]},
       _HAMMING_MUTATIONS + ["radius", "exclude_self_with_B"])
class HammingRadius:
    @staticmethod
    def legal(case, rng):
        A, B = hamming_inputs(case, rng)
        exclude = B is None and bool(rng.integers(2))
        radius = case["radius"]
        radius = {"bits": case["n_bits"], "numpy": np.float32(3.0)}.get(radius, radius)

        def check(result):
            indptr, ind, dist = result
            D = brute_hamming(A, A if B is None else B)
            if len(indptr) != len(A) + 1 or indptr[0] != 0 or indptr[-1] != len(ind):
                return f"indptr {indptr[:5]}... inconsistent with {len(ind)} hits"
            for i in range(len(A)):
                want = np.flatnonzero(D[i] <= radius)
                if exclude:
                    want = want[want != i]
                hits = ind[indptr[i]:indptr[i + 1]]
                if not np.array_equal(hits, want) or not np.array_equal(
                        dist[indptr[i]:indptr[i + 1]], D[i, want]):
                    return f"query {i}: hits differ from the brute-force search"
            return None

        return {"A": A, "B": B, "radius": radius, "exclude_self": exclude}, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = HammingRadius.legal({**case, "n": max(case["n"], 1)}, rng)
        mutation = case["mutation"]
        if mutation == "radius":
            kwargs["radius"] = rng.choice([-1, -0.5, np.nan, np.inf, "2", None])
            return kwargs, Expect((r"radius",), what="a radius that is not a number >= 0")
        if mutation == "exclude_self_with_B":
            kwargs["B"], kwargs["exclude_self"] = kwargs["A"], True
            return kwargs, Expect((r"exclude_self",), what="exclude_self with B")
        kwargs["exclude_self"] = False
        return kwargs, _hamming_malformed(kwargs, mutation, rng)


# ---------------------------------------------------------------------------------------
# Retrieval and verification metrics
# ---------------------------------------------------------------------------------------

RETRIEVAL = {**LABELED, "ref": ["leave-one-out", "given"]}


def retrieval_inputs(case, rng, *, pair_class=False):
    """``(kwargs, n_ref)``: queries and, maybe, references sharing their label type."""
    n = max(case["n"], 2)
    codes = class_codes(case, rng, n, pair_class=pair_class)
    X = real_matrix(case, rng, n, codes=codes)
    kwargs = {"X": X, "y": labels(case, codes)}
    if case["ref"] == "given":
        m = int(rng.integers(1, 12))
        ref_codes = rng.integers(0, codes.max() + 2, size=m)  # maybe a class no query has
        ref_codes[0] = codes[0]  # query 0 has a relevant reference
        kwargs["X_ref"] = real_matrix(case, rng, m, X.shape[1], codes=ref_codes)
        kwargs["y_ref"] = labels(case, ref_codes)
        return kwargs, m
    return kwargs, n - 1


def brute_relevance(X, y, X_ref=None, y_ref=None):
    """Relevance of every query's full ranking (stable: ties to the smaller index), and R."""
    loo = X_ref is None
    Q = np.asarray(X, dtype=np.float64)
    B = Q if loo else np.asarray(X_ref, dtype=np.float64)
    yq = np.asarray(y)
    yb = yq if loo else np.asarray(y_ref)
    D = ((Q[:, None, :] - B[None, :, :]) ** 2).sum(axis=2)
    if loo:
        np.fill_diagonal(D, np.inf)
    order = np.argsort(D, axis=1, kind="stable")[:, : len(B) - loo]
    same = yb[None, :] == yq[:, None]
    return np.take_along_axis(same, order, axis=1), same.sum(axis=1) - loo


def brute_retrieval_score(name, rel, R, k):
    if name == "precision_at_k":
        return rel[:, :k].sum(axis=1).mean() / k
    if name == "recall_at_k":
        return rel[:, :k].any(axis=1).mean()
    rel, R = rel[R > 0], R[R > 0]
    if name == "mean_reciprocal_rank":
        return np.mean(1 / (1 + rel.argmax(axis=1)))
    if name == "mean_average_precision":  # over the full ranking, not the first R
        precision = np.cumsum(rel, axis=1) / np.arange(1, rel.shape[1] + 1)
        return np.mean((precision * rel).sum(axis=1) / R)
    in_r = np.arange(rel.shape[1])[None, :] < R[:, None]
    hits = rel & in_r
    if name == "r_precision":
        return np.mean(hits.sum(axis=1) / R)
    precision = np.cumsum(hits, axis=1) / np.arange(1, rel.shape[1] + 1)
    return np.mean((precision * hits).sum(axis=1) / R)


def _unit_score(value, want=None):
    """``None`` if ``value`` is a float in [0, 1] (and equal to ``want`` when given)."""
    if not isinstance(value, float) or not -1e-12 <= value <= 1 + 1e-12:
        return f"score {value!r} is not a float in [0, 1]"
    if want is not None and abs(value - want) > 1e-12:
        return f"score {value!r}, brute force gives {want!r}"
    return None


def _retrieval_malformed(kwargs, mutation, rng, name):
    n = len(kwargs["X"])
    if mutation in ("nan", "inf", "strings", "1d"):
        return _mutate_array(kwargs, "X", mutation, rng)
    if mutation == "y_length":
        kwargs["y"] = kwargs["y"][:-1]
        return mismatch(n, n - 1, f"{n} queries and {n - 1} labels", SAMPLES)
    if mutation == "one_sample":
        kwargs["X"], kwargs["y"] = kwargs["X"][:1], kwargs["y"][:1]
        kwargs.pop("X_ref", None), kwargs.pop("y_ref", None)
        return Expect((r"at least 2|2 samples",), what="one sample, leave-one-out")
    if mutation == "ref_without_labels":
        kwargs["X_ref"] = kwargs["X"]
        kwargs.pop("y_ref", None)
        return Expect((r"y_ref",), what="X_ref without y_ref")
    if mutation == "ref_width":
        d = kwargs["X"].shape[1]
        kwargs["X_ref"] = np.ones((3, d + 1))
        kwargs["y_ref"] = np.asarray(kwargs["y"])[[0, 0, 0]]
        return mismatch(d, d + 1, f"X_ref of {d + 1} features for {d}", FEATURES)
    if mutation == "k":
        kwargs["k"] = rng.choice([0, -1, 10**6, 1.5, True])
        return Expect((r"\bk\b",), what="a k out of range")
    if mutation == "no_relevant":
        kwargs.pop("X_ref", None), kwargs.pop("y_ref", None)
        kwargs["y"] = np.arange(n)
        return Expect((r"relevant",), what="no query with a relevant reference")
    raise AssertionError(mutation)  # pragma: no cover


def _register_retrieval(function, with_k):
    name = function.__name__

    class Builders:
        @staticmethod
        def legal(case, rng):
            kwargs, n_ref = retrieval_inputs(case, rng, pair_class=not with_k)
            if with_k:
                kwargs["k"] = int(rng.integers(1, n_ref + 1))

            def check(value):
                want = None
                ref = (kwargs.get("X_ref"), kwargs.get("y_ref"))
                if _is_exact(kwargs["X"]) and (ref[0] is None or _is_exact(ref[0])):
                    rel, R = brute_relevance(kwargs["X"], kwargs["y"], *ref)
                    want = brute_retrieval_score(name, rel, R, kwargs.get("k"))
                return _unit_score(value, want)

            return kwargs, check

        @staticmethod
        def malformed(case, rng):
            kwargs, _ = Builders.legal(case, rng)
            return kwargs, _retrieval_malformed(kwargs, case["mutation"], rng, name)

    mutations = ["nan", "inf", "strings", "1d", "y_length", "one_sample", "ref_without_labels",
                 "ref_width"] + (["k"] if with_k else ["no_relevant"])
    entry(function, RETRIEVAL, mutations)(Builders)


for _function, _with_k in ((metrics.precision_at_k, True), (metrics.recall_at_k, True),
                           (metrics.r_precision, False), (metrics.map_at_r, False),
                           (metrics.mean_average_precision, False),
                           (metrics.mean_reciprocal_rank, False)):
    _register_retrieval(_function, _with_k)


KMEANS = {**LABELED, "n": [1, 2, 6, 15], "n_clusters": [None, "random"]}
KMEANS_MUTATIONS = ["nan", "inf", "strings", "1d", "y_length", "n_clusters"]


@entry(metrics.nmi_kmeans, KMEANS, KMEANS_MUTATIONS)
class NmiKmeans:
    @staticmethod
    def legal(case, rng):
        codes = class_codes(case, rng, case["n"])
        X = real_matrix(case, rng, case["n"], codes=codes)
        kwargs = {"X": X, "y": labels(case, codes), "random_state": 0}
        if case["n_clusters"] == "random":
            kwargs["n_clusters"] = int(rng.integers(1, len(X) + 1))
        return kwargs, _unit_score

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = NmiKmeans.legal({**case, "n": max(case["n"], 2)}, rng)
        if case["mutation"] == "n_clusters":
            kwargs["n_clusters"] = rng.choice([0, -1, len(kwargs["X"]) + 1, 2.5])
            return kwargs, Expect((r"n_clusters",), what="n_clusters out of range")
        return kwargs, _retrieval_malformed(kwargs, case["mutation"], rng, "nmi")


def _ami_score(value):
    """``None`` if ``value`` is a finite float at most 1 (AMI is below 0 when worse than
    chance)."""
    if not isinstance(value, float) or not np.isfinite(value) or value > 1 + 1e-12:
        return f"AMI {value!r} is not a finite float <= 1"
    return None


@entry(metrics.ami_kmeans, KMEANS, KMEANS_MUTATIONS)
class AmiKmeans(NmiKmeans):
    @staticmethod
    def legal(case, rng):
        kwargs, _ = NmiKmeans.legal(case, rng)
        return kwargs, _ami_score


VERIFICATION = {
    "n": [2, 3, 10, 40],
    "y_form": ["int", "float", "int8", "list"],
    "layout": ["noise", "ties", "separable", "constant"],
    "scale": [1e-8, 1.0, 1e8],
    "threshold": [None, "a score", "random", "inf"],
}


def verification_inputs(case, rng):
    """Labels and scores (higher for similar pairs), in every form the metrics take."""
    n = case["n"]
    y = np.where(rng.random(n) < 0.5, 1, -1)
    y[0], y[-1] = 1, -1  # both kinds
    s = rng.standard_normal(n)
    if case["layout"] == "ties":
        s = np.round(s * 2) / 2
    elif case["layout"] == "separable":
        s = s + 10.0 * (y == 1)
    elif case["layout"] == "constant":
        s = np.full(n, 0.7)
    s = s * case["scale"]
    y_true = {"int": y, "float": y.astype(float), "int8": y.astype(np.int8),
              "list": y.tolist()}[case["y_form"]]
    return y_true, s, y


def brute_auc(y, s):
    pos, neg = s[y == 1], s[y == -1]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def brute_best_accuracy(y, s):
    candidates = np.concatenate([[np.inf], np.unique(s)])
    return max(np.mean(np.where(s >= t, 1, -1) == y) for t in candidates)


def _verification_malformed(kwargs, mutation, rng):
    n = len(kwargs["y_score"])
    if mutation == "labels_01":
        kwargs["y_true"] = (np.asarray(kwargs["y_true"]) > 0).astype(int)
        return Expect((r"-1", r"\+1|1\b"), what="labels in {0, 1}")
    if mutation == "one_kind":
        kwargs["y_true"] = np.ones(n, dtype=int)
        return Expect((r"both|dissimilar",), what="similar pairs only")
    if mutation == "y_length":
        kwargs["y_true"] = list(kwargs["y_true"])[:-1]
        return mismatch(n, n - 1, f"{n} scores and {n - 1} labels", SAMPLES)
    if mutation == "scores_2d":
        kwargs["y_score"] = np.column_stack([kwargs["y_score"]] * 2)
        return Expect((r"y_score", r"1-d|1d|shape"), what="2-D scores")
    if mutation in ("nan", "inf"):
        kwargs["y_score"] = np.array(kwargs["y_score"], dtype=float)
        kwargs["y_score"][int(rng.integers(n))] = np.nan if mutation == "nan" else np.inf
        return Expect((r"y_score", NAN.alternatives[0][0]), what="NaN in scores")
    if mutation == "strings":
        kwargs["y_score"] = np.array([f"s{v}" for v in kwargs["y_score"]], dtype=object)
        return STRINGS
    raise AssertionError(mutation)  # pragma: no cover


_VERIFICATION_MUTATIONS = ["labels_01", "one_kind", "y_length", "scores_2d", "nan", "inf",
                           "strings"]


def _register_verification(function, brute):
    class Builders:
        @staticmethod
        def legal(case, rng):
            y_true, s, y = verification_inputs(case, rng)
            kwargs = {"y_true": y_true, "y_score": s}
            threshold = case.get("threshold")
            if function is metrics.verification_accuracy and threshold is not None:
                kwargs["threshold"] = {"a score": float(s[rng.integers(len(s))]),
                                       "random": float(rng.normal()) * case["scale"],
                                       "inf": np.inf}[threshold]

            def check(value):
                want = brute(y, s, kwargs.get("threshold")) if brute else None
                return _unit_score(value, want)

            return kwargs, check

        @staticmethod
        def malformed(case, rng):
            kwargs, _ = Builders.legal(case, rng)
            return kwargs, _verification_malformed(kwargs, case["mutation"], rng)

    space = VERIFICATION if function is metrics.verification_accuracy else {
        k: v for k, v in VERIFICATION.items() if k != "threshold"}
    entry(function, space, _VERIFICATION_MUTATIONS)(Builders)


_register_verification(
    metrics.verification_accuracy,
    lambda y, s, t: brute_best_accuracy(y, s) if t is None
    else float(np.mean(np.where(s >= t, 1, -1) == y)))
_register_verification(metrics.verification_roc_auc, lambda y, s, t: brute_auc(y, s))
_register_verification(metrics.equal_error_rate, None)


# ---------------------------------------------------------------------------------------
# Hashing metrics
# ---------------------------------------------------------------------------------------

HASH_METRICS = {
    "n": [1, 2, 9, 30],
    "n_bits": [1, 7, 8, 16, 65],
    "form": ["int01", "bool", "signed", "float01", "packed", "packed with n_bits"],
    "layout": ["noise", "duplicates", "all zeros"],
    "truth": ["int labels", "str labels", "relevance bool", "relevance 01"],
    "depth": ["all", "random", "one"],
}


def hash_metric_inputs(case, rng):
    """Query and database codes (query 0 sits at database index 0 with its label, so a
    relevant item is always ranked first) with labels or a relevance matrix."""
    bits_q = random_bits(case, rng, case["n"])
    bits_db = random_bits(case, rng, int(rng.integers(1, 25)))
    bits_db[0] = bits_q[0]
    n_q, n_db = len(bits_q), len(bits_db)
    kwargs = {}
    if case["form"].startswith("packed"):
        kwargs["query_codes"] = np.packbits(bits_q, axis=1)
        kwargs["database_codes"] = np.packbits(bits_db, axis=1)
        kwargs["packed"] = True
        if case["form"] == "packed with n_bits" or case["n_bits"] % 8:
            kwargs["n_bits"] = case["n_bits"]
    else:
        kwargs["query_codes"] = code_form(bits_q, case["form"])
        kwargs["database_codes"] = code_form(bits_db, case["form"])
    yq = rng.integers(0, 3, size=n_q)
    yd = rng.integers(0, 3, size=n_db)
    yd[0] = yq[0]
    rel = yq[:, None] == yd[None, :]
    if case["truth"].startswith("relevance"):
        kwargs["relevance"] = rel if case["truth"] == "relevance bool" else rel.astype(int)
    else:
        as_text = case["truth"] == "str labels"
        kwargs["query_labels"] = np.array([f"c{v}" for v in yq]) if as_text else yq
        kwargs["database_labels"] = np.array([f"c{v}" for v in yd]) if as_text else yd
    depth = {"all": n_db, "one": 1, "random": int(rng.integers(1, n_db + 1))}[case["depth"]]
    return kwargs, brute_hamming(np.packbits(bits_q, axis=1), np.packbits(bits_db, axis=1)), \
        rel, depth


def _ranked_hits(D, rel, depth):
    order = np.argsort(D, axis=1, kind="stable")[:, :depth]
    return np.take_along_axis(rel, order, axis=1)


def brute_hamming_map(D, rel, depth):
    hits = _ranked_hits(D, rel, depth)
    cum = np.cumsum(hits, axis=1)
    n_rel = cum[:, -1]
    keep = n_rel > 0
    precision = cum / np.arange(1, depth + 1)
    return float(np.mean((precision * hits).sum(axis=1)[keep] / n_rel[keep]))


def _hash_metric_malformed(kwargs, mutation, rng, key_depth):
    q = np.asarray(kwargs["query_codes"])
    if mutation == "not_binary":
        if kwargs.get("packed"):
            kwargs["query_codes"] = q.astype(np.int64)
            return Expect((r"uint8",), what="packed codes not of dtype uint8")
        bad = np.array(q, dtype=np.float64)
        bad.flat[0] = 3
        kwargs["query_codes"] = bad
        return Expect((r"\{0, 1\}|binary",), what="codes that are not binary")
    if mutation == "width":
        d = kwargs["database_codes"]
        kwargs["database_codes"] = np.column_stack([d, d[:, :1]])
        kwargs.pop("n_bits", None)
        return Expect((r"width|bits|n_bits|bytes",), what="codes of unequal widths")
    if mutation == "both_truths":
        if "relevance" in kwargs:
            kwargs["query_labels"] = np.zeros(len(q))
            kwargs["database_labels"] = np.zeros(len(kwargs["database_codes"]))
        else:
            kwargs["relevance"] = np.ones((len(q), len(kwargs["database_codes"])), bool)
        return Expect((r"relevance", r"labels"), what="labels and relevance together")
    if mutation == "no_truth":
        for key in ("relevance", "query_labels", "database_labels"):
            kwargs.pop(key, None)
        return Expect((r"labels|relevance",), what="neither labels nor relevance")
    if mutation == "relevance_shape":
        for key in ("query_labels", "database_labels"):
            kwargs.pop(key, None)
        shape = (len(q) + 1, len(kwargs["database_codes"]))
        kwargs["relevance"] = np.ones(shape, bool)
        return Expect((r"relevance", str(shape[0])), what="relevance of the wrong shape")
    if mutation == "labels_length":
        for key in ("relevance",):
            kwargs.pop(key, None)
        kwargs["query_labels"] = np.zeros(len(q) + 1)
        kwargs["database_labels"] = np.zeros(len(kwargs["database_codes"]))
        return Expect((r"query_labels|labels",), what="query_labels of the wrong length")
    if mutation == "depth":
        kwargs[key_depth] = rng.choice([0, -1, 10**6, 2.5])
        return Expect((word(key_depth),), what=f"{key_depth} out of range")
    if mutation == "no_query":
        kwargs["query_codes"] = q[:0]
        kwargs["query_labels"] = np.zeros(0)
        kwargs["database_labels"] = np.zeros(len(kwargs["database_codes"]))
        kwargs.pop("relevance", None)
        return Expect((r"at least one|query|queries",), what="no query")
    raise AssertionError(mutation)  # pragma: no cover


def _register_hash_metric(function, key_depth, brute):
    class Builders:
        @staticmethod
        def legal(case, rng):
            kwargs, D, rel, depth = hash_metric_inputs(case, rng)
            n_bits = case["n_bits"]
            if key_depth == "top_k" and case["depth"] != "all":
                kwargs["top_k"] = depth
            elif key_depth == "n":
                kwargs["n"] = depth
            elif key_depth == "radius":
                depth = [0, 1, n_bits, n_bits + 3][int(rng.integers(4))]
                kwargs["radius"] = depth

            def check(value):
                want = brute(D, rel, depth, n_bits)
                if isinstance(want, tuple):
                    for got, exp in zip(value, want):
                        if np.shape(got) != np.shape(exp) or not np.allclose(got, exp, atol=1e-12):
                            return f"curve {got} against brute force {exp}"
                    return None
                return _unit_score(value, want)

            return kwargs, check

        @staticmethod
        def malformed(case, rng):
            kwargs, _ = Builders.legal(case, rng)
            mutation = case["mutation"]
            return kwargs, _hash_metric_malformed(kwargs, mutation, rng, key_depth)

    mutations = ["not_binary", "width", "both_truths", "no_truth", "relevance_shape",
                 "labels_length", "no_query"] + (["depth"] if key_depth else [])
    entry(function, HASH_METRICS, mutations)(Builders)


def _brute_within(D, rel, radius, n_bits):
    within = D <= radius
    n_ret = within.sum(axis=1)
    precision = (within & rel).sum(axis=1) / np.maximum(n_ret, 1)
    return float(np.mean(np.where(n_ret > 0, precision, 0.0)))


def _brute_curve(D, rel, depth, n_bits):
    radii = np.arange(n_bits + 1)
    retrieved = np.array([(D <= r).sum() for r in radii])
    hits = np.array([((D <= r) & rel).sum() for r in radii])
    precision = np.where(retrieved > 0, hits / np.maximum(retrieved, 1), 0.0)
    recall = hits / rel.sum() if rel.sum() else np.zeros(n_bits + 1)
    return precision, recall, radii


_register_hash_metric(metrics.hamming_map, "top_k",
                      lambda D, rel, depth, n_bits: brute_hamming_map(D, rel, depth))
_register_hash_metric(metrics.precision_at_n, "n",
                      lambda D, rel, depth, n_bits: float(_ranked_hits(D, rel, depth).mean()))
_register_hash_metric(metrics.precision_within_radius, "radius", _brute_within)
_register_hash_metric(metrics.hamming_precision_recall_curve, None, _brute_curve)


def _score_with(function, kwargs):
    scorer = function(kwargs["metric"], **kwargs["metric_kwargs"])
    return scorer(kwargs["estimator"], kwargs["X"], kwargs["y"]), repr(scorer)


@entry(metrics.make_retrieval_scorer,
       {**LABELED, "n": [3, 6, 15],
        "metric": ["map_at_r", "precision_at_k", "recall_at_k", "r_precision",
                   "mean_average_precision", "mean_reciprocal_rank"]},
       ["metric", "no_transform"], invoke=_score_with)
class RetrievalScorer:
    @staticmethod
    def legal(case, rng):
        from skdml import PCA

        codes = class_codes(case, rng, case["n"], pair_class=True)
        X = real_matrix(case, rng, case["n"], codes=codes)
        y = labels(case, codes)
        extra = {}
        if case["metric"] in ("precision_at_k", "recall_at_k") and rng.integers(2):
            extra["k"] = int(rng.integers(1, len(X)))
        estimator = PCA().fit(X)
        kwargs = {"metric": case["metric"], "metric_kwargs": extra, "estimator": estimator,
                  "X": X, "y": y}

        def check(result):
            value, text = result
            want = getattr(metrics, case["metric"])(estimator.transform(X), y, **extra)
            if case["metric"] not in text:
                return f"repr {text!r} does not name the metric"
            return _unit_score(value, want)

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = RetrievalScorer.legal(case, rng)
        if case["mutation"] == "metric":
            kwargs["metric"] = rng.choice(["map@r", "accuracy", "MAP_AT_R"])
            return kwargs, Expect((word("metric"),), what="an unknown metric")
        from sklearn.neighbors import KNeighborsClassifier

        kwargs["estimator"] = KNeighborsClassifier(1).fit(kwargs["X"], kwargs["y"])
        return kwargs, Expect((r"transform",), what="an estimator with no transform")


# ---------------------------------------------------------------------------------------
# Constraints and datasets
# ---------------------------------------------------------------------------------------

CONSTRAINTS = {**LABELED, "n_classes": [2, 3, 5], "count": [1, 2, 17, 200],
               "random_state": [0, None, "RandomState"]}


def _random_state(case, rng):
    value = case["random_state"]
    return np.random.RandomState(int(rng.integers(100))) if value == "RandomState" else value


def check_pairs(pairs, pair_labels, y_codes, n_pairs=None, n_similar=None):
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.dtype != np.intp:
        return f"pairs of shape {pairs.shape} and dtype {pairs.dtype}"
    if n_pairs is not None and len(pairs) != n_pairs:
        return f"{len(pairs)} pairs, {n_pairs} asked"
    if len(pair_labels) != len(pairs) or not set(np.unique(pair_labels)) <= {-1, 1}:
        return "pair labels are not one of +1 / -1 per pair"
    if np.any(pairs < 0) or np.any(pairs >= len(y_codes)):
        return "an index out of range"
    same = y_codes[pairs[:, 0]] == y_codes[pairs[:, 1]]
    if np.any(same != (pair_labels == 1)):
        return "a pair's label disagrees with its classes"
    if np.any((pair_labels == 1) & (pairs[:, 0] == pairs[:, 1])):
        return "a similar pair of a sample with itself"
    if n_similar is not None and np.sum(pair_labels == 1) != n_similar:
        return f"{np.sum(pair_labels == 1)} similar pairs, {n_similar} expected"
    return None


def _constraint_malformed(kwargs, mutation, rng, count_key):
    y = kwargs["y"]
    if mutation == "count":
        kwargs[count_key] = rng.choice([0, -3, 2.5, "10"])
        return Expect((word(count_key),), what=f"{count_key} that is not a positive integer")
    if mutation == "one_class":
        kwargs["y"] = np.zeros(len(y), dtype=int)
        return Expect((r"class",), what="a single class")
    if mutation == "continuous":
        kwargs["y"] = rng.standard_normal(len(y)) * 3.3
        return Expect((r"continuous|class|discrete",), what="a continuous y")
    if mutation == "y_2d":
        kwargs["y"] = np.column_stack([y, y])
        return Expect((r"shape",), what="a 2-D y")
    if mutation == "singletons":
        kwargs["y"] = np.arange(len(y))
        return Expect((r"2 members|two members|single member",), what="no class of two")
    if mutation == "y_length":
        kwargs["y"] = y[:-1]
        n = len(y)
        return mismatch(n, n - 1, f"{n} samples and {n - 1} labels", SAMPLES)
    if mutation in ("nan", "inf", "strings", "1d"):
        return _mutate_array(kwargs, "X", mutation, rng)
    raise AssertionError(mutation)  # pragma: no cover


@entry(constraints.pairs_from_labels,
       {**CONSTRAINTS, "similar_fraction": [0.0, 0.3, 0.5, 1.0, "random"]},
       ["count", "one_class", "continuous", "y_2d", "singletons", "similar_fraction"])
class PairsFromLabels:
    @staticmethod
    def legal(case, rng):
        fraction = case["similar_fraction"]
        fraction = float(rng.random()) if fraction == "random" else fraction
        n = max(case["n"], 3)
        codes = class_codes(case, rng, n, min_classes=2, pair_class=fraction > 0)
        kwargs = {"y": labels(case, codes), "n_pairs": case["count"],
                  "similar_fraction": fraction, "random_state": _random_state(case, rng)}
        n_similar = int(round(case["count"] * fraction))

        def check(result):
            pairs, pair_labels = result
            return check_pairs(pairs, pair_labels, codes, case["count"], n_similar)

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = PairsFromLabels.legal(case, rng)
        if case["mutation"] == "similar_fraction":
            kwargs["similar_fraction"] = rng.choice([-0.1, 1.5, np.nan, "half"])
            return kwargs, Expect((r"similar_fraction",), what="similar_fraction out of [0, 1]")
        if case["mutation"] == "singletons":
            kwargs["similar_fraction"] = 0.5
            kwargs["n_pairs"] = 10
        return kwargs, _constraint_malformed(kwargs, case["mutation"], rng, "n_pairs")


@entry(constraints.triplets_from_labels, CONSTRAINTS,
       ["count", "one_class", "continuous", "y_2d", "singletons"])
class TripletsFromLabels:
    @staticmethod
    def legal(case, rng):
        n = max(case["n"], 3)
        codes = class_codes(case, rng, n, min_classes=2, pair_class=True)
        kwargs = {"y": labels(case, codes), "n_triplets": case["count"],
                  "random_state": _random_state(case, rng)}

        def check(triplets):
            return check_triplets(triplets, codes, case["count"])

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = TripletsFromLabels.legal(case, rng)
        return kwargs, _constraint_malformed(kwargs, case["mutation"], rng, "n_triplets")


def check_triplets(triplets, codes, n_triplets):
    if triplets.shape != (n_triplets, 3) or triplets.dtype != np.intp:
        return f"triplets of shape {triplets.shape} and dtype {triplets.dtype}"
    a, p, n = (codes[triplets[:, i]] for i in range(3))
    if np.any(a != p) or np.any(a == n) or np.any(triplets[:, 0] == triplets[:, 1]):
        return "a triplet whose anchor, positive and negative break the classes"
    return None


@entry(constraints.neighbor_pairs_from_labels,
       {**CONSTRAINTS, "count": [1, 2, 3, 8]},
       ["count", "one_class", "continuous", "y_2d", "y_length", "nan", "inf", "strings", "1d"])
class NeighborPairs:
    @staticmethod
    def legal(case, rng):
        n = max(case["n"], 2)
        codes = class_codes(case, rng, n, min_classes=2)
        X = real_matrix(case, rng, n, codes=codes)
        kwargs = {"X": X, "y": labels(case, codes), "n_neighbors": case["count"]}
        sizes = np.bincount(codes)
        k = case["count"]
        starts = np.arange(n)
        if rng.random() < 0.5:  # a random subset of anchors, sometimes all, maybe repeated
            starts = np.unique(kwargs.setdefault("anchors", rng.integers(0, n, rng.integers(1, n + 1))))
        expected = sum(min(k, sizes[c] - 1) + min(k, n - sizes[c]) for c in codes[starts])

        def check(result):
            pairs, pair_labels = result
            return check_pairs(pairs, pair_labels, codes, expected)

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = NeighborPairs.legal(case, rng)
        return kwargs, _constraint_malformed(kwargs, case["mutation"], rng, "n_neighbors")


@entry(constraints.target_neighbors,
       {**CONSTRAINTS, "count": [1, 2, 3, 8]},
       ["count", "one_class", "continuous", "y_2d", "y_length", "nan", "inf", "strings", "1d"])
class TargetNeighbors:
    @staticmethod
    def legal(case, rng):
        n = max(case["n"], 2)
        codes = class_codes(case, rng, n, min_classes=2)
        X = real_matrix(case, rng, n, codes=codes)
        kwargs = {"X": X, "y": labels(case, codes), "n_neighbors": case["count"]}
        k = case["count"]

        def check(targets):
            if targets.shape != (n, k) or targets.dtype != np.intp:
                return f"targets of shape {targets.shape} and dtype {targets.dtype}"
            for i, row in enumerate(targets):
                m = min(k, int(np.sum(codes == codes[i])) - 1)
                found = row[row >= 0]
                if len(found) != m or np.any(row[m:] != -1):
                    return f"row {i}: {m} target neighbours expected, got {row.tolist()}"
                if np.any(found == i) or np.any(codes[found] != codes[i]):
                    return f"row {i}: itself or another class among {found.tolist()}"
            return None

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = TargetNeighbors.legal(case, rng)
        return kwargs, _constraint_malformed(kwargs, case["mutation"], rng, "n_neighbors")


@entry(datasets.make_pairs, {**CONSTRAINTS, "count": [1, 2, 17, 60],
                             "folds": [None, "possible"], "return_indices": [False, True]},
       ["count", "one_class", "continuous", "y_length", "nan", "inf", "strings", "1d",
        "n_folds", "singletons"])
class MakePairs:
    @staticmethod
    def legal(case, rng):
        n = max(case["n"], 3)
        codes = class_codes(case, rng, n, min_classes=2, pair_class=True)
        X = real_matrix(case, rng, n, codes=codes)
        kwargs = {"X": X, "y": labels(case, codes), "n_pairs": case["count"],
                  "return_indices": case["return_indices"],
                  "random_state": _random_state(case, rng)}
        sizes = np.sort(np.bincount(codes))[::-1]
        # Folds: two classes in each, and a class with two members in each.
        most = min(sizes[1], sizes[0] // 2, case["count"] // 2)
        if case["folds"] == "possible" and most >= 2:
            kwargs["n_folds"] = int(rng.integers(2, most + 1))

        replay = _replayable(kwargs)

        def check(result):
            pairs, pair_labels = result[:2]
            idx = pairs if kwargs["return_indices"] else replay()[0]
            if not kwargs["return_indices"] and not np.array_equal(pairs, X[idx]):
                return "the pairs are not the rows of X their indices give"
            bug = check_pairs(idx, pair_labels, codes, case["count"])
            if bug or "n_folds" not in kwargs:
                return bug
            folds = result[2]
            for f in range(kwargs["n_folds"]):
                others = np.unique(idx[folds != f])
                if np.intersect1d(np.unique(idx[folds == f]), others).size:
                    return f"fold {f} shares a sample with another fold"
            return None

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = MakePairs.legal(case, rng)
        if case["mutation"] == "n_folds":
            kwargs["n_folds"] = rng.choice([1, 0, len(kwargs["X"]) + 1, 2.5])
            kwargs["n_pairs"] = 10**4
            return kwargs, Expect((r"n_folds",), what="n_folds that cannot be made")
        if case["mutation"] == "singletons":
            kwargs.pop("n_folds", None)
            kwargs["n_pairs"] = 10
        return kwargs, _constraint_malformed(kwargs, case["mutation"], rng, "n_pairs")


@entry(datasets.class_disjoint_split,
       {**CONSTRAINTS, "count": [None, 1, 2, "most"], "shuffle": [False, True]},
       ["count", "one_class", "continuous", "y_2d", "y_length"])
class ClassDisjointSplit:
    @staticmethod
    def legal(case, rng):
        n = max(case["n"], 2)
        codes = class_codes(case, rng, n, min_classes=2)
        n_classes = len(np.unique(codes))
        count = {"most": n_classes - 1}.get(case["count"], case["count"])
        count = None if count is None else min(count, n_classes - 1)
        X = real_matrix(case, rng, n, codes=codes)
        y = labels(case, codes)
        kwargs = {"X": X, "y": y, "n_train_classes": count, "shuffle": case["shuffle"],
                  "random_state": _random_state(case, rng)}
        n_train = (n_classes + 1) // 2 if count is None else count

        def check(result):
            X_train, X_test, y_train, y_test = result
            y_arr = np.asarray(y)
            train_classes = np.unique(y_train)
            if len(train_classes) != n_train or np.intersect1d(train_classes, y_test).size:
                return f"{len(train_classes)} training classes ({n_train} asked) or shared ones"
            if len(y_train) + len(y_test) != n:
                return "samples lost or repeated"
            in_train = np.isin(y_arr, train_classes)
            if not (np.array_equal(X_train, X[in_train]) and np.array_equal(X_test, X[~in_train])
                    and np.array_equal(y_test, y_arr[~in_train])):
                return "the parts are not the rows of X and y in their order"
            if not kwargs["shuffle"] and not np.array_equal(
                    train_classes, np.unique(y_arr)[:n_train]):
                return "without shuffle, the first classes in sorted order do not train"
            return None

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = ClassDisjointSplit.legal(case, rng)
        return kwargs, _constraint_malformed(kwargs, case["mutation"], rng, "n_train_classes")


def _replayable(kwargs):
    """A function calling ``make_pairs`` / ``make_triplets`` again with ``kwargs`` but
    ``return_indices=True`` and a copy of the random state as it is now: the indices of the
    samples the first call returned (``random_state=None`` is replaced by a seed)."""
    if kwargs["random_state"] is None and not kwargs["return_indices"]:
        kwargs["random_state"] = 12345
    state = copy.deepcopy(kwargs["random_state"])
    function = datasets.make_pairs if "n_pairs" in kwargs else datasets.make_triplets

    def replay():
        return function(**{**kwargs, "return_indices": True,
                           "random_state": copy.deepcopy(state)})

    return replay


@entry(datasets.make_triplets, {**CONSTRAINTS, "return_indices": [False, True]},
       ["count", "one_class", "continuous", "y_length", "nan", "inf", "strings", "1d",
        "singletons"])
class MakeTriplets:
    @staticmethod
    def legal(case, rng):
        n = max(case["n"], 3)
        codes = class_codes(case, rng, n, min_classes=2, pair_class=True)
        X = real_matrix(case, rng, n, codes=codes)
        kwargs = {"X": X, "y": labels(case, codes), "n_triplets": case["count"],
                  "return_indices": case["return_indices"],
                  "random_state": _random_state(case, rng)}

        replay = _replayable(kwargs)

        def check(triplets):
            if not kwargs["return_indices"]:
                idx = replay()
                if not np.array_equal(triplets, X[idx]):
                    return "the triplets are not the rows of X their indices give"
                triplets = idx
            return check_triplets(triplets, codes, case["count"])

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = MakeTriplets.legal(case, rng)
        return kwargs, _constraint_malformed(kwargs, case["mutation"], rng, "n_triplets")


def _check_digit_images(X):
    if X.ndim != 2 or X.shape[1] != 64 or not np.all(np.isfinite(X)):
        return f"images of shape {X.shape} (or not finite)"
    if X.min() < 0 or X.max() > 16:
        return f"intensities out of [0, 16]: [{X.min()}, {X.max()}]"
    return None


@entry(datasets.make_digits_domain_shift,
       {"shift": [0, 1, -7, 7, "numpy"], "blur": [0, 0.8, 3.0, 20.0],
        "contrast": [0.05, 0.6, 1.0, 8.0], "noise": [0, 1.5, 1e3],
        "test_size": [0.01, 0.25, 0.5, 0.99, "random"], "random_state": [0, None, "RandomState"]},
       ["shift", "blur", "contrast", "noise", "test_size"])
class DomainShift:
    @staticmethod
    def legal(case, rng):
        test_size = case["test_size"]
        kwargs = {"shift": np.int64(3) if case["shift"] == "numpy" else case["shift"],
                  "blur": case["blur"], "contrast": case["contrast"], "noise": case["noise"],
                  "test_size": float(rng.uniform(0.01, 0.99)) if test_size == "random"
                  else test_size,
                  "random_state": _random_state(case, rng)}

        def check(result):
            Xs, ys, Xt, yt = result
            if len(Xs) + len(Xt) != 1797 or len(Xs) != len(ys) or len(Xt) != len(yt):
                return "the domains do not split the 1797 digits"
            if len(np.unique(ys)) != 10 or len(np.unique(yt)) != 10:
                return "a domain misses a class"
            return _check_digit_images(Xs) or _check_digit_images(Xt)

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = DomainShift.legal(case, rng)
        key = case["mutation"]
        kwargs[key] = {"shift": [8, -8, 1.5, True], "blur": [-1, np.nan, "0.8"],
                       "contrast": [0, -1, np.inf], "noise": [-0.1, np.nan, None],
                       "test_size": [0.0, 1.0, 1, 0.0001, 0.9999, "half"]}[key][
            int(rng.integers(3))]
        return kwargs, Expect((word(key),), what=f"a bad {key}")


@entry(datasets.make_digits_image_sets,
       {"data": ["digits", "subset"], "labels": ["int", "str", "object"],
        "n_sets_per_class": [1, 2, 3], "set_size": [(1, 1), (2, 5), (30, 400)],
        "max_shift": [0, 1, 7], "blur": [(0.0, 0.0), (0.0, 1.0), (2.0, 2.0)],
        "contrast": [(1.0, 1.0), (0.5, 1.5)], "noise": [0.0, 1.0, 50.0]},
       ["X_without_y", "y_without_X", "width", "n_sets_per_class", "set_size", "max_shift",
        "blur", "contrast", "noise"])
class ImageSets:
    @staticmethod
    def legal(case, rng):
        from sklearn.datasets import load_digits

        kwargs = {key: case[key] for key in ("n_sets_per_class", "set_size", "max_shift",
                                             "blur", "contrast", "noise")}
        kwargs["random_state"] = int(rng.integers(1000))
        n_classes = 10
        if case["data"] == "subset":
            X, y = load_digits(return_X_y=True)
            take = rng.choice(len(X), size=int(rng.integers(1, 40)), replace=False)
            kwargs["X"] = X[take]
            kwargs["y"] = label_values({"labels": case["labels"]}, y[take])
            n_classes = len(np.unique(y[take]))
        lo, hi = case["set_size"]

        def check(result):
            sets, set_labels = result
            if len(sets) != n_classes * case["n_sets_per_class"] or len(set_labels) != len(sets):
                return f"{len(sets)} sets for {n_classes} classes"
            for s in sets:
                if not lo <= len(s) <= hi:
                    return f"a set of {len(s)} images, asked {lo} to {hi}"
                bug = _check_digit_images(s)
                if bug:
                    return bug
            return None

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = ImageSets.legal({**case, "data": "subset"}, rng)
        key = case["mutation"]
        if key == "X_without_y":
            del kwargs["y"]
            return kwargs, Expect((r"\by\b",), what="X without y")
        if key == "y_without_X":
            del kwargs["X"]
            return kwargs, Expect((r"\bX\b",), what="y without X")
        if key == "width":
            kwargs["X"] = kwargs["X"][:, :63]
            return kwargs, Expect((r"64",), what="images of 63 features")
        kwargs[key] = {"n_sets_per_class": [0, -1, 1.5], "set_size": [(0, 3), (5, 2), 4],
                       "max_shift": [8, -1, 1.0], "blur": [(-1.0, 1.0), (2.0, 1.0), 1.0],
                       "contrast": [(0.0, 1.0), (2.0, 1.0), (np.nan, 1.0)],
                       "noise": [-1.0, np.inf, "1"]}[key][int(rng.integers(3))]
        return kwargs, Expect((word(key),), what=f"a bad {key}")


@entry(datasets.make_digits_videos,
       {"data": ["digits", "subset"], "labels": ["int", "str", "object"],
        "n_videos_per_class": [1, 2, 3], "n_frames": [(1, 1), (2, 5), (8, 12)],
        "n_scenes": [1, 2], "max_shift": [0, 1.0, 3.5], "max_angle": [0, 15.0, 180.0],
        "noise": [0.0, 0.5, 50.0]},
       ["X_without_y", "y_without_X", "width", "n_videos_per_class", "n_frames", "n_scenes",
        "max_shift", "max_angle", "noise"])
class DigitVideos:
    @staticmethod
    def legal(case, rng):
        from sklearn.datasets import load_digits

        lo, hi = case["n_frames"]
        kwargs = {key: case[key] for key in ("n_videos_per_class", "n_frames", "max_shift",
                                             "max_angle", "noise")}
        kwargs["n_scenes"] = min(case["n_scenes"], lo)
        kwargs["random_state"] = int(rng.integers(1000))
        classes = np.arange(10)
        if case["data"] == "subset":
            X, y = load_digits(return_X_y=True)
            take = rng.choice(len(X), size=int(rng.integers(1, 40)), replace=False)
            kwargs["X"] = X[take]
            kwargs["y"] = label_values({"labels": case["labels"]}, y[take])
            classes = np.unique(kwargs["y"])

        def check(result):
            videos, video_labels = result
            per_class = case["n_videos_per_class"]
            if len(videos) != len(classes) * per_class or len(video_labels) != len(videos):
                return f"{len(videos)} videos for {len(classes)} classes"
            if not np.array_equal(video_labels, np.repeat(classes, per_class)):
                return "videos not grouped by class in class order"
            for v in videos:
                if not lo <= len(v) <= hi:
                    return f"a video of {len(v)} frames, asked {lo} to {hi}"
                bug = _check_digit_images(v)
                if bug:
                    return bug
            return None

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = DigitVideos.legal({**case, "data": "subset"}, rng)
        key = case["mutation"]
        if key == "X_without_y":
            del kwargs["y"]
            return kwargs, Expect((r"\by\b",), what="X without y")
        if key == "y_without_X":
            del kwargs["X"]
            return kwargs, Expect((r"\bX\b",), what="y without X")
        if key == "width":
            kwargs["X"] = kwargs["X"][:, :63]
            return kwargs, Expect((r"64",), what="images of 63 features")
        kwargs[key] = {"n_videos_per_class": [0, -1, 1.5], "n_frames": [(0, 3), (5, 2), 4],
                       "n_scenes": [0, -1, 1.5], "max_shift": [-1.0, np.nan, "1"],
                       "max_angle": [-1.0, np.inf, None],
                       "noise": [-1.0, np.inf, "1"]}[key][int(rng.integers(3))]
        return kwargs, Expect((word(key),), what=f"a bad {key}")


@entry(datasets.make_digits_two_views,
       {"tag_rate": [0, 0.4, 1.0], "noise": [0.0, 0.05, 0.5],
        "random_state": [0, None, "RandomState"]},
       ["tag_rate", "noise"])
class DigitTwoViews:
    @staticmethod
    def legal(case, rng):
        seed = case["random_state"]
        kwargs = {"tag_rate": case["tag_rate"], "noise": case["noise"],
                  "random_state": np.random.RandomState(1) if seed == "RandomState" else seed}

        def check(result):
            X_image, X_tags, y = result
            if X_image.shape != (1797, 64) or X_tags.shape != (1797, 78) or y.shape != (1797,):
                return f"shapes {X_image.shape}, {X_tags.shape}, {y.shape}"
            if not np.isin(X_tags, (0.0, 1.0)).all():
                return "tags that are not 0 or 1"
            if case["noise"] == 0 and case["tag_rate"] == 0 and X_tags[:, :30].any():
                return "a class tag at tag_rate=0 without noise"
            return _check_digit_images(X_image)

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = DigitTwoViews.legal(case, rng)
        key = case["mutation"]
        kwargs[key] = {"tag_rate": [-0.1, 1.5, np.nan, "0.4", True],
                       "noise": [-0.1, 0.6, np.inf, None, True]}[key][int(rng.integers(5))]
        return kwargs, Expect((word(key),), what=f"a bad {key}")


#: The views of make_digits_views and their widths.
_DIGIT_VIEWS = {"pixels": 64, "pooled": 16, "profiles": 16, "diagonals": 30, "gradients": 32}


@entry(datasets.make_digits_views,
       {"views": ["default", "one", "all", "some", "tuple"]},
       ["views"])
class DigitViews:
    @staticmethod
    def legal(case, rng):
        names = list(_DIGIT_VIEWS)
        kind = case["views"]
        if kind == "default":
            kwargs, chosen = {}, ["pooled", "profiles", "diagonals"]
        else:
            count = {"one": 1, "all": len(names)}.get(kind, int(rng.integers(2, len(names))))
            chosen = [str(v) for v in rng.permutation(names)[:count]]
            kwargs = {"views": tuple(chosen) if kind == "tuple" else chosen}

        def check(result):
            X, y, widths = result
            if widths != tuple(_DIGIT_VIEWS[v] for v in chosen):
                return f"widths {widths} for the views {chosen}"
            if X.shape != (1797, sum(widths)) or y.shape != (1797,):
                return f"X of shape {X.shape} and y of shape {y.shape}"
            if not np.all(np.isfinite(X)) or X.min() < 0:
                return "negative or non-finite features"
            return None

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        bad = ["pooled", [], ["pooled", "edges"], ["profiles", "profiles"], [1, 2], None,
               {"pooled": 1}][int(rng.integers(7))]
        return {"views": bad}, Expect((word("views"),), what="bad views")


# ---------------------------------------------------------------------------------------
# Plotting
# ---------------------------------------------------------------------------------------


def _axes():
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


def _is_axes(value):
    from matplotlib.axes import Axes

    return None if isinstance(value, Axes) else f"returned {type(value).__name__}, not Axes"


@entry(plotting.plot_embedding,
       {**LABELED, "n": [1, 2, 5, 25], "n_classes": [1, 3, 12, 25],
        "with_y": [True, False], "method": ["pca", "pca", "tsne"], "ax": [None, "given"],
        "title": [None, "embedding"]},
       ["nan", "inf", "strings", "1d", "y_length", "method", "empty"])
class PlotEmbedding:
    @staticmethod
    def legal(case, rng):
        n = case["n"] if case["method"] == "pca" else min(case["n"], 5)  # t-SNE is slow
        codes = class_codes(case, rng, n)
        X = real_matrix(case, rng, n, codes=codes)
        kwargs = {"X": X, "method": case["method"], "title": case["title"],
                  "ax": _axes() if case["ax"] else None}
        if case["with_y"]:
            kwargs["y"] = labels(case, codes)

        def check(ax):
            bug = _is_axes(ax)
            if bug or (case["title"] and ax.get_title() != case["title"]):
                return bug or "the title is missing"
            shown = sum(len(c.get_offsets()) for c in ax.collections)
            return None if shown == n else f"{shown} points drawn for {n} samples"

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = PlotEmbedding.legal({**case, "n": max(case["n"], 2), "with_y": True}, rng)
        mutation = case["mutation"]
        if mutation == "y_length":
            kwargs["y"] = kwargs["y"][:-1]
            n = len(kwargs["X"])
            return kwargs, mismatch(n, n - 1, f"{n} points and {n - 1} labels", SAMPLES)
        if mutation == "method":
            kwargs["method"] = rng.choice(["PCA", "umap", None])
            return kwargs, Expect((word("method"),), what="an unknown method")
        return kwargs, _mutate_array(kwargs, "X", mutation, rng)


def _verification_curve_entry(function, display_class, legend_word):
    """Fuzz entry of a verification curve: a scikit-learn display whose legend names
    ``legend_word`` (the AUC, the EER); malformed scores refused as by the metrics."""

    @entry(function, {**VERIFICATION, "ax": [None, "given"], "name": [None, "model"]},
           _VERIFICATION_MUTATIONS)
    class Builders:
        @staticmethod
        def legal(case, rng):
            y_true, s, _ = verification_inputs(case, rng)
            kwargs = {"y_true": y_true, "y_score": s, "name": case["name"],
                      "ax": _axes() if case["ax"] else None}

            def check(display):
                if not isinstance(display, display_class):
                    return f"returned {type(display).__name__}, not {display_class.__name__}"
                bug = _is_axes(display.ax_)
                text = display.ax_.get_legend().get_texts()[0].get_text() if not bug else ""
                return bug or (None if legend_word in text
                               else f"legend {text!r} without the {legend_word}")

            return kwargs, check

        @staticmethod
        def malformed(case, rng):
            kwargs, _ = Builders.legal(case, rng)
            return kwargs, _verification_malformed(kwargs, case["mutation"], rng)


_verification_curve_entry(plotting.plot_roc, RocCurveDisplay, "AUC")
_verification_curve_entry(plotting.plot_det, DetCurveDisplay, "EER")


@entry(plotting.plot_precision_recall,
       {"n": [1, 2, 33], "form": ["list", "array", "float32"], "name": [None, "ITQ"],
        "ax": [None, "given"]},
       ["length", "nan", "2d", "strings"])
class PlotPrecisionRecall:
    @staticmethod
    def legal(case, rng):
        recall = np.sort(rng.random(case["n"]))
        precision = rng.random(case["n"])
        convert = {"list": list, "array": np.asarray,
                   "float32": lambda a: np.asarray(a, np.float32)}[case["form"]]
        kwargs = {"precision": convert(precision), "recall": convert(recall),
                  "name": case["name"], "ax": _axes() if case["ax"] else None}

        def check(display):
            if not isinstance(display, PrecisionRecallDisplay):
                return f"returned {type(display).__name__}, not PrecisionRecallDisplay"
            return _is_axes(display.ax_)

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = PlotPrecisionRecall.legal({**case, "n": max(case["n"], 2)}, rng)
        mutation = case["mutation"]
        if mutation == "length":
            kwargs["recall"] = list(kwargs["recall"])[:-1]
            n = len(kwargs["precision"])
            return kwargs, mismatch(n, n - 1, f"{n} precisions, {n - 1} recalls", SAMPLES)
        if mutation == "nan":
            kwargs["precision"] = np.array(kwargs["precision"], dtype=float)
            kwargs["precision"][0] = np.nan
            return kwargs, Expect((r"precision", NAN.alternatives[0][0]), what="NaN precision")
        if mutation == "2d":
            kwargs["precision"] = np.column_stack([kwargs["precision"]] * 2)
            return kwargs, Expect((r"precision", r"1-d|1d|shape"), what="a 2-D precision")
        kwargs["recall"] = np.array([f"r{v}" for v in kwargs["recall"]], dtype=object)
        return kwargs, STRINGS


@entry(plotting.plot_training_history,
       {"epochs": [1, 2, 12], "keys": ["default", "train only", "custom"],
        "history": ["list", "skorch"], "ax": [None, "given"]},
       ["empty", "no_key", "not_dicts"])
class PlotHistory:
    @staticmethod
    def legal(case, rng):
        rows = []
        for epoch in range(1, case["epochs"] + 1):
            row = {"epoch": epoch, "train_loss": float(rng.random()), "dur": 0.1}
            if case["keys"] != "train only" and rng.integers(2):
                row["valid_loss"] = float(rng.random())
            rows.append(row)
        history = rows
        if case["history"] == "skorch":
            from skorch.history import History

            history = History(rows)
        kwargs = {"history": history, "ax": _axes() if case["ax"] else None}
        if case["keys"] == "custom":
            kwargs["keys"] = ["dur", "missing"]

        def check(ax):
            bug = _is_axes(ax)
            return bug or (None if ax.get_lines() else "no curve drawn")

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = PlotHistory.legal(case, rng)
        mutation = case["mutation"]
        if mutation == "empty":
            kwargs["history"] = []
            return kwargs, Expect((r"history", r"empty"), what="an empty history")
        if mutation == "no_key":
            kwargs["keys"] = ["accuracy"]
            return kwargs, Expect((r"accuracy|keys",), what="keys absent from the history")
        kwargs["history"] = [1.0, 2.0]
        return kwargs, Expect((r"history", r"dict|epoch"), what="a history that is not dicts")


# ---------------------------------------------------------------------------------------
# Persistence: legal round trips of skdml.io.save / load (the loader's defences against
# tampered files are fuzzed in tests/test_io.py)
# ---------------------------------------------------------------------------------------

IO_SPACE = {
    "estimator": ["PCA", "LDA", "NCA", "ITML", "LSH", "ITQ", "HammingNeighbors",
                  "DeepMetricLearner"],
    "fitted": [True, True, False],
    "path": ["str", "Path", "file object"],
    "dtype": ["float64", "float32"],
}


def _io_estimator(case, rng):
    import skdml

    name = case["estimator"]
    cls = getattr(skdml, name, None) or getattr(skdml.hashing, name)
    est = cls()
    params = est.get_params()
    est.set_params(**{k: v for k, v in {"random_state": 0, "max_epochs": 2, "max_iter": 5}.items()
                      if k in params})
    n, d = 24, 5
    X = rng.standard_normal((n, d)).astype(case["dtype"]) + np.arange(n)[:, None] % 3
    y = np.arange(n) % 3
    if name == "HammingNeighbors":
        X = (X > 0.5).astype(np.int64)
    if case["fitted"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
    return est, X


def _output(est, X):
    if hasattr(est, "kneighbors"):
        return est.kneighbors(X, n_neighbors=1)
    return est.transform(X)


def _round_trip(function, kwargs):
    """``save`` then ``load`` -- the entry's function is one of them, both run -- in a
    temporary folder removed afterwards. A malformed draw may skip ``save`` (no estimator:
    the file is already written) or fail in it."""
    est, path = kwargs["estimator"], kwargs["path"]
    try:
        if est is not None:
            skdml_io.save(est, path)
        if kwargs["read_as"] == "file object":
            with open(path, "rb") as handle:
                return skdml_io.load(handle)
        return skdml_io.load(path)
    finally:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


class SaveLoad:
    @staticmethod
    def legal(case, rng):
        est, X = _io_estimator(case, rng)
        path = os.path.join(tempfile.mkdtemp(prefix="skdml-fuzz-"), "model.skdml")
        kwargs = {"estimator": est, "path": Path(path) if case["path"] == "Path" else path,
                  "read_as": case["path"]}

        def check(loaded):
            if type(loaded) is not type(est) or (
                    loaded.get_params().keys() != est.get_params().keys()):
                return f"loaded a {type(loaded).__name__}"
            if case["fitted"]:
                for a, b in zip(np.atleast_1d(_output(loaded, X)),
                                np.atleast_1d(_output(est, X))):
                    if not np.array_equal(a, b):
                        return "the loaded model computes another output"
            return None

        return kwargs, check

    @staticmethod
    def malformed(case, rng):
        kwargs, _ = SaveLoad.legal(case, rng)
        mutation = case["mutation"]
        if mutation == "foreign_estimator":
            from sklearn.preprocessing import StandardScaler

            kwargs["estimator"] = StandardScaler()
            return kwargs, Expect((r"skdml",), what="a scikit-learn estimator")
        if mutation == "not_an_estimator":
            kwargs["estimator"] = {"components_": np.eye(2)}
            return kwargs, Expect((r"skdml|estimator",), what="a dict")
        with open(kwargs["path"], "wb") as handle:  # a file that is not an archive
            handle.write(rng.bytes(int(rng.integers(0, 200))))
        kwargs["estimator"] = None
        return kwargs, Expect((r"archive|zip|skdml",), what="a file that is not an archive")


entry(skdml_io.save, IO_SPACE, ["foreign_estimator", "not_an_estimator"],
      invoke=_round_trip)(SaveLoad)
entry(skdml_io.load, IO_SPACE, ["not_an_archive"], invoke=_round_trip)(SaveLoad)


@entry(skdml_io.trusted_types, {"call": ["plain"]}, ["argument"])
class TrustedTypes:
    @staticmethod
    def legal(case, rng):
        def check(types):
            if not types or types != sorted(types) or not all(isinstance(t, str) for t in types):
                return "not a sorted list of class names"
            return None if "skdml.linear.nca.NCA" in types else "NCA is not trusted"

        return {}, check

    @staticmethod
    def malformed(case, rng):
        return {"extra": 1}, Expect((r"trusted_types|argument",), what="an argument")


# ---------------------------------------------------------------------------------------
# Bugs the fuzzing found, one regression test each
# ---------------------------------------------------------------------------------------


def test_hamming_radius_search_with_a_huge_radius():
    """A radius of 1e20 (legal: any number >= 0) overflowed the kernel's integer."""
    codes = kernels.pack_codes(np.eye(3, 70, dtype=np.uint8))
    indptr, ind, dist = kernels.hamming_radius_neighbors(codes, radius=1e20)
    np.testing.assert_array_equal(indptr, [0, 3, 6, 9])
    np.testing.assert_array_equal(dist, brute_hamming(codes, codes).ravel())


def test_knn_names_a_working_memory_that_is_not_a_number():
    """``working_memory='64MB'`` raised TypeError comparing a str with an int."""
    with pytest.raises(ValueError, match="working_memory must be a positive number"):
        kernels.knn(np.eye(3), k=1, working_memory="64MB")


def test_mahalanobis_components_needs_m_or_l():
    """Neither M nor L gave 'Expected 2D array, got scalar array instead: array=nan'."""
    with pytest.raises(ValueError, match="exactly one of M .* or L .* got neither"):
        kernels.mahalanobis_components()


def test_mahalanobis_components_of_a_singular_float32_m():
    """A singular PSD matrix rounded to float32 is indefinite by rounding (eigenvalue
    -1.6e-8 of 13.5): it was refused as not positive semi-definite."""
    A = np.random.default_rng(0).standard_normal((3, 8))
    M = (A.T @ A).astype(np.float32)
    L = kernels.mahalanobis_components(M)
    np.testing.assert_allclose(L.T @ L, M, atol=1e-5 * np.abs(M).max())
    with pytest.raises(ValueError, match="positive semi-definite"):
        kernels.mahalanobis_components(M - 0.01 * np.abs(M).max() * np.eye(8))


def test_neighbor_pairs_check_x_and_its_length():
    """NaN in X was reported as 'Input Y contains NaN' (the name of an inner call), and an X
    longer than y was accepted."""
    X = np.arange(12.0).reshape(6, 2)
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        constraints.neighbor_pairs_from_labels(X, [0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match=r"\[6, 5\]"):
        constraints.neighbor_pairs_from_labels(np.ones((6, 2)), [0, 0, 0, 1, 1])


def test_pairs_from_labels_names_a_similar_fraction_that_is_not_a_number():
    """``similar_fraction='half'`` raised TypeError comparing a float with a str."""
    with pytest.raises(ValueError, match="similar_fraction must be a number in"):
        constraints.pairs_from_labels([0, 0, 1, 1], 4, similar_fraction="half")


@pytest.mark.parametrize("key", ["blur", "contrast", "noise"])
def test_digit_datasets_name_a_parameter_that_is_not_a_number(key):
    """A string blur, contrast or noise raised TypeError from np.isfinite."""
    with pytest.raises(ValueError, match=f"{key} must be a finite number"):
        datasets.make_digits_domain_shift(**{key: "0.8"})


def test_domain_shift_names_a_test_size_that_leaves_a_class_out():
    """test_size=0.001 (legal as documented: a float in (0, 1)) gave scikit-learn's 'The
    test_size = 2 should be greater or equal to the number of classes = 10'. The docstring
    now states the bounds and the message names them."""
    for test_size in (0.001, 0.999):
        with pytest.raises(ValueError, match=r"between 0\.0050 \(excluded\) and 0\.9944"):
            datasets.make_digits_domain_shift(test_size=test_size)
    Xs, _, Xt, yt = datasets.make_digits_domain_shift(test_size=0.0051, random_state=0)
    assert len(Xt) == 10 and len(np.unique(yt)) == 10


def test_make_pairs_names_n_folds_when_the_folds_cannot_be_made():
    """More folds than the largest class had samples gave scikit-learn's message about
    'n_splits'; a fold with no class of two samples gave pairs_from_labels' 'every class has
    a single member'."""
    X, y = np.random.default_rng(0).standard_normal((12, 2)), np.arange(12) % 3
    with pytest.raises(ValueError, match="n_folds=5 folds need a class of at least"):
        datasets.make_pairs(X, y, 100, n_folds=5)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scikit-learn: a class of one sample
        with pytest.raises(ValueError, match="with n_folds=4, fold .* no class of two"):
            datasets.make_pairs(X, y, 100, n_folds=4, random_state=0)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_plot_embedding_of_a_single_point(method):
    """One sample of three dimensions: PCA(n_components=2) and t-SNE (perplexity 0) both
    refused it."""
    ax = plotting.plot_embedding(np.ones((1, 3)), ["a"], method=method)
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), [[0.0, 0.0]])
    _close_figures()


def test_plot_precision_recall_refuses_2d_curves():
    """A 2-D precision array was drawn as several curves instead of refused."""
    with pytest.raises(ValueError, match=r"precision must be 1-D, got shape \(3, 2\)"):
        plotting.plot_precision_recall(np.ones((3, 2)), [0.1, 0.5, 1.0])


def test_plot_training_history_refuses_rows_that_are_not_dicts():
    """A history of floats raised "argument of type 'float' is not iterable"."""
    with pytest.raises(ValueError, match="one dict per epoch .* type float"):
        plotting.plot_training_history([0.9, 0.5])


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------

#: Legal and malformed draws per entry in the test suite (the report draws more).
TEST_CASES = 16
#: Slow entries: t-SNE, the digits and file round trips.
TEST_CASES_SLOW = {"plotting.plot_embedding": 8, "datasets.make_digits_domain_shift": 6,
                   "datasets.make_digits_image_sets": 8, "datasets.make_digits_videos": 8,
                   "datasets.make_digits_two_views": 6, "io.save": 8, "io.load": 4}


def _test_cases(name):
    return TEST_CASES_SLOW.get(name, TEST_CASES)


def test_every_public_function_has_legal_and_malformed_draws():
    covered = {e.function for e in ENTRIES.values()}
    missing = [names[0] for function, names in public_functions().items()
               if function not in covered]
    assert not missing, f"public functions without fuzz entries: {missing}"
    for e in ENTRIES.values():
        assert e.mutations, f"{e.name} has no malformed draws"


def test_every_metric_of_the_kernels_is_fuzzed():
    for function, names in public_functions().items():
        if not (function.__module__.startswith("skdml.kernels")
                and "metric" in inspect.signature(function).parameters):
            continue
        fuzzed = {name for name in ENTRIES if ENTRIES[name].function is function}
        want = {f"{names[0]}[metric={m}]" for m in kernels.METRICS}
        assert want <= fuzzed, f"{names[0]}: no entry for {sorted(want - fuzzed)}"


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_legal_calls_succeed(name):
    legal, _ = ENTRIES[name].cases(_test_cases(name))
    bugs = [f"{case}: {bug}" for case in legal if (bug := run_legal(ENTRIES[name], case))]
    assert not bugs, f"{name} failed on legal input:\n" + "\n".join(bugs)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_malformed_calls_are_refused_clearly(name):
    _, malformed = ENTRIES[name].cases(_test_cases(name))
    bugs = [f"{case}: {bug}" for case in malformed
            if (bug := run_malformed(ENTRIES[name], case))]
    assert not bugs, f"{name} on malformed input:\n" + "\n".join(bugs)
