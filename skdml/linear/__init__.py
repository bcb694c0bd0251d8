"""Classical Mahalanobis metric learners, one module per algorithm."""

from .covariance import Covariance
from .itml import ITML
from .kissme import KISSME
from .lda import LDA
from .lfda import LFDA
from .lmnn import LMNN
from .mcml import MCML
from .mlkr import MLKR
from .nca import NCA
from .pca import PCA

__all__ = ["ITML", "KISSME", "LDA", "LFDA", "LMNN", "MCML", "MLKR", "NCA", "PCA", "Covariance"]
