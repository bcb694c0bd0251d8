"""DTML and DSTML: deep transfer metric learning (Hu, Lu & Tan).

A labeled source domain and an unlabeled target domain come together in ``fit(X, y)``, the
target samples marked ``y == -1`` (scikit-learn's semi-supervised convention).
"""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from skorch.callbacks import Callback, LRScheduler
from skorch.utils import to_tensor
from torch import nn
from torch.optim.lr_scheduler import ExponentialLR

from .._param_validation import Interval
from ._base import DeepMetricLearner, _dataset_labels
from ._domains import DomainBatchSampler as _DomainBatchSampler
from ._domains import encode_domains
from ._modules import MLP
from ._neighbors import TARGET, neighbor_pairs, target_mask
from .losses import TransferObjective

__all__ = ["DSTML", "DTML", "TransferObjective", "neighbor_pairs", "target_mask"]


class _ObjectiveConvergence(Callback):
    """Stop when the epoch's training objective changes by less than ``tol``.

    The papers' test, ``|J_t - J_{t-1}| < epsilon``; records ``converged`` in the history,
    and warns at the end of training when it never held (``tol > 0``).
    """

    def __init__(self, tol=1e-4):
        self.tol = tol

    def on_epoch_end(self, net, **kwargs):
        losses = [row.get("train_loss") for row in net.history[-2:]]
        if len(losses) == 2 and None not in losses and abs(losses[1] - losses[0]) < self.tol:
            net.history.record("converged", True)
            raise KeyboardInterrupt  # skorch's way to end training (as EarlyStopping does)

    def on_train_end(self, net, **kwargs):
        if self.tol > 0 and not net.history[-1].get("converged", False):
            warnings.warn(
                f"{type(net).__name__} stopped after max_epochs={net.max_epochs} epochs "
                f"before the objective changed by less than tol={self.tol} between epochs. "
                "Raise max_epochs or tol.",
                ConvergenceWarning,
                stacklevel=2,
            )


class DTML(DeepMetricLearner):
    r"""Deep transfer metric learning: a tanh MLP trained on a labeled source domain while
    the distributions of source and unlabeled target embeddings are pulled together.

    The network ``f`` minimizes

    ``J = S_c - alpha S_b + beta D_ts(X_s, X_t) + gamma sum_m (|W_m|_F^2 + |b_m|^2)``

    where ``S_c`` is the mean squared distance ``|f(x_i) - f(x_j)|^2`` from each source
    sample to its ``k1`` nearest same-class neighbors, ``S_b`` the same to its ``k2`` nearest
    other-class samples (neighborhoods found in the input space), and ``D_ts`` the maximum
    mean discrepancy ``|mean f(x_s) - mean f(x_t)|^2`` between the mean source and target
    embeddings (:class:`TransferObjective`). Every batch holds both domains: class-balanced
    source samples and target samples in the proportion of the data. ``beta=0`` gives the
    same metric learner without transfer.

    **Input.** ``fit(X, y)``: source and target samples stacked in ``X``; ``y`` holds the
    source class labels and ``-1`` for every target sample, as scikit-learn's
    semi-supervised estimators expect, so the learner works in ``Pipeline`` and
    ``GridSearchCV``. String labels need an object array holding the integer ``-1`` for the
    target samples. ``transform(X)`` embeds samples of either domain. Every fit needs
    both domains: in ``GridSearchCV`` pass ``cv=StratifiedKFold(...)`` (stratified on
    ``y``, ``-1`` included), since a transformer's default ``KFold`` may give a fold no
    target sample.

    **Training.** As in the paper, plain gradient descent whose learning rate decays by
    ``lr_decay`` (x0.95) per epoch, stopped when the epoch's objective changes by less
    than ``tol`` (``|J_t - J_{t-1}| < tol``) or after ``max_epochs`` with a
    ``ConvergenceWarning``. The paper trains on the whole set at once; here mini-batches of
    ``batch_size`` (the full set when ``batch_size >= n_samples``).

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(128,)
        Widths of the tanh layers; the last one is the embedding dimension. One layer by
        default: the papers' two (``M = 2``, for 500-dimensional face descriptors and
        thousands of source samples) memorize the source on the digits domain-shift
        benchmark (docs/transfer_imagesets.rst): the top layer saturates into binary codes
        of the sharp source digits, which the blurred, noisy target samples miss, and the
        target 3-NN accuracy falls to about 0.62 against 0.83 with one layer and 0.79 for
        raw pixels. Larger data may carry more layers; :class:`DSTML` needs two or
        more.
    k1 : int, default=5
        Same-class neighbors per source sample (``S_c``).
    k2 : int, default=10
        Other-class neighbors per source sample (``S_b``).
    alpha : float, default=1.0
        Weight of the between-class term ``S_b``.
    beta : float, default=1.0
        Weight of the source-target discrepancy ``D_ts``; ``0`` turns transfer off.
        ``alpha`` and ``beta`` were chosen on the digits domain-shift benchmark
        (docs/transfer_imagesets.rst; target 3-NN accuracy, mean of 3 seeds): 0.83 at
        these defaults and with ``beta=3``, 0.78 with ``beta=10``, 0.76 with the paper's
        ``alpha=0.1`` (the shrinking ``S_c`` outweighs the spreading ``S_b``) and 0.78 with
        the paper's ``alpha=0.1, beta=10, gamma=0.1``, against 0.79 for raw pixels.
    gamma : float, default=1e-3
        Weight decay on the network's weights and biases (part of the objective ``J``).
    lr_decay : float, default=0.95
        Multiplies the learning rate after every epoch (``1.0``: constant).
    tol : float, default=1e-4
        Convergence threshold on the change of the epoch's mean objective; ``0`` trains
        ``max_epochs`` epochs.
    optimizer : torch.optim.Optimizer class, default=torch.optim.SGD
    lr : float, default=0.1
    max_epochs : int, default=100
    batch_size : int, default=256
    samples_per_class : int or None, default=None
        Source samples per class in a batch (see
        :class:`~skdml.deep.ClassBalancedBatchSampler`).
    train_split, callbacks, device, random_state, verbose, warm_start
        As for :class:`~skdml.deep.DeepMetricLearner`.
    standardize, n_jobs, **kwargs
        As for :class:`~skdml.deep.DeepMetricLearner`.

    Attributes
    ----------
    module_ : MLP
    loss_ : TransferObjective
    history_ : skorch.History
        ``train_loss`` is the epoch's mean objective ``J``.
    classes_ : ndarray of shape (n_classes,)
        The source classes (``-1`` excluded).
    embedding_dim_ : int
    n_iter_ : int
        Epochs trained in the last fit.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    See Also
    --------
    DSTML : the same objective at every hidden layer too.
    DDML : the single-domain learner of the same group.

    References
    ----------
    .. [1] J. Hu, J. Lu and Y.-P. Tan, "Deep transfer metric learning", CVPR 2015.
    .. [2] J. Hu, J. Lu, Y.-P. Tan and J. Zhou, "Deep transfer metric learning", IEEE
       Transactions on Image Processing 25(12), 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.datasets import make_digits_domain_shift
    >>> from skdml.deep import DTML
    >>> Xs, ys, Xt, yt = make_digits_domain_shift(random_state=0)
    >>> X, y = np.vstack([Xs, Xt]), np.concatenate([ys, np.full(len(Xt), -1)])
    >>> dtml = DTML(hidden_sizes=(16,), max_epochs=5, tol=0, random_state=0).fit(X, y)
    >>> dtml.transform(Xt).shape
    (899, 16)
    """

    _parameter_constraints = {
        **{k: v for k, v in DeepMetricLearner._parameter_constraints.items()
           if k not in ("module", "loss", "miner")},
        "hidden_sizes": [tuple, list],
        "k1": [Interval(Integral, 1, None, closed="left")],
        "k2": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "lr_decay": [Interval(Real, 0, 1, closed="right")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        hidden_sizes=(128,),
        *,
        k1=5,
        k2=10,
        alpha=1.0,
        beta=1.0,
        gamma=1e-3,
        lr_decay=0.95,
        tol=1e-4,
        optimizer=torch.optim.SGD,
        lr=0.1,
        max_epochs=100,
        batch_size=256,
        samples_per_class=None,
        train_split=None,
        callbacks=None,
        device="cpu",
        random_state=None,
        verbose=0,
        warm_start=False,
        n_jobs=None,
        standardize=True,
        **kwargs,
    ):
        self.hidden_sizes = hidden_sizes
        self.k1 = k1
        self.k2 = k2
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.lr_decay = lr_decay
        self.tol = tol
        super().__init__(
            module=MLP,
            loss=TransferObjective,
            miner=None,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            samples_per_class=samples_per_class,
            train_split=train_split,
            callbacks=callbacks,
            device=device,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            n_jobs=n_jobs,
            standardize=standardize,
            **kwargs,
        )

    # --- skorch hooks ------------------------------------------------------------------

    def get_params_for(self, prefix):
        """skorch's sub-parameters, with the named parameters filled in where unset."""
        params = dict(super().get_params_for(prefix))
        if prefix == "module":
            params.setdefault("hidden_sizes", tuple(self.hidden_sizes))
            params.setdefault("activation", "tanh")
        elif prefix == "loss":
            for name in ("k1", "k2", "alpha", "beta"):
                params.setdefault(name, getattr(self, name))
        return params

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        if self.lr_decay != 1:
            callbacks.append(("dtml_lr_decay", LRScheduler(policy=ExponentialLR,
                                                           gamma=float(self.lr_decay))))
        callbacks.append(("dtml_convergence", _ObjectiveConvergence(tol=float(self.tol))))
        return callbacks

    def _weight_penalty(self):
        return sum((p ** 2).sum() for p in self.module_.parameters())

    def _hidden_outputs(self, X):
        """The outputs of the hidden layers below the top one (after their activation)."""
        layers = list(self.module_.net)
        outputs, h = [], X
        for layer in layers[:-2]:  # the top affine map and activation give y_pred
            h = layer(h)
            if not isinstance(layer, nn.Linear):
                outputs.append(h)
        return outputs

    # --- the template's hooks ----------------------------------------------------------

    def _validate_target(self, y, n_samples, *, reset):
        """Source class labels encoded ``0 .. n_classes - 1``, and ``-1`` for target samples."""
        name = type(self).__name__
        y_enc = encode_domains(self, y, n_samples, reset=reset,
                               single_domain="for a single domain use DDML.")
        target = y_enc == TARGET
        if reset and np.bincount(y_enc[~target]).max() < 2:
            raise ValueError(
                f"{name} needs a source class with at least two samples to form a "
                "same-class neighbor pair; every class in y has a single sample."
            )
        return y_enc

    def _train_batch_sampler(self, dataset):
        """Batches holding both domains (:class:`_DomainBatchSampler`)."""
        return _DomainBatchSampler(_dataset_labels(dataset), self.batch_size,
                                   self.samples_per_class, random_state=int(self._seeds[1]))

    def _batch_loss(self, embeddings, y, X, *, training):
        """The objective ``J`` of a batch (``train_loss`` in the history), its neighbor
        pairs found in the input space."""
        X = to_tensor(X, device=self.device).to(embeddings.dtype)
        loss = self._objective(embeddings, y, self.loss_.pairs(X, y), X)
        if self.gamma:
            loss = loss + self.gamma * self._weight_penalty()
        return loss

    def _objective(self, embeddings, labels, pairs, X):
        return self.loss_(embeddings, labels, pairs)


def _per_layer(value, n_layers, name, owner):
    items = np.atleast_1d(np.asarray(value, dtype=object))
    numbers = all(isinstance(v, Real) and not isinstance(v, bool) for v in items.flat)
    values = items.astype(np.float64) if numbers else np.empty((0, 0))  # else refused below
    if values.ndim != 1 or len(values) not in (1, n_layers):
        raise ValueError(
            f"{owner}: {name} must be a number or one number per hidden layer below the top "
            f"({n_layers}), got {value!r}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{owner}: {name} must be finite, got {value!r}.")
    return np.broadcast_to(values, (n_layers,)).tolist()


class DSTML(DTML):
    r"""Deeply supervised transfer metric learning: DTML's objective at every layer.

    The objective of :class:`DTML` at the top layer ``M`` plus, for each hidden layer
    ``m < M``, the same objective computed on that layer's output, weighted by
    ``omega^(m)`` and active only above the threshold ``tau^(m)``:

    ``J = J^(M) + sum_{m<M} omega^(m) h(J^(m) - tau^(m))``, ``h(x) = max(x, 0)``,

    with ``J^(m) = S_c^(m) - alpha S_b^(m) + beta D_ts^(m)`` and the weight decay
    ``gamma`` counted once. The hidden layers are thus pushed to be discriminative and
    domain-invariant too, while a layer whose objective is already below its threshold is
    left to the top one. With a single layer (``hidden_sizes`` of length 1) DSTML is DTML;
    ``omega=0`` switches the hidden-layer term off (DTML on the same network).

    **Thresholds.** The paper sets ``omega^(1) = 1`` and ``tau^(1) = 0`` together with
    ``alpha = 0.1``, ``beta = 10``, ``gamma = 0.1`` and each layer's own weight decay
    ``gamma (|W^(m)|_F^2 + |b^(m)|^2)`` inside ``J^(m)``: that ``J^(m)`` stays positive
    at least until a layer puts its samples' other-class neighbors ten times farther
    (squared) than their same-class ones, so ``tau = 0`` keeps the term on while a layer learns. With
    this class's ``alpha = 1`` (see :class:`DTML`), ``J^(m) < 0`` as soon as the
    other-class neighbors are the farther ones, which happens within the first epoch on
    the digits benchmark; ``tau = 0`` then switches the term off for good and DSTML
    trains as DTML. The default ``tau=None`` keeps the paper's regime, the term on
    throughout (no threshold); a number restores the hinge ``h(J^(m) - tau^(m))``.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(128, 64)
        As for :class:`DTML`, with two layers by default so that there is a hidden layer
        to supervise.
    omega : float or sequence of float, default=1.0
        ``omega^(m)``: one weight for every hidden layer below the top, or one per layer
        (the paper's ``omega^(1) = 1``); ``0`` switches a layer's term off.
    tau : float, sequence of float or None, default=None
        ``tau^(m)``: the thresholds, likewise; ``None``: no threshold, every hidden-layer
        objective counts as it is (see *Thresholds* above).
    k1, k2, alpha, beta, gamma, lr_decay, tol
        As for :class:`DTML`.
    optimizer, lr, max_epochs, batch_size, samples_per_class, train_split, callbacks
        As for :class:`DTML`.
    device, random_state, verbose, warm_start, n_jobs, standardize, **kwargs
        As for :class:`DTML`.

    Attributes
    ----------
    module_ : MLP
    loss_ : TransferObjective
    history_ : skorch.History
        ``train_loss`` is the epoch's mean objective ``J``.
    classes_ : ndarray of shape (n_classes,)
    embedding_dim_ : int
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)

    See Also
    --------
    DTML

    References
    ----------
    .. [1] J. Hu, J. Lu and Y.-P. Tan, "Deep transfer metric learning", CVPR 2015.
    .. [2] J. Hu, J. Lu, Y.-P. Tan and J. Zhou, "Deep transfer metric learning", IEEE
       Transactions on Image Processing 25(12), 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.datasets import make_digits_domain_shift
    >>> from skdml.deep import DSTML
    >>> Xs, ys, Xt, yt = make_digits_domain_shift(random_state=0)
    >>> X, y = np.vstack([Xs, Xt]), np.concatenate([ys, np.full(len(Xt), -1)])
    >>> dstml = DSTML(hidden_sizes=(32, 16), max_epochs=5, tol=0, random_state=0).fit(X, y)
    >>> dstml.transform(Xt).shape
    (899, 16)
    """

    _parameter_constraints = {
        **DTML._parameter_constraints,
        "omega": [Real, tuple, list, np.ndarray],
        "tau": [None, Real, tuple, list, np.ndarray],
    }

    def __init__(
        self,
        hidden_sizes=(128, 64),
        *,
        omega=1.0,
        tau=None,
        k1=5,
        k2=10,
        alpha=1.0,
        beta=1.0,
        gamma=1e-3,
        lr_decay=0.95,
        tol=1e-4,
        optimizer=torch.optim.SGD,
        lr=0.1,
        max_epochs=100,
        batch_size=256,
        samples_per_class=None,
        train_split=None,
        callbacks=None,
        device="cpu",
        random_state=None,
        verbose=0,
        warm_start=False,
        n_jobs=None,
        standardize=True,
        **kwargs,
    ):
        self.omega = omega
        self.tau = tau
        super().__init__(
            hidden_sizes,
            k1=k1, k2=k2, alpha=alpha, beta=beta, gamma=gamma, lr_decay=lr_decay, tol=tol,
            optimizer=optimizer, lr=lr, max_epochs=max_epochs, batch_size=batch_size,
            samples_per_class=samples_per_class, train_split=train_split,
            callbacks=callbacks, device=device, random_state=random_state, verbose=verbose,
            warm_start=warm_start, n_jobs=n_jobs, standardize=standardize, **kwargs,
        )

    def _validate_fit_data(self, X, y, *, reset):
        n_hidden = max(len(tuple(self.hidden_sizes)) - 1, 1)
        name = type(self).__name__
        omega = _per_layer(self.omega, n_hidden, "omega", name)
        if min(omega) < 0:
            raise ValueError(f"{name}: omega must be >= 0, got {self.omega!r}.")
        tau = ([None] * n_hidden if self.tau is None
               else _per_layer(self.tau, n_hidden, "tau", name))
        validated = super()._validate_fit_data(X, y, reset=reset)
        self._omega, self._tau = omega, tau  # set once the whole input is valid
        return validated

    def _objective(self, embeddings, labels, pairs, X):
        loss = self.loss_(embeddings, labels, pairs)
        for h, omega, tau in zip(self._hidden_outputs(X), self._omega, self._tau):
            if omega:
                J = self.loss_(h, labels, pairs)
                loss = loss + omega * (J if tau is None else torch.relu(J - tau))
        return loss
