"""Binary codes: packing and exact Hamming neighbor search.

Codes are packed in ``np.packbits``' default (big-endian) bit order -- bit 0 of a code is the
most significant bit of its first byte -- the layout faiss's binary indexes use.
"""

import importlib

from .._optional import optional_dependency
from ..kernels._hamming import (
    hamming_distances,
    hamming_knn,
    hamming_radius_neighbors,
    pack_codes,
    unpack_codes,
)
from ._neighbors import HammingNeighbors
from .classical import (
    ITQ,
    LSH,
    PCAH,
    AnchorGraphHashing,
    KernelSupervisedHashing,
    SpectralHashing,
    SphericalHashing,
    SupervisedDiscreteHashing,
)
from .cross_modal import CCAITQ
from .discrete import NonlinearDiscreteHashing, NonlinearSparseHashing

# The deep hashers import torch: handed out on first access only (PEP 562).
# name -> the module of skdml.hashing that defines it
_DEEP = {
    **dict.fromkeys(["DeepBitHashing", "DeepHashing", "SupervisedDeepHashing"], "deep"),
    "DiscrepancyMinimizingDeepHashing": "dmdh",
    "PolicyGradientDeepHashing": "pgdh",
    **dict.fromkeys(["DeepVideoHashing", "StructuralVideoHashing"], "video"),
    **dict.fromkeys(["DBDMQ", "GraphBit"], "descriptors"),
    "CrossModalDeepVariationalHashing": "cmdvh",
}
#: The modules of the torch hashers (skdml.io's allow-list reads their public names).
DEEP_MODULES = tuple(f"{__name__}.{m}" for m in dict.fromkeys(_DEEP.values()))


def __getattr__(name):
    if name in _DEEP:
        with optional_dependency(f"skdml.hashing.{name}"):
            module = importlib.import_module(f"{__name__}.{_DEEP[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'skdml.hashing' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_DEEP))


__all__ = [
    "AnchorGraphHashing",
    "CCAITQ",
    "CrossModalDeepVariationalHashing",
    "DBDMQ",
    "DeepBitHashing",
    "DeepHashing",
    "DeepVideoHashing",
    "DiscrepancyMinimizingDeepHashing",
    "SupervisedDeepHashing",
    "HammingNeighbors",
    "GraphBit",
    "ITQ",
    "KernelSupervisedHashing",
    "LSH",
    "NonlinearDiscreteHashing",
    "NonlinearSparseHashing",
    "PCAH",
    "PolicyGradientDeepHashing",
    "SpectralHashing",
    "StructuralVideoHashing",
    "SphericalHashing",
    "SupervisedDiscreteHashing",
    "hamming_distances",
    "hamming_knn",
    "hamming_radius_neighbors",
    "pack_codes",
    "unpack_codes",
]
