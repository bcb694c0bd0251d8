"""LSDML and M-LSDML: the label-sensitive loss, its hard quadruples, the per-source batches
and the learner."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn import config_context  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, GroupKFold  # noqa: E402
from sklearn.neighbors import KNeighborsRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skdml.deep.distances import CosineSimilarity, LpDistance  # noqa: E402
from skdml.deep.lsdml import (  # noqa: E402
    LSDML,
    LabelSensitiveLoss,
    SourceBatchSampler,
    hard_quadruples,
)
from skdml.deep.reducers import PerAnchorReducer  # noqa: E402


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X[:120], y[:120]


def small(**params):
    defaults = dict(module__hidden_sizes=(16, 4), max_epochs=2, batch_size=24, random_state=0)
    return LSDML(**{**defaults, **params})


def _hand_quadruples(D, gaps, t_pos, t_neg):
    """The mining, one sample at a time."""
    n = len(D)
    out = []
    for i in range(n):
        pos = [j for j in range(n) if j != i and gaps[i, j] <= t_pos]
        if not pos:
            continue
        j = max(pos, key=lambda q: D[i, q])

        def nearest(a):
            neg = [q for q in range(n) if gaps[a, q] > t_neg]
            return min(neg, key=lambda q: D[a, q]) if neg else -1

        out.append((i, j, nearest(i), nearest(j)))
    return out


def _hand_loss(x, y, t_pos, t_neg, margin, weight, cost="inverse"):
    """The LSDML objective of a batch, term by term, in NumPy."""
    D = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    gaps = np.abs(y[:, None] - y[None])
    terms = []
    for i, j, k, l in _hand_quadruples(D, gaps, t_pos, t_neg):
        term = weight * D[i, j] ** 2
        for a, b in ((i, k), (j, l)):
            if b >= 0:
                c = t_neg / gaps[a, b] if cost == "inverse" else 1.0
                term += max(0.0, margin - D[a, b] * c) ** 2
        terms.append(term)
    return np.mean(terms)


def test_hard_quadruples_are_the_farthest_positive_and_nearest_negatives(rng):
    x = rng.normal(size=(12, 3))
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 5, 5, 9, 0.5])
    D = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    gaps = np.abs(y[:, None] - y[None])
    got = hard_quadruples(torch.tensor(D), torch.tensor(gaps), 0.5, 1.0)
    got = list(zip(*[t.tolist() for t in got]))
    assert got == _hand_quadruples(D, gaps, 0.5, 1.0)
    # sample 10 (label 9) has no positive: no quadruple; every other sample has one
    assert [q[0] for q in got] == [i for i in range(12) if i != 10]
    # a batch where a positive has no negative at all: k = l = -1
    i, j, k, l = hard_quadruples(torch.tensor(D[:3, :3]), torch.zeros(3, 3), 0.5, 1.0)
    assert (k == -1).all() and (l == -1).all() and len(i) == 3


@pytest.mark.parametrize("cost", ["inverse", "constant"])
def test_label_sensitive_loss_matches_its_formula(rng, cost):
    x = rng.normal(size=(10, 3))
    y = np.array([0.0, 0.1, 0.0, 1.0, 1.2, 2.0, 2.1, 3.5, 3.5, 0.9])
    loss = LabelSensitiveLoss(positive_threshold=0.2, negative_threshold=0.5, margin=2.5,
                              positive_weight=0.3, cost=cost)
    got = loss(torch.tensor(x), torch.tensor(y)).item()
    assert got == pytest.approx(_hand_loss(x, y, 0.2, 0.5, 2.5, 0.3, cost), rel=1e-10)
    # labels of shape (n, 1): the same label gaps
    assert loss(torch.tensor(x), torch.tensor(y[:, None])).item() == pytest.approx(got)


def test_label_sensitive_loss_with_given_quadruples_and_a_per_anchor_reducer(rng):
    x = rng.normal(size=(6, 2))
    y = np.array([0.0, 0.0, 1.0, 1.0, 3.0, 3.0])
    tuples = tuple(torch.tensor(t) for t in ([0, 0, 2], [1, 1, 3], [2, 4, -1], [5, 3, 0]))
    loss = LabelSensitiveLoss(0.5, 0.5, margin=1.5, positive_weight=0.5)
    D = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    gaps = np.abs(y[:, None] - y[None])

    def hinge(a, b):
        return 0.0 if b < 0 else max(0.0, 1.5 - D[a, b] * 0.5 / gaps[a, b]) ** 2

    terms = [0.5 * D[i, j] ** 2 + hinge(i, k) + hinge(j, l)
             for i, j, k, l in zip(*[t.tolist() for t in tuples])]
    assert loss(torch.tensor(x), torch.tensor(y), tuples).item() == pytest.approx(
        np.mean(terms), rel=1e-10)
    per_anchor = LabelSensitiveLoss(0.5, 0.5, margin=1.5, positive_weight=0.5,
                                    reducer=PerAnchorReducer())
    expected = np.mean([np.mean(terms[:2]), terms[2]])  # anchors 0 (twice) and 2
    assert per_anchor(torch.tensor(x), torch.tensor(y), tuples).item() == pytest.approx(
        expected, rel=1e-10)
    with pytest.raises(ValueError, match=r"quadruples \(i, j, k, l\)"):
        loss(torch.tensor(x), torch.tensor(y), tuples[:3])


def test_label_sensitive_loss_gradcheck_and_empty_batches(rng):
    x = torch.tensor(rng.normal(size=(8, 3)), requires_grad=True)
    y = torch.tensor([0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0])
    loss = LabelSensitiveLoss(0.5, 0.5, margin=3.0)
    assert torch.autograd.gradcheck(lambda e: loss(e, y), (x,))
    # no positive pair: a zero that stays in the graph, never NaN
    out = loss(x, torch.arange(8.0) * 2)
    out.backward()
    assert out.item() == 0.0 and torch.isfinite(x.grad).all()


def test_label_sensitive_loss_is_zero_when_every_constraint_holds():
    # two tight pairs, far apart: no positive distance, every negative beyond its margin
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [10.0, 0.0], [10.0, 0.0]])
    y = torch.tensor([0.0, 0.0, 2.0, 2.0])
    assert LabelSensitiveLoss(0.1, 1.0, margin=4.0)(x, y).item() == pytest.approx(0, abs=1e-10)
    # the label-sensitive margin: the same pairs with labels twice as far need twice the
    # distance (margin 4 * gap 4 / threshold 1 = 16 > 10)
    far = LabelSensitiveLoss(0.1, 1.0, margin=4.0)(x, 2 * y).item()
    assert far == pytest.approx((4.0 - 10.0 / 4) ** 2 * 2)  # C = 1/4 on d = 10
    constant = LabelSensitiveLoss(0.1, 1.0, margin=4.0, cost="constant")(x, 2 * y).item()
    assert constant == pytest.approx(0, abs=1e-10)


def test_label_sensitive_loss_refuses_bad_parameters():
    with pytest.raises(ValueError, match="negative_threshold .* at least positive_threshold"):
        LabelSensitiveLoss(1.0, 0.5)
    with pytest.raises(ValueError, match="negative_threshold must be > 0"):
        LabelSensitiveLoss(0.0, 0.0)
    with pytest.raises(ValueError, match="margin"):
        LabelSensitiveLoss(0.1, 0.5, margin=0.0)
    with pytest.raises(ValueError, match="cost must be one of"):
        LabelSensitiveLoss(0.1, 0.5, cost="linear")
    with pytest.raises(ValueError, match="needs a distance"):
        LabelSensitiveLoss(0.1, 0.5, distance=CosineSimilarity())
    with pytest.raises(ValueError, match="labels of shape"):
        LabelSensitiveLoss(0.1, 0.5)(torch.zeros(4, 2), torch.zeros(3))


def test_source_batches_keep_sources_together_and_draw_fresh_positives(rng):
    labels = np.r_[np.repeat(np.arange(5.0), 20), 10 + rng.normal(size=40)]
    sources = np.r_[np.zeros(100), np.ones(40)].astype(int)
    sampler = SourceBatchSampler(labels, sources, batch_size=24, radius=0.1, n_neighbors=3,
                                 random_state=0)
    assert sampler.n_anchors == [3, 3] and len(sampler) == 6  # 140 / (2 * 3 * 4)
    seen = []
    for batch in sampler:
        assert len(np.unique(batch)) == len(batch) <= 24
        part0 = batch[sources[batch] == 0]
        assert 0 < len(part0) < len(batch)  # both sources in every batch
        # source 0 (ties): three anchors, each with three other samples of its label
        values, counts = np.unique(labels[part0], return_counts=True)
        assert len(values) <= 3 and counts.min() >= 4
        seen.append(batch)
    # ties: neighbours change from batch to batch (16 distinct samples drawn for 5 levels)
    assert len(np.unique(np.concatenate(seen))) > 5 * 4 * 2
    again = SourceBatchSampler(labels, sources, 24, 0.1, 3, random_state=0)
    assert all(np.array_equal(u, v) for u, v in zip(seen, again))
    # source 1 has no other label within 0.1 of most anchors: the nearest labels instead
    lone = SourceBatchSampler(labels[100:], np.zeros(40), 4, radius=1e-9, n_neighbors=3,
                              random_state=0)
    order = np.argsort(labels[100:])
    for batch in lone:
        ranks = np.sort(np.searchsorted(labels[100:][order], labels[100:][batch]))
        assert ranks[-1] - ranks[0] <= 6  # within the 2k positions around the anchor
    with pytest.raises(ValueError, match="two samples in every source"):
        SourceBatchSampler(labels[:3], [0, 0, 1], 4, 0.1)


def test_fit_transform_and_learned_attributes(diabetes):
    X, y = diabetes
    model = small().fit(X, y)
    Z = model.transform(X)
    assert Z.shape == (120, 4) and Z.dtype == np.float64 and np.isfinite(Z).all()
    assert model.sources_.tolist() == [0] and model.n_iter_ == 2
    assert model.label_scale_ == pytest.approx([np.std(y)])
    assert model.loss_.negative_threshold == 0.3 and model.loss_.margin == 2.0
    assert model.optimizer_.param_groups[0]["weight_decay"] == 1e-3
    assert model.get_feature_names_out().tolist() == [f"lsdml{i}" for i in range(4)]
    assert small(threshold_unit="label").fit(X, y).label_scale_.tolist() == [1.0]
    assert small(distance=LpDistance(power=2)).fit(X, y).loss_.distance == LpDistance(power=2)
    assert small(cost="constant", loss__positive_weight=0.5).fit(X, y).loss_.positive_weight \
        == 0.5


def test_several_sources_share_the_network_and_never_pair_across(diabetes):
    X, y = diabetes
    groups = np.where(X[:, 1] > 0, "male", "female")
    model = small().fit(X, 3 * y + 100 * (groups == "male"), groups=groups)
    assert model.sources_.tolist() == ["female", "male"]
    np.testing.assert_allclose(model.label_scale_, [np.std(3 * y[groups == g])
                                                    for g in ("female", "male")])
    # the loss of a batch is the mean of its sources' losses, each on its own labels
    emb = torch.tensor(np.random.default_rng(0).normal(size=(8, 3)))
    labels = torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    source = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    target = torch.stack([labels, source.double()], 1)
    got = model._batch_loss(emb, target, None, training=True)
    each = [model.loss_(emb[source == s], labels[source == s]) for s in (0, 1)]
    assert got.item() == pytest.approx(float(sum(each)) / 2, rel=1e-12)
    assert got.item() != pytest.approx(model.loss_(emb, labels).item())
    # partial_fit takes known sources; a first partial_fit is a fit, with its groups
    model.partial_fit(X[:40], y[:40], groups=groups[:40])
    assert model.n_iter_ == 4
    assert small().partial_fit(X, y, groups=groups).sources_.tolist() == ["female", "male"]


def test_determinism_clone_and_pickle(diabetes):
    X, y = diabetes
    Z1 = small().fit(X, y).transform(X)
    np.testing.assert_array_equal(Z1, small().fit(X, y).transform(X))
    fitted = small(random_state=1).fit(X, y)
    assert not np.allclose(Z1, fitted.transform(X))
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))
    twin = clone(small(margin=3.0, cost="constant"))
    assert twin.get_params()["margin"] == 3.0 and twin.get_params()["cost"] == "constant"
    assert not hasattr(clone(fitted), "module_")


def test_pipeline_and_grid_search_with_groups(diabetes):
    X, y = diabetes
    groups = (X[:, 1] > 0).astype(int)
    pipe = make_pipeline(small(), KNeighborsRegressor(5))
    pipe.fit(X, y, lsdml__groups=groups)
    assert pipe[0].sources_.tolist() == [0, 1] and pipe.predict(X[:3]).shape == (3,)
    search = GridSearchCV(make_pipeline(small(), KNeighborsRegressor(5)),
                          {"lsdml__margin": [1.0, 2.0]}, cv=2,
                          scoring="neg_mean_absolute_error")
    assert search.fit(X, y).best_params_["lsdml__margin"] in (1.0, 2.0)
    # metadata routing: the groups reach both the splitter and the learner
    with config_context(enable_metadata_routing=True):
        learner = small().set_fit_request(groups=True)
        routed = GridSearchCV(make_pipeline(learner, KNeighborsRegressor(5)),
                              {"lsdml__margin": [2.0]}, cv=GroupKFold(2),
                              scoring="neg_mean_absolute_error")
        routed.fit(X, y, groups=groups)
        assert routed.best_estimator_[0].sources_.tolist() == [0, 1]


def test_bad_input_leaves_the_fitted_state(diabetes):
    X, y = diabetes
    groups = (X[:, 1] > 0).astype(int)
    model = small().fit(X, y, groups=groups)
    Z = model.transform(X)
    state = {k: v for k, v in vars(model).items() if k.endswith("_")}
    bad = [
        ("finite", dict(y=np.where(np.arange(120) == 3, np.nan, y))),
        ("groups must name the source of each sample", dict(groups=groups[:-1])),
        ("groups holds NaN", dict(groups=np.where(groups == 1, np.nan, 0.0))),
        ("source 7 has 1 sample", dict(groups=np.where(np.arange(120) == 5, 7, groups))),
        ("source 1 has .* 1 distinct target", dict(y=np.where(groups == 1, 50.0, y))),
        ("two distinct target values", dict(y=np.full(120, 3.0))),
        ("real-valued", dict(y=np.array(["a", "b"] * 60))),
        ("requires y", dict(y=None)),
    ]
    for match, changed in bad:
        args = {"y": y, "groups": groups, **changed}
        with pytest.raises(ValueError, match=match):
            model.fit(X, args["y"], groups=args["groups"])
    with pytest.raises(ValueError, match="negative_threshold .* at least positive"):
        model.set_params(positive_threshold=0.5).fit(X, y)
    model.set_params(positive_threshold=0.1)
    with pytest.raises(ValueError, match="fitted on 2 sources"):
        model.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"sources unseen in the first fit: \[5\]"):
        model.partial_fit(X, y, groups=np.full(120, 5))
    np.testing.assert_array_equal(model.transform(X), Z)
    for key, value in state.items():
        assert vars(model)[key] is value
    assert "_fit_groups" not in vars(model)


def test_learning_beats_euclidean_on_digit_values():
    # the digit value as an ordinal target; 5-NN regression in the embedding
    X, y = load_digits(return_X_y=True)
    idx = np.random.default_rng(0).permutation(len(X))
    tr, te = idx[:800], idx[800:1200]
    model = LSDML(module__hidden_sizes=(64, 32), max_epochs=20, random_state=0)
    model.fit(X[tr], y[tr])

    def mae(A, B):
        knn = KNeighborsRegressor(5).fit(A, y[tr])
        return np.abs(knn.predict(B) - y[te]).mean()

    learned = mae(model.transform(X[tr]), model.transform(X[te]))
    scaler = StandardScaler().fit(X[tr])
    assert learned < 0.85 * mae(X[tr], X[te])  # 0.13 against 0.17 on the pixels
    # and against the standardized input, which the learner starts from: 0.28
    assert learned < 0.6 * mae(scaler.transform(X[tr]), scaler.transform(X[te]))


def test_a_related_source_helps_a_small_one():
    # 100 labelled digits, and a related data set: 500 others, noisier and fainter, their
    # values on another scale (2 y + 10)
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    tr, aux, te = idx[:100], idx[100:600], idx[-400:]
    Xa = 0.7 * X[aux] + rng.normal(scale=1.5, size=X[aux].shape)
    params = dict(module__hidden_sizes=(64, 32), max_epochs=10, random_state=0)

    def mae(model):
        knn = KNeighborsRegressor(5).fit(model.transform(X[tr]), y[tr])
        return np.abs(knn.predict(model.transform(X[te])) - y[te]).mean()

    alone = mae(LSDML(**params).fit(X[tr], y[tr]))
    both = mae(LSDML(**params).fit(np.vstack([X[tr], Xa]), np.r_[y[tr], 2 * y[aux] + 10],
                                   groups=np.r_[np.zeros(100), np.ones(500)]))
    assert both < 0.7 * alone  # 0.28 against 0.65 here
