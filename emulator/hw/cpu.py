"""Virtual processors: a register file per CPU and which CPUs are online.

Register-file names (what scenario files may set, checked against
REGISTER_NAMES) are lowercase and simple:

* ``gpr0``..``gpr31`` and ``fpr0``..``fpr31`` (no leading zeros);
* ``vr0_hi``/``vr0_lo``..``vr31_hi``/``vr31_lo`` and ``vsr0_hi``/``vsr0_lo``..
  ``vsr63_hi``/``vsr63_lo``: one 64-bit doubleword each, named after LoPAR's
  ``VRnn_HI``/``VSRnn_LO`` register save area ids. They are independent
  entries: the architectural overlaps (FPRn is VSRn's high doubleword, VRn is
  VSR(n+32)) are not enforced, so a scenario that wants them consistent sets
  both names;
* the pt_regs names Linux uses: ``nip`` (LoPAR NIA), ``link`` (LR), ``ccr``
  (CR), ``msr``, ``ctr``, ``xer``, ``dar``, ``dsisr``, ``orig_gpr3``,
  ``softe``, ``trap``, ``result``, ``ppr``, ``exit_result``, ``kuap``,
  ``iamr``;
* every other SPR in LoPAR's register save area table, lowercased
  (``mmcr0``, ``pmc6``, ``dawrx0``, ``texasr``, ``psscr``, ...), plus
  ``hdar`` and ``hdsisr``, which firmware does not save.

default_registers() sets every name: a few plausible, CPU-dependent values for
the registers Linux reads back, zero for the rest.
"""

from dataclasses import dataclass, field
from functools import lru_cache

GPRS = tuple(f"gpr{i}" for i in range(32))
FPRS = tuple(f"fpr{i}" for i in range(32))
VRS = tuple(f"vr{i}_{half}" for i in range(32) for half in ("hi", "lo"))
"""VR0..31 as high/low doublewords (LoPAR VR00_HI..VR31_LO)."""
VSRS = tuple(f"vsr{i}_{half}" for i in range(64) for half in ("hi", "lo"))
"""VSR0..63 as high/low doublewords (LoPAR VSR00_HI..VSR63_LO)."""
SPRS = (
    "nip", "msr", "ctr", "link", "xer", "ccr", "dar", "dsisr", "orig_gpr3", "softe",
    "trap", "result", "ppr", "exit_result", "kuap", "iamr",
    "srr0", "srr1", "pir", "pvr", "tb", "dec", "fpscr", "vrsave", "vscr", "amr",
    "cfar", "dscr", "tar", "sprg0", "sprg1", "sprg2", "sprg3", "hdar", "hdsisr",
    # The rest of LoPAR's register save area SPRs, lowercased.
    "acop", "bescr", "ciabr", "ctrl", "dabr", "dabrx", "dawr0", "dawrx0", "dpdes",
    # QEMU's pseries register save area also saves the second watchpoint pair.
    "dawr1", "dawrx1",
    "ebbhr", "ebbrr", "fscr", "ic", "lmrr", "lmser", "mmcr0", "mmcr1", "mmcr2", "mmcra",
    "mmcrs", "pid", "pmc1", "pmc2", "pmc3", "pmc4", "pmc5", "pmc6", "psscr", "pspb",
    "purr", "rpr", "sdar", "siar", "sier", "spmc1", "spmc2", "spurr", "texasr", "tfhar",
    "tfiar", "tid", "tir", "tsr", "uamor", "vtb", "worc", "wort",
)
REGISTER_NAMES = frozenset(GPRS + FPRS + VRS + VSRS + SPRS)
"""Every register a scenario may set on a CPU."""

MSR_SF = 1 << 63
MSR_EE, MSR_PR, MSR_FP, MSR_ME = 1 << 15, 1 << 14, 1 << 13, 1 << 12
MSR_IR, MSR_DR, MSR_RI, MSR_LE = 1 << 5, 1 << 4, 1 << 1, 1 << 0
KERNEL_MSR_BE = MSR_SF | MSR_EE | MSR_ME | MSR_IR | MSR_DR | MSR_RI
"""0x8000000000009032: a 64-bit kernel running translated with interrupts on."""

PVR_POWER9 = 0x004E1202
KERNELBASE = 0xC000000000000000


def default_registers(cpu: int, little_endian: bool) -> dict[str, int]:
    """Plausible, distinct values for a CPU idling in a kernel (deterministic); a new dict each call."""
    return dict(_default_registers(cpu, little_endian))


@lru_cache(maxsize=1024)
def _default_registers(cpu: int, little_endian: bool) -> dict[str, int]:
    """default_registers, made once per (cpu, byte order) in a process; callers get copies."""
    regs = {name: 0 for name in REGISTER_NAMES}
    for i in range(32):
        regs[f"gpr{i}"] = KERNELBASE | 0x0100_0000 | (cpu << 12) | (i << 4)
    regs["gpr1"] = KERNELBASE | (0x01F0_0000 + cpu * 0x4000 - 0x200)  # kernel stack
    regs["gpr13"] = KERNELBASE | (0x01FC_0000 + cpu * 0x400)  # paca
    regs["nip"] = KERNELBASE | (0x0002_1C40 + cpu * 4)  # idle loop
    regs["link"] = KERNELBASE | 0x0002_1B10
    regs["ctr"] = KERNELBASE | 0x0002_0F00
    regs["msr"] = KERNEL_MSR_BE | (MSR_LE if little_endian else 0)
    regs["xer"] = 0x20000000
    regs["ccr"] = 0x24002842
    regs["softe"] = 1
    regs["trap"] = 0x500
    regs["pir"] = cpu
    regs["pvr"] = PVR_POWER9
    regs["tb"] = 0x0000_1234_5678_0000 + cpu
    regs["dec"] = 0x7FFF_0000
    regs["srr0"], regs["srr1"] = regs["nip"], regs["msr"]
    return regs


@dataclass
class Cpu:
    """One virtual processor (a hardware thread) and its live register file."""

    id: int
    online: bool
    regs: dict[str, int] = field(default_factory=dict)

    def set(self, values: dict[str, int]) -> None:
        """Overwrite some registers; names are checked against REGISTER_NAMES."""
        for name, value in values.items():
            if name not in REGISTER_NAMES:
                raise KeyError(name)
            self.regs[name] = value & 0xFFFF_FFFF_FFFF_FFFF


TRAP_SYSTEM_RESET = 0x100
"""The system reset interrupt's vector, as Linux records it in pt_regs.trap."""


def system_reset(cpus: list[Cpu]) -> None:
    """A system reset (the HMC's, or an NMI) is taken by every online CPU at vector 0x100 (Power ISA, System
    Reset interrupt): each one's trap register says so."""
    for cpu in cpus:
        if cpu.online:
            cpu.regs["trap"] = TRAP_SYSTEM_RESET


def make_cpus(count: int, online: set[int], little_endian: bool) -> list[Cpu]:
    """``count`` CPUs numbered from 0, those in ``online`` online."""
    return [Cpu(i, i in online, default_registers(i, little_endian)) for i in range(count)]
