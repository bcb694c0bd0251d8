"""Retrieval and verification metrics against values computed by hand on tiny cases."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
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
    d = np.array([0.1, 0.4, 0.3, 0.9])
    # thresholds: <=0.1 -> acc 3/4; <=0.3 -> (1 TP, 1 FP) 2/4; <=0.4 -> 3/4; 0.9 -> 2/4
    assert metrics.verification_accuracy(y, d) == pytest.approx(0.75)
    assert metrics.verification_accuracy(y, d, threshold=0.35) == pytest.approx(0.5)
    # AUC: pairs (pos, neg) where pos closer: (0.1 vs .3 yes, .1 vs .9 yes, .4 vs .3 no,
    # .4 vs .9 yes) -> 3/4
    assert metrics.verification_roc_auc(y, d) == pytest.approx(0.75)
    assert metrics.equal_error_rate(y, np.array([0.1, 0.2, 0.3, 0.9])) == 0.0
    # ROC of d: (fpr, fnr) passes (0, .5) then (.5, .5): EER = 0.5
    assert metrics.equal_error_rate(y, d) == pytest.approx(0.5)


def test_verification_bad_input():
    with pytest.raises(ValueError, match=r"\{-1, \+1\}"):
        metrics.verification_roc_auc([0, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        metrics.equal_error_rate([1, -1], [np.nan, 0.2])
    with pytest.raises(ValueError, match="one label per pair"):
        metrics.verification_accuracy([1, -1, 1], [0.1, 0.2])


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
