"""The partition console: what the kernels print, timestamped like dmesg."""

import sys
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class ConsoleLine:
    """One line; ``stamp`` is the kernel's uptime (or partition time for firmware)."""

    time: float
    stamp: float
    source: str
    text: str
    boot: int

    def render(self) -> str:
        return f"[{self.stamp:12.6f}] {self.text}"


class Console:
    """Collects every console line; optionally echoes each one as it is printed."""

    def __init__(self, echo: TextIO | None = None):
        self.lines: list[ConsoleLine] = []
        self.echo = echo

    def emit(self, time: float, stamp: float, source: str, text: str, boot: int) -> ConsoleLine:
        line = ConsoleLine(time, stamp, source, text, boot)
        self.lines.append(line)
        if self.echo is not None:
            print(line.render(), file=self.echo)
            if self.echo is sys.stdout:
                sys.stdout.flush()
        return line

    def text(self) -> str:
        """The whole console as console.log holds it."""
        return "".join(line.render() + "\n" for line in self.lines)

    def contains(self, needle: str) -> bool:
        return any(needle in line.text for line in self.lines)
