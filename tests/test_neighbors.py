"""make_knn: the fast path to a kNN in a learned metric finds what metric=get_metric() finds."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skdml import ITML, LDA, NCA
from skdml.hashing import ITQ
from skdml.neighbors import make_knn

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
SPLIT = train_test_split(X_IRIS, Y_IRIS, test_size=0.4, random_state=0, stratify=Y_IRIS)


def _slow_and_fast(learner, k=5):
    X_train, X_test, y_train, _ = SPLIT
    learner = clone(learner).fit(X_train, y_train)
    slow = KNeighborsClassifier(k, metric=learner.get_metric()).fit(X_train, y_train)
    fast = make_knn(FrozenEstimator(learner), n_neighbors=k).fit(X_train, y_train)
    return learner, slow, fast


@pytest.mark.parametrize("learner", [LDA(), NCA(random_state=0), ITML(random_state=0)],
                         ids=lambda e: type(e).__name__)
def test_fast_path_finds_the_slow_paths_neighbours(learner):
    X_train, X_test, y_train, y_test = SPLIT
    learner, slow, fast = _slow_and_fast(learner)
    slow_dist, slow_ind = slow.kneighbors(X_test)
    fast_dist, fast_ind = fast.named_steps["knn"].kneighbors(learner.transform(X_test))
    np.testing.assert_allclose(fast_dist, slow_dist, rtol=1e-9, atol=1e-9)
    # the same neighbours, up to the order of tied distances
    untied = np.ones_like(slow_ind, dtype=bool)
    untied[:, 1:] &= ~np.isclose(np.diff(slow_dist, axis=1), 0, atol=1e-9)
    untied[:, :-1] &= ~np.isclose(np.diff(slow_dist, axis=1), 0, atol=1e-9)
    np.testing.assert_array_equal(fast_ind[untied], slow_ind[untied])
    np.testing.assert_array_equal(fast.predict(X_test), slow.predict(X_test))
    assert fast.score(X_test, y_test) == slow.score(X_test, y_test)
    np.testing.assert_allclose(fast.predict_proba(X_test), slow.predict_proba(X_test))


def test_fast_path_ranks_a_hashers_codes_by_hamming_distance():
    X_train, X_test, *_ = SPLIT
    hasher, slow, fast = _slow_and_fast(ITQ(n_bits=4, random_state=0), k=7)
    slow_dist, _ = slow.kneighbors(X_test)  # Hamming distances
    fast_dist, fast_ind = fast.named_steps["knn"].kneighbors(hasher.transform(X_test))
    np.testing.assert_allclose(fast_dist**2, slow_dist)  # Euclidean on {0, 1} codes
    codes_train, codes_test = hasher.transform(X_train), hasher.transform(X_test)
    hamming = (codes_test[:, None, :] != codes_train[fast_ind]).sum(axis=2)
    np.testing.assert_array_equal(hamming, slow_dist)


def test_an_unfitted_learner_is_fitted_by_the_pipeline():
    X_train, X_test, y_train, y_test = SPLIT
    knn = make_knn(NCA(random_state=0), n_neighbors=3, weights="distance")
    assert isinstance(knn, Pipeline) and list(knn.named_steps) == ["learner", "knn"]
    assert knn.named_steps["knn"].get_params()["weights"] == "distance"
    knn.fit(X_train, y_train)
    learner = NCA(random_state=0).fit(X_train, y_train)
    np.testing.assert_allclose(knn.named_steps["learner"].components_, learner.components_)
    slow = KNeighborsClassifier(3, weights="distance", metric=learner.get_metric())
    np.testing.assert_array_equal(knn.predict(X_test),
                                  slow.fit(X_train, y_train).predict(X_test))


def test_make_knn_tunes_in_a_grid_search():
    search = GridSearchCV(make_knn(LDA()), {"knn__n_neighbors": [1, 7],
                                            "learner__n_components": [1, 2]}, cv=3)
    search.fit(StandardScaler().fit_transform(X_IRIS), Y_IRIS)
    assert search.best_score_ > 0.9
    assert set(search.best_params_) == {"knn__n_neighbors", "learner__n_components"}


def test_make_knn_bad_input():
    with pytest.raises(ValueError, match="transform method.*KNeighborsClassifier"):
        make_knn(KNeighborsClassifier())
    with pytest.raises(ValueError, match="takes no metric, got metric='manhattan'"):
        make_knn(LDA(), metric="manhattan")
