"""Neighbourhoods and tuples of a batch beyond class labels, shared by losses and learners.

- in the input space: the neighbour pairs of the DTML and MMDML objectives, and the mark of
  an unlabeled target-domain sample;
- in the label space: distances between continuous labels and the dense triplets of the
  log-ratio loss (Kim et al.).

A private toolkit: the losses of :mod:`skdml.deep.losses` and the learner modules import
it, never each other.
"""

import math
import numbers

import numpy as np
import torch

from .distances import _sq_dist_matrix

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


# --- label space ----------------------------------------------------------------------------

#: the label distances known by name
LABEL_METRICS = ("sqeuclidean", "euclidean", "cityblock")


def check_label_metric(metric, owner):
    """``metric`` if it is a known label distance or a callable; a ValueError otherwise."""
    if not (callable(metric) or metric in LABEL_METRICS):
        raise ValueError(
            f"{owner}: label_distance must be one of {list(LABEL_METRICS)} or a callable, "
            f"got {metric!r}."
        )
    return metric


def check_label_block(D, n_a, n_b):
    """A callable label distance's answer, checked: a float64 copy of shape (n_a, n_b),
    finite and non-negative."""
    D = np.array(D, dtype=np.float64)  # a copy: the caller's array stays as it was
    if D.shape != (n_a, n_b):
        raise ValueError(
            f"label_distance must return an array of shape ({n_a}, {n_b}) for label blocks "
            f"of {n_a} and {n_b} rows, got shape {D.shape}."
        )
    if not np.all(np.isfinite(D)) or (D < 0).any():
        raise ValueError("label_distance must return finite, non-negative distances.")
    return D


def label_distances(labels, metric="sqeuclidean"):
    """All distances between the labels of a batch, as a tensor of shape (n, n).

    Parameters
    ----------
    labels : Tensor of shape (n,) or (n, k)
        Continuous labels.
    metric : {'sqeuclidean', 'euclidean', 'cityblock'} or callable, default='sqeuclidean'
        A callable is called as ``metric(Y_a, Y_b)`` on two float64 NumPy arrays of shape
        (n_a, k) and (n_b, k) and must return the (n_a, n_b) array of their non-negative
        distances (the signature of ``sklearn.metrics.pairwise_distances``' callables, but
        on whole blocks).

    Returns
    -------
    D : Tensor of shape (n, n), without gradients, in the dtype and on the device of
        ``labels``.
    """
    Y = labels.detach().reshape(len(labels), -1)
    if callable(metric):
        Yn = Y.to("cpu", torch.float64).numpy()
        D = check_label_block(metric(Yn, Yn), len(Yn), len(Yn))
        return torch.as_tensor(D, dtype=labels.dtype, device=labels.device)
    diff = Y[:, None, :] - Y[None, :, :]
    if metric == "sqeuclidean":
        return (diff * diff).sum(-1)
    if metric == "euclidean":
        return (diff * diff).sum(-1).sqrt()
    if metric == "cityblock":
        return diff.abs().sum(-1)
    raise ValueError(
        f"label_distance must be one of {list(LABEL_METRICS)} or a callable, got {metric!r}."
    )


def dense_triplets(n, anchors=None, device=None):
    """Every triplet ``(a, i, j)`` of a batch of ``n``: ``i < j``, both different from ``a``.

    The dense triplets of Kim et al.: each anchor with every unordered pair of the other
    samples of the batch. The log-ratio loss is symmetric in ``i`` and ``j``, so each pair
    is taken once; there are ``len(anchors) * (n - 1) * (n - 2) / 2`` of them.

    Parameters
    ----------
    n : int
        Batch size.
    anchors : 1-D LongTensor or None, default=None
        Positions of the anchors in the batch; ``None``: every sample is an anchor.
    device : torch.device or None

    Returns
    -------
    a, i, j : three 1-D LongTensors of equal length
    """
    if anchors is None:
        anchors = torch.arange(n, device=device)
    anchors = torch.as_tensor(anchors, dtype=torch.long, device=device)
    i, j = torch.triu_indices(n, n, offset=1, device=anchors.device)
    a = anchors.repeat_interleave(len(i))
    i, j = i.repeat(len(anchors)), j.repeat(len(anchors))
    keep = (i != a) & (j != a)
    return a[keep], i[keep], j[keep]
