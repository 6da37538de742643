"""Grain digests: the per-process memo gives exactly the digest BLAKE3 gives, whatever changed in between."""

import numpy as np
import pytest
from blake3 import blake3

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
