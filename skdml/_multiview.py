"""Multi-view input without torch: the checks that stack a list of views and resolve the
view widths of a stacked array (see :mod:`skdml.deep._views` for the whole convention).

Shared by the deep multi-view learners (:class:`~skdml.deep._views.MultiViewMixin`) and the
classical cross-modal hasher (:class:`~skdml.hashing.CCAITQ`), which must import without
torch.
"""

from numbers import Integral

import numpy as np

__all__ = ["is_view_list", "resolve_view_widths", "stack_views"]


def is_view_list(X):
    """Whether ``X`` is a list (or tuple) of views: arrays of two dimensions or more."""
    return (isinstance(X, (list, tuple)) and len(X) > 0
            and all(not isinstance(v, (list, tuple)) and np.ndim(v) >= 2 for v in X))


def stack_views(views, *, owner):
    """The views of a list stacked side by side, and their widths.

    Parameters
    ----------
    views : list or tuple of array-like
        One array per view, all with the same leading shape: ``(n_samples, d_k)``, or
        ``(n_pairs, 2, d_k)`` for pairs.
    owner : str
        The name the error messages start with.

    Returns
    -------
    X : ndarray of shape (..., d_1 + ... + d_K)
    widths : tuple of int

    Raises
    ------
    ValueError
        For fewer than two views, views of different numbers of samples (or of
        dimensions), or a view with no feature.
    """
    if len(views) < 2:
        raise ValueError(
            f"{owner} is a multi-view learner and needs at least 2 views, got a list of "
            f"{len(views)} view. Give one array per view, or the stacked array of all views."
        )
    arrays = [np.asarray(v) for v in views]
    shapes = [a.shape for a in arrays]
    if len({a.ndim for a in arrays}) > 1:
        raise ValueError(
            f"{owner}: the views must all be (n_samples, n_features_k) arrays, or all "
            f"(n_pairs, 2, n_features_k) arrays; got views of shapes {shapes}."
        )
    if len({s[:-1] for s in shapes}) > 1:
        what = "samples" if arrays[0].ndim == 2 else "pairs"
        counts = [s[0] for s in shapes]
        detail = (f"numbers of {what} {counts}" if len(set(counts)) > 1
                  else f"shapes {shapes}")
        raise ValueError(
            f"{owner}: the views must describe the same {what}, one row each, but they "
            f"have different {detail}."
        )
    widths = tuple(int(s[-1]) for s in shapes)
    if min(widths) < 1:
        raise ValueError(f"{owner}: every view needs at least one feature; got view widths "
                         f"{widths}.")
    return np.concatenate(arrays, axis=-1), widths


def resolve_view_widths(views, n_features, *, owner, given=None):
    """The view widths that ``views`` (an int or a sequence of widths) gives
    ``n_features`` columns.

    Parameters
    ----------
    views : int or sequence of int
    n_features : int
    owner : str
    given : tuple of int or None, default=None
        The widths of a list of views (:func:`stack_views`), which they must agree with.

    Returns
    -------
    widths : tuple of int
    """
    if isinstance(views, Integral) and not isinstance(views, bool):
        k = int(views)
        if k < 2:
            raise ValueError(f"{owner} is a multi-view learner: views must be >= 2, got "
                             f"{views!r}.")
        if given is not None:
            if len(given) != k:
                raise ValueError(f"{owner}: views={k} expects {k} views, got a list of "
                                 f"{len(given)}.")
            return tuple(given)
        if n_features < k:
            raise ValueError(
                f"{owner}: views={k} cuts the columns into {k} views, one feature at least "
                f"each, but X has {n_features} feature(s)."
            )
        return tuple(int(len(b)) for b in np.array_split(np.arange(n_features), k))
    widths = tuple(views)
    if len(widths) < 2 or not all(
            isinstance(w, Integral) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ValueError(
            f"{owner} is a multi-view learner: views must be an int >= 2 or a tuple of at "
            f"least 2 view widths (positive ints), got views={views!r}."
        )
    widths = tuple(int(w) for w in widths)
    if given is not None and tuple(given) != widths:
        raise ValueError(f"{owner}: views={widths} names the view widths, but the list of "
                         f"views given has widths {tuple(given)}.")
    if sum(widths) != n_features:
        raise ValueError(
            f"{owner}: the view widths {widths} add up to {sum(widths)} features, but X has "
            f"{n_features} feature(s). Give views with widths that sum to {n_features}."
        )
    return widths
