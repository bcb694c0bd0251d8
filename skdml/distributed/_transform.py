"""Row-wise methods (``transform``, ``predict``, ...) of a dask array, chunk by chunk, the
fitted estimator shipped once.

:func:`map_rows` is what every skdml learner's ``transform`` (and ``predict``,
``decision_function``, ...) does with a dask array (see :mod:`skdml._dask`);
:func:`dask_transform` is the same as a function, for any scikit-learn estimator.
"""

import numpy as np

import dask
import dask.array as da
from sklearn.utils.validation import check_is_fitted

from ._merge import _numba_threads, check_n_threads

__all__ = ["dask_transform", "map_rows"]

_METHODS = ("transform", "transform_packed", "predict", "decision_function", "predict_proba",
            "score_samples")


def _apply_block(block, estimator, method, extra, n_threads):
    args, kwargs = extra if extra is not None else ((), {})
    with _numba_threads(n_threads):
        return np.asarray(getattr(estimator, method)(block, *args, **kwargs))


def map_rows(estimator, X, method, args=(), kwargs=None, n_threads=None):
    """``estimator.<method>(X, *args, **kwargs)`` of a dask array, lazily, chunk by chunk.

    ``X`` is split by rows only (other axes are gathered into one chunk); each row chunk is
    mapped where it lives, by the estimator's own method. The estimator (and any extra
    argument) is one key of the graph (``dask.delayed``): it travels once to each worker that
    maps a chunk, not once per chunk. The output's shape past the rows and its dtype come from
    the method applied to one row of zeros on the client, which also runs the estimator's
    own checks (fitted, width, dtype) before anything is scheduled.

    Parameters
    ----------
    estimator : fitted estimator
    X : dask.array.Array of shape (n_samples, ...)
        Row chunks of unknown size are fine (the result has the same ones).
    method : str
    args, kwargs
        More arguments of the method (``preprocessor=`` of a pair classifier, ...).
    n_threads : int or None, default=None
        numba threads per chunk task; ``None`` leaves them to the estimator's ``n_jobs``.

    Returns
    -------
    result : dask.array.Array with the row chunks of ``X``
    """
    kwargs = {} if kwargs is None else dict(kwargs)
    if X.ndim == 0:
        raise ValueError("X must be a dask array with a first axis of samples, got a 0-d one.")
    if any(np.isnan(s) for s in X.shape[1:]):
        raise ValueError(
            f"X has unknown sizes past its first axis (shape {X.shape}); call "
            "X.compute_chunk_sizes() first."
        )
    probe = np.asarray(getattr(estimator, method)(np.zeros((1, *X.shape[1:]), X.dtype),
                                                  *args, **kwargs))
    if probe.ndim == 0 or probe.shape[0] != 1:
        raise ValueError(
            f"{type(estimator).__name__}.{method} does not map rows to rows (one row gave "
            f"shape {probe.shape}), so it cannot be mapped over a dask array chunk by chunk."
        )
    if X.ndim > 1 and any(n != 1 for n in X.numblocks[1:]):
        X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    est = dask.delayed(estimator, pure=True)  # one key in the graph: shipped once per worker
    extra = dask.delayed((tuple(args), kwargs), pure=True) if args or kwargs else None
    chunks = (X.chunks[0], *((s,) for s in probe.shape[1:]))
    meta = np.empty((0,) * probe.ndim, probe.dtype)
    if X.ndim == probe.ndim:
        return X.map_blocks(_apply_block, est, method, extra, n_threads, dtype=probe.dtype,
                            chunks=chunks, meta=meta)
    return X.map_blocks(_apply_block, est, method, extra, n_threads, dtype=probe.dtype,
                        chunks=chunks, drop_axis=list(range(1, X.ndim)),
                        new_axis=list(range(1, probe.ndim)) or None, meta=meta)


def dask_transform(estimator, X, *, method="transform", n_threads=1):
    """Map a dask array through a fitted estimator's ``transform``, chunk by chunk.

    skdml's learners do this themselves (``learner.transform(X_dask)`` is a lazy dask
    array); this function does it for any fitted scikit-learn estimator, a ``Pipeline``
    included. The estimator becomes one key of the graph (``dask.delayed``): it is sent once
    to each worker that transforms a chunk, not once per chunk, and every chunk is
    transformed where it lives. The result is a lazy dask array with the same row chunks.

    Parameters
    ----------
    estimator : fitted estimator
        Any skdml learner (or scikit-learn transformer) with ``n_features_in_``; deep learners
        embed in eval mode as their ``transform`` does.
    X : dask.array.Array of shape (n_samples, n_features)
        Row chunks of unknown size are fine (the result has the same ones).
    method : {'transform', 'transform_packed', 'predict', 'decision_function', \
'predict_proba', 'score_samples'}, default='transform'
        The row-wise method applied to each chunk.
    n_threads : int or None, default=1
        numba threads per chunk task (see :func:`sharded_hamming_knn`).

    Returns
    -------
    Z : dask.array.Array of shape (n_samples, n_components)

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from skdml import Covariance
    >>> from skdml.distributed import dask_transform
    >>> X = np.random.RandomState(0).randn(20, 3)
    >>> est = Covariance().fit(X)
    >>> Z = dask_transform(est, da.from_array(X, chunks=(7, 3)))
    >>> Z.chunks
    ((7, 7, 6), (3,))
    >>> np.allclose(Z.compute(), est.transform(X))
    True
    """
    if not isinstance(X, da.Array):
        raise TypeError(
            f"X must be a dask.array.Array, got {type(X).__name__}; call "
            "estimator.transform(X) for an in-memory array."
        )
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    if not hasattr(estimator, method):
        raise TypeError(f"{type(estimator).__name__} has no method {method!r}.")
    check_is_fitted(estimator)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D dask array, got {X.ndim} dimension(s).")
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} was fitted with "
            f"{n_features} features."
        )
    check_n_threads(n_threads)
    return map_rows(estimator, X, method, n_threads=n_threads)
