"""``transform`` of a dask array chunk by chunk, the fitted estimator shipped once."""

import numpy as np

import dask
import dask.array as da
from sklearn.utils.validation import check_is_fitted

from ._merge import _numba_threads, check_n_threads

__all__ = ["dask_transform"]


def _transform_block(block, estimator, method, n_threads):
    with _numba_threads(n_threads):
        return np.asarray(getattr(estimator, method)(block))


def dask_transform(estimator, X, *, method="transform", n_threads=1):
    """Map a dask array through a fitted estimator's ``transform``, chunk by chunk.

    The estimator becomes one key of the graph (``dask.delayed``): it is sent once to each
    worker that transforms a chunk, not once per chunk, and every chunk is transformed where it
    lives. The result is a lazy dask array with the same row chunks.

    Parameters
    ----------
    estimator : fitted estimator
        Any skdml learner (or scikit-learn transformer) with ``n_features_in_``; deep learners
        embed in eval mode as their ``transform`` does.
    X : dask.array.Array of shape (n_samples, n_features)
        Row chunks of unknown size are fine (the result has the same ones).
    method : {'transform', 'predict', 'decision_function', 'predict_proba'}, \
default='transform'
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
    if not isinstance(method, str) or method not in ("transform", "predict",
                                                     "decision_function", "predict_proba"):
        raise ValueError(
            "method must be 'transform', 'predict', 'decision_function' or 'predict_proba', "
            f"got {method!r}."
        )
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
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    # The output's width and dtype from one row on the client (the estimator is there).
    probe = np.asarray(getattr(estimator, method)(np.zeros((1, X.shape[1]), dtype=X.dtype)))
    est = dask.delayed(estimator, pure=True)  # one key in the graph: shipped once per worker
    if probe.ndim == 1:
        return X.map_blocks(_transform_block, est, method, n_threads, dtype=probe.dtype,
                            drop_axis=1, meta=np.empty((0,), probe.dtype))
    return X.map_blocks(_transform_block, est, method, n_threads, dtype=probe.dtype,
                        chunks=(X.chunks[0], (probe.shape[1],)),
                        meta=np.empty((0, 0), probe.dtype))
