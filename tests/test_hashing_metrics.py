"""Hashing metrics against hand-computed rankings (with ties) and a brute-force twin."""

import numpy as np
import pytest

from skdml.kernels import pack_codes
from skdml.metrics_hashing import (
    hamming_map,
    hamming_precision_recall_curve,
    precision_at_n,
    precision_within_radius,
)

# Query 0000. Database distances: [2, 0, 1, 1, 0, 4]; ranking with ties by index:
# 1 (d0), 4 (d0), 2 (d1), 3 (d1), 0 (d2), 5 (d4).
DB = np.array([
    [1, 1, 0, 0],
    [0, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 0],
    [1, 1, 1, 1],
])
Q = np.array([[0, 0, 0, 0]])
Y_DB = np.array(["a", "b", "a", "b", "a", "a"])
Y_Q = np.array(["a"])


def test_map_hand_computed_with_ties():
    # relevant (label a): 0, 2, 4, 5 -> ranks 5, 3, 2, 6 in the ranking 1,4,2,3,0,5
    # hits at ranks 2, 3, 5, 6: AP = (1/2 + 2/3 + 3/5 + 4/6) / 4
    expected = (1 / 2 + 2 / 3 + 3 / 5 + 4 / 6) / 4
    assert hamming_map(Q, DB, Y_Q, Y_DB) == pytest.approx(expected)
    # top_k=3: ranks 1..3 are 1, 4, 2 -> hits at 2, 3: AP = (1/2 + 2/3) / 2
    assert hamming_map(Q, DB, Y_Q, Y_DB, top_k=3) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_tie_rule_is_database_index():
    # two items at distance 0: the relevant one first or second changes AP, by index only
    db = np.array([[0, 0], [0, 0]])
    assert hamming_map([[0, 0]], db, [1], [1, 0]) == pytest.approx(1.0)
    assert hamming_map([[0, 0]], db, [1], [0, 1]) == pytest.approx(0.5)


def test_precision_at_n_and_radius_hand_computed():
    # top 2 = items 1, 4 -> labels b, a -> 1/2; top 4 = 1, 4, 2, 3 -> a, a -> 2/4
    assert precision_at_n(Q, DB, Y_Q, Y_DB, n=2) == pytest.approx(0.5)
    assert precision_at_n(Q, DB, Y_Q, Y_DB, n=4) == pytest.approx(0.5)
    assert precision_at_n(Q, DB, Y_Q, Y_DB, n=1) == pytest.approx(0.0)
    # radius 1: items 1, 2, 3, 4 -> 2 relevant of 4; radius 0: 1, 4 -> 1 of 2
    assert precision_within_radius(Q, DB, Y_Q, Y_DB, radius=1) == pytest.approx(0.5)
    assert precision_within_radius(Q, DB, Y_Q, Y_DB, radius=0) == pytest.approx(0.5)
    # a query that retrieves nothing counts as precision 0
    far = np.array([[1, 0, 1, 1]])  # distances 3, 3, 4, 2, 3, 1
    assert precision_within_radius(far, DB, ["a"], Y_DB, radius=0) == 0.0


def test_precision_recall_curve_hand_computed():
    p, r, radii = hamming_precision_recall_curve(Q, DB, Y_Q, Y_DB)
    # cumulative retrieved by radius 0..4: 2, 4, 5, 5, 6; relevant hits: 1, 2, 3, 3, 4
    np.testing.assert_allclose(p, [1 / 2, 2 / 4, 3 / 5, 3 / 5, 4 / 6])
    np.testing.assert_allclose(r, [1 / 4, 2 / 4, 3 / 4, 3 / 4, 1.0])
    np.testing.assert_array_equal(radii, np.arange(5))


def _brute_map(q, db, yq, ydb):
    d = (q[:, None, :] != db[None, :, :]).sum(-1)
    aps = []
    for i in range(len(q)):
        order = sorted(range(len(db)), key=lambda j: (d[i, j], j))
        hits = np.array([yq[i] == ydb[j] for j in order], dtype=float)
        if hits.sum() == 0:
            continue
        prec = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        aps.append((prec * hits).sum() / hits.sum())
    return np.mean(aps)


def test_map_matches_brute_force_and_forms_agree(rng):
    q = rng.integers(0, 2, (7, 10))
    db = rng.integers(0, 2, (40, 10))
    yq, ydb = rng.integers(0, 3, 7), rng.integers(0, 3, 40)
    expected = _brute_map(q, db, yq, ydb)
    assert hamming_map(q, db, yq, ydb) == pytest.approx(expected)
    # packed codes, +-1 codes and a relevance matrix give the same number
    assert hamming_map(pack_codes(q), pack_codes(db), yq, ydb, packed=True,
                       n_bits=10) == pytest.approx(expected)
    assert hamming_map(2 * q - 1, 2 * db - 1, yq, ydb) == pytest.approx(expected)
    rel = yq[:, None] == ydb[None, :]
    assert hamming_map(q, db, relevance=rel) == pytest.approx(expected)
    assert precision_at_n(q, db, relevance=rel, n=5) == pytest.approx(
        precision_at_n(q, db, yq, ydb, n=5))


def test_perfect_codes_score_one():
    y = np.repeat([0, 1, 2], 4)
    codes = np.eye(3, dtype=int)[y]
    assert hamming_map(codes, codes, y, y) == 1.0
    assert precision_at_n(codes, codes, y, y, n=4) == 1.0
    assert precision_within_radius(codes, codes, y, y, radius=1) == 1.0


@pytest.mark.parametrize("bad", [
    dict(relevance=np.ones((1, 5), dtype=bool)),
    dict(relevance=np.ones((6,), dtype=bool)),
    dict(relevance=np.full((1, 6), 0.5)),
])
def test_relevance_of_wrong_shape_or_values(bad):
    with pytest.raises(ValueError, match="relevance"):
        hamming_map(Q, DB, **bad)


def test_bad_inputs():
    with pytest.raises(ValueError, match="same code width"):
        hamming_map(Q, DB[:, :3], Y_Q, Y_DB)
    with pytest.raises(ValueError, match="query_labels"):
        hamming_map(Q, DB, Y_Q, Y_DB[:3])
    with pytest.raises(ValueError, match="query_labels"):
        hamming_map(Q, DB)
    with pytest.raises(ValueError, match="not both"):
        hamming_map(Q, DB, Y_Q, Y_DB, relevance=np.ones((1, 6), dtype=bool))
    with pytest.raises(ValueError, match="n must be"):
        precision_at_n(Q, DB, Y_Q, Y_DB, n=7)
    with pytest.raises(ValueError, match="radius must be"):
        precision_within_radius(Q, DB, Y_Q, Y_DB, radius=-1)
    with pytest.raises(ValueError, match="finite"):
        hamming_map(np.array([[np.nan, 0, 0, 0]]), DB, Y_Q, Y_DB)
    with pytest.raises(ValueError, match="binary"):
        hamming_map(np.array([[2, 0, 0, 0]]), DB, Y_Q, Y_DB)
    with pytest.raises(ValueError, match="No query has a relevant"):
        hamming_map(Q, DB, ["zzz"], Y_DB)
