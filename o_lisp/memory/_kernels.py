"""Numba kernels for exact top-k inner-product search over float32 and int8 matrices.

Why hand-written kernels rather than ``matrix @ query`` + ``argpartition``:
NumPy materialises all n scores, then makes a second pass to select the k best
and a third to sort them; the kernel keeps a running top-k while it streams the
matrix once, so a query costs one memory pass and no n-sized temporaries. With
the int8 matrix that pass reads four times fewer bytes.

Rows are L2-normalised by the caller, so the inner product is the cosine.

Parallelism: the rows are cut into contiguous chunks and ``prange`` runs over
the chunk ids. Chunk ``c`` writes only ``top_scores[c]`` and ``top_ids[c]``
(its own top-k), so no slot is ever written by two threads; the per-chunk
lists are merged serially at the end. Within a chunk rows are visited in
increasing order and a row enters the list only if it is *strictly* better
than the current last, so ties are broken by the smaller row index, exactly as
the merge does: results are deterministic and independent of the thread count.

Every kernel takes ``mask``: an empty array means "all rows", otherwise a uint8
array of length n where 0 excludes the row (used to search one memory kind).

``cache=True``: compiled code is cached on disk (see `_numba_env` for where and
why) so a fresh process loads it instead of compiling. The cache is keyed by
argument types, so the Python wrappers below always pass the same dtypes and
C-contiguous, writable arrays; ``python -m o_lisp.memory.warmup`` compiles
every signature once.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numba
import numpy as np
from numba import njit, prange

# Importing this module first runs the package's __init__, which imports
# _numba_env before anything else, so NUMBA_CACHE_DIR is set before the
# decorators below create their caches; the explicit import documents the need.
from o_lisp.memory import _numba_env  # noqa: F401
from o_lisp.memory._errors import MemorySearchError

Array = np.ndarray[Any, Any]
# Scalars inside kernels are Numba-typed (int64, float32, ...); they are annotated
# `Any` (or np.int64 at the boundary) because Python's int/float do not describe them.

#: Below this many rows per chunk, splitting across threads costs more than it saves.
MIN_ROWS_PER_CHUNK = 2048
#: Chunks per thread: a few, to bound per-chunk work (prange schedules them statically).
CHUNKS_PER_THREAD = 4
#: Row tile of the batch kernels: each query vector loaded from cache serves this many rows.
ROW_TILE = 4


@njit(cache=True)
def _n_chunks(n: Any, nthreads: Any) -> Any:
    """How many row chunks: a few per thread, none smaller than MIN_ROWS_PER_CHUNK rows.

    The thread count is an argument, not ``numba.get_num_threads()`` inside the
    kernel: that call is a dynamic global and would make the kernel uncachable.
    """
    if n <= 0:
        return 1
    by_size = max(1, n // MIN_ROWS_PER_CHUNK)
    return min(by_size, max(1, nthreads) * CHUNKS_PER_THREAD)


@njit(cache=True, inline="always")
def _push(scores: Array, ids: Array, score: Any, row: Any, k: Any) -> None:
    """Insert (score, row) into a descending top-k list if strictly better than its last."""
    if ids[k - 1] >= 0 and not score > scores[k - 1]:
        return
    pos = k - 1
    while pos > 0 and (ids[pos - 1] < 0 or score > scores[pos - 1]):
        scores[pos] = scores[pos - 1]
        ids[pos] = ids[pos - 1]
        pos -= 1
    scores[pos] = score
    ids[pos] = row


@njit(cache=True)
def _merge(top_scores: Array, top_ids: Array, k: np.int64) -> tuple[Array, Array]:
    """Merge per-chunk descending top-k lists; ties go to the smaller row id."""
    nchunks = top_ids.shape[0]
    heads = np.zeros(nchunks, np.int64)
    out_ids = np.empty(k, np.int64)
    out_scores = np.empty(k, np.float32)
    m = 0
    while m < k:
        best = -1
        for c in range(nchunks):
            h = heads[c]
            if h >= k or top_ids[c, h] < 0:
                continue
            if best < 0:
                best = c
                continue
            bh = heads[best]
            s, bs = top_scores[c, h], top_scores[best, bh]
            if s > bs or (s == bs and top_ids[c, h] < top_ids[best, bh]):
                best = c
        if best < 0:
            break
        out_ids[m] = top_ids[best, heads[best]]
        out_scores[m] = top_scores[best, heads[best]]
        heads[best] += 1
        m += 1
    return out_ids[:m], out_scores[:m]


@njit(parallel=True, cache=True, fastmath=True)
def topk_f32_kernel(matrix: Array, query: Array, k: np.int64, mask: Array, nthreads: np.int64) -> tuple[Array, Array]:
    """Top-k rows of ``matrix @ query`` (float32), one query."""
    n, d = matrix.shape
    use_mask = mask.shape[0] > 0
    nchunks = _n_chunks(n, nthreads)
    per = (n + nchunks - 1) // nchunks
    top_scores = np.full((nchunks, k), -np.inf, np.float32)
    top_ids = np.full((nchunks, k), -1, np.int64)
    for c in prange(nchunks):
        scores = top_scores[c]
        ids = top_ids[c]
        for r in range(c * per, min(n, (c + 1) * per)):
            if use_mask and mask[r] == 0:
                continue
            acc = np.float32(0.0)
            for j in range(d):
                acc += matrix[r, j] * query[j]
            _push(scores, ids, acc, r, k)
    return _merge(top_scores, top_ids, k)


@njit(parallel=True, cache=True, fastmath=True)
def topk_i8_kernel(
    matrix: Array, scales: Array, query: Array, k: np.int64, mask: Array, nthreads: np.int64
) -> tuple[Array, Array]:
    """Top-k rows of the int8 matrix (per-row ``scales``) against a float32 query.

    The query stays float (asymmetric quantisation): only the matrix loses
    precision, which roughly halves the score error of quantising both. Each
    int8 is widened to float32 and fused-multiply-added (Numba promotes int32
    products to int64, which does not vectorise as well); the accumulation is
    float32 and the row's scale is applied once at the end.
    """
    n, d = matrix.shape
    use_mask = mask.shape[0] > 0
    nchunks = _n_chunks(n, nthreads)
    per = (n + nchunks - 1) // nchunks
    top_scores = np.full((nchunks, k), -np.inf, np.float32)
    top_ids = np.full((nchunks, k), -1, np.int64)
    for c in prange(nchunks):
        scores = top_scores[c]
        ids = top_ids[c]
        for r in range(c * per, min(n, (c + 1) * per)):
            if use_mask and mask[r] == 0:
                continue
            acc = np.float32(0.0)
            for j in range(d):
                acc += np.float32(matrix[r, j]) * query[j]
            _push(scores, ids, acc * scales[r], r, k)
    return _merge(top_scores, top_ids, k)


@njit(parallel=True, cache=True, fastmath=True)
def topk_f32_batch_kernel(
    matrix: Array, queries: Array, k: np.int64, mask: Array, nthreads: np.int64
) -> tuple[Array, Array, Array]:
    """Top-k for each row of ``queries``; returns (ids, scores, counts) padded with -1."""
    n, d = matrix.shape
    nq = queries.shape[0]
    use_mask = mask.shape[0] > 0
    nchunks = _n_chunks(n, nthreads)
    per = (n + nchunks - 1) // nchunks
    top_scores = np.full((nchunks, nq, k), -np.inf, np.float32)
    top_ids = np.full((nchunks, nq, k), -1, np.int64)
    for c in prange(nchunks):
        start = c * per
        stop = min(n, (c + 1) * per)
        r = start
        while r + ROW_TILE <= stop:
            for q in range(nq):
                a0 = np.float32(0.0)
                a1 = np.float32(0.0)
                a2 = np.float32(0.0)
                a3 = np.float32(0.0)
                for j in range(d):
                    x = queries[q, j]
                    a0 += matrix[r, j] * x
                    a1 += matrix[r + 1, j] * x
                    a2 += matrix[r + 2, j] * x
                    a3 += matrix[r + 3, j] * x
                if not use_mask or mask[r] != 0:
                    _push(top_scores[c, q], top_ids[c, q], a0, r, k)
                if not use_mask or mask[r + 1] != 0:
                    _push(top_scores[c, q], top_ids[c, q], a1, r + 1, k)
                if not use_mask or mask[r + 2] != 0:
                    _push(top_scores[c, q], top_ids[c, q], a2, r + 2, k)
                if not use_mask or mask[r + 3] != 0:
                    _push(top_scores[c, q], top_ids[c, q], a3, r + 3, k)
            r += ROW_TILE
        while r < stop:
            if not use_mask or mask[r] != 0:
                for q in range(nq):
                    acc = np.float32(0.0)
                    for j in range(d):
                        acc += matrix[r, j] * queries[q, j]
                    _push(top_scores[c, q], top_ids[c, q], acc, r, k)
            r += 1
    return _merge_batch(top_scores, top_ids, k)


@njit(parallel=True, cache=True, fastmath=True)
def topk_i8_batch_kernel(
    matrix: Array, scales: Array, queries: Array, k: np.int64, mask: Array, nthreads: np.int64
) -> tuple[Array, Array, Array]:
    """Batch version of `topk_i8_kernel`; returns (ids, scores, counts) padded with -1.

    Each tile of ROW_TILE int8 rows is widened to float32 once into a
    chunk-private buffer (L1-sized) and then served to every query, so the
    conversion cost is paid once per row, not once per (row, query).
    """
    n, d = matrix.shape
    nq = queries.shape[0]
    use_mask = mask.shape[0] > 0
    nchunks = _n_chunks(n, nthreads)
    per = (n + nchunks - 1) // nchunks
    top_scores = np.full((nchunks, nq, k), -np.inf, np.float32)
    top_ids = np.full((nchunks, nq, k), -1, np.int64)
    for c in prange(nchunks):
        start = c * per
        stop = min(n, (c + 1) * per)
        tile = np.empty((ROW_TILE, d), np.float32)
        r = start
        while r < stop:
            rows = min(ROW_TILE, stop - r)
            for t in range(rows):
                for j in range(d):
                    tile[t, j] = np.float32(matrix[r + t, j])
            for t in range(rows, ROW_TILE):
                for j in range(d):
                    tile[t, j] = np.float32(0.0)
            for q in range(nq):
                a0 = np.float32(0.0)
                a1 = np.float32(0.0)
                a2 = np.float32(0.0)
                a3 = np.float32(0.0)
                for j in range(d):
                    x = queries[q, j]
                    a0 += tile[0, j] * x
                    a1 += tile[1, j] * x
                    a2 += tile[2, j] * x
                    a3 += tile[3, j] * x
                for t in range(rows):
                    row = r + t
                    if use_mask and mask[row] == 0:
                        continue
                    acc = a0 if t == 0 else a1 if t == 1 else a2 if t == 2 else a3
                    _push(top_scores[c, q], top_ids[c, q], acc * scales[row], row, k)
            r += rows
    return _merge_batch(top_scores, top_ids, k)


@njit(cache=True)
def _merge_batch(top_scores: Array, top_ids: Array, k: np.int64) -> tuple[Array, Array, Array]:
    nq = top_ids.shape[1]
    ids = np.full((nq, k), -1, np.int64)
    scores = np.full((nq, k), -np.inf, np.float32)
    counts = np.zeros(nq, np.int64)
    for q in range(nq):
        qi, qs = _merge(top_scores[:, q, :].copy(), top_ids[:, q, :].copy(), k)
        m = qi.shape[0]
        ids[q, :m] = qi
        scores[q, :m] = qs
        counts[q] = m
    return ids, scores, counts


# --------------------------------------------------------------------------------------
# Python wrappers: validate, normalise dtypes/layout (one cached signature each), unpack.
# --------------------------------------------------------------------------------------

_NO_MASK = np.zeros(0, np.uint8)


#: OpenMP settings that, when the user gives any of them, leave the wait policy to the user.
_OMP_WAIT_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
_pool_lock = threading.Lock()
_pool_started = False


def _start_pool() -> None:
    """Launch Numba's thread pool with OpenMP threads that sleep, not spin, while idle.

    Numba's default threading layer here is OpenMP (libgomp), whose idle
    threads busy-wait for up to ~300 000 ``pause`` instructions (several ms
    on this hardware) before sleeping, both at the end of each parallel region
    and between regions. On a machine with more runnable threads than cores
    (2 cores, other processes busy) a spinning pool thread holds a core the
    thread still doing work needs, and a kernel that computes in 1-2 ms takes
    8-12 ms: that, not arithmetic, was why the int8 search was no faster than
    the float32 one. ``OMP_WAIT_POLICY=passive`` makes idle threads sleep at
    once; it costs a futex wake-up (tens of µs) per parallel call when the
    machine is idle. libgomp reads the variable once, when it is loaded, which
    happens when Numba launches its pool (the first ``get_num_threads()``), so
    it is set only around that launch and then restored: later OpenMP
    libraries and child processes do not see it. If the user set any OpenMP
    wait variable, or the pool was already running (or libgomp already
    loaded), nothing changes.
    """
    if any(v in os.environ for v in _OMP_WAIT_VARS):
        numba.get_num_threads()
        return
    os.environ["OMP_WAIT_POLICY"] = "passive"
    try:
        numba.get_num_threads()
    finally:
        os.environ.pop("OMP_WAIT_POLICY", None)


def _threads() -> np.int64:
    global _pool_started
    if not _pool_started:
        with _pool_lock:
            if not _pool_started:
                _start_pool()
                _pool_started = True
    return np.int64(numba.get_num_threads())


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise MemorySearchError(f"k must be an int, got {type(k).__name__}")
    if k < 1:
        raise MemorySearchError(f"k must be >= 1, got {k}")
    return int(k)


def _matrix(matrix: Array, dtype: type, name: str) -> Array:
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
        raise MemorySearchError(f"{name} must be a 2-D numpy array")
    if matrix.dtype != dtype:
        raise MemorySearchError(f"{name} must have dtype {np.dtype(dtype).name}, got {matrix.dtype}")
    if not matrix.flags.c_contiguous or not matrix.flags.writeable:
        matrix = np.array(matrix, dtype=dtype, order="C")
    return matrix


def _vector(v: Array, dtype: type, d: int, name: str) -> Array:
    arr = np.asarray(v)
    if arr.ndim != 1 or arr.shape[0] != d:
        raise MemorySearchError(f"{name} must be a vector of length {d}, got shape {arr.shape}")
    return np.array(arr, dtype=dtype, order="C")


def _mask(mask: Array | None, n: int) -> Array:
    if mask is None:
        return _NO_MASK
    arr = np.asarray(mask)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise MemorySearchError(f"mask must have length {n}, got shape {arr.shape}")
    return np.array(arr != 0, dtype=np.uint8)


def topk_float32(
    matrix: Array, query: Array, k: int, mask: Array | None = None
) -> tuple[Array, Array]:
    """Ids and scores (descending, ties by smaller id) of the k best rows; fewer if n < k."""
    k = _check_k(k)
    matrix = _matrix(matrix, np.float32, "matrix")
    n, d = matrix.shape
    q = _vector(query, np.float32, d, "query")
    ids, scores = topk_f32_kernel(matrix, q, np.int64(k), _mask(mask, n), _threads())
    return ids, scores


def topk_int8(
    matrix: Array, scales: Array, query: Array, k: int, mask: Array | None = None
) -> tuple[Array, Array]:
    """Like `topk_float32` over a quantised matrix (`quantize_rows`); the query stays float32."""
    k = _check_k(k)
    matrix = _matrix(matrix, np.int8, "matrix")
    n, d = matrix.shape
    sc = _vector(scales, np.float32, n, "scales")
    q = _vector(query, np.float32, d, "query")
    ids, scores = topk_i8_kernel(matrix, sc, q, np.int64(k), _mask(mask, n), _threads())
    return ids, scores


def _unpack(ids: Array, scores: Array, counts: Array) -> list[tuple[Array, Array]]:
    return [(ids[i, : counts[i]], scores[i, : counts[i]]) for i in range(ids.shape[0])]


def topk_float32_batch(
    matrix: Array, queries: Array, k: int, mask: Array | None = None
) -> list[tuple[Array, Array]]:
    """`topk_float32` for each row of ``queries`` in one pass over the matrix."""
    k = _check_k(k)
    matrix = _matrix(matrix, np.float32, "matrix")
    n, d = matrix.shape
    qs = np.asarray(queries)
    if qs.ndim != 2 or qs.shape[1] != d:
        raise MemorySearchError(f"queries must have shape (m, {d}), got {qs.shape}")
    qs = np.array(qs, dtype=np.float32, order="C")
    return _unpack(*topk_f32_batch_kernel(matrix, qs, np.int64(k), _mask(mask, n), _threads()))


def topk_int8_batch(
    matrix: Array,
    scales: Array,
    queries: Array,
    k: int,
    mask: Array | None = None,
) -> list[tuple[Array, Array]]:
    """`topk_int8` for each row of ``queries`` (float32) in one pass over the matrix."""
    k = _check_k(k)
    matrix = _matrix(matrix, np.int8, "matrix")
    n, d = matrix.shape
    sc = _vector(scales, np.float32, n, "scales")
    qs = np.asarray(queries)
    if qs.ndim != 2 or qs.shape[1] != d:
        raise MemorySearchError(f"queries must have shape (m, {d}), got {qs.shape}")
    qs = np.array(qs, dtype=np.float32, order="C")
    return _unpack(*topk_i8_batch_kernel(matrix, sc, qs, np.int64(k), _mask(mask, n), _threads()))


def quantize_rows(matrix: Array) -> tuple[Array, Array]:
    """Symmetric per-row int8 quantisation: ``row ≈ scale * q`` with ``q`` in [-127, 127].

    A per-row scale (rather than one global scale) keeps precision for rows
    of any norm; an all-zero row gets scale 1 and stays zero.
    """
    m = np.asarray(matrix, dtype=np.float32)
    if m.ndim == 1:
        m = m[None, :]
    peak = np.max(np.abs(m), axis=1) if m.shape[1] else np.zeros(m.shape[0], np.float32)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(m / scales[:, None]), -127, 127).astype(np.int8)
    return np.ascontiguousarray(q), scales


def kernels() -> dict[str, Any]:
    """The Numba dispatchers, by name (for warm-up and cache statistics)."""
    return {
        "topk_f32": topk_f32_kernel,
        "topk_i8": topk_i8_kernel,
        "topk_f32_batch": topk_f32_batch_kernel,
        "topk_i8_batch": topk_i8_batch_kernel,
    }


def warm_up() -> dict[str, int]:
    """Compile (or load from cache) every kernel signature the store uses; returns cache misses.

    The signatures are exactly those produced by the wrappers above: C-contiguous,
    writable arrays; int64 k; float32 scales; uint8 masks (empty or full).
    """
    rng = np.random.default_rng(0)
    m = rng.standard_normal((16, 8)).astype(np.float32)
    q8, s8 = quantize_rows(m)
    full = np.ones(16, np.uint8)
    for mask in (None, full):
        topk_float32(m, m[0], 3, mask)
        topk_float32_batch(m, m[:2], 3, mask)
        topk_int8(q8, s8, m[0], 3, mask)
        topk_int8_batch(q8, s8, m[:2], 3, mask)
    return {name: sum(k.stats.cache_misses.values()) for name, k in kernels().items()}
