"""The multi-view learners DDMML and MvDML, their input form and the multi-view digits:
the losses by hand, the view weights' closed form, the embedding's distance, the input
forms and their refusals, the contract, and learning on the digit views."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdml.datasets import make_digits_views, make_pairs
from skdml.deep._views import resolve_view_widths, stack_views
from skdml.deep.ddmml import DDMML, MultiMetricLoss
from skdml.deep.mvdml import MvDML, PairHingeLoss, SharableIndividualNet

LEARNERS = [DDMML, MvDML]


@pytest.fixture(scope="module")
def digit_views():
    X, y, widths = make_digits_views()
    X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=600, stratify=y,
                                                        random_state=0)
    return X_train, X_test, y_train, y_test, widths


def small(cls, widths=(16, 16, 30), **params):
    base = dict(views=widths, hidden_sizes=(16, 8), max_epochs=3, batch_size=64,
                random_state=0)
    if cls is MvDML:
        base.update(individual_dim=4, common_dim=4)
    return cls(**{**base, **params})


def _split(X, widths):
    return np.split(X, np.cumsum(widths)[:-1], axis=-1)


# --- the data ---------------------------------------------------------------------------


def test_digit_views_are_what_the_docstring_says():
    from sklearn.datasets import load_digits

    X, y, widths = make_digits_views(["pixels", "pooled", "profiles", "diagonals",
                                      "gradients"])
    assert widths == (64, 16, 16, 30, 32) and X.shape == (1797, 158)
    digits = load_digits()
    np.testing.assert_array_equal(y, digits.target)
    pixels, pooled, profiles, diagonals, gradients = _split(X, widths)
    images = digits.images
    np.testing.assert_array_equal(pixels, digits.data)
    # the thumbnail's top-left value: the mean of the image's top-left 2 x 2 block
    np.testing.assert_allclose(pooled[:, 0], images[:, :2, :2].mean(axis=(1, 2)))
    np.testing.assert_allclose(pooled[:, 15], images[:, 6:, 6:].mean(axis=(1, 2)))
    np.testing.assert_allclose(profiles[:, 2], images[:, 2, :].sum(axis=1))  # row 2
    np.testing.assert_allclose(profiles[:, 8 + 5], images[:, :, 5].sum(axis=1))  # col 5
    ink = images.sum(axis=(1, 2))
    np.testing.assert_allclose(diagonals[:, :15].sum(axis=1), ink)
    np.testing.assert_allclose(diagonals[:, 15:].sum(axis=1), ink)
    np.testing.assert_allclose(diagonals[:, 7], np.trace(images, axis1=1, axis2=2))
    np.testing.assert_allclose(diagonals[:, 0], images[:, 7, 0])  # the corner diagonal
    assert np.all(gradients >= 0) and np.all(np.isfinite(gradients))
    # the order of the views is the order asked for
    X2, _, widths2 = make_digits_views(("profiles", "pooled"))
    np.testing.assert_array_equal(X2, np.hstack([profiles, pooled]))
    assert widths2 == (16, 16)


def test_each_default_view_alone_is_worse_than_all_together():
    X, y, widths = make_digits_views()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y,
                                                        random_state=0)

    def accuracy(cols):
        knn = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=3))
        return knn.fit(X_train[:, cols], y_train).score(X_test[:, cols], y_test)

    edges = np.cumsum((0,) + widths)
    together = accuracy(slice(None))
    alone = [accuracy(slice(a, b)) for a, b in zip(edges[:-1], edges[1:])]
    assert max(alone) < together - 0.02, (alone, together)


@pytest.mark.parametrize("views, message", [
    ("pooled", "list or tuple"),
    ([], "non-empty"),
    (["pooled", "edges"], r"unknown views \['edges'\]"),
    (["pooled", "pooled"], "once"),
])
def test_digit_views_refuse_bad_names(views, message):
    with pytest.raises(ValueError, match=message):
        make_digits_views(views)


# --- the input form ---------------------------------------------------------------------


def test_view_widths_from_an_int_or_a_tuple():
    assert resolve_view_widths(2, 5, owner="L") == (3, 2)
    assert resolve_view_widths(3, 62, owner="L") == (21, 21, 20)
    assert resolve_view_widths((16, 16, 30), 62, owner="L") == (16, 16, 30)
    assert resolve_view_widths([1, 1], 2, owner="L") == (1, 1)
    assert resolve_view_widths(2, 7, owner="L", given=(4, 3)) == (4, 3)


@pytest.mark.parametrize("views, n_features, given, message", [
    (2, 1, None, r"views=2 .* 1 feature\(s\)"),
    (1, 4, None, "views must be >= 2"),
    ((4,), 4, None, "at least 2 view widths"),
    ((3, 0), 3, None, "positive ints"),
    ((2, 2.5), 4, None, "positive ints"),
    ((16, 16), 62, None, r"add up to 32 features, but X has 62"),
    (3, 7, (4, 3), "views=3 expects 3 views, got a list of 2"),
    ((3, 4), 7, (4, 3), r"list of views given has widths \(4, 3\)"),
])
def test_view_widths_refusals(views, n_features, given, message):
    with pytest.raises(ValueError, match=message):
        resolve_view_widths(views, n_features, owner="L", given=given)


def test_stacking_views():
    a, b = np.ones((4, 2)), np.zeros((4, 3))
    X, widths = stack_views([a, b], owner="L")
    assert widths == (2, 3) and X.shape == (4, 5)
    pairs, widths = stack_views((np.ones((4, 2, 2)), np.zeros((4, 2, 3))), owner="L")
    assert widths == (2, 3) and pairs.shape == (4, 2, 5)
    with pytest.raises(ValueError, match=r"different numbers of samples \[4, 3\]"):
        stack_views([a, b[:3]], owner="L")
    with pytest.raises(ValueError, match="at least 2 views, got a list of 1"):
        stack_views([a], owner="L")
    with pytest.raises(ValueError, match="all .* arrays"):
        stack_views([a, np.ones((4, 2, 3))], owner="L")


# --- the losses by hand -----------------------------------------------------------------


def _softplus(z, beta):
    return np.log1p(np.exp(beta * z)) / beta


def _batch(seed=0, n=10, dims=(3, 2, 4)):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, sum(dims)))
    labels = rng.integers(0, 3, n)
    labels[:2] = 0  # a positive pair at least
    return Z, labels


def _pairs_of(labels):
    i, j = np.triu_indices(len(labels), k=1)
    same = labels[i] == labels[j]
    return (i[same], j[same]), (i[~same], j[~same])


@pytest.mark.parametrize("mu, p", [(0.0, 2.0), (0.05, 2.0), (0.3, 1.5)])
def test_multi_metric_loss_by_hand(mu, p):
    dims, tau, beta = (3, 2, 4), 2.5, 1.5
    Z, labels = _batch(dims=dims)
    loss = MultiMetricLoss(dims, tau=tau, beta=beta, mu=mu, p=p)
    alpha = np.array([0.5, 0.2, 0.3])
    loss.view_weights.copy_(torch.as_tensor(alpha))
    value = loss(torch.as_tensor(Z), torch.as_tensor(labels)).item()

    (pi, pj), (ni, nj) = _pairs_of(labels)
    first, second = np.concatenate([pi, ni]), np.concatenate([pj, nj])
    sign = np.concatenate([np.ones(len(pi)), -np.ones(len(ni))])
    views = _split(Z, dims)
    d2 = np.array([np.sum((v[first] - v[second]) ** 2, axis=1) for v in views])
    J = np.array([np.mean(_softplus(1 - sign * (tau - d), beta)) for d in d2])
    d = np.sqrt(d2)  # the disagreement of the distances, not of their squares
    corr = np.mean(sum((d[k] - d[m]) ** 2 for k in range(3) for m in range(k + 1, 3)))
    expected = np.sum(alpha ** p * J) + mu * corr
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    # the training-mode losses it accumulates are the per-view J_k
    np.testing.assert_allclose(loss.term_sums.numpy(), J, rtol=1e-10)


def test_each_view_term_is_ddmls_loss():
    from skdml.deep import GeneralizedLogisticLoss

    dims = (3, 2, 4)
    Z, labels = _batch(dims=dims, seed=1)
    loss = MultiMetricLoss(dims, tau=2.0, beta=3.0, mu=0.0)
    Zt, yt = torch.as_tensor(Z), torch.as_tensor(labels)
    loss(Zt, yt)
    ddml = GeneralizedLogisticLoss(tau=2.0, beta=3.0)
    start = 0
    for k, d in enumerate(dims):
        expected = ddml(Zt[:, start:start + d], yt).item()
        np.testing.assert_allclose(loss.term_sums[k].item(), expected, rtol=1e-10)
        start += d


@pytest.mark.parametrize("p", [1.5, 2.0, 4.0])
def test_view_weights_minimize_the_weighted_loss_on_the_simplex(p):
    loss = MultiMetricLoss((2, 2, 2), p=p)
    J = np.array([0.2, 0.5, 0.9])
    loss.term_sums.copy_(torch.as_tensor(2 * J))  # two batches
    loss.n_batches.fill_(2)
    alpha = loss.update_view_weights().numpy()
    expected = J ** (1 / (1 - p)) / np.sum(J ** (1 / (1 - p)))
    np.testing.assert_allclose(alpha, expected, rtol=1e-6)
    assert alpha[0] > alpha[1] > alpha[2]  # the better view weighs more
    best = np.sum(alpha ** p * J)
    others = np.random.default_rng(0).dirichlet(np.ones(3), size=500)
    assert np.all(np.sum(others ** p * J, axis=1) >= best - 1e-7)
    # the sums start again; without batches the weights stay
    assert loss.n_batches.item() == 0
    np.testing.assert_allclose(loss.update_view_weights().numpy(), alpha)


def test_pair_hinge_loss_by_hand():
    Z, labels = _batch(seed=2, dims=(5,))
    tau_s, tau_d = 2.0, 9.0
    value = PairHingeLoss(tau_s, tau_d)(torch.as_tensor(Z), torch.as_tensor(labels)).item()
    (pi, pj), (ni, nj) = _pairs_of(labels)
    d_pos = np.sum((Z[pi] - Z[pj]) ** 2, axis=1)
    d_neg = np.sum((Z[ni] - Z[nj]) ** 2, axis=1)
    expected = np.mean(np.maximum(d_pos - tau_s, 0)) + np.mean(np.maximum(tau_d - d_neg, 0))
    assert 0 < np.mean(np.maximum(d_pos - tau_s, 0)) and 0 < np.mean(np.maximum(tau_d - d_neg,
                                                                              0))
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    with pytest.raises(ValueError, match="tau_d must be >= tau_s"):
        PairHingeLoss(3.0, 1.0)


def test_sharable_individual_distance_by_hand():
    torch.manual_seed(0)
    net = SharableIndividualNet(9, (4, 5), hidden_sizes=(6, 3), individual_dim=2,
                                common_dim=3).double()
    X = torch.as_tensor(np.random.default_rng(0).standard_normal((2, 9)))
    with torch.no_grad():
        h = net(X).numpy()
        f = [f_k.numpy() for f_k in net.view_outputs(X)]
    Ws = [W.weight.detach().numpy() for W in net.individual]
    Wc = [W.weight.detach().numpy() for W in net.common]
    diff = [f_k[0] - f_k[1] for f_k in f]
    expected = (sum(np.sum((Ws[k] @ diff[k]) ** 2) for k in range(2))
                + np.sum((sum(Wc[k] @ diff[k] for k in range(2)) / 2) ** 2))
    np.testing.assert_allclose(np.sum((h[0] - h[1]) ** 2), expected, rtol=1e-10)
    assert h.shape == (2, 2 * 2 + 3)
    only_common = SharableIndividualNet(9, (4, 5), hidden_sizes=(3,), individual_dim=0)
    assert only_common(X.float()).shape == (2, 16)


# --- the learners -----------------------------------------------------------------------


def test_ddmml_embedding_distance_is_the_weighted_view_distance(digit_views):
    X_train, X_test, y_train, _, widths = digit_views
    model = small(DDMML, widths).fit(X_train, y_train)
    alpha = model.view_weights_
    assert alpha.shape == (3,) and np.isclose(alpha.sum(), 1) and np.all(alpha > 0)
    assert not np.allclose(alpha, 1 / 3)  # the weights were learned
    assert len(model.history_[:, "view_weights"]) == model.n_iter_
    np.testing.assert_allclose(model.history_[-1, "view_weights"], alpha)
    with torch.no_grad():
        views = model.module_.view_outputs(torch.as_tensor(model._scale_input(X_test[:6])))
    d2 = sum(a * torch.sum((v[:3] - v[3:]) ** 2, dim=1).numpy() for a, v in zip(alpha, views))
    pairs = np.stack([X_test[:3], X_test[3:6]], axis=1)
    np.testing.assert_allclose(model.pair_distance(pairs) ** 2, d2, rtol=1e-5)
    Z = model.transform(X_test[:6])
    np.testing.assert_allclose(np.sum((Z[:3] - Z[3:]) ** 2, axis=1), d2, rtol=1e-5)


def test_ddmml_weight_decay_is_weighted_with_each_views_term(digit_views):
    X_train, _, y_train, _, widths = digit_views
    model = small(DDMML, widths, weight_decay=0.01).fit(X_train, y_train)
    alpha, p = model.view_weights_, model.p
    X = torch.as_tensor(model._scale_input(X_train[:40]))
    y = torch.as_tensor(np.searchsorted(model.classes_, y_train[:40]))
    model.loss_.eval()
    with torch.no_grad():
        embeddings = model.infer(X)
        value = model._batch_loss(embeddings, y, X, training=False).item()
        data_term = model.loss_(embeddings, y).item()
    squares = [sum(float(torch.sum(t.detach() ** 2)) for t in net.parameters())
               for net in model.module_.nets]
    expected = data_term + np.sum(alpha ** p * 0.5 * 0.01 * np.array(squares))
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    # in training mode the penalties count in the next weight update, with their batch
    model.loss_.train()
    model.loss_.update_view_weights()  # empty the sums
    penalties = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    model.loss_.view_penalty(penalties)
    assert model.loss_.n_batches.item() == 0
    np.testing.assert_allclose(model.loss_.term_sums.numpy(), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("cls", LEARNERS)
def test_a_list_of_views_is_the_stacked_array(cls, digit_views):
    X_train, X_test, y_train, _, widths = digit_views
    stacked = small(cls, widths).fit(X_train, y_train)
    listed = small(cls, 3).fit(_split(X_train, widths), y_train)  # views=3: the list's widths
    assert listed.view_widths_ == widths
    np.testing.assert_allclose(listed.transform(X_test), stacked.transform(X_test), atol=1e-6)
    np.testing.assert_allclose(listed.transform(_split(X_test, widths)),
                               stacked.transform(X_test), atol=1e-6)
    index_pairs, labels = make_pairs(X_train, y_train, 200, return_indices=True,
                                     random_state=0)
    by_index = small(cls, widths).fit(index_pairs, labels,
                                      preprocessor=_split(X_train, widths))
    pairs = X_train[index_pairs]
    on_pairs = small(cls, widths).fit(_split(pairs, widths), labels)
    np.testing.assert_allclose(by_index.transform(X_test), on_pairs.transform(X_test),
                               atol=1e-6)
    assert on_pairs.view_widths_ == widths and hasattr(on_pairs, "threshold_")
    np.testing.assert_allclose(on_pairs.transform(X_test),
                               small(cls, widths).fit(pairs, labels).transform(X_test),
                               atol=1e-6)


@pytest.mark.parametrize("cls", LEARNERS)
def test_default_views_cut_the_columns_in_two(cls):
    X = np.random.default_rng(0).standard_normal((40, 5))
    y = np.arange(40) % 4
    model = cls(hidden_sizes=(4,), max_epochs=2, random_state=0).fit(X, y)
    assert model.view_widths_ == (3, 2)


def _state(model):
    return ({k: v for k, v in vars(model).items() if k.endswith("_") and not k.startswith("_")
             and k not in ("module_", "loss_", "optimizer_", "history_", "callbacks_")},
            {k: v.clone() for k, v in model.module_.state_dict().items()},
            {k: v.clone() for k, v in model.loss_.state_dict().items()},
            len(model.history_))


def _assert_same_state(a, b):
    assert a[0].keys() == b[0].keys() and a[3] == b[3]
    for k in a[0]:
        np.testing.assert_array_equal(np.asarray(a[0][k], dtype=object),
                                      np.asarray(b[0][k], dtype=object))
    for x, y in zip(a[1:3], b[1:3]):
        assert x.keys() == y.keys()
        assert all(torch.equal(x[k], y[k]) for k in x)


@pytest.mark.parametrize("cls", LEARNERS)
@pytest.mark.parametrize("bad, message", [
    (lambda X, w: [X[:, :16], X[:-1, 16:32], X[:, 32:]],
     r"different numbers of samples \[600, 599, 600\]"),
    (lambda X, w: [X], "needs at least 2 views, got a list of 1"),
    (lambda X, w: X[:, :40], r"view widths \(16, 16, 30\) add up to 62 features, but X "
                             r"has 40"),
    (lambda X, w: [X[:, :16], X[:, 16:]], r"views=\(16, 16, 30\) names the view widths, "
                                          r"but the list of views given has widths"),
])
def test_bad_views_are_refused_and_the_state_is_unchanged(cls, bad, message, digit_views):
    X_train, _, y_train, _, widths = digit_views
    model = small(cls, widths).fit(X_train, y_train)
    before = _state(model)
    with pytest.raises(ValueError, match=message):
        model.fit(bad(X_train, widths), y_train)
    _assert_same_state(_state(model), before)
    unfitted = small(cls, widths)
    with pytest.raises(ValueError, match=message):
        unfitted.fit(bad(X_train, widths), y_train)
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(unfitted)
                   if k not in ("history_", "initialized_", "virtual_params_"))


@pytest.mark.parametrize("cls", LEARNERS)
def test_views_of_other_widths_in_transform(cls, digit_views):
    X_train, X_test, y_train, _, widths = digit_views
    model = small(cls, widths).fit(X_train, y_train)
    with pytest.raises(ValueError, match=r"fitted on views of widths \(16, 16, 30\), got a "
                                         r"list of views of widths \(16, 46\)"):
        model.transform([X_test[:, :16], X_test[:, 16:]])
    with pytest.raises(ValueError, match="different numbers of samples"):
        model.transform([X_test[:, :16], X_test[1:, 16:32], X_test[:, 32:]])


@pytest.mark.parametrize("cls, params, message", [
    (DDMML, dict(views=1), "views"),
    (DDMML, dict(p=1.0), r"\bp\b"),
    (DDMML, dict(mu=-1.0), "mu"),
    (MvDML, dict(individual_dim=0, common_dim=0), "cannot both be 0"),
    (MvDML, dict(tau_s=5.0, tau_d=1.0), "tau_d must be >= tau_s"),
])
def test_bad_parameters(cls, params, message, digit_views):
    X_train, _, y_train, _, widths = digit_views
    with pytest.raises(ValueError, match=message):
        small(cls, widths, **params).fit(X_train, y_train)


@pytest.mark.parametrize("cls", LEARNERS)
def test_clone_pickle_pipeline_gridsearch(cls, digit_views):
    X_train, X_test, y_train, _, widths = digit_views
    model = small(cls, widths)
    copy = clone(model)
    assert copy.get_params()["views"] == widths
    fitted = model.fit(X_train, y_train)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.transform(X_test), fitted.transform(X_test))
    pipe = make_pipeline(small(cls, widths), KNeighborsClassifier(n_neighbors=3))
    grid = GridSearchCV(pipe, {f"{cls.__name__.lower()}__max_epochs": [1, 2]}, cv=2)
    grid.fit(X_train[:200], y_train[:200])
    assert grid.predict(X_test[:5]).shape == (5,)
    # on pairs: GridSearchCV splits the pairs' rows and scores the pair classifier
    pairs, labels = make_pairs(X_train, y_train, 200, random_state=0)
    grid = GridSearchCV(small(cls, widths), {"max_epochs": [1, 2]}, cv=2).fit(pairs, labels)
    assert 0 <= grid.best_score_ <= 1


@pytest.mark.parametrize("cls", LEARNERS)
def test_deterministic_under_random_state(cls, digit_views):
    X_train, X_test, y_train, _, widths = digit_views
    a = small(cls, widths).fit(X_train, y_train).transform(X_test)
    b = small(cls, widths).fit(X_train, y_train).transform(X_test)
    c = small(cls, widths, random_state=1).fit(X_train, y_train).transform(X_test)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("cls", LEARNERS)
def test_warm_start_needs_the_same_views(cls, digit_views):
    X_train, _, y_train, _, widths = digit_views
    model = small(cls, widths, warm_start=True).fit(X_train, y_train)
    model.set_params(views=(16, 46))
    with pytest.raises(ValueError, match=r"views of the previous fit, of widths \(16, 16, 30\)"):
        model.fit(X_train, y_train)
    assert model.view_widths_ == widths


@pytest.mark.parametrize("cls", LEARNERS)
def test_partial_fit_takes_a_list_of_views(cls, digit_views):
    X_train, _, y_train, _, widths = digit_views
    model = small(cls, widths).partial_fit(_split(X_train, widths), y_train)
    n = model.n_iter_
    model.partial_fit(_split(X_train, widths), y_train)
    assert model.n_iter_ == len(model.history_) == 2 * n


# --- learning ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def four_views():
    """The default views and the weak gradient histograms (alone 0.56 for a 3-NN), which
    pull a Euclidean kNN on all four views down."""
    X, y, widths = make_digits_views(["pooled", "profiles", "diagonals", "gradients"])
    X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=600, stratify=y,
                                                        random_state=0)
    return X_train, X_test, y_train, y_test, widths


@pytest.mark.parametrize("cls", LEARNERS)
def test_beats_euclidean_knn_on_the_digit_views(cls, four_views):
    X_train, X_test, y_train, y_test, widths = four_views
    euclidean = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=3))
    baseline = euclidean.fit(X_train, y_train).score(X_test, y_test)
    params = dict(hidden_sizes=(32, 16), max_epochs=15)
    if cls is MvDML:
        params.update(individual_dim=8, common_dim=8)
    learner = small(cls, widths, **params)
    model = make_pipeline(learner, KNeighborsClassifier(n_neighbors=3))
    learned = model.fit(X_train, y_train).score(X_test, y_test)
    assert learned > baseline + 0.01, (learned, baseline)
    if cls is DDMML:  # the weak view weighs least
        assert np.argmin(learner.view_weights_) == 3, learner.view_weights_


@pytest.mark.parametrize("cls", LEARNERS)
def test_pair_verification_beats_the_euclidean_threshold(cls, digit_views):
    X_train, X_test, y_train, y_test, widths = digit_views
    pairs, labels = make_pairs(X_train, y_train, 1500, random_state=0)
    test_pairs, test_labels = make_pairs(X_test, y_test, 1500, random_state=1)
    scaler = StandardScaler().fit(X_train)

    def distances(p):
        return np.linalg.norm(scaler.transform(p[:, 0]) - scaler.transform(p[:, 1]), axis=1)

    from skdml._threshold import best_threshold

    threshold, _ = best_threshold(distances(pairs), labels, "accuracy")
    baseline = np.mean(np.where(distances(test_pairs) <= threshold, 1, -1) == test_labels)
    model = small(cls, widths, hidden_sizes=(32, 16), max_epochs=15).fit(pairs, labels)
    assert model.score(test_pairs, test_labels) > baseline + 0.05, baseline
