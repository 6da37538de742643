"""Tests for emulator.hw.layout: ranges, LMBs with holes and memblock.memory."""

from hypothesis import given
from hypothesis import strategies as st

from emulator.hw.layout import MemoryLayout, Range, merge, subtract
from emulator.units import GiB, MiB

LMB = 256 * MiB


# --- Range ---


def test_range_size_is_end_minus_start():
    """A half-open range [start, end) holds end - start bytes."""
    assert Range(0x1000, 0x3000).size == 0x2000
    assert Range(5, 5).size == 0


def test_adjacent_ranges_do_not_overlap():
    """Ranges that only touch at a boundary share no byte, so they do not overlap."""
    assert not Range(0, 10).overlaps(Range(10, 20))
    assert not Range(10, 20).overlaps(Range(0, 10))
    assert Range(0, 11).overlaps(Range(10, 20))
    assert Range(0, 100).overlaps(Range(40, 50))


def test_a_range_contains_itself_and_its_subranges_only():
    """contains is true for equal or nested ranges and false once the other range pokes out."""
    outer = Range(0x1000, 0x2000)
    assert outer.contains(outer)
    assert outer.contains(Range(0x1800, 0x2000))
    assert not outer.contains(Range(0x1800, 0x2001))
    assert not outer.contains(Range(0xFFF, 0x1800))


def test_range_prints_inclusive_hex_bounds_and_a_readable_size():
    """str(Range) shows [first-last] in hex, the way the kernel prints regions, then the size."""
    assert str(Range(0, 0x10000000)) == "[0x0-0xfffffff] (256 MiB)"
    assert str(Range(0x70000000, 0x70001800)) == "[0x70000000-0x700017ff] (6 KiB)"


def test_ranges_sort_by_start_then_end():
    """Ranges order by start address, ties broken by end."""
    assert sorted([Range(5, 9), Range(0, 4), Range(5, 6)]) == [Range(0, 4), Range(5, 6), Range(5, 9)]


# --- subtract ---


def test_subtracting_a_cut_inside_a_range_splits_it_in_two():
    """A cut strictly inside a range leaves the piece below and the piece above it."""
    assert subtract([Range(0, 100)], Range(40, 60)) == [Range(0, 40), Range(60, 100)]


def test_subtracting_a_cut_at_either_edge_trims_the_range():
    """A cut overlapping one end of a range shortens it from that side."""
    assert subtract([Range(0, 100)], Range(0, 30)) == [Range(30, 100)]
    assert subtract([Range(0, 100)], Range(70, 150)) == [Range(0, 70)]


def test_subtracting_a_cut_that_covers_a_range_removes_it():
    """A range entirely inside the cut disappears."""
    assert subtract([Range(10, 20), Range(50, 60)], Range(0, 30)) == [Range(50, 60)]


def test_subtracting_a_disjoint_or_adjacent_cut_changes_nothing():
    """Ranges that do not overlap the cut, including ones touching it, are returned as they were."""
    ranges = [Range(0, 10), Range(20, 30)]
    assert subtract(ranges, Range(10, 20)) == ranges
    assert subtract(ranges, Range(100, 200)) == ranges


def test_subtract_cuts_every_range_the_cut_overlaps():
    """A cut spanning several ranges trims each of them."""
    ranges = [Range(0, 10), Range(20, 30), Range(40, 50)]
    assert subtract(ranges, Range(5, 45)) == [Range(0, 5), Range(45, 50)]


# --- merge ---


def test_merge_folds_adjacent_and_overlapping_ranges():
    """Ranges that touch or overlap become one range."""
    assert merge([Range(0, 10), Range(10, 20)]) == [Range(0, 20)]
    assert merge([Range(0, 15), Range(10, 20)]) == [Range(0, 20)]
    assert merge([Range(0, 100), Range(10, 20)]) == [Range(0, 100)]


def test_merge_sorts_its_input_and_keeps_gaps():
    """Unsorted disjoint ranges come back sorted and still separate."""
    assert merge([Range(40, 50), Range(0, 10), Range(20, 30), Range(10, 15)]) == [
        Range(0, 15),
        Range(20, 30),
        Range(40, 50),
    ]


def test_merge_of_nothing_is_nothing():
    """Merging an empty list gives an empty list."""
    assert merge([]) == []


ranges_strategy = st.lists(
    st.tuples(st.integers(0, 200), st.integers(1, 40)).map(lambda t: Range(t[0], t[0] + t[1])),
    max_size=8,
)


def points(ranges):
    return {p for r in ranges for p in range(r.start, r.end)}


@given(ranges=ranges_strategy)
def test_merge_covers_the_same_bytes_with_sorted_separated_ranges(ranges):
    """merge keeps exactly the same set of addresses, in sorted ranges with a gap between each pair."""
    merged = merge(ranges)
    assert points(merged) == points(ranges)
    assert all(a.end < b.start for a, b in zip(merged, merged[1:]))


@given(ranges=ranges_strategy, cut=st.tuples(st.integers(0, 250), st.integers(0, 60)))
def test_subtract_removes_exactly_the_cut_addresses(ranges, cut):
    """subtract leaves every address of the input ranges except those inside the cut."""
    cut_range = Range(cut[0], cut[0] + cut[1])
    result = subtract(merge(ranges), cut_range)
    assert points(result) == points(ranges) - points([cut_range])
    assert all(r.size > 0 for r in result)


# --- MemoryLayout ---


def test_a_layout_without_holes_is_one_memblock_range():
    """All LMBs present merge into a single memblock.memory range from 0 to the end of RAM."""
    layout = MemoryLayout.with_holes(8 * GiB, LMB, [])
    assert layout.memblock_memory() == [Range(0, 8 * GiB)]
    assert layout.holes() == []
    assert layout.end_of_dram == layout.phys_mem_size == 8 * GiB


def test_a_hole_removes_its_lmbs_and_splits_memblock_memory():
    """A hole of two LMBs in the middle yields two memblock ranges and one hole."""
    layout = MemoryLayout.with_holes(4 * GiB, LMB, [Range(1 * GiB, 1 * GiB + 2 * LMB)])
    assert layout.memblock_memory() == [Range(0, 1 * GiB), Range(1 * GiB + 2 * LMB, 4 * GiB)]
    assert layout.holes() == [Range(1 * GiB, 1 * GiB + 2 * LMB)]
    assert layout.phys_mem_size == 4 * GiB - 2 * LMB
    assert layout.end_of_dram == 4 * GiB


def test_a_hole_covering_part_of_an_lmb_removes_the_whole_lmb():
    """LMBs are all-or-nothing: a hole touching any byte of an LMB takes the whole LMB out."""
    layout = MemoryLayout.with_holes(2 * GiB, LMB, [Range(LMB + 1, 2 * LMB + 1)])
    assert layout.present == {0, 3, 4, 5, 6, 7}
    assert layout.holes() == [Range(LMB, 3 * LMB)]


def test_a_hole_at_the_top_lowers_the_end_of_dram():
    """Missing top LMBs are not a hole: end_of_dram stops at the last present LMB."""
    layout = MemoryLayout.with_holes(2 * GiB, LMB, [Range(2 * GiB - 2 * LMB, 2 * GiB)])
    assert layout.end_of_dram == 2 * GiB - 2 * LMB
    assert layout.holes() == []


def test_a_hole_at_address_zero_is_reported_from_zero():
    """When the first LMB is absent the first hole starts at address 0."""
    layout = MemoryLayout.with_holes(1 * GiB, LMB, [Range(0, LMB)])
    assert layout.holes() == [Range(0, LMB)]
    assert layout.memblock_memory() == [Range(LMB, 1 * GiB)]


def test_several_holes_give_interleaved_memory_and_holes():
    """Holes and memory alternate in address order, and together tile [0, end_of_dram)."""
    layout = MemoryLayout.with_holes(
        16 * LMB, LMB, [Range(2 * LMB, 3 * LMB), Range(5 * LMB, 7 * LMB), Range(12 * LMB, 13 * LMB)]
    )
    memory = layout.memblock_memory()
    assert memory == [Range(0, 2 * LMB), Range(3 * LMB, 5 * LMB), Range(7 * LMB, 12 * LMB), Range(13 * LMB, 16 * LMB)]
    assert merge(memory + layout.holes()) == [Range(0, layout.end_of_dram)]


def test_is_memory_requires_every_byte_to_be_present():
    """A range is memory when one memblock range contains it, even across merged LMB boundaries."""
    layout = MemoryLayout.with_holes(8 * LMB, LMB, [Range(4 * LMB, 5 * LMB)])
    assert layout.is_memory(Range(LMB - 0x1000, LMB + 0x1000))  # spans two adjacent LMBs
    assert layout.is_memory(Range(0, 4 * LMB))
    assert not layout.is_memory(Range(4 * LMB - 1, 4 * LMB + 1))  # pokes into the hole
    assert not layout.is_memory(Range(3 * LMB, 6 * LMB))  # straddles the hole
    assert not layout.is_memory(Range(8 * LMB, 8 * LMB + 1))  # beyond RAM


def test_memblock_memory_is_built_from_the_present_set_in_any_order():
    """Present LMB indices given directly merge into sorted memblock ranges."""
    layout = MemoryLayout(LMB, {7, 0, 1, 3, 2, 6})
    assert layout.memblock_memory() == [Range(0, 4 * LMB), Range(6 * LMB, 8 * LMB)]


def test_an_empty_layout_has_no_memory():
    """With no LMBs present there is no DRAM, no memblock range and no hole."""
    layout = MemoryLayout(LMB)
    assert layout.end_of_dram == 0
    assert layout.phys_mem_size == 0
    assert layout.memblock_memory() == []
    assert layout.holes() == []


@given(
    n_lmbs=st.integers(1, 32),
    holes=st.lists(st.tuples(st.integers(0, 40), st.integers(1, 5)), max_size=5),
)
def test_memblock_memory_and_holes_tile_the_address_space_below_end_of_dram(n_lmbs, holes):
    """For any holes, memory and holes never overlap and together cover [0, end_of_dram) exactly."""
    unit = 0x1000
    layout = MemoryLayout.with_holes(n_lmbs * unit, unit, [Range(s * unit, (s + n) * unit) for s, n in holes])
    memory, gaps = layout.memblock_memory(), layout.holes()
    assert sum(r.size for r in memory) == layout.phys_mem_size
    assert not any(m.overlaps(h) for m in memory for h in gaps)
    tiled = merge(memory + gaps)
    assert tiled == ([Range(0, layout.end_of_dram)] if layout.present else [])


@given(st.sets(st.integers(0, 40)), st.lists(st.tuples(st.booleans(), st.integers(0, 45)), max_size=8))
def test_the_cached_memory_map_and_end_of_dram_follow_every_lmb_added_or_removed(present, changes):
    """memblock_memory() and end_of_dram come from a map cached until ``present`` changes (and a partition
    without holes is one range found without sorting 262144 LMBs): after any adds and removes they are what
    the present LMBs give, computed the obvious way."""
    layout = MemoryLayout(LMB, set(present))
    for add, index in [(True, None)] + changes:
        if index is not None:
            (layout.present.add if add else layout.present.discard)(index)
        got = layout.memblock_memory()
        assert got == merge([Range(i * LMB, (i + 1) * LMB) for i in layout.present])
        assert layout.end_of_dram == ((max(layout.present) + 1) * LMB if layout.present else 0)
        assert layout.phys_mem_size == len(layout.present) * LMB


def test_with_holes_takes_out_the_lmbs_of_every_hole_in_a_64_tib_partition():
    layout = MemoryLayout.with_holes(64 << 40, LMB, [Range(LMB, 3 * LMB), Range((64 << 40) - LMB, 64 << 40)])
    assert layout.memblock_memory() == [Range(0, LMB), Range(3 * LMB, (64 << 40) - LMB)]
    assert layout.end_of_dram == (64 << 40) - LMB and len(layout.present) == (64 << 40) // LMB - 3
