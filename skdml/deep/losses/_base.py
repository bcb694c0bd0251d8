"""The base classes of the losses: one call signature, one extension point."""

import math
import numbers
import warnings

import torch
from torch import nn
from torch.nn import functional as F

from ..distances import LpDistance, check_distance
from .._tuples import all_pairs, all_triplets, as_pairs, as_triplets
from ..reducers import MeanReducer, check_reducer
from ..regularizers import BaseRegularizer


def _check_real(value, name, owner, *, low=None, strict=True):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite real number, got {value!r}.")
    if low is not None and (value <= low if strict else value < low):
        op = ">" if strict else ">="
        raise ValueError(f"{owner}: {name} must be {op} {low}, got {value!r}.")
    return float(value)


def _check_int(value, name, owner, *, low=1):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}.")
    return int(value)


def _check_regularizer(regularizer, name, owner):
    if regularizer is not None and not isinstance(regularizer, BaseRegularizer):
        raise ValueError(
            f"{owner}: {name} must be None or an instance of a skdml.deep.regularizers class "
            f"(for example LpRegularizer()), got {regularizer!r}."
        )
    return regularizer


_EPS_NORM = 1e-12


def _masked_logsumexp(values, mask, *, dim=1, add_one=False):
    """``log(sum exp(values))`` along ``dim`` over the entries where ``mask`` holds.

    Masked entries are ``-inf``, never a finite stand-in (which would be wrong at large
    values). ``add_one=True`` gives ``log(1 + sum exp(values))``, the ``1`` as a zero entry,
    so a slice with nothing to sum gives 0. Without it, such a slice gives ``-inf`` with a
    zero gradient: its entries are replaced by zeros before :func:`torch.logsumexp`, whose
    backward would otherwise form ``-inf - (-inf)``.
    """
    masked = values.masked_fill(~mask, -math.inf)
    if add_one:
        ones = torch.zeros_like(masked.narrow(dim, 0, 1))
        return torch.logsumexp(torch.cat([ones, masked], dim), dim)
    empty = ~mask.any(dim, keepdim=True)
    total = torch.logsumexp(masked.masked_fill(empty, 0.0), dim)
    return total.masked_fill(empty.squeeze(dim), -math.inf)


def _zero(embeddings):
    return (embeddings * 0.0).sum()


class MetricLoss(nn.Module):
    """Base of every loss: ``loss(embeddings, labels, tuples=None)`` returns a scalar.

    ``forward`` checks the batch, forms the tuples a loss of this kind needs (every pair or
    every triplet of the batch when ``tuples`` is None; pairs and triplets convert into each
    other), calls :meth:`compute` for the per-term values, makes the scalar with the
    ``reducer``, and adds :meth:`penalty` and the ``embedding_regularizer``.

    To write a loss, subclass it and implement :meth:`compute`; set the class attributes
    that describe it:

    - ``tuple_kind``: ``'pair'`` (``compute`` receives pairs ``(a1, p, a2, n)``),
      ``'triplet'`` (``(a, p, n)``) or ``None`` (it receives ``tuples`` as given, possibly
      None, and uses the labels);
    - ``distance_kind``: ``'distance'``, ``'similarity'`` or ``'any'``: what ``distance=``
      may be (a mismatch is a ValueError when the loss is built);
    - ``needs_positive_pairs``: whether a batch without two samples of one class gives no
      signal (then the loss warns and returns 0 rather than NaN).

    and override :meth:`default_distance` / :meth:`default_reducer` when the formula has
    other defaults than the Euclidean distance and the mean.

    Parameters
    ----------
    distance : skdml.deep.distances distance or None, default=None
        What the loss measures embeddings with; None: the loss's own default.
    reducer : skdml.deep.reducers reducer or None, default=None
        How the per-term values become the scalar; None: the loss's own default.
    embedding_regularizer : skdml.deep.regularizers regularizer or None, default=None
        Added to the loss, computed on the batch's embeddings.
    """

    tuple_kind = "pair"
    distance_kind = "any"
    needs_positive_pairs = True
    #: The label shapes a batch may have: ``(1,)`` class labels of shape (n,); ``(1, 2)``
    #: real-valued labels of shape (n,) or (n, k) too.
    label_ndims = (1,)
    _reprs = ()

    def __init__(self, *, distance=None, reducer=None, embedding_regularizer=None):
        super().__init__()
        owner = type(self).__name__
        self.distance = check_distance(distance, owner, default=self.default_distance(),
                                       kind=self.distance_kind)
        self.reducer = check_reducer(reducer, owner, default=self.default_reducer())
        self.embedding_regularizer = _check_regularizer(
            embedding_regularizer, "embedding_regularizer", owner)

    def default_distance(self):
        """The distance used when ``distance=None``: the Euclidean distance."""
        return LpDistance()

    def default_reducer(self):
        """The reducer used when ``reducer=None``: the mean of the terms."""
        return MeanReducer()

    def compute(self, embeddings, labels, tuples):
        """The loss's terms for one batch; every subclass implements it.

        Parameters
        ----------
        embeddings : Tensor of shape (n, d)
        labels : LongTensor of shape (n,)
        tuples : tuple of LongTensors, or None
            Pairs ``(a1, p, a2, n)`` for ``tuple_kind='pair'``, triplets ``(a, p, n)`` for
            ``'triplet'`` (never empty), what the caller gave for ``None``.

        Returns
        -------
        values : Tensor of shape (n_terms,), or a tuple ``(values, anchors)``
            One loss value per term (pair, triplet, anchor or sample), differentiable with
            respect to ``embeddings``; ``anchors`` (LongTensor, same length) the batch
            index each term belongs to, for reducers that average per anchor. The reducer
            turns them into the scalar.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement compute(embeddings, labels, tuples), "
            "returning a 1-D tensor of per-term loss values (or a tuple (values, anchors))."
        )

    def penalty(self, embeddings, labels, tuples):
        """Terms of the formula that are not per-term (already scalars), added after the
        reduction; 0 by default."""
        return 0.0

    def _check_batch(self, embeddings, labels):
        if (embeddings.dim() != 2 or labels.dim() not in self.label_ndims
                or len(labels) != len(embeddings)):
            shapes = "(n,)" if tuple(self.label_ndims) == (1,) else "(n,) or (n, k)"
            raise ValueError(
                f"{type(self).__name__} expects embeddings of shape (n, d) and labels of "
                f"shape {shapes}, got {tuple(embeddings.shape)} and {tuple(labels.shape)}."
            )

    def _form_tuples(self, labels, tuples):
        if self.tuple_kind == "pair":
            return all_pairs(labels) if tuples is None else as_pairs(tuples)
        if self.tuple_kind == "triplet":
            return all_triplets(labels) if tuples is None else as_triplets(tuples)
        return tuples

    def forward(self, embeddings, labels, tuples=None):
        self._check_batch(embeddings, labels)
        if self.needs_positive_pairs and len(torch.unique(labels)) == len(labels):
            warnings.warn(
                f"{type(self).__name__}: the batch has no positive pair (no two samples share "
                "a class), so the loss is 0 for it. Give every batch at least two samples of "
                "one class.",
                UserWarning,
                stacklevel=2,
            )
            return _zero(embeddings)
        tuples = self._form_tuples(labels, tuples)
        if self.tuple_kind is not None and sum(len(t) for t in tuples) == 0:
            return _zero(embeddings)
        terms = self.compute(embeddings, labels, tuples)
        loss = self.reducer(*terms) if isinstance(terms, tuple) else self.reducer(terms)
        loss = loss + self.penalty(embeddings, labels, tuples)
        if self.embedding_regularizer is not None:
            loss = loss + self.embedding_regularizer(embeddings)
        return loss

    def extra_repr(self):
        parts = [f"{k}={getattr(self, k)!r}" for k in self._reprs]
        if self.distance != self.default_distance():
            parts.append(f"distance={self.distance!r}")
        if self.reducer != self.default_reducer():
            parts.append(f"reducer={self.reducer!r}")
        if self.embedding_regularizer is not None:
            parts.append(f"embedding_regularizer={self.embedding_regularizer!r}")
        return ", ".join(parts)


class ClassLoss(MetricLoss):
    """Base of the losses with learned class vectors (``weight``, one row per class).

    The terms are per sample (the batch's labels are class indices ``0..n_classes-1``):
    by default the softmax cross-entropy of :meth:`logits`, which subclasses implement
    (usually from :meth:`cosines`); tuples are ignored. ``weight_regularizer`` is added on
    the class vectors.

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner`.
    weight_regularizer : skdml.deep.regularizers regularizer or None, default=None
    distance, reducer, embedding_regularizer
        As in :class:`MetricLoss`.
    """

    tuple_kind = None
    needs_positive_pairs = False

    def __init__(self, n_classes, embedding_dim, *, n_vectors_per_class=1, distance=None,
                 reducer=None, embedding_regularizer=None, weight_regularizer=None):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        owner = type(self).__name__
        self.n_classes = _check_int(n_classes, "n_classes", owner)
        self.embedding_dim = _check_int(embedding_dim, "embedding_dim", owner)
        self.weight_regularizer = _check_regularizer(weight_regularizer, "weight_regularizer",
                                                     owner)
        rows = self.n_classes * _check_int(n_vectors_per_class, "n_vectors_per_class", owner)
        self.weight = nn.Parameter(torch.empty(rows, self.embedding_dim))
        nn.init.xavier_uniform_(self.weight)

    def _check_batch(self, embeddings, labels):
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

    def forward(self, embeddings, labels, tuples=None):
        loss = super().forward(embeddings, labels.long(), tuples)
        if self.weight_regularizer is not None:
            loss = loss + self.weight_regularizer(self.weight)
        return loss

    def logits(self, x, labels):
        """The (n, n_classes) logits of the batch (``labels`` for a target margin)."""
        raise NotImplementedError(f"{type(self).__name__} must implement logits(x, labels).")

    def compute(self, embeddings, labels, tuples):
        return F.cross_entropy(self.logits(embeddings, labels), labels, reduction="none")

    def cosines(self, x):
        """Cosine of each embedding with each class vector: shape (n, n_vectors)."""
        return F.normalize(x, dim=1) @ F.normalize(self.weight.to(x.dtype), dim=1).T

    def extra_repr(self):
        extra = super().extra_repr()
        if self.weight_regularizer is not None:
            extra += (", " if extra else "") + f"weight_regularizer={self.weight_regularizer!r}"
        return f"n_classes={self.n_classes}, embedding_dim={self.embedding_dim}" + (
            f", {extra}" if extra else "")
