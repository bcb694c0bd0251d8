"""Model selection on pairs: the pair learners cross-validate, grid-search and tune their
threshold like binary classifiers.

``cross_val_score`` and ``GridSearchCV`` look for ``score`` on the unfitted estimator they
clone, and stratify their folds when ``is_classifier`` says so, which it reads on the unfitted
estimator too; a learner fitted on pairs has ``classes_ = [-1, 1]`` and a threshold, so
scikit-learn's scorers and ``TunedThresholdClassifierCV`` / ``FixedThresholdClassifier`` take
it. A learner fitted on class labels has no threshold until ``calibrate_threshold``.
"""

import warnings

import numpy as np
import pytest
from sklearn.base import is_classifier
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError, UndefinedMetricWarning
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import accuracy_score, fbeta_score, make_scorer
from sklearn.model_selection import (
    FixedThresholdClassifier, GridSearchCV, KFold, StratifiedKFold, TunedThresholdClassifierCV,
    check_cv, cross_val_score, train_test_split,
)
from sklearn.preprocessing import StandardScaler

from skdml import ITML, KISSME, MMC, SDML
from skdml.base import PairClassifierMixin
from skdml.constraints import pairs_from_labels
from skdml.datasets import make_pairs

from .conftest import public_estimators

# Each pair learner with a grid of two values of one of its parameters.
GRIDS = {
    ITML: {"gamma": [0.5, 2.0]},
    KISSME: {"regularization": [1e-3, 1e-1]},
    MMC: {"diagonal": [False, True]},
    SDML: {"balance_param": [0.1, 0.5]},
}
PAIR_LEARNERS = list(GRIDS)
METHODS = ["decision_function", "predict", "score"]


def test_the_pair_learners_are_all_here():
    # the deep pair learners (DDML) have tests/test_deep_pairs.py
    found = {cls for cls in public_estimators() if issubclass(cls, PairClassifierMixin)
             and not cls.__module__.startswith("skdml.deep")}
    assert found == set(PAIR_LEARNERS)


@pytest.fixture(scope="module")
def iris_pairs():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    pairs, labels = make_pairs(X, y, 300, random_state=0)
    return X, y, pairs, labels


def _make(cls):
    return cls(random_state=0) if "random_state" in cls().get_params() else cls()


def _similar_fraction(estimator, pairs, labels):
    """A "scorer" that reports what a test fold holds: its fraction of similar pairs."""
    return float(np.mean(labels == 1))


@pytest.mark.parametrize("cls", PAIR_LEARNERS, ids=lambda c: c.__name__)
def test_pair_learners_are_classifiers_before_fit(iris_pairs, cls):
    _, _, _, labels = iris_pairs
    est = cls()
    assert is_classifier(est)
    assert isinstance(check_cv(3, labels, classifier=is_classifier(est)), StratifiedKFold)


@pytest.mark.parametrize("cls", PAIR_LEARNERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("scoring", [None, "roc_auc"])
def test_cross_val_score_on_pairs(iris_pairs, cls, scoring):
    _, _, pairs, labels = iris_pairs
    with warnings.catch_warnings():
        # A fold holding one label would make ROC AUC undefined (a warning, and NaN).
        warnings.simplefilter("error", UndefinedMetricWarning)
        scores = cross_val_score(_make(cls), pairs, labels, cv=3, scoring=scoring,
                                 error_score="raise")
    assert scores.shape == (3,)
    assert np.all(np.isfinite(scores))
    # Same-class iris pairs are easy to tell apart: far better than chance.
    assert scores.min() > 0.75, scores


@pytest.mark.parametrize("cls", PAIR_LEARNERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("scoring", [None, "roc_auc"])
def test_grid_search_on_pairs(iris_pairs, cls, scoring):
    _, _, pairs, labels = iris_pairs
    search = GridSearchCV(_make(cls), GRIDS[cls], cv=3, scoring=scoring, error_score="raise")
    search.fit(pairs, labels)
    means = search.cv_results_["mean_test_score"]
    assert len(means) == 2 and np.all(np.isfinite(means))
    assert search.best_params_ in [dict(zip(GRIDS[cls], v)) for v in zip(*GRIDS[cls].values())]
    # The refitted best estimator was fitted on pairs: it verifies pairs.
    assert hasattr(search.best_estimator_, "threshold_")
    assert search.best_estimator_.classes_.tolist() == [-1, 1]
    assert search.score(pairs, labels) > 0.75


@pytest.mark.parametrize("cls", PAIR_LEARNERS, ids=lambda c: c.__name__)
def test_folds_are_stratified_even_on_pairs_sorted_by_label(iris_pairs, cls):
    """Pairs listed all similar first (as make_pairs once returned them): plain K-fold would
    test on one label per fold (ROC AUC undefined); stratified folds hold both, in the
    proportion of the whole set."""
    _, _, pairs, labels = iris_pairs
    order = np.argsort(-labels, kind="stable")
    pairs, labels = pairs[order], labels[order]
    overall = np.mean(labels == 1)
    fractions = cross_val_score(_make(cls), pairs, labels, cv=3, scoring=_similar_fraction)
    np.testing.assert_allclose(fractions, overall, atol=0.01)
    search = GridSearchCV(_make(cls), GRIDS[cls], cv=3, scoring=_similar_fraction).fit(
        pairs, labels
    )
    for k in range(3):
        np.testing.assert_allclose(search.cv_results_[f"split{k}_test_score"], overall,
                                   atol=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)
        auc = cross_val_score(_make(cls), pairs, labels, cv=3, scoring="roc_auc")
    assert np.all(auc > 0.75), auc
    # The contrast: unstratified folds of these sorted pairs hold a single label each.
    unstratified = cross_val_score(_make(cls), pairs, labels, cv=KFold(3),
                                   scoring=_similar_fraction)
    assert set(unstratified.tolist()) >= {0.0, 1.0}


@pytest.mark.parametrize("cls", PAIR_LEARNERS, ids=lambda c: c.__name__)
def test_pair_methods_exist_before_fit_and_raise_not_fitted(iris_pairs, cls):
    _, _, pairs, labels = iris_pairs
    est = cls()
    for method in METHODS:
        assert hasattr(est, method)
        args = (pairs, labels) if method == "score" else (pairs,)
        with pytest.raises(NotFittedError):
            getattr(est, method)(*args)


@pytest.mark.parametrize("cls", PAIR_LEARNERS, ids=lambda c: c.__name__)
def test_classes_after_a_fit_on_pairs(iris_pairs, cls):
    _, _, pairs, labels = iris_pairs
    est = _make(cls).fit(pairs, labels)
    assert est.classes_.tolist() == [-1, 1]
    assert set(np.unique(est.predict(pairs))) <= set(est.classes_.tolist())
    # scikit-learn's sign convention: higher decision values for the positive class, +1.
    np.testing.assert_array_equal(est.predict(pairs),
                                  est.classes_[(est.decision_function(pairs) >= 0).astype(int)])


@pytest.mark.parametrize("cls", PAIR_LEARNERS, ids=lambda c: c.__name__)
def test_label_fit_hides_the_pair_methods_and_names_the_fix(iris_pairs, cls):
    X, y, pairs, labels = iris_pairs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SDML may warn about its graphical lasso
        est = _make(cls).fit(X, y)
    assert not hasattr(est, "classes_")
    for method in METHODS:
        assert not hasattr(est, method)
        with pytest.raises(AttributeError) as excinfo:
            getattr(est, method)
        cause = str(excinfo.value.__cause__)
        assert "calibrate_threshold" in cause and "fit it on pairs" in cause, cause
    est.calibrate_threshold(pairs, labels)
    assert all(hasattr(est, method) for method in METHODS)
    assert est.classes_.tolist() == [-1, 1]
    assert est.score(pairs, labels) > 0.75
    # A fit on pairs after a fit on labels brings a threshold of its own.
    est.fit(X, y)
    assert not hasattr(est, "score") and not hasattr(est, "classes_")
    est.fit(pairs, labels)
    assert hasattr(est, "score") and est.classes_.tolist() == [-1, 1]


# ----------------------------------------------------------------- the decision threshold
@pytest.fixture(scope="module")
def split_pairs(iris_pairs):
    _, _, pairs, labels = iris_pairs
    return train_test_split(pairs, labels, test_size=0.5, stratify=labels, random_state=0)


@pytest.mark.parametrize("scoring", ["balanced_accuracy", "f1"])
def test_tuned_threshold_classifier_cv_on_itml(split_pairs, scoring):
    train, test, y_train, y_test = split_pairs
    tuned = TunedThresholdClassifierCV(ITML(random_state=0), scoring=scoring, cv=3,
                                       random_state=0).fit(train, y_train)
    assert tuned.classes_.tolist() == [-1, 1]
    assert np.isfinite(tuned.best_threshold_) and tuned.best_score_ > 0.75
    pred = tuned.predict(test)
    # Its predictions are the refitted learner's decision values cut at the tuned threshold,
    # i.e. a distance threshold of threshold_ - best_threshold_ ...
    scores = tuned.estimator_.decision_function(test)
    np.testing.assert_array_equal(pred, np.where(scores >= tuned.best_threshold_, 1, -1))
    # ... which FixedThresholdClassifier applies the same way.
    fixed = FixedThresholdClassifier(FrozenEstimator(tuned.estimator_),
                                     threshold=tuned.best_threshold_).fit(train, y_train)
    np.testing.assert_array_equal(fixed.predict(test), pred)
    assert accuracy_score(y_test, pred) > 0.75


@pytest.mark.parametrize("strategy, scorer", [
    ("accuracy", "accuracy"),
    ("f_beta", make_scorer(fbeta_score, beta=2.0)),
])
def test_calibrate_threshold_finds_the_optimum_of_sklearn_tuner(split_pairs, strategy, scorer):
    """calibrate_threshold reaches the best value TunedThresholdClassifierCV finds when it
    tries every achievable threshold of a fitted learner."""
    train, test, y_train, y_test = split_pairs
    itml = ITML(random_state=0).fit(train, y_train)
    values = np.unique(itml.decision_function(test))
    every = np.r_[values[0] - 1.0, 0.5 * (values[1:] + values[:-1]), values[-1] + 1.0]
    tuned = TunedThresholdClassifierCV(FrozenEstimator(itml), scoring=scorer, thresholds=every,
                                       cv="prefit", refit=False).fit(test, y_test)
    itml.calibrate_threshold(test, y_test, strategy=strategy, beta=2.0)
    reached = (accuracy_score(y_test, itml.predict(test)) if strategy == "accuracy"
               else fbeta_score(y_test, itml.predict(test), beta=2.0))
    assert reached == pytest.approx(tuned.best_score_)


# ------------------------------------------------------------------------------ make_pairs
def test_make_pairs_comes_shuffled_so_plain_kfold_sees_both_labels():
    X, y = load_iris(return_X_y=True)
    pairs, labels = make_pairs(X, y, 120, return_indices=True, random_state=0)
    for _, test in KFold(6).split(pairs):
        assert set(labels[test]) == {-1, 1}
    # Shuffling comes after the draw: the same pairs as pairs_from_labels draws, reordered.
    drawn, drawn_labels = pairs_from_labels(y, 120, random_state=0)
    as_rows = {tuple(p) + (lab,) for p, lab in zip(pairs.tolist(), labels.tolist())}
    assert as_rows == {tuple(p) + (lab,) for p, lab in zip(drawn.tolist(),
                                                           drawn_labels.tolist())}
    again, again_labels = make_pairs(X, y, 120, return_indices=True, random_state=0)
    np.testing.assert_array_equal(again, pairs)
    np.testing.assert_array_equal(again_labels, labels)
    # Another seed, another order.
    _, other_labels = make_pairs(X, y, 120, return_indices=True, random_state=1)
    assert not np.array_equal(other_labels, labels)
