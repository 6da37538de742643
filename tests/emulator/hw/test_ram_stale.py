"""Tests for PartitionRAM.reset's stale blocks: a reused RAM reads as zero although reset zeroes nothing.

reset() keeps the bytes an earlier run wrote in place (stale blocks) so that the next run, which writes much
the same places, overwrites them without zeroing them first; every other access zeroes them before it looks.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import emulator.hw.ram as ram_module
from emulator.hw.ram import BLOCK_SIZE, PartitionRAM

B = BLOCK_SIZE
SIZE = 8 * B


def used_then_reset(pattern: int = 0xA5) -> PartitionRAM:
    """A RAM whose every byte an earlier run set to ``pattern``, then reset for the next run."""
    ram = PartitionRAM(SIZE)
    ram.fill(0, SIZE, pattern)
    ram.reset()
    return ram


def test_reset_keeps_written_blocks_as_stale_and_marks_nothing_written():
    ram = used_then_reset()
    assert ram.stale_bytes() == SIZE
    assert ram.touched_bytes() == 0


@pytest.mark.parametrize("access", [
    lambda r: r.read(0, SIZE),
    lambda r: r.view(0, SIZE).tobytes(),
    lambda r: b"".join(v.tobytes() for v in r.views(0, SIZE)),
])
def test_every_reader_sees_zeros_where_the_earlier_run_wrote(access):
    ram = used_then_reset()
    assert access(ram) == bytes(SIZE)
    assert ram.stale_bytes() == 0


def test_a_read_zeroes_only_the_stale_blocks_it_reaches():
    ram = used_then_reset()
    assert ram.read_u64(3 * B + 8, "big") == 0
    assert ram.stale_bytes() == SIZE - B


def test_a_write_over_whole_stale_blocks_stores_exactly_its_bytes():
    ram = used_then_reset()
    ram.write(2 * B, bytes([7]) * (2 * B))
    assert ram.stale_bytes() == SIZE - 2 * B
    assert ram.read(2 * B, 2 * B) == bytes([7]) * (2 * B)


def test_a_partial_write_leaves_the_rest_of_its_stale_block_zero():
    ram = used_then_reset()
    ram.write(B + 100, b"\x01\x02")
    assert ram.read(B, B) == bytes(100) + b"\x01\x02" + bytes(B - 102)
    ram.write(5 * B - 3, np.full(B + 6, 9, dtype=np.uint8))  # a uint8 array across three blocks
    assert ram.read(4 * B, 3 * B) == bytes(B - 3) + bytes([9]) * (B + 6) + bytes(B - 3)


def test_a_copy_from_stale_memory_copies_zeros_and_onto_it_leaves_no_earlier_bytes():
    ram = used_then_reset()
    ram.write(0, b"\x11" * 10)
    ram.copy(4 * B, 0, 2 * B)  # from stale (zero) memory over written memory
    ram.copy(0, 6 * B + 5, 20)  # onto a stale block, partly
    assert ram.read(0, SIZE) == bytes(SIZE)


def test_a_copy_from_an_unaligned_source_reads_the_stale_blocks_beside_its_written_runs_as_zero():
    ram = used_then_reset()
    ram.write(B, b"\x33" * B)  # block 1 written; blocks 0 and 2 beside it still hold the earlier bytes
    ram.copy(100, 4 * B, 3 * B)  # each destination block reads two source blocks, partly stale ones
    assert ram.read(4 * B, 3 * B) == bytes(B - 100) + b"\x33" * B + bytes(B + 100)  # the destination alone
    assert ram.stale_bytes() == 2 * B  # blocks 3 and 7, which nothing reached


def test_an_unaligned_copy_zeroes_only_the_stale_blocks_its_aliases_read():
    ram = used_then_reset()
    ram.write(3 * B, b"\x44" * 10)  # one written block in a source spanning blocks 0-4
    ram.copy(7, 5 * B, 3 * B)  # source [7, 3B+7) lies in blocks 0-3; only block 2 sits beside block 3
    # Stale still: blocks 0, 1 and 4 (no alias reads them) and destination blocks 5 and 6 (their source was
    # never written, so they read as zero as they are); block 3 was written, 2 zeroed, 7 became an alias.
    assert ram.stale_bytes() == 5 * B
    assert ram.read(5 * B, 3 * B) == bytes(3 * B - 7) + b"\x44" * 7


def test_fill_with_zero_reads_zero_and_fill_with_a_value_sets_stale_blocks():
    ram = used_then_reset()
    ram.fill(0, B + 1, 0)
    ram.fill(3 * B + 1, 2, 0x33)
    assert ram.read(0, 4 * B) == bytes(3 * B + 1) + b"\x33\x33" + bytes(B - 3)


def test_a_second_reset_keeps_blocks_nobody_touched_stale():
    ram = used_then_reset()
    ram.write(0, b"x")
    ram.reset()
    assert ram.stale_bytes() == SIZE
    assert ram.read(0, SIZE) == bytes(SIZE)


def test_beyond_keep_resident_the_written_pages_go_back_to_the_kernel(monkeypatch):
    monkeypatch.setattr(ram_module, "KEEP_RESIDENT", 2 * B)
    ram = used_then_reset()
    assert ram.stale_bytes() == 0
    assert ram.read(0, SIZE) == bytes(SIZE)


def test_a_reused_smaller_partition_does_not_see_the_earlier_partitions_bytes():
    PartitionRAM.drop_spares()
    big = PartitionRAM.reuse(4 * B)
    big.fill(0, 4 * B, 0x5A)
    big.release()
    small = PartitionRAM.reuse(2 * B)
    assert small is big
    assert small.read(0, 2 * B) == bytes(2 * B)
    small.release()
    again = PartitionRAM.reuse(4 * B)
    assert again.read(0, 4 * B) == bytes(4 * B)
    PartitionRAM.drop_spares()


@st.composite
def ops(draw):
    kind = draw(st.sampled_from(["bytes", "array", "fill", "copy", "read", "repeated"]))
    addr = draw(st.integers(0, SIZE - 1))
    length = draw(st.integers(0, min(3 * B, SIZE - addr)))
    if kind == "copy":
        return kind, addr, length, draw(st.integers(0, SIZE - length))
    return kind, addr, length, draw(st.integers(0, 255))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(before=[("fill", 0, SIZE, 0x5A)], after=[("bytes", 0, 10, 1), ("copy", 0, 3 * B, 4 * B), ("read", 0, SIZE, 0)])
@example(before=[("fill", 0, SIZE, 0x5A)], after=[("bytes", B + 3, 10, 1), ("copy", 5, 3 * B, 4 * B + 5)])
@example(before=[("fill", 0, SIZE, 0x5A)], after=[("bytes", 9, 10, 1), ("copy", 0, 2 * B + 7, 5 * B + 3),
                                               ("bytes", 5 * B, 2, 2), ("copy", 4 * B, B, 0)])
@example(before=[("fill", 0, SIZE, 0x5A)], after=[("bytes", B, B, 0x33), ("copy", 100, 3 * B, 4 * B)])
@given(before=st.lists(ops(), max_size=6), after=st.lists(ops(), min_size=1, max_size=8))
def test_after_reset_any_sequence_of_accesses_behaves_like_a_fresh_ram(before, after):
    """Whatever an earlier run wrote, the next run sees exactly what it would see on a never-used RAM.

    Each block is read on its own, upwards in one used RAM and downwards in a second one: a read zeroes the
    stale blocks it reaches, so one read of everything would zero a stale block before a copy's destination
    read it as the source it aliases."""
    up, down, fresh = PartitionRAM(SIZE), PartitionRAM(SIZE), PartitionRAM(SIZE)
    for ram in (up, down):
        for script in (before, [("reset",)], after):
            for op in script:
                apply(ram, op)
    for op in after:
        apply(fresh, op)
    blocks = range(SIZE // B)
    expected = [fresh.read(b * B, B) for b in blocks]
    assert [up.read(b * B, B) for b in blocks] == expected
    assert [down.read(b * B, B) for b in reversed(blocks)] == expected[::-1]


def apply(ram: PartitionRAM, op: tuple) -> None:
    kind = op[0]
    if kind == "reset":
        ram.reset()
        return
    _, addr, length, value = op
    if kind == "bytes":
        ram.write(addr, bytes([value or 1]) * length)
    elif kind == "array":
        ram.write(addr, np.full(length, value, dtype=np.uint8))
    elif kind == "fill":
        ram.fill(addr, length, value)
    elif kind == "copy":
        ram.copy(addr, value, length)
    elif kind == "repeated":  # tiles not block-sized, as the scratch pattern's (65520 bytes) is not
        ram.write_repeated(addr, length, bytes([value or 1, 7, value]) * (value + 1))
    else:
        ram.read(addr, length)


def test_a_mapping_too_large_for_block_flags_is_zeroed_in_place_at_reset(monkeypatch):
    monkeypatch.setattr(ram_module, "REUSE_MAPPING", SIZE // 2)
    ram = used_then_reset()
    assert ram.stale_bytes() == 0
    assert ram.read(0, SIZE) == bytes(SIZE)


def test_a_repeated_tile_over_stale_blocks_zeroes_none_it_covers_whole():
    """write_scratch's tiles are not block-sized: written tile by tile, every stale block a tile began or
    ended in was zeroed before being overwritten; written as one range, only the range's own edge blocks are."""
    ram = used_then_reset()
    zeroed = []
    real = ram._bytes

    class Watch:
        def __setitem__(self, key, value):
            if isinstance(value, int) and value == 0:  # a zeroing, not the tile's copies
                zeroed.append(key)
            real[key] = value

        def __getitem__(self, key):
            return real[key]

    ram._bytes = Watch()
    ram.write_repeated(B + 5, 3 * B, b"tile" * 1000)
    ram._bytes = real
    assert zeroed == [slice(B, 2 * B), slice(4 * B, 5 * B)]
    assert ram.read(B + 5, 3 * B) == (b"tile" * (3 * B // 4000 * 1000 + 1000))[:3 * B]
    assert ram.read(B, 5) == bytes(5) and ram.read(4 * B + 5, B - 5) == bytes(B - 5)


def test_a_copy_onto_stale_memory_zeroes_only_the_partial_blocks_at_its_ends():
    """Firmware's preservation copies boot memory onto the dump area, which an earlier run in this worker left
    stale: the whole blocks become aliases or stay stale (both read right), so none of them is zeroed."""
    ram = used_then_reset()
    ram.write(100, b"boot memory")
    ram.write(B + 5, b"more")
    zeroed = []
    real = ram._bytes

    class Watch:
        def __setitem__(self, key, value):
            if isinstance(value, int) and value == 0:
                zeroed.append(key)
            real[key] = value

        def __getitem__(self, key):
            return real[key]

    ram._bytes = Watch()
    ram.copy(100, 4 * B + 100, 2 * B)
    ram._bytes = real
    # the destination's partial blocks and the source's stale tail; not block 5 (an alias of block 1)
    assert zeroed == [slice(4 * B, 5 * B), slice(2 * B, 3 * B), slice(6 * B, 7 * B)]
    want = b"boot memory" + bytes(B - 111) + bytes(5) + b"more" + bytes(B - 9) + bytes(100)
    assert ram.read(4 * B + 100, 2 * B) == want
    assert ram.read(100, 2 * B) == want
    assert ram.read(0, 100) == bytes(100) and ram.read(3 * B, B) == bytes(B)


def test_a_zero_fill_over_stale_memory_leaves_it_stale_and_writes_nothing():
    """A booting kernel zeroes its static data (the printk ring, the fadump structures) where the last run's
    kernel left it: stale blocks read as zero already, so nothing is written and they stay stale."""
    ram = used_then_reset()
    ram._bytes.flags.writeable = False  # any store into the mapping's bytes would raise
    try:
        ram.fill(B + 7, 3 * B, 0)
    finally:
        ram._bytes.flags.writeable = True
    assert ram.stale_bytes() == SIZE
    assert ram.read(0, SIZE) == bytes(SIZE)
