"""Multi-view input: the one place where several feature views of a sample are checked,
stacked and split again.

A multi-view sample is one row of a **stacked** array, the views side by side:
``X = [X_1 | X_2 | ... | X_K]`` of shape (n_samples, d_1 + ... + d_K), and pairs of such
samples are (n_pairs, 2, d_1 + ... + d_K) arrays. A learner's ``views`` parameter names
the views:

- an int ``K >= 2``: ``K`` contiguous blocks of columns, as equal as can be (the first
  ``n_features % K`` blocks one column wider, as :func:`numpy.array_split` cuts);
- a tuple (or list) of ``K >= 2`` positive ints: the widths ``d_1, ..., d_K`` in column
  order; they must add up to the number of features.

One 2-D array keeps the whole of scikit-learn working (``Pipeline``, ``GridSearchCV``'s
row splits, ``clone``). For convenience, ``fit``, ``partial_fit`` and ``transform`` also
take a list (or tuple) of views, NumPy arrays or DataFrames with the same leading shape
(one per view, ``(n_samples, d_k)``, or ``(n_pairs, 2, d_k)`` for pairs); they are
stacked in that order, and their widths are the views' (``views`` then only fixes their
number when it is an int, and must equal them when it is a tuple). A list is told from
an array-like of samples by its elements: arrays of two dimensions or more (not nested
Python lists, which stay array-likes of samples or pairs).

:class:`MultiViewMixin` goes first in a learner's bases and does all of this; the
per-view networks are :class:`PerViewMLP`. The torch-free checks (:func:`is_view_list`,
:func:`stack_views`, :func:`resolve_view_widths`) live in :mod:`skdml._multiview`.
"""

import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._multiview import is_view_list, resolve_view_widths, stack_views
from .._validation import input_ndim
from ._modules import MLP

__all__ = ["MultiViewMixin", "PerViewMLP", "is_view_list", "resolve_view_widths",
           "stack_views"]


class MultiViewMixin:
    """The multi-view input of a deep learner: lists of views stacked, ``view_widths_``.

    Goes first in the bases (``class DDMML(MultiViewMixin, DeepPairMixin,
    DeepMetricLearner)``); the learner has a ``views`` parameter. ``fit`` learns
    ``view_widths_`` from ``views`` and the data (a list of views: from the list), and
    the module is built with ``view_widths=view_widths_``. Later calls take the stacked
    form with ``n_features_in_`` columns, or a list with the same widths.
    """

    def _stacked(self, X, *, reset):
        """``X`` as it came, or a list of views stacked (with their widths recorded for
        :meth:`_validate_fit_data` when ``reset``, checked against ``view_widths_``
        otherwise)."""
        if not is_view_list(X):
            return X
        owner = type(self).__name__
        X, widths = stack_views(X, owner=owner)
        if reset:
            # validated now, so that a bad list fails before fit touches anything
            resolve_view_widths(self.views, sum(widths), owner=owner, given=widths)
            self._given_widths = widths
        elif widths != self.view_widths_:
            raise ValueError(f"{owner} was fitted on views of widths {self.view_widths_}, "
                             f"got a list of views of widths {widths}.")
        return X

    def fit(self, X, y=None, **fit_params):
        """Train the networks on multi-view samples and class labels, or on labelled pairs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_pairs, 2, n_features), or \
list of such arrays
            Stacked multi-view samples (with class labels ``y``) or pairs of them (with
            pair labels ``y``); or one array per view, stacked here in order. With
            ``preprocessor``, pairs may be integer indices of shape (n_pairs, 2).
        y : array-like of shape (n_samples,) or (n_pairs,)
            Class labels of any type, or +1 (similar) / -1 (dissimilar) pair labels.
        **fit_params
            ``preprocessor`` (the stacked samples that index pairs refer to, or a list of
            their views), and what the module's ``forward`` takes (skorch's convention).

        Returns
        -------
        self
        """
        X = self._stacked(X, reset=True)
        if is_view_list(fit_params.get("preprocessor")):
            fit_params["preprocessor"] = self._stacked(fit_params["preprocessor"],
                                                       reset=True)
        try:
            return super().fit(X, y, **fit_params)
        finally:
            self.__dict__.pop("_given_widths", None)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train ``max_epochs`` more on the form of the first fit; a list of views must
        have the widths of the first fit."""
        if not self.__sklearn_is_fitted__():
            if is_view_list(X) or is_view_list(fit_params.get("preprocessor")):
                return self.fit(X, y, **fit_params)
            return super().partial_fit(X, y, classes=classes, **fit_params)
        X = self._stacked(X, reset=False)
        if is_view_list(fit_params.get("preprocessor")):
            fit_params["preprocessor"] = self._stacked(fit_params["preprocessor"],
                                                       reset=False)
        return super().partial_fit(X, y, classes=classes, **fit_params)

    def transform(self, X):
        """Embed stacked multi-view samples (or a list of their views)."""
        if is_view_list(X):
            check_is_fitted(self)
            X = self._stacked(X, reset=False)
        return super().transform(X)

    def _check_X(self, X, reset):
        ndim = input_ndim(X)
        if ndim > 2:
            raise ValueError(
                f"{type(self).__name__}: the per-view networks expect X of shape (n_samples, "
                f"n_features), each sample's views side by side, got an array with {ndim} "
                "dimensions."
            )
        return super()._check_X(X, reset)

    def _validate_fit_data(self, X, y, *, reset):
        X, y = super()._validate_fit_data(X, y, reset=reset)
        if reset:
            widths = resolve_view_widths(self.views, X.shape[-1], owner=type(self).__name__,
                                         given=getattr(self, "_given_widths", None))
            if (self.warm_start and self.initialized_
                    and getattr(self, "view_widths_", widths) != widths):
                raise ValueError(
                    f"{type(self).__name__} with warm_start=True needs the views of the "
                    f"previous fit, of widths {self.view_widths_}, got {widths}."
                )
            self.view_widths_ = widths
        return X, y

    def get_params_for(self, prefix):
        params = dict(super().get_params_for(prefix))
        if prefix == "module":
            params.setdefault("view_widths", self.view_widths_)
        return params


class PerViewMLP(nn.Module):
    """One :class:`~skdml.deep.MLP` per view of a stacked input, outputs side by side.

    Input ``[x_1 | ... | x_K]`` of width ``sum(view_widths)``; output
    ``[f_1(x_1) | ... | f_K(x_K)]`` of width ``K * hidden_sizes[-1]``.

    Parameters
    ----------
    n_features : int
        Must equal ``sum(view_widths)``.
    view_widths : sequence of int
        The widths of the views, in column order.
    hidden_sizes : tuple of int, default=(64, 32)
        The layers of every view's network.
    activation : str, default='tanh'
    output_activation : str, default='same'
        As for :class:`~skdml.deep.MLP`.
    """

    def __init__(self, n_features, view_widths, hidden_sizes=(64, 32), activation="tanh",
                 output_activation="same"):
        super().__init__()
        widths = [int(w) for w in view_widths]
        if sum(widths) != int(n_features):
            raise ValueError(f"PerViewMLP: the view widths {tuple(widths)} add up to "
                             f"{sum(widths)}, not n_features={n_features}.")
        self.view_widths = tuple(widths)
        self.nets = nn.ModuleList(
            MLP(w, hidden_sizes, activation=activation, output_activation=output_activation)
            for w in widths
        )
        self.view_dim = int(hidden_sizes[-1])

    def view_outputs(self, X):
        """``[f_1(x_1), ..., f_K(x_K)]``, one tensor per view."""
        return [net(x) for net, x in zip(self.nets, torch.split(X, self.view_widths, dim=1))]

    def forward(self, X):
        return torch.cat(self.view_outputs(X), dim=1)
