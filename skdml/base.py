"""Base classes and mixins shared by every skdml learner.

The contract (see the design notes):

- ``transform(X)``: the embedding in which Euclidean distance is the learned distance;
- ``pair_distance(pairs)`` / ``pair_score(pairs)``: the learned distance (similarity) of pairs
  given as an array of shape (n_pairs, 2, n_features);
- ``get_metric()``: a picklable callable ``d(u, v, squared=False)`` usable as
  ``KNeighborsClassifier(metric=...)``;
- linear learners add ``components_`` (``L``) and ``get_mahalanobis_matrix()`` (``M = L.T L``);
- learners fitted on pairs add a verification classifier: ``decision_function``, ``predict``
  with ``threshold_``, ``calibrate_threshold`` and ``score``, with ``classes_ = [-1, 1]`` and
  scikit-learn's classifier tags, so model selection treats them as binary classifiers;
- learners fitted on triplets or quadruplets classify them: ``decision_function``,
  ``predict`` and ``score``.
"""

import functools

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils import ClassifierTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _threshold
from ._dask import dask_aware, dask_aware_methods
from ._param_validation import validating_fit
from ._threads import uses_threads
from ._validation import check_metric_samples, check_pair_labels, check_tuples, input_ndim
from .kernels import paired_distances

__all__ = [
    "BaseMetricLearner",
    "EmbeddingDistance",
    "MahalanobisDistance",
    "MahalanobisMixin",
    "PairClassifierMixin",
    "TupleClassifierMixin",
    "fit_context",
]


def fit_context(fit):
    """Decorate ``fit``: validate parameters, run on ``n_jobs`` threads, and roll back every
    change if fit fails.

    After the parameters are checked, the fit runs under
    :func:`skdml._threads.limit_threads` of the estimator's ``n_jobs``: BLAS, OpenMP, numba
    and torch threads, restored afterwards. A fitted estimator whose ``fit`` raises (bad
    input, a solver error, an interrupt) keeps exactly the fitted state it had before the
    call.
    """
    checked_fit = validating_fit(uses_threads(fit, rescan=True))

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        state = self.__dict__.copy()
        try:
            return checked_fit(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise

    return wrapper


class MahalanobisDistance:
    """The distance ``d(u, v) = ||L (u - v)||``, as a picklable callable.

    Use it wherever scikit-learn takes a callable metric, e.g.
    ``KNeighborsClassifier(metric=MahalanobisDistance(L))``.

    Parameters
    ----------
    components : ndarray of shape (n_components, n_features)
        The linear map ``L``; the Mahalanobis matrix is ``L.T @ L``.
    """

    def __init__(self, components):
        components = np.asarray(components, dtype=np.float64)
        if components.ndim != 2 or 0 in components.shape:
            raise ValueError(
                "MahalanobisDistance: components must be a non-empty 2-D array L of shape "
                f"(n_components, n_features), got shape {components.shape}; for a diagonal "
                "metric with weights w, pass np.diag(np.sqrt(w))."
            )
        self.components = components

    def __call__(self, u, v, squared=False):
        """The distance ``||L (u - v)||``, or its square ``(u - v)^T M (u - v)`` with
        ``squared=True``."""
        u, v = check_metric_samples(u, v, self.components.shape[1], name=repr(self))
        z = self.components @ (u - v)
        squared_distance = float(z @ z)
        return squared_distance if squared else float(np.sqrt(squared_distance))

    def __repr__(self):
        k, d = self.components.shape
        return f"MahalanobisDistance(components of shape ({k}, {d}))"


class EmbeddingDistance:
    """The distance ``d(u, v) = ||f(u) - f(v)||`` for a fitted transformer ``f``.

    A picklable callable for learners that are not linear maps.
    """

    def __init__(self, transformer):
        self.transformer = transformer

    def __call__(self, u, v, squared=False):
        """The distance ``||f(u) - f(v)||``, or its square with ``squared=True``."""
        u, v = check_metric_samples(
            u, v, self.transformer.n_features_in_, name=f"{type(self.transformer).__name__} metric"
        )
        z = self.transformer.transform(np.vstack([u, v]))
        diff = np.asarray(z[0] - z[1], dtype=np.float64)
        squared_distance = float(diff @ diff)
        return squared_distance if squared else float(np.sqrt(squared_distance))


class BaseMetricLearner(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of every skdml learner.

    Subclasses implement ``fit`` and ``transform``; this class derives the learned distance
    on pairs, the similarity and the callable metric from ``transform``.

    The row-wise methods a subclass defines (``transform``, ``predict``,
    ``decision_function``, ...) take a dask array too and return a lazy dask array, mapped
    chunk by chunk on the workers with the fitted learner shipped once (see
    :mod:`skdml._dask`).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)  # scikit-learn's set_output wrapping first
        dask_aware_methods(cls)

    def _preprocessor(self, preprocessor, tuples):
        """The preprocessor that ``tuples`` refer to: the one a method is given, else the
        learner's own ``preprocessor`` parameter where it has one, except for tuples that
        are already formed (a 3-D array), which need none.

        The one place where the two meet: every method that takes tuples resolves its
        ``preprocessor=`` keyword here, so a learner built with ``preprocessor=X`` takes
        index tuples in ``fit``, ``predict``, ``score``, ... and under model selection, and
        still takes the tuples themselves.
        """
        if preprocessor is not None:
            return preprocessor
        if input_ndim(tuples) == 3:
            return None
        return getattr(self, "preprocessor", None)

    @uses_threads
    def pair_distance(self, pairs, *, preprocessor=None):
        """The learned distance between the two members of each pair.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features)
            Or integer indices of shape (n_pairs, 2) into ``preprocessor``.
        preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
            A dataset the pairs index into, or a callable given the flat indices that
            returns one sample per index; None: the learner's own ``preprocessor``
            parameter, where it has one.

        Returns
        -------
        distances : ndarray of shape (n_pairs,)
        """
        check_is_fitted(self)
        pairs = check_tuples(
            pairs, tuple_size=2, preprocessor=self._preprocessor(preprocessor, pairs),
            n_features=self.n_features_in_, estimator=self,
        )
        return self._pair_distance(pairs)

    def _pair_distance(self, pairs):
        return paired_distances(self.transform(pairs[:, 0]), self.transform(pairs[:, 1]))

    def pair_score(self, pairs, *, preprocessor=None):
        """The learned similarity of each pair: ``-pair_distance(pairs)``; larger is closer."""
        return -self.pair_distance(pairs, preprocessor=preprocessor)

    def get_metric(self):
        """A picklable callable ``d(u, v, squared=False)``: the learned distance of two
        samples (its square with ``squared=True``).

        Works as ``KNeighborsClassifier(metric=learner.get_metric())``, but a Python call
        per pair makes that hundreds of times slower than a Euclidean kNN on
        ``transform(X)``: :func:`skdml.neighbors.make_knn` is that fast path in one call.
        """
        check_is_fitted(self)
        return EmbeddingDistance(self)


class MahalanobisMixin(BaseMetricLearner):
    """Linear metric learners: ``transform(X) = X @ components_.T``.

    A subclass of :class:`BaseMetricLearner` (so ``set_output`` wraps its ``transform``);
    subclasses set ``components_`` in ``fit``.

    The learned distance is ``d(x, y) = sqrt((x - y)^T M (x - y))`` with ``M = L.T @ L``
    positive semi-definite by construction, ``L = components_``.
    """

    @uses_threads
    def transform(self, X):
        """Map ``X`` into the space where Euclidean distance is the learned distance.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_embedded : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return X @ self.components_.T.astype(X.dtype, copy=False)

    def _pair_distance(self, pairs):
        diff = pairs[:, 0] - pairs[:, 1]
        z = diff @ self.components_.T
        return np.sqrt(np.einsum("ij,ij->i", z, z))

    def get_mahalanobis_matrix(self):
        """The Mahalanobis matrix ``M = components_.T @ components_`` (PSD).

        Returns
        -------
        M : ndarray of shape (n_features, n_features)
        """
        check_is_fitted(self)
        return self.components_.T @ self.components_

    def get_metric(self):
        """A picklable callable ``d(u, v) = ||L (u - v)||``; ``d(u, v, squared=True)`` is
        ``(u - v)^T M (u - v)``.

        Works as ``KNeighborsClassifier(metric=learner.get_metric())``, but a Python call
        per pair makes that hundreds of times slower than a Euclidean kNN on
        ``transform(X)``: :func:`skdml.neighbors.make_knn` is that fast path in one call.
        """
        check_is_fitted(self)
        return MahalanobisDistance(self.components_)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]


def _verifies_pairs(estimator):
    """Whether ``decision_function`` / ``predict`` / ``score`` on pairs are available.

    They are before any fit (where they raise ``NotFittedError``, so that model selection can
    see a ``score`` on the unfitted estimator it clones), after a fit on pairs, and after
    :meth:`PairClassifierMixin.calibrate_threshold`; not after a fit on class labels alone,
    which leaves no threshold: there the ``AttributeError`` names the fix.
    """
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return True
    if not hasattr(estimator, "threshold_"):
        raise AttributeError(
            f"{type(estimator).__name__} was fitted on class labels, which sets no "
            "verification threshold: call calibrate_threshold(pairs, y) on labeled pairs, or "
            "fit it on pairs, before decision_function, predict or score."
        )
    return True


#: The classes of a pair classifier: -1 dissimilar, +1 similar (the positive class).
_PAIR_CLASSES = (-1, 1)


class PairClassifierMixin:
    """Verification on pairs for learners that can be fitted on pairs.

    A pair is called similar (+1) when its learned distance is at most ``threshold_``,
    dissimilar (-1) otherwise. ``decision_function`` is ``threshold_ - distance``, so it is
    positive exactly for the pairs called similar and higher for pairs more likely similar
    (scikit-learn's convention, with ``classes_ = [-1, 1]``: +1 is the positive class).

    The learner is tagged a binary classifier (``is_classifier`` is True). scikit-learn reads
    the tags on the unfitted estimator, before it knows whether the learner will be fitted on
    pairs or on class labels, so the tag cannot follow the input form; it serves the pair
    form: ``cross_val_score`` and ``GridSearchCV`` stratify their folds on the pair labels,
    ``scoring="roc_auc"`` reads ``decision_function`` with +1 as the positive class, and
    ``TunedThresholdClassifierCV`` / ``FixedThresholdClassifier`` take the learner. On class
    labels it changes nothing but the folds, which are stratified on the classes (what a
    metric learned from labels wants as well); a learner fitted on labels is a transformer,
    tuned inside a ``Pipeline`` (whose type is its last step's) or with a scorer of its own.

    ``threshold_`` is set by a fit on pairs, or by :meth:`calibrate_threshold`. So that
    ``cross_val_score`` and ``GridSearchCV`` find ``score`` on a learner they will fit on
    pairs, ``decision_function``, ``predict`` and ``score`` exist before the first fit (and
    raise ``NotFittedError``). A fit on class labels sets no threshold: until
    :meth:`calibrate_threshold` is called the learner is a transformer only, the three
    methods are not available (``hasattr`` says False) and calling one raises an
    ``AttributeError`` that says so.
    """

    # --- for subclasses: one way to fit on pairs or on class labels ----------------------
    def _is_pair_input(self, X, preprocessor):
        """A fit on pairs (3-D X, or index pairs with a preprocessor: the one ``fit`` is
        given or the learner's own), not on samples."""
        return self._preprocessor(preprocessor, X) is not None or input_ndim(X) == 3

    def _check_pair_fit_input(self, pairs, y, preprocessor):
        """Validated float64 pairs of shape (n_pairs, 2, n_features) and their +1/-1 labels."""
        pairs = check_tuples(
            pairs, tuple_size=2, preprocessor=self._preprocessor(preprocessor, pairs),
            estimator=self,
        )
        y = check_pair_labels(y, pairs.shape[0], estimator=self)
        return pairs.astype(np.float64, copy=False), y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags

    def _end_pair_fit(self, pairs, y):
        """After a fit on pairs: record the input width and calibrate ``threshold_``."""
        self.n_features_in_ = pairs.shape[2]
        self.__dict__.pop("feature_names_in_", None)
        self._set_threshold(self._pair_distance(pairs), y)

    def _set_threshold(self, distances, y, strategy="accuracy", **params):
        """``threshold_``: the distance that best separates the labeled pairs at
        ``distances`` by ``strategy``; the learner is then a classifier of pairs."""
        self.threshold_, _ = _threshold.best_threshold(distances, y, strategy, **params)
        self.classes_ = np.array(_PAIR_CLASSES)

    def _end_label_fit(self):
        """After a fit on class labels: any old threshold belonged to the old metric."""
        self.__dict__.pop("threshold_", None)
        self.__dict__.pop("classes_", None)

    @available_if(_verifies_pairs)
    @dask_aware
    def decision_function(self, pairs, *, preprocessor=None):
        """``threshold_ - pair_distance(pairs)``: positive for pairs predicted similar.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features)

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
        """
        check_is_fitted(self, "threshold_")
        return self.threshold_ - self.pair_distance(pairs, preprocessor=preprocessor)

    @available_if(_verifies_pairs)
    @dask_aware
    def predict(self, pairs, *, preprocessor=None):
        """Predict +1 (similar) or -1 (dissimilar) for each pair.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_pairs,), values in {-1, +1}
        """
        scores = self.decision_function(pairs, preprocessor=preprocessor)
        return np.where(scores >= 0, 1, -1)

    @available_if(_verifies_pairs)
    def score(self, pairs, y, *, preprocessor=None):
        """Verification accuracy of ``predict(pairs)`` against ``y`` in {-1, +1}."""
        pred = self.predict(pairs, preprocessor=preprocessor)
        y = check_pair_labels(y, len(pred), require_both=False, estimator=self)
        return float(np.mean(pred == y))

    def calibrate_threshold(
        self, pairs, y, *, strategy="accuracy", beta=1.0, max_fpr=0.01, min_rate=None,
        preprocessor=None,
    ):
        """Set ``threshold_`` to the distance that best separates labeled pairs.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features)
            Validation pairs (calibrating on the training pairs is optimistic).
        y : array-like of shape (n_pairs,)
            +1 for similar, -1 for dissimilar pairs.
        strategy : {'accuracy', 'f_beta', 'tpr_at_fpr', 'max_tpr', 'max_tnr'}, \
default='accuracy'
            What to maximize: accuracy; the F-beta score of the similar class; the true
            positive rate among thresholds whose false positive rate is <= ``max_fpr``; the
            true positive rate among thresholds whose true negative rate is >= ``min_rate``
            (``'max_tpr'``); or the true negative rate among thresholds whose true positive
            rate is >= ``min_rate`` (``'max_tnr'``). The last two are metric-learn's.
        beta : float in [0, inf), default=1.0
            Used by ``'f_beta'``: recall counts ``beta`` times as much as precision;
            ``beta=0`` maximizes the precision.
        max_fpr : float in [0, 1], default=0.01
            Used by ``'tpr_at_fpr'``.
        min_rate : float in [0, 1], default=None
            Required by ``'max_tpr'`` and ``'max_tnr'``.
        preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
            A dataset that index pairs refer to, or a callable turning indices into samples;
            None: the learner's own ``preprocessor`` parameter, where it has one.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For an unknown strategy or a parameter out of its range; ``threshold_`` is then
            left as it was.
        """
        check_is_fitted(self)
        _threshold.check_strategy(strategy, beta=beta, max_fpr=max_fpr, min_rate=min_rate)
        distances = self.pair_distance(pairs, preprocessor=preprocessor)
        y = check_pair_labels(y, len(distances), estimator=self)
        self._set_threshold(distances, y, strategy, beta=beta, max_fpr=max_fpr,
                            min_rate=min_rate)
        return self


_TUPLE_NAMES = {3: "triplets", 4: "quadruplets"}


def _classifies_tuples(estimator):
    """Whether ``decision_function`` / ``predict`` / ``score`` on tuples are available.

    As for pairs (see ``_verifies_pairs``): before any fit (where they raise
    ``NotFittedError``) and after a fit on tuples; not after a fit on class labels, where
    scikit-learn expects ``predict(X)`` to predict classes of samples.
    """
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return True
    if not estimator.__dict__.get("_fitted_on_tuples", False):
        what = " or ".join(_TUPLE_NAMES[size] for size in estimator._tuple_sizes)
        raise AttributeError(
            f"{type(estimator).__name__} was fitted on class labels, so it is no classifier "
            f"of {what}: fit it on {what} before decision_function, predict or score, or "
            "compare the pair_distance of the pairs in each tuple."
        )
    return True


class TupleClassifierMixin:
    """Classification of triplets or quadruplets for learners that can be fitted on them.

    A triplet ``(a, p, n)`` states ``d(a, p) < d(a, n)``, a quadruplet ``(a, b, c, d)``
    states ``d(a, b) < d(c, d)`` (a triplet is the quadruplet ``(a, p, a, n)``).
    ``decision_function`` is the margin ``d(c, d) - d(a, b)`` of the learned (not squared)
    distances, positive where the statement holds (scikit-learn's convention: higher means
    more likely true); ``predict`` is +1 where it is positive and -1 otherwise (a tie does not
    satisfy the statement); ``score`` is the accuracy of ``predict``, by default against all
    +1: the fraction of tuples the metric satisfies.

    As for pair classifiers, the three methods exist before the first fit (raising
    ``NotFittedError``) and after a fit on tuples, not after a fit on class labels, where
    the learner is a transformer only.
    """

    #: The tuple sizes classified: 3 (triplets) and/or 4 (quadruplets).
    _tuple_sizes = (3,)

    def _end_tuple_fit(self, n_features):
        """After a fit on tuples: record the input width; the tuple methods are available."""
        self.n_features_in_ = n_features
        self.__dict__.pop("feature_names_in_", None)
        self._fitted_on_tuples = True

    def _end_label_fit(self):
        """After a fit on class labels: the learner classifies no tuples."""
        self.__dict__.pop("_fitted_on_tuples", None)

    def _quadruplets(self, tuples, preprocessor):
        """Validated tuples as float64 quadruplets (n_tuples, 4, n_features)."""
        preprocessor = self._preprocessor(preprocessor, tuples)
        shape = np.shape(tuples)
        size = shape[1] if len(shape) == (2 if preprocessor is not None else 3) else None
        if size not in self._tuple_sizes:
            if len(self._tuple_sizes) == 1:  # check_tuples names the expected shape
                size = self._tuple_sizes[0]
            else:
                what = " or ".join(
                    f"{_TUPLE_NAMES[k]} (n, {k}, n_features)" for k in self._tuple_sizes
                )
                raise ValueError(
                    f"{type(self).__name__} classifies {what} (or integer indices (n, "
                    f"{self._tuple_sizes[0]}) / (n, {self._tuple_sizes[1]}) with a "
                    f"preprocessor); got an array of shape {shape}."
                )
        tuples = check_tuples(
            tuples, tuple_size=size, preprocessor=preprocessor, n_features=self.n_features_in_,
            estimator=self,
        ).astype(np.float64, copy=False)
        return tuples[:, [0, 1, 0, 2]] if size == 3 else tuples

    @available_if(_classifies_tuples)
    @dask_aware
    @uses_threads
    def decision_function(self, tuples, *, preprocessor=None):
        """The margin ``d(c, d) - d(a, b)`` (triplets: ``d(a, n) - d(a, p)``) of each tuple.

        Parameters
        ----------
        tuples : array-like of shape (n_tuples, tuple_size, n_features)
            Triplets ``(a, p, n)`` or quadruplets ``(a, b, c, d)`` (those the learner takes),
            or integer indices (n_tuples, tuple_size) into ``preprocessor``.
        preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
            A dataset that index tuples refer to, or a callable turning indices into
            samples; None: the learner's own ``preprocessor`` parameter, where it has one.

        Returns
        -------
        margins : ndarray of shape (n_tuples,)
            Positive where the first pair is the closer one.
        """
        check_is_fitted(self)
        quads = self._quadruplets(tuples, preprocessor)
        return self._pair_distance(quads[:, 2:]) - self._pair_distance(quads[:, :2])

    @available_if(_classifies_tuples)
    @dask_aware
    def predict(self, tuples, *, preprocessor=None):
        """+1 for tuples whose first pair is the closer one, -1 otherwise.

        Returns
        -------
        y_pred : ndarray of shape (n_tuples,), values in {-1, +1}
        """
        return np.where(self.decision_function(tuples, preprocessor=preprocessor) > 0, 1, -1)

    @available_if(_classifies_tuples)
    def score(self, tuples, y=None, *, preprocessor=None):
        """Accuracy of ``predict(tuples)`` against ``y`` (default: all +1).

        With ``y=None`` this is the fraction of tuples whose statement the learned metric
        satisfies (metric-learn's ``score``); ``y`` in {-1, +1} marks tuples whose statement
        is known to be false with -1.
        """
        pred = self.predict(tuples, preprocessor=preprocessor)
        if y is None:
            return float(np.mean(pred == 1))
        y = np.asarray(y)
        if y.shape != pred.shape or y.dtype.kind not in "biuf" or not np.all(np.isin(y, (-1, 1))):
            raise ValueError(
                f"{type(self).__name__}.score expects y=None or one label in {{-1, +1}} per "
                f"tuple, an array of shape {pred.shape}; got an array of shape {y.shape} "
                f"and dtype {y.dtype}."
            )
        return float(np.mean(pred == y))
