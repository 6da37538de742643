"""TouchMap answers runs() from runs it remembers per chunk; a mark anywhere in a chunk must make it look again."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.hw.touchmap import CHUNK, SMALL_WINDOW, TouchMap

BLOCKS = 3 * CHUNK + 17
block = st.integers(min_value=0, max_value=BLOCKS - 1)


def naive_runs(flags: np.ndarray, first: int, last: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for b in range(first, last + 1):
        if flags[b]:
            if out and out[-1][1] == b:
                out[-1] = (out[-1][0], b + 1)
            else:
                out.append((b, b + 1))
    return out


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.booleans(), block, st.integers(min_value=0, max_value=CHUNK + 40), block, block),
                      min_size=1, max_size=25))
def test_runs_after_any_interleaving_of_marks_and_queries_match_a_plain_bitmap(steps):
    tm, flags = TouchMap(BLOCKS), np.zeros(BLOCKS, dtype=bool)
    for is_mark, first, length, q0, q1 in steps:
        if is_mark:
            last = min(BLOCKS - 1, first + length)
            tm.mark(first, last)
            flags[first:last + 1] = True
        lo, hi = min(q0, q1), max(q0, q1)
        assert tm.runs(lo, hi) == naive_runs(flags, lo, hi)
    assert tm.count() == int(flags.sum())


def test_a_run_queried_before_a_mark_in_the_same_chunk_grows_after_it():
    tm = TouchMap(CHUNK)
    tm.mark(10, 19)
    assert tm.runs(0, CHUNK - 1) == [(10, 20)]
    tm.mark(20, 29)  # the one-chunk fast path of mark()
    assert tm.runs(0, CHUNK - 1) == [(10, 30)]
    tm.mark(100, 100)
    assert tm.runs(15, 100) == [(15, 30), (100, 101)]


def test_runs_spanning_chunks_merge_at_the_chunk_edge():
    tm = TouchMap(2 * CHUNK)
    tm.mark(CHUNK - 3, CHUNK + 2)  # the multi-chunk path of mark()
    assert tm.runs(0, 2 * CHUNK - 1) == [(CHUNK - 3, CHUNK + 3)]
    assert tm.runs(CHUNK, 2 * CHUNK - 1) == [(CHUNK, CHUNK + 3)]


@settings(max_examples=60, deadline=None)
@given(marks=st.lists(st.tuples(block, st.integers(min_value=0, max_value=80)), max_size=12),
       queries=st.lists(st.tuples(block, st.integers(min_value=0, max_value=SMALL_WINDOW + 5)), min_size=1,
                        max_size=12))
def test_runs_over_a_few_blocks_read_the_flags_and_match_a_plain_bitmap(marks, queries):
    tm, flags = TouchMap(BLOCKS), np.zeros(BLOCKS, dtype=bool)
    for first, length in marks:
        last = min(BLOCKS - 1, first + length)
        tm.mark(first, last)
        flags[first:last + 1] = True
        for q0, width in queries:
            q1 = min(BLOCKS - 1, q0 + width)
            assert tm.runs(q0, q1) == naive_runs(flags, q0, q1)
