"""ODL: the ordinal deep metric learning loss, term by term, and the learner."""

import itertools
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neighbors import KNeighborsRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skdml.deep._ordinal_targets import (  # noqa: E402
    check_ordinal_target,
    knn_regression_mae,
    ordinal_cut_points,
)
from skdml.deep.odl import ODL, ODLLoss  # noqa: E402


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X[:120], y[:120]


def small(**params):
    defaults = dict(hidden_sizes=(16, 4), max_epochs=2, batch_size=30, random_state=0)
    return ODL(**{**defaults, **params})


def _softplus(z, beta):
    return np.log1p(np.exp(beta * z)) / beta


def _odl_by_hand(x, y, cuts, s, W, b, *, margin, tau, beta, order_weight, cost_weight,
                 ce_weight, triplets=None):
    """The ODL objective of one batch, from its definition, with NumPy loops."""
    n = len(y)
    D = ((x[:, None] - x[None]) ** 2).sum(-1)
    levels = np.searchsorted(cuts, y, side="right")
    if triplets is None:
        triplets = [(a, i, j) for a in range(n) for i, j in itertools.combinations(range(n), 2)
                    if a not in (i, j)]
    j1 = []
    for a, i, j in triplets:
        g_i, g_j = abs(y[a] - y[i]), abs(y[a] - y[j])
        if g_i == g_j:
            continue
        far, near = (i, j) if g_i > g_j else (j, i)
        j1.append(abs(g_i - g_j) / s * max(0.0, margin - D[a, far] + D[a, near]))
    j2 = []
    for i, j in itertools.combinations(range(n), 2):
        sign = 1.0 if levels[i] == levels[j] else -1.0
        omega = 1.0 + abs(y[i] - y[j]) / s
        j2.append(omega * _softplus(1.0 - sign * (tau - D[i, j]), beta))
    ce = []
    for p in range(n):
        for k in range(len(cuts)):
            z = x[p] @ W[k] + b[k]
            t = float(levels[p] > k)
            ce.append(-(t * np.log(1 / (1 + np.exp(-z))) + (1 - t) * np.log(1 / (1 + np.exp(z)))))
    return order_weight * np.mean(j1) + cost_weight * np.mean(j2) + ce_weight * np.mean(ce)


def _loss(cuts, s, d, **params):
    torch.manual_seed(0)
    loss = ODLLoss(cuts, s, d, **params).double()
    ranker = loss.ranker
    W = ranker.weight.detach().numpy() if ranker is not None else np.zeros((len(cuts), d))
    b = ranker.bias.detach().numpy() if ranker is not None else np.zeros(len(cuts))
    return loss, W, b


@pytest.mark.parametrize("params", [
    dict(margin=1.0, tau=3.0, beta=2.0, order_weight=1.0, cost_weight=1.0, ce_weight=1.0),
    dict(margin=0.3, tau=1.5, beta=0.7, order_weight=0.4, cost_weight=0.5, ce_weight=2.0),
    dict(margin=2.0, tau=4.0, beta=3.0, order_weight=1.0, cost_weight=0.0, ce_weight=0.0),
    dict(margin=1.0, tau=3.0, beta=2.0, order_weight=0.0, cost_weight=1.0, ce_weight=1.0),
])
def test_loss_matches_its_definition_term_by_term(rng, params):
    x = rng.normal(size=(7, 3))
    y = np.array([0.0, 1.0, 1.0, 2.5, 4.0, 4.0, 7.0])  # ties: equal gaps from a landmark
    cuts, s = np.array([0.5, 2.0, 5.0]), 1.7
    loss, W, b = _loss(cuts, s, 3, **params)
    expected = _odl_by_hand(x, y, cuts, s, W, b, **params)
    got = loss(torch.tensor(x), torch.tensor(y)).item()
    assert got == pytest.approx(expected, rel=1e-10)
    # J1 on given triplets (landmark first): those alone, a tie among them skipped
    triplets = [(0, 1, 4), (3, 6, 0), (1, 0, 3), (2, 1, 3), (5, 4, 6)]
    a, i, j = (torch.tensor(t) for t in zip(*triplets))
    expected = _odl_by_hand(x, y, cuts, s, W, b, triplets=triplets, **params)
    got = loss(torch.tensor(x), torch.tensor(y), (a, i, j)).item()
    assert got == pytest.approx(expected, rel=1e-10)


def test_each_term_pulls_the_way_the_paper_says(rng):
    y = np.array([0.0, 1.0, 2.0, 3.0, 5.0, 8.0])
    cuts = ordinal_cut_points(y, 10)
    only_j1 = ODLLoss(cuts, 1.0, 1, cost_weight=0.0, ce_weight=0.0).double()
    # an embedding on a line, far enough apart, keeps every order of label gaps by the margin
    line = torch.tensor(3.0 * y[:, None])
    assert only_j1(line, torch.tensor(y)).item() == 0.0
    assert only_j1(torch.tensor(-3.0 * y[:, None] ** 0.1), torch.tensor(y)).item() > 0.0
    # the ranker's levels on an embedding it separates, and none without ce_weight
    loss = ODLLoss(cuts, 1.0, 1).double()
    with torch.no_grad():
        loss.ranker.weight.fill_(1.0)
        loss.ranker.bias.copy_(-torch.tensor(cuts))
    np.testing.assert_array_equal(loss.rank(torch.tensor(y[:, None])).numpy(),
                                  np.arange(len(y)))
    assert only_j1.ranker is None
    with pytest.raises(ValueError, match="no ranker"):
        only_j1.rank(line)


def test_loss_gradcheck_and_bad_arguments(rng):
    x = torch.tensor(rng.normal(size=(6, 2)), requires_grad=True)
    y = torch.tensor([0.0, 1.0, 1.0, 3.0, 4.0, 6.0])
    loss = ODLLoss([0.5, 2.0, 3.5], 2.0, 2).double()
    assert torch.autograd.gradcheck(lambda e: loss(e, y), (x,))
    with pytest.raises(ValueError, match="increasing"):
        ODLLoss([1.0, 0.5], 1.0, 2)
    with pytest.raises(ValueError, match="label_scale"):
        ODLLoss([1.0], 0.0, 2)
    with pytest.raises(ValueError, match="labels of shape"):
        loss(x, y[:, None])


def test_check_ordinal_target():
    y = np.array([3, 1, 2, 2])
    out = check_ordinal_target(y, 4)
    assert out.dtype == np.float64 and out.shape == (4,)
    np.testing.assert_array_equal(check_ordinal_target(y[:, None], 4), out)
    for bad, match in [([1.0, np.nan, 2.0, 3.0], "NaN or infinity"),
                       ([1.0, np.inf, 2.0, 3.0], "NaN or infinity"),
                       ([2, 2, 2, 2], "two distinct target values"),
                       ([1, 2, 3], "X has 4 samples but y has 3"),
                       (np.ones((4, 2)), r"shape \(n_samples,\)"),
                       (["a", "b", "a", "b"], "real-valued"),
                       (None, "requires y")]:
        with pytest.raises(ValueError, match=match):
            check_ordinal_target(bad, 4, estimator="ODL")


def test_ordinal_cut_points(rng):
    np.testing.assert_array_equal(ordinal_cut_points(np.array([0.0, 2, 1, 2, 5]), 10),
                                  [0.5, 1.5, 3.5])
    y = rng.normal(size=1000)
    cuts = ordinal_cut_points(y, 10)
    counts = np.bincount(np.searchsorted(cuts, y, side="right"))
    assert len(cuts) == 9 and counts.min() >= 99 and counts.max() <= 101
    # tied quantiles merge, and no level is left empty
    y = np.r_[np.zeros(80), np.arange(1.0, 21.0)]
    cuts = ordinal_cut_points(y, 10)
    assert (np.bincount(np.searchsorted(cuts, y, side="right")) > 0).all()
    assert cuts[0] > 0


def test_knn_regression_mae(rng):
    Z = rng.normal(size=(30, 2))
    y = rng.normal(size=30)
    pred = KNeighborsRegressor(n_neighbors=3).fit(Z[:20], y[:20]).predict(Z[20:])
    assert knn_regression_mae(Z[:20], y[:20], Z[20:], y[20:], n_neighbors=3) == pytest.approx(
        np.abs(pred - y[20:]).mean())


def test_fit_transform_levels_and_ranker(diabetes):
    X, y = diabetes
    model = small().fit(X, y)
    Z = model.transform(X)
    assert Z.shape == (120, 4) and Z.dtype == np.float64 and np.isfinite(Z).all()
    assert model.n_levels_ == 10 and len(model.cut_points_) == 9 and model.n_iter_ == 2
    assert model.label_scale_ == pytest.approx(np.std(y))
    assert not hasattr(model, "classes_") and not hasattr(model, "predict")
    assert model.get_feature_names_out().tolist() == [f"odl{i}" for i in range(4)]
    levels = model.ranker_levels(X)
    assert levels.shape == (120,) and levels.min() >= 0 and levels.max() <= 9
    train_levels = np.searchsorted(model.cut_points_, y, side="right")
    np.testing.assert_allclose(model.level_values_,
                               [y[train_levels == k].mean() for k in range(10)])
    # integer levels keep one level per value; the named parameters reach the loss
    ordinal = small(margin=0.5, tau=2.0, beta=1.0, cost_weight=0.3, ce_weight=0.0)
    ordinal.fit(X, np.arange(120) % 4)
    assert ordinal.n_levels_ == 4 and ordinal.cut_points_.tolist() == [0.5, 1.5, 2.5]
    loss = ordinal.loss_
    assert (loss.margin, loss.tau, loss.beta, loss.cost_weight, loss.ce_weight) == (
        0.5, 2.0, 1.0, 0.3, 0.0)
    with pytest.raises(ValueError, match="ce_weight=0"):
        ordinal.ranker_levels(X)
    assert small(weight_decay=0.01).fit(X, y).optimizer_.param_groups[0]["weight_decay"] == 0.01


def test_determinism_clone_pickle_pipeline_and_search(diabetes):
    X, y = diabetes
    Z1 = small().fit(X, y).transform(X)
    np.testing.assert_array_equal(Z1, small().fit(X, y).transform(X))
    fitted = small(random_state=1).fit(X, y)
    assert not np.allclose(Z1, fitted.transform(X))
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))
    twin = clone(small(margin=0.7, n_levels=5))
    assert twin.get_params()["margin"] == 0.7 and twin.get_params()["n_levels"] == 5
    assert not hasattr(clone(fitted), "module_")
    pipe = make_pipeline(small(), KNeighborsRegressor(n_neighbors=5))
    assert pipe.fit(X, y).predict(X[:3]).shape == (3,)
    search = GridSearchCV(pipe, {"odl__margin": [0.5, 1.0]}, cv=2,
                          scoring="neg_mean_absolute_error").fit(X, y)
    assert search.best_params_["odl__margin"] in (0.5, 1.0)


def test_bad_input_raises_and_leaves_the_fitted_state(diabetes):
    X, y = diabetes
    model = small().fit(X, y)
    Z = model.transform(X)
    state = (model.cut_points_.copy(), model.n_levels_, model.label_scale_, model.n_iter_)
    for bad, match in [(np.where(np.arange(120) == 3, np.nan, y), "NaN or infinity"),
                       (np.where(np.arange(120) == 3, np.inf, y), "NaN or infinity"),
                       (np.full(120, 3.0), "two distinct target values"),
                       (y[:-1], "X has 120 samples but y has 119"),
                       (None, "requires y")]:
        with pytest.raises(ValueError, match=match):
            model.fit(X, bad)
        np.testing.assert_array_equal(model.transform(X), Z)
        np.testing.assert_array_equal(model.cut_points_, state[0])
        assert (model.n_levels_, model.label_scale_, model.n_iter_) == state[1:]
    with pytest.raises(ValueError, match="n_levels"):
        small(n_levels=1).fit(X, y)
    # partial_fit keeps the first fit's levels and scale
    model.partial_fit(X, y / 2)
    np.testing.assert_array_equal(model.cut_points_, state[0])
    assert model.label_scale_ == state[2] and model.n_iter_ == 4


def test_learns_an_ordinal_embedding_beating_euclidean_knn():
    """Digit value as an ordinal label: kNN regression in ODL's embedding beats it on the
    standardized pixels (a few epochs on a subset, so that the test stays fast)."""
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X[:700], y[:700], test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    raw = knn_regression_mae(scaler.transform(X_tr), y_tr, scaler.transform(X_te), y_te)
    odl = ODL(hidden_sizes=(64, 32), max_epochs=10, lr=1e-2, random_state=0).fit(X_tr, y_tr)
    learned = knn_regression_mae(odl.transform(X_tr), y_tr, odl.transform(X_te), y_te)
    assert learned < 0.8 * raw, (learned, raw)  # 0.147 against 0.276 here
