"""Batch losses (SupCon, NT-Xent, circle, generalized lifted structure, tuplet margin,
FastAP) and the cross-batch memory: each against its paper's formula written out with loops,
gradcheck, extreme scales, pytorch-metric-learning where installed, and training."""

import math
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

from skdml.deep import DeepMetricLearner  # noqa: E402
from skdml.deep._tuples import all_pairs  # noqa: E402
from skdml.deep.distances import (  # noqa: E402
    CosineSimilarity,
    DotProductSimilarity,
    LpDistance,
)
from skdml.deep.losses import ArcFaceLoss, ContrastiveLoss, TripletMarginLoss  # noqa: E402
from skdml.deep.losses._batch import (  # noqa: E402
    CircleLoss,
    FastAPLoss,
    GeneralizedLiftedStructureLoss,
    NTXentLoss,
    SupConLoss,
    TupletMarginLoss,
)
from skdml.deep.losses._memory import CrossBatchMemory  # noqa: E402
from skdml.deep.reducers import PerAnchorReducer  # noqa: E402


RNG = np.random.default_rng(0)
X = RNG.normal(size=(9, 4))
# class 3 has a single sample: an anchor without positives
Y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3])


def _t(a, dtype=torch.float64):
    return torch.tensor(a, dtype=dtype)


# --- the formulas, written out ---------------------------------------------------------------

def _all_pairs(y):
    n = len(y)
    pos = [(i, j) for i in range(n) for j in range(n) if i != j and y[i] == y[j]]
    neg = [(i, j) for i in range(n) for j in range(n) if y[i] != y[j]]
    return pos, neg


def _partners(pairs, i):
    return [j for a, j in pairs if a == i]


def _anchors(pos, neg, need_negative):
    anchors = sorted({a for a, _ in pos})
    return [a for a in anchors if _partners(neg, a)] if need_negative else anchors


def _lse(values):
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def _cos(x):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    return xn @ xn.T


def _euclid(x):
    return np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))


def ref_supcon(x, pos, neg, t=0.1):
    S = _cos(x) / t
    terms = []
    for i in _anchors(pos, neg, False):
        P = _partners(pos, i)
        log_den = _lse([S[i, a] for a in P + _partners(neg, i)])
        terms.append(-sum(S[i, p] - log_den for p in P) / len(P))
    return np.mean(terms)


def ref_ntxent(x, pos, neg, t=0.5):
    S = _cos(x) / t
    return np.mean([
        _lse([S[i, j]] + [S[i, k] for k in _partners(neg, i)]) - S[i, j] for i, j in pos
    ])


def ref_circle(x, pos, neg, m=0.4, gamma=80.0, S=None):
    S = _cos(x) if S is None else S
    terms = []
    for i in _anchors(pos, neg, True):
        lp = _lse([-gamma * max(0.0, 1 + m - S[i, p]) * (S[i, p] - (1 - m))
                   for p in _partners(pos, i)])
        ln = _lse([gamma * max(0.0, S[i, n] + m) * (S[i, n] - m) for n in _partners(neg, i)])
        terms.append(_softplus(lp + ln))  # log(1 + sum_n ... * sum_p ...)
    return np.mean(terms)


def ref_gls(x, pos, neg, pos_margin=0.0, neg_margin=1.0):
    D = _euclid(x)
    terms = []
    for i in _anchors(pos, neg, True):
        value = (_lse([D[i, p] - pos_margin for p in _partners(pos, i)])
                 + _lse([neg_margin - D[i, n] for n in _partners(neg, i)]))
        terms.append(max(0.0, value))
    return np.mean(terms)


def ref_tuplet(x, pos, neg, margin=5.73, scale=64.0):
    S = _cos(x)
    b = math.radians(margin)
    terms = []
    for i, j in pos:
        target = math.cos(math.acos(S[i, j]) - b)
        negs = _partners(neg, i)
        terms.append(_softplus(_lse([scale * (S[i, n] - target) for n in negs]))
                     if negs else 0.0)
    return np.mean(terms)


def ref_fastap(x, pos, neg, num_bins=10, power=2):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    D = _euclid(xn) ** power  # in [0, 2^power]
    delta = 2.0 ** power / num_bins
    terms = []
    for i in _anchors(pos, neg, False):
        P, N = _partners(pos, i), _partners(neg, i)
        h_pos = [sum(max(0.0, 1 - abs(D[i, j] - l * delta) / delta) for j in P)
                 for l in range(num_bins + 1)]
        h_all = [h_pos[l] + sum(max(0.0, 1 - abs(D[i, j] - l * delta) / delta) for j in N)
                 for l in range(num_bins + 1)]
        ap = sum(h_pos[l] * sum(h_pos[:l + 1]) / sum(h_all[:l + 1])
                 for l in range(num_bins + 1) if sum(h_all[:l + 1]) > 0)
        terms.append(1.0 - ap / len(P))
    return np.mean(terms)


CASES = [
    (SupConLoss, ref_supcon),
    (NTXentLoss, ref_ntxent),
    (CircleLoss, ref_circle),
    (GeneralizedLiftedStructureLoss, ref_gls),
    (TupletMarginLoss, ref_tuplet),
    (FastAPLoss, ref_fastap),
]
IDS = [cls.__name__ for cls, _ in CASES]


# --- values and gradients --------------------------------------------------------------------

@pytest.mark.parametrize("cls, ref", CASES, ids=IDS)
def test_value_matches_the_formula_on_every_pair(cls, ref):
    pos, neg = _all_pairs(Y)
    value = cls()(_t(X), torch.tensor(Y))
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(ref(X, pos, neg), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("cls, ref", CASES, ids=IDS)
def test_value_matches_the_formula_on_a_miners_pairs(cls, ref):
    pos, neg = _all_pairs(Y)
    pos, neg = pos[::2], neg[1::3]  # a selection, as a miner's
    pairs = tuple(torch.tensor(c) for c in (*zip(*pos), *zip(*neg)))
    value = cls()(_t(X), torch.tensor(Y), pairs)
    assert value.item() == pytest.approx(ref(X, pos, neg), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("cls, params, ref_params", [
    (SupConLoss, dict(temperature=0.3), dict(t=0.3)),
    (NTXentLoss, dict(temperature=0.07), dict(t=0.07)),
    (CircleLoss, dict(m=0.25, gamma=256.0), dict(m=0.25, gamma=256.0)),
    (GeneralizedLiftedStructureLoss, dict(pos_margin=0.5, neg_margin=2.0),
     dict(pos_margin=0.5, neg_margin=2.0)),
    (TupletMarginLoss, dict(margin=20.0, scale=16.0), dict(margin=20.0, scale=16.0)),
    (FastAPLoss, dict(num_bins=4), dict(num_bins=4)),
], ids=IDS)
def test_hyper_parameters_enter_the_formula(cls, params, ref_params):
    ref = dict(CASES)[cls]
    pos, neg = _all_pairs(Y)
    value = cls(**params)(_t(X), torch.tensor(Y)).item()
    assert value == pytest.approx(ref(X, pos, neg, **ref_params), rel=1e-10)
    assert value != pytest.approx(cls()(_t(X), torch.tensor(Y)).item(), rel=1e-3)


def test_paper_defaults():
    assert SupConLoss().temperature == 0.1
    assert NTXentLoss().temperature == 0.5
    assert (CircleLoss().m, CircleLoss().gamma) == (0.4, 80.0)
    gls = GeneralizedLiftedStructureLoss()
    assert (gls.pos_margin, gls.neg_margin) == (0.0, 1.0)
    assert (TupletMarginLoss().margin, TupletMarginLoss().scale) == (5.73, 64.0)
    assert FastAPLoss().num_bins == 10
    for cls in (SupConLoss, NTXentLoss, CircleLoss, TupletMarginLoss):
        assert cls().distance == CosineSimilarity()
    assert GeneralizedLiftedStructureLoss().distance == LpDistance()
    assert FastAPLoss().distance == LpDistance(power=2, normalize_embeddings=True)


@pytest.mark.parametrize("loss", [
    SupConLoss(), NTXentLoss(), GeneralizedLiftedStructureLoss(),
    TupletMarginLoss(scale=8.0), FastAPLoss(),
    # the sum over negatives through a dot product, away from cosine's normalization
    SupConLoss(temperature=1.0, distance=DotProductSimilarity()),
], ids=lambda loss: repr(loss))
def test_gradcheck(loss):
    x = _t(X).requires_grad_()
    assert torch.autograd.gradcheck(lambda z: loss(z, torch.tensor(Y)), (x,))


def test_circle_gradient_holds_its_weights_constant():
    # the paper's weights a_p, a_n are constants of the backward pass: the gradient is
    # d loss / d s = sigmoid(z) softmax(logits) * (-g a_p or g a_n), summed through s = x x^T
    m, gamma = 0.25, 4.0
    x = 0.5 * X
    S = x @ x.T
    pos, neg = _all_pairs(Y)
    anchors = _anchors(pos, neg, True)
    G = np.zeros_like(S)
    for i in anchors:
        P, N = _partners(pos, i), _partners(neg, i)
        lp = {p: -gamma * max(0.0, 1 + m - S[i, p]) * (S[i, p] - (1 - m)) for p in P}
        ln = {n: gamma * max(0.0, S[i, n] + m) * (S[i, n] - m) for n in N}
        z = _lse(list(lp.values())) + _lse(list(ln.values()))
        sig = 1.0 / (1.0 + math.exp(-z))
        for p in P:
            G[i, p] = sig * math.exp(lp[p] - _lse(list(lp.values()))) * -gamma * max(
                0.0, 1 + m - S[i, p])
        for n in N:
            G[i, n] = sig * math.exp(ln[n] - _lse(list(ln.values()))) * gamma * max(
                0.0, S[i, n] + m)
    expected = (G + G.T) @ x / len(anchors)
    xt = _t(x).requires_grad_()
    loss = CircleLoss(m=m, gamma=gamma, distance=DotProductSimilarity())(xt, torch.tensor(Y))
    assert loss.item() == pytest.approx(ref_circle(x, pos, neg, m, gamma, S=S), rel=1e-10)
    loss.backward()
    np.testing.assert_allclose(xt.grad.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", [cls for cls, _ in CASES], ids=IDS)
def test_per_anchor_terms(cls):
    # PerAnchorReducer needs the anchor of every term: each loss gives it
    x, y = _t(X), torch.tensor(Y)
    values = cls().compute(x, y, all_pairs(y))
    assert isinstance(values, tuple) and values[0].shape == values[1].shape
    assert torch.isfinite(cls(reducer=PerAnchorReducer())(x, y))


# --- extreme scales ---------------------------------------------------------------------------

FAR = np.array([[0.0], [15000.0], [35000.0], [50000.0]])


def _finite_grad(loss, x, y, tuples=None):
    x = _t(x).requires_grad_()
    value = loss(x, torch.tensor(y), tuples)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()
    return value.item()


@pytest.mark.parametrize("y", [[0, 0, 1, 1], [0, 1, 0, 1]])
def test_generalized_lifted_structure_at_large_distances(y):
    pos, neg = _all_pairs(y)
    value = _finite_grad(GeneralizedLiftedStructureLoss(), FAR, y)
    # [0, 0, 1, 1]: every positive far closer than every negative, 0; [0, 1, 0, 1]: ~2e4
    assert value == pytest.approx(ref_gls(FAR, pos, neg), rel=1e-12, abs=0)


def test_large_scale_parameters_stay_finite_and_right():
    # a 2-D batch of hard pairs (negatives closer than positives): logits of thousands
    angles = np.array([0.0, 1.0, 0.3, 1.3, 3.0, 2.5])
    x = 1e4 * np.stack([np.cos(angles), np.sin(angles)], 1)
    y = [0, 0, 1, 1, 2, 2]
    pos, neg = _all_pairs(y)
    cases = [
        (SupConLoss(temperature=1e-4), ref_supcon(x, pos, neg, t=1e-4)),
        (NTXentLoss(temperature=1e-4), ref_ntxent(x, pos, neg, t=1e-4)),
        (CircleLoss(gamma=1e5), ref_circle(x, pos, neg, gamma=1e5)),
        (TupletMarginLoss(scale=1e5), ref_tuplet(x, pos, neg, scale=1e5)),
        (FastAPLoss(), ref_fastap(x, pos, neg)),
    ]
    for loss, expected in cases:
        assert expected > 1.0 or isinstance(loss, FastAPLoss)  # no saturated zero
        assert _finite_grad(loss, x, y) == pytest.approx(expected, rel=1e-10), repr(loss)


def test_rows_with_nothing_to_sum_give_zero_and_finite_gradients():
    # positive pairs only: no term for the losses that need a negative, log 1 = 0 for
    # SupCon, NT-Xent and tuplet margin, AP = 1 for FastAP
    none = torch.tensor([], dtype=torch.long)
    pairs = (torch.tensor([0, 1]), torch.tensor([1, 0]), none, none)
    for cls, _ in CASES:
        assert _finite_grad(cls(), X[:4], [0, 0, 1, 1], pairs) == pytest.approx(0.0, abs=1e-12)


def test_fastap_bins_the_range_of_its_distance():
    # the normalized Euclidean distance (power 1) spans [0, 2]; unnormalized distances
    # have no bounded range and are refused
    pos, neg = _all_pairs(Y)
    loss = FastAPLoss(distance=LpDistance(normalize_embeddings=True))
    assert _finite_grad(loss, X, Y) == pytest.approx(ref_fastap(X, pos, neg, power=1),
                                                     rel=1e-10)
    with pytest.raises(ValueError, match="normalize_embeddings=True"):
        FastAPLoss(distance=LpDistance(power=2))


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("cls, wrong", [
    (SupConLoss, LpDistance()),
    (NTXentLoss, LpDistance()),
    (CircleLoss, LpDistance()),
    (TupletMarginLoss, LpDistance()),
    (GeneralizedLiftedStructureLoss, CosineSimilarity()),
    (FastAPLoss, CosineSimilarity()),
], ids=IDS)
def test_wrong_kind_of_distance_is_refused_at_construction(cls, wrong):
    with pytest.raises(ValueError, match=f"{cls.__name__} needs a"):
        cls(distance=wrong)


@pytest.mark.parametrize("build, match", [
    (lambda: SupConLoss(temperature=0), "temperature must be > 0"),
    (lambda: NTXentLoss(temperature=-1.0), "temperature must be > 0"),
    (lambda: CircleLoss(gamma=0), "gamma must be > 0"),
    (lambda: CircleLoss(m=-0.1), "m must be >= 0"),
    (lambda: GeneralizedLiftedStructureLoss(neg_margin=math.nan), "neg_margin must be"),
    (lambda: TupletMarginLoss(margin=90), "margin must be < 90"),
    (lambda: TupletMarginLoss(distance=DotProductSimilarity()), "CosineSimilarity"),
    (lambda: FastAPLoss(num_bins=0), "num_bins must be an integer >= 1"),
    (lambda: FastAPLoss(distance=LpDistance(p=1, normalize_embeddings=True)), "p=2"),
])
def test_bad_hyper_parameters(build, match):
    with pytest.raises(ValueError, match=match):
        build()


# --- cross-batch memory -----------------------------------------------------------------------

def _rows(start, stop, width=2):
    return _t(np.arange(start, stop, dtype=float)[:, None] * np.ones(width))


def test_memory_is_first_in_first_out_and_bounded():
    xbm = CrossBatchMemory(ContrastiveLoss(), embedding_dim=2, memory_size=5).double()
    assert len(xbm.memory()[0]) == 0
    for start in (0, 3, 6):
        xbm(_rows(start, start + 3), torch.arange(start, start + 3) % 2)
    emb, lab = xbm.memory()
    np.testing.assert_array_equal(emb[:, 0].numpy(), [4, 5, 6, 7, 8])
    np.testing.assert_array_equal(lab.numpy(), np.arange(4, 9) % 2)
    assert int(xbm.memory_seen) == 9 and xbm.memory_embeddings.shape == (5, 2)
    # a batch larger than the memory leaves its last rows
    xbm(_rows(10, 17), torch.arange(10, 17) % 2)
    np.testing.assert_array_equal(xbm.memory()[0][:, 0].numpy(), [12, 13, 14, 15, 16])
    assert not xbm.memory()[0].requires_grad
    # evaluation reads the memory but does not write it
    xbm.eval()
    xbm(_rows(20, 23), torch.tensor([0, 1, 0]))
    np.testing.assert_array_equal(xbm.memory()[0][:, 0].numpy(), [12, 13, 14, 15, 16])
    xbm.reset_memory()
    assert len(xbm.memory()[1]) == 0


def _xbm_pairs(y_batch, y_memory, batch_pairs=None):
    """(positive, negative) pairs of [batch; memory]: anchors in the batch."""
    b = len(y_batch)
    y = list(y_batch) + list(y_memory)
    pos, neg = _all_pairs(y_batch) if batch_pairs is None else batch_pairs
    pos = list(pos) + [(i, b + j) for i in range(b) for j in range(len(y_memory))
                       if y[i] == y[b + j]]
    neg = list(neg) + [(i, b + j) for i in range(b) for j in range(len(y_memory))
                       if y[i] != y[b + j]]
    return pos, neg


@pytest.mark.parametrize("inner, ref", [
    (ContrastiveLoss(), "contrastive"),
    (SupConLoss(), ref_supcon),
    (CircleLoss(), ref_circle),
    (TripletMarginLoss(), "triplet"),
], ids=["contrastive", "supcon", "circle", "triplet"])
def test_memory_loss_is_the_inner_loss_over_batch_and_memory_pairs(inner, ref):
    rng = np.random.default_rng(1)
    xbm = CrossBatchMemory(inner, embedding_dim=4, memory_size=8).double()
    batches = [(rng.normal(size=(6, 4)), rng.integers(0, 3, 6)) for _ in range(3)]
    memory_x, memory_y = np.zeros((0, 4)), np.zeros(0, dtype=int)
    for x, y in batches:
        pos, neg = _xbm_pairs(y, memory_y)
        full = np.vstack([x, memory_x])
        D = _euclid(full)
        if ref == "contrastive":
            expected = np.mean([0.5 * D[i, j] ** 2 for i, j in pos]
                               + [0.5 * max(0.0, 1 - D[i, j]) ** 2 for i, j in neg])
        elif ref == "triplet":
            expected = np.mean([max(0.0, D[a, p] ** 2 - D[a, n] ** 2 + 0.2)
                                for a, p in pos for a2, n in neg if a2 == a])
        else:
            expected = ref(full, pos, neg)
        xt = _t(x).requires_grad_()
        value = xbm(xt, torch.tensor(y))
        assert value.item() == pytest.approx(expected, rel=1e-10)
        value.backward()  # the gradient reaches the batch only: the memory is detached
        assert torch.isfinite(xt.grad).all()
        memory_x, memory_y = np.vstack([memory_x, x])[-8:], np.concatenate([memory_y, y])[-8:]
    np.testing.assert_array_equal(xbm.memory()[0].numpy(), memory_x)


def test_memory_keeps_a_miners_batch_pairs():
    rng = np.random.default_rng(2)
    xbm = CrossBatchMemory(SupConLoss(), embedding_dim=4, memory_size=6).double()
    x0, y0 = rng.normal(size=(6, 4)), np.array([0, 0, 1, 1, 2, 2])
    xbm(_t(x0), torch.tensor(y0))
    x, y = rng.normal(size=(6, 4)), np.array([0, 1, 1, 2, 2, 0])
    pos, neg = _all_pairs(y)
    mined = (pos[::2], neg[::3])
    pairs = tuple(torch.tensor(c) for c in (*zip(*mined[0]), *zip(*mined[1])))
    expected = ref_supcon(np.vstack([x, x0]), *_xbm_pairs(y, y0, mined))
    assert xbm(_t(x), torch.tensor(y), pairs).item() == pytest.approx(expected, rel=1e-10)


def test_memory_is_a_buffer():
    xbm = CrossBatchMemory(SupConLoss, embedding_dim=3, memory_size=4)
    assert isinstance(xbm.loss, SupConLoss) and list(xbm.parameters()) == []
    xbm(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 0, 1]))
    state = xbm.state_dict()
    assert {"memory_embeddings", "memory_labels", "memory_seen"} <= set(state)
    fresh = CrossBatchMemory(SupConLoss(), embedding_dim=3, memory_size=4)
    fresh.load_state_dict(state)
    for a, b in zip(fresh.memory(), xbm.memory()):
        assert torch.equal(a, b)
    restored = pickle.loads(pickle.dumps(xbm))
    assert torch.equal(restored.memory()[0], xbm.memory()[0])
    assert xbm.double().memory_embeddings.dtype == torch.float64  # moves with .to()
    assert xbm.distance is xbm.loss.distance and xbm.reducer is xbm.loss.reducer
    assert "memory_size=4" in repr(xbm) and "SupConLoss" in repr(xbm)


def test_memory_bad_input():
    with pytest.raises(ValueError, match="pair or triplet loss"):
        CrossBatchMemory(ArcFaceLoss(3, 2), embedding_dim=2)
    with pytest.raises(ValueError, match="pair or triplet loss"):
        CrossBatchMemory(CrossBatchMemory(embedding_dim=2), embedding_dim=2)
    with pytest.raises(ValueError, match="needs embedding_dim"):
        CrossBatchMemory(ContrastiveLoss())
    with pytest.raises(ValueError, match="memory_size must be an integer >= 1"):
        CrossBatchMemory(embedding_dim=2, memory_size=0)
    with pytest.raises(ValueError, match="width 2, got 3"):
        CrossBatchMemory(embedding_dim=2)(torch.zeros(4, 3), torch.tensor([0, 0, 1, 1]))
    # no positive in batch nor memory: a warning and a zero in the graph
    xbm = CrossBatchMemory(embedding_dim=2)
    x = torch.ones(2, 2, requires_grad=True)
    with pytest.warns(UserWarning, match="shares its class"):
        assert xbm(x, torch.tensor([0, 1])).item() == 0.0
    # ... but a positive in the memory is enough
    assert xbm(torch.zeros(2, 2), torch.tensor([0, 2])).item() > 0.0


# --- pytorch-metric-learning, where installed ------------------------------------------------

def test_same_values_as_pytorch_metric_learning():
    pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning import losses as P

    # every class with two samples or more (pml gives a singleton anchor a term in GLS)
    x, y = _t(X[:8]), torch.tensor(Y[:8])
    pairs = [
        (SupConLoss(), P.SupConLoss(temperature=0.1)),
        (NTXentLoss(), P.NTXentLoss(temperature=0.5)),
        (CircleLoss(), P.CircleLoss(m=0.4, gamma=80)),
        # pml's LpDistance normalizes by default; Hermans et al.'s formula does not
        (GeneralizedLiftedStructureLoss(distance=LpDistance(normalize_embeddings=True)),
         P.GeneralizedLiftedStructureLoss(neg_margin=1, pos_margin=0)),
        (TupletMarginLoss(), P.TupletMarginLoss(margin=5.73, scale=64)),
        (FastAPLoss(), P.FastAPLoss(num_bins=10)),
    ]
    for ours, theirs in pairs:
        grads = []
        for loss in (ours, theirs):
            z = x.clone().requires_grad_()
            value = loss(z, y)
            value.backward()
            grads.append((value.item(), z.grad))
        assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-10), repr(ours)
        torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-8, atol=1e-12)


# --- training ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.5, random_state=0, stratify=y)


def _one_nn(model, digits):
    Xtr, Xte, ytr, yte = digits
    return KNeighborsClassifier(1).fit(model.transform(Xtr), ytr).score(model.transform(Xte), yte)


@pytest.mark.parametrize("loss, params", [
    *[(cls, {}) for cls, _ in CASES],
    (CrossBatchMemory, dict(loss__loss=SupConLoss(), loss__memory_size=256)),
], ids=[*IDS, "CrossBatchMemory"])
def test_trains_a_metric_on_digits(digits, loss, params):
    # a 4-D embedding, where the untrained network's neighbours are poor (0.45; chance 0.1)
    def learner(epochs, lr):
        return DeepMetricLearner(loss=loss, max_epochs=epochs, lr=lr, batch_size=64,
                                 module__hidden_sizes=(32, 4), random_state=0, **params)

    untrained = _one_nn(learner(1, 1e-12).fit(digits[0], digits[2]), digits)
    trained = _one_nn(learner(5, 3e-3).fit(digits[0], digits[2]), digits)
    assert untrained < 0.5
    assert trained > untrained + 0.1  # 0.62 (circle) to 0.88 here
