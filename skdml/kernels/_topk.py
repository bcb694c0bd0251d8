"""Exact top-k selection over rows of a distance block, ties broken by index.

Hand-written because neither NumPy nor SciPy selects the k smallest with a deterministic
tie rule: ``np.argpartition`` picks an arbitrary member of a tie at the k-th place. A bounded
max-heap per row keyed on ``(distance, index)`` keeps the k best in O(m log k) and is exact.
"""

import numpy as np
from numba import njit, prange


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


@njit(parallel=True, cache=True)
def topk_rows(D, k, skip, out_d, out_i):
    """Write the k smallest entries of each row of ``D`` into ``out_d``/``out_i``, sorted.

    ``skip[r] >= 0`` excludes column ``skip[r]`` from row ``r`` (a query's own index in a
    leave-one-out search). Slots left unfilled (fewer than k candidates) hold inf and -1.
    """
    n_rows, n_cols = D.shape
    for r in prange(n_rows):
        hd = out_d[r]
        hi = out_i[r]
        size = 0
        for c in range(n_cols):
            if c == skip[r]:
                continue
            d = D[r, c]
            if size < k:
                # Insert at the end and sift up.
                pos = size
                hd[pos] = d
                hi[pos] = c
                size += 1
                while pos > 0:
                    parent = (pos - 1) // 2
                    if _worse(hd[pos], hi[pos], hd[parent], hi[parent]):
                        hd[pos], hd[parent] = hd[parent], hd[pos]
                        hi[pos], hi[parent] = hi[parent], hi[pos]
                        pos = parent
                    else:
                        break
            elif _worse(hd[0], hi[0], d, c):
                hd[0] = d
                hi[0] = c
                _sift_down(hd, hi, 0, size)
        # Heap sort in place: repeatedly move the worst to the end.
        for end in range(size - 1, 0, -1):
            hd[0], hd[end] = hd[end], hd[0]
            hi[0], hi[end] = hi[end], hi[0]
            _sift_down(hd, hi, 0, end)
        for j in range(size, k):
            hd[j] = np.inf
            hi[j] = -1
