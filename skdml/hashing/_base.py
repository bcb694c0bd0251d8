"""The output convention every hasher shares: boolean codes, packed codes, Hamming distance.

A hasher is a transformer whose ``transform(X)`` returns binary codes: a ``bool`` array of
shape ``(n_samples, n_bits)`` -- bit ``k`` is ``True`` where the hasher's ``k``-th real-valued
projection is ``>= 0`` (the ``sgn`` of the papers, with ``sgn(0) = +1`` as in ITQ's reference
code). ``transform_packed(X)`` returns the same codes packed with
:func:`skdml.kernels.pack_codes` (``np.packbits`` order, ``uint8`` rows, what faiss's binary
indexes read). The learned distance is the Hamming distance between codes.

The two forms have two dtypes, so no reader has to guess: ``bool`` is one bit per column,
``uint8`` is eight bits per byte. :class:`~skdml.hashing.HammingNeighbors` reads either by its
dtype (``HammingNeighbors().fit(hasher.transform(X))`` packs the bits once and searches the
packed words), and NumPy and scikit-learn take ``bool`` arrays as numbers ``0`` and ``1``.
"""

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._dask import dask_aware_methods
from .._threads import uses_threads
from .._validation import check_metric_samples
from ..kernels import pack_codes

__all__ = ["HammingDistance", "HasherMixin"]


class HammingDistance:
    """The Hamming distance between the codes a fitted hasher gives two samples.

    A picklable callable ``d(u, v)``, usable as ``KNeighborsClassifier(metric=...)``.
    """

    def __init__(self, hasher):
        self.hasher = hasher

    def __call__(self, u, v):
        u, v = check_metric_samples(u, v, self.hasher.n_features_in_, name=repr(self))
        codes = np.asarray(self.hasher.transform(np.vstack([u, v])))
        return float(np.count_nonzero(codes[0] != codes[1]))

    def __repr__(self):
        return f"HammingDistance({type(self.hasher).__name__})"


@dask_aware_methods  # after set_output's wrapping: a dask array maps chunk by chunk
class HasherMixin(TransformerMixin):
    """Mixin for hashers: ``transform`` returns ``bool`` codes of ``n_bits_`` bits.

    Put it first among the bases, before :class:`~skdml.base.BaseMetricLearner` (or a
    subclass of it). A subclass implements ``_project(X)``, returning the validated real-valued
    projections of shape ``(n_samples, n_bits_)`` whose signs are the bits, and sets
    ``n_bits_`` in ``fit``.

    It is a ``TransformerMixin`` so that ``set_output`` reaches its ``transform``:
    scikit-learn wraps the ``transform`` and ``fit_transform`` a class defines itself, and
    only in subclasses of its set-output mixin (``TransformerMixin`` is one); a ``transform``
    defined on a plain mixin would be found first in the hasher's method resolution order and
    return an ndarray whatever ``set_output`` asked for.
    """

    def _codes(self, X):
        """The bits of ``X``: a ``bool`` ndarray of shape (n_samples, n_bits_)."""
        check_is_fitted(self)
        # np.asarray: a deep hasher projects with its learner's transform, which set_output
        # wraps as well (a DataFrame when asked for one)
        return np.asarray(self._project(X)) >= 0

    @uses_threads
    def transform(self, X):
        """Binary codes of ``X``, one bit per column.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        codes : ndarray of shape (n_samples, n_bits), dtype=bool
            Bit ``k`` is ``True`` where the ``k``-th projection is ``>= 0``. ``bool`` marks
            unpacked bits: :class:`~skdml.hashing.HammingNeighbors` packs them itself
            (``uint8`` arrays are packed bytes, see :meth:`transform_packed`), and NumPy and
            scikit-learn read them as ``0`` and ``1`` (``codes.astype(np.uint8)`` for
            integers).
        """
        return self._codes(X)

    @uses_threads
    def transform_packed(self, X):
        """Binary codes of ``X``, packed eight bits to a byte.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        packed : ndarray of shape (n_samples, ceil(n_bits / 8)), dtype=uint8
            ``pack_codes(transform(X))``, what :class:`~skdml.hashing.HammingNeighbors` and
            faiss's binary indexes read; unpack with
            ``skdml.kernels.unpack_codes(packed, n_bits_)``.
        """
        return pack_codes(self._codes(X))

    def _pair_distance(self, pairs):
        a, b = self._codes(pairs[:, 0]), self._codes(pairs[:, 1])
        return np.count_nonzero(a != b, axis=1).astype(np.float64)

    def get_metric(self):
        """A picklable callable ``d(u, v)``: the Hamming distance between the codes of u and v.

        Works as ``KNeighborsClassifier(metric=hasher.get_metric())``, but encodes both
        samples at every call, thousands of times slower than a search of the codes encoded
        once: :class:`~skdml.hashing.HammingNeighbors` on ``transform_packed(X)``, or
        :func:`skdml.neighbors.make_knn` (a Euclidean kNN on ``{0, 1}`` codes ranks by
        Hamming distance).
        """
        check_is_fitted(self)
        return HammingDistance(self)

    @property
    def _n_features_out(self):
        return self.n_bits_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # codes are bool whatever X is
        return tags
