"""A Siamese network: one network embeds both members of a pair, a pair loss trains it."""

import torch

from ._base import DeepMetricLearner
from ._modules import MLP
from ._pairs import DeepPairMixin
from .losses import DistanceLogisticLoss

__all__ = ["SiameseNetwork"]


class SiameseNetwork(DeepPairMixin, DeepMetricLearner):
    r"""A Siamese network trained with any pair loss, from labelled pairs or class labels.

    The network (two weight-sharing branches, one :class:`~skdml.deep.MLP` by default) maps
    each member of a pair to an embedding; a pair loss on the embeddings' distance trains
    it. This is :class:`~skdml.deep.DeepMetricLearner` with the pair API of
    :class:`~skdml.deep.DDML`: ``fit(pairs, y)`` on pairs of shape (n_pairs, 2, n_features)
    labelled +1 / -1 (or index pairs with ``preprocessor=X``), after which the threshold
    that best separates the training pairs makes ``predict``, ``decision_function`` and
    ``score`` work on pairs; or ``fit(X, y)`` on class labels, every pair of a batch then
    training the loss.

    The default loss is the distance-based logistic (DBL) loss of Vo and Hays,
    ``-log p`` for a positive and ``-log(1 - p)`` for a negative pair with
    ``p = (1 + e^{-m}) / (1 + e^{d - m})``; ``loss=ContrastiveLoss, loss__power=1`` is the
    plain-distance contrastive loss ``l d + (1 - l) max(0, m - d)`` of the Siamese-network
    literature (Hadsell et al.; ``loss__power=2`` their squared form). On digits
    verification pairs the DBL loss scores above the contrastive loss, as the paper reports
    (see ``benchmarks/bench_seed_learners.py --part siamese``).

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=MLP
        The network both branches share.
    loss : torch.nn.Module class or instance, default=DistanceLogisticLoss
        A pair loss (``tuple_kind = 'pair'``): :class:`~skdml.deep.DistanceLogisticLoss`,
        :class:`~skdml.deep.ContrastiveLoss`, :class:`~skdml.deep.GeneralizedLogisticLoss`.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
    lr : float, default=1e-3
    max_epochs : int, default=30
    batch_size : int, default=128
        Pairs per batch when fitted on pairs; the largest class-balanced batch when fitted
        on class labels.
    miner : class, instance or None, default=None
        Which pairs of a batch the loss sees after a fit on class labels (a fit on pairs
        trains on exactly the given pairs and takes no miner).
    distance : skdml.deep.distances distance or None, default=None
    samples_per_class : int or None, default=None
    train_split : callable or None, default=None
    callbacks : list or None, default=None
    device : str or torch.device, default='cpu'
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batch order and torch's generators during fit.
    verbose : int, default=0
    warm_start : bool, default=False
    n_jobs : int or None, default=None
        Threads of torch, BLAS and numba during ``fit`` and ``transform``; ``None`` means 1.
    standardize : bool, default=True
        Standardize every input feature inside, with the training data's mean and scale.
    **kwargs
        skorch sub-parameters (``module__hidden_sizes``, ``loss__margin``,
        ``optimizer__weight_decay``, ...). The parameters without a description here are
        those of :class:`~skdml.deep.DeepMetricLearner`.

    Attributes
    ----------
    threshold_ : float
        After a fit on pairs: the distance below which a pair is predicted similar.
    classes_ : ndarray
        ``[-1, 1]`` after a fit on pairs; the class labels after a fit on class labels.
    module_, loss_, history_, embedding_dim_, n_iter_, input_mean_, input_scale_,
    n_features_in_ : as in :class:`~skdml.deep.DeepMetricLearner`

    See Also
    --------
    DDML : a Siamese network with the generalized logistic loss and the paper's parameters.

    References
    ----------
    .. [1] J. Bromley, I. Guyon, Y. LeCun, E. Saeckinger and R. Shah, "Signature
       verification using a Siamese time delay neural network", NIPS 1993.
    .. [2] R. Hadsell, S. Chopra and Y. LeCun, "Dimensionality reduction by learning an
       invariant mapping", CVPR 2006.
    .. [3] N. N. Vo and J. Hays, "Localizing and orienting street views using overhead
       imagery", ECCV 2016.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdml.datasets import make_pairs
    >>> from skdml.deep import SiameseNetwork
    >>> X, y = load_iris(return_X_y=True)
    >>> pairs, labels = make_pairs(X, y, 300, return_indices=True, random_state=0)
    >>> net = SiameseNetwork(module__hidden_sizes=(16, 8), max_epochs=20, random_state=0)
    >>> net.fit(pairs[:200], labels[:200], preprocessor=X).classes_
    array([-1,  1])
    >>> net.score(pairs[200:], labels[200:], preprocessor=X) > 0.8
    True
    """

    def __init__(
        self,
        module=MLP,
        loss=DistanceLogisticLoss,
        miner=None,
        *,
        distance=None,
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
        super().__init__(
            module=module, loss=loss, miner=miner, distance=distance, optimizer=optimizer,
            lr=lr, max_epochs=max_epochs, batch_size=batch_size,
            samples_per_class=samples_per_class, train_split=train_split,
            callbacks=callbacks, device=device, random_state=random_state, verbose=verbose,
            warm_start=warm_start, n_jobs=n_jobs, standardize=standardize, **kwargs)
