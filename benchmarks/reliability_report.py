"""Reliability report: legal and malformed fuzzing of every public entry point, and the
numerical edge cases of the Mahalanobis learners.

Run from the repository root::

    .venv/bin/python benchmarks/reliability_report.py [--cases 40] [--seed 0] [--write-docs]

Entry points: every public estimator (discovered from skdml's public names, as the tests do)
and every public function of ``skdml.kernels``, ``metrics``, ``constraints``, ``datasets``,
``plotting``, ``hashing`` and ``io`` (discovered from their ``__all__``; one entry per
``metric=`` of the kernels). For each it draws ``--cases`` legal cases and ``--cases``
malformed ones with the strategies of ``tests/test_reliability.py`` and
``tests/test_fuzz_functions.py`` -- the same functions the test suite runs with fewer cases,
so the report and the suite cannot disagree -- and counts:

- *legal drawn / reached*: legal cases drawn, and those that reached the computation and
  returned a correct result (a fitted estimator and a finite output; a function's result
  checked against its brute-force twin or its invariants). Any other legal case is a bug.
- *malformed drawn / refused*: malformed cases drawn (one argument broken each), and those
  refused with a ValueError / TypeError whose message names the problem. Any other outcome
  (an accepted input, another exception, a message naming something else, a fitted state
  changed by the failed call) is a bug.
- *edge cases*: the Mahalanobis learners on duplicate rows, constant and collinear features,
  scales of 1e6 and 1e-6 and d = 500 > n = 60.

It prints both tables and every bug found, and exits with status 1 when there is one. With
``--write-docs`` it also writes them to ``docs/bench_tables/reliability_*.csv``, each with a
``.rst`` line of the run's date, machine and load average, which ``docs/reliability.rst``
includes.
"""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

ESTIMATOR_COLUMNS = ["estimator", "input kind", "legal drawn", "legal reached",
                     "malformed drawn", "malformed refused", "bugs", "edge cases passed"]
FUNCTION_COLUMNS = ["function", "legal drawn", "legal reached", "malformed drawn",
                    "malformed refused", "bugs"]


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40,
                        help="legal and malformed cases per entry point (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-docs", action="store_true",
                        help="also write the tables to docs/bench_tables/ for the docs page")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error(f"--cases must be a positive integer, got {args.cases}")
    if args.write_docs:  # read by benchmarks/_common.write_table
        os.environ["SKDML_BENCH_WRITE_DOCS"] = "1"

    from _common import start_run, thread_settings

    start_run(threads=None, repeat=None, extra=[
        "threads: 1 (BLAS/OpenMP through threadpoolctl, torch and numba)",
        f"cases: {args.cases} legal and {args.cases} malformed per entry point, seed {args.seed}",
    ])
    # One thread, as in the test suite: small problems on a shared machine are faster so.
    with thread_settings(1):
        bugs = run(args.cases, args.seed)
    return 1 if bugs else 0


def _progress(name):
    print(f"  {name}: done", file=sys.stderr, flush=True)


def run(n_cases, seed):
    """Fuzz every entry point; print and (under --write-docs) write the tables; return the
    list of bugs found."""
    from _common import write_table

    from tests.test_fuzz_functions import ENTRIES, fuzz_function
    from tests.test_reliability import (
        EDGE_CASES,
        ESTIMATORS,
        MAHALANOBIS,
        estimator_kind,
        fuzz_estimator,
        run_edge_case,
    )

    start = time.perf_counter()
    bugs, estimator_rows = [], []
    for cls in ESTIMATORS:
        tally = fuzz_estimator(cls, n_cases, seed)
        bugs += tally.bugs
        edge = "n/a"
        if cls in MAHALANOBIS:
            failed = [(kind, run_edge_case(cls, kind)) for kind in EDGE_CASES]
            failed = [(kind, bug) for kind, bug in failed if bug is not None]
            bugs += [f"{cls.__name__} edge case {kind}: {bug}" for kind, bug in failed]
            edge = f"{len(EDGE_CASES) - len(failed)}/{len(EDGE_CASES)}"
        estimator_rows.append(_row(ESTIMATOR_COLUMNS, tally, estimator_kind(cls), edge))
        _progress(cls.__name__)

    function_rows = []
    for name in sorted(ENTRIES):
        tally = fuzz_function(ENTRIES[name], n_cases, seed)
        bugs += tally.bugs
        function_rows.append(_row(FUNCTION_COLUMNS, tally))
        _progress(name)

    elapsed = time.perf_counter() - start
    print()
    write_table("reliability_estimators", estimator_rows, ESTIMATOR_COLUMNS)
    write_table("reliability_functions", function_rows, FUNCTION_COLUMNS)
    legal = sum(r["legal drawn"] for r in estimator_rows + function_rows)
    reached = sum(r["legal reached"] for r in estimator_rows + function_rows)
    malformed = sum(r["malformed drawn"] for r in estimator_rows + function_rows)
    refused = sum(r["malformed refused"] for r in estimator_rows + function_rows)
    print(f"{len(estimator_rows)} estimators and {len(function_rows)} function entries: "
          f"{reached}/{legal} legal cases reached the computation, {refused}/{malformed} "
          f"malformed cases refused clearly, {len(MAHALANOBIS) * len(EDGE_CASES)} edge cases; "
          f"{elapsed:.0f} s; bugs found: {len(bugs)}")
    for bug in bugs:
        print(" -", bug)
    return bugs


def _row(columns, tally, *extra):
    name, legal, reached, malformed, refused, n_bugs = tally.row()
    values = [name, *extra[:1], legal, reached, malformed, refused, n_bugs, *extra[1:]]
    return dict(zip(columns, values))


if __name__ == "__main__":
    sys.exit(main())
