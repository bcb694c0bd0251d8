"""Retrieval metrics for binary codes, as the hashing papers report them.

Every query code is compared with every database code by Hamming distance
(:func:`skdml.kernels.hamming_distances` on packed codes, never a new popcount).

- **Ranking and ties.** The database is ranked by Hamming distance; codes at equal distance
  are ranked by their database index (a stable sort -- the rule of MATLAB's ``sort`` used by
  the reference code of ITQ, SH and SDH, and of :func:`skdml.kernels.hamming_knn`). With few
  bits ties are many, so a database sorted by class would flatter any method: shuffle it.
- **Relevance.** A database item is relevant to a query when it has the query's class label
  (``query_labels`` / ``database_labels``), or as a user-given boolean matrix ``relevance``
  of shape ``(n_queries, n_database)`` (multi-label or graded-then-thresholded ground truth).
- **Codes.** Unpacked codes of shape ``(n, n_bits)`` with values in ``{0, 1}`` or
  ``{-1, +1}`` -- a hasher's ``transform`` output --, or packed ``uint8`` rows with
  ``packed=True`` (a hasher's ``transform_packed`` output; give ``n_bits`` when it is not a
  multiple of 8).
"""

import numbers

import numpy as np

from .kernels import hamming_distances, pack_codes
from .kernels._hamming import _check_bits, check_packed

__all__ = [
    "hamming_map",
    "hamming_precision_recall_curve",
    "precision_at_n",
    "precision_within_radius",
]


def _codes(codes, name, packed, n_bits):
    """Packed uint8 rows and the code width, from either form."""
    if packed:
        return check_packed(codes, n_bits, name)
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of codes of shape (n, n_bits), got shape {arr.shape}."
        )
    if n_bits is not None and arr.shape[1] != n_bits:
        raise ValueError(f"{name} has {arr.shape[1]} bits per code, but n_bits={n_bits}.")
    bits = _check_bits(arr, name)
    return pack_codes(bits), arr.shape[1]


def _prepare(query_codes, database_codes, query_labels, database_labels, relevance, packed,
             n_bits):
    """Hamming distance matrix (n_queries, n_database) and the boolean relevance matrix."""
    Q, bq = _codes(query_codes, "query_codes", packed, n_bits)
    D, bd = _codes(database_codes, "database_codes", packed, n_bits)
    if bq != bd:
        raise ValueError(
            f"query_codes and database_codes must have the same code width, got {bq} and "
            f"{bd} bits."
        )
    if Q.shape[0] == 0 or D.shape[0] == 0:
        raise ValueError(
            f"Need at least one query and one database code, got {Q.shape[0]} queries and "
            f"{D.shape[0]} database codes."
        )
    shape = (Q.shape[0], D.shape[0])
    if relevance is not None:
        if query_labels is not None or database_labels is not None:
            raise ValueError("Give either relevance or query_labels/database_labels, not both.")
        rel = np.asarray(relevance)
        if rel.shape != shape:
            raise ValueError(
                f"relevance must have shape (n_queries, n_database) = {shape}, got "
                f"{rel.shape}."
            )
        if rel.dtype.kind not in "biuf" or (
            rel.dtype.kind != "b" and not np.all(np.isin(rel, (0, 1)))
        ):
            raise ValueError("relevance must be a boolean (or 0/1) matrix.")
        rel = rel.astype(bool)
    else:
        if query_labels is None or database_labels is None:
            raise ValueError(
                "Give query_labels and database_labels (class labels), or a relevance matrix."
            )
        yq, yd = np.asarray(query_labels), np.asarray(database_labels)
        if yq.ndim != 1 or yd.ndim != 1 or len(yq) != shape[0] or len(yd) != shape[1]:
            raise ValueError(
                f"query_labels and database_labels must have shapes ({shape[0]},) and "
                f"({shape[1]},), got {yq.shape} and {yd.shape}."
            )
        rel = yq[:, None] == yd[None, :]
    return hamming_distances(Q, D), rel, bq


def _check_int(value, name, low, high=None):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low or (
        high is not None and value > high
    ):
        span = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer in {span}, got {value!r}.")
    return int(value)


def hamming_map(query_codes, database_codes, query_labels=None, database_labels=None, *,
                relevance=None, top_k=None, packed=False, n_bits=None):
    """Mean average precision over the Hamming ranking of the database.

    For each query the database is ranked by Hamming distance, ties by database index;
    ``AP = (1 / R) sum_k P@k [item k relevant]`` over the first ``top_k`` ranks (all by
    default), ``R`` the number of relevant items among them. Queries with no relevant item
    (within ``top_k``) are left out of the mean; a ``ValueError`` says so when every query
    is.

    Parameters
    ----------
    query_codes : array-like of shape (n_queries, n_bits)
        Or packed rows with ``packed=True``.
    database_codes : array-like of shape (n_database, n_bits)
    query_labels : array-like of shape (n_queries,), default=None
    database_labels : array-like of shape (n_database,), default=None
    relevance : array-like of shape (n_queries, n_database), default=None
        Boolean ground truth instead of labels.
    top_k : int, default=None
        Average over the first ``top_k`` ranks only (mAP@k); ``None``: the whole database.
    packed : bool, default=False
        Codes are packed ``uint8`` rows (:func:`skdml.kernels.pack_codes`).
    n_bits : int, default=None
        The width of packed codes when it is not a multiple of 8.

    Returns
    -------
    map : float

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.metrics_hashing import hamming_map
    >>> db = np.array([[0, 0], [1, 1], [0, 1]])
    >>> q = np.array([[0, 0]])
    >>> # ranking: index 0 (d=0), then 2 (d=1), then 1 (d=2); relevant: 0 and 1
    >>> hamming_map(q, db, [1], [1, 1, 0])  # (1/1 + 2/3) / 2
    0.8333333333333333
    """
    dist, rel, _ = _prepare(query_codes, database_codes, query_labels, database_labels,
                            relevance, packed, n_bits)
    n_db = dist.shape[1]
    k = n_db if top_k is None else _check_int(top_k, "top_k", 1, n_db)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(rel, order, axis=1)
    cum = np.cumsum(hits, axis=1)
    n_rel = cum[:, -1]
    prec = cum / np.arange(1, k + 1)
    keep = n_rel > 0
    if not keep.any():
        raise ValueError("No query has a relevant database item: mAP is undefined.")
    ap = (prec * hits).sum(axis=1)[keep] / n_rel[keep]
    return float(ap.mean())


def precision_at_n(query_codes, database_codes, query_labels=None, database_labels=None, *,
                   n=100, relevance=None, packed=False, n_bits=None):
    """Mean precision of the first ``n`` items of the Hamming ranking (ties by index).

    Parameters
    ----------
    query_codes, database_codes, query_labels, database_labels, relevance, packed, n_bits
        As in :func:`hamming_map`.
    n : int, default=100
        Items retrieved per query, ``1 <= n <= n_database``.

    Returns
    -------
    precision : float

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.metrics_hashing import precision_at_n
    >>> db = np.array([[0, 0], [1, 1], [0, 1], [0, 0]])
    >>> # distances 0, 2, 1, 0: the top 2 are indices 0 and 3 (tie broken by index)
    >>> precision_at_n(np.array([[0, 0]]), db, [1], [1, 1, 1, 0], n=2)
    0.5
    """
    dist, rel, _ = _prepare(query_codes, database_codes, query_labels, database_labels,
                            relevance, packed, n_bits)
    n = _check_int(n, "n", 1, dist.shape[1])
    order = np.argsort(dist, axis=1, kind="stable")[:, :n]
    return float(np.take_along_axis(rel, order, axis=1).mean())


def precision_within_radius(query_codes, database_codes, query_labels=None,
                            database_labels=None, *, radius=2, relevance=None, packed=False,
                            n_bits=None):
    """Mean precision of the items within Hamming distance ``radius`` (hash lookup).

    A query that retrieves nothing within the radius counts as precision 0, the convention
    of the hashing papers (ITQ, SDH), which penalizes long codes whose buckets are empty.

    Parameters
    ----------
    query_codes, database_codes, query_labels, database_labels, relevance, packed, n_bits
        As in :func:`hamming_map`.
    radius : int, default=2
        Inclusive Hamming radius, ``>= 0``.

    Returns
    -------
    precision : float

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.metrics_hashing import precision_within_radius
    >>> db = np.array([[0, 0, 0], [1, 1, 1], [0, 0, 1]])
    >>> q = np.array([[0, 0, 0], [1, 1, 0]])
    >>> # query 0: items 0 and 2 within radius 1, one relevant; query 1: item 1, relevant
    >>> precision_within_radius(q, db, [0, 1], [0, 1, 1], radius=1)
    0.75
    """
    dist, rel, _ = _prepare(query_codes, database_codes, query_labels, database_labels,
                            relevance, packed, n_bits)
    radius = _check_int(radius, "radius", 0)
    within = dist <= radius
    n_ret = within.sum(axis=1)
    n_hit = (within & rel).sum(axis=1)
    prec = np.divide(n_hit, n_ret, out=np.zeros(len(n_ret)), where=n_ret > 0)
    return float(prec.mean())


def hamming_precision_recall_curve(query_codes, database_codes, query_labels=None,
                                   database_labels=None, *, relevance=None, packed=False,
                                   n_bits=None):
    """Precision and recall of hash lookup at every Hamming radius from 0 to ``n_bits``.

    At radius ``r`` every database item at distance ``<= r`` is retrieved. Both are pooled
    over queries (micro-averaged, as the hashing papers plot them): precision is
    relevant-and-retrieved over retrieved, recall relevant-and-retrieved over relevant. A
    radius that retrieves nothing has precision 0.

    Parameters
    ----------
    query_codes, database_codes, query_labels, database_labels, relevance, packed, n_bits
        As in :func:`hamming_map`.

    Returns
    -------
    precision : ndarray of shape (n_bits + 1,)
    recall : ndarray of shape (n_bits + 1,)
        Non-decreasing, 1 at radius ``n_bits`` (when any item is relevant).
    radii : ndarray of shape (n_bits + 1,)
        ``0, 1, ..., n_bits``.

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.metrics_hashing import hamming_precision_recall_curve
    >>> p, r, radii = hamming_precision_recall_curve(
    ...     np.array([[0, 0]]), np.array([[0, 0], [1, 1], [0, 1]]), [1], [1, 1, 0])
    >>> p, r
    (array([1.        , 0.5       , 0.66666667]), array([0.5, 0.5, 1. ]))
    """
    dist, rel, bits = _prepare(query_codes, database_codes, query_labels, database_labels,
                               relevance, packed, n_bits)
    retrieved = np.cumsum(np.bincount(dist.ravel(), minlength=bits + 1))
    hits = np.cumsum(np.bincount(dist[rel], minlength=bits + 1))
    precision = np.divide(hits, retrieved, out=np.zeros(bits + 1), where=retrieved > 0)
    total = rel.sum()
    recall = hits / total if total > 0 else np.zeros(bits + 1)
    return precision, recall, np.arange(bits + 1)
