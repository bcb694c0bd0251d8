"""Threads: DDML's default settings against fixed thread counts, on an idle and a loaded machine.

    python benchmarks/bench_threads.py [--epochs 10] [--repeat 3] [--settings None 1 2]
                                       [--load-processes 1]

What a user gets without touching a thread setting, beside the best setting they could have
chosen. DDML at its defaults (MLP 64-128-64, tanh, batch 128) trains ``--epochs`` epochs on
the training split of digits (standardized, 70/30 stratified split, seed 0), under each
``n_jobs`` of ``--settings``: ``None`` is the default (one thread, unless inside a
``joblib.parallel_config`` context); a number sets torch, BLAS/OpenMP and numba to that many
threads for the fit. The row of torch's own thread count (the process's
``torch.get_num_threads()`` at start, the number of physical cores) is what every fit used
before skdml had ``n_jobs``.

Machine states, every setting measured in each:

- *idle*: nothing started by the benchmark (other processes of the machine run as they do;
  the load average is printed);
- *loaded*: ``--load-processes`` extra processes each spinning 256 x 256 NumPy matrix
  products on one BLAS thread (one busy core each), started before and stopped after the
  state's fits.

Timing: wall and CPU seconds (``time.process_time`` of this process) of ``fit``, the median
of ``--repeat`` timed fits after one untimed warm-up fit, for every setting alike. Goal
(issue 19): on the loaded machine, the default within 1.5x the wall time of the best
setting.
"""

import os
import subprocess
import sys
import time

import numpy as np
from _common import digits_split, median_time, protocol_parser, start_run, write_table

# A process that keeps one core busy until it is killed: matrix products on one BLAS thread.
SPINNER = """
import os
os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"
import numpy as np
a = np.random.default_rng(0).random((256, 256))
while True:
    a = np.tanh(a @ a)
"""


def setting(text):
    """``--settings`` values: ``None`` or a nonzero integer."""
    if text == "None":
        return None
    value = int(text)
    if value == 0:
        raise ValueError("n_jobs=0 has no meaning; use None, a positive count or -1.")
    return value


def start_load(n_processes):
    """Start the spinning processes; wait until they have started computing."""
    procs = [subprocess.Popen([sys.executable, "-c", SPINNER]) for _ in range(n_processes)]
    time.sleep(2.0)
    for p in procs:
        if p.poll() is not None:
            raise RuntimeError(f"the load process exited with code {p.returncode}")
    return procs


def stop_load(procs):
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def time_fit(make, X, y, repeat):
    """Median wall and CPU seconds of ``make().fit(X, y)``; ``median_time``'s protocol."""
    cpu = []

    def fit():
        start = time.process_time()
        make().fit(X, y)
        cpu.append(time.process_time() - start)

    wall, _ = median_time(fit, repeat=repeat)
    return wall, float(np.median(cpu[1:]))  # cpu[0]: the warm-up


def label(n_jobs, torch_default):
    if n_jobs is None:
        return "n_jobs=None (default)"
    text = f"n_jobs={n_jobs}"
    if n_jobs == torch_default:
        text += " (torch's own count)"
    return text


def main():
    parser = protocol_parser(__doc__, repeat=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--settings", nargs="+", type=setting, default=None,
                        help="n_jobs values to compare ('None' for the default); default: "
                        "None, 1, 2 and torch's own thread count")
    parser.add_argument("--load-processes", type=int, default=1,
                        help="busy processes of the loaded state (default: %(default)s)")
    args = parser.parse_args()
    if args.load_processes < 1:
        parser.error("--load-processes must be at least 1")

    import torch

    from skdml.deep import DDML

    torch_default = torch.get_num_threads()
    settings = args.settings or list(dict.fromkeys([None, 1, 2, torch_default]))
    X, _, y, _ = digits_split()
    start_run(None, args.repeat, args.warmup, extra=[
        f"data: digits, {len(X)} training samples, standardized; DDML at its defaults, "
        f"{args.epochs} epochs, random_state=0",
        f"torch's own thread count here: {torch_default}; cores: {os.cpu_count()}; loaded "
        f"state: {args.load_processes} process(es) spinning one-thread NumPy matrix products",
    ])

    def make(n_jobs):
        return lambda: DDML(max_epochs=args.epochs, random_state=0, n_jobs=n_jobs)

    rows = []
    for state in ("idle", "loaded"):
        load = start_load(args.load_processes) if state == "loaded" else []
        try:
            load_avg = os.getloadavg()[0]
            for n_jobs in settings:
                wall, cpu = time_fit(make(n_jobs), X, y, args.repeat)
                rows.append({"machine": state, "setting": label(n_jobs, torch_default),
                             "n_jobs": n_jobs, "wall s": round(wall, 2), "CPU s": round(cpu, 2),
                             "load avg": round(load_avg, 2)})
                print(f"  {state:6s} {label(n_jobs, torch_default):32s} wall {wall:7.2f} s  "
                      f"CPU {cpu:7.2f} s", flush=True)
        finally:
            stop_load(load)

    for state in ("idle", "loaded"):
        these = [r for r in rows if r["machine"] == state]
        best = min(r["wall s"] for r in these)
        for r in these:
            r["x best"] = round(r["wall s"] / best, 2)
    verdict = ""
    if None in settings:
        loaded = [r for r in rows if r["machine"] == "loaded"]
        default = next(r for r in loaded if r["n_jobs"] is None)
        verdict = (f"loaded machine: the default is {default['x best']:.2f}x the best "
                   f"setting's wall time (goal: within 1.5x): "
                   f"{'met' if default['x best'] <= 1.5 else 'NOT met'}")
    print()
    write_table("threads", rows,
                ["machine", "setting", "wall s", "CPU s", "x best", "load avg"],
                note=verdict)


if __name__ == "__main__":
    main()
