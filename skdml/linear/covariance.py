"""The Mahalanobis distance of the data's own covariance."""

from numbers import Integral, Real

import numpy as np
from sklearn.covariance import ledoit_wolf, oas, shrunk_covariance
from sklearn.utils.validation import validate_data

from .._param_validation import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, fit_context
from ._psd import components_from_inverse, standardize, unstandardize_components


class Covariance(MahalanobisMixin, BaseMetricLearner):
    """Mahalanobis distance with the inverse covariance of the data (unsupervised).

    ``d(x, y)^2 = (x - y)^T S^+ (x - y)`` with ``S`` the (optionally shrunk) covariance and
    ``S^+`` its pseudo-inverse. The classical baseline of metric learning: it whitens the
    data, so features of very different scales and correlated features count equally.

    The inverse is computed on the correlation matrix (features divided by their standard
    deviations), whose conditioning does not depend on the features' units. Singular
    covariances -- constant, duplicated or collinear features, more features than samples --
    are handled, not failed on: directions of zero variance carry no distance.

    Parameters
    ----------
    shrinkage : {'ledoit_wolf', 'oas'} or float in [0, 1], default=None
        ``None``: the empirical covariance. ``'ledoit_wolf'`` / ``'oas'``: shrinkage chosen
        by scikit-learn's Ledoit-Wolf / OAS estimators, which keeps the inverse stable when
        samples are few. A float: that fixed shrinkage towards the identity (of the
        correlation matrix).
    tol : float, default=1e-8
        Eigen-directions of the correlation matrix with an eigenvalue below
        ``tol * largest eigenvalue`` are treated as having zero variance and dropped.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L``; ``L.T @ L`` is the pseudo-inverse of ``covariance_``.
    covariance_ : ndarray of shape (n_features, n_features)
        The covariance estimate (after shrinkage) in the units of the input.
    n_components_ : int
        The rank kept: the number of output dimensions.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during fit, when ``X`` has string feature names.

    See Also
    --------
    PCA : Projection onto the directions of largest variance.
    LDA : The supervised counterpart, with the within-class covariance.

    References
    ----------
    .. [1] P. C. Mahalanobis, "On the generalised distance in statistics", 1936.
    .. [2] O. Ledoit and M. Wolf, "A well-conditioned estimator for large-dimensional
       covariance matrices", Journal of Multivariate Analysis, 2004.

    Examples
    --------
    >>> import numpy as np
    >>> from skdml import Covariance
    >>> X = np.array([[0.0, 0.0], [2.0, 0.1], [4.0, 0.2], [1.0, -0.1]])
    >>> cov = Covariance().fit(X)
    >>> cov.transform(X).shape
    (4, 2)
    >>> M = cov.get_mahalanobis_matrix()
    >>> bool(np.allclose(M @ cov.covariance_ @ M, M))
    True
    """

    _parameter_constraints = {
        "shrinkage": [None, StrOptions({"ledoit_wolf", "oas"}), Interval(Real, 0, 1, closed="both")],
        "tol": [Interval(Real, 0, 1, closed="left")],
        "n_jobs": [Integral, None],
    }

    def __init__(self, shrinkage=None, tol=1e-8, *, n_jobs=None):
        self.shrinkage = shrinkage
        self.tol = tol
        self.n_jobs = n_jobs

    @fit_context
    def fit(self, X, y=None):
        """Estimate the covariance of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : Covariance
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64, copy=False)
        Z, scales, varying = standardize(X, center=True)
        d = X.shape[1]
        components = np.zeros((1, d))
        corr = np.zeros((0, 0))
        if varying.any():
            corr = self._correlation(Z)
            # The leading axis of the correlation first (the least weighted by the metric).
            L = components_from_inverse(corr, rtol=self.tol)[::-1]
            components = unstandardize_components(L, scales, varying)
        covariance = np.zeros((d, d))
        covariance[np.ix_(varying, varying)] = corr * np.outer(scales[varying], scales[varying])
        self.components_ = components
        self.covariance_ = covariance
        self.n_components_ = components.shape[0]
        return self

    def _correlation(self, Z):
        """Correlation matrix of standardized ``Z`` (n_samples divisor), shrunk if asked."""
        if self.shrinkage == "ledoit_wolf":
            return ledoit_wolf(Z, assume_centered=True)[0]
        if self.shrinkage == "oas":
            return oas(Z, assume_centered=True)[0]
        corr = Z.T @ Z / Z.shape[0]
        if self.shrinkage is not None:
            corr = shrunk_covariance(corr, self.shrinkage)
        return corr
