"""LMNN: objective and gradient against a brute-force twin, learning, awkward and bad input."""

import itertools
import warnings

import numpy as np
import pytest

# Short fits (max_iter of a few iterations) are deliberate here.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdml.linear import lmnn as lmnn_module
from skdml.linear.lmnn import LMNN, _Objective, _target_neighbors


def brute_force_loss(L, X, y, targets, mu, n_impostors=None):
    """The LMNN objective by explicit loops over every triplet (the formula of the paper);
    with ``n_impostors``, over each sample's that many nearest other-class samples only
    (mlpack's definition: nearest whether inside the margin or not)."""
    Z = X @ L.T
    pull = push = 0.0
    for i, row in enumerate(targets):
        others = np.flatnonzero(y != y[i])
        d_il = np.sum((Z[others] - Z[i]) ** 2, axis=1)
        nearest = np.argsort(d_il, kind="stable")[:n_impostors]
        for j in row[row >= 0]:
            d_ij = np.sum((Z[i] - Z[j]) ** 2)
            pull += d_ij
            push += np.maximum(0.0, 1.0 + d_ij - d_il[nearest]).sum()
    return (1 - mu) * pull + mu * push


def all_triplets(X, y, targets):
    for i, row in enumerate(targets):
        for j in row[row >= 0]:
            for l in np.flatnonzero(y != y[i]):
                yield i, j, l


def knn_score(Z_train, y_train, Z_test, y_test):
    return KNeighborsClassifier(n_neighbors=3).fit(Z_train, y_train).score(Z_test, y_test)


@pytest.fixture
def square():
    """Two classes on the corners of a 1 x 3 rectangle: each sample's target neighbor is 3
    away along the second axis, its nearest impostor 1 away along the first."""
    X = np.array([[0.0, 0.0], [0.0, 3.0], [1.0, 0.0], [1.0, 3.0]])
    y = np.array([0, 0, 1, 1])
    return X, y


def test_tiny_problem_hand_checked(square):
    X, y = square
    targets = _target_neighbors(X, y, 1, np.array([0, 1]))
    np.testing.assert_array_equal(targets.ravel(), [1, 0, 3, 2])
    # At L = I: pull = 4 * 9; each anchor has one active triplet, with the impostor beside
    # it (1 + 9 - 1 = 9); the diagonal impostor sits exactly on the margin (1 + 9 - 10 = 0).
    objective = _Objective(X, y, targets, 0.5)
    objective.refresh(np.eye(2))
    value, _ = objective.evaluate(np.eye(2))
    assert value == pytest.approx(0.5 * 36 + 0.5 * 36)
    assert objective.n_active == 4
    assert brute_force_loss(np.eye(2), X, y, targets, 0.5) == pytest.approx(36.0)

    lmnn = LMNN(n_neighbors=1, init="identity").fit(X, y)
    L = lmnn.components_
    final = brute_force_loss(L, X, y, targets, 0.5)
    assert final < 0.05 * 36.0
    # The learned map stretches the first axis and shrinks the second ...
    assert abs(L[:, 0]).max() > 0.9 and abs(L[:, 1]).max() < 0.1
    # ... and every triplet now holds its unit margin (up to the small pull left).
    Z = lmnn.transform(X)
    for i, j, l in all_triplets(X, y, targets):
        d_ij, d_il = np.sum((Z[i] - Z[j]) ** 2), np.sum((Z[i] - Z[l]) ** 2)
        assert d_il >= d_ij + 1.0 - 1e-2


@pytest.mark.parametrize("solver", ["lbfgs", "gd"])
def test_loss_decreases(solver):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    targets = _target_neighbors(X, y, 3, np.unique(y))
    lmnn = LMNN(init="identity", solver=solver, max_iter=300).fit(X, y)
    before = brute_force_loss(np.eye(4), X, y, targets, 0.5)
    after = brute_force_loss(lmnn.components_, X, y, targets, 0.5)
    assert after < 0.7 * before


@pytest.mark.parametrize("n_impostors", [None, 1, 4])
@pytest.mark.parametrize("n_components", [2, 5])
def test_gradient_matches_finite_differences(n_components, n_impostors):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 5))
    y = rng.integers(0, 3, 24)
    targets = _target_neighbors(X, y, 3, np.arange(3))
    L = 0.5 * rng.standard_normal((n_components, 5))
    objective = _Objective(X, y, targets, 0.3, n_impostors)
    objective.refresh(L)
    value, grad = objective.evaluate(L)
    loss = lambda L: brute_force_loss(L, X, y, targets, 0.3, n_impostors)
    # The active set holds every active impostor: the value is the exact objective.
    assert value == pytest.approx(loss(L), rel=1e-12)
    if n_impostors is not None:  # some sample has more impostors than n_impostors
        assert loss(L) < brute_force_loss(L, X, y, targets, 0.3)
    eps = 1e-6
    numeric = np.zeros_like(L)
    for idx in itertools.product(*map(range, L.shape)):
        step = np.zeros_like(L)
        step[idx] = eps
        numeric[idx] = (loss(L + step) - loss(L - step)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


def test_beats_euclidean_with_noise_features():
    # Wine with 10 irrelevant features three times as spread as the real ones: the raw
    # metric is poor (3-NN about 0.57), LMNN must recover at least 0.25 of accuracy.
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    rng = np.random.default_rng(0)
    X = np.hstack([X, 3.0 * rng.standard_normal((len(X), 10))])
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, random_state=0, stratify=y
    )
    euclidean = knn_score(X_train, y_train, X_test, y_test)
    lmnn = LMNN().fit(X_train, y_train)
    learned = knn_score(lmnn.transform(X_train), y_train, lmnn.transform(X_test), y_test)
    assert euclidean < 0.7
    assert learned >= euclidean + 0.25
    assert learned >= 0.9


def test_end_check_restarts_on_new_impostors(monkeypatch, capsys):
    # Without a safety margin and without in-run refreshes, impostors outside the active
    # set appear as L moves; the check at the end must find them and restart, so that the
    # objective the solver last saw is the exact one.
    monkeypatch.setattr(lmnn_module, "_SAFETY", 1.0)
    monkeypatch.setattr(lmnn_module, "_REFRESH_EVERY", 10**6)
    created = []

    class Recorded(_Objective):
        def __init__(self, *args):
            super().__init__(*args)
            created.append(self)

    monkeypatch.setattr(lmnn_module, "_Objective", Recorded)
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    lmnn = LMNN(init="random", random_state=0, verbose=1, max_iter=500).fit(X, y)
    out = capsys.readouterr().out
    assert "outside the active set at the end" in out
    assert "converged after" in out
    targets = _target_neighbors(X, y, 3, np.unique(y))
    seen, _ = created[0].evaluate(lmnn.components_)
    exact = brute_force_loss(lmnn.components_, X, y, targets, 0.5)
    assert seen == pytest.approx(exact, rel=1e-10)


def test_verbose_progress(capsys):
    X, y = load_iris(return_X_y=True)
    LMNN(verbose=1, max_iter=5).fit(X, y)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[LMNN]")]
    # the linear learners' one format: [LMNN] iteration k  objective f  ...  time t
    assert lines[0].split()[1:3] == ["iteration", "1"]
    assert "objective" in lines[0] and "impostors" in lines[0] and "time" in lines[0]
    assert lines[1].split()[2] == "2"


def test_string_labels_give_the_same_metric():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    by_int = LMNN(max_iter=30).fit(X, y)
    by_name = LMNN(max_iter=30).fit(X, names)
    np.testing.assert_allclose(by_name.components_, by_int.components_)
    np.testing.assert_array_equal(by_name.classes_, names[[0, 50, 100]])


def test_classes_with_two_members():
    X, y = load_iris(return_X_y=True)
    keep = np.r_[0:50, 50:52, 100:102]  # two classes of two samples each
    with pytest.warns(UserWarning, match="fewer than 4 samples"):
        lmnn = LMNN(n_neighbors=3).fit(X[keep], y[keep])
    assert np.all(np.isfinite(lmnn.components_))
    assert lmnn.transform(X).shape == (150, 4)


def test_singleton_class_is_an_impostor_only():
    X, y = load_iris(return_X_y=True)
    keep = np.r_[0:50, 50:100, 100]
    with pytest.warns(UserWarning, match="fewer than 4 samples \\(2: 1\\)"):
        lmnn = LMNN().fit(X[keep], y[keep])
    assert np.all(np.isfinite(lmnn.components_))


def test_constant_and_duplicated_features():
    X, y = load_iris(return_X_y=True)
    X = np.hstack([X, np.full((150, 1), 7.0), X[:, :2]])
    lmnn = LMNN().fit(X, y)
    assert np.all(np.isfinite(lmnn.components_))
    Z = lmnn.transform(X)
    assert np.all(np.isfinite(Z))
    assert knn_score(Z, y, Z, y) > 0.95


def test_more_features_than_samples():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 50))
    y = np.repeat([0, 1], 10)
    X[y == 1, 0] += 3.0
    lmnn = LMNN(n_neighbors=2).fit(X, y)
    assert lmnn.components_.shape == (50, 50)
    assert np.all(np.isfinite(lmnn.transform(X)))
    # n_components below the rank, and the other inits, work as well.
    for init in ["identity", "random", "lda"]:
        n_components = 1 if init == "lda" else 5
        model = LMNN(n_components=n_components, init=init, random_state=0).fit(X, y)
        assert model.transform(X).shape == (20, n_components)


def test_init_array_and_n_components():
    X, y = load_iris(return_X_y=True)
    init = np.eye(2, 4)
    lmnn = LMNN(init=init, max_iter=20).fit(X, y)
    assert lmnn.components_.shape == (2, 4)
    assert lmnn.n_components_ == 2
    np.testing.assert_array_equal(init, np.eye(2, 4))  # the parameter is not modified


def test_random_init_is_reproducible():
    X, y = load_iris(return_X_y=True)
    a = LMNN(init="random", random_state=3, max_iter=20).fit(X, y).components_
    b = LMNN(init="random", random_state=3, max_iter=20).fit(X, y).components_
    np.testing.assert_array_equal(a, b)


def test_float32_input():
    X, y = load_iris(return_X_y=True)
    lmnn = LMNN(max_iter=20).fit(X.astype(np.float32), y)
    assert lmnn.transform(X.astype(np.float32)).dtype == np.float32


def test_convergence_warning_at_max_iter():
    X, y = load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        lmnn = LMNN(max_iter=1).fit(X, y)
    assert lmnn.n_iter_ == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        lmnn = LMNN().fit(X, y)
    assert 1 < lmnn.n_iter_ < 200


def test_in_a_grid_search():
    X, y = load_iris(return_X_y=True)
    model = make_pipeline(LMNN(max_iter=30), KNeighborsClassifier(n_neighbors=3))
    search = GridSearchCV(model, {"lmnn__n_neighbors": [1, 3]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.9


@pytest.mark.parametrize(
    "params, y_kind, match",
    [
        ({"n_neighbors": 2.5}, "ok", "n_neighbors"),
        ({"n_neighbors": 0}, "ok", "n_neighbors"),
        ({"regularization": 1.5}, "ok", "regularization"),
        ({"init": "bogus"}, "ok", "init"),
        ({"init": np.eye(3)}, "ok", "shape \\(3, 3\\)"),
        ({"init": np.eye(2, 4), "n_components": 3}, "ok", "does not match init"),
        ({"init": "lda", "n_components": 3}, "ok", "at most n_classes - 1 = 2"),
        ({"n_components": 5}, "ok", "n_components=5"),
        ({}, "single", "at least 2 distinct classes"),
        ({}, "continuous", "continuous"),
        ({}, "singletons", "single sample"),
    ],
)
def test_bad_input_leaves_fitted_state_unchanged(params, y_kind, match):
    X, y = load_iris(return_X_y=True)
    lmnn = LMNN(max_iter=20).fit(X, y)
    state = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in vars(lmnn).items()}
    bad_y = {
        "ok": y,
        "single": np.zeros(150, dtype=int),
        "continuous": np.linspace(0.0, 1.0, 150),
        "singletons": np.arange(150),
    }[y_kind]
    lmnn.set_params(**params)
    with pytest.raises(ValueError, match=match):
        lmnn.fit(X, bad_y)
    assert vars(lmnn).keys() == state.keys()
    for key, value in state.items():
        if key in params:
            continue
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(lmnn, key), value)
        else:
            assert getattr(lmnn, key) == value


def test_features_of_very_different_scales():
    X, y = load_iris(return_X_y=True)
    X = X * np.array([1e6, 1.0, 1e-6, 1.0])
    euclidean = knn_score(X, y, X, y)
    lmnn = LMNN().fit(X, y)
    Z = lmnn.transform(X)
    assert np.all(np.isfinite(Z))
    assert knn_score(Z, y, Z, y) >= euclidean + 0.05
