"""``fadump-emu explain``: the run narrated step by step, structures decoded field by field.

Each step names the actor (a kernel, the hypervisor, the kdump service), the
kernel or firmware function it models with its source file, what it did and
where, and the structures it wrote as they were in RAM at that moment.
"""

import sys

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from emulator.results import RunResult


def table(name: str, value) -> Table:
    """A decoded structure as a two-column table (nested lists become one row per element)."""
    t = Table(title=name, show_header=False, title_justify="left", pad_edge=False, box=None)
    t.add_column("field", style="cyan")
    t.add_column("value")
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, list):
                for i, item in enumerate(v):
                    t.add_row(f"{k}[{i}]", _inline(item))
            else:
                t.add_row(str(k), _inline(v))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            t.add_row(f"[{i}]", _inline(item))
    return t


def _inline(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}={_inline(x)}" for k, x in v.items())
    return str(v)


def narrate(result: RunResult, console: Console | None = None, step: bool = False) -> int:
    """Print the steps of a finished run; with ``step``, wait for Enter between them. The count."""
    con = console or Console(highlight=False)
    steps = result.machine.steps
    lines = result.machine.console.lines
    li = 0
    for n, s in enumerate(steps, 1):
        while li < min(len(lines), s["console_line"]):
            con.print(f"[dim]{lines[li].render()}[/]", markup=True, highlight=False)
            li += 1
        body = [s["text"]]
        con.print(Panel("\n".join(body), title=f"[bold]{n}. {s['actor']}[/]: {s['function']}",
                        subtitle=f"{s['source']} · t={s['time']:.6f}s", title_align="left", subtitle_align="right"))
        for name, value in s["structs"].items():
            con.print(table(name, value))
        if step and sys.stdin.isatty():
            con.input("[dim]Enter for the next step[/]")
    while li < len(lines):
        con.print(f"[dim]{lines[li].render()}[/]")
        li += 1
    return len(steps)
