"""``fadump-emu explain``: the run narrated step by step, structures decoded field by field.

Each step names the actor (a kernel, the hypervisor, the kdump service), the
kernel or firmware function it models with its source file, what it did and
where, and the structures it wrote as they were in RAM at that moment.
"""

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from emulator.run.events import Lifecycle
from emulator.views import progress


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


class StopNarration(Exception):
    """The reader typed q (or closed stdin) at a --step prompt."""


HELP = "Enter: next step · m ADDR LEN: memory now (hex) · q: quit"
MAX_DUMP = 4096


def hexdump(data: bytes, addr: int) -> str:
    rows = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        rows.append(f"{addr + off:#018x}  {chunk.hex(' '):<47}  {text}")
    return "\n".join(rows)


class Narrator:
    """Prints each step as the run records it, the console lines before it, and (with ``step``) waits."""

    def __init__(self, machine, console: Console, step: bool = False, read=input):
        self.m, self.con, self.step, self.read = machine, console, step, read
        self.printed = 0
        self.count = 0

    def lines_until(self, end: int) -> None:
        lines = self.m.console.lines
        while self.printed < min(len(lines), end):
            self.con.print(f"[dim]{escape(lines[self.printed].render())}[/]", soft_wrap=True)
            self.printed += 1

    def on_step(self, s: dict) -> None:
        self.lines_until(s["console_line"])
        self.count += 1
        stamp = f"[{s['uptime']:12.6f}]"
        self.con.print(Panel(escape(s["text"]), title=f"[bold]{self.count}. {escape(s['actor'])}[/]: "
                                                      f"{escape(s['function'])}",
                             subtitle=f"{escape(s['source'])} · boot {s['boot']} · uptime {escape(stamp)}",
                             title_align="left", subtitle_align="right"))
        for name, value in s["structs"].items():
            self.con.print(table(name, value))
        if self.step:
            self.prompt()

    def prompt(self) -> None:
        """Wait for Enter; ``m ADDR LEN`` shows memory as it is at this step; q or end of input stops."""
        while True:
            try:
                answer = self.read(f"{HELP} > ").strip()
            except EOFError:
                raise StopNarration() from None
            if answer in ("q", "quit", "exit"):
                raise StopNarration()
            if not answer:
                return
            words = answer.split()
            if words[0] == "m" and len(words) == 3:
                try:
                    addr, length = int(words[1], 0), int(words[2], 0)
                except ValueError:
                    self.con.print(f"not numbers: {escape(answer)} (m 0x4100000 64)")
                    continue
                if not 0 < length <= MAX_DUMP or addr < 0 or addr + length > self.m.ram.size:
                    self.con.print(f"m ADDR LEN: LEN 1..{MAX_DUMP}, inside [0, {self.m.ram.size:#x})")
                    continue
                self.con.print(hexdump(self.m.ram.read(addr, length), addr), markup=False, highlight=False)
                continue
            self.con.print(HELP)

    def finish(self) -> None:
        self.lines_until(len(self.m.console.lines))


def explain(scenario, console: Console | None = None, step: bool = False, read=input,
            as_json: bool = False) -> int:
    """Run ``scenario`` exactly as ``run`` does (into a temporary folder) and narrate it live."""
    import json
    import shutil
    import tempfile

    from emulator.run.runner import Run, publish

    con = console or Console(highlight=False)
    run = Run(scenario, None, observers=[progress.observe])
    steps: list[dict] = []
    run.bus.subscribe(Lifecycle.STEP, lambda event: steps.append(event.step))
    narrator = None
    if not as_json:
        narrator = Narrator(run.machine, con, step, read)
        run.bus.subscribe(Lifecycle.STEP, lambda event: narrator.on_step(event.step))
    tmp = tempfile.mkdtemp(prefix="fadump-emu-explain.")
    try:
        result = publish(run, str(Path(tmp) / "out"))
    except StopNarration:
        con.print("[dim](stopped)[/]")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if as_json:
        print(json.dumps(steps, indent=2))
        return 0
    narrator.finish()
    con.print(f"[bold]outcome[/] {escape(str(result.outcome))}: {len(steps)} steps")
    return 0
