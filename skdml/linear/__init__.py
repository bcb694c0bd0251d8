"""Classical Mahalanobis metric learners, one module per algorithm."""

from .covariance import Covariance
from .itml import ITML
from .kissme import KISSME
from .lda import LDA
from .lfda import LFDA
from .lmnn import LMNN
from .lsml import LSML
from .mcml import MCML
from .mlkr import MLKR
from .mmc import MMC
from .nca import NCA
from .pca import PCA
from .rca import RCA
from .scml import SCML
from .sdml import SDML

__all__ = [
    "ITML", "KISSME", "LDA", "LFDA", "LMNN", "LSML", "MCML", "MLKR", "MMC", "NCA", "PCA",
    "RCA", "SCML", "SDML", "Covariance",
]
