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
