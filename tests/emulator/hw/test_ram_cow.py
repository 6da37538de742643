"""Copies in RAM are copy-on-write: no caller can tell them from a real memmove.

The model everywhere is a flat bytearray given the same operations; RAM must
read back exactly as the model after every sequence.
"""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from firmware.machine import Machine, MachineConfig
from emulator.hw.ram import BLOCK_SIZE as B
from emulator.hw.ram import PartitionRAM
from emulator.units import GiB, MiB
from firmware.abi import DumpCommand, RtasStatus, SectionType
from tests.firmware.test_fadump import configure, section, structure, take_dump, valid_sections

BLOCKS = 24
SIZE = BLOCKS * B


def filled(ram: PartitionRAM, model: bytearray, start: int, length: int, seed: int) -> None:
    data = bytes((seed + i * 7) & 0xFF for i in range(length))
    ram.write(start, data)
    model[start:start + length] = data


def same(ram: PartitionRAM, model: bytearray) -> None:
    assert ram.read(0, len(model)) == bytes(model)
    assert ram.view(0, len(model)).tobytes() == bytes(model)


def memmove(model: bytearray, src: int, dst: int, length: int) -> None:
    model[dst:dst + length] = bytes(model[src:src + length])


# --- the preserved copy and the memory it came from ---


def test_a_copy_moves_no_bytes_until_one_side_is_written():
    ram, model = PartitionRAM(SIZE), bytearray(SIZE)
    filled(ram, model, 0, 4 * B, 1)
    assert ram.copy(0, 8 * B, 4 * B) == 4 * B
    memmove(model, 0, 8 * B, 4 * B)
    assert ram.aliased_bytes() == 4 * B
    same(ram, model)


def test_writing_boot_memory_after_preservation_leaves_the_preserved_copy_unchanged():
    """The capture kernel boots in the memory just preserved: only the blocks it writes get copied first."""
    ram, model = PartitionRAM(SIZE), bytearray(SIZE)
    filled(ram, model, 0, 6 * B, 3)
    ram.copy(0, 12 * B, 6 * B)
    memmove(model, 0, 12 * B, 6 * B)
    preserved = ram.read(12 * B, 6 * B)
    ram.write(B + 100, b"capture kernel text")
    model[B + 100:B + 119] = b"capture kernel text"
    assert ram.read(12 * B, 6 * B) == preserved
    assert ram.aliased_bytes() == 5 * B  # only block 1's copy was made
    ram.fill(2 * B, 3 * B, 0)  # the capture kernel clears its bss
    model[2 * B:5 * B] = bytes(3 * B)
    assert ram.read(12 * B, 6 * B) == preserved
    same(ram, model)


def test_writing_the_destination_copies_only_that_block_and_leaves_the_source_alone():
    ram, model = PartitionRAM(SIZE), bytearray(SIZE)
    filled(ram, model, 0, 4 * B, 5)
    ram.copy(0, 8 * B, 4 * B)
    memmove(model, 0, 8 * B, 4 * B)
    ram.write(10 * B - 3, b"straddles two blocks")  # the end of block 9 and the start of block 10
    model[10 * B - 3:10 * B + 17] = b"straddles two blocks"
    assert ram.aliased_bytes() == 2 * B
    same(ram, model)


def test_a_write_that_covers_whole_aliased_blocks_needs_no_copy_of_them():
    ram, model = PartitionRAM(SIZE), bytearray(SIZE)
    filled(ram, model, 0, 4 * B, 9)
    ram.copy(0, 8 * B, 4 * B)
    memmove(model, 0, 8 * B, 4 * B)
    ram.fill(8 * B + 1, 2 * B, 0xEE)  # block 9 whole, blocks 8 and 10 in part
    model[8 * B + 1:10 * B + 1] = b"\xee" * (2 * B)
    same(ram, model)


def test_an_unaligned_destination_copies_its_partial_end_blocks_and_aliases_the_rest():
    """Linux 3.4's dump area does not start on a 64 KiB boundary (e.g. 0x37fffa5a0 for 2 GiB of boot memory)."""
    ram, model = PartitionRAM(SIZE), bytearray(SIZE)
    filled(ram, model, 0, 5 * B, 11)
    dst = 10 * B + 0x5A0
    ram.copy(0, dst, 5 * B)
    memmove(model, 0, dst, 5 * B)
    assert ram.aliased_bytes() == 4 * B
    same(ram, model)
    ram.write(2 * B, b"boot memory rewritten")  # source blocks 2 and 3 feed destination block 12
    model[2 * B:2 * B + 21] = b"boot memory rewritten"
    same(ram, model)


def test_a_second_crash_preserves_memory_again_over_the_first_copy():
    ram, model = PartitionRAM(SIZE), bytearray(SIZE)
    filled(ram, model, 0, 4 * B, 13)
    ram.copy(0, 8 * B, 4 * B)
    memmove(model, 0, 8 * B, 4 * B)
    filled(ram, model, B, 2 * B, 77)  # the capture kernel (now the production kernel) runs and crashes
    ram.copy(0, 8 * B, 4 * B)
    memmove(model, 0, 8 * B, 4 * B)
    same(ram, model)
    ram.copy(8 * B, 16 * B, 4 * B)  # a copy of a copy reads the first source directly
    memmove(model, 8 * B, 16 * B, 4 * B)
    filled(ram, model, 0, 4 * B, 99)
    same(ram, model)


def test_never_written_source_blocks_make_a_written_destination_zero():
    ram, model = PartitionRAM(SIZE), bytearray(SIZE)
    filled(ram, model, 8 * B, 4 * B, 21)  # stale data in the dump area
    filled(ram, model, B, 10, 22)
    ram.copy(0, 8 * B, 4 * B)
    memmove(model, 0, 8 * B, 4 * B)
    same(ram, model)


def test_qemus_chunks_upwards_into_an_overlapping_destination_read_chunks_already_written():
    """hw/ppc/spapr_fadump.c do_preserve_region() (QEMU 10.2): FADUMP_CHUNK_SIZE pieces upwards, each read
    whole then written; a destination one chunk above the source re-reads the first chunk again and again."""
    chunk = 2 * B
    ram, model = PartitionRAM(SIZE), bytearray(SIZE)
    filled(ram, model, 0, 8 * B, 31)
    for off in range(0, 6 * B, chunk):
        ram.copy(off, chunk + off, chunk)
        memmove(model, off, chunk + off, chunk)
    assert model[6 * B:8 * B] == model[0:2 * B]
    same(ram, model)


def test_reset_makes_ram_zero_and_forgets_copies_but_keeps_the_mapping():
    ram = PartitionRAM(SIZE)
    mapping = ram._map
    ram.write(0, b"x" * B)
    ram.copy(0, 4 * B, B)
    ram.reset()
    assert ram._map is mapping
    assert ram.aliased_bytes() == 0 and ram.touched_bytes() == 0
    assert ram.read(0, SIZE) == bytes(SIZE)


def test_reset_zeroes_written_memory_in_place_or_gives_it_back_when_it_is_large(monkeypatch):
    """Small runs keep their pages (zeroed in place), large ones return them (MADV_DONTNEED): both read as zeros,
    and every later write, copy and read behaves as on fresh RAM."""
    from emulator.hw import ram as ram_mod

    for keep in (SIZE, 0):  # everything in place; nothing in place
        monkeypatch.setattr(ram_mod, "KEEP_RESIDENT", keep)
        ram = PartitionRAM(SIZE)
        model = bytearray(SIZE)
        filled(ram, bytearray(SIZE), 0, 5 * B + 17, 3)
        ram.copy(0, 8 * B, 2 * B)
        filled(ram, bytearray(SIZE), 20 * B - 9, 2 * B, 5)
        ram.reset()
        same(ram, model)
        assert ram.touched_runs(0, SIZE) == []
        filled(ram, model, B + 3, 3, 7)
        ram.copy(0, 12 * B, 2 * B)
        model[12 * B:14 * B] = model[0:2 * B]
        same(ram, model)


# --- any sequence ---

aligned = st.integers(0, BLOCKS - 1).map(lambda b: b * B)
anywhere = st.integers(0, SIZE - 1)


@st.composite
def operations(draw):
    kind = draw(st.sampled_from(["write", "fill", "copy", "copy", "copy-unaligned", "repeated"]))
    if kind == "repeated":
        addr = draw(st.one_of(aligned, anywhere))
        return kind, addr, draw(st.integers(0, SIZE - addr)), draw(st.binary(min_size=1, max_size=B + 7))
    if kind == "write":
        addr = draw(anywhere)
        return kind, addr, draw(st.binary(min_size=1, max_size=min(3 * B, SIZE - addr)).map(lambda d: d or b"\1"))
    if kind == "fill":
        addr = draw(st.one_of(aligned, anywhere))
        return kind, addr, draw(st.integers(1, SIZE - addr)), draw(st.integers(0, 255))
    src = draw(aligned if kind == "copy" else anywhere)
    dst = draw(aligned if kind == "copy" else anywhere)
    top = SIZE - max(src, dst)
    length = draw(st.one_of(st.integers(1, max(1, top // B)).map(lambda n: min(n * B, top)), st.integers(1, top)))
    return "copy", src, dst, length


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operations(), min_size=1, max_size=10))
@example(ops=[("write", 0, b"\x01"), ("copy", 0, 2 * B, B), ("copy", 0, B, 3 * B)])
@example(ops=[("write", 0, b"\x01"), ("copy", 0, B, B), ("copy", 0, B, 2 * B)])
def test_any_sequence_of_writes_fills_and_copies_reads_as_a_flat_byte_array(ops):
    ram, model = PartitionRAM(SIZE), bytearray(SIZE)
    for op in ops:
        if op[0] == "write":
            _, addr, data = op
            ram.write(addr, data)
            model[addr:addr + len(data)] = data
        elif op[0] == "repeated":
            _, addr, length, tile = op
            ram.write_repeated(addr, length, tile)
            model[addr:addr + length] = (tile * (length // len(tile) + 1))[:length]
        elif op[0] == "fill":
            _, addr, length, value = op
            ram.fill(addr, length, value)
            model[addr:addr + length] = bytes([value]) * length
        else:
            _, src, dst, length = op
            ram.copy(src, dst, length)
            memmove(model, src, dst, length)
        for a in range(0, SIZE, 5 * B + 123):  # views that start and end inside aliases
            assert ram.view(a, min(3 * B, SIZE - a)).tobytes() == bytes(model[a:a + 3 * B])
            # the same bytes as pieces read where they live (what the vmcore export writes)
            assert b"".join(v.tobytes() for v in ram.views(a, min(3 * B, SIZE - a))) == bytes(model[a:a + 3 * B])
    same(ram, model)
    for s, e in ram.touched_runs(0, SIZE):  # every non-zero byte lies in a block marked written
        model[s:e] = bytes(e - s)
    assert model == bytes(SIZE)


# --- through firmware ---


def test_firmware_preservation_aliases_boot_memory_and_the_capture_kernel_cannot_disturb_it():
    """PowerVM copies the boot memory section to its destination; the capture kernel then boots in it."""
    m = Machine(MachineConfig(memory=1 * GiB, cpus=4))
    m.ram.write(0x10_0000, b"crash-time kernel data" * 100)
    sections = valid_sections(m)
    dest = sections[2]["destination_address"]
    assert configure(m, DumpCommand.REGISTER, structure(sections)) == RtasStatus.SUCCESS
    before = m.ram.read(0, 16 * MiB)
    dump = take_dump(m)
    assert dump.sections[2].bytes_dumped == 16 * MiB
    assert m.ram.aliased_bytes() > 0
    m.ram.fill(0, 16 * MiB, 0x5A)  # the capture kernel overwrites all of boot memory
    assert m.ram.read(dest, 16 * MiB) == before
    assert m.ram.aliased_bytes() == 0


def test_a_second_registration_and_crash_preserves_the_new_boot_memory():
    m = Machine(MachineConfig(memory=1 * GiB, cpus=4))
    sections = valid_sections(m)
    dest = sections[2]["destination_address"]
    m.ram.write(0x20_0000, b"first")
    assert configure(m, DumpCommand.REGISTER, structure(sections)) == RtasStatus.SUCCESS
    take_dump(m)
    assert configure(m, DumpCommand.INVALIDATE, structure(sections)) == RtasStatus.SUCCESS
    m.ram.write(0x20_0000, b"again")
    assert configure(m, DumpCommand.REGISTER, structure(sections)) == RtasStatus.SUCCESS
    take_dump(m)
    assert m.ram.read(dest + 0x20_0000, 5) == b"again"
    m.ram.write(0x20_0000, b"third")
    assert m.ram.read(dest + 0x20_0000, 5) == b"again"


def test_a_block_aligned_destination_reads_as_boot_memory():
    m = Machine(MachineConfig(memory=1 * GiB, cpus=4))
    sections = valid_sections(m)[:2] + [section(SectionType.REAL_MODE_REGION, 0, 16 * MiB, 0x3100_0000)]
    m.ram.write(0, b"boot")
    assert configure(m, DumpCommand.REGISTER, structure(sections)) == RtasStatus.SUCCESS
    take_dump(m)
    assert m.ram.read(0x3100_0000, 4) == b"boot"


def test_a_released_ram_comes_back_zeroed_for_the_next_partition_of_its_size():
    """Long-lived workers (fadump-emu test, explore) run scenario after scenario in one mapping."""
    first = PartitionRAM.reuse(SIZE)
    first.write(3 * B, b"left by the last scenario")
    first.copy(3 * B, 9 * B, B)
    first.release()
    again = PartitionRAM.reuse(SIZE)
    assert again is first
    assert again.read(0, SIZE) == bytes(SIZE) and again.touched_bytes() == 0 and again.aliased_bytes() == 0
    assert PartitionRAM.reuse(SIZE) is not first  # handed out once only


def test_a_worker_running_the_same_scenario_twice_gets_the_same_result(tmp_path):
    from emulator.regress import suite

    path = "scenarios/basic-panic.toml"
    one = suite.run_one(path, str(tmp_path / "one"))
    two = suite.run_one(path, str(tmp_path / "two"))
    assert one["verdict"] == two["verdict"] == suite.PASS
    assert one["expectations"] == two["expectations"]
    assert (tmp_path / "one" / "console.log").read_text() == (tmp_path / "two" / "console.log").read_text()


# --- a whole run ---


def test_a_whole_run_copies_only_what_the_capture_kernel_overwrites_and_its_vmcore_still_matches():
    """32 MiB of workload data in boot memory, on both generations (3.4's dump area is not 64 KiB-aligned,
    6.10's is): the capture kernel boots in boot memory and overwrites only its own image and scratch
    memory, so only those blocks are ever copied; verification reads the saved file back against the
    BLAKE2b digests taken at the crash."""
    from emulator.scenario import loader as scenario
    from emulator.host.bench import scenario_text
    from emulator.run.runner import Run, publish

    for profile in ("linux-3.4", "linux-6.10"):
        text = scenario_text("4GiB", 32 * MiB, profile=profile, low_share=1.0)
        run = Run(scenario.loads(text, f"{profile}.toml"), None)
        result = publish(run, None)
        ram = run.machine.ram  # the live RAM, for its copy-on-write accounting
        assert result.outcome == "vmcore"
        assert result.captures[0].verification["ok"]
        assert result.partition.firmware.bytes_moved > 32 * MiB
        assert ram.copied_late < 8 * MiB  # the capture kernel's image and scratch blocks, not the workload
        assert ram.aliased_bytes() >= 32 * MiB


def test_a_released_larger_ram_serves_a_smaller_partition_bounded_by_its_own_size():
    """A worker sweeping partitions of several sizes keeps using the mappings it has (their pages are there)."""
    from emulator.errors import MemoryAccessError

    PartitionRAM.drop_spares()
    big = PartitionRAM.reuse(4 * SIZE)
    big.write(4 * SIZE - B, b"top of the larger partition")
    big.write(5, b"low")
    big.release()
    small = PartitionRAM.reuse(SIZE)
    assert small is big and small.size == SIZE
    assert small.read(0, SIZE) == bytes(SIZE) and small.touched_bytes() == 0
    with pytest.raises(MemoryAccessError):
        small.read(SIZE - 1, 2)  # the partition ends at its own size, not at the mapping's
    assert small.touched_runs(0, SIZE) == []
    small.write(SIZE - 4, b"edge")
    small.release()
    again = PartitionRAM.reuse(4 * SIZE)
    assert again is big and again.size == 4 * SIZE
    assert again.read(0, 4 * SIZE) == bytes(4 * SIZE)  # what both partitions wrote is gone


def test_reuse_takes_the_smallest_spare_that_fits_and_maps_anew_when_none_does():
    from emulator.hw.ram import REUSE_MAPPING

    PartitionRAM.drop_spares()
    small, large = PartitionRAM(SIZE), PartitionRAM(4 * SIZE)  # mappings of exactly their size
    small.release()
    large.release()
    assert PartitionRAM.reuse(SIZE) is small
    assert PartitionRAM.reuse(2 * SIZE) is large
    fresh = PartitionRAM.reuse(8 * SIZE)  # no spare left: one mapping of REUSE_MAPPING for what comes next
    assert fresh is not large and fresh.size == 8 * SIZE and len(fresh._map) == REUSE_MAPPING
    with pytest.raises(Exception):
        fresh.write(8 * SIZE, b"x")
    huge = PartitionRAM.reuse(2 * REUSE_MAPPING)  # beyond it: a mapping of its own size
    assert len(huge._map) == huge.size == 2 * REUSE_MAPPING
    PartitionRAM.drop_spares()


def test_where_the_shared_mapping_cannot_be_made_reuse_maps_just_the_partition(monkeypatch):
    """A host that commits memory strictly refuses address space it may never use: fall back to the size asked."""
    from emulator.hw import ram as ram_module

    PartitionRAM.drop_spares()
    monkeypatch.setattr(ram_module, "REUSE_MAPPING", 1 << 62)  # more address space than any host has
    got = PartitionRAM.reuse(SIZE)
    assert got.size == SIZE and len(got._map) == SIZE
