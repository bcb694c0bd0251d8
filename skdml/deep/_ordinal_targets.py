"""Ordered targets (an age, a grade, a severity score): checks, levels and the kNN protocol.

A private toolkit of the learners of ordinal or continuous targets (ODL, LSDML): the one
check of such a target, its cut into ordinal levels, and the score the ordinal deep metric
learning papers report, the mean absolute error of k-nearest-neighbour regression in the
learned embedding.
"""

import numpy as np
from sklearn.metrics import mean_absolute_error
from sklearn.neighbors import KNeighborsRegressor

from .._validation import _name, check_regression_target

__all__ = ["check_ordinal_target", "knn_regression_mae", "ordinal_cut_points"]


def check_ordinal_target(y, n_samples, *, estimator=None):
    """An ordinal or continuous target, validated: a float64 array of shape (n_samples,).

    Numbers of any dtype (integers are ordinal levels, floats continuous values); one value
    per sample, finite, and at least two distinct values, without which no pair of samples
    is farther apart in label than another. Class labels (strings, objects) are refused, as
    by every learner of a real-valued target.

    Raises
    ------
    ValueError
        Naming the problem: ``y`` missing, non-numeric, of another length or shape than
        ``(n_samples,)``, holding NaN or infinity, or a single distinct value.
    """
    name = _name(estimator)
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None.")
    y_arr = np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr[:, 0]
    if y_arr.ndim != 1:
        raise ValueError(
            f"{name} expects an ordinal target y of shape (n_samples,), one value per "
            f"sample, got shape {y_arr.shape}."
        )
    y_arr = check_regression_target(y_arr, n_samples, estimator=estimator)
    if len(y_arr) and np.all(y_arr == y_arr[0]):
        raise ValueError(
            f"{name} needs at least two distinct target values to order pairs of samples; "
            f"every value of y is {y_arr[0]:g}."
        )
    return y_arr


def ordinal_cut_points(y, n_levels):
    """The cut points that split the target ``y`` into at most ``n_levels`` ordinal levels.

    A target with ``n_levels`` distinct values or fewer (ordinal integers: an age in years,
    a digit) keeps one level per value, the cuts half-way between consecutive values.
    Otherwise the cuts are the ``n_levels``-quantiles of ``y`` (equal-frequency levels),
    repeated quantiles (tied values) merged. The level of a value ``v`` is the number of
    cuts ``<= v`` (``np.searchsorted(cuts, v, side='right')``, ``torch.bucketize(v, cuts,
    right=True)``), from 0 to ``len(cuts)``; every level holds a training value.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        A validated target (:func:`check_ordinal_target`).
    n_levels : int >= 2

    Returns
    -------
    cuts : ndarray of shape (n_levels_found - 1,), increasing, float64
    """
    values = np.unique(y)
    if len(values) <= n_levels:
        return (values[:-1] + values[1:]) / 2.0
    cuts = np.unique(np.quantile(y, np.arange(1, n_levels) / n_levels))
    # a cut at the minimum would leave level 0 empty
    return cuts[cuts > values[0]]


def knn_regression_mae(Z_train, y_train, Z_test, y_test, n_neighbors=5):
    """The mean absolute error of k-nearest-neighbour regression in an embedding.

    Each test sample is predicted by the mean target of its ``n_neighbors`` nearest training
    samples (Euclidean distance between the rows of ``Z``: the learned distance, for an
    embedding a learner's ``transform`` returned). Lower is better.
    """
    knn = KNeighborsRegressor(n_neighbors=n_neighbors).fit(Z_train, y_train)
    return float(mean_absolute_error(y_test, knn.predict(Z_test)))
