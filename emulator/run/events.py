"""The run's event bus: lifecycle events published by the run, observed by whoever asked.

The run (emulator.run.runner) owns one EventBus and publishes on it each step of
the partition's life: a kernel boots, firmware accepts REGISTER, the partition
crashes, firmware has preserved it, the capture kernel captures and saves a
vmcore, the dump memory is released; and the spans of its timeline. Views
(memory-map snapshots, report.html, the Perfetto trace, explain's narration,
progress bars) subscribe before the run starts, and only when someone asked for
them: a run nobody observes builds none of them.

Firmware and kernels sit below the run and cannot import it; they reach the bus
through the two callables the Machine carries (``narrate`` steps, ``progress``
of long copies), which the run points at this bus.
"""

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Lifecycle(StrEnum):
    """What the run publishes, in the order a dumped partition goes through it."""

    BOOT = "boot"
    """A kernel starts (fields: kernel, capture_boot)."""
    REGISTERED = "registered"
    """Firmware accepted ibm,configure-kernel-dump REGISTER (published by the firmware through the machine)."""
    CRASH = "crash"
    """The partition is about to go down: memory as it is at the crash (fields: kernel, trigger, cpu)."""
    DUMP = "dump"
    """Firmware takes over the crashed partition to preserve it: memory is as the crash left it (fields: kernel,
    boundary: the index of the "firmware: preserving memory" lifecycle boundary)."""
    PRESERVED = "preserved"
    """Firmware preserved the partition; the memory-preserving reset follows (fields: kernel)."""
    POWER_LOSS = "power-loss"
    """Power went away during preservation: nothing survives (fields: kernel)."""
    ENDED = "ended"
    """A boot ended (fields: kernel, reason: the BootEnd or None)."""
    CAPTURE = "capture"
    """The kdump service in the capture kernel starts on /proc/vmcore (fields: kernel)."""
    SAVED = "saved"
    """A vmcore was written (fields: kernel, capture)."""
    RELEASED = "released"
    """The capture kernel released the dump memory (fields: kernel)."""
    SPAN = "span"
    """A span of the run's timeline opens, or an instant happens, in simulated seconds (fields: id, name, actor,
    start, args); published only when someone records the timeline (the trace, report.html)."""
    SPAN_END = "span-end"
    """The span ``id`` ends (fields: id, end, args: more arguments); a span never ended is an instant."""
    STEP = "step"
    """One narrated step of an actor, for explain (fields: step, a dict)."""
    PROGRESS = "progress"
    """A long operation started (fields: description, total); ``advance`` is called as bytes move."""
    PUBLISH = "publish"
    """The output folder is about to be published (fields: result, report, output: the OutputFolder): add a file
    with ``output.add_file(name, data)`` (kept from the earlier results when byte-identical: no new inode on a
    re-run), or write it into ``output.staging``."""


@dataclass
class Event:
    """One published event: its kind, the simulated time, and the fields its kind names."""

    kind: Lifecycle
    time: float
    fields: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None


Subscriber = Callable[[Event], None]


def _ignore(_: int) -> None:
    return None


class EventBus:
    """Subscribers per event kind, called in the order they subscribed; publishing to nobody costs one lookup."""

    def __init__(self, clock: Callable[[], float] = lambda: 0.0):
        self.clock = clock
        self._subscribers: dict[Lifecycle, list[Subscriber]] = {}

    def subscribe(self, kinds: Lifecycle | str | list, fn: Subscriber) -> None:
        """Call ``fn(event)`` for every event of ``kinds`` (one kind or a list of kinds)."""
        for kind in ([kinds] if isinstance(kinds, str) else kinds):
            self._subscribers.setdefault(Lifecycle(kind), []).append(fn)

    def wants(self, kind: Lifecycle) -> bool:
        """Whether anyone listens to ``kind`` (so a publisher can skip building what nobody reads)."""
        return kind in self._subscribers

    def publish(self, kind: Lifecycle, **fields) -> None:
        subscribers = self._subscribers.get(kind)
        if not subscribers:
            return
        event = Event(kind, self.clock(), fields)
        for fn in subscribers:
            fn(event)

    @contextmanager
    def progress(self, description: str, total: int):
        """A long operation: yields ``advance(nbytes)``; subscribers to PROGRESS draw it (views.progress)."""
        subscribers = self._subscribers.get(Lifecycle.PROGRESS)
        if not subscribers:
            yield _ignore
            return
        advances, ends = [], []
        event = Event(Lifecycle.PROGRESS, self.clock(), {"description": description, "total": total,
                                                         "on_advance": advances.append, "on_end": ends.append})
        for fn in subscribers:
            fn(event)
        if not advances:
            try:
                yield _ignore
            finally:
                for end in ends:
                    end()
            return

        def advance(n: int) -> None:
            for fn in advances:
                fn(n)

        try:
            yield advance
        finally:
            for end in ends:
                end()
