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

import numbers

import torch

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
from .distances import LpDistance, check_distance

__all__ = [
    "AllPairsMiner",
    "AllTripletsMiner",
    "BaseMiner",
    "DistanceWeightedMiner",
    "HardMiner",
    "SemiHardMiner",
    "all_pairs",
    "all_triplets",
    "pairs_to_triplets",
    "triplets_to_pairs",
]


def _check_batch(embeddings, labels, name):
    if embeddings.dim() != 2 or labels.dim() != 1 or len(labels) != len(embeddings):
        raise ValueError(
            f"{name} expects embeddings of shape (n, d) and labels of shape (n,), got "
            f"{tuple(embeddings.shape)} and {tuple(labels.shape)}."
        )


class BaseMiner:
    """Base of the miners: checks the batch, then :meth:`mine` without gradients.

    A subclass lists its constructor arguments in ``_param_names`` (for ``get_params``,
    ``repr`` and a learner's ``miner__<name>``) and implements :meth:`mine`.
    """

    _param_names = ()

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in self._param_names}

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._param_names)
        return f"{type(self).__name__}({args})"

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

    Parameters
    ----------
    distance : distance or similarity, default=LpDistance(power=2)
        "Farthest" and "nearest" by this measure (least and most similar for a similarity).
    """

    _param_names = ("distance",)

    def __init__(self, distance=None):
        self.distance = check_distance(distance, "HardMiner", default=LpDistance(power=2))

    def mine(self, embeddings, labels):
        pos, neg = label_masks(labels)
        d2 = self._distances(embeddings)
        anchors = torch.nonzero(pos.any(1) & neg.any(1), as_tuple=True)[0]
        inf = torch.tensor(float("inf"), dtype=d2.dtype, device=d2.device)
        hardest_p = torch.where(pos, d2, -inf).argmax(1)
        hardest_n = torch.where(neg, d2, inf).argmin(1)
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
        if not isinstance(margin, numbers.Real) or not margin > 0:
            raise ValueError(f"SemiHardMiner: margin must be > 0, got {margin!r}.")
        self.margin = margin
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
