"""Retrieval metrics on embeddings, verification metrics on pair scores, and scorers.

Retrieval follows the conventions of deep metric learning papers (and of
pytorch-metric-learning's ``AccuracyCalculator``): every query is ranked against a reference
set by Euclidean distance in the embedding, ties broken by the smaller reference index. With
no reference set given, each query is searched among the *other* queries (leave-one-out).
A reference is relevant to a query when it has the query's class label. ``R`` is the number
of relevant references of a query; queries with ``R = 0`` are left out of the metrics that
need a relevant reference (R-precision, MAP@R, mAP, MRR), silently, as their value is
undefined, and a ``ValueError`` says so when no query is left.

Each retrieval metric is a mean of per-query values: ``average='micro'`` (the default) is
the mean over queries, ``average='macro'`` the mean over classes of each class's mean, so
that a rare class weighs as much as a frequent one.

The metrics that stop at depth ``k`` or ``R`` search with :func:`skdml.kernels.knn`; the
full-ranking ones (:func:`mean_average_precision`, :func:`mean_reciprocal_rank`) sort the rows
of :func:`skdml.kernels.pairwise_distances_chunked` block by block. Neither holds the full
distance matrix.
"""

import numbers

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_mutual_info_score,
    normalized_mutual_info_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.utils import check_array, check_consistent_length

from ._validation import check_pair_labels, check_positive_int
from .kernels import knn, pairwise_distances_chunked
from .metrics_hashing import (
    hamming_map,
    hamming_precision_recall_curve,
    precision_at_n,
    precision_within_radius,
)

__all__ = [
    "ami_kmeans",
    "equal_error_rate",
    "hamming_map",
    "hamming_precision_recall_curve",
    "make_retrieval_scorer",
    "map_at_r",
    "mean_average_precision",
    "mean_reciprocal_rank",
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
            raise ValueError(
                f"Leave-one-out retrieval needs at least 2 samples, got {X.shape[0]}."
            )
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


def _check_average(average, function):
    if not isinstance(average, str) or average not in ("micro", "macro"):
        raise ValueError(
            f"{function}: average must be 'micro' (the mean over queries) or 'macro' (the "
            f"mean over classes of each class's mean), got {average!r}."
        )
    return average


def _average(values, classes, average):
    """The mean of per-query ``values``: over queries, or over the queries' ``classes``."""
    if average == "micro":
        return float(np.mean(values))
    counts = np.bincount(classes)
    present = counts > 0
    return float(np.mean(np.bincount(classes, weights=values)[present] / counts[present]))


def _retrieval_codes(X, y, X_ref, y_ref):
    """Validated inputs, integer class codes of queries and references, each query's ``R``.

    Returns ``(X, X_ref, q_codes, r_codes, R)``; ``X_ref`` is ``None`` for leave-one-out.
    """
    X, y, X_ref, y_ref = _check_retrieval(X, y, X_ref, y_ref)
    loo = X_ref is None
    labels = y if loo else np.concatenate([y, y_ref])
    _, codes = np.unique(labels, return_inverse=True)
    q_codes, r_codes = (codes, codes) if loo else (codes[: len(y)], codes[len(y) :])
    counts = np.bincount(r_codes, minlength=codes.max() + 1)
    R = counts[q_codes] - (1 if loo else 0)
    return X, X_ref, q_codes, r_codes, R


def _ranked_relevance(X, y, X_ref, y_ref, k):
    """Relevance of each query's ``k`` nearest references, each query's ``R`` and class.

    ``k=None`` ranks as deep as the largest ``R``.
    """
    X, X_ref, q_codes, r_codes, R = _retrieval_codes(X, y, X_ref, y_ref)
    loo = X_ref is None
    n_ref = len(r_codes) - (1 if loo else 0)
    if k is not None and k > n_ref:
        raise ValueError(
            f"k must be an integer in [1, {n_ref}] (the number of references"
            f"{' other than the query' if loo else ''}), got {k}."
        )
    depth = min(int(R.max()) if k is None else k, n_ref)
    if depth < 1:
        return np.zeros((len(q_codes), 0), dtype=bool), R, q_codes
    _, ind = knn(X, None if loo else X_ref, depth, exclude_self=loo)
    return r_codes[ind] == q_codes[:, None], R, q_codes


def _with_relevant(R):
    """Mask of the queries with a relevant reference; an error when there is none."""
    has = R > 0
    if not has.any():
        raise ValueError(
            "No query has a relevant reference (one of its class, other than itself): "
            "the metric is undefined."
        )
    return has


def _r_based(X, y, X_ref, y_ref):
    """Relevance within each query's first ``R``, ``R`` and classes, for queries with R > 0."""
    rel, R, classes = _ranked_relevance(X, y, X_ref, y_ref, None)
    has = _with_relevant(R)
    rel, R = rel[has], R[has]
    in_r = np.arange(rel.shape[1])[None, :] < R[:, None]
    return rel & in_r, R, classes[has]


#: Bytes of one distance block of a full ranking; sorting and reducing it take about four
#: times more (the sort's int64 indices, the relevance and its nonzero entries).
_RANKING_BLOCK_BYTES = 8 * 2**20


def _full_ranking(X, y, X_ref, y_ref, per_query):
    """``per_query(rel, R)`` of every query with R > 0, on its ranking of all references.

    The distance matrix comes in row blocks; each block is sorted row by row (a stable sort
    of the squared distances: ties to the smaller reference index, as in :func:`knn`) and
    reduced at once, so the peak memory is a few times one block (tens of MiB, whatever
    the number of queries). Returns the per-query values and the queries' classes.
    """
    X, X_ref, q_codes, r_codes, R = _retrieval_codes(X, y, X_ref, y_ref)
    has = _with_relevant(R)
    loo = X_ref is None

    def reduce(block, start):
        rows = slice(start, start + len(block))
        if loo:  # the query ranks itself first, and that first column is dropped
            block[np.arange(len(block)), np.arange(rows.start, rows.stop)] = -np.inf
        order = np.argsort(block[has[rows]], axis=1, kind="stable")[:, int(loo) :]
        rel = r_codes[order] == q_codes[rows][has[rows], None]
        return per_query(rel, R[rows][has[rows]])

    blocks = pairwise_distances_chunked(X, X_ref, metric="sqeuclidean", reduce_func=reduce,
                                        working_memory=_RANKING_BLOCK_BYTES)
    return np.concatenate(list(blocks)), q_codes[has]


def _average_precision(rel, R):
    """``(1/R) sum_i P(i) rel(i)`` of each row of a relevance matrix (ranks along rows)."""
    rows, cols = np.nonzero(rel)  # row by row, each row's relevant ranks in order
    counts = rel.sum(axis=1)
    nth = np.arange(1, len(rows) + 1) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.bincount(rows, weights=nth / (cols + 1), minlength=len(rel)) / R


def _reciprocal_rank(rel, R):
    """``1 / rank`` of the first relevant reference of each row (each row has one)."""
    return 1.0 / (np.argmax(rel, axis=1) + 1)


def precision_at_k(X, y, k=1, *, X_ref=None, y_ref=None, average="micro"):
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
    average : {'micro', 'macro'}, default='micro'
        ``'micro'``: the mean over queries; ``'macro'``: the mean over classes of the mean
        over each class's queries, so that every class weighs the same.

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
    average = _check_average(average, "precision_at_k")
    rel, _, classes = _ranked_relevance(X, y, X_ref, y_ref, k)
    return _average(rel.sum(axis=1) / k, classes, average)


def recall_at_k(X, y, k=1, *, X_ref=None, y_ref=None, average="micro"):
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
    average = _check_average(average, "recall_at_k")
    rel, _, classes = _ranked_relevance(X, y, X_ref, y_ref, k)
    return _average(rel.any(axis=1), classes, average)


def r_precision(X, y, *, X_ref=None, y_ref=None, average="micro"):
    """Mean over queries of the precision among the ``R`` nearest references.

    Parameters as in :func:`precision_at_k`. Queries with no relevant reference are left out;
    a ``ValueError`` says so when no query has one (every class a single member).

    Examples
    --------
    >>> from skdml.metrics import r_precision
    >>> r_precision([[0.0], [0.1], [0.2], [5.0], [5.2]], [0, 0, 0, 1, 1])
    1.0
    """
    average = _check_average(average, "r_precision")
    rel, R, classes = _r_based(X, y, X_ref, y_ref)
    return _average(rel.sum(axis=1) / R, classes, average)


def map_at_r(X, y, *, X_ref=None, y_ref=None, average="micro"):
    """Mean average precision at ``R`` (Musgrave et al., "A metric learning reality check").

    For a query with ``R`` relevant references, ``AP@R = (1/R) sum_{i<=R} P(i) rel(i)``,
    where ``P(i)`` is the precision among the ``i`` nearest and ``rel(i)`` whether the i-th is
    relevant. Rewards ranking all relevant references first. Parameters as in
    :func:`precision_at_k`; as for :func:`r_precision`, at least one query needs a relevant
    reference.

    References
    ----------
    K. Musgrave, S. Belongie and S.-N. Lim, "A metric learning reality check", ECCV 2020.

    Examples
    --------
    >>> from skdml.metrics import map_at_r
    >>> map_at_r([[0.0], [0.1], [0.2], [5.0], [5.2]], [0, 0, 0, 1, 1])
    1.0
    """
    average = _check_average(average, "map_at_r")
    rel, R, classes = _r_based(X, y, X_ref, y_ref)
    return _average(_average_precision(rel, R), classes, average)


def mean_average_precision(X, y, *, X_ref=None, y_ref=None, average="micro"):
    """Mean average precision (mAP) over each query's ranking of *all* references.

    For a query with ``R`` relevant references,
    ``AP = (1/R) sum_{i=1}^{n_ref} P(i) rel(i)``, the mean of the precisions at the ranks of
    its relevant references, the classical measure of information retrieval (Manning et al.,
    2008, section 8.4). Unlike :func:`map_at_r`, which stops at depth ``R``, a relevant
    reference ranked anywhere still counts. Tied distances (exact ties of the computed
    distances, as in :func:`skdml.kernels.knn`) are ranked by the smaller reference index, so
    the value is that of one definite ranking, where scikit-learn's
    ``average_precision_score`` scores a tie as a group; on tie-free distances a query's AP
    is ``average_precision_score(relevant, -distances)``.

    Parameters as in :func:`precision_at_k`. Queries with no relevant reference have no
    average precision and are left out (scikit-learn's ``average_precision_score`` would
    give them 0 with a warning); a ``ValueError`` says so when no query has one.

    Each query is ranked against every reference, ``O(n_queries * n_ref * log n_ref)`` time,
    in row blocks of bounded memory.

    References
    ----------
    C. D. Manning, P. Raghavan and H. Schütze, *Introduction to Information Retrieval*,
    Cambridge University Press, 2008, section 8.4.

    Examples
    --------
    >>> from skdml.metrics import mean_average_precision
    >>> X, y = [[0.0], [1.0], [2.2], [3.0]], ["a", "a", "b", "a"]
    >>> # Queries 0 and 1 rank a, b, a: AP = (1/1 + 2/3) / 2 = 5/6; query 3 ranks b, a, a:
    >>> # AP = (1/2 + 2/3) / 2 = 7/12; query 2 (the only "b") has no relevant reference.
    >>> mean_average_precision(X, y)
    0.75
    """
    average = _check_average(average, "mean_average_precision")
    values, classes = _full_ranking(X, y, X_ref, y_ref, _average_precision)
    return _average(values, classes, average)


def mean_reciprocal_rank(X, y, *, X_ref=None, y_ref=None, average="micro"):
    """Mean reciprocal rank (MRR): the mean of ``1 / rank`` of each query's first relevant
    reference.

    ``1`` when every query's nearest reference is relevant; a query whose first relevant
    reference comes third adds ``1/3`` (Manning et al., 2008, section 8.4). Ranks over all
    references, ties to the smaller reference index, as :func:`mean_average_precision`;
    queries with no relevant reference are left out. Parameters as in
    :func:`precision_at_k`.

    References
    ----------
    C. D. Manning, P. Raghavan and H. Schütze, *Introduction to Information Retrieval*,
    Cambridge University Press, 2008.

    Examples
    --------
    >>> from skdml.metrics import mean_reciprocal_rank
    >>> X, y = [[0.0], [1.0], [2.2], [3.0]], ["a", "a", "b", "a"]
    >>> mean_reciprocal_rank(X, y)  # first relevant at ranks 1, 1 and 2 (query 2 left out)
    0.8333333333333334
    """
    average = _check_average(average, "mean_reciprocal_rank")
    values, classes = _full_ranking(X, y, X_ref, y_ref, _reciprocal_rank)
    return _average(values, classes, average)


def _kmeans_clusters(X, y, n_clusters, random_state, function):
    """``(y, predicted clusters)`` of a k-means run on ``X``, for the clustering scores."""
    X = check_array(X, dtype=(np.float64, np.float32), input_name="X")
    y = np.asarray(y)
    check_consistent_length(X, y)
    n_clusters = len(np.unique(y)) if n_clusters is None else n_clusters
    n_clusters = check_positive_int(n_clusters, "n_clusters", estimator=function)
    if n_clusters > X.shape[0]:
        raise ValueError(f"n_clusters={n_clusters} exceeds the {X.shape[0]} samples.")
    pred = KMeans(n_clusters=n_clusters, n_init=10, random_state=random_state).fit_predict(X)
    return y, pred


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
    y, pred = _kmeans_clusters(X, y, n_clusters, random_state, "nmi_kmeans")
    return float(normalized_mutual_info_score(y, pred))


def ami_kmeans(X, y, *, n_clusters=None, random_state=None):
    """Adjusted mutual information between ``y`` and a k-means clustering of ``X``.

    scikit-learn's ``adjusted_mutual_info_score``: the mutual information corrected for
    chance (Vinh, Epps and Bailey, 2010), so a clustering no better than random scores about
    0 whatever the number of clusters, where NMI (:func:`nmi_kmeans`) grows with it.
    Parameters as in :func:`nmi_kmeans`.

    Returns
    -------
    ami : float, at most 1
        1 for a clustering that matches the classes; it can be negative (worse than chance).

    References
    ----------
    N. X. Vinh, J. Epps and J. Bailey, "Information theoretic measures for clusterings
    comparison: variants, properties, normalization and correction for chance", JMLR 11,
    2010.

    Examples
    --------
    >>> from skdml.metrics import ami_kmeans
    >>> ami_kmeans([[0.0], [0.1], [5.0], [5.1]], ["a", "a", "b", "b"], random_state=0)
    1.0
    """
    y, pred = _kmeans_clusters(X, y, n_clusters, random_state, "ami_kmeans")
    return float(adjusted_mutual_info_score(y, pred))


# --------------------------------------------------------------------------- verification
# Scores follow scikit-learn's convention: higher means more likely positive (similar). A
# learner's decision_function(pairs) and pair_score(pairs) are scores; pair_distance(pairs)
# is not (pass its negation).
_SCORE_HINT = (
    "scores are higher for pairs more likely similar (scikit-learn's convention): pass "
    "learner.decision_function(pairs) or learner.pair_score(pairs), or -distances"
)


def _check_verification(y_true, y_score):
    y_score = check_array(y_score, ensure_2d=False, dtype=np.float64, input_name="y_score")
    if y_score.ndim != 1:
        raise ValueError(
            f"y_score must be 1-D, one score per pair, got shape {y_score.shape}; {_SCORE_HINT}."
        )
    y_true = check_pair_labels(y_true, len(y_score), estimator="verification metrics")
    return y_true, y_score


def verification_accuracy(y_true, y_score, *, threshold=None):
    """Accuracy of calling a pair similar when its score is ``>= threshold``.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        +1 similar, -1 dissimilar; both must occur.
    y_score : array-like of shape (n_pairs,)
        Scores of the pairs, higher for pairs more likely similar (scikit-learn's
        convention): ``learner.decision_function(pairs)`` or ``learner.pair_score(pairs)``.
        For distances, pass ``-distances``.
    threshold : float, default=None
        Pairs scoring ``>= threshold`` are called similar, as in
        :func:`sklearn.metrics.roc_curve`; ``threshold=0`` on ``decision_function`` is the
        learner's own ``predict``. ``None`` uses the best threshold for these very pairs,
        an optimistic figure: calibrate on separate pairs for an honest one.

    Returns
    -------
    accuracy : float in [0, 1]

    Examples
    --------
    >>> from skdml.metrics import verification_accuracy
    >>> verification_accuracy([1, 1, -1, -1], [0.9, 0.6, 0.7, 0.1])
    0.75
    >>> verification_accuracy([1, 1, -1, -1], [0.9, 0.6, 0.7, 0.1], threshold=0.65)
    0.5
    """
    y_true, y_score = _check_verification(y_true, y_score)
    if threshold is None:
        # every achievable split is a point of the full ROC curve (calling none similar too)
        fpr, tpr, _ = roc_curve(y_true, y_score, pos_label=1, drop_intermediate=False)
        n_pos = np.count_nonzero(y_true == 1)
        n_neg = len(y_true) - n_pos
        correct = np.rint(tpr * n_pos) + np.rint((1.0 - fpr) * n_neg)
        return float(correct.max() / len(y_true))
    real = isinstance(threshold, numbers.Real) and not isinstance(threshold, bool)
    if not real or np.isnan(threshold):
        raise ValueError(f"threshold must be a real number (a score) or None, got {threshold!r}.")
    return float(np.mean(np.where(y_score >= threshold, 1, -1) == y_true))


def verification_roc_auc(y_true, y_score):
    """Area under the ROC curve of pair verification: scikit-learn's ``roc_auc_score``.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        +1 similar, -1 dissimilar; both must occur.
    y_score : array-like of shape (n_pairs,)
        Scores of the pairs, higher for pairs more likely similar:
        ``learner.decision_function(pairs)`` or ``learner.pair_score(pairs)``; for distances,
        pass ``-distances`` (distances themselves would give ``1 - AUC``).

    Returns
    -------
    auc : float in [0, 1]

    Examples
    --------
    >>> from skdml.metrics import verification_roc_auc
    >>> verification_roc_auc([1, 1, -1, -1], [0.9, 0.6, 0.7, 0.1])
    0.75
    """
    y_true, y_score = _check_verification(y_true, y_score)
    return float(roc_auc_score(y_true == 1, y_score))


def equal_error_rate(y_true, y_score):
    """The error rate at the threshold where false accept and false reject rates are equal.

    Read off scikit-learn's ``roc_curve`` (the false negative rate is ``1 - TPR``, as on
    :func:`sklearn.metrics.det_curve`), interpolated linearly between the two points that
    bracket ``FPR = FNR``.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        +1 similar, -1 dissimilar; both must occur.
    y_score : array-like of shape (n_pairs,)
        Scores of the pairs, higher for pairs more likely similar (see
        :func:`verification_roc_auc`).

    Returns
    -------
    eer : float in [0, 1]

    Examples
    --------
    >>> from skdml.metrics import equal_error_rate
    >>> equal_error_rate([1, 1, -1, -1], [0.9, 0.8, 0.7, 0.1])
    0.0
    """
    y_true, y_score = _check_verification(y_true, y_score)
    fpr, tpr, _ = roc_curve(y_true, y_score, pos_label=1, drop_intermediate=False)
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
    "mean_average_precision": mean_average_precision,
    "mean_reciprocal_rank": mean_reciprocal_rank,
    "nmi_kmeans": nmi_kmeans,
    "ami_kmeans": ami_kmeans,
}


class RetrievalScorer:
    """Score a fitted transformer by a retrieval metric of its embedding.

    ``scorer(estimator, X, y)`` embeds ``X`` with ``estimator.transform`` and returns the
    metric computed leave-one-out on the embedded ``X`` (the clustering scores cluster the
    embedded ``X``): usable as ``scoring=`` in
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
    metric : {'map_at_r', 'precision_at_k', 'recall_at_k', 'r_precision', \
'mean_average_precision', 'mean_reciprocal_rank', 'nmi_kmeans', 'ami_kmeans'}, \
default='map_at_r'
        The function of this module of that name.
    **kwargs
        Passed to the metric (e.g. ``k=5`` for ``'precision_at_k'``, ``average='macro'``
        for the ranking metrics, ``random_state=0`` for the clustering scores, which are
        otherwise not reproducible).

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
