"""Pairs and triplets of a batch, as index tensors: shared by the losses and the miners.

- pairs: ``(a1, p, a2, n)``, four 1-D ``LongTensor`` s; ``(a1[k], p[k])`` are the positive
  (same-class) pairs and ``(a2[k], n[k])`` the negative ones;
- triplets: ``(a, p, n)``, three 1-D ``LongTensor`` s; ``a`` and ``p`` share a class, ``n``
  does not.
"""

import torch


def label_masks(labels):
    """``(positive, negative)``: boolean (n, n) masks of same-class pairs ``i != j`` and of
    different-class pairs."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def all_pairs(labels):
    """Every ordered positive pair ``i != j`` and every ordered negative pair of a batch."""
    pos, neg = label_masks(labels)
    a1, p = torch.nonzero(pos, as_tuple=True)
    a2, n = torch.nonzero(neg, as_tuple=True)
    return a1, p, a2, n


def triplets_where(pos, keep_negative):
    """Triplets ``(a, p, n)`` over the positive pairs of ``pos``, in lexicographic order.

    ``keep_negative(a, p)`` gives, for the positive pairs ``(a[k], p[k])``, a boolean
    matrix of shape (n_pairs, batch_size) saying which ``n`` make a triplet. Working pair by
    pair touches ``n_pairs * B`` entries rather than the ``B^3`` of an (a, p, n) cube.
    """
    a, p = torch.nonzero(pos, as_tuple=True)
    k, n = torch.nonzero(keep_negative(a, p), as_tuple=True)
    return a[k], p[k], n


def all_triplets(labels):
    """Every triplet ``(a, p, n)``: ``a != p`` of one class, ``n`` of another."""
    pos, neg = label_masks(labels)
    return triplets_where(pos, lambda a, p: neg[a])


def triplets_to_pairs(triplets):
    """Triplets ``(a, p, n)`` as pairs: ``(a, p)`` positive and ``(a, n)`` negative."""
    a, p, n = triplets
    return a, p, a, n


def pairs_to_triplets(pairs):
    """Pairs as triplets: every positive ``(a, p)`` with every negative ``(a, n)``."""
    a1, p, a2, n = pairs
    match = a1[:, None] == a2[None, :]
    i, j = torch.nonzero(match, as_tuple=True)
    return a1[i], p[i], n[j]


def as_pairs(tuples):
    return tuples if len(tuples) == 4 else triplets_to_pairs(tuples)


def as_triplets(tuples):
    return tuples if len(tuples) == 3 else pairs_to_triplets(tuples)


def pair_masks(n, pairs, device):
    """Boolean (n, n) masks of the positive and of the negative pairs in ``pairs``."""
    a1, p, a2, neg_idx = pairs
    pos = torch.zeros(n, n, dtype=torch.bool, device=device)
    neg = torch.zeros_like(pos)
    pos[a1, p] = True
    neg[a2, neg_idx] = True
    return pos, neg
