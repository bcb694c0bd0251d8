"""Dask arrays in, dask arrays out: the one dispatch point of every learner's row-wise methods.

A fitted learner's ``transform`` (``transform_packed``, ``predict``, ``predict_proba``,
``decision_function``, ``score_samples``) given a ``dask.array.Array`` returns a lazy dask
array, computed chunk by chunk on the workers with the fitted learner shipped once
(:func:`skdml.distributed._transform.map_rows`): the semantics of dask-ml's
``ParallelPostFit``. Anything else goes to the method itself.

``import skdml`` stays light: dask is imported only when the input's type comes from a dask
module (:func:`is_dask_array` looks at the type's module name first).
"""

import functools
import inspect

__all__ = ["ROW_METHODS", "dask_aware", "dask_aware_methods", "is_dask_array"]

#: The methods that map rows to rows, dispatched on a dask array.
ROW_METHODS = ("transform", "transform_packed", "predict", "predict_proba",
               "decision_function", "score_samples")


def is_dask_array(X):
    """Whether ``X`` is a ``dask.array.Array``, without importing dask for anything else."""
    if not type(X).__module__.startswith("dask"):
        return False
    import dask.array as da

    return isinstance(X, da.Array)


def dask_aware(method):
    """Decorate a row-wise method: a dask array goes through ``map_rows``, chunk by chunk.

    Each chunk calls the estimator's own public method (``getattr(self, name)``, whatever
    overrides it), so the decorator may sit anywhere in a chain of ``super()`` calls.
    """
    if getattr(method, "_dask_aware", False):
        return method
    name = method.__name__
    first = list(inspect.signature(method).parameters)[1]  # X, pairs, tuples, ...

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        X = args[0] if args else kwargs.get(first)
        if is_dask_array(X):
            from .distributed._transform import map_rows

            rest = dict(kwargs)
            rest.pop(first, None)
            return map_rows(self, X, name, args[1:], rest)
        return method(self, *args, **kwargs)

    wrapper._dask_aware = True
    return wrapper


def dask_aware_methods(cls):
    """Make the row-wise methods ``cls`` defines itself dask-aware (a class decorator).

    Applied after scikit-learn's ``set_output`` wrapping, so a dask array never meets
    set_output's container (which applies to in-memory output).
    """
    for name in ROW_METHODS:
        fn = cls.__dict__.get(name)
        if inspect.isfunction(fn):
            setattr(cls, name, dask_aware(fn))
    return cls
