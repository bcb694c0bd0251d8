"""From class labels to the constraints weakly supervised learners use: pairs and triplets."""

import numbers

import numpy as np
from sklearn.utils import check_array, check_consistent_length, check_random_state

from ._validation import check_classification_labels, check_positive_int
from .kernels import knn

__all__ = [
    "neighbor_pairs_from_labels", "pairs_from_labels", "target_neighbors", "triplets_from_labels",
]


def pairs_from_labels(y, n_pairs, *, similar_fraction=0.5, random_state=None):
    """Sample labeled pairs of sample indices from class labels.

    Similar pairs join two different samples of one class; dissimilar pairs join samples of
    two classes. Pairs are drawn uniformly with replacement: the first member uniformly among
    the eligible samples, the second uniformly among its eligible partners.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels of any type, at least two classes; with similar pairs to draw, a class
        of at least two members.
    n_pairs : int
        Total number of pairs.
    similar_fraction : float in [0, 1], default=0.5
        Fraction of the pairs that are similar (``round(n_pairs * similar_fraction)``).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), dtype=intp
        Indices into ``y``.
    labels : ndarray of shape (n_pairs,), dtype=int8
        +1 for similar, -1 for dissimilar.

    Examples
    --------
    >>> from skdml.constraints import pairs_from_labels
    >>> pairs, labels = pairs_from_labels(["a", "a", "b", "b"], 4, random_state=0)
    >>> pairs.shape, sorted(set(labels.tolist()))
    ((4, 2), [-1, 1])
    """
    n_pairs = check_positive_int(n_pairs, "n_pairs", estimator="pairs_from_labels")
    if (not isinstance(similar_fraction, numbers.Real) or isinstance(similar_fraction, bool)
            or not 0.0 <= similar_fraction <= 1.0):
        raise ValueError(
            f"pairs_from_labels: similar_fraction must be a number in [0, 1], got "
            f"{similar_fraction!r}."
        )
    _, y_enc = check_classification_labels(y, estimator="pairs_from_labels")
    rng = check_random_state(random_state)
    order = np.argsort(y_enc, kind="stable")
    counts = np.bincount(y_enc)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    position = np.empty_like(order)
    position[order] = np.arange(len(order))

    n_similar = int(round(n_pairs * similar_fraction))
    n_dissimilar = n_pairs - n_similar

    # Similar: first member from a class with >= 2 members, partner another member of it.
    eligible = np.flatnonzero(counts[y_enc] >= 2)
    if n_similar and not eligible.size:
        raise ValueError(
            "pairs_from_labels needs a class with at least 2 members to form similar pairs; "
            "every class has a single member."
        )
    first = rng.choice(eligible, size=n_similar) if n_similar else np.empty(0, np.intp)
    c = y_enc[first]
    offset = rng.randint(0, np.maximum(counts[c] - 1, 1))
    offset += offset >= position[first] - starts[c]  # skip the first member itself
    similar = np.column_stack([first, order[starts[c] + offset]])

    # Dissimilar: partner drawn among the samples outside the first member's class.
    first = rng.randint(0, len(y_enc), size=n_dissimilar)
    c = y_enc[first]
    r = rng.randint(0, len(y_enc) - counts[c]) if n_dissimilar else np.empty(0, np.intp)
    r = r + np.where(r >= starts[c], counts[c], 0)
    dissimilar = np.column_stack([first, order[r]])

    pairs = np.vstack([similar, dissimilar]).astype(np.intp)
    labels = np.r_[np.ones(n_similar, np.int8), -np.ones(n_dissimilar, np.int8)]
    return pairs, labels


def triplets_from_labels(y, n_triplets, *, random_state=None):
    """Sample triplets ``(anchor, positive, negative)`` of sample indices from class labels.

    The anchor is drawn uniformly among samples whose class has at least two members, the
    positive uniformly among the other members of its class, the negative uniformly among the
    samples of the other classes; with replacement. A learner then asks
    ``d(anchor, positive) < d(anchor, negative)``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels of any type: at least two classes, and a class of at least two members.
    n_triplets : int
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    triplets : ndarray of shape (n_triplets, 3), dtype=intp
        Indices into ``y``.

    Examples
    --------
    >>> from skdml.constraints import triplets_from_labels
    >>> y = ["a", "a", "b", "b", "c"]
    >>> t = triplets_from_labels(y, 5, random_state=0)
    >>> all(y[a] == y[p] != y[n] and a != p for a, p, n in t)
    True
    """
    n_triplets = check_positive_int(n_triplets, "n_triplets", estimator="triplets_from_labels")
    _, y_enc = check_classification_labels(y, estimator="triplets_from_labels")
    rng = check_random_state(random_state)
    idx, _ = pairs_from_labels(y_enc, n_triplets, similar_fraction=1.0, random_state=rng)
    order = np.argsort(y_enc, kind="stable")
    counts = np.bincount(y_enc)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    c = y_enc[idx[:, 0]]
    r = rng.randint(0, len(y_enc) - counts[c])
    r = r + np.where(r >= starts[c], counts[c], 0)
    return np.column_stack([idx, order[r]]).astype(np.intp)


def neighbor_pairs_from_labels(X, y, n_neighbors=3, *, anchors=None):
    """Local pairs: each sample with its nearest same-class and other-class samples.

    Similar pairs join each sample to its ``n_neighbors`` nearest neighbors of the same class
    (fewer in a class with fewer other members); dissimilar pairs join it to its
    ``n_neighbors`` nearest samples of other classes (the "impostors" of LMNN). These are the
    constraints a kNN classifier cares about, where uniformly sampled pairs are mostly far
    apart and already satisfied. Neighbors are found by Euclidean distance in ``X``, with
    :func:`skdml.kernels.knn`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Class labels of any type, at least two classes.
    n_neighbors : int, default=3
    anchors : array-like of int, default=None
        Indices of the samples whose pairs are built (each pair starts at an anchor; its
        neighbors are searched among every sample). ``None``: every sample, about
        ``2 * n_neighbors * n_samples`` pairs. A random subset bounds the number of pairs,
        and the search's cost, whatever the size of ``X``: the pairs stay local, since the
        neighbors come from all of ``X``.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), dtype=intp
        Indices into ``X``.
    labels : ndarray of shape (n_pairs,), dtype=int8
        +1 for similar, -1 for dissimilar.

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.constraints import neighbor_pairs_from_labels
    >>> X = np.array([[0.0], [1.0], [5.0], [6.0]])
    >>> pairs, labels = neighbor_pairs_from_labels(X, [0, 0, 1, 1], n_neighbors=1)
    >>> pairs.tolist(), labels.tolist()
    ([[0, 1], [1, 0], [2, 3], [3, 2], [0, 2], [1, 2], [2, 1], [3, 1]], [1, 1, 1, 1, -1, -1, -1, -1])
    """
    X, y_enc, n_neighbors = _check_neighbor_input(
        X, y, n_neighbors, "neighbor_pairs_from_labels"
    )
    is_anchor = _check_anchors(anchors, len(X))
    similar, dissimilar = [], []
    for c in range(y_enc.max() + 1):
        members = np.flatnonzero(y_enc == c)
        others = np.flatnonzero(y_enc != c)
        starts = members if is_anchor is None else members[is_anchor[members]]
        if len(starts) == 0:
            continue
        k = min(n_neighbors, len(members) - 1)
        if k > 0:
            targets = _nearest_others(X, starts, members, k)
            similar.append(np.column_stack([np.repeat(starts, k), targets.ravel()]))
        k = min(n_neighbors, len(others))
        _, ind = knn(X[starts], X[others], k=k)
        dissimilar.append(np.column_stack([np.repeat(starts, k), others[ind.ravel()]]))
    similar = np.vstack(similar) if similar else np.empty((0, 2), dtype=np.intp)
    dissimilar = np.vstack(dissimilar)
    pairs = np.vstack([similar, dissimilar]).astype(np.intp)
    labels = np.r_[np.ones(len(similar), np.int8), -np.ones(len(dissimilar), np.int8)]
    return pairs, labels


def _check_anchors(anchors, n_samples):
    """A boolean mask of the anchor samples, or None for every sample."""
    if anchors is None:
        return None
    idx = np.asarray(anchors)
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
        raise ValueError(
            "neighbor_pairs_from_labels: anchors must be a non-empty 1-D array of sample "
            f"indices; got an array of shape {idx.shape} and dtype {idx.dtype}."
        )
    if idx.min() < -n_samples or idx.max() >= n_samples:
        raise ValueError(
            f"neighbor_pairs_from_labels: anchors must index the {n_samples} samples of X; "
            f"got indices from {idx.min()} to {idx.max()}."
        )
    mask = np.zeros(n_samples, dtype=bool)
    mask[idx] = True
    return mask


def _nearest_others(X, starts, members, k):
    """The ``k`` nearest members (by index into ``X``) of each start, itself excepted.

    ``starts`` are members; with ``starts`` all of them, the exact self-excluding search of
    :func:`skdml.kernels.knn`. Otherwise the ``k + 1`` nearest members, the start dropped
    (or, when a duplicate at distance 0 came first, the last one)."""
    if len(starts) == len(members):
        _, ind = knn(X[members], k=k, exclude_self=True)
        return members[ind]
    _, ind = knn(X[starts], X[members], k=k + 1)
    found = members[ind]
    own = found == starts[:, None]
    own[~own.any(axis=1), -1] = True  # the start was not among them: drop the farthest
    own[np.cumsum(own, axis=1) > 1] = False  # only one per row
    return found[~own].reshape(len(starts), k)


def _check_neighbor_input(X, y, n_neighbors, name):
    """Validated ``(X, y codes, n_neighbors)``; the lengths are compared before the labels
    are judged, so a length mismatch is reported as such."""
    n_neighbors = check_positive_int(n_neighbors, "n_neighbors", estimator=name)
    X = check_array(X, dtype=(np.float64, np.float32), input_name="X")
    check_consistent_length(X, y)
    _, y_enc = check_classification_labels(y, estimator=name)
    return X, y_enc, n_neighbors


def target_neighbors(X, y, n_neighbors=3):
    """The target neighbours of each sample: its ``n_neighbors`` nearest of its own class.

    LMNN pulls each sample towards them; they are the similar pairs of
    :func:`neighbor_pairs_from_labels`. Neighbours are found by Euclidean distance in ``X``
    with :func:`skdml.kernels.knn`, nearest first; a sample is never its own neighbour.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Class labels of any type, at least two classes.
    n_neighbors : int, default=3

    Returns
    -------
    targets : ndarray of shape (n_samples, n_neighbors), dtype=intp
        Indices into ``X``; a sample of a class with ``m <= n_neighbors`` members has
        ``m - 1`` target neighbours, and its row is padded with -1.

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.constraints import target_neighbors
    >>> X = np.array([[0.0], [1.0], [3.0], [5.0], [6.0]])
    >>> target_neighbors(X, [0, 0, 0, 1, 1], n_neighbors=2).tolist()
    [[1, 2], [0, 2], [1, 0], [4, -1], [3, -1]]
    """
    X, y_enc, n_neighbors = _check_neighbor_input(X, y, n_neighbors, "target_neighbors")
    return _target_neighbors(X, y_enc, n_neighbors)


def _target_neighbors(X, y_enc, n_neighbors):
    """``target_neighbors`` on checked input: ``y_enc`` holds codes 0..n_classes - 1."""
    targets = np.full((len(y_enc), n_neighbors), -1, dtype=np.intp)
    for c in range(y_enc.max() + 1):
        members = np.flatnonzero(y_enc == c)
        k = min(n_neighbors, len(members) - 1)
        if k > 0:
            _, ind = knn(X[members], k=k, exclude_self=True)
            targets[members, :k] = members[ind]
    return targets
