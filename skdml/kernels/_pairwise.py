"""Distances between real vectors: full, paired, chunked, and exact top-k neighbor search.

Metrics: 'sqeuclidean', 'euclidean', 'mahalanobis' (given ``M`` or ``L``), 'cosine',
'manhattan', 'chebyshev'; float32 and float64 (the result has the inputs' dtype).

- Euclidean: the cross term of ``||x - y||^2 = ||x||^2 + ||y||^2 - 2 x.y`` goes through BLAS
  (the fastest route on any machine, the one sklearn takes); numba does the element-wise rest
  in place, without temporaries.
- Mahalanobis: ``d(x, y) = sqrt((x - y)^T M (x - y)) = ||L x - L y||`` with ``M = L^T L``.
  ``M`` is factored once (Cholesky, or an eigendecomposition when ``M`` is only
  semi-definite), the data are mapped by ``L`` once, and the Euclidean path does the rest:
  ``O((n + m) d^2 + n m d)`` instead of the ``O(n m d^2)`` of a per-pair quadratic form.
- Cosine: ``1 - x.y / (||x|| ||y||)`` from BLAS on row-normalised data; a zero vector has
  cosine similarity 0 with everything (distance 1), as in scikit-learn.
- Manhattan and Chebyshev: numba loops with the database transposed, so the innermost loop
  runs over database points (vectorised, and summed in a fixed order so results do not
  depend on the number of threads).

Row blocks are spread over numba's number of threads as Python threads, with BLAS held to one
thread each and every numba kernel serial and GIL-free (see ``_over_row_chunks``). Top-k
selection (see ``_topk``) streams the database through cache-sized tiles of at most
``working_memory`` bytes and a bounded heap per query, so the full matrix never exists.
"""

import numbers
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numba
from numba import njit
from scipy import linalg
from sklearn.utils import check_array
from threadpoolctl import ThreadpoolController

from ._topk import topk_finalize, topk_update

__all__ = [
    "METRICS",
    "knn",
    "paired_distances",
    "pairwise_distances",
    "pairwise_distances_chunked",
]

METRICS = ("euclidean", "sqeuclidean", "mahalanobis", "cosine", "manhattan", "chebyshev")
#: Bytes of working memory one distance block may take.
WORKING_MEMORY = 64 * 2**20
#: Bytes of one distance block in a kNN search (it stays in the L2/L3 cache).
TILE_BYTES = 2 * 2**20
#: Database points per tile of the Manhattan / Chebyshev loops (the tile's transposed
#: coordinates and one row of results stay in L1/L2).
_TILE = 512


# --------------------------------------------------------------------------- numba kernels
@njit(nogil=True, cache=True)
def _finish_sqeuclidean(G, xx, yy, squared):
    """G <- max(xx[:, None] + yy[None, :] - 2 G, 0) in place (optionally sqrt)."""
    n, m = G.shape
    for i in range(n):
        for j in range(m):
            v = xx[i] + yy[j] - 2.0 * G[i, j]
            if v < 0.0:
                v = 0.0
            G[i, j] = v if squared else np.sqrt(v)


@njit(nogil=True, cache=True)
def _finish_cosine(G):
    """G <- clip(1 - G, 0, 2) in place (G holds cosine similarities)."""
    n, m = G.shape
    for i in range(n):
        for j in range(m):
            v = 1.0 - G[i, j]
            if v < 0.0:
                v = 0.0
            elif v > 2.0:
                v = 2.0
            G[i, j] = v


@njit(nogil=True, cache=True)
def _minkowski_block(X, Yt, chebyshev, out):
    """out[i, j] = sum_k |X[i, k] - Yt[k, j]| (or the max with ``chebyshev``).

    ``Yt`` is the database transposed (n_features, m): the inner loop runs over ``j`` with
    one coordinate of the query fixed, which vectorises without reassociating the sum.
    """
    n, d = X.shape
    m = Yt.shape[1]
    n_tiles = (m + _TILE - 1) // _TILE
    for task in range(n * n_tiles):
        i = task // n_tiles
        t = (task - i * n_tiles) * _TILE
        length = min(_TILE, m - t)
        acc = out[i, t:t + length]
        for j in range(length):
            acc[j] = 0.0
        for k in range(d):
            xk = X[i, k]
            row = Yt[k, t:t + length]
            if chebyshev:
                for j in range(length):
                    acc[j] = max(acc[j], abs(xk - row[j]))
            else:
                for j in range(length):
                    acc[j] += abs(xk - row[j])


@njit(nogil=True, cache=True)
def _paired_kernel(A, B, kind, out):
    """Paired distances from the differences; kind 0 = squared L2, 1 = L1, 2 = L-inf."""
    n, d = A.shape
    for i in range(n):
        s = 0.0
        for j in range(d):
            t = A[i, j] - B[i, j]
            if kind == 0:
                s += t * t
            elif kind == 1:
                s += abs(t)
            elif abs(t) > s:
                s = abs(t)
        out[i] = s


# --------------------------------------------------------------------------- validation
def _check_metric(metric, M, L):
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")
    if metric == "mahalanobis":
        if (M is None) == (L is None):
            raise ValueError(
                "metric='mahalanobis' needs exactly one of M (the PSD Mahalanobis matrix) or "
                "L (a linear map with M = L.T @ L), got "
                f"{'both' if M is not None else 'neither'}."
            )
    elif M is not None or L is not None:
        raise ValueError(
            f"M and L are only used with metric='mahalanobis', got metric={metric!r}."
        )
    return metric


def _check_data(X, name):
    return check_array(
        X, dtype=(np.float64, np.float32), input_name=name, ensure_min_samples=0
    )


def _check_pair(X, Y, *, x_name="X", y_name="Y"):
    X = _check_data(X, x_name)
    if Y is None:
        return X, X
    Y = _check_data(Y, y_name)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"{x_name} and {y_name} must have the same number of features, got {X.shape[1]} "
            f"and {Y.shape[1]}."
        )
    dtype = np.result_type(X, Y)
    return X.astype(dtype, copy=False), Y.astype(dtype, copy=False)


def mahalanobis_components(M=None, L=None, n_features=None):
    """The map ``L`` (``M = L.T @ L``) for a Mahalanobis distance given ``M`` or ``L``.

    ``M`` must be symmetric positive semi-definite. It is factored by Cholesky when it is
    definite, and otherwise by an eigendecomposition (``L = sqrt(w) V^T``) after checking that
    no eigenvalue is below ``-tol * max|w|``; such small negative ones are rounding and are
    clipped. ``tol`` is ``1e-10``, or ``10 * n_features`` times the machine epsilon of a
    float32 ``M``, whose own rounding makes a singular PSD matrix slightly indefinite.

    Parameters
    ----------
    M : array-like of shape (n_features, n_features), default=None
    L : array-like of shape (n_components, n_features), default=None
    n_features : int, default=None
        The data's number of features, checked against ``M`` / ``L``.

    Returns
    -------
    L : ndarray of shape (n_components, n_features), float64
    """
    if (M is None) == (L is None):
        raise ValueError(
            "mahalanobis_components needs exactly one of M (the PSD Mahalanobis matrix) or L "
            f"(a linear map with M = L.T @ L), got {'both' if M is not None else 'neither'}."
        )
    if L is not None:
        L = check_array(L, dtype=np.float64, input_name="L")
        if n_features is not None and L.shape[1] != n_features:
            raise ValueError(
                f"L must have shape (n_components, {n_features}) for data with {n_features} "
                f"features, got {L.shape}."
            )
        return L
    given = np.asarray(M).dtype
    given_eps = np.finfo(given).eps if given.kind == "f" else 0.0
    M = check_array(M, dtype=np.float64, input_name="M")
    if M.shape[0] != M.shape[1]:
        raise ValueError(f"M must be a square matrix, got shape {M.shape}.")
    if n_features is not None and M.shape[0] != n_features:
        raise ValueError(
            f"M must have shape ({n_features}, {n_features}) for data with {n_features} "
            f"features, got {M.shape}."
        )
    scale = np.max(np.abs(M)) if M.size else 0.0
    if not np.allclose(M, M.T, rtol=1e-7, atol=1e-12 * scale):
        raise ValueError(
            "M must be symmetric, got a matrix with max |M - M.T| = "
            f"{np.max(np.abs(M - M.T)):.3g}."
        )
    M = 0.5 * (M + M.T)
    try:
        return linalg.cholesky(M, lower=False, check_finite=False)  # M = U^T U
    except linalg.LinAlgError:
        pass
    w, V = linalg.eigh(M, check_finite=False)
    rtol = max(1e-10, 10 * M.shape[0] * given_eps)
    tol = rtol * max(np.max(np.abs(w)), np.finfo(np.float64).tiny)
    if w[0] < -tol:
        raise ValueError(
            f"M must be positive semi-definite, got a smallest eigenvalue of {w[0]:.3g} "
            f"(largest {w[-1]:.3g})."
        )
    return np.sqrt(np.clip(w, 0.0, None))[:, None] * V.T


def _prepare(X, Y, metric, M, L):
    """Validate and map the data so that each metric is one of the base kinds.

    Returns ``(X, Y, kind, same)``; kind is 'sq' (squared Euclidean), 'cosine', 'manhattan'
    or 'chebyshev'; ``same`` says Y is X (a self-search: zero diagonal).
    """
    _check_metric(metric, M, L)
    same = Y is None
    X, Y = _check_pair(X, Y)
    if metric == "mahalanobis":
        Lm = mahalanobis_components(M, L, X.shape[1]).astype(X.dtype, copy=False)
        X = X @ Lm.T
        Y = X if same else Y @ Lm.T
    kind = {"euclidean": "sq", "sqeuclidean": "sq", "mahalanobis": "sq"}.get(metric, metric)
    if kind == "cosine":
        X = _normalize(X)
        Y = X if same else _normalize(Y)
    if kind in ("manhattan", "chebyshev"):
        X = np.ascontiguousarray(X)
        Y = np.ascontiguousarray(Y.T)  # transposed once: (n_features, n_Y)
    return X, Y, kind, same


def _normalize(X):
    """Rows scaled to unit norm (zero rows stay zero), without under- or overflow."""
    peak = np.max(np.abs(X), axis=1) if X.shape[1] else np.zeros(X.shape[0], X.dtype)
    peak[peak == 0.0] = 1.0
    X = X / peak[:, None]  # entries in [-1, 1]: the squared norm cannot under/overflow
    norms = np.sqrt(_row_norms(X))
    norms[norms == 0.0] = 1.0
    X /= norms[:, None]
    return X


def _row_norms(X):
    return np.einsum("ij,ij->i", X, X)


def _block(X, Y, kind, yy, squared, out=None):
    """Distances between rows of X and the prepared database Y (see ``_prepare``)."""
    if kind in ("sq", "cosine"):
        G = np.matmul(X, Y.T, out=out)
        if kind == "sq":
            _finish_sqeuclidean(G, _row_norms(X), yy, squared)
        else:
            _finish_cosine(G)
        return G
    if out is None:
        out = np.empty((X.shape[0], Y.shape[1]), dtype=X.dtype)
    if out.size:
        _minkowski_block(np.ascontiguousarray(X), Y, kind == "chebyshev", out)
    return out


_CONTROLLER = None
#: Work (about n_X * n_Y * n_features) below which the thread pool is not worth starting.
_PARALLEL_WORK = 2**23


def _over_row_chunks(fn, n_rows, chunk, work):
    """Call ``fn(start, stop)`` for row chunks of ``chunk`` rows, on numba's threads.

    The blocks are spread over ``numba.get_num_threads()`` Python threads with BLAS held to
    one thread each (the scheme of scikit-learn's pairwise reductions): every kernel here is
    serial and releases the GIL, so one pool of threads does all the work. Two pools taking
    turns (a multi-threaded BLAS call, then a numba parallel loop, block after block) spin
    against each other and collapse on a busy machine. Small problems (``work``, about the
    number of flops, below ``_PARALLEL_WORK``) run inline.
    """
    global _CONTROLLER
    starts = list(range(0, n_rows, chunk))
    n_threads = min(numba.get_num_threads(), len(starts))
    if n_threads <= 1 or work < _PARALLEL_WORK:
        for start in starts:
            fn(start, min(start + chunk, n_rows))
        return
    if _CONTROLLER is None:  # inspecting the loaded libraries takes ~10 ms: do it once
        _CONTROLLER = ThreadpoolController()
    with _CONTROLLER.limit(limits=1, user_api="blas"), ThreadPoolExecutor(n_threads) as pool:
        futures = [pool.submit(fn, start, min(start + chunk, n_rows)) for start in starts]
        for future in futures:
            future.result()


def _compute(X, Y, kind, yy, squared):
    """The full block ``D(X, Y)``, computed in row chunks over the threads."""
    n, m = X.shape[0], _db_size(Y, kind)
    out = np.empty((n, m), dtype=X.dtype)
    if out.size == 0:
        return out
    chunk = max(1, min(256, -(-n // (4 * numba.get_num_threads()))))

    def fill(start, stop):
        _block(X[start:stop], Y, kind, yy, squared, out=out[start:stop])

    _over_row_chunks(fill, n, chunk, n * m * X.shape[1])
    return out


def _db_size(Y, kind):
    return Y.shape[1] if kind in ("manhattan", "chebyshev") else Y.shape[0]


# --------------------------------------------------------------------------- public API
def pairwise_distances(X, Y=None, *, metric="euclidean", M=None, L=None):
    """Distances between the rows of ``X`` and the rows of ``Y``.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
    Y : array-like of shape (n_samples_Y, n_features), default=None
        ``None`` means ``Y = X`` (the diagonal is then exactly zero).
    metric : {'euclidean', 'sqeuclidean', 'mahalanobis', 'cosine', 'manhattan', \
'chebyshev'}, default='euclidean'
    M : array-like of shape (n_features, n_features), default=None
        With ``metric='mahalanobis'``: the symmetric PSD matrix of
        ``d(x, y) = sqrt((x - y)^T M (x - y))``.
    L : array-like of shape (n_components, n_features), default=None
        With ``metric='mahalanobis'``, instead of ``M``: the linear map with ``M = L.T @ L``,
        so ``d(x, y) = ||L x - L y||``.

    Returns
    -------
    D : ndarray of shape (n_samples_X, n_samples_Y)
        In the dtype of the inputs (float32 stays float32).

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.kernels import pairwise_distances
    >>> pairwise_distances(np.array([[0.0, 0.0], [3.0, 4.0]]))
    array([[0., 5.],
           [5., 0.]])
    >>> pairwise_distances(np.array([[0.0, 0.0], [3.0, 4.0]]), metric="manhattan")
    array([[0., 7.],
           [7., 0.]])
    >>> pairwise_distances(np.array([[0.0, 0.0], [3.0, 4.0]]), metric="mahalanobis",
    ...                    M=np.diag([4.0, 0.0]))
    array([[0., 6.],
           [6., 0.]])
    """
    X, Y, kind, same = _prepare(X, Y, metric, M, L)
    yy = _row_norms(Y) if kind == "sq" else None
    D = _compute(X, Y, kind, yy, metric == "sqeuclidean")
    if same:
        np.fill_diagonal(D, 0.0)
    return D


def pairwise_distances_chunked(
    X, Y=None, *, metric="euclidean", M=None, L=None, working_memory=None, reduce_func=None
):
    """Yield ``pairwise_distances(X, Y)`` row block by row block, never the full matrix.

    Parameters
    ----------
    X, Y, metric, M, L
        As in :func:`pairwise_distances`.
    working_memory : int, default=None
        Bytes one block may take (default 64 MiB); a block has at least one row.
    reduce_func : callable, default=None
        ``reduce_func(block, start)`` applied to each block (``start`` is the index of its
        first row in ``X``) and its result yielded, as in scikit-learn's
        ``pairwise_distances_chunked``. ``None`` yields ``(start, block)``.

    Yields
    ------
    (start, block) or reduce_func(block, start)
        ``block = D[start:start + len(block)]``, of shape (rows, n_samples_Y).

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.kernels import pairwise_distances_chunked
    >>> X = np.arange(8.0).reshape(4, 2)
    >>> [(start, block.shape) for start, block in pairwise_distances_chunked(
    ...     X, working_memory=64)]
    [(0, (2, 4)), (2, (2, 4))]
    >>> list(pairwise_distances_chunked(X, metric="chebyshev", working_memory=64,
    ...                                 reduce_func=lambda block, start: block.max(1).tolist()))
    [[6.0, 4.0], [4.0, 6.0]]
    """
    X, Y, kind, same = _prepare(X, Y, metric, M, L)
    yy = _row_norms(Y) if kind == "sq" else None
    n_db = _db_size(Y, kind)
    rows = _chunk_rows(n_db, X.dtype.itemsize, working_memory)
    squared = metric == "sqeuclidean"
    for start in range(0, X.shape[0], rows):
        block = _compute(X[start:start + rows], Y, kind, yy, squared)
        if same:
            r = np.arange(block.shape[0])
            block[r, start + r] = 0.0
        yield (start, block) if reduce_func is None else reduce_func(block, start)


def _chunk_rows(n_cols, itemsize, working_memory):
    budget = WORKING_MEMORY if working_memory is None else working_memory
    if not isinstance(budget, numbers.Real) or isinstance(budget, bool) or not budget > 0:
        raise ValueError(f"working_memory must be a positive number of bytes, got {budget!r}.")
    return max(1, int(budget // max(1, n_cols * itemsize)))


def _knn_tile(n_q, n_db, itemsize, working_memory):
    """(query rows, database columns) of one distance block in a kNN search.

    At most ``TILE_BYTES`` (cache-sized: the block is computed, scanned and dropped while it
    is hot) and never more than ``working_memory``.
    """
    _chunk_rows(1, 1, working_memory)  # validates working_memory
    budget = min(TILE_BYTES, WORKING_MEMORY if working_memory is None else working_memory)
    rows = max(1, min(n_q, 256))
    cols = max(1, min(n_db, int(budget // (rows * itemsize))))
    if cols < 256 and n_db > cols:  # a narrow budget: fewer rows, wider blocks
        rows = max(1, int(budget // (min(n_db, 256) * itemsize)))
        cols = max(1, min(n_db, int(budget // (rows * itemsize))))
    return rows, cols


def paired_distances(A, B, *, metric="euclidean", M=None, L=None):
    """Distance between ``A[i]`` and ``B[i]`` for every row ``i``.

    Computed from the differences, so ``paired_distances(A, A)`` is exactly zero (except,
    for 'cosine', at zero vectors, which are at distance 1 from everything).

    Parameters
    ----------
    A, B : array-like of shape (n_pairs, n_features)
    metric, M, L
        As in :func:`pairwise_distances`.

    Returns
    -------
    distances : ndarray of shape (n_pairs,)

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.kernels import paired_distances
    >>> paired_distances(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[3.0, 4.0], [1.0, 2.0]]))
    array([5., 1.])
    """
    _check_metric(metric, M, L)
    A, B = _check_pair(A, B, x_name="A", y_name="B")
    if A.shape[0] != B.shape[0]:
        raise ValueError(
            f"A and B must have the same number of rows, got {A.shape[0]} and {B.shape[0]}."
        )
    if metric == "cosine":
        # 1 - cos(a, b) = ||a/|a| - b/|b|||^2 / 2: from the differences, so identical rows
        # give exactly 0; a zero vector is at distance 1 from everything, as in
        # pairwise_distances.
        An, Bn = _normalize(A), _normalize(B)
        out = paired_distances(An, Bn, metric="sqeuclidean") * 0.5
        zero = ~np.any(A, axis=1) | ~np.any(B, axis=1)
        out[zero] = 1.0
        return np.clip(out, 0.0, 2.0, out=out)
    diff_a, diff_b = A, B
    if metric == "mahalanobis":
        Lm = mahalanobis_components(M, L, A.shape[1]).astype(A.dtype, copy=False)
        diff_a, diff_b = A @ Lm.T, B @ Lm.T
    kind = {"manhattan": 1, "chebyshev": 2}.get(metric, 0)
    out = np.empty(A.shape[0], dtype=A.dtype)
    if out.size:
        _paired_kernel(np.ascontiguousarray(diff_a), np.ascontiguousarray(diff_b), kind, out)
    if metric in ("euclidean", "mahalanobis"):
        np.sqrt(out, out=out)
    return out


def knn(X, Y=None, k=1, *, metric="euclidean", M=None, L=None, exclude_self=False,
        working_memory=None):
    """The ``k`` nearest rows of ``Y`` for each row of ``X``, without the full matrix.

    Parameters
    ----------
    X : array-like of shape (n_queries, n_features)
    Y : array-like of shape (n_database, n_features), default=None
        ``None`` searches ``X`` in itself.
    k : int, default=1
    metric, M, L
        As in :func:`pairwise_distances`.
    exclude_self : bool, default=False
        Only with ``Y=None``: leave each query out of its own result (leave-one-out).
    working_memory : int, default=None
        Bytes one distance block may take (default 64 MiB): the peak memory is about this
        plus the inputs and the ``(n_queries, k)`` results.

    Returns
    -------
    distances : ndarray of shape (n_queries, k)
        Sorted ascending; ties broken by the smaller database index (as a stable sort).
    indices : ndarray of shape (n_queries, k), dtype=intp

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.kernels import knn
    >>> X = np.array([[0.0], [1.0], [3.0]])
    >>> knn(X, k=1, exclude_self=True)[1].ravel()
    array([1, 0, 1])
    """
    self_search = Y is None
    if exclude_self and not self_search:
        raise ValueError("exclude_self=True needs Y=None (a search of X in itself).")
    X, Y, kind, same = _prepare(X, Y, metric, M, L)
    n_db = _db_size(Y, kind)
    n_valid = n_db - (1 if exclude_self else 0)
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not 1 <= k <= n_valid:
        raise ValueError(
            f"k must be an integer in [1, {n_valid}] (the number of database points"
            f"{' other than the query' if exclude_self else ''}), got {k!r}."
        )
    k = int(k)
    yy = _row_norms(Y) if kind == "sq" else None
    rows, cols = _knn_tile(X.shape[0], n_db, X.dtype.itemsize, working_memory)
    dist = np.empty((X.shape[0], k), dtype=X.dtype)
    ind = np.empty((X.shape[0], k), dtype=np.intp)
    diag = np.arange(X.shape[0]) if same else np.full(X.shape[0], -1, dtype=np.intp)
    transposed = kind in ("manhattan", "chebyshev")

    def search(start, stop):
        # One row chunk: stream the database in cache-sized tiles through the heaps.
        Xc = X[start:stop]
        hd, hi = dist[start:stop], ind[start:stop]
        sizes = np.zeros(stop - start, dtype=np.intp)
        for c0 in range(0, n_db, cols):
            c1 = min(c0 + cols, n_db)
            Yc = np.ascontiguousarray(Y[:, c0:c1]) if transposed else Y[c0:c1]
            block = _block(Xc, Yc, kind, None if yy is None else yy[c0:c1], True)
            topk_update(block, c0, diag[start:stop], bool(exclude_self), hd, hi, sizes)
        topk_finalize(hd, hi, sizes)

    _over_row_chunks(search, X.shape[0], rows, X.shape[0] * n_db * X.shape[1])
    if metric in ("euclidean", "mahalanobis"):
        np.sqrt(dist, out=dist)
    return dist, ind
