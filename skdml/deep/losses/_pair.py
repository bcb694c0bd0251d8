"""Pair and triplet losses: a formula over the pairs or triplets of a batch."""

import math

import torch
from torch import nn
from torch.nn import functional as F

from .._tuples import pair_masks
from ..distances import CosineSimilarity, DotProductSimilarity, LpDistance
from ..reducers import AvgNonZeroReducer
from ._base import MetricLoss, _check_real, _masked_logsumexp, _zero

_EPS = 1e-12  # as the distances': the gradient of a zero distance is 0


class GeneralizedLogisticLoss(MetricLoss):
    r"""DDML's loss: ``g(1 - l_ij (tau - d_ij))``, one term per pair.

    ``l_ij = +1`` for a positive pair, ``-1`` for a negative one, ``d`` the squared
    Euclidean distance by default, and ``g(z) = log(1 + exp(beta z)) / beta`` the
    generalized logistic function, a smooth ``max(0, z)``: positive pairs are pushed below
    ``d = tau - 1``, negative pairs above ``tau + 1``.

    Parameters
    ----------
    tau : float, default=3.0
        The threshold on distances.
    beta : float, default=2.0
        Sharpness of ``g``.
    distance : distance, default=LpDistance(power=2)
        A distance (not a similarity).
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    J. Hu, J. Lu and Y.-P. Tan, "Discriminative deep metric learning for face verification
    in the wild", CVPR 2014.
    """

    distance_kind = "distance"
    _reprs = ("tau", "beta")

    def __init__(self, tau=3.0, beta=2.0, *, distance=None, reducer=None,
                 embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.tau = _check_real(tau, "tau", "GeneralizedLogisticLoss")
        self.beta = _check_real(beta, "beta", "GeneralizedLogisticLoss", low=0)

    def default_distance(self):
        return LpDistance(power=2)

    def compute(self, x, labels, pairs):
        a1, p, a2, n = pairs
        d = self.distance(x)
        pos = 1.0 - (self.tau - d[a1, p])
        neg = 1.0 + (self.tau - d[a2, n])
        return F.softplus(torch.cat([pos, neg]), beta=self.beta)


class ContrastiveLoss(MetricLoss):
    r"""``d_ij^p / p`` for positive pairs, ``max(0, margin - d_ij)^p / p`` for negative ones.

    One term per pair; ``d`` the Euclidean distance by default. ``power=2`` (the default) is
    Hadsell et al.'s form, ``1/2 d^2`` and ``1/2 max(0, m - d)^2``; ``power=1`` is the plain
    distance form of the Siamese-network literature, ``l d + (1 - l) max(0, m - d)`` with
    ``l = 1`` for a positive pair: a pull that does not fade as a positive pair closes in,
    and a push whose gradient does not vanish at the margin.

    Parameters
    ----------
    margin : float, default=1.0
    power : {1, 2}, default=2
        Exponent of both terms (each divided by it, so that ``power=2`` keeps the factor
        1/2 of Hadsell et al. and ``power=1`` is the plain-distance loss).
    distance : distance, default=LpDistance()
        A distance (not a similarity).
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    R. Hadsell, S. Chopra and Y. LeCun, "Dimensionality reduction by learning an invariant
    mapping", CVPR 2006.

    Examples
    --------
    >>> import torch
    >>> from skdml.deep import ContrastiveLoss
    >>> x = torch.tensor([[0.0, 0.0], [0.3, 0.4], [0.0, 0.2]])
    >>> labels = torch.tensor([0, 0, 1])
    >>> # one positive pair at distance 0.5, negatives at 0.2 and 0.36: (0.5 + 0.8 + 0.64) / 3
    >>> round(ContrastiveLoss(margin=1.0, power=1)(x, labels).item(), 4)
    0.6465
    """

    distance_kind = "distance"
    _reprs = ("margin", "power")

    def __init__(self, margin=1.0, *, power=2, distance=None, reducer=None,
                 embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.margin = _check_real(margin, "margin", "ContrastiveLoss", low=0)
        if isinstance(power, bool) or power not in (1, 2):
            raise ValueError(f"ContrastiveLoss: power must be 1 or 2; got {power!r}.")
        self.power = int(power)

    def compute(self, x, labels, pairs):
        a1, p, a2, n = pairs
        dist = self.distance
        if (self.power == 2 and isinstance(dist, LpDistance) and dist.p == 2
                and dist.power == 1):
            # the Euclidean case squares without a square root round trip
            d2 = LpDistance(power=2, normalize_embeddings=dist.normalize_embeddings)(x)
            pos = 0.5 * d2[a1, p]
            d_neg = d2[a2, n].clamp_min(_EPS).sqrt()
        else:
            d = dist(x)
            pos = d[a1, p] ** self.power / self.power
            d_neg = d[a2, n]
        neg = F.relu(self.margin - d_neg) ** self.power / self.power
        return torch.cat([pos, neg])


class TripletMarginLoss(MetricLoss):
    r"""``max(0, d(a, p) - d(a, n) + margin)``, one term per triplet.

    ``d`` is the squared Euclidean distance (FaceNet) by default or, with ``squared=False``,
    the Euclidean one; any ``distance=`` replaces both. With a similarity ``s`` the term is
    ``max(0, s(a, n) - s(a, p) + margin)``.

    Parameters
    ----------
    margin : float, default=0.2
    squared : bool, default=True
        Shorthand for ``distance=LpDistance(power=2)`` (True) or ``LpDistance()`` (False);
        used only when ``distance`` is None.
    distance : distance or similarity, default=None
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    F. Schroff, D. Kalenichenko and J. Philbin, "FaceNet: a unified embedding for face
    recognition and clustering", CVPR 2015.
    """

    tuple_kind = "triplet"
    _reprs = ("margin", "squared")

    def __init__(self, margin=0.2, squared=True, *, distance=None, reducer=None,
                 embedding_regularizer=None):
        self.squared = bool(squared)  # read by default_distance, in MetricLoss.__init__
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.margin = _check_real(margin, "margin", "TripletMarginLoss", low=0, strict=False)

    def default_distance(self):
        return LpDistance(power=2 if self.squared else 1)

    def compute(self, x, labels, triplets):
        a, p, n = triplets
        c = self.distance.closeness(self.distance(x))
        return F.relu(c[a, n] - c[a, p] + self.margin)


class NPairLoss(MetricLoss):
    r"""Multi-class N-pair loss, one term per positive pair ``(a, p)``.

    ``log(1 + sum_{p'} exp(s(f_a, f_p') - s(f_a, f_p)))``, the sum over the positives
    ``p'`` of the other pairs whose class differs from ``a``'s, ``s`` the dot product; plus
    ``l2_reg * (|f_a|^2 + |f_p|^2) / 2`` averaged over the pairs.

    Without a miner every sample of the batch anchors one pair, its positive the next
    sample of its class (in batch order, cyclically): Sohn's N pairs, with every sample in
    an anchor's denominator as the positive of another class's pair. The cost grows with the
    square of the batch, not with the square of its number of positive pairs. A miner's
    pairs are used as given, all of them.

    Parameters
    ----------
    l2_reg : float, default=0.0
        Weight of the embedding-norm penalty (Sohn uses it on unnormalized embeddings).
    distance : similarity, default=DotProductSimilarity()
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    K. Sohn, "Improved deep metric learning with multi-class N-pair loss objective",
    NeurIPS 2016.
    """

    distance_kind = "similarity"
    _reprs = ("l2_reg",)

    def __init__(self, l2_reg=0.0, *, distance=None, reducer=None, embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.l2_reg = _check_real(l2_reg, "l2_reg", "NPairLoss", low=0, strict=False)

    def default_distance(self):
        return DotProductSimilarity()

    def _form_tuples(self, labels, tuples):
        if tuples is not None:
            return super()._form_tuples(labels, tuples)
        # each sample an anchor once, its positive the next sample of its class (cyclically,
        # in batch order); a sample alone in its class anchors nothing
        order = torch.argsort(labels, stable=True)
        sorted_labels = labels[order]
        start = torch.searchsorted(sorted_labels, sorted_labels, right=False)
        end = torch.searchsorted(sorted_labels, sorted_labels, right=True)
        position = torch.arange(len(labels), device=labels.device)
        following = torch.where(position + 1 < end, position + 1, start)
        keep = end - start >= 2
        a1, p = order[keep], order[following[keep]]
        empty = a1[:0]
        return a1, p, empty, empty

    def compute(self, x, labels, pairs):
        a, p = pairs[0], pairs[1]
        sim = self.distance(x[a], x[p])  # sim[k, k'] = s(f_{a_k}, f_{p_k'})
        other = labels[a][:, None] != labels[p][None, :]
        logits = sim - sim.diagonal()[:, None]
        return _masked_logsumexp(logits, other, add_one=True), a

    def penalty(self, x, labels, pairs):
        if not self.l2_reg or len(pairs[0]) == 0:
            return 0.0
        a, p = pairs[0], pairs[1]
        return self.l2_reg * 0.5 * ((x[a] ** 2).sum(1) + (x[p] ** 2).sum(1)).mean()


class LiftedStructuredLoss(MetricLoss):
    r"""Lifted structured loss: ``1/2 max(0, J_ij)^2`` per positive pair ``(i, j)``, with

    ``J_ij = log(sum_{(i,k) in N} exp(margin - d_ik) + sum_{(j,l) in N} exp(margin - d_jl))
    + d_ij``, over the negative pairs ``N`` of the batch (or the miner's); ``d`` the
    Euclidean distance by default. A positive pair with no negative pair at either end has
    ``J = -inf``: its term is 0.

    Parameters
    ----------
    margin : float, default=1.0
    distance : distance, default=LpDistance()
        A distance (not a similarity).
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    H. O. Song, Y. Xiang, S. Jegelka and S. Savarese, "Deep metric learning via lifted
    structured feature embedding", CVPR 2016.
    """

    distance_kind = "distance"
    _reprs = ("margin",)

    def __init__(self, margin=1.0, *, distance=None, reducer=None, embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.margin = _check_real(margin, "margin", "LiftedStructuredLoss", low=0)

    def compute(self, x, labels, pairs):
        a1, p, a2, n = pairs
        if len(a1) == 0:
            return _zero(x)[None], a1
        _, neg = pair_masks(len(x), pairs, x.device)
        neg = neg | neg.T
        dist = self.distance(x)
        # the negatives of either end of each positive pair; -inf where there is none
        rows_neg = torch.cat([neg[a1], neg[p]], 1)
        rows = torch.cat([self.margin - dist[a1], self.margin - dist[p]], 1)
        # a pair with no negative at either end has J = -inf: its term is 0
        J = _masked_logsumexp(rows, rows_neg) + dist[a1, p]
        return 0.5 * F.relu(J) ** 2, a1


class AngularLoss(MetricLoss):
    r"""Angular loss: ``max(0, |x_a - x_p|^2 - 4 tan^2(alpha) |x_n - x_c|^2)``, per triplet.

    ``x_c = (x_a + x_p) / 2``; the embeddings are L2-normalized (the default distance's
    setting). It bounds the angle at the negative of the triangle ``(a, p, n)`` by
    ``alpha``.

    Parameters
    ----------
    alpha : float, default=40
        The angle bound, in degrees (the paper tries 36 to 55).
    distance : LpDistance, default=LpDistance(normalize_embeddings=True)
        The formula is Euclidean: only the Euclidean distance (``p=2, power=1``) is
        accepted, with or without normalization.
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    J. Wang, F. Zhou, S. Wen, X. Liu and Y. Lin, "Deep metric learning with angular loss",
    ICCV 2017.
    """

    tuple_kind = "triplet"
    distance_kind = "distance"
    _reprs = ("alpha",)

    def __init__(self, alpha=40.0, *, distance=None, reducer=None, embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        if not (isinstance(self.distance, LpDistance) and self.distance.p == 2
                and self.distance.power == 1):
            raise ValueError(
                "AngularLoss is defined on Euclidean geometry: distance must be "
                f"LpDistance(p=2, power=1, ...), got {self.distance!r}."
            )
        self.alpha = _check_real(alpha, "alpha", "AngularLoss", low=0)
        if self.alpha >= 90:
            raise ValueError(f"AngularLoss: alpha must be < 90 degrees, got {alpha!r}.")

    def default_distance(self):
        return LpDistance(normalize_embeddings=True)

    def compute(self, x, labels, triplets):
        a, p, n = triplets
        z = self.distance._prepare(x)
        G = z @ z.T
        tan2 = math.tan(math.radians(self.alpha)) ** 2
        # |x_a - x_p|^2 and |x_n - (x_a + x_p)/2|^2 from the Gram matrix
        ap = G[a, a] + G[p, p] - 2.0 * G[a, p]
        to_center = G[n, n] + 0.25 * (G[a, a] + 2.0 * G[a, p] + G[p, p]) - G[n, a] - G[n, p]
        return F.relu(ap - 4.0 * tan2 * to_center)


class MarginLoss(MetricLoss):
    r"""Margin loss: ``max(0, alpha + l_ij (d_ij - beta))`` with a learned boundary ``beta``.

    ``l_ij = +1`` for positive, ``-1`` for negative pairs, ``d`` the Euclidean distance of
    L2-normalized embeddings by default (with a similarity ``s``: ``max(0, alpha - l_ij
    (s_ij - beta))``). The terms are summed over the number of non-zero ones (the default
    reducer), and ``nu * beta`` is added when ``beta`` is learned (the paper's
    regularization of ``beta``; a fixed ``beta`` would only shift the value). ``beta`` is
    one learned scalar (the paper also describes one per class).

    Parameters
    ----------
    alpha : float, default=0.2
        The margin around the boundary.
    beta : float, default=1.2
        Initial value of the boundary.
    nu : float, default=0.0
    learn_beta : bool, default=True
    distance : distance or similarity, default=LpDistance(normalize_embeddings=True)
    reducer : reducer, default=AvgNonZeroReducer()
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    C.-Y. Wu, R. Manmatha, A. J. Smola and P. Krähenbühl, "Sampling matters in deep
    embedding learning", ICCV 2017.
    """

    _reprs = ("alpha", "nu", "learn_beta")

    def __init__(self, alpha=0.2, beta=1.2, nu=0.0, learn_beta=True, *, distance=None,
                 reducer=None, embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.alpha = _check_real(alpha, "alpha", "MarginLoss", low=0, strict=False)
        beta = _check_real(beta, "beta", "MarginLoss")
        self.nu = _check_real(nu, "nu", "MarginLoss", low=0, strict=False)
        self.learn_beta = bool(learn_beta)
        self.beta = nn.Parameter(torch.tensor(beta), requires_grad=self.learn_beta)

    def default_distance(self):
        return LpDistance(normalize_embeddings=True)

    def default_reducer(self):
        return AvgNonZeroReducer()

    def compute(self, x, labels, pairs):
        a1, p, a2, n = pairs
        beta = self.beta.to(x.dtype)
        d = self.distance(x)
        if self.distance.is_inverted:  # a similarity s: the same formulas on -s and -beta
            d, beta = -d, -beta
        pos = F.relu(self.alpha + d[a1, p] - beta)
        neg = F.relu(self.alpha - d[a2, n] + beta)
        return torch.cat([pos, neg]), torch.cat([a1, a2])

    def penalty(self, x, labels, pairs):
        if not (self.learn_beta and self.nu):
            return 0.0
        return self.nu * self.beta.to(x.dtype)


class MultiSimilarityLoss(MetricLoss):
    r"""Multi-similarity loss, one term per sample ``i`` of the batch:

    ``1/alpha log(1 + sum_{k in P_i} exp(-alpha (S_ik - base)))
    + 1/beta log(1 + sum_{k in N_i} exp(beta (S_ik - base)))``,
    ``S`` the cosine similarity by default, ``P_i`` / ``N_i`` the positives / negatives
    paired with ``i`` (by the miner, or all of them). A sample without any pair counts 0,
    so the mean is over the batch, as the paper's ``1/m``.

    Parameters
    ----------
    alpha : float, default=2.0
    beta : float, default=50.0
    base : float, default=0.5
        The similarity margin lambda of the paper.
    distance : similarity, default=CosineSimilarity()
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    X. Wang, X. Han, W. Huang, D. Dong and M. R. Scott, "Multi-similarity loss with general
    pair weighting for deep metric learning", CVPR 2019.
    """

    distance_kind = "similarity"
    _reprs = ("alpha", "beta", "base")

    def __init__(self, alpha=2.0, beta=50.0, base=0.5, *, distance=None, reducer=None,
                 embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.alpha = _check_real(alpha, "alpha", "MultiSimilarityLoss", low=0)
        self.beta = _check_real(beta, "beta", "MultiSimilarityLoss", low=0)
        self.base = _check_real(base, "base", "MultiSimilarityLoss")

    def default_distance(self):
        return CosineSimilarity()

    def compute(self, x, labels, pairs):
        pos, neg = pair_masks(len(x), pairs, x.device)
        # only the rows with a pair are computed (the others' term is log(1) = 0): with a
        # miner, or with a memory of reference rows (CrossBatchMemory), far fewer than n
        rows = torch.nonzero(pos.any(1) | neg.any(1), as_tuple=True)[0]
        if len(rows) == len(x):
            S = self.distance(x)
        else:
            S, pos, neg = self.distance(x[rows], x), pos[rows], neg[rows]
        pos_loss = _masked_logsumexp(-self.alpha * (S - self.base), pos, add_one=True) / self.alpha
        neg_loss = _masked_logsumexp(self.beta * (S - self.base), neg, add_one=True) / self.beta
        # one term per sample of the batch, as the paper's 1/m average: a sample the miner
        # gave no pair counts 0
        values = (pos_loss + neg_loss).new_zeros(len(x)).index_put((rows,), pos_loss + neg_loss)
        return values, torch.arange(len(x), device=x.device)


class DistanceLogisticLoss(MetricLoss):
    r"""Distance-based logistic (DBL) loss of Vo and Hays: a log loss on
    ``p_ij = (1 + exp(-s m)) / (1 + exp(s (d_ij - m)))``.

    ``p`` is the probability that a pair matches: 1 at distance 0, 1/2 near ``d = m``, going
    to 0 far away. A positive pair costs ``-log p``, a negative pair ``-log(1 - p)``; one term
    per pair, ``d`` the Euclidean distance by default, ``s`` the slope (1 in the paper). In
    closed form,

    - positive: ``softplus(s (d - m)) - softplus(-s m)``, zero at ``d = 0``;
    - negative: ``s m - log(exp(s d) - 1) + softplus(s (d - m))``, which grows without bound
      as a negative pair collapses (``s d`` is floored at 1e-6 there, a cost of about
      ``s m + 13.8``): unlike a plain logistic on ``d - m``, it keeps pushing a negative pair
      that sits at the same point as its anchor.

    Parameters
    ----------
    margin : float, default=1.0
        ``m``, the distance at which a pair is about as likely to match as not.
    scale : float, default=1.0
        ``s``, the slope of the logistic (1 in the paper's formula).
    distance : distance, default=LpDistance()
        A distance (not a similarity).
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    N. N. Vo and J. Hays, "Localizing and orienting street views using overhead imagery",
    ECCV 2016.

    Examples
    --------
    >>> import torch
    >>> from skdml.deep import DistanceLogisticLoss
    >>> x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    >>> labels = torch.tensor([0, 0, 1])
    >>> loss = DistanceLogisticLoss(margin=1.0)
    >>> round(loss(x, labels).item(), 4)  # the positive pair costs 0, the far negatives little
    0.0166
    """

    distance_kind = "distance"
    _reprs = ("margin", "scale")

    def __init__(self, margin=1.0, scale=1.0, *, distance=None, reducer=None,
                 embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.margin = _check_real(margin, "margin", "DistanceLogisticLoss", low=0)
        self.scale = _check_real(scale, "scale", "DistanceLogisticLoss", low=0)

    def compute(self, x, labels, pairs):
        a1, p, a2, n = pairs
        d = self.distance(x)
        s, m = self.scale, self.margin
        offset = math.log1p(math.exp(-s * m))  # softplus(-s m): -log p is 0 at d = 0
        pos = F.softplus(s * (d[a1, p] - m)) - offset
        z = (s * d[a2, n]).clamp_min(1e-6)
        # log(exp(z) - 1) = z + log(1 - exp(-z)), stable for large z
        neg = s * m - (z + torch.log(-torch.expm1(-z))) + F.softplus(z - s * m)
        return torch.cat([pos, neg])
