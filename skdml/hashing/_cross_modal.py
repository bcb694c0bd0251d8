"""What the cross-modal hashers share, without torch: codes of one modality.

A cross-modal hasher is fitted on samples seen by two modalities (say an image and its
tags), given as the stacked array ``[X_image | X_tags]`` with ``views=(d_image, d_tags)``
or as the list ``[X_image, X_tags]`` (the multi-view convention of
:mod:`skdml._multiview`). Its ``transform`` encodes such pairs (both modalities known);
retrieval across modalities encodes each side from the one modality it has:
``transform_view(X_image, view=0)`` for image queries, ``transform_view(X_tags, view=1)``
for a database of tags, and the Hamming distance between the two sets of codes ranks the
tags for an image (and the other way round).
"""

from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_array, check_is_fitted

from .._multiview import is_view_list, stack_views
from .._threads import uses_threads
from ..kernels import pack_codes


class CrossModalMixin:
    """``transform_view`` / ``transform_view_packed``: the codes of one modality.

    Put it first among a hasher's bases. The hasher sets ``view_widths_`` in ``fit`` and
    implements ``_project_view(X, view)``, returning the real-valued projections of one
    modality's validated samples (float64) whose signs are the bits.
    """

    def _check_view(self, X, view):
        """``(X, view)``: the samples of modality ``view``, validated against its width."""
        check_is_fitted(self)
        name = type(self).__name__
        n_views = len(self.view_widths_)
        if (isinstance(view, bool) or not isinstance(view, Integral)
                or not 0 <= view < n_views):
            raise ValueError(
                f"{name}: view must be the index of a modality, an int in "
                f"[0, {n_views - 1}], got view={view!r}."
            )
        view = int(view)
        X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        width = self.view_widths_[view]
        if X.shape[1] != width:
            raise ValueError(
                f"{name}: modality {view} has {width} features (view widths "
                f"{self.view_widths_}), got X with {X.shape[1]} features."
            )
        return X.astype(np.float64, copy=False), view

    def _stack_view_list(self, X):
        """A list of one array per modality stacked side by side (checked against
        ``view_widths_``); anything else as it came."""
        if not is_view_list(X):
            return X
        X, widths = stack_views(X, owner=type(self).__name__)
        if widths != tuple(self.view_widths_):
            raise ValueError(f"{type(self).__name__} was fitted on modalities of widths "
                             f"{tuple(self.view_widths_)}, got a list of widths {widths}.")
        return X

    @uses_threads
    def transform_view(self, X, view):
        """Binary codes of samples seen by one modality only.

        Parameters
        ----------
        X : array-like of shape (n_samples, view_widths_[view])
            The samples of modality ``view`` alone (e.g. image queries, or a database of
            tags).
        view : int
            Which modality ``X`` is: its index in the order of fit (``0`` the first
            block of columns or the first array of the list, ``1`` the second).

        Returns
        -------
        codes : ndarray of shape (n_samples, n_bits), dtype=bool
            In the common Hamming space: compare them with the codes of the other
            modality (``transform_view(X_other, view=1 - view)``).
        """
        X, view = self._check_view(X, view)
        return np.asarray(self._project_view(X, view)) >= 0

    @uses_threads
    def transform_view_packed(self, X, view):
        """:meth:`transform_view`'s codes packed eight bits to a byte (``uint8`` rows)."""
        X, view = self._check_view(X, view)
        return pack_codes(np.asarray(self._project_view(X, view)) >= 0)
