"""Reading the firmware's register save area into pt_regs, as every Linux generation does.

Mirrors fadump_build_cpu_notes() (fadump.c, v3.4) and rtas_fadump_build_cpu_notes()
(rtas-fadump.c, v6.10): follow num_cpu_offset, expect CPUSTRT per CPU, take
only GPR00-31, NIA, MSR, CTR, LR, XER, CR, DAR and DSISR, stop at CPUEND.
"""

import errno
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import numpy as np

from firmware import abi
from emulator.units import align_up
from kernels import elfcore
from kernels.structs import NT_PRSTATUS, KernelStructs

NOTE_BUF_T = 536
"""sizeof(note_buf_t): two note headers, "CORE" padded to 8, 504-byte prstatus."""

SPR_FIELDS = {"NIA": "nip", "MSR": "msr", "CTR": "ctr", "LR": "link", "XER": "xer",
              "CR": "ccr", "DAR": "dar", "DSISR": "dsisr"}


class RegSaveError(Exception):
    """The area is unreadable: ``kind`` is "magic" (no REGSAVE) or "cpustrt" (no CPUSTRT)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


@dataclass
class SavedCpu:
    """One CPU's list in the area: its logical id and the pt_regs the kernel builds from it."""

    cpu: int
    regs: dict[str, int]


def gpr_index(rid: int) -> int:
    """fadump_gpr_index(): "GPR" prefix, then the two bytes after it read as decimal; -1 if not a GPR."""
    mask = 0xFFFFFF0000000000
    if rid & mask != abi.reg_id("GPR"):
        return -1
    digits = ((rid & ~mask) >> 24) & 0xFFFF
    text = bytes([(digits >> 8) & 0xFF, digits & 0xFF]).rstrip(b"\0").decode("ascii", "replace")
    try:
        i = int(text, 10)
    except ValueError:
        return -1
    return i if 0 <= i <= 31 else -1


_GPR_PREFIX = abi.reg_id("GPR")
_FIELD_BY_ID = {abi.reg_id(ident): name for ident, name in SPR_FIELDS.items()}


def set_regval(regs: dict[str, int], rid: int, value: int) -> None:
    """fadump_set_regval(): GPRnn (one or two digits), NIA, MSR, CTR, LR, XER, CR, DAR, DSISR."""
    name = _field_of(rid)
    if name:
        regs[name] = value


def _regval_field(rid: int) -> str | None:
    """The pt_regs field fadump_set_regval() stores register id ``rid`` in, or None when it skips it."""
    if rid & 0xFFFFFF0000000000 == _GPR_PREFIX:
        gpr = gpr_index(rid)
        return f"gpr{gpr}" if gpr >= 0 else None
    return _FIELD_BY_ID.get(rid)


_FIELDS_SEEN: dict[int, str | None] = {}
"""_regval_field by register id, for the ids met so far (a save area repeats the same few hundred per CPU)."""


def _field_of(rid: int) -> str | None:
    try:
        return _FIELDS_SEEN[rid]
    except KeyError:
        name = _regval_field(rid)
        if len(_FIELDS_SEEN) < 4096:  # ids from a damaged area need not stay
            _FIELDS_SEEN[rid] = name
        return name


def read_area(ram, addr: int, length: int, fields: tuple[str, ...]) -> tuple[int, list[SavedCpu]]:
    """(NumCpus, the CPUs listed) of the register save area at ``addr``; raises RegSaveError."""
    if ram.read(addr, 8) != abi.REGSAVE_MAGIC:
        raise RegSaveError("magic")
    num_cpu_offset = ram.read_u32(addr + 12, "big")
    num_cpus = ram.read_u32(addr + num_cpu_offset, "big")
    start = addr + num_cpu_offset + 4
    count = max(0, (addr + length - start) // abi.REGSAVE_ENTRY_SIZE)
    # The area as (id, value) pairs: RegEntry's layout, read in one go.
    entries = np.frombuffer(ram.read(start, count * abi.REGSAVE_ENTRY_SIZE), dtype=">u8").reshape(-1, 2)
    cpustrt, cpuend = abi.reg_id("CPUSTRT"), abi.reg_id("CPUEND")
    # The walk below stops after the num_cpus-th CPUEND (every CPUEND ends a CPU's list): entries after it,
    # the room left for every possible CPU, are never looked at and need not become Python lists.
    cpu_ends = np.flatnonzero(entries[:, 0] == cpuend)
    if 0 < num_cpus <= len(cpu_ends):
        cpu_ends = cpu_ends[:num_cpus]
        entries = entries[:cpu_ends[-1] + 1]
    ids = entries[:, 0]
    # set_regval() stores a few dozen of the few hundred register ids an area holds per CPU: work out each
    # id's field once, and walk only the entries it stores.
    field = {rid: _field_of(rid) for rid in np.unique(ids).tolist()}
    stored = np.flatnonzero(np.isin(ids, np.array([r for r, f in field.items() if f], dtype=ids.dtype)))
    at, stored_ids, stored_values = stored.tolist(), ids[stored].tolist(), entries[stored, 1].tolist()
    ends = iter(cpu_ends.tolist() + [len(ids)])  # each CPU's list ends at the first of these after its CPUSTRT
    cpus, i = [], 0
    for _ in range(num_cpus):
        if i >= len(ids) or int(ids[i]) != cpustrt:
            raise RegSaveError("cpustrt")
        end = next(e for e in ends if e > i)
        saved = SavedCpu(int(entries[i, 1]) & abi.CPU_ID_MASK, {f: 0 for f in fields})
        lo, hi = bisect_right(at, i), bisect_left(at, end)
        # In the area's order: a register listed twice keeps its later value, as the walk stores it.
        saved.regs.update(zip(map(field.__getitem__, stored_ids[lo:hi]), stored_values[lo:hi]))
        cpus.append(saved)
        i = end + 1
    return num_cpus, cpus


def cpu_notes(ks: KernelStructs, cpus: list[SavedCpu], in_mask, crashing_cpu: int,
              crash_regs: dict[str, int], pid_by_cpu: bool = False) -> bytes:
    """NT_PRSTATUS notes for the CPUs in the mask, in area order, then final_note.

    The crashing CPU's registers come from the crash info header, not firmware.
    pr_pid stays 0 as fadump writes it, unless ``pid_by_cpu`` numbers them cpu + 1.
    """
    out = b""
    for saved in cpus:
        if not in_mask(saved.cpu):
            continue
        regs = crash_regs if saved.cpu == crashing_cpu else saved.regs
        values = [regs.get(f, 0) for f in ks.pt_regs_fields]
        pid = saved.cpu + 1 if pid_by_cpu else 0
        out += elfcore.note(ks, "CORE", NT_PRSTATUS, elfcore.prstatus(ks, values, pid))
    return out + elfcore.FINAL_NOTE


def build_cpu_notes(k, fw, section, fdh, msg, alloc_failed: str | None = None) -> int:
    """What every release's CPU-note builder shares: fadump_build_cpu_notes() (fadump.c, 3.4) and
    rtas_fadump_build_cpu_notes() (rtas-fadump.c, 6.1 and 6.10+). Read the register save area ``section`` holds
    (printing the release's ``msg.REGSAVE_BAD`` or ``msg.CPU_STATE_BAD`` when it cannot: -ENOENT), size and
    allocate the notes buffer (``alloc_failed``, when the release prints one, is said on failure: -ENOMEM), and
    write one NT_PRSTATUS per CPU of the crash info header ``fdh``'s mask, the crashing CPU's from ``fdh``."""
    try:
        num_cpus, cpus = read_area(k.ram, section.destination_address, section.bytes_dumped, k.ks.pt_regs_fields)
    except RegSaveError as exc:
        k.printk(msg.REGSAVE_BAD if exc.kind == "magic" else msg.CPU_STATE_BAD)
        return -errno.ENOENT
    fw.cpu_notes_buf_size = align_up(num_cpus * NOTE_BUF_T, k.page_size)
    try:
        fw.cpu_notes_buf = k.alloc_pages(fw.cpu_notes_buf_size)
    except MemoryError:
        if alloc_failed is None:
            raise
        k.printk(alloc_failed.format(size=fw.cpu_notes_buf_size))
        return -errno.ENOMEM
    k.ram.write(fw.cpu_notes_buf, cpu_notes(k.ks, cpus, lambda c: k.cpumask_test(fdh.cpu_mask, c), fdh.crashing_cpu,
                                            dict(fdh.regs), k.pid_by_cpu))
    return 0
