"""RCA: relevant components analysis (Bar-Hillel, Hertz, Shental and Weinshall, 2005)."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from .._param_validation import Interval
from ..base import BaseMetricLearner, MahalanobisMixin, fit_context
from .._validation import check_classification_labels, check_n_components
from ._psd import standardize, unstandardize_components


class RCA(MahalanobisMixin, BaseMetricLearner):
    """Relevant components analysis (Bar-Hillel et al., JMLR 2005).

    A chunklet is a small group of samples known to share a class (their labels unknown):
    a video track, the photos of one session. RCA whitens the within-chunklet covariance
    ``C = (1/N) sum_chunks sum_{x in chunk} (x - mean_chunk)(x - mean_chunk)^T``: variability
    inside the chunklets is irrelevant, so the learned metric ``M = C^{-1}`` shrinks it. A
    closed form, no iterations.

    To stay finite when ``C`` is singular (few chunklets, ``d > n``, constant or duplicated
    features, where metric-learn's RCA gives NaN on digits) the metric is computed on the
    span of the data only and ``C`` gets a ridge ``regularization * mean eigenvalue``. The
    components come from the generalized eigenproblem ``T v = lambda (C + ridge) v`` with
    ``T`` the total covariance, sorted by decreasing ``lambda``: all of them give exactly
    ``M = (C + ridge)^{-1}`` on that span, and ``n_components`` keeps the most discriminative
    ones (Bar-Hillel et al.'s constrained Fisher discriminant). Features are standardized
    internally and the metric mapped back.

    Fitted from chunklets, ``fit(X, chunks=chunks)`` with one chunk id per sample (``-1``:
    in no chunk); or from class labels, ``fit(X, y)``, which draws ``num_chunks`` disjoint
    chunklets of ``chunk_size`` samples of one class each.

    Parameters
    ----------
    n_components : int, default=None
        Number of output dimensions; ``None`` keeps the whole span of the data.
    num_chunks : int, default=100
        With class labels: the number of chunklets drawn (fewer when the classes run out of
        samples, with a warning).
    chunk_size : int, default=2
        With class labels: the samples per chunklet.
    regularization : float, default=1e-3
        Ridge added to ``C``, relative to its mean eigenvalue on standardized features.
    random_state : int, RandomState instance or None, default=None
        Seeds the drawing of chunklets from class labels.
    n_jobs : int or None, default=None
        Threads of BLAS, OpenMP and numba during ``fit`` and ``transform`` (restored
        afterwards): ``None`` means 1 unless in a ``joblib.parallel_config(n_jobs=...)``
        context, ``-1`` means all cores (scikit-learn's meaning).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L`` with ``L.T @ L = M``.
    n_chunks_ : int
        The number of chunklets used.
    n_components_ : int
    n_features_in_ : int

    References
    ----------
    .. [1] A. Bar-Hillel, T. Hertz, N. Shental and D. Weinshall, "Learning a Mahalanobis
       metric from equivalence constraints", JMLR 6, 2005.

    Examples
    --------
    >>> import numpy as np
    >>> from skdml import RCA
    >>> X = np.array([[0.0, 0.0], [0.1, 5.0], [1.0, 0.0], [1.1, 5.0], [3.0, 1.0], [3.1, 6.0]])
    >>> chunks = [0, 0, 1, 1, 2, 2]  # the second feature varies inside every chunklet
    >>> rca = RCA().fit(X, chunks=chunks)
    >>> Z = rca.transform(X)
    >>> bool(np.linalg.norm(Z[0] - Z[1]) < np.linalg.norm(Z[0] - Z[2]))
    True
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "num_chunks": [Interval(Integral, 1, None, closed="left")],
        "chunk_size": [Interval(Integral, 2, None, closed="left")],
        "regularization": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self, n_components=None, *, num_chunks=100, chunk_size=2, regularization=1e-3,
        random_state=None, n_jobs=None,
    ):
        self.n_components = n_components
        self.num_chunks = num_chunks
        self.chunk_size = chunk_size
        self.regularization = regularization
        self.random_state = random_state
        self.n_jobs = n_jobs

    @fit_context
    def fit(self, X, y=None, *, chunks=None):
        """Learn the metric from chunklets or from class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Class labels of any type; chunklets are drawn from them. Ignored when ``chunks``
            is given.
        chunks : array-like of shape (n_samples,), default=None
            Integer chunk id of each sample, ``-1`` for samples in no chunklet.

        Returns
        -------
        self : RCA
        """
        if chunks is None:
            X, y = validate_data(
                self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2
            )
            _, y_enc = check_classification_labels(y, min_classes=1, estimator=self)
            chunk_ids = _chunks_from_labels(
                y_enc, self.num_chunks, self.chunk_size, check_random_state(self.random_state)
            )
        else:
            X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
            chunk_ids = _check_chunks(chunks, X.shape[0])
        X = X.astype(np.float64, copy=False)
        n_components = check_n_components(self.n_components, X.shape[1], estimator=self)
        self.components_ = self._components(X, chunk_ids, n_components)
        self.n_components_ = self.components_.shape[0]
        self.n_chunks_ = len(np.unique(chunk_ids[chunk_ids >= 0]))
        return self

    def _components(self, X, chunk_ids, n_components):
        Z, scales, varying = standardize(X)
        if not varying.any():
            return np.zeros((1, X.shape[1]))
        Z = Z - Z.mean(axis=0)  # centered after scaling
        inside = chunk_ids >= 0
        _, chunk_enc = np.unique(chunk_ids[inside], return_inverse=True)
        members = Z[inside]
        means = np.zeros((chunk_enc.max() + 1, Z.shape[1]))
        np.add.at(means, chunk_enc, members)
        means /= np.bincount(chunk_enc)[:, None]
        W = members - means[chunk_enc]
        C = W.T @ W / len(W)
        # The span of the data: the range of the total covariance (of all samples).
        t, U = linalg.eigh(Z.T @ Z / len(Z))
        span = t > 1e-10 * t[-1]
        U = U[:, span]
        C_span = U.T @ C @ U
        T_span = np.diag(t[span])
        ridge = max(self.regularization, 1e-10) * max(np.trace(C_span) / len(C_span), 1e-12)
        # V.T (C + ridge) V = I, so V V^T = (C + ridge)^{-1}; lambda ranks discriminability.
        lam, V = linalg.eigh(T_span, C_span + ridge * np.eye(len(C_span)))
        order = np.argsort(lam)[::-1][:n_components]
        L = (U @ V[:, order]).T
        return unstandardize_components(L, scales, varying)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _check_chunks(chunks, n_samples):
    chunks = np.asarray(chunks)
    if chunks.ndim != 1 or chunks.shape[0] != n_samples:
        raise ValueError(
            f"RCA expects one chunk id per sample, an array of shape ({n_samples},), got "
            f"shape {chunks.shape}."
        )
    integral_floats = chunks.dtype.kind == "f" and np.all(np.isfinite(chunks)) and np.all(
        chunks == np.round(chunks)
    )
    if chunks.dtype.kind not in "iu" and not integral_floats:
        raise ValueError(
            f"RCA expects integer chunk ids (-1 for samples in no chunk), got dtype "
            f"{chunks.dtype}."
        )
    chunks = chunks.astype(np.intp)
    if np.any(chunks < -1):
        raise ValueError(
            f"RCA expects chunk ids >= 0, or -1 for samples in no chunk, got {chunks.min()}."
        )
    ids, counts = np.unique(chunks[chunks >= 0], return_counts=True)
    if not np.any(counts >= 2):
        raise ValueError(
            "RCA needs at least one chunklet with two or more samples; got "
            f"{len(ids)} chunklets, each of a single sample."
        )
    return chunks


def _chunks_from_labels(y, num_chunks, chunk_size, rng):
    """Draw up to ``num_chunks`` disjoint chunklets of ``chunk_size`` samples of one class.

    Each chunklet picks a class uniformly among those with ``chunk_size`` unused samples
    left, then that many of them uniformly without replacement. Returns chunk ids (``-1``
    for unused samples).
    """
    counts = np.bincount(y)
    available = counts // chunk_size
    if available.sum() == 0:
        raise ValueError(
            f"RCA cannot draw chunklets of chunk_size={chunk_size} samples: the largest class "
            f"has {counts.max()} samples."
        )
    if available.sum() < num_chunks:
        warnings.warn(
            f"RCA: the classes hold only {available.sum()} disjoint chunklets of "
            f"{chunk_size} samples, fewer than num_chunks={num_chunks}; using them all.",
            UserWarning,
        )
    # How many chunklets each class contributes: draw classes one chunklet at a time.
    per_class = np.zeros_like(available)
    left = available.copy()
    for _ in range(min(num_chunks, available.sum())):
        c = rng.choice(np.flatnonzero(left > 0))
        per_class[c] += 1
        left[c] -= 1
    chunk_ids = np.full(len(y), -1, dtype=np.intp)
    next_id = 0
    for c in np.flatnonzero(per_class):
        members = rng.permutation(np.flatnonzero(y == c))[: per_class[c] * chunk_size]
        chunk_ids[members] = next_id + np.arange(per_class[c]).repeat(chunk_size)
        next_id += per_class[c]
    return chunk_ids
