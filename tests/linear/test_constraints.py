"""Pairs and triplets drawn from class labels (skdml/constraints.py)."""

import numpy as np
import pytest

from skdml.constraints import pairs_from_labels


def test_pairs_from_labels_are_what_they_claim():
    y = np.array(["a"] * 5 + ["b"] * 2 + ["c"])  # 'c' has one member: never in a similar pair
    pairs, labels = pairs_from_labels(y, 500, similar_fraction=0.3, random_state=0)
    assert pairs.shape == (500, 2) and labels.shape == (500,)
    assert np.sum(labels == 1) == 150
    same = y[pairs[:, 0]] == y[pairs[:, 1]]
    np.testing.assert_array_equal(same, labels == 1)
    assert np.all(pairs[labels == 1, 0] != pairs[labels == 1, 1])
    assert not np.any(y[pairs[labels == 1, 0]] == "c")
    # Every eligible similar partner is reachable.
    sim = {tuple(p) for p in pairs[labels == 1]}
    assert (5, 6) in sim or (6, 5) in sim
    again, _ = pairs_from_labels(y, 500, similar_fraction=0.3, random_state=0)
    np.testing.assert_array_equal(pairs, again)


def test_pairs_from_labels_errors():
    with pytest.raises(ValueError, match="at least 2 members"):
        pairs_from_labels([0, 1, 2], 10)
    with pytest.raises(ValueError, match="n_pairs must be an integer"):
        pairs_from_labels([0, 0, 1], 0)
    with pytest.raises(ValueError, match="at least 2 distinct classes"):
        pairs_from_labels([0, 0, 0], 10)


def test_triplets_from_labels_are_what_they_claim():
    from skdml.constraints import triplets_from_labels

    y = np.array(["a"] * 4 + ["b"] * 3 + ["c"])
    t = triplets_from_labels(y, 300, random_state=0)
    assert t.shape == (300, 3)
    assert np.all(y[t[:, 0]] == y[t[:, 1]]) and np.all(t[:, 0] != t[:, 1])
    assert np.all(y[t[:, 0]] != y[t[:, 2]])
    assert "c" in set(y[t[:, 2]])  # singletons still serve as negatives
    np.testing.assert_array_equal(t, triplets_from_labels(y, 300, random_state=0))
