"""ELF core pieces the kernel writes: headers, program headers, notes.

Mirrors ``append_elf_note``/``final_note`` (kernel/crash_core.c; kexec.c in
3.4) and the Ehdr set-up of ``fadump_init_elfcore_header`` (fadump.c).
"""

import struct
from functools import cache

from construct import Container

from kernels.structs import (
    EHDR_SIZE, ELF_NGREG, ELFDATA2LSB, ELFDATA2MSB, EM_PPC64, ET_CORE, EV_CURRENT, NOTE_HEADER_SIZE,
    PHDR_SIZE, KernelStructs,
)

FINAL_NOTE = bytes(NOTE_HEADER_SIZE)
"""final_note(): an all-zero struct elf_note ends a note list."""


def align4(n: int) -> int:
    return (n + 3) & ~3


def note(ks: KernelStructs, name: str, n_type: int, desc: bytes) -> bytes:
    """append_elf_note(): header, NUL-terminated name and desc, each padded to 4 bytes."""
    raw_name = name.encode() + b"\0"
    head = ks.elf_note_header.build(dict(n_namesz=len(raw_name), n_descsz=len(desc), n_type=n_type))
    return head + raw_name.ljust(align4(len(raw_name)), b"\0") + desc.ljust(align4(len(desc)), b"\0")


def walk_notes(ks: KernelStructs, data: bytes) -> list[tuple[str, int, bytes, int]]:
    """(name, type, desc, offset) of each note until a zero namesz or the end of data."""
    out, off = [], 0
    while off + NOTE_HEADER_SIZE <= len(data):
        h = ks.elf_note_header.parse(data[off:off + NOTE_HEADER_SIZE])
        if h.n_namesz == 0:
            break
        size = NOTE_HEADER_SIZE + align4(h.n_namesz) + align4(h.n_descsz)
        if off + size > len(data):
            break
        name_at = off + NOTE_HEADER_SIZE
        name = data[name_at:name_at + h.n_namesz].rstrip(b"\0").decode("ascii", "replace")
        desc_at = name_at + align4(h.n_namesz)
        out.append((name, h.n_type, data[desc_at:desc_at + h.n_descsz], off))
        off += size
    return out


def ehdr(ks: KernelStructs, phnum: int, e_flags: int = 0) -> bytes:
    """An Elf64_Ehdr for a ppc64 ET_CORE file in the kernel's byte order."""
    return ks.elf64_ehdr.build(Container(
        e_ident=Container(EI_DATA=ELFDATA2LSB if ks.little_endian else ELFDATA2MSB,
                          EI_VERSION=EV_CURRENT, EI_OSABI=0, EI_ABIVERSION=0),
        e_type=ET_CORE, e_machine=EM_PPC64, e_version=EV_CURRENT, e_entry=0,
        e_phoff=EHDR_SIZE, e_shoff=0, e_flags=e_flags, e_ehsize=EHDR_SIZE,
        e_phentsize=PHDR_SIZE, e_phnum=phnum, e_shentsize=0, e_shnum=0, e_shstrndx=0,
    ))


def phdr(ks: KernelStructs, p_type: int, p_offset: int = 0, p_vaddr: int = 0, p_paddr: int = 0,
         p_filesz: int = 0, p_memsz: int = 0, p_flags: int = 0, p_align: int = 0) -> bytes:
    """An Elf64_Phdr in the kernel's byte order."""
    return ks.elf64_phdr.build(dict(p_type=p_type, p_flags=p_flags, p_offset=p_offset, p_vaddr=p_vaddr,
                                    p_paddr=p_paddr, p_filesz=p_filesz, p_memsz=p_memsz, p_align=p_align))


def prstatus(ks: KernelStructs, regs: list[int], pid: int = 0) -> bytes:
    """struct elf_prstatus with pr_reg = the pt_regs slots (ppc_elf_core_copy_regs), rest zero.

    Every field but pr_pid and pr_reg is zero: they are stored into an all-zero elf_prstatus built once per
    layout (a CPU note per CPU per crash made building the whole struct a visible share of a sweep's runs).
    """
    zero, pid_at, reg_at = _prstatus_template(ks)
    order = "<" if ks.little_endian else ">"
    try:
        pr_reg = struct.pack(f"{order}{ELF_NGREG}Q", *(list(regs) + [0] * ELF_NGREG)[:ELF_NGREG])
        pr_pid = struct.pack(f"{order}i", pid)
    except struct.error:  # a value that does not fit: construct says which field
        return _prstatus_built(ks, regs, pid)
    out = bytearray(zero)
    out[pid_at:pid_at + 4] = pr_pid
    out[reg_at:reg_at + len(pr_reg)] = pr_reg
    return bytes(out)



@cache
def _prstatus_template(ks: KernelStructs) -> tuple[bytes, int, int]:
    """An all-zero elf_prstatus and the offsets of pr_pid and pr_reg, from the struct's declaration."""
    offsets, at = {}, 0
    for field in ks.elf_prstatus.subcons:
        if field.name:
            offsets[field.name] = at
        at += field.sizeof()
    return _prstatus_built(ks, [], 0), offsets["pr_pid"], offsets["pr_reg"]


def _prstatus_built(ks: KernelStructs, regs: list[int], pid: int) -> bytes:
    """elf_prstatus built field by field by construct (the reference the template is made from)."""
    zero_tv = dict(tv_sec=0, tv_usec=0)
    pr_reg = (list(regs) + [0] * 48)[:48]
    return ks.elf_prstatus.build(dict(
        pr_info=dict(si_signo=0, si_code=0, si_errno=0), pr_cursig=0, pr_sigpend=0, pr_sighold=0,
        pr_pid=pid, pr_ppid=0, pr_pgrp=0, pr_sid=0, pr_utime=zero_tv, pr_stime=zero_tv,
        pr_cutime=zero_tv, pr_cstime=zero_tv, pr_reg=pr_reg, pr_fpvalid=0,
    ))
