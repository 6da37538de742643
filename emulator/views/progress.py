"""Progress bars for long operations: shown on a terminal, silent otherwise.

The run publishes each long operation on its event bus (Lifecycle.PROGRESS:
firmware copying boot memory, the kdump service saving and verifying a vmcore);
``observe`` subscribes a bar drawer. Whether to draw is decided here, never by
firmware or the run.
"""

import sys
from contextlib import contextmanager

from emulator.run.events import EventBus, Lifecycle

THRESHOLD = 1 << 30
"""Operations moving less than this finish too fast to be worth a bar."""


@contextmanager
def bar(description: str, total: int, enabled: bool | None = None):
    """Yield an ``advance(nbytes)`` callable; draws a rich bar only on a terminal for big jobs."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total < THRESHOLD:
        yield lambda n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                  TransferSpeedColumn(), TimeRemainingColumn(), transient=True,
                  console=__import__("rich.console").console.Console(stderr=True)) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


def observe(bus: EventBus, enabled: bool | None = None) -> None:
    """Draw a bar for each long operation published on ``bus`` (on a terminal, or as ``enabled`` says)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return

    def on_progress(event) -> None:
        if event.total < THRESHOLD:
            return
        drawn = bar(event.description, event.total, enabled=True)
        event.on_advance(drawn.__enter__())
        event.on_end(lambda: drawn.__exit__(None, None, None))

    bus.subscribe(Lifecycle.PROGRESS, on_progress)
