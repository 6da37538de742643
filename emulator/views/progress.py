"""Progress bars for long operations: shown on a terminal, silent otherwise."""

import sys
from contextlib import contextmanager

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
