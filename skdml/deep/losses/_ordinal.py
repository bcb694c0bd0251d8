"""Losses on continuous labels: embedding distances ordered as the label distances (Kim et
al.), and the triplet baseline on thresholded labels."""

import torch
from torch.nn import functional as F

from .._neighbors import check_label_metric, dense_triplets, label_distances
from ..distances import LpDistance
from ._base import MetricLoss, _check_real


class _LabelDistanceLoss(MetricLoss):
    """Base of the losses on real-valued labels of shape (n,) or (n, k), compared by
    ``label_distance``; the tuples are triplets ``(a, i, j)`` of the batch, every one of
    them (:func:`~skdml.deep.dense_triplets`) when none are given. No classes, hence no
    positive pairs to wait for."""

    tuple_kind = None
    needs_positive_pairs = False
    label_ndims = (1, 2)

    def __init__(self, label_distance, *, distance, reducer, embedding_regularizer):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.label_distance = check_label_metric(label_distance, type(self).__name__)

    def default_distance(self):
        """The squared Euclidean distance, Kim et al.'s."""
        return LpDistance(power=2)

    def _triplets(self, embeddings, tuples):
        if tuples is None:
            return dense_triplets(len(embeddings), device=embeddings.device)
        if len(tuples) != 3:
            raise ValueError(
                f"{type(self).__name__} takes triplets (a, i, j) of indices into the batch, "
                f"got {len(tuples)} index tensors."
            )
        return tuples


class LogRatioLoss(_LabelDistanceLoss):
    r"""The log-ratio loss, one term per triplet ``(a, i, j)``:

    ``(log (D(f_a, f_i) + eps) / (D(f_a, f_j) + eps)
    - log (D_y(y_a, y_i) + eps) / (D_y(y_a, y_j) + eps))^2``

    ``D`` is the embeddings' ``distance`` (the squared Euclidean distance by default; no
    margin, no L2 normalization) and ``D_y`` the label distance: the ratio of two embedding
    distances should equal the ratio of the label distances, so the embedding keeps the
    label space's distances up to a scale. ``eps`` keeps the logarithms finite for
    coincident embeddings or labels; with many tied labels (a target taking few values), a
    larger ``eps`` (relative to the typical label distance) keeps the tied pairs from
    dominating the loss.

    Called as ``loss(embeddings, labels, tuples=None)``, ``labels`` a float tensor of shape
    (n,) or (n, k), ``tuples`` triplets ``(a, i, j)``; ``None`` uses
    :func:`~skdml.deep.dense_triplets` of the batch. The terms' anchors are the ``a``.

    Parameters
    ----------
    label_distance : {'sqeuclidean', 'euclidean', 'cityblock'} or callable
        ``D_y`` (default ``'sqeuclidean'``); see :func:`~skdml.deep.label_distances` for
        the callable's contract.
    eps : float, default=1e-6
    distance : distance, default=LpDistance(power=2)
        ``D``; a distance (not a similarity: its logarithm is taken).
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    S. Kim, M. Seo, I. Laptev, M. Cho and S. Kwak, "Deep metric learning beyond binary
    supervision", CVPR 2019.
    """

    distance_kind = "distance"
    _reprs = ("label_distance", "eps")

    def __init__(self, label_distance="sqeuclidean", eps=1e-6, *, distance=None, reducer=None,
                 embedding_regularizer=None):
        super().__init__(label_distance, distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.eps = _check_real(eps, "eps", "LogRatioLoss", low=0)

    def compute(self, embeddings, labels, tuples):
        a, i, j = self._triplets(embeddings, tuples)
        log_d = torch.log(self.distance(embeddings) + self.eps)
        # in the labels' own precision (float64 from a learner), then the embeddings'
        log_dy = torch.log(label_distances(labels, self.label_distance) + self.eps).to(
            log_d.dtype)
        return ((log_d[a, i] - log_d[a, j]) - (log_dy[a, i] - log_dy[a, j])).pow(2), a


class ThresholdTripletLoss(_LabelDistanceLoss):
    """Triplet margin loss on labels binarized by a threshold on the label distance.

    The "binary thresholding" baseline of Kim et al.: for an anchor ``a``, a sample whose
    label distance ``D_y(y_a, y_i)`` is below ``threshold`` is a positive, every other one a
    negative; one term ``max(0, d(a, p) - d(a, n) + margin)`` (the
    :class:`TripletMarginLoss` formula, ``max(0, s(a, n) - s(a, p) + margin)`` for a
    similarity) per triplet of the batch that has one of each, ordered
    ``(a, positive, negative)``: the dense triplets, or the ``(a, i, j)`` given as
    ``tuples``.

    Parameters
    ----------
    threshold : float
        In the units of ``label_distance``.
    margin : float, default=0.2
    squared : bool, default=True
        Shorthand for ``distance=LpDistance(power=2)`` (True) or ``LpDistance()`` (False);
        used only when ``distance`` is None.
    label_distance : {'sqeuclidean', 'euclidean', 'cityblock'} or callable, \
default='sqeuclidean'
    distance : distance or similarity, default=None
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    S. Kim, M. Seo, I. Laptev, M. Cho and S. Kwak, "Deep metric learning beyond binary
    supervision", CVPR 2019.
    """

    distance_kind = "any"
    _reprs = ("threshold", "margin", "squared", "label_distance")

    def __init__(self, threshold, margin=0.2, squared=True, label_distance="sqeuclidean", *,
                 distance=None, reducer=None, embedding_regularizer=None):
        self.squared = bool(squared)  # read by default_distance, in MetricLoss.__init__
        super().__init__(label_distance, distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.threshold = _check_real(threshold, "threshold", "ThresholdTripletLoss", low=0)
        self.margin = _check_real(margin, "margin", "ThresholdTripletLoss", low=0,
                                  strict=False)

    def default_distance(self):
        return LpDistance(power=2 if self.squared else 1)

    def compute(self, embeddings, labels, tuples):
        a, i, j = self._triplets(embeddings, tuples)
        close = label_distances(labels, self.label_distance) < self.threshold
        ci, cj = close[a, i], close[a, j]
        forward, backward = ci & ~cj, cj & ~ci
        a, p, n = (torch.cat([a[forward], a[backward]]), torch.cat([i[forward], j[backward]]),
                   torch.cat([j[forward], i[backward]]))
        c = self.distance.closeness(self.distance(embeddings))
        return F.relu(c[a, n] - c[a, p] + self.margin), a
