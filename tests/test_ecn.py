"""ECN: the exemplar-memory objective by hand, the memory as training state, y == -1, the
contract, bad input, and the memory's gain over the source-only control."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skdml._datasets_deep import make_digits_domain_shift
from skdml.deep.ecn import ECN, ExemplarMemoryLoss


@pytest.fixture(scope="module")
def shift():
    """A small domain-shift problem: 200 source and 120 target digits."""
    Xs, ys, Xt, yt = make_digits_domain_shift(random_state=0)
    Xs, ys, Xt, yt = Xs[:200], ys[:200], Xt[:120], yt[:120]
    X = np.vstack([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    return X, y, Xs, ys, Xt, yt


def small(**params):
    defaults = dict(hidden_sizes=(16, 8), max_epochs=3, batch_size=64, random_state=0)
    return ECN(**{**defaults, **params})


# --- the objective, term by term --------------------------------------------------------


def _normalize(A):
    return A / np.linalg.norm(A, axis=1, keepdims=True)


def _log_softmax(S):
    S = S - S.max(axis=1, keepdims=True)
    return S - np.log(np.exp(S).sum(axis=1, keepdims=True))


def _hand_loss(Z, labels, W, b, K, beta, k, target_weight, neighbors):
    """The paper's objective by loops: cross-entropy on the source rows; on each target row
    -sum_j w_j log p(j), own slot w = 1, its k most similar other slots 1/k."""
    source = [i for i in range(len(labels)) if labels[i] >= 0]
    target = [i for i in range(len(labels)) if labels[i] < 0]
    ce = []
    for i in source:
        logits = W @ Z[i] + b
        ce.append(-_log_softmax(logits[None])[0, labels[i]])
    terms = []
    for i in target:
        slot = -1 - labels[i]
        f = Z[i] / np.linalg.norm(Z[i])
        sims = K @ f
        log_p = _log_softmax((sims / beta)[None])[0]
        term = -log_p[slot]
        if neighbors:
            others = sorted((j for j in range(len(K)) if j != slot), key=lambda j: -sims[j])
            term -= sum(log_p[j] for j in others[:k]) / k
        terms.append(term)
    return (1 - target_weight) * np.mean(ce) + target_weight * np.mean(terms)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("neighbors", [False, True])
def test_objective_matches_hand_computation(k, neighbors):
    rng = np.random.default_rng(0)
    K = _normalize(rng.normal(size=(7, 4)))
    Z = rng.normal(size=(5, 4))
    labels = np.array([0, -5, 2, -1, -7])  # source classes 0, 2; target slots 4, 0, 6
    loss = ExemplarMemoryLoss(3, 4, beta=0.5, k=k, target_weight=0.3).double()
    loss.reset_memory(torch.tensor(K))
    W = loss.classifier.weight.detach().numpy()
    b = loss.classifier.bias.detach().numpy()
    got = loss(torch.tensor(Z), torch.tensor(labels), momentum=0.25, neighbors=neighbors,
               update=True)
    expected = _hand_loss(Z, labels, W, b, K, 0.5, k, 0.3, neighbors)
    assert float(got.detach()) == pytest.approx(expected, rel=1e-10)
    # the loss used the memory as it stood; the slots of the target rows then moved
    moved = K.copy()
    for i, slot in ((1, 4), (3, 0), (4, 6)):
        moved[slot] = _normalize((0.25 * K[slot] + 0.75 * _normalize(Z[i:i + 1])[0])[None])[0]
    np.testing.assert_allclose(loss.memory.numpy(), moved, rtol=1e-12)


def test_objective_weights_and_no_update_in_evaluation():
    rng = np.random.default_rng(1)
    K = _normalize(rng.normal(size=(6, 3)))
    Z = torch.tensor(rng.normal(size=(4, 3)))
    labels = torch.tensor([1, 0, -2, -6])
    for weight in (0.0, 1.0):
        loss = ExemplarMemoryLoss(2, 3, beta=0.1, k=2, target_weight=weight).double()
        loss.reset_memory(torch.tensor(K))
        W = loss.classifier.weight.detach().numpy()
        b = loss.classifier.bias.detach().numpy()
        source = _hand_loss(Z.numpy(), labels.numpy(), W, b, K, 0.1, 2, 0.0, True)
        target = _hand_loss(Z.numpy(), labels.numpy(), W, b, K, 0.1, 2, 1.0, True)
        memory = loss.memory.clone()
        loss.eval()  # evaluation mode: the memory is read, never moved
        got = float(loss(Z, labels, momentum=0.5, neighbors=True).detach())
        assert got == pytest.approx(target if weight else source, rel=1e-10)
        assert torch.equal(loss.memory, memory)


def test_gradients_reach_the_embeddings_and_classifier_not_the_memory():
    rng = np.random.default_rng(2)
    loss = ExemplarMemoryLoss(2, 3, k=1)
    loss.reset_memory(torch.tensor(rng.normal(size=(4, 3)), dtype=torch.float32))
    Z = torch.tensor(rng.normal(size=(4, 3)), dtype=torch.float32, requires_grad=True)
    loss(Z, torch.tensor([0, 1, -1, -4]), neighbors=True, update=True).backward()
    assert torch.all(Z.grad.abs().sum(1) > 0)  # source and target rows alike
    assert loss.classifier.weight.grad.abs().sum() > 0
    assert not loss.memory.requires_grad and loss.memory.grad is None


def test_loss_refuses_bad_settings_and_missing_slots():
    with pytest.raises(ValueError, match="target_weight must be in"):
        ExemplarMemoryLoss(2, 3, target_weight=1.5)
    with pytest.raises(ValueError, match="beta must be > 0"):
        ExemplarMemoryLoss(2, 3, beta=0.0)
    loss = ExemplarMemoryLoss(2, 3)
    with pytest.raises(ValueError, match="the memory has 0 slots"):
        loss(torch.ones(2, 3), torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="rows of width 3"):
        loss.reset_memory(torch.ones(2, 4))
    loss = ExemplarMemoryLoss(2, 3, k=3)
    loss.reset_memory(torch.eye(3))
    with pytest.raises(ValueError, match="k=3 nearest other slots need more than k slots"):
        loss(torch.ones(2, 3), torch.tensor([0, -1]), neighbors=True)


# --- the learner ------------------------------------------------------------------------


def test_fit_fills_the_memory_one_slot_per_target_sample_in_order(shift):
    """Momentum 0 and a learning rate too small to move the network: after one epoch each
    slot holds its own target sample's normalized embedding."""
    X, y, _, _, Xt, _ = shift
    model = small(max_epochs=1, lr=1e-9, alpha=0.0, alpha_schedule="constant",
                  augment_noise=0.0, augment_dropout=0.0).fit(X, y)
    memory = model.memory_
    assert memory.shape == (len(Xt), 8)
    np.testing.assert_allclose(np.linalg.norm(memory, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(memory, model.transform(Xt), atol=1e-5)
    assert not hasattr(small(), "memory_")


def test_momentum_schedule_and_neighborhood_start(shift, monkeypatch):
    """The loss sees momentum alpha * t and the neighborhood invariance from epoch
    neighbor_start on (t counted from 0), only training batches move the memory."""
    X, y = shift[:2]
    seen = []
    forward = ExemplarMemoryLoss.forward

    def spy(self, embeddings, labels, **kwargs):
        seen.append((round(kwargs["momentum"], 6), kwargs["neighbors"], kwargs["update"]))
        return forward(self, embeddings, labels, **kwargs)

    monkeypatch.setattr(ExemplarMemoryLoss, "forward", spy)
    small(max_epochs=4, alpha=0.1, neighbor_start=2).fit(X, y)
    assert sorted(set(seen)) == [(0.0, False, True), (0.1, False, True), (0.2, True, True),
                                 (0.3, True, True)]
    seen.clear()
    small(max_epochs=2, alpha=0.3, alpha_schedule="constant", k=0).fit(X, y)
    assert set(seen) == {(0.3, False, True)}  # k=0: no neighborhood invariance


def test_augmentations_touch_target_rows_in_training_only(shift):
    X, y = shift[:2]
    model = small(augment_noise=0.5, augment_dropout=0.3).fit(X, y)
    Xb = torch.tensor(X[::4], dtype=torch.float32)
    yb = torch.tensor(y[::4])
    torch.manual_seed(0)
    out = model._augment(Xb, yb)
    source, target = yb >= 0, yb < 0
    assert torch.equal(out[source], Xb[source])
    changed = out[target] != Xb[target]
    assert changed.float().mean() > 0.9  # noise on every feature, some dropped
    dropped = (out[target] == 0) & (Xb[target] != 0)
    assert 0.15 < float(dropped.float().mean()) < 0.45
    off = small(augment_noise=0.0, augment_dropout=0.0)
    assert off._augment(Xb, yb) is Xb
    np.testing.assert_array_equal(model.transform(X), model.transform(X))  # no augmentation


def test_transform_is_normalized_and_input_scaled_by_one_mean_and_scale(shift):
    X, y = shift[:2]
    model = small().fit(X, y)
    Z = model.transform(X)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-6)
    assert model.transform(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(model.input_mean_, X.mean())
    np.testing.assert_allclose(model.input_scale_, X.std())
    assert model.get_feature_names_out().tolist() == [f"ecn{i}" for i in range(8)]
    quiet = dict(max_epochs=1, lr=1e-3)
    assert small(standardize=False, **quiet).fit(X, y).input_mean_ is None
    per_feature = small(standardize=True, **quiet).fit(X, y)  # the template's scaling
    np.testing.assert_allclose(per_feature.input_mean_, X.mean(0))
    with pytest.raises(ValueError, match="'standardize' parameter of ECN must be"):
        small(standardize="pixels").fit(X, y)
    pd = pytest.importorskip("pandas")
    frame = model.set_output(transform="pandas").transform(X)
    assert isinstance(frame, pd.DataFrame) and np.allclose(frame.to_numpy(), Z)


def test_sgd_gets_the_papers_momentum_and_weight_decay(shift):
    X, y = shift[:2]
    group = small(max_epochs=1).fit(X, y).optimizer_.param_groups[0]
    assert (group["momentum"], group["weight_decay"]) == (0.9, 5e-4)
    group = small(max_epochs=1, optimizer__momentum=0.5).fit(X, y).optimizer_.param_groups[0]
    assert group["momentum"] == 0.5
    adam = small(max_epochs=1, optimizer=torch.optim.Adam, lr=1e-3).fit(X, y)
    assert adam.optimizer_.param_groups[0]["weight_decay"] == 0


def test_partial_fit_keeps_the_memory_and_fit_rebuilds_it(shift, monkeypatch):
    X, y = shift[:2]
    built = []
    reset = ExemplarMemoryLoss.reset_memory
    monkeypatch.setattr(ExemplarMemoryLoss, "reset_memory",
                        lambda self, f: built.append(len(f)) or reset(self, f))
    model = small(max_epochs=2).fit(X, y)
    assert built == [120]
    model.partial_fit(X, y)
    assert built == [120] and len(model.history_) == 4 and model.n_iter_ == 4
    # a warm start keeps the network and the epoch count, and builds a memory for the
    # target samples it is given
    model.set_params(warm_start=True)
    keep = np.concatenate([np.flatnonzero(y >= 0), np.flatnonzero(y < 0)[:50]])
    model.fit(X[keep], y[keep])
    assert built == [120, 50] and model.memory_.shape == (50, 8)
    assert len(model.history_) == 6


def test_deterministic_under_random_state(shift):
    X, y = shift[:2]
    a = small().fit(X, y)
    b = small().fit(X, y)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    np.testing.assert_array_equal(a.memory_, b.memory_)
    c = small(random_state=1).fit(X, y)
    assert not np.allclose(a.transform(X), c.transform(X))


def test_clone_pickle_pipeline_and_grid_search(shift):
    X, y, _, _, Xt, _ = shift
    model = small()
    assert clone(model).get_params()["k"] == 6
    model.fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(Xt), model.transform(Xt))
    np.testing.assert_array_equal(restored.memory_, model.memory_)  # the memory travels
    assert not hasattr(clone(model), "memory_")
    restored.partial_fit(X, y)  # and training goes on from it
    assert restored.n_iter_ == 6

    pipe = make_pipeline(MinMaxScaler(), small()).fit(X, y)
    assert pipe.transform(Xt).shape == (len(Xt), 8)

    def source_knn(est, X_val, y_val):  # the fold's labeled samples: 3-NN, half on half
        Z, mask = est.transform(X_val), y_val >= 0
        return KNeighborsClassifier(3).fit(Z[mask][::2], y_val[mask][::2]).score(
            Z[mask][1::2], y_val[mask][1::2])

    # stratified folds (on y, -1 included) give every fold both domains
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    search = GridSearchCV(small(), {"target_weight": [0.0, 0.3]}, scoring=source_knn, cv=cv,
                          error_score="raise").fit(X, y)
    assert search.best_params_["target_weight"] in (0.0, 0.3)
    assert search.best_estimator_.classes_.tolist() == list(range(10))


def test_string_labels_in_an_object_array(shift):
    X, y = shift[:2]
    names = np.array(list("abcdefghij"))
    y_obj = np.array([names[v] if v >= 0 else -1 for v in y], dtype=object)
    model = small().fit(X, y_obj)
    assert model.classes_.tolist() == list("abcdefghij")
    np.testing.assert_array_equal(model.transform(X), small().fit(X, y).transform(X))


# --- bad input: a clear error, the learner as it was ---------------------------------------


def _state(model):
    """What a fit leaves: the public attributes, the weights, the loss (classifier and
    memory) and the history's length."""
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
    for weights_a, weights_b in ((a[1], b[1]), (a[2], b[2])):
        assert weights_a.keys() == weights_b.keys()
        for k in weights_a:
            assert torch.equal(weights_a[k], weights_b[k])


def _bad_inputs(X, y):
    source, target = y >= 0, y < 0
    few = np.concatenate([np.flatnonzero(source), np.flatnonzero(target)[:5]])
    return [
        ("fit", (X, np.abs(y)), {}, "y has no -1, so there is no target domain"),
        ("fit", (X[source], y[source]), {}, "y has no -1"),
        ("fit", (X, np.full(len(y), -1)), {}, "every sample of y is -1"),
        ("fit", (X, y), {"alpha": 1.0}, r"'alpha' parameter of ECN must be"),
        ("fit", (X, y), {"alpha": -0.1}, r"'alpha' parameter of ECN must be"),
        ("fit", (X, y), {"alpha": 0.02, "max_epochs": 60},
         r"alpha \* epoch must stay in \[0, 1\), .* reaches 1.18 at epoch 59"),
        ("fit", (X[few], y[few]), {"max_epochs": 7}, "k=6 nearest other target samples of "
         "each one, but there are 5 target samples"),
        ("partial_fit", (X[few], y[few]), {}, r"one slot per target sample \(120\), but y "
         "marks 5 target samples"),
        ("partial_fit", (X, y), {"alpha": 0.3}, "reaches 1.5 at epoch 5"),
    ]


@pytest.mark.parametrize("case", range(9))
def test_bad_input_is_refused_and_the_state_unchanged(case, shift):
    X, y = shift[:2]
    method, args, params, match = _bad_inputs(X, y)[case]
    model = small().fit(X, y)
    before, embedding = _state(model), model.transform(X)
    model.set_params(**params)
    with pytest.raises(ValueError, match=match):
        getattr(model, method)(*args)
    _assert_same_state(_state(model), before)
    np.testing.assert_array_equal(model.transform(X), embedding)
    fresh = small(**params)
    if method == "fit":  # an unfitted learner stays unfitted
        with pytest.raises(ValueError, match=match):
            fresh.fit(*args)
        assert not fresh.__sklearn_is_fitted__() and not hasattr(fresh, "classes_")


def test_few_target_samples_are_fine_while_the_neighborhood_term_is_off(shift):
    X, y = shift[:2]
    few = np.concatenate([np.flatnonzero(y >= 0), np.flatnonzero(y < 0)[:5]])
    quiet = dict(lr=0.01)
    assert small(max_epochs=5, **quiet).fit(X[few], y[few]).memory_.shape == (5, 8)  # 0-4
    assert small(max_epochs=7, k=4, **quiet).fit(X[few], y[few]).memory_.shape == (5, 8)


# --- the paper's claim: the memory helps on the target domain ----------------------------


def test_memory_beats_the_source_only_control_on_the_target():
    """The defaults with fewer epochs (15 of 60, for speed): the target samples are
    classified better, against the labeled source and among themselves (leave one out),
    than by the same network trained on the source only (target_weight=0)."""
    Xs, ys, Xt, yt = make_digits_domain_shift(random_state=0)
    X, y = np.vstack([Xs, Xt]), np.concatenate([ys, np.full(len(Xt), -1)])

    def accuracies(model):
        Zs, Zt = model.transform(Xs), model.transform(Xt)
        against_source = KNeighborsClassifier(3).fit(Zs, ys).score(Zt, yt)
        # among the target samples, leave one out: each one's 3 nearest other targets
        knn = KNeighborsClassifier(4).fit(Zt, yt)
        neighbors = knn.kneighbors(Zt, return_distance=False)[:, 1:]
        votes = np.array([np.bincount(yt[row], minlength=10).argmax() for row in neighbors])
        return against_source, np.mean(votes == yt)

    ecn = accuracies(ECN(max_epochs=15, random_state=0).fit(X, y))
    control = accuracies(ECN(max_epochs=15, target_weight=0.0, random_state=0).fit(X, y))
    assert ecn[0] > control[0] + 0.05
    assert ecn[1] > control[1] + 0.02
