"""/proc/vmcore's layout (fs/proc/vmcore.c), for the 3.4 and the page-aligned generations."""

import pytest

from emulator.run import export
from emulator.hw.ram import PartitionRAM
from kernels import elfcore
from kernels.structs import (
    NT_PRSTATUS, PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE, PT_REGS_FIELDS_6_10, kernel_structs,
)
from kernels.vmcore import LAYOUT_3_4, LAYOUT_PAGED, ProcVmcore, VmcoreError

KS = kernel_structs(True, PT_REGS_FIELDS_6_10, 2048)
HDR = 0x100000      # where the ELF core header sits in "old memory"
NOTES = 0x200000    # CPU notes buffer
INFO = 0x300000     # VMCOREINFO note
COPY = 0x400000     # firmware's copy of boot memory [0, 0x10000)


def make_old_memory() -> PartitionRAM:
    """A 64 MiB RAM with two PRSTATUS notes, a VMCOREINFO note and an ELF header pointing at them."""
    ram = PartitionRAM(64 << 20)
    cpu_notes = b"".join(elfcore.note(KS, "CORE", NT_PRSTATUS, elfcore.prstatus(KS, [i] * 48)) for i in (1, 2))
    ram.write(NOTES, cpu_notes + elfcore.FINAL_NOTE)
    ram.write(INFO, elfcore.note(KS, "VMCOREINFO", 0, b"OSRELEASE=6.10.0\nPAGESIZE=65536\n") + elfcore.FINAL_NOTE)
    ram.write(COPY, b"boot memory copy".ljust(0x10000, b"."))
    ram.write(0x800000, b"memory in place".ljust(0x20000, b"!"))
    rwx = PF_R | PF_W | PF_X
    phdrs = [
        elfcore.phdr(KS, PT_NOTE, p_offset=NOTES, p_paddr=NOTES, p_filesz=0x10000, p_memsz=0x10000),
        elfcore.phdr(KS, PT_NOTE, p_offset=INFO, p_paddr=INFO, p_filesz=4096, p_memsz=4096),
        elfcore.phdr(KS, PT_LOAD, p_offset=COPY, p_paddr=0, p_vaddr=0xC000000000000000,
                     p_filesz=0x10000, p_memsz=0x10000, p_flags=rwx),
        elfcore.phdr(KS, PT_LOAD, p_offset=0x800000, p_paddr=0x800000, p_vaddr=0xC000000000800000,
                     p_filesz=0x20000, p_memsz=0x20000, p_flags=rwx),
    ]
    ram.write(HDR, elfcore.ehdr(KS, len(phdrs)) + b"".join(phdrs))
    return ram


def program_headers(vm: ProcVmcore):
    eh = KS.elf64_ehdr.parse(vm.read(0, 64))
    return eh, [KS.elf64_phdr.parse(vm.read(64 + 56 * i, 56)) for i in range(eh.e_phnum)]


def test_the_3_4_layout_merges_the_notes_right_after_the_program_headers():
    """Pre-3.11: one PT_NOTE first at 64 + phnum*56, p_align 0, PT_LOAD data contiguous after the notes."""
    vm = ProcVmcore(make_old_memory(), KS, HDR, 65536, LAYOUT_3_4)
    eh, ph = program_headers(vm)
    assert eh.e_phnum == 3 and [p.p_type for p in ph] == [PT_NOTE, PT_LOAD, PT_LOAD]
    note_size = 2 * (12 + 8 + 504) + (12 + 12 + 32)
    assert ph[0].p_offset == 64 + 3 * 56 and ph[0].p_filesz == note_size and ph[0].p_align == 0
    assert ph[1].p_offset == ph[0].p_offset + note_size
    assert ph[2].p_offset == ph[1].p_offset + 0x10000
    assert vm.size == ph[2].p_offset + 0x20000


def test_the_paged_layout_aligns_header_notes_and_loads_to_the_page_size():
    """3.11+: header and notes rounded up to PAGE_SIZE, merged PT_NOTE p_align 4."""
    vm = ProcVmcore(make_old_memory(), KS, HDR, 65536, LAYOUT_PAGED)
    _, ph = program_headers(vm)
    assert ph[0].p_offset == 65536 and ph[0].p_align == 4
    assert ph[1].p_offset == 2 * 65536 and ph[2].p_offset == 3 * 65536
    assert vm.size == 3 * 65536 + 0x20000


@pytest.mark.parametrize("layout", [LAYOUT_3_4, LAYOUT_PAGED])
def test_a_pt_load_reads_from_where_its_old_p_offset_pointed(layout):
    """The boot-memory PT_LOAD (paddr 0) serves the bytes of the firmware's copy."""
    vm = ProcVmcore(make_old_memory(), KS, HDR, 65536, layout)
    assert vm.read_paddr(0, 16) == b"boot memory copy"
    assert vm.read_paddr(0x800000, 15) == b"memory in place"


def test_the_notes_are_concatenated_in_program_header_order():
    """CPU notes first, then VMCOREINFO, without the final_note terminators."""
    vm = ProcVmcore(make_old_memory(), KS, HDR, 65536, LAYOUT_3_4)
    names = [n[0] for n in elfcore.walk_notes(KS, vm.notes)]
    assert names == ["CORE", "CORE", "VMCOREINFO"]


def test_reads_past_the_end_are_short_and_spanning_reads_are_seamless():
    """read() returns what exists; a read across header, notes and data joins them."""
    vm = ProcVmcore(make_old_memory(), KS, HDR, 65536, LAYOUT_3_4)
    assert vm.read(vm.size - 4, 100) == b"!!!!"
    assert vm.read(0, vm.size) == vm.read(0, 1000) + vm.read(1000, vm.size - 1000)


def test_an_insane_elf_header_exports_nothing():
    """A header that is not ET_CORE/EM_PPC64 prints the kernel's warning instead.

    parse_crash_elf64_headers() (fs/proc/vmcore.c, v3.4) prints "is not" "sane" joined without a space;
    6.10's pr_warn has the space.
    """
    ram = make_old_memory()
    ram.write(HDR + 16, b"\x02\x00")  # e_type = ET_EXEC
    with pytest.raises(VmcoreError, match="^Warning: Core image elf header is notsane$"):
        ProcVmcore(ram, KS, HDR, 65536, LAYOUT_3_4)
    with pytest.raises(VmcoreError, match="^Warning: Core image elf header is not sane$"):
        ProcVmcore(ram, KS, HDR, 65536, LAYOUT_PAGED)


def test_export_writes_a_sparse_file_equal_to_the_read_path(tmp_path):
    """The exported file is byte-identical to read() and stores holes for untouched memory."""
    vm = ProcVmcore(make_old_memory(), KS, HDR, 65536, LAYOUT_PAGED)
    path = tmp_path / "vmcore"
    export.save(vm, str(path), export.FULL)
    assert path.read_bytes() == vm.read(0, vm.size)
