"""What a scenario says: its data model and the names it may use.

The model is dataclasses validated by pydantic (v2) in strict mode, on creation
and on every assignment: whatever the readers in emulator.scenario.parts (and .machine_tables) let
through, a value of the wrong type (a boolean for a CPU number, a string for a
size) cannot enter a Scenario; the reader turns such a ValidationError into a
located ``file:line`` ScenarioError. ``json_schema()`` describes the model.
The validators are pydantic's, built once and cached beside the bytecode
(emulator.scenario.validated), so a run does not import pydantic itself.

The file format is read by emulator.scenario; emulator.api builds the same
documents from Python.
"""

from enum import StrEnum
from dataclasses import field

from emulator.errors import ScenarioError
from emulator.scenario.validated import ValidatedModels
from emulator.scenario.faults import Fault
from emulator.hw.layout import Range
from firmware.machine import MachineConfig
from kernels.crash import CrashKind
from kernels.versions import VERSIONS

PROFILES = tuple(VERSIONS)
DEFAULT_RELEASES = {name: v.release for name, v in VERSIONS.items()}
HASH_ONLY_PROFILES = ("linux-3.4",)
"""Kernels older than the radix MMU (4.7): machine.mmu = "radix" cannot boot them."""
MAX_NR_CPUS = 8192
"""The largest CONFIG_NR_CPUS ppc64 accepts (arch/powerpc/platforms/Kconfig.cputype: range 2 8192 on PPC_BOOK3S_64)."""


class Outcome(StrEnum):
    """What a run ends with (report.json "outcome", [expect] outcome)."""

    VMCORE = "vmcore"
    NO_DUMP = "no-dump"
    DUMP_REJECTED = "dump-rejected"
    FALLBACK = "fallback"
    CAPTURE_FAILED = "capture-failed"
    NONE = "none"


class Action(StrEnum):
    """What an [[events]] entry does."""

    WRITE = "write"
    SYSFS = "sysfs"
    CRASH = "crash"
    HOTPLUG = "hotplug"
    REBOOT = "reboot"
    CAPTURE = "capture"


CRASH_KINDS = tuple(k.value for k in CrashKind)
CRASH_KIND_USES = {
    "panic": ("regs", "message"),
    "sysrq": ("regs",),
    "oops": ("regs",),
    "system-reset": ("regs", "stuck_cpus"),
    "hypervisor": (),
}
"""Which [crash] keys each crash kind uses (kernels.crash): panic() prints the message; sysrq and oops print
their own; only system_reset_exception() waits for stuck CPUs; a hypervisor termination runs no kernel code,
so firmware saves the CPUs' live registers ([cpu.N] regs). The reader refuses a key its kind would ignore."""
OUTCOME_MEANINGS = {
    "vmcore": "firmware preserved the crash and the capture kernel saved a vmcore",
    "no-dump": "firmware did not preserve the crash (fadump not registered, or power lost during the copy)",
    "dump-rejected": "firmware preserved memory but the capture kernel refused the dump (no /proc/vmcore)",
    "fallback": "fadump was off and kdump's crashkernel= reservation takes the dump instead",
    "capture-failed": "the capture kernel could not save the vmcore (disk full, or it crashed first)",
    "none": "no crash happened: the scenario ends with the partition running",
}
"""What each expect.outcome means (emulator.run.runner.Run.outcome decides which one a run has)."""
OUTCOMES = tuple(o.value for o in Outcome)
CAPTURE_AFTER = ("release", "release-and-register", "reboot", "stay")
ACTIONS = tuple(a.value for a in Action)
PAGE_KINDS = ("kernel", "slab", "cache", "user", "free")
HOTPLUG_KINDS = ("memory-add", "memory-remove", "cpu-online", "cpu-offline")
DEFAULT_EPOCH = 1_767_225_600
"""CRASHTIME base: 2026-01-01T00:00:00Z, so runs are reproducible."""

MODEL_CONFIG = {"strict": True, "validate_assignment": True, "arbitrary_types_allowed": True}
"""pydantic's ConfigDict for the model (a plain dict: ConfigDict is a TypedDict, importing it imports pydantic)."""
MODELS = ValidatedModels(__name__, MODEL_CONFIG)


def dataclass(cls):
    """A strict dataclass validated by pydantic: types checked on creation and on every assignment."""
    return MODELS.dataclass(cls)


@dataclass
class KernelSpec:
    profile: str = "linux-3.4"
    cmdline: str = "root=/dev/sda2 fadump=on"
    capture_cmdline: str | None = None
    capture_profile: str | None = None
    """The capture kernel's generation, when it differs from the crashed kernel's."""
    osrelease: str | None = None
    """The first kernel's release (default: per profile, e.g. "6.10.0-fadump-emu")."""
    capture_osrelease: str | None = None

    def release(self, profile: str, capture: bool) -> str:
        """The release string of the kernel booted with ``profile``."""
        given = self.capture_osrelease if capture else self.osrelease
        if given:
            return given
        if capture and profile == self.profile and self.osrelease:
            return self.osrelease
        return DEFAULT_RELEASES[profile]
    epoch: int = DEFAULT_EPOCH
    nr_cpus: int | None = None
    """CONFIG_NR_CPUS of both kernels (sizes struct cpumask, hence the crash info header and the metadata);
    None: each profile's pseries defconfig value (kernels.versions)."""
    note_pids: str = "zero"
    """"zero" as fadump writes pr_pid, or "cpu" (pid = cpu + 1) so gdb shows every CPU as a thread."""


@dataclass
class CrashSpec:
    cpu: int = 0
    kind: str = "panic"
    message: str = "fadump-emu: scripted crash"
    regs: dict[str, int] = field(default_factory=dict)
    stuck_cpus: list[int] = field(default_factory=list)
    """CPUs that never answer a system reset (the crashing CPU then waits 500 ms)."""


@dataclass
class Event:
    """One timeline entry: at ``at`` seconds of uptime of boot number ``boot``."""

    action: str
    boot: int
    at: float
    line: int | None
    addr: int = 0
    data: bytes = b""
    repeat: int = 1
    """A write stores ``data`` this many times in a row (kept as one copy: the pattern, not its expansion)."""
    path: str = ""
    value: str = ""
    kind: str = ""
    cpu: int = 0
    crash: CrashSpec | None = None

    @property
    def length(self) -> int:
        """How many bytes a write stores: ``data`` ``repeat`` times."""
        return len(self.data) * self.repeat


@dataclass
class Expect:
    outcome: str | None = None
    console: list[str] = field(default_factory=list)
    no_console: list[str] = field(default_factory=list)
    complete: bool = True
    """Whether every captured vmcore must match crash-time memory exactly."""
    missing: list[Range] = field(default_factory=list)
    """Crash-time memory the (first) vmcore must be missing, exactly."""
    bogus: list[Range] = field(default_factory=list)
    registers: list[tuple[int, str, int, int | None]] = field(default_factory=list)
    """(cpu, register, value, line): what the first vmcore's note for that CPU must hold."""
    memory: list[tuple[int, bytes, int | None]] = field(default_factory=list)
    """(physical address, bytes, line): what the first vmcore must hold there."""
    sysfs: list[tuple[int, str, str, int | None]] = field(default_factory=list)
    """(boot, path, text, line): what a sysfs/debugfs file reads once that boot is up."""


@dataclass
class Scenario:
    path: str
    name: str
    description: str = ""
    machine: MachineConfig = field(default_factory=MachineConfig)
    kernel: KernelSpec = field(default_factory=KernelSpec)
    events: list[Event] = field(default_factory=list)
    cpu_regs: dict[int, dict[str, int]] = field(default_factory=dict)
    capture_after: str = "release"
    capture_save: bool = True
    capture_tool: str = "cp"
    """"cp" copies /proc/vmcore; "makedumpfile" filters it as kdump-utils does."""
    expect: Expect = field(default_factory=Expect)
    faults: list[Fault] = field(default_factory=list)
    lines: dict[tuple, int] = field(default_factory=dict)

    def line_of(self, *path) -> int | None:
        """The line where ``path`` (or its nearest enclosing table) was written."""
        for n in range(len(path), 0, -1):
            if tuple(path[:n]) in self.lines:
                return self.lines[tuple(path[:n])]
        return None

    def capture_names(self) -> tuple[str, ...]:
        """The file names capture events save to (checked to be plain names inside the output folder)."""
        return tuple(e.path for e in self.events if e.action == "capture" and e.path)

    def error(self, message: str, *path) -> ScenarioError:
        return ScenarioError(message, self.path, self.line_of(*path))


def json_schema() -> dict:
    """The JSON Schema of the scenario model (what a validated scenario holds)."""
    from pydantic import TypeAdapter

    return TypeAdapter(Scenario).json_schema()
