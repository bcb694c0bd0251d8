"""Verification protocols built from labeled data that ships with scikit-learn (no download)."""

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_array, check_consistent_length, check_random_state

from ._validation import check_classification_labels, check_positive_int
from ._datasets_deep import (
    make_digits_domain_shift,
    make_digits_image_sets,
    make_digits_two_views,
    make_digits_videos,
    make_digits_views,
)
from .constraints import pairs_from_labels, triplets_from_labels

__all__ = ["class_disjoint_split", "make_digits_domain_shift", "make_digits_image_sets",
           "make_digits_two_views", "make_digits_videos", "make_digits_views", "make_pairs",
           "make_triplets"]


def class_disjoint_split(X, y, *, n_train_classes=None, shuffle=False, random_state=None):
    """Split labeled data by class: train on some classes, evaluate on the classes never seen.

    The protocol of deep metric learning's retrieval benchmarks (CUB-200-2011, Cars196,
    Stanford Online Products): the first half of the classes trains, retrieval is measured
    among the samples of the other half, so the learned distance must carry over to classes
    it has never seen. Score the test part with the other test samples as the gallery
    (``skdml.metrics.map_at_r(Z_test, y_test)``, leave one out), not against the training
    set, whose classes no query shares.

    For cross-validation over several class-disjoint splits, scikit-learn's
    ``GroupKFold`` / ``GroupShuffleSplit`` with ``groups=y`` do the same thing.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Any array indexable by rows (its other dimensions are kept).
    y : array-like of shape (n_samples,)
        Class labels of any type, at least two classes.
    n_train_classes : int, default=None
        How many classes train; ``None``: half of them, rounded up.
    shuffle : bool, default=False
        ``False`` takes the first classes in sorted order (the papers' split); ``True``
        draws them at random.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw when ``shuffle=True``.

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarrays
        Rows in their original order; no class appears on both sides.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skdml.datasets import class_disjoint_split
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = class_disjoint_split(X, y)
    >>> np.unique(y_train).tolist(), np.unique(y_test).tolist()
    ([0, 1, 2, 3, 4], [5, 6, 7, 8, 9])
    """
    X = check_array(X, allow_nd=True, ensure_all_finite=False, dtype=None)
    classes, y_enc = check_classification_labels(y, estimator="class_disjoint_split")
    check_consistent_length(X, y_enc)
    y = np.asarray(y)
    n_classes = len(classes)
    if n_train_classes is None:
        n_train = (n_classes + 1) // 2
    else:
        n_train = check_positive_int(n_train_classes, "n_train_classes",
                                     estimator="class_disjoint_split")
        if n_train >= n_classes:
            raise ValueError(
                f"class_disjoint_split: n_train_classes must leave a class to test on: "
                f"expected 1 <= n_train_classes < {n_classes} (the number of classes), got "
                f"{n_train_classes}."
            )
    if not isinstance(shuffle, (bool, np.bool_)):
        raise ValueError(f"class_disjoint_split: shuffle must be a bool, got {shuffle!r}.")
    order = (check_random_state(random_state).permutation(n_classes) if shuffle
             else np.arange(n_classes))
    train = np.isin(y_enc, order[:n_train])
    return X[train], X[~train], y[train], y[~train]


def make_pairs(X, y, n_pairs, *, n_folds=None, return_indices=False, random_state=None):
    """Balanced, reproducible verification pairs from labeled data.

    Half the pairs join two samples of one class (label +1), half join samples of two
    classes (label -1). With ``n_folds``, the samples are first split into ``n_folds``
    stratified groups and each fold's pairs are drawn within one group, so no sample appears
    in two folds -- the protocol of the restricted Labeled Faces in the Wild benchmark
    (10 folds of disjoint pairs): fit on nine folds, test on the tenth.

    Without ``n_folds`` the pairs come in random order, so ``cross_val_score(learner, pairs,
    labels, cv=k)`` finds both labels in every split; with ``n_folds`` they come grouped by
    fold, for ``PredefinedSplit(folds)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Class labels of any type: at least two classes, and a class of at least two members.
    n_pairs : int
        Total number of pairs (split evenly across folds).
    n_folds : int, default=None
        Number of sample-disjoint folds (at least 2); None for a single set of pairs. Each
        fold needs two classes and a class with two of its samples: a class of at least
        ``2 * n_folds`` samples and another of at least ``n_folds`` always do.
    return_indices : bool, default=False
        Return index pairs of shape (n_pairs, 2) into ``X`` instead of the pairs themselves
        (then pass ``preprocessor=X`` to a learner).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2, n_features), or (n_pairs, 2) of indices
    labels : ndarray of shape (n_pairs,)
        +1 similar, -1 dissimilar.
    folds : ndarray of shape (n_pairs,)
        The fold of each pair (only with ``n_folds``); use it with
        ``sklearn.model_selection.PredefinedSplit``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdml.datasets import make_pairs
    >>> X, y = load_digits(return_X_y=True)
    >>> pairs, labels, folds = make_pairs(X, y, 6000, n_folds=10, random_state=0)
    >>> pairs.shape, int(labels.sum()), sorted(set(folds.tolist())) == list(range(10))
    ((6000, 2, 64), 0, True)
    """
    X = check_array(X, dtype=(np.float64, np.float32), input_name="X")
    check_consistent_length(X, y)
    _, y_enc = check_classification_labels(y, estimator="make_pairs")
    n_pairs = check_positive_int(n_pairs, "n_pairs", estimator="make_pairs")
    rng = check_random_state(random_state)
    if n_folds is None:
        idx, labels = pairs_from_labels(y_enc, n_pairs, random_state=rng)
        # In random order (drawn last, so the pairs drawn are the same), so that plain K-fold
        # cross-validation on them finds both labels in every fold.
        order = rng.permutation(n_pairs)
        idx, labels = idx[order], labels[order]
        folds = None
    else:
        n_folds = check_positive_int(n_folds, "n_folds", estimator="make_pairs")
        if n_folds < 2 or n_pairs < 2 * n_folds:
            raise ValueError(
                f"make_pairs: n_folds must be >= 2 with at least 2 pairs per fold, got "
                f"n_folds={n_folds} for n_pairs={n_pairs}."
            )
        largest = int(np.bincount(y_enc).max())
        if n_folds > largest:
            raise ValueError(
                f"make_pairs: n_folds={n_folds} folds need a class of at least n_folds "
                f"samples to stratify on, but the largest class has {largest}; use fewer folds."
            )
        splitter = StratifiedKFold(n_folds, shuffle=True, random_state=rng)
        per_fold = np.full(n_folds, n_pairs // n_folds)
        per_fold[: n_pairs % n_folds] += 1
        parts, part_labels, part_folds = [], [], []
        for f, (_, group) in enumerate(splitter.split(X, y_enc)):
            counts = np.bincount(y_enc[group])
            if np.count_nonzero(counts) < 2 or counts.max() < 2:
                what = "a single class" if np.count_nonzero(counts) < 2 else "no class of two"
                raise ValueError(
                    f"make_pairs: with n_folds={n_folds}, fold {f} holds {what}; each fold "
                    "needs two classes and a class with two samples. Use fewer folds."
                )
            i, lab = pairs_from_labels(y_enc[group], int(per_fold[f]), random_state=rng)
            parts.append(group[i])
            part_labels.append(lab)
            part_folds.append(np.full(len(lab), f))
        idx = np.vstack(parts)
        labels = np.concatenate(part_labels)
        folds = np.concatenate(part_folds)
    pairs = idx if return_indices else X[idx]
    return (pairs, labels) if folds is None else (pairs, labels, folds)


def make_triplets(X, y, n_triplets, *, return_indices=False, random_state=None):
    """Reproducible triplets ``(anchor, positive, negative)`` from labeled data.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Class labels of any type: at least two classes, and a class of at least two members.
    n_triplets : int
    return_indices : bool, default=False
        Return indices of shape (n_triplets, 3) instead of the triplets themselves.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    triplets : ndarray of shape (n_triplets, 3, n_features), or (n_triplets, 3) of indices
        In each, the first sample shares its class with the second and not with the third.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdml.datasets import make_triplets
    >>> X, y = load_iris(return_X_y=True)
    >>> make_triplets(X, y, 100, random_state=0).shape
    (100, 3, 4)
    """
    X = check_array(X, dtype=(np.float64, np.float32), input_name="X")
    check_consistent_length(X, y)
    idx = triplets_from_labels(y, n_triplets, random_state=random_state)
    return idx if return_indices else X[idx]
