"""numba-jitted distance kernels: pure functions on arrays, no estimators."""

from ._euclidean import knn, paired_distances, pairwise_distances, pairwise_distances_chunked

__all__ = ["knn", "paired_distances", "pairwise_distances", "pairwise_distances_chunked"]
