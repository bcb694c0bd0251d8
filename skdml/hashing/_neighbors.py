"""Exact neighbor search in Hamming space over binary codes."""

import functools
from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from .._dask import is_dask_array
from .._gallery import GalleryMixin
from .._param_validation import Interval, StrOptions
from .._threads import uses_threads
from ..base import fit_context
from ..distributed._merge import hamming_shard_radius, hamming_shard_topk, radius_lists
from ..kernels._hamming import (
    _check_bits,
    _check_radius,
    _knn_words,
    _radius_words,
    check_packed,
    pack_words,
)

__all__ = ["HammingNeighbors"]


class HammingNeighbors(GalleryMixin, BaseEstimator):
    """Exact k-nearest-neighbor and radius search over binary codes by Hamming distance.

    A brute-force scan on packed bits: ``xor`` and ``popcount`` on 64-bit words, vectorised
    and multi-threaded (see :mod:`skdml.kernels`), as fast as faiss's ``IndexBinaryFlat``
    and with the same results. Exact, with ties broken by the smaller database index.

    Codes come in two forms, told apart by their dtype:

    - *unpacked*: one column per bit, of shape (n_samples, n_bits): ``bool`` -- what a
      hasher's ``transform`` returns -- or any other numeric dtype but ``uint8`` with values
      in ``{0, 1}`` or in ``{-1, +1}`` (``+1`` is bit 1);
    - *packed*: ``uint8`` rows of shape (n_samples, ceil(n_bits / 8)) in ``np.packbits``'
      default (big-endian) bit order, as :func:`skdml.hashing.pack_codes` and a hasher's
      ``transform_packed`` write them and faiss reads them.

    Either way the database is stored packed and searched 64 bits at a time, so
    ``HammingNeighbors().fit(hasher.transform(X))`` -- or a pipeline
    ``make_pipeline(hasher, HammingNeighbors())`` -- runs the same search as packed codes
    would, with ``n_bits_`` the hasher's ``n_bits_``.

    With ``packed='auto'`` a ``uint8`` array is read as packed bytes, unless its width or its
    values say otherwise: with ``n_bits`` given (in :meth:`fit`), or the database's width (for
    queries), ``n_bits`` columns are bits and ``ceil(n_bits / 8)`` columns bytes. A ``uint8``
    array whose values are all 0 or 1 and whose width does not decide (``fit`` without
    ``n_bits``) reads two ways -- unpacked bits, or packed bytes of eight times as many bits
    -- and is refused with a ``ValueError``: pass ``codes.astype(bool)``, ``n_bits``, or
    ``packed=False`` / ``packed=True``.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbors :meth:`kneighbors` returns by default.
    radius : float, default=2
        Hamming radius (inclusive) :meth:`radius_neighbors` uses by default.
    packed : 'auto' or bool, default='auto'
        Whether codes are packed: ``'auto'`` reads it from the dtype (see above), ``True``
        and ``False`` say it for every array given to :meth:`fit` and the queries.
    n_bits : int, default=None
        The code width. Packed codes need it when it is not a multiple of 8 (the padding
        bits past it must be zero): ``None`` means ``8 * n_bytes`` for packed codes and the
        number of columns for unpacked ones. An array whose width contradicts it is refused
        with a ``ValueError``.
    n_jobs : int or None, default=None
        Threads of the numba search kernels during ``fit``, :meth:`kneighbors` and
        :meth:`radius_neighbors` (restored afterwards): ``None`` means 1 unless in a
        ``joblib.parallel_config(n_jobs=...)`` context, ``-1`` means all cores
        (scikit-learn's meaning).

    **On a dask cluster.** Fitted on a ``dask.array.Array`` (with a ``distributed`` client
    running), the database stays on the workers: its row chunks are packed there and
    persisted as shards, ``codes_`` is that persisted dask array (no copy on the client),
    ``is_distributed_`` is True and the repr names the scheduler. :meth:`kneighbors` and
    :meth:`radius_neighbors` then search each shard where it lives and merge the lists
    exactly, ties by global index (the results of the in-memory search); NumPy queries get
    NumPy answers, dask queries lazy dask answers. A dask database must be ``bool`` bits or
    packed ``uint8`` bytes (``packed=False`` for ``uint8`` bits), with known chunk sizes.
    :meth:`to_local` gathers it into an ordinary in-memory index; an index whose database is
    on the workers does not pickle. See the "Scaling out" page.

    Attributes
    ----------
    codes_ : ndarray of shape (n_samples_fit, n_bytes), dtype=uint8
        The database, packed: a NumPy array, or a persisted dask array of shards on the
        workers when fitted on a dask array.
    is_distributed_ : bool
        Whether ``codes_`` is on dask workers.
    n_bits_ : int
        Code width in bits.
    n_samples_fit_ : int
        Number of database codes.
    n_features_in_ : int
        Number of columns of the array passed to :meth:`fit` (bits if unpacked, bytes if
        packed).
    feature_names_in_ : ndarray of shape (n_features_in,)
        Column names of a DataFrame passed to :meth:`fit`, if it had string column names.

    See Also
    --------
    skdml.kernels.hamming_knn : the same search as a function on packed codes.
    sklearn.neighbors.NearestNeighbors : the real-valued counterpart.

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.hashing import HammingNeighbors
    >>> codes = np.array([[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]])
    >>> nn = HammingNeighbors(n_neighbors=2).fit(codes)
    >>> dist, ind = nn.kneighbors(np.array([[1, 1, 1, 1]]))
    >>> dist, ind
    (array([[0, 1]], dtype=int32), array([[3, 2]]))
    >>> nn.radius_neighbors(np.array([[0, 0, 0, 0]]), radius=2, return_distance=False)[0]
    array([0, 1])

    A hasher's codes go in as its ``transform`` returns them, alone or after it in a pipeline:

    >>> from sklearn.datasets import load_digits
    >>> from sklearn.pipeline import make_pipeline
    >>> from skdml.hashing import ITQ
    >>> X, _ = load_digits(return_X_y=True)
    >>> pipe = make_pipeline(ITQ(n_bits=32, random_state=0), HammingNeighbors()).fit(X)
    >>> index = pipe[-1]
    >>> index.n_bits_, index.codes_.shape  # 32 bits, packed in 4 bytes per code
    (32, (1797, 4))
    >>> dist, ind = index.kneighbors(pipe[:-1].transform(X[:2]), n_neighbors=3)
    >>> ind[:, 0]
    array([0, 1])
    """

    _gallery_attr = "codes_"
    _gallery_rows = "codes"

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "radius": [Interval(Real, 0, None, closed="left")],
        "packed": [StrOptions({"auto"}), "boolean"],
        "n_bits": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_neighbors=5, *, radius=2, packed="auto", n_bits=None, n_jobs=None):
        self.n_neighbors = n_neighbors
        self.radius = radius
        self.packed = packed
        self.n_bits = n_bits
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    @fit_context
    def fit(self, X, y=None):
        """Store the database codes.

        Parameters
        ----------
        X : array-like or dask array of shape (n_samples, n_bits) or (n_samples, n_bytes)
            Binary codes, unpacked (``bool``, as a hasher's ``transform`` returns them) or
            packed (``uint8``); see the class docstring. A dask array stays on the workers.
        y : None
            Ignored.

        Returns
        -------
        self : HammingNeighbors
        """
        validate_data(self, X, skip_check_array=True)
        if is_dask_array(X):
            self._fit_dask_gallery(X)
            return self
        arr = _as_array(X, "X")
        codes, n_bits = _pack(arr, self._reads_packed(arr, self.n_bits, "X"), self.n_bits,
                              "X")
        if codes.shape[0] == 0:
            raise ValueError("HammingNeighbors.fit needs at least one code, got 0 rows.")
        self.codes_ = codes
        self.n_bits_ = n_bits
        self.n_samples_fit_ = codes.shape[0]
        self.is_distributed_ = False
        self._index_gallery()
        return self

    def _index_gallery(self):
        self._db_words = pack_words(self.codes_, word_major=True)

    # -- dask (see skdml._gallery) --------------------------------------------------------
    def _lazy_packed(self, dtype, width, n_bits, name):
        """Whether a dask array of codes is packed, from its dtype and width alone."""
        if dtype == np.bool_:
            if self.packed is True:
                raise ValueError(
                    f"HammingNeighbors: {name} holds bool bits, but packed=True says packed "
                    "uint8 bytes."
                )
            return False
        if dtype != np.uint8:
            if name == "X" or self.packed is True:
                raise ValueError(
                    f"HammingNeighbors: a dask array of codes must hold bool bits (a hasher's "
                    f"transform) or packed uint8 bytes (transform_packed), got dtype {dtype}; "
                    f"convert it first, e.g. {name} > 0."
                )
            return False  # queries: numeric bits, checked chunk by chunk
        if self.packed != "auto":
            return bool(self.packed)
        return not (n_bits is not None and width == n_bits != -(-n_bits // 8))

    def _prepare_dask_gallery(self, X):
        width = X.shape[1]
        packed = self._lazy_packed(X.dtype, width, self.n_bits, "X")
        n_bits = width if not packed else (8 * width if self.n_bits is None else self.n_bits)
        if packed and width != -(-n_bits // 8):
            raise ValueError(
                f"HammingNeighbors: X holds packed codes of {width} bytes, but n_bits="
                f"{n_bits} needs {-(-n_bits // 8)} bytes."
            )
        if not packed and self.n_bits is not None and width != self.n_bits:
            raise ValueError(
                f"HammingNeighbors: X holds unpacked codes of {width} bits, but "
                f"n_bits={self.n_bits}."
            )
        self.n_bits_ = n_bits
        return (functools.partial(_packed_chunk, packed=packed, n_bits=n_bits), np.uint8,
                -(-n_bits // 8))

    def _dask_queries(self, X):
        from ..distributed._estimators import check_dask_rows

        X = check_dask_rows(X)
        n_bytes = -(-self.n_bits_ // 8)
        width = X.shape[1]
        packed = self._lazy_packed(X.dtype, width, self.n_bits_, "queries")
        if packed and width != n_bytes or not packed and width != self.n_bits_:
            raise ValueError(
                f"HammingNeighbors: X holds {'packed' if packed else 'unpacked'} codes of "
                f"{width} {'bytes' if packed else 'bits'}, but the database codes have "
                f"{n_bytes} bytes ({self.n_bits_} bits)."
            )
        return X.map_blocks(_packed_chunk, packed=packed, n_bits=self.n_bits_, dtype=np.uint8,
                            chunks=(X.chunks[0], (n_bytes,)), meta=np.empty((0, 0), np.uint8))

    def _shard_queries(self, X):
        return self._query_codes(X)

    def _shard_functions(self):
        return hamming_shard_topk, hamming_shard_radius, ()

    def _distance_dtype(self, dtype):
        return np.dtype(np.int32)

    def _reads_packed(self, arr, n_bits, name, database=False):
        """Whether ``arr`` holds packed codes: ``self.packed``, or the rule of ``'auto'``.

        ``n_bits`` is the width the codes must have (the parameter in ``fit``, the database's
        for queries, ``database=True``), or None when unknown.
        """
        if self.packed != "auto":
            return bool(self.packed)
        if arr.dtype != np.uint8:
            return False  # bool: a hasher's bits; any other dtype: bit values
        if arr.ndim != 2 or arr.size == 0:
            return True  # check_packed names the problem (or fit's empty database)
        width = arr.shape[1]
        if n_bits is None:
            if arr.max() > 1:  # a byte above 1 is no bit
                return True
            raise ValueError(
                f"HammingNeighbors: {name} is a uint8 array whose values are all 0 or 1, which "
                f"reads two ways: {width} unpacked bits, or {width} packed bytes "
                f"({8 * width} bits). Hashers' transform returns bits as bool: pass "
                f"{name}.astype(bool), or say which with packed=False (bits) or packed=True "
                "(bytes), or give n_bits."
            )
        n_bytes = -(-n_bits // 8)
        if width not in (n_bits, n_bytes):
            if arr.max() > 1:  # bytes, of the wrong width: check_packed or _queries says so
                return True
            whose = "the database's codes have" if database else "n_bits says"
            raise ValueError(
                f"HammingNeighbors: {name} is a uint8 array of {width} columns, but {whose} "
                f"{n_bits} bits: {n_bits} columns of bits (better as bool) or {n_bytes} "
                "column(s) of packed bytes."
            )
        if n_bits != n_bytes:
            return width == n_bytes
        return bool(arr.max() > 1)  # one bit in one column: packed 0 or 128, unpacked 0 or 1

    def _queries(self, X):
        """Packed query words, checked against the database width."""
        return pack_words(self._query_codes(X))

    def _query_codes(self, X):
        """Packed query codes (uint8 rows), checked against the database width."""
        arr = _as_array(X, "X")
        packed = self._reads_packed(arr, self.n_bits_, "X", database=True)
        if not packed and arr.ndim == 2 and arr.shape[1] != self.n_bits_:
            raise ValueError(
                f"HammingNeighbors: X holds unpacked codes of {arr.shape[1]} bits, but the "
                f"database codes have {self.n_bits_} bits."
            )
        n_bytes = self.codes_.shape[1]
        if packed and arr.ndim == 2 and arr.shape[1] != n_bytes:
            raise ValueError(
                f"HammingNeighbors: X holds packed codes of {arr.shape[1]} bytes, but the "
                f"database codes have {n_bytes} bytes ({self.n_bits_} bits)."
            )
        codes, _ = _pack(arr, packed, self.n_bits_, "X")
        return codes

    @uses_threads
    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """The nearest database codes of each query code.

        Parameters
        ----------
        X : array-like or dask array of shape (n_queries, n_bits) or (n_queries, n_bytes), \
default=None
            Query codes, packed or unpacked. ``None`` queries the database itself, each
            code leaving itself out (as scikit-learn's ``kneighbors()``).
        n_neighbors : int, default=None
            ``None`` means ``self.n_neighbors``. At most the database size (minus one when
            ``X`` is None).
        return_distance : bool, default=True

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries, n_neighbors), dtype=int32
            Hamming distances, ascending; only if ``return_distance=True``. A lazy dask
            array for dask queries.
        neigh_ind : ndarray of shape (n_queries, n_neighbors), dtype=intp
            Database indices; equal distances are ordered by index.
        """
        check_is_fitted(self)
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if self._uses_dask(X):
            dist, ind = self._sharded_kneighbors(X, k)
        elif X is None:
            dist, ind = _knn_words(pack_words(self.codes_), self._db_words, k, True)
        else:
            dist, ind = _knn_words(self._queries(X), self._db_words, k, False)
        return (dist, ind) if return_distance else ind

    @uses_threads
    def radius_neighbors(self, X=None, radius=None, return_distance=True, sort_results=False):
        """Every database code within a Hamming radius of each query code.

        Parameters
        ----------
        X : array-like or dask array of shape (n_queries, n_bits) or (n_queries, n_bytes), \
default=None
            Query codes, packed or unpacked. ``None`` queries the database itself, each
            code leaving itself out.
        radius : float, default=None
            Inclusive radius (codes at distance ``<= radius``), ``>= 0``. ``None`` means
            ``self.radius``.
        return_distance : bool, default=True
        sort_results : bool, default=False
            Sort each query's neighbors by distance (ties by index); otherwise they come in
            increasing index order.

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries,), dtype=object
            One int32 array of distances per query; only if ``return_distance=True``. A
            lazy dask array of objects for dask queries.
        neigh_ind : ndarray of shape (n_queries,), dtype=object
            One intp array of database indices per query.
        """
        check_is_fitted(self)
        r = self.radius if radius is None else radius
        if self._uses_dask(X):
            _check_radius(r)
            dist, ind = self._sharded_radius_neighbors(X, r, sort_results)
            return (dist, ind) if return_distance else ind
        if X is None:
            Q, exclude = pack_words(self.codes_), True
        else:
            Q, exclude = self._queries(X), False
        indptr, ind, dist = _radius_words(Q, self._db_words, r, exclude)
        neigh_dist, neigh_ind = radius_lists(indptr, ind, dist, sort_results)
        return (neigh_dist, neigh_ind) if return_distance else neigh_ind


def _packed_chunk(block, packed, n_bits):
    """One chunk of a dask array of codes, validated and packed (a task on a worker)."""
    return _pack(block, packed, n_bits, "X")[0]


def _as_array(X, name):
    """A dense ndarray of ``X`` (a DataFrame's values); sparse codes are refused."""
    if sparse.issparse(X):
        raise TypeError(
            f"HammingNeighbors: sparse input is not supported; pass {name} as a dense array "
            "of codes (packed codes are already compact)."
        )
    return X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)


def _pack(arr, packed, n_bits, name):
    """Validate codes in the form ``packed`` says; return packed uint8 rows and the width."""
    if packed:
        return check_packed(arr, n_bits, name)
    bits = _check_bits(arr, name)
    if n_bits is not None and bits.shape[1] != n_bits:
        raise ValueError(
            f"HammingNeighbors: {name} holds unpacked codes of {bits.shape[1]} bits, but "
            f"n_bits={n_bits}."
        )
    return np.packbits(bits, axis=1), bits.shape[1]
