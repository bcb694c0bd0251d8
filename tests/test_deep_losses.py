"""Deep losses: each against its formula (written out with NumPy loops) and gradcheck."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skdml.deep import losses as L  # noqa: E402
from skdml.deep.miners import all_pairs, all_triplets  # noqa: E402


RNG = np.random.default_rng(0)
X = RNG.normal(size=(7, 3))
Y = np.array([0, 0, 1, 1, 1, 2, 2])
XN = X / np.linalg.norm(X, axis=1, keepdims=True)


def _t(a):
    return torch.tensor(a, dtype=torch.float64)


def _pairs(y):
    n = len(y)
    pos = [(i, j) for i in range(n) for j in range(n) if i != j and y[i] == y[j]]
    neg = [(i, j) for i in range(n) for j in range(n) if y[i] != y[j]]
    return pos, neg


def _triplets(y):
    pos, _ = _pairs(y)
    return [(a, p, n) for a, p in pos for n in range(len(y)) if y[n] != y[a]]


def _d(x, i, j):
    return float(np.linalg.norm(x[i] - x[j]))


def _softplus(z):
    return math.log1p(math.exp(z))


def ref_generalized_logistic(x, y, tau, beta):
    pos, neg = _pairs(y)
    terms = [_softplus(beta * (1 - (tau - _d(x, i, j) ** 2))) / beta for i, j in pos]
    terms += [_softplus(beta * (1 + (tau - _d(x, i, j) ** 2))) / beta for i, j in neg]
    return np.mean(terms)


def ref_contrastive(x, y, m):
    pos, neg = _pairs(y)
    terms = [0.5 * _d(x, i, j) ** 2 for i, j in pos]
    terms += [0.5 * max(0.0, m - _d(x, i, j)) ** 2 for i, j in neg]
    return np.mean(terms)


def ref_triplet(x, y, m, squared):
    e = 2 if squared else 1
    return np.mean(
        [max(0.0, _d(x, a, p) ** e - _d(x, a, n) ** e + m) for a, p, n in _triplets(y)]
    )


def ref_npair(x, y, l2):
    # every sample anchors one pair, its positive the next sample of its class (cyclically)
    pos = []
    for a in range(len(y)):
        members = [i for i in range(len(y)) if y[i] == y[a]]
        if len(members) >= 2:
            pos.append((a, members[(members.index(a) + 1) % len(members)]))
    terms = []
    for a, p in pos:
        s = sum(
            math.exp(x[a] @ x[q] - x[a] @ x[p]) for _, q in pos if y[q] != y[a]
        )
        terms.append(math.log1p(s) + l2 * 0.5 * (x[a] @ x[a] + x[p] @ x[p]))
    return np.mean(terms)


def ref_lifted(x, y, m):
    pos, _ = _pairs(y)
    n = len(y)
    terms = []
    for i, j in pos:
        s = sum(math.exp(m - _d(x, i, k)) for k in range(n) if y[k] != y[i])
        s += sum(math.exp(m - _d(x, j, k)) for k in range(n) if y[k] != y[j])
        terms.append(max(0.0, math.log(s) + _d(x, i, j)) ** 2)
    return 0.5 * np.mean(terms)


def ref_angular(x, y, alpha):
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    t2 = math.tan(math.radians(alpha)) ** 2
    return np.mean([
        max(0.0, _d(z, a, p) ** 2 - 4 * t2 * np.sum((z[n] - (z[a] + z[p]) / 2) ** 2))
        for a, p, n in _triplets(y)
    ])


def ref_margin(x, y, alpha, beta, nu):
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    pos, neg = _pairs(y)
    terms = [max(0.0, alpha + _d(z, i, j) - beta) for i, j in pos]
    terms += [max(0.0, alpha - _d(z, i, j) + beta) for i, j in neg]
    active = max(1, sum(t > 0 for t in terms))
    return sum(terms) / active + nu * beta


def ref_multi_similarity(x, y, alpha, beta, base):
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    S = z @ z.T
    out = []
    for i in range(len(y)):
        P = [k for k in range(len(y)) if k != i and y[k] == y[i]]
        N = [k for k in range(len(y)) if y[k] != y[i]]
        lp = math.log1p(sum(math.exp(-alpha * (S[i, k] - base)) for k in P)) / alpha
        ln = math.log1p(sum(math.exp(beta * (S[i, k] - base)) for k in N)) / beta
        out.append(lp + ln)
    return np.mean(out)


def ref_contrastive_plain(x, y, m):
    # the Siamese lecture's form: l D + (1 - l) max(0, m - D), D the Euclidean distance
    pos, neg = _pairs(y)
    terms = [_d(x, i, j) for i, j in pos]
    terms += [max(0.0, m - _d(x, i, j)) for i, j in neg]
    return np.mean(terms)


def ref_distance_logistic(x, y, m, scale):
    # Vo & Hays' DBL: p = (1 + e^(-m)) / (1 + e^(D - m)), log loss of p against the pair label
    # (the slope s multiplies D and m)
    pos, neg = _pairs(y)
    prob = {ij: (1 + math.exp(-scale * m)) / (1 + math.exp(scale * (_d(x, *ij) - m)))
            for ij in pos + neg}
    terms = [-math.log(prob[ij]) for ij in pos]
    terms += [-math.log(1 - prob[ij]) for ij in neg]
    return np.mean(terms)


def _cross_entropy(logits, y):
    logits = logits - logits.max(1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])


def _cos(x, W):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (
        W / np.linalg.norm(W, axis=1, keepdims=True)
    ).T


def ref_center(x, y, loss):
    W, b, C = (p.detach().numpy() for p in (loss.weight, loss.bias, loss.centers))
    ce = _cross_entropy(x @ W.T + b, y)
    return ce + 0.5 * loss.center_weight * np.mean(np.sum((x - C[y]) ** 2, axis=1))


def ref_arcface(x, y, loss):
    cos = _cos(x, loss.weight.detach().numpy())
    logits = cos.copy()
    for i, c in enumerate(y):
        theta = math.acos(cos[i, c])
        logits[i, c] = (math.cos(theta + loss.margin) if theta + loss.margin <= math.pi
                        else cos[i, c] - loss.margin * math.sin(loss.margin))
    return _cross_entropy(loss.scale * logits, y)


def ref_cosface(x, y, loss):
    cos = _cos(x, loss.weight.detach().numpy())
    logits = cos.copy()
    logits[np.arange(len(y)), y] -= loss.margin
    return _cross_entropy(loss.scale * logits, y)


def ref_sphereface(x, y, loss):
    cos = _cos(x, loss.weight.detach().numpy())
    m = loss.margin
    logits = cos.copy()
    for i, c in enumerate(y):
        theta = math.acos(cos[i, c])
        k = math.floor(m * theta / math.pi)
        logits[i, c] = (-1) ** k * math.cos(m * theta) - 2 * k
    return _cross_entropy(np.linalg.norm(x, axis=1, keepdims=True) * logits, y)


METRIC_CASES = [
    (L.GeneralizedLogisticLoss(tau=2.0, beta=3.0),
     lambda x, y: ref_generalized_logistic(x, y, 2.0, 3.0)),
    (L.ContrastiveLoss(margin=2.0), lambda x, y: ref_contrastive(x, y, 2.0)),
    (L.ContrastiveLoss(margin=2.0, power=1), lambda x, y: ref_contrastive_plain(x, y, 2.0)),
    (L.TripletMarginLoss(margin=0.5), lambda x, y: ref_triplet(x, y, 0.5, True)),
    (L.TripletMarginLoss(margin=0.5, squared=False), lambda x, y: ref_triplet(x, y, 0.5, False)),
    (L.NPairLoss(l2_reg=0.01), lambda x, y: ref_npair(x, y, 0.01)),
    (L.LiftedStructuredLoss(margin=1.0), lambda x, y: ref_lifted(x, y, 1.0)),
    (L.AngularLoss(alpha=40), lambda x, y: ref_angular(x, y, 40)),
    # beta is a float32 parameter: compare with its stored value
    (L.MarginLoss(alpha=0.2, beta=1.2, nu=0.1),
     lambda x, y: ref_margin(x, y, 0.2, float(np.float32(1.2)), 0.1)),
    (L.MultiSimilarityLoss(alpha=2, beta=10, base=0.5),
     lambda x, y: ref_multi_similarity(x, y, 2, 10, 0.5)),
    (L.DistanceLogisticLoss(margin=1.5, scale=2.0),
     lambda x, y: ref_distance_logistic(x, y, 1.5, 2.0)),
]


@pytest.mark.parametrize("loss, ref", METRIC_CASES, ids=lambda c: type(c).__name__)
def test_metric_loss_matches_formula(loss, ref):
    loss = loss.double()
    got = loss(_t(X), torch.tensor(Y)).item()
    assert got == pytest.approx(ref(X, Y), rel=1e-9, abs=1e-12)
    assert got > 0


@pytest.mark.parametrize("loss, ref", METRIC_CASES, ids=lambda c: type(c).__name__)
def test_metric_loss_gradcheck(loss, ref):
    loss = loss.double()
    x = _t(X).requires_grad_()
    assert torch.autograd.gradcheck(lambda e: loss(e, torch.tensor(Y)), (x,))


def _class_cases():
    torch.manual_seed(0)
    return [
        (L.CenterLoss(3, 3, center_weight=0.5), ref_center),
        (L.ArcFaceLoss(3, 3, margin=0.5, scale=4.0), ref_arcface),
        (L.CosFaceLoss(3, 3, margin=0.35, scale=4.0), ref_cosface),
        (L.SphereFaceLoss(3, 3, margin=4), ref_sphereface),
    ]


@pytest.mark.parametrize("loss, ref", _class_cases(), ids=lambda c: type(c).__name__)
def test_class_loss_matches_formula_and_gradcheck(loss, ref):
    loss = loss.double()
    if isinstance(loss, L.CenterLoss):
        with torch.no_grad():
            loss.centers.normal_()
            loss.bias.normal_()
    got = loss(_t(X), torch.tensor(Y)).item()
    assert got == pytest.approx(ref(X, Y, loss), rel=1e-9)
    x = _t(X).requires_grad_()
    assert torch.autograd.gradcheck(lambda e: loss(e, torch.tensor(Y)), (x,))


def test_arcface_fallback_beyond_pi():
    # an embedding opposite its class vector: theta + margin > pi uses the linear fallback
    loss = L.ArcFaceLoss(2, 2, margin=0.5, scale=1.0).double()
    with torch.no_grad():
        loss.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    x = np.array([[-1.0, 0.05], [0.3, 1.0]])
    y = np.array([0, 1])
    assert loss(_t(x), torch.tensor(y)).item() == pytest.approx(ref_arcface(x, y, loss))


def test_sphereface_psi_is_monotonic():
    loss = L.SphereFaceLoss(2, 2, margin=4).double()
    theta = torch.linspace(0.01, math.pi - 0.01, 200, dtype=torch.float64)
    x = torch.stack([torch.cos(theta), torch.sin(theta)], 1)
    with torch.no_grad():
        loss.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    labels = torch.zeros(200, dtype=torch.long)
    psi = loss.logits(x, labels)[:, 0]
    assert torch.all(psi[1:] < psi[:-1])


def test_losses_take_mined_tuples():
    loss = L.ContrastiveLoss(margin=2.0).double()
    x, y = _t(X), torch.tensor(Y)
    a, p, n = all_triplets(y)
    keep = torch.arange(len(a)) % 5 == 0
    trip = (a[keep], p[keep], n[keep])
    got = loss(x, y, trip).item()
    d = torch.cdist(x, x)
    pos = 0.5 * d[trip[0], trip[1]] ** 2
    neg = 0.5 * torch.relu(2.0 - d[trip[0], trip[2]]) ** 2
    assert got == pytest.approx(torch.cat([pos, neg]).mean().item())
    # a triplet loss given pairs forms the triplets sharing an anchor
    tl = L.TripletMarginLoss(margin=0.5).double()
    assert tl(x, y, all_pairs(y)).item() == pytest.approx(tl(x, y).item())


@pytest.mark.parametrize("loss", [c[0] for c in METRIC_CASES], ids=lambda c: type(c).__name__)
def test_batch_without_positive_pair_warns_and_is_zero(loss):
    x = _t(X[:3]).requires_grad_()
    with pytest.warns(UserWarning, match="no positive pair"):
        out = loss.double()(x, torch.tensor([0, 1, 2]))
    assert out.item() == 0.0 and torch.isfinite(out)
    out.backward()
    assert torch.all(x.grad == 0)


def test_empty_mined_tuples_give_zero_without_warning():
    loss = L.TripletMarginLoss().double()
    empty = torch.zeros(0, dtype=torch.long)
    out = loss(_t(X), torch.tensor(Y), (empty, empty, empty))
    assert out.item() == 0.0


def test_dbl_keeps_pushing_a_collapsed_negative_pair():
    # a negative pair almost at one point: the plain logistic on d - m would cost about
    # log(1 + e^m) with a gradient below 1; DBL's -log(1 - p) is large there and pushes hard
    x = torch.tensor([[0.0, 0.0], [1e-3, 0.0], [1.0, 0.0]], dtype=torch.float64,
                     requires_grad=True)
    labels = torch.tensor([0, 1, 1])
    loss = L.DistanceLogisticLoss(margin=1.0).double()
    out = loss(x, labels)
    out.backward()
    assert torch.isfinite(out) and out.item() > 3.0
    assert torch.isfinite(x.grad).all() and x.grad.abs().max() > 100.0
    # the positive pair alone at distance 0 costs nothing: p = 1
    same = torch.zeros(2, 2, dtype=torch.float64)
    assert loss(same, torch.tensor([0, 0])).item() == pytest.approx(0.0, abs=1e-6)


def test_bad_inputs_and_parameters():
    with pytest.raises(ValueError, match="margin"):
        L.ContrastiveLoss(margin=-1)
    for power in (0, 3, 1.5, True):
        with pytest.raises(ValueError, match="power must be 1 or 2"):
            L.ContrastiveLoss(power=power)
    with pytest.raises(ValueError, match="beta"):
        L.GeneralizedLogisticLoss(beta=0)
    with pytest.raises(ValueError, match="alpha"):
        L.AngularLoss(alpha=95)
    with pytest.raises(ValueError, match="n_classes"):
        L.ArcFaceLoss(0, 4)
    with pytest.raises(ValueError, match="class indices 0..2"):
        L.CosFaceLoss(3, 3)(_t(X), torch.tensor([0, 1, 2, 3, 0, 1, 2]))
    with pytest.raises(ValueError, match="embeddings of shape"):
        L.ContrastiveLoss()(_t(X)[None], torch.tensor(Y))
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        L.ArcFaceLoss(3, 3)(_t(X[:, :2]), torch.tensor(Y))


def test_margin_loss_learns_beta():
    loss = L.MarginLoss()
    assert loss.beta.requires_grad
    out = loss(torch.tensor(X, dtype=torch.float32), torch.tensor(Y))
    out.backward()
    assert loss.beta.grad is not None and loss.beta.grad.item() != 0
    assert not L.MarginLoss(learn_beta=False).beta.requires_grad
