"""The Register Save Area firmware writes as the CPU state data section.

Layout: LoPAR ``app_firmware_dump.xml`` ("REGSAVE", version 0, NumCpusOffset
0x1C after zeroed padding, 16-byte entries from 0x20) or, as an option, QEMU's
variant (NumCpus at 0x10). Only online CPUs are saved; each list is CPUSTRT,
register entries, CPUEND, with the logical CPU id in the low word of the
markers. All fields big-endian.
"""

from firmware import abi
from firmware.structs import RegEntry, RegSaveHeader

# (ASCII id, CPU register name, width in bytes): 4-byte entries hold a reserved
# zero word then the value, which is the same bytes as a be64 of a 32-bit value.
REGISTER_IDS: tuple[tuple[str, str, int], ...] = (
    *[(f"GPR{i:02d}", f"gpr{i}", 8) for i in range(32)],
    *[(f"FPR{i:02d}", f"fpr{i}", 8) for i in range(32)],
    ("NIA", "nip", 8), ("MSR", "msr", 8), ("CR", "ccr", 4), ("CTR", "ctr", 8),
    ("LR", "link", 8), ("XER", "xer", 8), ("DAR", "dar", 8), ("DSISR", "dsisr", 4),
    ("SRR0", "srr0", 8), ("SRR1", "srr1", 8), ("PIR", "pir", 4), ("PVR", "pvr", 4),
    ("TB", "tb", 8), ("DEC", "dec", 4), ("FPSCR", "fpscr", 8), ("VRSAVE", "vrsave", 4),
    ("VSCR", "vscr", 4), ("AMR", "amr", 8), ("CFAR", "cfar", 8), ("DSCR", "dscr", 8),
    ("TAR", "tar", 8), ("PPR", "ppr", 8), ("SPRG0", "sprg0", 8), ("SPRG1", "sprg1", 8),
    ("SPRG2", "sprg2", 8), ("SPRG3", "sprg3", 8), ("HDAR", "hdar", 8), ("HDSISR", "hdsisr", 4),
)
"""The registers this firmware saves per CPU (a subset of LoPAR's 501 ids)."""

ENTRIES_PER_CPU = len(REGISTER_IDS) + 2
"""Register entries plus the CPUSTRT and CPUEND markers."""


def prologue_size(num_cpu_offset: int) -> int:
    """Bytes before the first entry: NumCpus (4 bytes) follows num_cpu_offset."""
    return num_cpu_offset + 4


def area_size(possible_cpus: int, num_cpu_offset: int = abi.REGSAVE_NUM_CPU_OFFSET_LOPAR) -> int:
    """The CPU state data size firmware advertises: room for every possible CPU."""
    return prologue_size(num_cpu_offset) + possible_cpus * ENTRIES_PER_CPU * abi.REGSAVE_ENTRY_SIZE


def build(cpus, num_cpu_offset: int = abi.REGSAVE_NUM_CPU_OFFSET_LOPAR) -> bytes:
    """The register save area for ``cpus`` (objects with .id and .regs), in CPU order."""
    head = RegSaveHeader.build(dict(version=0, num_cpu_offset=num_cpu_offset))
    out = bytearray(head.ljust(num_cpu_offset, b"\0"))
    out += len(cpus).to_bytes(4, "big")
    for cpu in cpus:
        out += _entry("CPUSTRT", cpu.id)
        for ident, name, width in REGISTER_IDS:
            value = cpu.regs.get(name, 0)
            out += _entry(ident, value & 0xFFFFFFFF if width == 4 else value)
        out += _entry("CPUEND", cpu.id)
    return bytes(out)


def _entry(ident: str, value: int) -> bytes:
    return RegEntry.build(dict(reg_id=abi.reg_id(ident), reg_value=value & 0xFFFF_FFFF_FFFF_FFFF))
