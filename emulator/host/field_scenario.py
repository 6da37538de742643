"""From a field log's facts to a scenario that reproduces it: each key with the log line it rests on, or an
explicit assumption saying the inputs could not tell.

``build(facts, head)`` returns a FieldScenario: the scenario document (the TOML shape emulator.scenario reads), the
profile chosen and why, and one Note per key (``source``: the log or vmcore fact; ``assumed``: what was assumed
and why). ``to_toml()`` writes it with those notes as comments; the [expect] table holds the log's own fadump lines
and the observed outcome, so running the scenario says whether the emulator reproduces the field behaviour.

The profile comes from the kernel release (the vmcore's OSRELEASE, else the console's banner), matched against the
profiles of kernels.registry read at run time: the profile of the same series, else the nearest older one (same
design generation: 6.10 moved the ELF core header into the capture kernel).
"""

import re
from dataclasses import dataclass, field

from emulator.host import field_verdict
from emulator.host.field_facts import Fact, LogFacts
from emulator.host.field_vmcore import HeadFacts
from emulator.host.reference_console import FADUMP_LINE

FIRST_EVENT_AT = 10.0
"""The emulated schedule: events of a boot at 10 s, 11 s, ... (after every profile's registration, 2.35 s at the
latest); the crash 5 s after the last, 20 s at the earliest. The field log's order is kept, not its times."""
CRASH_AT = 20.0
IGNORED = re.compile(r"^(kdump|PHYP|QEMU|firmware): |^# ")
"""Lines that are userspace or firmware, not the kernel (as compare_real.IGNORED_CONSOLE)."""
DUMP_STACK = re.compile(r"^CPU: \d+ (UID|PID)")
"""dump_stack's banner: it names "fadump" only through a release string like 6.10.0-fadump-emu."""


def registry_profiles() -> dict[str, tuple[int, ...]]:
    """Profile name -> release numbers, from kernels.registry at run time (a new profile is picked up)."""
    from kernels.registry import PROFILES

    out = {}
    for name in PROFILES:
        m = re.match(r"linux-(\d+)\.(\d+)", name)
        if m:
            out[name] = (int(m.group(1)), int(m.group(2)))
    return out


def mib(n: int) -> str:
    return f"{n // 1024}GiB" if n % 1024 == 0 else f"{n}MiB"


def series(release: str) -> tuple[int, int] | None:
    m = re.match(r"(\d+)\.(\d+)", release or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def choose_profile(release: str | None, where: str, old_style: bool) -> tuple[str, str, bool]:
    """(profile, why, assumed)."""
    known = registry_profiles()
    ordered = sorted(known, key=known.get)
    wanted = series(release) if release else None
    if wanted is None:
        if old_style:
            return ordered[0], ("no kernel release in the inputs; its fadump messages have no \"fadump:\" prefix "
                                f"(the seed design's wording): the oldest profile, {ordered[0]}"), True
        return ordered[-1], ("no kernel release in the inputs and its messages are the modern ones: the newest "
                             f"profile, {ordered[-1]}"), True
    same = [p for p in ordered if known[p] == wanted]
    if same:
        return same[0], f"the kernel is {release} ({where}), the release of profile {same[0]}", False
    older = [p for p in ordered if known[p] < wanted]
    if older:
        return older[-1], (f"the kernel is {release} ({where}); there is no linux-{wanted[0]}.{wanted[1]} profile "
                           f"(profiles: {', '.join(ordered)}): the nearest older one, {older[-1]}"), True
    return ordered[0], (f"the kernel is {release} ({where}), older than every profile "
                        f"({', '.join(ordered)}): the oldest, {ordered[0]}"), True


@dataclass
class Note:
    source: str = ""
    assumed: str = ""


@dataclass
class FieldScenario:
    doc: dict
    profile: str
    profile_why: str
    notes: dict[str, Note] = field(default_factory=dict)
    """"table.key" (or "events.N", "faults.N", "expect.outcome") -> where the value came from."""
    verdict: field_verdict.Verdict | None = None
    field_lines: list[list[str]] = field(default_factory=list)
    head: HeadFacts | None = None
    """The log's kernel fadump lines, boot by boot (what replay compares)."""

    def assumptions(self) -> list[tuple[str, str]]:
        return [(k, n.assumed) for k, n in self.notes.items() if n.assumed]

    def to_toml(self) -> str:
        from emulator.host.field_toml import render

        return render(self)


def fadump_lines(facts_boot_lines) -> list[str]:
    return [t for t in facts_boot_lines if FADUMP_LINE.search(t) and not IGNORED.match(t)
            and not t.startswith(("Kernel command line", "Linux version ")) and not DUMP_STACK.match(t)]


def build(facts: LogFacts, boot_lines: list[list[str]], head: HeadFacts | None = None, name: str = "field") -> FieldScenario:
    """The scenario reproducing the log (boot_lines: each boot's kernel lines, for [expect] and the comparison)."""
    notes: dict[str, Note] = {}

    def put(table: dict, key: str, value, path: str, fact: Fact | None = None, source: str = "", assumed: str = ""):
        table[key] = value
        notes[path] = Note(fact.cite(facts.path) if fact else source, assumed)

    b0 = facts.boots[0]
    release = facts.any("release")
    old_style = any(re.match(r"^(Reserved \d+MB of memory at \d+MB for firmware-assisted dump|"
                             r"firmware-assisted kernel dump registration)", t) for t in boot_lines[0])
    if head and head.osrelease:
        profile, why, guessed = choose_profile(head.osrelease, f"{head.path}: VMCOREINFO OSRELEASE", old_style)
    else:
        profile, why, guessed = choose_profile(release.value if release else None,
                                               release.cite(facts.path) if release else "", old_style)
    doc: dict = {"name": name, "description": f"field failure replayed from {facts.path}"}
    machine: dict = {}
    kernel: dict = {}
    doc["machine"], doc["kernel"] = machine, kernel

    ram = facts.any("ram_mib")
    if head and head.ram_bytes and not any(b.hotplug for b in facts.boots):
        mem_mib = -(-head.ram_bytes // (1 << 20))
        put(machine, "memory", mib(mem_mib), "machine.memory", source=f"{head.path}: end of the highest PT_LOAD")
    elif ram and ram.value > 0:
        mem_mib = ram.value
        put(machine, "memory", mib(mem_mib), "machine.memory", ram)
    else:
        mem_mib = 2048
        put(machine, "memory", "2GiB", "machine.memory", assumed="no RAM size in the log (no System RAM, "
                                                                  "phys_mem_size or Memory: line): 2 GiB assumed")
    cpus = facts.any("cpus")
    if cpus:
        put(machine, "cpus", cpus.value, "machine.cpus", cpus)
    elif head and head.cpus:
        put(machine, "cpus", head.cpus, "machine.cpus", source=f"{head.path}: {head.cpus} NT_PRSTATUS notes")
    else:
        crash_cpu = max((b.crash.cpu.value for b in facts.boots if b.crash and b.crash.cpu), default=-1)
        put(machine, "cpus", max(4, crash_cpu + 1), "machine.cpus",
            assumed=f"no CPU count in the log (no \"Partition configured for\", \"Brought up\" line): "
                    f"{max(4, crash_cpu + 1)} assumed")
    online = b0.online
    if online and cpus and 0 < online.value < cpus.value:
        put(machine, "online_cpus", list(range(online.value)), "machine.online_cpus", online,
            assumed=f"{online.value} of {cpus.value} CPUs came up; which ones the log does not say: the first "
                    f"{online.value} assumed")
    page = head.page_size if head else None
    if page:
        put(machine, "page_size", f"{page >> 10}KiB", "machine.page_size", source=f"{head.path}: VMCOREINFO PAGESIZE")
    else:
        put(machine, "page_size", "64KiB", "machine.page_size",
            assumed="the log does not show the page size: 64 KiB, the ppc64 distribution kernels' CONFIG_PPC_64K_PAGES")
    endian = facts.any("endian")
    if head:
        put(machine, "endian", head.endian, "machine.endian", source=f"{head.path}: e_ident EI_DATA, "
                                                                     f"e_flags {head.e_flags}")
    elif endian:
        put(machine, "endian", endian.value, "machine.endian", endian)
    else:
        default = "big" if profile == "linux-3.4" else "little"
        put(machine, "endian", default, "machine.endian",
            assumed=f"the log does not show the byte order: {default}-endian, as {profile}'s pSeries kernels were")
    fw = facts.any("firmware")
    if fw:
        put(machine, "firmware", fw.value, "machine.firmware", fw)
    else:
        put(machine, "firmware", "phyp", "machine.firmware",
            assumed="the log does not name the platform (no Hardware name line): PowerVM (phyp) assumed")
    mmu = facts.any("mmu")
    if mmu:
        put(machine, "mmu", mmu.value, "machine.mmu", mmu)
    else:
        radix = profile != "linux-3.4" and machine["firmware"] == "qemu"
        put(machine, "mmu", "radix" if radix else "hash", "machine.mmu",
            assumed="no radix-mmu/hash-mmu line: " + ("radix assumed (a POWER9 guest under QEMU boots radix)" if radix
                                                      else "hash assumed (PowerVM partitions and Linux 3.4 run the "
                                                           "hash MMU)"))
    adds = [h for b in facts.boots for h in b.hotplug if h.value[0] == "memory-add" and h.value[2]]
    if adds:
        put(machine, "max_memory", mib(mem_mib + 256 * len(adds)), "machine.max_memory",
            assumed=f"room for the {len(adds)} hot-added LMB(s) the log shows, 256 MiB each (LMB size assumed)")

    put(kernel, "profile", profile, "kernel.profile", source=why, assumed=why if guessed else "")
    if b0.cmdline:
        put(kernel, "cmdline", b0.cmdline.value, "kernel.cmdline", b0.cmdline)
        options = [o for o in b0.cmdline.value.split() if o.startswith(("fadump", "crashkernel="))]
        notes["kernel.cmdline"].source += f" (fadump options: {' '.join(options) or 'none'})"
    else:
        put(kernel, "cmdline", "root=/dev/sda2 ro fadump=on", "kernel.cmdline",
            assumed="no \"Kernel command line\" line: fadump=on with no other fadump= or crashkernel= option assumed")
    osrel = head.osrelease if head and head.osrelease else release.value if release else None
    if osrel:
        put(kernel, "osrelease", osrel, "kernel.osrelease",
            source=f"{head.path}: VMCOREINFO OSRELEASE" if head and head.osrelease else release.cite(facts.path))
    cap_rel = next((b.release for b in facts.boots[1:] if b.dump_active and b.release), None)
    if cap_rel and release and series(cap_rel.value) != series(release.value):
        cap_profile, cap_why, cap_guessed = choose_profile(cap_rel.value, cap_rel.cite(facts.path), False)
        put(kernel, "capture_profile", cap_profile, "kernel.capture_profile", source=cap_why,
            assumed=cap_why if cap_guessed else "")
        put(kernel, "capture_osrelease", cap_rel.value, "kernel.capture_osrelease", cap_rel)
    nr = facts.any("nr_cpus")
    if nr:
        put(kernel, "nr_cpus", nr.value, "kernel.nr_cpus", nr)
    elif head and head.nr_cpus_range:
        lo, hi = head.nr_cpus_range
        value = max(hi, machine["cpus"], 2)
        put(kernel, "nr_cpus", value, "kernel.nr_cpus", source=f"{head.path}: the crash info header's cpumask",
            assumed=f"the metadata size allows NR_CPUS {lo}..{hi}: {value} (same layout) assumed")

    vd = field_verdict.verdict(facts)
    fs = FieldScenario(doc, profile, why, notes, vd, [fadump_lines(lines) for lines in boot_lines], head)
    from emulator.host.field_events import add_events

    add_events(fs, facts, put)
    return fs
