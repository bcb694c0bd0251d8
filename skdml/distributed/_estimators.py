"""The dask side of skdml's neighbours estimators: a gallery persisted on the workers.

:class:`skdml.hashing.HammingNeighbors` and :class:`skdml.neighbors.KernelNeighbors` fitted
on a dask array keep its shards in the workers' memory (``client.persist``) and search them
where they live, with the shard functions and the exact merge of :mod:`._merge` (ties by
global index), as :func:`sharded_hamming_knn` does. Queries may be NumPy arrays (the answer
is NumPy), dask arrays (the answer is a lazy dask array, one task graph per query chunk) or
``None`` (the gallery searched in itself, each row left out of its own list).
"""

import numpy as np

import dask
import dask.array as da

from ._merge import check_k, merge_radius, radius_lists
from ._search import _one_column_chunk, _tree, _tree_merge, check_client, shard_graph

__all__ = ["gallery_client", "persist_gallery", "search_radius", "search_topk"]


def check_dask_rows(X, name="X"):
    """A 2-D dask array with known chunk sizes (checked before anything is scheduled)."""
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D dask array, got {X.ndim} dimension(s).")
    if any(np.isnan(c) for chunks in X.chunks for c in chunks):
        raise ValueError(
            f"{name} has unknown chunk sizes (NaN in {name}.chunks), so global indices cannot "
            f"be assigned; call {name}.compute_chunk_sizes() first."
        )
    return _one_column_chunk(X)


def persist_gallery(X, prepare, dtype, width, estimator):
    """Persist ``X`` mapped by ``prepare`` (chunk by chunk) on the default client's workers.

    Waits for the shards, so that an error found in a chunk (``prepare`` validates) is
    raised by ``fit``. Returns the persisted dask array.
    """
    client = check_client(None)
    if client is None:
        raise ValueError(
            f"{estimator} fitted on a dask array keeps the gallery on a dask cluster's "
            "workers, but no distributed.Client is running: connect one "
            "(distributed.Client(...)) before fit, or pass X.compute() for an in-memory "
            "index."
        )
    from distributed import futures_of, wait

    gallery = X.map_blocks(prepare, dtype=dtype, chunks=(X.chunks[0], (width,)),
                           meta=np.empty((0, 0), dtype))
    gallery = client.persist(gallery)
    wait(gallery)
    for future in futures_of(gallery):
        if future.status == "error":
            future.result()  # raises the chunk's error
    return gallery


def gallery_client(gallery):
    """The running client whose workers hold the persisted ``gallery``."""
    from distributed import futures_of

    futures = futures_of(gallery)
    client = futures[0].client if futures else None
    status = getattr(client, "status", None)
    if status != "running":
        raise ValueError(
            f"the dask client that holds this gallery is not running (status {status!r}): "
            "its shards are gone; fit again on a running client (or call to_local() before "
            "closing it)."
        )
    return client


def _query_blocks(Q):
    return Q.to_delayed().ravel(), Q.chunks[0]


def search_topk(gallery, Q, k, shard_fn, extra, dist_dtype):
    """Top-``k`` of ``Q`` (ndarray, dask array, or None: the gallery itself) over the
    persisted ``gallery``: ``(distances, indices)``, NumPy or lazy dask arrays (distances
    of ``dist_dtype``)."""
    client = gallery_client(gallery)
    n = gallery.shape[0]
    if Q is None:
        k = check_k(k, n - 1)
        blocks = gallery.to_delayed().ravel()
        results = [_tree_merge(shard_graph(gallery, blocks[j], k, shard_fn, extra, 1,
                                           self_block=j), k)
                   for j, size in enumerate(gallery.chunks[0]) if size > 0]
        parts = client.compute(results, sync=True)
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    k = check_k(k, n)
    if not isinstance(Q, da.Array):
        q = dask.delayed(Q, pure=True)  # one key: shipped once per worker
        return client.compute(_tree_merge(shard_graph(gallery, q, k, shard_fn, extra, 1), k),
                              sync=True)
    blocks, sizes = _query_blocks(Q)
    dists, inds = [], []
    for q, size in zip(blocks, sizes):
        merged = _tree_merge(shard_graph(gallery, q, k, shard_fn, extra, 1), k)
        dists.append(da.from_delayed(merged[0], (size, k), dist_dtype))
        inds.append(da.from_delayed(merged[1], (size, k), np.intp))
    return da.concatenate(dists), da.concatenate(inds)


def search_radius(gallery, Q, radius, shard_fn, extra, sort_results):
    """Radius search of ``Q`` (as in :func:`search_topk`): ``(neigh_dist, neigh_ind)``,
    object arrays of one array per query (NumPy, or lazy dask arrays of objects)."""
    client = gallery_client(gallery)
    lists = dask.delayed(radius_lists, pure=False)
    if Q is None:
        blocks = gallery.to_delayed().ravel()
        results = [_tree(shard_graph(gallery, blocks[j], radius, shard_fn, extra, 1,
                                     self_block=j), merge_radius)
                   for j, size in enumerate(gallery.chunks[0]) if size > 0]
        parts = client.compute(results, sync=True)
        return radius_lists(*_stack_csr(parts), sort_results)
    if not isinstance(Q, da.Array):
        q = dask.delayed(Q, pure=True)
        hits = _tree(shard_graph(gallery, q, radius, shard_fn, extra, 1), merge_radius)
        return radius_lists(*client.compute(hits, sync=True), sort_results)
    blocks, sizes = _query_blocks(Q)
    dists, inds = [], []
    for q, size in zip(blocks, sizes):
        hits = _tree(shard_graph(gallery, q, radius, shard_fn, extra, 1), merge_radius)
        out = lists(hits[0], hits[1], hits[2], sort_results)
        dists.append(da.from_delayed(out[0], (size,), object))
        inds.append(da.from_delayed(out[1], (size,), object))
    return da.concatenate(dists), da.concatenate(inds)


def _stack_csr(parts):
    """Stack the CSR hits of consecutive query blocks into one CSR."""
    offsets = np.cumsum([0] + [p[0][-1] for p in parts[:-1]])
    indptr = np.concatenate([[0]] + [p[0][1:] + off for p, off in zip(parts, offsets)])
    return (indptr.astype(np.intp), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))


def _method_block(block, estimator, method, kwargs):
    return getattr(estimator, method)(block, **kwargs)


def map_query_blocks(estimator, Q, method, kwargs, outputs):
    """A local (in-memory) index's ``method`` over dask queries, chunk by chunk, the
    estimator shipped once: the lazy dask arrays of its outputs.

    ``outputs``: ``(trailing shape, dtype)`` of each array the method returns.
    """
    est = dask.delayed(estimator, pure=True)
    call = dask.delayed(_method_block, pure=False, nout=len(outputs))
    blocks, sizes = _query_blocks(Q)
    columns = [[] for _ in outputs]
    for q, size in zip(blocks, sizes):
        results = call(q, est, method, kwargs)
        for col, res, (shape, dtype) in zip(columns, results, outputs):
            col.append(da.from_delayed(res, (size, *shape), dtype))
    return tuple(da.concatenate(col) for col in columns)
