"""Exact top-k selection over blocks of a distance matrix, ties broken by index.

Hand-written because neither NumPy nor SciPy selects the k smallest with a deterministic
tie rule: ``np.argpartition`` picks an arbitrary member of a tie at the k-th place. A bounded
max-heap per row keyed on ``(distance, index)`` keeps the k best in O(m log k) and is exact.
The heaps persist across column blocks, so a search streams the database in cache-sized
tiles (:func:`topk_update` per tile, :func:`topk_finalize` once) and never holds a row of
the full matrix.
"""

import numpy as np
from numba import njit


@njit(inline="always")
def _worse(da, ia, db, ib):
    """True when (da, ia) ranks after (db, ib)."""
    return da > db or (da == db and ia > ib)


@njit(inline="always")
def _sift_down(hd, hi, start, size):
    """Restore the max-heap property below ``start`` (root = worst kept candidate)."""
    pos = start
    while True:
        left = 2 * pos + 1
        if left >= size:
            break
        child = left
        right = left + 1
        if right < size and _worse(hd[right], hi[right], hd[left], hi[left]):
            child = right
        if _worse(hd[child], hi[child], hd[pos], hi[pos]):
            hd[pos], hd[child] = hd[child], hd[pos]
            hi[pos], hi[child] = hi[child], hi[pos]
            pos = child
        else:
            break


@njit(nogil=True, cache=True)
def topk_update(D, col_offset, diag, exclude_diag, heap_d, heap_i, sizes):
    """Push the entries of block ``D`` into the per-row heaps.

    ``D[r, c]`` is the distance of row ``r`` to database point ``col_offset + c``. For rows
    with ``diag[r] >= 0`` (a search of a set in itself), the point ``diag[r]`` is the query
    itself: it is skipped when ``exclude_diag`` and otherwise counted at distance exactly 0,
    whatever the rounding of the block. ``heap_d/heap_i`` (n_rows, k) and ``sizes``
    (n_rows,) carry the heaps from block to block.
    """
    n_rows, n_cols = D.shape
    k = heap_d.shape[1]
    for r in range(n_rows):
        hd = heap_d[r]
        hi = heap_i[r]
        size = sizes[r]
        own = diag[r] - col_offset
        for c in range(n_cols):
            d = D[r, c]
            if c == own:
                if exclude_diag:
                    continue
                d = 0.0
            idx = col_offset + c
            if size < k:
                # Insert at the end and sift up.
                pos = size
                hd[pos] = d
                hi[pos] = idx
                size += 1
                while pos > 0:
                    parent = (pos - 1) // 2
                    if _worse(hd[pos], hi[pos], hd[parent], hi[parent]):
                        hd[pos], hd[parent] = hd[parent], hd[pos]
                        hi[pos], hi[parent] = hi[parent], hi[pos]
                        pos = parent
                    else:
                        break
            elif _worse(hd[0], hi[0], d, idx):
                hd[0] = d
                hi[0] = idx
                _sift_down(hd, hi, 0, size)
        sizes[r] = size


@njit(nogil=True, cache=True)
def topk_finalize(heap_d, heap_i, sizes):
    """Sort each heap in place (ascending); slots left unfilled hold inf and -1."""
    n_rows, k = heap_d.shape
    for r in range(n_rows):
        hd = heap_d[r]
        hi = heap_i[r]
        size = sizes[r]
        # Heap sort: repeatedly move the worst to the end.
        for end in range(size - 1, 0, -1):
            hd[0], hd[end] = hd[end], hd[0]
            hi[0], hi[end] = hi[end], hi[0]
            _sift_down(hd, hi, 0, end)
        for j in range(size, k):
            hd[j] = np.inf
            hi[j] = -1
