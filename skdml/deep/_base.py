"""The skorch estimator every deep metric learner derives from, and its batch sampler."""

import contextlib
import inspect
import math
from numbers import Integral, Real
from types import MappingProxyType

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import PrintLog
from skorch.dataset import Dataset, unpack_data
from skorch.utils import to_tensor
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data
from torch.utils.data import DataLoader, Sampler, Subset, default_convert

from .._param_validation import Interval, validate_parameter_constraints
from .._threads import uses_threads
from ..base import BaseMetricLearner, fit_context
from .._validation import check_classification_labels
from ._modules import MLP
from .callbacks import CollapseDetector
from .distances import BaseDistance
from .losses import ContrastiveLoss

__all__ = ["ClassBalancedBatchSampler", "DeepMetricLearner"]


class ClassBalancedBatchSampler(Sampler):
    """Batches of ``m`` samples from each of several classes, so every batch has positives.

    Each batch draws ``classes_per_batch = min(n_classes, max(2, batch_size // m))`` distinct
    classes uniformly at random and ``m`` samples of each; within a class, samples are taken
    in a fresh random order, cycling, so every sample is seen about once per
    ``len(sampler)`` batches. A class with ``m`` members or fewer contributes all of them
    (no sample is repeated within a batch). An epoch has ``ceil(n_samples / (classes_per_batch
    * m))`` batches, about one pass over the data.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Class labels of the dataset.
    batch_size : int
        The largest batch wanted; a batch holds ``classes_per_batch * m`` samples (at least
        two classes, so it may exceed ``batch_size`` when ``m > batch_size / 2``).
    samples_per_class : int or None, default=None
        ``m``. ``None`` picks ``max(2, batch_size // n_classes)``: every class in each batch
        when the classes fit, two samples of each of ``batch_size // 2`` classes otherwise.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws.
    """

    def __init__(self, labels, batch_size, samples_per_class=None, random_state=None):
        labels = np.asarray(labels)
        classes, y = np.unique(labels, return_inverse=True)
        if len(labels) == 0:
            raise ValueError("ClassBalancedBatchSampler needs at least one sample.")
        n_classes = len(classes)
        m = samples_per_class if samples_per_class is not None else max(2, batch_size // n_classes)
        self.samples_per_class = int(m)
        self.classes_per_batch = min(n_classes, max(2, batch_size // self.samples_per_class))
        self.members = [np.flatnonzero(y == c) for c in range(n_classes)]
        per_batch = self.classes_per_batch * self.samples_per_class
        self.n_batches = max(1, math.ceil(len(labels) / per_batch))
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        self._rng = np.random.default_rng(seed)
        self._order = [None] * n_classes
        self._pos = [0] * n_classes

    def __len__(self):
        return self.n_batches

    def _take(self, c):
        members, m = self.members[c], self.samples_per_class
        if len(members) <= m:
            return self._rng.permutation(members)
        order, pos = self._order[c], self._pos[c]
        if order is None or pos + m > len(order):
            # start a new cycle with the samples this one has not shown yet, so that no
            # sample appears twice in a batch and every one is seen once per cycle
            rest = order[pos:] if order is not None else members[:0]
            others = np.ones(len(members), dtype=bool)
            others[np.searchsorted(members, rest)] = False  # members is sorted
            order = np.concatenate([rest, self._rng.permutation(members[others])])
            pos = 0
        self._order[c], self._pos[c] = order, pos + m
        return order[pos:pos + m]

    def __iter__(self):
        # the whole epoch is drawn at once, in one tight loop: drawn between training steps,
        # each batch would start from cold caches and cost several times more
        n_classes = len(self.members)
        batches = []
        for _ in range(self.n_batches):
            chosen = self._rng.choice(n_classes, self.classes_per_batch, replace=False)
            batches.append(np.concatenate([self._take(c) for c in chosen]))
        return iter(batches)


class _ArrayDataset(Dataset):
    """skorch's Dataset, indexing NumPy arrays directly by a whole batch of indices.

    skorch turns an index array into a list and inspects it element by element; with the
    batch fetched in one call, plain NumPy fancy indexing is what is wanted.
    """

    def __getitem__(self, i):
        if isinstance(self.X, np.ndarray) and (self.y is None or isinstance(self.y, np.ndarray)):
            return self.transform(self.X[i], None if self.y is None else self.y[i])
        return super().__getitem__(i)


class _WholeBatches:
    """Iterate a dataset by whole batches: one indexing per batch, converted to tensors.

    What a ``DataLoader(dataset, sampler=batches, batch_size=None)`` without workers yields
    (the same ``default_convert``), without its per-batch machinery (profiler ranges, worker
    bookkeeping), which costs more than indexing the batch itself.
    """

    def __init__(self, dataset, sampler):
        self.dataset, self.sampler = dataset, sampler

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        for index in self.sampler:
            yield _to_tensors(self.dataset[index])


def _to_tensors(batch):
    """``default_convert``, with a shortcut for the usual batch: numeric NumPy arrays and
    tensors, which become tensors sharing their memory."""
    if isinstance(batch, tuple) and all(
        isinstance(a, torch.Tensor) or (type(a) is np.ndarray and a.dtype.kind in "biuf")
        for a in batch
    ):
        return [torch.from_numpy(a) if type(a) is np.ndarray else a for a in batch]
    return default_convert(batch)


def _batch_iterator(dataset, sampler, **kwargs):
    """Batches of ``dataset`` at the index arrays (or slices) ``sampler`` yields, fetched
    whole; ``kwargs`` (workers, pinned memory, ...) call for torch's ``DataLoader``."""
    if kwargs:
        return DataLoader(dataset, sampler=sampler, batch_size=None, **kwargs)
    return _WholeBatches(dataset, sampler)


class _PrintLog(PrintLog):
    """skorch's progress table, skipping the formatting of rows that nobody would see."""

    def on_epoch_end(self, net, **kwargs):
        if self.sink is print and not net.verbose:
            return
        super().on_epoch_end(net, **kwargs)


def _not_a_predictor(estimator):
    raise AttributeError(
        f"{type(estimator).__name__} is a transformer: use transform(X) for embeddings, and "
        "a classifier (e.g. KNeighborsClassifier) after it in a Pipeline to predict."
    )


class _SequentialBatches(Sampler):
    """Consecutive slices ``[i, i + batch_size)``: one cheap indexing per batch."""

    def __init__(self, n_samples, batch_size):
        self.n_samples, self.batch_size = n_samples, batch_size

    def __len__(self):
        return math.ceil(self.n_samples / self.batch_size)

    def __iter__(self):
        for start in range(0, self.n_samples, self.batch_size):
            yield slice(start, min(start + self.batch_size, self.n_samples))


def _init_params(obj):
    try:
        return inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return {}


def _dataset_labels(dataset):
    """The class labels of a skorch Dataset, or of a Subset of one (a train/valid split)."""
    if isinstance(dataset, Subset):
        return _dataset_labels(dataset.dataset)[np.asarray(dataset.indices)]
    if isinstance(dataset, Dataset) and dataset.y is not None:
        return np.asarray(dataset.y)
    raise ValueError(
        "The class-balanced sampler needs the labels of the training data: pass X and y as "
        "arrays, or give your own iterator_train__batch_sampler."
    )


def _takes_flat_samples(module):
    """Whether the network (a class or an instance) takes only samples of shape
    (n_samples, n_features): :class:`MLP` and the networks that say so (``flat_samples``)."""
    return bool(getattr(module, "flat_samples", False))


@contextlib.contextmanager
def _seeded_torch(seed, device):
    """Seed torch's generators for the block and restore the caller's state after it."""
    dev = torch.device(device)
    devices = []
    if dev.type == "cuda":
        devices = [dev.index if dev.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _input_scaling(X, standardize):
    """The per-feature mean and scale that standardize ``X`` (float64, of one sample's
    shape), or ``(None, None)``. A feature whose spread is negligible against its magnitude
    (constant, up to rounding) keeps scale 1, as scikit-learn's ``StandardScaler`` does."""
    if not standardize:
        return None, None
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    tiny = scale <= 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
    scale[tiny] = 1.0
    return mean, scale


class DeepMetricLearner(NeuralNet, BaseMetricLearner):
    """Deep metric learning as a scikit-learn transformer: a network, a loss and a miner.

    A skorch :class:`~skorch.NeuralNet` joining three separate pieces:

    - ``module``: the network (a ``torch.nn.Module``; default :class:`~skdml.deep.MLP`),
      mapping a sample to its embedding;
    - ``loss``: a module computing a scalar from embeddings, labels and (optionally) the
      tuples a miner selected -- any of :mod:`skdml.deep.losses`;
    - ``miner``: which pairs or triplets of a batch the loss sees -- any of
      :mod:`skdml.deep.miners`, or ``None`` for all of them;
    - ``distance``: optionally, the one distance both of them measure embeddings with
      (:mod:`skdml.deep.distances`), so that it is not repeated on each.

    ``fit(X, y)`` trains on class labels with class-balanced batches (``samples_per_class``
    samples of each of several classes, so every batch holds positive pairs);
    ``transform(X)`` returns the embeddings as a NumPy array (eval mode, no gradients), in
    which Euclidean distance is the learned distance. The learner clones, pickles, and works
    in ``Pipeline`` and ``GridSearchCV`` like any scikit-learn transformer. Sub-parameters
    follow skorch: ``module__hidden_sizes=(256, 64)``, ``loss__margin=0.5``,
    ``miner__margin=0.1``, ``optimizer__weight_decay=1e-4``, ``callbacks__<name>__<param>``,
    ``iterator_train__<param>``. Classes given for ``module``, ``loss`` and ``miner``
    are built at fit time with what the data tells: the module receives ``n_features`` and a
    loss with class vectors (center, ArcFace, CosFace, SphereFace) ``n_classes`` and
    ``embedding_dim``, when their constructors take them and you did not set them; an
    :class:`~skdml.deep.MLP` trained with an angular margin loss (ArcFace, CosFace,
    SphereFace) gets a linear last layer (``module__output_activation='identity'``) unless
    you set one.

    Training is watched for collapse (every sample on one point, on the zero vector or on
    one code) by :class:`~skdml.deep.callbacks.CollapseDetector`, a default callback named
    ``'collapse'``: it warns with a :class:`~skdml.deep.callbacks.CollapseWarning` and
    records ``collapsed_``; ``callbacks__collapse=None`` switches it off.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=MLP
        The network. A class is instantiated at each fit (fresh weights); an instance is
        trained as it is (its weights carry over from fit to fit).
    loss : torch.nn.Module class or instance, default=ContrastiveLoss
        Called as ``loss(embeddings, labels, tuples)``.
    miner : class, instance or None, default=None
        Called as ``miner(embeddings, labels)``; ``None`` lets the loss use every tuple.
    distance : skdml.deep.distances distance or None, default=None
        Handed at fit to the loss and to the miner whose constructors take a ``distance``
        and whose ``loss__distance`` / ``miner__distance`` is not set: one argument
        changes the geometry of both (a component that cannot use it, such as a loss
        needing a distance given a similarity, says so). A loss or miner given as an
        instance is kept as it is; one measuring with another distance is refused with a
        ValueError. ``None``: each keeps its own default, except that a miner may name the
        distance of the loss it feeds (:class:`~skdml.deep.HardMiner`: the Euclidean
        distance, with which batch-hard triplets train) for a loss given as a class whose
        ``loss__distance`` (or ``loss__squared``) is not set.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
    lr : float, default=1e-3
    max_epochs : int, default=30
    batch_size : int, default=128
        Largest training batch (see :class:`ClassBalancedBatchSampler`) and the batch size
        of ``transform``.
    samples_per_class : int or None, default=None
        ``m`` samples per class in a batch; ``None``: ``max(2, batch_size // n_classes)``.
    train_split : callable or None, default=None
        skorch's internal validation split, e.g. ``skorch.dataset.ValidSplit(0.2,
        stratified=True)``: its loss is recorded as ``valid_loss`` in ``history_``, which
        ``callbacks=[skorch.callbacks.EarlyStopping(patience=5)]`` watches for early
        stopping. Off by default: all data trains.
    callbacks : list or None, default=None
        skorch callbacks, added to the defaults (timer, losses, the collapse detector, the
        progress table).
    device : str or torch.device, default='cpu'
        ``'cuda'`` trains on a GPU; ``transform`` always returns NumPy arrays.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialization, the batch sampler, any random miner and torch's
        generators during fit (restored afterwards), so a fit is deterministic on the CPU.
    verbose : int, default=0
        ``> 0`` prints skorch's table of losses and times per epoch.
    warm_start : bool, default=False
        Continue training the current network on the next ``fit``.
    n_jobs : int or None, default=None
        Threads of torch, BLAS and numba during ``fit``, ``partial_fit`` and ``transform``
        (restored afterwards): ``None`` means 1 unless in a
        ``joblib.parallel_config(n_jobs=...)`` context, ``-1`` means all cores
        (scikit-learn's meaning). One thread is the fastest for small networks on the CPU
        and never oversubscribes a busy machine; a large network may gain from more.
    standardize : bool, default=True
        Centre every input feature and scale it to unit variance, with the mean and
        standard deviation of the training data (``input_mean_``, ``input_scale_``), before
        the network sees it, in ``fit``, ``partial_fit`` and ``transform`` alike. Networks
        initialized for unit-scale inputs saturate on raw features (digits' pixels run to
        16): tanh units stuck at +-1 give one embedding, or one code, for every sample.
        Constant features are centred and left unscaled. ``False`` feeds ``X`` as it is,
        for data already scaled (or images a custom module normalizes itself).
    **kwargs
        skorch sub-parameters with a double underscore (``module__...``, ``loss__...``,
        ``miner__...``, ``optimizer__...``, ``iterator_train__...``, ``callbacks__...``).

    Attributes
    ----------
    module_, loss_, miner_, optimizer_ : the initialized network, loss, miner and optimizer
    history_ : skorch.History
        Per-epoch record (``train_loss``, ``valid_loss``, ``dur``; the collapse detector's
        ``embedding_spread``, ``identical_share`` and ``event_collapse``).
    collapsed_ : False or str
        What the collapse detector found in the last ``fit`` or ``partial_fit`` (e.g.
        ``'all embeddings zero'``), ``False`` when nothing; absent with
        ``callbacks__collapse=None``.
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in fit.
    embedding_dim_ : int
        Dimension of the embedding ``transform`` returns.
    n_iter_ : int
        Number of epochs trained in the last fit.
    input_mean_, input_scale_ : ndarray of shape (n_features_in,) or None
        The standardization of the input (``None`` with ``standardize=False``); for inputs
        of more dimensions, of the shape of one sample.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    See Also
    --------
    DDML : the generalized logistic loss on an MLP, with the paper's parameters named.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdml.deep import DeepMetricLearner, SemiHardMiner, TripletMarginLoss
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = DeepMetricLearner(loss=TripletMarginLoss, miner=SemiHardMiner,
    ...                             module__hidden_sizes=(16, 8), max_epochs=5,
    ...                             random_state=0)
    >>> learner.fit(X, y).transform(X[:3]).shape
    (3, 8)
    """

    prefixes_ = NeuralNet.prefixes_ + ["module", "loss", "miner", "optimizer"]
    cuda_dependent_attributes_ = ["module_", "loss_", "optimizer_"]
    _modules = ["module"]
    _criteria = ["loss"]
    _optimizers = ["optimizer"]

    # skorch's unfitted state, as class attributes (initialize() sets instance ones)
    history_ = None
    initialized_ = False
    virtual_params_ = MappingProxyType({})

    _parameter_constraints = {
        "module": [callable],
        "loss": [callable],
        "miner": [callable, None],
        "distance": [BaseDistance, None],
        "optimizer": [callable],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "samples_per_class": [Interval(Integral, 2, None, closed="left"), None],
        "train_split": [callable, None],
        "callbacks": [list, None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "n_jobs": [Integral, None],
        "standardize": ["boolean"],
    }

    def __init__(
        self,
        module=MLP,
        loss=ContrastiveLoss,
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
        # set before NeuralNet.__init__: skorch refuses torch modules as attributes later
        self.standardize = standardize
        self.loss = loss
        self.miner = miner
        self.distance = distance
        self.samples_per_class = samples_per_class
        self.random_state = random_state
        self.n_jobs = n_jobs
        super().__init__(
            module=module,
            criterion=None,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            callbacks=callbacks,
            predict_nonlinearity=None,
            dataset=_ArrayDataset,
            warm_start=warm_start,
            verbose=verbose,
            device=device,
            **kwargs,
        )
        # The loss takes the criterion's place; NeuralNet.__init__ requires the name. Plain
        # deletions (skorch's __delattr__ would unregister a component): scikit-learn wants
        # nothing but parameters set in __init__, and the class-level defaults below give
        # skorch the same unfitted state.
        for name in ("criterion", "history_", "initialized_", "virtual_params_"):
            object.__delattr__(self, name)

    # --- scikit-learn's parameter interface ------------------------------------------------

    def _get_param_names(self):
        """The constructor's named parameters plus the skorch sub-parameters (``a__b``)."""
        names = [
            p.name
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        extra = [k for k in self.__dict__ if "__" in k and not k.startswith("_")
                 and not k.endswith("_")]
        return sorted(set(names) | set(extra))

    def _validate_params(self):
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )
        super()._validate_params()

    def set_params(self, **params):
        """Set parameters; before the first fit, nothing is checked or built until ``fit``
        (scikit-learn's convention), ``callbacks`` included, which skorch would build at once.
        """
        if not self.initialized_ and "callbacks" in params:
            self.callbacks = params.pop("callbacks")
        return super().set_params(**params)

    __repr__ = BaseEstimator.__repr__

    # --- skorch hooks ----------------------------------------------------------------------

    def initialize_module(self):
        kwargs = self.get_params_for("module")
        if (isinstance(self.module, type) and "output_activation" not in kwargs
                and "output_activation" in _init_params(self.module)
                and getattr(self.loss, "needs_unclipped_embeddings", False)):
            # an angular margin loss on a ReLU-ended network drives it to the all-zero
            # embedding, where it stays: its last layer is linear
            kwargs["output_activation"] = "identity"
        if (
            isinstance(self.module, type)
            and "n_features" in _init_params(self.module)
            and "n_features" not in kwargs
        ):
            if not hasattr(self, "n_features_in_"):
                raise ValueError(
                    f"{type(self).__name__}: the module learns its input size from the data; "
                    "call fit(X, y) rather than initialize()."
                )
            kwargs["n_features"] = self.n_features_in_
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def _embedding_dim(self):
        module = self.module_
        param = next(module.parameters(), None)
        dtype = param.dtype if param is not None else torch.float32
        shape = getattr(self, "_sample_shape", (self.n_features_in_,))
        was_training = module.training
        module.eval()
        with torch.no_grad():
            out = module(torch.zeros((2, *shape), dtype=dtype, device=self.device))
        module.train(was_training)
        if out.dim() != 2:
            raise ValueError(
                f"{type(self).__name__}: the module must return embeddings of shape "
                f"(n_samples, embedding_dim), it returned shape {tuple(out.shape[1:])} per "
                "batch of 2."
            )
        return int(out.shape[1])

    def initialize_criterion(self):
        """Build the loss (with ``n_classes`` / ``embedding_dim`` when it takes them) and the
        miner (seeded when it takes a ``random_state``), both with the learner's
        ``distance`` when it is set."""
        self.embedding_dim_ = self._embedding_dim()
        kwargs = self.get_params_for("loss")
        if isinstance(self.loss, type):
            params = _init_params(self.loss)
            if "n_classes" in params and "n_classes" not in kwargs:
                kwargs["n_classes"] = len(self.classes_)
            if "embedding_dim" in params and "embedding_dim" not in kwargs:
                kwargs["embedding_dim"] = self.embedding_dim_
        self._hand_miner_loss_distance(kwargs)
        measured = self._hand_distance("loss", self.loss, kwargs)
        self.loss_ = self.initialized_instance(self.loss, kwargs)

        kwargs = self.get_params_for("miner")
        miner = self.miner
        if miner is None:
            if kwargs:
                raise ValueError(
                    f"{type(self).__name__}: miner__ parameters {sorted(kwargs)} were given "
                    "but miner is None."
                )
            self.miner_ = None
        else:
            measured |= self._hand_distance("miner", miner, kwargs)
            if isinstance(miner, type):
                if "random_state" in _init_params(miner) and "random_state" not in kwargs:
                    kwargs["random_state"] = int(self._seeds[2])
                self.miner_ = miner(**kwargs)
            elif kwargs:
                self.miner_ = type(miner)(**{**miner.get_params(), **kwargs})
            else:
                self.miner_ = miner
        if self.distance is not None and not measured:
            raise ValueError(
                f"{type(self).__name__}: distance={self.distance!r} was given, but neither "
                f"the loss {self._component_name(self.loss)} nor the miner "
                f"{self._component_name(miner)} takes a distance argument; remove it, or "
                "give a loss or miner that measures embeddings with one."
            )
        return self

    def _hand_miner_loss_distance(self, kwargs):
        """Add the miner's ``loss_distance`` (HardMiner: the Euclidean distance) to the
        constructor arguments ``kwargs`` of a loss given as a class, taking a distance, when
        nobody chose one: no learner ``distance``, no ``loss__distance`` or
        ``loss__squared``."""
        preferred = getattr(self.miner, "loss_distance", None)
        if (preferred is None or self.distance is not None or not isinstance(self.loss, type)
                or "distance" not in _init_params(self.loss)
                or getattr(self.loss, "distance_kind", "any") == "similarity"
                or {"distance", "squared"} & set(kwargs)):
            return
        kwargs["distance"] = type(preferred)(**preferred.get_params())

    @staticmethod
    def _component_name(component):
        if component is None or isinstance(component, type):
            return getattr(component, "__name__", "None")
        return type(component).__name__

    def _hand_distance(self, prefix, component, kwargs):
        """Add the learner's ``distance`` to the constructor arguments ``kwargs`` of the
        loss or miner ``component`` (a class, or an instance to rebuild from ``kwargs``)
        when its constructor takes one and ``<prefix>__distance`` is unset; an instance
        measuring with another distance is refused. Returns whether the component takes a
        distance."""
        cls = component if isinstance(component, type) else type(component)
        takes = "distance" in _init_params(cls)
        distance = self.distance
        if distance is None or not takes or "distance" in kwargs:
            return takes
        if not isinstance(component, type):
            own = getattr(component, "distance", None)
            if own is not None and own != distance:
                raise ValueError(
                    f"{type(self).__name__}: distance={distance!r} was given, but the "
                    f"{prefix} instance {component!r} measures with {own!r}, and the "
                    f"learner does not change an instance it is given. Build it with "
                    f"distance={distance!r}, or give the class ({prefix}={cls.__name__}) "
                    "for the learner to build."
                )
            if not kwargs:
                return takes  # the instance is kept as it is
        kwargs["distance"] = distance
        return takes

    def _skorch_iterates(self, training):
        """Whether ``iterator_train`` / ``iterator_valid`` settings (a custom iterator class, or
        a ``sampler``, ``shuffle`` or ``batch_size``) hand the batches over to skorch's own
        ``get_iterator``."""
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        return getattr(self, prefix) is not DataLoader or bool(
            {"sampler", "shuffle", "batch_size"} & set(kwargs))

    def get_iterator(self, dataset, training=False):
        """Training batches from :meth:`_train_batch_sampler`; plain batches in order otherwise.

        Both fetch a whole batch with one indexing of the dataset (an index array or a slice),
        rather than one ``__getitem__`` per sample. ``iterator_train__batch_sampler`` chooses
        the batches instead: an iterable of index arrays (one per batch, into the training
        data), iterated once per epoch and fetched the same way. Give
        ``iterator_train__sampler``, ``__shuffle`` or ``__batch_size`` to use skorch's
        default iterator with your settings.
        """
        if self._skorch_iterates(training):
            return super().get_iterator(dataset, training=training)
        kwargs = self.get_params_for("iterator_train" if training else "iterator_valid")
        if isinstance(dataset, Subset) and not isinstance(dataset.indices, np.ndarray):
            # index arrays (not lists) keep each batch a single NumPy indexing
            dataset = Subset(dataset.dataset, np.asarray(dataset.indices))
        if "batch_sampler" in kwargs:
            sampler = kwargs.pop("batch_sampler")
        elif training:
            sampler = self._train_batch_sampler(dataset)
        else:
            sampler = _SequentialBatches(len(dataset), self.batch_size)
        return _batch_iterator(dataset, sampler, **kwargs)

    #: whether the collapse detector counts identical sign codes (the deep hashers)
    _collapse_codes = False

    def get_default_callbacks(self):
        """skorch's defaults (epoch timer, losses, progress table), with a progress table
        that formats nothing when it would print nothing (``verbose=0``), and the collapse
        detector (:class:`~skdml.deep.callbacks.CollapseDetector`, named ``'collapse'``)
        before it, so that the table shows what it measured."""
        callbacks = []
        for name, cb in super().get_default_callbacks():
            if name == "print_log":
                callbacks.append(("collapse", CollapseDetector(codes=self._collapse_codes)))
                if type(cb) is PrintLog:
                    cb = _PrintLog()
            callbacks.append((name, cb))
        return callbacks

    def train_step_single(self, batch, **fit_params):
        """One training step: embed the batch, compute its loss, backpropagate.

        skorch's step switches every network to training mode on every batch, walking all
        their submodules; this one switches only a network that is not in training mode
        already (after a validation pass, or a ``transform`` called by a callback).
        """
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if isinstance(module, torch.nn.Module) and not module.training:
                module.train()
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The loss of a batch (:meth:`_batch_loss`), checked to be finite.

        Raises ``FloatingPointError`` naming the epoch when the loss is not finite.
        """
        loss = self._batch_loss(y_pred, to_tensor(y_true, device=self.device), X,
                                training=training)
        # loss.item() rather than a tensor test: a few times cheaper per batch, and skorch
        # reads the value with .item() after the step anyway (one device sync either way)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(
                f"{type(self).__name__}: the {'training' if training else 'validation'} loss "
                f"is {loss.detach().cpu().tolist()} in epoch {self._epoch()}; training "
                "stopped. Lower lr, standardize X, or check the loss parameters."
            )
        return loss

    def _epoch(self):
        """The number of the epoch being trained (0 before the first one)."""
        return len(self.history_) if self.history_ is not None else 0

    # --- the template: the hooks a deep learner overrides ----------------------------------

    def _validate_target(self, y, n_samples, *, reset):
        """The training target from ``y``: class labels, encoded ``0 .. n_classes - 1``.

        A learner with another kind of supervision (float targets, an unlabeled domain, no
        ``y`` at all) overrides this hook; what it returns is what :meth:`_batch_loss` gets,
        a batch at a time, as a tensor.

        Parameters
        ----------
        y : array-like or None
            As the user gave it.
        n_samples : int
            The number of samples of the validated ``X``.
        reset : bool
            ``True`` in ``fit``: learn what the target tells (``classes_``); ``False`` in
            ``partial_fit``: check ``y`` against what the first fit learned.
        """
        name = type(self).__name__
        if y is None:
            raise ValueError(f"{name} requires y to be passed, but the target y is None.")
        if not reset:
            y = np.asarray(y)
            if y.ndim != 1 or len(y) != n_samples:
                raise ValueError(f"{name}: expected y of shape ({n_samples},), got {y.shape}.")
            return self._encode_classes(y, reset=False)
        if len(np.asarray(y)) != n_samples:
            raise ValueError(f"{name}: X has {n_samples} samples but y has {len(np.asarray(y))}.")
        y_enc = self._encode_classes(y, reset=True)
        if np.bincount(y_enc).max() < 2:
            raise ValueError(
                f"{name} needs a class with at least two samples to form a positive pair; "
                "every class in y has a single sample."
            )
        return y_enc

    def _encode_classes(self, labels, *, reset):
        """Class labels as ``0 .. n_classes - 1``: ``fit`` (``reset``) learns ``classes_``, the
        same as the previous fit's for a warm start; ``partial_fit`` takes known classes."""
        name = type(self).__name__
        if reset:
            classes, y_enc = check_classification_labels(labels, estimator=self)
            if (self.warm_start and self.initialized_
                    and not np.array_equal(classes, self.classes_)):
                raise ValueError(
                    f"{name} with warm_start=True needs the classes of the previous fit, "
                    f"{self.classes_.tolist()}, got {classes.tolist()}."
                )
            self.classes_ = classes
            return y_enc
        known = np.isin(labels, self.classes_)
        if not known.all():
            raise ValueError(
                f"{name}: y holds classes unseen in the first fit: "
                f"{np.unique(labels[~known])[:5].tolist()}."
            )
        return np.searchsorted(self.classes_, labels)

    def _validate_fit_data(self, X, y, *, reset):
        """``(X, target)`` validated for training: ``X`` by :meth:`_check_X`, ``y`` by
        :meth:`_validate_target`. ``reset``: ``True`` in ``fit``, ``False`` in ``partial_fit``."""
        X = self._check_X(X, reset=reset)
        return X, self._validate_target(y, X.shape[0], reset=reset)

    def _training_samples(self, X):
        """The samples that the validated training input ``X`` holds, of shape
        ``(n_samples, *sample_shape)``: ``X`` itself. A learner trained on tuples of samples
        (pairs of shape (n, 2, d)) returns them one per row; the input scaling is learned on
        them."""
        return X

    def _train_batch_sampler(self, dataset):
        """The training batches of an epoch: an iterable of index arrays into ``dataset``,
        with a ``len``. Class-balanced (:class:`ClassBalancedBatchSampler`) by default."""
        return ClassBalancedBatchSampler(
            _dataset_labels(dataset),
            self.batch_size,
            self.samples_per_class,
            random_state=int(self._seeds[1]),
        )

    def _batch_loss(self, embeddings, y, X, *, training):
        """The loss of one batch, a scalar tensor: the miner's tuples (all of them without a
        miner), then the loss.

        Parameters
        ----------
        embeddings : tensor of shape (batch_size, embedding_dim)
            What the module returned for the batch.
        y : tensor
            The batch's rows of what :meth:`_validate_target` returned.
        X : tensor
            The batch's inputs (for losses defined on the input space too).
        training : bool
            ``False`` on a validation batch.
        """
        labels = y.long()
        tuples = None if self.miner_ is None else self.miner_(embeddings, labels)
        return self.loss_(embeddings, labels, tuples)

    # --- scikit-learn's estimator interface ------------------------------------------------

    def _check_X(self, X, reset):
        ndim = getattr(X, "ndim", None)
        if ndim is None:
            try:
                ndim = np.asarray(X).ndim
            except (TypeError, ValueError):  # ragged input: validate_data explains
                ndim = 2
        if _takes_flat_samples(self.module) and ndim > 2:
            raise ValueError(
                f"{type(self).__name__}: the MLP expects X of shape (n_samples, n_features), "
                f"got an array with {ndim} dimensions. Flatten the samples, or give "
                "a module that takes this shape."
            )
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float32, np.float64],
            allow_nd=not _takes_flat_samples(self.module),
            ensure_min_samples=2 if reset else 1,
        )
        return X

    # Training runs skorch's own fit and partial_fit. ``fit`` validates the data, then calls
    # skorch's ``fit`` (which initializes the networks unless warm-starting, then calls
    # ``self.partial_fit``); that inner call, flagged by ``_data_validated``, goes straight
    # to skorch's ``partial_fit``. A user's ``partial_fit`` validates its data itself.
    _data_validated = False

    @fit_context
    def fit(self, X, y=None, **fit_params):
        """Train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (any shape the module takes, for a custom module).
        y : array-like of shape (n_samples,)
            Class labels of any hashable type (for this class; the target each learner
            documents for the others).
        **fit_params
            Passed to the module's ``forward`` and ``train_split`` (skorch's convention).

        Returns
        -------
        self
        """
        X, y = self._validate_fit_data(X, y, reset=True)
        samples = self._training_samples(X)
        self._sample_shape = samples.shape[1:]
        self._seeds = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=3
        )
        if not (self.warm_start and self.initialized_ and hasattr(self, "input_mean_")):
            # a warm start goes on with the scaling its network was trained on
            self.input_mean_, self.input_scale_ = self._learn_input_scaling(samples)
        X32 = self._scale_input(X)
        with _seeded_torch(int(self._seeds[0]), self.device):
            self._data_validated = True
            try:
                super().fit(X32, y, **fit_params)
            finally:
                del self._data_validated
        self.n_iter_ = self._epochs_trained()
        return self

    @uses_threads(rescan=True)
    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """One more ``max_epochs`` of training on ``(X, y)``, keeping the network.

        The first call (on an unfitted learner) is ``fit``; later calls take the kind of
        target of that first call (the same classes, for class labels).
        """
        if self._data_validated:  # skorch's fit calling, with the data fit validated
            return super().partial_fit(X, y, classes=classes, **fit_params)
        if not (self.initialized_ and self.__sklearn_is_fitted__()):
            return self.fit(X, y, **fit_params)
        X, y = self._validate_fit_data(X, y, reset=False)
        super().partial_fit(self._scale_input(X), y, classes=classes, **fit_params)
        self.n_iter_ = self._epochs_trained()
        return self

    def _learn_input_scaling(self, samples):
        """``(input_mean_, input_scale_)`` from the training samples: per-feature
        standardization with ``standardize``, ``(None, None)`` without. A learner whose
        features share one unit (pixels) may override it."""
        return _input_scaling(samples, self.standardize)

    def _scale_input(self, X):
        """``X`` as the network takes it: standardized (when ``standardize``), float32,
        C-contiguous."""
        mean = getattr(self, "input_mean_", None)
        if mean is None:
            return np.ascontiguousarray(X, dtype=np.float32)
        return np.ascontiguousarray((X - mean) / self.input_scale_, dtype=np.float32)

    def _epochs_trained(self):
        return sum(1 for row in self.history_ if "train_loss" in row)

    @uses_threads
    def transform(self, X):
        """Embed ``X``: the network's output in eval mode, without gradients.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_embedded : ndarray of shape (n_samples, embedding_dim)
            Same float dtype as ``X`` (float32 or float64).
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        Z = self.forward(self._scale_input(X), training=False, device="cpu")
        return Z.numpy().astype(X.dtype, copy=False)

    # skorch's predictors make no sense for a metric learner: hide them (hasattr is False)
    @available_if(_not_a_predictor)
    def predict(self, X):
        """Not available: a metric learner is a transformer."""

    @available_if(_not_a_predictor)
    def predict_proba(self, X):
        """Not available: a metric learner is a transformer."""

    @property
    def _n_features_out(self):
        return self.embedding_dim_

    def __sklearn_is_fitted__(self):
        return hasattr(self, "embedding_dim_") and hasattr(self, "n_iter_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
