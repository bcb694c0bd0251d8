"""Choosing a distance threshold for pair verification (shared by learners and metrics)."""

import numpy as np

import numbers

STRATEGIES = ("accuracy", "f_beta", "tpr_at_fpr", "max_tpr", "max_tnr")


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


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_strategy(strategy, *, beta=1.0, max_fpr=0.01, min_rate=None):
    """Validate a calibration strategy and the parameter it uses (a clear ValueError).

    ``'f_beta'`` needs a finite ``beta >= 0`` (``beta=0`` is the precision);
    ``'tpr_at_fpr'`` a ``max_fpr`` in [0, 1]; ``'max_tpr'`` and ``'max_tnr'`` a
    ``min_rate`` in [0, 1].
    """
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}.")
    if strategy == "f_beta" and not (_is_real(beta) and 0 <= beta < np.inf):
        raise ValueError(
            f"beta must be a real number in [0, inf) for strategy='f_beta' (0: precision); "
            f"got {beta!r}."
        )
    if strategy == "tpr_at_fpr" and not (_is_real(max_fpr) and 0 <= max_fpr <= 1):
        raise ValueError(f"max_fpr must be a number in [0, 1], got {max_fpr!r}.")
    if strategy in ("max_tpr", "max_tnr") and not (_is_real(min_rate) and 0 <= min_rate <= 1):
        other = "true negative" if strategy == "max_tpr" else "true positive"
        raise ValueError(
            f"min_rate must be a number in [0, 1] for strategy={strategy!r} (the lowest "
            f"{other} rate allowed); got {min_rate!r}."
        )


def best_threshold(distances, y, strategy="accuracy", *, beta=1.0, max_fpr=0.01,
                   min_rate=None):
    """The distance threshold that maximizes ``strategy``, and the value reached.

    ``'accuracy'``; ``'f_beta'``: the F-beta score of the similar class (``beta=0`` is its
    precision); ``'tpr_at_fpr'``: the true positive rate where the false positive rate is at
    most ``max_fpr``; ``'max_tpr'``: the true positive rate where the true negative rate is at
    least ``min_rate``; ``'max_tnr'``: the true negative rate where the true positive rate is
    at least ``min_rate``. (The last two are metric-learn's strategies; a threshold meeting
    the bound always exists: calling nothing, or everything, similar.)

    The threshold returned is the midpoint between the last distance called similar and the
    next distinct one, so it generalizes rather than sitting on a training point.
    """
    check_strategy(strategy, beta=beta, max_fpr=max_fpr, min_rate=min_rate)
    thresholds, tp, fp, n_pos, n_neg = sweep(distances, y)
    if strategy == "accuracy":
        score = (tp + (n_neg - fp)) / (n_pos + n_neg)
    elif strategy == "f_beta":
        b2 = beta * beta
        denom = (1 + b2) * tp + b2 * (n_pos - tp) + fp
        score = np.divide((1 + b2) * tp, denom, out=np.zeros(len(tp)), where=denom > 0)
    else:
        tpr, tnr = tp / max(n_pos, 1), (n_neg - fp) / max(n_neg, 1)
        if strategy == "tpr_at_fpr":
            score = np.where(fp / max(n_neg, 1) <= max_fpr, tpr, -1.0)
        elif strategy == "max_tpr":
            score = np.where(tnr >= min_rate, tpr, -1.0)
        else:
            score = np.where(tpr >= min_rate, tnr, -1.0)
    j = int(np.argmax(score))
    if strategy == "max_tnr":
        # Equal true negative rates: the largest threshold calls more pairs similar for free.
        j = int(np.flatnonzero(score == score[j])[-1])
    if 0 < j < len(thresholds) - 1:
        threshold = 0.5 * (thresholds[j] + thresholds[j + 1])
    else:
        threshold = thresholds[j]
    return float(threshold), float(score[j])
