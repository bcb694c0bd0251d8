"""Model selection on pairs: the pair learners cross-validate and grid-search like classifiers.

``cross_val_score`` and ``GridSearchCV`` look for ``score`` on the unfitted estimator they
clone; a learner fitted on pairs always has a threshold, so ``score`` must be there before
the first fit. A learner fitted on class labels has none until ``calibrate_threshold``.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError, UndefinedMetricWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.preprocessing import StandardScaler

from skdml import ITML, KISSME, MMC, SDML
from skdml.constraints import pairs_from_labels
from skdml.datasets import make_pairs

# Each pair learner with a grid of two values of one of its parameters.
GRIDS = {
    ITML: {"gamma": [0.5, 2.0]},
    KISSME: {"regularization": [1e-3, 1e-1]},
    MMC: {"diagonal": [False, True]},
    SDML: {"balance_param": [0.1, 0.5]},
}
PAIR_LEARNERS = list(GRIDS)
METHODS = ["decision_function", "predict", "score"]


@pytest.fixture(scope="module")
def iris_pairs():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    pairs, labels = make_pairs(X, y, 300, random_state=0)
    return X, y, pairs, labels


def _make(cls):
    return cls(random_state=0) if "random_state" in cls().get_params() else cls()


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
    assert search.score(pairs, labels) > 0.75


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
def test_label_fit_hides_the_pair_methods_and_names_the_fix(iris_pairs, cls):
    X, y, pairs, labels = iris_pairs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SDML may warn about its graphical lasso
        est = _make(cls).fit(X, y)
    for method in METHODS:
        assert not hasattr(est, method)
        with pytest.raises(AttributeError) as excinfo:
            getattr(est, method)
        cause = str(excinfo.value.__cause__)
        assert "calibrate_threshold" in cause and "fit it on pairs" in cause, cause
    est.calibrate_threshold(pairs, labels)
    assert all(hasattr(est, method) for method in METHODS)
    assert est.score(pairs, labels) > 0.75
    # A fit on pairs after a fit on labels brings a threshold of its own.
    est.fit(X, y)
    assert not hasattr(est, "score")
    est.fit(pairs, labels)
    assert hasattr(est, "score")


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
