"""What skdml's neighbours estimators share: a gallery in memory or on dask workers.

:class:`GalleryMixin` gives :class:`~skdml.hashing.HammingNeighbors` and
:class:`~skdml.neighbors.KernelNeighbors` one behaviour for dask arrays:

- ``fit(X_dask)`` persists the gallery's shards on the workers of the running
  ``distributed`` client (``client.persist``) and keeps the persisted dask array, never a
  NumPy copy (``is_distributed_`` is True, and the repr says where the shards are);
- ``kneighbors`` / ``radius_neighbors`` then search every shard where it lives and merge the
  per-shard lists exactly (ties by global index), for NumPy queries (NumPy answers), dask
  queries (lazy dask answers) or ``X=None``; an in-memory index maps dask queries chunk by
  chunk, itself shipped once;
- :meth:`to_local` gathers the gallery into an ordinary in-memory estimator; an estimator
  whose gallery is on the workers refuses to pickle (its shards belong to one client).

scikit-learn's ``kneighbors_graph`` / ``radius_neighbors_graph`` come from the searches.
dask is imported only when a dask array comes in (see :mod:`skdml._dask`).
"""

import numpy as np
from scipy import sparse
from sklearn.utils.validation import check_is_fitted

from ._dask import is_dask_array

__all__ = ["GalleryMixin"]


class GalleryMixin:
    """Dask galleries, ``to_local``, the neighbour graphs; see the module docstring.

    A subclass names its gallery attribute (``_gallery_attr``) and implements
    ``_prepare_dask_gallery(X)`` (checks, then ``(prepare_chunk, dtype, width)``),
    ``_dask_queries(X)`` (checks, then the lazily prepared dask queries),
    ``_shard_queries(X)`` (the prepared NumPy queries), ``_shard_functions()``
    (``(topk_fn, radius_fn, extra)``), ``_distance_dtype(dtype)`` and ``_index_gallery()``
    (what ``fit`` derives from an in-memory gallery).
    """

    _gallery_attr = "gallery_"
    _gallery_rows = "rows"

    # -- fit ----------------------------------------------------------------------------
    def _fit_dask_gallery(self, X):
        """Persist the dask array ``X`` on the workers as this estimator's gallery."""
        from .distributed._estimators import check_dask_rows, persist_gallery

        X = check_dask_rows(X)
        if X.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}.fit needs at least one row, got 0.")
        prepare, dtype, width = self._prepare_dask_gallery(X)
        gallery = persist_gallery(X, prepare, dtype, width, type(self).__name__)
        setattr(self, self._gallery_attr, gallery)
        self.n_samples_fit_ = gallery.shape[0]
        self.is_distributed_ = True
        return gallery

    def _is_distributed(self):
        return bool(self.__dict__.get("is_distributed_", False))

    # -- searches -------------------------------------------------------------------------
    def _sharded_kneighbors(self, X, k):
        """kneighbors through dask: a distributed gallery, or dask queries (or both)."""
        from .distributed import _estimators as est

        if not self._is_distributed():  # an in-memory index, dask queries
            self._dask_queries(X)  # the checks, before anything is scheduled
            X = est.check_dask_rows(X)
            return est.map_query_blocks(self, X, "kneighbors", {"n_neighbors": k},
                                        [((k,), self._distance_dtype(X.dtype)),
                                         ((k,), np.intp)])
        topk, _, extra = self._shard_functions()
        gallery = getattr(self, self._gallery_attr)
        Q = None if X is None else (self._dask_queries(X) if is_dask_array(X)
                                    else self._shard_queries(X))
        dtype = self._distance_dtype(X.dtype if is_dask_array(X) else np.float64)
        return est.search_topk(gallery, Q, k, topk, extra, dtype)

    def _sharded_radius_neighbors(self, X, radius, sort_results):
        from .distributed import _estimators as est

        if not self._is_distributed():
            self._dask_queries(X)
            return est.map_query_blocks(self, est.check_dask_rows(X), "radius_neighbors",
                                        {"radius": radius, "sort_results": sort_results},
                                        [((), object), ((), object)])
        _, radius_fn, extra = self._shard_functions()
        gallery = getattr(self, self._gallery_attr)
        Q = None if X is None else (self._dask_queries(X) if is_dask_array(X)
                                    else self._shard_queries(X))
        return est.search_radius(gallery, Q, radius, radius_fn, extra, sort_results)

    def _uses_dask(self, X):
        return self._is_distributed() or is_dask_array(X)

    # -- graphs ---------------------------------------------------------------------------
    def kneighbors_graph(self, X=None, n_neighbors=None, mode="connectivity"):
        """The k-neighbors graph, as scikit-learn's ``NearestNeighbors.kneighbors_graph``.

        Parameters
        ----------
        X : array-like or dask array of shape (n_queries, n_features), default=None
            ``None``: the gallery itself, each row left out of its own neighbors.
        n_neighbors : int, default=None
            ``None`` means ``self.n_neighbors``.
        mode : {'connectivity', 'distance'}, default='connectivity'
            Ones, or the distances, at the neighbors' columns.

        Returns
        -------
        A : scipy.sparse.csr_matrix of shape (n_queries, n_samples_fit)
            Computed (not lazy) for dask queries too.
        """
        _check_mode(mode)
        dist, ind = self.kneighbors(X, n_neighbors, return_distance=True)
        if is_dask_array(ind):
            import dask

            dist, ind = dask.compute(dist, ind)
        n_q, k = ind.shape
        data = np.ones(n_q * k) if mode == "connectivity" else dist.ravel()
        return sparse.csr_matrix((data, ind.ravel(), np.arange(0, n_q * k + 1, k)),
                                 shape=(n_q, self.n_samples_fit_))

    def radius_neighbors_graph(self, X=None, radius=None, mode="connectivity",
                               sort_results=False):
        """The radius-neighbors graph, as scikit-learn's
        ``NearestNeighbors.radius_neighbors_graph``.

        Parameters
        ----------
        X, radius, sort_results
            As in :meth:`radius_neighbors`.
        mode : {'connectivity', 'distance'}, default='connectivity'

        Returns
        -------
        A : scipy.sparse.csr_matrix of shape (n_queries, n_samples_fit)
        """
        _check_mode(mode)
        dist, ind = self.radius_neighbors(X, radius, return_distance=True,
                                          sort_results=sort_results)
        if is_dask_array(ind):
            import dask

            dist, ind = dask.compute(dist, ind)
        counts = np.array([len(a) for a in ind], dtype=np.intp)
        indptr = np.concatenate(([0], np.cumsum(counts)))
        cols = np.concatenate(list(ind)) if len(ind) else np.empty(0, np.intp)
        if mode == "connectivity":
            data = np.ones(indptr[-1])
        else:
            data = np.concatenate(list(dist)) if len(dist) else np.empty(0)
        return sparse.csr_matrix((data, cols, indptr), shape=(len(ind), self.n_samples_fit_))

    # -- where the gallery is ---------------------------------------------------------------
    def to_local(self):
        """This estimator with its gallery gathered into memory (a NumPy array).

        An estimator fitted on a dask array holds its gallery on the workers; ``to_local()``
        computes it (the whole gallery travels to this process, once) and returns a new,
        ordinary estimator that searches in memory, pickles and outlives the client. An
        estimator fitted in memory is returned as it is.

        Returns
        -------
        estimator : the same class, fitted, ``is_distributed_`` False
        """
        check_is_fitted(self)
        if not self._is_distributed():
            return self
        from .distributed._estimators import gallery_client

        gallery = getattr(self, self._gallery_attr)
        local = type(self).__new__(type(self))
        local.__dict__.update(self.__dict__)
        setattr(local, self._gallery_attr, gallery_client(gallery).compute(gallery).result())
        local.is_distributed_ = False
        local._index_gallery()
        return local

    def __getstate__(self):
        if self._is_distributed():
            raise TypeError(
                f"{type(self).__name__} holds its gallery on dask workers (persisted shards "
                "of one client), which a pickle cannot carry: call to_local() first (it "
                "gathers the gallery into memory), or fit again where it is unpickled."
            )
        return super().__getstate__()

    def __repr__(self, N_CHAR_MAX=700):
        text = super().__repr__(N_CHAR_MAX)
        if not self._is_distributed():
            return text
        gallery = getattr(self, self._gallery_attr)
        from distributed import futures_of

        futures = futures_of(gallery)
        address = getattr(futures[0].client.scheduler, "address", None) if futures else None
        where = f"the workers of {address}" if address else "dask workers"
        return (f"{text} <gallery: {gallery.shape[0]} {self._gallery_rows} in "
                f"{gallery.numblocks[0]} shards on {where}>")


def _check_mode(mode):
    if mode not in ("connectivity", "distance"):
        raise ValueError(f"mode must be 'connectivity' or 'distance', got {mode!r}.")
