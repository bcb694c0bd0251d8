"""MMDML and the image-set data: the loss by hand, the set input forms, the contract."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skdml._datasets_deep import make_digits_image_sets
from skdml.deep import MetricLoss
from skdml.deep.distances import CosineSimilarity, LpDistance
from skdml.deep.mmdml import MMDML, ManifoldMarginLoss
from skdml.deep.reducers import ThresholdReducer


@pytest.fixture(scope="module")
def image_sets():
    sets, y = make_digits_image_sets(n_sets_per_class=4, set_size=(1, 6), random_state=0)
    sets = [s / 16 for s in sets]
    keep = np.isin(y, [0, 1, 2, 3])  # four classes keep the tests fast
    return [s for s, k in zip(sets, keep) if k], y[keep]


def small(**params):
    return MMDML(**{**dict(hidden_sizes=(8,), max_epochs=3, batch_size=32, random_state=0),
                    **params})


def _hand_terms(X, Z, y, k1, k2, beta, margin, anchor_label,
                d=lambda u, v: np.sum((u - v) ** 2)):
    terms = []
    for i in range(len(y)):
        if anchor_label is not None and y[i] != anchor_label:
            continue
        groups = []
        for group, k in (([j for j in range(len(y)) if j != i and y[j] == y[i]], k1),
                         ([j for j in range(len(y)) if y[j] != y[i]], k2)):
            near = sorted(group, key=lambda j: np.sum((X[i] - X[j]) ** 2))[:k]
            groups.append([d(Z[i], Z[j]) for j in near])
        if groups[0] and groups[1]:
            z = margin + np.mean(groups[0]) - np.mean(groups[1])
            terms.append(np.log1p(np.exp(beta * z)) / beta)
    return np.array(terms)


def _hand_loss(*args):
    return np.mean(_hand_terms(*args))


@pytest.mark.parametrize("anchor_label", [None, 1])
@pytest.mark.parametrize("k1, k2", [(1, 1), (2, 3)])
def test_loss_matches_hand_computation(k1, k2, anchor_label):
    rng = np.random.default_rng(0)
    X, Z = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    loss = ManifoldMarginLoss(k1=k1, k2=k2, beta=1.5, margin=0.7, anchor_label=anchor_label)
    X_t, y_t = torch.tensor(X), torch.tensor(y)
    got = float(loss(torch.tensor(Z), y_t, loss.pairs(X_t, y_t)))
    assert got == pytest.approx(_hand_loss(X, Z, y, k1, k2, 1.5, 0.7, anchor_label), rel=1e-10)


def test_loss_is_a_metric_loss_with_a_distance_and_a_reducer():
    rng = np.random.default_rng(1)
    X, Z = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    X_t, Z_t, y_t = torch.tensor(X), torch.tensor(Z), torch.tensor(y)
    loss = ManifoldMarginLoss(k1=2, k2=3, beta=1.5, margin=0.7, distance=LpDistance(p=1))
    assert isinstance(loss, MetricLoss) and loss.tuple_kind is None
    assert ManifoldMarginLoss().distance == LpDistance(power=2)
    terms = _hand_terms(X, Z, y, 2, 3, 1.5, 0.7, None, lambda u, v: np.abs(u - v).sum())
    got = float(loss(Z_t, y_t, loss.pairs(X_t, y_t)))
    assert got == pytest.approx(terms.mean(), rel=1e-10)
    # a reducer over the anchors' terms: the mean of those above 0.5
    kept = ManifoldMarginLoss(k1=2, k2=3, beta=1.5, margin=0.7, distance=LpDistance(p=1),
                              reducer=ThresholdReducer(low=0.5))
    assert 0 < (terms > 0.5).sum() < len(terms)
    assert float(kept(Z_t, y_t, kept.pairs(X_t, y_t))) == pytest.approx(
        terms[terms > 0.5].mean(), rel=1e-10)
    with pytest.raises(ValueError, match="ManifoldMarginLoss needs a distance"):
        ManifoldMarginLoss(distance=CosineSimilarity())
    with pytest.raises(ValueError, match="beta must be > 0"):
        ManifoldMarginLoss(beta=0.0)


def test_loss_skips_anchors_without_own_manifold_neighbors():
    X = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    Z = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64, requires_grad=True)
    loss = ManifoldMarginLoss(k1=1, k2=1, anchor_label=1)
    y = torch.tensor([0, 0, 1])
    out = loss(Z, y, loss.pairs(X, y))  # the single class-1 vector has no partner
    assert float(out.detach()) == 0.0
    out.backward()  # still part of the graph
    assert torch.equal(Z.grad, torch.zeros_like(Z))


def test_fit_predict_score_and_classes(image_sets):
    sets, y = image_sets
    model = small(max_epochs=15).fit(sets, y)
    assert model.classes_.tolist() == [0, 1, 2, 3]
    assert len(model.networks_) == 4 and model.n_features_in_ == 64 and model.n_iter_ == 15
    D = model.manifold_distances(sets)
    assert D.shape == (len(sets), 4) and np.all(D >= 0)
    np.testing.assert_array_equal(model.predict(sets), model.classes_[D.argmin(1)])
    # every training vector is in its own manifold's references: distance 0 to its class
    np.testing.assert_allclose(D[np.arange(len(sets)), y], 0.0, atol=1e-6)
    assert model.score(sets, y) == 1.0
    assert len(small(shared=True).fit(sets, y).networks_) == 1


def test_manifold_distance_by_hand(image_sets):
    sets, y = image_sets
    model = small().fit(sets, y)
    query = [sets[0], sets[5][:1]]
    pool = np.vstack(sets)
    owner = np.repeat(y, [len(s) for s in sets])
    D = model.manifold_distances(query)
    for c in range(4):
        net = model.networks_[c]
        R = net.transform(pool[owner == c].astype(np.float32)).astype(np.float64)
        for q, s in enumerate(query):
            Z = net.transform(s.astype(np.float32)).astype(np.float64)
            expected = np.mean([np.min(np.linalg.norm(R - z, axis=1)) for z in Z])
            assert D[q, c] == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_input_forms_sets_of_size_one_and_unequal_sizes(image_sets):
    sets, y = image_sets
    sizes = {len(s) for s in sets}
    assert 1 in sizes and len(sizes) > 2  # the fixture has singletons and unequal sizes
    model = small().fit(sets, y)
    expected = model.predict(sets)
    as_objects = np.empty(len(sets), dtype=object)
    as_objects[:] = sets
    np.testing.assert_array_equal(model.predict(as_objects), expected)
    np.testing.assert_array_equal(model.predict(tuple(sets)), expected)
    # a 1-D vector in the list is a set of one; a 2-D array is n sets of one vector
    rows = np.vstack([s[:1] for s in sets])
    np.testing.assert_array_equal(model.predict(list(rows)), model.predict(rows))
    # equal-sized sets as a 3-D array
    cube = np.stack([np.vstack([s, s])[:2] for s in sets])
    np.testing.assert_array_equal(model.predict(cube), model.predict(list(cube)))
    # fit on single vectors only (every set of size one)
    assert small().fit(rows, y).predict(rows).shape == (len(rows),)


@pytest.mark.parametrize("bad, match", [
    ([], "at least one set"),
    ("abc", "expects a list of sets"),
    ([np.zeros((0, 64))], "non-empty 2-D array"),
    ([np.ones((2, 64)), np.ones((3, 5))], "set 1 has 5 features, but set 0 has 64"),
    ([np.ones((2, 64)), np.full((3, 64), np.nan)], "set 1 contains NaN"),
    ([np.ones((2, 2, 2))], "set 0 must be a non-empty 2-D array"),
    (np.ones((2, 3, 4, 5)), "got an array of shape"),
    ([["a", "b"]], "set 0 is not a numeric array"),
])
def test_bad_sets_are_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        small().fit(bad, np.zeros(len(bad)))


def test_bad_labels_and_predict_input(image_sets):
    sets, y = image_sets
    with pytest.raises(ValueError, match="one label per set"):
        small().fit(sets, y[:-1])
    with pytest.raises(ValueError, match="requires y"):
        small().fit(sets, None)
    with pytest.raises(ValueError, match="at least 2 distinct classes"):
        small().fit(sets, np.zeros(len(sets)))
    model = small().fit(sets, y)
    before = model.manifold_distances(sets[:3])
    with pytest.raises(ValueError, match="the fitted model expects 64"):
        model.predict([np.ones((2, 10))])
    with pytest.raises(ValueError):
        model.fit(sets, y[:-1])
    np.testing.assert_array_equal(model.manifold_distances(sets[:3]), before)


def test_string_labels(image_sets):
    sets, y = image_sets
    names = np.array(["zero", "one", "two", "three"])
    model = small().fit(sets, names[y])
    assert set(model.predict(sets)) <= set(names)
    np.testing.assert_array_equal(model.predict(sets), names[small().fit(sets, y).predict(sets)])


def test_deterministic_clone_pickle_grid_search(image_sets):
    sets, y = image_sets
    a = small().fit(sets, y).manifold_distances(sets)
    b = small().fit(sets, y).manifold_distances(sets)
    np.testing.assert_array_equal(a, b)
    model = small().fit(sets, y)
    assert clone(model).get_params() == small().get_params()
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.manifold_distances(sets), a)
    search = GridSearchCV(small(), {"k1": [1, 3]}, cv=2, error_score="raise").fit(sets, y)
    assert search.best_params_["k1"] in (1, 3)
    assert search.predict(sets[:2]).shape == (2,)


def test_per_class_networks_separate_easy_sets():
    # well separated classes: the learned manifolds classify unseen sets
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3.0, size=(3, 5))

    def draw(n):
        y = np.repeat(np.arange(3), n)
        return [centers[c] + rng.normal(size=(rng.integers(1, 6), 5)) for c in y], y

    train, y_train = draw(6)
    test, y_test = draw(4)
    assert small(max_epochs=10, hidden_sizes=(8, 4)).fit(train, y_train).score(
        test, y_test) >= 0.9


def test_image_set_data():
    sets, y = make_digits_image_sets(n_sets_per_class=3, set_size=(2, 5), random_state=1)
    again, y2 = make_digits_image_sets(n_sets_per_class=3, set_size=(2, 5), random_state=1)
    assert len(sets) == 30 and y.tolist() == y2.tolist() == np.repeat(np.arange(10), 3).tolist()
    assert all(2 <= len(s) <= 5 and s.shape[1] == 64 for s in sets)
    assert all(np.array_equal(a, b) for a, b in zip(sets, again))
    assert min(s.min() for s in sets) >= 0 and max(s.max() for s in sets) <= 16
    sizes = {len(s) for s in make_digits_image_sets(random_state=0)[0]}
    assert len(sizes) > 3  # varying sizes
    from sklearn.datasets import load_digits
    X, labels = load_digits(return_X_y=True)
    _, ys = make_digits_image_sets(X[labels < 2], labels[labels < 2], n_sets_per_class=2,
                                   random_state=0)
    assert ys.tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("kwargs, match", [
    ({"set_size": (0, 3)}, "set_size must satisfy"),
    ({"set_size": 3}, "set_size must be a pair"),
    ({"max_shift": 9}, "max_shift must be an integer"),
    ({"contrast": (0, 1)}, "contrast must be a range"),
    ({"blur": (2, 1)}, "blur must be a range"),
    ({"noise": -1}, "noise must be a finite number"),
    ({"n_sets_per_class": 0}, "n_sets_per_class must be an integer"),
    ({"X": np.ones((4, 10)), "y": [0, 0, 1, 1]}, "64 features"),
    ({"X": np.ones((4, 64))}, "X was given without y"),
])
def test_image_set_data_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_digits_image_sets(**kwargs)
