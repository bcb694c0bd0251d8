"""Run metric-learn's own test suite against :mod:`skdml.compat.metric_learn`.

A measurement, not part of skdml's tests (and not a ``bench_*`` script, so ``make bench``
does not run it). metric-learn's tests are read from its published repository and never
copied into this one: give the script metric-learn's repository (a git clone or bare mirror,
from which ``test/`` is extracted with ``git archive``) or an extracted folder holding
``test/``; it works in a temporary folder outside this repository::

    python benchmarks/compat_metric_learn_suite.py --source PATH/TO/metric-learn
    python benchmarks/compat_metric_learn_suite.py --source PATH -k "ITML or LMNN" \
        --files test_fit_transform.py --output failures.csv

How ``import metric_learn`` reaches skdml: a ``conftest.py`` written next to ``test/``
registers modules named ``metric_learn`` and ``metric_learn.<submodule>`` in
``sys.modules`` before the tests are imported. ``metric_learn`` holds the public names of
:mod:`skdml.compat.metric_learn`; the submodules hold the same names where metric-learn's
tests import them from a submodule (``metric_learn.constraints.Constraints``,
``metric_learn.base_metric.MahalanobisMixin``, ...), scikit-learn's own test helpers for
``metric_learn.sklearn_shims``, and, for metric-learn's private helpers (``_util``,
``lmnn._sum_outer_products``, ...), stubs that raise ``NotImplementedError`` naming the
helper: tests of metric-learn's internals then fail with that reason instead of stopping
the collection of the whole file. ``metric_learn.exceptions`` holds placeholder exception
classes, which skdml never raises.

Every test runs with a per-test time limit (``--timeout``, SIGALRM). The summary counts
passed, failed, errored and skipped tests, sorts each failure by cause from its test name and
exception (see :func:`categorize`), and prints the counts per cause and per file;
``--output`` writes one row per failure (test id, group, reason, exception lines).
"""

import argparse
import collections
import csv
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import textwrap
import time
import xml.etree.ElementTree as ET

CONFTEST = textwrap.dedent('''
    """Make ``import metric_learn`` resolve to skdml.compat.metric_learn (written by
    benchmarks/compat_metric_learn_suite.py)."""
    import signal
    import sys
    import types

    import numpy as np
    import pytest

    import skdml.compat.metric_learn as compat

    TIMEOUT = float(@TIMEOUT@)


    def _module(name, **attributes):
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        sys.modules[name] = module
        if "." in name:
            parent, child = name.rsplit(".", 1)
            setattr(sys.modules[parent], child, module)
        return module


    def _internal(qualname):
        def stub(*args, **kwargs):
            raise NotImplementedError(
                f"metric-learn internal {qualname}: not part of skdml.compat.metric_learn"
            )
        stub.__name__ = qualname.rsplit(".", 1)[-1]
        return stub


    def _internal_class(qualname):
        return type(qualname.rsplit(".", 1)[-1], (), {"__init__": _internal(qualname)})


    public = {name: getattr(compat, name) for name in compat.__all__}
    _module("metric_learn", __version__="0.7.0 (skdml.compat)", **public)
    _module("metric_learn.base_metric",
            BaseMetricLearner=compat.MahalanobisMixin,
            MahalanobisMixin=compat.MahalanobisMixin,
            MetricTransformer=compat.MahalanobisMixin,
            _PairsClassifierMixin=compat._PairsClassifierMixin,
            _TripletsClassifierMixin=compat._TripletsClassifierMixin,
            _QuadrupletsClassifierMixin=compat._QuadrupletsClassifierMixin,
            ArrayIndexer=_internal_class("base_metric.ArrayIndexer"))
    _module("metric_learn.constraints", Constraints=compat.Constraints,
            wrap_pairs=compat.wrap_pairs, comb=_internal("constraints.comb"))
    for learner in ("itml", "sdml", "mmc", "lsml", "scml"):
        base = getattr(compat, "_Base" + learner.upper())
        names = {n: getattr(compat, n) for n in compat.__all__
                 if n.split("_")[0] == learner.upper()}
        _module(f"metric_learn.{learner}", **{"_Base" + learner.upper(): base}, **names)
    for learner in ("lmnn", "nca", "lfda", "mlkr", "rca", "covariance"):
        names = {n: getattr(compat, n) for n in compat.__all__
                 if n.split("_")[0].lower() == learner}
        _module(f"metric_learn.{learner}", **names)
    sys.modules["metric_learn.lmnn"]._sum_outer_products = _internal("lmnn._sum_outer_products")
    _module("metric_learn._util", **{name: _internal("_util." + name) for name in (
        "check_input", "make_context", "preprocess_tuples", "make_name",
        "preprocess_points", "check_collapsed_pairs", "validate_vector",
        "_check_sdp_from_eigen", "_check_n_components", "check_y_valid_values_for_pairs",
        "_auto_select_init", "_pseudo_inverse_from_eig", "components_from_metric",
        "_initialize_metric_mahalanobis", "_initialize_components")})


    class PreprocessorError(Exception):
        """Placeholder: skdml never raises it."""


    class NonPSDError(np.linalg.LinAlgError):
        """Placeholder: skdml never raises it."""


    _module("metric_learn.exceptions", PreprocessorError=PreprocessorError,
            NonPSDError=NonPSDError)

    from sklearn.metrics._scorer import get_scorer  # noqa: E402
    from sklearn.utils import _testing  # noqa: E402
    from sklearn.utils.estimator_checks import _is_public_parameter  # noqa: E402

    _module("metric_learn.sklearn_shims", SKLEARN_AT_LEAST_0_22=True,
            set_random_state=_testing.set_random_state,
            ignore_warnings=_testing.ignore_warnings,
            assert_allclose_dense_sparse=_testing.assert_allclose_dense_sparse,
            _get_args=_testing._get_args, is_public_parameter=_is_public_parameter,
            get_scorer=get_scorer)


    class TestTimeout(BaseException):
        """A test ran past the per-test limit."""


    def _alarm(signum, frame):
        raise TestTimeout(f"per-test time limit of {TIMEOUT:g} s exceeded")


    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(item):
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, TIMEOUT)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
''')

INTERNAL = "metric-learn internal"
MISSING = "API difference: skdml lacks it (NotImplementedError)"

#: (group, reason, test function names or None, pattern on "ExceptionType: message"):
#: the first rule whose test names (when given) and pattern both match wins.
RULES = [
    (INTERNAL, "tests that subclass metric-learn's base classes (private _prepare_inputs, "
               "__init__(preprocessor))", None,
     r"IdentityPairsClassifier|MockBadPairsClassifier|MockMetricLearner|takes no arguments"),
    (INTERNAL, "private methods of metric-learn's learners (_validate_calibration_params, "
               "_loss_grad, _generate_bases_*, ...)",
     {"test_loss_func", "test_finite_differences"}, r""),
    (INTERNAL, "private methods of metric-learn's learners (_validate_calibration_params, "
               "_loss_grad, _generate_bases_*, ...)", None, r"has no attribute '_"),
    (INTERNAL, "private helpers (metric_learn._util, ArrayIndexer, "
               "lmnn._sum_outer_products, components_from_metric)", None,
     r"metric-learn internal "),
    ("time limit", "per-test time limit", None, r"per-test time limit"),
    (MISSING, "calibrate_threshold(strategy='max_tnr')", None, r"strategy='max_tnr'\): skdml"),
    (MISSING, "calibrate_threshold(strategy='f_beta', beta=0)", None, r"beta must be > 0"),
    (MISSING, "predict / decision_function / score on triplets (SCML), quadruplets (LSML)",
     {"test_cross_validation_is_finite"}, r""),
    (MISSING, "predict / decision_function / score on triplets (SCML), quadruplets (LSML)",
     None, r"(SCML|LSML)\.(predict|score|decision_function): skdml"),
    (MISSING, "prior='random', MMC init other than 'identity'", None,
     r"prior='random'|MMC(_Supervised)?\(init="),
    (MISSING, "array priors of SDML and LSML, LSML weights", None,
     r"takes no array prior|weighs every"),
    (MISSING, "LMNN learn_rate (skdml optimizes with L-BFGS)", None, r"learn_rate="),
    ("skdml defect", "components_ set by hand to a 1-D array: MahalanobisDistance fails "
                     "with an IndexError", {"test_get_metric_works_does_not_raise"},
     r"IndexError"),
    ("API difference: different numbers", "init='auto': LMNN's is skdml's 'pca'; NCA's and "
     "MLKR's 'auto' start is rescaled", {"test_auto_init_transformation"}, r""),
    ("API difference: different numbers", "covariance divided by n; standardized features; "
     "skdml's constraints and solvers",
     {"test_singular_returns_pseudo_inverse", "test_iris", "test_big_n_features"}, r""),
    ("API difference: stricter input checks", "ValueError instead of NonPSDError; one class "
     "refused", {"test_singular_array_init_or_prior_strictpd", "test_one_class"}, r""),
    ("API difference: skdml accepts or regularizes", "no error or warning where "
     "metric-learn raises or warns", {"test_bad_parameters",
                                      "test_rank_deficient_returns_warning"}, r""),
    ("API difference: skdml accepts or regularizes", "no error or warning where "
     "metric-learn raises or warns", None, r"DID NOT RAISE|DID NOT WARN"),
    ("API difference: wording", "wording of errors, warnings and verbose output", None, r""),
]


def categorize(nodeid, message):
    """``(group, reason)`` of a failure, from its test name and its exception text."""
    function = nodeid.split("::")[-1].split("[")[0]
    for group, reason, functions, pattern in RULES:
        if functions is not None and function not in functions:
            continue
        if re.search(pattern, message, flags=re.MULTILINE | re.DOTALL):
            return group, reason
    return "unsorted", ""


def extract_tests(source, workdir):
    """Put metric-learn's ``test/`` folder under ``workdir``, from a repository or a folder."""
    source = pathlib.Path(source)
    if (source / "test").is_dir():
        subprocess.run(["cp", "-r", str(source / "test"), str(workdir)], check=True)
        return workdir / "test"
    archive = subprocess.run(["git", "--git-dir", str(source), "archive", "HEAD", "test"],
                             check=True, capture_output=True).stdout
    if not archive:
        archive = subprocess.run(["git", "-C", str(source), "archive", "HEAD", "test"],
                                 check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True)
    return workdir / "test"


def read_junit(path):
    """``(nodeid, outcome, message)`` for every test case of a JUnit XML report."""
    rows = []
    for case in ET.parse(path).getroot().iter("testcase"):
        nodeid = f"{case.get('classname')}::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[
                    child.tag]
                text = (child.get("message") or "") + "\n" + (child.text or "")
                message = _exception_line(text)
                break
        rows.append((nodeid, outcome, message))
    return rows


def _exception_line(text):
    """The ``E   ExceptionType: message`` lines of a pytest report, joined."""
    lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return " | ".join(lines[:6]) if lines else text.strip().splitlines()[0] if text.strip() else ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True,
                        help="metric-learn's repository (git) or a folder holding test/")
    parser.add_argument("--files", nargs="*", default=None,
                        help="test files of metric-learn's test/ to run (default: all)")
    parser.add_argument("-k", default=None, help="pytest -k expression")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per test")
    parser.add_argument("--output", default=None, help="CSV of the failures")
    parser.add_argument("--workdir", default=None,
                        help="folder to work in (default: a new temporary folder)")
    parser.add_argument("--summarize-only", action="store_true",
                        help="summarize the JUnit report a previous run left in --workdir")
    args = parser.parse_args(argv)

    workdir = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="ml_tests_"))
    repo = pathlib.Path(__file__).resolve().parent.parent
    if repo in workdir.resolve().parents or workdir.resolve() == repo:
        parser.error("--workdir must lie outside skdml's repository")
    workdir.mkdir(parents=True, exist_ok=True)
    tests = workdir / "test"
    if not tests.is_dir():
        tests = extract_tests(args.source, workdir)
    (workdir / "conftest.py").write_text(CONFTEST.replace("@TIMEOUT@", repr(args.timeout)))
    (workdir / "pytest.ini").write_text("[pytest]\nmarkers =\n  integration\n  unit\n")

    targets = [str(tests / f) for f in args.files] if args.files else [str(tests)]
    junit = workdir / "junit.xml"
    command = [sys.executable, "-m", "pytest", *targets, "-p", "no:cacheprovider", "-q",
               "--no-header", "-rN", "--tb=short", "--disable-warnings", f"--junitxml={junit}",
               "-W", "ignore::DeprecationWarning", "--rootdir", str(workdir)]
    if args.k:
        command += ["-k", args.k]
    start = time.perf_counter()
    if not args.summarize_only:
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        subprocess.run(command, cwd=workdir, env=env)
    elapsed = time.perf_counter() - start

    rows = read_junit(junit)
    outcomes = collections.Counter(outcome for _, outcome, _ in rows)
    failures = [(nodeid, *categorize(nodeid, message), message)
                for nodeid, outcome, message in rows if outcome in ("failed", "error")]
    ran = outcomes["passed"] + outcomes["failed"] + outcomes["error"]
    print(f"\nmetric-learn's test suite on skdml.compat.metric_learn ({elapsed:.0f} s)")
    print(f"  tests: {len(rows)}; passed {outcomes['passed']}, failed {outcomes['failed']}, "
          f"errors {outcomes['error']}, skipped {outcomes['skipped']}; pass rate "
          f"{outcomes['passed'] / max(ran, 1):.1%} of the tests run")
    print("\nfailures by cause:")
    for group, count in collections.Counter(g for _, g, _, _ in failures).most_common():
        print(f"  {count:5d}  {group}")
        reasons = collections.Counter(r for _, g, r, _ in failures if g == group)
        for reason, n in reasons.most_common():
            print(f"  {n:11d}  {reason}")
    print("\nby file (passed / run):")
    per_file = collections.defaultdict(collections.Counter)
    for nodeid, outcome, _ in rows:
        per_file[nodeid.split("::")[0]][outcome] += 1
    for name, counts in sorted(per_file.items()):
        run = counts["passed"] + counts["failed"] + counts["error"]
        print(f"  {counts['passed']:5d} / {run:5d}  {name}")
    if args.output:
        with open(args.output, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["test", "group", "reason", "message"])
            writer.writerows(failures)
        print(f"\nfailures written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
