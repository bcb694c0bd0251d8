"""LFDA (skdml/linear/lfda.py): real, finite, local directions, also on ties and duplicates."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skdml.linear.lda import LDA
from skdml.linear.lfda import LFDA

from .conftest import _knn_score


@pytest.mark.parametrize("embedding_type", ["weighted", "orthonormalized", "plain"])
def test_lfda_on_digits_is_real_and_finite(embedding_type):
    # metric-learn's LFDA raises "Complex data not supported" here (constant pixels make
    # the local within-class scatter singular).
    X, y = load_digits(return_X_y=True)
    lfda = LFDA(embedding_type=embedding_type).fit(X, y)
    assert np.isrealobj(lfda.components_)
    assert np.all(np.isfinite(lfda.components_))
    assert lfda.components_.shape == (lfda.n_components_, 64)
    assert np.all(np.diff(lfda.eigenvalues_) <= 1e-9)
    if embedding_type == "orthonormalized":
        L = lfda.components_
        np.testing.assert_allclose(L @ L.T, np.eye(L.shape[0]), atol=1e-10)


@pytest.mark.parametrize("k", [1, 3, 7, 50])
def test_lfda_on_features_with_few_distinct_values(k):
    # Three columns drawn from {0..3}, {0, 1}, {0, 1}: every sample has hundreds of
    # duplicates, so its k-th nearest neighbor is at distance 0. A zero local scale cut every
    # edge to the other points and left a zero within-class scatter (LinAlgError in eigh).
    rng = np.random.default_rng(0)
    X = np.c_[rng.integers(0, 4, 1760), rng.integers(0, 2, 1760), rng.integers(0, 2, 1760)]
    y = (X[:, 0] + rng.normal(0, 1, 1760) > 1.5).astype(int)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    lfda = LFDA(k=k).fit(X, y)
    assert np.all(np.isfinite(lfda.components_)) and np.all(np.isfinite(lfda.eigenvalues_))
    assert np.linalg.matrix_rank(lfda.components_) == 3


def test_lfda_classes_of_repeated_points():
    X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 5, axis=0)
    lfda = LFDA().fit(X, [0] * 5 + [1] * 5)
    Z = lfda.transform(X)
    assert np.all(np.isfinite(Z)) and np.ptp(Z[:5], axis=0).max() == 0
    assert np.linalg.norm(Z[0] - Z[5]) > 0


def test_lfda_keeps_multimodal_classes_apart():
    # Class 0 has two far-apart modes around class 1, with the same mean: LDA's global
    # criterion sees no between-class direction, LFDA's local one finds the axis of modes.
    rng = np.random.default_rng(0)
    modes = [rng.normal([-6, 0], 0.5, (60, 2)), rng.normal([6, 0], 0.5, (60, 2)),
             rng.normal([0, 0], 0.5, (60, 2))]
    X = np.hstack([np.vstack(modes), rng.normal(0, 3, (180, 3))])
    y = np.r_[np.zeros(120), np.ones(60)].astype(int)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    lfda = LFDA(n_components=1).fit(X_tr, y_tr)
    lda = LDA(n_components=1).fit(X_tr, y_tr)
    local = _knn_score(lfda.transform(X_tr), y_tr, lfda.transform(X_te), y_te)
    global_ = _knn_score(lda.transform(X_tr), y_tr, lda.transform(X_te), y_te)
    assert local >= 0.97
    assert local >= global_ + 0.15
    assert np.argmax(np.abs(lfda.components_[0])) == 0
