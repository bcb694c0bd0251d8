"""Miners: which pairs or triplets of a batch a loss sees.

A miner is a callable ``miner(embeddings, labels)`` returning index tuples into the batch:

- pairs: ``(a1, p, a2, n)``, four 1-D ``LongTensor`` s; ``(a1[k], p[k])`` are the positive
  (same-class) pairs and ``(a2[k], n[k])`` the negative ones;
- triplets: ``(a, p, n)``, three 1-D ``LongTensor`` s; ``a`` and ``p`` share a class, ``n``
  does not.

Miners never take gradients (they run under ``torch.no_grad``), keep the embeddings' device,
and are plain Python objects with their settings as constructor arguments, so a
:class:`~skdml.deep.DeepMetricLearner` sets them with ``miner__<name>``. A miner that
compares embeddings takes ``distance=`` (:mod:`skdml.deep.distances`), like the losses.
Every loss accepts either kind of tuple: :func:`triplets_to_pairs` and
:func:`pairs_to_triplets` convert. A new miner subclasses :class:`BaseMiner` and implements
its ``mine``.
"""

import math
import numbers

import torch

from ._params import ParamsMixin
from ._tuples import (
    all_pairs,
    all_triplets,
    as_pairs,  # noqa: F401
    as_triplets,  # noqa: F401
    label_masks,
    pairs_to_triplets,
    triplets_to_pairs,
    triplets_where,
)
from .distances import CosineSimilarity, LpDistance, check_distance

__all__ = [
    "AllPairsMiner",
    "AllTripletsMiner",
    "AngularMiner",
    "BaseMiner",
    "BatchEasyHardMiner",
    "DistanceWeightedMiner",
    "HardMiner",
    "MultiSimilarityMiner",
    "PairMarginMiner",
    "SemiHardMiner",
    "all_pairs",
    "all_triplets",
    "pairs_to_triplets",
    "triplets_to_pairs",
]


def _check_number(value, name, owner, *, low=None, high=None):
    """``value`` unchanged (a miner's parameter is stored as given), once checked to be a
    finite real number in the open interval ``(low, high)``."""
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value)):
        raise ValueError(f"{owner}: {name} must be a finite real number, got {value!r}.")
    if low is not None and value <= low:
        raise ValueError(f"{owner}: {name} must be > {low}, got {value!r}.")
    if high is not None and value >= high:
        raise ValueError(f"{owner}: {name} must be < {high}, got {value!r}.")
    return value


def _check_batch(embeddings, labels, name):
    if embeddings.dim() != 2 or labels.dim() != 1 or len(labels) != len(embeddings):
        raise ValueError(
            f"{name} expects embeddings of shape (n, d) and labels of shape (n,), got "
            f"{tuple(embeddings.shape)} and {tuple(labels.shape)}."
        )


def _extreme_per_row(d, mask, nearest):
    """Per row of ``d``, the column of the smallest (``nearest``) or largest value among
    those ``mask`` allows, the lowest index on ties; and whether the row allows any."""
    fill = torch.tensor(float("inf") if nearest else -float("inf"), dtype=d.dtype,
                        device=d.device)
    masked = torch.where(mask, d, fill)
    return (masked.argmin(1) if nearest else masked.argmax(1)), mask.any(1)


class BaseMiner(ParamsMixin):
    """Base of the miners: checks the batch, then :meth:`mine` without gradients.

    A subclass lists its constructor arguments in ``_param_names`` (for ``get_params``,
    ``repr``, equality and a learner's ``miner__<name>``) and implements :meth:`mine`.

    Attributes
    ----------
    loss_distance : distance or None
        The distance the loss fed by this miner should measure with when nobody chose one:
        a :class:`~skdml.deep.DeepMetricLearner` hands it to a loss given as a class when
        neither its ``distance`` nor ``loss__distance`` (nor ``loss__squared``) is set.
        ``None`` (the default) leaves the loss its own default.
    """

    loss_distance = None

    def __call__(self, embeddings, labels):
        _check_batch(embeddings, labels, type(self).__name__)
        with torch.no_grad():
            return self.mine(embeddings.detach(), labels)

    def mine(self, embeddings, labels):
        """The tuples of one batch.

        Parameters
        ----------
        embeddings : Tensor of shape (n, d)
            Detached; the miner runs under ``torch.no_grad``.
        labels : LongTensor of shape (n,)

        Returns
        -------
        tuples : tuple of LongTensors
            Pairs ``(a1, p, a2, n)`` or triplets ``(a, p, n)``: indices into the batch.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement mine(embeddings, labels), returning pairs "
            "(a1, p, a2, n) or triplets (a, p, n) of indices into the batch."
        )

    def _distances(self, embeddings):
        """The miner's distance matrix, negated for a similarity: smaller is closer."""
        d = self.distance(embeddings)
        return -d if self.distance.is_inverted else d


class AllPairsMiner(BaseMiner):
    """Every ordered positive and negative pair of the batch (:func:`all_pairs`)."""

    def mine(self, embeddings, labels):
        return all_pairs(labels)


class AllTripletsMiner(BaseMiner):
    """Every valid triplet of the batch (:func:`all_triplets`); cubic in the batch size."""

    def mine(self, embeddings, labels):
        return all_triplets(labels)


class HardMiner(BaseMiner):
    """Batch-hard mining: per anchor, its farthest positive and its nearest negative.

    One triplet per anchor that has both a positive and a negative in the batch (Hermans,
    Beyer & Leibe, "In defense of the triplet loss for person re-identification", 2017).
    Ties go to the lowest index.

    The hardest triplets of a batch pull hard: with the squared Euclidean distance in the
    loss, shrinking every embedding towards one point lowers a triplet margin loss to its
    margin, and training drifts there (a ReLU network on digits fell from 0.90 3-NN
    accuracy after one epoch to 0.49 after 30, a third to a half of the samples on the
    zero vector; three seeds). Hermans et al. train with the plain Euclidean distance,
    which keeps the embeddings apart (0.98 after 30 epochs on the same runs). So
    ``loss_distance`` is ``LpDistance()``: a
    :class:`~skdml.deep.DeepMetricLearner` builds the loss with it unless you chose a
    distance (its ``distance``, ``loss__distance`` or ``loss__squared``). The miner's own
    distance only ranks, and the squared and plain Euclidean distances rank alike.

    Parameters
    ----------
    distance : distance or similarity, default=LpDistance(power=2)
        "Farthest" and "nearest" by this measure (least and most similar for a similarity).

    Attributes
    ----------
    loss_distance : LpDistance
        ``LpDistance()``, the plain Euclidean distance, handed to the loss this miner feeds
        when nobody chose one (see :class:`BaseMiner`).
    """

    _param_names = ("distance",)
    loss_distance = LpDistance()

    def __init__(self, distance=None):
        self.distance = check_distance(distance, "HardMiner", default=LpDistance(power=2))

    def mine(self, embeddings, labels):
        pos, neg = label_masks(labels)
        d = self._distances(embeddings)
        hardest_p, has_p = _extreme_per_row(d, pos, nearest=False)
        hardest_n, has_n = _extreme_per_row(d, neg, nearest=True)
        anchors = torch.nonzero(has_p & has_n, as_tuple=True)[0]
        return anchors, hardest_p[anchors], hardest_n[anchors]


class SemiHardMiner(BaseMiner):
    """FaceNet's semi-hard triplets: negatives farther than the positive, within the margin.

    Returns every triplet with ``d(a, p) < d(a, n) < d(a, p) + margin`` (Schroff,
    Kalenichenko & Philbin, "FaceNet", CVPR 2015), ``d`` the squared Euclidean distance by
    default, as in :class:`~skdml.deep.losses.TripletMarginLoss` (with a similarity ``s``:
    ``s(a, p) > s(a, n) > s(a, p) - margin``).

    Parameters
    ----------
    margin : float, default=0.2
        The triplet loss's margin.
    squared : bool, default=True
        Shorthand for ``distance=LpDistance(power=2)`` (True, FaceNet) or ``LpDistance()``
        (False); used only when ``distance`` is None.
    distance : distance or similarity, default=None
    """

    _param_names = ("margin", "squared", "distance")

    def __init__(self, margin=0.2, squared=True, distance=None):
        self.margin = _check_number(margin, "margin", "SemiHardMiner", low=0)
        self.squared = squared
        self.distance = check_distance(
            distance, "SemiHardMiner", default=LpDistance(power=2 if squared else 1))

    def mine(self, embeddings, labels):
        d = self._distances(embeddings)
        pos, neg = label_masks(labels)

        def semi_hard(a, p):
            dap, dan = d[a, p][:, None], d[a]
            return neg[a] & (dap < dan) & (dan < dap + self.margin)

        return triplets_where(pos, semi_hard)


class DistanceWeightedMiner(BaseMiner):
    """Distance-weighted negative sampling (Wu, Manmatha, Smola & Krähenbühl, ICCV 2017).

    On the unit sphere in ``d`` dimensions, the distance ``s`` of two random points has
    density ``q(s) ∝ s^(d-2) (1 - s^2/4)^((d-3)/2)``. For every positive pair ``(a, p)``
    one negative ``n`` is drawn with probability ``∝ 1 / q(max(s_an, cutoff))`` -- clipping
    the distance bounds the weights, as the paper clips ``q^-1`` -- so negatives spread over
    all distances instead of concentrating near ``sqrt(2)``; negatives farther than
    ``nonzero_loss_cutoff`` (which could not give a non-zero loss) get weight 0.
    Embeddings are L2-normalized before measuring distances. An anchor whose negatives all
    have weight zero falls back to a uniform draw among them.

    Parameters
    ----------
    cutoff : float, default=0.5
    nonzero_loss_cutoff : float, default=1.4
    random_state : int or None, default=None
        Seeds the draws (a ``torch.Generator`` on the embeddings' device); ``None`` uses
        torch's global generator. A DeepMetricLearner seeds it from its own ``random_state``.
    distance : LpDistance, default=LpDistance(normalize_embeddings=True)
        The density ``q`` holds for the Euclidean distance on the unit sphere: only that
        distance is accepted.
    """

    _param_names = ("cutoff", "nonzero_loss_cutoff", "random_state", "distance")

    def __init__(self, cutoff=0.5, nonzero_loss_cutoff=1.4, random_state=None, distance=None):
        sphere = LpDistance(normalize_embeddings=True)
        self.distance = check_distance(distance, "DistanceWeightedMiner", default=sphere)
        if self.distance != sphere:
            raise ValueError(
                "DistanceWeightedMiner weights negatives by the distance density on the unit "
                f"sphere: distance must be {sphere!r}, got {self.distance!r}."
            )
        if not 0 < cutoff < nonzero_loss_cutoff <= 2:
            raise ValueError(
                "DistanceWeightedMiner needs 0 < cutoff < nonzero_loss_cutoff <= 2, got "
                f"cutoff={cutoff!r}, nonzero_loss_cutoff={nonzero_loss_cutoff!r}."
            )
        self.cutoff = cutoff
        self.nonzero_loss_cutoff = nonzero_loss_cutoff
        self.random_state = random_state
        self._generator = None

    def __getstate__(self):
        # a generator lives on a device: drop it, it is re-seeded from random_state on use
        return {**self.__dict__, "_generator": None}

    def _get_generator(self, device):
        if self.random_state is None:
            return None
        if self._generator is None or self._generator.device != torch.device(device):
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(int(self.random_state))
        return self._generator

    def mine(self, embeddings, labels):
        dim = embeddings.shape[1]
        s = self.distance(embeddings).clamp_min(self.cutoff)
        # log of 1 / q(s), up to a constant (work in logs: s^(d-2) underflows for large d)
        log_w = -(dim - 2.0) * s.log() - 0.5 * (dim - 3.0) * (1.0 - 0.25 * s * s).clamp_min(
            1e-8
        ).log()
        pos, neg = label_masks(labels)
        valid = neg & (s < self.nonzero_loss_cutoff)
        log_w = torch.where(valid, log_w, torch.full_like(log_w, -float("inf")))
        row_max = log_w.max(1, keepdim=True).values
        w = torch.where(valid, (log_w - row_max).exp(), torch.zeros_like(log_w))
        # anchors whose weights are all zero draw uniformly among their negatives
        empty = w.sum(1) == 0
        w = torch.where(empty[:, None], neg.to(w.dtype), w)
        a, p = torch.nonzero(pos, as_tuple=True)
        has_neg = neg[a].any(1)
        a, p = a[has_neg], p[has_neg]
        if len(a) == 0:
            return a, p, a.clone()
        generator = self._get_generator(embeddings.device)
        n = torch.multinomial(w[a], 1, generator=generator).squeeze(1)
        return a, p, n


class MultiSimilarityMiner(BaseMiner):
    """Multi-similarity pair mining: the pairs that beat the other kind's hardest pair.

    The mining step of Wang, Han, Huang, Dong & Scott, "Multi-similarity loss with general
    pair weighting for deep metric learning", CVPR 2019. With a similarity ``s``, for each
    anchor ``a``:

    - a negative pair ``(a, n)`` is kept when ``s(a, n) > min_p s(a, p) - epsilon``: more
      similar than the anchor's least similar positive, less ``epsilon``;
    - a positive pair ``(a, p)`` is kept when ``s(a, p) < max_n s(a, n) + epsilon``: less
      similar than the anchor's most similar negative, plus ``epsilon``.

    With a distance ``d`` the comparisons turn: ``d(a, n) < max_p d(a, p) + epsilon`` and
    ``d(a, p) > min_n d(a, n) - epsilon``. The inequalities are strict. An anchor without
    positives keeps no negative pair and one without negatives no positive pair (the bound
    it would be compared with does not exist).

    Returns pairs ``(a1, p, a2, n)`` in lexicographic order.

    Parameters
    ----------
    epsilon : float, default=0.1
        The paper's margin, in the units of ``distance``.
    distance : distance or similarity, default=CosineSimilarity()
        The paper's similarity; any distance or similarity is accepted.

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.miners import MultiSimilarityMiner
    >>> x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0]])
    >>> a1, p, a2, n = MultiSimilarityMiner()(x, torch.tensor([0, 0, 1, 1]))
    >>> list(zip(a1.tolist(), p.tolist())), list(zip(a2.tolist(), n.tolist()))
    ([(1, 0), (2, 3)], [(1, 2), (2, 1)])
    """

    _param_names = ("epsilon", "distance")

    def __init__(self, epsilon=0.1, distance=None):
        self.epsilon = _check_number(epsilon, "epsilon", "MultiSimilarityMiner")
        self.distance = check_distance(distance, "MultiSimilarityMiner",
                                       default=CosineSimilarity())

    def mine(self, embeddings, labels):
        d = self._distances(embeddings)
        pos, neg = label_masks(labels)
        inf = torch.tensor(float("inf"), dtype=d.dtype, device=d.device)
        # -inf / +inf where an anchor has no positive / negative: nothing passes the bound
        hardest_p = torch.where(pos, d, -inf).amax(1, keepdim=True)
        hardest_n = torch.where(neg, d, inf).amin(1, keepdim=True)
        a1, p = torch.nonzero(pos & (d > hardest_n - self.epsilon), as_tuple=True)
        a2, n = torch.nonzero(neg & (d < hardest_p + self.epsilon), as_tuple=True)
        return a1, p, a2, n


class PairMarginMiner(BaseMiner):
    """The pairs on the wrong side of a margin: far positives and near negatives.

    A positive pair is kept when ``d(a, p) > pos_margin``, a negative pair when
    ``d(a, n) < neg_margin``: the pairs a double-margin contrastive loss (Hadsell, Chopra &
    LeCun, "Dimensionality reduction by learning an invariant mapping", CVPR 2006, with a
    margin for the positives as well) does not yet satisfy. With a similarity ``s`` the
    margins are similarities: ``s(a, p) < pos_margin`` and ``s(a, n) > neg_margin``. The
    inequalities are strict.

    Returns pairs ``(a1, p, a2, n)`` in lexicographic order.

    Parameters
    ----------
    pos_margin : float, default=0.2
    neg_margin : float, default=0.8
        No paper fixes them: these are pytorch-metric-learning's values, for the Euclidean
        distance of embeddings of norm about one.
    distance : distance or similarity, default=LpDistance()

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.miners import PairMarginMiner
    >>> x = torch.tensor([[0.0], [0.5], [1.0], [3.0]])
    >>> a1, p, a2, n = PairMarginMiner(0.2, 0.8)(x, torch.tensor([0, 0, 1, 1]))
    >>> list(zip(a1.tolist(), p.tolist())), list(zip(a2.tolist(), n.tolist()))
    ([(0, 1), (1, 0), (2, 3), (3, 2)], [(1, 2), (2, 1)])
    """

    _param_names = ("pos_margin", "neg_margin", "distance")

    def __init__(self, pos_margin=0.2, neg_margin=0.8, distance=None):
        self.pos_margin = _check_number(pos_margin, "pos_margin", "PairMarginMiner")
        self.neg_margin = _check_number(neg_margin, "neg_margin", "PairMarginMiner")
        self.distance = check_distance(distance, "PairMarginMiner", default=LpDistance())

    def mine(self, embeddings, labels):
        d = self._distances(embeddings)
        sign = -1.0 if self.distance.is_inverted else 1.0  # _distances negates similarities
        pos, neg = label_masks(labels)
        a1, p = torch.nonzero(pos & (d > sign * self.pos_margin), as_tuple=True)
        a2, n = torch.nonzero(neg & (d < sign * self.neg_margin), as_tuple=True)
        return a1, p, a2, n


_STRATEGIES = ("easy", "semihard", "hard", "all")


class BatchEasyHardMiner(BaseMiner):
    """Per anchor, one positive and one negative chosen by how easy or hard they are.

    Xuan, Stylianou, Liu & Pless, "Improved embeddings with easy positive triplet mining",
    WACV 2020: with ``pos_strategy='easy'`` and ``neg_strategy='semihard'`` (the defaults),
    each anchor is paired with its nearest positive and with the nearest negative that is
    farther than that positive, so a class may spread into several clusters. The strategies:

    - positives: ``'easy'`` the nearest, ``'hard'`` the farthest, ``'semihard'`` the
      farthest that is nearer than the chosen negative, ``'all'`` every one;
    - negatives: ``'easy'`` the farthest, ``'hard'`` the nearest, ``'semihard'`` the nearest
      that is farther than the chosen positive, ``'all'`` every one.

    "Near" and "far" are by ``distance`` (most and least similar for a similarity);
    "nearer" and "farther" are strict; ties go to the lowest index. A semi-hard choice is
    relative to the single pair the other side picks: both sides cannot be semi-hard, and
    ``'semihard'`` does not combine with ``'all'``.

    Returns pairs ``(a1, p, a2, n)``, ordered by anchor. Without ``'all'``: one positive
    and one negative per anchor that has both, with ``a1`` equal to ``a2`` (one triplet per
    anchor; :func:`pairs_to_triplets` gives it). With ``'all'`` on one side: every pair of
    that side, and the other side's pair for each anchor that has one.

    Parameters
    ----------
    pos_strategy : {'easy', 'semihard', 'hard', 'all'}, default='easy'
    neg_strategy : {'easy', 'semihard', 'hard', 'all'}, default='semihard'
    distance : distance or similarity, default=CosineSimilarity()
        The paper's similarity of normalized embeddings; any distance is accepted.

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.distances import LpDistance
    >>> from skdml.deep.miners import BatchEasyHardMiner
    >>> x = torch.tensor([[0.0], [1.0], [2.5], [3.0], [4.5]])
    >>> miner = BatchEasyHardMiner(distance=LpDistance())  # easy positive, semi-hard negative
    >>> a1, p, a2, n = miner(x, torch.tensor([0, 0, 1, 1, 0]))
    >>> list(zip(a1.tolist(), p.tolist(), n.tolist()))  # 4: no negative beyond its positive 1
    [(0, 1, 2), (1, 0, 2), (2, 3, 1), (3, 2, 4)]
    """

    _param_names = ("pos_strategy", "neg_strategy", "distance")

    def __init__(self, pos_strategy="easy", neg_strategy="semihard", distance=None):
        for value, name in ((pos_strategy, "pos_strategy"), (neg_strategy, "neg_strategy")):
            if not isinstance(value, str) or value not in _STRATEGIES:
                raise ValueError(f"BatchEasyHardMiner: {name} must be one of {_STRATEGIES}, "
                                 f"got {value!r}.")
        strategies = (pos_strategy, neg_strategy)
        if strategies == ("semihard", "semihard") or (
                "semihard" in strategies and "all" in strategies):
            raise ValueError(
                "BatchEasyHardMiner: a 'semihard' side is chosen relative to the one pair the "
                "other side picks per anchor, so the other side must be 'easy' or 'hard'; got "
                f"pos_strategy={pos_strategy!r}, neg_strategy={neg_strategy!r}."
            )
        self.pos_strategy = pos_strategy
        self.neg_strategy = neg_strategy
        self.distance = check_distance(distance, "BatchEasyHardMiner",
                                       default=CosineSimilarity())

    def mine(self, embeddings, labels):
        d = self._distances(embeddings)
        masks = dict(zip(("pos", "neg"), label_masks(labels)))
        strategies = {"pos": self.pos_strategy, "neg": self.neg_strategy}
        picks = {}  # side -> (index per anchor, whether the anchor has one)
        # a semi-hard side is bounded by the other side's pick: that one is made first
        for side in (("neg", "pos") if self.pos_strategy == "semihard" else ("pos", "neg")):
            strategy, mask = strategies[side], masks[side]
            if strategy == "all":
                continue
            if strategy == "semihard":
                other = "neg" if side == "pos" else "pos"
                bound = d.gather(1, picks[other][0][:, None])
                mask = mask & ((d < bound) if side == "pos" else (d > bound))
            nearest = (strategy == "easy") == (side == "pos")
            picks[side] = _extreme_per_row(d, mask, nearest)
        if len(picks) == 2:
            keep = picks["pos"][1] & picks["neg"][1]
            a = torch.nonzero(keep, as_tuple=True)[0]
            return a, picks["pos"][0][a], a, picks["neg"][0][a]
        pairs = []
        for side in ("pos", "neg"):
            if side in picks:
                index, has = picks[side]
                a = torch.nonzero(has, as_tuple=True)[0]
                pairs += [a, index[a]]
            else:
                pairs += list(torch.nonzero(masks[side], as_tuple=True))
        return tuple(pairs)


class AngularMiner(BaseMiner):
    """The triplets whose angle at the negative exceeds ``angle``: those the angular loss
    penalizes.

    Wang, Zhou, Wen, Liu & Lin, "Deep metric learning with angular loss", ICCV 2017: with
    ``x_c = (x_a + x_p) / 2``, the angle at the negative ``n`` of a triplet ``(a, p, n)``
    is ``arctan(|x_a - x_p| / (2 |x_n - x_c|))``. Every triplet where it is strictly above
    ``angle`` is returned; at the default, the triplets with a non-zero
    :class:`~skdml.deep.losses.AngularLoss` (same ``alpha``). The distance to the center
    comes from the pairwise distances (``|x_n - x_c|^2 = (d_an^2 + d_pn^2) / 2 - d_ap^2 /
    4``), pair by pair, without the triplet cube.

    Returns triplets ``(a, p, n)`` in lexicographic order.

    Parameters
    ----------
    angle : float, default=40
        In degrees, in (0, 90): the default is :class:`~skdml.deep.losses.AngularLoss`'s
        ``alpha``.
    distance : LpDistance, default=LpDistance(normalize_embeddings=True)
        The angle is Euclidean: only the Euclidean distance (``p=2, power=1``) is accepted,
        with or without normalization (the paper normalizes).

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.miners import AngularMiner
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    >>> a, p, n = AngularMiner(angle=40)(x, torch.tensor([0, 0, 1, 2]))
    >>> list(zip(a.tolist(), p.tolist(), n.tolist()))  # 2 lies between 0 and 1, 3 does not
    [(0, 1, 2), (1, 0, 2)]
    """

    _param_names = ("angle", "distance")

    def __init__(self, angle=40, distance=None):
        self.distance = check_distance(distance, "AngularMiner", kind="distance",
                                       default=LpDistance(normalize_embeddings=True))
        if not (isinstance(self.distance, LpDistance) and self.distance.p == 2
                and self.distance.power == 1):
            raise ValueError(
                "AngularMiner measures a Euclidean angle: distance must be "
                f"LpDistance(p=2, power=1, ...), got {self.distance!r}."
            )
        self.angle = _check_number(angle, "angle", "AngularMiner", low=0, high=90)

    def mine(self, embeddings, labels):
        squared = LpDistance(power=2, normalize_embeddings=self.distance.normalize_embeddings)
        d2 = squared(embeddings)
        tan2 = math.tan(math.radians(self.angle)) ** 2
        pos, neg = label_masks(labels)

        def wide_angle(a, p):
            ap = d2[a, p][:, None]
            to_center = 0.5 * (d2[a] + d2[p]) - 0.25 * ap
            return neg[a] & (ap > 4.0 * tan2 * to_center)

        return triplets_where(pos, wide_angle)
