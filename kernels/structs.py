"""Kernel-side structures of fadump, in the kernel's own byte order.

Like pyelftools' structs factory, one function builds every layout from the
kernel's endianness and configuration, so no declaration names a byte order.
Sources: ``arch/powerpc/include/asm/fadump.h`` (v3.4), ``fadump-internal.h``
(v6.10), ``asm/ptrace.h``, ``include/uapi/linux/elf.h``, ``linux/elfcore.h``.
"""

from dataclasses import dataclass
from functools import cache, cached_property

from construct import (
    Array,
    Bytes,
    Const,
    Int16ub,
    Int16ul,
    Int32sb,
    Int32sl,
    Int32ub,
    Int32ul,
    Int64ub,
    Int64ul,
    Int8ub,
    Padding,
    Struct,
)

PT_REGS_FIELDS_3_4 = (
    *[f"gpr{i}" for i in range(32)],
    "nip", "msr", "orig_gpr3", "ctr", "link", "xer", "ccr", "softe",
    "trap", "dar", "dsisr", "result",
)
"""struct pt_regs of a 3.4-era ppc64 kernel: 44 unsigned longs (352 bytes)."""

PT_REGS_FIELDS_6_10 = (*PT_REGS_FIELDS_3_4, "ppr", "exit_result", "kuap", "iamr")
"""Current ppc64 struct pt_regs: 48 slots (384 bytes); kuap shares a union with amr."""

ELF_NGREG = 48
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2
EV_CURRENT = 1
ET_CORE = 4
EM_PPC64 = 21
PT_LOAD = 1
PT_NOTE = 4
PF_X, PF_W, PF_R = 1, 2, 4
NT_PRSTATUS = 1
ELF_PRSTATUS_SIZE = 504
PR_REG_OFFSET = 112
EHDR_SIZE = 64
PHDR_SIZE = 56
NOTE_HEADER_SIZE = 12

FADUMP_CRASH_INFO_MAGIC_OLD = 0x4641444D50494E46
"""'FADMPINF' packed MSB-first (fadump_str_to_u64), the 3.4 to 6.9 magic."""
FADUMP_CRASH_INFO_MAGIC = 0x4641444D50534947
"""'FADMPSIG', the magic of the v1 header (Linux 6.10, c6c5b14dac0d)."""
FADUMP_CPU_UNKNOWN = 0xFFFFFFFF
FADUMP_HEADER_VERSION = 1


@dataclass(frozen=True)
class KernelStructs:
    """Every kernel-side layout for one byte order, word size 64 and config.

    Each layout is built once per instance (cached_property) and instances are cached by kernel_structs():
    building a construct Struct costs far more than parsing with it."""

    little_endian: bool
    pt_regs_fields: tuple[str, ...]
    nr_cpus: int

    @property
    def byteorder(self) -> str:
        return "little" if self.little_endian else "big"

    @property
    def u16(self):
        return Int16ul if self.little_endian else Int16ub

    @property
    def u32(self):
        return Int32ul if self.little_endian else Int32ub

    @property
    def s32(self):
        return Int32sl if self.little_endian else Int32sb

    @property
    def u64(self):
        return Int64ul if self.little_endian else Int64ub

    @property
    def pt_regs_size(self) -> int:
        return 8 * len(self.pt_regs_fields)

    @property
    def cpumask_size(self) -> int:
        """sizeof(struct cpumask): BITS_TO_LONGS(NR_CPUS) unsigned longs (8 bytes for NR_CPUS=8)."""
        return (self.nr_cpus + 63) // 64 * 8

    @cached_property
    def pt_regs(self) -> Struct:
        """struct pt_regs: one unsigned long per field, in declaration order."""
        return Struct(*[name / self.u64 for name in self.pt_regs_fields])

    @cached_property
    def crash_info_header_old(self) -> Struct:
        """struct fadump_crash_info_header, 3.4 to 6.9 (magic FADMPINF)."""
        return Struct(
            "magic_number" / Const(FADUMP_CRASH_INFO_MAGIC_OLD, self.u64),
            "elfcorehdr_addr" / self.u64,
            "crashing_cpu" / self.u32,
            Padding(4),
            "regs" / self.pt_regs,
            "cpu_mask" / Bytes(self.cpumask_size),
        )

    @cached_property
    def crash_info_header_v1(self) -> Struct:
        """struct fadump_crash_info_header v1 (6.10+, magic FADMPSIG)."""
        return Struct(
            "magic_number" / Const(FADUMP_CRASH_INFO_MAGIC, self.u64),
            "version" / self.u32,
            "crashing_cpu" / self.u32,
            "vmcoreinfo_raddr" / self.u64,
            "vmcoreinfo_size" / self.u64,
            "pt_regs_sz" / self.u32,
            "cpu_mask_sz" / self.u32,
            "regs" / self.pt_regs,
            "cpu_mask" / Bytes(self.cpumask_size),
        )

    @cached_property
    def elf64_ehdr(self) -> Struct:
        """Elf64_Ehdr of a ppc64 ET_CORE file (include/uapi/linux/elf.h)."""
        return Struct(
            "e_ident" / Struct(
                "EI_MAG" / Const(b"\x7fELF"),
                "EI_CLASS" / Const(ELFCLASS64, Int8ub),
                "EI_DATA" / Int8ub,
                "EI_VERSION" / Int8ub,
                "EI_OSABI" / Int8ub,
                "EI_ABIVERSION" / Int8ub,
                Padding(7),
            ),
            "e_type" / self.u16,
            "e_machine" / self.u16,
            "e_version" / self.u32,
            "e_entry" / self.u64,
            "e_phoff" / self.u64,
            "e_shoff" / self.u64,
            "e_flags" / self.u32,
            "e_ehsize" / self.u16,
            "e_phentsize" / self.u16,
            "e_phnum" / self.u16,
            "e_shentsize" / self.u16,
            "e_shnum" / self.u16,
            "e_shstrndx" / self.u16,
        )

    @cached_property
    def elf64_phdr(self) -> Struct:
        """Elf64_Phdr."""
        return Struct(
            "p_type" / self.u32,
            "p_flags" / self.u32,
            "p_offset" / self.u64,
            "p_vaddr" / self.u64,
            "p_paddr" / self.u64,
            "p_filesz" / self.u64,
            "p_memsz" / self.u64,
            "p_align" / self.u64,
        )

    @cached_property
    def elf_note_header(self) -> Struct:
        """struct elf_note (Elf64_Nhdr): namesz, descsz, type."""
        return Struct("n_namesz" / self.u32, "n_descsz" / self.u32, "n_type" / self.u32)

    @cached_property
    def elf_prstatus(self) -> Struct:
        """struct elf_prstatus on ppc64: 504 bytes, pr_reg[48] at offset 112."""
        timeval = Struct("tv_sec" / self.u64, "tv_usec" / self.u64)
        return Struct(
            "pr_info" / Struct("si_signo" / self.s32, "si_code" / self.s32, "si_errno" / self.s32),
            "pr_cursig" / self.u16,
            Padding(2),
            "pr_sigpend" / self.u64,
            "pr_sighold" / self.u64,
            "pr_pid" / self.s32,
            "pr_ppid" / self.s32,
            "pr_pgrp" / self.s32,
            "pr_sid" / self.s32,
            "pr_utime" / timeval,
            "pr_stime" / timeval,
            "pr_cutime" / timeval,
            "pr_cstime" / timeval,
            "pr_reg" / Array(ELF_NGREG, self.u64),
            "pr_fpvalid" / self.s32,
            Padding(4),
        )


@cache
def kernel_structs(little_endian: bool, pt_regs_fields: tuple[str, ...], nr_cpus: int) -> KernelStructs:
    """The layouts for one kernel configuration (cached: they are immutable)."""
    return KernelStructs(little_endian, pt_regs_fields, nr_cpus)
