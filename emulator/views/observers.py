"""The views a caller can attach to a run's event bus (emulator.run.events), each only when asked.

``run_scenario(..., observers=[...])`` calls each observer with the run's bus
before the partition powers on:

* ``memory_maps``: memory-map snapshots before the crash, after preservation
  and in the capture kernel, into ``result.snapshots_for_map``;
* ``Timeline().observe``: the spans of the run's timeline, as the run publishes them;
* ``html_report``: those maps, the timeline, and report.html written beside report.json;
* ``trace.Trace().observe``: the Perfetto trace (emulator.views.trace), asked for by ``run --trace``;
* ``progress_bars``: rich bars for long copies on a terminal.

A run with no observers (check-scenario, explore, an in-memory test run) builds
none of them.
"""

from emulator.run.events import Event, EventBus, Lifecycle
from emulator.views import memmap_view
from emulator.views import progress

MOMENTS = {Lifecycle.CRASH: memmap_view.BEFORE_CRASH, Lifecycle.PRESERVED: memmap_view.AFTER_PRESERVATION,
           Lifecycle.CAPTURE: memmap_view.CAPTURE}
"""Which lifecycle event takes which memory-map snapshot."""


class Timeline:
    """Spans and instants of one run, in the order they opened, recorded from the bus.

    The run publishes each span of its life as it opens (Lifecycle.SPAN: a kernel
    boot, a crash, firmware preserving the partition, kdump saving a vmcore) and
    again when it ends (Lifecycle.SPAN_END). ``spans`` holds them as {name, actor,
    start, end, args} in simulated seconds; a span never ended is an instant (end
    None). A run nobody records publishes no span at all.
    """

    def __init__(self):
        self.spans: list[dict] = []
        self._by_id: dict[int, dict] = {}

    def observe(self, bus: EventBus) -> None:
        bus.subscribe(Lifecycle.SPAN, self._open)
        bus.subscribe(Lifecycle.SPAN_END, self._end)

    def _open(self, event: Event) -> None:
        span = {"name": event.name, "actor": event.actor, "start": event.start, "end": None,
                "args": dict(event.args)}
        self.spans.append(span)
        self._by_id[event.id] = span

    def _end(self, event: Event) -> None:
        span = self._by_id[event.id]
        span["end"] = event.end
        span["args"].update(event.args)


def memory_maps(bus: EventBus) -> None:
    """Snapshot the memory map at each of MOMENTS into the run's ``result.snapshots_for_map``."""
    def take(event) -> None:
        event.result.snapshots_for_map.append(memmap_view.snapshot(MOMENTS[event.kind], event.machine,
                                                                   event.kernel))

    bus.subscribe(list(MOMENTS), take)


def html_report(bus: EventBus) -> None:
    """report.html (emulator.views.html_report) in every published output folder, with the memory maps."""
    from emulator.views import html_report as page

    memory_maps(bus)
    timeline = Timeline()
    timeline.observe(bus)

    def write(event) -> None:
        # Through the output folder: a re-run whose page is unchanged keeps the file (and its inode).
        event.output.add_file("report.html", page.render(event.result, event.report, timeline.spans))

    bus.subscribe(Lifecycle.PUBLISH, write)


def progress_bars(bus: EventBus) -> None:
    """Bars for long copies, drawn on a terminal only (emulator.views.progress)."""
    progress.observe(bus)


FOR_OUTPUT = (html_report, progress_bars)
"""What ``fadump-emu run`` and ``test`` attach: the output folder's report.html, bars on a terminal."""
