"""LMNN: large margin nearest neighbor metric learning (Weinberger & Saul)."""

import contextlib
import sys
import time
import warnings
from numbers import Integral, Real

import numpy as np
import numba
from numba import njit, prange
from scipy import optimize, sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data
from threadpoolctl import threadpool_limits

from .._param_validation import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, fit_context
from .._validation import check_classification_labels, check_n_components
from ..constraints import _target_neighbors as _target_neighbors_of
from ..kernels._pairwise import _over_row_chunks
from ._optim import Adam, check_batch_size, print_progress
from ._init import initial_directions

__all__ = ["LMNN"]

#: The impostor candidates kept between two full passes: the pairs (i, l) of different
#: classes with ||L(x_i - x_l)||^2 < _SAFETY * (largest target distance of i + 1). Only the
#: pairs below factor 1 can be active; the rest is the safety margin for L moving.
_SAFETY = 1.5
#: Iterations between two full passes over all pairs (the active-set refresh).
_REFRESH_EVERY = 10
#: n_passes='auto': fits on more samples than this run several passes (at most
#: _AUTO_MAX_PASSES), holding out _VALIDATION_FRACTION of them to keep the best pass and stop
#: after _PATIENCE passes without a better validation accuracy; smaller fits run one pass.
_AUTO_PASSES_ABOVE = 10_000
_AUTO_MAX_PASSES = 10
_VALIDATION_FRACTION = 0.1
_MAX_VALIDATION = 3000
_PATIENCE = 2
#: solver='sgd': anchors per iteration (a round: one epoch of a smaller set), and rounds in a
#: row without a better objective estimate that end a run (each halves the learning rate).
_SGD_ROUND = 25_000
_SGD_PATIENCE = 3
#: solver='sgd': each sample's target neighbors are chosen again at every pass among its
#: _POOL * n_neighbors nearest same-class samples in the input space (searched once).
_POOL = 10
#: A learned L smaller than this fraction of its start (Frobenius norms) has collapsed.
_COLLAPSE = 1e-2
#: Fits whose full pass (n_samples^2 * n_components multiply-adds) is below this run
#: single-threaded; see _threads_for.
_SERIAL_WORK = 2**28
#: A tile of inner products in a full pass over all pairs: 2 MiB, scanned while in cache.
_TILE_ROWS, _TILE_COLS = 256, 1024


class LMNN(MahalanobisMixin, BaseMetricLearner):
    """Large margin nearest neighbor metric learning.

    Learns a linear map ``L`` so that each sample's ``n_neighbors`` *target neighbors*
    (its nearest samples of the same class in the input space) are close, while samples of
    other classes -- *impostors* -- stay at least one unit (in squared distance) farther away
    than any target neighbor. With ``d(a, b) = ||L (x_a - x_b)||^2`` the objective is::

        (1 - mu) * sum_{i, j ~> i} d(i, j)
            + mu * sum_{i, j ~> i, l : y_l != y_i} max(0, 1 + d(i, j) - d(i, l))

    where ``j ~> i`` runs over the target neighbors of ``i`` and ``mu = regularization``.
    The first (pull) term draws target neighbors in; the second (push) term is a hinge loss
    on every triplet whose impostor ``l`` is inside the margin. The distance is then used by a
    k-nearest-neighbor classifier (``Pipeline([LMNN(), KNeighborsClassifier()])``).

    *Impostors.* In the paper's objective (``n_impostors=None``, the default of the
    full-batch solvers) every impostor inside the margin counts. Their number per sample
    grows with the density of the data, so on large data whose classes overlap the push
    term outweighs the pull term and the metric barely beats the Euclidean one.
    ``n_impostors=k`` counts only each sample's ``k`` nearest impostors, as mlpack's LMNN
    does [5]_; the minibatch solver's default (``'auto'``) takes them among each step's
    ``batch_size`` reference samples, which keeps the push term the same size whatever
    ``n_samples`` (``benchmarks/bench_scale_up.py`` measures both against the Euclidean
    metric up to 10^6 samples).

    *Passes.* The target neighbors come from the input's Euclidean distance, which the
    learned metric is meant to replace. After the optimization converges, a further pass
    chooses them again as the nearest same-class samples in the learned metric and optimizes
    again from there (multi-pass LMNN [1]_, [3]_); each pass lowers the objective. On large
    data (more than 10,000 samples) the default ``n_passes='auto'`` runs up to 10 passes,
    holding out 10% of the samples (at most 3,000) to keep the pass with the best k-NN
    accuracy on them; on smaller data, where further passes tend to overfit, it runs the
    single pass of the paper.

    How it is fast: the hinge terms are evaluated on an *active set* of candidate impostor
    pairs -- those within 1.5 times the margin of their anchor -- recomputed from all pairs
    (in cache-sized tiles: a BLAS product, then one numba scan) every 10 iterations and once
    more at the end, where L-BFGS restarts if an impostor outside the set appeared; the
    gradient ``2 L X^T C X`` is formed with a sparse weight matrix ``C`` rather than a sum of
    outer products. ``solver='sgd'`` estimates the objective on minibatches instead, with
    memory linear in the number of samples (the ``n_samples^2`` pairs are never held).

    Parameters
    ----------
    n_neighbors : int, default=3
        Number of target neighbors per sample. A class with fewer than ``n_neighbors + 1``
        members gives its samples all the neighbors it has (with a warning).
    n_components : int, default=None
        Output dimensions (rows of ``L``); ``None`` keeps ``n_features``.
    init : {'pca', 'lda', 'identity', 'random', 'auto'} or ndarray of shape \
            (n_components, n_features), default='pca'
        The starting ``L``. ``'pca'``: the leading principal axes (orthonormal, so with all
        components the starting distance is the Euclidean one); ``'lda'``: the discriminant
        axes, at most ``n_classes - 1`` of them; ``'identity'``: the first ``n_components``
        rows of the identity; ``'random'``: a standard normal matrix (``random_state``);
        ``'auto'``: metric-learn's rule, ``'lda'`` when ``n_components <= min(n_features,
        n_classes - 1)``, else ``'pca'`` when ``n_components < min(n_features,
        n_samples)``, else ``'identity'`` (so with all components, the identity).
        With ``'pca'`` and more components than the data's rank (``n_features >
        n_samples``), the rows beyond the rank start at zero and stay there: the gradient
        lies in the span of the data.
    regularization : float in (0, 1), default=0.5
        ``mu``, the weight of the push (impostor) term against the pull term.
    n_impostors : int, None or 'auto', default='auto'
        The impostors each sample's push term counts (see *Impostors* above). ``None``:
        every impostor inside the margin (Weinberger & Saul). An int ``k``: the sample's
        ``k`` nearest impostors inside the margin (mlpack); with ``solver='sgd'``, its ``k``
        nearest among the step's reference samples, which stand in for all samples: an
        approximate search whose impostors are those of data of ``batch_size`` samples
        (exact when ``batch_size`` is ``n_samples``). ``'auto'``: ``n_neighbors`` with
        ``solver='sgd'``, ``None`` with the full-batch solvers. With the full-batch solvers
        a small ``k`` can let ``L`` shrink to zero on classes that overlap (at ``L = 0``
        each sample pays exactly ``k * n_neighbors`` unit hinge terms, less than the push
        of the overlapping samples at any useful ``L``).
    max_iter : int, default=200
        Maximum number of optimizer iterations in each pass (a ``ConvergenceWarning`` when a
        pass stops there). With ``solver='sgd'`` an iteration is a *round* of
        ``min(n_samples, 25000)`` minibatch anchors.
    tol : float, default=1e-5
        Convergence tolerance: the optimizer stops when an iteration reduces the objective
        by less than ``tol`` relative to its value. With ``solver='sgd'``: when three rounds
        in a row bring no such reduction of the minibatch estimate (each halves the
        learning rate).
    solver : {'lbfgs', 'gd', 'sgd'}, default='lbfgs'
        ``'lbfgs'``: scipy's L-BFGS-B on ``L``. ``'gd'``: gradient descent with the step
        adaptation of Weinberger & Saul (grow the step by 1% after a success, halve it after
        a failure), slower but with a monotonically decreasing objective. ``'sgd'``: a
        stochastic approximation for large data: each step draws ``batch_size`` anchors and
        ``batch_size`` other samples (``random_state``), finds the anchors' impostors among
        the latter and takes an Adam step [4]_. With ``n_impostors=None`` it scales their
        hinge terms up to all samples (an unbiased estimate of the full-batch objective and
        its gradient); with an int (the default), it keeps each anchor's nearest ones.
        Each sample's ``10 * n_neighbors`` nearest same-class samples in the input space are
        searched once, exactly; each later pass chooses its target neighbors among these
        candidates (the full-batch solvers search all same-class samples at every pass).
        Time per iteration does not grow with ``n_samples``, and memory only linearly.
    batch_size : int or 'auto', default='auto'
        ``solver='sgd'`` only: anchors per step, and samples searched for their impostors;
        a step holds one ``batch_size^2`` array. ``'auto'``: ``min(1000, n_samples)``. A
        value larger than ``n_samples`` is an error, and so is an int with another solver
        (the full-batch solvers use all samples: they would not bound the memory).
        With a validation split (``n_passes='auto'``) it is clipped to the samples fitted.
    learning_rate : float, default=0.01
        ``solver='sgd'`` only: Adam's initial step size (at each pass), for ``L`` of the
        scale of the default initialization on standardized features.
    n_passes : int or 'auto', default='auto'
        Passes over the target neighbors (see *Passes* above). An int runs that many
        passes (fewer when a pass leaves every target neighbor unchanged: further passes
        would change nothing), without a validation split; 1 is the LMNN of the paper.
        ``'auto'``: 1 pass on up to 10,000 samples; on more, up to 10 passes, holding out
        10% of the samples (at most 3,000; stratified, drawn with ``random_state``) and
        stopping after two passes in a row without a better ``n_neighbors``-NN accuracy
        on them; the best pass is kept (a ``ConvergenceWarning`` if the 10th still
        improved). The starting metric is scored on them too: if no pass beats it, the
        start is kept, with a warning naming the cause.
    verbose : int, default=0
        If positive, print one progress line per iteration (objective, number of active
        triplets and impostor pairs, elapsed time) to stdout.
    random_state : int, RandomState instance or None, default=None
        Used by ``init='random'``, by the validation split of ``n_passes='auto'`` and by the
        minibatches of ``solver='sgd'``. Pass an int for reproducible fits.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map ``L``.
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in fit.
    n_components_ : int
        Number of output dimensions.
    n_iter_ : int
        Number of optimizer iterations run, all passes together.
    n_passes_ : int
        Number of passes run.
    validation_scores_ : ndarray of shape (n_passes,) or (0,)
        The held-out ``n_neighbors``-NN accuracy after each pass, when ``n_passes='auto'``
        held samples out; empty otherwise.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during fit, when ``X`` has string feature names.

    See Also
    --------
    sklearn.neighbors.NeighborhoodComponentsAnalysis : A soft-neighbor relative of LMNN.

    Notes
    -----
    The target neighbors are found with the Euclidean distance of the input, as in the
    paper, so features of very different scales should be standardized first (for example
    ``Pipeline([StandardScaler(), LMNN(), KNeighborsClassifier()])``). The margin is one
    unit of squared distance, so the scale of ``init`` matters; the default (orthonormal
    PCA axes) keeps the scale of the standardized input.

    References
    ----------
    .. [1] K. Q. Weinberger and L. K. Saul, "Distance metric learning for large margin
       nearest neighbor classification", Journal of Machine Learning Research 10, 2009.
    .. [2] K. Q. Weinberger, J. Blitzer and L. K. Saul, "Distance metric learning for large
       margin nearest neighbor classification", NIPS 2005.
    .. [3] C. Goepfert, B. Paassen and B. Hammer, "Convergence of multi-pass large margin
       nearest neighbor metric learning", ICANN 2016.
    .. [4] D. P. Kingma and J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.
    .. [5] R. R. Curtin et al., "mlpack 4: a fast, header-only C++ machine learning
       library", Journal of Open Source Software 8(82), 2023 (its ``lmnn`` program uses
       each point's ``k`` nearest differently labeled points as impostors).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from skdml import LMNN
    >>> X, y = load_iris(return_X_y=True)
    >>> lmnn = LMNN(n_neighbors=3, random_state=0).fit(X, y)
    >>> lmnn.transform(X).shape
    (150, 4)
    >>> model = make_pipeline(LMNN(), KNeighborsClassifier(n_neighbors=3)).fit(X, y)
    >>> bool(model.score(X, y) > 0.95)
    True
    """

    _parameter_constraints = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions({"pca", "lda", "identity", "random", "auto"}), "array-like"],
        "regularization": [Interval(Real, 0, 1, closed="neither")],
        "n_impostors": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"lbfgs", "gd", "sgd"})],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "n_passes": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        n_neighbors=3,
        n_components=None,
        *,
        init="pca",
        regularization=0.5,
        n_impostors="auto",
        max_iter=200,
        tol=1e-5,
        solver="lbfgs",
        batch_size="auto",
        learning_rate=0.01,
        n_passes="auto",
        verbose=0,
        random_state=None,
        n_jobs=None,
    ):
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.init = init
        self.regularization = regularization
        self.n_impostors = n_impostors
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.n_passes = n_passes
        self.verbose = verbose
        self.random_state = random_state
        self.n_jobs = n_jobs

    @fit_context
    def fit(self, X, y):
        """Learn the linear map ``L`` from labeled samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of any type, at least two distinct ones.

        Returns
        -------
        self : LMNN
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = np.ascontiguousarray(X, dtype=np.float64)
        classes, y_enc = check_classification_labels(y, estimator=self)
        n_components = self._resolve_n_components(X.shape[1])
        batch_size = check_batch_size("LMNN", self.solver, self.batch_size, X.shape[0])
        n_passes, early_stopping = self._pass_plan(X.shape[0])
        X_val = y_val = None
        if early_stopping:
            X, X_val, y_enc, y_val = _validation_split(X, y_enc, self.random_state)
        with _threads_for(X.shape[0], n_components):
            L0 = self._initialize(X, y_enc, n_components)
            if self.solver == "sgd":
                pool = _target_neighbors(X, y_enc, self.n_neighbors, classes,
                                         n_search=_POOL * self.n_neighbors)
                targets = np.ascontiguousarray(pool[:, :self.n_neighbors])
                objective = _StochasticObjective(X, y_enc, targets, self.regularization,
                                                 batch_size, self.learning_rate,
                                                 self.random_state, self._n_impostors())
            else:
                pool = None
                targets = _target_neighbors(X, y_enc, self.n_neighbors, classes)
                objective = _Objective(X, y_enc, targets, self.regularization,
                                       self._n_impostors())
            run = _Passes(self, objective, X_val, y_val, pool)
            try:
                L = run(L0, n_passes)
            except MemoryError as exc:
                if self.solver == "sgd":
                    raise
                # the full-batch solvers keep every active impostor pair: O(n^2) at worst
                raise MemoryError(
                    f"LMNN(solver={self.solver!r}) ran out of memory on {X.shape[0]} samples: "
                    "the full-batch solvers hold every active impostor pair. Use "
                    "solver='sgd' (memory bounded by batch_size) for data of this size."
                ) from exc
        self._warn_on_caps(run, early_stopping)
        self._warn_on_collapse(L0, L)
        self.components_ = L
        self.classes_ = classes
        self.n_components_ = L.shape[0]
        self.n_iter_ = run.n_iter
        self.n_passes_ = run.n_passes
        self.validation_scores_ = np.asarray(run.scores, dtype=float)
        return self

    def _n_impostors(self):
        """The impostors each sample's push term counts: an int (its nearest), or None
        (all); ``'auto'``: ``n_neighbors`` with ``solver='sgd'``, else all."""
        if self.n_impostors != "auto":
            return self.n_impostors
        return self.n_neighbors if self.solver == "sgd" else None

    def _pass_plan(self, n_samples):
        """``(passes at most, early stopping on a validation split?)`` for ``n_passes``."""
        if self.n_passes != "auto":
            return self.n_passes, False
        if n_samples > _AUTO_PASSES_ABOVE:
            return _AUTO_MAX_PASSES, True
        return 1, False

    def _warn_on_caps(self, run, early_stopping):
        """A ``ConvergenceWarning`` for each cap a fit stopped on, and a warning when no
        pass beat the start on the validation split."""
        if run.kept_start:
            warnings.warn(
                f"LMNN: no pass beat the starting metric (init={self.init!r}) on the held-out "
                f"validation split ({run.start_score:.4f} against at best "
                f"{max(run.scores):.4f}), so the start is kept. On dense data each sample has "
                "many impostors and the push term outweighs the pull term: a smaller "
                f"regularization than {self.regularization} (e.g. 0.1) weighs it less"
                + (", and solver='sgd' (n_impostors='auto') counts only each sample's "
                   "nearest ones." if self._n_impostors() is None else "."),
                UserWarning,
            )
        if run.capped_passes:
            passes = (f" in {run.capped_passes} of its {run.n_passes} passes"
                      if run.n_passes > 1 else "")
            warnings.warn(
                f"LMNN stopped at max_iter={self.max_iter} iterations before converging"
                f"{passes} (tol={self.tol}); increase max_iter for a better metric.",
                ConvergenceWarning,
            )
        if early_stopping and run.stopped_by == "passes" and not run.kept_start:
            warnings.warn(
                f"LMNN ran all {run.n_passes} passes of n_passes='auto' while the validation "
                "accuracy was still improving; pass a larger n_passes (an int runs that many "
                "passes without a validation split) for a better metric.",
                ConvergenceWarning,
            )

    def _warn_on_collapse(self, L0, L):
        """A warning when ``L`` shrank towards zero: the margin could not be held."""
        shrink = np.linalg.norm(L) / max(np.linalg.norm(L0), np.finfo(float).tiny)
        if shrink >= _COLLAPSE:
            return
        n_impostors = self._n_impostors()
        fix = (f"n_impostors=None (here {n_impostors}) counts every impostor inside the "
               "margin, which keeps L away from zero" if n_impostors is not None else
               "check that the labels carry information about the features")
        warnings.warn(
            f"LMNN: the learned map shrank to {shrink:.1e} times the size of its start: no "
            "direction keeps the impostors a unit margin farther than the target neighbors, "
            "so the objective is lowest near L = 0 and the learned distance means little "
            f"(the classes overlap almost entirely); {fix}.",
            UserWarning,
        )

    def _resolve_n_components(self, n_features):
        if isinstance(self.init, str):
            return check_n_components(self.n_components, n_features, estimator=self)
        init = np.asarray(self.init)
        if init.ndim != 2 or init.shape[1] != n_features:
            raise ValueError(
                f"LMNN: init must be 'pca', 'lda', 'identity', 'random', 'auto' or an array of "
                f"shape (n_components, {n_features}), got an array of shape {init.shape}."
            )
        if self.n_components is not None and self.n_components != init.shape[0]:
            raise ValueError(
                f"LMNN: n_components={self.n_components} does not match init, an array with "
                f"{init.shape[0]} rows."
            )
        return check_n_components(init.shape[0], n_features, estimator=self)

    def _initialize(self, X, y, n_components):
        # The unscaled starts: LMNN's margin is one unit of squared distance in the input's
        # units, and PCA rows beyond the data's rank start (and, as the gradient lies in the
        # span of the data, stay) at zero.
        init = self.init if isinstance(self.init, str) else np.asarray(self.init)
        return initial_directions(
            init, X, n_components, y=y, random_state=self.random_state, name="LMNN",
            pca_null_space=False,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


@contextlib.contextmanager
def _threads_for(n_samples, n_components):
    """Run small fits on one thread (BLAS and numba), larger ones on the ``n_jobs`` threads.

    A small fit is thousands of products of a few million multiply-adds each: split over
    threads they cost more in wake-ups than they gain, and on a busy machine OpenBLAS' and
    numba's spinning workers fight for the cores (fits 10-20x slower, measured on 2 loaded
    cores). Both settings are restored on exit.
    """
    if n_samples * n_samples * n_components > _SERIAL_WORK:
        yield
        return
    numba_threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(numba_threads)


def _target_neighbors(X, y, n_neighbors, classes, n_search=None):
    """The ``n_neighbors`` nearest same-class samples of each sample (Euclidean input).

    Returns an intp array of shape (n_samples, n_neighbors), nearest first, padded with -1
    for samples of classes with fewer than ``n_neighbors + 1`` members (a warning names
    them). ``n_search`` (at least ``n_neighbors``) returns that many columns instead, of
    which the first ``n_neighbors`` are the target neighbors.
    """
    counts = np.bincount(y, minlength=len(classes))
    if counts.max() < 2:
        raise ValueError(
            "LMNN needs a class with at least 2 samples to form target neighbors; every "
            f"class of y has a single sample ({len(classes)} classes)."
        )
    small = np.flatnonzero(counts < n_neighbors + 1)
    if small.size:
        # .item(): a plain Python value whatever the label type (numpy scalar or object).
        names = ", ".join(f"{np.asarray(classes[c]).item()!r}: {counts[c]}" for c in small[:5])
        more = f" and {small.size - 5} more" if small.size > 5 else ""
        warnings.warn(
            f"LMNN: n_neighbors={n_neighbors} but some classes have fewer than "
            f"{n_neighbors + 1} samples ({names}{more}); their samples get all the target "
            "neighbors their class has.",
            UserWarning,
        )
    return _target_neighbors_of(X, y, max(n_neighbors, n_search or 0))


@njit(parallel=True, cache=True)
def _nearest_in_pool(Z, pool, out):
    """``out[i]``: the ``out.shape[1]`` members of ``pool[i]`` (-1 pads) nearest to ``Z[i]``
    (squared Euclidean, ties in pool order), -1 where the pool has fewer."""
    n, k = out.shape
    for i in prange(n):
        dist = np.full(pool.shape[1], np.inf)
        for j in range(pool.shape[1]):
            p = pool[i, j]
            if p >= 0:
                d = 0.0
                for c in range(Z.shape[1]):
                    diff = Z[i, c] - Z[p, c]
                    d += diff * diff
                dist[j] = d
        order = np.argsort(dist, kind="mergesort")
        for j in range(k):
            out[i, j] = pool[i, order[j]] if dist[order[j]] < np.inf else -1


@njit(cache=True)
def _pair_sqdist_kernel(Z, a, b, out):
    # Serial: it only serves the n * n_neighbors target pairs, too few to pay for threads.
    for p in range(a.shape[0]):
        i = a[p]
        j = b[p]
        s = 0.0
        for c in range(Z.shape[1]):
            t = Z[i, c] - Z[j, c]
            s += t * t
        out[p] = s


def _pair_sqdist(Z, a, b):
    """``||Z[a[p]] - Z[b[p]]||^2`` for every p, reading the rows of ``Z`` in place."""
    out = np.empty(len(a))
    _pair_sqdist_kernel(Z, a, b, out)
    return out


@njit(cache=True)
def _nearest_impostors(d, reach, n_impostors, order):
    """Write into ``order`` the positions of the at most ``n_impostors`` smallest entries of
    ``d`` below ``reach``, nearest first (ties to the lower position); return how many."""
    m = 0
    for p in range(d.shape[0]):
        if d[p] >= reach or (m == n_impostors and d[p] >= d[order[m - 1]]):
            continue
        q = min(m, n_impostors - 1)
        while q > 0 and d[order[q - 1]] > d[p]:
            order[q] = order[q - 1]
            q -= 1
        order[q] = p
        m = min(m + 1, n_impostors)
    return m


@njit(cache=True)
def _hinge_terms(DT, i, d, per_target, total):
    """Anchor ``i``'s hinge terms against one impostor at squared distance ``d``: adds the
    active triplets to ``per_target[i]``; returns ``(total + their sum, their count)``."""
    count = 0
    for j in range(DT.shape[1]):
        m = DT[i, j] + 1.0 - d
        if m > 0.0:
            total += m
            count += 1
            per_target[i, j] += 1
    return total, count


@njit(cache=True)
def _row_sqdist(Z, i, l):
    """``||Z[i] - Z[l]||^2``."""
    s = 0.0
    for c in range(Z.shape[1]):
        t = Z[i, c] - Z[l, c]
        s += t * t
    return s


@njit(cache=True)
def _hinge_anchor(Z, DT, indptr, others, per_impostor, per_target, n_impostors, i):
    """The hinge terms of anchor ``i`` over its candidate impostors; returns their sum.

    For candidate ``l = others[p]``, ``indptr[i] <= p < indptr[i + 1]``, each target column
    ``j`` with ``DT[i, j] + 1 - ||Z_i - Z_l||^2 > 0`` is an active triplet. Writes the active
    triplets per candidate pair (``per_impostor[p]``) and per target pair
    (``per_target[i, j]``): cells of anchor ``i`` only, so anchors can run in parallel.
    ``n_impostors`` > 0 counts only the anchor's ``n_impostors`` nearest candidates.
    """
    start, stop = indptr[i], indptr[i + 1]
    reach = -np.inf
    for j in range(DT.shape[1]):
        per_target[i, j] = 0
        reach = max(reach, DT[i, j])
    total = 0.0
    if n_impostors == 0:
        for p in range(start, stop):
            total, per_impostor[p] = _hinge_terms(DT, i, _row_sqdist(Z, i, others[p]),
                                                  per_target, total)
        return total
    d = np.empty(stop - start)
    for p in range(start, stop):
        d[p - start] = _row_sqdist(Z, i, others[p])
        per_impostor[p] = 0
    order = np.empty(n_impostors, dtype=np.intp)
    for q in range(_nearest_impostors(d, reach + 1.0, n_impostors, order)):
        total, per_impostor[start + order[q]] = _hinge_terms(DT, i, d[order[q]], per_target,
                                                             total)
    return total


@njit(cache=True)
def _hinge_serial(Z, DT, indptr, others, per_impostor, per_target, n_impostors, push):
    for i in range(DT.shape[0]):
        push[i] = _hinge_anchor(Z, DT, indptr, others, per_impostor, per_target, n_impostors,
                                i)


@njit(parallel=True, cache=True)
def _hinge_parallel(Z, DT, indptr, others, per_impostor, per_target, n_impostors, push):
    for i in prange(DT.shape[0]):
        push[i] = _hinge_anchor(Z, DT, indptr, others, per_impostor, per_target, n_impostors,
                                i)


@njit(nogil=True, cache=True)
def _scan_tile(G, zz_rows, zz_cols, y_rows, y_cols, limit, reach, row0, col0,
               anchors, others, active, p):
    """Append to ``anchors/others/active[p:]`` the pairs of the tile ``G = Z[rows] @ Z[cols].T``
    of different classes with squared distance below ``limit`` of their row (``active``:
    below ``reach``); returns the new ``p``."""
    for r in range(G.shape[0]):
        for c in range(G.shape[1]):
            if y_cols[c] != y_rows[r]:
                d = zz_rows[r] + zz_cols[c] - 2.0 * G[r, c]
                if d < limit[r]:
                    anchors[p] = row0 + r
                    others[p] = col0 + c
                    active[p] = d < reach[r]
                    p += 1
    return p


def _impostor_candidates(Z, y, limit, reach):
    """All pairs ``(i, l)``, ``y_l != y_i``, with ``||Z_i - Z_l||^2 < limit[i]``, by anchor.

    One pass over all pairs in cache-sized tiles (a BLAS product of ``_TILE_ROWS`` by
    ``_TILE_COLS`` inner products, then one numba scan that keeps the few pairs below the
    limit, while the tile is in cache): memory stays bounded by the tiles and the pairs
    kept, whatever ``n_samples``. Returns ``(anchors, others, active)`` sorted by anchor,
    ``active`` telling the pairs below ``reach[i]``.
    """
    n = Z.shape[0]
    zz = np.einsum("ij,ij->i", Z, Z)
    ZT = np.ascontiguousarray(Z.T)
    cols = min(n, _TILE_COLS)
    starts = list(range(0, n, _TILE_ROWS))
    found = [None] * len(starts)

    def scan(start, stop):
        rows = stop - start
        G = np.empty((rows, cols))
        buffers = [np.empty(rows * cols, dtype=np.intp), np.empty(rows * cols, dtype=np.intp),
                   np.empty(rows * cols, dtype=np.bool_)]
        parts = []
        for c0 in range(0, n, cols):
            c1 = min(c0 + cols, n)
            tile = np.matmul(Z[start:stop], ZT[:, c0:c1], out=G[:, : c1 - c0])
            p = _scan_tile(tile, zz[start:stop], zz[c0:c1], y[start:stop], y[c0:c1],
                           limit[start:stop], reach[start:stop], start, c0, *buffers, 0)
            parts.append([b[:p].copy() for b in buffers])
        anchors, others, active = (np.concatenate(part) for part in zip(*parts))
        order = np.argsort(anchors, kind="stable")
        found[start // _TILE_ROWS] = anchors[order], others[order], active[order]

    _over_row_chunks(scan, n, _TILE_ROWS, n * n * Z.shape[1])
    return tuple(np.concatenate(parts) for parts in zip(*found))


# Threads pay only when an evaluation has enough work: below _PARALLEL_WORK multiply-adds
# the serial loop is faster (no wake-up, no spinning workers competing with BLAS).
_PARALLEL_WORK = 2**23


class _TargetPairs:
    """The target-neighbor pairs of an objective (``self.n`` samples, ``self.k`` each)."""

    def set_targets(self, targets):
        """Use ``targets`` (n_samples, n_neighbors; -1 pads) as the target neighbors.

        An active set (``_Objective``) stays valid when each sample's new targets are no
        farther than its old ones at the current ``L`` (as when they are its nearest
        same-class samples there): the margin it needs only shrinks.
        """
        self.targets = targets
        self.valid = targets >= 0
        self.t_anchor = np.repeat(np.arange(self.n), self.k)[self.valid.ravel()]
        self.t_other = targets[self.valid]


class _Objective(_TargetPairs):
    """The LMNN objective and its gradient in ``L``, on an active set of impostor pairs.

    ``evaluate(L)`` is exact whenever the candidate set holds every active impostor pair at
    ``L``; ``refresh(L)`` rebuilds the set from all pairs and tells how many active impostor
    pairs the previous set had missed.
    """

    def __init__(self, X, y, targets, mu, n_impostors=None):
        self.X, self.y, self.mu = X, y, mu
        self.n_impostors_per_anchor = n_impostors or 0  # 0: every impostor counts
        self.n, self.k = targets.shape
        self.set_targets(targets)
        self.refreshed_at = None  # the L of the last refresh
        self.cand_a = np.empty(0, dtype=np.intp)
        self.cand_b = np.empty(0, dtype=np.intp)
        self.cand_ptr = np.zeros(self.n + 1, dtype=np.intp)
        self.n_active = 0  # active triplets at the last evaluation
        self.n_impostors = 0  # active impostor pairs at the last evaluation

    def _target_distances(self, Z):
        """(n, k) squared target distances, -inf where a sample has no such neighbor."""
        DT = np.full((self.n, self.k), -np.inf)
        DT[self.valid] = _pair_sqdist(Z, self.t_anchor, self.t_other)
        return DT

    def refresh(self, L):
        """Rebuild the candidate set from all pairs at ``L``.

        Returns the number of active impostor pairs at ``L`` that the old set lacked.
        """
        Z = self.X @ L.T
        DT = self._target_distances(Z)
        reach = DT.max(axis=1) + 1.0  # d(i, l) below this: (i, l) is an active impostor
        limit = np.where(np.isfinite(reach), _SAFETY * reach, -np.inf)
        a, b, active = _impostor_candidates(Z, self.y, limit, reach)
        old = self.cand_a * self.n + self.cand_b
        new = a[active] * self.n + b[active]
        missed = int(np.count_nonzero(~np.isin(new, old, assume_unique=True)))
        self.cand_a, self.cand_b = a, b
        self.cand_ptr = np.searchsorted(a, np.arange(self.n + 1)).astype(np.intp)
        self.refreshed_at = L.copy()
        return missed

    @property
    def n_candidates(self):
        """Candidate impostor pairs in the active set."""
        return len(self.cand_b)

    def refresh_unless_current(self, L):
        """``refresh(L)``, unless the candidate set was built at this very ``L`` (a new pass
        starting where the last one ended: see ``set_targets``)."""
        if self.refreshed_at is None or not np.array_equal(L, self.refreshed_at):
            self.refresh(L)

    def evaluate(self, L):
        """The objective and its gradient (same shape as ``L``) on the candidate set."""
        X, mu, n, k = self.X, self.mu, self.n, self.k
        Z = X @ L.T
        DT = self._target_distances(Z)
        a, b = self.cand_a, self.cand_b
        per_impostor = np.empty(len(b), dtype=np.int64)
        per_target = np.empty((n, k), dtype=np.int64)
        push = np.empty(n)
        kernel = _hinge_parallel if len(b) * Z.shape[1] > _PARALLEL_WORK else _hinge_serial
        kernel(Z, DT, self.cand_ptr, b, per_impostor, per_target,
               self.n_impostors_per_anchor, push)
        push = float(push.sum())
        pull = float(DT[self.valid].sum())
        hit = per_impostor > 0
        self.n_active = int(per_impostor.sum())
        self.n_impostors = int(np.count_nonzero(hit))
        # The objective is sum_{pairs (p, q)} w_pq ||L (x_p - x_q)||^2 + mu * n_active, with
        # w = 1 - mu + mu * (active triplets) on target pairs and -mu * (active triplets) on
        # impostor pairs. Its gradient is 2 L X^T C X, C = diag(W_sym 1) - W_sym the graph
        # Laplacian of the symmetrized sparse weights: no per-triplet outer products.
        rows = np.concatenate([self.t_anchor, a[hit]])
        cols = np.concatenate([self.t_other, b[hit]])
        w = np.concatenate(
            [(1.0 - mu) + mu * per_target[self.valid], -mu * per_impostor[hit]]
        )
        W = sparse.csr_matrix((w, (rows, cols)), shape=(n, n))
        W = W + W.T
        CX = np.asarray(W.sum(axis=1)).ravel()[:, None] * X - W @ X
        grad = 2.0 * (Z.T @ CX)
        return (1.0 - mu) * pull + mu * push, grad


@njit(cache=True)
def _batch_impostors(G, sq_anchors, sq_reference, DT, y_anchors, y_reference, per_target,
                     push, rows, cols, counts, n_impostors):
    """The hinge terms of a minibatch: anchors against reference samples, in one scan.

    ``G``: inner products of the anchors (rows) with the reference samples in the metric,
    ``sq_*`` their squared norms, so that ``sq_anchors[i] + sq_reference[l] - 2 G[i, l]`` is
    the squared distance of the pair; ``DT[i, j]``: from anchor ``i`` to its target ``j``
    (-inf where it has none). A pair of different classes closer than the anchor's farthest
    target plus the margin is an impostor pair (with ``n_impostors`` > 0: only the anchor's
    ``n_impostors`` nearest such pairs): its row, column and count of active triplets go to
    ``rows``, ``cols``, ``counts``. Writes ``per_target[i, j]`` (the active triplets of
    target pair ``(i, j)``) and ``push[i]`` (the anchor's sum of hinge terms). Returns the
    number of impostor pairs, or -1 when they do not fit in ``rows`` (call again with larger
    buffers). Active pairs are rare, so the scan is the cost: no ``batch_size^2`` array is
    written.
    """
    n_pairs = 0
    capacity = rows.shape[0]
    d = np.empty(G.shape[1])  # the anchor's impostors: reference samples found[:m] ...
    found = np.empty(G.shape[1], dtype=np.intp)
    order = np.empty(G.shape[1], dtype=np.intp)  # ... or the nearest of them, found[order[:m]]
    for i in range(G.shape[0]):
        reach = -np.inf
        for j in range(DT.shape[1]):
            per_target[i, j] = 0
            reach = max(reach, DT[i, j])
        reach += 1.0 - sq_anchors[i]  # d(i, l) < reach_i  <=>  sq_l - 2 G_il < reach
        m = 0
        for l in range(G.shape[1]):
            partial = sq_reference[l] - 2.0 * G[i, l]
            if partial >= reach or y_reference[l] == y_anchors[i]:
                continue
            d[m] = sq_anchors[i] + partial
            found[m] = l
            m += 1
        selected = 0 < n_impostors < m
        if selected:
            m = _nearest_impostors(d[:m], np.inf, n_impostors, order)
        total = 0.0
        for q in range(m):
            p = order[q] if selected else q
            total, count = _hinge_terms(DT, i, d[p], per_target, total)
            if count:
                if n_pairs == capacity:
                    return -1
                rows[n_pairs], cols[n_pairs], counts[n_pairs] = i, found[p], count
                n_pairs += 1
        push[i] = total
    return n_pairs


class _StochasticObjective(_TargetPairs):
    """The LMNN objective estimated on a minibatch, for ``solver='sgd'``.

    A step draws ``batch_size`` anchors and ``batch_size`` reference samples. The pull terms
    are the anchors' own. With ``n_impostors=None`` the push terms of an anchor are its
    hinge terms over the reference samples of other classes, scaled by (its other-class
    samples in all) / (in the reference), which makes them an unbiased estimate of its push
    terms over all samples. With an int, they are its hinge terms over its ``n_impostors``
    nearest impostors among the reference samples, unscaled: the exact terms when the
    reference is all samples, and otherwise those of impostors drawn at the density of
    ``batch_size`` samples, whatever ``n_samples``. The whole is scaled by
    ``n_samples / batch_size``. Memory: one ``batch_size^2`` array of inner products,
    scanned once by ``_batch_impostors``, plus the impostor pairs found (few).
    """

    def __init__(self, X, y, targets, mu, batch_size, learning_rate, random_state,
                 n_impostors=None):
        self.X, self.y, self.mu = X, y, mu
        self.n_impostors_per_anchor = n_impostors or 0  # 0: every impostor counts
        self.learning_rate = learning_rate
        self.n, self.k = targets.shape
        self.batch_size = min(batch_size, self.n)
        self.set_targets(targets)
        counts = np.bincount(y)
        self.n_classes = len(counts)
        self.n_other = (self.n - counts[y]).astype(float)
        rng = check_random_state(random_state)
        self.anchors = _Cycle(self.n, rng)
        self.reference = _Cycle(self.n, rng)
        b = self.batch_size
        self.per_target = np.empty((b, self.k), dtype=np.int64)
        self.push = np.empty(b)
        self._pairs_buffers(4 * b)
        self.n_active = self.n_impostors = 0

    def _pairs_buffers(self, capacity):
        """Room for ``capacity`` impostor pairs (grown when a minibatch has more)."""
        self.rows = np.empty(capacity, dtype=np.intp)
        self.cols = np.empty(capacity, dtype=np.intp)
        self.counts = np.empty(capacity, dtype=np.int64)

    n_candidates = property(lambda self: self.batch_size, doc="Reference samples per step.")

    def step(self, L):
        """The minibatch estimate of the objective and of its gradient at ``L``."""
        X, y, mu, b = self.X, self.y, self.mu, self.batch_size
        A, R = self.anchors.next(b), self.reference.next(b)
        XA, XR = X[A], X[R]
        ZA, ZR = XA @ L.T, XR @ L.T
        T = self.targets[A]
        valid = T >= 0
        XT = X[np.where(valid, T, A[:, None])]  # (b, k, n_features); a missing target: itself
        DT = np.sum((ZA[:, None, :] - XT @ L.T) ** 2, axis=2)
        DT[~valid] = -np.inf
        G = ZA @ ZR.T
        sq_A, sq_R = np.einsum("ij,ij->i", ZA, ZA), np.einsum("ij,ij->i", ZR, ZR)
        while True:
            n_pairs = _batch_impostors(G, sq_A, sq_R, DT, y[A], y[R], self.per_target,
                                       self.push, self.rows, self.cols, self.counts,
                                       self.n_impostors_per_anchor)
            if n_pairs >= 0:
                break
            self._pairs_buffers(2 * len(self.rows))
        per_target = self.per_target
        rows, cols = self.rows[:n_pairs], self.cols[:n_pairs]
        if self.n_impostors_per_anchor:
            scale = np.ones(b)
        else:
            other = b - np.bincount(y[R], minlength=self.n_classes)[y[A]]
            scale = np.divide(self.n_other[A], other, out=np.zeros(b), where=other > 0)
        self.n_active = int(per_target.sum())
        self.n_impostors = n_pairs
        value = (1.0 - mu) * DT[valid].sum() + mu * float(scale @ self.push)
        # Gradient: 2 L sum_pairs w_pq (x_p - x_q)(x_p - x_q)^T, the pairs being the target
        # pairs and the impostor pairs (anchor, reference sample) with active triplets.
        dT = (XA[:, None, :] - XT)[valid]
        wT = ((1.0 - mu) + mu * scale[:, None] * per_target)[valid]
        dI = XA[rows] - XR[cols]
        wI = -mu * scale[rows] * self.counts[:n_pairs]
        M = (dT.T * wT) @ dT + (dI.T * wI) @ dI
        factor = self.n / b
        return factor * value, factor * 2.0 * (L @ M)


class _Cycle:
    """Indices ``0..n-1`` in random order, ``size`` at a time, reshuffled after each sweep."""

    def __init__(self, n, rng):
        self.n, self.rng = n, rng
        self.order, self.pos = rng.permutation(n), 0

    def next(self, size):
        if self.pos + size > self.n:
            self.order = np.concatenate([self.order[self.pos:], self.rng.permutation(self.n)])
            self.pos = 0
        out = self.order[self.pos:self.pos + size]
        self.pos += size
        return out


def _minimize_sgd(objective, L, max_iter, tol, progress):
    """Adam on minibatch estimates; an iteration is a round of ``min(n, _SGD_ROUND)`` anchors.

    A round whose mean estimate is not below the best round's by ``tol`` (relative) halves
    the learning rate; ``_SGD_PATIENCE`` such rounds in a row end the run (converged). Every
    run (every pass) starts at ``objective.learning_rate``. Returns ``(L, n_iter, converged)``.
    """
    steps = -(-min(objective.n, _SGD_ROUND) // objective.batch_size)
    adam = Adam(L.shape, objective.learning_rate)
    best, worse = np.inf, 0
    for n_iter in range(1, max_iter + 1):
        total = 0.0
        for _ in range(steps):
            value, grad = objective.step(L)
            L = adam.step(L, grad)
            total += value
        value = total / steps
        progress.line(n_iter, value, objective)
        if value < best - tol * abs(value):
            best, worse = value, 0
            continue
        worse += 1
        adam.lr *= 0.5
        if worse >= _SGD_PATIENCE:
            progress.note(f"converged after {n_iter} rounds")
            return L, n_iter, True
    return L, max_iter, False


class _Passes:
    """Multi-pass LMNN: optimize; choose each sample's target neighbors again, as its nearest
    same-class samples in the metric learned; optimize again from there; and so on.

    Each pass lowers the objective of LMNN with target neighbors that follow the metric
    (Weinberger & Saul 2009 run such passes; Goepfert, Paassen & Hammer 2016 show they
    converge). The passes stop at a fixed point (no target neighbor changes), after
    ``max_passes``, or, with a validation split, once ``_PATIENCE`` passes in a row have
    not raised its ``n_neighbors``-NN accuracy; the best pass is kept.
    """

    def __init__(self, lmnn, objective, X_val=None, y_val=None, pool=None):
        self.lmnn, self.objective = lmnn, objective
        self.pool = pool
        self.X_val, self.y_val = X_val, y_val
        self.solve = {
            "lbfgs": _minimize_lbfgs,
            "gd": _minimize_gd,
            "sgd": _minimize_sgd,
        }[lmnn.solver]
        self.progress = _Progress(lmnn.verbose)
        self.n_iter = self.n_passes = self.capped_passes = 0
        self.scores = []
        self.start_score = None  # the starting metric's validation accuracy
        self.kept_start = False  # no pass beat the start on the validation split
        self.stopped_by = None  # "fixed point", "validation" or "passes"

    def __call__(self, L, max_passes):
        lmnn, objective = self.lmnn, self.objective
        start, best, best_score, since_best = L, L, -np.inf, 0
        if self.X_val is not None:
            self.start_score = self._validation_score(L)
            self.progress.note(f"start: validation accuracy {self.start_score:.4f}")
        for p in range(max_passes):
            if p:
                targets = self._targets(objective.X @ L.T)
                changed = _n_changed(objective.targets, targets)
                self.progress.note(f"pass {p + 1}: {changed} target neighbors changed")
                if not changed:
                    self.stopped_by = "fixed point"
                    break
                objective.set_targets(targets)
            L, n_iter, converged = self.solve(
                objective, L, lmnn.max_iter, lmnn.tol, self.progress
            )
            self.n_iter += n_iter
            self.n_passes += 1
            self.capped_passes += not converged
            if self.X_val is None:
                best = L
                continue
            score = self._validation_score(L)
            self.scores.append(score)
            self.progress.note(f"pass {p + 1}: validation accuracy {score:.4f}")
            if score > best_score:
                best, best_score, since_best = L, score, 0
            else:
                since_best += 1
                if since_best >= _PATIENCE:
                    self.stopped_by = "validation"
                    break
        else:
            self.stopped_by = "passes"
        if self.start_score is not None and best_score < self.start_score:
            self.kept_start = True
            return start
        return best

    def _targets(self, Z):
        """Each sample's nearest same-class samples in the embedding ``Z``: exact, or among
        its pool of candidates when there is one (``solver='sgd'``)."""
        k = self.lmnn.n_neighbors
        if self.pool is None:
            return _target_neighbors_of(Z, self.objective.y, k)
        targets = np.empty((Z.shape[0], k), dtype=np.intp)
        _nearest_in_pool(np.ascontiguousarray(Z), self.pool, targets)
        return targets

    def _validation_score(self, L):
        X, y = self.objective.X, self.objective.y
        knn = KNeighborsClassifier(n_neighbors=min(self.lmnn.n_neighbors, len(y)))
        return knn.fit(X @ L.T, y).score(self.X_val @ L.T, self.y_val)


def _n_changed(old, new):
    """How many target neighbors in ``new`` (rows of indices, -1 pads) are not in ``old``."""
    fresh = (new >= 0) & ~(new[:, :, None] == old[:, None, :]).any(axis=2)
    return int(np.count_nonzero(fresh))


def _validation_split(X, y, random_state):
    """``X_fit, X_val, y_fit, y_val``: ``_VALIDATION_FRACTION`` held out (at most
    ``_MAX_VALIDATION``), stratified when every class can give a sample to each side."""
    counts = np.bincount(y)
    n_val = min(int(np.ceil(_VALIDATION_FRACTION * len(y))), _MAX_VALIDATION)
    stratify = y if counts[counts > 0].min() >= 2 and np.count_nonzero(counts) <= n_val else None
    return train_test_split(X, y, test_size=n_val, random_state=random_state, stratify=stratify)


class _Progress:
    """Verbose progress in the linear learners' one format (``_optim.print_progress``):
    iteration, objective, active triplets, impostor pairs and candidates, time; and notes."""

    def __init__(self, verbose):
        self.verbose = verbose
        self.start = time.perf_counter()

    def line(self, n_iter, value, objective, note=""):
        if not self.verbose:
            return
        print_progress("LMNN", n_iter, value, self.start, triplets=objective.n_active,
                       impostors=objective.n_impostors, candidates=objective.n_candidates)
        if note:
            self.note(note)
        sys.stdout.flush()

    def note(self, text):
        if self.verbose:
            print(f"[LMNN] {text}")
            sys.stdout.flush()


def _minimize_lbfgs(objective, L0, max_iter, tol, progress):
    """L-BFGS-B on ``L``; the active set is refreshed first (unless it was built at ``L0``),
    every few iterations and at the end.

    Returns ``(L, n_iter, converged)``.
    """
    shape = L0.shape
    L = L0
    objective.refresh_unless_current(L)
    n_iter = 0

    def fun(x):
        value, grad = objective.evaluate(x.reshape(shape))
        return value, grad.ravel()

    while True:
        run_start = n_iter
        restart = []

        def callback(intermediate_result):
            nonlocal n_iter
            n_iter += 1
            progress.line(n_iter, intermediate_result.fun, objective)
            if (n_iter - run_start) % _REFRESH_EVERY == 0 and n_iter < max_iter:
                missed = objective.refresh(intermediate_result.x.reshape(shape))
                if missed:
                    # The objective L-BFGS has been seeing changed: restart it exactly.
                    restart.append(intermediate_result.x.copy())
                    raise StopIteration

        result = optimize.minimize(
            fun, L.ravel(), method="L-BFGS-B", jac=True, callback=callback,
            options={"maxiter": max_iter - n_iter, "ftol": tol, "gtol": 0.0},
        )
        L = (restart[0] if restart else result.x).reshape(shape)
        if restart:
            progress.note("impostors outside the active set appeared; restarting L-BFGS")
        else:
            # L-BFGS stopped on the active set: check that no impostor appeared outside it.
            missed = objective.refresh(L)
            if not missed and result.status != 1:  # status 1: maxiter
                progress.note(f"converged after {n_iter} iterations ({result.message})")
                return L, n_iter, True
            if missed:
                progress.note(f"{missed} impostor pairs outside the active set at the end; "
                              "restarting L-BFGS")
        if n_iter >= max_iter:
            return L, n_iter, False


def _minimize_gd(objective, L0, max_iter, tol, progress):
    """Gradient descent with step adaptation (Weinberger & Saul): x1.01 on success, /2 on
    failure. Returns ``(L, n_iter, converged)``."""
    L = L0
    objective.refresh_unless_current(L)
    value, grad = objective.evaluate(L)
    scale = np.linalg.norm(L) or 1.0
    step = 1e-2 * scale / max(np.linalg.norm(grad), np.finfo(float).tiny)
    since_refresh = 0
    for n_iter in range(1, max_iter + 1):
        L_new = L - step * grad
        value_new, grad_new = objective.evaluate(L_new)
        if value_new <= value:
            improvement = value - value_new
            L, grad = L_new, grad_new
            value_old, value = value, value_new
            step *= 1.01
            since_refresh += 1
            progress.line(n_iter, value, objective)
            converged = improvement <= tol * max(abs(value_old), abs(value), 1.0)
            if converged or since_refresh >= _REFRESH_EVERY:
                since_refresh = 0
                missed = objective.refresh(L)
                if missed:
                    value, grad = objective.evaluate(L)
                elif converged:
                    progress.note(f"converged after {n_iter} iterations")
                    return L, n_iter, True
        else:
            step *= 0.5
            progress.line(n_iter, value, objective, note="step halved")
            if step * np.linalg.norm(grad) <= np.finfo(float).eps * scale:
                progress.note(f"step too small after {n_iter} iterations")
                return L, n_iter, True
    return L, max_iter, False
