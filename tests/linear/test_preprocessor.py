"""``preprocessor`` as a constructor parameter of the tuple learners (ITML, KISSME, LSML, MMC,
SCML, SDML): an array or a callable that index tuples refer to, in every method and under
model selection; the ``preprocessor=`` keyword of a method wins over it.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.preprocessing import StandardScaler

from skdml import ITML, KISSME, LSML, MMC, SCML, SDML
from skdml.constraints import pairs_from_labels, triplets_from_labels

X, Y = load_iris(return_X_y=True)
X = StandardScaler().fit_transform(X)
PAIRS, PAIR_LABELS = pairs_from_labels(Y, 240, random_state=0)
TRIPLETS = triplets_from_labels(Y, 240, random_state=0)

#: Each learner, small enough to be fast, with the index tuples it learns from.
LEARNERS = {
    "ITML": (lambda **kw: ITML(max_iter=200, random_state=0, **kw), PAIRS, PAIR_LABELS),
    "KISSME": (lambda **kw: KISSME(**kw), PAIRS, PAIR_LABELS),
    "MMC": (lambda **kw: MMC(max_iter=100, random_state=0, **kw), PAIRS, PAIR_LABELS),
    "SDML": (lambda **kw: SDML(random_state=0, **kw), PAIRS, PAIR_LABELS),
    "SCML": (lambda **kw: SCML(n_basis=20, max_iter=300, random_state=0, **kw), TRIPLETS, None),
    "LSML": (lambda **kw: LSML(max_iter=50, random_state=0, **kw), TRIPLETS, None),
}
PAIR_LEARNERS = ["ITML", "KISSME", "MMC", "SDML"]


class Loader:
    """A callable preprocessor that records the indices it is given (a stand-in for a
    function reading samples from disk)."""

    def __init__(self, data):
        self.data = data
        self.calls = []

    def __call__(self, indices):
        self.calls.append(np.array(indices))
        return self.data[indices]


def _fit(make, tuples, labels, **kwargs):
    est = make(**kwargs)
    return est.fit(tuples, **({} if labels is None else {"y": labels}))


def _scores(est, tuples, **kwargs):
    return est.decision_function(tuples, **kwargs)


@pytest.mark.parametrize("name", list(LEARNERS))
@pytest.mark.parametrize("form", ["array", "callable"])
def test_constructor_preprocessor_is_the_formed_tuples(name, form):
    """Index tuples with ``preprocessor=`` learn and score as the tuples themselves."""
    make, idx, labels = LEARNERS[name]
    formed = _fit(make, X[idx], labels)
    preprocessor = X if form == "array" else Loader(X)
    indexed = _fit(make, idx, labels, preprocessor=preprocessor)
    assert indexed.preprocessor is preprocessor  # stored untouched
    assert_allclose(indexed.components_, formed.components_, rtol=1e-10, atol=1e-12)
    assert_allclose(_scores(indexed, idx[:50]), _scores(formed, X[idx[:50]]),
                    rtol=1e-10, atol=1e-12)
    assert_array_equal(indexed.predict(idx[:50]), formed.predict(X[idx[:50]]))
    args = (idx,) if labels is None else (idx, labels)
    formed_args = (X[idx],) if labels is None else (X[idx], labels)
    assert indexed.score(*args) == formed.score(*formed_args)
    # transform keeps taking samples, never indices
    assert_allclose(indexed.transform(X[:5]), formed.transform(X[:5]), rtol=1e-10, atol=1e-12)
    if form == "callable":  # called on the flat integer indices
        assert all(c.ndim == 1 and c.dtype.kind in "iu" for c in preprocessor.calls)
        assert preprocessor.calls[0].size == idx.size


@pytest.mark.parametrize("name", PAIR_LEARNERS)
def test_pair_methods_use_the_constructor_preprocessor(name):
    make, idx, labels = LEARNERS[name]
    est = _fit(make, idx, labels, preprocessor=X)
    test, test_labels = idx[::6], labels[::6]  # both labels
    assert_allclose(est.pair_distance(test), est.pair_distance(X[test]), rtol=1e-12)
    assert_allclose(est.pair_score(test), -est.pair_distance(X[test]), rtol=1e-12)
    est.calibrate_threshold(test, test_labels, strategy="f_beta", beta=2.0)
    expected = clone(est).set_params(preprocessor=None).fit(X[idx], labels)
    expected.calibrate_threshold(X[test], test_labels, strategy="f_beta", beta=2.0)
    assert est.threshold_ == expected.threshold_


def test_method_keyword_wins_over_the_constructor_parameter():
    make, idx, labels = LEARNERS["ITML"]
    est = _fit(make, idx, labels, preprocessor=X)
    other = X[::-1] * 2.0  # other samples behind the same indices
    test = idx[:30]
    assert_allclose(est.pair_distance(test, preprocessor=other), est.pair_distance(other[test]))
    assert_allclose(est.decision_function(test, preprocessor=Loader(other)),
                    est.decision_function(other[test]))
    assert not np.allclose(est.pair_distance(test, preprocessor=other), est.pair_distance(test))
    scml = _fit(LEARNERS["SCML"][0], TRIPLETS, None, preprocessor=X)
    assert_allclose(scml.decision_function(TRIPLETS[:30], preprocessor=other),
                    scml.decision_function(other[TRIPLETS[:30]]))


@pytest.mark.parametrize("name", list(LEARNERS))
def test_cross_val_score_on_index_tuples(name):
    """Default scoring, on index tuples, as on the formed tuples."""
    make, idx, labels = LEARNERS[name]
    cv = KFold(3, shuffle=True, random_state=0)
    on_indices = cross_val_score(make(preprocessor=X), idx, labels, cv=cv)
    on_callable = cross_val_score(make(preprocessor=Loader(X)), idx, labels, cv=cv)
    on_formed = cross_val_score(make(), X[idx], labels, cv=cv)
    assert_allclose(on_indices, on_formed, rtol=1e-12)
    assert_allclose(on_callable, on_formed, rtol=1e-12)
    assert np.all(on_indices > 0.6)  # a learned metric, not chance


def test_grid_search_on_index_pairs():
    grid = {"gamma": [0.1, 10.0], "prior": ["identity", "covariance"]}
    cv = KFold(3, shuffle=True, random_state=0)
    on_indices = GridSearchCV(ITML(random_state=0, preprocessor=X), grid, cv=cv)
    on_indices.fit(PAIRS, PAIR_LABELS)
    on_formed = GridSearchCV(ITML(random_state=0), grid, cv=cv).fit(X[PAIRS], PAIR_LABELS)
    assert on_indices.best_params_ == on_formed.best_params_
    assert_allclose(on_indices.cv_results_["mean_test_score"],
                    on_formed.cv_results_["mean_test_score"], rtol=1e-12)
    assert on_indices.score(PAIRS, PAIR_LABELS) == on_formed.score(X[PAIRS], PAIR_LABELS)


def test_grid_search_over_the_preprocessor():
    """The preprocessor is a parameter like any other: a search can choose among datasets."""
    noisy = X + np.random.default_rng(0).normal(scale=3.0, size=X.shape)
    search = GridSearchCV(KISSME(), {"preprocessor": [noisy, X]}, cv=3)
    search.fit(PAIRS, PAIR_LABELS)
    assert search.best_params_["preprocessor"] is X


# --- bad input: a clear ValueError, the estimator as it was ---------------------------------

def _fitted_state(est):
    return {k: np.copy(v) for k, v in vars(est).items() if k.endswith("_")}


@pytest.mark.parametrize("name", list(LEARNERS))
def test_rows_that_do_not_match_the_indices(name):
    make, idx, labels = LEARNERS[name]
    est = _fit(make, idx, labels, preprocessor=X)
    state = _fitted_state(est)
    args = (idx,) if labels is None else (idx, labels)
    with pytest.raises(ValueError, match=r"index rows 0\.\.9 of the preprocessor"):
        est.set_params(preprocessor=X[:10]).fit(*args)
    with pytest.raises(ValueError, match=r"index rows 0\.\.9 of the preprocessor"):
        est.decision_function(idx)
    after = _fitted_state(est)
    assert after.keys() == state.keys()
    for key, value in state.items():
        assert_array_equal(after[key], value)


@pytest.mark.parametrize(
    ("loader", "match"),
    [
        (lambda i: X[i][:, None, :], r"one sample per index.*got ndarray of shape \(\d+, 1, 4\)"),
        (lambda i: X[i][:-1], r"one sample per index.*shape \((\d+), n_features\).*"
                              r"got ndarray of shape"),
        (lambda i: X[i].sum(axis=1), r"2-D numeric array"),
        (lambda i: [["a"] * 4 for _ in i], r"numeric array.*dtype <U1"),
        (lambda i: [X[j][: 1 + j % 2] for j in i], r"one sample per index"),
        (lambda i: np.where(X[i] > 0, np.nan, X[i]), r"NaN"),
        (lambda i: X[i + 1000], r"cannot form the pairs from their indices.*IndexError"),
        (lambda i: {}[int(i[0])], r"cannot form the pairs.*KeyError"),
    ],
    ids=["3-D", "row missing", "1-D", "strings", "ragged", "nan", "index error", "key error"],
)
def test_callable_returning_the_wrong_thing(loader, match):
    est = ITML(max_iter=50, random_state=0, preprocessor=loader)
    with pytest.raises(ValueError, match=match):
        est.fit(PAIRS, PAIR_LABELS)
    assert not hasattr(est, "components_")
    fitted = ITML(max_iter=50, random_state=0).fit(PAIRS, PAIR_LABELS, preprocessor=X)
    with pytest.raises(ValueError, match=match):
        fitted.predict(PAIRS, preprocessor=loader)


@pytest.mark.parametrize("bad", ["X", 3.0, True])
@pytest.mark.parametrize("name", list(LEARNERS))
def test_preprocessor_of_another_type(name, bad):
    make, idx, labels = LEARNERS[name]
    with pytest.raises(ValueError, match=r"'preprocessor' parameter of .* must be"):
        _fit(make, idx, labels, preprocessor=bad)


def test_samples_and_labels_with_a_preprocessor_name_the_fix():
    with pytest.raises(ValueError, match=r"integer indices of shape \(n_pairs, 2\)"):
        ITML(preprocessor=X).fit(X, Y)
    with pytest.raises(ValueError, match=r"integer indices of shape \(n_triplets, 3\)"):
        SCML(preprocessor=X).fit(X.astype(np.float64))


def test_a_loader_may_take_identifiers():
    """A callable preprocessor is given the tuples' identifiers as they are: file names or
    ids work as well as row numbers (an array preprocessor takes row numbers only)."""
    names = np.array([f"img{i}.png" for i in range(len(X))])
    by_name = dict(zip(names, X))
    make, idx, labels = LEARNERS["ITML"]
    on_names = make(preprocessor=lambda ids: np.stack([by_name[i] for i in ids]))
    on_names.fit(names[idx], labels)
    on_rows = make(preprocessor=X).fit(idx, labels)
    assert_allclose(on_names.components_, on_rows.components_, rtol=1e-12)
    assert_allclose(on_names.decision_function(names[idx[:20]]),
                    on_rows.decision_function(idx[:20]), rtol=1e-12)
    with pytest.raises(ValueError, match=r"integer indices of shape \(n_pairs, 2\).*<U"):
        on_rows.decision_function(names[idx[:20]])
    with pytest.raises(ValueError, match=r"cannot form the pairs.*KeyError: .*nope\.png"):
        on_names.predict(np.array([["img0.png", "nope.png"]]))
