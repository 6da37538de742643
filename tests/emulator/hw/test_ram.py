"""Tests for emulator.hw.ram.PartitionRAM: sparse partition memory with write tracking."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.errors import MemoryAccessError
from emulator.hw.ram import BLOCK_SIZE, PartitionRAM
from emulator.units import GiB

B = BLOCK_SIZE


def small_ram(blocks: int = 8) -> PartitionRAM:
    return PartitionRAM(blocks * B)


def resident_bytes() -> int:
    """This process's resident set size, from /proc/self/statm (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --- construction ---


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc to measure memory")
def test_a_64_gib_partition_costs_only_the_pages_it_touches():
    """Creating 64 GiB of RAM and writing at both ends grows the resident set by a few MiB at most."""
    before = resident_bytes()
    ram = PartitionRAM(64 * GiB)
    ram.write_u64(0, 0x0123456789ABCDEF, "big")
    ram.write_u64(64 * GiB - 8, 0xFEDCBA9876543210, "little")
    grown = resident_bytes() - before
    assert ram.size == 64 * GiB
    assert ram.read_u64(0, "big") == 0x0123456789ABCDEF
    assert ram.read_u64(64 * GiB - 8, "little") == 0xFEDCBA9876543210
    assert ram.read(32 * GiB, 16) == bytes(16)
    assert ram.touched_bytes() == 2 * B
    assert grown < 16 << 20  # the 1 MiB touch map plus two pages, nowhere near 64 GiB


@pytest.mark.parametrize("size", [0, -B, B + 1, B // 2])
def test_ram_size_must_be_a_positive_multiple_of_the_block_size(size):
    """A size that is not a positive multiple of 64 KiB raises MemoryAccessError."""
    with pytest.raises(MemoryAccessError, match="must be a positive multiple of 0x10000"):
        PartitionRAM(size)


def test_fresh_ram_reads_as_zeros_and_is_untouched():
    """New RAM reads as zero bytes everywhere and reports no touched blocks."""
    ram = small_ram()
    assert ram.read(0, ram.size) == bytes(ram.size)
    assert ram.touched_bytes() == 0
    assert ram.touched_runs(0, ram.size) == []


# --- typed access ---


def test_write_u32_stores_big_and_little_endian_byte_orders():
    """write_u32 lays the value out MSB-first for "big" and LSB-first for "little"."""
    ram = small_ram()
    ram.write_u32(0x100, 0x12345678, "big")
    ram.write_u32(0x104, 0x12345678, "little")
    # 12 34 56 78 = 0x12345678 big-endian; 78 56 34 12 = the same value little-endian
    assert ram.read(0x100, 8) == bytes.fromhex("12345678" "78563412")


def test_write_u64_stores_big_and_little_endian_byte_orders():
    """write_u64 lays the value out MSB-first for "big" and LSB-first for "little"."""
    ram = small_ram()
    ram.write_u64(0x200, 0x0102030405060708, "big")
    ram.write_u64(0x208, 0x0102030405060708, "little")
    # 01..08 = 0x0102030405060708 big-endian; 08..01 = the same value little-endian
    assert ram.read(0x200, 16) == bytes.fromhex("0102030405060708" "0807060504030201")


def test_typed_reads_interpret_bytes_in_the_requested_order():
    """read_u32/read_u64 decode the same bytes differently for "big" and "little"."""
    ram = small_ram()
    ram.write(0x10, b"FADMPINF")  # the fdh magic as a big-endian kernel stores it
    assert ram.read_u64(0x10, "big") == 0x4641444D50494E46
    assert ram.read_u64(0x10, "little") == 0x464E49504D444146
    assert ram.read_u32(0x10, "big") == 0x4641444D
    assert ram.read_u32(0x10, "little") == 0x4D444146


def test_write_int_keeps_only_the_low_bytes_of_wide_or_negative_values():
    """write_int masks the value to its size, so -1 is all ones and overflow is truncated."""
    ram = small_ram()
    ram.write_int(0, -1, 4, "big")
    ram.write_int(4, 0x1_2345_6789, 4, "big")
    # ff ff ff ff = -1 as u32; 23 45 67 89 = 0x123456789 truncated to 32 bits
    assert ram.read(0, 8) == bytes.fromhex("ffffffff" "23456789")
    assert ram.read_int(0, 4, "little") == 0xFFFFFFFF


def test_read_int_handles_sizes_other_than_four_and_eight():
    """read_int/write_int work for any byte width, such as a 2-byte section type."""
    ram = small_ram()
    ram.write_int(0x40, 0x0011, 2, "big")
    assert ram.read(0x40, 2) == b"\x00\x11"  # 0x0011 (REAL_MODE_REGION) big-endian
    assert ram.read_int(0x40, 2, "big") == 0x11


# --- raw access and bounds ---


def test_write_accepts_bytes_bytearray_and_uint8_arrays():
    """write stores bytes, bytearray and numpy uint8 arrays alike."""
    ram = small_ram()
    ram.write(0, b"abc")
    ram.write(3, bytearray(b"def"))
    ram.write(6, np.frombuffer(b"ghi", dtype=np.uint8))
    assert ram.read(0, 9) == b"abcdefghi"


def test_read_returns_an_independent_copy():
    """Bytes returned by read do not change when RAM is written afterwards."""
    ram = small_ram()
    ram.write(0, b"old")
    copy = ram.read(0, 3)
    ram.write(0, b"new")
    assert copy == b"old"


def test_view_is_a_read_only_window_onto_live_memory():
    """view shows later writes without copying, and refuses writes through it."""
    ram = small_ram()
    v = ram.view(0x1000, 4)
    ram.write(0x1000, b"live")
    assert v.tobytes() == b"live"
    with pytest.raises(ValueError):
        v[0] = 1


@pytest.mark.parametrize(
    ("addr", "length", "shown"),
    [
        (8 * B - 4, 8, r"\[0x7fffc, 0x80004\)"),
        (8 * B, 1, r"\[0x80000, 0x80001\)"),
        (-1, 4, r"\[-0x1, 0x3\)"),
        (0x10, -1, r"\[0x10, 0xf\)"),
    ],
)
def test_out_of_bounds_reads_raise_an_error_naming_the_range(addr, length, shown):
    """A read reaching outside RAM raises MemoryAccessError naming the range, RAM size and last address."""
    ram = small_ram()
    with pytest.raises(MemoryAccessError, match=shown + r" is outside the partition's 512 KiB of RAM \(last address 0x7ffff\)"):
        ram.read(addr, length)


@pytest.mark.parametrize(
    "access",
    [
        lambda r: r.write(r.size - 2, b"abcd"),
        lambda r: r.write_u64(r.size - 4, 1, "big"),
        lambda r: r.read_u32(r.size - 2, "little"),
        lambda r: r.view(r.size, 1),
        lambda r: r.fill(r.size - 1, 2, 0xAA),
        lambda r: r.copy(0, r.size - 4, 8),
        lambda r: r.copy(r.size - 4, 0, 8),
    ],
    ids=["write", "write_u64", "read_u32", "view", "fill", "copy-dst", "copy-src"],
)
def test_every_access_path_checks_bounds_before_changing_anything(access):
    """Each accessor raises MemoryAccessError on a straddling access and leaves RAM untouched."""
    ram = small_ram()
    with pytest.raises(MemoryAccessError, match="is outside the partition's"):
        access(ram)
    assert ram.touched_bytes() == 0
    assert ram.read(ram.size - B, B) == bytes(B)


def test_zero_length_access_at_the_very_end_is_allowed():
    """Reading zero bytes at addr == size is inside bounds and returns nothing."""
    ram = small_ram()
    assert ram.read(ram.size, 0) == b""


# --- write tracking ---


def test_one_written_byte_marks_its_whole_block():
    """touched_runs reports the full 64 KiB block around a single written byte."""
    ram = small_ram()
    ram.write(3 * B + 17, b"x")
    assert ram.touched_runs(0, ram.size) == [(3 * B, 4 * B)]
    assert ram.touched_bytes() == B


def test_a_write_across_a_block_boundary_marks_both_blocks():
    """A write straddling a block boundary marks the blocks on both sides."""
    ram = small_ram()
    ram.write(2 * B - 2, b"abcd")
    assert ram.touched_runs(0, ram.size) == [(B, 3 * B)]


def test_touched_runs_merges_adjacent_blocks_and_separates_distant_ones():
    """Adjacent touched blocks form one run; an untouched block between runs splits them."""
    ram = small_ram()
    for block in (1, 2, 4, 7):
        ram.write(block * B, b"\x01")
    assert ram.touched_runs(0, ram.size) == [(B, 3 * B), (4 * B, 5 * B), (7 * B, 8 * B)]


def test_touched_runs_are_clipped_to_the_requested_window():
    """Runs never extend beyond [start, end), even when blocks do."""
    ram = small_ram()
    ram.write(B, bytes(2 * B))  # zeros still count as written
    assert ram.touched_runs(B + 0x100, 2 * B + 0x200) == [(B + 0x100, 2 * B + 0x200)]
    assert ram.touched_runs(0, B + 1) == [(B, B + 1)]
    assert ram.touched_runs(3 * B, 4 * B) == []


def test_touched_runs_of_an_empty_window_is_empty():
    """A window with end <= start has no runs."""
    ram = small_ram()
    ram.write(0, b"x")
    assert ram.touched_runs(0x10, 0x10) == []
    assert ram.touched_runs(0x20, 0x10) == []


# --- fill ---


def test_fill_with_a_non_zero_byte_sets_the_range_and_marks_it():
    """fill with a non-zero value writes exactly the range and marks its blocks."""
    ram = small_ram()
    ram.fill(B - 1, 3, 0xAB)
    assert ram.read(B - 2, 5) == bytes([0, 0xAB, 0xAB, 0xAB, 0])
    assert ram.touched_runs(0, ram.size) == [(0, 2 * B)]


def test_fill_with_zero_clears_written_memory():
    """fill(…, 0) zeroes bytes that had been written, leaving neighbours alone."""
    ram = small_ram()
    ram.write(0x100, b"\xff" * 0x100)
    ram.fill(0x140, 0x80, 0)
    assert ram.read(0x100, 0x100) == b"\xff" * 0x40 + bytes(0x80) + b"\xff" * 0x40


def test_fill_with_zero_over_untouched_memory_marks_nothing():
    """Zeroing memory that was never written is free: no block becomes touched."""
    ram = small_ram()
    ram.write(5 * B, b"x")
    ram.fill(0, 4 * B)
    assert ram.touched_runs(0, ram.size) == [(5 * B, 6 * B)]


# --- copy (memmove) ---


def model_memmove(buf: bytearray, src: int, dst: int, length: int) -> None:
    buf[dst:dst + length] = bytes(buf[src:src + length])


def test_copy_moves_bytes_between_disjoint_ranges():
    """copy places the source bytes at the destination and keeps the source."""
    ram = small_ram()
    ram.write(0x10, b"payload")
    ram.copy(0x10, 5 * B + 0x20, 7)
    assert ram.read(5 * B + 0x20, 7) == b"payload"
    assert ram.read(0x10, 7) == b"payload"


def test_copy_forward_over_itself_behaves_like_memmove():
    """An overlapping copy to a higher address inside a block moves the original bytes."""
    ram = small_ram()
    ram.write(0, b"0123456789")
    ram.copy(0, 3, 10)
    assert ram.read(0, 13) == b"0120123456789"


def test_copy_backward_over_itself_behaves_like_memmove():
    """An overlapping copy to a lower address inside a block moves the original bytes."""
    ram = small_ram()
    ram.write(0, b"0123456789")
    ram.copy(3, 0, 7)
    assert ram.read(0, 10) == b"3456789789"


def test_overlapping_forward_copy_across_sparse_blocks_uses_the_original_source():
    """Moving several blocks up by two blocks copies original data even when untouched gaps split the source."""
    ram = small_ram(16)
    ram.fill(0, B, ord("A"))
    ram.fill(4 * B, B, ord("E"))
    expected = bytearray(ram.read(0, ram.size))
    model_memmove(expected, 0, 2 * B, 5 * B)
    ram.copy(0, 2 * B, 5 * B)
    assert ram.read(0, ram.size) == bytes(expected)
    assert ram.read(4 * B, 1) == b"\0"  # old block 2 was never written
    assert ram.read(6 * B, 1) == b"E"


def test_overlapping_backward_copy_across_sparse_blocks_uses_the_original_source():
    """Moving several blocks down by two blocks copies original data even when untouched gaps split the source."""
    ram = small_ram(16)
    ram.fill(2 * B, B, ord("C"))
    ram.fill(6 * B, B, ord("G"))
    expected = bytearray(ram.read(0, ram.size))
    model_memmove(expected, 2 * B, 0, 5 * B)
    ram.copy(2 * B, 0, 5 * B)
    assert ram.read(0, ram.size) == bytes(expected)


def test_copy_between_addresses_not_aligned_to_the_block_works():
    """Source and destination at different offsets inside their blocks copy byte-exactly across boundaries."""
    ram = small_ram()
    data = bytes(range(256)) * 3
    src, dst = B - 100, 4 * B - 333
    ram.write(src, data)
    ram.copy(src, dst, len(data))
    assert ram.read(dst, len(data)) == data
    assert ram.read(dst - 1, 1) == b"\0" and ram.read(dst + len(data), 1) == b"\0"


def test_copying_untouched_memory_over_written_memory_zeroes_it():
    """Copying never-written (zero) memory onto written memory clears the destination."""
    ram = small_ram()
    ram.fill(5 * B, 2 * B, 0x5A)
    ram.copy(B, 5 * B + 0x10, B)
    assert ram.read(5 * B + 0x10, B) == bytes(B)
    assert ram.read(5 * B, 0x10) == b"\x5a" * 0x10
    assert ram.read(6 * B + 0x10, 0x10) == b"\x5a" * 0x10


def test_copying_untouched_memory_onto_untouched_memory_touches_nothing():
    """A copy where neither side was ever written leaves the touch map empty."""
    ram = small_ram()
    ram.copy(0, 4 * B, 4 * B)
    assert ram.touched_bytes() == 0


def test_copy_marks_the_destination_of_written_source_blocks():
    """After copying written data, the destination blocks count as touched."""
    ram = small_ram()
    ram.write(0, b"x")
    ram.copy(0, 6 * B, B)
    assert ram.touched_runs(6 * B, 7 * B) == [(6 * B, 7 * B)]


# --- properties ---

RAM_BLOCKS = 6
RAM_SIZE = RAM_BLOCKS * B


@st.composite
def writes(draw):
    """Random (addr, data) writes that fit in a RAM_SIZE partition."""
    length = draw(st.integers(min_value=1, max_value=64))
    addr = draw(st.integers(min_value=0, max_value=RAM_SIZE - length))
    return addr, draw(st.binary(min_size=length, max_size=length))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(writes(), min_size=1, max_size=8))
def test_bytes_written_at_random_addresses_read_back_unchanged(ops):
    """Whatever sequence of writes lands anywhere in RAM, reading returns what a flat byte array would hold."""
    ram = PartitionRAM(RAM_SIZE)
    model = bytearray(RAM_SIZE)
    for addr, data in ops:
        ram.write(addr, data)
        model[addr:addr + len(data)] = data
    for addr, data in ops:
        assert ram.read(addr, len(data)) == bytes(model[addr:addr + len(data)])
    assert ram.read(0, RAM_SIZE) == bytes(model)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fills=st.lists(
        st.tuples(st.integers(0, RAM_BLOCKS - 1), st.integers(1, 255)), max_size=RAM_BLOCKS
    ),
    ops=st.lists(writes(), max_size=4),
    src=st.integers(0, RAM_SIZE - 1),
    # dst either anywhere, or a short hop from src so that the two ranges overlap
    dst_or_hop=st.one_of(
        st.integers(0, RAM_SIZE - 1).map(lambda d: ("at", d)),
        st.integers(-2 * B - 64, 2 * B + 64).map(lambda h: ("hop", h)),
    ),
    length=st.one_of(st.integers(0, RAM_SIZE), st.just(RAM_SIZE)),
)
def test_copy_matches_memmove_for_any_source_destination_and_length(fills, ops, src, dst_or_hop, length):
    """For sparse contents and any in-bounds src/dst/length, copy gives exactly memmove's result."""
    kind, value = dst_or_hop
    dst = value if kind == "at" else min(max(src + value, 0), RAM_SIZE - 1)
    length = min(length, RAM_SIZE - src, RAM_SIZE - dst)
    ram = PartitionRAM(RAM_SIZE)
    model = bytearray(RAM_SIZE)
    for block, value in fills:  # whole blocks, with random gaps between them
        ram.fill(block * B, B, value)
        model[block * B:(block + 1) * B] = bytes([value]) * B
    for addr, data in ops:
        ram.write(addr, data)
        model[addr:addr + len(data)] = data
    ram.copy(src, dst, length)
    model_memmove(model, src, dst, length)
    assert ram.read(0, RAM_SIZE) == bytes(model)


# --- write_repeated: a pattern stored again and again ---

@settings(max_examples=150, deadline=None)
@given(tile=st.binary(min_size=1, max_size=300), length=st.integers(0, 3 * 4096 + 17),
       addr=st.integers(0, 3 * BLOCK_SIZE))
def test_a_repeated_write_stores_the_tile_again_and_again_cut_short_at_the_end(tile, length, addr):
    ram = PartitionRAM(8 * BLOCK_SIZE)
    ram.write_repeated(addr, length, tile)
    expected = (tile * (length // len(tile) + 1))[:length]
    assert ram.read(addr, length) == expected
    assert ram.read(0, addr) == bytes(addr)  # nothing before it
    assert not ram.read(addr + length, 64).strip(b"\0")  # nor after it


@pytest.mark.parametrize("tile", [b"x", b"ab", b"26 bytes of workload text.", bytes(range(251)) * 7])
def test_a_repeated_write_longer_than_a_copy_piece_keeps_the_pattern_in_phase_across_pieces(tile, monkeypatch):
    """The filled prefix is copied in pieces of at most REPEAT_CHUNK bytes, rounded down to whole tiles: with a
    piece size no tile divides, a piece that started out of phase would shift the pattern after it."""
    from emulator.hw import ram as ram_module

    monkeypatch.setattr(ram_module, "REPEAT_CHUNK", 1000)  # small, and a multiple of none of the tiles but b"x"
    ram = PartitionRAM(BLOCK_SIZE)
    length = 20_011
    ram.write_repeated(100, length, tile)
    assert ram.read(100, length) == (tile * (length // len(tile) + 1))[:length]
