"""Classical Mahalanobis metric learners, one module per algorithm."""

from .covariance import Covariance
from .itml import ITML
from .kissme import KISSME
from .lda import LDA
from .lmnn import LMNN
from .pca import PCA

__all__ = ["ITML", "KISSME", "LDA", "LMNN", "PCA", "Covariance"]
