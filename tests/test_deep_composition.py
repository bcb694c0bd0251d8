"""Distances, reducers and regularizers, and the losses and miners built from them."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.special import logsumexp

from skdml.deep import DeepMetricLearner, HardMiner, MetricLoss, SemiHardMiner
from skdml.deep.distances import CosineSimilarity, DotProductSimilarity, LpDistance
from skdml.deep.losses import (
    ArcFaceLoss,
    ContrastiveLoss,
    GeneralizedLogisticLoss,
    LiftedStructuredLoss,
    MarginLoss,
    MultiSimilarityLoss,
    NPairLoss,
    TripletMarginLoss,
)
from skdml.deep.reducers import (
    AvgNonZeroReducer,
    MeanReducer,
    PerAnchorReducer,
    ThresholdReducer,
)
from skdml.deep.regularizers import CenterInvariantRegularizer, LpRegularizer


def _batch(n=12, d=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    y = torch.arange(n) % 3
    return x, y


# --- distances --------------------------------------------------------------------------

@pytest.mark.parametrize("p, power, metric", [
    (2, 1, "euclidean"), (2, 2, "sqeuclidean"), (1, 1, "cityblock"), (3, 1, "minkowski"),
])
@pytest.mark.parametrize("normalize", [False, True])
def test_lp_distance_matches_scipy(p, power, metric, normalize):
    x, _ = _batch()
    ref = _batch(7, seed=1)[0]
    dist = LpDistance(p=p, power=power, normalize_embeddings=normalize)
    xn = x / x.norm(dim=1, keepdim=True) if normalize else x
    rn = ref / ref.norm(dim=1, keepdim=True) if normalize else ref
    kw = {"p": p} if metric == "minkowski" else {}
    expected = cdist(xn.numpy(), rn.numpy(), metric, **kw)
    np.testing.assert_allclose(dist(x, ref).numpy(), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dist.pairwise(x[:7], ref).numpy(), np.diag(expected[:7]),
                               rtol=1e-10, atol=1e-10)


def test_similarities_match_numpy():
    x, _ = _batch()
    xn = (x / x.norm(dim=1, keepdim=True)).numpy()
    np.testing.assert_allclose(CosineSimilarity()(x).numpy(), xn @ xn.T, atol=1e-12)
    np.testing.assert_allclose(DotProductSimilarity()(x).numpy(), (x @ x.T).numpy(),
                               atol=1e-12)
    assert CosineSimilarity.is_inverted and not LpDistance.is_inverted
    d = LpDistance()(x)
    assert torch.equal(LpDistance().closeness(d), -d)


def test_distances_have_finite_gradients_at_zero_and_pass_gradcheck():
    x = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
    LpDistance()(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    x, _ = _batch(6, 3)
    x.requires_grad_(True)
    for dist in (LpDistance(), LpDistance(power=2), CosineSimilarity(),
                 LpDistance(p=1), LpDistance(normalize_embeddings=True)):
        assert torch.autograd.gradcheck(lambda z, dist=dist: dist(z), (x,))


@pytest.mark.parametrize("kwargs", [{"p": 0.5}, {"power": 0}, {"p": float("nan")},
                                    {"normalize_embeddings": "yes"}])
def test_lp_distance_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError, match="LpDistance"):
        LpDistance(**kwargs)


def test_distance_rejects_mismatched_widths():
    with pytest.raises(ValueError, match="width 3 .* width 4"):
        LpDistance()(torch.zeros(2, 3), torch.zeros(2, 4))


# --- reducers ---------------------------------------------------------------------------

def test_reducers_by_hand():
    v = torch.tensor([0.0, 1.0, 3.0, 0.0, 8.0], dtype=torch.float64)
    anchors = torch.tensor([0, 0, 1, 2, 2])
    assert MeanReducer()(v).item() == pytest.approx(12 / 5)
    assert AvgNonZeroReducer()(v).item() == pytest.approx(12 / 3)
    # anchors 0: mean 0.5; 1: 3; 2: 4 -> 7.5 / 3
    assert PerAnchorReducer()(v, anchors).item() == pytest.approx(7.5 / 3)
    assert PerAnchorReducer(AvgNonZeroReducer())(v, anchors).item() == pytest.approx(7.5 / 3)
    assert ThresholdReducer(low=0.5)(v).item() == pytest.approx(12 / 3)
    assert ThresholdReducer(low=0.5, high=5)(v).item() == pytest.approx(4 / 2)
    assert ThresholdReducer(high=-1)(v).item() == 0.0


def test_reducers_of_nothing_are_a_zero_in_the_graph():
    x = torch.ones(3, requires_grad=True)
    empty = (x * 2)[:0]
    for reducer in (MeanReducer(), AvgNonZeroReducer(), ThresholdReducer(low=0)):
        out = reducer(empty)
        assert out.item() == 0.0 and out.requires_grad


def test_per_anchor_reducer_needs_anchors():
    with pytest.raises(ValueError, match="gave no anchor"):
        PerAnchorReducer()(torch.ones(3))
    # a loss whose terms have no anchors says so at the first batch
    x, y = _batch()
    with pytest.raises(ValueError, match="gave no anchor"):
        GeneralizedLogisticLoss(reducer=PerAnchorReducer())(x, y)


@pytest.mark.parametrize("bad", [{"low": 2, "high": 1}, {"low": "a"}, {"high": float("nan")}])
def test_threshold_reducer_rejects_bad_bounds(bad):
    with pytest.raises(ValueError, match="ThresholdReducer"):
        ThresholdReducer(**bad)


# --- regularizers -----------------------------------------------------------------------

def test_regularizers_by_hand():
    w = torch.tensor([[3.0, 4.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    assert LpRegularizer()(w).item() == pytest.approx((5 + 1 + math.sqrt(2)) / 3)
    assert LpRegularizer(power=2, weight=0.5)(w).item() == pytest.approx(0.5 * (25 + 1 + 2) / 3)
    sq = np.array([25.0, 1.0, 2.0])
    expected = 0.25 * ((sq - sq.mean()) ** 2).mean()
    assert CenterInvariantRegularizer()(w).item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="weight"):
        LpRegularizer(weight=-1)


def test_embedding_regularizer_is_added_to_any_loss():
    x, y = _batch()
    base = ContrastiveLoss()(x, y)
    reg = ContrastiveLoss(embedding_regularizer=LpRegularizer(weight=0.1))(x, y)
    assert reg.item() == pytest.approx(base.item() + 0.1 * x.norm(dim=1).mean().item())


def test_weight_regularizer_on_class_vectors():
    x, y = _batch(d=4)
    torch.manual_seed(0)
    plain = ArcFaceLoss(3, 4)
    torch.manual_seed(0)
    reg = ArcFaceLoss(3, 4, weight_regularizer=CenterInvariantRegularizer())
    expected = plain(x, y).item() + CenterInvariantRegularizer()(plain.weight.double()).item()
    assert reg(x, y).item() == pytest.approx(expected)


# --- losses and miners composed ---------------------------------------------------------

def test_triplet_loss_with_a_similarity_flips_the_inequality():
    x, y = _batch()
    loss = TripletMarginLoss(margin=0.1, distance=CosineSimilarity())
    a, p, n = torch.tensor([0, 1]), torch.tensor([3, 4]), torch.tensor([1, 2])
    S = CosineSimilarity()(x)
    expected = torch.relu(S[a, n] - S[a, p] + 0.1).mean()
    assert loss(x, y, (a, p, n)).item() == pytest.approx(expected.item())


def test_squared_is_a_shorthand_for_the_distance():
    x, y = _batch()
    assert TripletMarginLoss(squared=False)(x, y).item() == pytest.approx(
        TripletMarginLoss(distance=LpDistance())(x, y).item())
    assert TripletMarginLoss()(x, y).item() == pytest.approx(
        TripletMarginLoss(distance=LpDistance(power=2))(x, y).item())


@pytest.mark.parametrize("loss_class", [GeneralizedLogisticLoss, ContrastiveLoss,
                                        LiftedStructuredLoss])
def test_a_similarity_where_a_distance_is_needed_is_refused(loss_class):
    with pytest.raises(ValueError, match="needs a distance .* similarity CosineSimilarity"):
        loss_class(distance=CosineSimilarity())


@pytest.mark.parametrize("loss_class", [NPairLoss, MultiSimilarityLoss])
def test_a_distance_where_a_similarity_is_needed_is_refused(loss_class):
    with pytest.raises(ValueError, match="needs a similarity .* distance LpDistance"):
        loss_class(distance=LpDistance())


def test_losses_refuse_objects_that_are_not_distances_or_reducers():
    with pytest.raises(ValueError, match="distance must be an instance"):
        ContrastiveLoss(distance="euclidean")
    with pytest.raises(ValueError, match="reducer must be an instance"):
        ContrastiveLoss(reducer=torch.mean)
    with pytest.raises(ValueError, match="embedding_regularizer must be None"):
        ContrastiveLoss(embedding_regularizer=LpDistance())
    with pytest.raises(ValueError, match="on angles: distance must be CosineSimilarity"):
        ArcFaceLoss(3, 4, distance=DotProductSimilarity())


def test_reducer_replaces_the_mean():
    x, y = _batch()
    mean = ContrastiveLoss()(x, y)
    nonzero = ContrastiveLoss(reducer=AvgNonZeroReducer())(x, y)
    pairs = ContrastiveLoss()._form_tuples(y, None)
    terms = ContrastiveLoss().compute(x, y, pairs)
    assert mean.item() == pytest.approx(terms.mean().item())
    assert nonzero.item() == pytest.approx((terms.sum() / (terms > 0).sum()).item())


def test_hard_miner_with_a_similarity_mines_the_same_as_with_its_chordal_distance():
    # on the unit sphere, |a - b|^2 = 2 - 2 cos(a, b): the rankings agree
    x, y = _batch(16, 4)
    by_cos = HardMiner(distance=CosineSimilarity())(x, y)
    by_dist = HardMiner(distance=LpDistance(normalize_embeddings=True))(x, y)
    for u, v in zip(by_cos, by_dist):
        assert torch.equal(u, v)
    semi_cos = SemiHardMiner(margin=0.4, distance=CosineSimilarity())(x, y)
    semi_d2 = SemiHardMiner(margin=0.8, distance=LpDistance(power=2, normalize_embeddings=True))(
        x, y)
    assert {tuple(t) for t in torch.stack(semi_cos, 1).tolist()} == {
        tuple(t) for t in torch.stack(semi_d2, 1).tolist()}


def test_miner_distance_is_a_learner_sub_parameter():
    learner = DeepMetricLearner(miner=HardMiner, miner__distance=CosineSimilarity(),
                                loss=TripletMarginLoss, loss__distance=CosineSimilarity(),
                                module__hidden_sizes=(8,), max_epochs=1, random_state=0)
    X = np.random.default_rng(0).normal(size=(40, 5))
    learner.fit(X, np.arange(40) % 4)
    assert learner.miner_.distance == CosineSimilarity()
    assert learner.loss_.distance == CosineSimilarity()
    assert "distance=CosineSimilarity()" in repr(learner.loss_)


# --- the two defects of issue 17 ----------------------------------------------------------

@pytest.mark.parametrize("scale", [1.0, 10.0, 1e3, 5e4, 1e7])
def test_lifted_structured_is_right_at_large_distances(scale):
    x = torch.tensor([[0.0], [0.3], [0.7], [1.0]], dtype=torch.float64) * scale
    y = torch.tensor([0, 0, 1, 1])
    dist = cdist(x.numpy(), x.numpy())
    neg = y.numpy()[:, None] != y.numpy()[None, :]
    terms = []
    for i in range(4):
        for j in range(4):
            if i != j and y[i] == y[j]:
                J = logsumexp(np.r_[1.0 - dist[i][neg[i]], 1.0 - dist[j][neg[j]]]) + dist[i, j]
                terms.append(0.5 * max(J, 0.0) ** 2)
    value = LiftedStructuredLoss()(x, y).item()
    assert math.isfinite(value)
    assert value == pytest.approx(np.mean(terms), rel=1e-9, abs=1e-12)


def test_lifted_structured_issue_example_is_zero():
    x = torch.tensor([[0.0], [15000.0], [35000.0], [50000.0]], requires_grad=True)
    loss = LiftedStructuredLoss()(x, torch.tensor([0, 0, 1, 1]))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(x.grad).all()


def test_lifted_structured_pair_without_negatives_counts_zero_with_finite_gradient():
    x, y = _batch(6, 3)
    x.requires_grad_(True)
    # one positive pair (0, 3), no negative pair at all among the given tuples
    pairs = (torch.tensor([0]), torch.tensor([3]), torch.tensor([], dtype=torch.long),
             torch.tensor([], dtype=torch.long))
    loss = LiftedStructuredLoss()(x, y, pairs)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(x.grad).all()


def test_margin_loss_adds_nu_beta_only_when_beta_is_learned():
    x, y = _batch()
    fixed = MarginLoss(nu=0.5, learn_beta=False)(x, y).item()
    assert fixed == pytest.approx(MarginLoss(nu=0.0, learn_beta=False)(x, y).item())
    learned = MarginLoss(nu=0.5, learn_beta=True)(x, y).item()
    assert learned == pytest.approx(MarginLoss(nu=0.0)(x, y).item() + 0.5 * 1.2)


def test_margin_loss_with_a_similarity_is_the_distance_formula_on_negatives():
    x, y = _batch()
    loss = MarginLoss(alpha=0.1, beta=0.3, distance=CosineSimilarity())
    S = CosineSimilarity()(x)
    pos, neg = loss._form_tuples(y, None)[:2], loss._form_tuples(y, None)[2:]
    pos_t = torch.relu(0.1 + 0.3 - S[pos])
    neg_t = torch.relu(0.1 + S[neg] - 0.3)
    terms = torch.cat([pos_t, neg_t])
    assert loss(x, y).item() == pytest.approx((terms.sum() / (terms > 0).sum()).item())


# --- the extension point ------------------------------------------------------------------

def test_metric_loss_without_compute_says_what_to_return():
    x, y = _batch()
    with pytest.raises(NotImplementedError, match="1-D tensor of per-term"):
        MetricLoss()(x, y)


class _HingeOnCosine(MetricLoss):
    """A loss written by a user: one method."""

    distance_kind = "similarity"

    def default_distance(self):
        return CosineSimilarity()

    def compute(self, embeddings, labels, pairs):
        a1, p, a2, n = pairs
        S = self.distance(embeddings)
        return torch.cat([1 - S[a1, p], torch.relu(S[a2, n])])


def test_a_user_loss_with_one_method_trains_in_a_learner():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    learner = DeepMetricLearner(loss=_HingeOnCosine, module__hidden_sizes=(16, 8),
                                max_epochs=3, random_state=0).fit(X, y)
    assert np.isfinite(learner.history_[:, "train_loss"]).all()
    assert learner.history_[-1, "train_loss"] < learner.history_[0, "train_loss"]


def test_multi_similarity_averages_over_the_batch_with_a_miner():
    # the paper's 1/m: a sample the miner gave no pair counts 0
    x, y = _batch(10, 4)
    loss = MultiSimilarityLoss()
    pairs = (torch.tensor([0, 0]), torch.tensor([3, 6]), torch.tensor([0, 2]),
             torch.tensor([1, 4]))
    S = CosineSimilarity()(x).numpy()
    alpha, beta, base = 2.0, 50.0, 0.5
    row0 = (np.log1p(np.exp(-alpha * (S[0, [3, 6]] - base)).sum()) / alpha
            + np.log1p(np.exp(beta * (S[0, 1] - base))) / beta)
    row2 = np.log1p(np.exp(beta * (S[2, 4] - base))) / beta
    assert loss(x, y, pairs).item() == pytest.approx((row0 + row2) / 10, rel=1e-10)


def test_cross_batch_memory_keeps_the_batch_rows_of_per_row_terms():
    from skdml.deep import CrossBatchMemory

    x, y = _batch(6, 4)
    old, old_y = _batch(5, 4, seed=3)[0], torch.tensor([0, 1, 2, 0, 1])
    xbm = CrossBatchMemory(MultiSimilarityLoss(), embedding_dim=4, memory_size=8)
    xbm.enqueue(old, old_y)
    # every batch row has pairs in the batch and the memory: the mean over the 6 batch
    # rows of the multi-similarity terms over [batch; memory], memory rows left out
    full = torch.cat([x, old])
    labels = torch.cat([y, old_y])
    pos, neg = (labels[:, None] == labels[None, :]), (labels[:, None] != labels[None, :])
    pos.fill_diagonal_(False)
    pos[6:], neg[6:] = False, False
    a1, p = torch.nonzero(pos, as_tuple=True)
    a2, n = torch.nonzero(neg, as_tuple=True)
    values, anchors = MultiSimilarityLoss().compute(full, labels, (a1, p, a2, n))
    expected = values[:6].mean()
    assert xbm(x, y).item() == pytest.approx(expected.item(), rel=1e-12)
