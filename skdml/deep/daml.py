"""DAML: deep adversarial metric learning (Duan, Zheng, Lin, Lu & Zhou).

A generator turns easy negatives into synthetic hard ones -- close to the anchor, still near
the negative they came from, and hard for the current metric -- and the metric is trained on
the real batch together with these synthetic negatives, jointly with the generator.
"""

from numbers import Integral, Real

import torch
from torch import nn
from torch.nn import functional as F

from .._param_validation import Interval
from ._base import DeepMetricLearner
from ._modules import MLP
from .losses import NPairLoss, TripletMarginLoss
from .miners import all_pairs, all_triplets, as_pairs, as_triplets

__all__ = ["DAML", "HardNegativeGenerator", "daml_generator_loss", "sample_triplets"]


class HardNegativeGenerator(nn.Module):
    """DAML's generator: ``(f_a, f_p, f_n) -> f_n~``, a synthetic negative embedding.

    A fully connected ReLU network on the concatenated anchor, positive and negative
    embeddings, output added to the negative (``f_n~ = f_n + g(f_a, f_p, f_n)``, with the
    last layer zero-initialized, so the generator starts as the identity on negatives).

    Parameters
    ----------
    embedding_dim : int
    hidden_sizes : tuple of int, default=(128,)
    """

    def __init__(self, embedding_dim, hidden_sizes=(128,)):
        super().__init__()
        sizes = [3 * int(embedding_dim), *[int(h) for h in hidden_sizes]]
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        last = nn.Linear(sizes[-1], int(embedding_dim))
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)
        self.embedding_dim = int(embedding_dim)

    def forward(self, anchor, positive, negative):
        if not anchor.shape == positive.shape == negative.shape or anchor.dim() != 2:
            raise ValueError(
                "HardNegativeGenerator expects anchor, positive and negative embeddings of one "
                f"shape (n, {self.embedding_dim}), got {tuple(anchor.shape)}, "
                f"{tuple(positive.shape)} and {tuple(negative.shape)}."
            )
        return negative + self.net(torch.cat([anchor, positive, negative], 1))


def daml_generator_loss(anchor, positive, negative, synthetic, reg_weight=1.0,
                        adv_weight=50.0, margin=1.0):
    """``J_gen = J_hard + lambda_1 J_reg + lambda_2 J_adv``, averaged over the triplets.

    ``J_hard = |f_n~ - f_a|^2`` (close to the anchor: hard), ``J_reg = |f_n~ - f_n|^2``
    (close to the negative it came from: still a negative), ``J_adv = max(0, |f_n~ - f_a|^2
    - |f_p - f_a|^2 - margin)`` (no farther from the anchor than the positive, up to the
    margin: a triplet the metric gets wrong).
    """
    d_an = ((synthetic - anchor) ** 2).sum(1)
    d_reg = ((synthetic - negative) ** 2).sum(1)
    d_ap = ((positive - anchor) ** 2).sum(1)
    return (d_an + reg_weight * d_reg + adv_weight * F.relu(d_an - d_ap - margin)).mean()


def sample_triplets(labels):
    """One random triplet ``(a, p, n)`` per anchor that has a positive and a negative.

    Uniform draws with torch's global generator (seeded by the learner during fit).
    """
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    pos, neg = same & ~eye, ~same
    a = torch.nonzero(pos.any(1) & neg.any(1), as_tuple=True)[0]
    if len(a) == 0:
        return a, a.clone(), a.clone()
    p = torch.multinomial(pos[a].float(), 1).squeeze(1)
    n = torch.multinomial(neg[a].float(), 1).squeeze(1)
    return a, p, n


class DAML(DeepMetricLearner):
    """Deep adversarial metric learning: any metric loss, with synthetic hard negatives.

    For each sample ``a`` of a (class-balanced) batch, a random positive ``p`` and negative
    ``n`` are drawn and the generator (:class:`HardNegativeGenerator`) turns ``n`` into a
    synthetic negative ``n~``. The generator minimizes :func:`daml_generator_loss`,
    ``J_hard + reg_weight * J_reg + adv_weight * J_adv``, on the (fixed) embeddings; the
    network minimizes ``metric_weight * J_m``, the wrapped metric loss on the batch
    augmented with the synthetic negatives: the real batch's tuples (the miner's, or all of
    them) plus each ``n~`` as a negative of the anchor it was made for (triplets
    ``(a, p, n~)``, or negative pairs ``(a, n~)``; for N-pair, which takes its negatives
    from the other pairs' positives, each ``n~`` enters as a pair ``(n~, n~)``). Both are
    trained jointly, one optimizer step per batch; synthetic negatives enter ``J_m`` after
    ``warmup_epochs`` epochs.

    Parameters
    ----------
    loss : torch.nn.Module class or instance, default=TripletMarginLoss
        The metric loss (``loss__margin`` etc. reach it).
    module : torch.nn.Module class or instance, default=MLP
    miner : class, instance or None, default=None
    distance : skdml.deep.distances distance or None, default=None
        The distance of the loss and the miner, as in
        :class:`~skdml.deep.DeepMetricLearner`.
    generator_hidden_sizes : tuple of int, default=(128,)
    reg_weight : float, default=1.0
        ``lambda_1``.
    adv_weight : float, default=50.0
        ``lambda_2``.
    adv_margin : float, default=1.0
        ``alpha`` of ``J_adv``, on squared distances.
    metric_weight : float, default=1.0
        ``lambda`` on ``J_m``.
    warmup_epochs : int, default=5
    optimizer, lr, max_epochs, batch_size, samples_per_class, train_split, callbacks, \
device, random_state, verbose, warm_start, n_jobs, standardize, **kwargs
        As in :class:`~skdml.deep.DeepMetricLearner`.

    Attributes
    ----------
    generator_ : HardNegativeGenerator
    module_, loss_, miner_, optimizer_, history_, classes_, embedding_dim_, n_iter_, \
n_features_in_
        As in :class:`~skdml.deep.DeepMetricLearner`.

    Notes
    -----
    The generator works in the embedding space (the paper's works on CNN features before
    the metric's last layer); with the embeddings detached in ``J_gen`` and the synthetic
    negatives detached in ``J_m``, each network follows its own objective.

    References
    ----------
    .. [1] Y. Duan, W. Zheng, X. Lin, J. Lu and J. Zhou, "Deep adversarial metric learning",
       CVPR 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdml.deep import TripletMarginLoss
    >>> from skdml.deep.daml import DAML
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = DAML(TripletMarginLoss, module__hidden_sizes=(16, 4), max_epochs=3,
    ...                random_state=0)
    >>> learner.fit(X, y).transform(X[:3]).shape
    (3, 4)
    """

    cuda_dependent_attributes_ = DeepMetricLearner.cuda_dependent_attributes_ + ["generator_"]

    _parameter_constraints = {
        **DeepMetricLearner._parameter_constraints,
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
        generator_hidden_sizes=(128,),
        reg_weight=1.0,
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
        self.generator_ = HardNegativeGenerator(
            self.embedding_dim_, tuple(self.generator_hidden_sizes)
        ).to(self.device)
        return self

    def _augmented_tuples(self, y_pred, labels, a, p, synthetic):
        """The real batch's tuples (the miner's, or all) plus each synthetic negative as the
        negative of the anchor it was made for: triplets ``(a, p, n~)`` for a triplet loss,
        negative pairs ``(a, n~)`` for a pair loss. N-pair takes its negatives from the
        other pairs' positives: each ``n~`` enters as a pair ``(n~, n~)``, so it is a
        negative of every anchor of another class (its own row is constant: ``n~`` carries
        no gradient)."""
        s = len(y_pred) + torch.arange(len(a), device=a.device)
        mined = None if self.miner_ is None else self.miner_(y_pred, labels)
        if getattr(self.loss_, "tuple_kind", "pair") == "triplet":
            real = all_triplets(labels) if mined is None else as_triplets(mined)
            return tuple(torch.cat([r, t]) for r, t in zip(real, (a, p, s)))
        real = all_pairs(labels) if mined is None else as_pairs(mined)
        if isinstance(self.loss_, NPairLoss):
            return (torch.cat([real[0], s]), torch.cat([real[1], s]), real[2], real[3])
        return (real[0], real[1], torch.cat([real[2], a]), torch.cat([real[3], s]))

    def _batch_loss(self, embeddings, y, X, *, training):
        """``metric_weight * J_m`` on the augmented batch plus ``J_gen``, in training; the
        metric loss of the batch in evaluation."""
        if not training:
            return super()._batch_loss(embeddings, y, X, training=training)
        labels = y.long()
        a, p, n = sample_triplets(labels)
        fixed = embeddings.detach()
        synthetic = self.generator_(fixed[a], fixed[p], fixed[n])
        loss = daml_generator_loss(fixed[a], fixed[p], fixed[n], synthetic,
                                   self.reg_weight, self.adv_weight, self.adv_margin)
        if self._epoch() > self.warmup_epochs and len(a):
            z = torch.cat([embeddings, synthetic.detach()])
            tuples = self._augmented_tuples(embeddings, labels, a, p, synthetic)
            metric = self.loss_(z, torch.cat([labels, labels[n]]), tuples)
        else:
            metric = super()._batch_loss(embeddings, labels, X, training=training)
        return loss + self.metric_weight * metric
