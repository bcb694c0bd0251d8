"""Exact search over a gallery larger than memory, on one machine, chunk by chunk.

The gallery is anything that slices by rows into NumPy arrays without loading the rest: a
``.npy`` file opened with ``np.load(path, mmap_mode="r")``, an ``np.memmap``, a zarr or h5py
array, or an ordinary array. Each chunk of ``chunk_size`` rows is read, searched with the
project's kernels, and its top-k merged into the running top-k (see :mod:`._merge`), so the
memory taken is about one chunk (plus its packed-word copy for Hamming codes) and the
``(n_queries, k)`` results, whatever the size of the gallery. No dask needed.
"""

import numbers

import numpy as np

from ._merge import (
    check_float_queries,
    check_gallery_dtype_float,
    check_gallery_dtype_hamming,
    check_hamming_queries,
    check_k,
    check_metric_L,
    float_shard_topk,
    hamming_shard_topk,
    merge_topk,
)

__all__ = ["chunked_hamming_knn", "chunked_knn"]

#: Default bytes of gallery read at once.
CHUNK_BYTES = 64 * 2**20


def _check_chunk_size(chunk_size, row_bytes):
    if chunk_size is None:
        return max(1, CHUNK_BYTES // max(1, row_bytes))
    if (not isinstance(chunk_size, numbers.Integral) or isinstance(chunk_size, bool)
            or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer (rows), got {chunk_size!r}.")
    return int(chunk_size)


def _shape_dtype(gallery):
    if not hasattr(gallery, "shape") or not hasattr(gallery, "dtype"):
        gallery = np.asarray(gallery)
    return gallery, tuple(gallery.shape), gallery.dtype


def chunked_hamming_knn(queries, gallery, k=1, *, chunk_size=None):
    """Exact Hamming top-k over a gallery of packed codes read ``chunk_size`` rows at a time.

    Parameters
    ----------
    queries : array-like of shape (n_queries, n_bytes), dtype=uint8
        Packed query codes (see :func:`skdml.kernels.pack_codes`).
    gallery : array of shape (n_codes, n_bytes), dtype=uint8
        Packed codes: a memory-mapped ``.npy`` (``np.load(path, mmap_mode="r")``), a zarr or
        h5py array, or any array that slices by rows.
    k : int, default=1
        At most ``n_codes``.
    chunk_size : int, default=None
        Gallery rows searched at once; the memory taken is about ``2 * chunk_size *
        n_bytes`` bytes (the chunk and its 64-bit-word copy). ``None``: 64 MiB of codes.

    Returns
    -------
    distances : ndarray of shape (n_queries, k), dtype=int32
    indices : ndarray of shape (n_queries, k), dtype=intp
        The same as :func:`skdml.kernels.hamming_knn` on the whole gallery: ascending, ties
        broken by the smaller gallery index.

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.kernels import pack_codes
    >>> from skdml.distributed import chunked_hamming_knn
    >>> gallery = pack_codes(np.array([[0, 0, 0], [1, 1, 0], [1, 1, 1], [0, 0, 1]]))
    >>> chunked_hamming_knn(pack_codes(np.array([[1, 1, 1]])), gallery, k=3, chunk_size=3)
    (array([[0, 1, 2]], dtype=int32), array([[2, 1, 3]]))
    """
    gallery, shape, dtype = _shape_dtype(gallery)
    check_gallery_dtype_hamming(dtype, len(shape), shape)
    queries = check_hamming_queries(queries, shape[1])
    k = check_k(k, shape[0])
    rows = _check_chunk_size(chunk_size, shape[1])
    best = None
    for start in range(0, shape[0], rows):
        part = hamming_shard_topk(queries, np.asarray(gallery[start:start + rows]), start, k)
        best = part if best is None else merge_topk([best, part], k)
    return best


def chunked_knn(queries, gallery, k=1, *, metric="euclidean", M=None, L=None,
                chunk_size=None, working_memory=None):
    """Exact top-k over a gallery of real vectors read ``chunk_size`` rows at a time.

    Parameters
    ----------
    queries : array-like of shape (n_queries, n_features)
    gallery : array of shape (n_samples, n_features), dtype float32 or float64
        A memory-mapped ``.npy``, a zarr or h5py array, or any array that slices by rows.
    k : int, default=1
        At most ``n_samples``.
    metric, M, L
        As in :func:`skdml.kernels.knn`; a Mahalanobis ``M`` is factored once.
    chunk_size : int, default=None
        Gallery rows searched at once. ``None``: 64 MiB of gallery.
    working_memory : int, default=None
        Bytes of one distance block inside a chunk (see :func:`skdml.kernels.knn`).

    Returns
    -------
    distances : ndarray of shape (n_queries, k)
    indices : ndarray of shape (n_queries, k), dtype=intp
        The neighbors of :func:`skdml.kernels.knn` over the whole gallery, ties broken by
        the smaller gallery index.

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.distributed import chunked_knn
    >>> gallery = np.array([[0.0], [1.0], [3.0], [4.0]])
    >>> chunked_knn(np.array([[2.9]]), gallery, k=2, chunk_size=3)[1]
    array([[2, 3]])
    """
    gallery, shape, dtype = _shape_dtype(gallery)
    check_gallery_dtype_float(dtype, len(shape), shape)
    queries = check_float_queries(queries, shape[1], dtype)
    Lm = check_metric_L(metric, M, L, shape[1])
    k = check_k(k, shape[0])
    rows = _check_chunk_size(chunk_size, shape[1] * np.dtype(dtype).itemsize)
    best = None
    for start in range(0, shape[0], rows):
        block = np.asarray(gallery[start:start + rows])
        part = float_shard_topk(queries, block, start, k, metric, Lm, working_memory)
        best = part if best is None else merge_topk([best, part], k)
    return best
