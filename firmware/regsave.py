"""The Register Save Area firmware writes as the CPU state data section.

Two layouts (RegSaveLayout): LoPAR ``app_firmware_dump.xml`` as PowerVM writes
it ("REGSAVE", version 0, NumCpusOffset 0x1C after zeroed padding, 16-byte
entries from 0x20, 329 registers) and QEMU >= 10.2's (hw/ppc/spapr_fadump.c:
NumCpus at 0x10, entries from 0x14, 77 registers, 12 bytes at the end). Each
CPU list is CPUSTRT, register entries, CPUEND, with the CPU id in the low word
of the markers. Which CPUs are listed is the firmware's choice. All fields
big-endian.
"""

from dataclasses import dataclass
from functools import lru_cache

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
"""Register entries plus the CPUSTRT and CPUEND markers (LoPAR layout)."""

# QEMU >= 10.2, hw/ppc/spapr_fadump.c, populate_cpu_reg_entries(): 45 SPRs and the
# 32 GPRs, every value stored as a be64 (cpu_to_be64), in exactly this order: the
# SPRs ACOP..FSCR, then GPR00..GPR31 (fadump_gpr_id_to_u64), then IAMR..XER.
# FADUMP_PER_CPU_REG_ENTRIES = 32 + 45 + 2 (include/hw/ppc/spapr_fadump.h).
_QEMU_SPRS_BEFORE_GPRS = (
    "ACOP", "AMR", "BESCR", "CFAR", "CIABR", "CR", "CTR", "CTRL", "DABR", "DABRX", "DAR",
    "DAWR0", "DAWR1", "DAWRX0", "DAWRX1", "DPDES", "DSCR", "DSISR", "EBBHR", "EBBRR", "FPSCR", "FSCR",
)
_QEMU_SPRS_AFTER_GPRS = (
    "IAMR", "IC", "LR", "MSR", "NIA", "PIR", "PSPB", "PVR", "RPR", "SPURR", "SRR0", "SRR1",
    "TAR", "TEXASR", "TFHAR", "TFIAR", "TIR", "UAMOR", "VRSAVE", "VSCR", "VTB", "WORT", "XER",
)
_QEMU_32_BIT = frozenset({"CR", "VRSAVE", "VSCR"})
"""ppc_get_cr(env), env->spr[SPR_VRSAVE] and env->vscr hold 32 bits; written as a be64 they are
the same bytes as a LoPAR 4-byte entry (a zero word, then the value)."""
QEMU_REGISTER_IDS: tuple[tuple[str, str, int], ...] = tuple(
    (r, f"gpr{int(r[3:])}" if r.startswith("GPR") else _PT_REGS_NAMES.get(r, r.lower()), 4 if r in _QEMU_32_BIT else 8)
    for r in (*_QEMU_SPRS_BEFORE_GPRS, *[f"GPR{i:02d}" for i in range(32)], *_QEMU_SPRS_AFTER_GPRS)
)
"""The 77 registers QEMU's pseries firmware saves per vCPU (no FPRs, VRs, VSRs or X- ids)."""

ENTRY_ARRAY = np.dtype([("reg_id", ">u8"), ("reg_value", ">u8")])
"""RegEntry as a numpy record, for writing thousands at once (same bytes as RegEntry)."""


@dataclass(frozen=True)
class RegSaveLayout:
    """One firmware's register save area: where NumCpus sits, which registers, what trails.

    ``trailing_pad`` is counted in the area's length but written after the last
    entry: QEMU adds LoPAR's 12 padding bytes to ``cpu_state_len`` yet puts
    NumCpus right after the 16-byte header (get_cpu_state_data()); the 12 bytes
    at the end are never written by QEMU (g_malloc'd); we write them as zeros.
    """

    name: str
    num_cpu_offset: int
    registers: tuple[tuple[str, str, int], ...]
    trailing_pad: int = 0

    @property
    def entries_per_cpu(self) -> int:
        return len(self.registers) + 2

    def prologue_size(self) -> int:
        """Bytes before the first entry: NumCpus (4 bytes) follows num_cpu_offset."""
        return self.num_cpu_offset + 4

    def area_size(self, cpus: int) -> int:
        """The length of the area holding ``cpus`` CPU lists (the advertised size for every possible CPU)."""
        return self.prologue_size() + cpus * self.entries_per_cpu * abi.REGSAVE_ENTRY_SIZE + self.trailing_pad

    def build(self, cpus) -> bytes:
        """The register save area for ``cpus`` (objects with .id and .regs), in CPU order."""
        head = RegSaveHeader.build(dict(version=0, num_cpu_offset=self.num_cpu_offset))
        out = bytearray(head.ljust(self.num_cpu_offset, b"\0"))
        out += len(cpus).to_bytes(4, "big")
        ids, fields = _ids_and_fields(self.registers)
        entries = np.zeros((len(cpus), self.entries_per_cpu), dtype=ENTRY_ARRAY)
        entries["reg_id"][:, 0] = abi.reg_id("CPUSTRT")
        entries["reg_id"][:, 1:-1] = ids
        entries["reg_id"][:, -1] = abi.reg_id("CPUEND")
        for row, cpu in enumerate(cpus):
            entries["reg_value"][row, 0] = entries["reg_value"][row, -1] = cpu.id & abi.CPU_ID_MASK
            get = cpu.regs.get
            entries["reg_value"][row, 1:-1] = [get(name, 0) & mask for name, mask in fields]
        return bytes(out) + entries.tobytes() + bytes(self.trailing_pad)


@lru_cache(maxsize=16)
def _ids_and_fields(registers: tuple[tuple[str, str, int], ...]) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """A layout's register ids (as an array) and (field name, value mask) per entry, made once per layout."""
    ids = np.array([abi.reg_id(i) for i, _, _ in registers], dtype=np.uint64)
    ids.flags.writeable = False
    return ids, [(name, 0xFFFFFFFF if width == 4 else 0xFFFF_FFFF_FFFF_FFFF) for _, name, width in registers]


LOPAR = RegSaveLayout("lopar", abi.REGSAVE_NUM_CPU_OFFSET_LOPAR, REGISTER_IDS)
"""PowerVM as LoPAR documents it: NumCpus at 0x1C after 12 zero bytes, 329 registers per CPU."""

QEMU = RegSaveLayout("qemu", abi.REGSAVE_NUM_CPU_OFFSET_QEMU, QEMU_REGISTER_IDS, trailing_pad=0xC)
"""QEMU >= 10.2 (spapr_fadump.c get_cpu_state_data()): NumCpus at 0x10, 77 registers per
vCPU, 12 trailing bytes: 0x20 + n * 79 * 16 bytes, 0xa00 for 2 vCPUs."""


def area_size(possible_cpus: int, layout: RegSaveLayout = LOPAR) -> int:
    """The CPU state data size firmware advertises: room for every possible CPU."""
    return layout.area_size(possible_cpus)


def build(cpus, layout: RegSaveLayout = LOPAR) -> bytes:
    """The register save area for ``cpus`` in ``layout`` (LoPAR unless given)."""
    return layout.build(cpus)
