"""skdml: classical, deep and Hamming metric learning with the scikit-learn API.

``import skdml`` stays light: the classical learners never import torch, and the deep
learners (when present) are handed out lazily.
"""

from . import constraints, datasets, hashing, io, kernels, metrics
from .linear import (
    ITML,
    KISSME,
    LDA,
    LFDA,
    LMNN,
    LSML,
    MCML,
    MLKR,
    MMC,
    NCA,
    PCA,
    RCA,
    SCML,
    SDML,
    Covariance,
)

__version__ = "0.1.0.dev0"

# Deep learners import torch: hand them out on first access only (PEP 562).
_LAZY = dict.fromkeys(
    ["DAML", "DDML", "DSTML", "DTML", "DVML", "DeepMetricLearner", "LogRatioLearner", "MMDML"],
    "skdml.deep",
)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skdml' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "DAML",
    "DDML",
    "DSTML",
    "DTML",
    "DVML",
    "DeepMetricLearner",
    "LogRatioLearner",
    "MMDML",
    "ITML",
    "KISSME",
    "LDA",
    "LFDA",
    "LMNN",
    "LSML",
    "MCML",
    "MLKR",
    "MMC",
    "NCA",
    "PCA",
    "RCA",
    "SCML",
    "SDML",
    "Covariance",
    "constraints",
    "datasets",
    "hashing",
    "io",
    "kernels",
    "metrics",
]
