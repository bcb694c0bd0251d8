"""Reliability: determinism, thread safety, fuzzed inputs and numerical edge cases.

Every public estimator is covered automatically (``conftest.public_estimators``), so a new
learner is fuzzed, run from threads and checked for determinism without a line here.

The fuzz harness (:func:`fuzz_case_strategy`, :func:`run_fuzz_case`) and the numerical edge
cases (:data:`EDGE_CASES`, :func:`run_edge_case`) are plain functions: the hypothesis tests
below draw cases for them, and ``benchmarks/reliability_report.py`` runs the same functions over
a fixed grid of cases to print the reliability table of ``docs/reliability.rst``.

Allowed outcomes of a fuzzed call: a correct, finite result, or a ``ValueError`` /
``TypeError`` whose message names the problem; after a failed call a fitted estimator's
learned attributes (names ending in ``_``) are what they were before.
"""

import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from skdml.base import MahalanobisMixin

from .conftest import make_instance, public_estimators, target_for

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
    if _is_code_index(type(est)):
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


# What an error message may mention for each problem in a fuzzed input (any one word of any
# problem the input carries: an input with two problems may be refused for either).
_KEYWORDS = {
    "empty": ("0 sample", "sample", "empty", "row", "at least", "minimum"),
    "few": ("sample", "at least", "class", "member", "neighbor", "n_components", "feature",
            "row", "pair", "set"),
    "nan": ("nan", "inf", "finite"),
    "inf": ("nan", "inf", "finite"),
    "str": ("string", "float", "numeric", "convert", "dtype", "real", "binary", "{0, 1}"),
    "object": ("dtype", "object", "numeric", "binary"),
    "labels": ("class", "label", "target", "continuous", "string", "y ", "y=", "y must",
               "-1", "domain"),
    "n_features": ("feature", "bits", "column"),
    "not_codes": ("binary", "codes", "{0, 1}"),
    "degenerate": ("identical", "constant", "duplicate", "distinct", "rank", "variance",
                   "singular"),
}


def _problems(cls, case):
    """The problems a fuzz case carries, which an error message is expected to name."""
    problems = []
    if _is_code_index(cls):
        problems.append("not_codes")
    if case["dtype"] == "bool" or case["d"] == "1":
        problems.append("degenerate")
    if case["n"] == 0:
        problems.append("empty")
    elif case["n"] <= 3:
        problems.append("few")
    if case["dtype"] == "str":
        problems.append("str")
    elif case["corrupt"] in ("nan", "inf") and case["dtype"] in ("float32", "float64", "object"):
        problems.append(case["corrupt"])
    if case["dtype"] == "object":
        problems.append("object")
    if case["labels"] != "ok" and case["target"] != "transform":
        problems.append("labels")
    if case["target"] == "transform" and (case["wrong_d"] or _is_image_sets(cls)):
        # (MMDML is fitted on image sets of 64 features, whatever the case's width)
        problems.append("n_features")
    return problems


#: The fuzz case space: every key's values are drawn independently, plus a data seed.
FUZZ_SPACE = {
    "n": [0, 1, 2, 3, 10, 30],
    "d": ["1", "3", "d>n"],
    "dtype": ["int64", "float32", "float64", "bool", "object", "str"],
    "corrupt": ["none", "none", "nan", "inf"],
    "labels": ["ok", "one_class", "continuous", "str"],
    "target": ["fit", "refit", "transform"],
    "wrong_d": [False, True],
}


def fuzz_case_strategy():
    """A hypothesis strategy of fuzz cases (plain dicts, so the report can draw them too)."""
    return st.fixed_dictionaries(
        {**{k: st.sampled_from(v) for k, v in FUZZ_SPACE.items()},
         "seed": st.integers(0, 2**16)}
    )


def random_fuzz_case(rng):
    """A fuzz case drawn from :data:`FUZZ_SPACE` with a NumPy generator (for the report)."""
    case = {k: v[rng.integers(len(v))] for k, v in FUZZ_SPACE.items()}
    case["seed"] = int(rng.integers(2**16))
    return case


def make_fuzz_input(cls, case):
    """``(X, y)`` of a fuzz case for ``cls``."""
    rng = np.random.default_rng(case["seed"])
    n = case["n"]
    d = {"1": 1, "3": 3, "d>n": n + 7}[case["d"]]
    X = rng.standard_normal((n, d)) * 3
    if case["corrupt"] != "none" and X.size:
        mask = rng.random(X.shape) < 0.2
        mask.flat[rng.integers(X.size)] = True
        X[mask] = np.nan if case["corrupt"] == "nan" else np.inf
    dtype = case["dtype"]
    if dtype == "int64":
        X = np.nan_to_num(X, posinf=7, neginf=-7).round().astype(np.int64)
    elif dtype == "bool":
        X = np.nan_to_num(X) > 0
    elif dtype == "object":
        X = X.astype(object)
    elif dtype == "str":
        X = np.array([[f"v{v:.2f}" for v in row] for row in X], dtype=object).reshape(n, d)
    else:
        X = X.astype(dtype)
    labels = {
        "ok": np.arange(n) % 3,
        "one_class": np.zeros(n, dtype=np.int64),
        "continuous": rng.standard_normal(n),
        "str": np.array(["a", "b", "c"], dtype=object)[np.arange(n) % 3],
    }[case["labels"]]
    if case["labels"] in ("ok", "one_class"):
        y = target_for(cls, labels)
    else:
        y = labels
    if _is_code_index(cls) and dtype in ("int64", "bool") and case["corrupt"] == "none":
        X = (X > 0).astype(dtype) if dtype == "int64" else X
    return X, y


def _check_error(cls, exc, case):
    """``None`` if ``exc`` is an allowed error for ``case``, else a description of the bug."""
    if not isinstance(exc, (ValueError, TypeError)):
        return f"{type(exc).__name__} (not ValueError/TypeError): {exc}"
    message = str(exc).lower()
    if len(message) < 10:
        return f"{type(exc).__name__} with an empty message: {exc!r}"
    problems = _problems(cls, case)
    if problems and not any(k in message for p in problems for k in _KEYWORDS[p]):
        return f"{type(exc).__name__} message names none of {problems}: {exc}"
    return None


def _check_result(est, X):
    """``None`` if the fitted ``est`` gives a finite result of the right length on ``X``."""
    result = np.asarray(output(est, X))
    if result.shape[0] != len(X):
        return f"result has {result.shape[0]} rows for {len(X)} samples"
    if result.dtype.kind in "fc" and not np.all(np.isfinite(result)):
        return "silent NaN/inf in the result"
    return None


def run_fuzz_case(cls, case):
    """Run one fuzz case; returns ``(outcome, bug)``.

    ``outcome`` is ``'ok'`` or the name of the error raised; ``bug`` is ``None`` or a sentence
    saying what went wrong (a crash of another kind, a message naming nothing, a silent NaN, a
    fitted state changed by a failed call).
    """
    X, y = make_fuzz_input(cls, case)
    est = new_instance(cls)
    if _is_image_sets(cls):
        # One sample is a set of vectors: fuzz the sets' contents, shapes and dtypes.
        X = [X[i:i + 2] for i in range(0, len(X), 2)] if len(X) else []
        y = y[::2] if len(y) else y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case["target"] in ("refit", "transform"):
            Xg, yg = good_data(cls, d=X.shape[1] if hasattr(X, "shape") else 4)
            if _is_image_sets(cls):
                Xg, yg = good_data(cls)
            est.fit(Xg, yg)
            before = learned_state(est)
            if case["target"] == "transform" and case["wrong_d"] and hasattr(X, "shape"):
                X = np.concatenate([X, X[:, :1]], axis=1)
        else:
            before = None
        call = est.fit if case["target"] in ("fit", "refit") else None
        try:
            if call is not None:
                call(X, y)
            bug = _check_result(est, X)
        except Exception as exc:  # noqa: BLE001 - classifying the outcome is the point
            bug = _check_error(cls, exc, case)
            if bug is None and before is not None and learned_state(est) != before:
                bug = "learned attributes changed by a failed call"
            return type(exc).__name__, bug
    return "ok", bug


# ------------------------------------------------------------------------------------------
# Known bugs found by this file (strict xfail: the lead fixes them, the marker then fails)
# ------------------------------------------------------------------------------------------

KNOWN_FUZZ_BUGS = {}
KNOWN_EDGE_BUGS = {}


def _mark(cls, known):
    reason = known.get(cls.__name__)
    if reason is None:
        return cls
    return pytest.param(cls, marks=pytest.mark.xfail(strict=True, reason=reason),
                        id=cls.__name__)


# ------------------------------------------------------------------------------------------
# Fuzzing
# ------------------------------------------------------------------------------------------


def test_lmnn_object_string_labels_with_a_small_class():
    """Found by the fuzzer: the small-class warning used to call .tolist() on a Python str
    (object-dtype labels) and fit raised AttributeError instead of warning."""
    from skdml import LMNN

    X = np.random.default_rng(0).standard_normal((10, 3))
    y = np.array(["a", "b", "c"], dtype=object)[np.arange(10) % 3]
    with pytest.warns(UserWarning, match=r"'b': 3, 'c': 3"):
        lmnn = LMNN(random_state=0).fit(X, y)
    assert np.all(np.isfinite(lmnn.transform(X)))


@pytest.mark.parametrize("cls", [_mark(c, KNOWN_FUZZ_BUGS) for c in ESTIMATORS],
                         ids=_ids(ESTIMATORS))
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=fuzz_case_strategy())
def test_fuzzed_input(cls, case):
    outcome, bug = run_fuzz_case(cls, case)
    assert bug is None, f"{cls.__name__} on {case}: {outcome}: {bug}"


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
    if _is_code_index(cls):
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


@pytest.mark.parametrize("cls", [c for c in ESTIMATORS if not _is_code_index(c)],
                         ids=_ids([c for c in ESTIMATORS if not _is_code_index(c)]))
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
