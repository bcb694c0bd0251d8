"""skdml: classical, deep and Hamming metric learning with the scikit-learn API.

``import skdml`` stays light: the classical learners never import torch, and the deep
learners (when present) are handed out lazily.
"""

from . import constraints, datasets, hashing, kernels, metrics
from .linear import ITML, KISSME, LDA, LFDA, LMNN, MCML, MLKR, NCA, PCA, Covariance

__version__ = "0.1.0.dev0"

__all__ = [
    "ITML",
    "KISSME",
    "LDA",
    "LFDA",
    "LMNN",
    "MCML",
    "MLKR",
    "NCA",
    "PCA",
    "Covariance",
    "constraints",
    "datasets",
    "hashing",
    "kernels",
    "metrics",
]
