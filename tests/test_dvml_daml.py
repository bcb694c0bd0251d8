"""DVML and DAML: the generators, the wrapped losses, determinism, clone and pickle."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skdml.deep import MLP, ContrastiveLoss, NPairLoss, TripletMarginLoss  # noqa: E402
from skdml.deep.daml import (  # noqa: E402
    DAML,
    HardNegativeGenerator,
    daml_generator_loss,
    sample_triplets,
)
from skdml.deep.dvml import DVML, VariationalEmbedding  # noqa: E402


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


def test_hard_negative_generator_shapes_and_loss(rng):
    torch.manual_seed(0)
    gen = HardNegativeGenerator(4, (8,))
    a, p, n = (torch.tensor(rng.normal(size=(6, 4))) .float() for _ in range(3))
    out = gen(a, p, n)
    assert out.shape == n.shape and torch.isfinite(out).all()
    assert torch.equal(out, n)  # the zero-initialized last layer: identity at start
    with pytest.raises(ValueError, match="shape"):
        gen(a, p, n[:3])
    s = n + 0.1
    d_an, d_ap, d_sn = ((s - a) ** 2).sum(1), ((p - a) ** 2).sum(1), ((s - n) ** 2).sum(1)
    expected = (d_an + 2.0 * d_sn + 3.0 * torch.relu(d_an - d_ap - 0.5)).mean()
    got = daml_generator_loss(a, p, n, s, reg_weight=2.0, adv_weight=3.0, margin=0.5)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    # trained on J_gen alone, the synthetic negatives move towards their anchors
    opt = torch.optim.Adam(gen.parameters(), lr=1e-2)
    for _ in range(100):
        opt.zero_grad()
        daml_generator_loss(a, p, n, gen(a, p, n), 0.1, 1.0, 0.0).backward()
        opt.step()
    with torch.no_grad():
        assert ((gen(a, p, n) - a) ** 2).sum(1).mean() < ((n - a) ** 2).sum(1).mean()


def test_sample_triplets_are_valid():
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    a, p, n = sample_triplets(labels)
    assert a.tolist() == [0, 1, 2, 3, 4]  # sample 5 has no positive
    assert (labels[a] == labels[p]).all() and (a != p).all()
    assert (labels[a] != labels[n]).all()
    assert len(sample_triplets(torch.tensor([0, 1, 2]))[0]) == 0


@pytest.mark.parametrize("cls", [DVML, DAML])
@pytest.mark.parametrize("loss", [TripletMarginLoss, NPairLoss, ContrastiveLoss])
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


def test_daml_adds_synthetic_negatives_to_the_tuples(iris):
    X, y = iris
    labels = torch.tensor([0, 0, 1, 1])
    a, p = torch.tensor([0, 2]), torch.tensor([1, 3])
    emb = torch.zeros(4, 2)
    for loss, check in [
        (TripletMarginLoss, lambda t: (t[0][-2:].tolist(), t[2][-2:].tolist()) == ([0, 2],
                                                                                 [4, 5])),
        (NPairLoss, lambda t: t[0][-2:].tolist() == t[1][-2:].tolist() == [4, 5]),
        (ContrastiveLoss, lambda t: (t[2][-2:].tolist(), t[3][-2:].tolist()) == ([0, 2],
                                                                               [4, 5])),
    ]:
        model = small(DAML, loss).fit(X, y)
        assert check(model._augmented_tuples(emb, labels, a, p, emb[:2]))


def test_wrapped_learners_learn(iris):
    X, y = iris
    knn = KNeighborsClassifier(n_neighbors=3)
    for cls in (DVML, DAML):
        model = small(cls, max_epochs=15, lr=3e-3).fit(X[::2], y[::2])
        score = knn.fit(model.transform(X[::2]), y[::2]).score(model.transform(X[1::2]),
                                                                y[1::2])
        assert score > 0.85


def test_bad_parameters_are_refused(iris):
    X, y = iris
    with pytest.raises(ValueError, match="kl_weight"):
        small(DVML, kl_weight=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="adv_weight"):
        small(DAML, adv_weight=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="single sample"):
        small(DAML).fit(X[:3], [0, 1, 2])
