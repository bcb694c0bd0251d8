"""Choosing a distance threshold for pair verification (shared by learners and metrics)."""

import numpy as np

STRATEGIES = ("accuracy", "f_beta", "tpr_at_fpr")


def sweep(distances, y):
    """Counts at every useful threshold.

    Returns ``thresholds, tp, fp, n_pos, n_neg`` where a pair is called similar when its
    distance is ``<= thresholds[j]``. ``thresholds[0]`` calls nothing similar; the others sit
    at the distinct distances, so every achievable split is listed once.
    """
    distances = np.asarray(distances, dtype=np.float64)
    positive = np.asarray(y) == 1
    order = np.argsort(distances, kind="stable")
    d = distances[order]
    pos = positive[order]
    # Last index of each run of equal distances: the split points.
    last = np.flatnonzero(np.r_[d[1:] != d[:-1], True])
    tp = np.r_[0, np.cumsum(pos)[last]]
    fp = np.r_[0, np.cumsum(~pos)[last]]
    below = np.nextafter(d[0], -np.inf) if d.size else 0.0
    thresholds = np.r_[below, d[last]]
    return thresholds, tp, fp, int(positive.sum()), int((~positive).sum())


def best_threshold(distances, y, strategy="accuracy", *, beta=1.0, max_fpr=0.01):
    """The distance threshold that maximizes ``strategy``, and the value reached.

    The threshold returned is the midpoint between the last distance called similar and the
    next distinct one, so it generalizes rather than sitting on a training point.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}.")
    thresholds, tp, fp, n_pos, n_neg = sweep(distances, y)
    if strategy == "accuracy":
        score = (tp + (n_neg - fp)) / (n_pos + n_neg)
    elif strategy == "f_beta":
        b2 = beta * beta
        denom = (1 + b2) * tp + b2 * (n_pos - tp) + fp
        score = np.divide((1 + b2) * tp, denom, out=np.zeros(len(tp)), where=denom > 0)
    else:
        fpr = fp / max(n_neg, 1)
        score = np.where(fpr <= max_fpr, tp / max(n_pos, 1), -1.0)
    j = int(np.argmax(score))
    if 0 < j < len(thresholds) - 1:
        threshold = 0.5 * (thresholds[j] + thresholds[j + 1])
    else:
        threshold = thresholds[j]
    return float(threshold), float(score[j])
