"""Nearest neighbors in a learned metric, the fast way.

Every skdml learner's distance is the Euclidean distance of its embedding (the Hamming
distance of a hasher's codes, whose Euclidean distance is its square root and ranks alike):
``d(u, v) = ||f(u) - f(v)||`` with ``f = learner.transform``. So
``KNeighborsClassifier(metric=learner.get_metric())`` and a kNN on ``learner.transform(X)``
find the same neighbours -- but the first calls a Python function for every pair of samples,
which scikit-learn cannot run in compiled code or index in a tree, while the second embeds
each sample once and searches with scikit-learn's compiled Euclidean kernels.
:func:`make_knn` builds the second in one call; ``benchmarks/bench_knn.py`` measures the
difference (about a thousand times on digits, for the kNN's fit and predict).

:class:`KernelNeighbors` is scikit-learn's ``NearestNeighbors`` interface on skdml's exact
numba kernels (:func:`skdml.kernels.knn`), for embeddings: in memory, or with the gallery
persisted on dask workers when fitted on a dask array (see the "Scaling out" page).
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import assert_all_finite
from sklearn.utils.validation import check_is_fitted, validate_data

from ._dask import is_dask_array
from ._gallery import GalleryMixin
from ._param_validation import Interval, StrOptions
from ._threads import uses_threads
from .base import fit_context
from .distributed._merge import float_shard_radius, float_shard_topk, radius_lists
from .kernels import METRICS, knn, mahalanobis_components

__all__ = ["KernelNeighbors", "make_knn"]


def make_knn(learner, n_neighbors=5, **kneighbors_params):
    """A kNN classifier in the metric of ``learner``: ``learner`` then a Euclidean kNN.

    The pipeline ``Pipeline([("learner", learner), ("knn", KNeighborsClassifier(...))])``:
    its ``fit`` fits the learner, embeds the training samples once and indexes them; its
    ``predict`` embeds the queries and searches with scikit-learn's compiled Euclidean
    kernels. It finds the same neighbours as
    ``KNeighborsClassifier(metric=learner.get_metric())`` (up to the order of ties) at a
    fraction of the cost: the ``metric=`` path calls a Python function for every pair of
    samples.

    Parameters
    ----------
    learner : skdml learner (or any transformer)
        Fitted on the data given to the pipeline's ``fit``. To reuse a learner already
        fitted, as ``metric=learner.get_metric()`` does, pass
        ``sklearn.frozen.FrozenEstimator(learner)``: the pipeline then only embeds.
    n_neighbors : int, default=5
        Number of neighbours that vote.
    **kneighbors_params
        Other parameters of ``KNeighborsClassifier`` (``weights``, ``algorithm``,
        ``n_jobs``, ...), except ``metric``: the Euclidean distance of the embedding *is* the
        learned distance.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``"learner"`` and ``"knn"``: tune them with ``GridSearchCV`` as
        ``learner__<param>`` and ``knn__<param>``.

    Raises
    ------
    ValueError
        If ``learner`` has no ``transform`` or a ``metric`` is given.

    See Also
    --------
    skdml.hashing.HammingNeighbors : the fastest search for a hasher's binary codes.
    sklearn.neighbors.KNeighborsRegressor : for a learner of continuous targets (MLKR), put
        it after the learner in a pipeline the same way.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from skdml import NCA
    >>> from skdml.neighbors import make_knn
    >>> X, y = load_iris(return_X_y=True)
    >>> knn = make_knn(NCA(random_state=0), n_neighbors=3).fit(X, y)
    >>> round(knn.score(X, y), 3)
    0.987
    >>> nca = knn.named_steps["learner"]  # the fitted learner; reusing it costs no fit:
    >>> fast = make_knn(FrozenEstimator(nca), n_neighbors=3).fit(X, y)
    >>> slow = KNeighborsClassifier(3, metric=nca.get_metric()).fit(X, y)
    >>> bool((fast.predict(X) == slow.predict(X)).all())
    True
    """
    if not hasattr(learner, "transform"):
        raise ValueError(
            "make_knn needs a learner with a transform method (a skdml learner, or any "
            f"transformer), got {type(learner).__name__}."
        )
    if "metric" in kneighbors_params:
        raise ValueError(
            "make_knn searches the learner's embedding with the Euclidean distance, which is "
            "the learned distance; it takes no metric, got "
            f"metric={kneighbors_params['metric']!r}. For another metric, use "
            "make_pipeline(learner, KNeighborsClassifier(metric=...))."
        )
    knn = KNeighborsClassifier(n_neighbors=n_neighbors, **kneighbors_params)
    return Pipeline([("learner", learner), ("knn", knn)])


class KernelNeighbors(GalleryMixin, BaseEstimator):
    """Exact nearest neighbours of real vectors on skdml's kernels, in memory or on dask.

    scikit-learn's ``NearestNeighbors`` interface (:meth:`fit`, :meth:`kneighbors`,
    :meth:`radius_neighbors`, :meth:`kneighbors_graph`, :meth:`radius_neighbors_graph`) on
    the brute-force search of :func:`skdml.kernels.knn`: BLAS for the Euclidean cross term,
    numba for the rest, a bounded heap per query, the database streamed in cache-sized tiles.
    Exact, with ties broken by the smaller database index. It is the search for a learner's
    embedding (``learner.transform(X)``), or for a learned Mahalanobis distance itself
    (``metric="mahalanobis"`` with ``metric_params={"L": learner.components_}``).

    **On a dask cluster.** Fitted on a ``dask.array.Array`` (with a ``distributed`` client
    running), the database stays on the workers: its row chunks are checked (and mapped by
    ``L`` for a Mahalanobis metric) there and persisted as shards; ``gallery_`` is that
    persisted dask array, ``is_distributed_`` is True and the repr names the scheduler.
    Searches run on every shard where it lives and the per-shard lists are merged exactly,
    ties by global index: the answers of the in-memory search. NumPy queries get NumPy
    answers, dask queries lazy dask answers; :meth:`to_local` gathers the database into an
    ordinary in-memory index; an index whose database is on the workers does not pickle.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbours :meth:`kneighbors` returns by default.
    radius : float, default=1.0
        Radius (inclusive) :meth:`radius_neighbors` uses by default.
    metric : {'euclidean', 'sqeuclidean', 'mahalanobis', 'cosine', 'manhattan', \
'chebyshev'}, default='euclidean'
        The distance (see :func:`skdml.kernels.pairwise_distances`).
    metric_params : dict, default=None
        For ``metric='mahalanobis'`` only, and required there: ``{"M": M}`` (a PSD matrix,
        factored once) or ``{"L": L}`` (a linear map, ``M = L.T @ L``; a linear learner's
        ``components_``). The database is mapped by ``L`` once, in :meth:`fit`.
    n_jobs : int or None, default=None
        Threads of the search kernels during :meth:`kneighbors` and
        :meth:`radius_neighbors` (scikit-learn's meaning: ``None`` is 1 unless in a
        ``joblib.parallel_config`` context, ``-1`` all cores).

    Attributes
    ----------
    gallery_ : ndarray of shape (n_samples_fit, n_dims)
        The database as searched (float32 or float64; mapped by ``L`` for
        ``metric='mahalanobis'``): a NumPy array, or a persisted dask array of shards on the
        workers when fitted on a dask array.
    is_distributed_ : bool
        Whether ``gallery_`` is on dask workers.
    n_samples_fit_ : int
        Number of database rows.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in,)
        Names of features seen during :meth:`fit`, if they were strings.

    See Also
    --------
    skdml.kernels.knn : the same search as a function.
    skdml.hashing.HammingNeighbors : the search for binary codes.
    sklearn.neighbors.NearestNeighbors : the interface this follows.

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.neighbors import KernelNeighbors
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [4.0, 0.0]])
    >>> nn = KernelNeighbors(n_neighbors=2).fit(X)
    >>> dist, ind = nn.kneighbors(np.array([[2.9, 0.0]]))
    >>> ind
    array([[2, 3]])
    >>> nn.radius_neighbors(np.array([[0.5, 0.0]]), radius=0.5, return_distance=False)[0]
    array([0, 1])
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "radius": [Interval(Real, 0, None, closed="left")],
        "metric": [StrOptions(set(METRICS))],
        "metric_params": [dict, None],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_neighbors=5, *, radius=1.0, metric="euclidean", metric_params=None,
                 n_jobs=None):
        self.n_neighbors = n_neighbors
        self.radius = radius
        self.metric = metric
        self.metric_params = metric_params
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    @fit_context
    def fit(self, X, y=None):
        """Store (or, for a dask array, persist on the workers) the database.

        Parameters
        ----------
        X : array-like or dask array of shape (n_samples, n_features)
            A dask array must hold float32 or float64 values, with known chunk sizes.
        y : None
            Ignored.

        Returns
        -------
        self : KernelNeighbors
        """
        if is_dask_array(X):
            validate_data(self, X, skip_check_array=True)
            self._L = self._components(X.shape[1] if X.ndim == 2 else 0)
            self._fit_dask_gallery(X)
            return self
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        self._L = self._components(X.shape[1])
        self.gallery_ = _mapped(X, self._L)
        self.n_samples_fit_ = X.shape[0]
        self.is_distributed_ = False
        return self

    def _components(self, n_features):
        """The map ``L`` of a Mahalanobis metric (factored once), else None."""
        params = {} if self.metric_params is None else dict(self.metric_params)
        if self.metric != "mahalanobis":
            if params:
                raise ValueError(
                    "KernelNeighbors: metric_params are only used with metric='mahalanobis', "
                    f"got metric={self.metric!r} and metric_params={self.metric_params!r}."
                )
            return None
        if set(params) not in ({"M"}, {"L"}):
            raise ValueError(
                "KernelNeighbors: metric='mahalanobis' needs metric_params={'M': M} (a PSD "
                "matrix) or {'L': L} (a linear map, e.g. a learner's components_), got "
                f"{self.metric_params!r}."
            )
        return mahalanobis_components(n_features=n_features, **params)

    def _index_gallery(self):
        pass  # the gallery is searched as it is

    @property
    def _search_metric(self):
        return "euclidean" if self.metric == "mahalanobis" else self.metric

    # -- dask (see skdml._gallery) --------------------------------------------------------
    def _prepare_dask_gallery(self, X):
        if X.dtype not in (np.float32, np.float64):
            raise ValueError(
                "KernelNeighbors: a dask array X must have dtype float32 or float64, got "
                f"dtype {X.dtype}; convert it first (X.astype(np.float64))."
            )
        width = X.shape[1] if self._L is None else self._L.shape[0]
        return _GalleryChunk(self._L), X.dtype, width

    def _dask_queries(self, X):
        from .distributed._estimators import check_dask_rows

        X = check_dask_rows(X)
        if X.dtype.kind not in "fiub":
            raise ValueError(
                f"KernelNeighbors: X must hold real numbers, got a dask array of dtype {X.dtype}."
            )
        self._check_width(X.shape[1])
        dtype = self._distance_dtype(X.dtype)
        width = self.n_features_in_ if self._L is None else self._L.shape[0]
        return X.map_blocks(_GalleryChunk(self._L, dtype), dtype=dtype,
                            chunks=(X.chunks[0], (width,)), meta=np.empty((0, 0), dtype))

    def _check_width(self, width):
        if width != self.n_features_in_:
            raise ValueError(
                f"X has {width} features, but KernelNeighbors is expecting "
                f"{self.n_features_in_} features as input."
            )

    def _shard_queries(self, X):
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return _mapped(X, self._L).astype(self._distance_dtype(X.dtype), copy=False)

    def _shard_functions(self):
        return float_shard_topk, float_shard_radius, (self._search_metric, None, None)

    def _distance_dtype(self, dtype):
        dtype = np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.dtype(np.float64)
        return np.result_type(dtype, self.gallery_.dtype)

    # -- searches -------------------------------------------------------------------------
    @uses_threads
    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """The nearest database rows of each query.

        Parameters
        ----------
        X : array-like or dask array of shape (n_queries, n_features), default=None
            ``None`` queries the database itself, each row leaving itself out (as
            scikit-learn's ``kneighbors()``).
        n_neighbors : int, default=None
            ``None`` means ``self.n_neighbors``. At most the database size (minus one when
            ``X`` is None).
        return_distance : bool, default=True

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries, n_neighbors)
            Distances, ascending; only if ``return_distance=True``. A lazy dask array for
            dask queries.
        neigh_ind : ndarray of shape (n_queries, n_neighbors), dtype=intp
            Database indices; equal distances are ordered by index.
        """
        check_is_fitted(self)
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if self._uses_dask(X):
            dist, ind = self._sharded_kneighbors(X, k)
        elif X is None:
            dist, ind = knn(self.gallery_, None, k, metric=self._search_metric,
                            exclude_self=True)
        else:
            dist, ind = knn(self._shard_queries(X), self.gallery_, k,
                            metric=self._search_metric)
        return (dist, ind) if return_distance else ind

    @uses_threads
    def radius_neighbors(self, X=None, radius=None, return_distance=True, sort_results=False):
        """Every database row within ``radius`` (inclusive) of each query.

        Parameters
        ----------
        X : array-like or dask array of shape (n_queries, n_features), default=None
            ``None`` queries the database itself, each row leaving itself out.
        radius : float, default=None
            ``None`` means ``self.radius``.
        return_distance : bool, default=True
        sort_results : bool, default=False
            Sort each query's neighbours by distance (ties by index); otherwise they come in
            increasing index order.

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries,), dtype=object
            One array of distances per query; only if ``return_distance=True``. A lazy dask
            array of objects for dask queries.
        neigh_ind : ndarray of shape (n_queries,), dtype=object
            One intp array of database indices per query.
        """
        check_is_fitted(self)
        r = self.radius if radius is None else radius
        if (not isinstance(r, Real) or isinstance(r, bool) or not np.isfinite(r) or r < 0):
            raise ValueError(f"radius must be a finite number >= 0, got {r!r}.")
        if self._uses_dask(X):
            dist, ind = self._sharded_radius_neighbors(X, r, sort_results)
            return (dist, ind) if return_distance else ind
        Q = None if X is None else self._shard_queries(X)
        hits = float_shard_radius(Q, self.gallery_, 0, r, self._search_metric, None, None,
                                  exclude_self=X is None)
        dist, ind = radius_lists(*hits, sort_results)
        return (dist, ind) if return_distance else ind


def _mapped(X, L):
    return X if L is None else X @ L.T.astype(X.dtype, copy=False)


class _GalleryChunk:
    """One chunk of a dask array of vectors: finite, mapped by ``L`` (a task on a worker)."""

    def __init__(self, L, dtype=None):
        self.L = L
        self.dtype = dtype

    def __call__(self, block):
        block = np.asarray(block) if self.dtype is None else np.asarray(block, self.dtype)
        assert_all_finite(block, input_name="X")
        return _mapped(block, self.L)
