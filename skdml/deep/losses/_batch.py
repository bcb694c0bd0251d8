"""Batch losses: each anchor (or positive pair) weighed against the rest of the batch.

Every loss here works row by row on the batch's matrix of distances or similarities, with
the pairs (every pair of the batch, or a miner's) as boolean masks of its positives and
negatives. Sums of exponentials are taken in log space over the masked entries only,
masked with ``-inf``, so the values stay exact at any scale; an anchor without the pairs its
formula needs contributes no term.
"""

import math

import torch
from torch.nn import functional as F

from .._tuples import pair_masks
from ..distances import CosineSimilarity, LpDistance
from ._base import MetricLoss, _check_int, _check_real, _masked_logsumexp
from ._classification import _check_cosine

_EPS = 1e-12


def _log1p_exp(z):
    """``log(1 + e^z)``, exact at every ``z`` (``F.softplus`` returns ``z`` above 20);
    0 with a zero gradient at ``z = -inf``."""
    return torch.logaddexp(z, torch.zeros_like(z))


def _pair_anchor_rows(x, pairs):
    """For per-positive-pair losses: ``(anchors, row, neg)``, the distinct anchors of the
    positive pairs, the row of each pair's anchor among them, and the anchors' negative
    masks (so sums over negatives are formed once per anchor, not once per pair)."""
    anchors, row = torch.unique(pairs[0], return_inverse=True)
    _, neg = pair_masks(len(x), pairs, x.device)
    return anchors, row, neg[anchors]


def _anchor_rows(loss, x, pairs, *, need_negative):
    """The rows of the anchors with a positive pair (and a negative one with
    ``need_negative``): ``(anchors, values, pos, neg)``, ``values`` the loss's distance
    matrix restricted to those rows, ``pos`` / ``neg`` the masks of their pairs."""
    pos, neg = pair_masks(len(x), pairs, x.device)
    keep = pos.any(1) & neg.any(1) if need_negative else pos.any(1)
    anchors = torch.nonzero(keep, as_tuple=True)[0]
    return anchors, loss.distance(x[anchors], x), pos[anchors], neg[anchors]


class SupConLoss(MetricLoss):
    r"""Supervised contrastive loss, one term per anchor ``i`` with a positive:

    ``-1/|P(i)| sum_{p in P(i)} log(exp(s_ip / t) / sum_{a in A(i)} exp(s_ia / t))``,

    ``s`` the cosine similarity by default, ``t`` the temperature, ``P(i)`` the samples
    paired positively with ``i`` and ``A(i)`` every sample paired with ``i`` (positives and
    negatives; with every pair of the batch, all samples but ``i``). Each anchor's
    positives all count in its softmax denominator, unlike :class:`NTXentLoss`. The terms
    are averaged (the paper sums them: a constant factor).

    Parameters
    ----------
    temperature : float, default=0.1
    distance : similarity, default=CosineSimilarity()
    reducer : reducer, default=MeanReducer()
        Over the anchors.
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    P. Khosla, P. Teterwak, C. Wang, A. Sarna, Y. Tian, P. Isola, A. Maschinot, C. Liu
    and D. Krishnan, "Supervised contrastive learning", NeurIPS 2020 (eq. 2).

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.losses._batch import SupConLoss
    >>> x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6], [0.0, -1.0]])
    >>> round(float(SupConLoss()(x, torch.tensor([0, 0, 1, 1]))), 4)
    1.0648
    """

    distance_kind = "similarity"
    _reprs = ("temperature",)

    def __init__(self, temperature=0.1, *, distance=None, reducer=None,
                 embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.temperature = _check_real(temperature, "temperature", "SupConLoss", low=0)

    def default_distance(self):
        return CosineSimilarity()

    def compute(self, x, labels, pairs):
        anchors, S, pos, neg = _anchor_rows(self, x, pairs, need_negative=False)
        logits = S / self.temperature
        log_prob = logits - _masked_logsumexp(logits, pos | neg)[:, None]
        values = -torch.where(pos, log_prob, torch.zeros_like(log_prob)).sum(1) / pos.sum(1)
        return values, anchors


class NTXentLoss(MetricLoss):
    r"""NT-Xent (normalized temperature-scaled cross-entropy), one term per positive pair
    ``(i, j)``:

    ``-log(exp(s_ij / t) / (exp(s_ij / t) + sum_{k in N(i)} exp(s_ik / t)))``,

    ``s`` the cosine similarity by default, ``t`` the temperature, ``N(i)`` the samples
    paired negatively with ``i``. The samples of one label are the views of one instance:
    with two views per label this is SimCLR's loss over all ``2N`` ordered positive
    pairs; with more, each positive pair is contrasted with the anchor's negatives only
    (the other positives stay out of the denominator, unlike :class:`SupConLoss`).

    Parameters
    ----------
    temperature : float, default=0.5
        SimCLR's default setting (its small-batch CIFAR-10 experiments; the paper also
        reports 0.1 for large batches; pytorch-metric-learning defaults to 0.07).
    distance : similarity, default=CosineSimilarity()
    reducer : reducer, default=MeanReducer()
        Over the positive pairs.
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    T. Chen, S. Kornblith, M. Norouzi and G. Hinton, "A simple framework for contrastive
    learning of visual representations", ICML 2020 (eq. 1).

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.losses._batch import NTXentLoss
    >>> x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6], [0.0, -1.0]])
    >>> round(float(NTXentLoss()(x, torch.tensor([0, 0, 1, 1]))), 4)
    0.668
    """

    distance_kind = "similarity"
    _reprs = ("temperature",)

    def __init__(self, temperature=0.5, *, distance=None, reducer=None,
                 embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.temperature = _check_real(temperature, "temperature", "NTXentLoss", low=0)

    def default_distance(self):
        return CosineSimilarity()

    def compute(self, x, labels, pairs):
        a1, p = pairs[0], pairs[1]
        anchors, row, neg = _pair_anchor_rows(x, pairs)
        logits = self.distance(x[anchors], x) / self.temperature
        positive = logits[row, p]
        # the denominator: the positive and its anchor's negatives (summed once per anchor)
        negatives = _masked_logsumexp(logits, neg)[row]
        return torch.logaddexp(positive, negatives) - positive, a1


class CircleLoss(MetricLoss):
    r"""Circle loss, one term per anchor with a positive and a negative:

    ``log(1 + sum_{n} exp(g a_n (s_n - m)) sum_{p} exp(-g a_p (s_p - 1 + m)))``,

    over the anchor's positives ``p`` and negatives ``n``, ``s`` the cosine similarity by
    default, ``g`` the scale (gamma) and ``m`` the relaxation. The weights
    ``a_p = max(0, 1 + m - s_p)`` and ``a_n = max(0, s_n + m)`` grow with a pair's distance
    from its optimum (1 + m for a positive, -m for a negative), so each similarity is
    pushed at its own pace; as in the paper's gradient analysis they are constants in the
    backward pass (no gradient flows through them).

    Parameters
    ----------
    m : float, default=0.4
        The relaxation margin (the paper's setting for fine-grained image retrieval).
    gamma : float, default=80.0
        The scale factor.
    distance : similarity, default=CosineSimilarity()
    reducer : reducer, default=MeanReducer()
        Over the anchors.
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    Y. Sun, C. Cheng, Y. Zhang, C. Zhang, L. Zheng, Z. Wang and Y. Wei, "Circle loss: a
    unified perspective of pair similarity optimization", CVPR 2020 (eq. 6).

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.losses._batch import CircleLoss
    >>> x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6], [0.0, -1.0]])
    >>> round(float(CircleLoss()(x, torch.tensor([0, 0, 1, 1]))), 4)
    19.5466
    """

    distance_kind = "similarity"
    _reprs = ("m", "gamma")

    def __init__(self, m=0.4, gamma=80.0, *, distance=None, reducer=None,
                 embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.m = _check_real(m, "m", "CircleLoss", low=0, strict=False)
        self.gamma = _check_real(gamma, "gamma", "CircleLoss", low=0)

    def default_distance(self):
        return CosineSimilarity()

    def compute(self, x, labels, pairs):
        anchors, S, pos, neg = _anchor_rows(self, x, pairs, need_negative=True)
        weight_pos = F.relu(1.0 + self.m - S.detach())
        weight_neg = F.relu(S.detach() + self.m)
        pos_logits = -self.gamma * weight_pos * (S - (1.0 - self.m))
        neg_logits = self.gamma * weight_neg * (S - self.m)
        values = _log1p_exp(_masked_logsumexp(pos_logits, pos)
                            + _masked_logsumexp(neg_logits, neg))
        return values, anchors


class GeneralizedLiftedStructureLoss(MetricLoss):
    r"""Generalized lifted structure loss, one term per anchor with a positive and a
    negative:

    ``max(0, log sum_{p} exp(d_ap - pos_margin) + log sum_{n} exp(neg_margin - d_an))``,

    over the anchor's positives ``p`` and negatives ``n``, ``d`` the Euclidean distance by
    default: a smooth version of "the farthest positive closer than the nearest negative by
    a margin", written per anchor rather than per positive pair as in Song et al.'s lifted
    structured loss (:class:`LiftedStructuredLoss`).

    Parameters
    ----------
    pos_margin : float, default=0.0
        Positive distances below it weigh less (0: the paper's formula).
    neg_margin : float, default=1.0
        The paper's margin ``m`` on the negative distances.
    distance : distance, default=LpDistance()
        A distance (not a similarity).
    reducer : reducer, default=MeanReducer()
        Over the anchors.
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    A. Hermans, L. Beyer and B. Leibe, "In defense of the triplet loss for person
    re-identification", arXiv:1703.07737, 2017 (section 2, the generalization of
    H. O. Song et al., "Deep metric learning via lifted structured feature embedding",
    CVPR 2016).

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.losses._batch import GeneralizedLiftedStructureLoss
    >>> x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6], [0.0, -1.0]])
    >>> round(float(GeneralizedLiftedStructureLoss()(x, torch.tensor([0, 0, 1, 1]))), 4)
    1.2997
    """

    distance_kind = "distance"
    _reprs = ("pos_margin", "neg_margin")

    def __init__(self, pos_margin=0.0, neg_margin=1.0, *, distance=None, reducer=None,
                 embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        owner = "GeneralizedLiftedStructureLoss"
        self.pos_margin = _check_real(pos_margin, "pos_margin", owner)
        self.neg_margin = _check_real(neg_margin, "neg_margin", owner)

    def compute(self, x, labels, pairs):
        anchors, D, pos, neg = _anchor_rows(self, x, pairs, need_negative=True)
        values = F.relu(_masked_logsumexp(D - self.pos_margin, pos)
                        + _masked_logsumexp(self.neg_margin - D, neg))
        return values, anchors


class TupletMarginLoss(MetricLoss):
    r"""Tuplet margin loss, one term per positive pair ``(a, p)``:

    ``log(1 + sum_{n} exp(s (cos t_an - cos(t_ap - b))))``,

    over the anchor's negatives ``n``, ``t`` the angle between two embeddings, ``s`` the
    scale and ``b`` the margin. The margin is taken off the positive's angle, so a
    pair's term is smallest with the positive at the angle ``b`` from its anchor, not on
    it: the loss keeps some spread within a class.

    Parameters
    ----------
    margin : float, default=5.73
        In degrees (0.1 rad, the paper's setting).
    scale : float, default=64.0
    distance : CosineSimilarity, default=CosineSimilarity()
        The formula is on angles: only the cosine similarity is accepted.
    reducer : reducer, default=MeanReducer()
        Over the positive pairs.
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    B. Yu and D. Tao, "Deep metric learning with tuplet margin loss", ICCV 2019 (eq. 6).

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.losses._batch import TupletMarginLoss
    >>> x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6], [0.0, -1.0]])
    >>> round(float(TupletMarginLoss()(x, torch.tensor([0, 0, 1, 1]))), 4)
    3.9402
    """

    distance_kind = "similarity"
    _reprs = ("margin", "scale")

    def __init__(self, margin=5.73, scale=64.0, *, distance=None, reducer=None,
                 embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        _check_cosine(self)
        self.margin = _check_real(margin, "margin", "TupletMarginLoss", low=0, strict=False)
        if self.margin >= 90:
            raise ValueError(f"TupletMarginLoss: margin must be < 90 degrees, got {margin!r}.")
        self.scale = _check_real(scale, "scale", "TupletMarginLoss", low=0)

    def default_distance(self):
        return CosineSimilarity()

    def compute(self, x, labels, pairs):
        a1, p = pairs[0], pairs[1]
        anchors, row, neg = _pair_anchor_rows(x, pairs)
        cos = self.distance(x[anchors], x)
        cos_ap = cos[row, p]
        # cos(t - b) = cos t cos b + sin t sin b, sin t >= 0 on [0, pi]; the clamp keeps the
        # gradient finite at t = 0 (sqrt's derivative at 0)
        b = math.radians(self.margin)
        sin_ap = (1.0 - cos_ap * cos_ap).clamp_min(_EPS).sqrt()
        target = cos_ap * math.cos(b) + sin_ap * math.sin(b)
        # log(1 + sum_n e^{s cos_an} e^{-s target}), the sum once per anchor
        negatives = _masked_logsumexp(self.scale * cos, neg)[row]
        return _log1p_exp(negatives - self.scale * target), a1


class FastAPLoss(MetricLoss):
    r"""FastAP: ``1 - AP`` per anchor with a positive, the average precision of the
    ranking of the batch by distance to the anchor, estimated from soft histograms.

    The distance range ``[0, D]`` is cut into ``num_bins`` bins with centers
    ``z_l = l D / num_bins`` (``l = 0..num_bins``); a sample at distance ``d`` counts
    ``max(0, 1 - |d - z_l| num_bins / D)`` in bin ``l``. With ``h+_l`` the positives'
    histogram, ``H+_l`` and ``H_l`` the cumulative histograms of the positives and of all
    the anchor's pairs (positives and negatives),

    ``AP = 1/N+ sum_l h+_l H+_l / H_l``,

    ``N+`` the anchor's number of positives (bins with ``H_l = 0`` add nothing). The
    embeddings are L2-normalized so that ``D`` is known: ``D = 2^power`` for
    ``LpDistance(power=power, normalize_embeddings=True)``, 4 for the default squared
    distance.

    Parameters
    ----------
    num_bins : int, default=10
    distance : LpDistance, default=LpDistance(power=2, normalize_embeddings=True)
        Must be the Euclidean distance (``p=2``, any ``power``) of normalized
        embeddings, whose range is bounded.
    reducer : reducer, default=MeanReducer()
        Over the anchors.
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    F. Cakir, K. He, X. Xia, B. Kulis and S. Sclaroff, "Deep metric learning to rank",
    CVPR 2019 (eq. 8 and 9).

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.losses._batch import FastAPLoss
    >>> x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6], [0.0, -1.0]])
    >>> round(float(FastAPLoss()(x, torch.tensor([0, 0, 1, 1]))), 4)
    0.25
    """

    distance_kind = "distance"
    _reprs = ("num_bins",)

    def __init__(self, num_bins=10, *, distance=None, reducer=None,
                 embedding_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        dist = self.distance
        if not (isinstance(dist, LpDistance) and dist.p == 2 and dist.normalize_embeddings):
            raise ValueError(
                "FastAPLoss bins distances over a bounded range: distance must be "
                f"LpDistance(p=2, power=..., normalize_embeddings=True), got {dist!r}."
            )
        self.num_bins = _check_int(num_bins, "num_bins", "FastAPLoss")

    def default_distance(self):
        return LpDistance(power=2, normalize_embeddings=True)

    def compute(self, x, labels, pairs):
        anchors, D, pos, neg = _anchor_rows(self, x, pairs, need_negative=False)
        top = 2.0 ** self.distance.power
        centers = torch.linspace(0.0, top, self.num_bins + 1, dtype=D.dtype, device=D.device)
        # weight of each (anchor, sample) pair in each bin: shape (anchors, n, bins)
        pulse = F.relu(1.0 - (D[:, :, None] - centers).abs() * (self.num_bins / top))
        h_pos = (pulse * pos[:, :, None]).sum(1)
        h_all = (pulse * (pos | neg)[:, :, None]).sum(1)
        H_pos, H_all = h_pos.cumsum(1), h_all.cumsum(1)
        filled = H_all > 0
        ratio = torch.where(filled, h_pos * H_pos / H_all.clamp_min(_EPS),
                            torch.zeros_like(H_all))
        return 1.0 - ratio.sum(1) / pos.sum(1), anchors
