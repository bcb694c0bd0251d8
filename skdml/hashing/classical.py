"""Classical learning to hash: LSH, PCAH, ITQ, spectral hashing, supervised discrete hashing.

Every hasher is a transformer whose ``transform(X)`` returns ``bool`` codes of shape
``(n_samples, n_bits)``, one bit per column, and ``transform_packed(X)`` the same codes packed
in ``uint8`` bytes (see :class:`~skdml.hashing._base.HasherMixin`); either is searched with
:class:`~skdml.hashing.HammingNeighbors` and scored with :mod:`skdml.metrics_hashing`.
No torch here.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from .._param_validation import Interval
from .._validation import check_classification_labels
from ..base import BaseMetricLearner, fit_context
from ..kernels import pairwise_distances
from ._base import HasherMixin

__all__ = ["ITQ", "LSH", "PCAH", "SpectralHashing", "SupervisedDiscreteHashing"]


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
    """Mean and the top ``n_components`` principal directions (rows), largest first.

    Eigenvectors of the covariance by LAPACK (scipy's ``eigh`` with an index subset); each
    direction's sign is fixed (its largest-magnitude entry positive) so that a fit is
    deterministic.
    """
    mean = X.mean(axis=0)
    Xc = X - mean
    d = X.shape[1]
    cov = Xc.T @ Xc / max(X.shape[0] - 1, 1)
    evals, evecs = linalg.eigh(cov, subset_by_index=[d - n_components, d - 1])
    order = np.argsort(evals)[::-1]
    evals, evecs = np.clip(evals[order], 0, None), evecs[:, order]
    flip = np.sign(evecs[np.abs(evecs).argmax(axis=0), np.arange(n_components)])
    flip[flip == 0] = 1
    return mean, (evecs * flip).T, evals


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
        V = (X - mean) @ U.T
        rng = check_random_state(self.random_state)
        R, _ = np.linalg.qr(rng.standard_normal((k, k)))
        losses = []
        converged = False
        for _ in range(self.max_iter):
            VR = V @ R
            B = np.where(VR >= 0, 1.0, -1.0)
            losses.append(float(np.sum((B - VR) ** 2)))
            if len(losses) > 1 and losses[-2] - losses[-1] <= self.tol * losses[-2]:
                converged = True
                break
            # orthogonal Procrustes: R = argmax tr(R^T V^T B) over orthogonal R
            Uo, _, Vt = np.linalg.svd(V.T @ B)
            R = Uo @ Vt
        if not converged:
            warnings.warn(
                f"ITQ stopped at max_iter={self.max_iter} before the quantization loss "
                f"settled (relative decrease above tol={self.tol}); raise max_iter.",
                ConvergenceWarning,
            )
        self.mean_, self.components_, self.rotation_ = mean, U, R
        self.quantization_loss_ = np.asarray(losses)
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
        D = pairwise_distances(X, self.anchors_, metric="sqeuclidean")
        Phi = np.exp(-np.maximum(D, 0) / (2 * self.sigma_**2))
        return np.hstack([Phi, np.ones((X.shape[0], 1))])

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
        n_anchors = min(int(self.n_anchors), n)
        self.anchors_ = X[np.sort(rng.choice(n, n_anchors, replace=False))]
        if self.sigma is None:
            dist = np.sqrt(np.maximum(
                pairwise_distances(X, self.anchors_, metric="sqeuclidean"), 0))
            self.sigma_ = float(dist.mean()) if dist.mean() > 0 else 1.0
        else:
            self.sigma_ = float(self.sigma)
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
