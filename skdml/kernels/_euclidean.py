"""Euclidean distances: full, paired, chunked, and exact top-k neighbor search.

The cross term of ``||x - y||^2 = ||x||^2 + ||y||^2 - 2 x.y`` goes through BLAS (the fastest
route on any machine, the one sklearn takes); numba does the element-wise rest in parallel
without temporaries, and the top-k selection (see ``_topk``).
"""

import numpy as np
from numba import njit, prange
from sklearn.utils import check_array

from ._topk import topk_rows

__all__ = ["knn", "paired_distances", "pairwise_distances", "pairwise_distances_chunked"]

_METRICS = ("euclidean", "sqeuclidean")
#: Bytes of working memory one distance block may take.
WORKING_MEMORY = 64 * 2**20


@njit(parallel=True, cache=True)
def _finish_sqeuclidean(G, xx, yy, squared):
    """G <- max(xx[:, None] + yy[None, :] - 2 G, 0) in place (optionally sqrt)."""
    n, m = G.shape
    for i in prange(n):
        for j in range(m):
            v = xx[i] + yy[j] - 2.0 * G[i, j]
            if v < 0.0:
                v = 0.0
            G[i, j] = v if squared else np.sqrt(v)


@njit(parallel=True, cache=True)
def _paired_sqeuclidean(A, B, out):
    n, d = A.shape
    for i in prange(n):
        s = 0.0
        for j in range(d):
            t = A[i, j] - B[i, j]
            s += t * t
        out[i] = s


def _check_metric(metric):
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}.")
    return metric == "sqeuclidean"


def _check_pair(X, Y):
    X = check_array(X, dtype=(np.float64, np.float32), input_name="X")
    if Y is None:
        return X, X
    Y = check_array(Y, dtype=(np.float64, np.float32), input_name="Y")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"X and Y must have the same number of features, got {X.shape[1]} and {Y.shape[1]}."
        )
    dtype = np.result_type(X, Y)
    return X.astype(dtype, copy=False), Y.astype(dtype, copy=False)


def _row_norms(X):
    return np.einsum("ij,ij->i", X, X)


def _block(X, Y, xx, yy, squared):
    G = X @ Y.T
    _finish_sqeuclidean(G, xx, yy, squared)
    return G


def pairwise_distances(X, Y=None, *, metric="euclidean"):
    """Distances between the rows of ``X`` and the rows of ``Y``.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
    Y : array-like of shape (n_samples_Y, n_features), default=None
        ``None`` means ``Y = X``.
    metric : {'euclidean', 'sqeuclidean'}, default='euclidean'

    Returns
    -------
    D : ndarray of shape (n_samples_X, n_samples_Y)
        In the dtype of the inputs (float32 stays float32).

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.kernels import pairwise_distances
    >>> pairwise_distances(np.array([[0.0, 0.0], [3.0, 4.0]]))
    array([[0., 5.],
           [5., 0.]])
    """
    squared = _check_metric(metric)
    X, Y = _check_pair(X, Y)
    D = _block(X, Y, _row_norms(X), _row_norms(Y), squared)
    if Y is X:
        np.fill_diagonal(D, 0.0)
    return D


def pairwise_distances_chunked(X, Y=None, *, metric="euclidean", working_memory=None):
    """Yield ``(start, block)`` with ``block = pairwise_distances(X[start:stop], Y)``.

    The blocks are sized so that one never exceeds ``working_memory`` bytes (default 64 MiB),
    so the full matrix is never allocated.
    """
    squared = _check_metric(metric)
    X, Y = _check_pair(X, Y)
    yy = _row_norms(Y)
    rows = _chunk_rows(Y.shape[0], X.dtype.itemsize, working_memory)
    for start in range(0, X.shape[0], rows):
        Xc = X[start : start + rows]
        yield start, _block(Xc, Y, _row_norms(Xc), yy, squared)


def _chunk_rows(n_cols, itemsize, working_memory):
    budget = WORKING_MEMORY if working_memory is None else working_memory
    return max(1, int(budget // max(1, n_cols * itemsize)))


def paired_distances(A, B, *, metric="euclidean"):
    """Distance between ``A[i]`` and ``B[i]`` for every row ``i``.

    Computed from the differences, so ``paired_distances(A, A)`` is exactly zero.
    """
    squared = _check_metric(metric)
    A, B = _check_pair(A, B)
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"A and B must have the same number of rows, got {A.shape[0]} and "
                         f"{B.shape[0]}.")
    out = np.empty(A.shape[0], dtype=A.dtype)
    _paired_sqeuclidean(np.ascontiguousarray(A), np.ascontiguousarray(B), out)
    return out if squared else np.sqrt(out, out=out)


def knn(X, Y=None, k=1, *, metric="euclidean", exclude_self=False, working_memory=None):
    """The ``k`` nearest rows of ``Y`` for each row of ``X``, without the full matrix.

    Parameters
    ----------
    X : array-like of shape (n_queries, n_features)
    Y : array-like of shape (n_database, n_features), default=None
        ``None`` searches ``X`` in itself.
    k : int, default=1
    metric : {'euclidean', 'sqeuclidean'}, default='euclidean'
    exclude_self : bool, default=False
        Only with ``Y=None``: leave each query out of its own result (leave-one-out).
    working_memory : int, default=None
        Bytes one distance block may take (default 64 MiB).

    Returns
    -------
    distances : ndarray of shape (n_queries, k)
        Sorted ascending; ties broken by the smaller database index.
    indices : ndarray of shape (n_queries, k), dtype=intp

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.kernels import knn
    >>> X = np.array([[0.0], [1.0], [3.0]])
    >>> knn(X, k=1, exclude_self=True)[1].ravel()
    array([1, 0, 1])
    """
    squared = _check_metric(metric)
    self_search = Y is None
    if exclude_self and not self_search:
        raise ValueError("exclude_self=True needs Y=None (a search of X in itself).")
    X, Y = _check_pair(X, Y)
    n_db = Y.shape[0] - (1 if exclude_self else 0)
    if not isinstance(k, (int, np.integer)) or k < 1 or k > n_db:
        raise ValueError(
            f"k must be an integer in [1, {n_db}] (the number of database points"
            f"{' other than the query' if exclude_self else ''}), got {k!r}."
        )
    yy = _row_norms(Y)
    rows = _chunk_rows(Y.shape[0], X.dtype.itemsize, working_memory)
    dist = np.empty((X.shape[0], k), dtype=X.dtype)
    ind = np.empty((X.shape[0], k), dtype=np.intp)
    for start in range(0, X.shape[0], rows):
        stop = min(start + rows, X.shape[0])
        Xc = X[start:stop]
        block = _block(Xc, Y, _row_norms(Xc), yy, True)
        skip = np.arange(start, stop) if exclude_self else np.full(stop - start, -1)
        topk_rows(block, k, skip.astype(np.intp), dist[start:stop], ind[start:stop])
    if not squared:
        np.sqrt(dist, out=dist)
    return dist, ind
