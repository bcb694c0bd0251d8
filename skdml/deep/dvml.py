"""DVML: deep variational metric learning (Lin, Duan, Lu et al.).

A variational module splits each embedding into a class center (the intra-class invariant
part, the embedding ``transform`` returns) and an intra-class variance modeled as a
Gaussian shared across classes; sampling the variance around the centers generates new,
discriminative samples that train the metric alongside the real ones.
"""

from numbers import Integral, Real

import torch
from torch import nn
from torch.nn import functional as F

from .._param_validation import Interval
from ._base import DeepMetricLearner
from ._modules import MLP
from .losses import TripletMarginLoss

__all__ = ["DVML", "VariationalEmbedding"]


def _output_dim(module, n_features_shape, dtype, device):
    was_training = module.training
    module.eval()
    with torch.no_grad():
        out = module(torch.zeros((2, *n_features_shape), dtype=dtype, device=device))
    module.train(was_training)
    if out.dim() != 2:
        raise ValueError(
            "The backbone must return features of shape (n_samples, n_features), it returned "
            f"shape {tuple(out.shape[1:])} per batch of 2."
        )
    return int(out.shape[1])


class VariationalEmbedding(nn.Module):
    """DVML's network: a backbone, then a center head, a variance head and a decoder.

    ``h = backbone(x)``; the class-center (invariant) embedding ``mu = W_c h + b_c``; the
    intra-class variance ``z_v = sigma * e``, ``e ~ N(0, I)``, ``log sigma^2 = W_v h + b_v``;
    a decoder maps ``mu + z_v`` back to ``h``. In eval mode ``forward`` returns ``mu``; in
    training mode ``(mu, log_var, h)``.

    Parameters
    ----------
    backbone : torch.nn.Module
        Maps a batch to features of shape (n, feature_dim).
    feature_dim : int
    embedding_dim : int
    decoder_hidden : int, default=128
        Width of the decoder's hidden layer.
    """

    def __init__(self, backbone, feature_dim, embedding_dim, decoder_hidden=128):
        super().__init__()
        self.backbone = backbone
        self.center = nn.Linear(feature_dim, embedding_dim)
        self.log_var = nn.Linear(feature_dim, embedding_dim)
        self.decoder = nn.Sequential(
            nn.Linear(embedding_dim, decoder_hidden), nn.ReLU(),
            nn.Linear(decoder_hidden, feature_dim),
        )
        # start with a small variance: early samples stay near their centers
        nn.init.zeros_(self.log_var.weight)
        nn.init.constant_(self.log_var.bias, -2.0)

    def forward(self, X):
        h = self.backbone(X)
        mu = self.center(h)
        if not self.training:
            return mu
        return mu, self.log_var(h).clamp(-10.0, 10.0), h

    @staticmethod
    def sample(mu, log_var):
        """Generated samples ``mu + sigma * e``, one per row, with ``mu``'s shape."""
        return mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)

    def reconstruct(self, z):
        """The decoder: features of shape (n, feature_dim) from embeddings ``z``."""
        return self.decoder(z)


class DVML(DeepMetricLearner):
    """Deep variational metric learning: any metric loss, boosted by generated samples.

    The network (:class:`VariationalEmbedding` around ``module``) separates each sample's
    class center ``mu`` from its intra-class variance ``z_v = sigma * e``. Training minimizes

    ``J = L(mu) + kl_weight * KL(N(0, sigma^2) || N(0, I)) + reconstruction_weight *
    |dec(mu + z_v) - h|^2 + generated_weight * L(mu + z_v')``

    where ``L`` is the wrapped metric loss (any loss of :mod:`skdml.deep.losses`, with the
    learner's miner on each batch), ``h`` the backbone's features (a fixed target) and
    ``z_v'`` a fresh variance sample. The KL term makes the variance a class-independent
    Gaussian, the reconstruction term keeps the information in ``mu + z_v``, and the last
    term trains the metric on generated samples of the batch's labels (after
    ``warmup_epochs`` epochs, when the variance model has started to fit). ``transform``
    returns ``mu``.

    Parameters
    ----------
    loss : torch.nn.Module class or instance, default=TripletMarginLoss
        The metric loss ``L`` (``loss__margin`` etc. reach it).
    module : torch.nn.Module class or instance, default=MLP
        The backbone; its output feeds the center and variance heads.
    miner : class, instance or None, default=None
    distance : skdml.deep.distances distance or None, default=None
        The distance of the loss and the miner, as in
        :class:`~skdml.deep.DeepMetricLearner`.
    embedding_dim : int or None, default=None
        Width of ``mu``; ``None``: the backbone's output width.
    kl_weight : float, default=0.1
    reconstruction_weight : float, default=1.0
    generated_weight : float, default=1.0
    warmup_epochs : int, default=5
        Epochs trained before the generated samples enter the loss.
    optimizer, lr, max_epochs, batch_size, samples_per_class, train_split, callbacks, \
device, random_state, verbose, warm_start, n_jobs, standardize, **kwargs
        As in :class:`~skdml.deep.DeepMetricLearner`.

    Attributes
    ----------
    module_ : VariationalEmbedding
    loss_, miner_, optimizer_, history_, classes_, embedding_dim_, n_iter_, n_features_in_
        As in :class:`~skdml.deep.DeepMetricLearner`.

    Notes
    -----
    The weights are ours, chosen on digits; the paper weighs its four terms per dataset
    and trains a GoogLeNet backbone on images.

    References
    ----------
    .. [1] X. Lin, Y. Duan, Q. Dong, J. Lu and J. Zhou, "Deep variational metric learning",
       ECCV 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdml.deep import TripletMarginLoss
    >>> from skdml.deep.dvml import DVML
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = DVML(TripletMarginLoss, module__hidden_sizes=(16,), embedding_dim=4,
    ...                max_epochs=3, random_state=0)
    >>> learner.fit(X, y).transform(X[:3]).shape
    (3, 4)
    """

    _parameter_constraints = {
        **DeepMetricLearner._parameter_constraints,
        "embedding_dim": [Interval(Integral, 1, None, closed="left"), None],
        "kl_weight": [Interval(Real, 0, None, closed="left")],
        "reconstruction_weight": [Interval(Real, 0, None, closed="left")],
        "generated_weight": [Interval(Real, 0, None, closed="left")],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        loss=TripletMarginLoss,
        module=MLP,
        miner=None,
        *,
        distance=None,
        embedding_dim=None,
        kl_weight=0.1,
        reconstruction_weight=1.0,
        generated_weight=1.0,
        warmup_epochs=5,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=30,
        batch_size=128,
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
        self.embedding_dim = embedding_dim
        self.kl_weight = kl_weight
        self.reconstruction_weight = reconstruction_weight
        self.generated_weight = generated_weight
        self.warmup_epochs = warmup_epochs
        super().__init__(
            module=module,
            loss=loss,
            miner=miner,
            distance=distance,
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

    def initialize_module(self):
        """The backbone (``module``), wrapped in a :class:`VariationalEmbedding`."""
        super().initialize_module()
        backbone = self.module_
        param = next(backbone.parameters(), None)
        dtype = param.dtype if param is not None else torch.float32
        shape = getattr(self, "_sample_shape", (self.n_features_in_,))
        feature_dim = _output_dim(backbone, shape, dtype, self.device)
        width = feature_dim if self.embedding_dim is None else int(self.embedding_dim)
        self.module_ = VariationalEmbedding(backbone, feature_dim, width).to(self.device)
        return self

    def _batch_loss(self, embeddings, y, X, *, training):
        """The DVML objective in training; the metric loss on ``mu`` in evaluation."""
        if not isinstance(embeddings, tuple):  # eval mode: the module returned mu
            return super()._batch_loss(embeddings, y, X, training=training)
        mu, log_var, h = embeddings
        loss = super()._batch_loss(mu, y, X, training=training)
        var = log_var.exp()
        loss = loss + self.kl_weight * 0.5 * (var - 1.0 - log_var).sum(1).mean()
        z = VariationalEmbedding.sample(mu, log_var)
        recon = self.module_.reconstruct(z)
        loss = loss + self.reconstruction_weight * F.mse_loss(recon, h.detach())
        if self.generated_weight > 0 and self._epoch() > self.warmup_epochs:
            generated = VariationalEmbedding.sample(mu, log_var)
            loss = loss + self.generated_weight * super()._batch_loss(
                generated, y, X, training=training)
        return loss
