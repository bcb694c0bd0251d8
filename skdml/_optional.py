"""Optional dependencies: which extra of ``pip install skdml[...]`` brings each one.

The classical learners need NumPy, SciPy, scikit-learn and numba only. Everything else is an
extra (see pyproject.toml), imported where it is first needed; when it is missing, the user
is told which extra to install instead of a bare ``No module named 'torch'``.
"""

import contextlib
import importlib.util

#: top-level module -> the extra of ``pip install skdml[...]`` that installs it
EXTRA_OF = {
    "torch": "deep",
    "skorch": "deep",
    "cvxpy": "cvx",
    "matplotlib": "plot",
    "dask": "distributed",
    "distributed": "distributed",
    "skops": "io",
    "safetensors": "io",
}


def is_installed(*modules):
    """True when every named top-level module can be imported (none is imported here)."""
    return all(importlib.util.find_spec(module) is not None for module in modules)


@contextlib.contextmanager
def optional_dependency(what):
    """Turn a missing optional dependency, imported inside the block, into an error naming
    the extra that installs it.

    Parameters
    ----------
    what : str
        What needs it, for the message, e.g. ``"ITML(solver='cvxpy')"``.

    Raises
    ------
    ModuleNotFoundError
        "<what> needs <module>, which is not installed: pip install 'skdml[<extra>]'", with
        the original error chained; any other import error passes through unchanged.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if top not in EXTRA_OF:
            raise
        extra = EXTRA_OF[top]
        raise ModuleNotFoundError(
            f"{what} needs {top}, which is not installed: pip install 'skdml[{extra}]' "
            f"(or pip install -e '.[{extra}]' from a clone).",
            name=exc.name,
        ) from exc
