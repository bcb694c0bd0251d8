"""Deep metric learning beyond binary supervision: the log-ratio loss (Kim et al.).

For continuous or structured labels (a pose, a caption embedding, a real-valued target) there
are no classes, hence no positives and negatives: the log-ratio loss asks the ratio of two
embedding distances to match the ratio of the two label distances, for every triplet of a
minibatch (dense triplets), and minibatches gather anchors with their nearest neighbors in
label space so that every batch holds close pairs as well as far ones.
"""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch.utils.data import Sampler

from .._param_validation import Interval, StrOptions
from .._validation import check_regression_target
from ..kernels import pairwise_distances
from ._base import DeepMetricLearner, _dataset_labels, _init_params
from ._modules import MLP
from ._neighbors import LABEL_METRICS, check_label_block, dense_triplets, label_distances
from .losses import LogRatioLoss, ThresholdTripletLoss

__all__ = [
    "LogRatioLearner",
    "LogRatioLoss",
    "NearestLabelBatchSampler",
    "ThresholdTripletLoss",
    "dense_triplets",
    "label_distances",
]

_KERNEL_METRICS = {"sqeuclidean": "sqeuclidean", "euclidean": "euclidean",
                   "cityblock": "manhattan"}


def _label_distance_block(Ya, Yb, metric):
    """Label distances between two NumPy blocks (float64), for the nearest-label sampler."""
    if callable(metric):
        return check_label_block(metric(Ya, Yb), len(Ya), len(Yb))
    return pairwise_distances(Ya, Yb, metric=_KERNEL_METRICS[metric])


class NearestLabelBatchSampler(Sampler):
    """Batches of anchors together with their nearest neighbors in label space.

    The minibatches of Kim et al. for continuous labels: each batch draws
    ``n_anchors = max(1, batch_size // (n_neighbors + 1))`` anchors and adds the
    ``n_neighbors`` samples nearest to each in label space (over the whole training set,
    computed once), so a batch holds pairs at every scale of label distance: close ones
    around each anchor, far ones across anchors. Anchors are taken in a fresh random order,
    cycling; an epoch has ``ceil(n_samples / (n_anchors * (n_neighbors + 1)))`` batches,
    about one pass over the data. A sample appears at most once in a batch.

    Parameters
    ----------
    labels : array-like of shape (n_samples,) or (n_samples, k)
    batch_size : int
    n_neighbors : int, default=5
        Clipped to ``n_samples - 1``.
    label_distance : str or callable, default='sqeuclidean'
        See :func:`label_distances`.
    random_state : int, RandomState instance or None, default=None
    """

    def __init__(self, labels, batch_size, n_neighbors=5, label_distance="sqeuclidean",
                 random_state=None):
        Y = np.asarray(labels, dtype=np.float64)
        Y = Y.reshape(len(Y), -1)
        n = len(Y)
        if n < 2:
            raise ValueError("NearestLabelBatchSampler needs at least two samples.")
        k = int(min(n_neighbors, n - 1))
        self.n_neighbors = k
        self.n_anchors = max(1, int(batch_size) // (k + 1))
        self.n_batches = max(1, math.ceil(n / (self.n_anchors * (k + 1))))
        self.neighbors = np.empty((n, k), dtype=np.intp)
        rows = max(1, 2**22 // n)  # ~32 MiB of float64 distances per block
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            D = _label_distance_block(Y[start:stop], Y, label_distance)
            D[np.arange(stop - start), np.arange(start, stop)] = np.inf  # never itself
            # stable: ties go to the smaller index, so the neighbors are deterministic
            self.neighbors[start:stop] = np.argsort(D, axis=1, kind="stable")[:, :k]
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        self._rng = np.random.default_rng(seed)
        self._order, self._pos = None, 0

    def __len__(self):
        return self.n_batches

    def _anchors(self):
        n, m = len(self.neighbors), self.n_anchors
        out = []
        while len(out) < m:
            if self._order is None or self._pos >= n:
                self._order, self._pos = self._rng.permutation(n), 0
            take = self._order[self._pos:self._pos + m - len(out)]
            self._pos += len(take)
            out.extend(take.tolist())
        return np.asarray(out[:m])

    def __iter__(self):
        for _ in range(self.n_batches):
            anchors = self._anchors()
            batch = np.concatenate([anchors, self.neighbors[anchors].ravel()])
            _, first = np.unique(batch, return_index=True)
            yield batch[np.sort(first)]


class LogRatioLearner(DeepMetricLearner):
    """Deep metric learning from continuous labels with the log-ratio loss and dense triplets.

    ``fit(X, y)`` takes a real-valued target ``y`` of shape (n,) or (n, k) -- a regression
    target, a pose, any label vector -- and a label distance (``'sqeuclidean'`` by default,
    or a callable). It trains the network so that, for every triplet ``(a, i, j)`` of a
    minibatch, the ratio of embedding distances ``D(f_a, f_i) / D(f_a, f_j)`` matches the
    ratio of label distances (:class:`LogRatioLoss`); minibatches are built by
    :class:`NearestLabelBatchSampler` (anchors with their ``n_neighbors`` nearest neighbors
    in label space), and the loss sees all their triplets (:func:`dense_triplets`).
    Embedding distances then rank samples by label distance: retrieval by a continuous
    similarity, without thresholding labels into classes.

    Every other parameter, attribute and skorch sub-parameter is that of
    :class:`~skdml.deep.DeepMetricLearner` (``classes_`` excepted: there are none).

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=MLP
    loss : torch.nn.Module class or instance, default=LogRatioLoss
        Called as ``loss(embeddings, labels, tuples)`` with float labels; a class taking
        ``label_distance`` receives the learner's. :class:`ThresholdTripletLoss` (with
        ``loss__threshold``) gives the paper's binary-thresholding baseline.
    distance : skdml.deep.distances distance or None, default=None
        The embedding distance of the loss, as in :class:`~skdml.deep.DeepMetricLearner`
        (``None``: the loss's own, the squared Euclidean distance; :class:`LogRatioLoss`
        takes a distance, not a similarity).
    label_distance : {'sqeuclidean', 'euclidean', 'cityblock'} or callable, \
default='sqeuclidean'
        Distance between two labels, used to find label neighbors and in the loss; a
        callable is called on two float64 arrays of labels, shapes (n_a, k) and (n_b, k),
        and returns the (n_a, n_b) distances.
    n_neighbors : int, default=5
        Label-space neighbors of each anchor in a batch.
    eps : float, default=1e-6
        Added to distances inside the logarithms of :class:`LogRatioLoss`.
    optimizer, lr, max_epochs, train_split, callbacks, device, random_state, verbose, \
warm_start, n_jobs, standardize
        As in :class:`~skdml.deep.DeepMetricLearner`.
    batch_size : int, default=60
        Largest training batch (``n_anchors * (n_neighbors + 1)``), and the batch size of
        ``transform``. A batch of ``B`` has ``B (B - 1) (B - 2) / 2`` dense triplets.
    **kwargs
        skorch sub-parameters (``module__hidden_sizes``, ``optimizer__weight_decay``, ...).

    Attributes
    ----------
    module_, loss_, optimizer_, history_, embedding_dim_, n_iter_, n_features_in_
        As in :class:`~skdml.deep.DeepMetricLearner`.
    n_outputs_ : int
        The label dimension ``k`` (1 for a target of shape (n,)).

    References
    ----------
    .. [1] S. Kim, M. Seo, I. Laptev, M. Cho and S. Kwak, "Deep metric learning beyond
       binary supervision", CVPR 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skdml.deep.logratio import LogRatioLearner
    >>> X, y = load_diabetes(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> learner = LogRatioLearner(module__hidden_sizes=(16, 4), max_epochs=3, random_state=0)
    >>> learner.fit(X, y).transform(X[:2]).shape
    (2, 4)
    """

    _parameter_constraints = {
        **{k: v for k, v in DeepMetricLearner._parameter_constraints.items()
           if k not in ("miner", "samples_per_class")},
        "label_distance": [StrOptions(set(LABEL_METRICS)), callable],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "eps": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        module=MLP,
        loss=LogRatioLoss,
        *,
        distance=None,
        label_distance="sqeuclidean",
        n_neighbors=5,
        eps=1e-6,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=30,
        batch_size=60,
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
        self.label_distance = label_distance
        self.n_neighbors = n_neighbors
        self.eps = eps
        super().__init__(
            module=module,
            loss=loss,
            miner=None,
            distance=distance,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            samples_per_class=None,
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

    def get_params_for(self, prefix):
        """skorch's sub-parameters; a loss taking them gets ``label_distance`` and ``eps``."""
        params = dict(super().get_params_for(prefix))
        if prefix == "loss" and isinstance(self.loss, type):
            taken = _init_params(self.loss)
            if "label_distance" in taken:
                params.setdefault("label_distance", self.label_distance)
            if "eps" in taken:
                params.setdefault("eps", self.eps)
        return params

    def _validate_target(self, y, n_samples, *, reset):
        """Real-valued labels of shape (n,) or (n, k), as float64: label distances are taken
        in full precision. ``fit`` learns ``n_outputs_``; a warm start and ``partial_fit``
        need labels of that dimension."""
        name = type(self).__name__
        if y is None:
            raise ValueError(f"{name} requires y to be passed, but the target y is None.")
        y = check_regression_target(y, n_samples, estimator=self)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if reset and not (self.warm_start and self.initialized_):
            self.n_outputs_ = n_outputs
        elif n_outputs != self.n_outputs_:
            raise ValueError(
                f"{name}: expected labels of the first fit's dimension {self.n_outputs_}, got "
                f"y of shape {y.shape}."
            )
        return np.ascontiguousarray(y, dtype=np.float64)

    def _train_batch_sampler(self, dataset):
        """Nearest-label batches (:class:`NearestLabelBatchSampler`)."""
        return NearestLabelBatchSampler(
            _dataset_labels(dataset), self.batch_size, self.n_neighbors, self.label_distance,
            random_state=int(self._seeds[1]),
        )

    def _batch_loss(self, embeddings, y, X, *, training):
        """The loss of a batch on its float labels, over all its triplets."""
        return self.loss_(embeddings, y, None)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

