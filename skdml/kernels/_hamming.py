"""Binary codes: packing, Hamming distances, exact top-k and radius search.

Bit order
---------
A code of ``n_bits`` bits is stored as ``ceil(n_bits / 8)`` bytes (``uint8``), in the order of
``np.packbits(bits, axis=1)`` with its default ``bitorder='big'``: bit 0 of the code is the
*most* significant bit of byte 0, bit 7 the least significant bit of byte 0, bit 8 the most
significant bit of byte 1, and so on; the unused low bits of the last byte are zero. This is
the layout faiss's binary indexes use, so packed codes go to and from ``faiss.IndexBinary*``
unchanged. ``{-1, +1}`` codes map ``+1 -> 1`` and ``-1 -> 0``.

Kernels
-------
Internally each packed row is zero-padded to whole 64-bit words and the database is stored
word-major (``words[w, j]`` is word ``w`` of code ``j``), so the innermost loop runs over
database codes with a fixed query word: a straight ``xor + popcount + add`` over contiguous
memory that LLVM vectorises (``vpopcntq`` on CPUs with AVX-512 VPOPCNTDQ, a ``vpshufb``
popcount on AVX2). The words are consumed by loop bodies of fixed width (four, two, then one
word at a time: 256 bits is one pass of the four-word body, 192 bits a four- and a two-word
pass), so the code width is specialised in the loop bodies while each kernel has only one
compiled version (one signature: uint64 arrays), which keeps numba's compile time down.
Queries are processed in blocks of 64: a tile of the database (16 KiB of codes, held in
L1/L2) is compared with every query of the block before the next tile is read, so the database
streams from memory once per block of queries, not once per query. Work is spread over numba's
threads by query block, or -- when there are too few queries to keep every thread busy -- by
(query block, database segment) with a final merge.

Popcount is LLVM's ``ctpop`` intrinsic, reached through ``numba.extending.intrinsic``:
numba has no ``np.bitwise_count``, and ``ctpop`` is what both the scalar ``popcnt`` instruction
and the vectorised forms are generated from.
"""

import numbers

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

__all__ = [
    "hamming_distances",
    "hamming_knn",
    "hamming_radius_neighbors",
    "pack_codes",
    "pack_words",
    "unpack_codes",
]

#: Bytes of database codes per tile: the tile and its distance buffer stay in L1/L2 while
#: every query of a block is compared with it.
TILE_BYTES = 16384
#: Queries per block: the database streams from memory once per block.
_QBLOCK = 64
#: The smallest database segment worth a thread of its own.
_MIN_SEGMENT = 16384


# ---------------------------------------------------------------------------------------------
# popcount through LLVM's ctpop
# ---------------------------------------------------------------------------------------------
@intrinsic
def _ctpop(typingctx, x):
    """Population count of an unsigned 64-bit integer (LLVM ``llvm.ctpop.i64``)."""
    if x != types.uint64:
        return None
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@njit(inline="always")
def _tile_distances(q, words, start, length, buf):
    """``buf[j] = popcount(q ^ code[start + j])`` summed over words, for j < length.

    ``q`` is one query's words (1-D), ``words`` the word-major database. Returns min(buf).
    The words are consumed four, two or one at a time by fixed-width loop bodies, so the
    inner loop reads up to four contiguous database rows and writes ``buf`` once per four
    words, whatever the code width: the specialisation is in the loop body, not in a
    compiled version per width. The rows are sliced before the loops so that numba indexes
    them from 0 with no negative-index wraparound, and LLVM vectorises the loads (with
    ``start + j`` indexing it emits gathers, 4-5x slower).
    """
    n_words = words.shape[0]
    w = 0
    first = True
    while w < n_words:
        left = n_words - w
        if left >= 4:
            r0 = words[w, start:start + length]
            r1 = words[w + 1, start:start + length]
            r2 = words[w + 2, start:start + length]
            r3 = words[w + 3, start:start + length]
            a0 = q[w]
            a1 = q[w + 1]
            a2 = q[w + 2]
            a3 = q[w + 3]
            if first:
                for j in range(length):
                    buf[j] = np.int32(_ctpop(a0 ^ r0[j]) + _ctpop(a1 ^ r1[j])
                                      + _ctpop(a2 ^ r2[j]) + _ctpop(a3 ^ r3[j]))
            else:
                for j in range(length):
                    buf[j] += np.int32(_ctpop(a0 ^ r0[j]) + _ctpop(a1 ^ r1[j])
                                       + _ctpop(a2 ^ r2[j]) + _ctpop(a3 ^ r3[j]))
            w += 4
        elif left >= 2:
            r0 = words[w, start:start + length]
            r1 = words[w + 1, start:start + length]
            a0 = q[w]
            a1 = q[w + 1]
            if first:
                for j in range(length):
                    buf[j] = np.int32(_ctpop(a0 ^ r0[j]) + _ctpop(a1 ^ r1[j]))
            else:
                for j in range(length):
                    buf[j] += np.int32(_ctpop(a0 ^ r0[j]) + _ctpop(a1 ^ r1[j]))
            w += 2
        else:
            r0 = words[w, start:start + length]
            a0 = q[w]
            if first:
                for j in range(length):
                    buf[j] = np.int32(_ctpop(a0 ^ r0[j]))
            else:
                for j in range(length):
                    buf[j] += np.int32(_ctpop(a0 ^ r0[j]))
            w += 1
        first = False
    low = np.int32(2**30)
    for j in range(length):
        if buf[j] < low:
            low = buf[j]
    return low


# ---------------------------------------------------------------------------------------------
# Kernels (one compiled version each: uint64 2-D C arrays, int64 scalars)
# ---------------------------------------------------------------------------------------------
@njit(parallel=True, cache=True)
def _distances_kernel(Q, words, tile, out):
    """Full matrix ``out[i, j]`` of Hamming distances (int32)."""
    n_q = Q.shape[0]
    n_db = words.shape[1]
    n_blocks = (n_q + _QBLOCK - 1) // _QBLOCK
    for b in prange(n_blocks):
        buf = np.empty(tile, dtype=np.int32)
        q_lo = b * _QBLOCK
        q_hi = min(q_lo + _QBLOCK, n_q)
        for t in range(0, n_db, tile):
            length = min(tile, n_db - t)
            for i in range(q_lo, q_hi):
                _tile_distances(Q[i], words, t, length, buf)
                orow = out[i]
                for j in range(length):
                    orow[t + j] = buf[j]


@njit(parallel=True, cache=True)
def _knn_kernel(Q, words, k, n_seg, skip_offset, tile, part_d, part_i):
    """Top-k per query and database segment, sorted by (distance, index).

    ``part_d/part_i`` have shape (n_seg, n_q, k). Segment ``s`` covers database codes
    ``[s * seg_len, (s + 1) * seg_len)``. ``skip_offset >= 0`` leaves out database code
    ``i + skip_offset`` for query ``i`` (a search of the database in itself). Unfilled slots
    hold ``2**30`` and -1.
    """
    n_q = Q.shape[0]
    n_db = words.shape[1]
    n_blocks = (n_q + _QBLOCK - 1) // _QBLOCK
    seg_len = (n_db + n_seg - 1) // n_seg
    big = np.int32(2**30)
    for task in prange(n_blocks * n_seg):
        b = task // n_seg
        s = task - b * n_seg
        q_lo = b * _QBLOCK
        q_hi = min(q_lo + _QBLOCK, n_q)
        db_lo = s * seg_len
        db_hi = min(db_lo + seg_len, n_db)
        buf = np.empty(tile, dtype=np.int32)
        thr = np.empty(q_hi - q_lo, dtype=np.int32)
        cnt = np.zeros(q_hi - q_lo, dtype=np.int64)
        for i in range(q_lo, q_hi):
            thr[i - q_lo] = big
            for r in range(k):
                part_d[s, i, r] = big
                part_i[s, i, r] = -1
        for t in range(db_lo, db_hi, tile):
            length = min(tile, db_hi - t)
            for i in range(q_lo, q_hi):
                li = i - q_lo
                low = _tile_distances(Q[i], words, t, length, buf)
                if low >= thr[li]:
                    continue
                kd = part_d[s, i]
                ki = part_i[s, i]
                skip = i + skip_offset if skip_offset >= 0 else -1
                for j in range(length):
                    d = buf[j]
                    # Codes arrive in increasing index order, so an equal distance never
                    # displaces a kept code: ties go to the smaller index.
                    if d < thr[li]:
                        idx = t + j
                        if idx == skip:
                            continue
                        c = cnt[li]
                        pos = c if c < k else k - 1
                        while pos > 0 and kd[pos - 1] > d:
                            kd[pos] = kd[pos - 1]
                            ki[pos] = ki[pos - 1]
                            pos -= 1
                        kd[pos] = d
                        ki[pos] = idx
                        if c < k:
                            cnt[li] = c + 1
                        if cnt[li] == k:
                            thr[li] = kd[k - 1]


@njit(parallel=True, cache=True)
def _merge_segments(part_d, part_i, out_d, out_i):
    """Merge per-segment sorted top-k lists; segments cover increasing index ranges."""
    n_seg, n_q, k = part_d.shape
    for i in prange(n_q):
        heads = np.zeros(n_seg, dtype=np.int64)
        for r in range(k):
            best = -1
            for s in range(n_seg):
                h = heads[s]
                if h < k and part_i[s, i, h] >= 0:
                    if best < 0 or part_d[s, i, h] < part_d[best, i, heads[best]]:
                        best = s
            if best < 0:
                out_d[i, r] = 2**30
                out_i[i, r] = -1
            else:
                out_d[i, r] = part_d[best, i, heads[best]]
                out_i[i, r] = part_i[best, i, heads[best]]
                heads[best] += 1


@njit(parallel=True, cache=True)
def _radius_kernel(Q, words, radius, n_seg, skip_offset, tile, counts, indptr, out_i, out_d,
                   fill):
    """Codes within ``radius`` per (segment, query), in increasing index order.

    First call (``fill=False``) writes ``counts[s, i]``; second call (``fill=True``) writes
    the hits of (s, i) from ``indptr[s, i]`` on.
    """
    n_q = Q.shape[0]
    n_db = words.shape[1]
    n_blocks = (n_q + _QBLOCK - 1) // _QBLOCK
    seg_len = (n_db + n_seg - 1) // n_seg
    for task in prange(n_blocks * n_seg):
        b = task // n_seg
        s = task - b * n_seg
        q_lo = b * _QBLOCK
        q_hi = min(q_lo + _QBLOCK, n_q)
        db_lo = s * seg_len
        db_hi = min(db_lo + seg_len, n_db)
        buf = np.empty(tile, dtype=np.int32)
        pos = np.zeros(q_hi - q_lo, dtype=np.int64)
        if fill:
            for i in range(q_lo, q_hi):
                pos[i - q_lo] = indptr[s, i]
        for t in range(db_lo, db_hi, tile):
            length = min(tile, db_hi - t)
            for i in range(q_lo, q_hi):
                li = i - q_lo
                low = _tile_distances(Q[i], words, t, length, buf)
                if low > radius:
                    continue
                skip = i + skip_offset if skip_offset >= 0 else -1
                for j in range(length):
                    if buf[j] <= radius and t + j != skip:
                        if fill:
                            out_i[pos[li]] = t + j
                            out_d[pos[li]] = buf[j]
                        pos[li] += 1
        if not fill:
            for i in range(q_lo, q_hi):
                counts[s, i] = pos[i - q_lo]


# ---------------------------------------------------------------------------------------------
# Packing
# ---------------------------------------------------------------------------------------------
def _n_words(n_bytes):
    return (n_bytes + 7) // 8


def pack_codes(codes):
    """Pack binary codes, one per row, into ``uint8`` rows (``np.packbits`` order).

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_bits)
        Values in ``{0, 1}`` (bool or any numeric dtype) or in ``{-1, +1}`` (``+1`` becomes
        bit 1, ``-1`` bit 0). Not both: a ``-1`` next to a ``0`` is an error.

    Returns
    -------
    packed : ndarray of shape (n_samples, ceil(n_bits / 8)), dtype=uint8
        Bit ``b`` of a code is bit ``7 - b % 8`` (the most significant first) of byte
        ``b // 8``, as ``np.packbits(codes, axis=1)`` lays it out and faiss reads it; unused
        low bits of the last byte are zero.

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.kernels import pack_codes
    >>> pack_codes(np.array([[1, 0, 0, 0, 0, 0, 0, 1, 1]]))
    array([[129, 128]], dtype=uint8)
    >>> pack_codes(np.array([[1, -1, -1, -1, -1, -1, -1, 1]]))
    array([[129]], dtype=uint8)
    """
    bits = _check_bits(codes, "codes")
    return np.packbits(bits, axis=1)


def unpack_codes(packed, n_bits=None, *, signed=False):
    """Inverse of :func:`pack_codes`.

    Parameters
    ----------
    packed : array-like of shape (n_samples, n_bytes), dtype=uint8
    n_bits : int, default=None
        The code width; ``None`` means ``8 * n_bytes``. The padding bits past ``n_bits`` must
        be zero.
    signed : bool, default=False
        Return ``{-1, +1}`` (int8) instead of ``{0, 1}`` (uint8).

    Returns
    -------
    codes : ndarray of shape (n_samples, n_bits)

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.kernels import unpack_codes
    >>> unpack_codes(np.array([[129, 128]], dtype=np.uint8), 9)
    array([[1, 0, 0, 0, 0, 0, 0, 1, 1]], dtype=uint8)
    """
    packed, n_bits = check_packed(packed, n_bits, "packed")
    bits = np.unpackbits(packed, axis=1, count=n_bits)
    if signed:
        return (2 * bits.astype(np.int8) - 1).astype(np.int8)
    return bits


def _check_bits(codes, name):
    """Validate unpacked codes: 2-D, finite, values in {0, 1} or {-1, +1}; return uint8 0/1."""
    arr = np.asarray(codes)
    if arr.dtype.kind == "O":  # numbers in an object array count as numbers (check_array)
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise type(exc)(
                f"{name} must be an array of binary codes; its object dtype does not convert "
                f"to numbers: {exc}"
            ) from exc
    if arr.dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} must be an array of binary codes, got dtype "
            f"{arr.dtype}."
        )
    if arr.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be a numeric or boolean array of binary codes, got dtype {arr.dtype}."
        )
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_bits), got shape {arr.shape}."
        )
    if arr.shape[1] == 0:
        raise ValueError(
            f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required: a "
            "code needs at least one bit."
        )
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite binary codes, got NaN or infinity.")
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=np.uint8)
    values = np.unique(arr)
    if np.all(np.isin(values, (0, 1))):
        return arr.astype(np.uint8)
    if np.all(np.isin(values, (-1, 1))):
        return (arr > 0).astype(np.uint8)
    bad = values[~np.isin(values, (-1, 0, 1))]
    found = (bad if bad.size else values)[:5].tolist()
    raise ValueError(
        f"{name} must hold binary codes with values in {{0, 1}} or in {{-1, +1}} (not both), "
        f"got values {found}."
    )


def check_packed(packed, n_bits=None, name="codes"):
    """Validate packed codes (2-D uint8) and ``n_bits``; return ``(uint8 array, n_bits)``."""
    arr = np.asarray(packed)
    if arr.dtype != np.uint8:
        raise ValueError(
            f"{name} must be packed codes of dtype uint8 (see pack_codes), got dtype {arr.dtype}."
        )
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of packed codes of shape (n_samples, n_bytes), got "
            f"shape {arr.shape}."
        )
    n_bytes = arr.shape[1]
    if n_bytes == 0:
        raise ValueError(f"{name} must have at least one byte per code, got shape {arr.shape}.")
    if n_bits is None:
        return arr, 8 * n_bytes
    if not isinstance(n_bits, numbers.Integral) or isinstance(n_bits, bool) or n_bits < 1:
        raise ValueError(f"n_bits must be a positive integer, got {n_bits!r}.")
    if (int(n_bits) + 7) // 8 != n_bytes:
        raise ValueError(
            f"{name} has {n_bytes} bytes per code, which holds {8 * n_bytes - 7} to "
            f"{8 * n_bytes} bits, but n_bits={n_bits}."
        )
    pad = 8 * n_bytes - int(n_bits)
    if pad and arr.size and np.any(arr[:, -1] & np.uint8((1 << pad) - 1)):
        raise ValueError(
            f"{name}: the {pad} padding bit(s) past n_bits={n_bits} (the low bits of the last "
            "byte) must be zero; were the codes packed with np.packbits' default big-endian "
            "order?"
        )
    return arr, int(n_bits)


def pack_words(packed, *, word_major=False):
    """Zero-pad packed ``uint8`` rows to whole 64-bit words: ``uint64`` array.

    Returns shape ``(n, n_words)``, or ``(n_words, n)`` with ``word_major=True`` (the layout
    the search kernels stream through). Padding bits are zero, so they never count.
    """
    packed = np.asarray(packed, dtype=np.uint8)
    n, n_bytes = packed.shape
    n_words = _n_words(n_bytes)
    if n_bytes == 8 * n_words:
        buf = np.ascontiguousarray(packed)
    else:
        buf = np.zeros((n, 8 * n_words), dtype=np.uint8)
        buf[:, :n_bytes] = packed
    words = buf.view(np.uint64)  # native byte order, the same for queries and database
    return np.ascontiguousarray(words.T) if word_major else words


# ---------------------------------------------------------------------------------------------
# Public search functions (on packed codes)
# ---------------------------------------------------------------------------------------------
def _prepare(A, B):
    A, _ = check_packed(A, None, "A")
    self_search = B is None
    if self_search:
        B = A
    else:
        B, _ = check_packed(B, None, "B")
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"A and B must be codes of the same width, got {A.shape[1]} and {B.shape[1]} bytes "
            "per code."
        )
    return pack_words(A), pack_words(B, word_major=True), self_search


def hamming_distances(A, B=None):
    """Hamming distances between packed codes: the number of differing bits.

    Parameters
    ----------
    A : array-like of shape (n_A, n_bytes), dtype=uint8
        Packed codes (see :func:`pack_codes`).
    B : array-like of shape (n_B, n_bytes), dtype=uint8, default=None
        ``None`` means ``B = A``.

    Returns
    -------
    D : ndarray of shape (n_A, n_B), dtype=int32

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.kernels import hamming_distances, pack_codes
    >>> codes = pack_codes(np.array([[0, 0, 0], [1, 1, 0], [1, 1, 1]]))
    >>> hamming_distances(codes)
    array([[0, 2, 3],
           [2, 0, 1],
           [3, 1, 0]], dtype=int32)
    """
    Q, words, _ = _prepare(A, B)
    out = np.empty((Q.shape[0], words.shape[1]), dtype=np.int32)
    if out.size:
        _distances_kernel(Q, words, _tile(words), out)
    return out


def _tile(words):
    """Database codes per tile: ``TILE_BYTES`` of codes, a multiple of 64, at least 64."""
    return max(64, (TILE_BYTES // (8 * words.shape[0])) // 64 * 64)


def _n_segments(n_q, n_db):
    """Database segments per query block, so every thread has work with few queries."""
    n_threads = numba.get_num_threads()
    n_blocks = max(1, -(-n_q // _QBLOCK))
    if n_blocks >= 4 * n_threads:
        return 1
    want = -(-4 * n_threads // n_blocks)
    return int(max(1, min(want, n_db // _MIN_SEGMENT)))


def hamming_knn(A, B=None, k=1, *, exclude_self=False, _words=None):
    """The ``k`` nearest packed codes of ``B`` for each packed code of ``A``.

    Exact: distances sorted ascending, ties broken by the smaller index of ``B``, as a full
    stable sort would; the full ``n_A x n_B`` matrix is never allocated.

    Parameters
    ----------
    A : array-like of shape (n_queries, n_bytes), dtype=uint8
    B : array-like of shape (n_database, n_bytes), dtype=uint8, default=None
        ``None`` searches ``A`` in itself.
    k : int, default=1
    exclude_self : bool, default=False
        Only with ``B=None``: leave each query out of its own result.

    Returns
    -------
    distances : ndarray of shape (n_queries, k), dtype=int32
    indices : ndarray of shape (n_queries, k), dtype=intp

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.kernels import hamming_knn, pack_codes
    >>> db = pack_codes(np.array([[0, 0, 0], [1, 1, 0], [1, 1, 1], [0, 0, 1]]))
    >>> hamming_knn(pack_codes(np.array([[1, 1, 1]])), db, k=3)
    (array([[0, 1, 2]], dtype=int32), array([[2, 1, 3]]))
    """
    if exclude_self and B is not None:
        raise ValueError("exclude_self=True needs B=None (a search of A in itself).")
    Q, words, _ = _prepare(A, B)
    return _knn_words(Q, words, k, exclude_self)


def _knn_words(Q, words, k, exclude_self):
    """Top-k on prepared words (queries row-major, database word-major)."""
    n_db = words.shape[1] - (1 if exclude_self else 0)
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not 1 <= k <= n_db:
        raise ValueError(
            f"k must be an integer in [1, {n_db}] (the number of database codes"
            f"{' other than the query itself' if exclude_self else ''}), got {k!r}."
        )
    k = int(k)
    n_q = Q.shape[0]
    n_seg = _n_segments(n_q, words.shape[1])
    part_d = np.empty((n_seg, n_q, k), dtype=np.int32)
    part_i = np.empty((n_seg, n_q, k), dtype=np.intp)
    if n_q:
        _knn_kernel(Q, words, k, n_seg, 0 if exclude_self else -1, _tile(words), part_d,
                    part_i)
    if n_seg == 1:
        return part_d[0], part_i[0]
    out_d = np.empty((n_q, k), dtype=np.int32)
    out_i = np.empty((n_q, k), dtype=np.intp)
    _merge_segments(part_d, part_i, out_d, out_i)
    return out_d, out_i


def hamming_radius_neighbors(A, B=None, radius=0, *, exclude_self=False):
    """Every packed code of ``B`` within Hamming distance ``radius`` of each code of ``A``.

    Parameters
    ----------
    A : array-like of shape (n_queries, n_bytes), dtype=uint8
    B : array-like of shape (n_database, n_bytes), dtype=uint8, default=None
        ``None`` searches ``A`` in itself.
    radius : int or float, default=0
        Inclusive: codes at distance ``<= radius`` are returned. Must be >= 0.
    exclude_self : bool, default=False
        Only with ``B=None``: leave each query out of its own result.

    Returns
    -------
    indptr : ndarray of shape (n_queries + 1,), dtype=intp
        The hits of query ``i`` are ``indices[indptr[i]:indptr[i + 1]]`` (CSR layout).
    indices : ndarray of shape (n_hits,), dtype=intp
        In increasing order within each query.
    distances : ndarray of shape (n_hits,), dtype=int32

    Examples
    --------
    >>> import numpy as np
    >>> from skdml.kernels import hamming_radius_neighbors, pack_codes
    >>> db = pack_codes(np.array([[0, 0, 0], [1, 1, 0], [1, 1, 1], [0, 0, 1]]))
    >>> indptr, ind, dist = hamming_radius_neighbors(db[:2], db, radius=1)
    >>> indptr, ind, dist
    (array([0, 2, 4]), array([0, 3, 1, 2]), array([0, 1, 0, 1], dtype=int32))
    """
    if exclude_self and B is not None:
        raise ValueError("exclude_self=True needs B=None (a search of A in itself).")
    Q, words, _ = _prepare(A, B)
    return _radius_words(Q, words, radius, exclude_self)


def _radius_words(Q, words, radius, exclude_self):
    # No distance exceeds the padded code width: a larger radius means the same search
    # (and a huge one, say 1e20, would overflow the kernel's integer).
    radius = min(_check_radius(radius), 64 * words.shape[0])
    n_q = Q.shape[0]
    n_seg = _n_segments(n_q, words.shape[1])
    skip = 0 if exclude_self else -1
    tile = _tile(words)
    counts = np.zeros((n_seg, n_q), dtype=np.intp)
    indptr_sq = np.zeros((n_seg, n_q), dtype=np.intp)
    empty_i = np.empty(0, dtype=np.intp)
    empty_d = np.empty(0, dtype=np.int32)
    if n_q and words.shape[1]:
        _radius_kernel(Q, words, radius, n_seg, skip, tile, counts, indptr_sq, empty_i,
                       empty_d, False)
    # Query-major CSR: the hits of query i are its segments' hits in segment order.
    flat = counts.T.ravel()
    starts = np.concatenate(([0], np.cumsum(flat)))
    indptr_sq[:] = starts[:-1].reshape(n_q, n_seg).T
    out_i = np.empty(starts[-1], dtype=np.intp)
    out_d = np.empty(starts[-1], dtype=np.int32)
    if out_i.size:
        _radius_kernel(Q, words, radius, n_seg, skip, tile, counts, indptr_sq, out_i, out_d,
                       True)
    indptr = starts[::n_seg].astype(np.intp)
    return indptr, out_i, out_d


def _check_radius(radius):
    if (not isinstance(radius, numbers.Real) or isinstance(radius, bool)
            or not np.isfinite(radius) or radius < 0):
        raise ValueError(f"radius must be a finite number >= 0, got {radius!r}.")
    # Distances are integers: d <= r  <=>  d <= floor(r).
    return int(np.floor(radius))
