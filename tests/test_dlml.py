"""DLML: the localized network and its distance by hand, the assignment term, the contract."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, load_iris  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skdml.deep import ContrastiveLoss, DeepMetricLearner, TripletMarginLoss  # noqa: E402
from skdml.deep.dlml import (  # noqa: E402
    DLML,
    LocalizedMLP,
    _kmeans_centres,
    assignment_information_loss,
)
from skdml.metrics import map_at_r  # noqa: E402


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def small(**params):
    defaults = dict(hidden_sizes=(8, 4), n_metrics=3, max_epochs=3, batch_size=30,
                    random_state=0)
    return DLML(**{**defaults, **params})


# --- the network and its distance, by hand ---------------------------------------------------

#: a hand-made network: 2 inputs, a trunk of 2 tanh units, two heads of 2 tanh units
W_TRUNK, B_TRUNK = np.array([[1.0, -0.5], [0.3, 0.8]]), np.array([0.1, -0.2])
W_HEADS = [np.array([[0.7, -0.4], [0.2, 0.9]]), np.array([[-0.6, 0.5], [0.8, 0.3]])]
B_HEADS = [np.array([0.0, 0.1]), np.array([-0.2, 0.05])]
ANCHORS = np.array([[0.5, 0.4], [-0.6, -0.3]])
TEMPERATURE = 0.2
TOL = dict(rtol=1e-5, atol=1e-6)  # the network runs in float32


def _hand_network(X):
    """p_k(x) and f_k(x) of the hand-made network, in NumPy."""
    H = np.tanh(X @ W_TRUNK.T + B_TRUNK)
    F = np.stack([np.tanh(H @ W.T + b) for W, b in zip(W_HEADS, B_HEADS)], axis=1)
    logits = -((H[:, None, :] - ANCHORS[None]) ** 2).mean(-1) / TEMPERATURE
    P = np.exp(logits - logits.max(1, keepdims=True))
    return P / P.sum(1, keepdims=True), F


def _set_hand_weights(module):
    with torch.no_grad():
        trunk = module.trunk.net[0]
        trunk.weight.copy_(torch.tensor(W_TRUNK))
        trunk.bias.copy_(torch.tensor(B_TRUNK))
        for head, W, b in zip(module.heads, W_HEADS, B_HEADS):
            head.net[0].weight.copy_(torch.tensor(W))
            head.net[0].bias.copy_(torch.tensor(b))
        module.anchors.copy_(torch.tensor(ANCHORS))


def _hand_learner(combine):
    """A DLML fitted on a few points, its network then set to the hand-made one."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 2)), np.repeat([0, 1, 2], 4)
    model = DLML(hidden_sizes=(2, 2), n_metrics=2, temperature=TEMPERATURE, combine=combine,
                 standardize=False, max_epochs=1, batch_size=12, random_state=0).fit(X, y)
    _set_hand_weights(model.module_)  # float32, as the learner feeds it
    return model


POINTS = np.array([[0.4, 0.3], [-0.8, -0.1], [1.5, 0.2], [-0.2, 0.9], [0.0, -1.2]])


def test_sum_embedding_and_its_distance_equal_the_hand_formula():
    """transform(X) = sum_k p_k f_k, and every route to the learned distance (Euclidean on
    transform, pair_distance, get_metric) is |z(x) - z(y)|."""
    model = _hand_learner("sum")
    P, F = _hand_network(POINTS)
    Z = (P[:, :, None] * F).sum(1)
    np.testing.assert_allclose(model.transform(POINTS), Z, **TOL)
    np.testing.assert_allclose(model.region_proba(POINTS), P, **TOL)
    np.testing.assert_array_equal(model.predict_region(POINTS), P.argmax(1))
    i, j = np.triu_indices(len(POINTS), 1)
    expected = np.linalg.norm(Z[i] - Z[j], axis=1)
    pairs = np.stack([POINTS[i], POINTS[j]], axis=1)
    np.testing.assert_allclose(model.pair_distance(pairs), expected, **TOL)
    metric = model.get_metric()
    np.testing.assert_allclose([metric(POINTS[a], POINTS[b]) for a, b in zip(i, j)],
                               expected, **TOL)


def test_concat_embedding_distance_is_the_documented_decomposition():
    """combine='concat': |z(x) - z(y)|^2 = sum_k sqrt(p_k p'_k) |f_k - f'_k|^2
    + sum_k (sqrt p_k - sqrt p'_k)(sqrt p_k |f_k|^2 - sqrt p'_k |f'_k|^2)."""
    model = _hand_learner("concat")
    P, F = _hand_network(POINTS)
    np.testing.assert_allclose(model.transform(POINTS),
                               (np.sqrt(P)[:, :, None] * F).reshape(len(POINTS), -1),
                               **TOL)
    i, j = np.triu_indices(len(POINTS), 1)
    a, b = np.sqrt(P[i]), np.sqrt(P[j])
    local = ((F[i] - F[j]) ** 2).sum(-1)
    norms_i, norms_j = (F[i] ** 2).sum(-1), (F[j] ** 2).sum(-1)
    formula = (a * b * local).sum(1) + ((a - b) * (a * norms_i - b * norms_j)).sum(1)
    pairs = np.stack([POINTS[i], POINTS[j]], axis=1)
    np.testing.assert_allclose(model.pair_distance(pairs) ** 2, formula, **TOL)


@pytest.mark.parametrize("combine", ["sum", "concat"])
def test_hard_regions_give_the_local_metrics(combine):
    """With hard assignments: one region's metric within it; across regions, each sample by
    its own region's metric -- in the common space (sum) or through the origin (concat)."""
    model = _hand_learner(combine)
    model.module_.temperature = 1e-4
    P, F = _hand_network(POINTS)
    k = P.argmax(1)
    assert np.allclose(model.region_proba(POINTS).max(1), 1.0)
    first = np.flatnonzero(k == 0)[0]
    same = first, np.flatnonzero(k == 0)[1]
    other = first, np.flatnonzero(k == 1)[0]
    d = model.pair_distance(np.stack([POINTS[list(same)], POINTS[list(other)]]))
    np.testing.assert_allclose(d[0], np.linalg.norm(F[same[0], 0] - F[same[1], 0]),
                               **TOL)
    u, v = other
    across = (np.linalg.norm(F[u, 0] - F[v, 1]) if combine == "sum"
              else np.sqrt((F[u, 0] ** 2).sum() + (F[v, 1] ** 2).sum()))
    np.testing.assert_allclose(d[1], across, **TOL)


def test_uniform_assignment_averages_the_heads(iris):
    X, y = iris
    model = small(temperature=1e9).fit(X, y)
    np.testing.assert_allclose(model.region_proba(X), 1 / 3, rtol=1e-5)
    local = model.module_.local_embeddings(
        torch.tensor(model._scale_input(X))).detach().numpy()
    np.testing.assert_allclose(model.transform(X), local.mean(1), rtol=1e-5, atol=1e-6)


def test_one_metric_is_the_global_learner(iris):
    """n_metrics=1: the network, the training and the embedding of DeepMetricLearner with
    the same MLP, bit for bit."""
    X, y = iris
    for combine in ("sum", "concat"):
        dlml = small(n_metrics=1, combine=combine, max_epochs=5).fit(X, y)
        base = DeepMetricLearner(module__hidden_sizes=(8, 4), max_epochs=5, batch_size=30,
                                 random_state=0).fit(X, y)
        np.testing.assert_array_equal(dlml.transform(X), base.transform(X))
        assert dlml.region_counts_.tolist() == [len(X)]


# --- the assignment term and the batch loss --------------------------------------------------

def test_assignment_information_loss_matches_its_formula(rng):
    logits = rng.normal(size=(7, 3)) * 2
    P = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    conditional = -np.mean([sum(p * np.log(p)) for p in P])
    mean = P.mean(0)
    expected = conditional - (-(mean * np.log(mean)).sum())
    got = assignment_information_loss(torch.log_softmax(torch.tensor(logits), dim=1))
    assert got.item() == pytest.approx(expected, rel=1e-12)
    # its extremes: one region per sample, regions used equally -> -log K; uniform -> 0
    one_hot = torch.log(torch.eye(3, dtype=torch.float64).repeat(2, 1).clamp_min(1e-300))
    assert assignment_information_loss(one_hot).item() == pytest.approx(-np.log(3))
    uniform = torch.full((5, 3), np.log(1 / 3), dtype=torch.float64)
    assert assignment_information_loss(uniform).item() == pytest.approx(0.0, abs=1e-12)


def test_batch_loss_is_the_metric_loss_plus_the_assignment_term(iris):
    X, y = iris
    model = small(assignment_weight=0.7, max_epochs=2).fit(X, y)
    Xb = torch.tensor(model._scale_input(X[::5]))
    yb = torch.tensor(np.searchsorted(model.classes_, y[::5]))
    z = model.module_(Xb)
    got = model.get_loss(z, yb, X=Xb, training=True)
    log_p = model.module_.region_log_proba(Xb).detach().double().numpy()
    P = np.exp(log_p)
    mean = P.mean(0)
    info = -(P * log_p).sum(1).mean() + (mean * np.log(mean)).sum()
    expected = ContrastiveLoss()(z, yb).item() + 0.7 * info
    assert got.item() == pytest.approx(expected, rel=1e-5)
    model.set_params(assignment_weight=0.0)
    assert model.get_loss(z, yb, X=Xb, training=True).item() == pytest.approx(
        ContrastiveLoss()(z, yb).item(), rel=1e-6)


def test_assignment_term_sharpens_the_regions(iris):
    X, y = iris
    free = small(max_epochs=15).fit(X, y)
    forced = small(max_epochs=15, assignment_weight=1.0).fit(X, y)
    assert forced.region_proba(X).max(1).mean() > free.region_proba(X).max(1).mean()


# --- the anchors ------------------------------------------------------------------------------

def test_anchors_start_on_the_data_and_a_warm_start_keeps_them(iris):
    """At the first fit every region holds training samples (k-means of the trunk's
    output); a warm start continues from the trained anchors, a new fit places them anew."""
    X, y = iris
    still = small(n_metrics=4, lr=1e-12, max_epochs=1).fit(X, y)
    assert still.module_.anchors_placed.item()
    assert (still.region_counts_ > 0).all() and still.region_counts_.sum() == len(X)
    model = small(n_metrics=4, max_epochs=2, warm_start=True).fit(X, y)
    trained = model.module_.anchors.detach().clone()
    model.set_params(lr=1e-12).fit(X, y)
    torch.testing.assert_close(model.module_.anchors.detach(), trained)
    fresh = small(n_metrics=4, max_epochs=2).fit(X, y)
    first = fresh.module_.anchors.detach().clone()
    fresh.fit(X, y)  # no warm start: a new network, the same seeds, the same anchors
    torch.testing.assert_close(fresh.module_.anchors.detach(), first)


def test_anchor_placement_finds_separated_groups(rng):
    centres = np.array([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0]])
    labels = np.repeat([0, 1, 2], 30)
    H = centres[labels] + 0.1 * rng.normal(size=(90, 2))
    found = _kmeans_centres(H, 3, seed=0)
    means = np.array([H[labels == c].mean(0) for c in range(3)])
    order = np.argmin(((found[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(found, means[order], atol=1e-12)


def test_more_regions_than_distinct_samples():
    X = np.repeat(np.array([[0.0, 1.0], [1.0, 0.0]]), 4, axis=0)
    y = np.repeat([0, 1], 4)
    model = small(n_metrics=5).fit(X, y)
    assert model.region_proba(X).shape == (8, 5)
    assert np.isfinite(model.transform(X)).all()


# --- the estimator contract -------------------------------------------------------------------

def test_shapes_and_attributes(iris):
    X, y = iris
    model = small().fit(X, y)
    assert model.transform(X).shape == (150, 4) and model.embedding_dim_ == 4
    assert small(combine="concat").fit(X, y).transform(X).shape == (150, 12)
    proba = model.region_proba(X.astype(np.float32))
    assert proba.dtype == np.float32 and np.allclose(proba.sum(1), 1, atol=1e-6)
    assert model.region_counts_.sum() == 150 and len(model.region_counts_) == 3
    assert set(model.predict_region(X)) <= {0, 1, 2}
    assert isinstance(model.module_, LocalizedMLP) and model.module_.n_metrics == 3


def test_any_loss_and_its_parameters(iris):
    X, y = iris
    model = small(loss=TripletMarginLoss, loss__margin=0.3).fit(X, y)
    assert isinstance(model.loss_, TripletMarginLoss) and model.loss_.margin == 0.3


def test_deterministic_under_random_state(iris):
    X, y = iris
    a, b = small().fit(X, y), small().fit(X, y)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    np.testing.assert_array_equal(a.region_proba(X), b.region_proba(X))
    assert not np.array_equal(a.transform(X), small(random_state=1).fit(X, y).transform(X))


def test_clone_pickle_pipeline_and_grid_search(iris):
    X, y = iris
    model = small().fit(X, y)
    assert clone(model).get_params()["n_metrics"] == 3
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(X), model.transform(X))
    np.testing.assert_array_equal(restored.region_proba(X), model.region_proba(X))
    pipe = make_pipeline(small(), KNeighborsClassifier(n_neighbors=3))
    grid = GridSearchCV(pipe, {"dlml__n_metrics": [1, 2]}, cv=2).fit(X, y)
    assert grid.best_params_["dlml__n_metrics"] in (1, 2)


def _state(model):
    return {k: v for k, v in model.__dict__.items()}


@pytest.mark.parametrize("params, match", [
    (dict(n_metrics=0), "n_metrics"),
    (dict(temperature=0.0), "temperature"),
    (dict(assignment_weight=-1.0), "assignment_weight"),
    (dict(combine="mean"), "combine"),
    (dict(activation="softplus"), "activation"),
    (dict(hidden_sizes=()), "hidden_sizes"),
])
def test_bad_parameters_are_refused_and_state_unchanged(iris, params, match):
    X, y = iris
    model = small().fit(X, y)
    before, embedding = _state(model), model.transform(X)
    with pytest.raises(ValueError, match=match):
        model.set_params(**params).fit(X, y)
    assert _state(model).keys() == before.keys()
    assert model.module_ is before["module_"]
    np.testing.assert_array_equal(model.transform(X), embedding)


def test_bad_data_is_refused_and_state_unchanged(iris):
    X, y = iris
    model = small().fit(X, y)
    embedding = model.transform(X)
    with pytest.raises(ValueError, match="requires y"):
        model.fit(X, None)
    with pytest.raises(ValueError, match="at least two samples"):
        model.fit(X[:3], [0, 1, 2])
    with pytest.raises(ValueError, match="4 features"):
        model.region_proba(X[:, :3])
    with pytest.raises(ValueError, match="3 dimensions. Flatten"):
        model.transform(X.reshape(150, 2, 2))
    with pytest.raises(ValueError, match="3 dimensions. Flatten"):
        model.fit(X.reshape(150, 2, 2), y)
    np.testing.assert_array_equal(model.transform(X), embedding)
    with pytest.raises(ValueError, match="LocalizedMLP expects input of shape"):
        model.module_(torch.zeros(2, 3))


# --- learning ----------------------------------------------------------------------------------

def test_learns_and_beats_the_global_learner_with_the_same_trunk():
    """On 600 digits, DLML lifts MAP@R well above raw pixels and above DeepMetricLearner
    with the same trunk, loss, epochs and batches (docs/seed_learners.rst has the full
    benchmark)."""
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:600])
    X_tr, X_te, y_tr, y_te = train_test_split(X, y[:600], test_size=0.3, random_state=0,
                                              stratify=y[:600])
    common = dict(max_epochs=40, random_state=0)
    dlml = DLML(hidden_sizes=(64, 32), **common).fit(X_tr, y_tr)
    base = DeepMetricLearner(module__hidden_sizes=(64, 32), **common).fit(X_tr, y_tr)

    def score(Z_tr, Z_te):
        return map_at_r(Z_te, y_te, X_ref=Z_tr, y_ref=y_tr)

    raw = score(X_tr, X_te)
    learned = score(dlml.transform(X_tr), dlml.transform(X_te))
    global_ = score(base.transform(X_tr), base.transform(X_te))
    assert learned > raw + 0.25  # 0.87 against 0.52 (seeds 0-2: 0.86-0.88)
    assert learned > global_ + 0.05  # against 0.70 (0.68-0.71)
