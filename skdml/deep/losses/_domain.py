"""The objectives of the transfer and image-set learners (DTML, MMDML): neighbourhoods of
each anchor, found in the input space by the learner, measured in the embedding."""

import torch
from torch.nn import functional as F

from .._neighbors import neighbor_pairs
from ..distances import LpDistance
from ._base import MetricLoss, _check_int, _check_real, _zero


class _NeighborhoodLoss(MetricLoss):
    """Base of the losses over each anchor's ``k1`` nearest same-class samples and ``k2``
    nearest other-class samples: ``tuples`` are the neighbour pairs ``(intra, inter)`` of
    :meth:`pairs` (the learners find them among the batch's inputs); ``None`` finds them
    among the embeddings. Distances are squared Euclidean by default; a similarity is
    refused (the objectives pull the first neighbourhood in and push the second out)."""

    tuple_kind = None
    needs_positive_pairs = False
    distance_kind = "distance"

    def __init__(self, k1, k2, *, distance, reducer, embedding_regularizer):
        super().__init__(distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        owner = type(self).__name__
        self.k1 = _check_int(k1, "k1", owner)
        self.k2 = _check_int(k2, "k2", owner)

    def default_distance(self):
        """The squared Euclidean distance, the papers'."""
        return LpDistance(power=2)

    def _anchors(self, labels):
        return None

    def pairs(self, X, labels):
        """The neighbour pairs ``(intra, inter)`` of the anchors of the batch ``X``
        (:func:`~skdml.deep.neighbor_pairs` with this loss's ``k1`` and ``k2``)."""
        return neighbor_pairs(X, labels, self.k1, self.k2, self._anchors(labels))

    def _neighbor_pairs(self, embeddings, labels, tuples):
        return self.pairs(embeddings, labels) if tuples is None else tuples


class TransferObjective(_NeighborhoodLoss):
    r"""DTML's objective on one batch, without the weight decay:
    ``J = S_c - alpha S_b + beta D_ts``.

    - ``S_c``: the mean ``distance`` (squared Euclidean by default) from each labeled sample
      to its ``k1`` nearest same-class samples (``1 / (N k1) sum_ij P_ij d(x_i, x_j)``);
    - ``S_b``: the same over its ``k2`` nearest other-class samples (``Q_ij``);
    - ``D_ts``: the maximum mean discrepancy with a linear kernel,
      ``|mean f(x_source) - mean f(x_target)|^2``, target samples being those labeled ``-1``
      (a kernel discrepancy: ``distance`` does not change it).

    Called as ``loss(embeddings, labels, tuples=None)``; ``tuples`` are the neighbour pairs
    ``(intra, inter)`` of :meth:`pairs`. The papers find the neighbourhoods in the input
    space, so :class:`~skdml.deep.DTML` hands over ``pairs(X, labels)`` of the batch's
    inputs; ``None`` finds them among the embeddings. A term without samples (no target in
    the batch, say) is 0.

    The objective is a difference of two neighbourhood means, not a sum of per-pair terms,
    so there is no ``reducer``: :meth:`compute` returns ``J`` as the batch's single term.

    Parameters
    ----------
    k1, k2 : int, default=5, 10
    alpha, beta : float, default=1.0
    distance : distance, default=LpDistance(power=2)
        ``d`` of ``S_c`` and ``S_b``; a distance (not a similarity).
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    J. Hu, J. Lu and Y.-P. Tan, "Deep transfer metric learning", CVPR 2015.
    """

    _reprs = ("k1", "k2", "alpha", "beta")

    def __init__(self, k1=5, k2=10, alpha=1.0, beta=1.0, *, distance=None,
                 embedding_regularizer=None):
        super().__init__(k1, k2, distance=distance, reducer=None,
                         embedding_regularizer=embedding_regularizer)
        self.alpha = _check_real(alpha, "alpha", "TransferObjective", low=0, strict=False)
        self.beta = _check_real(beta, "beta", "TransferObjective", low=0, strict=False)

    def _mean_distance(self, Z, pairs):
        i, j = pairs
        if len(i) == 0:
            return _zero(Z)
        return self.distance.pairwise(Z[i], Z[j]).mean()

    def terms(self, embeddings, labels, tuples=None):
        """``(S_c, S_b, D_ts)`` as scalar tensors."""
        Z = embeddings
        intra, inter = self._neighbor_pairs(Z, labels, tuples)
        source, target = labels >= 0, labels < 0
        if source.any() and target.any():
            mmd = ((Z[source].mean(0) - Z[target].mean(0)) ** 2).sum()
        else:
            mmd = _zero(Z)
        return self._mean_distance(Z, intra), self._mean_distance(Z, inter), mmd

    def compute(self, embeddings, labels, tuples):
        s_c, s_b, mmd = self.terms(embeddings, labels, tuples)
        return (s_c - self.alpha * s_b + self.beta * mmd).reshape(1)


class ManifoldMarginLoss(_NeighborhoodLoss):
    r"""MMDML's loss: each anchor's own-manifold neighbours closer than the others'.

    For an anchor ``x_i``, ``D_1(i)`` is the mean ``distance`` (squared Euclidean by
    default) in the embedding to its ``k1`` intra-manifold neighbours (samples of its own
    class) and ``D_2(i)`` to its ``k2`` nearest samples of other classes; the term of the
    anchor is ``g(margin + D_1(i) - D_2(i))``, ``g(z) = log(1 + exp(beta z)) / beta`` the
    generalized logistic function (the paper's objective has ``margin=0``), and the
    ``reducer`` (the mean by default) makes the loss. Anchors lacking either kind of
    neighbour in ``tuples`` are left out.

    Called as ``loss(embeddings, labels, tuples=None)``; ``tuples`` are the neighbour pairs
    ``(intra, inter)``, each a pair of index tensors ``(anchors, neighbours)`` into the
    batch. The paper finds the neighbourhoods in the input space: :class:`~skdml.deep.MMDML`
    finds them once among all its training vectors (the intra-manifold ones in the other
    image sets of the anchor's class) and hands each batch those of its anchors; for a
    batch on its own, :meth:`pairs` finds them among the batch's inputs, and ``None``
    among the embeddings. With ``anchor_label`` only the samples of that label are anchors
    of :meth:`pairs` (the network of one manifold), otherwise all of them.

    Parameters
    ----------
    k1, k2 : int, default=5, 10
    beta : float, default=2.0
        Sharpness of ``g``.
    margin : float, default=0.0
        Added inside ``g``; the paper has none.
    anchor_label : int or None, default=None
    distance : distance, default=LpDistance(power=2)
        A distance (not a similarity).
    reducer : reducer, default=MeanReducer()
        Over the anchors' terms.
    embedding_regularizer : regularizer or None, default=None

    References
    ----------
    J. Lu, G. Wang, W. Deng, P. Moulin and J. Zhou, "Multi-manifold deep metric learning
    for image set classification", CVPR 2015.
    """

    _reprs = ("k1", "k2", "beta", "margin", "anchor_label")

    def __init__(self, k1=5, k2=10, beta=2.0, margin=0.0, anchor_label=None, *,
                 distance=None, reducer=None, embedding_regularizer=None):
        super().__init__(k1, k2, distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        self.beta = _check_real(beta, "beta", "ManifoldMarginLoss", low=0)
        self.margin = _check_real(margin, "margin", "ManifoldMarginLoss")
        self.anchor_label = anchor_label

    def _anchors(self, labels):
        return None if self.anchor_label is None else labels == self.anchor_label

    def per_anchor(self, embeddings, labels, tuples=None):
        """``(anchors, D_1, D_2)``: the anchors kept and their mean distances."""
        Z = embeddings
        n = len(labels)
        means = []
        for i, j in self._neighbor_pairs(Z, labels, tuples):
            d = self.distance.pairwise(Z[i], Z[j])
            total = torch.zeros(n, dtype=Z.dtype, device=Z.device).index_add(0, i, d)
            count = torch.bincount(i, minlength=n).to(Z.dtype)
            means.append((total, count))
        keep = (means[0][1] > 0) & (means[1][1] > 0)
        idx = torch.nonzero(keep).flatten()
        return idx, means[0][0][idx] / means[0][1][idx], means[1][0][idx] / means[1][1][idx]

    def compute(self, embeddings, labels, tuples):
        idx, d1, d2 = self.per_anchor(embeddings, labels, tuples)
        return F.softplus(self.margin + d1 - d2, beta=self.beta), idx
