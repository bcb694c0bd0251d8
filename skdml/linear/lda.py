"""Linear discriminant analysis as a supervised metric learner."""

from numbers import Integral, Real

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.utils.validation import validate_data

from .._param_validation import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, fit_context
from .._validation import check_classification_labels, check_n_components
from ._discriminant import discriminant_scalings


class LDA(MahalanobisMixin, BaseMetricLearner):
    """Fisher's discriminant directions as a learned Mahalanobis distance.

    The distance is Euclidean in the space of scikit-learn's
    :class:`~sklearn.discriminant_analysis.LinearDiscriminantAnalysis`, where the within-class
    covariance is the identity and the class means are spread along the first
    ``n_classes - 1`` axes. Class labels may be of any type (strings included); collinear or
    constant features and more features than samples are handled by the SVD solver.

    Parameters
    ----------
    n_components : int, default=None
        Output dimensions, at most ``min(n_classes - 1, n_features)``; ``None`` keeps them all.
    solver : {'svd', 'eigen'}, default='svd'
        ``'svd'`` is robust to singular within-class covariance; ``'eigen'`` supports
        ``shrinkage``.
    shrinkage : 'auto' or float in [0, 1], default=None
        Shrinkage of the within-class covariance (``solver='eigen'`` only).
    tol : float, default=1e-4
        Singular values below ``tol`` are treated as zero (``solver='svd'``).
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L``.
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in fit.
    explained_variance_ratio_ : ndarray of shape (n_components,)
        Between-class variance explained by each axis.
    n_components_ : int
        Number of output dimensions.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during fit, when ``X`` has string feature names.

    References
    ----------
    .. [1] R. A. Fisher, "The use of multiple measurements in taxonomic problems", 1936.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdml import LDA
    >>> X, y = load_iris(return_X_y=True)
    >>> lda = LDA().fit(X, y)
    >>> lda.transform(X).shape
    (150, 2)
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "solver": [StrOptions({"svd", "eigen"})],
        "shrinkage": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="both"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_components=None, *, solver="svd", shrinkage=None, tol=1e-4, n_jobs=None):
        self.n_components = n_components
        self.solver = solver
        self.shrinkage = shrinkage
        self.tol = tol
        self.n_jobs = n_jobs

    @fit_context
    def fit(self, X, y):
        """Learn the discriminant directions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels, at least two distinct ones.

        Returns
        -------
        self : LDA
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        classes, y_enc = check_classification_labels(y, estimator=self)
        if self.shrinkage is not None and self.solver == "svd":
            raise ValueError("LDA: shrinkage needs solver='eigen'; solver='svd' was given.")
        n_components = check_n_components(
            self.n_components, X.shape[1], max_components=len(classes) - 1, estimator=self
        )
        if self.solver == "svd":  # copes with classes that do not vary at all
            scalings, ratio = discriminant_scalings(X, y_enc, tol=self.tol)
        else:
            lda = LinearDiscriminantAnalysis(
                solver=self.solver, shrinkage=self.shrinkage, tol=self.tol
            ).fit(X.astype(np.float64, copy=False), y_enc)
            scalings, ratio = lda.scalings_, lda.explained_variance_ratio_
        # With the svd solver the rank may be lower than n_classes - 1 (collinear means).
        n_components = min(n_components, scalings.shape[1])
        self.components_ = np.ascontiguousarray(scalings[:, :n_components].T)
        self.classes_ = classes
        self.explained_variance_ratio_ = ratio[:n_components]
        self.n_components_ = n_components
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
