"""MMDML and the image-set data: the loss by hand, the neighbourhoods the sets shape, the
decision, the set input forms, accuracy against the set baselines, the contract."""

import copy
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split

from skdml._datasets_deep import make_digits_image_sets
from skdml.deep import MetricLoss
from skdml.deep.distances import CosineSimilarity, LpDistance
from skdml.deep.mmdml import MMDML, ManifoldMarginLoss, _manifold_neighbors
from skdml.deep.reducers import ThresholdReducer


@pytest.fixture(scope="module")
def image_sets():
    sets, y = make_digits_image_sets(n_sets_per_class=4, set_size=(1, 6), random_state=0)
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
    scores = model.decision_function(query)
    assert model.input_scale_ == pytest.approx(np.sqrt(pool.var(axis=0).mean()))

    def f(c, V):  # the network of class c (in float64) on vectors scaled as the model does
        module = copy.deepcopy(model.networks_[c].module_).double()
        with torch.no_grad():
            return module(torch.from_numpy(V / model.input_scale_)).numpy()

    def set_to(Z, R):
        return np.mean([np.min(np.linalg.norm(R - z, axis=1)) for z in Z])

    for c in range(4):
        for q, s in enumerate(query):
            Z = f(c, s)
            assert D[q, c] == pytest.approx(set_to(Z, f(c, pool[owner == c])), rel=1e-9,
                                            abs=1e-7)
            margin = set_to(Z, f(c, pool[owner != c])) - D[q, c]
            assert scores[q, c] == pytest.approx(margin, rel=1e-9, abs=1e-7)
    np.testing.assert_array_equal(model.predict(query), model.classes_[scores.argmax(1)])


def _brute_neighbors(X, labels, owner, anchors, k1, k2, other_sets):
    intra, inter = set(), set()
    for i in anchors:
        mates = [j for j in range(len(X)) if labels[j] == labels[i] and j != i]
        if other_sets and len({owner[j] for j in mates} | {owner[i]}) > 1:
            mates = [j for j in mates if owner[j] != owner[i]]
        others = [j for j in range(len(X)) if labels[j] != labels[i]]

        def near(group, k, i=i):
            return sorted(group, key=lambda j: (np.sum((X[i] - X[j]) ** 2), j))[:k]

        intra |= {(i, j) for j in near(mates, k1)}
        inter |= {(i, j) for j in near(others, k2)}
    return intra, inter


@pytest.mark.parametrize("other_sets", [True, False])
def test_neighborhoods_come_from_the_other_sets_of_the_class(other_sets):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(22, 3))
    labels = np.repeat([0, 1, 2], [9, 6, 7])
    # class 0: three sets; class 1: a single set (its own set is all there is); class 2:
    # seven sets of one vector (the 2-D input form)
    owner = np.concatenate([[0, 0, 0, 1, 1, 2, 2, 2, 2], np.full(6, 3), np.arange(4, 11)])
    for anchors in (np.arange(22), np.flatnonzero(labels == 0)):
        intra, inter = _manifold_neighbors(X, labels, owner, anchors, 3, 4, other_sets)
        assert intra.shape[0] == inter.shape[0] == 2
        assert ({tuple(p) for p in intra.T}, {tuple(p) for p in inter.T}) == \
            _brute_neighbors(X, labels, owner, anchors, 3, 4, other_sets)
    intra, _ = _manifold_neighbors(X, labels, owner, np.arange(22), 3, 4, other_sets)
    same_set = owner[intra[0]] == owner[intra[1]]
    # with other_sets, only class 1 (one set) pairs within a set
    assert set(labels[intra[0][same_set]]) == ({1} if other_sets else {0, 1})


def test_networks_train_on_the_neighborhoods_of_their_manifold(image_sets):
    sets, y = image_sets
    owner = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    labels = y[owner]
    model = small().fit(sets, y)
    for c, net in enumerate(model.networks_):
        intra, inter = net.neighbors
        assert set(labels[intra[0]]) == set(labels[inter[0]]) == {c}  # its class's anchors
        assert np.all(labels[intra[1]] == c) and np.all(labels[inter[1]] != c)
        assert np.all(owner[intra[0]] != owner[intra[1]])  # from the class's other sets
        assert net.standardize is False  # one scaling, the model's, for every network
    pooled = small(intra_neighbors="class").fit(sets, y)
    intra = np.concatenate([net.neighbors[0] for net in pooled.networks_], axis=1)
    assert np.any(owner[intra[0]] == owner[intra[1]])
    shared = small(shared=True).fit(sets, y)
    assert len(shared.networks_) == 1
    assert set(shared.networks_[0].neighbors[0][0]) == set(range(len(labels)))


def _hand_batch_loss(Z, rows, neighbors, beta, margin):
    """The mean of g(margin + D_1 - D_2) over the anchors whose whole neighbourhood is in
    ``rows`` (global indices of the batch)."""
    present = set(rows.tolist())
    terms = []
    for a in sorted(set(neighbors[0][0]) & present):
        hoods = [pairs[1][pairs[0] == a] for pairs in neighbors]
        if not all(set(h) <= present for h in hoods):
            continue
        d1, d2 = (np.mean([np.sum((Z[a] - Z[j]) ** 2) for j in h]) for h in hoods)
        terms.append(np.logaddexp(0, beta * (margin + d1 - d2)) / beta)
    return np.mean(terms)


def test_a_batch_loss_is_that_of_its_whole_neighborhoods(image_sets):
    sets, y = image_sets
    model = small(margin=0.3).fit(sets, y)
    net = model.networks_[1]
    X = (np.vstack(sets) / model.input_scale_).astype(np.float32)
    labels = y[np.repeat(np.arange(len(sets)), [len(s) for s in sets])]
    with torch.no_grad():
        Z = net.module_(torch.from_numpy(X)).double()
    anchor = net.neighbors[0][0][0]
    hood = np.unique(np.concatenate([[anchor]] + [p[1][p[0] == anchor] for p in net.neighbors]))
    for rows in (np.arange(len(X)), hood, np.union1d(hood, [0, 1, 2])):
        target = torch.from_numpy(np.column_stack([labels[rows], rows]))
        got = float(net._batch_loss(Z[rows], target, None, training=True))
        expected = _hand_batch_loss(Z.numpy(), rows, net.neighbors, 2.0, 0.3)
        assert got == pytest.approx(expected, rel=1e-10)


def _digit_image_sets(seed, n_classes=5):
    X, y = load_digits(return_X_y=True)
    keep = y < n_classes
    Xa, Xb, ya, yb = train_test_split(X[keep], y[keep], test_size=0.5, stratify=y[keep],
                                      random_state=seed)
    train = make_digits_image_sets(Xa, ya, n_sets_per_class=4, set_size=(2, 6),
                                   random_state=seed)
    test = make_digits_image_sets(Xb, yb, n_sets_per_class=20, set_size=(2, 6),
                                  random_state=seed + 100)
    return train, test


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mmdml_beats_the_set_baselines_on_digit_image_sets(seed):
    # five digits, 4 training sets per class and 20 test sets of 2 to 6 images, each set
    # under its own blur and contrast, training and test images disjoint
    (train, y_train), (test, y_test) = _digit_image_sets(seed)
    means = np.array([s.mean(0) for s in train])
    nearest_mean = y_train[np.argmin(
        [np.linalg.norm(means - s.mean(0), axis=1) for s in test], axis=1)]
    pool = np.vstack(train)
    owner = np.repeat(y_train, [len(s) for s in train])
    to_class = [[np.linalg.norm(s[:, None] - pool[owner == c], axis=2).min(1).mean()
                 for c in range(5)] for s in test]
    nearest_vector = np.argmin(to_class, axis=1)
    baseline = max(np.mean(nearest_mean == y_test), np.mean(nearest_vector == y_test))
    model = MMDML(max_epochs=20, random_state=seed).fit(train, y_train)
    assert model.score(test, y_test) >= baseline + 0.03


def test_a_set_of_one_vector_is_measured_against_the_manifolds(image_sets):
    sets, y = image_sets
    model = small(max_epochs=5).fit(sets, y)
    vectors = np.vstack(sets)
    labels = y[np.repeat(np.arange(len(sets)), [len(s) for s in sets])]
    singles = [v[None, :] for v in vectors]
    # a training vector alone lies on its class's manifold: distance 0, and its class wins
    D = model.manifold_distances(singles)
    np.testing.assert_allclose(D[np.arange(len(vectors)), labels], 0.0, atol=1e-6)
    np.testing.assert_array_equal(model.predict(singles), labels)
    # a set of one is the 1-D, the (1, d) and the 2-D-array row form alike
    new = vectors[:4] + 0.5
    np.testing.assert_array_equal(model.decision_function(list(new)),
                                  model.decision_function(new))
    np.testing.assert_array_equal(model.decision_function([new[0]]),
                                  model.decision_function(new[:1]))


def test_a_class_with_one_training_vector_is_legal_and_warned(image_sets):
    sets, y = image_sets
    lonely = [s for s, c in zip(sets, y) if c != 3] + [sets[-1][:1]]
    labels = np.append(y[y != 3], 3)
    with pytest.warns(UserWarning, match=r"class \[3\] has a single training vector"):
        model = small().fit(lonely, labels)
    # its network learned nothing, yet its one vector lies on its manifold: class 3
    assert all(row["train_loss"] == 0.0 for row in model.networks_[3].history_)
    assert model.predict([sets[-1][:1]]).tolist() == [3]
    assert model.manifold_distances([sets[-1][:1]])[0, 3] == pytest.approx(0.0, abs=1e-7)
    before = model.decision_function(sets[:3])
    with pytest.raises(ValueError, match="every class has a single one"):
        model.fit([s[:1] for s in sets[::4]], y[::4])
    np.testing.assert_array_equal(model.decision_function(sets[:3]), before)


def test_sets_of_different_widths_leave_a_fitted_model_unchanged(image_sets):
    sets, y = image_sets
    model = small().fit(sets, y)
    before = (model.decision_function(sets[:3]), model.input_scale_, model.n_features_in_)
    with pytest.raises(ValueError, match="set 2 has 10 features, but set 0 has 64"):
        model.fit([sets[0], sets[1], np.ones((3, 10))], y[:3])
    with pytest.raises(ValueError, match="set 1 has 10 features, but the fitted model "
                                         "expects 64"):
        model.predict([sets[0], np.ones((3, 10))])
    after = (model.decision_function(sets[:3]), model.input_scale_, model.n_features_in_)
    np.testing.assert_array_equal(after[0], before[0])
    assert after[1:] == before[1:]


def test_one_input_scale_makes_the_units_irrelevant(image_sets):
    sets, y = image_sets
    model = small().fit(sets, y)
    rescaled = small().fit([16 * s for s in sets], y)
    assert rescaled.input_scale_ == pytest.approx(16 * model.input_scale_)
    np.testing.assert_allclose(rescaled.decision_function([16 * s for s in sets]),
                               model.decision_function(sets), rtol=1e-6, atol=1e-9)
    raw = small(standardize=False).fit(sets, y)
    assert raw.input_scale_ is None
    assert not np.allclose(raw.decision_function(sets), model.decision_function(sets))


def test_two_classes_decide_by_one_score(image_sets):
    sets, y = image_sets
    pick = np.isin(y, [1, 2])
    two = [s for s, k in zip(sets, pick) if k]
    model = small().fit(two, np.where(y[pick] == 1, "one", "two"))
    scores = model.decision_function(two)
    assert scores.shape == (len(two),)
    np.testing.assert_array_equal(model.predict(two), model.classes_[(scores > 0).astype(int)])
    with pytest.raises(ValueError, match="intra_neighbors"):
        small(intra_neighbors="sets").fit(two, y[pick])


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
