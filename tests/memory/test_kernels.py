"""The Numba top-k kernels against NumPy brute force, including ties and edge cases."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o_lisp.memory import MemorySearchError
from o_lisp.memory._kernels import (
    quantize_rows,
    topk_float32,
    topk_float32_batch,
    topk_int8,
    topk_int8_batch,
)

Array = np.ndarray[Any, Any]


def brute_force(matrix: Array, query: Array, k: int, mask: Array | None = None) -> list[int]:
    """Reference: exact scores in float64, best first, ties by smaller row index."""
    scores = matrix.astype(np.float64) @ query.astype(np.float64)
    rows = np.arange(len(scores)) if mask is None else np.flatnonzero(mask)
    order = rows[np.lexsort((rows, -scores[rows]))]
    return [int(r) for r in order[:k]]


def unit_rows(rng: np.random.Generator, n: int, d: int) -> Array:
    m = rng.standard_normal((n, d)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@pytest.mark.parametrize(("n", "d", "k"), [(1, 8, 1), (500, 16, 10), (9000, 64, 10), (20000, 32, 50)])
def test_float32_matches_numpy_on_random_data(n: int, d: int, k: int) -> None:
    rng = np.random.default_rng(n + d)
    matrix = unit_rows(rng, n, d)
    queries = unit_rows(rng, 5, d)
    batch = topk_float32_batch(matrix, queries, k)
    for q, (batch_ids, batch_scores) in zip(queries, batch, strict=True):
        ids, scores = topk_float32(matrix, q, k)
        expected = brute_force(matrix, q, k)
        assert ids.tolist() == expected
        assert batch_ids.tolist() == expected
        np.testing.assert_allclose(scores, (matrix @ q)[expected], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(batch_scores, scores, rtol=1e-5, atol=1e-5)
        assert np.all(np.diff(scores) <= 0)


def test_int8_recall_at_10_against_float32() -> None:
    rng = np.random.default_rng(7)
    # Clustered data (like real embeddings) with queries near stored rows.
    centers = unit_rows(rng, 200, 128)
    matrix = centers[rng.integers(0, 200, 30000)] + 0.4 * unit_rows(rng, 30000, 128)
    matrix = (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)
    queries = matrix[rng.integers(0, 30000, 40)] + 0.2 * unit_rows(rng, 40, 128)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    q8, scales = quantize_rows(matrix)
    batch = topk_int8_batch(q8, scales, queries, 10)
    recalls = []
    for q, (bids, _) in zip(queries, batch, strict=True):
        exact = set(brute_force(matrix, q, 10))
        ids, scores = topk_int8(q8, scales, q, 10)
        assert ids.tolist() == bids.tolist()
        recalls.append(len(exact & set(ids.tolist())) / 10)
        # The int8 score approximates the cosine closely.
        np.testing.assert_allclose(scores, (matrix @ q)[ids], atol=0.02)
    assert float(np.mean(recalls)) >= 0.95


def test_quantize_rows_round_trips_within_half_a_step() -> None:
    rng = np.random.default_rng(3)
    m = rng.standard_normal((50, 20)).astype(np.float32)
    m[0] = 0.0
    q, s = quantize_rows(m)
    assert q.dtype == np.int8 and s.dtype == np.float32
    assert np.all(np.abs(q.astype(np.int32)) <= 127)
    assert np.all(np.abs(q * s[:, None] - m) <= s[:, None] / 2 + 1e-7)
    assert s[0] == 1.0 and not q[0].any()


small_int_matrices = st.integers(0, 40).flatmap(
    lambda n: st.integers(1, 6).flatmap(
        lambda d: st.tuples(
            st.lists(st.lists(st.integers(-3, 3), min_size=d, max_size=d), min_size=n, max_size=n),
            st.lists(st.integers(-3, 3), min_size=d, max_size=d),
            st.integers(1, 12),
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.just(d),
        )
    )
)


@settings(max_examples=150, deadline=None)
@given(small_int_matrices)
def test_float32_kernels_exact_with_ties(case: tuple[Any, ...]) -> None:
    """Small integer entries: scores are exact, so many ties; order must match the reference."""
    rows, query, k, mask_bits, d = case
    matrix = np.array(rows, dtype=np.float32).reshape(len(rows), d)
    q = np.array(query, dtype=np.float32)
    mask = np.array(mask_bits, dtype=np.uint8)
    for m in (None, mask):
        expected = brute_force(matrix, q, k, m)
        ids, scores = topk_float32(matrix, q, k, m)
        assert ids.tolist() == expected
        assert len(ids) == min(k, len(expected) if m is not None else len(rows))
        with np.errstate(invalid="ignore"):
            # The reference product of small integers is exact; BLAS may still raise a
            # stale "invalid" flag on it (seen once in CI on all-zero rows), and a NaN
            # would fail the equality anyway.
            reference = (matrix @ q)[expected].tolist()
        assert scores.tolist() == reference
        [(bids, bscores)] = topk_float32_batch(matrix, q[None, :], k, m)
        assert bids.tolist() == expected
        assert bscores.tolist() == scores.tolist()


@settings(max_examples=100, deadline=None)
@given(small_int_matrices)
def test_int8_kernels_exact_on_representable_data(case: tuple[Any, ...]) -> None:
    """Entries in {-3, 0, 3} quantise exactly (to ±127, scale 3/127): same order as the reference."""
    rows, query, k, _, d = case
    matrix = 3 * np.sign(np.array(rows, dtype=np.float32).reshape(len(rows), d))
    q = np.array(query, dtype=np.float32)
    q8, scales = quantize_rows(matrix)
    expected = brute_force(matrix, q, k)
    ids, scores = topk_int8(q8, scales, q, k)
    assert ids.tolist() == expected
    np.testing.assert_allclose(scores, (matrix @ q)[expected], rtol=1e-5, atol=1e-5)
    if len(matrix):
        [(bids, _)] = topk_int8_batch(q8, scales, np.stack([q, q]), k)[:1]
        assert bids.tolist() == expected


def test_row_tiles_and_masks_in_batches() -> None:
    """n not a multiple of the row tile, with a mask: every tail path of the batch kernels."""
    rng = np.random.default_rng(11)
    matrix = unit_rows(rng, 4099, 24)
    queries = unit_rows(rng, 7, 24)
    mask = (rng.random(4099) < 0.3).astype(np.uint8)
    q8, scales = quantize_rows(matrix)
    f32 = topk_float32_batch(matrix, queries, 13, mask)
    i8 = topk_int8_batch(q8, scales, queries, 13, mask)
    for q, (ids, _), (ids8, _) in zip(queries, f32, i8, strict=True):
        assert ids.tolist() == brute_force(matrix, q, 13, mask)
        assert all(mask[i] for i in ids8.tolist())
        single8, _ = topk_int8(q8, scales, q, 13, mask)
        assert ids8.tolist() == single8.tolist()


def test_empty_matrix_and_k_larger_than_n() -> None:
    empty = np.zeros((0, 4), np.float32)
    ids, scores = topk_float32(empty, np.ones(4, np.float32), 3)
    assert ids.shape == (0,) and scores.shape == (0,)
    assert [len(i) for i, _ in topk_float32_batch(empty, np.ones((2, 4), np.float32), 3)] == [0, 0]
    ids8, _ = topk_int8(np.zeros((0, 4), np.int8), np.zeros(0, np.float32), np.ones(4), 3)
    assert ids8.shape == (0,)
    m = np.eye(3, dtype=np.float32)
    ids, _ = topk_float32(m, np.array([0.1, 0.3, 0.2], np.float32), 10)
    assert ids.tolist() == [1, 2, 0]
    ids, _ = topk_float32(m, np.zeros(3, np.float32), 10, np.array([1, 0, 1]))
    assert ids.tolist() == [0, 2]  # all tied at 0: by row index, masked row excluded


@pytest.mark.parametrize("k", [0, -1, True, 2.5, "3"])
def test_bad_k_is_a_clear_error(k: Any) -> None:
    m = np.eye(3, dtype=np.float32)
    with pytest.raises(MemorySearchError, match="k must be"):
        topk_float32(m, m[0], k)
    with pytest.raises(MemorySearchError, match="k must be"):
        topk_float32_batch(m, m, k)


def test_bad_shapes_and_dtypes_are_clear_errors() -> None:
    m = np.eye(3, dtype=np.float32)
    with pytest.raises(MemorySearchError, match="dtype float32"):
        topk_float32(m.astype(np.float64), m[0], 1)
    with pytest.raises(MemorySearchError, match="length 3"):
        topk_float32(m, np.ones(4, np.float32), 1)
    with pytest.raises(MemorySearchError, match="2-D"):
        topk_float32(m[0], m[0], 1)
    with pytest.raises(MemorySearchError, match="mask must have length 3"):
        topk_float32(m, m[0], 1, np.ones(2))
    with pytest.raises(MemorySearchError, match=r"shape \(m, 3\)"):
        topk_float32_batch(m, np.ones((2, 4), np.float32), 1)
    with pytest.raises(MemorySearchError, match="dtype int8"):
        topk_int8(m, np.ones(3, np.float32), m[0], 1)


def test_non_contiguous_input_gives_same_answer() -> None:
    rng = np.random.default_rng(5)
    big = unit_rows(rng, 300, 16)
    view = big[::2]  # not C-contiguous: copied by the wrapper, same result
    q = big[1]
    assert topk_float32(view, q, 5)[0].tolist() == brute_force(np.ascontiguousarray(view), q, 5)
