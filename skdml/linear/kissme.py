"""KISSME: keep it simple and straightforward metric learning from equivalence constraints."""

from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.utils.validation import validate_data

from .._param_validation import Interval
from ..base import BaseMetricLearner, MahalanobisMixin, PairClassifierMixin, fit_context
from .._validation import (
    check_classification_labels,
    check_n_components,
)
from ._psd import (
    components_from_psd, feature_scales, standardize, unstandardize_components,
)


class KISSME(PairClassifierMixin, MahalanobisMixin, BaseMetricLearner):
    """Metric from the likelihood ratio of similar and dissimilar pair differences.

    Modelling the difference of a similar pair as ``N(0, S_s)`` and of a dissimilar pair as
    ``N(0, S_d)``, the log-likelihood ratio test is a Mahalanobis distance with
    ``M = S_s^{-1} - S_d^{-1}``, projected onto the PSD cone. A closed form: no iterations,
    made for verification data (faces, kinship, person re-identification) given as pairs.

    Fitted either from labeled pairs, ``fit(pairs, y)`` with pairs of shape
    (n_pairs, 2, n_features) and ``y`` in {+1 similar, -1 dissimilar}, or from class labels,
    ``fit(X, y)``; with labels the two covariances are computed in closed form over *all*
    within-class and between-class pairs, with no sampling. A fit on pairs also calibrates
    the verification threshold ``threshold_`` for accuracy on those pairs; after a fit on
    labels, :meth:`calibrate_threshold` on labeled pairs sets it. Either way, calibrating
    on held-out pairs gives the honest threshold.

    Parameters
    ----------
    n_components : int, default=None
        Keep the leading eigen-directions of ``M`` only; ``None`` keeps its whole range.
    regularization : float, default=1e-3
        Ridge added to both covariances (relative to their mean eigenvalue, on standardized
        features) so that they invert even with few pairs, constant or collinear features.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        The samples that pairs given as integer indices refer to (metric-learn's
        ``preprocessor``). With it, ``fit``, ``decision_function``, ``predict``, ``score``,
        ``pair_distance``, ``pair_score`` and ``calibrate_threshold`` take integer indices
        of shape (n_pairs, 2), so ``cross_val_score`` and ``GridSearchCV`` work on index
        pairs as well; the pairs themselves (a 3-D array) are still taken as they are, but
        ``fit`` learns from pairs only (class labels need ``preprocessor=None``). A
        callable, such as a loader, is given the flat indices (integers, or identifiers such
        as file names) and returns one sample per index, an array of shape (n_indices,
        n_features). A ``preprocessor=`` given to a method wins over this one; ``transform``
        always takes samples.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L`` with ``L.T @ L = M``.
    classes_ : ndarray of shape (2,)
        ``[-1, 1]`` after a fit on pairs or :meth:`calibrate_threshold` (dissimilar,
        similar): the classes of the pair classifier.
    threshold_ : float
        Pairs at a learned distance ``<= threshold_`` are predicted similar. Set by a fit on
        pairs or by :meth:`calibrate_threshold`.
    n_components_ : int
        Number of output dimensions.
    n_features_in_ : int
        Number of features seen during fit.

    References
    ----------
    .. [1] M. Köstinger, M. Hirzer, P. Wohlhart, P. M. Roth and H. Bischof, "Large scale
       metric learning from equivalence constraints", CVPR 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from skdml import KISSME
    >>> X, y = load_iris(return_X_y=True)
    >>> kissme = KISSME().fit(X, y)
    >>> pairs = np.stack([X[[0, 0, 50, 50]], X[[1, 100, 51, 120]]], axis=1)
    >>> labels = [1, -1, 1, -1]  # same class / different classes
    >>> kissme.calibrate_threshold(pairs, labels).predict(pairs).tolist()
    [1, -1, 1, -1]
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "regularization": [Interval(Real, 0, None, closed="left")],
        "n_jobs": [Integral, None],
        "preprocessor": [None, "array-like", callable],
    }

    def __init__(
        self, n_components=None, *, regularization=1e-3, n_jobs=None, preprocessor=None,
    ):
        self.n_components = n_components
        self.regularization = regularization
        self.n_jobs = n_jobs
        self.preprocessor = preprocessor

    @fit_context
    def fit(self, X, y, *, preprocessor=None):
        """Learn the metric from class labels or from labeled pairs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_pairs, 2, n_features)
            Samples (with class labels ``y``) or pairs (with pair labels ``y``). With
            ``preprocessor``, pairs may be integer indices of shape (n_pairs, 2).
        y : array-like of shape (n_samples,) or (n_pairs,)
            Class labels of any type, or +1 / -1 pair labels.
        preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
            A dataset that index pairs refer to, or a callable turning indices into
            samples; None: the ``preprocessor`` parameter of the learner.

        Returns
        -------
        self : KISSME
        """
        if self._is_pair_input(X, preprocessor):
            return self._fit_pairs(X, y, preprocessor)
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64, copy=False)
        n_components = check_n_components(self.n_components, X.shape[1], estimator=self)
        _, y_enc = check_classification_labels(y, estimator=self)
        Z, scales, _ = standardize(X)
        cov_s, cov_d = _label_pair_covariances(Z, y_enc)
        self._set_components(cov_s, cov_d, scales, n_components)
        self._end_label_fit()
        return self

    def _fit_pairs(self, pairs, y, preprocessor):
        pairs, y = self._check_pair_fit_input(pairs, y, preprocessor)
        n_features = pairs.shape[2]
        n_components = check_n_components(self.n_components, n_features, estimator=self)
        scales = feature_scales(pairs.reshape(-1, n_features))
        diff = standardize(pairs[:, 0] - pairs[:, 1], scales)[0]
        cov_s = diff[y == 1].T @ diff[y == 1] / max(1, np.sum(y == 1))
        cov_d = diff[y == -1].T @ diff[y == -1] / max(1, np.sum(y == -1))
        self._set_components(cov_s, cov_d, scales, n_components)
        self._end_pair_fit(pairs, y)
        return self

    def _set_components(self, cov_s, cov_d, scales, n_components):
        """M = inv(S_s + r I) - inv(S_d + r I), in standardized units, mapped back."""
        varying = scales > 0
        components = np.zeros((1, len(scales)))
        if varying.any():
            M = _ridge_inverse(cov_s, self.regularization) - _ridge_inverse(
                cov_d, self.regularization
            )
            L = components_from_psd(M, n_components)
            components = unstandardize_components(L, scales, varying)
        self.components_ = components
        self.n_components_ = components.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _ridge_inverse(C, regularization):
    """``inv(C + r I)`` with ``r = regularization * mean eigenvalue`` (at least 1e-10 of it)."""
    scale = np.trace(C) / C.shape[0]
    ridge = max(regularization, 1e-10) * (scale if scale > 0 else 1.0)
    return linalg.solve(C + ridge * np.eye(C.shape[0]), np.eye(C.shape[0]), assume_a="pos")


def _label_pair_covariances(Z, y):
    """Covariances of the differences over all ordered similar / dissimilar pairs.

    Over ordered pairs of a set with n members and scatter S (sum of centered outer
    products): ``sum_{i,j} (z_i - z_j)(z_i - z_j)^T = 2 n S``. So the similar pairs give
    ``sum_c 2 n_c S_c`` and the dissimilar ones the total ``2 n S`` minus that.
    """
    n = Z.shape[0]
    counts = np.bincount(y)
    Zc = Z - Z.mean(axis=0)
    total = 2.0 * n * (Zc.T @ Zc)
    means = np.zeros((len(counts), Z.shape[1]))
    np.add.at(means, y, Z)
    means /= counts[:, None]
    W = Z - means[y]
    # sum_c n_c S_c = W^T diag(n_{y_i}) W
    within = 2.0 * (W * counts[y][:, None]).T @ W
    n_similar = float(np.sum(counts * (counts - 1)))
    n_dissimilar = float(n * n - np.sum(counts**2))
    cov_s = within / max(n_similar, 1.0)
    cov_d = (total - within) / max(n_dissimilar, 1.0)
    return cov_s, cov_d
