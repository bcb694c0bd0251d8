"""Retrieval metrics on embeddings, verification metrics on pair distances, and scorers.

Retrieval follows the conventions of deep metric learning papers (and of
pytorch-metric-learning's ``AccuracyCalculator``): every query is ranked against a reference
set by Euclidean distance in the embedding, ties broken by the smaller reference index. With
no reference set given, each query is searched among the *other* queries (leave-one-out).
A reference is relevant to a query when it has the query's class label. ``R`` is the number
of relevant references of a query; queries with ``R = 0`` are left out of the R-based metrics.
Neighbors are found with :func:`skdml.kernels.knn`.
"""

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score, roc_auc_score, roc_curve
from sklearn.utils import check_array, check_consistent_length

from . import _threshold
from ._validation import check_pair_labels, check_positive_int
from .kernels import knn
from .metrics_hashing import (
    hamming_map,
    hamming_precision_recall_curve,
    precision_at_n,
    precision_within_radius,
)

__all__ = [
    "equal_error_rate",
    "hamming_map",
    "hamming_precision_recall_curve",
    "make_retrieval_scorer",
    "map_at_r",
    "nmi_kmeans",
    "precision_at_k",
    "precision_at_n",
    "precision_within_radius",
    "r_precision",
    "recall_at_k",
    "verification_accuracy",
    "verification_roc_auc",
]


# --------------------------------------------------------------------------- retrieval
def _check_retrieval(X, y, X_ref, y_ref):
    X = check_array(X, dtype=(np.float64, np.float32), input_name="X")
    y = np.asarray(y)
    check_consistent_length(X, y)
    if (X_ref is None) != (y_ref is None):
        raise ValueError("Give both X_ref and y_ref, or neither (leave-one-out on X).")
    if X_ref is None:
        if X.shape[0] < 2:
            raise ValueError(f"Leave-one-out retrieval needs at least 2 samples, got {X.shape[0]}.")
        return X, y, None, None
    X_ref = check_array(X_ref, dtype=(np.float64, np.float32), input_name="X_ref")
    y_ref = np.asarray(y_ref)
    check_consistent_length(X_ref, y_ref)
    if X_ref.shape[1] != X.shape[1]:
        raise ValueError(
            f"X and X_ref must have the same number of features, got {X.shape[1]} and "
            f"{X_ref.shape[1]}."
        )
    return X, y, X_ref, y_ref


def _ranked_relevance(X, y, X_ref, y_ref, k):
    """Relevance of each query's ``k`` nearest references, and each query's ``R``.

    ``k=None`` ranks as deep as the largest ``R``.
    """
    X, y, X_ref, y_ref = _check_retrieval(X, y, X_ref, y_ref)
    loo = X_ref is None
    labels = y if loo else np.concatenate([y, y_ref])
    _, codes = np.unique(labels, return_inverse=True)
    q_codes, r_codes = (codes, codes) if loo else (codes[: len(y)], codes[len(y) :])
    counts = np.bincount(r_codes, minlength=codes.max() + 1)
    R = counts[q_codes] - (1 if loo else 0)
    n_ref = len(r_codes) - (1 if loo else 0)
    if k is not None and k > n_ref:
        raise ValueError(
            f"k must be an integer in [1, {n_ref}] (the number of references"
            f"{' other than the query' if loo else ''}), got {k}."
        )
    depth = min(int(R.max()) if k is None else k, n_ref)
    if depth < 1:
        return np.zeros((len(q_codes), 0), dtype=bool), R
    _, ind = knn(X, None if loo else X_ref, depth, exclude_self=loo)
    return r_codes[ind] == q_codes[:, None], R


def precision_at_k(X, y, k=1, *, X_ref=None, y_ref=None):
    """Mean fraction of relevant references among each query's ``k`` nearest.

    Parameters
    ----------
    X : array-like of shape (n_queries, n_features)
        Query embeddings.
    y : array-like of shape (n_queries,)
        Query class labels.
    k : int, default=1
        Precision@1 is the accuracy of a 1-NN classifier.
    X_ref, y_ref : array-like, default=None
        Reference embeddings and labels; ``None`` searches ``X`` leave-one-out.

    Returns
    -------
    score : float in [0, 1]

    Examples
    --------
    >>> from skdml.metrics import precision_at_k
    >>> precision_at_k([[0.0], [0.1], [5.0], [5.1]], [0, 0, 1, 1], k=1)
    1.0
    """
    k = check_positive_int(k, "k", estimator="precision_at_k")
    rel, _ = _ranked_relevance(X, y, X_ref, y_ref, k)
    return float(rel.sum(axis=1).mean() / k)


def recall_at_k(X, y, k=1, *, X_ref=None, y_ref=None):
    """Fraction of queries with at least one relevant reference among their ``k`` nearest.

    The "Recall@K" of retrieval papers (e.g. Song et al., CVPR 2016), not the recall of a
    classifier. Parameters as in :func:`precision_at_k`.

    Examples
    --------
    >>> from skdml.metrics import recall_at_k
    >>> recall_at_k([[0.0], [0.2], [0.3], [5.0]], [0, 0, 1, 1], k=1)
    0.5
    """
    k = check_positive_int(k, "k", estimator="recall_at_k")
    rel, _ = _ranked_relevance(X, y, X_ref, y_ref, k)
    return float(rel.any(axis=1).mean())


def _r_based(X, y, X_ref, y_ref):
    rel, R = _ranked_relevance(X, y, X_ref, y_ref, None)
    has = R > 0
    if not has.any():
        raise ValueError("No query has a relevant reference (every class has one member).")
    rel, R = rel[has], R[has]
    in_r = np.arange(rel.shape[1])[None, :] < R[:, None]
    return rel & in_r, R


def r_precision(X, y, *, X_ref=None, y_ref=None):
    """Mean over queries of the precision among the ``R`` nearest references.

    Parameters as in :func:`precision_at_k`. Queries with no relevant reference are left out;
    a ``ValueError`` says so when no query has one (every class a single member).

    Examples
    --------
    >>> from skdml.metrics import r_precision
    >>> r_precision([[0.0], [0.1], [0.2], [5.0], [5.2]], [0, 0, 0, 1, 1])
    1.0
    """
    rel, R = _r_based(X, y, X_ref, y_ref)
    return float(np.mean(rel.sum(axis=1) / R))


def map_at_r(X, y, *, X_ref=None, y_ref=None):
    """Mean average precision at ``R`` (Musgrave et al., "A metric learning reality check").

    For a query with ``R`` relevant references, ``AP@R = (1/R) sum_{i<=R} P(i) rel(i)``,
    where ``P(i)`` is the precision among the ``i`` nearest and ``rel(i)`` whether the i-th is
    relevant. Rewards ranking all relevant references first. Parameters as in
    :func:`precision_at_k`; as for :func:`r_precision`, at least one query needs a relevant
    reference.

    Examples
    --------
    >>> from skdml.metrics import map_at_r
    >>> map_at_r([[0.0], [0.1], [0.2], [5.0], [5.2]], [0, 0, 0, 1, 1])
    1.0
    """
    rel, R = _r_based(X, y, X_ref, y_ref)
    ranks = np.arange(1, rel.shape[1] + 1)
    precision = np.cumsum(rel, axis=1) / ranks
    return float(np.mean((precision * rel).sum(axis=1) / R))


def nmi_kmeans(X, y, *, n_clusters=None, random_state=None):
    """Normalized mutual information between ``y`` and a k-means clustering of ``X``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    n_clusters : int, default=None
        Defaults to the number of classes in ``y``; at most ``n_samples``.
    random_state : int, RandomState instance or None, default=None
        Seeds k-means.

    Returns
    -------
    nmi : float in [0, 1]
    """
    X = check_array(X, dtype=(np.float64, np.float32), input_name="X")
    y = np.asarray(y)
    check_consistent_length(X, y)
    n_clusters = len(np.unique(y)) if n_clusters is None else n_clusters
    n_clusters = check_positive_int(n_clusters, "n_clusters", estimator="nmi_kmeans")
    if n_clusters > X.shape[0]:
        raise ValueError(f"n_clusters={n_clusters} exceeds the {X.shape[0]} samples.")
    pred = KMeans(n_clusters=n_clusters, n_init=10, random_state=random_state).fit_predict(X)
    return float(normalized_mutual_info_score(y, pred))


# --------------------------------------------------------------------------- verification
def _check_verification(y_true, distances):
    distances = check_array(distances, ensure_2d=False, dtype=np.float64, input_name="distances")
    if distances.ndim != 1:
        raise ValueError(f"distances must be 1-D, got shape {distances.shape}.")
    y_true = check_pair_labels(y_true, len(distances), estimator="verification metrics")
    return y_true, distances


def verification_accuracy(y_true, distances, *, threshold=None):
    """Accuracy of calling a pair similar when its distance is ``<= threshold``.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        +1 similar, -1 dissimilar; both must occur.
    distances : array-like of shape (n_pairs,)
        Learned distances of the pairs (e.g. ``learner.pair_distance(pairs)``).
    threshold : float, default=None
        ``None`` uses the best threshold for these very pairs, an optimistic figure: calibrate
        on separate pairs for an honest one.

    Returns
    -------
    accuracy : float in [0, 1]

    Examples
    --------
    >>> from skdml.metrics import verification_accuracy
    >>> verification_accuracy([1, 1, -1, -1], [0.1, 0.4, 0.3, 0.9])
    0.75
    """
    y_true, distances = _check_verification(y_true, distances)
    if threshold is None:
        return _threshold.best_threshold(distances, y_true, "accuracy")[1]
    return float(np.mean(np.where(distances <= threshold, 1, -1) == y_true))


def verification_roc_auc(y_true, distances):
    """Area under the ROC curve of the pair similarity ``-distance``.

    Examples
    --------
    >>> from skdml.metrics import verification_roc_auc
    >>> verification_roc_auc([1, 1, -1, -1], [0.1, 0.4, 0.3, 0.9])
    0.75
    """
    y_true, distances = _check_verification(y_true, distances)
    return float(roc_auc_score(y_true == 1, -distances))


def equal_error_rate(y_true, distances):
    """The error rate at the threshold where false accept and false reject rates are equal.

    Interpolated linearly between the two ROC points that bracket ``FPR = 1 - TPR``.

    Examples
    --------
    >>> from skdml.metrics import equal_error_rate
    >>> equal_error_rate([1, 1, -1, -1], [0.1, 0.2, 0.3, 0.9])
    0.0
    """
    y_true, distances = _check_verification(y_true, distances)
    fpr, tpr, _ = roc_curve(y_true == 1, -distances, drop_intermediate=False)
    fnr = 1.0 - tpr
    gap = fnr - fpr  # decreasing from 1 to -1 along the curve
    j = int(np.flatnonzero(gap <= 0)[0])
    if j == 0 or gap[j] == 0:
        return float(fpr[j])
    t = gap[j - 1] / (gap[j - 1] - gap[j])
    return float(fpr[j - 1] + t * (fpr[j] - fpr[j - 1]))


# --------------------------------------------------------------------------- scorers
_RETRIEVAL = {
    "precision_at_k": precision_at_k,
    "recall_at_k": recall_at_k,
    "r_precision": r_precision,
    "map_at_r": map_at_r,
}


class RetrievalScorer:
    """Score a fitted transformer by a retrieval metric of its embedding.

    ``scorer(estimator, X, y)`` embeds ``X`` with ``estimator.transform`` and returns the
    metric computed leave-one-out on the embedded ``X``: usable as ``scoring=`` in
    ``GridSearchCV`` / ``cross_val_score`` for a metric learner or a ``Pipeline`` of
    transformers. Build it with :func:`make_retrieval_scorer`.
    """

    def __init__(self, metric, kwargs):
        self.metric = metric
        self.kwargs = kwargs

    def __call__(self, estimator, X, y):
        if not hasattr(estimator, "transform"):
            raise ValueError(
                f"A retrieval scorer needs an estimator with transform; "
                f"{type(estimator).__name__} has none (put the learner last in the pipeline)."
            )
        return _RETRIEVAL[self.metric](estimator.transform(X), y, **self.kwargs)

    def __repr__(self):
        args = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"make_retrieval_scorer({self.metric!r}{args})"


def make_retrieval_scorer(metric="map_at_r", **kwargs):
    """A scorer for ``GridSearchCV(scoring=...)`` from a retrieval metric.

    Parameters
    ----------
    metric : {'map_at_r', 'precision_at_k', 'recall_at_k', 'r_precision'}, default='map_at_r'
    **kwargs
        Passed to the metric (e.g. ``k=5`` for ``'precision_at_k'``).

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y) -> float``, larger is better.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skdml import LDA
    >>> from skdml.metrics import make_retrieval_scorer
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(LDA(), {"n_components": [1, 2]},
    ...                       scoring=make_retrieval_scorer("map_at_r")).fit(X, y)
    >>> search.best_params_, round(float(search.best_score_), 3)
    ({'n_components': 1}, 0.99)
    """
    if metric not in _RETRIEVAL:
        raise ValueError(f"metric must be one of {sorted(_RETRIEVAL)}, got {metric!r}.")
    return RetrievalScorer(metric, dict(kwargs))
