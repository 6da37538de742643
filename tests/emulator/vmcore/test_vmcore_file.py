"""A vmcore's program headers parse the same whichever way construct parses them: the plain Elf64_Phdr for a
short table (a run's own vmcore, where compiling would cost more than it saves), the compiled one for a long
table."""

import random

import pytest

from emulator.vmcore import vmcore_file
from kernels.structs import PT_REGS_FIELDS_6_10, kernel_structs


@pytest.mark.parametrize("little_endian", [True, False])
def test_the_plain_and_the_compiled_parser_read_the_same_headers(little_endian):
    """Elf64_Phdr (include/uapi/linux/elf.h: two u32 and six u64, 56 bytes) with random field values."""
    ks = kernel_structs(little_endian, PT_REGS_FIELDS_6_10, 2048)
    rnd = random.Random(7)
    for _ in range(50):
        fields = {"p_type": rnd.getrandbits(32), "p_flags": rnd.getrandbits(32),
                  **{name: rnd.getrandbits(64) for name in ("p_offset", "p_vaddr", "p_paddr", "p_filesz",
                                                            "p_memsz", "p_align")}}
        raw = ks.elf64_phdr.build(fields)
        short = vmcore_file._phdr_parser(ks, vmcore_file.COMPILE_FROM - 1)(raw)
        long = vmcore_file._phdr_parser(ks, vmcore_file.COMPILE_FROM)(raw)
        assert short == long
        assert {k: short[k] for k in fields} == fields == {k: long[k] for k in fields}


def test_a_short_table_is_not_compiled_and_a_long_one_is(monkeypatch):
    monkeypatch.setattr(vmcore_file, "_COMPILED", {})
    ks = kernel_structs(True, PT_REGS_FIELDS_6_10, 2048)
    assert vmcore_file._phdr_parser(ks, 20) == ks.elf64_phdr.parse
    assert vmcore_file._COMPILED == {}
    assert vmcore_file._phdr_parser(ks, 65535) is vmcore_file._COMPILED[True]
