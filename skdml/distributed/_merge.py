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

from ..kernels import hamming_knn, hamming_radius_neighbors, knn, pairwise_distances_chunked
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


def hamming_shard_topk(queries, shard, offset, k, n_threads=None, exclude_self=False):
    """Top-``min(k, len(shard))`` of one shard of packed codes, with global indices.

    ``exclude_self``: the queries are the shard itself (a search of the gallery in itself),
    each left out of its own list.
    """
    with _numba_threads(n_threads):
        shard = np.ascontiguousarray(shard)
        n_q = shard.shape[0] if exclude_self else queries.shape[0]
        kk = min(k, shard.shape[0] - (1 if exclude_self else 0))
        if kk <= 0:
            return np.empty((n_q, 0), np.int32), np.empty((n_q, 0), np.intp)
        if exclude_self:
            d, i = hamming_knn(shard, None, kk, exclude_self=True)
        else:
            d, i = hamming_knn(queries, shard, kk)
        i += offset
        return d, i


def float_shard_topk(queries, shard, offset, k, metric, L, working_memory, n_threads=None,
                     exclude_self=False):
    """Top-``min(k, len(shard))`` of one shard of real vectors, with global indices.

    ``metric='mahalanobis'`` arrives as ``L`` (factored once by the caller), so every shard
    maps its rows by the same matrix. ``exclude_self`` as in :func:`hamming_shard_topk`.
    """
    with _numba_threads(n_threads):
        shard = np.asarray(shard)
        n_q = shard.shape[0] if exclude_self else queries.shape[0]
        kk = min(k, shard.shape[0] - (1 if exclude_self else 0))
        if kk <= 0:
            dt = shard.dtype if exclude_self else np.result_type(queries.dtype, shard.dtype)
            return np.empty((n_q, 0), dt), np.empty((n_q, 0), np.intp)
        if exclude_self:
            d, i = knn(shard, None, kk, metric=metric, L=L, exclude_self=True,
                       working_memory=working_memory)
        else:
            d, i = knn(queries, shard, kk, metric=metric, L=L, working_memory=working_memory)
        i += offset
        return d, i


def hamming_shard_radius(queries, shard, offset, radius, n_threads=None, exclude_self=False):
    """Every code of one shard within ``radius`` of each query: ``(indptr, indices,
    distances)`` in CSR layout, indices global and increasing within each query."""
    with _numba_threads(n_threads):
        shard = np.ascontiguousarray(shard)
        if exclude_self:
            indptr, ind, dist = hamming_radius_neighbors(shard, None, radius, exclude_self=True)
        else:
            indptr, ind, dist = hamming_radius_neighbors(queries, shard, radius)
        ind += offset
        return indptr, ind, dist


def float_shard_radius(queries, shard, offset, radius, metric, L, working_memory,
                       n_threads=None, exclude_self=False):
    """Every row of one shard of real vectors within ``radius`` (inclusive) of each query,
    in the CSR layout of :func:`hamming_shard_radius`."""
    with _numba_threads(n_threads):
        shard = np.asarray(shard)
        X, Y = (shard, None) if exclude_self else (queries, shard)
        counts, inds, dists = [], [], []
        for start, block in pairwise_distances_chunked(X, Y, metric=metric, L=L,
                                                       working_memory=working_memory):
            if exclude_self:
                r = np.arange(block.shape[0])
                block[r, start + r] = np.inf
            rows, cols = np.nonzero(block <= radius)  # row-major: columns increase per row
            counts.append(np.bincount(rows, minlength=block.shape[0]))
            inds.append(cols.astype(np.intp) + offset)
            dists.append(block[rows, cols])
        dtype = shard.dtype if exclude_self else np.result_type(queries.dtype, shard.dtype)
        if not counts:  # no query
            return (np.zeros(1, np.intp), np.empty(0, np.intp), np.empty(0, dtype))
        indptr = np.concatenate(([0], np.cumsum(np.concatenate(counts)))).astype(np.intp)
        return indptr, np.concatenate(inds), np.concatenate(dists).astype(dtype, copy=False)


def merge_radius(*parts):
    """Concatenate per-shard CSR hits ``(indptr, indices, distances)``, query by query.

    ``parts`` come in shard order, so each query's indices stay increasing.
    """
    indptr = np.zeros_like(parts[0][0])
    for p in parts:
        indptr += p[0]
    ind = np.empty(indptr[-1], np.intp)
    dist = np.empty(indptr[-1], parts[0][2].dtype)
    pos = indptr[:-1].copy()
    for p_indptr, p_ind, p_dist in parts:
        counts = np.diff(p_indptr)
        dest = np.repeat(pos - p_indptr[:-1], counts) + np.arange(p_ind.shape[0])
        ind[dest] = p_ind
        dist[dest] = p_dist
        pos += counts
    return indptr, ind, dist


def radius_lists(indptr, ind, dist, sort_results=False):
    """CSR hits as scikit-learn's ``radius_neighbors`` returns them: two object arrays of one
    array per query, sorted by distance (ties by index) with ``sort_results``, else by
    index."""
    n_q = indptr.shape[0] - 1
    neigh_ind = np.empty(n_q, dtype=object)
    neigh_dist = np.empty(n_q, dtype=object)
    for i in range(n_q):
        lo, hi = indptr[i], indptr[i + 1]
        di, ii = dist[lo:hi], ind[lo:hi]
        if sort_results:
            order = np.argsort(di, kind="stable")
            di, ii = di[order], ii[order]
        neigh_ind[i] = ii
        neigh_dist[i] = di
    return neigh_dist, neigh_ind


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
