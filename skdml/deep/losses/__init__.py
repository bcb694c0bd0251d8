"""Losses for deep metric learning: one formula each, as ``torch.nn.Module`` s.

Every loss is called as ``loss(embeddings, labels, tuples=None)`` and returns a scalar:

- ``embeddings``: a float tensor of shape (batch_size, embedding_dim);
- ``labels``: an integer tensor of shape (batch_size,) (class indices 0..n_classes-1 for
  the losses with learned class vectors);
- ``tuples``: what a miner selected (see :mod:`skdml.deep.miners`): pairs ``(a1, p, a2, n)``
  or triplets ``(a, p, n)``; ``None`` means every pair (pair losses) or every triplet
  (triplet losses) of the batch. A pair loss given triplets uses their pairs, a triplet
  loss given pairs forms every triplet that shares an anchor. The classification losses
  use the labels and ignore ``tuples``.

Each loss is built from three parts it takes as arguments: a ``distance``
(:mod:`skdml.deep.distances`; the Euclidean distance, its square, or the cosine
similarity, as its paper has it, by default), a ``reducer`` (:mod:`skdml.deep.reducers`;
how the per-term values become the scalar) and an optional ``embedding_regularizer``
(:mod:`skdml.deep.regularizers`). A batch without a single positive pair makes a pair or
triplet loss warn and return 0 (still part of the graph), never NaN: each batch needs two
samples of one class, which the class-balanced sampler of
:class:`~skdml.deep.DeepMetricLearner` guarantees.

A new loss subclasses :class:`MetricLoss` and implements its ``compute``.
"""

from ..distances import _sq_dist_matrix  # noqa: F401  (used by learners)
from ._base import ClassLoss, MetricLoss, _check_real  # noqa: F401
from ._batch import (
    CircleLoss,
    FastAPLoss,
    GeneralizedLiftedStructureLoss,
    NTXentLoss,
    SupConLoss,
    TupletMarginLoss,
)
from ._classification import ArcFaceLoss, CenterLoss, CosFaceLoss, SphereFaceLoss
from ._domain import ManifoldMarginLoss, TransferObjective
from ._memory import CrossBatchMemory
from ._ordinal import LogRatioLoss, ThresholdTripletLoss
from ._pair import (
    AngularLoss,
    ContrastiveLoss,
    DistanceLogisticLoss,
    GeneralizedLogisticLoss,
    LiftedStructuredLoss,
    MarginLoss,
    MultiSimilarityLoss,
    NPairLoss,
    TripletMarginLoss,
)
from ._proxy import (
    NormalizedSoftmaxLoss,
    ProxyAnchorLoss,
    ProxyNCALoss,
    SoftTripleLoss,
    SubCenterArcFaceLoss,
)

__all__ = [
    "AngularLoss",
    "ArcFaceLoss",
    "CenterLoss",
    "CircleLoss",
    "ClassLoss",
    "ContrastiveLoss",
    "CosFaceLoss",
    "CrossBatchMemory",
    "DistanceLogisticLoss",
    "FastAPLoss",
    "GeneralizedLiftedStructureLoss",
    "GeneralizedLogisticLoss",
    "LiftedStructuredLoss",
    "LogRatioLoss",
    "ManifoldMarginLoss",
    "MarginLoss",
    "MetricLoss",
    "MultiSimilarityLoss",
    "NPairLoss",
    "NTXentLoss",
    "NormalizedSoftmaxLoss",
    "ProxyAnchorLoss",
    "ProxyNCALoss",
    "SoftTripleLoss",
    "SphereFaceLoss",
    "SubCenterArcFaceLoss",
    "SupConLoss",
    "ThresholdTripletLoss",
    "TransferObjective",
    "TripletMarginLoss",
    "TupletMarginLoss",
]

# one public home: the classes say they live here (reprs, docs, and the class paths that
# saved models record stay those of the former single module)
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
