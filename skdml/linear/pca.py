"""Principal component analysis as a (linear, unsupervised) metric learner."""

from numbers import Integral, Real

import numpy as np
from sklearn.decomposition import PCA as _SkPCA
from sklearn.utils.validation import validate_data

from .._param_validation import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, fit_context
from .._validation import check_n_components


class PCA(MahalanobisMixin, BaseMetricLearner):
    """The distance in the span of the leading principal components.

    A thin metric-learning face on :class:`sklearn.decomposition.PCA` (whose solvers do the
    work): ``components_`` holds the principal axes, scaled by the inverse standard deviation
    along each when ``whiten=True``. ``transform`` is ``X @ components_.T`` without centering;
    distances, the only thing a metric learner promises, do not depend on the center.

    Parameters
    ----------
    n_components : int, float or 'mle', default=None
        As in scikit-learn's PCA: a count, the fraction of variance to keep (0 < float < 1),
        Minka's MLE, or ``None`` for ``min(n_samples, n_features)``.
    whiten : bool, default=False
        Divide each axis by its standard deviation, so every kept direction counts equally.
        Directions with (numerically) zero variance get weight 0 rather than an infinite one.
    svd_solver : {'auto', 'full', 'covariance_eigh', 'arpack', 'randomized'}, default='auto'
        Passed to scikit-learn's PCA.
    random_state : int, RandomState instance or None, default=None
        Used by the 'arpack' and 'randomized' solvers.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L``.
    explained_variance_ : ndarray of shape (n_components,)
        Variance along each principal axis.
    explained_variance_ratio_ : ndarray of shape (n_components,)
        Fraction of the total variance along each axis.
    mean_ : ndarray of shape (n_features,)
        The training mean (not used by ``transform``).
    n_components_ : int
        Number of output dimensions.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during fit, when ``X`` has string feature names.

    See Also
    --------
    sklearn.decomposition.PCA : The estimator doing the decomposition.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdml import PCA
    >>> X, _ = load_iris(return_X_y=True)
    >>> pca = PCA(n_components=2, whiten=True).fit(X)
    >>> pca.transform(X).shape
    (150, 2)
    """

    _parameter_constraints = {
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
            StrOptions({"mle"}),
            None,
        ],
        "whiten": ["boolean"],
        "svd_solver": [StrOptions({"auto", "full", "covariance_eigh", "arpack", "randomized"})],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self, n_components=None, *, whiten=False, svd_solver="auto", random_state=None,
        n_jobs=None,
    ):
        self.n_components = n_components
        self.whiten = whiten
        self.svd_solver = svd_solver
        self.random_state = random_state
        self.n_jobs = n_jobs

    @fit_context
    def fit(self, X, y=None):
        """Find the principal axes of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : PCA
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        if isinstance(self.n_components, Integral):
            check_n_components(
                self.n_components, X.shape[1], max_components=min(X.shape), estimator=self
            )
        pca = _SkPCA(
            n_components=self.n_components,
            svd_solver=self.svd_solver,
            random_state=self.random_state,
        ).fit(X)
        components = pca.components_.astype(np.float64)
        if self.whiten:
            var = pca.explained_variance_
            floor = np.finfo(np.float64).eps * max(X.shape) * (var.max() if var.size else 0.0)
            weights = np.zeros_like(var)
            weights[var > floor] = 1.0 / np.sqrt(var[var > floor])
            components = components * weights[:, None]
        self.components_ = components
        self.explained_variance_ = pca.explained_variance_
        self.explained_variance_ratio_ = pca.explained_variance_ratio_
        self.mean_ = pca.mean_
        self.n_components_ = components.shape[0]
        return self
