"""Grain digests: the per-process memo gives exactly the digest BLAKE3 gives, whatever changed in between."""

import numpy as np
import pytest
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.run import digests
from emulator.run.digests import DIGEST_SIZE, GRAIN, ZERO, DigestMemo, grain_digests


def plain(data: bytes) -> np.ndarray:
    """BLAKE3-128 of each grain, computed the obvious way."""
    rows = [blake3(data[i:i + GRAIN]).digest(DIGEST_SIZE) for i in range(0, len(data) // GRAIN * GRAIN, GRAIN)]
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, DIGEST_SIZE)


@pytest.fixture
def memo(monkeypatch):
    m = DigestMemo(capacity=6)
    monkeypatch.setattr(digests, "MEMO", m)
    return m


def test_memoised_digests_equal_plain_blake3_when_bytes_change_at_the_same_address(memo):
    rng = np.random.default_rng(7)
    data = bytearray(rng.integers(0, 256, 4 * GRAIN, dtype=np.uint8).tobytes())
    data[GRAIN:2 * GRAIN] = bytes(GRAIN)  # an all-zero grain
    first = grain_digests(bytes(data), at=0x10000)
    assert (first == plain(bytes(data))).all()
    assert bytes(first[1]) == ZERO
    data[3 * GRAIN + 100] ^= 1  # one bit of the last grain flips
    data[5] ^= 0x80  # and one of the first
    again = grain_digests(bytes(data), at=0x10000)
    assert (again == plain(bytes(data))).all()
    assert (again[[0, 3]] != first[[0, 3]]).any(axis=1).all()
    assert memo.hits == 2  # the two unchanged grains came from the memo, the changed ones were hashed


def test_a_memo_hit_needs_the_same_address_and_the_same_bytes(memo):
    data = bytes(range(256)) * (2 * GRAIN // 256)
    grain_digests(data, at=0)
    moved = grain_digests(data, at=8 * GRAIN)  # the same bytes elsewhere: hashed, equal digests anyway
    assert memo.hits == 0 and (moved == plain(data)).all()
    grain_digests(data, at=0)
    assert memo.hits == 2


def test_the_memo_keeps_at_most_its_capacity_and_stays_right_beyond_it(memo):
    data = np.random.default_rng(3).integers(0, 256, 10 * GRAIN, dtype=np.uint8).tobytes()
    assert (grain_digests(data, at=0) == plain(data)).all()
    assert len(memo.slot) == 6
    assert (grain_digests(data, at=0) == plain(data)).all()
    assert memo.hits == 6


def test_unaligned_or_addressless_data_is_hashed_without_the_memo(memo):
    data = bytes(3 * GRAIN + 5)
    assert (grain_digests(data) == plain(data)).all()
    assert (grain_digests(data, at=17) == plain(data)).all()
    assert memo.slot == {}


def test_spans_that_overlap_earlier_ones_in_part_get_the_plain_digests(memo):
    data = np.random.default_rng(5).integers(0, 256, 6 * GRAIN, dtype=np.uint8).tobytes()
    grain_digests(data[:4 * GRAIN], at=0)  # grains 0-3 kept in a row
    inner = grain_digests(data[GRAIN:3 * GRAIN], at=GRAIN)  # grains 1-2: all kept, in a row
    across = grain_digests(data[2 * GRAIN:6 * GRAIN], at=2 * GRAIN)  # grains 2-3 kept, 4-5 new (capacity 6)
    assert (inner == plain(data[GRAIN:3 * GRAIN])).all() and (across == plain(data[2 * GRAIN:])).all()
    assert memo.hits == 4
    changed = bytearray(data)
    changed[4 * GRAIN] ^= 1
    assert (grain_digests(bytes(changed), at=0) == plain(bytes(changed))).all()


def _pattern_memory(rng) -> bytes:
    """Grains in runs of equal ones (a fill pattern, a table of equal entries), with look-alikes: grains that
    differ from the one before only in a middle byte, or only in the first or last word."""
    a, b = (rng.integers(0, 256, GRAIN, dtype=np.uint8).tobytes() for _ in range(2))
    grains = [a] * 5 + [b] * 3 + [bytes(GRAIN)] * 2 + [a] * 2
    middle = bytearray(a)
    middle[GRAIN // 2] ^= 1
    first, last = bytearray(a), bytearray(a)
    first[0] ^= 1
    last[-1] ^= 0x80
    grains += [bytes(middle), a, bytes(first), a, bytes(last), bytes(last)]
    return b"".join(grains)


@pytest.mark.parametrize("at", [None, 0, 3 * GRAIN])
def test_runs_of_equal_grains_get_the_plain_digests(memo, at):
    data = _pattern_memory(np.random.default_rng(11))
    assert (grain_digests(data, at) == plain(data)).all()
    assert (grain_digests(data, at) == plain(data)).all()  # again: memo hits where there is a memo


def test_a_grain_equal_to_the_one_before_it_is_not_hashed_again(memo, monkeypatch):
    hashed = []
    real = digests._hash_rows
    monkeypatch.setattr(digests, "_hash_rows", lambda mv, rows: hashed.extend(rows) or real(mv, rows))
    data = _pattern_memory(np.random.default_rng(12))
    assert (grain_digests(data) == plain(data)).all()
    # a (5 in a row: 1 hashed), b (3: 1), zeros (none), a again after zeros (2: 1), then five grains that
    # each differ from the one before, and last repeated (1 of 2)
    assert hashed == [0, 5, 10, 12, 13, 14, 15, 16]


def test_scattered_look_alike_grains_are_compared_in_full(memo):
    rng = np.random.default_rng(13)
    a = rng.integers(0, 256, GRAIN, dtype=np.uint8).tobytes()
    grains = []
    for i in range(64):  # every other grain differs from a in one middle byte: no runs of more than two
        g = bytearray(a)
        if i % 2:
            g[100 + i] ^= 1
        grains.append(bytes(g))
    data = b"".join(grains)
    assert (grain_digests(data) == plain(data)).all()
    assert (grain_digests(data, at=GRAIN) == plain(data)).all()


def test_the_memo_finds_its_grains_by_number_after_keeping_them_out_of_order(memo):
    data = np.random.default_rng(14).integers(0, 256, 6 * GRAIN, dtype=np.uint8).tobytes()
    grain_digests(data[4 * GRAIN:], at=40 * GRAIN)  # grains 40-41 kept first
    grain_digests(data[:4 * GRAIN], at=10 * GRAIN)  # then 10-13
    assert memo.slot == {40: 0, 41: 1, 10: 2, 11: 3, 12: 4, 13: 5}
    assert memo.slots(9, 6).tolist() == [-1, 2, 3, 4, 5, -1]
    assert (grain_digests(data[:4 * GRAIN], at=10 * GRAIN) == plain(data[:4 * GRAIN])).all()
    assert memo.hits == 4


@settings(max_examples=80, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 40), st.integers(1, 40), st.lists(st.integers(0, 79), max_size=12)),
                      min_size=1, max_size=8),
       capacity=st.sampled_from([4, 16, 200]))
def test_any_mix_of_kept_scattered_and_new_grains_gets_the_plain_digests(steps, capacity):
    """Spans over grains kept in runs, kept one here one there, and never seen, in a memo that fills up:
    every answer is plain BLAKE3 (the runs are compared and kept as slices, scattered grains one by one)."""
    saved, digests.MEMO = digests.MEMO, DigestMemo(capacity=capacity)
    try:
        _mix(steps)
    finally:
        digests.MEMO = saved


def _mix(steps) -> None:
    memory = bytearray(np.random.default_rng(7).integers(0, 256, 80 * GRAIN, dtype=np.uint8).tobytes())
    for first, count, changed in steps:
        for g in changed:
            memory[g * GRAIN + 5] ^= 0xFF
        count = min(count, 80 - first)
        data = bytes(memory[first * GRAIN:(first + count) * GRAIN])
        assert (grain_digests(data, first * GRAIN) == plain(data)).all()
