"""The head of a real vmcore gives byte order, e_flags, CPUs, the PT_LOAD layout, VMCOREINFO and NR_CPUS to a multiple
of 64 (struct fadump_crash_info_header v1 ends in a BITS_TO_LONGS(NR_CPUS) cpumask:
arch/powerpc/include/asm/fadump-internal.h, Linux 6.10 and 6.12.117)."""

from pathlib import Path

import pytest

from emulator.errors import BadInputError
from emulator.host import field_vmcore
from kernels.structs import PT_REGS_FIELDS_6_10

ROOT = Path(__file__).resolve().parents[3]


def test_the_real_6_12_head_says_little_endian_elfv2_two_cpus_and_nr_cpus_up_to_64():
    h = field_vmcore.head_facts(str(ROOT / "tests/reference/linux-6.12/radix/vmcore-head.bin"))
    assert (h.endian, h.e_flags, h.cpus, h.page_size, h.osrelease) == ("little", 2, 2, 65536, "6.12.117")
    # The real kernel's CONFIG_NR_CPUS=8 (tests/reference/linux-6.12/kernel.config) lies in the range.
    assert h.nr_cpus_range == (1, 64)
    assert h.loads[0] == (0, 0x20000000) and h.ram_bytes == 2 << 30


def test_a_wider_cpumask_moves_the_second_load_and_the_range_follows():
    fixed = 0x1b0 - 8  # the 6.12 header with one long of cpumask (NR_CPUS <= 64) is 0x1b0 bytes
    loads = [(0, 1 << 29), (0x40010000 + fixed + 16 * 8, 1 << 30)]  # 16 longs: NR_CPUS 961..1024
    assert field_vmcore.nr_cpus_range(loads, PT_REGS_FIELDS_6_10, True) == (961, 1024)


def test_the_3_4_layout_does_not_pretend_to_know_nr_cpus():
    assert field_vmcore.nr_cpus_range([(0, 1 << 28)], PT_REGS_FIELDS_6_10, True) is None


def test_a_file_that_is_not_a_vmcore_is_bad_input_naming_the_option(tmp_path):
    bad = tmp_path / "head.bin"
    bad.write_bytes(b"not an elf file at all" * 10)
    with pytest.raises(BadInputError, match="--vmcore-head .*head.bin"):
        field_vmcore.head_facts(str(bad))
