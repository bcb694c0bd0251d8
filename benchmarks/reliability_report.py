"""Reliability report: fuzzed inputs and numerical edge cases over every public estimator.

Run from the repository root::

    .venv/bin/python benchmarks/reliability_report.py [--cases 40] [--seed 0]

For each estimator (discovered from skdml's public names, as the tests do) it runs ``--cases``
fuzz cases drawn from the space of ``tests/test_reliability.py`` (shapes with 0, 1 rows, one
feature, d > n; dtypes int, float32, float64, bool, object, strings; NaN / inf; one-class,
continuous and string labels; calls to fit, to fit on a fitted estimator, and to transform),
and, for the Mahalanobis learners, the six numerical edge cases. It prints, per estimator, the
cases tried, the outcomes by kind (a finite result, or the error raised), the bugs (a crash of
another kind, an error message naming nothing, a silent NaN, a fitted state changed by a failed
call) and the edge cases passed, then every bug found. The same functions back the tests, so
the table and the test suite cannot disagree.
"""

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40, help="fuzz cases per estimator")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    # One thread, as in the test suite: small problems on a shared machine are faster so.
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        run(args.cases, args.seed)


def run(n_cases, seed):
    from tests.test_reliability import (
        EDGE_CASES,
        ESTIMATORS,
        MAHALANOBIS,
        random_fuzz_case,
        run_edge_case,
        run_fuzz_case,
    )

    header = ["estimator", "fuzz cases", "ok", "ValueError", "TypeError", "other", "bugs",
              "edge cases passed"]
    rows, bugs = [], []
    start = time.perf_counter()
    for cls in ESTIMATORS:
        rng = np.random.default_rng(seed)
        outcomes = collections.Counter()
        n_bugs = 0
        for _ in range(n_cases):
            case = random_fuzz_case(rng)
            outcome, bug = run_fuzz_case(cls, case)
            outcomes[outcome] += 1
            if bug is not None:
                n_bugs += 1
                bugs.append(f"{cls.__name__} fuzz {case}: {outcome}: {bug}")
        other = sum(v for k, v in outcomes.items() if k not in ("ok", "ValueError", "TypeError"))
        if cls in MAHALANOBIS:
            passed = 0
            for kind in EDGE_CASES:
                bug = run_edge_case(cls, kind)
                if bug is None:
                    passed += 1
                else:
                    bugs.append(f"{cls.__name__} edge case {kind}: {bug}")
            edge = f"{passed}/{len(EDGE_CASES)}"
        else:
            edge = "n/a"
        rows.append([cls.__name__, n_cases, outcomes["ok"], outcomes["ValueError"],
                     outcomes["TypeError"], other, n_bugs, edge])
        print(f"  {cls.__name__}: done", file=sys.stderr, flush=True)

    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = "  ".join("=" * w for w in widths)
    print(line)
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    print(line)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    print(line)
    total = sum(r[1] for r in rows)
    print(f"\n{len(rows)} estimators, {total} fuzz cases, "
          f"{len(MAHALANOBIS) * len(EDGE_CASES)} edge cases, "
          f"{time.perf_counter() - start:.0f} s; bugs found: {len(bugs)}")
    for b in bugs:
        print(" -", b)


if __name__ == "__main__":
    main()
