"""DTML / DSTML and the domain-shift data: objective terms by hand, y == -1, the contract."""

import pickle
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from skdml._datasets_deep import make_digits_domain_shift
from skdml.deep import MetricLoss
from skdml.deep.distances import CosineSimilarity, LpDistance
from skdml.deep.regularizers import LpRegularizer
from skdml.deep.dtml import (
    DSTML,
    DTML,
    TransferObjective,
    _DomainBatchSampler,
    neighbor_pairs,
)


@pytest.fixture(scope="module")
def shift():
    """A small domain-shift problem: 300 source and 200 target digits, standardized."""
    Xs, ys, Xt, yt = make_digits_domain_shift(random_state=0)
    Xs, ys, Xt, yt = Xs[:300], ys[:300], Xt[:200], yt[:200]
    scaler = StandardScaler().fit(np.vstack([Xs, Xt]))
    Xs, Xt = scaler.transform(Xs), scaler.transform(Xt)
    X = np.vstack([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    return X, y, Xs, ys, Xt, yt


def small(cls=DTML, **params):
    defaults = dict(hidden_sizes=(16, 8), max_epochs=3, batch_size=64, tol=0.0, random_state=0)
    return cls(**{**defaults, **params})


def _sq(u, v):
    return np.sum((u - v) ** 2)


def _hand_terms(X, Z, y, k1, k2, d=_sq):
    """S_c, S_b and the MMD by loops, straight from the paper's definitions (``d`` the
    embedding distance)."""
    src = np.flatnonzero(y >= 0)
    intra, inter = [], []
    for i in src:
        same = [j for j in src if j != i and y[j] == y[i]]
        other = [j for j in src if y[j] != y[i]]
        for group, k, acc in ((same, k1, intra), (other, k2, inter)):
            order = sorted(group, key=lambda j: np.sum((X[i] - X[j]) ** 2))[:k]
            acc += [d(Z[i], Z[j]) for j in order]
    mmd = np.sum((Z[y >= 0].mean(0) - Z[y < 0].mean(0)) ** 2)
    return np.mean(intra), np.mean(inter), mmd


@pytest.mark.parametrize("k1, k2", [(1, 1), (2, 3), (5, 10)])
def test_objective_terms_match_hand_computation(k1, k2):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(9, 3))
    Z = rng.normal(size=(9, 2))
    y = np.array([0, 0, 0, 1, 1, 2, 2, -1, -1])
    obj = TransferObjective(k1=k1, k2=k2, alpha=0.3, beta=2.0)
    X, Z, y_t = torch.tensor(X), torch.tensor(Z), torch.tensor(y)
    pairs = obj.pairs(X, y_t)  # the input-space neighborhoods, as DTML hands them over
    terms = obj.terms(Z, y_t, pairs)
    expected = _hand_terms(X.numpy(), Z.numpy(), y, k1, k2)
    np.testing.assert_allclose([float(t) for t in terms], expected, rtol=1e-10)
    J = obj(Z, y_t, pairs)
    s_c, s_b, mmd = expected
    assert float(J) == pytest.approx(s_c - 0.3 * s_b + 2.0 * mmd, rel=1e-10)


def test_objective_is_a_metric_loss_with_a_distance():
    rng = np.random.default_rng(1)
    X, Z = rng.normal(size=(9, 3)), rng.normal(size=(9, 2))
    y = np.array([0, 0, 0, 1, 1, 2, 2, -1, -1])
    X_t, Z_t, y_t = torch.tensor(X), torch.tensor(Z), torch.tensor(y)
    obj = TransferObjective(k1=2, k2=3, alpha=0.3, beta=2.0, distance=LpDistance())
    assert isinstance(obj, MetricLoss) and obj.tuple_kind is None
    assert not obj.needs_positive_pairs
    assert TransferObjective().distance == LpDistance(power=2)
    pairs = obj.pairs(X_t, y_t)
    s_c, s_b, mmd = _hand_terms(X, Z, y, 2, 3, d=lambda u, v: np.sqrt(_sq(u, v)))
    assert float(obj(Z_t, y_t, pairs)) == pytest.approx(s_c - 0.3 * s_b + 2.0 * mmd,
                                                        rel=1e-10)
    reg = TransferObjective(k1=2, k2=3, alpha=0.3, beta=2.0, distance=LpDistance(),
                            embedding_regularizer=LpRegularizer(weight=0.5))
    norms = np.linalg.norm(Z, axis=1).mean()
    assert float(reg(Z_t, y_t, pairs)) == pytest.approx(
        s_c - 0.3 * s_b + 2.0 * mmd + 0.5 * norms, rel=1e-10)
    with pytest.raises(ValueError, match="TransferObjective needs a distance"):
        TransferObjective(distance=CosineSimilarity())
    with pytest.raises(ValueError, match="k1 must be an integer >= 1"):
        TransferObjective(k1=0)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        TransferObjective(alpha=-1.0)


def test_loss_distance_reaches_the_objective(shift):
    X, y = shift[:2]
    model = small(max_epochs=1, loss__distance=LpDistance()).fit(X, y)
    assert model.loss_.distance == LpDistance()
    assert "distance" not in model.get_params()  # DTML names the paper's parameters only


def test_neighbor_pairs_exclude_targets_and_self():
    X = torch.tensor([[0.0], [1.0], [2.0], [10.0], [0.5]])
    y = torch.tensor([0, 0, 1, 1, -1])
    (ii, ij), (bi, bj) = neighbor_pairs(X, y, k1=5, k2=5)
    intra = set(zip(ii.tolist(), ij.tolist()))
    inter = set(zip(bi.tolist(), bj.tolist()))
    assert intra == {(0, 1), (1, 0), (2, 3), (3, 2)}  # fewer than k1: all of them, no self
    assert inter == {(0, 2), (0, 3), (1, 2), (1, 3), (2, 0), (2, 1), (3, 0), (3, 1)}
    # the target sample (index 4) is neither an anchor nor a neighbor
    assert 4 not in {*ii.tolist(), *ij.tolist(), *bi.tolist(), *bj.tolist()}


def test_terms_without_one_domain_are_zero():
    Z = torch.randn(4, 2, dtype=torch.float64)
    X = torch.randn(4, 3, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    _, _, mmd = TransferObjective().terms(Z, y, TransferObjective().pairs(X, y))
    assert float(mmd) == 0.0
    s_c, s_b, _ = TransferObjective().terms(Z, torch.tensor([-1, -1, -1, -1]))
    assert float(s_c) == 0.0 and float(s_b) == 0.0


def test_get_loss_adds_weight_decay(shift):
    X, y = shift[:2]
    model = small(gamma=0.5).fit(X, y)
    Xb = torch.tensor(X[::7], dtype=torch.float32)
    yb = torch.tensor(y[::7])
    with torch.no_grad():
        Z = model.module_(Xb)
        got = model.get_loss(Z, yb, X=Xb)
        penalty = sum(float((p ** 2).sum()) for p in model.module_.parameters())
        expected = float(model.loss_(Z, yb, model.loss_.pairs(Xb, yb))) + 0.5 * penalty
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_dstml_objective_adds_thresholded_hidden_layer_terms(shift):
    X, y = shift[:2]
    model = small(DSTML, hidden_sizes=(16, 12, 8), omega=(0.5, 2.0), tau=(-100.0, 100.0),
                  gamma=0.0).fit(X, y)
    Xb = torch.tensor(X[::5], dtype=torch.float32)
    yb = torch.tensor(y[::5])
    with torch.no_grad():
        Z = model.module_(Xb)
        layers = list(model.module_.net)
        h1 = layers[1](layers[0](Xb))
        h2 = layers[3](layers[2](h1))
        pairs = model.loss_.pairs(Xb, yb)  # one input-space neighborhood for every layer
        J1, J2 = float(model.loss_(h1, yb, pairs)), float(model.loss_(h2, yb, pairs))
        top = float(model.loss_(Z, yb, pairs))
        got = float(model.get_loss(Z, yb, X=Xb))
    # tau=-100 keeps layer 1's term active, tau=100 switches layer 2's off (h = max(x, 0))
    assert got == pytest.approx(top + 0.5 * (J1 + 100.0) + 2.0 * max(J2 - 100.0, 0.0),
                                rel=1e-5)
    # with one layer there is no hidden term: DSTML is DTML
    a = small(DSTML, hidden_sizes=(8,)).fit(X, y).transform(X)
    b = small(DTML, hidden_sizes=(8,)).fit(X, y).transform(X)
    np.testing.assert_array_equal(a, b)


def test_dstml_rejects_bad_omega_and_tau(shift):
    X, y = shift[:2]
    with pytest.raises(ValueError, match="omega must be a number or one number per"):
        small(DSTML, hidden_sizes=(16, 12, 8), omega=(1.0, 2.0, 3.0)).fit(X, y)
    with pytest.raises(ValueError, match="omega must be >= 0"):
        small(DSTML, omega=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="tau must be finite"):
        small(DSTML, tau=np.nan).fit(X, y)
    with pytest.raises(ValueError, match="tau must be a number or one number per"):
        small(DSTML, hidden_sizes=(16, 12, 8), tau=(None, 1.0)).fit(X, y)


def test_dstml_structural_term_is_active_at_defaults(shift):
    """At its defaults (two layers, omega=1, tau=None) DSTML counts the hidden layer's
    objective even where it is negative, which the paper's tau=0 would clip to nothing
    with this class's alpha=1; the fit differs from the one without the term."""
    X, y = shift[:2]
    defaults = DSTML()
    assert defaults.tau is None and defaults.omega == 1.0
    assert len(defaults.hidden_sizes) == 2  # a hidden layer to supervise
    fast = dict(max_epochs=3, tol=0.0, random_state=0)
    model = DSTML(gamma=0.0, **fast).fit(X, y)
    Xb, yb = torch.tensor(X[::3], dtype=torch.float32), torch.tensor(y[::3])
    with torch.no_grad():
        Z = model.module_(Xb)
        hidden = model.module_.net[1](model.module_.net[0](Xb))
        pairs = model.loss_.pairs(Xb, yb)
        top, J1 = float(model.loss_(Z, yb, pairs)), float(model.loss_(hidden, yb, pairs))
        got = float(model.get_loss(Z, yb, X=Xb))
    assert J1 < 0  # tau=0 would switch the hidden-layer term off here
    assert got == pytest.approx(top + J1, rel=1e-5)
    with_term = DSTML(**fast).fit(X, y).transform(X)
    without = DSTML(omega=0.0, **fast).fit(X, y).transform(X)
    assert np.abs(with_term - without).max() > 0.1
    # omega=0 is DTML on the same network
    np.testing.assert_array_equal(without, DTML(hidden_sizes=(128, 64), **fast).fit(X, y)
                                  .transform(X))


def test_dtml_beats_euclidean_and_no_transfer_on_the_target():
    """The papers' claim at the defaults (fewer epochs, for speed): the learned metric
    classifies the target domain better than Euclidean distance, raw or standardized, and
    than the same learner without its MMD term (beta=0)."""
    Xs, ys, Xt, yt = make_digits_domain_shift(random_state=0)
    X, y = np.vstack([Xs, Xt]), np.concatenate([ys, np.full(len(Xt), -1)])

    def target_knn(Zs, Zt):
        return KNeighborsClassifier(3).fit(Zs, ys).score(Zt, yt)

    scaler = StandardScaler().fit(X)
    euclidean = max(target_knn(Xs, Xt), target_knn(scaler.transform(Xs), scaler.transform(Xt)))
    fast = dict(max_epochs=10, tol=0.0, random_state=0)
    dtml = DTML(**fast).fit(X, y)
    no_transfer = DTML(beta=0.0, **fast).fit(X, y)
    accuracy = target_knn(dtml.transform(Xs), dtml.transform(Xt))
    assert accuracy >= euclidean
    assert accuracy > target_knn(no_transfer.transform(Xs), no_transfer.transform(Xt)) + 0.05


@pytest.mark.parametrize("cls", [DTML, DSTML])
def test_no_target_or_no_source_is_a_clear_error(cls, shift):
    X, y = shift[:2]
    with pytest.raises(ValueError, match="y has no -1, so there is no target domain"):
        small(cls).fit(X, np.abs(y))
    with pytest.raises(ValueError, match="every sample of y is -1"):
        small(cls).fit(X, np.full(len(y), -1))
    with pytest.raises(ValueError, match="requires y"):
        small(cls).fit(X, None)
    with pytest.raises(ValueError, match=r"expected y of shape \(500,\)"):
        small(cls).fit(X, y[:10])


def _state(model):
    """What a fit leaves: the public attributes, the weights and the history's length."""
    return ({k: v for k, v in vars(model).items() if k.endswith("_") and not k.startswith("_")
             and k not in ("module_", "loss_", "optimizer_", "history_", "callbacks_",
                           "criterion_")},
            {k: v.clone() for k, v in model.module_.state_dict().items()},
            len(model.history_),
            {name: getattr(model, name, None) for name in ("_omega", "_tau")})


def _assert_same_state(a, b):
    attrs_a, weights_a, n_a, extra_a = a
    attrs_b, weights_b, n_b, extra_b = b
    assert attrs_a.keys() == attrs_b.keys() and n_a == n_b and extra_a == extra_b
    for k in attrs_a:
        np.testing.assert_array_equal(np.asarray(attrs_a[k], dtype=object),
                                      np.asarray(attrs_b[k], dtype=object))
    for k in weights_a:
        assert torch.equal(weights_a[k], weights_b[k])


@pytest.mark.parametrize("cls", [DTML, DSTML])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_no_target_sample_is_refused_and_state_unchanged(cls, method, shift):
    """A fit (or partial_fit) on source samples only -- no y == -1 -- names the problem
    and leaves a fitted learner exactly as it was, and an unfitted one unfitted."""
    X, y = shift[:2]
    hidden = dict(hidden_sizes=(16, 12, 8)) if cls is DSTML else {}
    model = small(cls, **hidden).fit(X, y)
    before, embedding = _state(model), model.transform(X)
    source = y >= 0
    for X_bad, y_bad in [(X, np.abs(y)), (X[source], y[source])]:
        with pytest.raises(ValueError, match="y has no -1, so there is no target domain"):
            getattr(model, method)(X_bad, y_bad)
        _assert_same_state(_state(model), before)
        np.testing.assert_array_equal(model.transform(X), embedding)
    fresh = small(cls, **hidden)
    params = fresh.get_params()
    with pytest.raises(ValueError, match="y has no -1"):
        getattr(fresh, method)(X[source], y[source])
    assert not fresh.__sklearn_is_fitted__() and not hasattr(fresh, "classes_")
    assert fresh.get_params().keys() == params.keys()


def test_string_labels_in_an_object_array(shift):
    X, y = shift[:2]
    names = np.array(list("abcdefghij"))
    y_obj = np.array([names[v] if v >= 0 else -1 for v in y], dtype=object)
    model = small().fit(X, y_obj)
    assert model.classes_.tolist() == list("abcdefghij")
    ref = small().fit(X, y).transform(X)
    np.testing.assert_array_equal(model.transform(X), ref)  # same encoding, same fit


def test_classes_exclude_the_target_marker(shift):
    X, y = shift[:2]
    model = small().fit(X, y)
    assert model.classes_.tolist() == list(range(10))
    assert model.transform(X).shape == (500, 8) and model.n_iter_ == 3
    assert model.transform(X).dtype == np.float64
    assert model.transform(X.astype(np.float32)).dtype == np.float32
    assert model.get_feature_names_out().tolist() == [f"dtml{i}" for i in range(8)]


def test_batches_hold_both_domains():
    labels = np.array([0] * 30 + [1] * 30 + [-1] * 40)
    sampler = _DomainBatchSampler(labels, batch_size=20, random_state=0)
    seen = []
    for batch in sampler:
        assert (labels[batch] == -1).any() and (labels[batch] >= 0).any()
        assert len(set(batch.tolist())) == len(batch)
        seen += batch.tolist()
    assert set(seen) == set(range(100))  # one epoch shows every sample
    assert len(list(sampler)) == len(sampler)


def test_deterministic_under_random_state(shift):
    X, y = shift[:2]
    a = small(max_epochs=2).fit(X, y).transform(X)
    b = small(max_epochs=2).fit(X, y).transform(X)
    np.testing.assert_array_equal(a, b)
    c = small(max_epochs=2, random_state=1).fit(X, y).transform(X)
    assert not np.allclose(a, c)


def test_convergence_test_and_lr_decay(shift):
    X, y = shift[:2]
    with pytest.warns(ConvergenceWarning, match="max_epochs=3"):
        small(tol=1e-12).fit(X, y)
    model = small(tol=1e3, max_epochs=20).fit(X, y)  # any change is below tol: stops at 2
    assert model.n_iter_ == 2 and model.history_[-1]["converged"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        small(tol=0.0).fit(X, y)  # tol=0: the test is off, no warning
    model = small(lr=0.1, lr_decay=0.5).fit(X, y)
    assert model.optimizer_.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 3)


def test_transfer_term_pulls_the_domain_means_together(shift):
    X, y = shift[:2]
    gaps = {}
    for beta in (0.0, 5.0):
        model = small(beta=beta, max_epochs=15, lr=0.1, random_state=0).fit(X, y)
        Z = model.transform(X)
        gaps[beta] = np.sum((Z[y >= 0].mean(0) - Z[y < 0].mean(0)) ** 2)
    assert gaps[5.0] < 0.5 * gaps[0.0]


def test_clone_pickle_and_grid_search(shift):
    X, y, _, _, Xt, _ = shift
    model = small()
    assert clone(model).get_params()["beta"] == model.beta
    model.fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(Xt), model.transform(Xt))

    def source_knn(est, X_val, y_val):  # labeled part of the fold: 3-NN, leave-one-out-ish
        Z, mask = est.transform(X_val), y_val >= 0
        return KNeighborsClassifier(3).fit(Z[mask][::2], y_val[mask][::2]).score(
            Z[mask][1::2], y_val[mask][1::2])

    # stratified folds (on y, -1 included) give every fold both domains
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    search = GridSearchCV(small(), {"beta": [0.0, 1.0]}, scoring=source_knn, cv=cv,
                          error_score="raise").fit(X, y)
    assert search.best_params_["beta"] in (0.0, 1.0)
    assert search.best_estimator_.classes_.tolist() == list(range(10))


def test_partial_fit_continues_with_target_samples(shift):
    X, y = shift[:2]
    model = small(max_epochs=1).fit(X, y)
    model.partial_fit(X, y)
    assert model.n_iter_ == 2
    with pytest.raises(ValueError, match="unseen in the first fit"):
        model.partial_fit(X, np.where(y == 3, 42, y))


def test_domain_shift_data_is_reproducible_and_disjoint():
    a = make_digits_domain_shift(random_state=3)
    b = make_digits_domain_shift(random_state=3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    Xs, ys, Xt, yt = a
    assert Xs.shape == (898, 64) and Xt.shape == (899, 64)
    assert Xt.min() >= 0 and Xt.max() <= 16
    assert sorted(set(ys)) == sorted(set(yt)) == list(range(10))
    clean = make_digits_domain_shift(shift=0, blur=0, contrast=1, noise=0, random_state=3)
    # the untouched target half holds digits the source half does not: a disjoint split
    rows_s = {r.tobytes() for r in clean[0]}
    assert sum(r.tobytes() in rows_s for r in clean[2]) < 5  # (digits has a few duplicates)
    # the shift degrades Euclidean transfer, which is the point
    clean_acc = KNeighborsClassifier(3).fit(clean[0], clean[1]).score(clean[2], clean[3])
    shifted_acc = KNeighborsClassifier(3).fit(Xs, ys).score(Xt, yt)
    assert shifted_acc < clean_acc - 0.1


@pytest.mark.parametrize("kwargs, match", [
    ({"shift": 8}, "shift must be an integer"),
    ({"blur": -1}, "blur must be a finite number"),
    ({"contrast": 0}, "contrast must be > 0"),
    ({"test_size": 1.5}, "test_size must be a float"),
])
def test_domain_shift_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_digits_domain_shift(**kwargs)
