"""The log-ratio loss, dense triplets, nearest-label batches and LogRatioLearner."""

import itertools
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from scipy.stats import spearmanr  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skdml.deep import MetricLoss, TripletMarginLoss  # noqa: E402
from skdml.deep.distances import CosineSimilarity, LpDistance  # noqa: E402
from skdml.deep.reducers import PerAnchorReducer  # noqa: E402
from skdml.deep.logratio import (  # noqa: E402
    LogRatioLearner,
    LogRatioLoss,
    NearestLabelBatchSampler,
    ThresholdTripletLoss,
    dense_triplets,
    label_distances,
)


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X)[:150], ((y - y.mean()) / y.std())[:150]


def small(**params):
    defaults = dict(module__hidden_sizes=(16, 4), max_epochs=3, batch_size=24, random_state=0)
    return LogRatioLearner(**{**defaults, **params})


def _sq(u, v):
    return float(((np.asarray(u) - np.asarray(v)) ** 2).sum())


def test_dense_triplets_are_all_triplets_of_the_batch():
    n = 6
    a, i, j = dense_triplets(n)
    got = set(zip(a.tolist(), i.tolist(), j.tolist()))
    expected = {(x, u, v) for x in range(n) for u, v in itertools.combinations(range(n), 2)
                if x not in (u, v)}
    assert got == expected and len(a) == len(got) == n * (n - 1) * (n - 2) // 2
    a, i, j = dense_triplets(n, anchors=torch.tensor([0, 3]))
    assert set(a.tolist()) == {0, 3} and len(a) == 2 * 10
    assert len(dense_triplets(2)[0]) == 0  # no third sample, no triplet


def test_log_ratio_loss_matches_its_formula(rng):
    x = rng.normal(size=(7, 3))
    y = rng.normal(size=(7, 2))
    eps = 1e-6
    terms = []
    for a, i, j in itertools.combinations(range(7), 3):
        for anchor, u, v in ((a, i, j), (i, a, j), (j, a, i)):
            lhs = np.log(_sq(x[anchor], x[u]) + eps) - np.log(_sq(x[anchor], x[v]) + eps)
            rhs = np.log(_sq(y[anchor], y[u]) + eps) - np.log(_sq(y[anchor], y[v]) + eps)
            terms.append((lhs - rhs) ** 2)
    loss = LogRatioLoss()(torch.tensor(x), torch.tensor(y))
    assert loss.item() == pytest.approx(np.mean(terms), rel=1e-10)
    # a callable label distance (on NumPy blocks) gives the same, and labels of shape (n,)
    sq = LogRatioLoss(label_distance=lambda A, B: ((A[:, None] - B[None]) ** 2).sum(-1))
    assert sq(torch.tensor(x), torch.tensor(y)).item() == pytest.approx(loss.item(), rel=1e-10)
    one = LogRatioLoss(label_distance="euclidean")(torch.tensor(x), torch.tensor(y[:, 0]))
    terms = [(np.log(_sq(x[a], x[i]) + eps) - np.log(_sq(x[a], x[j]) + eps)
              - np.log(abs(y[a, 0] - y[i, 0]) + eps) + np.log(abs(y[a, 0] - y[j, 0]) + eps)) ** 2
             for a, i, j in zip(*[t.tolist() for t in dense_triplets(7)])]
    assert one.item() == pytest.approx(np.mean(terms), rel=1e-10)


def test_log_ratio_loss_is_zero_for_an_exact_embedding_and_scale_free(rng):
    y = rng.normal(size=(8, 2))
    loss = LogRatioLoss()
    # the labels themselves, at any scale, keep every ratio of squared distances
    assert loss(torch.tensor(3.0 * y), torch.tensor(y)).item() < 1e-8
    assert loss(torch.tensor(rng.normal(size=(8, 2))), torch.tensor(y)).item() > 0.1


def test_log_ratio_loss_gradcheck(rng):
    x = torch.tensor(rng.normal(size=(5, 3)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(5, 2)))
    assert torch.autograd.gradcheck(lambda e: LogRatioLoss()(e, y), (x,))
    x = torch.tensor(rng.normal(size=(6, 2)), requires_grad=True)
    thr = ThresholdTripletLoss(threshold=0.5, margin=5.0)
    assert torch.autograd.gradcheck(lambda e: thr(e, y.repeat(2, 1)[:6]), (x,))


def test_threshold_triplet_loss_is_triplet_loss_on_binarized_labels(rng):
    x = torch.tensor(rng.normal(size=(6, 2)))
    y = torch.tensor([0.0, 0.1, 0.15, 1.0, 1.05, 3.0])
    loss = ThresholdTripletLoss(threshold=0.05, margin=0.3)(x, y)
    D = (y[:, None] - y[None, :]) ** 2
    triplets = [(a, p, n) for a in range(6) for p in range(6) for n in range(6)
                if len({a, p, n}) == 3 and D[a, p] < 0.05 <= D[a, n]]
    a, p, n = (torch.tensor(t) for t in zip(*triplets))
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    expected = torch.relu(d[a, p] - d[a, n] + 0.3).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    # here the close labels form classes: the triplet loss on them, through its public call
    classes = torch.tensor([0, 0, 0, 1, 1, 2])
    assert loss.item() == pytest.approx(TripletMarginLoss(margin=0.3)(x, classes).item(),
                                        rel=1e-12)
    with pytest.raises(ValueError, match="threshold"):
        ThresholdTripletLoss(threshold=-1.0)


def test_label_losses_are_metric_losses_with_a_distance_and_a_reducer(rng):
    x = rng.normal(size=(6, 3))
    y = rng.normal(size=(6, 2))
    xt, yt = torch.tensor(x), torch.tensor(y)
    for loss in (LogRatioLoss(), ThresholdTripletLoss(threshold=1.0)):
        assert isinstance(loss, MetricLoss) and loss.tuple_kind is None
        assert not loss.needs_positive_pairs
        assert loss.distance == LpDistance(power=2)
    # another distance: the log-ratio formula with Euclidean (not squared) distances
    eps = 1e-6
    a, i, j = dense_triplets(6)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    dy = ((y[:, None] - y[None]) ** 2).sum(-1)
    terms = ((np.log(d[a, i] + eps) - np.log(d[a, j] + eps))
             - (np.log(dy[a, i] + eps) - np.log(dy[a, j] + eps))) ** 2
    got = LogRatioLoss(distance=LpDistance())(xt, yt)
    assert got.item() == pytest.approx(terms.mean(), rel=1e-10)
    # the anchors of the terms reach a per-anchor reducer
    per_anchor = LogRatioLoss(distance=LpDistance(), reducer=PerAnchorReducer())(xt, yt)
    anchors = a.numpy()
    means = [terms[anchors == k].mean() for k in range(6)]
    assert per_anchor.item() == pytest.approx(np.mean(means), rel=1e-10)
    # the threshold baseline with a similarity: max(0, s(a, n) - s(a, p) + margin)
    thr = ThresholdTripletLoss(threshold=1.0, margin=0.1, distance=CosineSimilarity())
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = u @ u.T
    close = dy < 1.0
    expected = [max(0.0, s[a_, n_] - s[a_, p_] + 0.1)
                for a_, p_, n_ in itertools.permutations(range(6), 3)
                if close[a_, p_] and not close[a_, n_]]
    assert thr(xt, yt).item() == pytest.approx(np.mean(expected), rel=1e-10)
    # a similarity where a logarithm of distances is taken: refused when built
    with pytest.raises(ValueError, match="LogRatioLoss needs a distance"):
        LogRatioLoss(distance=CosineSimilarity())
    with pytest.raises(ValueError, match=r"triplets \(a, i, j\)"):
        LogRatioLoss()(xt, yt, (a, i, a, j))


def test_bad_label_distances_are_refused(rng):
    with pytest.raises(ValueError, match="label_distance"):
        LogRatioLoss(label_distance="hamming")
    with pytest.raises(ValueError, match="shape"):
        label_distances(torch.zeros(4, 2), lambda A, B: np.zeros(3))
    with pytest.raises(ValueError, match="non-negative"):
        label_distances(torch.zeros(4, 2), lambda A, B: -np.ones((len(A), len(B))))
    with pytest.raises(ValueError, match="eps"):
        LogRatioLoss(eps=0.0)


def test_nearest_label_batches(rng):
    y = rng.normal(size=(50, 2))
    sampler = NearestLabelBatchSampler(y, batch_size=18, n_neighbors=5, random_state=0)
    D = ((y[:, None] - y[None]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    np.testing.assert_array_equal(sampler.neighbors, np.argsort(D, axis=1)[:, :5])
    assert sampler.n_anchors == 3 and len(sampler) == 3
    batches = list(sampler)
    assert len(batches) == 3
    for batch in batches:
        assert len(np.unique(batch)) == len(batch) <= 18
        anchors = batch[:3]
        assert set(sampler.neighbors[anchors].ravel()) <= set(batch.tolist())
    twin = NearestLabelBatchSampler(y, batch_size=18, n_neighbors=5, random_state=0)
    assert all(np.array_equal(u, v) for u, v in zip(batches, twin))
    # a callable label distance finds the same neighbors
    other = NearestLabelBatchSampler(
        y, 18, 5, label_distance=lambda A, B: ((A[:, None] - B[None]) ** 2).sum(-1))
    np.testing.assert_array_equal(other.neighbors, sampler.neighbors)


def test_fit_transform_on_continuous_targets(diabetes):
    X, y = diabetes
    model = small().fit(X, y)
    Z = model.transform(X)
    assert Z.shape == (150, 4) and Z.dtype == np.float64 and np.isfinite(Z).all()
    assert model.n_outputs_ == 1 and model.n_iter_ == 3 and not hasattr(model, "classes_")
    assert model.get_feature_names_out().tolist() == [f"logratiolearner{i}" for i in range(4)]
    # multi-output labels, a callable label distance, the threshold baseline
    Y = np.column_stack([y, X[:, 0]])
    assert small().fit(X, Y).n_outputs_ == 2
    cityblock = lambda A, B: np.abs(A[:, None] - B[None]).sum(-1)  # noqa: E731
    small(label_distance=cityblock).fit(X, Y)
    base = small(loss=ThresholdTripletLoss, loss__threshold=0.1).fit(X, y)
    assert base.loss_.threshold == 0.1 and base.loss_.label_distance == "sqeuclidean"
    assert small(label_distance="euclidean").fit(X, y).loss_.label_distance == "euclidean"


def test_learner_distance_reaches_the_loss(diabetes):
    X, y = diabetes
    model = small(distance=LpDistance(), max_epochs=1).fit(X, y)
    assert model.loss_.distance == LpDistance()
    assert model.get_params()["distance"] == LpDistance()
    assert clone(model).distance == LpDistance()
    assert small(max_epochs=1).fit(X, y).loss_.distance == LpDistance(power=2)
    with pytest.raises(ValueError, match="LogRatioLoss needs a distance"):
        small(distance=CosineSimilarity(), max_epochs=1).fit(X, y)


def test_archive_written_before_the_losses_moved_loads():
    """An archive written by skdml.io when LogRatioLoss lived in skdml.deep.logratio (commit
    1e986f5: LogRatioLearner(module__hidden_sizes=(8, 4), max_epochs=2, random_state=0)
    fitted on the first 100 standardized diabetes samples) still loads."""
    import io
    import os
    import zipfile

    from skdml.io import load

    stored = np.load(os.path.join(os.path.dirname(__file__), "data",
                                  "io_v1_logratio.npz"))
    archive = io.BytesIO(stored["archive"].tobytes())
    with zipfile.ZipFile(archive) as zf:
        assert b"skdml.deep.logratio:LogRatioLoss" in zf.read("manifest.json")
    est = load(archive)
    assert type(est) is LogRatioLearner and est.loss is LogRatioLoss
    np.testing.assert_allclose(est.transform(stored["X"]), stored["Z"], rtol=1e-6, atol=1e-7)


def test_learning_follows_the_label_distance():
    # the target depends on 2 of 12 features, hidden among 10 noisy ones of larger scale
    rng = np.random.default_rng(0)
    X = np.hstack([rng.normal(size=(200, 2)), 3 * rng.normal(size=(200, 10))])
    y = X[:, 0] + 0.5 * X[:, 1]
    raw = spearmanr(((X[:, None] - X[None]) ** 2).sum(-1).ravel(),
                    ((y[:, None] - y[None]) ** 2).ravel())[0]
    Z = LogRatioLearner(module__hidden_sizes=(32, 4), max_epochs=40, lr=3e-3,
                        random_state=0).fit(X, y).transform(X)
    learned = spearmanr(((Z[:, None] - Z[None]) ** 2).sum(-1).ravel(),
                        ((y[:, None] - y[None]) ** 2).ravel())[0]
    assert raw < 0.2  # noise dominates Euclidean distances
    assert learned > 0.75  # 0.86 here


def test_determinism_clone_and_pickle(diabetes):
    X, y = diabetes
    Z1 = small().fit(X, y).transform(X)
    np.testing.assert_array_equal(Z1, small().fit(X, y).transform(X))
    fitted = small(random_state=1).fit(X, y)
    assert not np.allclose(Z1, fitted.transform(X))
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))
    twin = clone(small(n_neighbors=3, eps=1e-3))
    assert twin.get_params()["n_neighbors"] == 3 and twin.get_params()["eps"] == 1e-3
    assert not hasattr(clone(fitted), "module_")


def test_bad_input_leaves_the_fitted_state(diabetes):
    X, y = diabetes
    model = small().fit(X, y)
    Z = model.transform(X)
    with pytest.raises(ValueError, match="real-valued"):
        model.fit(X, np.array(["a", "b"] * 75))
    with pytest.raises(ValueError, match="finite"):
        model.fit(X, np.where(np.arange(150) == 3, np.nan, y))
    with pytest.raises(ValueError, match="samples"):
        model.fit(X, y[:-1])
    with pytest.raises(ValueError, match="requires y"):
        model.fit(X, None)
    with pytest.raises(ValueError, match="label_distance"):
        small(label_distance="hamming").fit(X, y)
    with pytest.raises(ValueError, match="n_neighbors"):
        small(n_neighbors=0).fit(X, y)
    np.testing.assert_array_equal(model.transform(X), Z)
    with pytest.raises(ValueError, match="dimension"):
        model.partial_fit(X, np.column_stack([y, y]))
    model.partial_fit(X, y)
    assert model.n_iter_ == 6
