"""The neighbour softmax and the Laplacian product: the core of the softmax-neighbour learners.

NCA, MLKR and MCML weigh every pair of samples by a softmax over embedded squared distances
(``neighbor_softmax``); the gradients of their objectives all take the form
``Z^T Lap(W) X`` (``laplacian_product``).
"""

import numpy as np
from numba import njit, prange
from scipy import sparse

from ..kernels import pairwise_distances

__all__ = ["laplacian_product", "neighbor_softmax"]


def laplacian_product(W, Z, X, *, rows_sum_to_zero=False):
    """``Z^T Lap(W) X = sum_ij W_ij (z_i - z_j)(x_i - x_j)^T``.

    ``Lap(W) = diag(W 1 + W^T 1) - W - W^T``; ``W`` dense or a sparse CSR array. The
    gradients of every softmax-neighbor objective take this form; it costs two products
    with ``W`` (BLAS when dense) and no ``n x n`` temporary.
    """
    degree = np.asarray(W.sum(axis=0)).ravel()
    if not rows_sum_to_zero:
        degree = degree + np.asarray(W.sum(axis=1)).ravel()
    T = (Z * degree[:, None]).T - (W.T @ Z).T - (W @ Z).T
    return T @ X


#: Softmax terms below ``exp(-_CUTOFF)`` times their row's largest are dropped: with fewer
#: than 2**31 terms a row, together they weigh less than 2e-17 of the row sum (>= 1), below
#: double precision; so the objectives and gradients are exact to rounding.
_CUTOFF = 60.0
#: Above this fraction of kept terms the dense path (BLAS) is faster than the sparse one.
_DENSE_FRACTION = 0.2


def neighbor_softmax(Z):
    """``p_ij = exp(-||z_i - z_j||^2) / sum_{k != i} exp(-||z_i - z_k||^2)``, ``p_ii = 0``.

    Returns ``(P, lse)`` with ``lse_i = log sum_{k != i} exp(-||z_i - z_k||^2)``. Rows are
    shifted by their smallest distance before ``exp`` (the logsumexp trick), so no row
    underflows however far apart the points are. Terms below ``exp(-60)`` of the row's
    largest are dropped: when most terms are (the usual case once a metric is learned),
    ``P`` is a sparse CSR array and the products with it cost ``O(nnz)`` instead of
    ``O(n^2)``; otherwise ``P`` is a dense array.
    """
    n = Z.shape[0]
    D = pairwise_distances(Z, metric="sqeuclidean")
    mins = np.empty(n)
    counts = np.empty(n, dtype=np.int64)
    row_min_count, fill_csr = _PARALLEL if n * n >= _PARALLEL_MIN_ENTRIES else _SERIAL
    row_min_count(D, _CUTOFF, mins, counts)
    nnz = int(counts.sum())
    if nnz > _DENSE_FRACTION * n * n:
        np.subtract(mins[:, None], D, out=D)
        np.fill_diagonal(D, -np.inf)
        np.exp(D, out=D)
        sums = D.sum(axis=1)
        D /= sums[:, None]
        return D, np.log(sums) - mins
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(nnz, dtype=np.int64)
    data = np.empty(nnz)
    fill_csr(D, _CUTOFF, mins, indptr, indices, data)
    np.exp(data, out=data)
    sums = np.add.reduceat(data, indptr[:-1])
    data /= np.repeat(sums, counts)
    P = sparse.csr_array((data, indices, indptr), shape=(n, n))
    return P, np.log(sums) - mins


def _row_min_count(D, cutoff, mins, counts):
    """Per row: the smallest off-diagonal entry, and how many are within ``cutoff`` of it."""
    n = D.shape[0]
    for i in prange(n):
        row = D[i]
        m = np.inf
        for j in range(n):
            if j != i and row[j] < m:
                m = row[j]
        limit = m + cutoff
        c = 0
        for j in range(n):
            if j != i and row[j] <= limit:
                c += 1
        mins[i] = m
        counts[i] = c


def _fill_csr(D, cutoff, mins, indptr, indices, data):
    """The kept entries of each row as CSR, with values ``min_i - D_ij`` (<= 0)."""
    n = D.shape[0]
    for i in prange(n):
        row = D[i]
        limit = mins[i] + cutoff
        pos = indptr[i]
        for j in range(n):
            if j != i and row[j] <= limit:
                indices[pos] = j
                data[pos] = mins[i] - row[j]
                pos += 1


# Two compiled versions of each pass: threads pay off on large matrices only; below, one
# parallel region costs more to start (and, on a busy machine, to synchronize) than the
# whole pass.
_PARALLEL_MIN_ENTRIES = 4_000_000
_SERIAL = (njit(cache=True)(_row_min_count), njit(cache=True)(_fill_csr))
_PARALLEL = (
    njit(parallel=True, cache=True)(_row_min_count),
    njit(parallel=True, cache=True)(_fill_csr),
)
