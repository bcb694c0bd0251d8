"""Classification losses: a softmax over learned class vectors, with a margin or a center
term, so the embedding separates the classes."""

import math
import numbers

import torch
from torch import nn
from torch.nn import functional as F

from ..distances import CosineSimilarity, LpDistance
from ._base import _EPS_NORM, ClassLoss, _check_real


def _with_target(logits, labels, target):
    mask = F.one_hot(labels, logits.shape[1]).bool()
    return torch.where(mask, target[:, None], logits)


def _arcface_logits(cos, labels, margin, scale):
    """``scale * cos`` with each target cosine replaced by ``cos(theta_y + margin)`` (ArcFace;
    ``cos(theta_y) - margin sin(margin)`` where ``theta_y + margin > pi``)."""
    cos_y = cos.gather(1, labels[:, None]).squeeze(1)
    theta = torch.acos(cos_y.clamp(-1 + 1e-7, 1 - 1e-7))
    target = torch.where(
        theta + margin <= math.pi,
        torch.cos(theta + margin),
        cos_y - margin * math.sin(margin),
    )
    return scale * _with_target(cos, labels, target)


# The angular margin losses set ``needs_unclipped_embeddings``, and a learner gives their
# MLP a linear last layer: their logits depend on the embedding's direction (and, for
# SphereFace, on its norm, which the loss can lower to zero); a ReLU output confines the
# directions to the positive orthant and makes the all-zero embedding a dead end, where
# SphereFace's loss stays at ln(n_classes) and nothing trains.


def _check_cosine(loss):
    if not isinstance(loss.distance, CosineSimilarity):
        raise ValueError(
            f"{type(loss).__name__} puts its margin on angles: distance must be "
            f"CosineSimilarity(), got {loss.distance!r}."
        )


class CenterLoss(ClassLoss):
    r"""Softmax cross-entropy per sample, plus ``center_weight / 2`` times the batch mean of
    ``d(x_i, c_{y_i})``, ``d`` the squared Euclidean distance by default.

    The classifier ``softmax(W x + b)`` and the centers ``c`` are learned parameters (the
    optimizer updates the centers, rather than the paper's separate moving-average rule).

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner`.
    center_weight : float, default=0.01
        The paper's lambda.
    distance : distance, default=LpDistance(power=2)
        Measures the embeddings' distance to their centers.
    reducer : reducer, default=MeanReducer()
        Over the per-sample cross-entropies.
    embedding_regularizer, weight_regularizer : regularizer or None, default=None

    References
    ----------
    Y. Wen, K. Zhang, Z. Li and Y. Qiao, "A discriminative feature learning approach for
    deep face recognition", ECCV 2016.
    """

    distance_kind = "distance"
    _reprs = ("center_weight",)

    def __init__(self, n_classes, embedding_dim, center_weight=0.01, *, distance=None,
                 reducer=None, embedding_regularizer=None, weight_regularizer=None):
        super().__init__(n_classes, embedding_dim, distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer,
                         weight_regularizer=weight_regularizer)
        self.center_weight = _check_real(center_weight, "center_weight", "CenterLoss", low=0,
                                         strict=False)
        self.bias = nn.Parameter(torch.zeros(self.n_classes))
        self.centers = nn.Parameter(torch.zeros(self.n_classes, self.embedding_dim))

    def default_distance(self):
        return LpDistance(power=2)

    def logits(self, x, labels):
        return x @ self.weight.to(x.dtype).T + self.bias.to(x.dtype)

    def penalty(self, x, labels, tuples):
        d = self.distance.pairwise(x, self.centers.to(x.dtype)[labels])
        return 0.5 * self.center_weight * d.mean()


class ArcFaceLoss(ClassLoss):
    r"""Additive angular margin: cross-entropy of ``scale * cos(theta_j)``, with the target
    class's angle penalized, ``scale * cos(theta_y + margin)``; one term per sample.

    ``theta_j`` is the angle between the embedding and the learned class vector ``W_j``.
    Where ``theta_y + margin > pi`` the target logit is ``cos(theta_y) - margin sin(margin)``
    (the reference implementation's fallback, keeping it monotonic). A
    :class:`~skdml.deep.DeepMetricLearner` gives its MLP a linear last layer for it
    (``needs_unclipped_embeddings``).

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner`.
    margin : float, default=0.5
        In radians.
    scale : float, default=64.0
    distance : CosineSimilarity, default=CosineSimilarity()
        The margin is on angles: only the cosine similarity is accepted.
    reducer : reducer, default=MeanReducer()
    embedding_regularizer, weight_regularizer : regularizer or None, default=None

    References
    ----------
    J. Deng, J. Guo, N. Xue and S. Zafeiriou, "ArcFace: additive angular margin loss for deep
    face recognition", CVPR 2019.
    """

    distance_kind = "similarity"
    needs_unclipped_embeddings = True
    _reprs = ("margin", "scale")

    def __init__(self, n_classes, embedding_dim, margin=0.5, scale=64.0, *, distance=None,
                 reducer=None, embedding_regularizer=None, weight_regularizer=None):
        super().__init__(n_classes, embedding_dim, distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer,
                         weight_regularizer=weight_regularizer)
        _check_cosine(self)
        self.margin = _check_real(margin, "margin", "ArcFaceLoss", low=0, strict=False)
        self.scale = _check_real(scale, "scale", "ArcFaceLoss", low=0)

    def default_distance(self):
        return CosineSimilarity()

    def logits(self, x, labels):
        return _arcface_logits(self.cosines(x), labels, self.margin, self.scale)


class CosFaceLoss(ClassLoss):
    r"""Large margin cosine loss: cross-entropy of ``scale * cos(theta_j)`` with the target's
    ``scale * (cos(theta_y) - margin)``; one term per sample. A
    :class:`~skdml.deep.DeepMetricLearner` gives its MLP a linear last layer for it
    (``needs_unclipped_embeddings``).

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner`.
    margin : float, default=0.35
    scale : float, default=64.0
    distance : CosineSimilarity, default=CosineSimilarity()
        The margin is on cosines: only the cosine similarity is accepted.
    reducer : reducer, default=MeanReducer()
    embedding_regularizer, weight_regularizer : regularizer or None, default=None

    References
    ----------
    H. Wang, Y. Wang, Z. Zhou, X. Ji, D. Gong, J. Zhou, Z. Li and W. Liu, "CosFace: large
    margin cosine loss for deep face recognition", CVPR 2018.
    """

    distance_kind = "similarity"
    needs_unclipped_embeddings = True
    _reprs = ("margin", "scale")

    def __init__(self, n_classes, embedding_dim, margin=0.35, scale=64.0, *, distance=None,
                 reducer=None, embedding_regularizer=None, weight_regularizer=None):
        super().__init__(n_classes, embedding_dim, distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer,
                         weight_regularizer=weight_regularizer)
        _check_cosine(self)
        self.margin = _check_real(margin, "margin", "CosFaceLoss", low=0, strict=False)
        self.scale = _check_real(scale, "scale", "CosFaceLoss", low=0)

    def default_distance(self):
        return CosineSimilarity()

    def logits(self, x, labels):
        cos = self.cosines(x)
        target = cos.gather(1, labels[:, None]).squeeze(1) - self.margin
        return self.scale * _with_target(cos, labels, target)


class SphereFaceLoss(ClassLoss):
    r"""Angular softmax (A-Softmax): cross-entropy of ``|x| cos(theta_j)`` with the target's
    ``|x| psi(theta_y)``, ``psi(theta) = (-1)^k cos(m theta) - 2k`` for
    ``theta in [k pi / m, (k + 1) pi / m]``: a multiplicative angular margin ``m``; one term
    per sample.

    Class vectors are normalized, biases zero, as in the paper (no annealing with the plain
    softmax). The logits scale with ``|x|``: on a ReLU-ended network the loss can reach
    its plateau ``ln(n_classes)`` by the all-zero embedding, where every output unit is
    dead; a :class:`~skdml.deep.DeepMetricLearner` therefore gives its MLP a linear last
    layer (``needs_unclipped_embeddings``).

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner`.
    margin : int, default=4
    distance : CosineSimilarity, default=CosineSimilarity()
        The margin is on angles: only the cosine similarity is accepted.
    reducer : reducer, default=MeanReducer()
    embedding_regularizer, weight_regularizer : regularizer or None, default=None

    References
    ----------
    W. Liu, Y. Wen, Z. Yu, M. Li, B. Raj and L. Song, "SphereFace: deep hypersphere
    embedding for face recognition", CVPR 2017.
    """

    distance_kind = "similarity"
    needs_unclipped_embeddings = True
    _reprs = ("margin",)

    def __init__(self, n_classes, embedding_dim, margin=4, *, distance=None, reducer=None,
                 embedding_regularizer=None, weight_regularizer=None):
        super().__init__(n_classes, embedding_dim, distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer,
                         weight_regularizer=weight_regularizer)
        _check_cosine(self)
        if not isinstance(margin, numbers.Integral) or isinstance(margin, bool) or margin < 1:
            raise ValueError(f"SphereFaceLoss: margin must be an integer >= 1, got {margin!r}.")
        self.margin = int(margin)

    def default_distance(self):
        return CosineSimilarity()

    def logits(self, x, labels):
        cos = self.cosines(x)
        norm = x.norm(dim=1).clamp_min(_EPS_NORM)
        cos_y = cos.gather(1, labels[:, None]).squeeze(1)
        theta = torch.acos(cos_y.clamp(-1 + 1e-7, 1 - 1e-7))
        k = torch.floor(self.margin * theta / math.pi).detach()
        sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
        psi = sign * torch.cos(self.margin * theta) - 2.0 * k
        return norm[:, None] * _with_target(cos, labels, psi)
