"""MLKR (skdml/linear/mlkr.py): kNN regression, multi-output and numeric targets."""

import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsRegressor

from skdml.linear.mlkr import MLKR


def test_mlkr_beats_euclidean_knn_regression():
    rng = np.random.default_rng(0)
    X = np.hstack([rng.uniform(-2, 2, (400, 2)), rng.normal(0, 1.0, (400, 6))])
    y = np.sin(2 * X[:, 0]) + X[:, 1] + rng.normal(0, 0.05, 400)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, random_state=0)

    def mse(Z_tr, Z_te):
        pred = KNeighborsRegressor(5).fit(Z_tr, y_tr).predict(Z_te)
        return np.mean((pred - y_te) ** 2)

    euclidean = mse(X_tr, X_te)
    mlkr = MLKR(random_state=0).fit(X_tr, y_tr)
    learned = mse(mlkr.transform(X_tr), mlkr.transform(X_te))
    # The noise features dominate raw distances (Euclidean MSE about 0.58); the learned
    # metric must cut the kNN regression error at least threefold.
    assert learned <= euclidean / 3
    # and the learned weights sit on the two relevant features
    weights = np.linalg.norm(mlkr.components_, axis=0)
    assert weights[:2].min() > 3 * weights[2:].max()


def test_mlkr_multioutput_target():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 4))
    Y = np.column_stack([X[:, 0], X[:, 0] ** 2])
    mlkr = MLKR(n_components=2, random_state=0).fit(X, Y)
    weights = np.linalg.norm(mlkr.components_, axis=0)
    assert weights[0] > 3 * weights[1:].max()
    assert 0 <= mlkr.objective_ < 0.5


def test_mlkr_integer_target_is_a_number():
    X, y = load_iris(return_X_y=True)
    # integers are a legitimate numeric target (documented); no error
    assert MLKR(n_components=2).fit(X, y).components_.shape == (2, 4)


def test_mlkr_constant_target_is_harmless():
    X, _ = load_iris(return_X_y=True)
    mlkr = MLKR().fit(X, np.ones(len(X)))
    assert mlkr.objective_ < 1e-12
    assert np.all(np.isfinite(mlkr.components_))
