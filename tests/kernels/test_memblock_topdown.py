"""memblock's top-down allocation (mm/memblock.c memblock_alloc(), Linux 6.12): the highest free place that fits,
aligned, slack left free; must_many takes runs at once yet hands out exactly what must() one by one would."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.hw.layout import Range
from kernels.memblock_topdown import TopDown


def test_the_highest_place_that_fits_is_taken_aligned_and_the_slack_stays_free():
    alloc = TopDown([Range(0x1000, 0x9000), Range(0x10000, 0x10800)])
    assert alloc.alloc(0x1000, 0x1000) == 0x8000  # the top range is too small for 4 KiB
    assert alloc.alloc(0x100, 0x100) == 0x10700  # ... but holds 256 bytes at its very top
    assert alloc.alloc(0x2000, 0x4000) == 0x4000
    assert alloc.free == [(0x1000, 0x4000), (0x6000, 0x8000), (0x10000, 0x10700)]
    assert alloc.alloc(0x10000, 0x1000) is None


def test_must_names_what_did_not_fit():
    with pytest.raises(MemoryError, match=r"no room for mem_section roots \(0x2000 bytes\)"):
        TopDown([Range(0, 0x1000)]).must(0x2000, 0x1000, "mem_section roots")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 64), st.integers(1, 64)), min_size=1, max_size=5),
       st.integers(1, 40), st.sampled_from([0x1000, 0x2000, 0x3000, 0x10000]), st.sampled_from([0x1000, 0x10000]))
def test_many_at_once_are_the_same_addresses_as_one_by_one(ranges, count, size, align):
    free, at = [], 0
    for gap, length in ranges:
        at += gap * 0x1000
        free.append(Range(at, at + length * 0x1000))
        at += length * 0x1000
    one, many = TopDown(free), TopDown(free)
    try:
        expected = [one.must(size, align, "blocks") for _ in range(count)]
    except MemoryError:
        with pytest.raises(MemoryError):
            many.must_many(count, size, align, "blocks")
        return
    assert many.must_many(count, size, align, "blocks") == expected
    assert sorted(many.free) == sorted(one.free)
    assert sum(r.size for r in many.taken) == sum(r.size for r in one.taken) == count * size
