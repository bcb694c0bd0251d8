"""numba-jitted distance kernels: pure functions on arrays, no estimators.

Real vectors (:mod:`._pairwise`): :func:`pairwise_distances`, :func:`pairwise_distances_chunked`,
:func:`paired_distances` and the exact top-k search :func:`knn` for the metrics in
:data:`METRICS`. Binary codes (:mod:`._hamming`): :func:`pack_codes` / :func:`unpack_codes`
(``np.packbits`` bit order, as faiss), :func:`hamming_distances`, :func:`hamming_knn` and
:func:`hamming_radius_neighbors` on packed codes.
"""

from ._hamming import (
    hamming_distances,
    hamming_knn,
    hamming_radius_neighbors,
    pack_codes,
    unpack_codes,
)
from ._pairwise import (
    METRICS,
    knn,
    mahalanobis_components,
    paired_distances,
    pairwise_distances,
    pairwise_distances_chunked,
)

__all__ = [
    "METRICS",
    "hamming_distances",
    "hamming_knn",
    "hamming_radius_neighbors",
    "knn",
    "mahalanobis_components",
    "pack_codes",
    "paired_distances",
    "pairwise_distances",
    "pairwise_distances_chunked",
    "unpack_codes",
]
