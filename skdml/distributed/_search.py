"""Exact neighbor search over a gallery held as a dask array on the workers.

Each chunk (shard) of the gallery is searched where it lives, with the project's kernels, and
returns its top-k with global indices; the top-k lists are merged on the workers in a tree of
fan-in ``_FAN_IN`` by ``(distance, global index)``, so the answer is exactly that of one search
over the whole gallery. What travels: the queries once to each worker that holds a shard
(``n_queries * n_bytes``), one ``(n_queries, k)`` pair of arrays per shard between workers,
and the final ``(n_queries, k)`` to the client. The gallery never leaves the workers.

Every check (types, width, dtype, known chunk sizes, ``k``, the client) runs before anything is
scheduled.
"""

import numpy as np

import dask
import dask.array as da

from ._merge import (
    check_float_queries,
    check_gallery_dtype_float,
    check_gallery_dtype_hamming,
    check_hamming_queries,
    check_k,
    check_metric_L,
    check_n_threads,
    float_shard_topk,
    hamming_shard_topk,
    merge_many,
)

__all__ = ["sharded_hamming_knn", "sharded_knn"]

#: Per-shard results merged by one task of the reduction tree.
_FAN_IN = 8


def check_client(client):
    """The client to compute on: ``client``, else the default distributed client, else None.

    A closed (or closing) client is an error, raised before anything is scheduled.
    """
    if client is None:
        try:
            from distributed import default_client
        except ImportError:  # dask without distributed: the local schedulers
            return None
        try:
            client = default_client()
        except ValueError:
            return None
    status = getattr(client, "status", None)
    if status != "running":
        raise ValueError(
            f"the dask client is not running (status {status!r}); connect a new "
            "distributed.Client before searching."
        )
    return client


def check_dask_gallery(gallery):
    """A 2-D dask array with known chunk sizes, one chunk across the columns."""
    if not isinstance(gallery, da.Array):
        raise TypeError(
            "gallery must be a dask.array.Array (e.g. dask.array.from_array, or from_zarr); "
            f"got {type(gallery).__name__}. For an in-memory or memory-mapped gallery use "
            "chunked_hamming_knn / chunked_knn."
        )
    if any(np.isnan(c) for chunks in gallery.chunks for c in chunks):
        raise ValueError(
            "gallery has unknown chunk sizes (NaN in gallery.chunks), so global indices cannot "
            "be assigned; call gallery.compute_chunk_sizes() (or persist it with known chunks) "
            "first."
        )
    return gallery


def _one_column_chunk(gallery):
    # Rows are the shards: a chunking across columns is undone (on the workers).
    return gallery if gallery.numblocks[1] == 1 else gallery.rechunk({1: -1})


def _tree(parts, merge, **kwargs):
    """Reduce delayed per-shard results in a tree of fan-in ``_FAN_IN`` (tasks on workers).

    Neighbouring parts are merged together, so a merge keeps the shards' order.
    """
    merge = dask.delayed(merge, pure=False)
    while len(parts) > 1:
        parts = [
            merge(*parts[i:i + _FAN_IN], **kwargs) if len(parts[i:i + _FAN_IN]) > 1
            else parts[i]
            for i in range(0, len(parts), _FAN_IN)
        ]
    return parts[0]


def _tree_merge(parts, k):
    """Merge delayed per-shard top-k lists into the global top-k."""
    return _tree(parts, merge_many, k=k)


def shard_graph(gallery, q, k, shard_fn, extra, n_threads, self_block=None):
    """The delayed per-shard results of ``shard_fn`` over every non-empty row chunk of
    ``gallery``, with global offsets, for the delayed queries ``q``.

    ``self_block``: the queries are the gallery's row chunk of that number, searched in
    itself with each query left out (``exclude_self``) and against the other chunks as
    ordinary queries. ``k`` is the number of neighbors or, for a radius search, the radius.
    """
    offsets = np.concatenate(([0], np.cumsum(gallery.chunks[0])))[:-1]
    blocks = gallery.to_delayed().ravel()
    # pure=False: fresh keys per search, so a repeated search is computed again rather
    # than answered from results of a previous one still being released on the scheduler.
    fn = dask.delayed(shard_fn, pure=False)
    parts = []
    for j, (block, off, size) in enumerate(zip(blocks, offsets, gallery.chunks[0])):
        if size == 0:
            continue
        if j == self_block:
            parts.append(fn(None, block, int(off), k, *extra, n_threads=n_threads,
                            exclude_self=True))
        else:
            parts.append(fn(q, block, int(off), k, *extra, n_threads=n_threads))
    return parts


def _search(gallery, queries, k, shard_fn, extra, client, n_threads):
    q = dask.delayed(queries, pure=True)  # one key: shipped once per worker
    result = _tree_merge(shard_graph(gallery, q, k, shard_fn, extra, n_threads), k)
    if client is not None:
        dist, ind = client.compute(result).result()
    else:
        dist, ind = result.compute()
    return dist, ind


def sharded_hamming_knn(queries, gallery, k=1, *, client=None, n_threads=1):
    """Exact Hamming top-k over packed codes held as a dask array on the workers.

    Parameters
    ----------
    queries : array-like of shape (n_queries, n_bytes), dtype=uint8
        Packed query codes, in memory on the client.
    gallery : dask.array.Array of shape (n_codes, n_bytes), dtype=uint8
        Packed codes, chunked by rows (each row chunk is a shard), with known chunk sizes.
        ``gallery.persist()`` keeps the shards in the workers' memory between searches.
    k : int, default=1
        At most ``n_codes``; it may exceed a shard's size.
    client : distributed.Client, default=None
        ``None``: the default client if one exists, else dask's local scheduler (a dask
        array over a memory-mapped file, on one machine).
    n_threads : int or None, default=1
        numba threads per shard task. The default 1 makes the worker's own thread count the
        parallelism (a worker with ``--nthreads 4`` searches 4 shards at once, 4 cores);
        ``None`` keeps numba's setting (``NUMBA_NUM_THREADS``).

    Returns
    -------
    distances : ndarray of shape (n_queries, k), dtype=int32
    indices : ndarray of shape (n_queries, k), dtype=intp
        Global gallery indices; the same as :func:`skdml.kernels.hamming_knn` on the whole
        gallery (ascending, ties broken by the smaller index).

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from skdml.kernels import pack_codes
    >>> from skdml.distributed import sharded_hamming_knn
    >>> codes = pack_codes(np.array([[0, 0, 0], [1, 1, 0], [1, 1, 1], [0, 0, 1]]))
    >>> gallery = da.from_array(codes, chunks=(3, -1))
    >>> sharded_hamming_knn(pack_codes(np.array([[1, 1, 1]])), gallery, k=3)
    (array([[0, 1, 2]], dtype=int32), array([[2, 1, 3]]))
    """
    gallery = check_dask_gallery(gallery)
    check_gallery_dtype_hamming(gallery.dtype, gallery.ndim, gallery.shape)
    queries = check_hamming_queries(queries, gallery.shape[1])
    k = check_k(k, gallery.shape[0])
    check_n_threads(n_threads)
    client = check_client(client)
    return _search(_one_column_chunk(gallery), queries, k, hamming_shard_topk, (), client,
                   n_threads)


def sharded_knn(queries, gallery, k=1, *, metric="euclidean", M=None, L=None,
                working_memory=None, client=None, n_threads=1):
    """Exact top-k over real vectors (embeddings) held as a dask array on the workers.

    Parameters
    ----------
    queries : array-like of shape (n_queries, n_features)
    gallery : dask.array.Array of shape (n_samples, n_features), float32 or float64
        Chunked by rows, with known chunk sizes.
    k : int, default=1
        At most ``n_samples``.
    metric, M, L
        As in :func:`skdml.kernels.knn`. A Mahalanobis ``M`` is factored once, on the client,
        and its map ``L`` (``n_features**2`` floats) sent with the queries.
    working_memory : int, default=None
        Bytes of one distance block inside a shard (see :func:`skdml.kernels.knn`).
    client, n_threads
        As in :func:`sharded_hamming_knn`.

    Returns
    -------
    distances : ndarray of shape (n_queries, k)
    indices : ndarray of shape (n_queries, k), dtype=intp
        The neighbors of :func:`skdml.kernels.knn` over the whole gallery, ties broken by
        the smaller global index.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from skdml.distributed import sharded_knn
    >>> gallery = da.from_array(np.array([[0.0], [1.0], [3.0], [4.0]]), chunks=(3, 1))
    >>> sharded_knn(np.array([[2.9]]), gallery, k=2)[1]
    array([[2, 3]])
    """
    gallery = check_dask_gallery(gallery)
    check_gallery_dtype_float(gallery.dtype, gallery.ndim, gallery.shape)
    queries = check_float_queries(queries, gallery.shape[1], gallery.dtype)
    Lm = check_metric_L(metric, M, L, gallery.shape[1])
    k = check_k(k, gallery.shape[0])
    check_n_threads(n_threads)
    client = check_client(client)
    return _search(_one_column_chunk(gallery), queries, k, float_shard_topk,
                   (metric, Lm, working_memory), client, n_threads)
