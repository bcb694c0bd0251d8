"""Deep metric learning on torch and skorch: networks, losses, miners, and the learners.

Losses and miners are composed from :mod:`skdml.deep.distances`, :mod:`skdml.deep.reducers`
and :mod:`skdml.deep.regularizers`.

Importing this subpackage imports torch; ``import skdml`` alone does not.
"""

from . import callbacks, distances, reducers, regularizers
from ._base import ClassBalancedBatchSampler, DeepMetricLearner
from .callbacks import CollapseDetector, CollapseWarning
from ._modules import MLP
from .daml import DAML, HardNegativeGenerator, daml_generator_loss, sample_triplets
from .ddml import DDML
from .ddmml import DDMML, MultiMetricLoss
from .dlml import DLML, LocalizedMLP
from .dtml import DSTML, DTML, TransferObjective, neighbor_pairs, target_mask
from .dvml import DVML, VariationalEmbedding
from .ecn import ECN, ExemplarMemoryLoss
from .logratio import (
    LogRatioLearner,
    LogRatioLoss,
    NearestLabelBatchSampler,
    ThresholdTripletLoss,
    dense_triplets,
    label_distances,
)
from .losses import (
    AngularLoss,
    CircleLoss,
    CrossBatchMemory,
    FastAPLoss,
    GeneralizedLiftedStructureLoss,
    NTXentLoss,
    SupConLoss,
    TupletMarginLoss,
    MetricLoss,
    ArcFaceLoss,
    CenterLoss,
    ContrastiveLoss,
    CosFaceLoss,
    DistanceLogisticLoss,
    GeneralizedLogisticLoss,
    LiftedStructuredLoss,
    MarginLoss,
    MultiSimilarityLoss,
    NormalizedSoftmaxLoss,
    NPairLoss,
    ProxyAnchorLoss,
    ProxyNCALoss,
    SoftTripleLoss,
    SphereFaceLoss,
    SubCenterArcFaceLoss,
    TripletMarginLoss,
)
from .lsdml import LSDML, LabelSensitiveLoss, SourceBatchSampler, hard_quadruples
from .mmdml import MMDML, ManifoldMarginLoss
from .mvdml import MvDML, PairHingeLoss, SharableIndividualNet
from .odl import ODL, ODLLoss
from .siamese import SiameseNetwork
from .miners import (
    AllPairsMiner,
    AllTripletsMiner,
    AngularMiner,
    BaseMiner,
    BatchEasyHardMiner,
    DistanceWeightedMiner,
    HardMiner,
    MultiSimilarityMiner,
    PairMarginMiner,
    SemiHardMiner,
)

__all__ = [
    "DAML",
    "DDML",
    "DDMML",
    "DLML",
    "ECN",
    "LSDML",
    "MvDML",
    "ODL",
    "ODLLoss",
    "ExemplarMemoryLoss",
    "LabelSensitiveLoss",
    "LocalizedMLP",
    "MultiMetricLoss",
    "PairHingeLoss",
    "SharableIndividualNet",
    "SourceBatchSampler",
    "hard_quadruples",
    "DSTML",
    "DTML",
    "DVML",
    "MMDML",
    "SiameseNetwork",
    "HardNegativeGenerator",
    "LogRatioLearner",
    "LogRatioLoss",
    "ManifoldMarginLoss",
    "NearestLabelBatchSampler",
    "ThresholdTripletLoss",
    "TransferObjective",
    "VariationalEmbedding",
    "daml_generator_loss",
    "dense_triplets",
    "label_distances",
    "neighbor_pairs",
    "sample_triplets",
    "target_mask",
    "MLP",
    "CollapseDetector",
    "CollapseWarning",
    "AllPairsMiner",
    "AllTripletsMiner",
    "AngularLoss",
    "AngularMiner",
    "BaseMiner",
    "BatchEasyHardMiner",
    "CircleLoss",
    "CrossBatchMemory",
    "FastAPLoss",
    "GeneralizedLiftedStructureLoss",
    "NTXentLoss",
    "SupConLoss",
    "TupletMarginLoss",
    "MetricLoss",
    "ArcFaceLoss",
    "CenterLoss",
    "ClassBalancedBatchSampler",
    "ContrastiveLoss",
    "CosFaceLoss",
    "DeepMetricLearner",
    "DistanceLogisticLoss",
    "DistanceWeightedMiner",
    "GeneralizedLogisticLoss",
    "HardMiner",
    "LiftedStructuredLoss",
    "MarginLoss",
    "MultiSimilarityLoss",
    "MultiSimilarityMiner",
    "PairMarginMiner",
    "NPairLoss",
    "NormalizedSoftmaxLoss",
    "ProxyAnchorLoss",
    "ProxyNCALoss",
    "SemiHardMiner",
    "SoftTripleLoss",
    "SphereFaceLoss",
    "SubCenterArcFaceLoss",
    "TripletMarginLoss",
]
