"""Deep metric learning on torch and skorch: networks, losses, miners, and the learners.

Importing this subpackage imports torch; ``import skdml`` alone does not.
"""

from ._base import ClassBalancedBatchSampler, DeepMetricLearner
from ._modules import MLP
from .ddml import DDML
from .losses import (
    AngularLoss,
    ArcFaceLoss,
    CenterLoss,
    ContrastiveLoss,
    CosFaceLoss,
    DistanceLogisticLoss,
    GeneralizedLogisticLoss,
    LiftedStructuredLoss,
    MarginLoss,
    MultiSimilarityLoss,
    NPairLoss,
    SphereFaceLoss,
    TripletMarginLoss,
)
from .miners import (
    AllPairsMiner,
    AllTripletsMiner,
    DistanceWeightedMiner,
    HardMiner,
    SemiHardMiner,
)

__all__ = [
    "DDML",
    "MLP",
    "AllPairsMiner",
    "AllTripletsMiner",
    "AngularLoss",
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
    "NPairLoss",
    "SemiHardMiner",
    "SphereFaceLoss",
    "TripletMarginLoss",
]
