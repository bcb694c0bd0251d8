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
the collection of the whole file. One helper is a placeholder instead: ``make_context``
returns a fixed string, so the tests of public methods that build the error message they
expect with it reach their check of skdml's behaviour. ``metric_learn.exceptions`` holds
placeholder exception classes, which skdml never raises.

Every test runs with a per-test time limit (``--timeout``, SIGALRM). The summary counts
passed, failed, errored and skipped tests per file, sorts each failure by cause from its test
id and exception (:func:`categorize`: every cause has a reason true of each test in it, and a
failure no rule matches is "unsorted", which makes the script exit with status 1), and prints
the table ``compat_metric_learn`` of the docs' migration page (written to
``docs/bench_tables/`` under ``SKDML_BENCH_WRITE_DOCS=1``, from a full run only);
``--output`` writes one row per failure (test id, kind, cause, exception lines).
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

sys.path.insert(0, os.path.dirname(__file__))
from _common import start_run, write_table, writing_docs  # noqa: E402

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


    def _make_context(estimator):
        """A placeholder: metric-learn's tests of public methods build the error message
        they expect with this helper; with it they reach the check of skdml's behaviour."""
        return " (placeholder for metric_learn._util.make_context)"


    sys.modules["metric_learn._util"].make_context = _make_context


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
API = "API difference"
WORDING = "wording"
NUMBERS = "different numbers"
UNSORTED = "unsorted"

#: cause -> (kind, reason): why the tests of that cause fail. Every reason is true of every
#: test the rules below sort into its cause (checked on their tracebacks).
CAUSES = {
    "private helper": (
        INTERNAL, "imports or tests a private helper of metric-learn (metric_learn._util, "
                  "base_metric.ArrayIndexer, lmnn._sum_outer_products); the suite's stub raises "
                  "NotImplementedError"),
    "private method": (
        INTERNAL, "calls, overrides or sets up a private method of a metric-learn learner "
                  "(_validate_calibration_params, _loss_grad, _generate_bases_*, "
                  "_check_preprocessor, _prepare_inputs, ...)"),
    "subclassed base class": (
        INTERNAL, "defines a learner by subclassing metric-learn's base classes and relies on "
                  "their private machinery (_prepare_inputs, __init__(preprocessor))"),
    "LSML weights": (
        API, "LSML's per-quadruplet weights raise NotImplementedError (these tests pass their "
             "labels as weights)"),
    "MMC init ignored": (
        API, "MMC's init is ignored with a warning (skdml's MMC solves the convex program "
             "from its own start), so an invalid or singular init is neither refused nor "
             "warned about as such"),
    "singular array prior": (
        API, "a singular array prior is a ValueError (metric-learn: NonPSDError, a "
             "LinAlgError)"),
    "one class": (API, "NCA refuses labels of a single class with a ValueError"),
    "1-D components_, scalar inputs": (
        API, "get_metric() needs a 2-D components_ and refuses scalars (metric-learn takes a "
             "1-D components_ and scalars as one-feature samples)"),
    "covariance prior shrunk": (
        API, "prior='covariance' inverts a Ledoit-Wolf shrunk covariance, invertible on "
             "collinear features: no LinAlgError"),
    "RCA ridge": (
        API, "RCA's ridge keeps a rank-deficient within-chunklet covariance invertible: no "
             "warning that the metric may hold NaN"),
    "SDML regularized": (
        API, "SDML makes P + balance_param * K positive definite and solves it: no "
             "RuntimeError or ConvergenceWarning from scikit-learn's graphical lasso"),
    "SDML verbose": (API, "SDML's verbose has no effect: no message naming the solver"),
    "SCML: no warning or error": (
        API, "SCML does not warn on a rank-reducing metric, fewer bases than classes or "
             "n_basis=None, nor raise on output_iter > max_iter or fewer triplets than "
             "features"),
    "chunks: a warning": (
        API, "Constraints.chunks gives fewer chunklets than asked with a warning (metric-learn: "
             "ValueError)"),
    "error message": (
        WORDING, "the same input is refused with a ValueError; its message is skdml's"),
    "warning message": (
        WORDING, "the same warning category is emitted; its message is skdml's"),
    "verbose output": (WORDING, "verbose output in skdml's format"),
    "init='auto' rescaled": (
        NUMBERS, "NCA's and MLKR's init='auto' start is rescaled to soft neighbourhoods, so "
                 "it differs from the unscaled matrix metric-learn picks"),
    "Covariance divides by n": (
        NUMBERS, "Covariance divides by n (np.cov: n - 1): its metric is the pseudo-inverse of "
                 "n / (n - 1) times np.cov"),
    "SDML pair term averaged": (
        NUMBERS, "SDML averages its pair term over the pairs: balance_param=5e-5 on the "
                 "test's 3000 pairs weighs 3000 times less than in metric-learn's sum"),
    "MMC barrier": (
        NUMBERS, "skdml's MMC adds a log-determinant barrier by default (a full-rank metric); "
                 "the test's matrix is Xing et al.'s exact low-rank optimum, whose "
                 "direction skdml.MMC(barrier=0) finds, at another scale"),
    "LFDA local scaling": (
        NUMBERS, "LFDA's local scale is the distance to the k-th neighbour (Sugiyama, 2007); "
                 "metric-learn's indexing (np.partition(d, k, axis=0)[:, k]) takes other "
                 "entries, and fixing it gives skdml's subspace"),
    "equidistant neighbours": (
        NUMBERS, "neighbours are found on standardized features, where the search's "
                 "rounding breaks an exact tie (sample 1 of (0, 0), (2, 2), (4, 4) takes "
                 "sample 2, metric-learn the lower index 0)"),
    "SCML LDA basis": (
        NUMBERS, "skdml builds SCML's LDA basis its own way, which separates these 60-feature "
                 "classes less than the test's bound (on metric-learn's basis, skdml's solver "
                 "meets it)"),
}


#: (pattern on the skip message, why): metric-learn's own reasons to skip a test.
SKIPS = [(r"skggm", "metric-learn runs them only with skggm (an optional solver of its SDML) "
                    "installed")]


def _tests(*names):
    """A regular expression matching the named tests (``function`` or ``TestClass::function``)
    with any parameters."""
    return r"(?:" + "|".join(re.escape(n) for n in names) + r")(?:\[|$)"


#: (cause, tests, pattern): a failure belongs to the first rule whose ``tests`` (a regular
#: expression on ``[TestClass::]function[params]``, None for any test) and ``pattern`` (on
#: its "ExceptionType: message" lines) both match; one that no rule matches is "unsorted".
RULES = [
    ("private helper", None, r"NotImplementedError: metric-learn internal "),
    ("private helper", _tests("test_make_context"), r"^AssertionError: assert .*placeholder"),
    ("subclassed base class", None, r"'(IdentityPairsClassifier|MockBadPairsClassifier)' "
     r"object has no attribute|MockMetricLearner\(\) takes no arguments"),
    ("private method", None,
     r"^AttributeError: (type object )?'\w+' (object )?has no attribute '_"),
    ("private method", _tests("TestNCA::test_finite_differences",
                              "TestMLKR::test_finite_differences"),
     r"^sklearn\.exceptions\.NotFittedError"),  # sets n_iter_ on an unfitted learner first
    ("private method", _tests("test_loss_func"), r"^IndexError: list index out of range"),
    ("LSML weights", None, r"^NotImplementedError: LSML(_Supervised)?(\.fit)?\(weights="),
    ("MMC init ignored", _tests("test_init_mahalanobis[MMC]",
                                "test_init_mahalanobis[MMC_Supervised]"),
     r"^Failed: DID NOT RAISE .*ValueError"),
    ("MMC init ignored", _tests("test_singular_covariance_init_of_non_strict_pd[MMC]",
                                "test_singular_covariance_init_of_non_strict_pd[MMC_Supervised]"),
     r"^assert False"),
    ("MMC barrier", _tests("TestMMC::test_iris"), r"^AssertionError: [\s|]*Arrays are not almost "
     r"equal"),
    ("singular array prior", _tests("test_singular_array_init_or_prior_strictpd"),
     r"^ValueError: (ITML|SDML|LSML): prior must be positive definite"),
    ("one class", _tests("TestNCA::test_one_class"),
     r"^ValueError: NCA needs at least 2 distinct classes"),
    ("1-D components_, scalar inputs", _tests("test_get_metric_works_does_not_raise"),
     r"^ValueError: MahalanobisDistance: components must be a non-empty 2-D array"),
    ("covariance prior shrunk", _tests("test_singular_covariance_init_or_prior_strictpd"),
     r"^Failed: DID NOT RAISE .*LinAlgError"),
    ("RCA ridge", _tests("TestRCA::test_rank_deficient_returns_warning",
                         "TestRCA::test_bad_parameters"), r"^assert False"),
    ("SDML regularized", _tests(
        "TestSDML::test_sdml_raises_warning_msg_not_installed_skggm",
        "TestSDML::test_sdml_supervised_raises_warning_msg_not_installed_skggm",
        "TestSDML::test_sdml_raises_warning_non_psd"), r"^Failed: DID NOT (RAISE|WARN)"),
    ("SDML verbose", _tests("test_verbose_has_not_installed_skggm_sdml",
                            "test_verbose_has_not_installed_skggm_sdml_supervised"),
     r"^assert \"SDML will use scikit-learn's graphical lasso solver\.\" in ''"),
    ("SCML: no warning or error", _tests(
        "TestSCML::test_dimension_reduction_msg", "TestSCML::test_small_n_basis_lda",
        "TestSCML::test_large_output_iter", "test_raise_big_number_of_features"),
     r"^Failed: DID NOT (RAISE|WARN)"),
    ("SCML: no warning or error", _tests("TestSklearnCompat::test_scml"),
     r"^AssertionError: assert 'As no value for `n_basis` was selected, ' in "),
    ("chunks: a warning", _tests("test_chunk_case_one_miss_point"),
     r"^Failed: DID NOT RAISE .*ValueError"),
    ("error message", _tests(
        "test_n_components", "test_init_transformation", "test_embed_dim",
        "test_pair_distance_dim", "test_error_message_tuple_size",
        "test_check_input_pairs_learners_invalid_y",
        "test_validate_calibration_params_invalid_parameters_error_before__fit",
        "TestSCML::test_n_basis_wrong_type", "TestSCML::test_int_inputs",
        "TestSCML::test_int_inputs_supervised", "TestSCML::test_array_basis",
        "TestSCML::test_big_n_basis_lda"),
     r"^(AssertionError: )?assert .+ == "),
    ("warning message", _tests("test_score_pairs_warning", "test_convergence_warning"),
     r"^assert False \| \+  where False = any\("),
    ("warning message", _tests("test_generate_knntriplets_k_genuine",
                               "test_generate_knntriplets_k_impostor"),
     r"^AssertionError: assert '.+' in \["),
    ("verbose output", _tests("test_verbose", "TestSCML::test_verbose",
                              "test_convergence_simple_example",
                              "test_no_twice_same_objective"), r"^AssertionError: assert "),
    ("init='auto' rescaled", r"test_auto_init_transformation\[(NCA|MLKR)-",
     r"^AssertionError: \| Arrays are not almost equal"),
    ("Covariance divides by n", _tests("TestCovariance::test_singular_returns_pseudo_inverse"),
     r"^AssertionError: \| Not equal to tolerance"),
    ("SDML pair term averaged", _tests("TestSDML::test_iris"), r"not less than 0\.22$"),
    ("LFDA local scaling", _tests("TestLFDA::test_iris"), r"not less than 0\.15$"),
    ("SCML LDA basis", _tests("TestSCML::test_big_n_features"), r"< 0\.7$"),
    ("equidistant neighbours", r"test_generate_knntriplets_under_edge\[1-",
     r"^assert False \| \+  where False = <function array_equal"),
]


def _qualified(nodeid):
    """``[TestClass::]function[params]`` of a test id ``module[.TestClass]::function[params]``."""
    owner, name = nodeid.split("::", 1)
    owner = owner.rsplit(".", 1)[-1]
    return f"{owner}::{name}" if owner.startswith("Test") else name


def categorize(nodeid, message):
    """``(kind, cause)`` of a failure, from its test id and its exception text."""
    test = _qualified(nodeid)
    for cause, tests, pattern in RULES:
        if tests is not None and not re.match(tests, test):
            continue
        if re.search(pattern, message, flags=re.MULTILINE):
            return CAUSES[cause][0], cause
    return UNSORTED, "unsorted"


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
    if writing_docs() and (args.files or args.k or args.summarize_only):
        parser.error("the docs table (SKDML_BENCH_WRITE_DOCS=1) comes from a full run: no "
                     "--files, -k or --summarize-only")
    start_run(threads=None, repeat=None)

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
    print(f"\nmetric-learn's test suite ({source_version(args.source)}) on "
          f"skdml.compat.metric_learn ({elapsed:.0f} s)")
    print(f"  tests: {len(rows)}; passed {outcomes['passed']}, failed {outcomes['failed']}, "
          f"errors {outcomes['error']}, skipped {outcomes['skipped']}; pass rate "
          f"{outcomes['passed'] / max(ran, 1):.1%} of the tests run")
    print("\nby file (passed / run):")
    per_file = collections.defaultdict(collections.Counter)
    for nodeid, outcome, _ in rows:
        per_file[nodeid.split("::")[0]][outcome] += 1
    for name, counts in sorted(per_file.items()):
        run = counts["passed"] + counts["failed"] + counts["error"]
        print(f"  {counts['passed']:5d} / {run:5d}  {name}")
    print("\nfailures and errors by cause:")
    write_table("compat_metric_learn", table_rows(rows, failures),
                ["outcome", "kind", "cause", "tests", "why"],
                note=f"metric-learn's test/ folder at {source_version(args.source)}, run with "
                     f"pytest against skdml.compat.metric_learn, {args.timeout:g} s per test; "
                     f"{outcomes['passed']} of the {ran} tests run pass "
                     f"({outcomes['passed'] / max(ran, 1):.1%})")
    unsorted = [f for f in failures if f[1] == UNSORTED]
    for nodeid, _, _, message in unsorted:
        print(f"  unsorted: {nodeid}: {message[:200]}")
    if args.output:
        with open(args.output, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["test", "kind", "cause", "message"])
            writer.writerows(failures)
        print(f"\nfailures written to {args.output}")
    return 1 if unsorted else 0


def table_rows(rows, failures):
    """The table's rows: the count of each outcome, then of each cause of failure."""
    outcomes = collections.Counter(outcome for _, outcome, _ in rows)
    skips = sorted({next((why for pattern, why in SKIPS if re.search(pattern, message)),
                         message)
                    for _, outcome, message in rows if outcome == "skipped"})
    table = [
        {"outcome": "passed", "tests": outcomes["passed"]},
        {"outcome": "failed", "tests": outcomes["failed"],
         "why": "by cause below" if outcomes["failed"] else ""},
        {"outcome": "error", "tests": outcomes["error"],
         "why": "by cause below" if outcomes["error"] else ""},
        {"outcome": "skipped", "tests": outcomes["skipped"], "why": "; ".join(skips)},
    ]
    failed = dict((nodeid, outcome) for nodeid, outcome, _ in rows)
    by_cause = collections.defaultdict(collections.Counter)
    for nodeid, kind, cause, _ in failures:
        by_cause[kind, cause][failed[nodeid]] += 1
    order = {kind: i for i, kind in enumerate([INTERNAL, API, WORDING, NUMBERS, UNSORTED])}
    for (kind, cause), n in sorted(by_cause.items(),
                                   key=lambda kc: (order[kc[0][0]], -kc[1].total())):
        why = CAUSES[cause][1] if cause in CAUSES else "no rule of categorize() matches"
        table.append({"outcome": ", ".join(sorted(n)), "kind": kind, "cause": cause,
                      "tests": n.total(), "why": why})
    return table


def source_version(source):
    """``git describe`` of metric-learn's repository, or the folder's name."""
    for args in (["--git-dir", str(source)], ["-C", str(source)]):
        done = subprocess.run(["git", *args, "describe", "--tags", "--always"],
                              capture_output=True, text=True)
        if done.returncode == 0:
            return f"metric-learn {done.stdout.strip()}"
    return f"the folder {pathlib.Path(source).name}"


if __name__ == "__main__":
    sys.exit(main())
