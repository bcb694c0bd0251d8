"""The L-BFGS-B driver and the progress line shared by the gradient-based linear learners."""

import sys
import time
import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning

__all__ = ["minimize_lbfgs", "print_progress"]


def print_progress(name, n_iter, objective, start, **extra):
    """One verbose line: ``[name] iteration k  objective f  [key value ...]  time t``.

    ``start`` is a ``time.perf_counter()`` reading taken when the optimization began;
    ``extra`` adds named figures (printed as ``%.3e``) before the time.
    """
    figures = "".join(f"{key} {value:.3e}  " for key, value in extra.items())
    print(
        f"[{name}] iteration {n_iter:4d}  objective {objective:.6e}  {figures}"
        f"time {time.perf_counter() - start:.2f}s",
        file=sys.stdout,
    )


def minimize_lbfgs(loss, L0, *, max_iter, tol, name, verbose=0, callback=None,
                   require_finite=True):
    """Minimize ``loss(L) -> (value, gradient)`` over the matrix ``L`` by L-BFGS-B.

    Parameters
    ----------
    loss : callable
        ``loss(L)`` returns the objective and its gradient, an array shaped like ``L``.
    L0 : ndarray
        The starting point.
    max_iter, tol : int, float
        L-BFGS-B's ``maxiter`` and ``gtol``.
    name : str
        The learner's name, for progress lines, warnings and errors.
    verbose : int, default=0
        Print a progress line (:func:`print_progress`) after every iteration when true.
    callback : callable or None, default=None
        As in scikit-learn's NCA: called after every iteration as ``callback(L, n_iter)``
        with the current iterate (a copy, shaped like ``L0``) and the iteration count.
    require_finite : bool, default=True
        Raise ``FloatingPointError`` when the objective is not finite. A loss that returns
        ``inf`` on purpose, to make the line search step back, passes ``False``.

    Returns
    -------
    L : ndarray, the minimizer found; n_iter : int, L-BFGS-B's iteration count;
    value : float, the objective at ``L``. Warns with a ``ConvergenceWarning`` when it stopped
    at ``max_iter``.
    """
    shape = L0.shape
    state = {"value": np.nan, "n_iter": 0, "start": time.perf_counter()}

    def fun(flat):
        value, grad = loss(flat.reshape(shape))
        if require_finite and not np.isfinite(value):
            raise FloatingPointError(f"{name}: the objective became {value}.")
        state["value"] = value
        return value, grad.ravel()

    def after_iteration(flat):
        state["n_iter"] += 1
        if verbose:
            print_progress(name, state["n_iter"], state["value"], state["start"])
        if callback is not None:
            callback(flat.reshape(shape).copy(), state["n_iter"])

    result = minimize(
        fun, L0.ravel(), jac=True, method="L-BFGS-B", callback=after_iteration,
        options={"maxiter": max_iter, "gtol": tol},
    )
    n_iter = int(result.nit)
    if n_iter >= max_iter:
        warnings.warn(
            f"{name} did not converge within max_iter={max_iter} iterations "
            f"(objective {result.fun:.6g}); increase max_iter or tol.",
            ConvergenceWarning,
        )
    return result.x.reshape(shape).copy(), n_iter, float(result.fun)
