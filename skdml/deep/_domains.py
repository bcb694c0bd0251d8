"""Two domains in one fit: a labeled source and an unlabeled target (``y == -1``).

The target encoding and the batch sampler of the domain-adaptation learners (DTML, DSTML,
ECN). A private toolkit: the learner modules import it, never each other.
"""

import math

import numpy as np
from sklearn.utils import check_random_state
from torch.utils.data import Sampler

from ._base import ClassBalancedBatchSampler
from ._neighbors import TARGET, target_mask


def encode_domains(learner, y, n_samples, *, reset, single_domain):
    """Source class labels encoded ``0 .. n_classes - 1`` (``learner.classes_`` learned when
    ``reset``), and ``TARGET`` (-1) for the target samples.

    ``y`` holds the source labels and the integer ``-1`` for every target sample (in an object
    array for string labels). No target sample, no source sample, or a ``y`` of the wrong
    shape is a ValueError naming the problem; ``single_domain`` ends the message of the
    first (what to use for one domain).
    """
    name = type(learner).__name__
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None.")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1 or len(y) != n_samples:
        raise ValueError(
            f"{name}: expected y of shape ({n_samples},) with -1 marking target-domain "
            f"samples, got an array of shape {y.shape}."
        )
    target = target_mask(y)
    if not target.any():
        raise ValueError(
            f"{name} learns from a labeled source domain and an unlabeled target domain: "
            "mark the target samples with y == -1 (for string labels, in an object "
            f"array). y has no -1, so there is no target domain; {single_domain}"
        )
    if target.all():
        raise ValueError(
            f"{name} needs labeled source samples, but every sample of y is -1 "
            "(target domain)."
        )
    source = y[~target]
    if reset and source.dtype == object:
        try:  # the -1s made the array an object one: restore the labels' own type
            source = np.asarray(source.tolist())
        except (TypeError, ValueError):
            pass
    y_enc = np.full(len(y), TARGET, dtype=np.intp)
    y_enc[~target] = learner._encode_classes(source, reset=reset)
    return y_enc


class DomainBatchSampler(Sampler):
    """Batches holding both domains: class-balanced source samples plus target samples.

    The target share of a batch is the target share of the data (at least one sample); the
    source part comes from a :class:`ClassBalancedBatchSampler`, the target part from a
    random permutation, cycling. An epoch has enough batches to show every sample of the
    larger domain about once. Every negative label is a target sample (a learner may
    encode more than ``-1`` in them).
    """

    def __init__(self, labels, batch_size, samples_per_class=None, random_state=None):
        labels = np.asarray(labels)
        self.source = np.flatnonzero(labels >= 0)
        self.target = np.flatnonzero(labels < 0)
        rng = check_random_state(random_state)
        n_t = len(self.target)
        t = 0 if n_t == 0 else max(1, round(batch_size * n_t / len(labels)))
        self.n_target = min(t, n_t)
        self.balanced = ClassBalancedBatchSampler(
            labels[self.source], max(2, batch_size - self.n_target), samples_per_class,
            random_state=rng.randint(np.iinfo(np.int32).max),
        ) if len(self.source) else None
        per_source = (self.balanced.classes_per_batch * self.balanced.samples_per_class
                      if self.balanced is not None else 1)
        self.n_batches = max(1, math.ceil(len(self.source) / per_source),
                             math.ceil(n_t / self.n_target) if self.n_target else 1)
        if self.balanced is not None:
            self.balanced.n_batches = self.n_batches
        self._rng = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
        self._order, self._pos = self.target[:0], 0

    def __len__(self):
        return self.n_batches

    def _take_target(self):
        t = self.n_target
        if self._pos + t > len(self._order):
            rest = self._order[self._pos:]
            self._order = np.concatenate(
                [rest, self._rng.permutation(np.setdiff1d(self.target, rest))])
            self._pos = 0
        out = self._order[self._pos:self._pos + t]
        self._pos += t
        return out

    def __iter__(self):
        source = iter(self.balanced) if self.balanced is not None else None
        for _ in range(self.n_batches):
            parts = [] if source is None else [self.source[next(source)]]
            if self.n_target:
                parts.append(self._take_target())
            yield np.concatenate(parts)
