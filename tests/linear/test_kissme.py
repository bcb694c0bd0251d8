"""KISSME (skdml/linear/kissme.py), and a pair classifier's threshold calibration through it."""

import numpy as np
import pytest
from sklearn.datasets import load_iris

from skdml import KISSME
from skdml.constraints import pairs_from_labels
from skdml.metrics import verification_accuracy


def _verification_data(seed=0, n=600):
    """Pairs whose similarity lives in 2 of 10 dims; the other 8 are loud noise."""
    rng = np.random.default_rng(seed)
    identity = rng.normal(size=(n, 2))
    same = rng.random(n) < 0.5
    partner = np.where(same[:, None], identity + 0.1 * rng.normal(size=(n, 2)),
                       rng.normal(size=(n, 2)))
    noise_a, noise_b = 3 * rng.normal(size=(2, n, 8))
    pairs = np.stack(
        [np.column_stack([identity, noise_a]), np.column_stack([partner, noise_b])], axis=1
    )
    return pairs, np.where(same, 1, -1)


def test_kissme_from_pairs_verifies_better_than_euclidean():
    pairs, y = _verification_data(0)
    test_pairs, test_y = _verification_data(1)
    kissme = KISSME().fit(pairs, y)
    assert kissme.score(test_pairs, test_y) > 0.9
    euclid = np.linalg.norm(test_pairs[:, 0] - test_pairs[:, 1], axis=1)
    assert verification_accuracy(test_y, -euclid) < 0.75  # scores: -distance
    # predict agrees with the sign of decision_function, and with threshold_.
    d = kissme.pair_distance(test_pairs)
    np.testing.assert_array_equal(kissme.predict(test_pairs), np.where(d <= kissme.threshold_, 1, -1))
    np.testing.assert_array_equal(kissme.decision_function(test_pairs) >= 0, d <= kissme.threshold_)


def test_kissme_label_fit_equals_the_fit_on_all_pairs():
    X, y = load_iris(return_X_y=True)
    X, y = X[::5], y[::5]
    i, j = np.where(~np.eye(len(X), dtype=bool))
    pairs = np.stack([X[i], X[j]], axis=1)
    labels = np.where(y[i] == y[j], 1, -1)
    from_labels = KISSME().fit(X, y).get_mahalanobis_matrix()
    from_pairs = KISSME().fit(pairs, labels).get_mahalanobis_matrix()
    np.testing.assert_allclose(from_labels, from_pairs, rtol=1e-6, atol=1e-8)


def test_kissme_threshold_only_after_pairs_or_calibration():
    X, y = load_iris(return_X_y=True)
    kissme = KISSME().fit(X, y)
    assert not hasattr(kissme, "predict")
    with pytest.raises(AttributeError) as excinfo:
        kissme.predict(np.stack([X[:2], X[2:4]], axis=1))
    assert "calibrate_threshold" in str(excinfo.value.__cause__)
    idx, labels = pairs_from_labels(y, 400, random_state=0)
    kissme.calibrate_threshold(X[idx], labels)
    assert hasattr(kissme, "predict")
    assert kissme.score(X[idx], labels) > 0.9
    # A new fit on labels forgets the old threshold (it belonged to the old metric).
    kissme.fit(X, y)
    assert not hasattr(kissme, "threshold_")


def _criterion(strategy, pred, y, beta=1.0, max_fpr=0.01):
    tp = np.sum((pred == 1) & (y == 1))
    fp = np.sum((pred == 1) & (y == -1))
    fn = np.sum((pred == -1) & (y == 1))
    if strategy == "accuracy":
        return np.mean(pred == y)
    if strategy == "f_beta":
        b2 = beta**2
        return (1 + b2) * tp / max((1 + b2) * tp + b2 * fn + fp, 1)
    fpr = fp / np.sum(y == -1)
    return tp / np.sum(y == 1) if fpr <= max_fpr else -1.0


@pytest.mark.parametrize("strategy, kwargs", [
    ("accuracy", {}), ("f_beta", {"beta": 2.0}), ("tpr_at_fpr", {"max_fpr": 0.05}),
])
def test_calibrate_threshold_is_optimal_among_all_thresholds(strategy, kwargs):
    pairs, y = _verification_data(2, n=300)
    kissme = KISSME().fit(pairs, y).calibrate_threshold(pairs, y, strategy=strategy, **kwargs)
    d = kissme.pair_distance(pairs)
    chosen = _criterion(strategy, kissme.predict(pairs), y, **kwargs)
    candidates = np.r_[-1.0, np.unique(d)]
    brute = max(_criterion(strategy, np.where(d <= t, 1, -1), y, **kwargs) for t in candidates)
    assert chosen == pytest.approx(brute)
    assert chosen > 0.5


def test_calibrate_threshold_bad_input_keeps_the_threshold():
    pairs, y = _verification_data(3)
    kissme = KISSME().fit(pairs, y)
    before = kissme.threshold_
    with pytest.raises(ValueError, match="strategy must be one of"):
        kissme.calibrate_threshold(pairs, y, strategy="auc")
    with pytest.raises(ValueError, match="both similar"):
        kissme.calibrate_threshold(pairs, np.ones_like(y))
    with pytest.raises(ValueError, match=r"pair labels in \{-1, \+1\}"):
        kissme.calibrate_threshold(pairs, (y + 1) // 2)
    assert kissme.threshold_ == before


def test_kissme_pairs_bad_input():
    pairs, y = _verification_data(4)
    with pytest.raises(ValueError, match=r"pair labels in \{-1, \+1\}.*\[0\]"):
        KISSME().fit(pairs, np.where(y == 1, 1, 0))
    with pytest.raises(ValueError, match="both similar"):
        KISSME().fit(pairs, np.ones(len(pairs)))
    with pytest.raises(ValueError, match=r"one label per pair"):
        KISSME().fit(pairs, y[:-1])
