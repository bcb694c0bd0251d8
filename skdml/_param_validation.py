"""Constraints on estimator parameters, checked when ``fit`` starts.

Each estimator declares ``_parameter_constraints``: a dict from a parameter's name to a
list of constraints, any one of which the value must satisfy. A constraint is

- a type (``int``, ``list``, ``torch.device``, ...): ``isinstance``;
- ``None``: the value is None; ``callable``: the value is callable;
- :class:`Interval` (a number in a range), :class:`StrOptions` (one of some strings),
  :class:`Options` (one of some values of a type), :class:`Hidden` (accepted but not
  mentioned in error messages);
- one of the strings ``"random_state"``, ``"boolean"``, ``"verbose"``, ``"array-like"``,
  ``"sparse matrix"``; or the whole list replaced by ``"no_validation"``.

The declarations follow scikit-learn's convention, so they read the same as its estimators';
this module is skdml's own checker, built on public APIs only (scikit-learn's validator is
private and may change without notice). A value that satisfies none of its constraints is an
:class:`InvalidParameterError`, a ``ValueError`` (and ``TypeError``) naming the parameter,
the estimator, what was expected and what came.
"""

import functools
import math
import numbers

import numpy as np
from scipy import sparse
from sklearn import config_context, get_config

__all__ = [
    "Hidden",
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "validate_parameter_constraints",
    "validating_fit",
]


class InvalidParameterError(ValueError, TypeError):
    """A parameter's value satisfies none of its constraints."""


def _is_number(value, kind):
    # bools are integers to Python, never numbers to a user
    return isinstance(value, kind) and not isinstance(value, (bool, np.bool_))


class Interval:
    """A number of ``type`` (``numbers.Integral`` or ``numbers.Real``) in a range.

    Parameters
    ----------
    type : {numbers.Integral, numbers.Real}
    left, right : number or None
        The bounds; None is unbounded.
    closed : {'left', 'right', 'both', 'neither'}
        Which bounds belong to the range.
    """

    def __init__(self, type, left, right, *, closed):
        if type not in (numbers.Integral, numbers.Real):
            raise ValueError(f"Interval: type must be numbers.Integral or numbers.Real, got "
                             f"{type!r}.")
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"Interval: closed must be 'left', 'right', 'both' or "
                             f"'neither', got {closed!r}.")
        if left is not None and right is not None and left > right:
            raise ValueError(f"Interval: left={left!r} is greater than right={right!r}.")
        self.type = type
        self.left = left
        self.right = right
        self.closed = closed
        self.hidden = False

    def is_satisfied_by(self, value):
        if not _is_number(value, self.type):
            return False
        if isinstance(value, numbers.Real) and math.isnan(value):
            return False
        if self.left is not None:
            closed = self.closed in ("left", "both")
            if value < self.left or (value == self.left and not closed):
                return False
        if self.right is not None:
            closed = self.closed in ("right", "both")
            if value > self.right or (value == self.right and not closed):
                return False
        return True

    def __str__(self):
        kind = "an int" if self.type is numbers.Integral else "a float"
        left = "-inf" if self.left is None else self.left
        right = "inf" if self.right is None else self.right
        lb = "[" if self.closed in ("left", "both") and self.left is not None else "("
        rb = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        return f"{kind} in the range {lb}{left}, {right}{rb}"


class Options:
    """One of ``options``, which are values of ``type``.

    Parameters
    ----------
    type : type
    options : set
    deprecated : set, default=frozenset()
        Accepted options shown as deprecated in messages.
    """

    def __init__(self, type, options, *, deprecated=frozenset()):
        self.type = type
        self.options = set(options)
        self.deprecated = set(deprecated)
        self.hidden = False

    def is_satisfied_by(self, value):
        return isinstance(value, self.type) and value in self.options

    def _kind(self):
        return f"a {self.type.__name__}"

    def __str__(self):
        shown = ", ".join(
            f"{o!r} (deprecated)" if o in self.deprecated else repr(o)
            for o in sorted(self.options, key=repr)
        )
        return f"{self._kind()} among {{{shown}}}"


class StrOptions(Options):
    """One of the strings ``options``."""

    def __init__(self, options, *, deprecated=frozenset()):
        super().__init__(str, options, deprecated=deprecated)

    def _kind(self):
        return "a str"


class Hidden:
    """``constraint``, accepted but left out of error messages (internal options)."""

    def __init__(self, constraint):
        self.constraint = _as_constraint(constraint)
        self.hidden = True

    def is_satisfied_by(self, value):
        return self.constraint.is_satisfied_by(value)

    def __str__(self):
        return str(self.constraint)


class _Predicate:
    def __init__(self, test, description):
        self.test = test
        self.description = description
        self.hidden = False

    def is_satisfied_by(self, value):
        return self.test(value)

    def __str__(self):
        return self.description


def _is_array_like(value):
    return (hasattr(value, "__len__") or hasattr(value, "shape")
            or hasattr(value, "__array__")) and not np.isscalar(value)


_NAMED = {
    "random_state": _Predicate(
        lambda v: v is None or isinstance(v, np.random.RandomState)
        or (_is_number(v, numbers.Integral) and 0 <= v <= 2**32 - 1),
        "an int in the range [0, 4294967295], an instance of 'numpy.random.RandomState' "
        "or None",
    ),
    "boolean": _Predicate(lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
    "verbose": _Predicate(
        lambda v: isinstance(v, (bool, np.bool_))
        or (_is_number(v, numbers.Integral) and v >= 0),
        "an int in the range [0, inf) or a bool",
    ),
    "array-like": _Predicate(_is_array_like, "an array-like"),
    "sparse matrix": _Predicate(sparse.issparse, "a sparse matrix"),
}


def _as_constraint(constraint):
    if isinstance(constraint, (Interval, Options, Hidden, _Predicate)):
        return constraint
    if constraint is None:
        return _Predicate(lambda v: v is None, "None")
    if constraint is callable:
        return _Predicate(callable, "a callable")
    if isinstance(constraint, str) and constraint in _NAMED:
        return _NAMED[constraint]
    if isinstance(constraint, type):
        return _Predicate(lambda v: isinstance(v, constraint),
                          f"an instance of {constraint.__qualname__!r}")
    raise ValueError(f"Unknown parameter constraint {constraint!r}.")


def validate_parameter_constraints(constraints, params, caller_name):
    """Check each of ``params`` that has an entry in ``constraints``.

    Parameters
    ----------
    constraints : dict
        Parameter name -> list of constraints, or ``"no_validation"``.
    params : dict
        Parameter name -> value; names without constraints are not checked.
    caller_name : str
        The estimator's or function's name, for the message.

    Raises
    ------
    InvalidParameterError
        For the first value that satisfies none of its constraints.
    """
    for name, value in params.items():
        allowed = constraints.get(name)
        if allowed is None or allowed == "no_validation":
            continue
        allowed = [_as_constraint(c) for c in allowed]
        if any(c.is_satisfied_by(value) for c in allowed):
            continue
        shown = [str(c) for c in allowed if not c.hidden]
        expected = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
        raise InvalidParameterError(
            f"The {name!r} parameter of {caller_name} must be {expected}. Got {value!r} "
            "instead."
        )


def validating_fit(fit):
    """Decorate ``fit``: check ``self``'s parameters against ``_parameter_constraints``
    first, and skip the checks of estimators nested inside this fit.

    ``sklearn.config_context(skip_parameter_validation=True)`` turns the check off.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        if not get_config()["skip_parameter_validation"]:
            validate_parameter_constraints(
                getattr(self, "_parameter_constraints", {}),
                self.get_params(deep=False),
                caller_name=type(self).__name__,
            )
        with config_context(skip_parameter_validation=True):
            return fit(self, *args, **kwargs)

    return wrapper
