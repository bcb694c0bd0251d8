"""MMDML: multi-manifold deep metric learning for image-set classification (Lu et al.)."""

import contextlib
import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .._param_validation import Interval, StrOptions
from .._threads import uses_threads
from .._validation import check_classification_labels, check_sets
from ..base import fit_context
from ..kernels import knn, pairwise_distances_chunked
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


def _input_scale(X, standardize):
    """MMDML's input scale: one number for all features, the root of the mean feature
    variance of ``X`` (1 for constant data); ``None`` without ``standardize``."""
    if not standardize:
        return None
    scale = float(np.sqrt(X.var(axis=0).mean()))
    tiny = 10 * np.finfo(np.float64).eps * max(1.0, float(np.abs(X).max()))
    return scale if scale > tiny else 1.0


def _manifold_neighbors(X, labels, owner, anchors, k1, k2, other_sets=True):
    """The neighbourhoods of the anchors, in the input space ``X``.

    For an anchor of class ``c``: its ``k1`` nearest vectors of class ``c`` (with
    ``other_sets``, only those of the other training sets of class ``c``, or of its own set
    when class ``c`` has a single one), itself excepted, and its ``k2`` nearest vectors of
    the other classes; fewer when there are fewer. Ties go to the smaller index.

    Returns
    -------
    intra, inter : ndarray of shape (2, n_pairs)
        Rows ``(anchor, neighbour)`` of global indices into ``X``.
    """
    found = {"intra": [], "inter": []}
    for c in np.unique(labels[anchors]):
        rows = anchors[labels[anchors] == c]
        same, other = np.flatnonzero(labels == c), np.flatnonzero(labels != c)
        by_set = other_sets and np.unique(owner[same]).size > 1
        for kind, cols, k in (("intra", same, k1), ("inter", other, k2)):
            if len(cols) == 0:
                continue
            for start, D in pairwise_distances_chunked(X[rows], X[cols], metric="sqeuclidean"):
                r = rows[start:start + len(D)]
                if kind == "intra":  # never the anchor itself, nor (by_set) its own set
                    D[(owner[cols][None, :] == owner[r][:, None]) if by_set
                      else (cols[None, :] == r[:, None])] = np.inf
                near = np.argsort(D, axis=1, kind="stable")[:, :k]
                ok = np.isfinite(np.take_along_axis(D, near, axis=1))
                found[kind].append(np.stack([np.broadcast_to(r[:, None], near.shape)[ok],
                                             cols[near[ok]]]))
    return tuple(np.concatenate(found[kind], axis=1) if found[kind]
                 else np.zeros((2, 0), dtype=np.intp) for kind in ("intra", "inter"))


class _AnchorBatches:
    """The training batches of one epoch of a manifold's network: its anchors in random
    order, ``size`` at a time, each batch holding every vector their neighbourhoods name,
    so that each anchor's term is computed from its whole neighbourhood."""

    def __init__(self, anchors, neighbors, size, random_state):
        pairs = np.concatenate(neighbors, axis=1)
        self.anchors = anchors
        self.heads, self.tails = pairs
        self.size = size
        self._rng = np.random.default_rng(random_state)

    def __len__(self):
        return max(1, math.ceil(len(self.anchors) / self.size))

    def __iter__(self):
        order = self._rng.permutation(self.anchors)
        batches = []
        for start in range(0, len(order), self.size):
            chosen = order[start:start + self.size]
            named = self.tails[np.isin(self.heads, chosen)]
            batches.append(np.unique(np.concatenate([chosen, named])))
        return iter(batches)


class _ManifoldNet(DeepMetricLearner):
    """One manifold's network: a tanh MLP trained with :class:`ManifoldMarginLoss` on the
    ``anchors`` (indices into the training vectors) and their neighbourhoods ``neighbors``
    (``(intra, inter)``, each of global ``(anchor, neighbour)`` index pairs).

    Its target is MMDML's: a row ``(class, row index)`` per training vector, so that a
    batch's loss finds its anchors' pairs."""

    def __init__(self, hidden_sizes=(64, 32), *, k1=5, k2=10, beta=2.0, margin=0.0,
                 weight_decay=1e-4, anchors=None, neighbors=None, **kwargs):
        self.hidden_sizes = hidden_sizes
        self.k1, self.k2, self.beta, self.margin = k1, k2, beta, margin
        self.weight_decay = weight_decay
        self.anchors = anchors
        self.neighbors = neighbors
        super().__init__(module=MLP, loss=ManifoldMarginLoss, miner=None, **kwargs)

    def get_params_for(self, prefix):
        params = dict(super().get_params_for(prefix))
        if prefix == "module":
            params.setdefault("hidden_sizes", tuple(self.hidden_sizes))
            params.setdefault("activation", "tanh")
        elif prefix == "loss":
            for name in ("k1", "k2", "beta", "margin"):
                params.setdefault(name, getattr(self, name))
        elif prefix == "optimizer":
            params.setdefault("weight_decay", self.weight_decay)
        return params

    def _validate_target(self, y, n_samples, *, reset):
        self._n_rows = n_samples
        return np.asarray(y, dtype=np.int64)

    def _train_batch_sampler(self, dataset):
        return _AnchorBatches(self.anchors, self.neighbors, self.batch_size,
                              random_state=int(self._seeds[1]))

    def _batch_loss(self, embeddings, y, X, *, training):
        """The loss of the batch's anchors whose whole neighbourhood is in the batch."""
        rows, n = y[:, 1], self._n_rows
        where = torch.full((n,), -1, dtype=torch.long, device=rows.device)
        where[rows] = torch.arange(len(rows), device=rows.device)
        located, missing = [], torch.zeros(n, dtype=torch.long, device=rows.device)
        for pairs in self.neighbors:
            heads, tails = (torch.as_tensor(p, device=rows.device) for p in pairs)
            a, b = where[heads], where[tails]
            missing.index_add_(0, heads, (b < 0).long())
            located.append((heads, a, b))
        tuples = []
        for heads, a, b in located:
            keep = (a >= 0) & (missing[heads] == 0)
            tuples.append((a[keep], b[keep]))
        return self.loss_(embeddings, y[:, 0], tuple(tuples))


class MMDML(ClassifierMixin, BaseEstimator):
    r"""Multi-manifold deep metric learning: image-set classification, one network per class.

    The training sets of class ``c`` lie on the manifold of class ``c``, modeled by a tanh
    MLP ``f_c`` of its own (Lu et al. [1]_). ``f_c`` is trained so that, in its space, each
    training vector ``x`` of class ``c`` lies nearer its own manifold than the others: with
    ``D_1(x)`` the mean squared distance from ``f_c(x)`` to ``f_c`` of its ``k1``
    intra-manifold neighbours and ``D_2(x)`` the same to ``f_c`` of its ``k2`` nearest
    vectors of the other classes (inter-manifold neighbours), ``f_c`` minimizes

    .. math::

        \sum_{x \in c} g(\text{margin} + D_1(x) - D_2(x))
        + \frac{\lambda}{2} \sum_l \left(\lVert W_c^l \rVert_F^2
        + \lVert b_c^l \rVert_2^2\right),
        \qquad g(z) = \frac{1}{\beta} \log(1 + e^{\beta z}),

    the paper's objective (which has ``margin=0``, the default) with ``lambda`` the weight
    decay; the loss is :class:`ManifoldMarginLoss`. The neighbourhoods are found once, in
    the input space, among all training vectors, as in the paper; a batch holds
    ``batch_size`` anchors and every neighbour they name, so each anchor's term is exact.

    **The image sets shape training.** The intra-manifold neighbours of ``x`` come from the
    *other* training sets of its class (``intra_neighbors='other_sets'``): the vectors of
    one set share its conditions (one video: one lighting, one camera; here one blur, one
    contrast), so in the input space a vector's nearest class-mates are its own set-mates,
    while a test set will be matched against the class's other sets. A class with a single
    training set (the paper's usual case) takes them from that set;
    ``intra_neighbors='class'`` pools every set of the class. On the digits image sets the
    two give the same accuracy (``benchmarks/bench_transfer_imagesets.py``).

    **Classification.** A set ``S`` meets each manifold in that manifold's own space, by
    the set-to-manifold distance ``d_c(S, c) = mean_{x in S} min_{r in c} |f_c(x) -
    f_c(r)|``: each vector of ``S`` against the nearest training vector of class ``c``
    (:meth:`manifold_distances`). Networks trained apart measure in units of their own, so
    a distance in one is not compared with a distance in another: each network scores its
    class by the margin ``d_c(S, not c) - d_c(S, c)``, how much nearer ``S`` lies to
    manifold ``c`` than to the other classes' training vectors, both in ``f_c``'s space
    (the set-level ``D_2 - D_1`` that ``f_c`` was trained to make positive), and
    :meth:`predict` takes the class of the largest (:meth:`decision_function`). On the
    digits image sets, deciding by the smallest ``d_c(S, c)`` instead loses half a point of
    accuracy, and 7 points when the sets are also shifted by a pixel.

    **Input form.** ``sets`` is a list (or tuple, or 1-D object array) of 2-D arrays, one
    per set, of shape ``(n_i, n_features)``; sizes ``n_i >= 1`` may differ, ``n_features``
    may not (a ``ValueError`` names the set that differs). A 1-D array in the list is a set
    of one vector. A 3-D array ``(n_sets, n_i, n_features)`` holds equal-sized sets. A 2-D
    numeric array ``(n_sets, n_features)`` (what scikit-learn's tools pass around) is read
    as ``n_sets`` sets of one vector each, which makes MMDML a nearest-manifold classifier
    of single vectors.

    **A set of one vector** is legal, in training and in prediction: a manifold is learned
    from all the training vectors of a class, whatever sets they came in, and the distance
    of one vector to a manifold is that to its nearest training vector. A *class* with a
    single training vector has no intra-manifold neighbour, so nothing to learn: its network
    keeps its initial weights, with a ``UserWarning`` naming the class (its vector is still
    classified as its own); when every class has a single vector, ``fit`` raises a
    ``ValueError``.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(64, 32)
        Widths of every network's tanh layers.
    k1 : int, default=5
        Intra-manifold neighbours of an anchor.
    k2 : int, default=10
        Inter-manifold neighbours of an anchor.
    beta : float, default=2.0
        Sharpness of ``g``.
    margin : float, default=0.0
        Added inside ``g``; the paper has none.
    weight_decay : float, default=1e-4
        ``lambda``: the optimizer's weight decay, on weights and biases.
    shared : bool, default=False
        Train one network for all classes (every training vector an anchor, with the same
        neighbourhoods and decision) instead of one per class: the single-network ablation.
    intra_neighbors : {'other_sets', 'class'}, default='other_sets'
        Where the ``k1`` intra-manifold neighbours of a vector come from: the other training
        sets of its class (its own set when the class has one), or the whole class.
    standardize : bool, default=True
        Divide every vector by one number, the root of the mean feature variance of the
        training vectors (``input_scale_``), before any network or neighbour search sees it,
        in ``fit`` and at prediction alike: every network sees one scaling, the result does
        not depend on the data's units, and the input-space neighbourhoods stay those of the
        raw vectors. One scale for all features, not one per feature: the features of an
        image share a unit, and scaling each to unit variance would blow up the near-constant
        ones (image borders, noise only): on the digits image sets it costs MMDML 4 points of
        accuracy. No centring either: centred inputs cost it 2 points there (non-negative
        image features, the usual input, need none). Centre features that sit far from zero
        against their spread yourself. ``False`` feeds the vectors as they are.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
    lr : float, default=1e-3
    max_epochs : int, default=30
        Epochs of each network: passes over its anchors.
    batch_size : int, default=32
        Anchors per training batch; a batch also holds their neighbours.
    device : str, default='cpu'
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
    n_jobs : int or None, default=None
        Threads of torch, BLAS and numba during ``fit``, ``predict``,
        ``decision_function`` and ``manifold_distances`` (restored afterwards): ``None``
        means 1 unless in a ``joblib.parallel_config(n_jobs=...)`` context, ``-1`` means all
        cores (scikit-learn's meaning). The nearest-reference searches run on one numba
        thread whatever ``n_jobs`` says (they are small, and numba's spinning workers would
        slow the networks' training).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    networks_ : list of fitted learners
        One per class (``shared=False``) or a single one; ``networks_[c].transform`` of the
        scaled vectors (``X / input_scale_``) is ``f_c``. ``networks_[c].neighbors`` holds
        its anchors' ``(intra, inter)`` neighbour pairs, indices into the stacked training
        vectors.
    input_scale_ : float or None
        The input scale (``None`` with ``standardize=False``).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when a 2-D ``X`` has feature names that are all strings.
    n_iter_ : int
        Epochs trained per network.

    Notes
    -----
    Fitting costs one network per class, and prediction one pass of every set through every
    network plus nearest-vector searches against the ``n_classes`` embedded copies of the
    training vectors, which the model keeps (``n_classes * n_vectors * embedding_dim``
    floats).

    On the digits image sets a single shared network (``shared=True``) does as well as one
    network per class, at the default widths and down to one layer of 16 units; at 8 units
    the single network is the fragile one (ahead on some seeds, 5 to 7 points behind on
    others). See the image-set section of the transfer and image-set guide for the figures
    and why.

    References
    ----------
    .. [1] J. Lu, G. Wang, W. Deng, P. Moulin and J. Zhou, "Multi-manifold deep metric
       learning for image set classification", CVPR 2015.

    Examples
    --------
    >>> from skdml.datasets import make_digits_image_sets
    >>> from skdml.deep import MMDML
    >>> sets, y = make_digits_image_sets(n_sets_per_class=4, random_state=0)
    >>> model = MMDML(hidden_sizes=(16,), max_epochs=3, random_state=0).fit(sets, y)
    >>> model.predict(sets[:3]).tolist(), model.decision_function(sets[:3]).shape
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
        "intra_neighbors": [StrOptions({"other_sets", "class"})],
        "standardize": ["boolean"],
        "optimizer": [callable],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, hidden_sizes=(64, 32), *, k1=5, k2=10, beta=2.0, margin=0.0,
                 weight_decay=1e-4, shared=False, intra_neighbors="other_sets",
                 standardize=True,
                 optimizer=torch.optim.Adam, lr=1e-3, max_epochs=30, batch_size=32,
                 device="cpu", random_state=None, verbose=0, n_jobs=None):
        self.hidden_sizes = hidden_sizes
        self.k1 = k1
        self.k2 = k2
        self.beta = beta
        self.margin = margin
        self.weight_decay = weight_decay
        self.shared = shared
        self.intra_neighbors = intra_neighbors
        self.standardize = standardize
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

    def _scaled(self, X):
        """The vectors as the networks take them: divided by ``input_scale_`` (with
        ``standardize``), float64."""
        return X / self.input_scale_ if self.input_scale_ is not None else X

    def _embedding(self, k, X):
        """``f_k`` of the scaled vectors ``X``, computed in float64: the networks train in
        float32, whose rounding of one vector would depend on the batch it comes in (BLAS
        blocking), and a vector at distance 0 from a training vector would be ~1e-4 from
        it."""
        net = self.networks_[k]
        module = copy.deepcopy(net.module_).to(dtype=torch.float64).eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(X), 8192):
                block = torch.as_tensor(X[start:start + 8192], dtype=torch.float64,
                                        device=net.device)
                out.append(module(block).cpu().numpy())
        return np.concatenate(out)

    # --- fit -----------------------------------------------------------------------------

    def _network(self, anchors, neighbors, seed):
        return _ManifoldNet(
            tuple(self.hidden_sizes), k1=self.k1, k2=self.k2, beta=self.beta,
            margin=self.margin, weight_decay=self.weight_decay, anchors=anchors,
            neighbors=neighbors,
            optimizer=self.optimizer, lr=self.lr, max_epochs=self.max_epochs,
            batch_size=self.batch_size, device=self.device, random_state=int(seed),
            verbose=self.verbose, n_jobs=self.n_jobs, standardize=False,
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
        counts = np.bincount(labels, minlength=len(classes))
        if counts.max() < 2:
            raise ValueError(
                "MMDML needs a class with at least two training vectors (a vector and an "
                "intra-manifold neighbour); every class has a single one."
            )
        if counts.min() < 2:
            lonely = classes[counts < 2].tolist()
            warnings.warn(
                f"MMDML: class{'es' if len(lonely) > 1 else ''} {lonely[:5]} "
                f"{'have' if len(lonely) > 1 else 'has'} a single training vector, hence no "
                "intra-manifold neighbour: "
                f"{'their networks keep' if len(lonely) > 1 else 'its network keeps'} the "
                "initial weights (a set is then compared with that vector in a random tanh "
                "embedding). Give more vectors of every class for a learned manifold.",
                UserWarning,
                stacklevel=2,
            )
        seeds = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=len(classes))
        self.input_scale_ = _input_scale(X, self.standardize)
        Xs = self._scaled(X)
        X32 = np.ascontiguousarray(Xs, dtype=np.float32)
        target = np.column_stack([labels, np.arange(len(X))])
        if self.shared:
            groups = [np.arange(len(X))]
        else:
            groups = [np.flatnonzero(labels == c) for c in range(len(classes))]
        networks = []
        for anchors, seed in zip(groups, seeds):
            neighbors = _manifold_neighbors(
                Xs, labels, owner, anchors, self.k1, self.k2,
                other_sets=self.intra_neighbors == "other_sets")
            networks.append(self._network(anchors, neighbors, seed).fit(X32, target))
        self.classes_ = classes
        self.networks_ = networks
        self.n_iter_ = networks[0].n_iter_
        self._embedded = [self._embedding(k, Xs) for k in range(len(networks))]
        self._labels = labels
        return self

    # --- prediction ----------------------------------------------------------------------

    def _set_distances(self, sets, others=True):
        """``(to c, to the others)``: each set's distances to manifold ``c`` and (with
        ``others``) to the vectors of the other classes, in ``f_c``'s space; both of shape
        (n_sets, n_classes)."""
        check_is_fitted(self)
        X, owner, n_sets = self._check_sets(sets, reset=False)
        Xs = self._scaled(X)
        sizes = np.bincount(owner, minlength=n_sets)
        own = np.empty((n_sets, len(self.classes_)))
        rest = np.empty_like(own)
        embedded = {}
        for c in range(len(self.classes_)):
            k = 0 if len(self.networks_) == 1 else c
            if k not in embedded:
                embedded[k] = self._embedding(k, Xs)
            searches = [(own, self._labels == c)]
            if others:
                searches.append((rest, self._labels != c))
            for out, members in searches:
                with _numba_single_thread():
                    dist, _ = knn(embedded[k], self._embedded[k][members], k=1)
                out[:, c] = np.bincount(owner, weights=dist[:, 0], minlength=n_sets) / sizes
        return own, rest

    @uses_threads
    def manifold_distances(self, sets):
        """``d_c(S, c)`` for every set ``S`` and class ``c``: the mean over ``S``'s vectors of
        the distance to the nearest training vector of class ``c``, in ``f_c``'s space.

        Parameters
        ----------
        sets : list of array-like of shape (n_i, n_features), or array-like

        Returns
        -------
        distances : ndarray of shape (n_sets, n_classes)
        """
        return self._set_distances(sets, others=False)[0]

    @uses_threads
    def decision_function(self, sets):
        """The margin of each set to each manifold, ``d_c(S, not c) - d_c(S, c)``, in
        ``f_c``'s space: larger means nearer class ``c``.

        Parameters
        ----------
        sets : list of array-like of shape (n_i, n_features), or array-like

        Returns
        -------
        scores : ndarray of shape (n_sets, n_classes), or (n_sets,) for two classes
            For two classes, scikit-learn's convention: the score of ``classes_[1]`` minus
            that of ``classes_[0]`` (positive means ``classes_[1]``).
        """
        own, rest = self._set_distances(sets)
        scores = rest - own
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, sets):
        """The class of the largest margin for each set (:meth:`decision_function`).

        Parameters
        ----------
        sets : list of array-like of shape (n_i, n_features), or array-like

        Returns
        -------
        y_pred : ndarray of shape (n_sets,)
        """
        scores = self.decision_function(sets)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def __sklearn_is_fitted__(self):
        return hasattr(self, "networks_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
