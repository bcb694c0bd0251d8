"""Training callbacks of the deep learners: the collapse detector.

A deep metric learner can train without error and still learn nothing: every sample mapped
to one point, to the zero vector, or to one binary code. :class:`CollapseDetector` watches
for that at the end of every epoch, on by default in every
:class:`~skdml.deep.DeepMetricLearner`, and says so with a :class:`CollapseWarning`.
"""

import warnings
from collections import Counter
from numbers import Integral, Real

import numpy as np
import torch
from skorch.callbacks import Callback

__all__ = ["CollapseDetector", "CollapseWarning"]

# below this size (relative to the inputs' own scale of 1 after standardization) an
# embedding is the zero vector
_ZERO_NORM = 1e-12


class CollapseWarning(UserWarning):
    """A deep learner's embeddings (or codes) collapsed in training: see
    :class:`CollapseDetector`."""


def _identical_share(rows):
    """The share of ``rows`` (a 2-D array) in the largest group of identical rows."""
    rows = np.ascontiguousarray(rows)
    # rows compared by their bytes: several times faster than np.unique(axis=0)
    counts = Counter(row.tobytes() for row in rows)
    return max(counts.values()) / len(rows)


class CollapseDetector(Callback):
    """Warn when training collapses: one point, the zero vector, or one code for all.

    At the end of every epoch the network embeds a fixed probe of the training samples
    (``probe_size`` of them, evenly spaced, chosen without randomness) in eval mode, and the
    detector measures, recording both in ``history_`` every epoch:

    - ``embedding_spread``: ``sqrt(tr(cov(Z)) / mean(|z|^2))``, the embeddings' spread
      around their mean relative to their size, from 1 (centred) to 0 (one point); all-zero
      embeddings count as spread 0;
    - ``identical_share``: the share of the probe in its largest group of identical
      embeddings -- of identical sign codes ``sgn(z)`` with ``codes=True``, as the deep
      hashers set.

    An epoch is *degenerate* when the spread is below ``min_spread``, or when the largest
    group holds more than ``max_identical`` of the probe and more than may rightly share
    one embedding: the largest group of identical inputs (duplicates in the data are no
    collapse) or, with class labels, the largest class (a supervised hasher rightly gives
    each class one code); a one-bit code only when all codes agree. Training has
    *collapsed* when ``patience`` epochs in a row are degenerate with the training loss
    stuck (changing by at most ``loss_tol`` times ``max(1, |loss|)``), or when the last
    epoch is degenerate. Then, once per fit, a :class:`CollapseWarning` names what
    happened and the likely fix, the epoch's ``event_collapse`` is ``True`` in
    ``history_``, and the learner's ``collapsed_`` holds a short description (``False``
    when nothing was detected). Training goes on unchanged: the detector reads the
    network and never draws random numbers, so the trained weights are those of a fit
    without it.

    It costs one forward pass of the probe per epoch (eval mode, no gradients). Every
    :class:`~skdml.deep.DeepMetricLearner` has one, named ``'collapse'``: tune it with
    ``callbacks__collapse__<param>=...`` and switch it off with
    ``callbacks__collapse=None``, skorch's conventions for default callbacks.

    Parameters
    ----------
    probe_size : int, default=256
        Training samples embedded at each epoch's end (all of them when fewer).
    min_spread : float, default=1e-3
        An embedding spread below this is one point.
    max_identical : float, default=0.5
        The largest share of the probe that may map to one embedding (one code), beyond
        what identical inputs or one class account for.
    codes : bool, default=False
        Count identical sign codes ``sgn(z)`` instead of identical embeddings (the deep
        hashers, whose codes are the signs of their outputs).
    patience : int, default=5
        Degenerate epochs in a row, with the loss stuck, after which training is declared
        collapsed before its end.
    loss_tol : float, default=1e-3
        The loss is stuck when it moves by at most ``loss_tol * max(1, |loss|)`` over
        those epochs.

    See Also
    --------
    skdml.deep.MLP : ``output_activation='identity'`` for an output that no ReLU clips.

    Examples
    --------
    A network whose every output unit starts dead (ReLU after a large negative bias)
    learns nothing; the detector says so:

    >>> import warnings
    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> from skdml.deep import DeepMetricLearner, MLP
    >>> from skdml.deep.callbacks import CollapseWarning
    >>> class DeadMLP(MLP):
    ...     def __init__(self, n_features):
    ...         super().__init__(n_features, hidden_sizes=(8,), activation="relu")
    ...         torch.nn.init.constant_(self.net[0].bias, -100.0)
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = DeepMetricLearner(DeadMLP, max_epochs=2, random_state=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     learner = learner.fit(X, y)
    >>> learner.collapsed_
    'all embeddings zero'
    >>> [w.category.__name__ for w in caught]
    ['CollapseWarning']

    A healthy fit records ``collapsed_ = False``; ``callbacks__collapse=None`` removes the
    detector:

    >>> DeepMetricLearner(max_epochs=2, random_state=0).fit(X, y).collapsed_
    False
    >>> quiet = DeepMetricLearner(DeadMLP, max_epochs=2, random_state=0,
    ...                           callbacks__collapse=None).fit(X, y)
    >>> hasattr(quiet, "collapsed_")
    False
    """

    def __init__(self, probe_size=256, min_spread=1e-3, max_identical=0.5, codes=False,
                 patience=5, loss_tol=1e-3):
        self.probe_size = probe_size
        self.min_spread = min_spread
        self.max_identical = max_identical
        self.codes = codes
        self.patience = patience
        self.loss_tol = loss_tol

    # --- skorch's hooks --------------------------------------------------------------------

    def initialize(self):
        self._check_params()
        return super().initialize()

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.probe_, self.allowed_share_ = self._select_probe(net, X, y)
        self.streak_ = []  # (loss, what) of the degenerate epochs in a row so far
        self.fired_ = False
        net.collapsed_ = False

    def on_epoch_end(self, net, **kwargs):
        if self.probe_ is None:
            return
        Z = self._embed(net)
        if Z is None:
            return
        spread, share, what = self._measure(Z)
        net.history.record("embedding_spread", spread)
        net.history.record("identical_share", share)
        net.history.record("event_collapse", False)
        if what is None:
            self.streak_ = []
            return
        self.streak_.append((net.history[-1].get("train_loss"), what))
        if self.fired_ or len(self.streak_) < self.patience:
            return
        losses = [loss for loss, _ in self.streak_[-self.patience:]]
        if None not in losses:
            scale = max(1.0, *(abs(loss) for loss in losses))
            if max(losses) - min(losses) <= self.loss_tol * scale:
                self._fire(net, what, stuck=losses[-1])

    def on_train_end(self, net, **kwargs):
        if not self.fired_ and self.streak_:  # the last epoch measured was degenerate
            self._fire(net, self.streak_[-1][1], stuck=None)
        self.probe_ = None  # pickled with the learner otherwise; drawn again at each fit

    # --- the measurements ------------------------------------------------------------------

    def _check_params(self):
        name = type(self).__name__

        def check(value, what, ok):
            if isinstance(value, bool) or not ok(value):
                raise ValueError(f"{name}: {what}, got {value!r}.")

        check(self.probe_size, "probe_size must be an integer >= 2",
              lambda v: isinstance(v, Integral) and v >= 2)
        check(self.patience, "patience must be an integer >= 1",
              lambda v: isinstance(v, Integral) and v >= 1)
        check(self.min_spread, "min_spread must be a real number in [0, 1)",
              lambda v: isinstance(v, Real) and 0 <= v < 1)
        check(self.loss_tol, "loss_tol must be a real number >= 0",
              lambda v: isinstance(v, Real) and v >= 0)
        check(self.max_identical, "max_identical must be a real number in (0, 1)",
              lambda v: isinstance(v, Real) and 0 < v < 1)
        if not isinstance(self.codes, (bool, np.bool_)):
            raise ValueError(f"{name}: codes must be True or False, got {self.codes!r}.")

    def _select_probe(self, net, X, y):
        """``(probe, allowed share)``: ``probe_size`` training samples, evenly spaced (no
        random draw), as the network takes them, and the share of them that may rightly
        share one embedding: the largest group of identical inputs, or of one class (when
        ``y`` holds class labels of those samples). ``(None, None)`` when the training data
        is not an array of samples."""
        samples = getattr(net, "_training_samples", None)
        if X is not None and samples is not None:  # a learner trained on tuples: samples
            X = samples(X)
        shape = getattr(net, "_sample_shape", None)
        if (not isinstance(X, (np.ndarray, torch.Tensor)) or len(X) < 2
                or (shape is not None and tuple(X.shape[1:]) != tuple(shape))):
            return None, None
        index = np.unique(np.linspace(0, len(X) - 1, min(self.probe_size, len(X))).astype(int))
        probe = np.asarray(X[index])
        allowed = _identical_share(probe.reshape(len(probe), -1))
        y = None if y is None else np.asarray(y)
        if y is not None and y.ndim == 1 and len(y) == len(X) and len(np.unique(y)) > 1:
            allowed = max(allowed, _identical_share(y[index, None]))
        return probe, allowed

    def _embed(self, net):
        """The probe's embeddings (eval mode, no gradients) as float64, or ``None`` when the
        network does not return one row per sample."""
        Z = net.evaluation_step((torch.as_tensor(self.probe_), None), training=False)
        if not isinstance(Z, torch.Tensor) or Z.dim() != 2 or len(Z) != len(self.probe_):
            return None
        return Z.detach().cpu().numpy().astype(np.float64)

    def _measure(self, Z):
        """``(spread, identical share, what)``: ``what`` names the collapse, or is None.

        More than ``max_identical`` of the probe on one embedding (code) is a collapse when
        it is also more than may rightly share one; so is one code for all (of a single
        bit, which cannot do better than half)."""
        size = float(np.einsum("ij,ij->", Z, Z)) / len(Z)
        centred = Z - Z.mean(axis=0)
        variance = float(np.einsum("ij,ij->", centred, centred)) / len(Z)
        spread = min(float(np.sqrt(variance / size)), 1.0) if size > _ZERO_NORM ** 2 else 0.0
        rows = np.packbits(Z >= 0, axis=1) if self.codes else Z
        share = float(_identical_share(rows))
        if self.allowed_share_ >= 1.0:  # every probe input the same: nothing to tell apart
            return spread, share, None
        merged = share > max(self.max_identical, self.allowed_share_) and (
            not self.codes or Z.shape[1] > 1)
        if size <= _ZERO_NORM ** 2:
            what = "all embeddings zero"
        elif spread < self.min_spread:
            what = f"one point (spread {spread:.2g})"
        elif merged or (self.codes and share == 1.0):
            kind = "code" if self.codes else "embedding"
            what = f"one {kind} for {share:.0%} of the samples"
        else:
            what = None
        return spread, share, what

    def _fire(self, net, what, stuck):
        self.fired_ = True
        net.collapsed_ = what
        net.history.record("event_collapse", True)
        epochs = len(self.streak_)
        loss = "" if stuck is None else f", the training loss stuck at {stuck:.4g}"
        warnings.warn(
            f"{type(net).__name__}: training collapsed, {what} (on a probe of "
            f"{len(self.probe_)} training samples) for the last {epochs} epoch"
            f"{'s' if epochs > 1 else ''}{loss}. {self._advice(what)} collapsed_ records "
            "it; callbacks__collapse=None switches this check off.",
            CollapseWarning,
            stacklevel=2,
        )

    def _advice(self, what):
        if what == "all embeddings zero":
            return ("The network's output units are dead, as a ReLU-ended network gets "
                    "when a loss rewards small embeddings: give it an unclipped last layer "
                    "(module__output_activation='identity'), or lower lr.")
        if self.codes:
            return ("The tanh outputs have saturated to one sign pattern: standardize the "
                    "input (standardize=True), lower lr, or raise the weight of the "
                    "variance or bit-balance term.")
        if what.startswith("one point"):
            return ("Standardize the input (standardize=True), lower lr, or give the loss "
                    "room to separate: the Euclidean rather than the squared distance "
                    "(distance=LpDistance()), or normalized embeddings "
                    "(module__normalize=True).")
        return ("Many samples land on one embedding, as when ReLU units die: give the "
                "network an unclipped last layer (module__output_activation='identity'), "
                "lower lr, or standardize the input (standardize=True).")
