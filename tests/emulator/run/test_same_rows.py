"""Tests for same_rows: per-row equality through memcmp, as exact as numpy's."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.run import same_rows as mod
from emulator.run.same_rows import BLOCK_ROWS, same_rows


def grains(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**63, size=(n, 512), dtype=np.uint64)


@settings(max_examples=80, deadline=None)
@given(n=st.integers(0, 3 * BLOCK_ROWS + 5), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 4095),
                                                                     st.integers(0, 7)), max_size=12))
def test_every_row_with_any_flipped_bit_is_told_apart_exactly_as_numpy_tells_it(n, flips):
    a = grains(n)
    b = a.copy()
    raw = b.view(np.uint8).reshape(n, 4096) if n else None
    for row, byte, bit in flips:
        if n:
            raw[row % n, byte] ^= 1 << bit
    assert np.array_equal(same_rows(a, b), (a == b).all(axis=1))


def test_a_difference_in_the_last_byte_of_a_block_or_of_the_array_is_caught():
    a = grains(2 * BLOCK_ROWS + 1)
    for row in (BLOCK_ROWS - 1, 2 * BLOCK_ROWS):
        b = a.copy()
        b.view(np.uint8).reshape(len(a), 4096)[row, 4095] ^= 0x80
        got = same_rows(a, b)
        assert not got[row] and got.sum() == len(a) - 1


def test_views_that_are_not_contiguous_are_compared_by_numpy_with_the_same_answer():
    a = grains(20)
    b = a.copy()
    b[7, 3] += 1
    assert np.array_equal(same_rows(a[::2], b[::2]), (a[::2] == b[::2]).all(axis=1))
    assert np.array_equal(same_rows(a[:, :256], b[:, :256]), (a[:, :256] == b[:, :256]).all(axis=1))


def test_without_a_c_library_numpy_alone_gives_the_same_answer(monkeypatch):
    a = grains(BLOCK_ROWS + 3)
    b = a.copy()
    b[BLOCK_ROWS + 1, 0] ^= 1
    with_memcmp = same_rows(a, b)
    monkeypatch.setattr(mod, "_MEMCMP", None)
    assert np.array_equal(same_rows(a, b), with_memcmp)


def test_arrays_of_different_shapes_or_types_are_refused():
    with pytest.raises(ValueError, match="cannot be compared"):
        same_rows(grains(3), grains(4))
    with pytest.raises(ValueError, match="cannot be compared"):
        same_rows(grains(3), grains(3).view(np.int64))
