"""Helpers and fixtures shared by several test files of tests/linear."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier


def _knn_score(Z_train, y_train, Z_test, y_test):
    return KNeighborsClassifier(3).fit(Z_train, y_train).score(Z_test, y_test)


_knn = _knn_score  # the name the weakly supervised tests use


def _pdist(Z):
    return np.linalg.norm(Z[:, None] - Z[None], axis=-1)


def _noisy_classes(seed=0, n=240, n_noise=20):
    """3 classes that are well apart in 2 features, drowned by 20 loud noise features."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    angles = 2 * np.pi * y / 3
    signal = np.column_stack([np.cos(angles), np.sin(angles)]) * 2 + rng.normal(0, 0.4, (n, 2))
    noise = rng.normal(0, 2.0, (n, n_noise))
    return np.hstack([signal, noise]), y


def _noisy_iris(n_noise=8, noise_scale=3.0, seed=0):
    """Iris with high-variance irrelevant features: Euclidean kNN suffers."""
    X, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(seed)
    X = np.column_stack([X, noise_scale * rng.normal(size=(len(X), n_noise))])
    return train_test_split(X, y, test_size=0.4, random_state=seed, stratify=y)


@pytest.fixture(scope="module")
def noisy():
    """Wine with 10 noise features of large variance: Euclidean 3-NN is poor (about 0.65)."""
    X, y = load_wine(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    rng = np.random.default_rng(0)
    X = np.column_stack([X, 4.0 * rng.normal(size=(len(X), 10))])
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.4, random_state=0, stratify=y
    )
    base = _knn(X_train, y_train, X_test, y_test)
    return X_train, X_test, y_train, y_test, base


def _fitted(cls):
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # RCA: 150 samples, < 100 chunklets
        return cls(random_state=0).fit(X, y), X, y
