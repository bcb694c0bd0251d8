"""Triplet and quadruplet learners (SCML, LSML) classify the tuples they learn from.

A triplet ``(a, p, n)`` states ``d(a, p) < d(a, n)``, a quadruplet ``(a, b, c, d)`` states
``d(a, b) < d(c, d)``. Fitted on tuples, a learner has ``decision_function`` (the margin
``d(c, d) - d(a, b)``, positive where the statement holds), ``predict`` (+1 / -1) and
``score`` (accuracy, by default against all +1); before any fit the three methods exist and
raise ``NotFittedError`` (so model selection finds ``score``); after a fit on class labels
they do not exist, so scikit-learn's checks see a plain transformer.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.preprocessing import StandardScaler

from skdml import LSML, SCML
from skdml.constraints import triplets_from_labels

METHODS = ["decision_function", "predict", "score"]


def _make(cls):
    return cls(max_iter=300, random_state=0) if cls is SCML else cls(max_iter=50)


@pytest.fixture(scope="module")
def iris_triplets():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    t = triplets_from_labels(y, 300, random_state=0)
    return X, y, t


def _fit_quiet(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


def _distance(est, a, b):
    return est.pair_distance(np.stack([a, b], axis=1))


@pytest.mark.parametrize("cls", [SCML, LSML])
def test_triplet_margin_prediction_and_score(iris_triplets, cls):
    X, _, t = iris_triplets
    est = _fit_quiet(_make(cls), X[t])
    margins = est.decision_function(X[t])
    expected = _distance(est, X[t[:, 0]], X[t[:, 2]]) - _distance(est, X[t[:, 0]], X[t[:, 1]])
    assert_allclose(margins, expected, rtol=1e-12, atol=1e-12)
    pred = est.predict(X[t])
    assert set(np.unique(pred)) <= {-1, 1}
    assert_array_equal(pred, np.where(margins > 0, 1, -1))
    assert est.score(X[t]) == pytest.approx(np.mean(margins > 0))
    assert est.score(X[t]) > 0.8  # the metric learned satisfies most of its triplets
    # Swapping p and n reverses every statement: the margins change sign.
    swapped = X[t[:, [0, 2, 1]]]
    assert_allclose(est.decision_function(swapped), -margins, atol=1e-12)
    assert est.score(swapped, -np.ones(len(t))) == est.score(X[t])
    # Index triplets with a preprocessor give the same answers.
    assert_array_equal(est.decision_function(t, preprocessor=X), margins)


def test_lsml_classifies_quadruplets_and_triplets_alike(iris_triplets):
    X, _, t = iris_triplets
    quads = t[:, [0, 1, 0, 2]]
    lsml = _fit_quiet(_make(LSML), X[quads])
    margins = lsml.decision_function(X[quads])
    expected = (_distance(lsml, X[quads[:, 2]], X[quads[:, 3]])
                - _distance(lsml, X[quads[:, 0]], X[quads[:, 1]]))
    assert_allclose(margins, expected, rtol=1e-12, atol=1e-12)
    assert_array_equal(lsml.decision_function(X[t]), margins)
    assert_array_equal(lsml.predict(quads, preprocessor=X), lsml.predict(X[quads]))


@pytest.mark.parametrize("cls", [SCML, LSML])
def test_methods_exist_before_fit_and_raise_not_fitted(iris_triplets, cls):
    X, _, t = iris_triplets
    est = _make(cls)
    for method in METHODS:
        assert hasattr(est, method)
        with pytest.raises(NotFittedError):
            getattr(est, method)(X[t])


@pytest.mark.parametrize("cls", [SCML, LSML])
def test_label_fit_hides_the_methods_and_a_tuple_fit_restores_them(iris_triplets, cls):
    X, y, t = iris_triplets
    est = _fit_quiet(_make(cls), X, y)
    for method in METHODS:
        assert not hasattr(est, method)
        with pytest.raises(AttributeError) as info:
            getattr(est, method)
        assert "fitted on class labels" in str(info.value.__cause__)
    _fit_quiet(est, X[t])
    assert all(hasattr(est, method) for method in METHODS)
    _fit_quiet(est, X, y)
    assert not hasattr(est, "predict")


@pytest.mark.parametrize("cls", [SCML, LSML])
def test_cross_validation_and_grid_search_on_triplets(iris_triplets, cls):
    X, _, t = iris_triplets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(_make(cls), X[t], cv=KFold(3, shuffle=True, random_state=0))
        grid = {"beta": [1e-5, 1e-3]} if cls is SCML else {"regularization": [0.1, 1.0]}
        search = GridSearchCV(_make(cls), grid, cv=3).fit(X[t])
    assert scores.shape == (3,) and np.all(scores > 0.6)
    assert search.best_score_ > 0.6


@pytest.mark.parametrize("cls", [SCML, LSML])
def test_bad_tuples_and_labels_are_named(iris_triplets, cls):
    X, _, t = iris_triplets
    est = _fit_quiet(_make(cls), X[t])
    before = est.components_.copy()
    with pytest.raises(ValueError, match=r"triplets.*, 3, n_features\).*\(300, 2, 4\)"):
        est.predict(X[t[:, :2]])  # pairs
    with pytest.raises(ValueError, match="fitted with 4 features"):
        est.decision_function(X[t][:, :, :3])
    with pytest.raises(ValueError, match=r"one label in \{-1, \+1\} per tuple"):
        est.score(X[t], np.zeros(len(t)))
    with pytest.raises(ValueError, match=r"one label in \{-1, \+1\} per tuple"):
        est.score(X[t], np.ones(len(t) - 1))
    with pytest.raises(ValueError, match="indices"):
        est.predict(t.astype(float), preprocessor=X)
    if cls is SCML:
        with pytest.raises(ValueError, match="triplets"):
            est.predict(X[t[:, [0, 1, 0, 2]]])  # SCML classifies triplets only
    else:
        with pytest.raises(ValueError, match=r"classifies quadruplets .* or triplets"):
            est.predict(t[:, :2], preprocessor=X)
    assert_array_equal(est.components_, before)
