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

from numbers import Integral, Real

import numpy as np
import torch
from skorch.utils import to_tensor
from torch import nn

from .._param_validation import Interval
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

    def _batch_loss(self, embeddings, y, X, *, training):
        """The loss module's terms plus ``lambda2/2`` times the weights' orthogonality."""
        loss = super()._batch_loss(embeddings, y, X, training=training)
        lambda2 = getattr(self, "lambda2", 0.0)
        if lambda2:
            loss = loss + 0.5 * lambda2 * _orthogonality(self.module_)
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
    standardize : bool, default=True
        Centre and scale each input feature with the training data's mean and standard
        deviation before the network sees it (see
        :class:`~skdml.deep.DeepMetricLearner`); ``False`` feeds ``X`` as it is.
    **kwargs
        skorch sub-parameters (``module__...``, ``optimizer__...``, ``iterator_train__...``).
"""


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
                 random_state=None, verbose=0, warm_start=False, n_jobs=None, standardize=True, **kwargs):
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


DeepHashing.__doc__ = DeepHashing.__doc__.replace("{common}", _DOC_COMMON.strip("\n"))


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
                 warm_start=False, n_jobs=None, standardize=True, **kwargs):
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
    "{common}", _DOC_COMMON.strip("\n"))


class DeepBitHashing(_DeepHasher):
    """DeepBit-style unsupervised hashing (Lin, Lu, Chen & Zhou, CVPR 2016).

    A tanh network ``H = f(x)`` with ``n_bits`` outputs trained on three criteria::

        quantization ||B - H||^2 + balance sum_k mean(H_k)^2
        + invariance ||f(x) - f(T(x))||^2

    (each averaged over a batch) -- codes close to their signs ``B = sgn(H)``, every bit on
    for half of the samples, and codes invariant to a transformation ``T`` of the input.
    DeepBit rotates images; for feature vectors ``T`` adds Gaussian noise of standard
    deviation ``noise_scale`` times each feature's standard deviation, drawn afresh for every
    batch (seeded by ``random_state``). Weight decay through the optimizer.

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
    noise_scale : float, default=0.1
        The transformation's noise, relative to each feature's standard deviation.
    weight_decay : float, default=1e-4
    {common}
    Attributes
    ----------
    module_ : MLP
    loss_ : DeepBitLoss
    history_ : skorch.History
    n_bits_ : int
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    References
    ----------
    .. [1] K. Lin, J. Lu, C.-S. Chen and J. Zhou, "Learning compact binary descriptors with
       unsupervised deep neural networks", CVPR 2016.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdml.hashing.deep import DeepBitHashing
    >>> X, _ = load_digits(return_X_y=True)
    >>> DeepBitHashing(n_bits=8, max_epochs=2, random_state=0).fit(X / 16).transform(
    ...     X[:2] / 16).shape
    (2, 8)
    """

    _parameter_constraints = {
        **_COMMON,
        "balance": [Interval(Real, 0, None, closed="left")],
        "invariance": [Interval(Real, 0, None, closed="left")],
        "noise_scale": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, n_bits=32, *, hidden_sizes=(), balance=1.0, invariance=1.0,
                 noise_scale=0.1, weight_decay=1e-4, optimizer=torch.optim.Adam, lr=1e-3,
                 max_epochs=50, batch_size=128, train_split=None, callbacks=None,
                 device="cpu", random_state=None, verbose=0, warm_start=False, n_jobs=None,
                 standardize=True, **kwargs):
        self.n_bits = n_bits
        self.hidden_sizes = hidden_sizes
        self.balance = balance
        self.invariance = invariance
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

    def _loss_params(self):
        return {"balance": self.balance}

    def _validate_fit_data(self, X, y, *, reset):
        """The data, and at ``fit`` the features' standard deviations (the noise's scale)."""
        X, y = super()._validate_fit_data(X, y, reset=reset)
        if reset:
            self._feature_std = torch.as_tensor(
                np.std(np.asarray(X, dtype=np.float64), axis=0), dtype=torch.float32)
        return X, y

    def _batch_loss(self, embeddings, y, X, *, training):
        """Quantization and balance (the loss module) plus the invariance term."""
        loss = super()._batch_loss(embeddings, y, X, training=training)
        if self.invariance and X is not None and self.noise_scale > 0:
            Xt = to_tensor(X, device=self.device)
            scale = self._feature_std.to(device=Xt.device, dtype=Xt.dtype) * self.noise_scale
            H_t = self.infer(Xt + torch.randn_like(Xt) * scale)
            loss = loss + self.invariance * ((embeddings - H_t) ** 2).sum(1).mean()
        return loss


DeepBitHashing.__doc__ = DeepBitHashing.__doc__.replace("{common}", _DOC_COMMON.strip("\n"))
