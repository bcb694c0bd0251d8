"""Classical and deep hashers: the output convention, ITQ's rotation, determinism, bad input."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from skdml.hashing import (
    ITQ,
    LSH,
    PCAH,
    HammingNeighbors,
    SpectralHashing,
    SupervisedDiscreteHashing,
)
from skdml.kernels import unpack_codes
from skdml.metrics_hashing import hamming_map, precision_within_radius

CLASSICAL = [LSH, PCAH, ITQ, SpectralHashing, SupervisedDiscreteHashing]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))[:600]
    return X[idx] / 16.0, y[idx]


def _deep_classes():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from skdml.hashing.deep import DeepBitHashing, DeepHashing, SupervisedDeepHashing

    return [DeepHashing, SupervisedDeepHashing, DeepBitHashing]


def _make(cls, n_bits, **kw):
    params = cls().get_params()
    if "random_state" in params:
        kw.setdefault("random_state", 0)
    else:
        kw.pop("random_state", None)
    if "max_epochs" in params:
        kw.setdefault("max_epochs", 3)
    if cls is SupervisedDiscreteHashing:
        kw.setdefault("n_anchors", 100)
    return cls(n_bits=n_bits, **kw)


def _all_classes():
    return CLASSICAL + _deep_classes()


@pytest.mark.parametrize("n_bits", [1, 13, 32])
def test_codes_are_binary_with_requested_width_and_pack(digits, n_bits):
    X, y = digits
    for cls in _all_classes():
        h = _make(cls, n_bits).fit(X, y)
        codes = h.transform(X[:50])
        assert codes.dtype == bool and codes.shape == (50, n_bits), cls
        assert h.n_bits_ == n_bits
        packed = h.transform_packed(X[:50])
        assert packed.dtype == np.uint8 and packed.shape == (50, -(-n_bits // 8))
        np.testing.assert_array_equal(unpack_codes(packed, n_bits), codes)
        # the packed codes feed HammingNeighbors; its distances are the hasher's metric
        nn = HammingNeighbors(n_neighbors=3, n_bits=n_bits).fit(packed)
        dist, ind = nn.kneighbors(packed[:5])
        pairs = np.stack([X[:5], X[:50][ind[:, 1]]], axis=1)
        np.testing.assert_array_equal(h.pair_distance(pairs), dist[:, 1])
        metric = h.get_metric()
        assert metric(X[0], X[1]) == np.count_nonzero(codes[0] != codes[1])
        assert list(h.get_feature_names_out())[:1] == [f"{type(h).__name__.lower()}0"]


@pytest.fixture
def knn_inputs(monkeypatch):
    """The packed words every HammingNeighbors search hands the kernel, as they come."""
    import skdml.hashing._neighbors as module

    seen, original = [], module._knn_words

    def spy(Q, words, k, exclude_self):
        seen.append((Q.copy(), words.copy()))
        return original(Q, words, k, exclude_self)

    monkeypatch.setattr(module, "_knn_words", spy)
    return seen


@pytest.mark.parametrize("n_bits", [13, 64])
def test_pipeline_of_hasher_and_index_runs_the_packed_kernel(digits, n_bits, knn_inputs):
    """``make_pipeline(hasher, HammingNeighbors())`` -- the obvious code -- stores the packed
    codes of the hasher's width and hands the kernel the very words the packed path does
    (the same code path, hence the same speed; not a timing)."""
    X, y = digits
    X_fit, X_query = X[:500], X[500:530]
    for cls in CLASSICAL:
        pipe = make_pipeline(_make(cls, n_bits), HammingNeighbors(n_neighbors=4))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # SDH's 5 iterations
            pipe.fit(X_fit, y[:500])
        hasher, index = pipe[0], pipe[-1]
        packed = hasher.transform_packed(X_fit)
        assert index.n_bits_ == hasher.n_bits_ == n_bits, cls
        assert index.codes_.dtype == np.uint8, cls
        assert index.codes_.shape == (500, -(-n_bits // 8)), cls
        np.testing.assert_array_equal(index.codes_, packed)
        knn_inputs.clear()
        got = index.kneighbors(pipe[:-1].transform(X_query))
        by_hand = HammingNeighbors(n_neighbors=4).fit(hasher.transform(X_fit))
        want = HammingNeighbors(n_neighbors=4, n_bits=n_bits).fit(packed).kneighbors(
            hasher.transform_packed(X_query))
        (q_pipe, db_pipe), (q_packed, db_packed) = knn_inputs
        assert q_pipe.dtype == np.uint64 and q_pipe.shape == (30, -(-n_bits // 64)), cls
        np.testing.assert_array_equal(q_pipe, q_packed)
        np.testing.assert_array_equal(db_pipe, db_packed)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
        assert by_hand.n_bits_ == n_bits
        np.testing.assert_array_equal(by_hand.codes_, packed)


def test_codes_feed_metrics_and_refuse_the_old_ambiguous_form(digits):
    """``transform``'s bool codes and ``transform_packed``'s bytes score alike, and the old
    unpacked uint8 form is refused by name rather than read as 8x wider codes."""
    X, y = digits
    h = ITQ(n_bits=12, random_state=0).fit(X[:500])
    q, db = h.transform(X[500:]), h.transform(X[:500])
    qp, dbp = h.transform_packed(X[500:]), h.transform_packed(X[:500])
    assert hamming_map(q, db, y[500:], y[:500]) == hamming_map(
        qp, dbp, y[500:], y[:500], packed=True, n_bits=12)
    assert precision_within_radius(q, db, y[500:], y[:500]) == precision_within_radius(
        qp, dbp, y[500:], y[:500], packed=True, n_bits=12)
    with pytest.raises(ValueError, match="reads two ways"):
        HammingNeighbors().fit(db.astype(np.uint8))


def test_itq_rotation_orthogonal_and_loss_decreases(digits):
    X, _ = digits
    for n_bits in (8, 32):
        itq = ITQ(n_bits=n_bits, max_iter=30, tol=0, random_state=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            itq.fit(X)
        R = itq.rotation_
        np.testing.assert_allclose(R @ R.T, np.eye(n_bits), atol=1e-10)
        loss = itq.quantization_loss_
        assert len(loss) == itq.n_iter_ and itq.n_iter_ > 2
        assert np.all(np.diff(loss) <= 1e-9 * loss[0])
        assert loss[-1] < loss[0]
        # the loss recorded is ||sgn(VR) - VR||^2 for the final rotation's predecessor:
        # recompute the final one and check it is no larger
        V = (X - itq.mean_) @ itq.components_.T @ R
        final = np.sum((np.where(V >= 0, 1, -1) - V) ** 2)
        assert final <= loss[-1] + 1e-6 * loss[0]


def test_itq_warns_at_max_iter_and_converges_otherwise(digits):
    X, _ = digits
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        ITQ(n_bits=16, max_iter=2, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        itq = ITQ(n_bits=16, random_state=0).fit(X)
    assert itq.n_iter_ < 100


def test_quality_orderings_on_digits(digits):
    """ITQ beats PCAH and LSH at 32 bits; SDH beats the unsupervised ones."""
    X, y = digits
    Xd, yd, Xq, yq = X[:500], y[:500], X[500:], y[500:]
    scores = {}
    for cls in CLASSICAL:
        h = _make(cls, 32).fit(Xd, yd)
        scores[cls.__name__] = hamming_map(h.transform(Xq), h.transform(Xd), yq, yd)
    assert scores["ITQ"] > scores["PCAH"] + 0.05
    assert scores["ITQ"] > scores["LSH"] + 0.05
    assert scores["SupervisedDiscreteHashing"] > 0.85
    assert scores["SupervisedDiscreteHashing"] > scores["ITQ"] + 0.2


def test_determinism_under_random_state(digits):
    X, y = digits
    for cls in _all_classes():
        a = _make(cls, 16, random_state=3).fit(X, y).transform(X)
        b = _make(cls, 16, random_state=3).fit(X, y).transform(X)
        np.testing.assert_array_equal(a, b, err_msg=cls.__name__)
    a = LSH(16, random_state=1).fit(X).transform(X)
    b = LSH(16, random_state=2).fit(X).transform(X)
    assert not np.array_equal(a, b)


def test_clone_pickle_and_knn(digits):
    X, y = digits
    for cls in _all_classes():
        h = _make(cls, 16).fit(X, y)
        h2 = pickle.loads(pickle.dumps(h))
        np.testing.assert_array_equal(h.transform(X[:20]), h2.transform(X[:20]))
        clone(h)
    h = ITQ(16, random_state=0).fit(X)
    knn = KNeighborsClassifier(n_neighbors=3, metric=h.get_metric()).fit(X[:100], y[:100])
    assert knn.score(X[100:130], y[100:130]) > 0.5


def test_sdh_string_labels_and_two_member_classes():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (20, 5)), rng.normal(4, 1, (2, 5))])
    y = np.array(["a"] * 20 + ["b"] * 2)
    h = SupervisedDiscreteHashing(n_bits=4, random_state=0).fit(X, y)
    assert h.n_iter_ >= 1 and list(h.classes_) == ["a", "b"]
    assert h.anchors_.shape == (22, 5)  # fewer samples than n_anchors: all are anchors


def test_awkward_features():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    X[:, 1] = 3.0  # constant
    X[:, 2] = X[:, 0]  # duplicated
    X[:, 3] *= 1e6  # very different scale
    for cls in CLASSICAL:
        h = _make(cls, 6).fit(X, np.arange(40) % 2)
        codes = h.transform(X)
        assert codes.shape == (40, 6)


@pytest.mark.parametrize("cls", CLASSICAL)
def test_bad_input(cls, digits):
    X, y = digits
    with pytest.raises(ValueError, match="n_bits"):
        cls(n_bits=0).fit(X, y)
    Xbad = X.copy()
    Xbad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _make(cls, 8).fit(Xbad, y)
    Xinf = X.copy()
    Xinf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        _make(cls, 8).fit(Xinf, y)
    h = _make(cls, 8).fit(X, y)
    before = h.transform(X[:5])
    with pytest.raises(ValueError, match="NaN"):
        h.transform(Xbad)
    with pytest.raises(ValueError):
        h.fit(Xbad, y)  # a failed fit leaves the fitted state as it was
    np.testing.assert_array_equal(h.transform(X[:5]), before)


@pytest.mark.parametrize("cls", [PCAH, ITQ])
def test_n_bits_larger_than_supported(cls, digits):
    X, _ = digits
    with pytest.raises(ValueError, match=r"n_bits=65 .*n_features=64.*<= 64"):
        cls(n_bits=65).fit(X)
    # methods without the limit accept it
    assert LSH(n_bits=65, random_state=0).fit(X).transform(X[:2]).shape == (2, 65)
    assert SpectralHashing(n_bits=65).fit(X).transform(X[:2]).shape == (2, 65)


def test_deep_bad_input(digits):
    X, y = digits
    for cls in _deep_classes():
        with pytest.raises(ValueError, match="n_bits"):
            cls(n_bits=0).fit(X, y)
        Xbad = X.copy()
        Xbad[0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            _make(cls, 8).fit(Xbad, y)
    from skdml.hashing.deep import DeepHashing, SupervisedDeepHashing

    with pytest.raises(ValueError, match="requires y"):
        SupervisedDeepHashing(n_bits=8, max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="n_bits=8"):
        DeepHashing(n_bits=8, max_epochs=1, module__hidden_sizes=(16, 4)).fit(X)


def test_deep_hashing_learns_structure(digits):
    """A few epochs of DH already beat random hyperplanes with the same bits."""
    from skdml.hashing.deep import SupervisedDeepHashing

    X, y = digits
    Xd, yd, Xq, yq = X[:500], y[:500], X[500:], y[500:]
    sdh = SupervisedDeepHashing(n_bits=16, max_epochs=15, random_state=0).fit(Xd, yd)
    lsh = LSH(16, random_state=0).fit(Xd)
    m_sdh = hamming_map(sdh.transform(Xq), sdh.transform(Xd), yq, yd)
    m_lsh = hamming_map(lsh.transform(Xq), lsh.transform(Xd), yq, yd)
    assert m_sdh > m_lsh + 0.1


def test_deep_hashing_losses_match_their_formulas():
    torch = pytest.importorskip("torch")
    from skdml.hashing.deep import DeepBitLoss, DeepHashingLoss

    rng = np.random.default_rng(0)
    H = rng.uniform(-1, 1, (6, 3))
    labels = np.array([0, 0, 1, 1, 2, 2])
    B = np.where(H >= 0, 1.0, -1.0)
    quant = ((B - H) ** 2).sum(1).mean()
    var = ((H - H.mean(0)) ** 2).sum(1).mean()
    D = ((H[:, None] - H[None]) ** 2).sum(-1)
    same = labels[:, None] == labels[None]
    s_w = D[same & ~np.eye(6, dtype=bool)].mean()
    s_b = D[~same].mean()
    Ht, lt = torch.tensor(H), torch.tensor(labels)
    got = DeepHashingLoss(lambda1=0.5, alpha=0.0)(Ht, lt).item()
    assert got == pytest.approx(0.5 * quant - 0.25 * var)
    got = DeepHashingLoss(lambda1=0.5, alpha=2.0)(Ht, lt).item()
    assert got == pytest.approx(0.5 * quant - 0.25 * (var + 2.0 * (s_b - s_w)))
    got = DeepBitLoss(balance=3.0)(Ht, lt).item()
    assert got == pytest.approx(quant + 3.0 * (H.mean(0) ** 2).sum())


@pytest.mark.parametrize("output", ["pandas", "polars"])
def test_every_hasher_honours_set_output(digits, output):
    """``transform`` is wrapped by ``set_output`` like ``fit_transform`` (it once returned an
    ndarray: it is defined on a mixin), and the frames feed ``HammingNeighbors``."""
    frames = pytest.importorskip(output)
    X, y = digits
    X_fit, X_query = X[:400], X[400:420]
    for cls in _all_classes():
        plain = _make(cls, 12).fit(X_fit, y[:400])
        hasher = _make(cls, 12).set_output(transform=output)
        fitted = hasher.fit_transform(X_fit, y[:400])
        codes = hasher.transform(X_query)
        for out in (fitted, codes):
            assert isinstance(out, frames.DataFrame), (cls.__name__, type(out))
            assert list(out.columns) == list(hasher.get_feature_names_out()), cls
        want = plain.transform(X_query)
        np.testing.assert_array_equal(codes.to_numpy(), want)
        assert codes.to_numpy().dtype == bool, cls
        # the other methods built on transform still see the codes
        np.testing.assert_array_equal(hasher.transform_packed(X_query),
                                      plain.transform_packed(X_query))
        pairs = np.stack([X_query[:5], X_query[5:10]], axis=1)
        np.testing.assert_array_equal(hasher.pair_distance(pairs), plain.pair_distance(pairs))
        # HammingNeighbors takes the frame back (bool columns: unpacked bits)
        nn = HammingNeighbors(n_neighbors=3).fit(hasher.transform(X_fit))
        assert nn.n_bits_ == 12
        dist, ind = nn.kneighbors(codes)
        ref = HammingNeighbors(n_neighbors=3).fit(plain.transform_packed(X_fit))
        ref_dist, ref_ind = ref.kneighbors(plain.transform_packed(X_query))
        np.testing.assert_array_equal(ind, ref_ind)
        np.testing.assert_array_equal(dist, ref_dist)
