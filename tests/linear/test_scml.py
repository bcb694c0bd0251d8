"""SCML's triplets from labels: one target-neighbour search, deterministic ties."""

import numpy as np
from sklearn.datasets import load_iris

from skdml.constraints import target_neighbors
from skdml.linear.scml import _neighbor_triplets


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
