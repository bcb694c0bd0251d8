"""Input-space neighbourhoods of a batch, shared by the DTML and MMDML objectives."""

import math
import numbers

import numpy as np
import torch

from .losses import _sq_dist_matrix

#: the label marking an unlabeled target-domain sample
TARGET = -1


def target_mask(y):
    """``True`` where ``y`` marks an unlabeled target sample (the integer ``-1``)."""
    y = np.asarray(y)
    if y.dtype.kind in "biuf":
        return y == TARGET
    if y.dtype.kind == "O":
        return np.array([isinstance(v, numbers.Real) and not isinstance(v, bool) and v == TARGET
                         for v in y], dtype=bool)
    return np.zeros(y.shape, dtype=bool)


def _k_nearest(D, allowed, k, rows):
    """Pairs ``(i, j)``: for each row ``i``, its ``k`` smallest allowed entries of ``D``."""
    empty = torch.zeros(0, dtype=torch.long, device=D.device)
    if k == 0 or len(rows) == 0:
        return empty, empty
    Dm = torch.where(allowed[rows], D[rows], torch.full_like(D[rows], math.inf))
    vals, cols = torch.topk(Dm, min(k, D.shape[1]), dim=1, largest=False, sorted=True)
    keep = torch.isfinite(vals)
    return rows[:, None].expand_as(cols)[keep], cols[keep]


def neighbor_pairs(X, labels, k1, k2, anchors=None):
    """The neighbor pairs of the DTML / MMDML objectives, within one batch.

    For each anchor ``i`` (a labeled sample, or those of ``anchors``): its ``k1`` nearest
    samples of the same class (``P_ij = 1`` in the papers) and its ``k2`` nearest samples of
    other classes (``Q_ij = 1``), by Euclidean distance in ``X`` (the input space, as the
    papers define the neighborhoods). Samples labeled ``< 0`` (unlabeled) take no part. An
    anchor with fewer candidates uses all it has.

    Parameters
    ----------
    X : tensor of shape (n, ...)
    labels : integer tensor of shape (n,)
    k1, k2 : int
    anchors : bool tensor of shape (n,) or None
        ``None``: every labeled sample.

    Returns
    -------
    intra : tuple of two index tensors ``(i, j)``
    inter : tuple of two index tensors ``(i, j)``
    """
    with torch.no_grad():
        n = len(labels)
        D = _sq_dist_matrix(X.reshape(n, -1).to(torch.float64))
        valid = labels >= 0
        rows = torch.nonzero(valid if anchors is None else anchors & valid).flatten()
        same = labels[:, None] == labels[None, :]
        both = valid[:, None] & valid[None, :]
        eye = torch.eye(n, dtype=torch.bool, device=labels.device)
        return (_k_nearest(D, same & both & ~eye, k1, rows),
                _k_nearest(D, ~same & both, k2, rows))
