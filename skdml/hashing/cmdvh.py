"""Cross-modal deep variational hashing (CMDVH, Liong, Lu, Tan & Zhou, ICCV 2017).

Importing this module imports torch; ``skdml.hashing`` hands its names out lazily.

Two stages, each a fit of the deep-learner template (:class:`~skdml.deep.DeepMetricLearner`):
a fusion network on both modalities learns the binary codes of the training samples
(:class:`MaxMarginCodeLoss`), then one variational network per modality learns to produce
those codes from that modality alone (:class:`VariationalCodeLoss`). The input convention
(stacked modalities with ``views=``, or a list of one array per modality, and
``transform_view`` for one modality) is :mod:`skdml.hashing._cross_modal`'s.
"""

import copy
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._param_validation import Interval
from ..base import fit_context
from ..deep._base import ClassBalancedBatchSampler, DeepMetricLearner
from ..deep._modules import MLP
from ..deep._views import MultiViewMixin, PerViewMLP
from ..deep.losses import MetricLoss
from ..deep.losses._base import ClassLoss, _check_real
from ._base import HasherMixin
from ._cross_modal import CrossModalMixin
from .deep import _COMMON, _DOC_COMMON_PER_FEATURE, _DeepHasher

__all__ = ["CrossModalDeepVariationalHashing", "MaxMarginCodeLoss", "VariationalCodeLoss"]


class MaxMarginCodeLoss(ClassLoss):
    """CMDVH's fusion objective (Liong et al. 2017: the fusion network's ``J = J_1 +
    lambda J_2``), per sample ``n`` of a batch of network outputs ``H`` in ``(-1, 1)``::

        xi_n + quantization * ||b_n - h_n||^2,   xi_n = max_j max(0, 1 - y_nj m_j^T b_n)

    plus ``margin_penalty * ||M||_F^2`` once per batch. ``M`` (``weight``, one row
    ``m_j`` per class) is a linear max-margin classifier on the binary codes ``b_n``,
    learned with the network; ``y_nj`` is ``+1`` for the sample's class and ``-1`` for
    the others; ``xi_n`` is the sample's slack, one for all the classes as in the paper's
    constraints ``y_nj (m_j^T b_n) >= 1 - xi_n``. The paper's ``J`` sums over the ``N``
    training samples; its per-sample mean is this loss with ``margin_penalty = 1 / N``
    (:class:`CrossModalDeepVariationalHashing` weighs it more, see its
    ``margin_penalty``).

    The objective is minimized alternately, batch by batch: the codes by the discrete
    B-step of :meth:`codes` (``M`` and ``H`` fixed), then ``M`` (through the slack) and
    the network (through the quantization term, pulling ``h_n`` towards its code) by a
    gradient step with the codes fixed.

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by the learner (``embedding_dim`` is the number of bits).
    quantization : float, default=1.0
        The paper's ``lambda``.
    margin_penalty : float, default=1e-3
        The weight of ``||M||_F^2``.
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None
    """

    _reprs = ("quantization", "margin_penalty")

    def __init__(self, n_classes, embedding_dim, *, quantization=1.0, margin_penalty=1e-3,
                 reducer=None, embedding_regularizer=None):
        super().__init__(n_classes, embedding_dim, reducer=reducer,
                         embedding_regularizer=embedding_regularizer)
        owner = type(self).__name__
        self.quantization = _check_real(quantization, "quantization", owner, low=0,
                                        strict=False)
        self.margin_penalty = _check_real(margin_penalty, "margin_penalty", owner, low=0,
                                          strict=False)

    def logits(self, x, labels=None):
        """The classifier's scores ``m_j^T x_n``, shape (n, n_classes)."""
        return x @ self.weight.to(x.dtype).T

    def _signs(self, labels, dtype):
        return 2.0 * F.one_hot(labels, self.n_classes).to(dtype) - 1.0

    def slack(self, codes, labels):
        """``xi_n = max_j max(0, 1 - y_nj m_j^T b_n)``, shape (n,)."""
        return F.relu(1.0 - self._signs(labels, codes.dtype) * self.logits(codes)).amax(dim=1)

    @torch.no_grad()
    def codes(self, embeddings, labels):
        """The B-step: codes ``b_n`` in ``{-1, +1}`` lowering ``xi_n + quantization *
        ||b_n - h_n||^2`` with ``M`` and ``h_n`` fixed.

        From ``b_n = sgn(h_n)`` (the minimizer of the quantization term alone), flip, one
        at a time, the bit whose flip lowers the sample's objective the most, while one
        does (at most ``embedding_dim`` flips): a greedy discrete descent, which keeps
        the codes binary as the paper's B-step does.
        """
        H = embeddings.detach()
        B = torch.where(H >= 0, 1.0, -1.0).to(H.dtype)
        signs = self._signs(labels, H.dtype)
        W = self.weight.detach().to(H.dtype)  # (n_classes, n_bits)
        rows = torch.arange(len(B), device=B.device)
        for _ in range(B.shape[1]):
            scores = B @ W.T
            slack = F.relu(1.0 - signs * scores).amax(dim=1)
            # scores after flipping bit k: scores - 2 b_k W[:, k], for every k at once
            flipped = scores[:, None, :] - 2.0 * B[:, :, None] * W.T[None, :, :]
            slack_flipped = F.relu(1.0 - signs[:, None, :] * flipped).amax(dim=2)
            # the quantization term grows by 4 b_k h_k when bit k flips
            gain = slack[:, None] - slack_flipped - 4.0 * self.quantization * B * H
            best_gain, best = gain.max(dim=1)
            move = best_gain > 1e-12
            if not bool(move.any()):
                break
            B[rows[move], best[move]] *= -1.0
        return B

    def compute(self, embeddings, labels, tuples):
        B = self.codes(embeddings, labels)
        return self.slack(B, labels) + self.quantization * ((B - embeddings) ** 2).sum(1)

    def penalty(self, embeddings, labels, tuples):
        return self.margin_penalty * (self.weight ** 2).sum()


class VariationalCodeLoss(MetricLoss):
    """CMDVH's modality-specific objective (Liong et al. 2017), per sample ``i``::

        sum_k log(1 + exp(-b_ik z_ik))  -  alpha / 2 sum_j (1 + log s_ij^2 - mu_ij^2 - s_ij^2)

    the negative log-likelihood of the target code ``b_i`` in ``{-1, +1}^K`` under
    independent bits with ``P(b_ik = 1) = sigmoid(z_ik)`` (``z_i`` the code logits decoded
    from a sample of the latent ``N(mu_i, diag(s_i^2))``), plus ``alpha`` times the
    Kullback-Leibler divergence from that latent distribution to ``N(0, I)``. The
    tutorial's slide prints the NLL as ``-log(1 + e^{b z})``; the sign inside is the
    paper's (and the only one that is a likelihood).

    Called as ``loss(outputs, codes)``: ``outputs`` of shape (n, K + 2 J) are
    ``[z | mu | log s^2]`` side by side (what the variational network returns in training
    mode), ``codes`` of shape (n, K) the targets, ``-1`` or ``+1``.

    Parameters
    ----------
    alpha : float, default=1.0
        Weight of the KL term.
    reducer : reducer, default=MeanReducer()
    embedding_regularizer : regularizer or None, default=None
    """

    tuple_kind = None
    needs_positive_pairs = False
    label_ndims = (2,)
    _reprs = ("alpha",)

    def __init__(self, alpha=1.0, *, reducer=None, embedding_regularizer=None):
        super().__init__(reducer=reducer, embedding_regularizer=embedding_regularizer)
        self.alpha = _check_real(alpha, "alpha", type(self).__name__, low=0, strict=False)

    def _check_batch(self, embeddings, labels):
        n_bits = labels.shape[-1] if labels.dim() == 2 else None
        if (embeddings.dim() != 2 or n_bits is None or len(labels) != len(embeddings)
                or (embeddings.shape[1] - n_bits) % 2 or embeddings.shape[1] <= n_bits):
            raise ValueError(
                f"{type(self).__name__} expects outputs of shape (n, K + 2 J) = [logits | mean "
                f"| log-variance] and codes of shape (n, K), got {tuple(embeddings.shape)} "
                f"and {tuple(labels.shape)}."
            )

    @staticmethod
    def split(outputs, n_bits):
        """``(logits, mu, logvar)`` of ``outputs`` = ``[z | mu | log s^2]``."""
        latent = (outputs.shape[1] - n_bits) // 2
        return outputs[:, :n_bits], outputs[:, n_bits:n_bits + latent], \
            outputs[:, n_bits + latent:]

    def compute(self, embeddings, labels, tuples):
        logits, mu, logvar = self.split(embeddings, labels.shape[1])
        nll = F.softplus(-labels.to(logits.dtype) * logits).sum(1)
        kl = -0.5 * (1.0 + logvar - mu ** 2 - logvar.exp()).sum(1)
        return nll + self.alpha * kl


class _FusionNet(nn.Module):
    """CMDVH's fusion network: one MLP branch per modality, their outputs side by side,
    then a tanh layer of ``hidden_sizes[-1]`` (the bits) on both.

    ``hidden_sizes = (h_1, ..., h_L, n_bits)``: the branches have the layers
    ``h_1 .. h_L`` (``activation``); with ``L = 0`` the bits are a tanh layer on the
    stacked input itself.
    """

    flat_samples = True

    def __init__(self, n_features, view_widths, hidden_sizes=(256, 32), activation="tanh"):
        super().__init__()
        hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.branches = (PerViewMLP(n_features, view_widths, hidden_sizes[:-1], activation)
                         if len(hidden_sizes) > 1 else None)
        width = len(view_widths) * hidden_sizes[-2] if self.branches else int(n_features)
        self.fusion = MLP(width, hidden_sizes[-1:], activation="tanh")

    def forward(self, X):
        return self.fusion(self.branches(X) if self.branches is not None else X)


class _VariationalCoder(nn.Module):
    """CMDVH's modality-specific network: encoder -> (mu, log s^2) -> latent -> code logits.

    In training mode the latent is a sample ``mu + s * eps`` (the reparametrization trick)
    and the output is ``[z | mu | log s^2]`` (for :class:`VariationalCodeLoss`); in eval
    mode the latent is ``mu`` and the output the code logits ``z`` alone, whose signs are
    the code.
    """

    flat_samples = True

    def __init__(self, n_features, hidden_sizes=(256,), latent_dim=32, n_bits=32,
                 activation="relu"):
        super().__init__()
        hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.encoder = (MLP(n_features, hidden_sizes, activation=activation)
                        if hidden_sizes else nn.Identity())
        width = hidden_sizes[-1] if hidden_sizes else int(n_features)
        self.mean = nn.Linear(width, int(latent_dim))
        self.log_var = nn.Linear(width, int(latent_dim))
        self.decoder = nn.Linear(int(latent_dim), int(n_bits))

    def forward(self, X):
        h = self.encoder(X)
        mu, logvar = self.mean(h), self.log_var(h)
        if not self.training:
            return self.decoder(mu)
        latent = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return torch.cat([self.decoder(latent), mu, logvar], dim=1)


class _ModalityCoder(HasherMixin, DeepMetricLearner):
    """The second stage: one modality's variational network trained on the fusion codes
    (``fit(X_view, codes)``, codes of shape (n, n_bits) in ``{-1, +1}``), in plain random
    batches; ``transform`` gives the codes of the deterministic latent (``mu``)."""

    _collapse_codes = True

    @property
    def n_bits_(self):
        return self.embedding_dim_

    def _project(self, X):
        return DeepMetricLearner.transform(self, X)

    def _validate_target(self, y, n_samples, *, reset):
        codes = np.asarray(y, dtype=np.float32)
        if codes.ndim != 2 or len(codes) != n_samples:
            raise ValueError(f"{type(self).__name__}: expected codes of shape ({n_samples}, "
                             f"n_bits), got {codes.shape}.")
        return codes

    def _train_batch_sampler(self, dataset):
        # one pseudo-class: the class-balanced sampler draws plain random batches
        return ClassBalancedBatchSampler(np.zeros(len(dataset)), self.batch_size,
                                         random_state=int(self._seeds[1]))

    def _batch_loss(self, embeddings, y, X, *, training):
        return self.loss_(embeddings, y.to(embeddings.dtype))


class CrossModalDeepVariationalHashing(CrossModalMixin, MultiViewMixin, _DeepHasher):
    """Cross-modal deep variational hashing (CMDVH, Liong, Lu, Tan & Zhou, ICCV 2017).

    Samples seen by two modalities (say an image and its tags) get binary codes in one
    Hamming space, so that an image query retrieves tags and the other way round. Two
    stages, as in the paper:

    1. **Fusion network.** A network ``h = f(x_image, x_tags)`` on both modalities (one
       branch each, then a tanh layer of ``n_bits`` units on both) and a linear
       classifier ``M`` on the codes minimize (Liong et al., the fusion network's
       objective, per sample; :class:`MaxMarginCodeLoss`)::

           margin_penalty ||M||_F^2 + xi_n + lambda ||b_n - h_n||^2,
           xi_n = max_j max(0, 1 - y_nj m_j^T b_n),   b_n in {-1, +1}^n_bits

       -- a max-margin classifier on the binary codes ``b_n`` (``y_nj = +1`` for the
       sample's class, ``-1`` for the others; one slack per sample) and the quantization
       loss between the codes and the network. Batch by batch, a discrete B-step finds
       codes that meet the margin at a small quantization cost (``M``, ``h`` fixed), then
       a gradient step moves ``M`` and the network (``B`` fixed). The network learns to
       output the codes; the training samples' ``B = sgn(f(X))`` are the targets of
       stage 2.
    2. **Modality-specific variational networks.** For each modality, an encoder gives
       the mean ``mu`` and log-variance of a latent Gaussian, a latent is sampled
       (``mu + s * eps``) and decoded into code logits ``z``; it minimizes
       (:class:`VariationalCodeLoss`)::

           sum_k log(1 + exp(-b_k z_k)) + alpha KL(N(mu, s^2) || N(0, I))

       the likelihood of the fused code ``b`` under the network plus the variational
       regularizer. A new sample of one modality is encoded as ``sgn(z(mu))``, the
       latent's mean instead of a sample (deterministic codes).

    Input and outputs (the most scikit-learn-like of the choices: one estimator, fitted
    on the paired data, one ``transform`` per use):

    - ``fit(X, y)``: ``X`` the two modalities side by side, of shape
      (n_samples, d_image + d_tags) with ``views=(d_image, d_tags)``, or the list
      ``[X_image, X_tags]`` (one row per sample in both); ``y`` class labels.
    - ``transform(X)`` on such pairs (both modalities known): the fusion network's codes.
    - ``transform_view(X_image, view=0)`` / ``transform_view(X_tags, view=1)``: the codes
      of samples seen by one modality -- the queries and the database of cross-modal
      retrieval (``transform_view_packed`` for packed codes). Every transform returns
      ``bool`` codes of ``n_bits`` bits.

    Parameters
    ----------
    n_bits : int, default=32
    views : int or tuple of int, default=2
        How the columns of a stacked ``X`` split into the modalities (see
        :class:`~skdml.deep.DDMML`); a list of arrays brings its own widths.
    hidden_sizes : tuple of int, default=(256,)
        The layers of each modality's branch of the fusion network (tanh), before the
        ``n_bits``-unit tanh layer on both; ``()`` puts that layer on the stacked input.
    quantization : float, default=0.003
        The paper's ``lambda``, weight of the quantization loss in stage 1: in the B-step
        it is what a bit's flip costs against the margin it gains, so a small value lets
        the margin set the codes (on the two views of digits, seed 0, fusion-code mAP at
        16 / 64 bits: 0.90 / 0.97 at 0.003 with ``margin_penalty=0.1``; 0.51 / 0.59 at
        1.0 with ``margin_penalty=1 / N``, where the codes stay near those of the initial
        network).
    margin_penalty : float, default=0.1
        Weight of ``||M||_F^2`` against the mean slack. The paper's objective sums the
        slacks over the ``N`` training samples, a weight of ``1 / N`` here; so weak a
        penalty lets a large ``M`` meet the margin with a few bits and leaves the others
        to chance (fusion-code mAP 0.70 to 0.84 at 64 bits with ``1 / N`` and
        ``quantization`` from 0.1 to 0.001, 0.97 with 0.1 and 0.003): a small ``M``
        needs every bit to agree with its class.
    coder_hidden_sizes : tuple of int, default=(256,)
        The encoder layers (ReLU) of each variational network.
    latent_dim : int, default=32
        Dimension of the variational latent.
    alpha : float, default=0.1
        Weight of the KL term in stage 2.
    weight_decay : float, default=1e-4
        L2 penalty on the weights of every network (the optimizer's ``weight_decay``).
    samples_per_class : int or None, default=None
        Samples of each class in a stage-1 batch (see
        :class:`~skdml.deep.ClassBalancedBatchSampler`).
{common}

    Attributes
    ----------
    module_ : torch.nn.Module
        The fusion network.
    loss_ : MaxMarginCodeLoss
        With the learned classifier ``M`` (``loss_.weight``).
    coders_ : list of skorch-based learners
        One fitted variational network per modality (their ``module_`` is the network).
    view_widths_ : tuple of int
    classes_ : ndarray of shape (n_classes,)
    history_ : skorch.History
        Of the fusion network (the coders keep their own ``history_``).
    n_bits_ : int
    n_iter_ : int
        Epochs of the fusion network in the last fit.
    n_features_in_ : int
        ``d_image + d_tags``.
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    Notes
    -----
    ``optimizer``, ``lr``, ``max_epochs``, ``batch_size``, ``device``, ``verbose``,
    ``n_jobs``, ``warm_start`` and ``standardize`` apply to both stages; ``train_split``,
    ``callbacks`` and the skorch sub-parameters (``module__...``, ``loss__...``) to the
    fusion network only.

    Departures from the paper, each for a reason:

    - The paper's networks are built on CNN image features and bag-of-words tags; here
      both stages are MLPs on the standardized inputs (``standardize=True``).
    - ``||M||_F^2`` weighs ``margin_penalty`` against the mean slack of a batch, 0.1 by
      default, where the paper's sum over the samples would give it ``1 / N`` (see
      ``margin_penalty``).
    - The B-step is a greedy descent (one bit flip at a time, see
      :meth:`MaxMarginCodeLoss.codes`) on each batch; the paper does not say how it
      solves the discrete problem on the slide.
    - A new sample is encoded from the latent's mean ``mu``, not from a sample of the
      latent, so that its code is deterministic.

    References
    ----------
    .. [1] V. E. Liong, J. Lu, Y.-P. Tan and J. Zhou, "Cross-modal deep variational
       hashing", ICCV 2017.

    Examples
    --------
    >>> from skdml.datasets import make_digits_two_views
    >>> from skdml.hashing.cmdvh import CrossModalDeepVariationalHashing
    >>> X_image, X_tags, y = make_digits_two_views(random_state=0)
    >>> cmdvh = CrossModalDeepVariationalHashing(n_bits=16, max_epochs=3, random_state=0)
    >>> cmdvh = cmdvh.fit([X_image, X_tags], y)
    >>> image_codes = cmdvh.transform_view(X_image[:5], view=0)
    >>> tag_codes = cmdvh.transform_view(X_tags, view=1)
    >>> image_codes.shape, tag_codes.shape, tag_codes.dtype
    ((5, 16), (1797, 16), dtype('bool'))
    """

    _supervised = True

    _parameter_constraints = {
        **_COMMON,
        "views": [Interval(Integral, 2, None, closed="left"), tuple, list],
        "quantization": [Interval(Real, 0, None, closed="left")],
        "margin_penalty": [Interval(Real, 0, None, closed="left")],
        "coder_hidden_sizes": [tuple, list],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, n_bits=32, *, views=2, hidden_sizes=(256,), quantization=0.003,
                 margin_penalty=0.1, coder_hidden_sizes=(256,), latent_dim=32, alpha=0.1,
                 weight_decay=1e-4,
                 samples_per_class=None, optimizer=torch.optim.Adam, lr=1e-2, max_epochs=30,
                 batch_size=128, train_split=None, callbacks=None, device="cpu",
                 random_state=None, verbose=0, warm_start=False, n_jobs=None,
                 standardize=True, **kwargs):
        self.n_bits = n_bits
        self.views = views
        self.hidden_sizes = hidden_sizes
        self.quantization = quantization
        self.margin_penalty = margin_penalty
        self.coder_hidden_sizes = coder_hidden_sizes
        self.latent_dim = latent_dim
        self.alpha = alpha
        self.weight_decay = weight_decay
        super().__init__(
            module=_FusionNet, loss=MaxMarginCodeLoss, miner=None, optimizer=optimizer,
            lr=lr, max_epochs=max_epochs, batch_size=batch_size,
            samples_per_class=samples_per_class, train_split=train_split,
            callbacks=callbacks, device=device, random_state=random_state, verbose=verbose,
            warm_start=warm_start, n_jobs=n_jobs, standardize=standardize, **kwargs,
        )

    def _loss_params(self):
        return {"quantization": self.quantization, "margin_penalty": self.margin_penalty}

    def __sklearn_is_fitted__(self):
        return super().__sklearn_is_fitted__() and hasattr(self, "coders_")

    # --- the two stages --------------------------------------------------------------------

    def _fused_codes(self, X):
        """``sgn(f(X))`` in ``{-1, +1}`` of validated stacked samples (the stage-2 targets),
        read from the fusion network directly (the learner is not fitted yet)."""
        H = self.forward(self._scale_input(X), training=False, device="cpu").numpy()
        return np.where(H >= 0, 1.0, -1.0).astype(np.float32)

    def _new_coder(self, view):
        return _ModalityCoder(
            module=_VariationalCoder, loss=VariationalCodeLoss, optimizer=self.optimizer,
            lr=self.lr, max_epochs=self.max_epochs, batch_size=self.batch_size,
            device=self.device, random_state=int(self._seeds[2]) + view,
            verbose=self.verbose, warm_start=self.warm_start, n_jobs=self.n_jobs,
            standardize=self.standardize,
            module__hidden_sizes=tuple(self.coder_hidden_sizes),
            module__latent_dim=self.latent_dim, module__n_bits=int(self.n_bits),
            loss__alpha=self.alpha, optimizer__weight_decay=self.weight_decay,
        )

    def _train_coders(self, X, *, partial):
        """Stage 2 on the validated stacked samples ``X``: each modality's coder fitted (or,
        ``partial``, trained further) on the fusion network's codes."""
        X = self._check_X(X, reset=False)
        codes = self._fused_codes(X)
        bounds = np.cumsum(self.view_widths_)[:-1]
        old = getattr(self, "coders_", None)
        keep = (partial or self.warm_start) and old is not None and len(old) == len(bounds) + 1
        coders = []
        for view, X_view in enumerate(np.split(X, bounds, axis=1)):
            # a copy: a failed fit leaves the fitted coders (and the learner) as they were
            coder = copy.deepcopy(old[view]) if keep else self._new_coder(view)
            if partial and keep:
                coder.partial_fit(X_view, codes)
            else:
                coder.fit(X_view, codes)
            coders.append(coder)
        self.coders_ = coders

    @fit_context
    def fit(self, X, y, **fit_params):
        """Train the fusion network, then one variational network per modality.

        Parameters
        ----------
        X : array-like of shape (n_samples, d_1 + d_2), or list of arrays
            The modalities side by side (split by ``views``), or one array per modality,
            ``(n_samples, d_k)`` each, one row per sample in all of them.
        y : array-like of shape (n_samples,)
            Class labels of any hashable type.
        **fit_params
            Passed to the fusion network's ``forward`` (skorch's convention).

        Returns
        -------
        self : CrossModalDeepVariationalHashing
        """
        super().fit(X, y, **fit_params)
        self._train_coders(self._stacked(X, reset=False), partial=False)
        return self

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """``max_epochs`` more of both stages, keeping the networks (the first call is
        :meth:`fit`): the fusion network on ``(X, y)``, then each variational network on
        the fusion network's new codes of ``X``."""
        if self._data_validated or not self.__sklearn_is_fitted__():
            return super().partial_fit(X, y, classes=classes, **fit_params)
        super().partial_fit(X, y, classes=classes, **fit_params)
        self._train_coders(self._stacked(X, reset=False), partial=True)
        return self

    def _project_view(self, X, view):
        return self.coders_[view]._project(X)


CrossModalDeepVariationalHashing.__doc__ = CrossModalDeepVariationalHashing.__doc__.replace(
    "{common}", _DOC_COMMON_PER_FEATURE.strip("\n").replace(
        "    lr : float, default=1e-3\n",
        "    lr : float, default=1e-2\n"
        "        Learning rate of both stages. The classifier ``M`` starts small, and at 1e-3\n"
        "        it took hundreds of steps to reach the margin (on 600 two-view digits at 16\n"
        "        bits and 15 epochs, image -> tags mAP 0.25 at 1e-3, 0.88 at 1e-2).\n",
    ).replace("    max_epochs : int, default=50\n", "    max_epochs : int, default=30\n"))
