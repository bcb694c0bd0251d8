"""Classical learning to hash: LSH, PCAH, ITQ, spectral, supervised discrete, KSH, AGH, SpH.

Every hasher is a transformer whose ``transform(X)`` returns ``bool`` codes of shape
``(n_samples, n_bits)``, one bit per column, and ``transform_packed(X)`` the same codes packed
in ``uint8`` bytes (see :class:`~skdml.hashing._base.HasherMixin`); either is searched with
:class:`~skdml.hashing.HammingNeighbors` and scored with :mod:`skdml.metrics_hashing`.
No torch here.
"""

import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
from scipy import linalg, optimize
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from .._param_validation import Interval
from .._validation import check_classification_labels
from ..base import BaseMetricLearner, fit_context
from ..kernels import pairwise_distances
from ..linear._psd import principal_axes
from ._base import HasherMixin

__all__ = [
    "ITQ", "LSH", "PCAH", "AnchorGraphHashing", "KernelSupervisedHashing", "SpectralHashing",
    "SphericalHashing", "SupervisedDiscreteHashing",
]


def _check_n_bits(estimator, n_bits, limit, why):
    """``n_bits`` must be at most ``limit`` (the reason ``why`` goes in the message)."""
    if n_bits > limit:
        raise ValueError(
            f"{type(estimator).__name__}: n_bits={n_bits} is larger than this method supports "
            f"here: {why}, so n_bits must be <= {limit}."
        )


def _resolve_n_bits(estimator, X, why):
    """``n_bits`` of the PCA-based hashers: at most ``n_features``; None: min(32, n_features)."""
    n_features = X.shape[1]
    if estimator.n_bits is None:
        return min(32, n_features)
    _check_n_bits(estimator, estimator.n_bits, n_features,
                  f"{why} and X has n_features={n_features}")
    return int(estimator.n_bits)


def _pca(X, n_components):
    """Mean, the top ``n_components`` principal directions (rows, largest first, signs fixed)
    and their variances: :func:`~skdml.linear._psd.principal_axes`, completed so that every
    bit has a direction even beyond the data's rank."""
    return principal_axes(X, n_components, complete=True)


def _rbf_anchors(X, n_anchors, sigma, rng):
    """Anchors for RBF kernel features and the kernel width.

    ``min(n_anchors, n_samples)`` training samples drawn without replacement (kept in
    index order); ``sigma=None`` gives the mean distance from the samples to the anchors
    (1 where that is 0).
    """
    n = X.shape[0]
    anchors = X[np.sort(rng.choice(n, min(int(n_anchors), n), replace=False))]
    if sigma is not None:
        return anchors, float(sigma)
    dist = np.sqrt(np.maximum(pairwise_distances(X, anchors, metric="sqeuclidean"), 0))
    mean_dist = dist.mean()
    return anchors, float(mean_dist) if mean_dist > 0 else 1.0


def _rbf_features(X, anchors, sigma):
    """``phi(X)``: similarities ``exp(-|x - a|^2 / (2 sigma^2))`` to the anchors, then 1."""
    D = pairwise_distances(X, anchors, metric="sqeuclidean")
    Phi = np.exp(-np.maximum(D, 0) / (2 * sigma**2))
    return np.hstack([Phi, np.ones((X.shape[0], 1))])


def _itq_rotation(V, max_iter, tol, random_state, *, owner):
    """ITQ's rotation of the projections ``V`` (n, k): ``(R, quantization losses)``.

    Alternates ``B = sgn(V R)`` and the orthogonal Procrustes solution for ``R`` from a
    random orthogonal start, until the loss ``||B - V R||_F^2`` decreases by at most ``tol``
    relatively (a ``ConvergenceWarning`` naming ``owner`` after ``max_iter`` alternations).
    """
    k = V.shape[1]
    rng = check_random_state(random_state)
    R, _ = np.linalg.qr(rng.standard_normal((k, k)))
    losses = []
    converged = False
    for _ in range(max_iter):
        VR = V @ R
        B = np.where(VR >= 0, 1.0, -1.0)
        losses.append(float(np.sum((B - VR) ** 2)))
        if len(losses) > 1 and losses[-2] - losses[-1] <= tol * losses[-2]:
            converged = True
            break
        # orthogonal Procrustes: R = argmax tr(R^T V^T B) over orthogonal R
        Uo, _, Vt = np.linalg.svd(V.T @ B)
        R = Uo @ Vt
    if not converged:
        warnings.warn(
            f"{owner} stopped at max_iter={max_iter} before the quantization loss "
            f"settled (relative decrease above tol={tol}); raise max_iter.",
            ConvergenceWarning,
        )
    return R, np.asarray(losses)


class _ClassicalHasher(HasherMixin, BaseMetricLearner):
    """Validation shared by the classical hashers; subclasses implement ``_fit`` / ``_raw``."""

    def _validate_X(self, X, reset):
        return validate_data(
            self, X, reset=reset, dtype=[np.float64, np.float32],
            ensure_min_samples=2 if reset else 1,
        )

    def _project(self, X):
        X = self._validate_X(X, reset=False).astype(np.float64, copy=False)
        return self._raw(X)


class LSH(_ClassicalHasher):
    """Locality-sensitive hashing by random hyperplanes (sign random projections).

    Bit ``k`` of ``x`` is ``[w_k . (x - mean) >= 0]`` with ``w_k`` drawn from a standard
    Gaussian: the probability that two samples get different bits is their angle over pi
    (Charikar 2002), so the expected Hamming distance grows with the angle between the
    centred samples. Data-independent apart from the centring; any number of bits.

    Parameters
    ----------
    n_bits : int, default=32
        Code length.
    center : bool, default=True
        Subtract the training mean before projecting (hyperplanes through the data's
        centre); ``False`` uses hyperplanes through the origin.
    random_state : int, RandomState instance or None, default=None
        Draws the hyperplanes.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    projections_ : ndarray of shape (n_bits, n_features)
        The hyperplanes' normals ``w_k``.
    mean_ : ndarray of shape (n_features,)
        Training mean (zeros when ``center=False``).
    n_bits_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    References
    ----------
    .. [1] M. Charikar, "Similarity estimation techniques from rounding algorithms",
       STOC 2002.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdml.hashing import LSH
    >>> X, _ = load_digits(return_X_y=True)
    >>> codes = LSH(n_bits=16, random_state=0).fit(X).transform(X[:3])
    >>> codes.shape, codes.dtype
    ((3, 16), dtype('bool'))
    """

    _parameter_constraints: dict = {
        "n_bits": [Interval(Integral, 1, None, closed="left")],
        "center": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_bits=32, *, center=True, random_state=None, n_jobs=None):
        self.n_bits = n_bits
        self.center = center
        self.random_state = random_state
        self.n_jobs = n_jobs

    @fit_context
    def fit(self, X, y=None):
        """Draw the hyperplanes (and store the mean).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : LSH
        """
        X = self._validate_X(X, reset=True).astype(np.float64, copy=False)
        rng = check_random_state(self.random_state)
        self.projections_ = rng.standard_normal((self.n_bits, X.shape[1]))
        self.mean_ = X.mean(axis=0) if self.center else np.zeros(X.shape[1])
        self.n_bits_ = int(self.n_bits)
        return self

    def _raw(self, X):
        return (X - self.mean_) @ self.projections_.T


class PCAH(_ClassicalHasher):
    """PCA hashing: the signs of the top ``n_bits`` principal components.

    Bit ``k`` of ``x`` is ``[u_k . (x - mean) >= 0]`` with ``u_k`` the ``k``-th principal
    direction. One bit per principal direction, so ``n_bits <= n_features``. The low-variance
    directions carry little information, so PCAH's retrieval quality usually *falls* as bits
    are added -- the weakness ITQ fixes by rotating the projection.

    Parameters
    ----------
    n_bits : int or None, default=None
        Code length; at most ``n_features``. ``None`` means ``min(32, n_features)``.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    components_ : ndarray of shape (n_bits, n_features)
        Principal directions, by decreasing variance.
    explained_variance_ : ndarray of shape (n_bits,)
    mean_ : ndarray of shape (n_features,)
    n_bits_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    References
    ----------
    .. [1] J. Wang, S. Kumar and S.-F. Chang, "Semi-supervised hashing for large-scale
       search", TPAMI 2012 (PCAH as a baseline).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdml.hashing import PCAH
    >>> X, _ = load_digits(return_X_y=True)
    >>> PCAH(n_bits=8).fit(X).transform(X[:2]).shape
    (2, 8)
    """

    _parameter_constraints: dict = {
        "n_bits": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_bits=None, *, n_jobs=None):
        self.n_bits = n_bits
        self.n_jobs = n_jobs

    @fit_context
    def fit(self, X, y=None):
        """Compute the principal directions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : PCAH
        """
        X = self._validate_X(X, reset=True).astype(np.float64, copy=False)
        n_bits = _resolve_n_bits(self, X, "PCAH takes one bit per principal direction")
        self.mean_, self.components_, self.explained_variance_ = _pca(X, n_bits)
        self.n_bits_ = n_bits
        return self

    def _raw(self, X):
        return (X - self.mean_) @ self.components_.T


class ITQ(_ClassicalHasher):
    """Iterative quantization (Gong & Lazebnik): PCA, then the rotation that best binarizes.

    The data are centred and projected on their top ``n_bits`` principal directions,
    ``V = (X - mean) U``; ITQ then looks for the orthogonal rotation ``R`` and the codes
    ``B in {-1, +1}^(n x n_bits)`` minimizing the quantization loss ``||B - V R||_F^2`` by
    alternating ``B = sgn(V R)`` and the orthogonal Procrustes solution
    ``R = W S^T`` where ``S Omega W^T`` is the SVD of ``B^T V``. Each step can only lower
    the loss, so it decreases monotonically (``quantization_loss_``); the fit stops when
    its relative decrease falls below ``tol``. Bit ``k`` of ``x`` is
    ``[((x - mean) U R)_k >= 0]``.

    Parameters
    ----------
    n_bits : int or None, default=None
        Code length; at most ``n_features`` (one PCA direction per bit). ``None`` means
        ``min(32, n_features)``.
    max_iter : int, default=100
        Most alternations (the paper runs a fixed 50; with ``tol=1e-4`` digits needs
        25 to 60).
    tol : float, default=1e-4
        Stop when the quantization loss decreased by less than ``tol`` times its value in
        one iteration.
    random_state : int, RandomState instance or None, default=None
        Draws the initial random rotation.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    components_ : ndarray of shape (n_bits, n_features)
        PCA directions ``U.T``.
    rotation_ : ndarray of shape (n_bits, n_bits)
        The orthogonal rotation ``R``.
    mean_ : ndarray of shape (n_features,)
    quantization_loss_ : ndarray of shape (n_iter,)
        ``||B - V R||_F^2`` at each iteration (before its rotation update), non-increasing.
    n_iter_ : int
    n_bits_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    References
    ----------
    .. [1] Y. Gong and S. Lazebnik, "Iterative quantization: a Procrustean approach to
       learning binary codes", CVPR 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skdml.hashing import ITQ
    >>> X, _ = load_digits(return_X_y=True)
    >>> itq = ITQ(n_bits=16, random_state=0).fit(X)
    >>> np.allclose(itq.rotation_ @ itq.rotation_.T, np.eye(16))
    True
    >>> bool(np.all(np.diff(itq.quantization_loss_) <= 1e-9))
    True
    """

    _parameter_constraints: dict = {
        "n_bits": [Interval(Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_bits=None, *, max_iter=100, tol=1e-4, random_state=None, n_jobs=None):
        self.n_bits = n_bits
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.n_jobs = n_jobs

    @fit_context
    def fit(self, X, y=None):
        """Learn the PCA projection and the rotation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : ITQ
        """
        X = self._validate_X(X, reset=True).astype(np.float64, copy=False)
        k = _resolve_n_bits(self, X, "ITQ rotates one principal direction per bit")
        mean, U, _ = _pca(X, k)
        R, losses = _itq_rotation((X - mean) @ U.T, self.max_iter, self.tol,
                                  self.random_state, owner="ITQ")
        self.mean_, self.components_, self.rotation_ = mean, U, R
        self.quantization_loss_ = losses
        self.n_iter_ = len(losses)
        self.n_bits_ = k
        return self

    def _raw(self, X):
        return (X - self.mean_) @ self.components_.T @ self.rotation_


class SpectralHashing(_ClassicalHasher):
    """Spectral hashing (Weiss, Torralba & Fergus): thresholded Laplacian eigenfunctions.

    The data are projected on their top ``min(n_bits, n_features)`` principal directions and
    assumed uniform on the bounding box ``[a_j, b_j]`` of each. The eigenfunctions of the
    weighted Laplacian on a box are ``sin(pi/2 + m pi (x_j - a_j) / (b_j - a_j))`` for
    integer modes ``m >= 1`` along one direction, with eigenvalue growing as
    ``(m / (b_j - a_j))^2``; spectral hashing keeps the ``n_bits`` with the smallest
    eigenvalues (several bits may come from one wide direction, at higher frequencies) and
    thresholds them at zero. No randomness: the fit is deterministic.

    Parameters
    ----------
    n_bits : int, default=32
        Code length (any; more bits than features use higher modes).
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    components_ : ndarray of shape (n_pca, n_features)
        PCA directions, ``n_pca = min(n_bits, n_features)``.
    mean_ : ndarray of shape (n_features,)
    min_, max_ : ndarray of shape (n_pca,)
        The bounding box of the projected training data.
    modes_ : ndarray of shape (n_bits, n_pca), dtype=int
        The frequency of each bit's eigenfunction along each PCA direction (one non-zero
        entry per row).
    n_bits_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    References
    ----------
    .. [1] Y. Weiss, A. Torralba and R. Fergus, "Spectral hashing", NIPS 2008.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdml.hashing import SpectralHashing
    >>> X, _ = load_digits(return_X_y=True)
    >>> SpectralHashing(n_bits=32).fit(X).transform(X[:2]).shape
    (2, 32)
    """

    _parameter_constraints: dict = {
        "n_bits": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_bits=32, *, n_jobs=None):
        self.n_bits = n_bits
        self.n_jobs = n_jobs

    @fit_context
    def fit(self, X, y=None):
        """Compute the PCA box and choose the eigenfunctions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : SpectralHashing
        """
        X = self._validate_X(X, reset=True).astype(np.float64, copy=False)
        n_bits = int(self.n_bits)
        n_pca = min(n_bits, X.shape[1])
        mean, U, _ = _pca(X, n_pca)
        P = (X - mean) @ U.T
        eps = np.finfo(np.float64).eps
        # widen the box a little so training points sit strictly inside it; a constant
        # direction gets a tiny positive width, hence only very high (never chosen) modes
        lo = P.min(axis=0) - eps
        hi = P.max(axis=0) + eps
        width = np.maximum(hi - lo, 1e-12)
        # candidate modes along each direction, as many as the widest could need
        max_mode = np.ceil((n_bits + 1) * width / width.max()).astype(int)
        dims = np.concatenate([np.full(m, j) for j, m in enumerate(max_mode)])
        freq = np.concatenate([np.arange(1, m + 1) for m in max_mode])
        eigval = (freq * np.pi / width[dims]) ** 2
        order = np.lexsort((dims, freq, eigval))[:n_bits]  # stable: ties by mode, direction
        modes = np.zeros((n_bits, n_pca), dtype=int)
        modes[np.arange(n_bits), dims[order]] = freq[order]
        self.mean_, self.components_ = mean, U
        self.min_, self.max_ = lo, hi
        self.modes_ = modes
        self.n_bits_ = n_bits
        return self

    def _raw(self, X):
        P = (X - self.mean_) @ self.components_.T - self.min_
        omega = np.pi / np.maximum(self.max_ - self.min_, 1e-12)
        dim = self.modes_.argmax(axis=1)
        m = self.modes_[np.arange(self.n_bits_), dim]
        return np.sin(np.pi / 2 + P[:, dim] * (m * omega[dim]))


class SupervisedDiscreteHashing(_ClassicalHasher):
    """Supervised discrete hashing (Shen et al. 2015): codes that classify, learned discretely.

    Samples are first mapped to ``phi(x)``, their Gaussian-kernel similarities to
    ``n_anchors`` anchor points drawn from the training set (plus a constant 1). SDH then
    minimizes over the codes ``B in {-1, +1}^(n x n_bits)``, a linear classifier ``W`` and
    the hash projection ``P``::

        ||Y - B W||^2 + lambda ||W||^2 + nu ||B - phi(X) P||^2

    (``Y`` the one-hot labels), alternating the ridge-regression solutions for ``W`` and
    ``P`` (``P`` with ridge ``lambda_p``) with the discrete cyclic coordinate descent for
    ``B``, one bit-column at a time, which keeps ``B`` binary throughout instead of
    relaxing it. The fit stops when an outer iteration leaves ``B`` unchanged, or after
    ``max_iter`` (the paper uses 5) with a ``ConvergenceWarning``. Bit ``k`` of ``x`` is
    ``[(phi(x) P)_k >= 0]``.

    Parameters
    ----------
    n_bits : int, default=32
    n_anchors : int, default=300
        Anchor points (at most the number of training samples; fewer samples use all).
    sigma : float or None, default=None
        Width of the Gaussian kernel ``exp(-|x - a|^2 / (2 sigma^2))``; ``None`` uses the
        mean distance from the training samples to the anchors.
    reg_lambda : float, default=1.0
        Ridge penalty on the classifier ``W`` (the paper's lambda).
    nu : float, default=1e-5
        Weight of the fit between codes and hash function (the paper's nu).
    lambda_p : float, default=1e-2
        Ridge penalty of the hash-function regression ``P``.
    max_iter : int, default=5
        Outer alternations.
    n_dcc_iter : int, default=5
        Sweeps of the discrete cyclic coordinate descent per outer iteration.
    random_state : int, RandomState instance or None, default=None
        Draws the anchors and the initial codes.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    anchors_ : ndarray of shape (n_anchors, n_features)
    sigma_ : float
    projection_ : ndarray of shape (n_anchors + 1, n_bits)
        ``P`` (the last row multiplies the constant feature).
    classes_ : ndarray of shape (n_classes,)
    n_iter_ : int
    n_bits_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    References
    ----------
    .. [1] F. Shen, C. Shen, W. Liu and H. T. Shen, "Supervised discrete hashing",
       CVPR 2015.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdml.hashing import SupervisedDiscreteHashing
    >>> X, y = load_digits(return_X_y=True)
    >>> sdh = SupervisedDiscreteHashing(n_bits=16, n_anchors=100, random_state=0).fit(X, y)
    >>> sdh.transform(X[:2]).shape
    (2, 16)
    """

    _parameter_constraints: dict = {
        "n_bits": [Interval(Integral, 1, None, closed="left")],
        "n_anchors": [Interval(Integral, 1, None, closed="left")],
        "sigma": [Interval(Real, 0, None, closed="neither"), None],
        "reg_lambda": [Interval(Real, 0, None, closed="left")],
        "nu": [Interval(Real, 0, None, closed="left")],
        "lambda_p": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "n_dcc_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_bits=32, *, n_anchors=300, sigma=None, reg_lambda=1.0, nu=1e-5,
                 lambda_p=1e-2, max_iter=5, n_dcc_iter=5, random_state=None, n_jobs=None):
        self.n_bits = n_bits
        self.n_anchors = n_anchors
        self.sigma = sigma
        self.reg_lambda = reg_lambda
        self.nu = nu
        self.lambda_p = lambda_p
        self.max_iter = max_iter
        self.n_dcc_iter = n_dcc_iter
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def _features(self, X):
        return _rbf_features(X, self.anchors_, self.sigma_)

    @fit_context
    def fit(self, X, y):
        """Learn the codes, the classifier and the hash function.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of any hashable type.

        Returns
        -------
        self : SupervisedDiscreteHashing
        """
        if y is None:
            raise ValueError(
                "SupervisedDiscreteHashing requires y to be passed, but the target y is None."
            )
        X = self._validate_X(X, reset=True).astype(np.float64, copy=False)
        if len(np.asarray(y)) != X.shape[0]:
            raise ValueError(
                f"SupervisedDiscreteHashing: X has {X.shape[0]} samples but y has "
                f"{len(np.asarray(y))}."
            )
        classes, y_enc = check_classification_labels(y, estimator=self)
        n, L = X.shape[0], int(self.n_bits)
        rng = check_random_state(self.random_state)
        self.anchors_, self.sigma_ = _rbf_anchors(X, self.n_anchors, self.sigma, rng)
        Phi = self._features(X)
        Y = np.zeros((n, len(classes)))
        Y[np.arange(n), y_enc] = 1.0
        B = np.where(rng.standard_normal((n, L)) >= 0, 1.0, -1.0)
        # ridge regression of the codes on phi(X): the Gram matrix is fixed, factor it once
        gram = linalg.cho_factor(Phi.T @ Phi + self.lambda_p * np.eye(Phi.shape[1]))
        converged = False
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):
            B_old = B.copy()
            # W-step: ridge classifier from codes to labels, shape (n_bits, n_classes)
            W = linalg.solve(B.T @ B + self.reg_lambda * np.eye(L), B.T @ Y, assume_a="pos")
            # P-step: hash function regression
            P = linalg.cho_solve(gram, Phi.T @ B)
            # B-step: discrete cyclic coordinate descent, one bit-column at a time
            Q = Y @ W.T + self.nu * (Phi @ P)
            for _ in range(self.n_dcc_iter):
                B_sweep = B.copy()
                for k in range(L):
                    rest = np.arange(L) != k
                    z = Q[:, k] - B[:, rest] @ (W[rest] @ W[k])
                    B[:, k] = np.where(z >= 0, 1.0, -1.0)
                if np.array_equal(B, B_sweep):
                    break
            if np.array_equal(B, B_old):
                converged = True
                break
        if not converged:
            warnings.warn(
                f"SupervisedDiscreteHashing stopped at max_iter={self.max_iter} while the "
                "codes were still changing; raise max_iter.",
                ConvergenceWarning,
            )
        self.projection_ = linalg.cho_solve(gram, Phi.T @ B)
        self.classes_ = classes
        self.n_iter_ = n_iter
        self.n_bits_ = L
        return self

    def _raw(self, X):
        return self._features(X) @ self.projection_


def _ksh_smooth_objective(a, K, residual):
    """KSH's smoothed per-bit objective and its gradient (Liu et al. 2012, eqs. 9-10).

    ``-phi(K a)^T R phi(K a)`` with ``phi(x) = 2 / (1 + exp(-x)) - 1 = tanh(x / 2)`` in
    place of ``sgn``; its gradient is ``-K^T ((R phi) * (1 - phi * phi))``. ``residual(v)``
    returns ``R v``.
    """
    b = np.tanh(0.5 * (K @ a))
    Rb = residual(b)
    return -float(b @ Rb), -K.T @ (Rb * (1.0 - b * b))


class KernelSupervisedHashing(_ClassicalHasher):
    """Kernel-based supervised hashing, KSH (Liu, Wang, Ji, Jiang & Chang 2012).

    Samples are mapped to their Gaussian-kernel similarities to ``n_anchors`` anchor points
    drawn from the training set, centred by their training mean: ``kbar(x) = k(x) - mu``.
    Bit ``k`` of ``x`` is ``[a_k . kbar(x) >= 0]`` (the paper's zero-mean kernel hash
    function, eq. 2). On a labeled subset of ``l`` samples, with ``S_ij = +1`` for a pair of
    the same class and ``-1`` otherwise, KSH fits the inner products of the codes
    ``B_l in {-1, +1}^(l x r)`` to the scaled similarities (eq. 6)::

        min_A  || B_l B_l^T - r S ||_F^2,      B_l = sgn(Kbar_l A)

    greedily, one bit at a time: with the residue ``R_{k-1} = r S - sum_{t<k} b_t b_t^T``,
    bit ``k`` maximizes ``b_k^T R_{k-1} b_k``. Each bit starts from the spectral relaxation
    (the top generalized eigenvector of ``Kbar_l^T R Kbar_l a = lambda Kbar_l^T Kbar_l a``,
    scaled so that ``||Kbar_l a||^2 = l``), then minimizes the sigmoid-smoothed objective
    ``-phi(Kbar_l a)^T R_{k-1} phi(Kbar_l a)``, ``phi(x) = 2 / (1 + e^-x) - 1`` (eqs. 9-10),
    and keeps whichever of the two gives the larger discrete ``b^T R_{k-1} b``.

    Parameters
    ----------
    n_bits : int, default=32
        Code length ``r``.
    n_anchors : int, default=300
        Anchor points (the paper's ``m``; at most the number of training samples).
    n_labeled : int, default=1000
        Size ``l`` of the labeled subset whose pairwise similarities are fitted (drawn at
        random; all samples when there are fewer). The fit costs ``O(l^2)`` memory and time
        per iteration.
    sigma : float or None, default=None
        Width of the Gaussian kernel ``exp(-|x - a|^2 / (2 sigma^2))``; ``None`` uses the
        mean distance from the training samples to the anchors.
    max_iter : int, default=500
        Most iterations of the smoothed optimization, per bit.
    random_state : int, RandomState instance or None, default=None
        Draws the anchors and the labeled subset.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    anchors_ : ndarray of shape (n_anchors, n_features)
    sigma_ : float
    kernel_mean_ : ndarray of shape (n_anchors,)
        ``mu``, the mean kernel features of the training set.
    projection_ : ndarray of shape (n_anchors, n_bits)
        ``A``, one column ``a_k`` per bit.
    objective_ : ndarray of shape (n_bits,)
        ``||B_l B_l^T - r S||_F^2`` on the labeled subset after each bit is added (the
        first ``k`` bits against ``r S``), i.e. ``||R_k||_F^2``.
    n_iter_ : int
        The most iterations the smoothed optimization of one bit took (``max_iter`` when
        one of them was cut short).
    classes_ : ndarray of shape (n_classes,)
    n_bits_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    Notes
    -----
    Departures from the paper: the smoothed objective is minimized by L-BFGS (scipy's
    ``L-BFGS-B`` on the same gradient, eq. 10) instead of plain gradient descent, which
    reaches the same kind of stationary point in far fewer iterations; the generalized
    eigenproblem gets a ridge of ``1e-8`` times the mean diagonal of ``Kbar_l^T Kbar_l``
    so that it is well posed when the anchors' features are linearly dependent. The anchors
    and the kernel width are chosen as in :class:`SupervisedDiscreteHashing`.

    References
    ----------
    .. [1] W. Liu, J. Wang, R. Ji, Y.-G. Jiang and S.-F. Chang, "Supervised hashing with
       kernels", CVPR 2012.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdml.hashing import KernelSupervisedHashing
    >>> X, y = load_digits(return_X_y=True)
    >>> ksh = KernelSupervisedHashing(n_bits=8, n_anchors=100, n_labeled=300,
    ...                               random_state=0).fit(X, y)
    >>> ksh.transform(X[:2]).shape
    (2, 8)
    """

    _parameter_constraints: dict = {
        "n_bits": [Interval(Integral, 1, None, closed="left")],
        "n_anchors": [Interval(Integral, 1, None, closed="left")],
        "n_labeled": [Interval(Integral, 2, None, closed="left")],
        "sigma": [Interval(Real, 0, None, closed="neither"), None],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_bits=32, *, n_anchors=300, n_labeled=1000, sigma=None, max_iter=500,
                 random_state=None, n_jobs=None):
        self.n_bits = n_bits
        self.n_anchors = n_anchors
        self.n_labeled = n_labeled
        self.sigma = sigma
        self.max_iter = max_iter
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def _kernel(self, X):
        return _rbf_features(X, self.anchors_, self.sigma_)[:, :-1] - self.kernel_mean_

    @fit_context
    def fit(self, X, y=None):
        """Learn the kernel hash functions, one bit at a time.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of any hashable type.

        Returns
        -------
        self : KernelSupervisedHashing
        """
        if y is None:
            raise ValueError(
                "KernelSupervisedHashing requires y to be passed, but the target y is None.")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64, copy=False)
        classes, y_enc = check_classification_labels(y, estimator=self)
        n, r = X.shape[0], int(self.n_bits)
        rng = check_random_state(self.random_state)
        self.anchors_, self.sigma_ = _rbf_anchors(X, self.n_anchors, self.sigma, rng)
        K = _rbf_features(X, self.anchors_, self.sigma_)[:, :-1]
        self.kernel_mean_ = K.mean(axis=0)
        labeled = np.sort(rng.choice(n, min(int(self.n_labeled), n), replace=False))
        Kl = K[labeled] - self.kernel_mean_
        # R = r S - B B^T is never formed: with Y the one-hot labels, S = 2 Y Y^T - 1 1^T,
        # so R v costs O(l (n_classes + bits so far)) instead of O(l^2)
        Y = np.zeros((len(labeled), len(classes)))
        Y[np.arange(len(labeled)), y_enc[labeled]] = 1.0
        l, m = Kl.shape
        B = np.empty((l, r))

        def similarity(V):
            return 2 * Y @ (Y.T @ V) - V.sum(axis=0)

        def residual(v, k):
            return r * similarity(v) - B[:, :k] @ (B[:, :k].T @ v)

        gram = Kl.T @ Kl
        gram[np.diag_indices(m)] += 1e-8 * max(np.trace(gram) / m, np.finfo(float).tiny)
        A = np.empty((m, r))
        objective = np.empty(r)
        fit_term = 0.0  # sum over the bits so far of b^T S b
        n_iter = 0
        for k in range(r):
            # spectral relaxation: the top generalized eigenvector, scaled to ||Kl a||^2 = l
            _, a0 = linalg.eigh(Kl.T @ residual(Kl, k), gram, subset_by_index=[m - 1, m - 1])
            a0 = a0[:, 0] * np.sqrt(l / max(a0[:, 0] @ gram @ a0[:, 0], np.finfo(float).tiny))
            best = a0
            if self.max_iter > 0:
                result = optimize.minimize(
                    _ksh_smooth_objective, a0, args=(Kl, partial(residual, k=k)), jac=True,
                    method="L-BFGS-B", options={"maxiter": int(self.max_iter)})
                a, n_iter = result.x, max(n_iter, int(result.nit))
                b0, b = np.where(Kl @ a0 >= 0, 1.0, -1.0), np.where(Kl @ a >= 0, 1.0, -1.0)
                if b @ residual(b, k) > b0 @ residual(b0, k):
                    best = a
            B[:, k] = np.where(Kl @ best >= 0, 1.0, -1.0)
            A[:, k] = best
            # ||r S - B B^T||^2 = r^2 l^2 - 2 r sum_t b_t^T S b_t + ||B^T B||^2
            fit_term += B[:, k] @ similarity(B[:, k])
            gram_codes = B[:, :k + 1].T @ B[:, :k + 1]
            objective[k] = r * r * l * l - 2 * r * fit_term + np.sum(gram_codes**2)
        self.projection_ = A
        self.objective_ = objective
        self.n_iter_ = n_iter
        self.classes_ = classes
        self.n_bits_ = r
        return self

    def _raw(self, X):
        return self._kernel(X) @ self.projection_


class AnchorGraphHashing(_ClassicalHasher):
    """Anchor graph hashing, AGH (Liu, Wang, Kumar & Chang 2011).

    Spectral hashing on a graph the data define, made cheap by anchors: ``m`` anchors
    ``u_j`` are k-means centres of the training set, and each sample ``x`` is tied to its
    ``s`` nearest anchors by the truncated, normalized weights ``z(x)``::

        z_j(x) = exp(-|x - u_j|^2 / t) / sum_{j' in <s>} exp(-|x - u_j'|^2 / t)

    for ``j`` among the ``s`` nearest anchors ``<s>``, 0 otherwise (each row sums to 1).
    The anchor graph's adjacency ``A = Z Lambda^-1 Z^T`` (``Lambda = diag(Z^T 1)``) is
    low rank; the eigenvectors of its Laplacian come from the small ``m x m`` matrix
    ``M = Lambda^-1/2 Z^T Z Lambda^-1/2``: with its eigenpairs ``(v_k, sigma_k)`` below the
    trivial one, ``W = sqrt(n) Lambda^-1/2 V Sigma^-1/2`` and the spectral embedding is
    ``Y = Z W`` (eq. 7); a new sample is embedded by the same ``W`` (the Nyström extension,
    eq. 9), ``y(x) = W^T z(x)``, and bit ``k`` is ``[y_k(x) >= 0]``.

    With ``n_layers=2`` (the paper's hierarchical hashing, Sec. 3.4, its best variant), each
    of the first eigenfunctions gives a second bit as well: thresholds ``b+ > 0 > b-``,
    chosen to minimize the graph cut of that bit in closed form, split each half again,
    and the second bit is on where ``y >= b+`` or ``y <= b-`` (far from the first cut).
    ``ceil(n_bits / 2)`` eigenfunctions give the first-layer bits (columns
    ``0 .. ceil(n_bits / 2) - 1``) and the first ``floor(n_bits / 2)`` of them the
    second-layer ones. One layer uses ``n_bits`` eigenfunctions.

    Parameters
    ----------
    n_bits : int, default=32
        Code length; needs ``n_bits`` (one layer) or ``ceil(n_bits / 2)`` (two layers)
        non-trivial eigenvectors, so at most ``n_anchors - 1`` of them.
    n_anchors : int, default=300
        Anchors ``m`` (k-means centres; at most the number of training samples).
    n_nearest_anchors : int, default=2
        Anchors ``s`` each sample is tied to.
    bandwidth : float or None, default=None
        ``t`` in the weights above; ``None`` uses the squared mean distance from the
        training samples to their ``s``-th nearest anchor.
    n_layers : {1, 2}, default=2
        One-layer or two-layer (hierarchical) AGH.
    random_state : int, RandomState instance or None, default=None
        Seeds k-means.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    anchors_ : ndarray of shape (n_anchors, n_features)
    bandwidth_ : float
    projection_ : ndarray of shape (n_anchors, n_eigenfunctions)
        ``W``.
    eigenvalues_ : ndarray of shape (n_eigenfunctions,)
        ``sigma_k``, decreasing.
    thresholds_ : ndarray of shape (2, n_bits - n_eigenfunctions)
        ``b+`` (first row) and ``b-`` of the second-layer bits (no columns with one layer).
    bit_columns_ : ndarray of shape (n_bits,)
        Which distinct bit (first-layer bits, then second-layer ones) each output bit is:
        ``arange(n_bits)``, unless the graph has too few eigenvectors for ``n_bits`` (tiny
        or duplicated data; a warning says so), when the distinct bits repeat.
    n_bits_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    Notes
    -----
    Unsupervised: ``y`` is ignored. The first-layer projections have zero mean on the
    training set (each eigenvector is orthogonal to the trivial one), so their bits are
    roughly balanced; the second-layer bits are not meant to be. Departures from the
    paper: k-means runs 10 Lloyd iterations from one k-means++ start (the anchors need
    only cover the data); the trivial eigenvector ``Lambda^1/2 1`` is projected out of
    ``M`` before the eigendecomposition, instead of dropping eigenvalues near 1, which is
    the same on a connected anchor graph and keeps the component-splitting eigenvectors of
    a disconnected one.

    References
    ----------
    .. [1] W. Liu, J. Wang, S. Kumar and S.-F. Chang, "Hashing with graphs", ICML 2011.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdml.hashing import AnchorGraphHashing
    >>> X, _ = load_digits(return_X_y=True)
    >>> agh = AnchorGraphHashing(n_bits=16, n_anchors=100, random_state=0).fit(X)
    >>> agh.transform(X[:2]).shape
    (2, 16)
    """

    _parameter_constraints: dict = {
        "n_bits": [Interval(Integral, 1, None, closed="left")],
        "n_anchors": [Interval(Integral, 2, None, closed="left")],
        "n_nearest_anchors": [Interval(Integral, 1, None, closed="left")],
        "bandwidth": [Interval(Real, 0, None, closed="neither"), None],
        "n_layers": [Interval(Integral, 1, 2, closed="both")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_bits=32, *, n_anchors=300, n_nearest_anchors=2, bandwidth=None,
                 n_layers=2, random_state=None, n_jobs=None):
        self.n_bits = n_bits
        self.n_anchors = n_anchors
        self.n_nearest_anchors = n_nearest_anchors
        self.bandwidth = bandwidth
        self.n_layers = n_layers
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _anchor_graph(self, X, bandwidth=None):
        """``Z``: weights of each sample's ``s`` nearest anchors (rows sum to 1), and ``t``."""
        s = min(int(self.n_nearest_anchors), self.anchors_.shape[0])
        D = np.maximum(pairwise_distances(X, self.anchors_, metric="sqeuclidean"), 0)
        nearest = np.argpartition(D, s - 1, axis=1)[:, :s]
        d = np.take_along_axis(D, nearest, axis=1)
        if bandwidth is None:
            bandwidth = float(np.mean(np.sqrt(d.max(axis=1))) ** 2) or 1.0
        # shifted by the nearest distance: the normalization cancels it, and far samples
        # keep finite weights instead of 0 / 0
        w = np.exp(-(d - d.min(axis=1, keepdims=True)) / bandwidth)
        Z = np.zeros_like(D)
        np.put_along_axis(Z, nearest, w / w.sum(axis=1, keepdims=True), axis=1)
        return Z, bandwidth

    @fit_context
    def fit(self, X, y=None):
        """Place the anchors and learn the graph's eigenfunctions (and thresholds).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : AnchorGraphHashing
        """
        X = self._validate_X(X, reset=True).astype(np.float64, copy=False)
        n, r = X.shape[0], int(self.n_bits)
        m = min(int(self.n_anchors), n)
        n_eig = r if self.n_layers == 1 else -(-r // 2)
        kmeans = KMeans(n_clusters=m, n_init=1, max_iter=10,
                        random_state=check_random_state(self.random_state).randint(2**31))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # 10 iterations on purpose
            self.anchors_ = kmeans.fit(X).cluster_centers_
        Z, self.bandwidth_ = self._anchor_graph(X, self.bandwidth)
        lam = Z.sum(axis=0)
        used = lam > 0  # an anchor no sample chose has no edge (its W row stays 0)
        root = np.sqrt(lam[used])
        Zs = Z[:, used] / root
        trivial = root / np.linalg.norm(root)
        M = Zs.T @ Zs - np.outer(trivial, trivial)
        evals, evecs = linalg.eigh(M)
        order = np.argsort(evals)[::-1]
        n_avail = int(np.sum(evals > 1e-10))
        k = min(n_eig, n_avail)
        evals, evecs = evals[order[:k]], evecs[:, order[:k]]
        n_second = min(r - k, k) if self.n_layers == 2 else 0
        n_distinct = k + n_second
        if n_distinct < r:
            warnings.warn(
                f"AnchorGraphHashing: n_bits={r} needs {n_eig} non-trivial eigenvectors of "
                f"the graph of its {m} anchors ({n} samples), which has only {n_avail}: the "
                f"{n_distinct} distinct bits it can learn are repeated to fill the {r} bits "
                "(the Hamming ranking is that of the distinct bits). Lower n_bits, or give "
                "more (distinct) samples and anchors.", UserWarning)
        W = np.zeros((m, k))
        W[used] = np.sqrt(n) * evecs / root[:, None] / np.sqrt(evals)
        self.projection_, self.eigenvalues_ = W, evals
        self.thresholds_ = self._second_layer_thresholds(Z, lam, Z @ W[:, :n_second])
        # output bit j is distinct bit j mod n_distinct (the identity unless warned above)
        self.bit_columns_ = np.arange(r) % max(n_distinct, 1)
        self.n_bits_ = r
        return self

    @staticmethod
    def _second_layer_thresholds(Z, lam, Y):
        """``b+`` and ``b-`` minimizing the cut of each second-layer bit (Sec. 3.4).

        With ``A = Z Lambda^-1 Z^T``, ``P`` the samples with ``y >= 0`` (``n+`` of them,
        ``n-`` the others) and ``beta = (1_P^T y - 1_P^T A |y|) / (n+ - 1_P^T A 1_P)``:
        ``b+ = (2 1_P^T y + n- beta) / n`` and ``b- = (n+ beta - 2 1_P^T y) / n``.
        """
        n = Z.shape[0]
        inv = np.divide(1.0, lam, out=np.zeros_like(lam), where=lam > 0)
        thresholds = np.zeros((2, Y.shape[1]))
        for k, y in enumerate(Y.T):
            pos = y >= 0
            n_pos = int(pos.sum())
            z_pos = Z[pos].sum(axis=0)
            s_pos = float(y[pos].sum())
            cut = n_pos - z_pos @ (inv * z_pos)
            beta = (s_pos - z_pos @ (inv * (Z.T @ np.abs(y)))) / cut if cut > 1e-12 else 0.0
            thresholds[:, k] = (2 * s_pos + (n - n_pos) * beta) / n, (n_pos * beta - 2 * s_pos) / n
        return thresholds

    def _raw(self, X):
        Y = self._anchor_graph(X, self.bandwidth_)[0] @ self.projection_
        b_pos, b_neg = self.thresholds_
        first = Y[:, :b_pos.shape[0]]
        second = np.where(first >= 0, first - b_pos, b_neg - first)
        distinct = np.hstack([Y, second])
        if distinct.shape[1] == 0:  # one distinct sample: no eigenvector, every code equal
            return np.zeros((len(X), self.n_bits_))
        return distinct[:, self.bit_columns_]


class SphericalHashing(_ClassicalHasher):
    """Spherical hashing, SpH (Heo, Lee, He, Chang & Yoon 2012): bits are hyperspheres.

    Bit ``k`` of ``x`` is on when ``x`` lies inside the ``k``-th hypersphere,
    ``|x - p_k| <= t_k`` (the projection is ``t_k - |x - p_k|``). Closed regions bound a
    neighbourhood more tightly than half-spaces. The pivots ``p_k`` and radii ``t_k`` are
    learned so that each bit splits the training set in half (``t_k`` is the median
    distance to ``p_k``: ``o_k = n / 2`` samples inside) and pairs of bits are independent
    (``o_ij = n / 4`` samples inside both spheres). From pivots at means of 5 random
    training samples, each iteration moves every pivot by the average of the forces
    ``f_{i<-j} = (o_ij - n/4) / (n/2) (p_i - p_j)``, pushing apart spheres that overlap too
    much and pulling together those that overlap too little, then resets the radii to the
    medians; it stops when the mean of ``|o_ij - n/4|`` is at most ``tol_mean n/4`` and
    their standard deviation at most ``tol_std n/4`` (the paper's 10 % and 15 %).

    Parameters
    ----------
    n_bits : int, default=32
        Code length (number of hyperspheres; any).
    max_iter : int, default=100
        Most pivot updates; a ``ConvergenceWarning`` says when they did not reach the
        tolerances.
    tol_mean : float, default=0.1
        Tolerance ``epsilon_m`` on the mean of ``|o_ij - n/4|``, as a fraction of ``n/4``.
    tol_std : float, default=0.15
        Tolerance ``epsilon_s`` on the standard deviation of ``o_ij``, a fraction of ``n/4``.
    random_state : int, RandomState instance or None, default=None
        Draws the initial pivots.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    pivots_ : ndarray of shape (n_bits, n_features)
    radii_ : ndarray of shape (n_bits,)
    n_iter_ : int
        Pivot updates made.
    n_bits_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    Notes
    -----
    Unsupervised: ``y`` is ignored. The codes are compared by the Hamming distance, like
    every hasher's here; the paper's spherical Hamming distance (differing bits over bits
    on in both codes) is not offered: on digits it ranked no better than the Hamming
    distance (see the benchmark section of the hashing guide). All training samples take
    part in the pivot updates (the paper subsamples large training sets).

    References
    ----------
    .. [1] J.-P. Heo, Y. Lee, J. He, S.-F. Chang and S.-E. Yoon, "Spherical hashing",
       CVPR 2012.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdml.hashing import SphericalHashing
    >>> X, _ = load_digits(return_X_y=True)
    >>> codes = SphericalHashing(n_bits=16, random_state=0).fit(X).transform(X)
    >>> codes.shape, bool(abs(codes.mean() - 0.5) < 0.01)
    ((1797, 16), True)
    """

    _parameter_constraints: dict = {
        "n_bits": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol_mean": [Interval(Real, 0, None, closed="left")],
        "tol_std": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_bits=32, *, max_iter=100, tol_mean=0.1, tol_std=0.15,
                 random_state=None, n_jobs=None):
        self.n_bits = n_bits
        self.max_iter = max_iter
        self.tol_mean = tol_mean
        self.tol_std = tol_std
        self.random_state = random_state
        self.n_jobs = n_jobs

    @staticmethod
    def _distances(X, pivots):
        return np.sqrt(np.maximum(pairwise_distances(X, pivots, metric="sqeuclidean"), 0))

    @fit_context
    def fit(self, X, y=None):
        """Place the hyperspheres.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : SphericalHashing
        """
        X = self._validate_X(X, reset=True).astype(np.float64, copy=False)
        n, r = X.shape[0], int(self.n_bits)
        rng = check_random_state(self.random_state)
        pivots = np.stack([X[rng.choice(n, min(5, n), replace=False)].mean(axis=0)
                           for _ in range(r)])
        quarter = n / 4
        pairs = np.triu_indices(r, 1)
        n_iter, converged = 0, r == 1  # one sphere: no pair to balance
        while True:
            D = self._distances(X, pivots)
            radii = np.median(D, axis=0)
            inside = (D <= radii).astype(np.float64)
            overlap = inside.T @ inside
            o = overlap[pairs]
            converged = converged or (np.mean(np.abs(o - quarter)) <= self.tol_mean * quarter
                                      and np.std(o) <= self.tol_std * quarter)
            if converged or n_iter == self.max_iter:
                break
            C = (overlap - quarter) / (2 * quarter)
            np.fill_diagonal(C, 0.0)
            # f_i = (1/r) sum_j C_ij (p_i - p_j)
            pivots = pivots + (C.sum(axis=1)[:, None] * pivots - C @ pivots) / r
            n_iter += 1
        if not converged:
            warnings.warn(
                f"SphericalHashing stopped at max_iter={self.max_iter} before the pairwise "
                f"overlaps reached n/4 within tol_mean={self.tol_mean} and "
                f"tol_std={self.tol_std}; raise max_iter.",
                ConvergenceWarning,
            )
        self.pivots_, self.radii_ = pivots, radii
        self.n_iter_ = n_iter
        self.n_bits_ = r
        return self

    def _raw(self, X):
        return self.radii_ - self._distances(X, self.pivots_)
