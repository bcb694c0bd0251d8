"""Retrieval and verification metrics against values computed by hand on tiny cases."""

import re

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.metrics import adjusted_mutual_info_score, average_precision_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skdml import LDA, metrics

# Five points on a line; labels a a b a b.
#   x:  0    1    2    4    7
#   y:  a    a    b    a    b
LINE_X = np.array([[0.0], [1.0], [2.0], [4.0], [7.0]])
LINE_Y = np.array(["a", "a", "b", "a", "b"])
# Leave-one-out rankings (ties broken by index):
#   q0 (a): 1(a) 2(b) 3(a) 4(b)      R=2
#   q1 (a): 0(a) 2(b) 3(a) 4(b)      (0 and 2 tie at 1: index 0 first)  R=2
#   q2 (b): 1(a) 3(a) 0(a) 4(b)      (1 at 1, 3 at 2, 0 at 2 -> index 0 before 3!)
#   q3 (a): 2(b) 1(a) 4(b) 0(a)      (2 at 2, 1 at 3, 7 at 3 -> 1 before 4)  R=2
#   q4 (b): 3(a) 2(b) 1(a) 0(a)      R=1
# q2 exactly: distances to 0,1,3,4 are 2,1,2,5 -> order 1, 0, 3, 4.


def test_precision_at_k_by_hand():
    # P@1: q0 hit, q1 hit, q2 miss, q3 miss, q4 miss -> 2/5
    assert metrics.precision_at_k(LINE_X, LINE_Y, k=1) == pytest.approx(2 / 5)
    # P@2: q0 1/2, q1 1/2, q2 0, q3 1/2, q4 1/2 -> 2/5
    assert metrics.precision_at_k(LINE_X, LINE_Y, k=2) == pytest.approx(2 / 5)


def test_recall_at_k_by_hand():
    assert metrics.recall_at_k(LINE_X, LINE_Y, k=1) == pytest.approx(2 / 5)
    # k=2: q0, q1, q3, q4 have a hit in the top 2; q2 (1, 0 both a) none.
    assert metrics.recall_at_k(LINE_X, LINE_Y, k=2) == pytest.approx(4 / 5)


def test_r_precision_and_map_at_r_by_hand():
    # R: q0 2, q1 2, q2 1, q3 2, q4 1.
    # R-precision: q0 1/2, q1 1/2, q2 0/1, q3 1/2, q4 0/1 -> 1.5/5
    assert metrics.r_precision(LINE_X, LINE_Y) == pytest.approx(1.5 / 5)
    # AP@R: q0 (1 + 0)/2 = .5, q1 .5, q2 0, q3 (0 + 1/2)/2 = .25, q4 0 -> 1.25/5
    assert metrics.map_at_r(LINE_X, LINE_Y) == pytest.approx(1.25 / 5)


def test_reference_set_instead_of_leave_one_out():
    X_ref = np.array([[0.0], [10.0], [11.0]])
    y_ref = np.array([0, 1, 1])
    X_q = np.array([[1.0], [9.0], [20.0]])
    y_q = np.array([0, 1, 0])
    # q0 -> ref0 (0) hit; q1 -> ref1 (1) hit; q2 -> ref2 (1) miss
    assert metrics.precision_at_k(X_q, y_q, X_ref=X_ref, y_ref=y_ref) == pytest.approx(2 / 3)
    # MAP@R: q0 R=1 AP 1; q1 R=2 ranks 1(hit) 2(hit) -> 1; q2 R=1, top-1 is ref2 (1) -> 0
    assert metrics.map_at_r(X_q, y_q, X_ref=X_ref, y_ref=y_ref) == pytest.approx(2 / 3)


def test_perfect_and_singleton_classes():
    X = np.array([[0.0], [0.1], [5.0], [5.1], [99.0]])
    y = [0, 0, 1, 1, 2]  # class 2 has one member: left out of the R-based metrics
    assert metrics.map_at_r(X, y) == 1.0
    assert metrics.r_precision(X, y) == 1.0
    with pytest.raises(ValueError, match="No query has a relevant"):
        metrics.map_at_r([[0.0], [1.0]], [0, 1])


def test_nmi_kmeans_separated_clusters():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.1, (20, 2)), rng.normal(10, 0.1, (20, 2))])
    y = np.repeat(["left", "right"], 20)
    assert metrics.nmi_kmeans(X, y, random_state=0) == pytest.approx(1.0)


def test_verification_metrics_by_hand():
    y = np.array([1, 1, -1, -1])
    s = np.array([0.9, 0.6, 0.7, 0.1])  # scores: higher for pairs more likely similar
    # thresholds: >=0.9 -> acc 3/4; >=0.7 -> (1 TP, 1 FP) 2/4; >=0.6 -> 3/4; >=0.1 -> 2/4
    assert metrics.verification_accuracy(y, s) == pytest.approx(0.75)
    assert metrics.verification_accuracy(y, s, threshold=0.65) == pytest.approx(0.5)
    assert metrics.verification_accuracy(y, s, threshold=0.6) == pytest.approx(0.75)
    # AUC: (pos, neg) pairs where pos scores higher: (.9>.7, .9>.1, .6<.7, .6>.1) -> 3/4
    assert metrics.verification_roc_auc(y, s) == pytest.approx(0.75)
    assert metrics.equal_error_rate(y, np.array([0.9, 0.8, 0.7, 0.1])) == 0.0
    # ROC of s: (fpr, fnr) passes (0, .5) then (.5, .5): EER = 0.5
    assert metrics.equal_error_rate(y, s) == pytest.approx(0.5)


def test_verification_metrics_are_sklearns_on_scores():
    """Higher means more likely similar, as in every scikit-learn metric."""
    from sklearn.metrics import accuracy_score, det_curve, roc_auc_score

    rng = np.random.default_rng(0)
    y = np.where(rng.random(300) < 0.4, 1, -1)
    s = rng.normal(size=300) + 1.5 * (y == 1)
    assert metrics.verification_roc_auc(y, s) == roc_auc_score(y, s)
    assert metrics.verification_roc_auc(y, s) > 0.8
    best = max(accuracy_score(y, np.where(s >= t, 1, -1)) for t in np.r_[np.inf, s])
    assert metrics.verification_accuracy(y, s) == pytest.approx(best)
    # the EER sits where scikit-learn's DET curve crosses FPR = FNR
    eer = metrics.equal_error_rate(y, s)
    fpr, fnr, _ = det_curve(y, s, pos_label=1)
    cross = np.flatnonzero(np.diff(np.sign(fnr - fpr)))[0]
    lo, hi = sorted([fpr[cross], fpr[cross + 1]])
    assert lo <= eer <= hi and lo <= 1 - eer and eer < 0.3


def test_verification_metrics_take_a_learners_decision_function():
    """The user's call of issue 19: ``verification_roc_auc(y, itml.decision_function(pairs))``
    gave 1 - AUC when the metrics took distances."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    from skdml import ITML
    from skdml.datasets import make_pairs

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    idx, labels = make_pairs(X, y, 600, return_indices=True, random_state=0)
    train, test = slice(0, 400), slice(400, None)
    itml = ITML(random_state=0).fit(idx[train], labels[train], preprocessor=X)
    scores = itml.decision_function(idx[test], preprocessor=X)
    distances = itml.pair_distance(idx[test], preprocessor=X)
    auc = metrics.verification_roc_auc(labels[test], scores)
    assert auc > 0.8
    assert metrics.verification_roc_auc(labels[test], -distances) == pytest.approx(auc)
    assert metrics.verification_roc_auc(labels[test], distances) == pytest.approx(1 - auc)
    # threshold 0 on decision_function is the learner's own predict
    assert metrics.verification_accuracy(labels[test], scores, threshold=0) == pytest.approx(
        itml.score(idx[test], labels[test], preprocessor=X))
    assert metrics.equal_error_rate(labels[test], scores) < 0.5


@pytest.mark.parametrize("function", [metrics.verification_accuracy,
                                      metrics.verification_roc_auc, metrics.equal_error_rate])
def test_verification_metrics_no_longer_take_distances_by_name(function):
    """The argument is ``y_score`` now; an old ``distances=`` call fails loudly."""
    with pytest.raises(TypeError, match="distances"):
        function([1, -1], distances=[0.1, 0.2])
    assert function([1, -1], y_score=[0.2, 0.1]) in (0.0, 1.0)


def test_verification_bad_input():
    with pytest.raises(ValueError, match=r"\{-1, \+1\}"):
        metrics.verification_roc_auc([0, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        metrics.equal_error_rate([1, -1], [np.nan, 0.2])
    with pytest.raises(ValueError, match="one label per pair"):
        metrics.verification_accuracy([1, -1, 1], [0.1, 0.2])
    with pytest.raises(ValueError,
                       match=r"y_score must be 1-D.*shape \(2, 2\).*decision_function"):
        metrics.verification_roc_auc([1, -1], [[0.1, 0.2], [0.3, 0.4]])
    with pytest.raises(ValueError, match="threshold must be a real number"):
        metrics.verification_accuracy([1, -1], [0.1, 0.2], threshold=np.nan)


def test_retrieval_bad_input():
    with pytest.raises(ValueError, match="k must be an integer"):
        metrics.precision_at_k(LINE_X, LINE_Y, k=0)
    with pytest.raises(ValueError, match="k must be an integer in"):
        metrics.precision_at_k(LINE_X, LINE_Y, k=5)  # only 4 other points
    with pytest.raises(ValueError, match="both X_ref and y_ref"):
        metrics.precision_at_k(LINE_X, LINE_Y, X_ref=LINE_X)
    with pytest.raises(ValueError, match="inconsistent"):
        metrics.map_at_r(LINE_X, LINE_Y[:3])
    with pytest.raises(ValueError, match="NaN"):
        metrics.map_at_r(np.array([[np.nan], [1.0]]), [0, 0])
    with pytest.raises(ValueError, match="metric must be one of"):
        metrics.make_retrieval_scorer("accuracy")


def test_retrieval_scorer_in_grid_search_and_cross_validation():
    X, y = load_iris(return_X_y=True)
    scorer = metrics.make_retrieval_scorer("precision_at_k", k=3)
    pipe = Pipeline([("scale", StandardScaler()), ("lda", LDA())])
    # A metric learner is a transformer, so an integer cv would mean unstratified KFold: on
    # iris (sorted by class) a fold would miss a class. Stratify explicitly.
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(pipe, {"lda__n_components": [1, 2]}, scoring=scorer, cv=cv)
    search.fit(X, y)
    assert not np.isnan(search.cv_results_["mean_test_score"]).any()
    assert 0.9 < search.best_score_ <= 1.0
    scores = cross_val_score(LDA(), X, y, scoring=metrics.make_retrieval_scorer(), cv=cv)
    assert np.all((scores > 0.75) & (scores <= 1.0))
    # The scorer's value is the metric of the fold's embedding.
    lda = LDA().fit(X, y)
    assert scorer(lda, X, y) == pytest.approx(metrics.precision_at_k(lda.transform(X), y, k=3))
    assert "precision_at_k" in repr(scorer)


# --------------------------------------------------------------------------- full ranking
# Full leave-one-out rankings of LINE_X (ties to the smaller index), relevant in capitals:
#   q0 (a): 1 2 3 4 -> A b A b   AP (1 + 2/3)/2 = 5/6     RR 1
#   q1 (a): 0 2 3 4 -> A b A b   AP 5/6                   RR 1    (0 and 2 tie at 1)
#   q2 (b): 1 0 3 4 -> a a a B   AP 1/4                   RR 1/4
#   q3 (a): 2 1 4 0 -> b A b A   AP (1/2 + 2/4)/2 = 1/2   RR 1/2  (1 and 4 tie at 3)
#   q4 (b): 3 2 1 0 -> a B a a   AP 1/2                   RR 1/2
LINE_AP = np.array([5 / 6, 5 / 6, 1 / 4, 1 / 2, 1 / 2])
LINE_RR = np.array([1, 1, 1 / 4, 1 / 2, 1 / 2])


def test_mean_average_precision_and_reciprocal_rank_by_hand():
    assert metrics.mean_average_precision(LINE_X, LINE_Y) == pytest.approx(LINE_AP.mean())
    assert metrics.mean_reciprocal_rank(LINE_X, LINE_Y) == pytest.approx(LINE_RR.mean())
    # float32 embeddings and a list of lists give the same ranking
    assert metrics.mean_average_precision(LINE_X.astype(np.float32).tolist(), list(LINE_Y)) \
        == pytest.approx(LINE_AP.mean())


def _brute_distances(X, X_ref):
    return np.sqrt(((X[:, None, :] - X_ref[None, :, :]) ** 2).sum(axis=2))


@pytest.mark.parametrize("reference", ["leave-one-out", "given"])
def test_mean_average_precision_is_sklearns_average_precision_per_query(reference):
    # Continuous random embeddings: no tied distances, so sklearn's AP of the scores
    # -distance is the AP of the one ranking.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.choice(["x", "y", "z", "w"], 40)
    if reference == "given":
        X_ref, y_ref = rng.normal(size=(25, 3)), rng.choice(["x", "y", "z", "v"], 25)
        D, same = _brute_distances(X, X_ref), y[:, None] == y_ref[None, :]
        kwargs = {"X_ref": X_ref, "y_ref": y_ref}
    else:
        D, same = _brute_distances(X, X), y[:, None] == y[None, :]
        off = ~np.eye(len(X), dtype=bool)
        D, same = D[off].reshape(40, 39), same[off].reshape(40, 39)
        kwargs = {}
    has = same.any(axis=1)
    assert 0 < has.sum() < len(X) or reference == "leave-one-out"  # "w" queries have no R
    ap = [average_precision_score(s, -d) for s, d in zip(same[has], D[has])]
    rr = [1 / (1 + np.flatnonzero(s[np.argsort(d)])[0]) for s, d in zip(same[has], D[has])]
    assert metrics.mean_average_precision(X, y, **kwargs) == pytest.approx(np.mean(ap))
    assert metrics.mean_reciprocal_rank(X, y, **kwargs) == pytest.approx(np.mean(rr))


def test_full_ranking_ties_go_to_the_smaller_reference_index():
    # The query is at distance 1 from the three references: a three-way tie.
    X, y = np.array([[0.0]]), np.array(["a"])
    X_ref = np.ones((3, 1))
    for y_ref, rank in ((["a", "b", "b"], 1), (["b", "a", "b"], 2), (["b", "b", "a"], 3)):
        kwargs = {"X_ref": X_ref, "y_ref": y_ref}
        assert metrics.mean_average_precision(X, y, **kwargs) == pytest.approx(1 / rank)
        assert metrics.mean_reciprocal_rank(X, y, **kwargs) == pytest.approx(1 / rank)
    # long ties at three distances, shuffled (a sort that is not stable reorders them)
    rng = np.random.default_rng(0)
    X_ref = rng.integers(1, 4, size=(300, 1)).astype(float)
    y_ref = np.where(rng.random(300) < 0.1, "a", "b")
    order = np.lexsort((np.arange(300), X_ref[:, 0]))  # by distance, then index
    ranks = 1 + np.flatnonzero(y_ref[order] == "a")
    kwargs = {"X_ref": X_ref, "y_ref": y_ref}
    ap = np.mean(np.arange(1, len(ranks) + 1) / ranks)
    assert metrics.mean_average_precision(X, y, **kwargs) == pytest.approx(ap)
    assert metrics.mean_reciprocal_rank(X, y, **kwargs) == pytest.approx(1 / ranks[0])
    # sklearn scores the tie as a group (precision 1/3 at the shared threshold) instead:
    assert average_precision_score([0, 1, 0], [-1, -1, -1]) == pytest.approx(1 / 3)


def test_full_ranking_leaves_out_queries_without_a_relevant_reference():
    X_ref, y_ref = np.array([[0.0], [10.0], [11.0]]), np.array([0, 1, 1])
    X_q, y_q = np.array([[1.0], [9.0], [20.0]]), np.array([0, 1, 0])
    # q0 -> ref0 first: AP 1; q1 -> ref1, ref2: AP 1; q2 -> ref2, ref1, ref0: AP = RR = 1/3
    for function in (metrics.mean_average_precision, metrics.mean_reciprocal_rank):
        assert function(X_q, y_q, X_ref=X_ref, y_ref=y_ref) == pytest.approx(7 / 9)
        # a query of a class no reference has (R = 0) is left out, not scored 0
        with_orphan = function(np.vstack([X_q, [[0.0]]]), [0, 1, 0, 2], X_ref=X_ref,
                               y_ref=y_ref)
        assert with_orphan == pytest.approx(7 / 9)
        with pytest.raises(ValueError, match="No query has a relevant reference"):
            function([[0.0], [1.0], [2.0]], ["a", "b", "c"])
        with pytest.raises(ValueError, match="No query has a relevant reference"):
            function(X_q, [5, 6, 7], X_ref=X_ref, y_ref=y_ref)


def test_full_ranking_is_the_same_whatever_the_block_size(monkeypatch):
    # Small integers: the computed distances are exact, so there are many exact ties.
    rng = np.random.default_rng(1)
    X, y = rng.integers(-3, 4, size=(30, 2)).astype(float), rng.integers(0, 3, 30)
    X_ref, y_ref = rng.integers(-3, 4, size=(20, 2)).astype(float), rng.integers(0, 3, 20)
    cases = [{}, {"X_ref": X_ref, "y_ref": y_ref}]
    functions = (metrics.mean_average_precision, metrics.mean_reciprocal_rank)
    whole = [f(X, y, **kw) for f in functions for kw in cases]
    monkeypatch.setattr(metrics, "_RANKING_BLOCK_BYTES", 1)  # one query row per block
    assert [f(X, y, **kw) for f in functions for kw in cases] == whole


# --------------------------------------------------------------------------- macro average
def test_macro_average_by_hand():
    # Per-query values of LINE (q0 q1 q3 are "a", q2 q4 are "b"); macro = mean of class means.
    def macro(values):
        values = np.asarray(values, dtype=float)
        return (values[[0, 1, 3]].mean() + values[[2, 4]].mean()) / 2

    expected = {
        "precision_at_k": ([1, 1, 0, 0, 0], {"k": 1}),
        "recall_at_k": ([1, 1, 0, 1, 1], {"k": 2}),
        "r_precision": ([1 / 2, 1 / 2, 0, 1 / 2, 0], {}),
        "map_at_r": ([1 / 2, 1 / 2, 0, 1 / 4, 0], {}),
        "mean_average_precision": (LINE_AP, {}),
        "mean_reciprocal_rank": (LINE_RR, {}),
    }
    for name, (values, kwargs) in expected.items():
        function = getattr(metrics, name)
        micro = function(LINE_X, LINE_Y, **kwargs)
        assert micro == function(LINE_X, LINE_Y, average="micro", **kwargs)  # the default
        assert micro == pytest.approx(np.mean(values)), name
        got = function(LINE_X, LINE_Y, average="macro", **kwargs)
        assert got == pytest.approx(macro(values)), name
        assert got != pytest.approx(micro), name  # imbalanced: 3 "a" and 2 "b" queries


@pytest.mark.parametrize("name", ["precision_at_k", "recall_at_k", "r_precision", "map_at_r",
                                  "mean_average_precision", "mean_reciprocal_rank"])
def test_macro_average_is_the_mean_of_per_class_scores(name):
    rng = np.random.default_rng(2)
    y = np.repeat(["big", "mid", "small"], [30, 10, 3])
    X = rng.normal(size=(len(y), 2)) + (y == "big")[:, None]
    X_ref, y_ref = rng.normal(size=(20, 2)), np.repeat(["big", "mid", "small"], [5, 8, 7])
    function = getattr(metrics, name)
    kwargs = {"X_ref": X_ref, "y_ref": y_ref}
    per_class = [function(X[y == c], y[y == c], **kwargs) for c in ("big", "mid", "small")]
    assert function(X, y, average="macro", **kwargs) == pytest.approx(np.mean(per_class))


@pytest.mark.parametrize("name", ["precision_at_k", "recall_at_k", "r_precision", "map_at_r",
                                  "mean_average_precision", "mean_reciprocal_rank"])
@pytest.mark.parametrize("average", ["weighted", "MACRO", None, ["macro"]])
def test_bad_average_is_named(name, average):
    expected = rf"{name}: average must be 'micro'.* got {re.escape(repr(average))}\."
    with pytest.raises(ValueError, match=expected):
        getattr(metrics, name)(LINE_X, LINE_Y, average=average)


# --------------------------------------------------------------------------- clustering
def test_ami_kmeans_is_sklearns_ami_of_the_seeded_kmeans():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(0, 0.1, (20, 2)), rng.normal(10, 0.1, (20, 2))])
    y = np.repeat(["left", "right"], 20)
    assert metrics.ami_kmeans(X, y, random_state=0) == pytest.approx(1.0)
    # random labels on structureless data: NMI grows with the number of clusters, AMI does not
    X, y = rng.uniform(size=(120, 2)), rng.integers(0, 12, 120)
    ami = metrics.ami_kmeans(X, y, random_state=0)
    pred = KMeans(12, n_init=10, random_state=0).fit_predict(X)
    assert ami == adjusted_mutual_info_score(y, pred)
    assert abs(ami) < 0.05 < metrics.nmi_kmeans(X, y, random_state=0)
    assert metrics.ami_kmeans(X, y, n_clusters=3, random_state=5) == adjusted_mutual_info_score(
        y, KMeans(3, n_init=10, random_state=5).fit_predict(X))
    with pytest.raises(ValueError, match="n_clusters"):
        metrics.ami_kmeans(X, y, n_clusters=0)
    with pytest.raises(ValueError, match="n_clusters=121 exceeds the 120 samples"):
        metrics.ami_kmeans(X, y, n_clusters=121)


# --------------------------------------------------------------------------- scorer, docs
@pytest.mark.parametrize("name, kwargs", [
    ("mean_average_precision", {}), ("mean_reciprocal_rank", {"average": "macro"}),
    ("map_at_r", {"average": "macro"}), ("ami_kmeans", {"random_state": 0}),
    ("nmi_kmeans", {"random_state": 0})])
def test_new_metrics_through_the_scorer(name, kwargs):
    X, y = load_iris(return_X_y=True)
    lda = LDA().fit(X, y)
    scorer = metrics.make_retrieval_scorer(name, **kwargs)
    assert scorer(lda, X, y) == getattr(metrics, name)(lda.transform(X), y, **kwargs)
    assert name in repr(scorer)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(LDA(), X, y, scoring=scorer, cv=cv)
    assert np.all((scores > 0.5) & (scores <= 1.0))
