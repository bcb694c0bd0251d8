"""metric-learn 0.7's public names and constructor signatures, on skdml's learners.

For code written against metric-learn (``scikit-learn-contrib/metric-learn``, whose 0.7.0
no longer imports on scikit-learn >= 1.8)::

    from skdml.compat import metric_learn
    # or, leaving the code untouched:  import skdml.compat.metric_learn as metric_learn

Every class here keeps metric-learn's name, constructor signature (parameter names, order
and defaults, deprecated spellings included) and methods (``fit`` with its input forms,
``transform``, ``pair_distance``, ``pair_score``, ``score_pairs``, ``get_metric``,
``get_mahalanobis_matrix``, for pair learners ``predict``, ``decision_function``,
``score``, ``set_threshold``, ``calibrate_threshold``, and for triplet and quadruplet
learners ``predict``, ``decision_function``, ``score``). ``fit`` builds the skdml learner it
maps onto, with renamed parameters, and fits it on the same data; that learner is kept as
``skdml_estimator_``, and ``components_`` is its ``components_``. Nothing is re-implemented:
the adapters rename parameters and adapt input forms (metric-learn's ``preprocessor``, an
array or a callable that turns indices into samples).

So the metric learned is skdml's, not metric-learn's: skdml standardizes features inside
most learners, samples its own constraints from labels, and solves with its own solvers.
Where skdml has no counterpart of a metric-learn parameter that changes the result, only
metric-learn's default is accepted and any other value raises ``NotImplementedError`` naming
the difference; a parameter that only steers metric-learn's own optimizer (LMNN's
``learn_rate`` and ``min_iter``, MMC's ``max_proj`` and ``init``) is ignored with a
``UserWarning`` saying why. Where a behaviour is missing (LSML's ``weights``), the call raises
``NotImplementedError`` too. The migration page of the documentation lists every mapping.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from skdml.compat.metric_learn import NCA
>>> X, y = load_iris(return_X_y=True)
>>> nca = NCA(n_components=2, max_iter=20, random_state=0).fit(X, y)
>>> type(nca.skdml_estimator_).__name__, nca.transform(X).shape
('NCA', (150, 2))
"""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import ClassifierTags, check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import linear
from .._threshold import check_strategy
from .._validation import input_ndim
from ..constraints import pairs_from_labels
from ..linear.rca import _chunks_from_labels
from ..linear.scml import _neighbor_triplets
from ..metrics import verification_roc_auc

__all__ = [
    "Constraints",
    "Covariance",
    "ITML",
    "ITML_Supervised",
    "LFDA",
    "LMNN",
    "LSML",
    "LSML_Supervised",
    "MLKR",
    "MMC",
    "MMC_Supervised",
    "NCA",
    "RCA",
    "RCA_Supervised",
    "SCML",
    "SCML_Supervised",
    "SDML",
    "SDML_Supervised",
    "wrap_pairs",
]

_SEE = "see the migration page of skdml's documentation"


# --------------------------------------------------------------------------- helpers
def _is_default(value, default):
    """Whether ``value`` is metric-learn's default ``default`` (numbers compared by value)."""
    if isinstance(value, np.ndarray):
        return False
    if isinstance(default, numbers.Real) and not isinstance(default, bool):
        return (isinstance(value, numbers.Real) and not isinstance(value, bool)
                and float(value) == float(default))
    return type(value) is type(default) and value == default


class _Fitted:
    """A learned attribute of the adapter that is the skdml learner's own (read and write).

    Setting it (``learner.components_ = L``, as metric-learn's users may) sets it on
    ``skdml_estimator_``, so ``transform`` and ``get_metric`` use it.
    """

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        estimator = instance.__dict__.get("skdml_estimator_")
        if estimator is None or not hasattr(estimator, self.name):
            raise AttributeError(
                f"{type(instance).__name__} has no attribute {self.name!r}"
                + ("" if estimator is not None else " (not fitted yet)")
            )
        return getattr(estimator, self.name)

    def __set__(self, instance, value):
        check_is_fitted(instance)
        setattr(instance.skdml_estimator_, self.name, value)


class MahalanobisMixin(BaseEstimator):
    """The part every adapter shares: build, fit and delegate to one skdml learner.

    A subclass names the skdml class (``_skdml_class``) and turns its metric-learn
    parameters into skdml's (``_skdml_params``); this class handles metric-learn's
    ``preprocessor`` and offers metric-learn's methods on the fitted learner.

    Attributes
    ----------
    skdml_estimator_ : skdml learner
        The fitted skdml learner the adapter maps onto.
    components_ : ndarray of shape (n_components, n_features)
        ``skdml_estimator_.components_``.
    n_features_in_ : int
    """

    _skdml_class = None
    components_ = _Fitted()
    n_features_in_ = _Fitted()
    feature_names_in_ = _Fitted()

    # --- parameters --------------------------------------------------------------------
    def _skdml_params(self):
        """Keyword arguments of the skdml learner (subclasses)."""
        raise NotImplementedError

    def _renamed(self, new, old):
        """A parameter metric-learn 0.7 still accepts under its 0.6 name ``old``."""
        value = getattr(self, old)
        if isinstance(value, str) and value == "deprecated":
            return getattr(self, new)
        warnings.warn(
            f'"{old}" parameter has been renamed to "{new}" (metric-learn 0.6.3).',
            FutureWarning,
        )
        return value

    def _only_default(self, name, default, why):
        """Raise unless parameter ``name`` is at metric-learn's ``default``."""
        value = getattr(self, name)
        if not _is_default(value, default):
            raise NotImplementedError(
                f"{type(self).__name__}({name}={value!r}): {why}. Only metric-learn's "
                f"default {name}={default!r} is accepted ({_SEE})."
            )

    def _ignored(self, name, default, why):
        """Warn that parameter ``name``, away from metric-learn's ``default``, is ignored."""
        value = getattr(self, name)
        if not _is_default(value, default):
            warnings.warn(
                f"{type(self).__name__}({name}={value!r}) is ignored: {why} ({_SEE}).",
                UserWarning,
            )

    def _prior(self):
        """metric-learn's ``prior`` for skdml: the same names, and arrays as float arrays."""
        prior = self.prior
        return prior if isinstance(prior, str) else np.asarray(prior, dtype=np.float64)

    # --- metric-learn's preprocessor ----------------------------------------------------
    def _indexer(self):
        """The preprocessor: None, an array indexed by the inputs, or a callable."""
        p = self.preprocessor
        if p is None or callable(p):
            return p
        if isinstance(p, (str, bytes, dict, numbers.Number)):
            raise ValueError(
                f"{type(self).__name__}: preprocessor must be None, an array-like of shape "
                f"(n_samples, n_features) or a callable turning indices into samples; got "
                f"{type(p).__name__}."
            )
        return np.asarray(p)

    def _points(self, X):
        """Samples: ``X`` itself, or ``preprocessor`` applied to 1-D indices ``X``."""
        p = self._indexer()
        if p is None or input_ndim(X) != 1:
            return X
        X = np.asarray(X)
        return p(X) if callable(p) else p[X]

    def _tuples(self, tuples):
        """Tuples, and the keywords skdml needs: the preprocessor (an array or a callable)
        goes to skdml as is, with index tuples."""
        p = self._indexer()
        if p is None or input_ndim(tuples) != 2:
            return tuples, {}
        return tuples, {"preprocessor": p}

    def _samples(self, X):
        """Samples (n_samples, n_features), formed from indices by the preprocessor."""
        X = self._points(X)
        if input_ndim(X) != 2:
            raise ValueError(
                f"{type(self).__name__} is fitted on samples of shape (n_samples, "
                f"n_features) (or 1-D indices with a preprocessor); got an array of shape "
                f"{np.shape(X)}."
            )
        return X

    def _check_tuple_input(self, tuples, kwargs, size):
        if not kwargs and input_ndim(tuples) != 3:
            what = {2: "pairs", 3: "triplets", 4: "quadruplets"}[size]
            raise ValueError(
                f"{type(self).__name__} is fitted on {what} of shape (n_{what}, {size}, "
                f"n_features), or on integer indices (n_{what}, {size}) with a preprocessor; "
                f"got an array of shape {np.shape(tuples)}. For samples with class labels "
                f"use {type(self).__name__}_Supervised."
            )

    # --- fitting ------------------------------------------------------------------------
    def _new_skdml(self, extra_params=None):
        """A new skdml learner with the renamed parameters (and ``extra_params``)."""
        return self._skdml_class(**{**self._skdml_params(), **(extra_params or {})})

    def _fit_skdml(self, *args, extra_params=None, **kwargs):
        """Fit a new skdml learner; only once it is fitted does it replace the old one."""
        self.skdml_estimator_ = self._new_skdml(extra_params).fit(*args, **kwargs)
        return self

    # --- metric-learn's methods, on the fitted skdml learner ---------------------------
    def transform(self, X):
        """Embed ``X`` (samples, or 1-D indices with a preprocessor): ``X @ components_.T``."""
        check_is_fitted(self)
        return self.skdml_estimator_.transform(self._points(X))

    def pair_distance(self, pairs):
        """The learned distance of each pair (n_pairs, 2, n_features) or index pair."""
        check_is_fitted(self)
        pairs, kwargs = self._tuples(pairs)
        return self.skdml_estimator_.pair_distance(pairs, **kwargs)

    def pair_score(self, pairs):
        """The learned similarity ``-pair_distance(pairs)`` of each pair."""
        check_is_fitted(self)
        pairs, kwargs = self._tuples(pairs)
        return self.skdml_estimator_.pair_score(pairs, **kwargs)

    def score_pairs(self, pairs):
        """Deprecated in metric-learn 0.7: the learned *distance* of each pair."""
        warnings.warn(
            "score_pairs will be deprecated in release 0.7.0 of metric-learn; it returns "
            "distances. Use pair_score for similarity scores or pair_distance for "
            "distances.",
            FutureWarning,
        )
        return self.pair_distance(pairs)

    def get_metric(self):
        """A picklable callable ``d(u, v, squared=False)`` of the learned distance (skdml's)."""
        check_is_fitted(self)
        return self.skdml_estimator_.get_metric()

    def get_mahalanobis_matrix(self):
        """``M = components_.T @ components_``."""
        check_is_fitted(self)
        return self.skdml_estimator_.get_mahalanobis_matrix()

    def get_feature_names_out(self, input_features=None):
        """Names of the embedding's dimensions (those of the skdml learner)."""
        check_is_fitted(self)
        return self.skdml_estimator_.get_feature_names_out(input_features)


class _SupervisedMixin(TransformerMixin):
    """``fit(X, y)`` on samples (or 1-D indices with a preprocessor) and labels."""

    def fit(self, X, y):
        """Fit the skdml learner on samples and their labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or (n_samples,) indices
            With a preprocessor, indices into it.
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        return self._fit_labeled(X, y)

    def _fit_labeled(self, X, y, extra_params=None):
        X, y = self._labeled(self._samples(X), y)
        return self._fit_skdml(X, y, extra_params=extra_params)

    def _labeled(self, X, y):
        return X, y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self._skdml_class().__sklearn_tags__().target_tags.required
        return tags


class _PartialLabelsMixin(_SupervisedMixin):
    """metric-learn's ``*_Supervised`` learners that draw constraints with ``Constraints``.

    Their labels are partial: a negative label (``-1``) marks an unlabeled sample, which
    takes no part in any constraint. skdml's learners take every label as a class, so the
    unlabeled samples are left out before the fit.
    """

    def _labeled(self, X, y):
        labels = np.asarray(y)
        if labels.dtype.kind not in "iuf" or labels.ndim != 1 or not np.any(labels < 0):
            return X, y
        known = labels >= 0
        return np.asarray(X)[known], labels[known]


_CALIBRATION_STRATEGIES = ("accuracy", "f_beta", "max_tpr", "max_tnr")


def _calibration(strategy="accuracy", min_rate=None, beta=1.0):
    """metric-learn's calibration parameters as skdml's ``calibrate_threshold`` keywords.

    skdml has metric-learn's four strategies; they are checked here, before any fit.
    """
    if not isinstance(strategy, str) or strategy not in _CALIBRATION_STRATEGIES:
        raise ValueError(
            f"strategy must be one of {_CALIBRATION_STRATEGIES}, got {strategy!r}."
        )
    params = {"strategy": strategy, "beta": beta, "min_rate": min_rate}
    check_strategy(**params)
    return params


class _PairsClassifierMixin:
    """Learners fitted on labeled pairs: metric-learn's pair classifier methods.

    ``decision_function`` is metric-learn's (``pair_score``, i.e. ``-distance``), ``predict``
    is skdml's (``+1`` where the distance is at most ``threshold_``), ``score`` is
    metric-learn's ROC AUC (:func:`skdml.metrics.verification_roc_auc`).
    """

    _tuple_size = 2

    def fit(self, pairs, y, calibration_params=None):
        """Fit on labeled pairs; optionally calibrate the threshold on them.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features), or (n_pairs, 2) indices
        y : array-like of shape (n_pairs,), +1 similar, -1 dissimilar
        calibration_params : dict, default=None
            Keywords of :meth:`calibrate_threshold`; ``None``: accuracy on ``pairs``.
        """
        return self._fit_pairs(pairs, y, calibration_params)

    def _fit_pairs(self, pairs, y, calibration_params, extra_params=None):
        calibration = _calibration(**(calibration_params or {}))
        formed, kwargs = self._tuples(pairs)
        self._check_tuple_input(formed, kwargs, 2)
        estimator = self._new_skdml(extra_params).fit(formed, y, **kwargs)
        if calibration_params is not None:
            estimator.calibrate_threshold(formed, y, **calibration, **kwargs)
        self.skdml_estimator_ = estimator
        return self

    #: Pairs at a distance ``<= threshold_`` are predicted similar.
    threshold_ = _Fitted()

    def decision_function(self, pairs):
        """metric-learn's decision function: ``pair_score(pairs)``, larger for similar."""
        return self.pair_score(pairs)

    def predict(self, pairs):
        """+1 for pairs at a distance ``<= threshold_``, -1 otherwise."""
        check_is_fitted(self)
        pairs, kwargs = self._tuples(pairs)
        return self.skdml_estimator_.predict(pairs, **kwargs)

    def score(self, pairs, y):
        """metric-learn's score of pair classifiers: ROC AUC of ``decision_function``."""
        return verification_roc_auc(y, self.decision_function(pairs))

    def set_threshold(self, threshold):
        """Set ``threshold_`` (a distance) by hand."""
        check_is_fitted(self)
        if not isinstance(threshold, numbers.Real) or isinstance(threshold, bool):
            raise ValueError(
                f"Parameter threshold must be a real number. Got {type(threshold)} instead."
            )
        self.threshold_ = float(threshold)
        return self

    @property
    def classes_(self):
        """``[-1, 1]``: dissimilar and similar, as scikit-learn's scorers read them."""
        check_is_fitted(self)
        return np.array([-1, 1])

    def __sklearn_tags__(self):
        # a binary classifier of pairs, as metric-learn's: cross-validation stratifies
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags

    def calibrate_threshold(self, pairs_valid, y_valid, strategy="accuracy", min_rate=None,
                            beta=1.0):
        """Set ``threshold_`` from validation pairs (skdml's ``calibrate_threshold``).

        skdml has metric-learn's strategies: ``'accuracy'``, ``'f_beta'`` (``beta >= 0``),
        ``'max_tpr'`` (highest true positive rate with a true negative rate
        ``>= min_rate``) and ``'max_tnr'`` (highest true negative rate with a true positive
        rate ``>= min_rate``).
        """
        calibration = _calibration(strategy, min_rate, beta)
        check_is_fitted(self)
        pairs, kwargs = self._tuples(pairs_valid)
        self.skdml_estimator_.calibrate_threshold(pairs, y_valid, **calibration, **kwargs)
        return self


class _TupleClassifierMixin:
    """Learners fitted on triplets or quadruplets: skdml's classification of tuples.

    ``decision_function`` is ``d(a, n) - d(a, p)`` on triplets and ``d(c, d) - d(a, b)`` on
    quadruplets, as in metric-learn; ``predict`` is +1 where it is positive and -1 otherwise
    (metric-learn's ``np.sign`` gives 0 on a tie); ``score`` is the fraction of tuples
    predicted +1, as in metric-learn.
    """

    def decision_function(self, tuples):
        """``d`` of the second pair minus ``d`` of the first: positive where the tuple holds."""
        check_is_fitted(self)
        tuples, kwargs = self._tuples(tuples)
        return self.skdml_estimator_.decision_function(tuples, **kwargs)

    def predict(self, tuples):
        """+1 for tuples whose first pair is the closer one, -1 otherwise."""
        check_is_fitted(self)
        tuples, kwargs = self._tuples(tuples)
        return self.skdml_estimator_.predict(tuples, **kwargs)

    def score(self, tuples):
        """The fraction of tuples the learned metric satisfies (predicted +1)."""
        check_is_fitted(self)
        tuples, kwargs = self._tuples(tuples)
        return self.skdml_estimator_.score(tuples, **kwargs)


class _TripletsClassifierMixin(_TupleClassifierMixin):
    """Learners fitted on triplets ``(a, p, n)``."""

    _tuple_size = 3


class _QuadrupletsClassifierMixin(_TupleClassifierMixin):
    """Learners fitted on quadruplets ``(a, b, c, d)``."""

    _tuple_size = 4


# --------------------------------------------------------------------------- ITML
class _BaseITML(MahalanobisMixin):
    _skdml_class = linear.ITML
    bounds_ = _Fitted()
    n_iter_ = _Fitted()

    def _skdml_params(self):
        return dict(
            gamma=self.gamma, max_iter=self.max_iter,
            tol=self._renamed("tol", "convergence_threshold"), prior=self._prior(),
            verbose=self.verbose, random_state=self.random_state,
        )

    @staticmethod
    def _bounds(bounds):
        return {} if bounds is None else {"bounds": tuple(np.ravel(bounds))}


class ITML(_PairsClassifierMixin, _BaseITML):
    """metric-learn's ``ITML`` (pairs) on :class:`skdml.ITML`.

    ``fit(pairs, y, bounds=None, calibration_params=None)``; ``bounds`` becomes skdml's
    ``bounds`` parameter (squared distances on standardized features).
    """

    def __init__(self, gamma=1., max_iter=1000, tol=1e-3, prior='identity', verbose=False,
                 preprocessor=None, random_state=None, convergence_threshold='deprecated'):
        self.gamma = gamma
        self.max_iter = max_iter
        self.tol = tol
        self.prior = prior
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.convergence_threshold = convergence_threshold

    def fit(self, pairs, y, bounds=None, calibration_params=None):
        """Fit on labeled pairs (see :class:`skdml.ITML`)."""
        return self._fit_pairs(pairs, y, calibration_params, self._bounds(bounds))


class ITML_Supervised(_PartialLabelsMixin, _BaseITML):
    """metric-learn's ``ITML_Supervised`` on ``skdml.ITML(constraints='random')``.

    ``n_constraints`` pairs of each kind become ``n_constraints=2 * n_constraints`` pairs in
    all (half similar); ``None`` is skdml's default, ``20 * n_classes ** 2`` pairs in all.
    """

    def __init__(self, gamma=1.0, max_iter=1000, tol=1e-3, n_constraints=None,
                 prior='identity', verbose=False, preprocessor=None, random_state=None,
                 num_constraints='deprecated', convergence_threshold='deprecated'):
        self.gamma = gamma
        self.max_iter = max_iter
        self.tol = tol
        self.n_constraints = n_constraints
        self.prior = prior
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.num_constraints = num_constraints
        self.convergence_threshold = convergence_threshold

    def _skdml_params(self):
        n = self._renamed("n_constraints", "num_constraints")
        return {**super()._skdml_params(), "constraints": "random",
                "n_constraints": None if n is None else 2 * n}

    def fit(self, X, y, bounds=None):
        """Fit on samples and class labels (see :class:`skdml.ITML`)."""
        return self._fit_labeled(X, y, extra_params=self._bounds(bounds))


# --------------------------------------------------------------------------- SDML
class _BaseSDML(MahalanobisMixin):
    _skdml_class = linear.SDML

    def _skdml_params(self):
        return dict(
            balance_param=self.balance_param, sparsity_param=self.sparsity_param,
            prior=self._prior(), random_state=self.random_state,
        )


class SDML(_PairsClassifierMixin, _BaseSDML):
    """metric-learn's ``SDML`` (pairs) on :class:`skdml.SDML`; ``verbose`` has no effect."""

    def __init__(self, balance_param=0.5, sparsity_param=0.01, prior='identity',
                 verbose=False, preprocessor=None, random_state=None):
        self.balance_param = balance_param
        self.sparsity_param = sparsity_param
        self.prior = prior
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state


class SDML_Supervised(_PartialLabelsMixin, _BaseSDML):
    """metric-learn's ``SDML_Supervised`` on :class:`skdml.SDML` fitted from labels.

    ``n_constraints``: pairs of each kind, as in metric-learn.
    """

    def __init__(self, balance_param=0.5, sparsity_param=0.01, prior='identity',
                 n_constraints=None, verbose=False, preprocessor=None, random_state=None,
                 num_constraints='deprecated'):
        self.balance_param = balance_param
        self.sparsity_param = sparsity_param
        self.prior = prior
        self.n_constraints = n_constraints
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.num_constraints = num_constraints

    def _skdml_params(self):
        return {**super()._skdml_params(),
                "n_constraints": self._renamed("n_constraints", "num_constraints")}


# --------------------------------------------------------------------------- MMC
class _BaseMMC(MahalanobisMixin):
    _skdml_class = linear.MMC
    n_iter_ = _Fitted()

    def _skdml_params(self):
        self._ignored("max_proj", 10000, "skdml's MMC has no inner projection loop to "
                      "bound (L-BFGS inside the PSD cone by default; one eigenvalue "
                      "clipping per step with barrier=0)")
        self._ignored("init", "identity", "skdml's MMC solves the convex program from "
                      "its own start; its optimum does not depend on one")
        self._only_default("diagonal_c", 1.0, "skdml's diagonal MMC has no weight on its "
                           "dissimilar term")
        return dict(
            diagonal=self.diagonal, max_iter=self.max_iter,
            tol=self._renamed("tol", "convergence_threshold"), verbose=self.verbose,
            random_state=self.random_state,
        )


class MMC(_PairsClassifierMixin, _BaseMMC):
    """metric-learn's ``MMC`` (pairs) on :class:`skdml.MMC`."""

    def __init__(self, max_iter=100, max_proj=10000, tol=1e-3, init='identity',
                 diagonal=False, diagonal_c=1.0, verbose=False, preprocessor=None,
                 random_state=None, convergence_threshold='deprecated'):
        self.max_iter = max_iter
        self.max_proj = max_proj
        self.tol = tol
        self.init = init
        self.diagonal = diagonal
        self.diagonal_c = diagonal_c
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.convergence_threshold = convergence_threshold


class MMC_Supervised(_PartialLabelsMixin, _BaseMMC):
    """metric-learn's ``MMC_Supervised`` on :class:`skdml.MMC` fitted from labels.

    ``n_constraints``: pairs of each kind, as in metric-learn.
    """

    def __init__(self, max_iter=100, max_proj=10000, tol=1e-6, n_constraints=None,
                 init='identity', diagonal=False, diagonal_c=1.0, verbose=False,
                 preprocessor=None, random_state=None, num_constraints='deprecated',
                 convergence_threshold='deprecated'):
        self.max_iter = max_iter
        self.max_proj = max_proj
        self.tol = tol
        self.n_constraints = n_constraints
        self.init = init
        self.diagonal = diagonal
        self.diagonal_c = diagonal_c
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.num_constraints = num_constraints
        self.convergence_threshold = convergence_threshold

    def _skdml_params(self):
        return {**super()._skdml_params(),
                "n_constraints": self._renamed("n_constraints", "num_constraints")}


# --------------------------------------------------------------------------- LSML
class _BaseLSML(MahalanobisMixin):
    _skdml_class = linear.LSML
    n_iter_ = _Fitted()

    def _skdml_params(self):
        return dict(
            prior=self._prior(), max_iter=self.max_iter, tol=self.tol,
            verbose=self.verbose, random_state=self.random_state,
        )


class LSML(_QuadrupletsClassifierMixin, _BaseLSML):
    """metric-learn's ``LSML`` (quadruplets) on :class:`skdml.LSML`.

    ``fit(quadruplets, weights=None)``; per-quadruplet ``weights`` raise
    ``NotImplementedError``. ``decision_function``, ``predict`` and ``score`` classify
    quadruplets (skdml's :class:`skdml.LSML`).
    """

    def __init__(self, tol=1e-3, max_iter=1000, prior='identity', verbose=False,
                 preprocessor=None, random_state=None):
        self.tol = tol
        self.max_iter = max_iter
        self.prior = prior
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state

    def fit(self, quadruplets, weights=None):
        """Fit on quadruplets ``(a, b, c, d)`` meaning ``d(a, b) < d(c, d)``."""
        if weights is not None:
            raise NotImplementedError(
                f"LSML.fit(weights=...): skdml's LSML weighs every quadruplet equally ({_SEE})."
            )
        formed, kwargs = self._tuples(quadruplets)
        self._check_tuple_input(formed, kwargs, 4)
        return self._fit_skdml(formed, **kwargs)


class LSML_Supervised(_PartialLabelsMixin, _BaseLSML):
    """metric-learn's ``LSML_Supervised`` on :class:`skdml.LSML` fitted from labels.

    skdml samples ``n_constraints`` triplets (anchor, same class, other class) where
    metric-learn pairs ``n_constraints`` similar with as many dissimilar pairs.
    """

    def __init__(self, tol=1e-3, max_iter=1000, prior='identity', n_constraints=None,
                 weights=None, verbose=False, preprocessor=None, random_state=None,
                 num_constraints='deprecated'):
        self.tol = tol
        self.max_iter = max_iter
        self.prior = prior
        self.n_constraints = n_constraints
        self.weights = weights
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.num_constraints = num_constraints

    def _skdml_params(self):
        if self.weights is not None:
            raise NotImplementedError(
                f"LSML_Supervised(weights=...): skdml's LSML weighs every constraint equally "
                f"({_SEE})."
            )
        return {**super()._skdml_params(),
                "n_constraints": self._renamed("n_constraints", "num_constraints")}


# --------------------------------------------------------------------------- SCML
class _BaseSCML(MahalanobisMixin):
    _skdml_class = linear.SCML
    n_iter_ = _Fitted()

    def _skdml_params(self):
        self._only_default("gamma", 5e-3, "skdml's SCML takes its step size on distance "
                           "differences rescaled to unit magnitude, where metric-learn's acts "
                           "on raw ones: pass skdml.SCML(gamma=...) (default 10) instead")
        return dict(
            beta=self.beta, basis=self.basis, n_basis=self.n_basis, max_iter=self.max_iter,
            output_iter=self.output_iter, batch_size=self.batch_size, verbose=self.verbose,
            random_state=self.random_state,
        )


class SCML(_TripletsClassifierMixin, _BaseSCML):
    """metric-learn's ``SCML`` (triplets) on :class:`skdml.SCML`.

    ``decision_function``, ``predict`` and ``score`` classify triplets (skdml's
    :class:`skdml.SCML`).
    """

    def __init__(self, beta=1e-5, basis='triplet_diffs', n_basis=None, gamma=5e-3,
                 max_iter=10000, output_iter=500, batch_size=10, verbose=False,
                 preprocessor=None, random_state=None):
        self.beta = beta
        self.basis = basis
        self.n_basis = n_basis
        self.gamma = gamma
        self.max_iter = max_iter
        self.output_iter = output_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state

    def fit(self, triplets):
        """Fit on triplets ``(a, p, n)`` meaning ``d(a, p) < d(a, n)``."""
        formed, kwargs = self._tuples(triplets)
        self._check_tuple_input(formed, kwargs, 3)
        return self._fit_skdml(formed, **kwargs)


class SCML_Supervised(_PartialLabelsMixin, _BaseSCML):
    """metric-learn's ``SCML_Supervised`` on :class:`skdml.SCML` fitted from labels."""

    def __init__(self, k_genuine=3, k_impostor=10, beta=1e-5, basis='lda', n_basis=None,
                 gamma=5e-3, max_iter=10000, output_iter=500, batch_size=10, verbose=False,
                 preprocessor=None, random_state=None):
        self.k_genuine = k_genuine
        self.k_impostor = k_impostor
        self.beta = beta
        self.basis = basis
        self.n_basis = n_basis
        self.gamma = gamma
        self.max_iter = max_iter
        self.output_iter = output_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state

    def _skdml_params(self):
        return {**super()._skdml_params(), "k_genuine": self.k_genuine,
                "k_impostor": self.k_impostor}


# --------------------------------------------------------------------------- RCA
class RCA(MahalanobisMixin):
    """metric-learn's ``RCA`` on :class:`skdml.RCA`: ``fit(X, chunks)``, -1 for no chunk."""

    _skdml_class = linear.RCA

    def __init__(self, n_components=None, preprocessor=None):
        self.n_components = n_components
        self.preprocessor = preprocessor

    def _skdml_params(self):
        return {"n_components": self.n_components}

    def fit(self, X, chunks):
        """Fit on samples and their chunk ids (-1: in no chunklet)."""
        return self._fit_skdml(self._samples(X), chunks=chunks)


class RCA_Supervised(_PartialLabelsMixin, RCA):
    """metric-learn's ``RCA_Supervised`` on :class:`skdml.RCA` fitted from labels.

    ``n_chunks`` (or its 0.6 spelling ``num_chunks``) is skdml's ``num_chunks``.
    """

    def __init__(self, n_components=None, n_chunks=100, chunk_size=2, preprocessor=None,
                 random_state=None, num_chunks='deprecated'):
        self.n_components = n_components
        self.n_chunks = n_chunks
        self.chunk_size = chunk_size
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.num_chunks = num_chunks

    def _skdml_params(self):
        return {"n_components": self.n_components,
                "num_chunks": self._renamed("n_chunks", "num_chunks"),
                "chunk_size": self.chunk_size, "random_state": self.random_state}


# --------------------------------------------------------------------------- supervised
class LMNN(_SupervisedMixin, MahalanobisMixin):
    """metric-learn's ``LMNN`` on :class:`skdml.LMNN`.

    ``convergence_tol`` is skdml's ``tol``; ``init='auto'`` is skdml's ``init='auto'``
    (metric-learn's rule); ``k`` is the 0.6 spelling of ``n_neighbors``. skdml optimizes
    with L-BFGS: ``min_iter`` and ``learn_rate`` accept only metric-learn's defaults.
    """

    _skdml_class = linear.LMNN
    n_iter_ = _Fitted()

    def __init__(self, init='auto', n_neighbors=3, min_iter=50, max_iter=1000,
                 learn_rate=1e-7, regularization=0.5, convergence_tol=0.001, verbose=False,
                 preprocessor=None, n_components=None, random_state=None, k='deprecated'):
        self.init = init
        self.n_neighbors = n_neighbors
        self.min_iter = min_iter
        self.max_iter = max_iter
        self.learn_rate = learn_rate
        self.regularization = regularization
        self.convergence_tol = convergence_tol
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.n_components = n_components
        self.random_state = random_state
        self.k = k

    def _skdml_params(self):
        self._ignored("min_iter", 50, "skdml's LMNN stops on its tolerance alone")
        self._ignored("learn_rate", 1e-7, "skdml's LMNN optimizes with L-BFGS, which "
                      "has no learning rate")
        return dict(
            n_neighbors=self._renamed("n_neighbors", "k"), n_components=self.n_components,
            init=self.init, regularization=self.regularization, max_iter=self.max_iter,
            tol=self.convergence_tol, verbose=self.verbose, random_state=self.random_state,
        )


def _gradient_params(adapter):
    """NCA's and MLKR's parameters: the same names; ``tol=None`` is skdml's default."""
    params = dict(n_components=adapter.n_components, init=adapter.init,
                  max_iter=adapter.max_iter, verbose=adapter.verbose,
                  random_state=adapter.random_state)
    return params if adapter.tol is None else {**params, "tol": adapter.tol}


class NCA(_SupervisedMixin, MahalanobisMixin):
    """metric-learn's ``NCA`` on :class:`skdml.NCA`; ``tol=None`` is skdml's default."""

    _skdml_class = linear.NCA
    n_iter_ = _Fitted()

    def __init__(self, init='auto', n_components=None, max_iter=100, tol=None,
                 verbose=False, preprocessor=None, random_state=None):
        self.init = init
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state

    def _skdml_params(self):
        return _gradient_params(self)


class MLKR(_SupervisedMixin, MahalanobisMixin):
    """metric-learn's ``MLKR`` on :class:`skdml.MLKR`; ``tol=None`` is skdml's default."""

    _skdml_class = linear.MLKR
    n_iter_ = _Fitted()

    def __init__(self, n_components=None, init='auto', tol=None, max_iter=1000,
                 verbose=False, preprocessor=None, random_state=None):
        self.n_components = n_components
        self.init = init
        self.tol = tol
        self.max_iter = max_iter
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state

    def _skdml_params(self):
        return _gradient_params(self)


class LFDA(_SupervisedMixin, MahalanobisMixin):
    """metric-learn's ``LFDA`` on :class:`skdml.LFDA`; ``k=None`` is skdml's default (7)."""

    _skdml_class = linear.LFDA

    def __init__(self, n_components=None, k=None, embedding_type='weighted',
                 preprocessor=None):
        self.n_components = n_components
        self.k = k
        self.embedding_type = embedding_type
        self.preprocessor = preprocessor

    def _skdml_params(self):
        params = dict(n_components=self.n_components, embedding_type=self.embedding_type)
        return params if self.k is None else {**params, "k": self.k}


class Covariance(_SupervisedMixin, MahalanobisMixin):
    """metric-learn's ``Covariance`` on :class:`skdml.Covariance` (``fit(X, y=None)``)."""

    _skdml_class = linear.Covariance

    def __init__(self, preprocessor=None):
        self.preprocessor = preprocessor

    def _skdml_params(self):
        return {}

    def fit(self, X, y=None):
        """Estimate the covariance of ``X``."""
        return self._fit_skdml(self._samples(X))


# --------------------------------------------------------------------------- constraints
class Constraints:
    """metric-learn's ``Constraints``: tuples of indices from partial labels (-1: unknown).

    Each method runs skdml's sampler on the labeled samples and returns indices into all of
    them: :func:`skdml.constraints.pairs_from_labels` (pairs drawn with replacement, exactly
    ``n_constraints`` of each kind), the chunklet sampler of :class:`skdml.RCA` (fewer
    chunklets with a warning where metric-learn raises), and the neighbour triplets of
    :class:`skdml.SCML` (found on standardized features).

    Parameters
    ----------
    partial_labels : array-like of int, shape (n_samples,)
        Class labels, ``-1`` (any negative value) for unlabeled samples.
    """

    def __init__(self, partial_labels):
        self.partial_labels = np.asanyarray(partial_labels, dtype=int)

    def _known(self):
        known = np.flatnonzero(self.partial_labels >= 0)
        return known, self.partial_labels[known]

    def positive_negative_pairs(self, n_constraints, same_length=False, random_state=None,
                                num_constraints='deprecated'):
        """``a, b, c, d``: similar pairs ``(a[i], b[i])``, dissimilar pairs ``(c[i], d[i])``."""
        if not (isinstance(num_constraints, str) and num_constraints == "deprecated"):
            warnings.warn('"num_constraints" parameter has been renamed to "n_constraints".',
                          FutureWarning)
            n_constraints = num_constraints
        known, labels = self._known()
        idx, y = pairs_from_labels(labels, 2 * n_constraints,
                                   random_state=check_random_state(random_state))
        similar, dissimilar = known[idx[y == 1]], known[idx[y == -1]]
        return similar[:, 0], similar[:, 1], dissimilar[:, 0], dissimilar[:, 1]

    def chunks(self, n_chunks=100, chunk_size=2, random_state=None, num_chunks='deprecated'):
        """Chunk id of each sample (-1: in no chunklet), ``chunk_size`` samples of a class each."""
        if not (isinstance(num_chunks, str) and num_chunks == "deprecated"):
            warnings.warn('"num_chunks" parameter has been renamed to "n_chunks".',
                          FutureWarning)
            n_chunks = num_chunks
        known, labels = self._known()
        _, encoded = np.unique(labels, return_inverse=True)
        chunks = np.full(len(self.partial_labels), -1, dtype=int)
        chunks[known] = _chunks_from_labels(encoded, n_chunks, chunk_size,
                                            check_random_state(random_state))
        return chunks

    def generate_knntriplets(self, X, k_genuine, k_impostor):
        """Triplets (anchor, one of its ``k_genuine`` same-class neighbours, one of its
        ``k_impostor`` other-class neighbours), as an (n_triplets, 3) index array.

        Where a class has too few samples for ``k_genuine`` neighbours (or the other classes
        too few for ``k_impostor``), its anchors take them all, with a ``UserWarning``, as in
        metric-learn.
        """
        known, labels = self._known()
        X = np.asarray(X, dtype=np.float64)[known]
        classes, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
        for label, count in zip(classes, counts):
            if count - 1 < k_genuine:
                warnings.warn(
                    f"Constraints.generate_knntriplets: class {label} has {count} samples, "
                    f"too few for k_genuine={k_genuine} genuine neighbours each; each of its "
                    f"samples gets {count - 1}.", UserWarning,
                )
            if len(labels) - count < k_impostor:
                warnings.warn(
                    f"Constraints.generate_knntriplets: the classes other than {label} have "
                    f"{len(labels) - count} samples, too few for k_impostor={k_impostor} "
                    f"impostors each; each sample of class {label} gets "
                    f"{len(labels) - count}.", UserWarning,
                )
        return known[_neighbor_triplets(X, codes, k_genuine, k_impostor)]


def wrap_pairs(X, constraints):
    """Pairs of samples and their labels from the ``(a, b, c, d)`` of
    :meth:`Constraints.positive_negative_pairs`: (n_pairs, 2, n_features) and +1 / -1."""
    a, b, c, d = (np.asarray(v) for v in constraints)
    idx = np.vstack([np.column_stack([a, b]), np.column_stack([c, d])])
    y = np.concatenate([np.ones(len(a), dtype=int), -np.ones(len(c), dtype=int)])
    return np.asarray(X)[idx], y
