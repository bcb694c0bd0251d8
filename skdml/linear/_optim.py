"""The L-BFGS-B driver and the progress line shared by the gradient-based linear learners."""

import numbers
import sys
import time
import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning

__all__ = ["Adam", "check_batch_size", "minimize_lbfgs", "minimize_minibatch", "print_progress"]

#: ``batch_size='auto'`` of the minibatch solvers: this many samples (or all of them).
AUTO_BATCH_SIZE = 1000


def print_progress(name, n_iter, objective, start, **extra):
    """One verbose line: ``[name] iteration k  objective f  [key value ...]  time t``.

    ``start`` is a ``time.perf_counter()`` reading taken when the optimization began;
    ``extra`` adds named figures (counts as integers, the rest as ``%.3e``) before the time.
    """
    figures = "".join(
        f"{key} {value}  " if isinstance(value, numbers.Integral) else f"{key} {value:.3e}  "
        for key, value in extra.items()
    )
    print(
        f"[{name}] iteration {n_iter:4d}  objective {objective:.6e}  {figures}"
        f"time {time.perf_counter() - start:.2f}s",
        file=sys.stdout,
    )


def minimize_lbfgs(loss, L0, *, max_iter, tol, name, verbose=0, callback=None,
                   require_finite=True, failure_hint=None):
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
    failure_hint : str or None, default=None
        Also warn when L-BFGS-B stopped before ``max_iter`` without converging (a line
        search that found no decrease, for instance), with this advice at the end of the
        message; ``None``: no such warning.

    Returns
    -------
    L : ndarray, the minimizer found; n_iter : int, L-BFGS-B's iteration count;
    value : float, the objective at ``L``. Warns with a ``ConvergenceWarning`` when it stopped
    at ``max_iter`` (or, with ``failure_hint``, short of converging).
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
    elif failure_hint is not None and not result.success:
        warnings.warn(
            f"{name} stopped after {n_iter} iterations without converging ({result.message}); "
            f"the last iterate is returned. {failure_hint}",
            ConvergenceWarning,
        )
    return result.x.reshape(shape).copy(), n_iter, float(result.fun)


def check_batch_size(name, solver, batch_size, n_samples):
    """The minibatch size of ``solver='sgd'`` (``None`` for a full-batch solver), checked
    against the data: ``'auto'`` is ``min(AUTO_BATCH_SIZE, n_samples)``; a size above
    ``n_samples``, or a size given to a full-batch solver, is a ``ValueError``."""
    if solver != "sgd":
        if batch_size != "auto":
            raise ValueError(
                f"{name}: batch_size={batch_size!r} applies to solver='sgd' only; the "
                f"full-batch solver={solver!r} uses all samples at each iteration. "
                "Use solver='sgd' for minibatches, or leave batch_size='auto'."
            )
        return None
    if batch_size == "auto":
        return min(AUTO_BATCH_SIZE, n_samples)
    if batch_size > n_samples:
        raise ValueError(
            f"{name}: batch_size={batch_size} is larger than the number of samples, "
            f"{n_samples}; use batch_size <= {n_samples} (or 'auto')."
        )
    return batch_size


class Adam:
    """Adam (Kingma & Ba, ICLR 2015) on one array, with a learning rate the caller may lower."""

    def __init__(self, shape, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = learning_rate, beta1, beta2, eps
        self.m, self.v, self.t = np.zeros(shape), np.zeros(shape), 0

    def step(self, x, grad):
        """The next iterate from ``x`` and the gradient there."""
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad * grad
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        return x - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def minimize_minibatch(loss, L0, n_samples, *, batch_size, max_iter, tol, learning_rate,
                       random_state, name, verbose=0, callback=None, patience=3):
    """Minimize the mean over minibatches of ``loss(L, rows) -> (value, gradient)`` by Adam.

    An epoch visits every sample once, in a fresh random order cut into batches of
    ``batch_size`` rows (the last batch may be smaller). An epoch whose mean value is not
    below the best epoch's by ``tol`` (relative) halves the learning rate; ``patience`` such
    epochs in a row end the run as converged. ``callback(L, n_iter)`` is called after every
    epoch with a copy of the iterate; ``verbose`` prints a :func:`print_progress` line.

    Returns ``(L, n_iter, value, converged)``; warns with a ``ConvergenceWarning`` when it
    stopped at ``max_iter`` epochs.
    """
    rng = np.random.default_rng(random_state)
    adam = Adam(L0.shape, learning_rate)
    L, best, worse, start = L0.copy(), np.inf, 0, time.perf_counter()
    value, n_iter, converged = np.nan, 0, False
    for n_iter in range(1, max_iter + 1):
        order = rng.permutation(n_samples)
        total = 0.0
        for lo in range(0, n_samples, batch_size):
            rows = order[lo:lo + batch_size]
            batch_value, grad = loss(L, rows)
            if not np.isfinite(batch_value):
                raise FloatingPointError(f"{name}: the objective became {batch_value}.")
            L = adam.step(L, grad)
            total += batch_value * len(rows)
        value = total / n_samples
        if verbose:
            print_progress(name, n_iter, value, start, learning_rate=adam.lr)
        if callback is not None:
            callback(L.copy(), n_iter)
        if value < best - tol * abs(best if np.isfinite(best) else value):
            best, worse = value, 0
            continue
        worse += 1
        adam.lr *= 0.5
        if worse >= patience:
            converged = True
            break
    if not converged:
        warnings.warn(
            f"{name} did not converge within max_iter={max_iter} epochs (objective "
            f"{value:.6g}, still improving by more than tol={tol}); increase max_iter or tol.",
            ConvergenceWarning,
        )
    return L, n_iter, float(value), converged
