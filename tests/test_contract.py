"""The estimator contract of every linear learner: transform, pair distances, the callable
metric, the Mahalanobis matrix, pickling, Pipeline / GridSearchCV, and awkward data."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.datasets import load_iris, load_wine
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skdml.base import MahalanobisMixin

from .conftest import make_instance, public_estimators, target_for

LINEAR = [cls for cls in public_estimators() if issubclass(cls, MahalanobisMixin)]


def _wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def fitted():
    """Each linear learner fitted once on wine (labels as strings, to be awkward)."""
    X, y = _wine()
    labels = np.array(["barolo", "grignolino", "barbera"])[y]
    learners = {cls: make_instance(cls).fit(X, target_for(cls, labels)) for cls in LINEAR}
    return learners, X, labels


@pytest.mark.parametrize("cls", LINEAR, ids=lambda c: c.__name__)
def test_mahalanobis_matrix_is_psd_and_matches_components(fitted, cls):
    learners, X, _ = fitted
    est = learners[cls]
    L = est.components_
    M = est.get_mahalanobis_matrix()
    np.testing.assert_allclose(M, L.T @ L)
    np.testing.assert_allclose(M, M.T, atol=1e-10)
    assert np.linalg.eigvalsh(M).min() >= -1e-8 * max(1.0, np.abs(M).max())
    np.testing.assert_allclose(est.transform(X), X @ L.T)


@pytest.mark.parametrize("cls", LINEAR, ids=lambda c: c.__name__)
def test_pair_distance_is_the_embedding_distance(fitted, cls):
    learners, X, _ = fitted
    est = learners[cls]
    rng = np.random.default_rng(1)
    idx = rng.integers(0, len(X), size=(25, 2))
    pairs = X[idx]
    Z = est.transform(X)
    expected = np.linalg.norm(Z[idx[:, 0]] - Z[idx[:, 1]], axis=1)
    np.testing.assert_allclose(est.pair_distance(pairs), expected, atol=1e-10)
    np.testing.assert_allclose(est.pair_score(pairs), -expected, atol=1e-10)
    # The same pairs as indices into a dataset (no copy of the rows).
    np.testing.assert_allclose(est.pair_distance(idx, preprocessor=X), expected, atol=1e-10)
    M = est.get_mahalanobis_matrix()
    diff = pairs[:, 0] - pairs[:, 1]
    quad = np.einsum("ij,jk,ik->i", diff, M, diff)
    np.testing.assert_allclose(est.pair_distance(pairs) ** 2, quad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("cls", LINEAR, ids=lambda c: c.__name__)
def test_get_metric_in_knn_finds_the_embedding_neighbors(fitted, cls):
    learners, X, labels = fitted
    est = learners[cls]
    metric = pickle.loads(pickle.dumps(est.get_metric()))
    X_small = X[::4]
    knn_metric = KNeighborsClassifier(n_neighbors=3, metric=metric, algorithm="brute")
    knn_metric.fit(X_small, labels[::4])
    Z = est.transform(X_small)
    knn_embed = KNeighborsClassifier(n_neighbors=3).fit(Z, labels[::4])
    d1, i1 = knn_metric.kneighbors(X_small[:20])
    d2, i2 = knn_embed.kneighbors(Z[:20])
    np.testing.assert_allclose(d1, d2, atol=1e-8)
    np.testing.assert_array_equal(i1, i2)
    # Also with the (default) tree-based search, which calls the metric point by point.
    tree = KNeighborsClassifier(n_neighbors=3, metric=metric).fit(X_small, labels[::4])
    np.testing.assert_array_equal(tree.predict(X_small[:20]), knn_embed.predict(Z[:20]))


@pytest.mark.parametrize("cls", LINEAR, ids=lambda c: c.__name__)
def test_pickle_round_trip(fitted, cls):
    learners, X, _ = fitted
    est = learners[cls]
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone.transform(X), est.transform(X))


@pytest.mark.parametrize("cls", LINEAR, ids=lambda c: c.__name__)
def test_grid_search_over_pipeline(cls):
    X, y = load_iris(return_X_y=True)
    pipe = Pipeline([("learner", make_instance(cls)), ("knn", KNeighborsClassifier())])
    search = GridSearchCV(pipe, {"knn__n_neighbors": [1, 5]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.8
    assert search.predict(X).shape == (len(X),)


@pytest.mark.parametrize("cls", LINEAR, ids=lambda c: c.__name__)
def test_get_feature_names_out_and_set_output(cls):
    pd = pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True, as_frame=True)
    est = make_instance(cls).set_output(transform="pandas").fit(X, y)
    out = est.transform(X)
    assert isinstance(out, pd.DataFrame)
    prefix = cls.__name__.lower()
    assert list(out.columns) == [f"{prefix}{i}" for i in range(out.shape[1])]


# --------------------------------------------------------------------- awkward, legal data
def _awkward_datasets():
    rng = np.random.default_rng(0)
    X, y = load_iris(return_X_y=True)
    yield "string labels", X, np.array(["setosa", "versicolor", "virginica"])[y]
    yield "two members per class", X[[0, 1, 50, 51, 100, 101]], y[[0, 1, 50, 51, 100, 101]]
    constant = np.column_stack([X, np.full(len(X), 3.0), np.full(len(X), 1e8)])
    yield "constant features", constant, y
    yield "duplicated features", np.column_stack([X, X[:, :2]]), y
    collinear = np.column_stack([X, X[:, 0] + 2 * X[:, 1]])
    yield "collinear features", collinear, y
    wide = rng.normal(size=(12, 40))
    yield "d > n", wide, np.repeat([0, 1, 2], 4)
    scaled = X * np.array([1e-6, 1.0, 1e4, 1e8])
    yield "very different scales", scaled, y
    yield "duplicated samples", np.vstack([X, X]), np.r_[y, y]


@pytest.mark.parametrize("cls", LINEAR, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "name, X, y", [pytest.param(*case, id=case[0]) for case in _awkward_datasets()]
)
def test_awkward_but_legal_input_gives_a_finite_metric(cls, name, X, y):
    est = make_instance(cls).fit(X, target_for(cls, y))
    Z = est.transform(X)
    assert np.all(np.isfinite(Z)), name
    assert np.all(np.isfinite(est.get_mahalanobis_matrix()))
    assert est.components_.shape[1] == X.shape[1]
    assert np.abs(Z).max() > 0  # the metric did not collapse to zero


WHITENING = [cls for cls in LINEAR if cls.__name__ in {"Covariance", "LDA", "KISSME"}]


@pytest.mark.parametrize("cls", WHITENING, ids=lambda c: c.__name__)
def test_scale_invariant_learners_ignore_units(cls):
    """Whitening learners give the same distances whatever the units of each feature."""
    X, y = _wine()
    scale = np.logspace(-6, 6, X.shape[1])
    Z1 = make_instance(cls).fit(X, y).transform(X)
    Z2 = make_instance(cls).fit(X * scale, y).transform(X * scale)
    D1 = np.linalg.norm(Z1[:, None] - Z1[None], axis=-1)
    D2 = np.linalg.norm(Z2[:, None] - Z2[None], axis=-1)
    np.testing.assert_allclose(D1, D2, rtol=1e-5, atol=1e-6 * D1.max())


# --------------------------------------------------------------------------- metric axioms
_finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize("cls", LINEAR, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(points=arrays(np.float64, (3, 13), elements=_finite))
def test_metric_axioms(fitted, cls, points):
    est = fitted[0][cls]
    metric = est.get_metric()
    a, b, c = points
    d_ab, d_ba = metric(a, b), metric(b, a)
    assert d_ab >= 0
    assert d_ab == pytest.approx(d_ba, rel=1e-12, abs=1e-12)
    assert metric(a, a) == 0.0
    tol = 1e-9 * (1 + d_ab + metric(a, c) + metric(c, b))
    assert d_ab <= metric(a, c) + metric(c, b) + tol
    pairs = np.stack([points, points[[1, 2, 0]]], axis=1)
    np.testing.assert_array_equal(est.pair_distance(np.stack([points, points], axis=1)), 0.0)
    assert np.all(est.pair_distance(pairs) >= 0)


def _metrics_of(est):
    from skdml.base import EmbeddingDistance

    return [est.get_metric(), EmbeddingDistance(est)]


def test_callable_metric_checks_its_two_samples(fitted):
    from skdml.hashing import ITQ

    learners, X, labels = fitted
    itml = next(est for cls, est in learners.items() if cls.__name__ == "ITML")
    itq = ITQ(n_bits=8, random_state=0).fit(X, labels)
    for metric in _metrics_of(itml) + [itq.get_metric()]:
        d = metric(X[0], X[1])
        assert metric(X[0:1], X[1:2]) == d  # a (1, d) row is one sample
        assert metric(list(X[0]), tuple(X[1])) == d
        with pytest.raises(ValueError, match=r"v must be one sample of 13 features.*\(1,\)"):
            metric(X[0], [5.0])  # would broadcast against 13 features
        with pytest.raises(ValueError, match=r"u must be one sample of 13 features.*\(4, 13\)"):
            metric(X[0:4], X[1:5])
        with pytest.raises(ValueError, match="v must be one sample of 13 numbers"):
            metric(X[0], "abc")


@pytest.mark.parametrize("components", [[3.1], 2.0, np.zeros((0, 3)), np.ones((2, 2, 2))])
def test_mahalanobis_distance_refuses_components_that_are_not_a_matrix(components):
    from skdml.base import MahalanobisDistance

    with pytest.raises(ValueError, match="components must be a non-empty 2-D array"):
        MahalanobisDistance(components)
