"""One ``n_jobs`` for every thread pool a learner computes with.

A learner's ``fit`` and ``transform`` may run BLAS (NumPy, SciPy), OpenMP, numba and torch
code, each with a thread pool of its own sized to the whole machine. Left alone they
oversubscribe: two pools of ``n_cores`` spinning threads, or one beside another process's,
make a small fit 10-30x slower on a busy machine (measured: DDML, 10 epochs on digits, 2
loaded cores). :func:`limit_threads` sets all of them to scikit-learn's ``n_jobs`` for the
length of a call and restores them afterwards, whatever the call does: no global side
effect. :func:`uses_threads` applies it to a method, reading the estimator's ``n_jobs``;
``skdml.base.fit_context`` applies it to every ``fit``.

``n_jobs`` has scikit-learn's meaning (:func:`joblib.effective_n_jobs`): ``None`` is one
thread unless inside a ``joblib.parallel_config(n_jobs=...)`` context, ``-1`` is every
core, ``-2`` every core but one, and so on.

torch and numba are touched only when already imported (``import skdml`` imports neither).
Calls in several threads of one process at once (joblib's threading backend) restore the
settings as they found them when the last one ends; meanwhile torch's count, which is one
for the process, is that of the newest call, and OpenBLAS's that of the first thread that
set it (threadpoolctl's rule); OpenMP's and numba's counts are per thread.
"""

import contextlib
import functools
import sys
import threading
from numbers import Integral

import numpy as np
from joblib import effective_n_jobs
from threadpoolctl import ThreadpoolController

__all__ = ["effective_threads", "limit_threads", "uses_threads"]

# The number of threads the calls running on this thread are limited to (None outside).
_current = threading.local()

# threadpoolctl finds the BLAS and OpenMP libraries by scanning the process's shared
# libraries, which costs milliseconds: a transform called once per pair (a callable metric)
# would pay that many times over. A fit scans afresh; other calls reuse the last scan until
# a module is imported, the usual way a new library gets loaded (one loaded otherwise, as
# numba's OpenMP layer on its first parallel call, is found by the next fit).
_controller = {"modules": -1, "controller": None}


def _blas_openmp(rescan):
    if rescan or _controller["modules"] != len(sys.modules):
        _controller["controller"] = ThreadpoolController()
        _controller["modules"] = len(sys.modules)
    return _controller["controller"]


def effective_threads(n_jobs):
    """The number of threads ``n_jobs`` means (scikit-learn's convention).

    Raises
    ------
    ValueError
        For ``n_jobs`` other than None or a nonzero integer.
    """
    if n_jobs is not None and (
        not isinstance(n_jobs, Integral) or isinstance(n_jobs, (bool, np.bool_)) or n_jobs == 0
    ):
        raise ValueError(
            "n_jobs must be None (one thread, unless inside joblib.parallel_config(n_jobs=...)), "
            f"a positive number of threads or -1 for every core (-2 all but one, ...); got "
            f"{n_jobs!r}."
        )
    return int(effective_n_jobs(n_jobs))


# torch's thread count is one for the process. The calls running (in any thread) under a
# torch limit, oldest first, and the count before the first of them: the last to leave
# restores it, any other hands the count on to the newest call still running.
_torch_calls = []
_torch_before = {}
_torch_lock = threading.Lock()


@contextlib.contextmanager
def _torch_call(torch, n):
    call = (object(), n)
    with _torch_lock:
        if not _torch_calls:
            _torch_before["n"] = torch.get_num_threads()
        _torch_calls.append(call)
    try:
        yield
    finally:
        with _torch_lock:
            _torch_calls.remove(call)
            torch.set_num_threads(_torch_calls[-1][1] if _torch_calls else _torch_before["n"])


@contextlib.contextmanager
def limit_threads(n_jobs, *, rescan=False):
    """Run the enclosed code with ``effective_threads(n_jobs)`` BLAS/OpenMP, numba and torch
    threads; restore the previous settings on exit, also when it raises.

    Yields the number of threads. Nested under the same number (a ``fit`` calling
    ``transform``), it changes nothing. numba's threads are capped at its
    ``NUMBA_NUM_THREADS``. ``rescan=True`` looks for the process's BLAS and OpenMP libraries
    anew (a few milliseconds) rather than reusing the last scan.
    """
    n = effective_threads(n_jobs)
    outer = getattr(_current, "n", None)
    if outer == n:
        yield n
        return
    numba = sys.modules.get("numba")
    torch = sys.modules.get("torch")
    with contextlib.ExitStack() as restore:
        # threadpoolctl restores BLAS and OpenMP, and lets one thread at a time set OpenBLAS
        restore.enter_context(_blas_openmp(rescan).limit(limits=n))
        # torch's count is saved first and set last: starting numba's OpenMP layer (its
        # first get_num_threads) resets torch's OpenMP threads to the core count
        if torch is not None:
            restore.enter_context(_torch_call(torch, n))
        if numba is not None:  # numba's count is per thread
            restore.callback(numba.set_num_threads, numba.get_num_threads())
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        if torch is not None:
            torch.set_num_threads(n)
        restore.callback(setattr, _current, "n", outer)
        _current.n = n
        yield n


def uses_threads(method=None, *, rescan=False):
    """Decorate an estimator's method: run it under :func:`limit_threads` of the estimator's
    ``n_jobs`` (``None`` when it has none: one thread); ``rescan`` as there (fits)."""
    if method is None:
        return functools.partial(uses_threads, rescan=rescan)

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with limit_threads(getattr(self, "n_jobs", None), rescan=rescan):
            return method(self, *args, **kwargs)

    return wrapper
