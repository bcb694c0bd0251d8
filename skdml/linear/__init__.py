"""Classical Mahalanobis metric learners, one module per algorithm.

The toolkit a new learner builds on (one place for each piece, so that none is copied):

- ``_init``: starting components (``'auto'``, ``'pca'``, ``'lda'``, ``'identity'``,
  ``'random'`` or an array) and ``n_components`` checks;
- ``_optim``: L-BFGS on a matrix with a scikit-learn style ``callback``
  (``minimize_lbfgs``), Adam and minibatch epochs (``minimize_minibatch``),
  ``check_batch_size`` and the one verbose line format (``print_progress``);
- ``_softmax``: the neighbour softmax and Laplacian products of NCA, MLKR and MCML;
- ``_psd``: the units policy (``standardize`` / ``unstandardize_components``: read its
  docstring before choosing whether a learner standardizes), PSD clipping, the
  factorizations of a metric into components (``components_from_psd``,
  ``components_from_inverse``) and the principal axes (``principal_axes``);
- ``skdml.constraints``: target neighbours, pairs, triplets and quadruplets from labels.

Tests mirror the modules: ``tests/linear/test_<module>.py``.
"""

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
