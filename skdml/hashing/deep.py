"""Deep hashing on the skorch base of :mod:`skdml.deep`: DH, SDH and DeepBit.

Importing this module imports torch; ``skdml.hashing`` hands these names out lazily.

Each hasher is a :class:`~skdml.deep.DeepMetricLearner` whose network is a tanh
:class:`~skdml.deep.MLP` ending in ``n_bits`` units: its output ``H`` lies in ``(-1, 1)`` and
the code is ``B = sgn(H)``, returned by ``transform`` as ``bool`` bits (see
:class:`~skdml.hashing._base.HasherMixin`). Training alternates, batch by batch, the binary
update ``B = sgn(H)`` (``H`` detached) with a gradient step on the network for that ``B``,
as the papers do. The losses are :class:`~skdml.deep.losses.MetricLoss` subclasses called
as ``loss(H, labels, tuples)``; the
terms that need the network (the orthogonality of its weights) or the input (DeepBit's
invariance) are added in the ``_batch_loss`` hook of the learner template; the hashers
override hooks only, and copy nothing of the training loop.
"""

import math
from numbers import Integral, Real

import numpy as np
import torch
from skorch.utils import to_tensor
from torch import nn

from .._param_validation import Interval, StrOptions
from ..deep._base import DeepMetricLearner
from ..deep._modules import MLP
from ..deep._tuples import label_masks
from ..deep.distances import LpDistance
from ..deep.losses import MetricLoss, _check_real
from ._base import HasherMixin

__all__ = [
    "DeepBitHashing",
    "DeepBitLoss",
    "DeepHashing",
    "DeepHashingLoss",
    "SupervisedDeepHashing",
]


def _quantization_terms(H):
    """``||B - H||^2`` per sample, ``B = sgn(H)`` held fixed (the alternating B-step)."""
    B = torch.where(H.detach() >= 0, 1.0, -1.0).to(H.dtype)
    return ((B - H) ** 2).sum(1)


class _CodeLoss(MetricLoss):
    """Base of the hashing losses: per-batch terms of the network outputs ``H``, no tuples;
    ``labels`` may be None for the unsupervised terms (every sample then has one label)."""

    tuple_kind = None
    needs_positive_pairs = False

    def forward(self, embeddings, labels=None, tuples=None):
        if labels is None:
            labels = torch.zeros(len(embeddings), dtype=torch.long, device=embeddings.device)
        return super().forward(embeddings, labels, tuples)


class DeepHashingLoss(_CodeLoss):
    """The data terms of DH / SDH (Liong et al. 2015), per sample of a batch ``H``::

        1/2 ||B - H||^2 - lambda1/2 (tr(cov(H)) + alpha (S_B - S_W))

    ``B = sgn(H)`` (fixed); ``tr(cov(H))`` the variance of the bits over the batch (the
    paper's ``tr(H H^T) / N`` on centred outputs); ``S_W`` / ``S_B`` the mean ``distance``
    (squared Euclidean by default, which on codes is four times the Hamming distance)
    between outputs of the same / different classes over every pair of the batch (SDH
    only, ``alpha > 0``; ``alpha = 0`` is unsupervised DH and ignores the labels).

    The objective mixes batch statistics (a variance, two pair means), so there is no
    ``reducer``: :meth:`compute` returns it as the batch's single term.

    Parameters
    ----------
    lambda1 : float, default=1.0
    alpha : float, default=0.0
    distance : distance, default=LpDistance(power=2)
        ``d`` of ``S_W`` and ``S_B``; a distance (not a similarity).
    embedding_regularizer : regularizer or None, default=None
    """

    distance_kind = "distance"
    _reprs = ("lambda1", "alpha")

    def __init__(self, lambda1=1.0, alpha=0.0, *, distance=None, embedding_regularizer=None):
        super().__init__(distance=distance, embedding_regularizer=embedding_regularizer)
        self.lambda1 = _check_real(lambda1, "lambda1", "DeepHashingLoss", low=0, strict=False)
        self.alpha = _check_real(alpha, "alpha", "DeepHashingLoss", low=0, strict=False)

    def default_distance(self):
        return LpDistance(power=2)

    def compute(self, embeddings, labels, tuples):
        H = embeddings
        var = ((H - H.mean(0)) ** 2).sum(1).mean()
        loss = 0.5 * _quantization_terms(H).mean() - 0.5 * self.lambda1 * var
        if self.alpha > 0:
            D = self.distance(H)
            same, dis = label_masks(labels)
            s_w = D[same].mean() if same.any() else H.sum() * 0.0
            s_b = D[dis].mean() if dis.any() else H.sum() * 0.0
            loss = loss - 0.5 * self.lambda1 * self.alpha * (s_b - s_w)
        return loss.reshape(1)


class DeepBitLoss(_CodeLoss):
    """The code terms of DeepBit (Lin et al. 2016) on a batch ``H`` in ``(-1, 1)``::

        ||B - H||^2 + balance * sum_k mean(H_k)^2

    quantization loss (one term per sample, made a scalar by the ``reducer``, the mean by
    default) plus even bit distribution (each bit's mean over the batch near 0, i.e. on for
    half the samples -- the paper's ``(mu_k - 0.5)^2`` for ``{0, 1}`` bits). The invariance
    term needs the transformed input and is added by :class:`DeepBitHashing`'s
    ``_batch_loss``.

    Parameters
    ----------
    balance : float, default=1.0
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None
    """

    _reprs = ("balance",)

    def __init__(self, balance=1.0, *, reducer=None, embedding_regularizer=None):
        super().__init__(reducer=reducer, embedding_regularizer=embedding_regularizer)
        self.balance = _check_real(balance, "balance", "DeepBitLoss", low=0, strict=False)

    def compute(self, embeddings, labels, tuples):
        return _quantization_terms(embeddings)

    def penalty(self, embeddings, labels, tuples):
        return self.balance * (embeddings.mean(0) ** 2).sum()


def _orthogonality(module):
    """``sum_layers ||W W^T - I||_F^2``, on the smaller Gram matrix of each weight matrix."""
    total = None
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            W = layer.weight
            G = W @ W.T if W.shape[0] <= W.shape[1] else W.T @ W
            term = ((G - torch.eye(len(G), dtype=G.dtype, device=G.device)) ** 2).sum()
            total = term if total is None else total + term
    return total


_COMMON = {
    k: v for k, v in DeepMetricLearner._parameter_constraints.items()
    if k not in ("module", "loss", "miner")
}
_COMMON.update({
    "n_bits": [Interval(Integral, 1, None, closed="left")],
    "hidden_sizes": [tuple, list],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "standardize": ["boolean", StrOptions({"global"})],
})


class _DeepHasher(HasherMixin, DeepMetricLearner):
    """Shared plumbing: the tanh MLP ending in ``n_bits`` units, codes, unsupervised fit."""

    _supervised = False
    _collapse_codes = True  # the collapse detector counts identical codes

    @property
    def n_bits_(self):
        return self.embedding_dim_

    def _project(self, X):
        return DeepMetricLearner.transform(self, X)

    def _learn_input_scaling(self, samples):
        """The template's hook: ``standardize='global'`` too (see the parameter)."""
        return _hasher_input_scaling(self, samples)

    def _loss_params(self):
        return {}

    def get_params_for(self, prefix):
        """skorch's sub-parameters, with the hasher's named parameters filled in."""
        params = dict(super().get_params_for(prefix))
        if prefix == "module":
            params.setdefault("hidden_sizes", (*tuple(self.hidden_sizes), int(self.n_bits)))
            params.setdefault("activation", "tanh")
        elif prefix == "loss":
            for k, v in self._loss_params().items():
                params.setdefault(k, v)
        elif prefix == "optimizer":
            params.setdefault("weight_decay", self.weight_decay)
        return params

    def _check_module_output(self):
        if self.embedding_dim_ != int(self.n_bits):
            raise ValueError(
                f"{type(self).__name__}: the network returns {self.embedding_dim_} values per "
                f"sample but n_bits={self.n_bits}; the last layer must have n_bits units."
            )

    def initialize_criterion(self):
        super().initialize_criterion()
        self._check_module_output()
        return self

    def _validate_target(self, y, n_samples, *, reset):
        """Class labels for the supervised hasher; for the unsupervised ones ``y`` is
        ignored and every sample gets one pseudo-class, so that the class-balanced sampler
        draws plain random batches."""
        if self._supervised:
            return super()._validate_target(y, n_samples, reset=reset)
        return np.zeros(n_samples, dtype=np.int64)

    #: the parameter weighing the layers' orthogonality (DH's lambda2), if the hasher has it
    _orthogonality_param = "lambda2"

    def _batch_loss(self, embeddings, y, X, *, training):
        """The loss module's terms plus half the weight named by ``_orthogonality_param``
        times the weights' orthogonality."""
        loss = super()._batch_loss(embeddings, y, X, training=training)
        weight = getattr(self, self._orthogonality_param, 0.0)
        if weight:
            loss = loss + 0.5 * weight * _orthogonality(self.module_)
        return loss

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self._supervised
        return tags


_DOC_COMMON = """
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
    lr : float, default=1e-3
    max_epochs : int, default=50
    batch_size : int, default=128
    train_split : callable or None, default=None
    callbacks : list or None, default=None
    device : str or torch.device, default='cpu'
    random_state : int, RandomState instance or None, default=None
        Seeds the initialization, the batches and torch's generators during fit.
    verbose : int, default=0
    warm_start : bool, default=False
    n_jobs : int or None, default=None
        Threads of torch, BLAS and numba during ``fit``, ``partial_fit`` and ``transform``
        (restored afterwards): ``None`` means 1 unless in a
        ``joblib.parallel_config(n_jobs=...)`` context, ``-1`` means all cores
        (scikit-learn's meaning). One thread is the fastest for small networks on the CPU
        and never oversubscribes a busy machine; a large network may gain from more.
{standardize}    **kwargs
        skorch sub-parameters (``module__...``, ``optimizer__...``, ``iterator_train__...``).
"""


_DOC_STANDARDIZE = """    standardize : 'global' or bool, default={default}
        How ``X`` is scaled before the network sees it (``input_mean_``,
        ``input_scale_``, learned at ``fit``). ``'global'``: each feature centred, then all
        divided by *one* scale, the standard deviation of the centred training data, which
        keeps the relative variances of the features, as ITQ's PCA sees them (per-feature
        scaling blows digits' near-constant border pixels up into noise: DH's mAP falls by
        0.03 at 32 and 64 bits, deep SDH's by 0.04). ``True``: per-feature standardization
        (see :class:`~skdml.deep.DeepMetricLearner`), for features in unrelated units.
        ``False``: ``X`` as it is.
"""
#: The parameters every deep hasher shares, for its docstring: ``standardize='global'`` by
#: default (image hashers) or ``True`` (``_DOC_COMMON_PER_FEATURE``: frames, two modalities).
_DOC_COMMON = _DOC_COMMON.replace("{standardize}", _DOC_STANDARDIZE.format(default="'global'"))
_DOC_COMMON_PER_FEATURE = _DOC_COMMON.replace("default='global'", "default=True", 1)


def _hasher_input_scaling(learner, samples):
    """``(input_mean_, input_scale_)``: with ``standardize='global'`` the per-feature means
    and one scale (repeated per feature, the template's form); else the template's."""
    if learner.standardize != "global":
        return DeepMetricLearner._learn_input_scaling(learner, samples)
    samples = np.asarray(samples, dtype=np.float64)
    mean = samples.mean(axis=0)
    scale = (samples - mean).std()
    if scale <= 10 * np.finfo(np.float64).eps * max(np.abs(mean).max(), 1.0):
        scale = 1.0  # constant data
    return mean, np.full(mean.shape, scale)


def _scale_vector(learner, n_features):
    """The per-feature divisor of the input scaling (ones without scaling)."""
    scale = getattr(learner, "input_scale_", None)
    return np.ones(n_features) if scale is None else np.asarray(scale, dtype=np.float64)


def _image_side(n_features):
    side = math.isqrt(n_features)
    return side if side * side == n_features and side >= 3 else None


def _resolve_transform(transformation, n_features, name):
    """``'rotation'`` or ``'noise'`` for the given ``transformation`` and input width."""
    side = _image_side(n_features)
    if transformation == "auto":
        return "rotation" if side else "noise"
    if transformation == "rotation" and side is None:
        raise ValueError(
            f"{name}: transformation='rotation' needs square images flattened row by row "
            f"(n_features = side ** 2, side >= 3), got {n_features} features; use "
            "transformation='noise' for feature vectors."
        )
    return transformation


def _rotation_matrix(side, degrees):
    """The ``(side**2, side**2)`` matrix ``R`` rotating a flattened ``side x side`` image
    about its centre (bilinear, zero outside): ``rotated = R @ image``."""
    from scipy.ndimage import rotate

    basis = np.eye(side * side).reshape(-1, side, side)
    rotated = rotate(basis, degrees, axes=(2, 1), reshape=False, order=1, mode="constant")
    return rotated.reshape(side * side, side * side).T


def _rotation_maps(learner, n_features):
    """``[(C(theta), A, c)]`` with ``T_theta(x) = x @ A + c`` in the network's input units:
    un-scale, rotate, scale again (the rotation acts on the input's own pixels)."""
    side = _image_side(n_features)
    R, m = float(learner.rotation_range), int(learner.n_rotations)
    mean = getattr(learner, "input_mean_", None)
    mean = np.zeros(n_features) if mean is None else np.asarray(mean, dtype=np.float64)
    scale = _scale_vector(learner, n_features)
    maps = []
    for j in range(1, m + 1):
        theta = R * j / (m + 1)
        for angle in (-theta, theta):
            rot = _rotation_matrix(side, angle)
            A = (scale[:, None] * rot.T) / scale[None, :]
            c = (mean @ rot.T - mean) / scale
            maps.append(((R - theta) / R, torch.as_tensor(A, dtype=torch.float32),
                         torch.as_tensor(c, dtype=torch.float32)))
    return maps


def _pairwise_far(H):
    """The TPAMI pairwise term on pairs of different samples: the batch mean over ``i != j``
    of ``K - d_ij``, ``d_ij = ||h_i - h_j||^2 / 4`` (the Hamming distance on codes)."""
    n, K = H.shape
    if n < 2:
        return H.sum() * 0.0
    sq = (H ** 2).sum(1)
    total = 2 * n * sq.sum() - 2 * (H.sum(0) ** 2).sum()  # sum_{i, j} ||h_i - h_j||^2
    return K - total / (4 * n * (n - 1))


class DeepHashing(_DeepHasher):
    """Deep hashing (DH, Liong, Lu, Wang, Hu & Zhou, CVPR 2015), unsupervised.

    A tanh network ``H = f(x)`` with ``n_bits`` outputs is trained to minimize, per
    sample of a batch::

        1/2 ||B - H||^2 - lambda1/2 tr(cov(H)) + lambda2/2 sum_l ||W_l W_l^T - I||^2
        + lambda3/2 ||W||^2

    -- quantization loss to the codes ``B = sgn(H)``, maximal variance of the bits (balanced,
    informative bits), near-orthogonal layer weights (decorrelated units; for a non-square
    layer the smaller Gram matrix is used) and weight decay (``weight_decay``, the paper's
    lambda3, through the optimizer). ``B`` and the network are updated alternately, batch
    by batch. The code of ``x`` is ``sgn(f(x))``.

    Parameters
    ----------
    n_bits : int, default=32
    hidden_sizes : tuple of int, default=()
        Hidden tanh layers before the ``n_bits``-unit output layer. The default is the
        one-layer network, best on low-dimensional features such as digits' 64 pixels
        (with a hidden layer of 64 or 128 units mAP fell by 0.1 there); give hidden layers
        for raw high-dimensional inputs.
    lambda1 : float, default=1.0
        Weight of the variance term.
    lambda2 : float, default=0.1
        Weight of the orthogonality term (on digits 0.1 beat the 1e-3 of some
        re-implementations by 0.07 mAP).
    weight_decay : float, default=1e-4
        lambda3: L2 penalty on the weights (the optimizer's ``weight_decay``).
    {common}
    Attributes
    ----------
    module_ : MLP
    loss_ : DeepHashingLoss
    history_ : skorch.History
    n_bits_ : int
    n_iter_ : int
        Epochs trained in the last fit.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    References
    ----------
    .. [1] V. E. Liong, J. Lu, G. Wang, P. Moulin and J. Zhou, "Deep hashing for compact
       binary codes learning", CVPR 2015.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdml.hashing.deep import DeepHashing
    >>> X, _ = load_digits(return_X_y=True)
    >>> dh = DeepHashing(n_bits=16, max_epochs=3, random_state=0).fit(X)
    >>> codes = dh.transform(X[:4])
    >>> codes.shape, codes.dtype
    ((4, 16), dtype('bool'))
    """

    _parameter_constraints = {
        **_COMMON,
        "lambda1": [Interval(Real, 0, None, closed="left")],
        "lambda2": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, n_bits=32, *, hidden_sizes=(), lambda1=1.0, lambda2=0.1,
                 weight_decay=1e-4, optimizer=torch.optim.Adam, lr=1e-3, max_epochs=50,
                 batch_size=128, train_split=None, callbacks=None, device="cpu",
                 random_state=None, verbose=0, warm_start=False, n_jobs=None,
                 standardize="global", **kwargs):
        self.n_bits = n_bits
        self.hidden_sizes = hidden_sizes
        self.lambda1 = lambda1
        self.lambda2 = lambda2
        self.weight_decay = weight_decay
        super().__init__(
            module=MLP, loss=DeepHashingLoss, miner=None, optimizer=optimizer, lr=lr,
            max_epochs=max_epochs, batch_size=batch_size, samples_per_class=None,
            train_split=train_split, callbacks=callbacks, device=device,
            random_state=random_state, verbose=verbose, warm_start=warm_start, n_jobs=n_jobs,
            standardize=standardize,
            **kwargs,
        )

    def _loss_params(self):
        return {"lambda1": self.lambda1, "alpha": 0.0}


DeepHashing.__doc__ = DeepHashing.__doc__.replace("{common}", _DOC_COMMON.strip())


class SupervisedDeepHashing(DeepHashing):
    """Supervised deep hashing (SDH, Liong et al., CVPR 2015): DH plus class separation.

    :class:`DeepHashing`'s objective with the variance term extended by
    ``alpha (S_B - S_W)``: ``S_W`` and ``S_B`` are the mean squared distances between the
    network outputs of pairs of the same class and of different classes, over every pair of
    a class-balanced batch (the paper's ``tr(Sigma_B - Sigma_W)`` from similar / dissimilar
    pairs), so that codes of one class come together and codes of different classes apart::

        1/2 ||B - H||^2 - lambda1/2 (tr(cov(H)) + alpha (S_B - S_W))
        + lambda2/2 sum_l ||W_l W_l^T - I||^2 + lambda3/2 ||W||^2

    ``fit(X, y)`` takes class labels of any hashable type.

    Parameters
    ----------
    n_bits : int, default=32
    hidden_sizes : tuple of int, default=(256,)
        Hidden tanh layers before the ``n_bits``-unit output layer.
    alpha : float, default=10.0
        Weight of the class-separation term (on digits at 32 bits: 0.85 mAP with 256
        hidden units and ``alpha=10``, 0.74 with 128 units and ``alpha=1``).
    lambda1 : float, default=1.0
    lambda2 : float, default=0.1
    weight_decay : float, default=1e-4
    samples_per_class : int or None, default=None
        Samples of each class in a batch (see :class:`~skdml.deep.ClassBalancedBatchSampler`).
    {common}
    Attributes
    ----------
    module_ : MLP
    loss_ : DeepHashingLoss
    history_ : skorch.History
    classes_ : ndarray of shape (n_classes,)
    n_bits_ : int
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    References
    ----------
    .. [1] V. E. Liong, J. Lu, G. Wang, P. Moulin and J. Zhou, "Deep hashing for compact
       binary codes learning", CVPR 2015.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdml.hashing.deep import SupervisedDeepHashing
    >>> X, y = load_digits(return_X_y=True)
    >>> sdh = SupervisedDeepHashing(n_bits=16, max_epochs=3, random_state=0).fit(X / 16, y)
    >>> sdh.transform(X[:2] / 16).shape
    (2, 16)
    """

    _supervised = True
    _parameter_constraints = {
        **DeepHashing._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="left")],
        "samples_per_class": [Interval(Integral, 2, None, closed="left"), None],
    }

    def __init__(self, n_bits=32, *, hidden_sizes=(256,), alpha=10.0, lambda1=1.0,
                 lambda2=0.1, weight_decay=1e-4, optimizer=torch.optim.Adam, lr=1e-3,
                 max_epochs=50, batch_size=128, samples_per_class=None, train_split=None,
                 callbacks=None, device="cpu", random_state=None, verbose=0,
                 warm_start=False, n_jobs=None, standardize="global", **kwargs):
        self.alpha = alpha
        super().__init__(
            n_bits=n_bits, hidden_sizes=hidden_sizes, lambda1=lambda1, lambda2=lambda2,
            weight_decay=weight_decay, optimizer=optimizer, lr=lr, max_epochs=max_epochs,
            batch_size=batch_size, train_split=train_split, callbacks=callbacks,
            device=device, random_state=random_state, verbose=verbose,
            warm_start=warm_start, n_jobs=n_jobs, standardize=standardize, **kwargs,
        )
        self.samples_per_class = samples_per_class

    def _loss_params(self):
        return {"lambda1": self.lambda1, "alpha": self.alpha}


SupervisedDeepHashing.__doc__ = SupervisedDeepHashing.__doc__.replace(
    "{common}", _DOC_COMMON.strip())


class DeepBitHashing(_DeepHasher):
    """DeepBit: unsupervised binary descriptors (Lin, Lu, Chen & Zhou, CVPR 2016 / TPAMI).

    A tanh network ``H = f(x)`` with ``n_bits`` outputs, trained on the CVPR paper's three
    criteria (its Eq. 1--4) plus the pairwise term of the TPAMI extension::

        ||B - H||^2 + balance sum_k mean(H_k)^2
        + invariance sum_theta C(theta) ||f(x) - f(T_theta(x))||^2
        + pairwise mean_{i != j} (K - ||h_i - h_j||^2 / 4)
        + orthogonality/2 sum_l ||W_l W_l^T - I||^2

    (each averaged over a batch): codes close to their signs ``B = sgn(H)`` (quantization),
    every bit on for half of the samples (even distribution: the paper's
    ``(mu_k - 0.5)^2`` for ``{0, 1}`` bits), codes unchanged when the input is transformed
    (invariance) and, from the TPAMI paper's ``y d + (1 - y)(K - d)`` on pairs, codes of
    two different samples far apart in the relaxed Hamming distance
    ``d = ||h_i - h_j||^2 / 4`` (``K = n_bits``); the similar pairs ``y = 1`` of that term
    are a sample and its transformed copy, i.e. the invariance term. The last term, the
    near-orthogonality of the layers' weights of :class:`DeepHashing`, is not DeepBit's
    (see Notes).

    The transformation ``T_theta``:

    - ``'rotation'`` (DeepBit's): the input is a square image, flattened row by row
      (``n_features = side ** 2``, e.g. digits' 8 x 8), rotated about its centre by
      ``theta`` in ``+-rotation_range * j / (n_rotations + 1)``, ``j = 1 .. n_rotations``
      (bilinear, zero outside; in the input's own units, before the standardization),
      weighted by the paper's triangular ``C(theta) = (R - |theta|) / R`` with
      ``R = rotation_range``, so that small rotations count most;
    - ``'noise'`` (for feature vectors that are not images): Gaussian noise of
      ``noise_scale`` times each feature's standard deviation, drawn afresh for every
      batch (seeded by ``random_state``), weight 1;
    - ``'auto'`` (the default): ``'rotation'`` when ``n_features`` is a square of at least
      9, else ``'noise'``. A feature vector of 16, 25, 36, 64, ... features that is *not*
      an image should say ``transformation='noise'``.

    Parameters
    ----------
    n_bits : int, default=32
    hidden_sizes : tuple of int, default=()
        Hidden tanh layers before the output layer (none by default, as for
        :class:`DeepHashing`).
    balance : float, default=1.0
        Weight of the even-distribution term.
    invariance : float, default=1.0
        Weight of the invariance term.
    pairwise : float, default=2.0
        Weight of the TPAMI pairwise term on pairs of different samples; ``0`` is the CVPR
        objective.
    orthogonality : float, default=0.1
        Weight of the layers' orthogonality (``0``: DeepBit's objective).
    transformation : {'auto', 'rotation', 'noise'}, default='auto'
        The transformation the codes learn to ignore (see above).
    rotation_range : float, default=15.0
        ``R``, the largest rotation in degrees (``'rotation'``).
    n_rotations : int, default=2
        Rotations on each side of 0 (``'rotation'``): ``2`` with ``R = 15`` gives
        ``theta = +-5, +-10`` degrees, weighted 2/3 and 1/3.
    noise_scale : float, default=0.1
        The noise, relative to each feature's standard deviation (``'noise'``).
    weight_decay : float, default=1e-4
    {common}
    Attributes
    ----------
    module_ : MLP
    loss_ : DeepBitLoss
    history_ : skorch.History
    transformation_ : {'rotation', 'noise'}
        The transformation used in the last fit.
    n_bits_ : int
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    Notes
    -----
    Departures from the papers, and why:

    - the network is an MLP on the input (one tanh layer by default), not VGG-16 fine-tuned
      from ImageNet: nothing is downloaded, and digits' 64 pixels need no convolution;
    - the invariance and pairwise terms compare the relaxed outputs ``H`` (not the binary
      ``B``, which has no gradient); the pairwise term averages over the batch's pairs of
      different samples rather than summing over a mined list;
    - ``C(theta) = (R - |theta|) / R`` is the paper's triangular weight on the angles
      strictly inside ``(-R, R)`` (at ``+-R`` it would be 0);
    - the orthogonality term is DH's, not DeepBit's: the paper fine-tunes a VGG-16 whose
      features are diverse to begin with, while a network trained from scratch on these
      terms gives many bits the same split;
    - ``standardize='global'`` (the default here): see the parameter.

    On digits (``benchmarks/bench_hashing_quality.py``, 5 seeds, mAP at 32 / 64 bits; ITQ
    0.656 / 0.689): 0.670 / 0.696 at the defaults, 0.626 / 0.643 with the CVPR objective
    (``pairwise=0, orthogonality=0``), 0.634 / 0.656 without the orthogonality, and
    0.681 / 0.712 with ``transformation='noise'``: on 8 x 8 images a rotation by 5 or 10
    degrees, resampled bilinearly, changes the pixels more than small noise does.

    References
    ----------
    .. [1] K. Lin, J. Lu, C.-S. Chen and J. Zhou, "Learning compact binary descriptors with
       unsupervised deep neural networks", CVPR 2016.
    .. [2] K. Lin, J. Lu, C.-S. Chen, J. Zhou and M.-T. Sun, "Unsupervised deep learning of
       compact binary descriptors", IEEE TPAMI 41(6), 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdml.hashing.deep import DeepBitHashing
    >>> X, _ = load_digits(return_X_y=True)
    >>> deepbit = DeepBitHashing(n_bits=8, max_epochs=2, random_state=0).fit(X)
    >>> deepbit.transformation_, deepbit.transform(X[:2]).shape
    ('rotation', (2, 8))
    """

    _parameter_constraints = {
        **_COMMON,
        "balance": [Interval(Real, 0, None, closed="left")],
        "invariance": [Interval(Real, 0, None, closed="left")],
        "pairwise": [Interval(Real, 0, None, closed="left")],
        "orthogonality": [Interval(Real, 0, None, closed="left")],
        "transformation": [StrOptions({"auto", "rotation", "noise"})],
        "rotation_range": [Interval(Real, 0, 180, closed="neither")],
        "n_rotations": [Interval(Integral, 1, None, closed="left")],
        "noise_scale": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, n_bits=32, *, hidden_sizes=(), balance=1.0, invariance=1.0,
                 pairwise=2.0, orthogonality=0.1, transformation="auto",
                 rotation_range=15.0, n_rotations=2,
                 noise_scale=0.1, weight_decay=1e-4, optimizer=torch.optim.Adam, lr=1e-3,
                 max_epochs=50, batch_size=128, train_split=None, callbacks=None,
                 device="cpu", random_state=None, verbose=0, warm_start=False, n_jobs=None,
                 standardize="global", **kwargs):
        self.n_bits = n_bits
        self.hidden_sizes = hidden_sizes
        self.balance = balance
        self.invariance = invariance
        self.pairwise = pairwise
        self.orthogonality = orthogonality
        self.transformation = transformation
        self.rotation_range = rotation_range
        self.n_rotations = n_rotations
        self.noise_scale = noise_scale
        self.weight_decay = weight_decay
        super().__init__(
            module=MLP, loss=DeepBitLoss, miner=None, optimizer=optimizer, lr=lr,
            max_epochs=max_epochs, batch_size=batch_size, samples_per_class=None,
            train_split=train_split, callbacks=callbacks, device=device,
            random_state=random_state, verbose=verbose, warm_start=warm_start, n_jobs=n_jobs,
            standardize=standardize,
            **kwargs,
        )

    _orthogonality_param = "orthogonality"

    def _loss_params(self):
        return {"balance": self.balance}

    def _validate_fit_data(self, X, y, *, reset):
        """The data; at ``fit`` also the transformation (``transformation_``) and the features'
        standard deviations (the noise's scale)."""
        X, y = super()._validate_fit_data(X, y, reset=reset)
        if reset:
            self.transformation_ = _resolve_transform(self.transformation, X.shape[1],
                                                      type(self).__name__)
            self._feature_std = np.std(np.asarray(X, dtype=np.float64), axis=0)
            self._maps = None
        return X, y

    def _transformations(self, Xt):
        """``[(C(theta), T_theta(X))]`` for the batch ``Xt`` (in the network's input units)."""
        if self.transformation_ == "noise":
            if self.noise_scale <= 0:
                return []
            std = self._feature_std / _scale_vector(self, len(self._feature_std))
            std = torch.as_tensor(std, dtype=Xt.dtype, device=Xt.device)
            return [(1.0, Xt + torch.randn_like(Xt) * std * self.noise_scale)]
        if self._maps is None:
            self._maps = _rotation_maps(self, Xt.shape[1])
        return [(w, Xt @ A.to(Xt) + c.to(Xt)) for w, A, c in self._maps]

    def _batch_loss(self, embeddings, y, X, *, training):
        """Quantization and balance (the loss module) plus the invariance and pairwise
        terms."""
        loss = super()._batch_loss(embeddings, y, X, training=training)
        if self.invariance and X is not None:
            Xt = to_tensor(X, device=self.device)
            for weight, X_theta in self._transformations(Xt):
                H_t = self.infer(X_theta)
                loss = loss + self.invariance * weight * ((embeddings - H_t) ** 2).sum(1).mean()
        if self.pairwise:
            loss = loss + self.pairwise * _pairwise_far(embeddings)
        return loss


DeepBitHashing.__doc__ = DeepBitHashing.__doc__.replace(
    "{common}", _DOC_COMMON.strip())
