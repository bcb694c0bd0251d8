"""Shard search and the exact merge of per-shard top-k lists (no dask here).

A gallery split into row shards is searched shard by shard with the project's kernels
(:func:`skdml.kernels.hamming_knn` for packed codes, :func:`skdml.kernels.knn` for real
vectors); each shard returns its own top-k with *global* indices, and the lists are merged by
``(distance, global index)``. Because every shard's list is exact and already ordered that way,
the merge gives exactly the neighbors and distances of one search over the whole gallery, with
ties broken by the smaller global index, whatever the shard sizes.

Used by the dask search (:mod:`._search`, on the workers) and by the out-of-core search
(:mod:`._outofcore`, one chunk of a memory-mapped gallery at a time).
"""

import numbers

import numba
import numpy as np

from ..kernels import hamming_knn, knn
from ..kernels._hamming import check_packed


def merge_topk(parts, k):
    """Merge ``[(dist, ind), ...]`` (each sorted by (dist, ind)) into the global top-k.

    ``np.lexsort`` sorts by distance, then by index: the tie rule of the kernels.
    """
    parts = [p for p in parts if p[0].shape[1]]
    if len(parts) == 1:
        d, i = parts[0]
        return d[:, :k], i[:, :k]
    D = np.concatenate([p[0] for p in parts], axis=1)
    Ind = np.concatenate([p[1] for p in parts], axis=1)
    order = np.lexsort((Ind, D), axis=-1)[:, :k]
    return np.take_along_axis(D, order, axis=1), np.take_along_axis(Ind, order, axis=1)


def merge_many(*parts, k):
    """``merge_topk`` over a variable number of arguments (a node of a reduction tree)."""
    return merge_topk(list(parts), k)


def hamming_shard_topk(queries, shard, offset, k, n_threads=None):
    """Top-``min(k, len(shard))`` of one shard of packed codes, with global indices."""
    with _numba_threads(n_threads):
        shard = np.ascontiguousarray(shard)
        kk = min(k, shard.shape[0])
        if kk == 0:
            return (np.empty((queries.shape[0], 0), np.int32),
                    np.empty((queries.shape[0], 0), np.intp))
        d, i = hamming_knn(queries, shard, kk)
        i += offset
        return d, i


def float_shard_topk(queries, shard, offset, k, metric, L, working_memory, n_threads=None):
    """Top-``min(k, len(shard))`` of one shard of real vectors, with global indices.

    ``metric='mahalanobis'`` arrives as ``L`` (factored once by the caller), so every shard
    maps its rows by the same matrix.
    """
    with _numba_threads(n_threads):
        kk = min(k, shard.shape[0])
        if kk == 0:
            dt = np.result_type(queries.dtype, shard.dtype)
            return np.empty((queries.shape[0], 0), dt), np.empty((queries.shape[0], 0), np.intp)
        d, i = knn(queries, np.asarray(shard), kk, metric=metric, L=L,
                   working_memory=working_memory)
        i += offset
        return d, i


class _numba_threads:
    """Set numba's (thread-local) number of threads for the duration of one task."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.old = numba.get_num_threads()
        if self.n is not None:
            numba.set_num_threads(max(1, min(int(self.n), numba.config.NUMBA_NUM_THREADS)))
        return self

    def __exit__(self, *exc):
        numba.set_num_threads(self.old)
        return False


# --------------------------------------------------------------------------- validation
def check_k(k, n_total):
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not 1 <= k <= n_total:
        raise ValueError(
            f"k must be an integer in [1, {n_total}] (the number of gallery rows), got {k!r}."
        )
    return int(k)


def check_n_threads(n_threads):
    if n_threads is not None and (not isinstance(n_threads, numbers.Integral)
                                  or isinstance(n_threads, bool) or n_threads < 1):
        raise ValueError(f"n_threads must be a positive integer or None, got {n_threads!r}.")
    return n_threads


def check_hamming_queries(queries, n_bytes):
    """Packed uint8 queries of the gallery's width."""
    queries, _ = check_packed(queries, None, "queries")
    if queries.shape[1] != n_bytes:
        raise ValueError(
            f"queries hold packed codes of {queries.shape[1]} bytes, but the gallery codes have "
            f"{n_bytes} bytes."
        )
    return np.ascontiguousarray(queries)


def check_gallery_dtype_hamming(dtype, ndim, shape):
    if ndim != 2:
        raise ValueError(
            f"gallery must be a 2-D array of packed codes (n_codes, n_bytes), got {ndim} "
            "dimension(s)."
        )
    if np.dtype(dtype) != np.uint8:
        raise ValueError(
            "gallery must hold packed codes of dtype uint8 (see skdml.kernels.pack_codes), got "
            f"dtype {dtype}."
        )
    if shape[1] == 0:
        raise ValueError(f"gallery must have at least one byte per code, got shape {shape}.")


def check_gallery_dtype_float(dtype, ndim, shape):
    if ndim != 2:
        raise ValueError(
            f"gallery must be a 2-D array of shape (n_samples, n_features), got {ndim} "
            "dimension(s)."
        )
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"gallery must have dtype float32 or float64, got dtype {dtype}.")


def check_float_queries(queries, n_features, gallery_dtype):
    from sklearn.utils import check_array

    queries = check_array(queries, dtype=(np.float64, np.float32), input_name="queries")
    if queries.shape[1] != n_features:
        raise ValueError(
            f"queries have {queries.shape[1]} features, but the gallery has {n_features}."
        )
    dtype = np.result_type(queries.dtype, gallery_dtype)
    return np.ascontiguousarray(queries, dtype=dtype)


def check_metric_L(metric, M, L, n_features):
    """Validate the metric; factor a Mahalanobis matrix once (returns the map L or None)."""
    from ..kernels import METRICS, mahalanobis_components
    from ..kernels._pairwise import _check_metric

    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")
    _check_metric(metric, M, L)
    if metric == "mahalanobis":
        return mahalanobis_components(M, L, n_features)
    return None
