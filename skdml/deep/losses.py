"""Losses for deep metric learning: one formula each, as ``torch.nn.Module`` s.

Every loss is called as ``loss(embeddings, labels, tuples=None)``:

- ``embeddings``: a float tensor of shape (batch_size, embedding_dim);
- ``labels``: an integer tensor of shape (batch_size,) (class indices 0..n_classes-1 for
  the classification losses);
- ``tuples``: what a miner selected (see :mod:`skdml.deep.miners`): pairs ``(a1, p, a2, n)``
  or triplets ``(a, p, n)``; ``None`` means every pair (pair losses) or every triplet
  (triplet losses) of the batch. A pair loss given triplets uses their pairs, a triplet
  loss given pairs forms every triplet that shares an anchor. The classification losses
  (center, ArcFace, CosFace, SphereFace) use the labels and ignore ``tuples``.

and returns a scalar. ``d_ij`` is the Euclidean distance of two embeddings. Losses built on
angles or cosine similarities (angular, margin, multi-similarity, ArcFace, CosFace,
SphereFace) L2-normalize the embeddings themselves, as their papers do; the others work on
the embeddings as the network gives them. A batch without a single positive pair makes a pair
or triplet loss warn and return 0 (still part of the graph), never NaN: each batch needs two
samples of one class, which the class-balanced sampler of
:class:`~skdml.deep.DeepMetricLearner` guarantees.
"""

import math
import numbers
import warnings

import torch
from torch import nn
from torch.nn import functional as F

from .miners import all_pairs, all_triplets, as_pairs, as_triplets

__all__ = [
    "AngularLoss",
    "ArcFaceLoss",
    "CenterLoss",
    "ContrastiveLoss",
    "CosFaceLoss",
    "DistanceLogisticLoss",
    "GeneralizedLogisticLoss",
    "LiftedStructuredLoss",
    "MarginLoss",
    "MultiSimilarityLoss",
    "NPairLoss",
    "SphereFaceLoss",
    "TripletMarginLoss",
]

_EPS = 1e-12
_MASKED = -1e4  # a finite "minus infinity": exp() is exactly 0, gradients stay finite


def _check_real(value, name, owner, *, low=None, strict=True):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite real number, got {value!r}.")
    if low is not None and (value <= low if strict else value < low):
        op = ">" if strict else ">="
        raise ValueError(f"{owner}: {name} must be {op} {low}, got {value!r}.")
    return float(value)


def _sq_dist_matrix(x):
    """All squared distances of a batch through its Gram matrix: one matmul, O(B^2 d).

    Indexing this B x B matrix by the pairs is far cheaper than gathering one difference
    vector per pair (tens of thousands of pairs per batch). Round-off can make an entry
    slightly negative: clamped at 0.
    """
    sq = (x * x).sum(1)
    return (sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)).clamp_min(0.0)


def _dist_matrix(x):
    # sqrt clamped away from 0: the gradient of ||0|| is taken as 0, never NaN
    return _sq_dist_matrix(x).clamp_min(_EPS).sqrt()


def _zero(embeddings):
    return (embeddings * 0.0).sum()


class MetricLoss(nn.Module):
    """Base of the pair and triplet losses: input checks, default tuples, conversions."""

    #: 'pair' or 'triplet': the tuples ``compute`` receives
    tuple_kind = "pair"

    def forward(self, embeddings, labels, tuples=None):
        name = type(self).__name__
        if embeddings.dim() != 2 or labels.dim() != 1 or len(labels) != len(embeddings):
            raise ValueError(
                f"{name} expects embeddings of shape (n, d) and labels of shape (n,), got "
                f"{tuple(embeddings.shape)} and {tuple(labels.shape)}."
            )
        if len(torch.unique(labels)) == len(labels):
            warnings.warn(
                f"{name}: the batch has no positive pair (no two samples share a class), so "
                "the loss is 0 for it. Give every batch at least two samples of one class.",
                UserWarning,
                stacklevel=2,
            )
            return _zero(embeddings)
        if self.tuple_kind == "pair":
            tuples = all_pairs(labels) if tuples is None else as_pairs(tuples)
        else:
            tuples = all_triplets(labels) if tuples is None else as_triplets(tuples)
        if sum(len(t) for t in tuples) == 0:
            return _zero(embeddings)
        return self.compute(embeddings, labels, tuples)

    def extra_repr(self):
        return ", ".join(f"{k}={getattr(self, k)!r}" for k in getattr(self, "_reprs", ()))


def _pair_terms(pos, neg):
    """Mean over all pairs, positive and negative, of the per-pair terms."""
    return torch.cat([pos, neg]).mean()


class GeneralizedLogisticLoss(MetricLoss):
    r"""DDML's loss: ``g(1 - l_ij (tau - d_ij^2))``, averaged over pairs.

    ``l_ij = +1`` for a positive pair, ``-1`` for a negative one, and
    ``g(z) = log(1 + exp(beta z)) / beta`` the generalized logistic function, a smooth
    ``max(0, z)``: positive pairs are pushed below ``d^2 = tau - 1``, negative pairs above
    ``tau + 1``.

    Parameters
    ----------
    tau : float, default=3.0
        The threshold on squared distances.
    beta : float, default=2.0
        Sharpness of ``g``.

    References
    ----------
    J. Hu, J. Lu and Y.-P. Tan, "Discriminative deep metric learning for face verification
    in the wild", CVPR 2014.
    """

    _reprs = ("tau", "beta")

    def __init__(self, tau=3.0, beta=2.0):
        super().__init__()
        self.tau = _check_real(tau, "tau", "GeneralizedLogisticLoss")
        self.beta = _check_real(beta, "beta", "GeneralizedLogisticLoss", low=0)

    def compute(self, x, labels, pairs):
        a1, p, a2, n = pairs
        d2 = _sq_dist_matrix(x)
        pos = 1.0 - (self.tau - d2[a1, p])
        neg = 1.0 + (self.tau - d2[a2, n])
        return F.softplus(torch.cat([pos, neg]), beta=self.beta).mean()


class ContrastiveLoss(MetricLoss):
    r"""``1/2 d_ij^2`` for positive pairs, ``1/2 max(0, margin - d_ij)^2`` for negative ones.

    Averaged over pairs.

    Parameters
    ----------
    margin : float, default=1.0

    References
    ----------
    R. Hadsell, S. Chopra and Y. LeCun, "Dimensionality reduction by learning an invariant
    mapping", CVPR 2006.
    """

    _reprs = ("margin",)

    def __init__(self, margin=1.0):
        super().__init__()
        self.margin = _check_real(margin, "margin", "ContrastiveLoss", low=0)

    def compute(self, x, labels, pairs):
        a1, p, a2, n = pairs
        d2 = _sq_dist_matrix(x)
        pos = 0.5 * d2[a1, p]
        neg = 0.5 * F.relu(self.margin - d2[a2, n].clamp_min(_EPS).sqrt()) ** 2
        return _pair_terms(pos, neg)


class TripletMarginLoss(MetricLoss):
    r"""``max(0, d(a, p) - d(a, n) + margin)``, averaged over triplets.

    ``d`` is the squared Euclidean distance (FaceNet) or, with ``squared=False``, the
    Euclidean one.

    Parameters
    ----------
    margin : float, default=0.2
    squared : bool, default=True

    References
    ----------
    F. Schroff, D. Kalenichenko and J. Philbin, "FaceNet: a unified embedding for face
    recognition and clustering", CVPR 2015.
    """

    tuple_kind = "triplet"
    _reprs = ("margin", "squared")

    def __init__(self, margin=0.2, squared=True):
        super().__init__()
        self.margin = _check_real(margin, "margin", "TripletMarginLoss", low=0, strict=False)
        self.squared = bool(squared)

    def compute(self, x, labels, triplets):
        a, p, n = triplets
        dist = _sq_dist_matrix(x) if self.squared else _dist_matrix(x)
        return F.relu(dist[a, p] - dist[a, n] + self.margin).mean()


class NPairLoss(MetricLoss):
    r"""Multi-class N-pair loss, averaged over the positive pairs ``(a, p)``.

    ``log(1 + sum_{p'} exp(f_a . f_p' - f_a . f_p)) + l2_reg * (|f_a|^2 + |f_p|^2) / 2``,
    the sum over the positives ``p'`` of the other pairs whose class differs from ``a``'s.
    With one pair per class, this is exactly Sohn's (N+1)-tuplet loss of N pairs.

    Parameters
    ----------
    l2_reg : float, default=0.0
        Weight of the embedding-norm penalty (Sohn uses it on unnormalized embeddings).

    References
    ----------
    K. Sohn, "Improved deep metric learning with multi-class N-pair loss objective",
    NeurIPS 2016.
    """

    _reprs = ("l2_reg",)

    def __init__(self, l2_reg=0.0):
        super().__init__()
        self.l2_reg = _check_real(l2_reg, "l2_reg", "NPairLoss", low=0, strict=False)

    def compute(self, x, labels, pairs):
        a, p = pairs[0], pairs[1]
        if len(a) == 0:
            return _zero(x)
        sim = x[a] @ x[p].T  # sim[k, k'] = f_{a_k} . f_{p_k'}
        other = labels[a][:, None] != labels[p][None, :]
        logits = torch.where(other, sim - sim.diagonal()[:, None], torch.full_like(sim, _MASKED))
        zeros = torch.zeros_like(logits[:, :1])  # the "1 +" inside the log
        loss = torch.logsumexp(torch.cat([zeros, logits], 1), 1).mean()
        if self.l2_reg:
            loss = loss + self.l2_reg * 0.5 * ((x[a] ** 2).sum(1) + (x[p] ** 2).sum(1)).mean()
        return loss


class LiftedStructuredLoss(MetricLoss):
    r"""Lifted structured loss: ``1/(2|P|) sum_{(i,j) in P} max(0, J_ij)^2`` with

    ``J_ij = log(sum_{(i,k) in N} exp(margin - d_ik) + sum_{(j,l) in N} exp(margin - d_jl))
    + d_ij``, over the positive pairs ``P`` and negative pairs ``N`` of the batch (or the
    miner's).

    Parameters
    ----------
    margin : float, default=1.0

    References
    ----------
    H. O. Song, Y. Xiang, S. Jegelka and S. Savarese, "Deep metric learning via lifted
    structured feature embedding", CVPR 2016.
    """

    _reprs = ("margin",)

    def __init__(self, margin=1.0):
        super().__init__()
        self.margin = _check_real(margin, "margin", "LiftedStructuredLoss", low=0)

    def compute(self, x, labels, pairs):
        a1, p, a2, n = pairs
        if len(a1) == 0:
            return _zero(x)
        size = len(x)
        neg = torch.zeros(size, size, dtype=torch.bool, device=x.device)
        neg[a2, n] = True
        neg[n, a2] = True
        dist = _dist_matrix(x)
        terms = torch.where(neg, self.margin - dist, torch.full_like(dist, _MASKED))
        J = torch.logsumexp(torch.cat([terms[a1], terms[p]], 1), 1) + dist[a1, p]
        return 0.5 * (F.relu(J) ** 2).mean()


class AngularLoss(MetricLoss):
    r"""Angular loss: ``max(0, |x_a - x_p|^2 - 4 tan^2(alpha) |x_n - x_c|^2)``, per triplet.

    ``x_c = (x_a + x_p) / 2``, on L2-normalized embeddings; averaged over triplets. It bounds
    the angle at the negative of the triangle ``(a, p, n)`` by ``alpha``.

    Parameters
    ----------
    alpha : float, default=40
        The angle bound, in degrees (the paper tries 36 to 55).

    References
    ----------
    J. Wang, F. Zhou, S. Wen, X. Liu and Y. Lin, "Deep metric learning with angular loss",
    ICCV 2017.
    """

    tuple_kind = "triplet"
    _reprs = ("alpha",)

    def __init__(self, alpha=40.0):
        super().__init__()
        self.alpha = _check_real(alpha, "alpha", "AngularLoss", low=0)
        if self.alpha >= 90:
            raise ValueError(f"AngularLoss: alpha must be < 90 degrees, got {alpha!r}.")

    def compute(self, x, labels, triplets):
        a, p, n = triplets
        z = F.normalize(x, dim=1)
        G = z @ z.T
        tan2 = math.tan(math.radians(self.alpha)) ** 2
        # |x_a - x_p|^2 and |x_n - (x_a + x_p)/2|^2 from the Gram matrix
        ap = G[a, a] + G[p, p] - 2.0 * G[a, p]
        to_center = G[n, n] + 0.25 * (G[a, a] + 2.0 * G[a, p] + G[p, p]) - G[n, a] - G[n, p]
        return F.relu(ap - 4.0 * tan2 * to_center).mean()


class MarginLoss(MetricLoss):
    r"""Margin loss: ``max(0, alpha + l_ij (d_ij - beta))`` with a learned boundary ``beta``.

    ``l_ij = +1`` for positive, ``-1`` for negative pairs, ``d`` on L2-normalized
    embeddings. The sum over pairs is divided by the number of pairs with a non-zero term,
    and ``nu * beta`` is added (the paper's regularization of ``beta``). ``beta`` is one
    learned scalar (the paper also describes one per class).

    Parameters
    ----------
    alpha : float, default=0.2
        The margin around the boundary.
    beta : float, default=1.2
        Initial value of the boundary.
    nu : float, default=0.0
    learn_beta : bool, default=True

    References
    ----------
    C.-Y. Wu, R. Manmatha, A. J. Smola and P. Krähenbühl, "Sampling matters in deep
    embedding learning", ICCV 2017.
    """

    _reprs = ("alpha", "nu", "learn_beta")

    def __init__(self, alpha=0.2, beta=1.2, nu=0.0, learn_beta=True):
        super().__init__()
        self.alpha = _check_real(alpha, "alpha", "MarginLoss", low=0, strict=False)
        beta = _check_real(beta, "beta", "MarginLoss")
        self.nu = _check_real(nu, "nu", "MarginLoss", low=0, strict=False)
        self.learn_beta = bool(learn_beta)
        self.beta = nn.Parameter(torch.tensor(beta), requires_grad=self.learn_beta)

    def compute(self, x, labels, pairs):
        a1, p, a2, n = pairs
        z = F.normalize(x, dim=1)
        beta = self.beta.to(z.dtype)
        dist = _dist_matrix(z)
        pos = F.relu(self.alpha + dist[a1, p] - beta)
        neg = F.relu(self.alpha - dist[a2, n] + beta)
        terms = torch.cat([pos, neg])
        active = (terms > 0).sum().clamp_min(1)
        return terms.sum() / active + self.nu * beta


class MultiSimilarityLoss(MetricLoss):
    r"""Multi-similarity loss, averaged over the anchors ``i`` with a pair:

    ``1/alpha log(1 + sum_{k in P_i} exp(-alpha (S_ik - base)))
    + 1/beta log(1 + sum_{k in N_i} exp(beta (S_ik - base)))``,
    ``S`` the cosine similarity, ``P_i`` / ``N_i`` the positives / negatives paired with
    ``i`` (by the miner, or all of them).

    Parameters
    ----------
    alpha : float, default=2.0
    beta : float, default=50.0
    base : float, default=0.5
        The similarity margin lambda of the paper.

    References
    ----------
    X. Wang, X. Han, W. Huang, D. Dong and M. R. Scott, "Multi-similarity loss with general
    pair weighting for deep metric learning", CVPR 2019.
    """

    _reprs = ("alpha", "beta", "base")

    def __init__(self, alpha=2.0, beta=50.0, base=0.5):
        super().__init__()
        self.alpha = _check_real(alpha, "alpha", "MultiSimilarityLoss", low=0)
        self.beta = _check_real(beta, "beta", "MultiSimilarityLoss", low=0)
        self.base = _check_real(base, "base", "MultiSimilarityLoss")

    def compute(self, x, labels, pairs):
        a1, p, a2, n = pairs
        size = len(x)
        z = F.normalize(x, dim=1)
        S = z @ z.T
        pos = torch.zeros(size, size, dtype=torch.bool, device=x.device)
        neg = torch.zeros_like(pos)
        pos[a1, p] = True
        neg[a2, n] = True
        zeros = torch.zeros_like(S[:, :1])
        pos_terms = torch.where(pos, -self.alpha * (S - self.base), torch.full_like(S, _MASKED))
        neg_terms = torch.where(neg, self.beta * (S - self.base), torch.full_like(S, _MASKED))
        pos_loss = torch.logsumexp(torch.cat([zeros, pos_terms], 1), 1) / self.alpha
        neg_loss = torch.logsumexp(torch.cat([zeros, neg_terms], 1), 1) / self.beta
        anchors = pos.any(1) | neg.any(1)
        return (pos_loss + neg_loss)[anchors].mean()


class DistanceLogisticLoss(MetricLoss):
    r"""Distance-based logistic loss: ``log(1 + exp(scale * l_ij * (d_ij - margin)))``.

    ``l_ij = +1`` for positive, ``-1`` for negative pairs: a logistic regression on the
    distance, with the decision boundary at ``d = margin``. Averaged over pairs.

    Parameters
    ----------
    margin : float, default=1.0
    scale : float, default=1.0
        Slope of the logistic (1 in the paper's formula).

    References
    ----------
    N. N. Vo and J. Hays, "Localizing and orienting street views using overhead imagery",
    ECCV 2016.
    """

    _reprs = ("margin", "scale")

    def __init__(self, margin=1.0, scale=1.0):
        super().__init__()
        self.margin = _check_real(margin, "margin", "DistanceLogisticLoss", low=0)
        self.scale = _check_real(scale, "scale", "DistanceLogisticLoss", low=0)

    def compute(self, x, labels, pairs):
        a1, p, a2, n = pairs
        dist = _dist_matrix(x)
        pos = self.scale * (dist[a1, p] - self.margin)
        neg = -self.scale * (dist[a2, n] - self.margin)
        return F.softplus(torch.cat([pos, neg])).mean()


class _ClassLoss(nn.Module):
    """Base of the losses with one learned vector per class."""

    def __init__(self, n_classes, embedding_dim):
        super().__init__()
        name = type(self).__name__
        for value, what in ((n_classes, "n_classes"), (embedding_dim, "embedding_dim")):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: {what} must be an integer >= 1, got {value!r}.")
        self.n_classes = int(n_classes)
        self.embedding_dim = int(embedding_dim)
        self.weight = nn.Parameter(torch.empty(self.n_classes, self.embedding_dim))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, embeddings, labels, tuples=None):
        name = type(self).__name__
        if embeddings.dim() != 2 or embeddings.shape[1] != self.embedding_dim:
            raise ValueError(
                f"{name} expects embeddings of shape (n, {self.embedding_dim}), got "
                f"{tuple(embeddings.shape)}."
            )
        if labels.dim() != 1 or len(labels) != len(embeddings):
            raise ValueError(
                f"{name} expects one label per embedding, got labels of shape "
                f"{tuple(labels.shape)} for {len(embeddings)} embeddings."
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise ValueError(
                f"{name} was built for class indices 0..{self.n_classes - 1}, got labels in "
                f"[{int(labels.min())}, {int(labels.max())}]."
            )
        labels = labels.long()
        return F.cross_entropy(self.logits(embeddings, labels), labels) + self.penalty(
            embeddings, labels
        )

    def cosines(self, x):
        return F.normalize(x, dim=1) @ F.normalize(self.weight.to(x.dtype), dim=1).T

    def penalty(self, x, labels):
        return 0.0

    def extra_repr(self):
        extra = ", ".join(f"{k}={getattr(self, k)!r}" for k in getattr(self, "_reprs", ()))
        return f"n_classes={self.n_classes}, embedding_dim={self.embedding_dim}" + (
            f", {extra}" if extra else ""
        )


def _with_target(logits, labels, target):
    mask = F.one_hot(labels, logits.shape[1]).bool()
    return torch.where(mask, target[:, None], logits)


class CenterLoss(_ClassLoss):
    r"""Softmax cross-entropy plus ``center_weight / 2 * |x_i - c_{y_i}|^2``, batch-averaged.

    The classifier ``softmax(W x + b)`` and the centers ``c`` are learned parameters (the
    optimizer updates the centers, rather than the paper's separate moving-average rule).

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner`.
    center_weight : float, default=0.01
        The paper's lambda.

    References
    ----------
    Y. Wen, K. Zhang, Z. Li and Y. Qiao, "A discriminative feature learning approach for
    deep face recognition", ECCV 2016.
    """

    _reprs = ("center_weight",)

    def __init__(self, n_classes, embedding_dim, center_weight=0.01):
        super().__init__(n_classes, embedding_dim)
        self.center_weight = _check_real(center_weight, "center_weight", "CenterLoss", low=0,
                                         strict=False)
        self.bias = nn.Parameter(torch.zeros(self.n_classes))
        self.centers = nn.Parameter(torch.zeros(self.n_classes, self.embedding_dim))

    def logits(self, x, labels):
        return x @ self.weight.to(x.dtype).T + self.bias.to(x.dtype)

    def penalty(self, x, labels):
        diff = x - self.centers.to(x.dtype)[labels]
        return 0.5 * self.center_weight * (diff * diff).sum(1).mean()


class ArcFaceLoss(_ClassLoss):
    r"""Additive angular margin: cross-entropy of ``scale * cos(theta_j)``, with the target
    class's angle penalized, ``scale * cos(theta_y + margin)``.

    ``theta_j`` is the angle between the embedding and the learned class vector ``W_j``.
    Where ``theta_y + margin > pi`` the target logit is ``cos(theta_y) - margin sin(margin)``
    (the reference implementation's fallback, keeping it monotonic).

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner`.
    margin : float, default=0.5
        In radians.
    scale : float, default=64.0

    References
    ----------
    J. Deng, J. Guo, N. Xue and S. Zafeiriou, "ArcFace: additive angular margin loss for deep
    face recognition", CVPR 2019.
    """

    _reprs = ("margin", "scale")

    def __init__(self, n_classes, embedding_dim, margin=0.5, scale=64.0):
        super().__init__(n_classes, embedding_dim)
        self.margin = _check_real(margin, "margin", "ArcFaceLoss", low=0, strict=False)
        self.scale = _check_real(scale, "scale", "ArcFaceLoss", low=0)

    def logits(self, x, labels):
        cos = self.cosines(x)
        cos_y = cos.gather(1, labels[:, None]).squeeze(1)
        theta = torch.acos(cos_y.clamp(-1 + 1e-7, 1 - 1e-7))
        target = torch.where(
            theta + self.margin <= math.pi,
            torch.cos(theta + self.margin),
            cos_y - self.margin * math.sin(self.margin),
        )
        return self.scale * _with_target(cos, labels, target)


class CosFaceLoss(_ClassLoss):
    r"""Large margin cosine loss: cross-entropy of ``scale * cos(theta_j)`` with the target's
    ``scale * (cos(theta_y) - margin)``.

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner`.
    margin : float, default=0.35
    scale : float, default=64.0

    References
    ----------
    H. Wang, Y. Wang, Z. Zhou, X. Ji, D. Gong, J. Zhou, Z. Li and W. Liu, "CosFace: large
    margin cosine loss for deep face recognition", CVPR 2018.
    """

    _reprs = ("margin", "scale")

    def __init__(self, n_classes, embedding_dim, margin=0.35, scale=64.0):
        super().__init__(n_classes, embedding_dim)
        self.margin = _check_real(margin, "margin", "CosFaceLoss", low=0, strict=False)
        self.scale = _check_real(scale, "scale", "CosFaceLoss", low=0)

    def logits(self, x, labels):
        cos = self.cosines(x)
        target = cos.gather(1, labels[:, None]).squeeze(1) - self.margin
        return self.scale * _with_target(cos, labels, target)


class SphereFaceLoss(_ClassLoss):
    r"""Angular softmax (A-Softmax): cross-entropy of ``|x| cos(theta_j)`` with the target's
    ``|x| psi(theta_y)``, ``psi(theta) = (-1)^k cos(m theta) - 2k`` for
    ``theta in [k pi / m, (k + 1) pi / m]``: a multiplicative angular margin ``m``.

    Class vectors are normalized, biases zero, as in the paper (no annealing with the plain
    softmax).

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner`.
    margin : int, default=4

    References
    ----------
    W. Liu, Y. Wen, Z. Yu, M. Li, B. Raj and L. Song, "SphereFace: deep hypersphere
    embedding for face recognition", CVPR 2017.
    """

    _reprs = ("margin",)

    def __init__(self, n_classes, embedding_dim, margin=4):
        super().__init__(n_classes, embedding_dim)
        if not isinstance(margin, numbers.Integral) or isinstance(margin, bool) or margin < 1:
            raise ValueError(f"SphereFaceLoss: margin must be an integer >= 1, got {margin!r}.")
        self.margin = int(margin)

    def logits(self, x, labels):
        cos = self.cosines(x)
        norm = x.norm(dim=1).clamp_min(_EPS)
        cos_y = cos.gather(1, labels[:, None]).squeeze(1)
        theta = torch.acos(cos_y.clamp(-1 + 1e-7, 1 - 1e-7))
        k = torch.floor(self.margin * theta / math.pi).detach()
        sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
        psi = sign * torch.cos(self.margin * theta) - 2.0 * k
        return norm[:, None] * _with_target(cos, labels, psi)
