"""Binary codes: packing and exact Hamming neighbor search.

Codes are packed in ``np.packbits``' default (big-endian) bit order -- bit 0 of a code is the
most significant bit of its first byte -- the layout faiss's binary indexes use.
"""

from ..kernels._hamming import (
    hamming_distances,
    hamming_knn,
    hamming_radius_neighbors,
    pack_codes,
    unpack_codes,
)
from ._neighbors import HammingNeighbors

__all__ = [
    "HammingNeighbors",
    "hamming_distances",
    "hamming_knn",
    "hamming_radius_neighbors",
    "pack_codes",
    "unpack_codes",
]
