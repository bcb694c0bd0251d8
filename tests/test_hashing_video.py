"""Video hashing: DVH, the structural variant, their losses, the matrix distance, the data."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import average_precision_score
from sklearn.pipeline import make_pipeline

from skdml.datasets import make_digits_videos
from skdml.hashing import ITQ
from skdml.hashing.video import (
    DeepVideoHashing,
    DeepVideoHashingLoss,
    StructuralVideoHashing,
    StructuralVideoHashingLoss,
    pairwise_video_distances,
)
from skdml.metrics_hashing import hamming_map

FAST = dict(n_bits=8, hidden_sizes=(16,), max_epochs=3, random_state=0)


@pytest.fixture(scope="module")
def videos():
    return make_digits_videos(n_videos_per_class=3, n_frames=(2, 4), random_state=0)


def _softplus(z, beta):
    return np.log1p(np.exp(beta * z)) / beta


def _pair_terms(D, labels, tau, beta):
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    z = np.concatenate([1 - (tau - D[same & off]), 1 + (tau - D[~same])])
    return _softplus(z, beta)


def _code_terms(H, quantization, balance):
    B = np.where(H >= 0, 1.0, -1.0)
    return quantization * ((B - H) ** 2).sum(1).mean() + balance * (H.mean(0) ** 2).sum()


# --- the data ----------------------------------------------------------------------------


def test_make_digits_videos_shapes_and_determinism():
    v1, y1 = make_digits_videos(n_videos_per_class=2, n_frames=(3, 6), n_scenes=2,
                                random_state=3)
    v2, y2 = make_digits_videos(n_videos_per_class=2, n_frames=(3, 6), n_scenes=2,
                                random_state=3)
    assert len(v1) == 20 and y1.tolist() == np.repeat(np.arange(10), 2).tolist()
    assert all(v.shape[1] == 64 and 3 <= len(v) <= 6 for v in v1)
    assert all(np.array_equal(a, b) for a, b in zip(v1, v2)) and np.array_equal(y1, y2)
    assert all(v.min() >= 0 and v.max() <= 16 for v in v1)
    # consecutive frames of a scene are nearer each other than frames of another video
    step = np.mean([np.linalg.norm(v[1] - v[0]) for v in v1])
    other = np.mean([np.linalg.norm(v1[i][0] - v1[i + 2][0]) for i in range(len(v1) - 2)])
    assert step < other


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_frames=(0, 3)), "n_frames"),
    (dict(n_frames=(2, 3), n_scenes=3), "n_frames"),
    (dict(n_videos_per_class=0), "n_videos_per_class"),
    (dict(max_angle=-1.0), "max_angle"),
    (dict(noise=float("nan")), "noise"),
])
def test_make_digits_videos_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_digits_videos(**kwargs)


# --- the losses --------------------------------------------------------------------------


def test_dvh_loss_equals_hand_computation():
    rng = np.random.default_rng(0)
    H = np.tanh(rng.normal(size=(5, 4)))
    labels = np.array([0, 0, 1, 1, 2])
    loss = DeepVideoHashingLoss(tau=1.5, beta=2.0, quantization=0.3, balance=0.7)
    got = loss(torch.tensor(H), torch.tensor(labels)).item()
    D = ((H[:, None] - H[None]) ** 2).sum(-1) / 4
    want = _pair_terms(D, labels, 1.5, 2.0).mean() + _code_terms(H, 0.3, 0.7)
    assert got == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("reduce", ["min", "mean"])
def test_structural_loss_equals_hand_computation(reduce):
    rng = np.random.default_rng(1)
    H = np.tanh(rng.normal(size=(7, 3)))
    video = np.array([0, 0, 0, 1, 1, 2, 2])
    labels = np.array([0, 0, 0, 0, 0, 1, 1])  # videos 0 and 1 share a class
    first, second = np.array([0, 1, 3, 5]), np.array([1, 2, 4, 6])
    weights = np.array([1.0, 0.5, 0.2, 0.9])
    loss = StructuralVideoHashingLoss(tau=1.0, beta=3.0, scene=0.4, quantization=0.2,
                                      balance=0.5, reduce=reduce)
    tuples = tuple(torch.tensor(a) for a in (video, first, second, weights))
    got = loss(torch.tensor(H), torch.tensor(labels), tuples).item()

    F = ((H[:, None] - H[None]) ** 2).sum(-1) / 4
    D = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            block = F[np.ix_(video == i, video == j)]
            D[i, j] = (block.mean() if reduce == "mean"
                       else (block.min(1).mean() + block.min(0).mean()) / 2)
    inter = _pair_terms(D, np.array([0, 0, 1]), 1.0, 3.0).mean()
    steps = ((H[first] - H[second]) ** 2).sum(1) / 4
    want = inter + 0.4 * (weights * steps).sum() / weights.sum() + _code_terms(H, 0.2, 0.5)
    assert got == pytest.approx(want, rel=1e-10)


def test_pairwise_video_distances_brute_force():
    rng = np.random.default_rng(2)
    A = [rng.integers(0, 2, size=(n, 10)).astype(bool) for n in (1, 3, 4)]
    B = [rng.integers(0, 2, size=(n, 10)).astype(bool) for n in (2, 5)]
    for reduce in ("min", "mean"):
        got = pairwise_video_distances(A, B, reduce=reduce)
        for i, a in enumerate(A):
            for j, b in enumerate(B):
                F = (a[:, None] != b[None]).sum(-1)
                want = F.mean() if reduce == "mean" else (F.min(1).mean() + F.min(0).mean()) / 2
                assert got[i, j] == pytest.approx(want)
    D = pairwise_video_distances(A)
    assert np.allclose(D, D.T)
    assert np.allclose(np.diag(pairwise_video_distances(A, reduce="min")), 0)
    with pytest.raises(ValueError, match="video 1 has 9 bits"):
        pairwise_video_distances(A, [B[0], B[1][:, :9]])
    with pytest.raises(ValueError, match="reduce"):
        pairwise_video_distances(A, reduce="max")


# --- the learners ------------------------------------------------------------------------


@pytest.mark.parametrize("Hasher", [DeepVideoHashing, StructuralVideoHashing])
def test_codes_shape_determinism_clone_pickle(Hasher, videos):
    vids, y = videos
    a = Hasher(**FAST).fit(vids, y)
    b = Hasher(**FAST).fit(vids, y)
    codes = a.transform(vids)
    assert codes.shape == (len(vids), 8) and codes.dtype == bool
    assert np.array_equal(codes, b.transform(vids))
    c = clone(a).fit(vids, y)
    assert np.array_equal(codes, c.transform(vids))
    assert np.array_equal(codes, pickle.loads(pickle.dumps(a)).transform(vids))
    pipe = make_pipeline(Hasher(**FAST)).fit(vids, y)
    assert np.array_equal(pipe.transform(vids), codes)


def test_dvh_codes_ignore_frame_order(videos):
    vids, y = videos
    dvh = DeepVideoHashing(**FAST).fit(vids, y)
    reordered = [v[::-1] for v in vids]
    assert np.allclose(dvh._project(vids), dvh._project(reordered), atol=1e-6)
    assert np.array_equal(dvh.transform(vids), dvh.transform(reordered))


def test_structural_matrices_and_distances(videos):
    vids, y = videos
    svh = StructuralVideoHashing(**FAST).fit(vids, y)
    mats = svh.transform_matrices(vids[:4])
    assert [m.shape for m in mats] == [(len(v), 8) for v in vids[:4]]
    D = svh.video_distances(vids[:4], vids)
    assert D.shape == (4, len(vids))
    assert np.allclose(D, pairwise_video_distances(mats, svh.transform_matrices(vids)))
    square = svh.video_distances(vids[:4])
    assert np.allclose(square, square.T) and np.allclose(square, D[:, :4])
    # the frames' order does not change the matrix distance
    assert np.allclose(svh.video_distances([v[::-1] for v in vids[:4]], vids), D)


@pytest.mark.parametrize("Hasher", [DeepVideoHashing, StructuralVideoHashing])
def test_bad_videos_raise_and_leave_state(Hasher, videos):
    vids, y = videos
    model = Hasher(**FAST).fit(vids, y)
    codes = model.transform(vids)
    empty = [vids[0], vids[1], np.zeros((0, 64))] + list(vids[3:])
    with pytest.raises(ValueError, match="video 2 must be a non-empty"):
        model.fit(empty, y)
    narrow = [vids[0], vids[1][:, :63]] + list(vids[2:])
    with pytest.raises(ValueError, match="video 1 has 63 features"):
        model.fit(narrow, y)
    with pytest.raises(ValueError, match="n_bits"):
        clone(model).set_params(n_bits=0).fit(vids, y)
    with pytest.raises(ValueError, match="video 0 has 63 features, but the fitted model"):
        model.transform([vids[0][:, :63]])
    with pytest.raises(ValueError, match="video 0 must be a non-empty"):
        model.transform([np.zeros((0, 64))])
    assert np.array_equal(model.transform(vids), codes)  # the failed fits changed nothing


def test_dvh_beats_itq_on_mean_frames():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    keep = y < 5
    Xd, Xq, yd, yq = train_test_split(X[keep], y[keep], test_size=0.5, stratify=y[keep],
                                      random_state=0)
    vd, yd = make_digits_videos(Xd, yd, n_videos_per_class=15, n_scenes=2, random_state=1)
    vq, yq = make_digits_videos(Xq, yq, n_videos_per_class=6, n_scenes=2, random_state=2)
    dvh = DeepVideoHashing(16, max_epochs=30, random_state=0).fit(vd, yd)
    dvh_map = hamming_map(dvh.transform(vq), dvh.transform(vd), yq, yd)
    md, mq = (np.array([v.mean(0) for v in vs]) for vs in (vd, vq))
    itq = ITQ(16, random_state=0).fit(md)
    itq_map = hamming_map(itq.transform(mq), itq.transform(md), yq, yd)
    assert dvh_map > itq_map + 0.1, (dvh_map, itq_map)
    svh = StructuralVideoHashing(16, max_epochs=30, random_state=0).fit(vd, yd)
    D = svh.video_distances(vq, vd)
    svh_map = np.mean([average_precision_score(yd == yq[i], -D[i]) for i in range(len(yq))])
    assert svh_map > itq_map + 0.1, (svh_map, itq_map)
