"""Tests for kernels.elfcore: the elf_prstatus a CPU note carries, stored into a template built once."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import elfcore
from kernels.structs import ELF_NGREG, kernel_structs

FIELDS = tuple(f"gpr{i}" for i in range(32)) + ("nip", "msr", "orig_gpr3", "ctr", "link", "xer", "ccr",
                                                 "softe", "trap", "dar", "dsisr", "result")


@pytest.mark.parametrize("little_endian", [True, False])
@settings(max_examples=50, deadline=None)
@given(regs=st.lists(st.integers(0, 2**64 - 1), max_size=ELF_NGREG + 4), pid=st.integers(0, 2**31 - 1))
def test_prstatus_from_the_template_is_the_struct_construct_builds(little_endian, regs, pid):
    """struct elf_prstatus (include/uapi/linux/elfcore.h, 6.10): pr_pid and pr_reg[48] set, every other field 0;
    the fast path must give exactly the bytes of building every field, in either byte order."""
    ks = kernel_structs(little_endian, FIELDS, 8)
    assert elfcore.prstatus(ks, regs, pid) == elfcore._prstatus_built(ks, regs, pid)


def test_prstatus_is_504_bytes_with_pr_pid_at_32_and_pr_reg_at_112():
    """elf_prstatus on ppc64 (include/uapi/linux/elfcore.h, 6.10): pr_pid after siginfo(12), cursig(2)+pad(2),
    sigpend(8), sighold(8); pr_reg after pid/ppid/pgrp/sid (16) and four timevals (64)."""
    ks = kernel_structs(False, FIELDS, 8)
    built = elfcore.prstatus(ks, list(range(1, ELF_NGREG + 1)), pid=0x01020304)
    assert len(built) == 504
    assert built[32:36] == bytes([1, 2, 3, 4])
    assert built[112:120] == (1).to_bytes(8, "big") and built[104:112] == bytes(8)
    assert built[112 + 8 * 47:112 + 8 * 48] == (48).to_bytes(8, "big")


def test_a_register_value_too_wide_is_refused_as_construct_refuses_it():
    ks = kernel_structs(True, FIELDS, 8)
    with pytest.raises(Exception) as fast:
        elfcore.prstatus(ks, [2**64], 0)
    with pytest.raises(Exception) as reference:
        elfcore._prstatus_built(ks, [2**64], 0)
    assert type(fast.value) is type(reference.value)
