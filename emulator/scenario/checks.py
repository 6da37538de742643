"""Checks of a scenario as a whole: names and paths, architecture limits, the timeline, memory placement.

The table readers (emulator.scenario.parts) check each value; these check how
values fit together. ``emulator.run.runner.rehearse`` then runs the scenario without writing
anything, so ``check-scenario`` refuses exactly what ``run`` refuses: the same
checks, then the same code that runs it (whatever depends on what the kernels
do at run time, such as a write into memory a kernel reserved, or a boot that
does not come because fadump was not registered).
"""

import re

from emulator.errors import ScenarioError
from emulator.scenario.model import Scenario
from kernels.image import IMAGE_SIZE

OUTPUT_FILES = (
    ("console.log", r"console\.log", "the console of every boot, one line per message with its uptime stamp; "
                                     "each boot starts again at 0"),
    ("report.json", r"report\.json", "the outcome, each expectation and whether it held, the crashes, each capture "
                                     "with its verification and registers, sysfs writes and values, hotplug, RTAS "
                                     "calls"),
    ("report.html", r"report\.html", "the same as one self-contained page: console, memory maps, timeline, "
                                     "verification, registers, RTAS calls"),
    ("vmcore", r"vmcore", "the first vmcore the capture kernel saved (the one expect.memory, expect.registers, "
                          "missing and bogus describe)"),
    ("vmcore.N", r"vmcore\.\d+", "the Nth saved vmcore: a later crash's, or a capture event's without a path"),
    ("boot-N/", r"boot-\d+", "what boot N saw once it was up: boot-N/proc/device-tree/ (e.g. "
                             "boot-2/proc/device-tree/rtas/ibm,kernel-dump in a capture kernel)"),
    ("digests/", r"digests", "BLAKE3 digests of crash-time memory, per vmcore (fadump-emu verify reads them)"),
    ("debug/", r"debug", "the symbol file (vmlinux) fadump-emu gdb, drgn and crash build on first use"),
)
"""What a run writes into its output folder: (shown name, pattern, what it holds). A capture event's ``path``
adds a file of that name."""
RESULT_NAME = re.compile("^(" + "|".join(pattern for _, pattern, _ in OUTPUT_FILES) + ")$")
"""The names a run writes by itself (a scenario's capture path may not take them)."""


def is_reserved(name: str) -> bool:
    """Whether a file name in the output folder belongs to the tool (results, lock, manifest, staging)."""
    return bool(RESULT_NAME.match(name)) or name.startswith(".fadump-emu")


NAME_MAX = 100
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


def check_file_name(name: str, what: str) -> str | None:
    """Why ``name`` cannot be one file name inside the output folder, or None when it can."""
    if not name:
        return f"{what} is empty"
    if len(name) > NAME_MAX:
        return f"{what} is longer than {NAME_MAX} characters"
    if "/" in name or "\\" in name:
        return f"{what} {name!r} has a / or \\; it must be one plain name inside the output folder"
    if name in (".", "..") or name.startswith("."):
        return f"{what} {name!r} starts with a dot; use a plain name"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"{what} {name!r} holds control characters"
    if _WINDOWS_RESERVED.match(name):
        return f"{what} {name!r} is a reserved device name"
    return None


def check_name(sc: Scenario) -> None:
    """The scenario's name becomes the default output folder out/NAME: one plain path component."""
    why = check_file_name(sc.name, "name")
    if why:  # without a name key the name is the file's stem: then the message points at line 1
        raise ScenarioError(f"{why} (it is the default output folder out/NAME)", sc.path, sc.line_of("name") or 1)


def check_capture_path(sc: Scenario, path: str, *where) -> None:
    """A capture event's file name: one plain name, not one of the tool's own files."""
    why = check_file_name(path, "capture path")
    if why is None and is_reserved(path):
        why = (f"capture path {path!r} is a name the tool writes itself (vmcore, vmcore.N, console.log, "
               "report.json, boot-N, .fadump-emu*)")
    if why:
        raise sc.error(f"{why}; choose e.g. path = \"vmcore-early\"", *where, "path")


def check_memory_limit(sc: Scenario) -> None:
    """machine.memory and max_memory fit the kernels' physical address space (2^MAX_PHYSMEM_BITS).

    The limits are the kernel profiles' own (kernels.base: 46 bits for 3.4, kernels.linux610: 51 for 6.10).
    """
    from kernels.registry import PROFILES

    mc, ks = sc.machine, sc.kernel
    for profile in {ks.profile, ks.capture_profile or ks.profile}:
        bits = PROFILES[profile].max_physmem_bits
        for key in ("memory", "max_memory"):
            value = getattr(mc, key)
            if value is not None and value > 1 << bits:
                raise sc.error(f"machine.{key} ({value:#x}) is beyond what {profile} can address "
                               f"(MAX_PHYSMEM_BITS = {bits}: at most {(1 << bits) >> 40} TiB)", "machine", key)


def check_placement(sc: Scenario) -> None:
    """Memory writes land in memory the workload may own: not the kernel image, not a hole."""
    for ev in sc.events:
        if ev.action != "write":
            continue
        start, end = ev.addr, ev.addr + ev.length
        where = f"write [{start:#x}, {end:#x})"
        if start < IMAGE_SIZE:
            raise ScenarioError(f"{where} overlaps the running kernel's image [0, {IMAGE_SIZE:#x}); "
                                f"write at or above {IMAGE_SIZE:#x}", sc.path, ev.line)
        for hole in sc.machine.holes:
            if start < hole.end and hole.start < end:
                raise ScenarioError(f"{where} touches the hole [{hole.start:#x}, {hole.end:#x}) of machine.holes; "
                                    "write into present memory", sc.path, ev.line)


def check_timeline(sc: Scenario) -> None:
    """Each boot crashes at most once and nothing is scheduled after its end; every boot with events comes.

    Events are in (boot, at) order here. A boot after the first comes only when
    the one before ends: by a crash, a reboot, or (for a capture kernel) by
    capture.after = "reboot". Faults can crash a boot at any point, so with
    faults only the per-boot rules are checked here; the rehearsal finds the rest.
    """
    check_placement(sc)
    ends: dict[int, tuple[str, float, int | None]] = {}
    for ev in sc.events:
        end = ends.get(ev.boot)
        if end is not None:
            what, at, line = end
            if ev.action == "crash" and what == "crash":
                raise ScenarioError(f"boot {ev.boot} already crashes at {at:g}s (line {line}); a boot crashes once: "
                                    f"put this crash in a later boot (boot {ev.boot + 1} is the capture kernel)",
                                    sc.path, ev.line)
            raise ScenarioError(f"this {ev.action} event of boot {ev.boot} comes after the {what} at {at:g}s "
                                f"(line {line}) that ends that boot; move it earlier or into boot {ev.boot + 1}",
                                sc.path, ev.line)
        if ev.action in ("crash", "reboot"):
            ends[ev.boot] = (ev.action, ev.at, ev.line)
    if sc.faults:
        return
    crashed = {b for b, (what, _, _) in ends.items() if what == "crash"}
    for ev in sc.events:
        if ev.boot == 1:
            continue
        for b in range(1, ev.boot):
            capture_reboot = sc.capture_after == "reboot" and b - 1 in crashed
            if b not in ends and not capture_reboot:
                raise ScenarioError(f"this event is for boot {ev.boot}, which never comes: boot {b} neither "
                                    "crashes nor reboots (add a crash or reboot event to it)", sc.path, ev.line)

