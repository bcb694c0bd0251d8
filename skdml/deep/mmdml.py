"""MMDML: multi-manifold deep metric learning for image-set classification (Lu et al.)."""

import contextlib
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from skorch.utils import to_tensor

from .._param_validation import Interval
from .._threads import uses_threads
from .._validation import check_classification_labels, check_sets
from ..base import fit_context
from ..kernels import knn
from ._base import DeepMetricLearner
from ._modules import MLP
from .losses import ManifoldMarginLoss

__all__ = ["MMDML", "ManifoldMarginLoss"]


@contextlib.contextmanager
def _numba_single_thread():
    """Run numba kernels on one thread for the block (restored afterwards).

    The nearest-reference searches here are small; and numba's OpenMP workers, once
    started, keep spinning and slow torch's training in the same process by 5-40x on a
    2-core machine (measured: GridSearchCV's next fit after a predict).
    """
    import numba

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(threads)


class _ManifoldNet(DeepMetricLearner):
    """One manifold's network: a tanh MLP trained with :class:`ManifoldMarginLoss`."""

    def __init__(self, hidden_sizes=(64, 32), *, k1=5, k2=10, beta=2.0, margin=1.0,
                 anchor_label=None, weight_decay=1e-4, **kwargs):
        self.hidden_sizes = hidden_sizes
        self.k1, self.k2, self.beta, self.margin = k1, k2, beta, margin
        self.anchor_label = anchor_label
        self.weight_decay = weight_decay
        super().__init__(module=MLP, loss=ManifoldMarginLoss, miner=None, **kwargs)

    def get_params_for(self, prefix):
        params = dict(super().get_params_for(prefix))
        if prefix == "module":
            params.setdefault("hidden_sizes", tuple(self.hidden_sizes))
            params.setdefault("activation", "tanh")
        elif prefix == "loss":
            for name in ("k1", "k2", "beta", "margin", "anchor_label"):
                params.setdefault(name, getattr(self, name))
        elif prefix == "optimizer":
            params.setdefault("weight_decay", self.weight_decay)
        return params

    def _batch_loss(self, embeddings, y, X, *, training):
        """The loss with the neighbor pairs of the batch's inputs."""
        X = to_tensor(X, device=self.device).to(embeddings.dtype)
        return self.loss_(embeddings, y, self.loss_.pairs(X, y))


class MMDML(ClassifierMixin, BaseEstimator):
    r"""Multi-manifold deep metric learning: image-set classification, one network per class.

    Each class is a manifold, modeled by its own tanh MLP ``f_c``, trained on the vectors of
    all training sets pooled so that, in ``f_c``'s space, each vector of class ``c`` is closer
    to its ``k1`` nearest vectors of class ``c`` than to its ``k2`` nearest vectors of the other
    classes, by a margin: the loss of an anchor is ``g(margin + D_1 - D_2)`` with ``D_1``, ``D_2``
    the mean squared distances to the two neighborhoods and ``g`` the generalized logistic
    function (:class:`ManifoldMarginLoss`), plus weight decay. Batches hold class ``c`` and
    the rest in equal parts.

    A set ``S`` is classified by the smallest manifold distance
    ``d(S, c) = mean_{x in S} min_{r in class c} |f_c(x) - f_c(r)|``: each of its vectors is
    compared, in class ``c``'s own space, to the nearest training vector of class ``c``
    (:meth:`manifold_distances`).

    **Input form.** ``sets`` is a list (or tuple, or 1-D object array) of 2-D arrays, one
    per set, of shape ``(n_i, n_features)``; sizes ``n_i >= 1`` may differ, ``n_features``
    may not. A 1-D array in the list is a set of one vector. A 3-D array ``(n_sets, n_i,
    n_features)`` holds equal-sized sets. A 2-D numeric array ``(n_sets, n_features)``
    (what scikit-learn's tools pass around) is read as ``n_sets`` sets of one vector each,
    which makes MMDML a nearest-manifold classifier of single vectors.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(64, 32)
        Widths of every network's tanh layers.
    k1 : int, default=5
        Own-manifold neighbors of an anchor.
    k2 : int, default=10
        Other-manifold neighbors of an anchor.
    beta : float, default=2.0
        Sharpness of ``g``.
    margin : float, default=1.0
    weight_decay : float, default=1e-4
    shared : bool, default=False
        Train one network for all classes (every vector an anchor) instead of one per class:
        the single-network ablation of the paper.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
    lr : float, default=1e-3
    max_epochs : int, default=30
        Epochs of each network.
    batch_size : int, default=128
    device : str, default='cpu'
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
    n_jobs : int or None, default=None
        Threads of torch, BLAS and numba during ``fit``, ``predict`` and
        ``manifold_distances`` (restored afterwards): ``None`` means 1 unless in a
        ``joblib.parallel_config(n_jobs=...)`` context, ``-1`` means all cores
        (scikit-learn's meaning). The nearest-reference searches run on one numba thread
        whatever ``n_jobs`` says (they are small, and numba's spinning workers would slow
        the networks' training).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    networks_ : list of fitted learners
        One per class (``shared=False``) or a single one; ``networks_[c].transform`` is
        ``f_c``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when a 2-D ``X`` has feature names that are all strings.
    n_iter_ : int
        Epochs trained per network.

    References
    ----------
    .. [1] J. Lu, G. Wang, W. Deng, P. Moulin and J. Zhou, "Multi-manifold deep metric
       learning for image set classification", CVPR 2015.

    Examples
    --------
    >>> from skdml.datasets import make_digits_image_sets
    >>> from skdml.deep import MMDML
    >>> sets, y = make_digits_image_sets(n_sets_per_class=4, random_state=0)
    >>> sets = [s / 16 for s in sets]
    >>> model = MMDML(hidden_sizes=(16,), max_epochs=3, random_state=0).fit(sets, y)
    >>> model.predict(sets[:3]).tolist(), model.manifold_distances(sets[:3]).shape
    ([0, 0, 0], (3, 10))
    """

    _parameter_constraints = {
        "hidden_sizes": [tuple, list],
        "k1": [Interval(Integral, 1, None, closed="left")],
        "k2": [Interval(Integral, 1, None, closed="left")],
        "beta": [Interval(Real, 0, None, closed="neither")],
        "margin": [Interval(Real, None, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "shared": ["boolean"],
        "optimizer": [callable],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, hidden_sizes=(64, 32), *, k1=5, k2=10, beta=2.0, margin=1.0,
                 weight_decay=1e-4, shared=False, optimizer=torch.optim.Adam, lr=1e-3,
                 max_epochs=30, batch_size=128, device="cpu", random_state=None, verbose=0,
                 n_jobs=None):
        self.hidden_sizes = hidden_sizes
        self.k1 = k1
        self.k2 = k2
        self.beta = beta
        self.margin = margin
        self.weight_decay = weight_decay
        self.shared = shared
        self.optimizer = optimizer
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs

    # --- input ---------------------------------------------------------------------------

    def _check_sets(self, sets, *, reset):
        """``(vectors, owner, n_sets)``: the sets' vectors stacked and the set of each."""
        if hasattr(sets, "toarray") or hasattr(sets, "tocsr"):
            raise TypeError(
                "MMDML does not accept sparse input: pass a list of dense 2-D arrays, one "
                "per set."
            )
        if not isinstance(sets, (list, tuple)):
            ndim = getattr(sets, "ndim", None)
            if ndim is None and hasattr(sets, "__array__"):
                sets = np.asarray(sets)
                ndim = sets.ndim
            if ndim == 2 or (ndim == 1 and getattr(sets, "dtype", None) != object):
                # a 2-D array (n_sets, n_features): every row a set of one vector (a 1-D
                # numeric array gets scikit-learn's "Reshape your data" error here)
                X = validate_data(self, sets, reset=reset, dtype=[np.float64, np.float32],
                                  ensure_min_samples=2 if reset else 1)
                return np.asarray(X, dtype=np.float64), np.arange(len(X)), len(X)
        parts = check_sets(sets, n_features=None if reset else self.n_features_in_,
                           estimator=self)
        if reset:
            self.n_features_in_ = parts[0].shape[1]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        sizes = np.array([len(p) for p in parts])
        return np.vstack(parts), np.repeat(np.arange(len(parts)), sizes), len(parts)

    # --- fit / predict -------------------------------------------------------------------

    def _network(self, anchor_label, seed):
        return _ManifoldNet(
            tuple(self.hidden_sizes), k1=self.k1, k2=self.k2, beta=self.beta,
            margin=self.margin, anchor_label=anchor_label, weight_decay=self.weight_decay,
            optimizer=self.optimizer, lr=self.lr, max_epochs=self.max_epochs,
            batch_size=self.batch_size, device=self.device, random_state=int(seed),
            verbose=self.verbose, n_jobs=self.n_jobs,
        )

    @fit_context
    def fit(self, sets, y):
        """Train the networks on labeled sets.

        Parameters
        ----------
        sets : list of array-like of shape (n_i, n_features), or array-like
            The training sets (see the class docstring for the accepted forms).
        y : array-like of shape (n_sets,)
            The class of each set, of any hashable type.

        Returns
        -------
        self
        """
        if y is None:
            raise ValueError("MMDML requires y to be passed, but the target y is None.")
        X, owner, n_sets = self._check_sets(sets, reset=True)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim != 1 or len(y) != n_sets:
            raise ValueError(
                f"MMDML: got {n_sets} sets but y has shape {y.shape}; expected one label per "
                "set."
            )
        classes, y_enc = check_classification_labels(y, estimator=self)
        labels = y_enc[owner]
        if len(X) < 2:
            raise ValueError("MMDML needs at least two vectors in the training sets.")
        seeds = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=len(classes))
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        if self.shared:
            if np.bincount(labels).max() < 2:
                raise ValueError(
                    "MMDML needs a class with at least two vectors to form a same-manifold "
                    "pair; every class has a single vector."
                )
            networks = [self._network(None, seeds[0]).fit(X32, labels)]
        else:
            networks = []
            for c in range(len(classes)):
                member = (labels == c).astype(np.intp)
                networks.append(self._network(1, seeds[c]).fit(X32, member))
        self.classes_ = classes
        self.networks_ = networks
        self.n_iter_ = networks[0].n_iter_
        self._references = [
            self._net(c).transform(X32[labels == c]).astype(np.float64)
            for c in range(len(classes))
        ]
        return self

    def _net(self, c):
        return self.networks_[0 if len(self.networks_) == 1 else c]

    @uses_threads
    def manifold_distances(self, sets):
        """``d(S, c)`` for every set and class: the mean over ``S``'s vectors of the distance
        to the nearest training vector of class ``c``, in class ``c``'s network's space.

        Parameters
        ----------
        sets : list of array-like of shape (n_i, n_features), or array-like

        Returns
        -------
        distances : ndarray of shape (n_sets, n_classes)
        """
        check_is_fitted(self)
        X, owner, n_sets = self._check_sets(sets, reset=False)
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        sizes = np.bincount(owner, minlength=n_sets)
        out = np.empty((n_sets, len(self.classes_)))
        embedded = {}
        for c in range(len(self.classes_)):
            net = self._net(c)
            if id(net) not in embedded:
                embedded[id(net)] = net.transform(X32).astype(np.float64)
            with _numba_single_thread():
                dist, _ = knn(embedded[id(net)], self._references[c], k=1)
            out[:, c] = np.bincount(owner, weights=dist[:, 0], minlength=n_sets) / sizes
        return out

    def predict(self, sets):
        """The class of the nearest manifold for each set.

        Parameters
        ----------
        sets : list of array-like of shape (n_i, n_features), or array-like

        Returns
        -------
        y_pred : ndarray of shape (n_sets,)
        """
        distances = self.manifold_distances(sets)
        return self.classes_[np.argmin(distances, axis=1)]

    def __sklearn_is_fitted__(self):
        return hasattr(self, "networks_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
