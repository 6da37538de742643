"""Tests for firmware.regsave: the Register Save Area (LoPAR app_firmware_dump.xml)."""

import re

import pytest

from emulator.hw.cpu import REGISTER_NAMES, Cpu, default_registers
from firmware import abi, regsave
from firmware.regsave import ENTRIES_PER_CPU, REGISTER_IDS
from kernels import regsave_reader
from kernels.structs import PT_REGS_FIELDS_6_10

CPU_IDS = (0, 2, 5)  # three online CPUs with non-contiguous logical ids
ENTRY = abi.REGSAVE_ENTRY_SIZE
WIDTH = {ident: width for ident, _, width in REGISTER_IDS}


def value_for(cpu: int, index: int) -> int:
    """A distinct 64-bit pattern per CPU and register, with the top word non-zero."""
    return (0xA5A5_0000_0000_0000 | (cpu << 40) | (index << 16) | 0x5A5A) & 0xFFFF_FFFF_FFFF_FFFF


def make_cpu(cpu: int) -> Cpu:
    c = Cpu(cpu, True, default_registers(cpu, little_endian=True))
    c.set({name: value_for(cpu, i) for i, (_, name, _) in enumerate(REGISTER_IDS)})
    return c


@pytest.fixture(scope="module")
def cpus() -> list[Cpu]:
    return [make_cpu(i) for i in CPU_IDS]


@pytest.fixture(scope="module")
def area(cpus) -> bytes:
    return regsave.build(cpus)


def entries(data: bytes, first: int) -> list[tuple[bytes, bytes, bytes]]:
    """Every 16-byte entry from ``first`` on: (8-byte id, high word, low word)."""
    return [(data[o:o + 8], data[o + 8:o + 12], data[o + 12:o + 16]) for o in range(first, len(data), ENTRY)]


def cpu_lists(data: bytes, first: int) -> list[list[tuple[bytes, bytes, bytes]]]:
    """Split the entries into per-CPU lists, CPUSTRT and CPUEND included."""
    lists, current = [], None
    for e in entries(data, first):
        if e[0] == b"CPUSTRT\0":
            assert current is None
            current = [e]
        else:
            assert current is not None
            current.append(e)
            if e[0] == b"CPUEND\0\0":
                lists.append(current)
                current = None
    assert current is None
    return lists


def ident(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("ascii")


class FakeRam:
    """Just what kernels.regsave_reader.read_area needs: big-endian reads of a buffer at ``base``."""

    def __init__(self, base: int, data: bytes):
        self.base, self.data = base, data

    def read(self, addr: int, length: int) -> bytes:
        off = addr - self.base
        assert 0 <= off and off + length <= len(self.data)
        return self.data[off:off + length]

    def read_u32(self, addr: int, order: str) -> int:
        return int.from_bytes(self.read(addr, 4), order)


# --- header ---


def test_the_lopar_header_has_magic_version_0_offset_0x1c_padding_and_num_cpus(area):
    assert area[0x00:0x08] == b"REGSAVE\0"
    assert area[0x08:0x0C] == bytes(4)  # version 0
    assert area[0x0C:0x10] == bytes.fromhex("0000001c")  # NumCpusOffset
    assert area[0x10:0x1C] == bytes(12)  # padding, initialized to 0
    assert area[0x1C:0x20] == (3).to_bytes(4, "big")  # NumCpus: CPUs, not entries
    assert area[0x20:0x28] == b"CPUSTRT\0"  # first RegEntry at 0x20


def test_the_qemu_layout_puts_num_cpus_at_0x10(cpus):
    data = regsave.build(cpus, regsave.QEMU)
    assert data[0x00:0x08] == b"REGSAVE\0"
    assert data[0x0C:0x10] == bytes.fromhex("00000010")
    assert data[0x10:0x14] == (3).to_bytes(4, "big")
    assert data[0x14:0x1C] == b"CPUSTRT\0"
    assert [ident(lst[0][0]) for lst in cpu_lists(data[:-12], 0x14)] == ["CPUSTRT"] * 3
    assert len(data) == regsave.area_size(3, regsave.QEMU)


# --- per-CPU lists ---


def test_each_cpu_list_runs_from_cpustrt_to_cpuend_with_the_logical_id_in_the_low_word(area):
    lists = cpu_lists(area, 0x20)
    assert len(lists) == 3
    for cpu, lst in zip(CPU_IDS, lists):
        start, end = lst[0], lst[-1]
        assert (start[0], start[1], int.from_bytes(start[2], "big")) == (b"CPUSTRT\0", bytes(4), cpu)
        assert (end[0], end[1], int.from_bytes(end[2], "big")) == (b"CPUEND\0\0", bytes(4), cpu)
        assert [ident(e[0]) for e in lst[1:-1]] == [i for i, _, _ in REGISTER_IDS]
        assert len(lst) == ENTRIES_PER_CPU


def test_four_byte_entries_have_a_zero_reserved_word_and_the_low_32_bits(area):
    lists = cpu_lists(area, 0x20)
    four = [i for i, _, w in REGISTER_IDS if w == 4]
    assert four, "some registers are 4-byte RegEntries"
    for cpu, lst in zip(CPU_IDS, lists):
        for index, ((raw, hi, lo), (_, _, width)) in enumerate(zip(lst[1:-1], REGISTER_IDS)):
            value = value_for(cpu, index)
            assert value >> 32, "the test pattern has a non-zero top word"
            if width == 4:
                assert (hi, lo) == (bytes(4), (value & 0xFFFF_FFFF).to_bytes(4, "big")), ident(raw)
            else:
                assert width == 8
                assert hi + lo == value.to_bytes(8, "big"), ident(raw)


def test_ids_are_unique_ascii_at_most_8_bytes_and_zero_padded(area):
    ids = [i for i, _, _ in REGISTER_IDS]
    assert len(set(ids)) == len(ids)
    assert {"CPUSTRT", "CPUEND"}.isdisjoint(ids)
    for raw, _, _ in cpu_lists(area, 0x20)[0]:
        name = raw.rstrip(b"\0")
        assert 1 <= len(name) <= 8
        assert b"\0" not in name and all(0x21 <= b < 0x7F for b in name), raw
        assert raw == name.ljust(8, b"\0")
    assert not any(i.startswith("X-") for i in ids), "no TM checkpoint registers without TM state"
    with pytest.raises(ValueError):
        abi.reg_id("VSR00_HI_")


def test_identifiers_match_the_lopar_hex_values():
    """Spot checks against the hex column of LoPAR's identifier table."""
    assert abi.reg_id("CPUSTRT") == 0x4350555354525400
    assert abi.reg_id("CPUEND") == 0x435055454E440000
    assert abi.reg_id("GPR05") == 0x4750523035000000
    assert abi.reg_id("FPR31") == 0x4650523331000000
    assert abi.reg_id("VR00_HI") == 0x565230305F484900
    assert abi.reg_id("VR31_LO") == 0x565233315F4C4F00
    assert abi.reg_id("VSR00_HI") == 0x56535230305F4849  # exactly 8 bytes: no padding
    assert abi.reg_id("VSR63_LO") == 0x56535236335F4C4F
    assert abi.reg_id("NIA") == 0x4E49410000000000
    assert abi.reg_id("DAWRX0") == 0x4441575258300000
    assert abi.reg_id("PMC6") == 0x504D433600000000  # LoPAR's ASCII column says "PIMC6"
    assert {"PMC6", "MMCRA", "TEXASR", "PSSCR", "LMSER"} <= set(WIDTH)
    assert "PIMC6" not in WIDTH


def test_the_table_has_lopar_s_329_non_checkpoint_registers():
    ids = [i for i, _, _ in REGISTER_IDS]
    assert len(ids) == 32 + 32 + 64 + 128 + 73 == 329
    assert sorted(i for i, _, w in REGISTER_IDS if w == 4) == sorted([
        "CR", "CTRL", "DEC", "DSISR", "PID", "PIR", "PMC1", "PMC2", "PMC3", "PMC4", "PMC5",
        "PMC6", "PSPB", "PVR", "SPMC1", "SPMC2", "VRSAVE", "VSCR"])


# --- order ---

GROUPS = {
    "GPR": re.compile(r"GPR(\d\d)$"),
    "FPR": re.compile(r"FPR(\d\d)$"),
    "VR": re.compile(r"VR(\d\d)_(HI|LO)$"),
    "VSR": re.compile(r"VSR(\d\d)_(HI|LO)$"),
}


def test_groups_are_contiguous_ascending_and_multi_doubleword_values_go_high_then_low(area):
    ids = [ident(raw) for raw, _, _ in cpu_lists(area, 0x20)[0][1:-1]]
    for group, pattern, count, halves in (("GPR", GROUPS["GPR"], 32, None), ("FPR", GROUPS["FPR"], 32, None),
                                          ("VR", GROUPS["VR"], 32, ("HI", "LO")),
                                          ("VSR", GROUPS["VSR"], 64, ("HI", "LO"))):
        positions = [p for p, i in enumerate(ids) if pattern.match(i)]
        assert positions == list(range(positions[0], positions[0] + len(positions))), f"{group} interleaved"
        members = [pattern.match(ids[p]).groups() for p in positions]
        if halves is None:
            assert [int(m[0]) for m in members] == list(range(count))
        else:
            assert members == [(f"{i:02d}", h) for i in range(count) for h in halves]
    others = [i for i in ids if not any(p.match(i) for p in GROUPS.values())]
    assert others == sorted(others)  # the rest in ascending ASCII order


def test_vector_doublewords_carry_the_register_file_halves_high_first():
    c = Cpu(1, True, default_registers(1, little_endian=False))
    c.set({"vsr7_hi": 0x1111_2222_3333_4444, "vsr7_lo": 0x5555_6666_7777_8888,
           "vr30_hi": 0x0123_4567_89AB_CDEF, "vr30_lo": 0xFEDC_BA98_7654_3210})
    lst = cpu_lists(regsave.build([c]), 0x20)[0]
    values = {ident(raw): int.from_bytes(hi + lo, "big") for raw, hi, lo in lst}
    order = [ident(raw) for raw, _, _ in lst]
    assert (values["VSR07_HI"], values["VSR07_LO"]) == (0x1111_2222_3333_4444, 0x5555_6666_7777_8888)
    assert (values["VR30_HI"], values["VR30_LO"]) == (0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210)
    assert order.index("VSR07_LO") == order.index("VSR07_HI") + 1
    assert order.index("VR30_LO") == order.index("VR30_HI") + 1


# --- sizes ---


def test_area_size_equals_the_length_built_for_every_possible_cpu():
    for possible in (1, 3, 8):
        all_cpus = [make_cpu(i) for i in range(possible)]
        built = regsave.build(all_cpus, regsave.LOPAR)
        assert len(built) == regsave.area_size(possible, regsave.LOPAR)
        assert len(built) == 0x1C + 4 + possible * ENTRIES_PER_CPU * ENTRY
        built = regsave.build(all_cpus, regsave.QEMU)
        assert len(built) == regsave.area_size(possible, regsave.QEMU) == 0x20 + possible * 79 * ENTRY
    assert regsave.area_size(4) == 0x20 + 4 * (329 + 2) * 16 == 0x52E0


def test_only_the_cpus_passed_in_are_listed(cpus, area):
    assert len(area) == regsave.area_size(3) < regsave.area_size(6)  # e.g. 6 possible, 3 online


# --- register file ---


def test_every_table_register_has_a_register_file_name_and_a_default():
    regs = default_registers(3, little_endian=True)
    names = [name for _, name, _ in REGISTER_IDS]
    assert len(set(names)) == len(names)
    assert set(names) <= REGISTER_NAMES
    assert set(regs) == REGISTER_NAMES
    assert regs == default_registers(3, little_endian=True)  # deterministic
    for kept in ("gpr1", "nip", "msr", "ctr", "link", "xer", "ccr", "softe", "trap", "pir", "pvr",
                 "tb", "dec", "srr0", "srr1", "orig_gpr3", "result", "ppr", "hdar", "hdsisr"):
        assert kept in REGISTER_NAMES
    assert (regs["pir"], regs["trap"], regs["ccr"]) == (3, 0x500, 0x24002842)
    assert regs["vsr63_lo"] == regs["vr0_hi"] == regs["fpr0"] == regs["pmc6"] == 0


def test_the_register_file_accepts_the_new_names_and_rejects_others():
    c = Cpu(0, True, default_registers(0, little_endian=True))
    c.set({"vsr63_lo": 1, "vr31_hi": 2, "fpr31": 3, "mmcra": 4, "texasr": 5, "dawrx0": 6})
    for bad in ("vsr64_hi", "vr32_lo", "vsr00_hi", "pimc6", "x-cr", "VSR0_HI"):
        with pytest.raises(KeyError):
            c.set({bad: 0})


# --- the capture kernel's reader ---

ADDR = 0x2BFF_0000


@pytest.mark.parametrize("layout", [regsave.LOPAR, regsave.QEMU], ids=["lopar", "qemu"])
def test_the_capture_kernel_reader_still_finds_its_registers(cpus, layout):
    data = regsave.build(cpus, layout)
    size = regsave.area_size(6, layout)  # room for offline CPUs, zeroed
    ram = FakeRam(ADDR, data.ljust(size, b"\0"))
    num, saved = regsave_reader.read_area(ram, ADDR, size, PT_REGS_FIELDS_6_10)
    assert num == 3
    assert [s.cpu for s in saved] == list(CPU_IDS)
    index = {name: i for i, (_, name, _) in enumerate(REGISTER_IDS)}
    read_back = ("nip", "msr", "ctr", "link", "xer", "ccr", "dar", "dsisr", *[f"gpr{i}" for i in range(32)])
    for cpu, s in zip(CPU_IDS, saved):
        for name in read_back:
            want = value_for(cpu, index[name])
            if next(w for _, n, w in layout.registers if n == name) == 4:
                want &= 0xFFFF_FFFF
            assert s.regs[name] == want, (cpu, name)
        # registers the reader does not take stay at zero
        assert (s.regs["orig_gpr3"], s.regs["softe"], s.regs["trap"], s.regs["iamr"]) == (0, 0, 0, 0)
    assert saved[1].regs["ccr"] == value_for(2, index["ccr"]) & 0xFFFF_FFFF  # 4-byte CR entry


def test_the_reader_takes_a_one_digit_gpr_id_like_a_two_digit_one():
    assert regsave_reader.gpr_index(abi.reg_id("GPR5")) == regsave_reader.gpr_index(abi.reg_id("GPR05")) == 5
    assert regsave_reader.gpr_index(abi.reg_id("GPR0")) == 0
    assert regsave_reader.gpr_index(abi.reg_id("GPR31")) == 31
    assert regsave_reader.gpr_index(abi.reg_id("GPR32")) == -1
    assert regsave_reader.gpr_index(abi.reg_id("FPR05")) == -1
    assert regsave_reader.gpr_index(abi.reg_id("VSR05_HI")) == -1
    regs = {f"gpr{i}": 0 for i in range(32)}
    regsave_reader.set_regval(regs, abi.reg_id("GPR5"), 0x1234)
    assert regs["gpr5"] == 0x1234


@pytest.mark.parametrize("layout", [regsave.LOPAR, regsave.QEMU], ids=["lopar", "qemu"])
def test_the_reader_takes_only_the_first_num_cpus_lists_and_refuses_a_num_cpus_beyond_the_lists(cpus, layout):
    """fadump_build_cpu_notes / rtas_fadump_build_cpu_notes (fadump.c 3.4, rtas-fadump.c 6.10) walk NumCpus
    CPU lists, each from CPUSTRT to CPUEND; lists after them are never read, and a missing one is -ENOENT."""
    data = bytearray(regsave.build(cpus, layout).ljust(regsave.area_size(6, layout), b"\0"))
    at = int.from_bytes(data[12:16], "big")  # NumCpusOffset
    whole = regsave_reader.read_area(FakeRam(ADDR, bytes(data)), ADDR, len(data), PT_REGS_FIELDS_6_10)[1]
    data[at:at + 4] = (2).to_bytes(4, "big")
    num, saved = regsave_reader.read_area(FakeRam(ADDR, bytes(data)), ADDR, len(data), PT_REGS_FIELDS_6_10)
    assert num == 2
    assert [(s.cpu, s.regs) for s in saved] == [(s.cpu, s.regs) for s in whole[:2]]
    data[at:at + 4] = (4).to_bytes(4, "big")
    with pytest.raises(regsave_reader.RegSaveError):
        regsave_reader.read_area(FakeRam(ADDR, bytes(data)), ADDR, len(data), PT_REGS_FIELDS_6_10)


def test_a_register_listed_twice_keeps_its_later_value_and_ids_the_reader_does_not_take_are_skipped():
    """fadump_build_cpu_notes (fadump.c 3.4) / rtas_fadump_build_cpu_notes (rtas-fadump.c 6.10) call
    fadump_set_regval() for each entry from CPUSTRT to CPUEND in the area's order: a later GPR05 overwrites an
    earlier one, and ids it does not know (FPR05, a junk id) change nothing."""
    def entry(ident, value):
        return abi.reg_id(ident).to_bytes(8, "big") + value.to_bytes(8, "big")

    body = (entry("CPUSTRT", 3) + entry("GPR05", 1) + entry("FPR05", 7) + entry("NIA", 0xC000) + entry("GPR5", 2)
            + entry("CPUEND", 0))
    data = abi.REGSAVE_MAGIC + bytes(4) + (16).to_bytes(4, "big") + (1).to_bytes(4, "big") + body
    num, saved = regsave_reader.read_area(FakeRam(ADDR, data), ADDR, len(data), PT_REGS_FIELDS_6_10)
    assert num == 1 and saved[0].cpu == 3
    assert saved[0].regs["gpr5"] == 2 and saved[0].regs["nip"] == 0xC000
    assert list(saved[0].regs) == list(PT_REGS_FIELDS_6_10)  # no field beyond pt_regs'
