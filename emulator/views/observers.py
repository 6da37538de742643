"""The views a caller can attach to a run's event bus (emulator.run.events), each only when asked.

``run_scenario(..., observers=[...])`` calls each observer with the run's bus
before the partition powers on:

* ``memory_maps``: memory-map snapshots before the crash, after preservation
  and in the capture kernel, into ``result.snapshots_for_map``;
* ``html_report``: those maps, and report.html written beside report.json;
* ``progress_bars``: rich bars for long copies on a terminal.

A run with no observers (check-scenario, explore, an in-memory test run) builds
none of them.
"""

from emulator.run.events import EventBus, Lifecycle
from emulator.run.outdir import write_file
from emulator.views import memmap_view
from emulator.views import progress

MOMENTS = {Lifecycle.CRASH: memmap_view.BEFORE_CRASH, Lifecycle.PRESERVED: memmap_view.AFTER_PRESERVATION,
           Lifecycle.CAPTURE: memmap_view.CAPTURE}
"""Which lifecycle event takes which memory-map snapshot."""


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

    def write(event) -> None:
        write_file(event.folder / "report.html", page.render(event.result, event.report), False)  # commit fsyncs

    bus.subscribe(Lifecycle.PUBLISH, write)


def progress_bars(bus: EventBus) -> None:
    """Bars for long copies, drawn on a terminal only (emulator.views.progress)."""
    progress.observe(bus)


FOR_OUTPUT = (html_report, progress_bars)
"""What ``fadump-emu run`` and ``test`` attach: the output folder's report.html, bars on a terminal."""
