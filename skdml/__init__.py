"""skdml: classical, deep and Hamming metric learning with the scikit-learn API.

``import skdml`` imports nothing heavy: every public name is handed out on first access
(PEP 562), so ``python -m skdml --help`` answers at once. The classical learners never import
torch; the deep learners need the ``deep`` extra (torch, skorch) and say so when it is missing.
"""

import importlib

from ._optional import is_installed, optional_dependency

__version__ = "0.1.0.dev0"

# name -> the module that defines it, imported on first access only.
_SUBMODULES = ("constraints", "datasets", "hashing", "io", "kernels", "metrics", "neighbors")
_CLASSICAL = dict.fromkeys(
    ["ITML", "KISSME", "LDA", "LFDA", "LMNN", "LSML", "MCML", "MLKR", "MMC", "NCA", "PCA",
     "RCA", "SCML", "SDML", "Covariance"],
    "skdml.linear",
)
# Deep learners import torch and skorch (the 'deep' extra).
_LAZY = dict.fromkeys(
    ["DAML", "DDML", "DDMML", "DLML", "DSTML", "DTML", "DVML", "DeepMetricLearner", "ECN",
     "LSDML", "LogRatioLearner", "MMDML", "MvDML", "ODL", "SiameseNetwork"],
    "skdml.deep",
)


def __getattr__(name):
    if name in _CLASSICAL:
        value = getattr(importlib.import_module(_CLASSICAL[name]), name)
    elif name in _LAZY:
        with optional_dependency(f"skdml.{name}"):
            value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'skdml' has no attribute {name!r}")
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


# `from skdml import *` hands out the deep learners only where their extra is installed.
__all__ = [
    *(_LAZY if is_installed("torch", "skorch") else ()),
    *_CLASSICAL,
    *_SUBMODULES,
]
