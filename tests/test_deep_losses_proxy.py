"""Proxy losses: each against its paper's formula (NumPy loops), gradcheck with respect to
embeddings and class vectors, pytorch-metric-learning where it is installed, bad input, and
learning on the digits."""

import copy
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.preprocessing import normalize  # noqa: E402
from torch.func import functional_call  # noqa: E402

from skdml.deep import MLP, DeepMetricLearner  # noqa: E402
from skdml.deep.distances import (  # noqa: E402
    CosineSimilarity,
    DotProductSimilarity,
    LpDistance,
)
from skdml.deep.losses._proxy import (  # noqa: E402
    NormalizedSoftmaxLoss,
    ProxyAnchorLoss,
    ProxyNCALoss,
    SoftTripleLoss,
    SubCenterArcFaceLoss,
)
from skdml.deep.reducers import AvgNonZeroReducer  # noqa: E402
from skdml.deep.regularizers import LpRegularizer  # noqa: E402

LOSSES = [ProxyNCALoss, ProxyAnchorLoss, SoftTripleLoss, SubCenterArcFaceLoss,
          NormalizedSoftmaxLoss]


# a batch of 9 in 3 dimensions; 4 classes, the last one absent from the batch
RNG = np.random.default_rng(0)
X = RNG.normal(size=(9, 3))
Y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 1])
N_CLASSES, DIM = 4, 3


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _cross_entropy(logits, y):
    """Mean over samples of -log softmax(logits_i)[y_i], written out."""
    terms = []
    for row, c in zip(logits, y):
        top = max(row)
        terms.append(-(row[c] - top - math.log(sum(math.exp(v - top) for v in row))))
    return np.mean(terms)


# --- the papers' formulas, written out --------------------------------------------------


def ref_proxy_nca(x, y, W, scale, metric="sq_euclidean"):
    x, P = _unit(x), _unit(W)
    logits = np.empty((len(x), len(P)))
    for i in range(len(x)):
        for j in range(len(P)):
            if metric == "sq_euclidean":
                logits[i, j] = -scale * np.sum((x[i] - P[j]) ** 2)
            else:  # cosine
                logits[i, j] = scale * x[i] @ P[j]
    return _cross_entropy(logits, y)


def ref_proxy_anchor(x, y, W, alpha, delta):
    x, P = _unit(x), _unit(W)
    pos_terms, neg_terms = [], []
    for p in range(len(P)):
        positives = [i for i in range(len(x)) if y[i] == p]
        negatives = [i for i in range(len(x)) if y[i] != p]
        if positives:
            pos_terms.append(math.log(1 + sum(
                math.exp(-alpha * (x[i] @ P[p] - delta)) for i in positives)))
        neg_terms.append(math.log(1 + sum(
            math.exp(alpha * (x[i] @ P[p] + delta)) for i in negatives)))
    return np.mean(pos_terms) + np.mean(neg_terms)


def ref_soft_triple(x, y, W, n_classes, K, lam, gamma, tau, delta):
    x, centers = _unit(x), _unit(W)
    logits = np.empty((len(x), n_classes))
    for i in range(len(x)):
        for c in range(n_classes):
            s = [x[i] @ centers[c * K + k] for k in range(K)]
            weights = [math.exp(v / gamma) for v in s]
            relaxed = sum(w * v for w, v in zip(weights, s)) / sum(weights)
            logits[i, c] = lam * (relaxed - (delta if c == y[i] else 0.0))
    spread = sum(
        math.sqrt(2 - 2 * centers[c * K + t] @ centers[c * K + u])
        for c in range(n_classes) for t in range(K) for u in range(t + 1, K)
    )
    reg = tau * spread / (n_classes * K * (K - 1)) if K > 1 else 0.0
    return _cross_entropy(logits, y) + reg


def ref_sub_center_arcface(x, y, W, n_classes, K, margin, scale):
    x, centers = _unit(x), _unit(W)
    logits = np.empty((len(x), n_classes))
    for i in range(len(x)):
        for c in range(n_classes):
            cos = max(x[i] @ centers[c * K + k] for k in range(K))
            if c == y[i]:
                theta = math.acos(cos)
                cos = (math.cos(theta + margin) if theta + margin <= math.pi
                       else cos - margin * math.sin(margin))
            logits[i, c] = scale * cos
    return _cross_entropy(logits, y)


def ref_normalized_softmax(x, y, W, temperature, metric="cosine"):
    P = _unit(W)
    if metric == "cosine":
        logits = _unit(x) @ P.T / temperature
    else:  # Euclidean distance to the normalized class vectors
        logits = -np.linalg.norm(x[:, None] - P[None], axis=2) / temperature
    return _cross_entropy(logits, y)


def _cases():
    """(loss, reference(x, y, W)) pairs; papers' defaults first, then other settings."""
    return [
        (ProxyNCALoss(N_CLASSES, DIM), lambda x, y, W: ref_proxy_nca(x, y, W, 1.0)),
        (ProxyNCALoss(N_CLASSES, DIM, scale=9.0),
         lambda x, y, W: ref_proxy_nca(x, y, W, 9.0)),
        (ProxyNCALoss(N_CLASSES, DIM, scale=3.0, distance=CosineSimilarity()),
         lambda x, y, W: ref_proxy_nca(x, y, W, 3.0, metric="cosine")),
        (ProxyAnchorLoss(N_CLASSES, DIM), lambda x, y, W: ref_proxy_anchor(x, y, W, 32, 0.1)),
        (ProxyAnchorLoss(N_CLASSES, DIM, alpha=4.0, margin=0.3),
         lambda x, y, W: ref_proxy_anchor(x, y, W, 4.0, 0.3)),
        (SoftTripleLoss(N_CLASSES, DIM),
         lambda x, y, W: ref_soft_triple(x, y, W, N_CLASSES, 10, 20, 0.1, 0.2, 0.01)),
        (SoftTripleLoss(N_CLASSES, DIM, n_vectors_per_class=3, scale=5.0, gamma=0.5, tau=1.0,
                        margin=0.2),
         lambda x, y, W: ref_soft_triple(x, y, W, N_CLASSES, 3, 5.0, 0.5, 1.0, 0.2)),
        (SoftTripleLoss(N_CLASSES, DIM, n_vectors_per_class=1),
         lambda x, y, W: ref_soft_triple(x, y, W, N_CLASSES, 1, 20, 0.1, 0.2, 0.01)),
        (SubCenterArcFaceLoss(N_CLASSES, DIM),
         lambda x, y, W: ref_sub_center_arcface(x, y, W, N_CLASSES, 3, 0.5, 64.0)),
        (SubCenterArcFaceLoss(N_CLASSES, DIM, n_vectors_per_class=2, margin=0.3, scale=4.0),
         lambda x, y, W: ref_sub_center_arcface(x, y, W, N_CLASSES, 2, 0.3, 4.0)),
        (NormalizedSoftmaxLoss(N_CLASSES, DIM),
         lambda x, y, W: ref_normalized_softmax(x, y, W, 0.05)),
        (NormalizedSoftmaxLoss(N_CLASSES, DIM, temperature=0.5, distance=LpDistance()),
         lambda x, y, W: ref_normalized_softmax(x, y, W, 0.5, metric="euclidean")),
    ]


CASE_IDS = [repr(loss).replace(" ", "") for loss, _ in _cases()]


def _double(loss):
    torch.manual_seed(0)
    loss = loss.double()
    with torch.no_grad():
        loss.weight.normal_()
    return loss


@pytest.mark.parametrize("loss, ref", _cases(), ids=CASE_IDS)
def test_value_matches_the_papers_formula(loss, ref):
    loss = _double(loss)
    got = loss(torch.tensor(X), torch.tensor(Y)).item()
    expected = ref(X, Y, loss.weight.detach().numpy())
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-10)
    assert got > 0


@pytest.mark.parametrize("loss, ref", _cases(), ids=CASE_IDS)
def test_gradcheck_embeddings_and_class_vectors(loss, ref):
    loss = _double(loss)
    labels = torch.tensor(Y)

    def value(embeddings, weight):
        return functional_call(loss, {"weight": weight}, (embeddings, labels))

    x = torch.tensor(X, requires_grad=True)
    w = loss.weight.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(value, (x, w))


def test_proxy_anchor_reducer_applies_to_each_half():
    loss = _double(ProxyAnchorLoss(N_CLASSES, DIM, reducer=AvgNonZeroReducer()))
    reference = _double(ProxyAnchorLoss(N_CLASSES, DIM))
    # every term is positive, so the average over non-zero terms is the mean of each half
    assert loss(torch.tensor(X), torch.tensor(Y)).item() == pytest.approx(
        reference(torch.tensor(X), torch.tensor(Y)).item(), rel=1e-12)


@pytest.mark.parametrize("cls", LOSSES)
def test_regularizers_add_to_the_loss(cls):
    plain = _double(cls(N_CLASSES, DIM))
    regularized = _double(cls(N_CLASSES, DIM, embedding_regularizer=LpRegularizer(weight=0.5),
                              weight_regularizer=LpRegularizer(weight=0.25)))
    x = torch.tensor(X)
    w = plain.weight.detach().numpy()
    extra = (0.5 * np.linalg.norm(X, axis=1).mean()
             + 0.25 * np.linalg.norm(w, axis=1).mean())
    assert regularized(x, torch.tensor(Y)).item() == pytest.approx(
        plain(x, torch.tensor(Y)).item() + extra, rel=1e-12)


# --- pytorch-metric-learning, on shared inputs ----------------------------------------


def test_values_and_gradients_match_pytorch_metric_learning():
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    rng = np.random.default_rng(1)
    n, d, C, K = 24, 6, 4, 3
    x = rng.normal(size=(n, d))
    y = np.concatenate([np.arange(C), rng.integers(0, C, n - C)])
    W1, WK = rng.normal(size=(C, d)), rng.normal(size=(C * K, d))
    # (ours, theirs, weight, their parameter holding it, transposed there?)
    pairs = [
        (ProxyNCALoss(C, d, scale=9.0), pml.ProxyNCALoss(C, d, softmax_scale=9.0), W1,
         "proxies", False),
        (ProxyAnchorLoss(C, d), pml.ProxyAnchorLoss(C, d, margin=0.1, alpha=32), W1,
         "proxies", False),
        # pml's SoftTriple has no regularizer between centers: tau=0 here
        (SoftTripleLoss(C, d, n_vectors_per_class=K, tau=0.0),
         pml.SoftTripleLoss(C, d, centers_per_class=K, la=20, gamma=0.1, margin=0.01), WK,
         "fc", True),
        # pml's margin is in degrees
        (SubCenterArcFaceLoss(C, d, n_vectors_per_class=K),
         pml.SubCenterArcFaceLoss(num_classes=C, embedding_size=d, margin=math.degrees(0.5),
                                  scale=64, sub_centers=K), WK, "W", True),
        (NormalizedSoftmaxLoss(C, d), pml.NormalizedSoftmaxLoss(C, d, temperature=0.05), W1,
         "W", True),
    ]
    for ours, theirs, W, name, transposed in pairs:
        ours, theirs = ours.double(), theirs.double()
        with torch.no_grad():
            ours.weight.copy_(torch.tensor(W))
            getattr(theirs, name).copy_(torch.tensor(W.T if transposed else W))
        values, grads = [], []
        for loss in (ours, theirs):
            e = torch.tensor(x, requires_grad=True)
            value = loss(e, torch.tensor(y))
            value.backward()
            values.append(value.item())
            grads.append(e.grad.numpy())
        assert values[0] == pytest.approx(values[1], rel=1e-12), type(ours).__name__
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-9, atol=1e-12)


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", LOSSES)
def test_missing_sizes_say_what_to_do(cls):
    with pytest.raises(ValueError, match="n_classes.*set from the data by a DeepMetricLearner"):
        cls()
    with pytest.raises(ValueError, match=r"\(embedding_dim not given\)"):
        cls(n_classes=3)
    with pytest.raises(ValueError, match="n_classes must be an integer >= 1"):
        cls(0, 3)


@pytest.mark.parametrize("cls", LOSSES)
def test_embeddings_of_the_wrong_width_name_both_widths(cls):
    loss = cls(N_CLASSES, DIM)
    with pytest.raises(ValueError, match=r"shape \(n, 3\), got \(9, 2\)"):
        loss(torch.tensor(X[:, :2], dtype=torch.float32), torch.tensor(Y))


@pytest.mark.parametrize("cls, distance, match", [
    (ProxyAnchorLoss, LpDistance(), "needs a similarity"),
    (SoftTripleLoss, LpDistance(power=2), "needs a similarity"),
    (SubCenterArcFaceLoss, LpDistance(), "needs a similarity"),
    (SubCenterArcFaceLoss, DotProductSimilarity(), "must be CosineSimilarity"),
    (ProxyNCALoss, "euclidean", "instance of a skdml.deep.distances class"),
])
def test_a_distance_the_formula_cannot_use_is_refused_at_construction(cls, distance, match):
    with pytest.raises(ValueError, match=match):
        cls(N_CLASSES, DIM, distance=distance)


@pytest.mark.parametrize("cls, param, value", [
    (ProxyNCALoss, "scale", 0.0),
    (ProxyAnchorLoss, "alpha", -1.0),
    (ProxyAnchorLoss, "margin", -0.1),
    (SoftTripleLoss, "gamma", 0.0),
    (SoftTripleLoss, "tau", -1.0),
    (SoftTripleLoss, "n_vectors_per_class", 0),
    (SubCenterArcFaceLoss, "n_vectors_per_class", 1.5),
    (SubCenterArcFaceLoss, "scale", float("nan")),
    (NormalizedSoftmaxLoss, "temperature", 0.0),
])
def test_bad_hyper_parameters(cls, param, value):
    with pytest.raises(ValueError, match=param):
        cls(N_CLASSES, DIM, **{param: value})


def test_defaults_are_the_papers():
    assert ProxyNCALoss(2, 2).distance == LpDistance(power=2, normalize_embeddings=True)
    anchor = ProxyAnchorLoss(2, 2)
    assert (anchor.alpha, anchor.margin, anchor.distance) == (32.0, 0.1, CosineSimilarity())
    soft = SoftTripleLoss(2, 2)
    assert (soft.n_vectors_per_class, soft.scale, soft.gamma, soft.tau, soft.margin) == (
        10, 20.0, 0.1, 0.2, 0.01)
    assert soft.weight.shape == (20, 2)
    sub = SubCenterArcFaceLoss(2, 2)
    assert (sub.n_vectors_per_class, sub.margin, sub.scale) == (3, 0.5, 64.0)
    assert NormalizedSoftmaxLoss(2, 2).temperature == 0.05


# --- learning ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    train = np.arange(len(X)) % 3 != 0
    torch.manual_seed(0)
    net = MLP(64, hidden_sizes=(32, 8))
    with torch.no_grad():
        initial = net(torch.tensor(X, dtype=torch.float32)).numpy()
    return X, y, train, net, _one_nn(initial, y, train)


def _one_nn(Z, y, train):
    """1-NN accuracy of the held-out third, by cosine (the losses' geometry)."""
    Z = normalize(Z)
    knn = KNeighborsClassifier(n_neighbors=1).fit(Z[train], y[train])
    return knn.score(Z[~train], y[~train])


@pytest.mark.parametrize("cls", LOSSES)
def test_training_improves_one_nn_accuracy_on_digits(cls, digits):
    X, y, train, net, initial = digits
    model = DeepMetricLearner(module=copy.deepcopy(net), loss=cls, max_epochs=10, lr=1e-2,
                              random_state=0).fit(X[train], y[train])
    assert model.loss_.n_classes == 10 and model.loss_.embedding_dim == 8
    learned = _one_nn(model.transform(X), y, train)
    assert initial < 0.75  # 0.71 here: a random 8-d tanh embedding
    assert learned > initial + 0.1  # 0.87 (proxy-anchor) to 0.97 here
