"""The Register Save Area firmware writes as the CPU state data section.

Layout: LoPAR ``app_firmware_dump.xml`` ("REGSAVE", version 0, NumCpusOffset
0x1C after zeroed padding, 16-byte entries from 0x20) or, as an option, QEMU's
variant (NumCpus at 0x10). Only online CPUs are saved; each list is CPUSTRT,
register entries, CPUEND, with the logical CPU id in the low word of the
markers. All fields big-endian.
"""

import numpy as np

from firmware import abi
from firmware.structs import RegSaveHeader

# LoPAR app_firmware_dump.xml, "Identifiers Supported in Version 0x0 of the Table".
_LOPAR_SPRS = (
    "ACOP", "AMR", "BESCR", "CFAR", "CIABR", "CR", "CTR", "CTRL", "DABR", "DABRX", "DAR",
    "DAWR0", "DAWRX0", "DEC", "DPDES", "DSCR", "DSISR", "EBBHR", "EBBRR", "FPSCR", "FSCR",
    "IAMR", "IC", "LMRR", "LMSER", "LR", "MMCR0", "MMCR1", "MMCR2", "MMCRA", "MMCRS", "MSR",
    "NIA", "PID", "PIR", "PMC1", "PMC2", "PMC3", "PMC4", "PMC5", "PMC6", "PSPB", "PSSCR",
    "PURR", "PVR", "RPR", "SDAR", "SIAR", "SIER", "SPMC1", "SPMC2", "SPRG0", "SPRG1",
    "SPRG2", "SPRG3", "SPURR", "SRR0", "SRR1", "TAR", "TB", "TEXASR", "TFHAR", "TFIAR",
    "TID", "TIR", "TSR", "UAMOR", "VRSAVE", "VSCR", "VTB", "WORC", "WORT", "XER",
)
"""The SPR ids, in ascending ASCII order. LoPAR oddities: its row for PMC6 reads
"PIMC6" though its hex 0x504D433600000000 spells "PMC6"; its MMCRA row's hex
0x4D4D435240000000 spells "MMCR@". We use PMC6 and MMCRA (0x...41), matching
PMC1-5 and the register names."""

_FOUR_BYTE = frozenset({
    "CR", "CTRL", "DEC", "DSISR", "PID", "PIR", "PMC1", "PMC2", "PMC3", "PMC4", "PMC5",
    "PMC6", "PSPB", "PVR", "SPMC1", "SPMC2", "VRSAVE", "VSCR",
})
"""4-byte RegEntries. LoPAR defines both entry formats but marks no id with a
width, so these are the registers the Power ISA defines as 32 bits wide."""

_PT_REGS_NAMES = {"CR": "ccr", "LR": "link", "NIA": "nip"}

# (ASCII id, CPU register name, width in bytes): 4-byte entries hold a reserved
# zero word then the value, which is the same bytes as a be64 of a 32-bit value.
# Order (LoPAR note 2): each group (GPRs, FPRs, VRs, VSRs) in ascending index
# order with nothing between; a 128-bit VR/VSR as its _HI doubleword then _LO;
# other registers need no order, so they follow in ascending ASCII order.
# The VSRnn_HI/_LO ids are exactly 8 bytes, so they have no zero padding.
# The transactional-memory checkpoint ids (X-CR .. X-GPR31, X-VS00HI .. X-VS63LO)
# are only written for a CPU with a valid TM checkpoint; our CPUs have no
# transactional state, so they are left out. (LoPAR's X-VS51LO hex,
# 0x582D565355314C4F, spells "X-VSU1LO".)
REGISTER_IDS: tuple[tuple[str, str, int], ...] = (
    *[(f"GPR{i:02d}", f"gpr{i}", 8) for i in range(32)],
    *[(f"FPR{i:02d}", f"fpr{i}", 8) for i in range(32)],
    *[(f"VR{i:02d}_{h}", f"vr{i}_{h.lower()}", 8) for i in range(32) for h in ("HI", "LO")],
    *[(f"VSR{i:02d}_{h}", f"vsr{i}_{h.lower()}", 8) for i in range(64) for h in ("HI", "LO")],
    *[(r, _PT_REGS_NAMES.get(r, r.lower()), 4 if r in _FOUR_BYTE else 8) for r in _LOPAR_SPRS],
)
"""The 329 registers this firmware saves per CPU: LoPAR's 500 register ids less the 171
X- checkpoint ids. PPR, HDAR and HDSISR are not LoPAR ids and are not saved."""

ENTRIES_PER_CPU = len(REGISTER_IDS) + 2
"""Register entries plus the CPUSTRT and CPUEND markers."""


def prologue_size(num_cpu_offset: int) -> int:
    """Bytes before the first entry: NumCpus (4 bytes) follows num_cpu_offset."""
    return num_cpu_offset + 4


def area_size(possible_cpus: int, num_cpu_offset: int = abi.REGSAVE_NUM_CPU_OFFSET_LOPAR) -> int:
    """The CPU state data size firmware advertises: room for every possible CPU."""
    return prologue_size(num_cpu_offset) + possible_cpus * ENTRIES_PER_CPU * abi.REGSAVE_ENTRY_SIZE


ENTRY_ARRAY = np.dtype([("reg_id", ">u8"), ("reg_value", ">u8")])
"""RegEntry as a numpy record, for writing thousands at once (same bytes as RegEntry)."""
_IDS = np.array([abi.reg_id(i) for i, _, _ in REGISTER_IDS], dtype=np.uint64)
_MASKS = [0xFFFFFFFF if width == 4 else 0xFFFF_FFFF_FFFF_FFFF for _, _, width in REGISTER_IDS]


def build(cpus, num_cpu_offset: int = abi.REGSAVE_NUM_CPU_OFFSET_LOPAR) -> bytes:
    """The register save area for ``cpus`` (objects with .id and .regs), in CPU order."""
    head = RegSaveHeader.build(dict(version=0, num_cpu_offset=num_cpu_offset))
    out = bytearray(head.ljust(num_cpu_offset, b"\0"))
    out += len(cpus).to_bytes(4, "big")
    entries = np.zeros((len(cpus), ENTRIES_PER_CPU), dtype=ENTRY_ARRAY)
    entries["reg_id"][:, 0] = abi.reg_id("CPUSTRT")
    entries["reg_id"][:, 1:-1] = _IDS
    entries["reg_id"][:, -1] = abi.reg_id("CPUEND")
    for row, cpu in enumerate(cpus):
        entries["reg_value"][row, 0] = entries["reg_value"][row, -1] = cpu.id
        entries["reg_value"][row, 1:-1] = [cpu.regs.get(name, 0) & mask
                                           for (_, name, _), mask in zip(REGISTER_IDS, _MASKS)]
    return bytes(out) + entries.tobytes()
