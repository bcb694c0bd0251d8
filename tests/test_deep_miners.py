"""Miners return exactly the tuples their definitions select, on tiny hand-made batches."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skdml.deep import (  # noqa: E402
    AllPairsMiner,
    AllTripletsMiner,
    ClassBalancedBatchSampler,
    DistanceWeightedMiner,
    HardMiner,
    SemiHardMiner,
)
from skdml.deep.miners import pairs_to_triplets, triplets_to_pairs  # noqa: E402

# five points on a line: class 0 at 0, 1, 10; class 1 at 3, 3.5
E = torch.tensor([[0.0], [1.0], [3.0], [3.5], [10.0]])
Y = torch.tensor([0, 0, 1, 1, 0])


def _set(tuples):
    return set(zip(*(t.tolist() for t in tuples)))


def test_all_pairs():
    a1, p, a2, n = AllPairsMiner()(E, Y)
    assert _set((a1, p)) == {(0, 1), (1, 0), (0, 4), (4, 0), (1, 4), (4, 1), (2, 3), (3, 2)}
    assert _set((a2, n)) == {(i, j) for i in range(5) for j in range(5) if Y[i] != Y[j]}


def test_all_triplets():
    got = _set(AllTripletsMiner()(E, Y))
    want = {(a, p, n) for a in range(5) for p in range(5) for n in range(5)
            if a != p and Y[a] == Y[p] and Y[n] != Y[a]}
    assert got == want and len(got) == 6 * 2 + 2 * 3


def test_hard_miner():
    # anchor -> (farthest positive, nearest negative)
    got = _set(HardMiner()(E, Y))
    assert got == {(0, 4, 2), (1, 4, 2), (2, 3, 1), (3, 2, 1), (4, 0, 3)}


def test_semi_hard_miner_by_definition():
    margin = 6.0
    got = _set(SemiHardMiner(margin=margin)(E, Y))
    d2 = torch.cdist(E, E) ** 2
    want = {(a, p, n) for a, p, n in _set(AllTripletsMiner()(E, Y))
            if d2[a, p] < d2[a, n] < d2[a, p] + margin}
    assert got == want
    # by hand: anchor 1 with positive 0 (d2 = 1) takes negatives 2 and 3 (d2 = 4, 6.25 < 7);
    # anchor 2 with positive 3 (d2 = .25) takes negative 1 (d2 = 4) but not 0 (d2 = 9);
    # anchor 3 with positive 2: negative 1 is at d2 = 6.25, not < .25 + 6
    assert got == {(1, 0, 2), (1, 0, 3), (2, 3, 1)}
    # plain distances, margin 2: the same three (strict inequalities exclude (3, 2, 1),
    # where d(3, 1) = 2.5 = d(3, 2) + 2, and (0, 1, 2), where d(0, 2) = 3 = d(0, 1) + 2)
    plain = _set(SemiHardMiner(margin=2.0, squared=False)(E, Y))
    assert plain == {(1, 0, 2), (1, 0, 3), (2, 3, 1)}
    assert _set(SemiHardMiner(margin=2.01, squared=False)(E, Y)) == plain | {(3, 2, 1), (0, 1, 2)}


@pytest.mark.parametrize("squared", [True, False])
def test_triplet_miners_match_brute_force_in_order(squared):
    # random batches, some with singleton classes: every triplet, in (a, p, n) order
    g = torch.Generator().manual_seed(1)
    for n_samples, n_classes in [(13, 3), (20, 6), (9, 9), (1, 1)]:
        emb = torch.randn(n_samples, 4, generator=g)
        labels = torch.randint(n_classes, (n_samples,), generator=g)
        d = torch.cdist(emb, emb, compute_mode="donot_use_mm_for_euclid_dist")
        d = d**2 if squared else d
        # the miner's distances come from a Gram matrix: keep clear of ties within round-off
        margin = 0.7
        every = [(a, p, n) for a in range(n_samples) for p in range(n_samples)
                 for n in range(n_samples)
                 if a != p and labels[a] == labels[p] and labels[n] != labels[a]]
        semi = [(a, p, n) for a, p, n in every if d[a, p] < d[a, n] < d[a, p] + margin]
        semi = [t for t in semi if min(abs(d[t[0], t[2]] - d[t[0], t[1]]),
                                       abs(d[t[0], t[2]] - d[t[0], t[1]] - margin)) > 1e-4]
        got_every = list(zip(*(t.tolist() for t in AllTripletsMiner()(emb, labels))))
        assert got_every == every
        got_semi = list(zip(*(t.tolist() for t in SemiHardMiner(margin, squared)(emb, labels))))
        assert [t for t in got_semi if t in set(semi)] == semi
        assert len(got_semi) - len(semi) <= 1  # at most a tie within round-off
        for tuples in (AllTripletsMiner()(emb, labels), SemiHardMiner(margin)(emb, labels)):
            assert all(t.dtype == torch.long and t.shape == tuples[0].shape for t in tuples)


def test_distance_weighted_miner_is_seeded_and_valid():
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(40, 8, generator=g)
    labels = torch.arange(40) % 4
    a, p, n = DistanceWeightedMiner(random_state=3)(emb, labels)
    a2, p2, n2 = DistanceWeightedMiner(random_state=3)(emb, labels)
    assert torch.equal(n, n2)
    # one negative for each ordered positive pair, of another class
    assert len(a) == 40 * 9
    assert _set((a, p)) == {(i, j) for i in range(40) for j in range(40)
                            if i != j and labels[i] == labels[j]}
    assert torch.all(labels[n] != labels[a])
    # distances are spread: not all draws are the nearest negative
    assert len(set(n[a == 0].tolist())) > 3


def test_distance_weighted_miner_follows_its_weights():
    # one anchor, one positive, two negatives: one beyond the non-zero-loss cutoff
    emb = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.9, 0.4], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 2])
    a, p, n = DistanceWeightedMiner(random_state=0)(emb, labels)
    draws = n[(a == 0) & (p == 1)]
    assert draws.tolist() == [2]  # negative 3 is at distance 2 > 1.4: weight 0


def test_conversions():
    trip = (torch.tensor([0, 2]), torch.tensor([1, 3]), torch.tensor([2, 0]))
    assert _set(triplets_to_pairs(trip)[:2]) == {(0, 1), (2, 3)}
    pairs = (torch.tensor([0, 0]), torch.tensor([1, 4]), torch.tensor([0, 0, 1]),
             torch.tensor([2, 3, 2]))
    assert _set(pairs_to_triplets(pairs)) == {(0, 1, 2), (0, 1, 3), (0, 4, 2), (0, 4, 3)}


def test_miners_reject_bad_shapes_and_parameters():
    with pytest.raises(ValueError, match="embeddings of shape"):
        HardMiner()(E[None], Y)
    with pytest.raises(ValueError, match="margin"):
        SemiHardMiner(margin=0)
    with pytest.raises(ValueError, match="cutoff"):
        DistanceWeightedMiner(cutoff=1.5, nonzero_loss_cutoff=1.4)


def test_class_balanced_sampler():
    y = np.repeat(np.arange(5), [30, 20, 12, 3, 1])
    sampler = ClassBalancedBatchSampler(y, batch_size=8, samples_per_class=4, random_state=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == int(np.ceil(len(y) / 8))
    for batch in batches:
        assert len(set(batch)) == len(batch)  # never a sample twice
        counts = np.bincount(y[batch], minlength=5)
        assert (counts > 0).sum() == 2  # two classes of m = 4
        assert all(c == 4 or c == [30, 20, 12, 3, 1][k] for k, c in enumerate(counts) if c)
    again = list(ClassBalancedBatchSampler(y, 8, 4, random_state=0))
    assert all(np.array_equal(a, b) for a, b in zip(again, batches))
    # default m: every class in each batch when they fit
    auto = ClassBalancedBatchSampler(np.repeat(np.arange(4), 25), batch_size=32, random_state=0)
    assert auto.samples_per_class == 8 and auto.classes_per_batch == 4
    # cycling within a class: 25 samples of a class with m = 8 -> all seen within 4 batches
    seen = set()
    for batch in list(auto)[:4]:
        seen |= set(batch)
    assert len(seen) >= 90


# --- multi-similarity, pair margin, batch easy-hard, angular ---------------------------------
# Each is compared with a brute-force loop over anchors and pairs that applies the miner's
# definition to the distance object's own matrix, written for each kind (a similarity's
# comparisons are written as such, not through a negation), so only the selection is tested.

from sklearn.base import clone  # noqa: E402

from skdml.deep.distances import CosineSimilarity, DotProductSimilarity, LpDistance  # noqa: E402
from skdml.deep.miners import (  # noqa: E402
    AngularMiner,
    BatchEasyHardMiner,
    MultiSimilarityMiner,
    PairMarginMiner,
)

DISTANCES = {
    "euclidean": LpDistance(),
    "squared": LpDistance(power=2),
    "cosine": CosineSimilarity(),
    "dot": DotProductSimilarity(),
}


def _random_batch(seed, n_samples=14, n_classes=4, dim=3):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n_samples, dim, generator=g, dtype=torch.float64)
    return emb, torch.randint(n_classes, (n_samples,), generator=g)


def _closer(sim):
    """``closer(u, v)``: value ``u`` is strictly closer than ``v``."""
    return (lambda u, v: u > v) if sim else (lambda u, v: u < v)


def _classes(labels, a):
    same = [j for j in range(len(labels)) if j != a and labels[j] == labels[a]]
    other = [j for j in range(len(labels)) if labels[j] != labels[a]]
    return same, other


def _brute_multi_similarity(m, labels, eps, sim):
    pos, neg = set(), set()
    for a in range(len(labels)):
        same, other = _classes(labels, a)
        if not same or not other:
            continue
        if sim:
            least_similar_p = min(m[a][p] for p in same)
            most_similar_n = max(m[a][n] for n in other)
            pos |= {(a, p) for p in same if m[a][p] < most_similar_n + eps}
            neg |= {(a, n) for n in other if m[a][n] > least_similar_p - eps}
        else:
            farthest_p = max(m[a][p] for p in same)
            nearest_n = min(m[a][n] for n in other)
            pos |= {(a, p) for p in same if m[a][p] > nearest_n - eps}
            neg |= {(a, n) for n in other if m[a][n] < farthest_p + eps}
    return pos, neg


def _brute_pair_margin(m, labels, pos_margin, neg_margin, sim):
    pos, neg = set(), set()
    for a in range(len(labels)):
        same, other = _classes(labels, a)
        pos |= {(a, p) for p in same
                if (m[a][p] < pos_margin if sim else m[a][p] > pos_margin)}
        neg |= {(a, n) for n in other
                if (m[a][n] > neg_margin if sim else m[a][n] < neg_margin)}
    return pos, neg


def _brute_easy_hard(m, labels, pos_strategy, neg_strategy, sim):
    closer = _closer(sim)

    def pick(a, candidates, nearest):
        best = None  # first in index order among equals
        for j in candidates:
            if best is None or (closer(m[a][j], m[a][best]) if nearest
                                else closer(m[a][best], m[a][j])):
                best = j
        return best

    pos, neg = set(), set()
    for a in range(len(labels)):
        same, other = _classes(labels, a)
        p = n = None
        if pos_strategy == "semihard":
            n = pick(a, other, nearest=neg_strategy == "hard")
            if n is not None:
                p = pick(a, [j for j in same if closer(m[a][j], m[a][n])], nearest=False)
        elif neg_strategy == "semihard":
            p = pick(a, same, nearest=pos_strategy == "easy")
            if p is not None:
                n = pick(a, [j for j in other if closer(m[a][p], m[a][j])], nearest=True)
        else:
            if pos_strategy != "all":
                p = pick(a, same, nearest=pos_strategy == "easy")
            if neg_strategy != "all":
                n = pick(a, other, nearest=neg_strategy == "hard")
        if "all" not in (pos_strategy, neg_strategy):
            if p is not None and n is not None:
                pos.add((a, p))
                neg.add((a, n))
            continue
        pos |= {(a, j) for j in same} if pos_strategy == "all" else (
            {(a, p)} if p is not None else set())
        neg |= {(a, j) for j in other} if neg_strategy == "all" else (
            {(a, n)} if n is not None else set())
    return pos, neg


def _angles(emb, normalize):
    """Angle at the negative, in degrees, of every triplet, from explicit centers."""
    z = emb.numpy()
    if normalize:
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
    return lambda a, p, n: np.degrees(np.arctan2(
        np.linalg.norm(z[a] - z[p]), 2 * np.linalg.norm(z[n] - (z[a] + z[p]) / 2)))


def _pair_sets(pairs):
    a1, p, a2, n = pairs
    assert all(t.dtype == torch.long and t.dim() == 1 for t in pairs)
    return _set((a1, p)), _set((a2, n))


@pytest.mark.parametrize("kind", DISTANCES)
@pytest.mark.parametrize("eps", [0.1, 0.5, 0.0])
def test_multi_similarity_miner_brute_force(kind, eps):
    dist = DISTANCES[kind]
    for seed in range(4):
        emb, labels = _random_batch(seed)
        got = _pair_sets(MultiSimilarityMiner(eps, distance=dist)(emb, labels))
        want = _brute_multi_similarity(dist(emb).tolist(), labels.tolist(), eps,
                                       dist.is_inverted)
        assert got == want
        assert want[0] and want[1]  # the test selects something


@pytest.mark.parametrize("kind", DISTANCES)
def test_pair_margin_miner_brute_force(kind):
    dist = DISTANCES[kind]
    margins = (0.3, 0.6) if dist.is_inverted else (1.0, 2.0)
    for seed in range(4):
        emb, labels = _random_batch(seed)
        got = _pair_sets(PairMarginMiner(*margins, distance=dist)(emb, labels))
        want = _brute_pair_margin(dist(emb).tolist(), labels.tolist(), *margins,
                                  dist.is_inverted)
        assert got == want
        assert want[0] and want[1]


VALID_STRATEGIES = [(p, n) for p in ("easy", "semihard", "hard", "all")
                    for n in ("easy", "semihard", "hard", "all")
                    if not ({p, n} == {"semihard"} or {p, n} == {"semihard", "all"})]


@pytest.mark.parametrize("kind", DISTANCES)
@pytest.mark.parametrize("strategies", VALID_STRATEGIES, ids="-".join)
def test_batch_easy_hard_miner_brute_force(kind, strategies):
    dist = DISTANCES[kind]
    selected = 0
    for seed in range(6):
        emb, labels = _random_batch(seed)
        tuples = BatchEasyHardMiner(*strategies, distance=dist)(emb, labels)
        want = _brute_easy_hard(dist(emb).tolist(), labels.tolist(), *strategies,
                                dist.is_inverted)
        assert _pair_sets(tuples) == want
        selected += min(map(len, want))
        if "all" not in strategies:  # one triplet per anchor
            assert torch.equal(tuples[0], tuples[2])
            assert len(set(tuples[0].tolist())) == len(tuples[0])
    assert selected > 0  # the test selects something


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("angle", [20, 40, 60])
def test_angular_miner_brute_force(normalize, angle):
    kept = total = 0
    for seed in range(6):
        emb, labels = _random_batch(seed)
        miner = AngularMiner(angle, distance=LpDistance(normalize_embeddings=normalize))
        got = _set(miner(emb, labels))
        at_negative = _angles(emb, normalize)
        every = _set(AllTripletsMiner()(emb, labels))
        want = {t for t in every if at_negative(*t) > angle}
        # float64 round-off: a triplet within 1e-9 degrees of the threshold may go either way
        assert all(abs(at_negative(*t) - angle) < 1e-9 for t in got ^ want)
        kept, total = kept + len(want), total + len(every)
    assert 0 < kept < total


def test_new_miners_ties_are_strict_and_go_to_the_lowest_index():
    # a line: class 0 at 0, 1, 3; class 1 at 2, 4 (every distance an exact integer)
    emb = torch.tensor([[0.0], [1.0], [3.0], [2.0], [4.0]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    # multi-similarity, epsilon 1: anchor 0 (farthest positive 3) keeps negatives nearer
    # than 4, so not 4 itself; its nearest negative is at 2, positives farther than 1 are
    # kept, so not 1 itself
    pos, neg = _pair_sets(MultiSimilarityMiner(1.0, distance=LpDistance())(emb, labels))
    assert (0, 3) in neg and (0, 4) not in neg
    assert (0, 2) in pos and (0, 1) not in pos
    assert (pos, neg) == _brute_multi_similarity(
        LpDistance()(emb).tolist(), labels.tolist(), 1.0, False)
    # pair margin: a distance equal to a margin is not kept -- the positives (1, 2) and
    # (3, 4) at 2, the negatives (1, 3), (2, 3), (2, 4) at 1
    pos, neg = _pair_sets(PairMarginMiner(2.0, 1.0, distance=LpDistance())(emb, labels))
    assert pos == {(0, 2), (2, 0)} and neg == set()
    pos, neg = _pair_sets(PairMarginMiner(1.9, 1.1, distance=LpDistance())(emb, labels))
    assert pos == {(0, 2), (2, 0), (1, 2), (2, 1), (3, 4), (4, 3)}
    assert neg == {(1, 3), (3, 1), (2, 3), (3, 2), (2, 4), (4, 2)}
    # batch easy-hard: anchor 3 (at 2) has its negatives 1 and 2 both at distance 1, the
    # lowest index wins
    a1, p, a2, n = BatchEasyHardMiner("hard", "hard", distance=LpDistance())(emb, labels)
    picks = {a: (pp, nn) for a, pp, nn in zip(a1.tolist(), p.tolist(), n.tolist())}
    assert picks[3] == (4, 1)
    a1, p, a2, n = BatchEasyHardMiner("easy", "semihard", distance=LpDistance())(emb, labels)
    picks = {a: (pp, nn) for a, pp, nn in zip(a1.tolist(), p.tolist(), n.tolist())}
    # anchor 2 (at 3): easy positive 1 (at 1, distance 2); negatives 3 and 4 at distance 1
    # are not farther than 2: no semi-hard negative, the anchor is dropped
    assert 2 not in picks
    # anchor 1 (at 1): easy positive 0 (distance 1); negative 3 at distance 1 is not
    # strictly farther, negative 4 (distance 3) is the semi-hard one
    assert picks[1] == (0, 4)
    for strategies in VALID_STRATEGIES:
        got = _pair_sets(BatchEasyHardMiner(*strategies, distance=LpDistance())(emb, labels))
        assert got == _brute_easy_hard(LpDistance()(emb).tolist(), labels.tolist(),
                                       *strategies, False)


@pytest.mark.parametrize("miner", [
    MultiSimilarityMiner(), PairMarginMiner(), BatchEasyHardMiner(),
    BatchEasyHardMiner("all", "hard"), BatchEasyHardMiner("hard", "all"), AngularMiner(),
], ids=repr)
def test_new_miners_on_a_batch_without_positives(miner):
    emb = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    tuples = miner(emb, torch.arange(6))
    assert all(t.dtype == torch.long for t in tuples)
    if len(tuples) == 3 or "all" not in (getattr(miner, "pos_strategy", ""),
                                         getattr(miner, "neg_strategy", "")):
        assert all(len(t) == 0 for t in tuples)
    else:  # 'all' negatives (or the hardest one per anchor) without positives
        assert len(tuples[0]) == 0 and len(tuples[2]) > 0
    if isinstance(miner, MultiSimilarityMiner):  # no bound without positives
        assert len(tuples[2]) == 0
    # an anchor alone in its class gets no tuple; the others do
    labels = torch.tensor([0, 0, 1, 1, 2, 3])
    emb = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 1.0, 0.0], [0.1, 0.9, 0.0],
                        [0.6, 0.6, 0.1], [0.0, 0.0, 1.0]])
    a = miner(emb, labels)[0]
    assert set(a.tolist()) <= {0, 1, 2, 3}


def test_new_miners_distance_kinds_and_bad_parameters():
    with pytest.raises(ValueError, match=r"AngularMiner needs a distance .*CosineSimilarity"):
        AngularMiner(distance=CosineSimilarity())
    with pytest.raises(ValueError, match=r"Euclidean angle.*p=1"):
        AngularMiner(distance=LpDistance(p=1))
    with pytest.raises(ValueError, match=r"Euclidean angle.*power=2"):
        AngularMiner(distance=LpDistance(power=2))
    for angle in (0, 90, -5, float("nan"), "40", True):
        with pytest.raises(ValueError, match="angle"):
            AngularMiner(angle)
    for bad in (float("inf"), None, "0.1", True):
        with pytest.raises(ValueError, match="epsilon must be a finite real number"):
            MultiSimilarityMiner(bad)
        with pytest.raises(ValueError, match="pos_margin"):
            PairMarginMiner(pos_margin=bad)
        with pytest.raises(ValueError, match="neg_margin"):
            PairMarginMiner(neg_margin=bad)
    with pytest.raises(ValueError, match="distance must be an instance"):
        MultiSimilarityMiner(distance="cosine")
    with pytest.raises(ValueError, match=r"pos_strategy must be one of .*'medium'"):
        BatchEasyHardMiner("medium")
    with pytest.raises(ValueError, match=r"neg_strategy must be one of"):
        BatchEasyHardMiner(neg_strategy=None)
    for strategies in [("semihard", "semihard"), ("semihard", "all"), ("all", "semihard")]:
        with pytest.raises(ValueError, match="'semihard' side"):
            BatchEasyHardMiner(*strategies)
    # defaults: the papers' measures
    assert MultiSimilarityMiner().distance == CosineSimilarity()
    assert BatchEasyHardMiner().distance == CosineSimilarity()
    assert AngularMiner().distance == LpDistance(normalize_embeddings=True)
    assert PairMarginMiner().distance == LpDistance()


@pytest.mark.parametrize("miner", [
    MultiSimilarityMiner(epsilon=0), PairMarginMiner(pos_margin=0, neg_margin=1),
    BatchEasyHardMiner("hard", "easy", distance=LpDistance(power=2)), AngularMiner(angle=30),
], ids=lambda m: type(m).__name__)
def test_new_miners_parameters_are_kept_as_given(miner):
    params = miner.get_params()
    copy = clone(miner)  # sklearn's clone: the constructor stores its arguments unchanged
    assert type(copy) is type(miner) and copy.get_params() == params
    assert repr(copy) == repr(miner)
    assert all(type(params[k]) is type(v) for k, v in copy.get_params().items())


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X[:600] / 16.0).astype(np.float32), y[:600]


@pytest.mark.parametrize("miner, loss", [
    ("MultiSimilarityMiner", "MultiSimilarityLoss"),
    ("PairMarginMiner", "ContrastiveLoss"),
    ("BatchEasyHardMiner", "TripletMarginLoss"),
    ("AngularMiner", "AngularLoss"),
])
def test_new_miners_train_a_learner(digits, miner, loss):
    from skorch.callbacks import Callback

    import skdml.deep.losses as losses
    import skdml.deep.miners as miners
    from skdml.deep import DeepMetricLearner

    X, y = digits
    initial = {}

    class InitialWeights(Callback):
        def on_train_begin(self, net, **kwargs):
            initial.update({k: v.clone() for k, v in net.module_.state_dict().items()})

    learner = DeepMetricLearner(loss=getattr(losses, loss), miner=getattr(miners, miner),
                                module__hidden_sizes=(32,), max_epochs=3, batch_size=64,
                                random_state=0, callbacks=[InitialWeights()])
    learner.fit(X, y)
    assert type(learner.miner_).__name__ == miner
    assert learner.n_iter_ == 3
    assert np.isfinite([row["train_loss"] for row in learner.history_]).all()
    trained = learner.module_.state_dict()
    assert not all(torch.equal(initial[k], trained[k]) for k in initial)
    Z = learner.transform(X)
    assert Z.shape == (len(X), learner.embedding_dim_) and np.isfinite(Z).all()
    # the miner still finds tuples in the trained embedding
    tuples = learner.miner_(torch.from_numpy(Z[:64]), torch.from_numpy(y[:64]))
    assert len(tuples[0]) > 0
