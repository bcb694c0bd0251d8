"""Learning from labelled pairs: the pair form of ``fit`` for deep learners, and the pair
classifier it makes of them.

:class:`DeepPairMixin` goes before :class:`~skdml.deep.DeepMetricLearner` in a learner's
bases (``class DDML(DeepPairMixin, DeepMetricLearner)``). It fills the template's hooks
for pairs and takes the verification API of the classical pair learners
(:class:`skdml.base.PairClassifierMixin`) as it is.
"""

import math

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch.utils.data import Sampler

from ..base import PairClassifierMixin
from .._validation import check_pair_labels, check_tuples, input_ndim
from ..kernels import paired_distances

__all__ = ["DeepPairMixin", "PairBatchSampler"]


class PairBatchSampler(Sampler):
    """Batches of pairs in a fresh random order every epoch, about ``batch_size`` each.

    An epoch is ``ceil(n_pairs / batch_size)`` batches of (nearly) equal size: every pair is
    seen once per epoch, and no batch is a small remainder.

    Parameters
    ----------
    n_pairs : int
    batch_size : int
        The largest number of pairs in a batch.
    random_state : int, RandomState instance or None, default=None
        Seeds the order.
    """

    def __init__(self, n_pairs, batch_size, random_state=None):
        self.n_pairs = int(n_pairs)
        self.n_batches = max(1, math.ceil(self.n_pairs / batch_size))
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        self._rng = np.random.default_rng(seed)

    def __len__(self):
        return self.n_batches

    def __iter__(self):
        return iter(np.array_split(self._rng.permutation(self.n_pairs), self.n_batches))


class DeepPairMixin(PairClassifierMixin):
    """``fit(pairs, y)`` for a deep learner of vectors, and the pair classifier after it.

    Input forms, told apart by their shape as the classical pair learners do:

    - ``fit(X, y)``: samples of shape (n_samples, n_features) and class labels, the
      learner's own training;
    - ``fit(pairs, y)``: pairs of shape (n_pairs, 2, n_features) labelled +1 (similar) or
      -1 (dissimilar), or integer index pairs of shape (n_pairs, 2) into the dataset given
      as ``preprocessor``. Each batch holds ``batch_size`` pairs in random order
      (:class:`PairBatchSampler`); the network embeds both members of each, and the loss,
      a pair loss (``tuple_kind = 'pair'``), sees exactly these pairs, with their labels.
      The input scaling is learned on the pairs' samples. At the end of each training
      call, ``threshold_`` is set to the distance that best separates the training pairs
      (as :class:`~skdml.base.PairClassifierMixin` does): ``decision_function``,
      ``predict``, ``score`` and ``calibrate_threshold`` on pairs then work as for ITML,
      with ``classes_ = [-1, 1]``.

    ``partial_fit`` goes on with the form of the first fit. A fit on class labels sets no
    threshold (``calibrate_threshold`` sets one); training on class labels after
    ``calibrate_threshold`` drops it and brings back the class labels in ``classes_``.
    """

    #: Whether the last fit was on pairs (the class default: not fitted on pairs).
    _fitted_on_pairs = False

    # --- the two forms ------------------------------------------------------------------

    def _is_pair_input(self, X, preprocessor):
        """Pairs: index pairs with a ``preprocessor``, or a 3-D array (the samples are
        vectors)."""
        return preprocessor is not None or input_ndim(X) == 3

    def fit(self, X, y=None, *, preprocessor=None, **fit_params):
        """Train the network on class labels, or on labelled pairs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_pairs, 2, n_features)
            Samples (with class labels ``y``) or pairs (with pair labels ``y``). With
            ``preprocessor``, pairs may be integer indices of shape (n_pairs, 2).
        y : array-like of shape (n_samples,) or (n_pairs,)
            Class labels of any type, or +1 (similar) / -1 (dissimilar) pair labels.
        preprocessor : array-like of shape (n_samples, n_features), default=None
            A dataset that index pairs refer to.
        **fit_params
            Passed to the module's ``forward`` (skorch's convention).

        Returns
        -------
        self
        """
        return super().fit(self._resolve_pairs(X, preprocessor), y, **fit_params)

    def partial_fit(self, X, y=None, classes=None, *, preprocessor=None, **fit_params):
        """One more ``max_epochs`` of training, in the form of the first fit (samples and
        class labels, or labelled pairs); the first call on an unfitted learner is ``fit``.
        After pairs, ``threshold_`` is calibrated again on these pairs when they hold both
        labels (otherwise it is kept)."""
        return super().partial_fit(self._resolve_pairs(X, preprocessor), y, classes=classes,
                                   **fit_params)

    def _resolve_pairs(self, X, preprocessor):
        """Index pairs into ``preprocessor`` as the pairs themselves (validated); any other
        input as it came."""
        if preprocessor is None:
            return X
        return check_tuples(X, tuple_size=2, preprocessor=preprocessor, estimator=self)

    # --- the template's hooks, for pairs ----------------------------------------------------

    def _validate_fit_data(self, X, y, *, reset):
        name = type(self).__name__
        if not self._is_pair_input(X, None):
            if reset:
                self._start_label_fit()
            elif self._fitted_on_pairs:
                raise ValueError(
                    f"{name} was fitted on pairs; partial_fit goes on with pairs of shape "
                    f"(n_pairs, 2, {self.n_features_in_}) and labels in {{-1, +1}}, got an "
                    f"array of shape {np.shape(X)}. Call fit to train on class labels."
                )
            elif "_label_classes" in self.__dict__:
                return self._resume_label_fit(X, y)
            return super()._validate_fit_data(X, y, reset=reset)
        shape = np.shape(X)
        if shape[1] != 2:
            raise ValueError(
                f"{name}: the {self._component_name(self.module)} expects X of shape "
                "(n_samples, n_features), samples with class labels, or (n_pairs, 2, "
                "n_features), pairs with labels in {-1, +1}; got an array of shape "
                f"{shape}."
            )
        if not reset and not self._fitted_on_pairs:
            raise ValueError(
                f"{name} was fitted on class labels; partial_fit goes on with samples of "
                f"shape (n_samples, {self.n_features_in_}) and their classes, got pairs of "
                f"shape {np.shape(X)}. Call fit(pairs, y) to train on pairs."
            )
        self._check_pair_components()
        if reset:
            pairs, y = self._check_pair_fit_input(X, y, None)
            self.n_features_in_ = pairs.shape[2]
            for stale in ("feature_names_in_", "_label_classes", "threshold_"):
                self.__dict__.pop(stale, None)
            self._fitted_on_pairs = True
        else:
            pairs = check_tuples(X, tuple_size=2, n_features=self.n_features_in_,
                                 estimator=self).astype(np.float64, copy=False)
            y = check_pair_labels(y, len(pairs), require_both=False, estimator=self)
        return pairs, y

    def _start_label_fit(self):
        """Before a fit on class labels (``fit`` rolls it back if it fails): a threshold
        belonged to the previous metric; ``classes_`` are class labels again."""
        self.__dict__.pop("threshold_", None)
        if "_label_classes" in self.__dict__:  # set aside by calibrate_threshold
            self.classes_ = self.__dict__.pop("_label_classes")
        if self._fitted_on_pairs:
            if self.warm_start and self.initialized_:
                raise ValueError(
                    f"{type(self).__name__} with warm_start=True goes on with the form of its "
                    "previous fit, which was on pairs: give pairs, or set warm_start=False "
                    "to train on class labels."
                )
            self.__dict__.pop("classes_", None)
            del self._fitted_on_pairs

    def _resume_label_fit(self, X, y):
        """``partial_fit`` on class labels after ``calibrate_threshold``: ``y`` is checked
        against the class labels set aside; then they are ``classes_`` again, and the
        threshold, which belonged to the previous metric, is dropped."""
        pair_classes, self.classes_ = self.classes_, self._label_classes
        try:
            X, y = super()._validate_fit_data(X, y, reset=False)
        except BaseException:
            self.classes_ = pair_classes  # partial_fit is not rolled back: restore by hand
            raise
        del self._label_classes
        self.__dict__.pop("threshold_", None)
        return X, y

    def _check_pair_components(self):
        """A pair fit hands the loss the labelled pairs: it must be a pair loss, unmined."""
        name = type(self).__name__
        kind = getattr(self.loss, "tuple_kind", None)
        if kind != "pair":
            raise ValueError(
                f"{name} learns from pairs with a pair loss (tuple_kind='pair', such as "
                f"ContrastiveLoss or GeneralizedLogisticLoss); {self._component_name(self.loss)}"
                f" has tuple_kind={kind!r}. Fit it on samples and class labels instead."
            )
        if self.miner is not None:
            raise ValueError(
                f"{name}: a fit on pairs trains on the pairs given, so it takes no miner; "
                f"got miner={self._component_name(self.miner)}. Set miner=None."
            )

    def _training_samples(self, X):
        if self._fitted_on_pairs:
            return X.reshape(-1, *X.shape[2:])
        return super()._training_samples(X)

    def _train_batch_sampler(self, dataset):
        if self._fitted_on_pairs:
            return PairBatchSampler(len(dataset), self.batch_size,
                                    random_state=int(self._seeds[1]))
        return super()._train_batch_sampler(dataset)

    def infer(self, x, **fit_params):
        """skorch's ``infer``; a batch of pairs (n, 2, n_features) is embedded as its 2n
        samples, the members of pair ``i`` in rows ``2i`` and ``2i + 1``."""
        if self._fitted_on_pairs and isinstance(x, torch.Tensor) and x.dim() == 3:
            x = x.flatten(0, 1)
        return super().infer(x, **fit_params)

    def _batch_loss(self, embeddings, y, X, *, training):
        if not self._fitted_on_pairs:
            return super()._batch_loss(embeddings, y, X, training=training)
        first = torch.arange(0, embeddings.shape[0], 2, device=embeddings.device)
        similar = y > 0
        pairs = (first[similar], first[similar] + 1, first[~similar], first[~similar] + 1)
        # one label per pair: the loss takes the pairs as given and forms none of its own
        labels = torch.arange(len(first), device=embeddings.device).repeat_interleave(2)
        return self.loss_(embeddings, labels, pairs)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        """After training on pairs: calibrate ``threshold_`` on them (skorch's hook, called
        at the end of ``fit`` and of every ``partial_fit``)."""
        super().on_train_end(net, X=X, y=y, **kwargs)
        if self._fitted_on_pairs and y is not None and len(np.unique(y)) == 2:
            Z = self.forward(X, training=False, device="cpu").numpy()
            self._set_threshold(paired_distances(Z[0::2].copy(), Z[1::2].copy()), y)

    # --- calibrate_threshold after a fit on class labels --------------------------------------

    def _set_threshold(self, distances, y, strategy="accuracy", **params):
        if not self._fitted_on_pairs and "_label_classes" not in self.__dict__:
            # classes_ becomes [-1, 1]: the class labels are kept for more training on them
            self._label_classes = self.__dict__.get("classes_")
        super()._set_threshold(distances, y, strategy, **params)
