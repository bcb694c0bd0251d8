"""DAML: deep adversarial metric learning (Duan, Zheng, Lin, Lu & Zhou, CVPR 2018).

A generator turns each real triplet's negative into a synthetic hard one -- close to the
anchor, still close to the negative it came from, and closer to the anchor than the
positive under the current metric -- and the metric is trained on the triplets with these
synthetic negatives in place of the real ones, adversarially to the generator.
"""

from numbers import Integral, Real

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F
from skorch.utils import to_tensor

from .._param_validation import Interval
from ._base import DeepMetricLearner
from ._modules import MLP
from ._tuples import as_triplets
from .losses import NPairLoss, TripletMarginLoss

__all__ = ["DAML", "HardNegativeGenerator", "daml_generator_loss", "sample_triplets"]


class HardNegativeGenerator(nn.Module):
    """DAML's generator: ``(x, x+, x-) -> x~-``, a synthetic negative in the input space.

    A fully connected ReLU network on the concatenated anchor, positive and negative,
    whose output is added to the negative (``x~- = x- + g(x, x+, x-)``); the last layer is
    zero-initialized, so the generator starts as the identity on negatives.

    Parameters
    ----------
    n_features : int
        Width of one (flattened) sample.
    hidden_sizes : tuple of int, default=(256, 256)
        Hidden layers; with the output layer, ``len(hidden_sizes) + 1`` layers (the paper's
        generator has three).
    """

    def __init__(self, n_features, hidden_sizes=(256, 256)):
        super().__init__()
        sizes = [3 * int(n_features), *[int(h) for h in hidden_sizes]]
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        last = nn.Linear(sizes[-1], int(n_features))
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)
        self.n_features = int(n_features)

    def forward(self, anchor, positive, negative):
        if not anchor.shape == positive.shape == negative.shape or anchor.dim() != 2:
            raise ValueError(
                "HardNegativeGenerator expects anchor, positive and negative samples of one "
                f"shape (n, {self.n_features}), got {tuple(anchor.shape)}, "
                f"{tuple(positive.shape)} and {tuple(negative.shape)}."
            )
        return negative + self.net(torch.cat([anchor, positive, negative], 1))


def _sq_dist(u, v):
    return ((u - v) ** 2).sum(1)


def daml_generator_loss(anchor, negative, synthetic, z_anchor, z_positive, z_synthetic, *,
                        reg_weight, adv_weight, margin):
    """DAML's generator objective ``J_gen = J_hard + lambda_1 J_reg + lambda_2 J_adv``.

    Each term is the mean over the triplets (the paper sums: the mean keeps the weights
    independent of the number of triplets):

    - ``J_hard = |x~- - x|^2``: the synthetic negative is close to the anchor (hard);
    - ``J_reg = |x~- - x-|^2``: and close to the negative it came from (still a negative);
    - ``J_adv = max(0, D(x~-, x)^2 - D(x+, x)^2 - margin)``: the metric ``D`` puts it no
      farther from the anchor than the positive, up to the margin (adversarial).

    Parameters
    ----------
    anchor, negative, synthetic : Tensor of shape (n, n_features)
        ``x``, ``x-`` and ``x~-`` in the generator's space (the network's input).
    z_anchor, z_positive, z_synthetic : Tensor of shape (n, embedding_dim)
        Their embeddings ``f(x)``, ``f(x+)``, ``f(x~-)``, with ``D(u, v) = |f(u) - f(v)|``.
    reg_weight, adv_weight : float
        ``lambda_1`` and ``lambda_2``.
    margin : float
        ``alpha``, on squared distances.

    Returns
    -------
    loss : Tensor (scalar)
    terms : dict
        The three terms before weighting, ``'hard'``, ``'reg'``, ``'adv'`` (scalars).
    """
    terms = {
        "hard": _sq_dist(synthetic, anchor).mean(),
        "reg": _sq_dist(synthetic, negative).mean(),
        "adv": F.relu(_sq_dist(z_synthetic, z_anchor) - _sq_dist(z_positive, z_anchor)
                      - margin).mean(),
    }
    return terms["hard"] + reg_weight * terms["reg"] + adv_weight * terms["adv"], terms


def sample_triplets(labels, per_anchor=1):
    """``per_anchor`` random triplets ``(a, p, n)`` for each anchor with a positive and a
    negative (positives and negatives drawn uniformly, with replacement).

    Uses torch's global generator (seeded by the learner during fit).
    """
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    pos, neg = same & ~eye, ~same
    a = torch.nonzero(pos.any(1) & neg.any(1), as_tuple=True)[0]
    if len(a) == 0:
        return a, a.clone(), a.clone()
    p = torch.multinomial(pos[a].float(), per_anchor, replacement=True).reshape(-1)
    n = torch.multinomial(neg[a].float(), per_anchor, replacement=True).reshape(-1)
    return a.repeat_interleave(per_anchor), p, n


class DAML(DeepMetricLearner):
    """Deep adversarial metric learning: a metric loss on generated hard negatives.

    Each training batch gives real triplets ``(x, x+, x-)``: ``triplets_per_anchor``
    random ones per sample (most of them easy), or the miner's. A generator
    (:class:`HardNegativeGenerator`, on the network's input) makes one synthetic negative
    ``x~-`` of each real triplet, and the two networks play against each other at every
    optimizer step:

    - the generator minimizes ``J_gen = J_hard + reg_weight * J_reg + adv_weight *
      J_adv`` (:func:`daml_generator_loss`): ``x~-`` near the anchor, near the negative
      it came from, and no farther from the anchor than the positive under the current
      metric (up to ``adv_margin``);
    - the network minimizes ``metric_weight * J_m``, the wrapped loss on the triplets
      ``(x, x+, x~-)``: the synthetic negatives take the real ones' place, one per real
      triplet (for a pair loss: positive pairs ``(x, x+)``, negative pairs ``(x, x~-)``).

    During the first ``warmup_epochs`` epochs the network trains on the real triplets
    themselves (the paper pre-trains the metric) while the generator already learns to
    fool it.

    Parameters
    ----------
    loss : torch.nn.Module class or instance, default=TripletMarginLoss
        The metric loss ``J_m``: one that takes triplets or negative pairs (triplet,
        contrastive, lifted structured, multi-similarity, ...; not N-pair, which takes its
        negatives from the other pairs' positives). ``loss__margin`` etc. reach it.
    module : torch.nn.Module class or instance, default=MLP
    miner : class, instance or None, default=None
        Chooses the real triplets (pairs are made into triplets); ``None``:
        ``triplets_per_anchor`` random ones per sample.
    distance : skdml.deep.distances distance or None, default=None
        The distance of the loss and the miner, as in
        :class:`~skdml.deep.DeepMetricLearner`.
    triplets_per_anchor : int, default=4
        Real triplets drawn per sample of a batch without a miner, hence synthetic
        negatives: ``batch_size * triplets_per_anchor`` of them per batch. More cost more
        (the network and the generator see each one, and the loss's distance matrix grows
        with their square) for a little more MAP@R on digits (see the docs).
    generator_hidden_sizes : tuple of int, default=(256, 256)
        With the output layer, a three-layer generator, as the paper's.
    reg_weight : float, default=30.0
        ``lambda_1``, on ``J_reg``: how near its real negative a synthetic one stays.
        Not the paper's 1 (see Notes).
    adv_weight : float, default=50.0
        ``lambda_2``, on ``J_adv``.
    adv_margin : float, default=1.0
        ``alpha`` of ``J_adv``, on squared embedding distances.
    metric_weight : float, default=1.0
        ``lambda``, on ``J_m``.
    warmup_epochs : int, default=5
    optimizer, lr, max_epochs, batch_size, samples_per_class, train_split, callbacks, \
device, random_state, verbose, warm_start, n_jobs, standardize, **kwargs
        As in :class:`~skdml.deep.DeepMetricLearner`.

    Attributes
    ----------
    generator_ : HardNegativeGenerator
    module_, loss_, miner_, optimizer_, history_, classes_, embedding_dim_, n_iter_, \
input_mean_, input_scale_, n_features_in_
        As in :class:`~skdml.deep.DeepMetricLearner`.

    Notes
    -----
    The paper writes one objective, ``J_gen + lambda J_m``, minimized over both networks.
    Here each network follows its own part -- ``J_gen`` does not move the metric (its
    weights enter ``J_adv`` detached) and ``J_m`` does not move the generator -- which is
    the adversarial reading: minimizing ``J_adv`` over the metric would pull synthetic
    negatives onto their anchors, and ``J_m`` over the generator would make them easy.
    So ``metric_weight`` scales the network's gradient only, which Adam's step does not
    see; it matters with plain SGD.

    The generator works on the network's (standardized) input, where the paper's works on
    CNN features and the metric is the layer above them; ``D`` in ``J_adv`` is the
    Euclidean distance of the embeddings, as in the paper. The other weights are the
    paper's (``lambda = 1``, ``lambda_2 = 50``, ``alpha = 1``), but not ``lambda_1``: it
    sets where a synthetic negative settles between its anchor (``J_hard``) and its
    negative (``J_reg``), half way at the paper's 1. On digits half way is too far: the
    generator then makes most synthetic negatives look like the anchor's class (their
    nearest real samples are of that class), the metric learns to push the anchor's own
    class away, and DAML falls well below the triplet loss it wraps; ``lambda_1 = 30``
    keeps them in their class and beats it (the measurements are in the docs, "Beyond
    binary supervision"). The residual, zero-initialized generator is ours: it starts by
    returning the real negatives.

    References
    ----------
    .. [1] Y. Duan, W. Zheng, X. Lin, J. Lu and J. Zhou, "Deep adversarial metric learning",
       CVPR 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdml.deep.daml import DAML
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = DAML(module__hidden_sizes=(16, 4), max_epochs=3, random_state=0)
    >>> learner.fit(X, y).transform(X[:3]).shape
    (3, 4)
    """

    cuda_dependent_attributes_ = DeepMetricLearner.cuda_dependent_attributes_ + ["generator_"]

    _parameter_constraints = {
        **DeepMetricLearner._parameter_constraints,
        "triplets_per_anchor": [Interval(Integral, 1, None, closed="left")],
        "generator_hidden_sizes": [tuple, list],
        "reg_weight": [Interval(Real, 0, None, closed="left")],
        "adv_weight": [Interval(Real, 0, None, closed="left")],
        "adv_margin": [Interval(Real, None, None, closed="neither")],
        "metric_weight": [Interval(Real, 0, None, closed="neither")],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        loss=TripletMarginLoss,
        module=MLP,
        miner=None,
        *,
        distance=None,
        triplets_per_anchor=4,
        generator_hidden_sizes=(256, 256),
        reg_weight=30.0,
        adv_weight=50.0,
        adv_margin=1.0,
        metric_weight=1.0,
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
        self.triplets_per_anchor = triplets_per_anchor
        self.generator_hidden_sizes = generator_hidden_sizes
        self.reg_weight = reg_weight
        self.adv_weight = adv_weight
        self.adv_margin = adv_margin
        self.metric_weight = metric_weight
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

    def initialize_criterion(self):
        """The metric loss and miner (as the base does), and the generator."""
        super().initialize_criterion()
        kind = getattr(self.loss_, "tuple_kind", None)
        if kind not in ("triplet", "pair") or isinstance(self.loss_, NPairLoss):
            raise ValueError(
                "DAML trains the metric on synthetic negatives, so its loss must take "
                "triplets or negative pairs (TripletMarginLoss, ContrastiveLoss, "
                f"MultiSimilarityLoss, ...); {type(self.loss_).__name__} does not."
            )
        n_features = 1
        for size in getattr(self, "_sample_shape", (self.n_features_in_,)):
            n_features *= int(size)
        self.generator_ = HardNegativeGenerator(
            n_features, tuple(self.generator_hidden_sizes)
        ).to(self.device)
        return self

    def _real_triplets(self, embeddings, labels):
        """The batch's real triplets: the miner's, or ``triplets_per_anchor`` random ones."""
        if self.miner_ is not None:
            return as_triplets(self.miner_(embeddings, labels))
        return sample_triplets(labels, self.triplets_per_anchor)

    def _batch_loss(self, embeddings, y, X, *, training):
        """``J_gen + metric_weight * J_m`` in training; the metric loss of the batch's real
        tuples in evaluation."""
        if not training:
            return super()._batch_loss(embeddings, y, X, training=training)
        labels = y.long()
        a, p, n = self._real_triplets(embeddings, labels)
        if len(a) == 0:
            return super()._batch_loss(embeddings, y, X, training=training)
        x = to_tensor(X, device=self.device).to(embeddings.dtype)
        shape = x.shape[1:]
        x = x.reshape(len(x), -1)
        synthetic = self.generator_(x[a], x[p], x[n])
        # J_gen moves the generator only: the metric's weights enter detached
        frozen = {k: v.detach() for k, v in self.module_.named_parameters()}
        z_synthetic = functional_call(self.module_, frozen, (synthetic.reshape(-1, *shape),))
        fixed = embeddings.detach()
        j_gen, _ = daml_generator_loss(
            x[a], x[n], synthetic, fixed[a], fixed[p], z_synthetic,
            reg_weight=self.reg_weight, adv_weight=self.adv_weight, margin=self.adv_margin)
        # J_m moves the network only: on the synthetic negatives, after the warm-up
        if self._epoch() > self.warmup_epochs:
            synthetic = synthetic.detach().reshape(-1, *shape)
            z = torch.cat([embeddings, self.module_(synthetic)])
            labels = torch.cat([labels, labels[n]])
            n = len(embeddings) + torch.arange(len(a), device=a.device)
        else:
            z = embeddings
        tuples = (a, p, n) if self.loss_.tuple_kind == "triplet" else (a, p, a, n)
        return j_gen + self.metric_weight * self.loss_(z, labels, tuples)
