"""DVML and DAML: the generators, the wrapped losses, determinism, clone and pickle."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, load_iris  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skdml.deep import (  # noqa: E402
    MLP,
    ContrastiveLoss,
    DeepMetricLearner,
    MultiSimilarityLoss,
    NPairLoss,
    TripletMarginLoss,
)
from skdml.deep.daml import (  # noqa: E402
    DAML,
    HardNegativeGenerator,
    daml_generator_loss,
    sample_triplets,
)
from skdml.deep.dvml import DVML, VariationalEmbedding  # noqa: E402
from skdml.metrics import map_at_r  # noqa: E402


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def small(cls, loss=TripletMarginLoss, **params):
    defaults = dict(module__hidden_sizes=(16, 8), max_epochs=3, warmup_epochs=1,
                    batch_size=30, random_state=0)
    return cls(loss, **{**defaults, **params})


def test_variational_embedding_shapes_and_finite_samples():
    torch.manual_seed(0)
    net = VariationalEmbedding(MLP(5, (12,)), feature_dim=12, embedding_dim=4)
    X = torch.randn(9, 5)
    mu, log_var, h = net(X)
    assert mu.shape == log_var.shape == (9, 4) and h.shape == (9, 12)
    z = net.sample(mu, log_var)
    assert z.shape == mu.shape and torch.isfinite(z).all() and not torch.equal(z, mu)
    assert net.reconstruct(z).shape == h.shape
    net.eval()
    assert torch.equal(net(X), mu)  # eval: the class-center embedding only


def test_hard_negative_generator_starts_as_the_identity_and_learns_j_gen(rng):
    torch.manual_seed(0)
    gen = HardNegativeGenerator(4, (8,))
    a, p, n = (torch.tensor(rng.normal(size=(6, 4))).float() for _ in range(3))
    out = gen(a, p, n)
    assert out.shape == n.shape and torch.isfinite(out).all()
    assert torch.equal(out, n)  # the zero-initialized last layer: identity at start
    assert len(gen.net) == 3  # one hidden layer: two linear layers and their ReLU
    with pytest.raises(ValueError, match="shape"):
        gen(a, p, n[:3])
    # trained on J_gen alone (the identity as the metric), the synthetic negatives move
    # towards their anchors while staying nearer their negatives for a large reg_weight
    opt = torch.optim.Adam(gen.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        s = gen(a, p, n)
        daml_generator_loss(a, n, s, a, p, s, reg_weight=3.0, adv_weight=1.0,
                            margin=0.0)[0].backward()
        opt.step()
    with torch.no_grad():
        s = gen(a, p, n)
        assert ((s - a) ** 2).sum(1).mean() < ((n - a) ** 2).sum(1).mean()
        assert ((s - n) ** 2).sum(1).mean() < ((s - a) ** 2).sum(1).mean()


def test_daml_generator_terms_equal_a_hand_computation(rng):
    x_a, x_n, x_s = rng.normal(size=(3, 7, 5))
    z_a, z_p, z_s = rng.normal(size=(3, 7, 2))
    hard = np.mean([sum((x_s[i, k] - x_a[i, k]) ** 2 for k in range(5)) for i in range(7)])
    reg = np.mean([sum((x_s[i, k] - x_n[i, k]) ** 2 for k in range(5)) for i in range(7)])
    d_sa = [sum((z_s[i, k] - z_a[i, k]) ** 2 for k in range(2)) for i in range(7)]
    d_pa = [sum((z_p[i, k] - z_a[i, k]) ** 2 for k in range(2)) for i in range(7)]
    hinge = [max(0.0, d_sa[i] - d_pa[i] - 0.5) for i in range(7)]
    assert 0 < np.count_nonzero(hinge) < 7  # both sides of the hinge are exercised
    loss, terms = daml_generator_loss(
        *(torch.tensor(v) for v in (x_a, x_n, x_s, z_a, z_p, z_s)),
        reg_weight=2.0, adv_weight=3.0, margin=0.5)
    assert terms["hard"].item() == pytest.approx(hard, rel=1e-12)
    assert terms["reg"].item() == pytest.approx(reg, rel=1e-12)
    assert terms["adv"].item() == pytest.approx(np.mean(hinge), rel=1e-12)
    assert loss.item() == pytest.approx(hard + 2.0 * reg + 3.0 * np.mean(hinge), rel=1e-12)


def test_sample_triplets_are_valid():
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    a, p, n = sample_triplets(labels)
    assert a.tolist() == [0, 1, 2, 3, 4]  # sample 5 has no positive
    assert (labels[a] == labels[p]).all() and (a != p).all()
    assert (labels[a] != labels[n]).all()
    assert len(sample_triplets(torch.tensor([0, 1, 2]))[0]) == 0
    a, p, n = sample_triplets(labels, per_anchor=3)
    assert a.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert (labels[a] == labels[p]).all() and (a != p).all()
    assert (labels[a] != labels[n]).all()


@pytest.mark.parametrize("cls, loss", [
    *[(DVML, loss) for loss in (TripletMarginLoss, NPairLoss, ContrastiveLoss)],
    # DAML: the losses that take its synthetic negatives (not N-pair: see below)
    *[(DAML, loss) for loss in (TripletMarginLoss, ContrastiveLoss, MultiSimilarityLoss)],
])
def test_wrappers_fit_any_loss_deterministically(iris, cls, loss):
    X, y = iris
    model = small(cls, loss).fit(X, y)
    Z = model.transform(X)
    assert Z.shape == (150, 8) and np.isfinite(Z).all() and model.n_iter_ == 3
    assert isinstance(model.loss_, loss)
    np.testing.assert_array_equal(Z, small(cls, loss).fit(X, y).transform(X))
    assert not np.allclose(Z, small(cls, loss, random_state=1).fit(X, y).transform(X))
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(X), Z)


def test_learnable_parameters_and_sub_parameters(iris):
    X, y = iris
    dvml = small(DVML, embedding_dim=3, loss__margin=0.5).fit(X, y)
    assert isinstance(dvml.module_, VariationalEmbedding)
    assert dvml.embedding_dim_ == 3 and dvml.loss_.margin == 0.5
    names = dict(dvml.get_all_learnable_params())
    assert any("log_var" in k for k in names) and any("decoder" in k for k in names)
    daml = small(DAML, generator_hidden_sizes=(5,)).fit(X, y)
    assert isinstance(daml.generator_, HardNegativeGenerator)
    assert daml.generator_.net[0].out_features == 5
    params = {id(p) for group in daml.optimizer_.param_groups for p in group["params"]}
    assert all(id(p) in params for p in daml.generator_.parameters())
    twin = clone(daml)
    assert twin.get_params()["generator_hidden_sizes"] == (5,)
    assert not hasattr(twin, "generator_")


def _daml_batch(model, X, y, size=24):
    """A batch of ``model``'s training input (scaled as fit scales it) and its labels."""
    index = np.random.default_rng(0).choice(len(X), size, replace=False)
    return (torch.tensor(model._scale_input(X[index])),
            torch.tensor(np.searchsorted(model.classes_, y[index])))


@pytest.mark.parametrize("loss", [TripletMarginLoss, ContrastiveLoss])
def test_daml_metric_loss_takes_one_synthetic_negative_per_real_triplet(iris, loss,
                                                                        monkeypatch):
    X, y = iris
    model = small(DAML, loss, max_epochs=1, warmup_epochs=0, triplets_per_anchor=3).fit(X, y)
    xb, yb = _daml_batch(model, X, y)
    seen = []
    monkeypatch.setattr(model.loss_, "forward", lambda *args: seen.append(args) or
                        torch.zeros((), requires_grad=True))
    torch.manual_seed(5)
    model._batch_loss(model.module_(xb), yb, xb, training=True)
    (z, labels, tuples), = seen
    torch.manual_seed(5)
    a, p, n = sample_triplets(yb, 3)  # the real triplets of the batch: 3 per sample
    assert len(a) == 3 * len(xb) and len(z) == len(xb) + len(a)
    if loss is TripletMarginLoss:
        a_m, p_m, s_m = tuples
    else:  # positive pairs (a, p), negative pairs (a, synthetic)
        a_m, p_m, a2_m, s_m = tuples
        assert torch.equal(a2_m, a)
    assert torch.equal(a_m, a) and torch.equal(p_m, p)
    # the negatives are the synthetic ones only, each used once, each made from its own
    # real triplet: f(G(x, x+, x-)), labelled with the real negative's class
    assert torch.equal(s_m, len(xb) + torch.arange(len(a)))
    with torch.no_grad():
        expected = model.module_(model.generator_(xb[a], xb[p], xb[n]))
    torch.testing.assert_close(z[len(xb):].detach(), expected)
    torch.testing.assert_close(z[:len(xb)].detach(), model.module_(xb).detach())
    assert torch.equal(labels[len(xb):], yb[n])
    # during warm-up, the same real triplets with their real negatives
    seen.clear()
    model.warmup_epochs = 1
    torch.manual_seed(5)
    model._batch_loss(model.module_(xb), yb, xb, training=True)
    (z, labels, tuples), = seen
    assert len(z) == len(xb) and torch.equal(tuples[-1], n)


def test_daml_players_follow_their_own_objectives(iris):
    """J_gen moves the generator only, J_m the network only (the adversarial reading)."""
    X, y = iris
    model = small(DAML, max_epochs=2, warmup_epochs=0).fit(X, y)
    xb, yb = _daml_batch(model, X, y)

    def gradients(**weights):
        for name, value in weights.items():
            setattr(model, name, value)
        model.optimizer_.zero_grad()
        torch.manual_seed(3)
        model._batch_loss(model.module_(xb), yb, xb, training=True).backward()
        return ([p.grad.clone() for p in model.module_.parameters()],
                [p.grad.clone() for p in model.generator_.parameters()])

    net, gen = gradients()
    assert all(g.abs().sum() > 0 for g in net + gen)
    # the generator's weights leave the network's gradient unchanged ...
    net2, gen2 = gradients(adv_weight=5.0, reg_weight=0.5)
    assert all(torch.equal(u, v) for u, v in zip(net, net2))
    assert not all(torch.equal(u, v) for u, v in zip(gen, gen2))
    # ... and the metric's weight, the generator's
    net3, gen3 = gradients(metric_weight=4.0)
    assert all(torch.equal(u, v) for u, v in zip(gen2, gen3))
    assert all(torch.allclose(4.0 * u, v) for u, v in zip(net2, net3))


def test_wrapped_learners_learn(iris):
    X, y = iris
    knn = KNeighborsClassifier(n_neighbors=3)
    for cls in (DVML, DAML):
        model = small(cls, max_epochs=15, lr=3e-3).fit(X[::2], y[::2])
        score = knn.fit(model.transform(X[::2]), y[::2]).score(model.transform(X[1::2]),
                                                                y[1::2])
        assert score > 0.85


def test_daml_beats_the_triplet_learner_it_wraps():
    """On a small digits problem, DAML (its defaults, a small network, few epochs) beats
    the learner it wraps -- the same network and triplet loss, no generator -- in MAP@R of
    held-out queries, by more than the seeds' spread (0.034-0.038 over seeds 0-3)."""
    X, y = load_digits(return_X_y=True)
    train, test = slice(0, 600), slice(1000, 1400)
    common = dict(module__hidden_sizes=(32, 16), max_epochs=10, batch_size=60, random_state=0)

    def score(model):
        model.fit(X[train], y[train])
        return map_at_r(model.transform(X[test]), y[test], X_ref=model.transform(X[train]),
                        y_ref=y[train])

    baseline = score(DeepMetricLearner(loss=TripletMarginLoss, **common))
    assert score(DAML(warmup_epochs=2, **common)) > baseline + 0.015


def test_bad_parameters_are_refused(iris):
    X, y = iris
    with pytest.raises(ValueError, match="kl_weight"):
        small(DVML, kl_weight=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="adv_weight"):
        small(DAML, adv_weight=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="single sample"):
        small(DAML).fit(X[:3], [0, 1, 2])
    with pytest.raises(ValueError, match="triplets_per_anchor"):
        small(DAML, triplets_per_anchor=0).fit(X, y)
    # N-pair takes its negatives from the other pairs' positives, not the synthetic ones
    with pytest.raises(ValueError, match="NPairLoss does not"):
        small(DAML, NPairLoss).fit(X, y)
