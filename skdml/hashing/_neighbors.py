"""Exact neighbor search in Hamming space over binary codes."""

from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from .._param_validation import Interval, StrOptions
from .._threads import uses_threads
from ..base import fit_context
from ..kernels._hamming import (
    _check_bits,
    _knn_words,
    _radius_words,
    check_packed,
    pack_words,
)

__all__ = ["HammingNeighbors"]


class HammingNeighbors(BaseEstimator):
    """Exact k-nearest-neighbor and radius search over binary codes by Hamming distance.

    A brute-force scan on packed bits: ``xor`` and ``popcount`` on 64-bit words, vectorised
    and multi-threaded (see :mod:`skdml.kernels`), as fast as faiss's ``IndexBinaryFlat``
    and with the same results. Exact, with ties broken by the smaller database index.

    Codes come packed or unpacked:

    - *unpacked*: an array of shape (n_samples, n_bits) with values in ``{0, 1}`` (any numeric
      or boolean dtype) or in ``{-1, +1}`` (``+1`` is bit 1) -- the output of a hasher;
    - *packed*: ``uint8`` rows of shape (n_samples, ceil(n_bits / 8)) in ``np.packbits``'
      default (big-endian) bit order, as :func:`skdml.hashing.pack_codes` writes them and
      faiss reads them.

    With ``packed='auto'`` an array of dtype ``uint8`` is taken as *packed* and any other
    dtype as *unpacked*; pass ``packed=False`` for unpacked ``{0, 1}`` codes stored as
    ``uint8``. Queries may come in either form, whichever form the database was fitted in.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbors :meth:`kneighbors` returns by default.
    radius : float, default=2
        Hamming radius (inclusive) :meth:`radius_neighbors` uses by default.
    packed : 'auto' or bool, default='auto'
        Whether codes are packed (see above).
    n_bits : int, default=None
        The code width of packed codes, when it is not a multiple of 8: the padding bits past
        it must be zero. ``None`` means ``8 * n_bytes`` for packed codes; for unpacked codes
        it must be ``None`` or the number of columns.
    n_jobs : int or None, default=None
        Threads of the numba search kernels during ``fit``, :meth:`kneighbors` and
        :meth:`radius_neighbors` (restored afterwards): ``None`` means 1 unless in a
        ``joblib.parallel_config(n_jobs=...)`` context, ``-1`` means all cores
        (scikit-learn's meaning).

    Attributes
    ----------
    codes_ : ndarray of shape (n_samples_fit, n_bytes), dtype=uint8
        The database, packed.
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
    """

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
        X : array-like of shape (n_samples, n_bits) or (n_samples, n_bytes)
            Binary codes, unpacked or packed (see the class docstring).
        y : None
            Ignored.

        Returns
        -------
        self : HammingNeighbors
        """
        validate_data(self, X, skip_check_array=True)
        codes, n_bits = self._pack(X, n_bits=self.n_bits, name="X")
        if codes.shape[0] == 0:
            raise ValueError("HammingNeighbors.fit needs at least one code, got 0 rows.")
        self.codes_ = codes
        self.n_bits_ = n_bits
        self.n_samples_fit_ = codes.shape[0]
        self._db_words = pack_words(codes, word_major=True)
        return self

    def _pack(self, X, *, n_bits, name):
        """Validate codes in either form; return packed uint8 rows and the code width."""
        if sparse.issparse(X):
            raise TypeError(
                f"HammingNeighbors: sparse input is not supported; pass {name} as a dense array "
                "of codes (packed codes are already compact)."
            )
        arr = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
        packed = arr.dtype == np.uint8 if self.packed == "auto" else bool(self.packed)
        if packed:
            return check_packed(arr, n_bits, name)
        bits = _check_bits(arr, name)
        if n_bits is not None and bits.shape[1] != n_bits:
            raise ValueError(
                f"HammingNeighbors: {name} holds unpacked codes of {bits.shape[1]} bits, but "
                f"n_bits={n_bits}."
            )
        return np.packbits(bits, axis=1), bits.shape[1]

    def _queries(self, X):
        """Packed query words, checked against the database width."""
        if sparse.issparse(X):
            return pack_words(self._pack(X, n_bits=self.n_bits_, name="X")[0])
        arr = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
        packed = arr.dtype == np.uint8 if self.packed == "auto" else bool(self.packed)
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
        codes, _ = self._pack(arr, n_bits=self.n_bits_, name="X")
        return pack_words(codes)

    @uses_threads
    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """The nearest database codes of each query code.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_bits) or (n_queries, n_bytes), default=None
            Query codes, packed or unpacked. ``None`` queries the database itself, each
            code leaving itself out (as scikit-learn's ``kneighbors()``).
        n_neighbors : int, default=None
            ``None`` means ``self.n_neighbors``. At most the database size (minus one when
            ``X`` is None).
        return_distance : bool, default=True

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries, n_neighbors), dtype=int32
            Hamming distances, ascending; only if ``return_distance=True``.
        neigh_ind : ndarray of shape (n_queries, n_neighbors), dtype=intp
            Database indices; equal distances are ordered by index.
        """
        check_is_fitted(self)
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if X is None:
            Q, exclude = pack_words(self.codes_), True
        else:
            Q, exclude = self._queries(X), False
        dist, ind = _knn_words(Q, self._db_words, k, exclude)
        return (dist, ind) if return_distance else ind

    @uses_threads
    def radius_neighbors(self, X=None, radius=None, return_distance=True, sort_results=False):
        """Every database code within a Hamming radius of each query code.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_bits) or (n_queries, n_bytes), default=None
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
            One int32 array of distances per query; only if ``return_distance=True``.
        neigh_ind : ndarray of shape (n_queries,), dtype=object
            One intp array of database indices per query.
        """
        check_is_fitted(self)
        r = self.radius if radius is None else radius
        if X is None:
            Q, exclude = pack_words(self.codes_), True
        else:
            Q, exclude = self._queries(X), False
        indptr, ind, dist = _radius_words(Q, self._db_words, r, exclude)
        n_q = Q.shape[0]
        neigh_ind = np.empty(n_q, dtype=object)
        neigh_dist = np.empty(n_q, dtype=object)
        for i in range(n_q):
            lo, hi = indptr[i], indptr[i + 1]
            di, ii = dist[lo:hi], ind[lo:hi]
            if sort_results:
                order = np.argsort(di, kind="stable")
                di, ii = di[order], ii[order]
            neigh_ind[i] = ii
            neigh_dist[i] = di
        return (neigh_dist, neigh_ind) if return_distance else neigh_ind
