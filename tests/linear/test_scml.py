"""SCML (skdml/linear/scml.py): triplets from labels (one target-neighbour search,
deterministic ties), sparse non-negative weights, a given basis, random triplets."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from skdml.constraints import target_neighbors, triplets_from_labels
from skdml.linear.scml import SCML, _neighbor_triplets

from .conftest import _knn


def _per_anchor(t, anchor):
    rows = t[t[:, 0] == anchor]
    return list(dict.fromkeys(rows[:, 1])), list(dict.fromkeys(rows[:, 2]))


def test_neighbor_triplets_break_ties_by_lower_index():
    # Sample 0 is at the same distance from 1, 2 and 3 (its class) and from 5 and 6 (the
    # other class); the lower indices win, nearest first.
    X = np.array([[0.0], [1.0], [-1.0], [1.0], [10.0], [11.0], [-11.0], [12.0]])
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    t = _neighbor_triplets(X, y, 2, 2)
    assert _per_anchor(t, 0) == ([1, 2], [4, 5])
    assert _per_anchor(t, 2) == ([0, 1], [6, 4])  # 1 and 3 tie at distance 2
    assert _per_anchor(t, 3) == ([1, 0], [4, 5])  # 1 is a duplicate of 3
    assert len(t) == len(X) * 2 * 2


def test_neighbor_triplets_use_the_target_neighbours_on_duplicates():
    """iris has duplicate rows: the genuine neighbours are constraints.target_neighbors's on
    the standardized features, whatever the ties; the impostors the nearest other-class
    samples, nearest first."""
    X, y = load_iris(return_X_y=True)
    t = _neighbor_triplets(X, y, 3, 10)
    Z = X / X.std(axis=0)
    targets = target_neighbors(Z, y, n_neighbors=3)
    for a in range(len(X)):
        genuine, impostors = _per_anchor(t, a)
        assert genuine == targets[a].tolist()
        other = np.flatnonzero(y != y[a])
        nearest = np.sort(np.linalg.norm(Z[other] - Z[a], axis=1))[:10]
        np.testing.assert_allclose(np.linalg.norm(Z[impostors] - Z[a], axis=1), nearest,
                                   atol=1e-12)


def test_scml_weights_are_sparse_nonnegative_and_improve_the_objective(noisy):
    X_train, _, y_train, _, _ = noisy
    t = triplets_from_labels(y_train, 500, random_state=0)
    est = SCML(random_state=0).fit(X_train[t])
    assert np.all(est.weights_ >= 0)
    assert 0 < np.count_nonzero(est.weights_) < len(est.weights_)
    assert est.objective_ < 0.5  # w = 0 scores 1
    np.testing.assert_allclose(
        est.get_mahalanobis_matrix(), (est.basis_.T * est.weights_) @ est.basis_, atol=1e-8
    )
    again = SCML(random_state=0).fit(X_train[t])
    np.testing.assert_array_equal(again.weights_, est.weights_)
    with pytest.warns(ConvergenceWarning):
        SCML(max_iter=20, output_iter=10, random_state=0).fit(X_train[t])


def test_scml_accepts_a_given_basis():
    X, y = load_iris(return_X_y=True)
    basis = np.eye(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = SCML(basis=basis, random_state=0).fit(X, y)
    directions = est.basis_ / np.linalg.norm(est.basis_, axis=1, keepdims=True)
    np.testing.assert_allclose(directions, basis)  # the same directions, rescaled
    M = est.get_mahalanobis_matrix()
    np.testing.assert_allclose(M, np.diag(est.weights_ / X.std(0) ** 2), atol=1e-10)


def test_scml_neighbor_triplets_join_near_samples():
    from skdml.linear.scml import _neighbor_triplets

    X, y = load_iris(return_X_y=True)
    X = np.vstack([X, X[:5]])  # duplicates
    y = np.r_[y, y[:5]]
    t = _neighbor_triplets(X, y, 3, 10)
    assert len(t) == len(X) * 30
    assert np.all(y[t[:, 0]] == y[t[:, 1]]) and np.all(y[t[:, 0]] != y[t[:, 2]])
    assert np.all(t[:, 0] != t[:, 1])
    Z = (X - X.mean(0)) / X.std(0)
    d = lambda a, b: np.linalg.norm(Z[a] - Z[b], axis=1)  # noqa: E731
    # A genuine neighbor is among the 3 nearest of its class.
    a = 7
    same = np.flatnonzero((y == y[a]) & (np.arange(len(y)) != a))
    nearest3 = np.sort(d(np.full(len(same), a), same))[2]
    assert np.all(d(t[t[:, 0] == a, 0], t[t[:, 0] == a, 1]) <= nearest3 + 1e-12)
    with pytest.raises(ValueError, match="at least two samples"):
        _neighbor_triplets(X[:3], np.arange(3), 3, 10)


def test_scml_random_triplets_from_labels(noisy):
    X_train, X_test, y_train, y_test, base = noisy
    est = SCML(triplets="random", n_constraints=2000, random_state=0).fit(X_train, y_train)
    score = _knn(est.transform(X_train), y_train, est.transform(X_test), y_test)
    assert score >= base + 0.15


def test_scml_says_so_when_no_step_beats_the_zero_metric():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=100, n_classes=3, n_features=20, n_informative=20,
                               n_redundant=0, random_state=42)
    with pytest.warns(ConvergenceWarning, match="every learned distance is 0.*increase gamma"):
        scml = SCML(gamma=5e-3, random_state=42, max_iter=1000).fit(X, y)
    assert not np.any(scml.components_)
