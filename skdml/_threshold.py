"""Choosing a distance threshold for pair verification.

The counts at every achievable threshold come from scikit-learn's ``roc_curve`` (on the
similarity ``-distance``, its convention); this module only scores them by the calibration
strategies of :meth:`skdml.base.PairClassifierMixin.calibrate_threshold`.

Why not ``TunedThresholdClassifierCV(FrozenEstimator(learner), cv="prefit")``, which pair
learners also work with (they are classifiers of pairs)? It scores each candidate threshold
with one scorer call on all pairs: the exact optimum over the ``n`` distinct distances costs
``O(n^2)`` where ``roc_curve`` costs ``O(n log n)`` (12 s against 20 ms on 4,000 pairs), its
default grid of 100 evenly spaced thresholds is an approximation, and every fit on pairs
calibrates, so calibration must be cheap. Tuning the threshold by cross-validation, which
``calibrate_threshold`` does not do, is its job: see the user guide, "Tuning a pair learner".
"""

import numbers

import numpy as np
from sklearn.metrics import roc_curve

STRATEGIES = ("accuracy", "f_beta", "tpr_at_fpr", "max_tpr", "max_tnr")


def counts(distances, y):
    """Counts at every achievable threshold, from :func:`sklearn.metrics.roc_curve`.

    Returns ``thresholds, tp, fp, n_pos, n_neg`` where a pair is called similar when its
    distance is ``<= thresholds[j]``: ``thresholds[0]`` (just below the smallest distance)
    calls nothing similar, the others are the distinct distances in increasing order, so
    every achievable split is listed once.
    """
    distances = np.asarray(distances, dtype=np.float64)
    y = np.asarray(y)
    n_pos = int(np.count_nonzero(y == 1))
    n_neg = len(y) - n_pos
    # roc_curve calls a pair positive when its score -distance is >= a threshold; its first
    # threshold (+inf) calls nothing positive.
    fpr, tpr, scores = roc_curve(y, -distances, pos_label=1, drop_intermediate=False)
    thresholds = -scores
    thresholds[0] = np.nextafter(distances.min(), -np.inf)
    return thresholds, np.rint(tpr * n_pos), np.rint(fpr * n_neg), n_pos, n_neg


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
    thresholds, tp, fp, n_pos, n_neg = counts(distances, y)
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
