"""Video hashing: deep video hashing (DVH) and nonlinear structural video hashing.

Importing this module imports torch; ``skdml.hashing`` hands these names out lazily.

A *video* is an ordered set of frames: a 2-D array ``(n_frames, n_features)``, one row per
frame in temporal order (the input form of the image-set learner
:class:`~skdml.deep.MMDML`, validated by the same function). ``fit(videos, y)`` takes a list
of them and one class label per video. Both hashers are deep hashers on the learner template
(:class:`~skdml.deep.DeepMetricLearner`): the network is a tanh MLP applied to every frame,
the training samples are the frames (standardized per feature over all training frames), a
batch holds every frame of class-balanced videos, and the ``_batch_loss`` hook turns the
frames' outputs into the videos' terms. Nothing of the training loop is copied.
"""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted, validate_data
from torch.nn import functional as F

from .._param_validation import Interval, StrOptions
from .._threads import uses_threads
from .._validation import check_sets
from ..deep._base import ClassBalancedBatchSampler
from ..deep._modules import MLP
from ..deep._tuples import label_masks
from ..deep.losses import _check_real
from ..kernels import hamming_distances, pack_codes
from .deep import _COMMON, _DOC_COMMON_PER_FEATURE, _CodeLoss, _DeepHasher, _quantization_terms

__all__ = [
    "DeepVideoHashing",
    "DeepVideoHashingLoss",
    "StructuralVideoHashing",
    "StructuralVideoHashingLoss",
    "pairwise_video_distances",
]


# --- the loss terms ---------------------------------------------------------------------


def _relaxed_hamming(A, B=None):
    """``||a - b||^2 / 4`` between the rows of ``A`` and ``B``: the Hamming distance when the
    rows are codes in ``{-1, +1}``, its relaxation on ``(-1, 1)``."""
    B = A if B is None else B
    sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return sq.clamp_min(0.0) / 4.0


def _logistic_pair_terms(D, labels, tau, beta):
    """``g(1 - l_uv (tau - D_uv))`` over every ordered pair ``u != v`` of a batch: ``l = +1``
    for a same-class pair, ``-1`` otherwise; ``g(z) = log(1 + exp(beta z)) / beta``."""
    same, other = label_masks(labels)
    z = torch.cat([1.0 - (tau - D[same]), 1.0 + (tau - D[other])])
    if len(z) == 0:
        return D.sum().reshape(1) * 0.0
    return F.softplus(z, beta=beta)


def _code_penalty(H, quantization, balance):
    """``quantization * mean_i ||B_i - H_i||^2 + balance * sum_k mean_i(H_ik)^2``,
    ``B = sgn(H)`` held fixed."""
    return (quantization * _quantization_terms(H).mean()
            + balance * (H.mean(0) ** 2).sum())


class DeepVideoHashingLoss(_CodeLoss):
    r"""The objective of DVH (Liong et al. 2017) on a batch of video codes ``H``::

        mean_{u != v} g(1 - l_uv (tau - d(h_u, h_v)))
        + quantization * mean_u ||b_u - h_u||^2 + balance * sum_k mean_u(h_uk)^2

    ``h_u`` the relaxed code of video ``u`` (in ``(-1, 1)``), ``b_u = sgn(h_u)`` held fixed,
    ``d(h_u, h_v) = ||h_u - h_v||^2 / 4`` the relaxed Hamming distance (the Hamming distance
    on codes), ``l_uv = +1`` when ``u`` and ``v`` share a class and ``-1`` otherwise, and
    ``g(z) = log(1 + exp(beta z)) / beta`` the generalized logistic function: same-class
    videos are pushed within ``tau - 1`` bits of each other, different-class videos beyond
    ``tau + 1``. The first term is the paper's ``J_1`` (the tutorial's
    ``f(1 - delta_uv (theta - d_uv(b_u, b_v)))``), the second its quantization term
    ``J_2``; the third, even bits, is not in the paper (see :class:`DeepVideoHashing`).

    Parameters
    ----------
    tau : float, default=8.0
        The threshold, in bits.
    beta : float, default=2.0
        Sharpness of ``g``.
    quantization : float, default=0.01
        ``lambda``, the weight of the quantization term.
    balance : float, default=0.1
        Weight of the even-bits term.
    """

    _reprs = ("tau", "beta", "quantization", "balance")

    def __init__(self, tau=8.0, beta=2.0, quantization=0.01, balance=0.1):
        super().__init__()
        owner = type(self).__name__
        self.tau = _check_real(tau, "tau", owner)
        self.beta = _check_real(beta, "beta", owner, low=0)
        self.quantization = _check_real(quantization, "quantization", owner, low=0,
                                        strict=False)
        self.balance = _check_real(balance, "balance", owner, low=0, strict=False)

    def compute(self, embeddings, labels, tuples):
        return _logistic_pair_terms(_relaxed_hamming(embeddings), labels, self.tau, self.beta)

    def penalty(self, embeddings, labels, tuples):
        return _code_penalty(embeddings, self.quantization, self.balance)


def _video_matrix_distances(F_, video, n_videos, reduce):
    """The (n_videos, n_videos) distances between the frame-code matrices of a batch, from
    the frame-to-frame distances ``F_`` and the video of each frame (torch, differentiable).
    """
    onehot = torch.zeros(n_videos, len(video), dtype=F_.dtype, device=F_.device)
    onehot[video, torch.arange(len(video), device=F_.device)] = 1.0
    counts = onehot.sum(1)
    if reduce == "mean":
        return onehot @ F_ @ onehot.T / (counts[:, None] * counts[None, :])
    # nearest[p, j]: the distance from frame p to the nearest frame of video j
    nearest = torch.full((len(video), n_videos), float("inf"), dtype=F_.dtype,
                         device=F_.device)
    nearest = nearest.scatter_reduce(1, video.expand(len(video), -1), F_, reduce="amin",
                                     include_self=True)
    one_way = onehot @ nearest / counts[:, None]  # mean over the frames of video i
    return 0.5 * (one_way + one_way.T)


class StructuralVideoHashingLoss(_CodeLoss):
    r"""The objective of nonlinear structural video hashing (Chen et al. 2018) on a batch
    of frame outputs ``H`` (each video a code matrix ``H_i``, one row per frame)::

        mean_{i != j} g(1 - l_ij (tau - D(H_i, H_j)))
        + scene * sum_t w_t d(h_t, h_t+1) / sum_t w_t
        + quantization * mean_t ||b_t - h_t||^2 + balance * sum_k mean_t(h_tk)^2

    The first term is the paper's inter-video loss ``L_v`` with ``l_ij`` the generalized
    logistic of :class:`DeepVideoHashingLoss` on the matrix distance ``D`` (``reduce``:
    ``'mean'``, the mean relaxed Hamming distance over all pairs of frames of the two
    videos; ``'min'``, the mean over the frames of either video of the relaxed Hamming
    distance to the nearest frame of the other, symmetrized).
    The second is the intra-video scene-consistency loss ``L_f = sum_i ||R_i B_i^T||^2``
    with ``R_i`` the first differences of consecutive frames of video ``i``, each weighted
    by ``w_t`` (how much frames ``t`` and ``t + 1`` look alike in the input: a scene cut
    weighs little). The last two are those of :class:`DeepVideoHashingLoss`, per frame.

    Called as ``loss(H, labels, (video, first, second, weights))``: ``labels`` the class of
    each frame's video, ``video`` the batch video of each frame (``0 .. n_videos - 1``),
    ``(first[t], second[t])`` consecutive frames of one video with weight ``weights[t]``.

    Parameters
    ----------
    tau : float, default=8.0
    beta : float, default=2.0
    scene : float, default=0.1
        ``lambda_1``, the weight of the scene-consistency term.
    quantization : float, default=0.01
    balance : float, default=0.1
    reduce : {'mean', 'min'}, default='mean'
        The matrix distance ``D``.
    """

    _reprs = ("tau", "beta", "scene", "quantization", "balance", "reduce")

    def __init__(self, tau=8.0, beta=2.0, scene=0.1, quantization=0.01, balance=0.1,
                 reduce="mean"):
        super().__init__()
        owner = type(self).__name__
        self.tau = _check_real(tau, "tau", owner)
        self.beta = _check_real(beta, "beta", owner, low=0)
        self.scene = _check_real(scene, "scene", owner, low=0, strict=False)
        self.quantization = _check_real(quantization, "quantization", owner, low=0,
                                        strict=False)
        self.balance = _check_real(balance, "balance", owner, low=0, strict=False)
        if reduce not in ("min", "mean"):
            raise ValueError(f"{owner}: reduce must be 'min' or 'mean', got {reduce!r}.")
        self.reduce = reduce

    def _check_tuples(self, embeddings, tuples):
        if tuples is None or len(tuples) != 4:
            raise ValueError(
                f"{type(self).__name__} needs tuples=(video, first, second, weights): the "
                "video of each frame and the weighted consecutive frame pairs."
            )
        return tuples

    def compute(self, embeddings, labels, tuples):
        video = self._check_tuples(embeddings, tuples)[0].long()
        n_videos = int(video.max()) + 1
        D = _video_matrix_distances(_relaxed_hamming(embeddings), video, n_videos, self.reduce)
        video_labels = torch.zeros(n_videos, dtype=labels.dtype, device=labels.device)
        video_labels[video] = labels
        return _logistic_pair_terms(D, video_labels, self.tau, self.beta)

    def penalty(self, embeddings, labels, tuples):
        _, first, second, weights = self._check_tuples(embeddings, tuples)
        loss = _code_penalty(embeddings, self.quantization, self.balance)
        if self.scene and len(first):
            steps = ((embeddings[first] - embeddings[second]) ** 2).sum(1) / 4.0
            loss = loss + self.scene * (weights * steps).sum() / weights.sum().clamp_min(1e-12)
        return loss


# --- retrieval with code matrices -------------------------------------------------------


def _check_code_matrices(codes, name, n_bits=None):
    if isinstance(codes, np.ndarray) and codes.dtype != object and codes.ndim == 3:
        codes = list(codes)
    if not isinstance(codes, (list, tuple)) or len(codes) == 0:
        raise ValueError(f"{name} must be a non-empty list of code matrices (n_frames_i, "
                         f"n_bits), got {type(codes).__name__}.")
    out = []
    for i, c in enumerate(codes):
        c = np.asarray(c)
        if c.ndim != 2 or len(c) == 0:
            raise ValueError(f"{name}: video {i} must be a non-empty 2-D code matrix "
                             f"(n_frames_i, n_bits), got shape {c.shape}.")
        if c.dtype != bool and not (c.dtype.kind in "biu" and np.isin(c, (0, 1)).all()):
            raise ValueError(f"{name}: video {i} must hold bits (bool or 0/1), got dtype "
                             f"{c.dtype}.")
        width = n_bits if n_bits is not None else out[0].shape[1] if out else c.shape[1]
        if c.shape[1] != width:
            raise ValueError(f"{name}: video {i} has {c.shape[1]} bits per code, expected "
                             f"{width}.")
        out.append(c.astype(bool))
    return out


def pairwise_video_distances(codes_a, codes_b=None, *, reduce="mean"):
    """Distances between videos given as binary code matrices (one code per frame).

    With ``d_H`` the Hamming distance between frame codes, the distance between videos
    ``A`` (frames ``a``) and ``B`` (frames ``b``) is, for ``reduce='mean'``, the mean of
    ``d_H(a, b)`` over every pair of frames, and for ``reduce='min'``::

        D(A, B) = 1/2 (mean_a min_b d_H(a, b) + mean_b min_a d_H(a, b))

    -- each frame matched with the nearest frame of the other video, both ways (so a video
    is at distance 0 from itself). Both are symmetric, in ``[0, n_bits]``, and do not depend
    on the order of the frames.

    Parameters
    ----------
    codes_a : list of array-like of shape (n_frames_i, n_bits)
        Bits (bool or 0/1), e.g. from
        :meth:`StructuralVideoHashing.transform_matrices`.
    codes_b : list of array-like of shape (n_frames_j, n_bits), default=None
        ``None`` means ``codes_a``.
    reduce : {'mean', 'min'}, default='mean'

    Returns
    -------
    D : ndarray of shape (len(codes_a), len(codes_b)), dtype=float64

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.hashing.video import pairwise_video_distances
    >>> a = [np.array([[0, 0, 0], [1, 1, 1]]), np.array([[0, 0, 1]])]
    >>> pairwise_video_distances(a, reduce="min")  # (mean(1, 2) + 1) / 2 between the two
    array([[0.  , 1.25],
           [1.25, 0.  ]])
    >>> float(pairwise_video_distances(a)[0, 1])  # mean(1, 2)
    1.5
    """
    if reduce not in ("min", "mean"):
        raise ValueError(f"pairwise_video_distances: reduce must be 'min' or 'mean', got "
                         f"{reduce!r}.")
    A = _check_code_matrices(codes_a, "codes_a")
    B = A if codes_b is None else _check_code_matrices(codes_b, "codes_b", A[0].shape[1])
    sizes_b = np.array([len(c) for c in B])
    starts_b = np.concatenate([[0], np.cumsum(sizes_b)[:-1]])
    packed_b = pack_codes(np.vstack(B))
    out = np.empty((len(A), len(B)))
    chunk = max(1, 4_000_000 // max(1, len(packed_b)))  # frames of A per block
    i = 0
    while i < len(A):  # blocks of whole videos of A, about `chunk` frames each
        j, n = i, 0
        while j < len(A) and (n == 0 or n + len(A[j]) <= chunk):
            n += len(A[j])
            j += 1
        sizes_a = np.array([len(c) for c in A[i:j]])
        starts_a = np.concatenate([[0], np.cumsum(sizes_a)[:-1]])
        F_ = hamming_distances(pack_codes(np.vstack(A[i:j])), packed_b).astype(np.float64)
        if reduce == "mean":
            total = np.add.reduceat(np.add.reduceat(F_, starts_a, axis=0), starts_b, axis=1)
            out[i:j] = total / (sizes_a[:, None] * sizes_b[None, :])
        else:
            a_to_b = np.add.reduceat(np.minimum.reduceat(F_, starts_b, axis=1), starts_a,
                                     axis=0) / sizes_a[:, None]
            b_to_a = np.add.reduceat(np.minimum.reduceat(F_, starts_a, axis=0), starts_b,
                                     axis=1) / sizes_b[None, :]
            out[i:j] = 0.5 * (a_to_b + b_to_a)
        i = j
    return out


# --- the learners ------------------------------------------------------------------------


class _VideoBatches:
    """An epoch's training batches: class-balanced draws of videos, each batch every frame
    of the videos drawn, in temporal order."""

    def __init__(self, videos, starts, sizes):
        self.videos, self.starts, self.sizes = videos, starts, sizes

    def __len__(self):
        return len(self.videos)

    def __iter__(self):
        return iter([np.concatenate([np.arange(self.starts[v], self.starts[v] + self.sizes[v])
                                     for v in batch]) for batch in self.videos])


_VIDEO_COMMON = {
    **_COMMON,
    "tau": [Interval(Real, None, None, closed="neither"), None],
    "beta": [Interval(Real, 0, None, closed="neither")],
    "quantization": [Interval(Real, 0, None, closed="left")],
    "balance": [Interval(Real, 0, None, closed="left")],
    "samples_per_class": [Interval(Integral, 2, None, closed="left"), None],
    "train_split": [None],
}


class _VideoHasher(_DeepHasher):
    """Shared plumbing: videos in, frames trained on, one target row per frame."""

    _supervised = True

    def _check_videos(self, videos, *, reset):
        """The videos as a list of float64 arrays (n_frames_i, n_features); a 2-D numeric
        array (n_videos, n_features) is read as videos of one frame each."""
        name = type(self).__name__
        if hasattr(videos, "toarray") or hasattr(videos, "tocsr"):
            raise TypeError(f"{name} does not accept sparse input: pass a list of dense 2-D "
                            "arrays, one per video.")
        if not isinstance(videos, (list, tuple)):
            ndim = getattr(videos, "ndim", None)
            if ndim is None and hasattr(videos, "__array__"):
                videos = np.asarray(videos)
                ndim = videos.ndim
            if ndim == 2 or (ndim == 1 and getattr(videos, "dtype", None) != object):
                X = validate_data(self, videos, reset=reset, dtype=[np.float64, np.float32],
                                  ensure_min_samples=2 if reset else 1)
                return list(np.asarray(X, dtype=np.float64)[:, None, :])
        parts = check_sets(videos, n_features=None if reset else self.n_features_in_,
                           estimator=self, item="video")
        if reset:
            self.n_features_in_ = parts[0].shape[1]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            if len(parts) < 2:
                raise ValueError(f"{name} needs at least 2 videos to fit, got 1.")
        return parts

    @staticmethod
    def _layout(videos):
        sizes = np.array([len(v) for v in videos])
        return np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes

    def _validate_fit_data(self, X, y, *, reset):
        """The frames stacked, and a target row ``(class, video, frame position)`` per
        frame; the videos' layout is kept for the batch sampler."""
        videos = self._check_videos(X, reset=reset)
        y_enc = self._validate_target(y, len(videos), reset=reset)
        starts, sizes = self._layout(videos)
        video = np.repeat(np.arange(len(videos)), sizes)
        position = np.arange(sizes.sum()) - starts[video]
        self._fit_layout = (starts, sizes, y_enc)
        target = np.column_stack([y_enc[video], video, position]).astype(np.int64)
        return np.vstack(videos), target

    def _train_batch_sampler(self, dataset):
        starts, sizes, labels = self._fit_layout
        videos = ClassBalancedBatchSampler(labels, self.batch_size, self.samples_per_class,
                                           random_state=int(self._seeds[1]))
        return _VideoBatches(videos, starts, sizes)

    def _frame_outputs(self, videos):
        """``(Z, starts, sizes)``: the network's output for every frame of the validated
        videos (float64), and where each video's frames are."""
        check_is_fitted(self)
        videos = self._check_videos(videos, reset=False)
        starts, sizes = self._layout(videos)
        Z = self.forward(self._scale_input(np.vstack(videos)), training=False, device="cpu")
        return Z.numpy().astype(np.float64), starts, sizes

    @staticmethod
    def _batch_videos(y):
        """``(video, labels)``: each frame's video renumbered ``0 .. n - 1`` in the batch,
        and each video's class."""
        _, video = torch.unique(y[:, 1], return_inverse=True)
        labels = torch.zeros(int(video.max()) + 1, dtype=torch.long, device=y.device)
        labels[video] = y[:, 0].long()
        return video, labels


_DOC_VIDEO = """
    tau : float or None, default=None
        The threshold of the pair term, in bits: same-class videos are pushed within
        ``tau - 1`` bits, others beyond ``tau + 1``. ``None``: ``n_bits / 4``.
    beta : float, default=2.0
        Sharpness of the generalized logistic ``g``.
    quantization : float, default=0.01
        Weight of the quantization term ``||B - H||^2`` (summed over the bits). Larger
        weights drive the tanh units to +-1 before the pairs have placed the codes, and
        freeze the first random bits: on the digits videos at 32 bits, mAP fell from 0.85
        (0.01) to 0.63 (0.1).
    balance : float, default=0.1
        Weight of the even-bits term.
    weight_decay : float, default=1e-4
        L2 penalty on the weights (the optimizer's ``weight_decay``).
    lr : float, default=1e-2
        Adam's learning rate (DVH on the digits videos, 32 bits, 50 epochs: training mAP
        0.91 at 3e-3, 0.99 at 1e-2).
    batch_size : int, default=64
        Videos per training batch (all their frames come with them).
    samples_per_class : int or None, default=None
        Videos of each class in a batch (see :class:`~skdml.deep.ClassBalancedBatchSampler`).
"""

_DOC_INPUT = """
    **Input.** ``videos`` is a list (or tuple, or 1-D object array) of 2-D arrays, one per
    video, of shape ``(n_frames_i, n_features)``, frames in temporal order; frame counts
    may differ, widths may not. A video with no frame, or of another width than the
    others (than the fitted model's, after ``fit``), is a ``ValueError`` naming the video.
    A 3-D array ``(n_videos, n_frames, n_features)`` holds videos of equal length; a 2-D
    numeric array ``(n_videos, n_features)`` is read as videos of one frame each (a still
    image is a video of one frame), the form scikit-learn's tools pass around.
"""


class DeepVideoHashing(_VideoHasher):
    """Deep video hashing (DVH, Liong, Lu, Tan & Zhou, TMM 2017): one binary code per video.

    Every frame ``x_t`` of a video goes through a tanh MLP (``hidden_sizes``) then the
    linear fusion layer ``W``; temporal pooling averages over the frames, and the relaxed
    code is ``h = tanh(mean_t (W phi(x_t) + c))``, the code ``b = sgn(h)``. As ``W`` is
    linear, this is the mean of the last hidden layer over the frames fused by ``W``: the
    code depends on the set of frames, not on their order. The network minimizes, over a
    batch of class-balanced videos (:class:`DeepVideoHashingLoss`)::

        mean_{u != v} g(1 - l_uv (tau - d(h_u, h_v)))
        + quantization * mean_u ||b_u - h_u||^2 + balance * sum_k mean_u(h_uk)^2

    ``d`` the relaxed Hamming distance ``||h_u - h_v||^2 / 4``, ``l_uv = +1`` for videos of
    one class and ``-1`` otherwise, ``g(z) = log(1 + exp(beta z)) / beta``: the tutorial's
    ``J = J_1 + lambda J_2`` with ``J_1 = f(1 - delta_uv (theta - d_uv(b_u, b_v)))`` and
    ``J_2 = ||s(I_u) - b_u||^2 + ||s(I_v) - b_v||^2``. ``b = sgn(h)`` and the network are
    updated alternately, batch by batch, and weight decay is the optimizer's.
    {input}
    Parameters
    ----------
    n_bits : int, default=32
    hidden_sizes : tuple of int, default=(128,)
        The frame network's tanh layers, before the temporal pooling and the fusion layer
        of ``n_bits`` units.
    {video}{common}
    Attributes
    ----------
    module_ : MLP
        The frame network, ending in the (linear) fusion layer.
    loss_ : DeepVideoHashingLoss
    history_ : skorch.History
    classes_ : ndarray of shape (n_classes,)
    n_bits_ : int
    n_iter_ : int
    input_mean_, input_scale_ : ndarray of shape (n_features_in,) or None
        The per-feature standardization, over all training frames.
    n_features_in_ : int

    Notes
    -----
    Departures from the paper, and why:

    - the frame features go through an MLP, not a CNN on pixels (skdml's networks take
      feature vectors; give ``module=`` for another network of frames);
    - temporal pooling is the mean over the frames (the paper fuses the frames' features in
      its temporal layer; the mean keeps codes independent of the frame order and of the
      frame count);
    - the pair term is averaged over every pair of a batch rather than summed, so its weight
      does not grow with the batch; distances are in bits (the relaxed Hamming distance),
      so ``tau`` reads as a number of bits;
    - the even-bits term (``balance``) is not in the paper: at ``balance=0`` codes of
      unseen classes fall on a few bits that never change. Set it to 0 for the paper's
      objective.

    References
    ----------
    .. [1] V. E. Liong, J. Lu, Y.-P. Tan and J. Zhou, "Deep video hashing", IEEE
       Transactions on Multimedia 19(6), 2017.

    Examples
    --------
    >>> from skdml.datasets import make_digits_videos
    >>> from skdml.hashing.video import DeepVideoHashing
    >>> videos, y = make_digits_videos(n_videos_per_class=4, random_state=0)
    >>> dvh = DeepVideoHashing(n_bits=16, max_epochs=3, random_state=0).fit(videos, y)
    >>> codes = dvh.transform(videos[:3])
    >>> codes.shape, codes.dtype
    ((3, 16), dtype('bool'))
    """

    _parameter_constraints = dict(_VIDEO_COMMON)

    def __init__(self, n_bits=32, *, hidden_sizes=(128,), tau=None, beta=2.0,
                 quantization=0.01, balance=0.1, weight_decay=1e-4, optimizer=torch.optim.Adam,
                 lr=1e-2, max_epochs=50, batch_size=64, samples_per_class=None,
                 train_split=None, callbacks=None, device="cpu", random_state=None, verbose=0,
                 warm_start=False, n_jobs=None, standardize=True, **kwargs):
        self.n_bits = n_bits
        self.hidden_sizes = hidden_sizes
        self.tau = tau
        self.beta = beta
        self.quantization = quantization
        self.balance = balance
        self.weight_decay = weight_decay
        super().__init__(
            module=MLP, loss=DeepVideoHashingLoss, miner=None, optimizer=optimizer, lr=lr,
            max_epochs=max_epochs, batch_size=batch_size, samples_per_class=samples_per_class,
            train_split=train_split, callbacks=callbacks, device=device,
            random_state=random_state, verbose=verbose, warm_start=warm_start, n_jobs=n_jobs,
            standardize=standardize, **kwargs,
        )

    def _loss_params(self):
        tau = self.n_bits / 4 if self.tau is None else self.tau
        return {"tau": float(tau), "beta": self.beta, "quantization": self.quantization,
                "balance": self.balance}

    def get_params_for(self, prefix):
        params = super().get_params_for(prefix)
        if prefix == "module":
            params.setdefault("output_activation", "identity")  # tanh comes after pooling
        return params

    def _batch_loss(self, embeddings, y, X, *, training):
        """The videos' codes ``tanh(mean over frames)`` and their loss."""
        video, labels = self._batch_videos(y)
        pooled = torch.zeros(len(labels), embeddings.shape[1], dtype=embeddings.dtype,
                             device=embeddings.device).index_add_(0, video, embeddings)
        counts = torch.bincount(video, minlength=len(labels)).to(embeddings.dtype)
        return self.loss_(torch.tanh(pooled / counts[:, None]), labels)

    def _project(self, videos):
        Z, starts, sizes = self._frame_outputs(videos)
        return np.tanh(np.add.reduceat(Z, starts, axis=0) / sizes[:, None])

    @uses_threads
    def transform(self, X):
        """Binary codes of videos, one per video.

        Parameters
        ----------
        X : list of array-like of shape (n_frames_i, n_features), or array-like
            The videos (see the class docstring for the accepted forms).

        Returns
        -------
        codes : ndarray of shape (n_videos, n_bits), dtype=bool
        """
        return self._codes(X)


def _fill_doc(cls):
    common = (_DOC_COMMON_PER_FEATURE.replace("    lr : float, default=1e-3\n", "")
              .replace("    batch_size : int, default=128\n", ""))
    # each placeholder stands at the start of a line, after the docstring's indentation
    cls.__doc__ = (cls.__doc__.replace("    {input}\n", "\n" + _DOC_INPUT.strip("\n") + "\n\n")
                   .replace("    {video}", _DOC_VIDEO.strip("\n") + "\n")
                   .replace("    {common}", common.strip("\n"))
                   .replace("{common}", common.strip("\n")))


_fill_doc(DeepVideoHashing)


class StructuralVideoHashing(_VideoHasher):
    """Nonlinear structural video hashing (Chen, Lu, Feng & Zhou, TCSVT 2018): a binary
    code per frame, a code *matrix* per video.

    A tanh MLP maps every frame to ``n_bits`` outputs in ``(-1, 1)``; the codes of a video's
    frames, in order, are its code matrix ``B_i`` (``n_frames_i x n_bits``,
    :meth:`transform_matrices`), and two videos are compared by the distance between their
    matrices (:func:`pairwise_video_distances`, ``reduce``: by default the mean Hamming
    distance over all pairs of their frames).
    The network minimizes, on batches of class-balanced videos
    (:class:`StructuralVideoHashingLoss`)::

        mean_{i != j} g(1 - l_ij (tau - D(H_i, H_j)))                        (inter-video)
        + scene * sum_t w_t ||h_t - h_t+1||^2 / 4 / sum_t w_t           (scene consistency)
        + quantization * mean_t ||b_t - h_t||^2 + balance * sum_k mean_t(h_tk)^2

    the tutorial's ``L = L_v + lambda_1 L_f + lambda_2 L_r``: ``L_v``, the discriminative
    inter-video term, a generalized logistic ``g`` on the relaxed matrix distance ``D``
    (``l_ij = +1`` for videos of one class, ``-1`` otherwise); ``L_f = sum_i ||R_i
    B_i^T||^2``, with ``R_i`` the differences of consecutive frames, each weighted by
    ``w_t = exp(-||x_t - x_t+1||^2 / sigma^2)`` (``sigma^2`` the mean of these squared steps
    over the training videos, in standardized input units): consecutive frames of a scene
    get close codes, a scene cut (a large step in the input) little pull; ``L_r``, weight
    decay, is the optimizer's ``weight_decay``.

    ``transform`` returns one code per video as every hasher does -- the sign of the mean of
    its frames' outputs, a summary for :class:`~skdml.hashing.HammingNeighbors` -- but the
    method ranks with the code matrices (:meth:`video_distances`).
    {input}
    Parameters
    ----------
    n_bits : int, default=32
    hidden_sizes : tuple of int, default=(128,)
        The frame network's tanh layers before the ``n_bits``-unit tanh output layer.
    {video}    scene : float, default=0.1
        ``lambda_1``, the weight of the scene-consistency term (seed-0 split, 16 / 32
        bits: mAP 0.88 / 0.93 without it, 0.93 / 0.95 at 0.1, 0.84 / 0.91 at 1).
    reduce : {'mean', 'min'}, default='mean'
        The matrix distance, in training and in :meth:`video_distances`: ``'mean'`` (the
        mean Hamming distance over every pair of frames) or ``'min'`` (each frame to the
        nearest frame of the other video, averaged over the frames of both). On the digits
        videos (split of seed 0), ``'min'`` trained worse: its gradient reaches only the
        nearest frames, and the training videos' mAP stayed at 0.86 (0.98 with ``'mean'``);
        held-out mAP 0.78 against 0.93 at 16 bits, 0.86 against 0.95 at 32.
    {common}
    Attributes
    ----------
    module_ : MLP
        The frame network.
    loss_ : StructuralVideoHashingLoss
    history_ : skorch.History
    classes_ : ndarray of shape (n_classes,)
    n_bits_ : int
    n_iter_ : int
    scene_scale_ : float
        ``sigma^2``, the mean squared step between consecutive training frames
        (standardized inputs).
    input_mean_, input_scale_ : ndarray of shape (n_features_in,) or None
    n_features_in_ : int

    Notes
    -----
    Departures from the paper, and why:

    - the distance between code matrices: the tutorial's slide shows a Hamming distance
      matrix between frame codes and no formula; the mean over the frame pairs is used,
      and ``'min'`` (a symmetrized mean of nearest-frame distances) offered;
    - ``R_i``: the paper encodes scene consistency in ``R_i``; here it is the weighted first
      difference of consecutive frames, the weights telling scene cuts apart;
    - quantization and even-bits terms (as in :class:`DeepVideoHashing`) are added: the
      hash function ``sgn(f(x))`` is learned through its tanh relaxation;
    - the inter-video term is averaged over the pairs of a batch rather than summed.

    References
    ----------
    .. [1] Z. Chen, J. Lu, J. Feng and J. Zhou, "Nonlinear structural hashing for scalable
       video search", IEEE Transactions on Circuits and Systems for Video Technology
       28(6), 2018.

    Examples
    --------
    >>> from skdml.datasets import make_digits_videos
    >>> from skdml.hashing.video import StructuralVideoHashing
    >>> videos, y = make_digits_videos(n_videos_per_class=4, random_state=0)
    >>> svh = StructuralVideoHashing(n_bits=16, max_epochs=3, random_state=0).fit(videos, y)
    >>> [m.shape for m in svh.transform_matrices(videos[:2])] == [v.shape[:1] + (16,)
    ...                                                          for v in videos[:2]]
    True
    >>> svh.video_distances(videos[:3]).shape
    (3, 3)
    """

    _parameter_constraints = {
        **_VIDEO_COMMON,
        "scene": [Interval(Real, 0, None, closed="left")],
        "reduce": [StrOptions({"mean", "min"})],
    }

    def __init__(self, n_bits=32, *, hidden_sizes=(128,), tau=None, beta=2.0,
                 quantization=0.01, balance=0.1, scene=0.1, reduce="mean", weight_decay=1e-4,
                 optimizer=torch.optim.Adam, lr=1e-2, max_epochs=50, batch_size=64,
                 samples_per_class=None, train_split=None, callbacks=None, device="cpu",
                 random_state=None, verbose=0, warm_start=False, n_jobs=None,
                 standardize=True, **kwargs):
        self.n_bits = n_bits
        self.hidden_sizes = hidden_sizes
        self.tau = tau
        self.beta = beta
        self.quantization = quantization
        self.balance = balance
        self.scene = scene
        self.reduce = reduce
        self.weight_decay = weight_decay
        super().__init__(
            module=MLP, loss=StructuralVideoHashingLoss, miner=None, optimizer=optimizer,
            lr=lr, max_epochs=max_epochs, batch_size=batch_size,
            samples_per_class=samples_per_class, train_split=train_split,
            callbacks=callbacks, device=device, random_state=random_state, verbose=verbose,
            warm_start=warm_start, n_jobs=n_jobs, standardize=standardize, **kwargs,
        )

    def _loss_params(self):
        tau = self.n_bits / 4 if self.tau is None else self.tau
        return {"tau": float(tau), "beta": self.beta, "scene": self.scene,
                "quantization": self.quantization, "balance": self.balance,
                "reduce": self.reduce}

    def _validate_fit_data(self, X, y, *, reset):
        frames, target = super()._validate_fit_data(X, y, reset=reset)
        if reset:
            steps = self._scene_steps(frames, target)
            self.scene_scale_ = float(steps.mean()) if len(steps) and steps.mean() > 0 else 1.0
        return frames, target

    def _scene_steps(self, frames, target):
        """Squared steps between consecutive frames, in the standardized input units."""
        follows = np.flatnonzero(target[1:, 1] == target[:-1, 1])
        scale = self._learn_input_scaling(frames)[1]  # the network's own input units
        diff = (frames[follows + 1] - frames[follows]) / (1.0 if scale is None else scale)
        return np.einsum("ij,ij->i", diff, diff)

    def _batch_loss(self, embeddings, y, X, *, training):
        """Frame outputs, the batch's video of each frame and its weighted consecutive
        frame pairs, to the loss."""
        video, labels = self._batch_videos(y)
        follows = torch.nonzero((video[1:] == video[:-1]) & (y[1:, 2] == y[:-1, 2] + 1),
                                as_tuple=True)[0]
        first, second = follows, follows + 1
        steps = ((X[second] - X[first]) ** 2).sum(1).to(embeddings.dtype)
        weights = torch.exp(-steps / self.scene_scale_)
        return self.loss_(embeddings, labels[video], (video, first, second, weights))

    def _project(self, videos):
        Z, starts, sizes = self._frame_outputs(videos)
        return np.add.reduceat(Z, starts, axis=0) / sizes[:, None]

    @uses_threads
    def transform(self, X):
        """One code per video: the signs of the mean of its frames' outputs.

        A summary that any Hamming index takes; the method's own ranking uses the code
        matrices (:meth:`transform_matrices`, :meth:`video_distances`).

        Parameters
        ----------
        X : list of array-like of shape (n_frames_i, n_features), or array-like

        Returns
        -------
        codes : ndarray of shape (n_videos, n_bits), dtype=bool
        """
        return self._codes(X)

    @uses_threads
    def transform_matrices(self, X):
        """The code matrix of every video: one code per frame, in the frames' order.

        Parameters
        ----------
        X : list of array-like of shape (n_frames_i, n_features), or array-like

        Returns
        -------
        codes : list of ndarray of shape (n_frames_i, n_bits), dtype=bool
        """
        Z, starts, sizes = self._frame_outputs(X)
        return [Z[s:s + n] >= 0 for s, n in zip(starts, sizes)]

    def video_distances(self, X, Y=None):
        """Distances between videos by their code matrices (:func:`pairwise_video_distances`
        with the learner's ``reduce``).

        Parameters
        ----------
        X : list of array-like of shape (n_frames_i, n_features), or array-like
        Y : same, default=None
            ``None`` means ``X``.

        Returns
        -------
        D : ndarray of shape (n_videos_X, n_videos_Y)
        """
        A = self.transform_matrices(X)
        B = None if Y is None else self.transform_matrices(Y)
        return pairwise_video_distances(A, B, reduce=self.reduce)


_fill_doc(StructuralVideoHashing)
