"""What a field console log says about the partition, boot by boot: each fact with the line it was read from.

``facts(log)`` turns the boots of emulator.host.field_console into BootFacts (kernel release, command line, RAM,
CPUs, MMU, firmware, registration and its RTAS statuses, the crash, hotplug, release, re-registration, the capture
kernel's verdict lines). A fact the log does not show is None; nothing here guesses (emulator.host.field_scenario
turns a missing fact into a stated assumption).
"""

import re
from dataclasses import dataclass, field

from emulator.host.field_console import Boot, ConsoleLog


@dataclass
class Fact:
    value: object
    line: int
    """Line number in the log it was read from."""
    text: str
    """That line's message (quoted in the scenario's comments)."""

    def cite(self, path: str = "") -> str:
        quoted = self.text if len(self.text) <= 90 else self.text[:87] + "..."
        return f"{path}:{self.line}: {quoted}" if path else f"line {self.line}: {quoted}"


@dataclass
class Crash:
    kind: str
    """One of the scenario's crash kinds: panic, sysrq, oops, system-reset, hypervisor."""
    start: Fact
    cpu: Fact | None = None
    message: str | None = None


@dataclass
class BootFacts:
    index: int
    release: Fact | None = None
    cmdline: Fact | None = None
    ram_mib: Fact | None = None
    cpus: Fact | None = None
    online: Fact | None = None
    """CPUs brought up at boot (smp_cpus_done(), kernel/smp.c: "Brought up %d node(s), %d CPU(s)")."""
    nr_cpus: Fact | None = None
    mmu: Fact | None = None
    firmware: Fact | None = None
    endian: Fact | None = None
    dump_active: Fact | None = None
    reserved: list[Fact] = field(default_factory=list)
    registrations: list[Fact] = field(default_factory=list)
    """Each registration attempt's result: value 0 (successful) or the RTAS status of the failure."""
    os_term_failed: Fact | None = None
    crash: Crash | None = None
    hotplug: list[Fact] = field(default_factory=list)
    """value: (kind, addr or cpu, applied) with kind a scenario hotplug kind; applied False for a failed add."""
    released: Fact | None = None
    verdict: list[Fact] = field(default_factory=list)
    """The capture kernel's lines about the dump it found (rejections, save failures, firmware's power loss)."""
    saved: Fact | None = None


STATUS_WORDS = {"Already registered!": -9}
"""rtas_fadump_register() (rtas-fadump.c, 6.10): -9 ("Already registered!") is printed without its number."""
REJECT = re.compile(
    r"Dump taken by platform is (not valid|incomplete)|Crash info header is not valid|Fadump header is corrupted|"
    r"Endianness mismatch between the crashed and fadump kernels|Unable to read register save area|"
    r"Unable to read CPU state data|elf header not found|vmcore not initialized|Old magic number")
"""The capture kernel refusing the dump: rtas_fadump_process()/process_fadump() (3.4, 6.10+), fadump.c's header
checks, fs/proc/vmcore.c's parse errors."""


def first(boot: Boot, pattern: str, value=lambda m: m.group(1), after: int = 0) -> Fact | None:
    hit = boot.find(pattern, after)
    if not hit:
        return None
    line, m = hit
    try:
        return Fact(value(m), line.number, line.text)
    except (ValueError, IndexError):  # a garbled number: the fact is not there
        return None


def kernel_only(boot: Boot) -> Boot:
    return Boot(boot.index, [x for x in boot.lines if x.kernel])


def crash_of(boot: Boot) -> Crash | None:
    """The first crash of the boot, its kind from the first line that says it, its CPU from dump_stack's banner."""
    kinds = (
        (r"Oops: System Reset|Kernel panic - not syncing: System Reset|dump triggered \(\"OS panic: System Reset",
         "system-reset"),
        (r"sysrq: Trigger a crash", "sysrq"),
        (r"^Oops: |^BUG: ", "oops"),
        (r"partition terminated by the hypervisor", "hypervisor"),
        (r"Kernel panic - not syncing: ", "panic"),
    )
    hits = []
    for pattern, kind in kinds:
        hit = boot.find(pattern)
        if hit:
            hits.append((hit[0].number, kind, hit[0]))
    if not hits:
        return None
    number, kind, line = min(hits, key=lambda h: (h[0], [k for _, k in kinds].index(h[1])))
    crash = Crash(kind, Fact(kind, line.number, line.text))
    panic = boot.find(r"Kernel panic - not syncing: (.*)$", number)
    if panic and kind == "panic":
        crash.message = panic[1].group(1).strip() or None
    cpu = boot.find(r"^CPU: (\d+) (?:UID|PID)", number)
    if cpu and cpu[0].number - number < 60:
        crash.cpu = Fact(int(cpu[1].group(1)), cpu[0].number, cpu[0].text)
    return crash


DRC_TYPE_LMB = 0x80000000
"""An LMB's DRC index is this type bit plus the LMB's number (QEMU hw/ppc/spapr_drc.c, SPAPR_DR_CONNECTOR_TYPE_LMB)."""
LMB_SIZE = 256 << 20
"""The LMB size assumed for DRC indexes (QEMU's SPAPR_MEMORY_BLOCK_SIZE; PowerVM's usual 256 MiB)."""
ATTEMPT = "pseries-hotplug-mem: Attempting to hot-add"


def hotplug_of(boot: Boot) -> list[Fact]:
    out = []
    for line in boot.lines:
        t = line.text
        m = re.search(r"Memory at ([0-9a-fA-F]+) \(drc index [0-9a-fA-F]+\) was hot-(added|removed)", t)
        if m:
            kind = "memory-add" if m.group(2) == "added" else "memory-remove"
            out.append(Fact((kind, int(m.group(1), 16), True), line.number, t))
            continue
        m = re.search(r"Failed to hot-remove memory at ([0-9a-fA-F]+)", t)
        if m:
            out.append(Fact(("memory-remove", int(m.group(1), 16), True), line.number, t))
            continue
        m = re.search(r"pseries-hotplug-mem: Attempting to hot-add (\d+) LMB\(s\) at index ([0-9a-fA-F]+)", t)
        if m:  # dlpar_memory_add_by_ic(): each LMB is tried; whether it stays is for the emulated kernel to decide
            first = int(m.group(2), 16) & ~DRC_TYPE_LMB
            for i in range(int(m.group(1))):
                out.append(Fact(("memory-add", (first + i) * LMB_SIZE, True), line.number, t))
            continue
        if re.search(r"pseries-hotplug-mem: Memory (indexed-count-)?add failed", t):
            if not (out and out[-1].value[0] == "memory-add" and ATTEMPT in out[-1].text):
                out.append(Fact(("memory-add", None, False), line.number, t))
            continue
        m = re.search(r"^@@@ OFFLINE cpu(\d+)$|^cpu (\d+) \(hwid \d+\) Ready to die|^CPU (\d+) is now offline", t)
        if m:
            out.append(Fact(("cpu-offline", int(next(g for g in m.groups() if g)), True), line.number, t))
    return out


def boot_facts(boot: Boot) -> BootFacts:
    k = kernel_only(boot)
    f = BootFacts(boot.index)
    f.release = first(k, r"^Linux version (\S+)")
    f.cmdline = first(k, r"^Kernel command line: (.*?)\s*$")
    f.ram_mib = (first(k, r"\(System RAM: (\d+)MB\)", lambda m: int(m.group(1)))
                 or first(k, r"^Reserved (\d+)MB of memory at (\d+)MB for firmware-assisted dump",
                          lambda m: -(-(int(m.group(1)) + int(m.group(2))) // 256) * 256)
                 or first(k, r"^phys_mem_size\s*=\s*(0x[0-9a-fA-F]+)", lambda m: int(m.group(1), 16) >> 20)
                 or first(k, r"^Memory: \d+K/(\d+)K available", lambda m: int(m.group(1)) >> 10)
                 or first(k, r"^Reserved (\d+)MB of memory at (\d+)MB for saving crash dump",
                          lambda m: int(m.group(1)) + int(m.group(2)))
                 or first(k, r"Reserving (\d+)MB of memory at (0x[0-9a-fA-F]+) for preserving crash data",
                          lambda m: int(m.group(1)) + (int(m.group(2), 16) >> 20)))
    f.cpus = (first(k, r"^Partition configured for (\d+) cpus", lambda m: int(m.group(1)))
              or first(k, r"^smp: Brought up \d+ nodes?, (\d+) CPUs", lambda m: int(m.group(1)))
              or first(k, r"SLUB: .*CPUs=(\d+)", lambda m: int(m.group(1))))
    f.online = first(k, r"^smp: Brought up \d+ nodes?, (\d+) CPUs", lambda m: int(m.group(1)))
    f.nr_cpus = first(k, r"NR_CPUS=(\d+)", lambda m: int(m.group(1)))
    f.mmu = (first(k, r"Using (radix|hash) MMU")
             or first(k, r"^(radix|hash)-mmu: "))
    f.firmware = (first(k, r"^Hardware name: .*\(emulated by (qemu)\)")
                  or first(k, r"^Hardware name: (IBM),", lambda m: "phyp")
                  or first(boot, r"^(QEMU|PHYP): dump triggered", lambda m: m.group(1).lower().replace("qemu", "qemu")))
    f.endian = (first(boot, r"powerpc64(le)?-linux-gnu-gcc", lambda m: "little" if m.group(1) else "big")
                or first(k, r"^MSR: .*<[A-Z,]*,(LE)>", lambda m: "little"))
    f.dump_active = first(k, r"(Firmware-assisted dump is active)")
    f.reserved = [Fact(line.text, line.number, line.text) for line in k.lines
                  if re.search(r"^((rtas )?fadump: )?(Reserved|Reserving) \d+MB of memory", line.text)]
    for line in k.lines:
        t = line.text
        if re.search(r"[Rr]egistration is successful", t):
            f.registrations.append(Fact(0, line.number, t))
        elif m := re.search(r"Failed to register.*\((-?\d+)\)", t):
            f.registrations.append(Fact(int(m.group(1)), line.number, t))
        elif t.endswith(tuple(STATUS_WORDS)):
            f.registrations.append(Fact(next(v for w, v in STATUS_WORDS.items() if t.endswith(w)), line.number, t))
    f.os_term_failed = first(k, r"ibm,os-term call failed (-?\d+)", lambda m: int(m.group(1)))
    f.crash = crash_of(k)
    if f.crash is None:  # firmware's own line, when the log has it (the emulator's transcripts, an HMC log)
        hit = boot.find(r"^(?:PHYP|QEMU): dump triggered \(\"(.*)\"\)")
        if hit:
            kind = "hypervisor" if "hypervisor" in hit[1].group(1) else \
                "system-reset" if "System Reset" in hit[1].group(1) else "panic"
            f.crash = Crash(kind, Fact(kind, hit[0].number, hit[0].text))
    f.hotplug = hotplug_of(boot)
    f.released = (first(k, r"^(?:fadump: )?(freeing reserved memory)")
                  or first(boot, r"^kdump: (released the dump memory)")
                  or first(boot, r"^@@@ WRITE (1) > /sys/kernel/fadump(?:/|_)release_mem"))
    f.verdict = [Fact(x.text, x.number, x.text) for x in boot.lines if REJECT.search(x.text)
                 or re.search(r"saving vmcore failed|power lost after copying", x.text)]
    f.saved = (first(boot, r"^kdump: (saved vmcore)") or first(boot, r"^@@@ (VMCORE) "))
    return f


@dataclass
class LogFacts:
    path: str
    boots: list[BootFacts]
    timestamps: bool
    noise: int

    def crashes(self) -> list[BootFacts]:
        return [b for b in self.boots if b.crash]

    def any(self, name: str) -> Fact | None:
        """The first boot's fact of that name, else any later boot's."""
        for b in self.boots:
            value = getattr(b, name)
            if value is not None:
                return value
        return None


def facts(log: ConsoleLog) -> LogFacts:
    return LogFacts(log.path, [boot_facts(b) for b in log.boots], log.timestamps, log.noise)
