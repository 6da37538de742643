"""What a run produces: its result, each capture, and host-time accounting.

A RunResult holds data, not live objects: the Machine and the kernels stay with
the Run (emulator.run.runner); what is left of the partition when the run ends
is frozen into ``partition`` (emulator.run.partition_record).
"""

import time
from dataclasses import dataclass, field

from emulator.run.partition_record import PartitionRecord
from emulator.scenario.loader import Scenario
from emulator.scenario.model import Outcome


@dataclass
class Capture:
    """One capture kernel's result."""

    boot: int
    path: str | None = None
    size: int = 0
    disk_bytes: int = 0
    verification: dict | None = None
    notes: list[dict] = field(default_factory=list)
    rejected: bool = False
    format: str = ""
    format_reason: str = ""
    file_size: int = 0
    save_error: str = ""
    samples: list[tuple[int, bytes, bytes | None]] = field(default_factory=list)
    """(paddr, expected, what /proc/vmcore held there or None) for the scenario's memory samples."""
    expected_regs: dict[int, dict[str, int]] = field(default_factory=dict)
    """Per online CPU, what its note should hold (from the crash this capture follows)."""


@dataclass
class RunResult:
    scenario: Scenario
    outcome: Outcome = Outcome.NONE
    crashes: list[dict] = field(default_factory=list)
    captures: list[Capture] = field(default_factory=list)
    sysfs: list[dict] = field(default_factory=list)
    sysfs_state: dict[int, dict[str, str | None]] = field(default_factory=dict)
    hotplug: list[dict] = field(default_factory=list)
    partition: PartitionRecord | None = None
    """The partition as the run left it: console, RTAS calls, firmware, CPUs, RAM (set when the run ends)."""
    snapshots_for_map: list = field(default_factory=list)
    """Memory maps before each crash, after preservation and in the capture kernel (emulator.views.memmap_view)."""
    boundaries: list[str] = field(default_factory=list)
    """Every point between lifecycle steps the run passed, in order (explore injects at these)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Host wall-clock seconds spent in each phase (snapshot, preserve, verify, export)."""
    expectations: list[dict] = field(default_factory=list)
    report: dict | None = None
    """report.json as written (emulator.run.runner.publish)."""

    @property
    def ok(self) -> bool:
        """Whether every expectation held (as report.json's "ok")."""
        if self.report is not None:
            return bool(self.report["ok"])
        return all(e["ok"] for e in self.expectations)

    @property
    def vmcore_path(self) -> str | None:
        """The first saved vmcore's path (in the output folder), or None when nothing was saved."""
        return next((c.path for c in self.captures if c.path and not c.rejected), None)

    def timed(self, phase: str):
        return _Timer(self.timings, phase)


class _Timer:
    """Adds the wall time of a with-block to timings[phase]."""

    def __init__(self, timings: dict[str, float], phase: str):
        self.timings, self.phase = timings, phase

    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        self.timings[self.phase] = self.timings.get(self.phase, 0.0) + time.perf_counter() - self.start
