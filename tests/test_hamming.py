"""Binary codes: packing, Hamming kernels against NumPy twins, and HammingNeighbors."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import skdml.kernels._hamming as H
from skdml.hashing import (
    HammingNeighbors,
    hamming_distances,
    hamming_knn,
    hamming_radius_neighbors,
    pack_codes,
    unpack_codes,
)

WIDTHS = [1, 7, 8, 9, 63, 64, 65, 130, 256]


def _bits(n, n_bits, seed=0, p=0.5):
    """Unpacked {0, 1} codes as int8 (uint8 would read as packed under packed='auto')."""
    return (np.random.default_rng(seed).random((n, n_bits)) < p).astype(np.int8)


def brute_hamming(A_bits, B_bits):
    """The NumPy twin, on unpacked bits."""
    return (A_bits[:, None, :] != B_bits[None, :, :]).sum(-1)


def full_sort(D, k, exclude_self=False):
    D = D.astype(np.float64)
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    order = np.argsort(D, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(D, order, axis=1), order


@pytest.fixture
def many_tiles(monkeypatch):
    """Small tiles and one thread's worth of segments per few codes: every code path runs."""
    monkeypatch.setattr(H, "TILE_BYTES", 8 * 64)
    monkeypatch.setattr(H, "_MIN_SEGMENT", 1)


# --------------------------------------------------------------------------- packing
@pytest.mark.parametrize("n_bits", WIDTHS)
def test_pack_is_packbits_and_roundtrips(n_bits):
    bits = _bits(5, n_bits, seed=n_bits)
    packed = pack_codes(bits)
    np.testing.assert_array_equal(packed, np.packbits(bits, axis=1))
    assert packed.dtype == np.uint8 and packed.shape == (5, (n_bits + 7) // 8)
    np.testing.assert_array_equal(unpack_codes(packed, n_bits), bits)
    np.testing.assert_array_equal(unpack_codes(packed, n_bits, signed=True), 2 * bits - 1.0)


def test_bit_order_is_big_endian_like_faiss():
    # Bit 0 of the code is the most significant bit of byte 0.
    np.testing.assert_array_equal(pack_codes([[1] + [0] * 7]), [[128]])
    np.testing.assert_array_equal(pack_codes([[0] * 7 + [1]]), [[1]])
    np.testing.assert_array_equal(pack_codes([[0] * 8 + [1]]), [[0, 128]])


def test_pack_accepts_signed_bool_and_float_codes():
    bits = _bits(4, 11, seed=1)
    want = np.packbits(bits, axis=1)
    np.testing.assert_array_equal(pack_codes(2 * bits.astype(np.int64) - 1), want)
    np.testing.assert_array_equal(pack_codes(bits.astype(bool)), want)
    np.testing.assert_array_equal(pack_codes(bits.astype(np.float32)), want)
    np.testing.assert_array_equal(pack_codes(np.ones((2, 3))), [[224], [224]])
    assert pack_codes(np.zeros((0, 5))).shape == (0, 1)


def test_pack_bad_input():
    with pytest.raises(ValueError, match=r"\{0, 1\} or in \{-1, \+1\}.*got values \[2\]"):
        pack_codes([[0, 1, 2]])
    with pytest.raises(ValueError, match="not both"):
        pack_codes([[0, 1, -1]])
    with pytest.raises(ValueError, match="NaN or infinity"):
        pack_codes([[0.0, np.nan]])
    with pytest.raises(ValueError, match="2-D"):
        pack_codes([0, 1, 1])
    with pytest.raises(ValueError, match="numeric or boolean"):
        pack_codes([["a", "b"]])
    with pytest.raises(ValueError, match="padding bit"):
        unpack_codes(np.array([[0b00000001]], dtype=np.uint8), 7)
    with pytest.raises(ValueError, match="n_bits=17"):
        unpack_codes(np.zeros((1, 1), dtype=np.uint8), 17)
    with pytest.raises(ValueError, match="dtype uint8"):
        unpack_codes(np.zeros((1, 1), dtype=np.int64))


# --------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("n_bits", WIDTHS)
def test_hamming_distances_match_brute_force(n_bits, many_tiles):
    A, B = _bits(70, n_bits, seed=1), _bits(130, n_bits, seed=2)
    D = hamming_distances(pack_codes(A), pack_codes(B))
    assert D.dtype == np.int32
    np.testing.assert_array_equal(D, brute_hamming(A, B))


def test_hamming_distances_odd_shapes_and_strided_input():
    A, B = _bits(6, 77, seed=3), _bits(9, 77, seed=4)
    pa, pb = pack_codes(A), pack_codes(B)
    assert hamming_distances(pa[:0], pb).shape == (0, 9)
    assert hamming_distances(pa, pb[:0]).shape == (6, 0)
    np.testing.assert_array_equal(hamming_distances(pa[:1], pb[:1]), brute_hamming(A[:1], B[:1]))
    wide = np.zeros((12, 20), dtype=np.uint8)
    wide[::2, 3:13] = pa
    strided = wide[::2, 3:13]  # neither row- nor column-contiguous
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(hamming_distances(strided, pb), brute_hamming(A, B))
    np.testing.assert_array_equal(hamming_distances(pa), brute_hamming(A, A))


@pytest.mark.parametrize("n_bits", [5, 64, 130, 256])
@pytest.mark.parametrize("tiles", [False, True])
def test_hamming_knn_equals_full_stable_sort(n_bits, tiles, monkeypatch):
    if tiles:
        monkeypatch.setattr(H, "TILE_BYTES", 8 * 64)
        monkeypatch.setattr(H, "_MIN_SEGMENT", 1)
    # Biased bits: many exact ties, which must go to the smaller database index.
    A, B = _bits(150, n_bits, seed=5, p=0.1), _bits(300, n_bits, seed=6, p=0.1)
    D = brute_hamming(A, B)
    for k in (1, 10, 300):
        dist, ind = hamming_knn(pack_codes(A), pack_codes(B), k=k)
        want_d, want_i = full_sort(D, k)
        np.testing.assert_array_equal(ind, want_i)
        np.testing.assert_array_equal(dist, want_d)
        assert dist.dtype == np.int32 and ind.dtype == np.intp


@pytest.mark.parametrize("tiles", [False, True])
def test_hamming_knn_exclude_self(tiles, monkeypatch):
    if tiles:
        monkeypatch.setattr(H, "TILE_BYTES", 8 * 64)
        monkeypatch.setattr(H, "_MIN_SEGMENT", 1)
    A = _bits(200, 20, seed=7, p=0.1)
    A[5] = A[3]  # a duplicate at distance 0 from another code
    dist, ind = hamming_knn(pack_codes(A), k=7, exclude_self=True)
    want_d, want_i = full_sort(brute_hamming(A, A), 7, exclude_self=True)
    np.testing.assert_array_equal(ind, want_i)
    np.testing.assert_array_equal(dist, want_d)
    assert ind[3, 0] == 5 and dist[3, 0] == 0


@pytest.mark.parametrize("tiles", [False, True])
@pytest.mark.parametrize("radius", [0, 3, 7.9, 200])
def test_hamming_radius_matches_brute_force(radius, tiles, monkeypatch):
    if tiles:
        monkeypatch.setattr(H, "TILE_BYTES", 8 * 64)
        monkeypatch.setattr(H, "_MIN_SEGMENT", 1)
    A, B = _bits(90, 70, seed=8, p=0.05), _bits(250, 70, seed=9, p=0.05)
    D = brute_hamming(A, B)
    indptr, ind, dist = hamming_radius_neighbors(pack_codes(A), pack_codes(B), radius)
    assert indptr.shape == (91,) and indptr[-1] == ind.size == dist.size
    for i in range(90):
        want = np.flatnonzero(D[i] <= radius)
        np.testing.assert_array_equal(ind[indptr[i]:indptr[i + 1]], want)
        np.testing.assert_array_equal(dist[indptr[i]:indptr[i + 1]], D[i, want])
    indptr, ind, _ = hamming_radius_neighbors(pack_codes(A), radius=radius, exclude_self=True)
    for i in range(90):
        want = np.flatnonzero(brute_hamming(A[i:i + 1], A)[0] <= radius)
        np.testing.assert_array_equal(ind[indptr[i]:indptr[i + 1]], want[want != i])


@settings(max_examples=40, deadline=None)
@given(
    n_bits=st.integers(1, 200),
    n=st.integers(2, 6),
    seed=st.integers(0, 2**16),
)
def test_hamming_metric_axioms(n_bits, n, seed):
    P = pack_codes(_bits(n, n_bits, seed=seed))
    D = hamming_distances(P).astype(np.int64)
    assert np.all(D >= 0) and np.all(D <= n_bits)
    assert np.all(np.diag(D) == 0)
    np.testing.assert_array_equal(D, D.T)
    assert np.all(D[:, None, :] <= D[:, :, None] + D[None, :, :])


def test_kernel_bad_input():
    P = pack_codes(_bits(4, 16))
    with pytest.raises(ValueError, match="same width"):
        hamming_distances(P, P[:, :1])
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 4\]"):
        hamming_knn(P, P, k=5)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 3\].*other than"):
        hamming_knn(P, k=4, exclude_self=True)
    with pytest.raises(ValueError, match="k must be an integer"):
        hamming_knn(P, P, k=0)
    with pytest.raises(ValueError, match="radius must be"):
        hamming_radius_neighbors(P, P, -1)
    with pytest.raises(ValueError, match="radius must be"):
        hamming_radius_neighbors(P, P, np.nan)
    with pytest.raises(ValueError, match="dtype uint8"):
        hamming_distances(P.astype(np.int64))
    with pytest.raises(ValueError, match="needs B=None"):
        hamming_knn(P, P, k=1, exclude_self=True)


# --------------------------------------------------------------------------- HammingNeighbors
def test_neighbors_packed_unpacked_and_signed_agree():
    db, q = _bits(120, 45, seed=10, p=0.2), _bits(17, 45, seed=11, p=0.2)
    D = brute_hamming(q, db)
    want_d, want_i = full_sort(D, 6)
    forms = [
        (HammingNeighbors(n_neighbors=6), db.astype(np.int64), q.astype(np.int64), 45),
        # Packed without n_bits: the width is read as 48 bits; the zero padding never counts.
        (HammingNeighbors(n_neighbors=6), pack_codes(db), pack_codes(q), 48),
        (HammingNeighbors(n_neighbors=6, n_bits=45), pack_codes(db), q.astype(bool), 45),
        (HammingNeighbors(n_neighbors=6), 2 * db - 1, q.astype(np.float64), 45),
        (HammingNeighbors(n_neighbors=6, packed=False), db.astype(np.uint8), q, 45),
        # bool: unpacked bits, as hashers return them; the database's width reads uint8 queries
        (HammingNeighbors(n_neighbors=6), db.astype(bool), q.astype(np.uint8), 45),
        (HammingNeighbors(n_neighbors=6), db.astype(bool), pack_codes(q), 45),
        # uint8 with n_bits: 45 columns are bits, 6 columns bytes
        (HammingNeighbors(n_neighbors=6, n_bits=45), db.astype(np.uint8), q.astype(bool), 45),
    ]
    for nn, fit_codes, query, n_bits in forms:
        nn.fit(fit_codes)
        assert nn.n_bits_ == n_bits and nn.n_samples_fit_ == 120
        assert nn.n_features_in_ == fit_codes.shape[1]
        dist, ind = nn.kneighbors(query)
        np.testing.assert_array_equal(ind, want_i)
        np.testing.assert_array_equal(dist, want_d)
        np.testing.assert_array_equal(nn.kneighbors(query, return_distance=False), want_i)


@pytest.mark.parametrize("n_bits", [1, 7, 64, 65])
def test_neighbors_store_and_search_bool_codes_packed(n_bits, monkeypatch):
    """Bool codes are packed once: the database, the width and the kernel's inputs are those
    of the same codes given packed (the search runs on 64-bit words, not on bytes of bits)."""
    import skdml.hashing._neighbors as module

    seen = []
    original = module._knn_words

    def spy(Q, words, k, exclude_self):
        seen.append((Q.copy(), words.copy()))
        return original(Q, words, k, exclude_self)

    monkeypatch.setattr(module, "_knn_words", spy)
    db, q = _bits(90, n_bits, seed=20).astype(bool), _bits(11, n_bits, seed=21).astype(bool)
    natural = HammingNeighbors(n_neighbors=4).fit(db)
    packed = HammingNeighbors(n_neighbors=4, n_bits=n_bits).fit(pack_codes(db))
    assert natural.n_bits_ == packed.n_bits_ == n_bits
    assert natural.codes_.dtype == np.uint8 and natural.codes_.shape == (90, -(-n_bits // 8))
    np.testing.assert_array_equal(natural.codes_, pack_codes(db))
    want = packed.kneighbors(pack_codes(q))
    got = natural.kneighbors(q)
    (q_packed, w_packed), (q_natural, w_natural) = seen
    assert q_natural.dtype == np.uint64 and q_natural.shape == (11, -(-n_bits // 64))
    np.testing.assert_array_equal(q_natural, q_packed)
    np.testing.assert_array_equal(w_natural, w_packed)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    D = brute_hamming(q.astype(np.int8), db.astype(np.int8))
    np.testing.assert_array_equal(got[0], full_sort(D, 4)[0])


def test_neighbors_refuse_codes_that_read_two_ways():
    """A uint8 array of 0s and 1s is bits or bytes: 'auto' asks unless the width decides."""
    bits = _bits(30, 16, seed=22).astype(np.uint8)
    with pytest.raises(ValueError, match=r"values are all 0 or 1.*16 unpacked bits.*128 bits"
                                         r".*astype\(bool\).*packed=False"):
        HammingNeighbors().fit(bits)
    # the width decides when n_bits is given, or (for queries) the database's width
    nn = HammingNeighbors(n_bits=16).fit(bits)
    assert nn.n_bits_ == 16 and nn.n_features_in_ == 16
    np.testing.assert_array_equal(nn.codes_, pack_codes(bits))
    assert nn.kneighbors(bits[:3].astype(bool))[1].shape == (3, 5)
    assert HammingNeighbors(packed=False).fit(bits).n_bits_ == 16
    assert HammingNeighbors(packed=True).fit(bits).n_bits_ == 128
    # packed bytes that happen to be 0 or 1 only: refused under 'auto', taken when said so
    bytes01 = np.eye(4, 2, dtype=np.uint8)
    with pytest.raises(ValueError, match="reads two ways"):
        HammingNeighbors().fit(bytes01)
    assert HammingNeighbors(packed=True, n_neighbors=1).fit(bytes01).n_bits_ == 16
    # one bit in one column: a packed bit is 0 or 128, an unpacked one 0 or 1
    one = np.array([[0], [1], [1]], dtype=np.uint8)
    assert HammingNeighbors(n_bits=1, n_neighbors=1).fit(one).n_bits_ == 1
    np.testing.assert_array_equal(
        HammingNeighbors(n_bits=1, n_neighbors=1).fit(one).codes_, pack_codes(one))
    np.testing.assert_array_equal(
        HammingNeighbors(n_bits=1, n_neighbors=1).fit(pack_codes(one)).codes_, pack_codes(one))


def test_neighbors_refuse_n_bits_or_width_that_contradict_the_codes():
    bits = _bits(10, 12, seed=23)
    with pytest.raises(ValueError, match=r"uint8 array of 5 columns.*n_bits says 12 bits: 12 "
                                         r"columns of bits .* 2 column\(s\) of packed bytes"):
        HammingNeighbors(n_bits=12).fit(np.zeros((4, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="unpacked codes of 12 bits, but n_bits=13"):
        HammingNeighbors(n_bits=13).fit(bits.astype(bool))
    with pytest.raises(ValueError, match="3 bytes per code.*n_bits=12"):
        HammingNeighbors(n_bits=12).fit(np.full((4, 3), 7, dtype=np.uint8))
    with pytest.raises(ValueError, match="dtype uint8.*got dtype bool"):
        HammingNeighbors(packed=True).fit(bits.astype(bool))
    nn = HammingNeighbors(n_neighbors=2).fit(bits.astype(bool))
    with pytest.raises(ValueError, match=r"uint8 array of 5 columns.*database's codes have 12 "
                                         "bits"):
        nn.kneighbors(bits[:, :5].astype(np.uint8))
    with pytest.raises(ValueError, match="unpacked codes of 11 bits.*12 bits"):
        nn.kneighbors(bits[:, :11].astype(bool))
    with pytest.raises(ValueError, match="packed codes of 3 bytes.*2 bytes"):
        nn.kneighbors(np.full((2, 3), 200, dtype=np.uint8))


def test_neighbors_self_query_and_radius():
    db = _bits(80, 30, seed=12, p=0.1)
    nn = HammingNeighbors(n_neighbors=3, radius=2).fit(db)
    D = brute_hamming(db, db)
    want_d, want_i = full_sort(D, 3, exclude_self=True)
    dist, ind = nn.kneighbors()
    np.testing.assert_array_equal(ind, want_i)
    np.testing.assert_array_equal(dist, want_d)
    neigh_dist, neigh_ind = nn.radius_neighbors(db[:10], sort_results=True)
    assert neigh_ind.dtype == object and len(neigh_ind) == 10
    for i in range(10):
        hits = np.flatnonzero(D[i] <= 2)
        order = np.argsort(D[i, hits], kind="stable")
        np.testing.assert_array_equal(neigh_ind[i], hits[order])
        np.testing.assert_array_equal(neigh_dist[i], D[i, hits[order]])
    self_ind = nn.radius_neighbors(radius=1, return_distance=False)
    for i in range(80):
        want = np.flatnonzero(D[i] <= 1)
        np.testing.assert_array_equal(self_ind[i], want[want != i])


def test_neighbors_bad_input_and_unchanged_state():
    db = _bits(10, 12, seed=13)
    nn = HammingNeighbors(n_neighbors=3)
    with pytest.raises(NotFittedError):
        nn.kneighbors(db)
    nn.fit(db)
    state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(nn).items()}
    with pytest.raises(ValueError, match=r"values \[5\]"):
        nn.fit(np.full((3, 12), 5))
    with pytest.raises(ValueError, match="at least one code"):
        nn.fit(np.zeros((0, 12)))
    with pytest.raises(ValueError, match="padding bit"):
        HammingNeighbors(n_bits=12).fit(np.full((2, 2), 255, dtype=np.uint8))
    with pytest.raises(ValueError, match="n_bits=13"):
        HammingNeighbors(n_bits=13).fit(db)
    with pytest.raises(ValueError, match="n_neighbors"):
        HammingNeighbors(n_neighbors=0).fit(db)
    with pytest.raises(ValueError, match="radius"):
        HammingNeighbors(radius=-1).fit(db)
    with pytest.raises(TypeError, match="sparse"):
        nn.fit(sparse.csr_matrix(db))
    assert set(vars(nn)) == set(state)
    for key, value in state.items():
        np.testing.assert_array_equal(getattr(nn, key), value)
    with pytest.raises(ValueError, match="unpacked codes of 11 bits.*12 bits"):
        nn.kneighbors(db[:, :11])
    with pytest.raises(ValueError, match="packed codes of 1 bytes.*2 bytes"):
        nn.kneighbors(pack_codes(db)[:, :1])
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 10\]"):
        nn.kneighbors(db, n_neighbors=11)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 9\]"):
        nn.kneighbors(n_neighbors=10)
    with pytest.raises(ValueError, match="radius must be"):
        nn.radius_neighbors(db, radius=-0.5)
    with pytest.raises(ValueError, match="NaN or infinity"):
        nn.kneighbors(np.where(db > 0, np.nan, 0.0))
    with pytest.raises(ValueError, match="not both"):
        nn.kneighbors(db.astype(int) - (db == 0) * 0 + np.eye(10, 12, dtype=int) * -1)


def test_neighbors_estimator_conventions():
    pd = pytest.importorskip("pandas")
    db = _bits(20, 8, seed=14)
    frame = pd.DataFrame(db.astype(np.int64), columns=[f"b{i}" for i in range(8)])
    nn = HammingNeighbors(n_neighbors=2, radius=1).fit(frame)
    np.testing.assert_array_equal(nn.feature_names_in_, frame.columns)
    assert clone(nn).get_params() == nn.get_params()
    assert "codes_" not in vars(clone(nn))
    again = pickle.loads(pickle.dumps(nn))
    np.testing.assert_array_equal(again.kneighbors(db)[1], nn.kneighbors(db)[1])
    assert nn.set_params(n_neighbors=4).kneighbors(db).__len__() == 2
    assert nn.kneighbors(db)[1].shape == (20, 4)
