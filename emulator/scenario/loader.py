"""Scenario files (TOML): what machine, which kernel, what happens, what must come out.

Scenario files are data: nothing in them is executed. Every mistake is reported
as ``file:line: what is wrong`` (ScenarioError). tomllib parses; the lines come
from emulator.scenario.toml_lines, a tokenizer that keeps positions; each value is
checked for type and range by the table readers (emulator.scenario.machine_tables and .parts),
the whole by emulator.scenario.checks, and the strict model
(emulator.scenario.model) refuses whatever slips through. Hostile files are
bounded before parsing: size, nesting depth.
"""

import math
import os
import re
import stat
import tomllib
from functools import lru_cache
from pathlib import Path

from emulator.scenario import toml_lines
from emulator.errors import ScenarioError
from emulator.scenario.validated import ValidationError  # pydantic's, without importing pydantic or its core_schema
from emulator.scenario.model import (  # noqa: F401  (the names scenario users import from here)
    ACTIONS, CAPTURE_AFTER, CRASH_KINDS, DEFAULT_EPOCH, DEFAULT_RELEASES, HOTPLUG_KINDS, OUTCOMES, PAGE_KINDS,
    PROFILES, CrashSpec, Event, Expect, KernelSpec, Scenario,
)
from emulator.scenario.checks import check_memory_limit, check_name, check_timeline
from emulator.scenario.keys import names
from emulator.scenario.machine_tables import MachineTables
from emulator.scenario.parts import TimelineTables
from emulator.units import parse_size


MAX_FILE_BYTES = 4 << 20
"""A scenario is a page or two of text; anything larger is refused before parsing."""
MAX_NESTING = 16
"""A scenario nests arrays and tables a few levels deep; deeper is refused before parsing."""
MAX_SECONDS = 1e6
"""Event times are seconds of uptime: up to about eleven days."""
MEMO_TEXT_BYTES = 64 << 10
"""Texts up to this size have their line scans remembered (a few hundred of them at most)."""


def locate_lines(text: str) -> dict[tuple, int]:
    """Map key paths to the line that writes them (tables, arrays of tables, keys, array items)."""
    return dict(_key_lines(text) if len(text) <= MEMO_TEXT_BYTES else toml_lines.key_lines(text))


@lru_cache(maxsize=256)
def _key_lines(text: str) -> dict[tuple, int]:
    """toml_lines.key_lines once per text in a process (a worker loads the same scenario for every run of a sweep);
    callers get copies."""
    return toml_lines.key_lines(text)


@lru_cache(maxsize=256)
def _nesting(text: str) -> tuple[int, int]:
    return toml_lines.nesting(text)


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raises ScenarioError on any mistake."""
    path = str(path)
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise ScenarioError("is a folder, not a scenario file", path)
        if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block or never end
            raise ScenarioError("is not a regular file (a pipe or a device?); give a scenario file", path)
        if st.st_size > MAX_FILE_BYTES:
            raise ScenarioError(f"the file is larger than {MAX_FILE_BYTES >> 20} MiB; a scenario is a short "
                                "TOML file", path)
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("no such scenario file or bundled scenario; `fadump-emu run --list` lists the bundled "
                            "ones (run one by name: fadump-emu run basic-panic)", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the file ({exc})", path) from None
    return loads(text, path)


def loads(text: str, path: str = "<scenario>") -> Scenario:
    """Parse scenario text (see load)."""
    depth, line = _nesting(text) if len(text) <= MEMO_TEXT_BYTES else toml_lines.nesting(text)
    if depth > MAX_NESTING:
        raise ScenarioError(f"arrays or tables nested {depth} deep; a scenario needs only a few levels "
                            f"(at most {MAX_NESTING})", path, line)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ScenarioError(f"not valid TOML: {reason}", path, int(m.group(1)) if m else 1) from None
    except (RecursionError, MemoryError, ValueError) as exc:  # ValueError: an integer with too many digits
        raise ScenarioError(f"not valid TOML: {type(exc).__name__}: {str(exc)[:120]}", path, 1) from None
    sc = Scenario(path=path, name=Path(path).stem, lines=locate_lines(text))
    _Reader(sc).read_all(doc)
    return sc


def from_document(doc: dict, name: str = "api") -> Scenario:
    """A scenario from a dict shaped like the TOML file (what emulator.api builds); same checks."""
    sc = Scenario(path=f"<{name}>", name=name)
    _Reader(sc).read_all(doc)
    return sc


class _Reader(MachineTables, TimelineTables):
    """Turns the parsed TOML document into a Scenario, table by table."""

    def __init__(self, sc: Scenario):
        self.sc = sc
        self.at: tuple = ()
        """The key path being read (for the line of an unexpected error)."""

    def read_all(self, doc: dict) -> None:
        """read(), with a last line of defence: any slip of a check becomes a located ScenarioError."""
        try:
            self.read(doc)
        except ScenarioError:
            raise
        except ValidationError as exc:  # the strict model refused a value the readers let through
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "value"
            raise ScenarioError(f"{field}: {first['msg'].lower()} (got {_show(first.get('input'))})", self.sc.path,
                                self.sc.line_of(*self.at) or 1) from None
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError, IndexError, RecursionError,
                MemoryError) as exc:
            raise ScenarioError(f"cannot use this value ({type(exc).__name__}: {str(exc)[:160]}); see the "
                                "scenario format in README.md", self.sc.path, self.sc.line_of(*self.at) or 1) \
                from None

    def keys(self, table: dict, allowed: set[str], *path) -> None:
        self.table(table, "[" + ".".join(str(p) for p in path) + "]" if path else "the document", *path)
        for key in table:
            if key not in allowed:
                where = "[" + ".".join(str(p) for p in path) + "]" if path else "the top level"
                known = ", ".join(sorted(allowed))
                raise self.sc.error(f"unknown key {_show(key)} in {where}; known keys: {known}", *path, key)

    def table(self, value, what: str, *path) -> dict:
        """A TOML table (``[name]`` or ``{ ... }``) where one belongs."""
        self.at = path
        if not isinstance(value, dict):
            raise self.sc.error(f"{what} must be a table (a [section] or {{ key = value, ... }}), "
                                f"not {_kind(value)} {_show(value)}", *path)
        return value

    def choice(self, value, choices, message: str, *path) -> str:
        """A string from a fixed set (anything else, of any type, is refused with ``message``)."""
        self.at = path
        if not isinstance(value, str) or value not in choices:
            shown = _show(value)
            raise self.sc.error(message.replace("{got}", shown) if "{got}" in message else f"{message} (got {shown})",
                                *path)
        return value

    def conv(self, fn, value, what: str, *path):
        self.at = path
        try:
            return fn(value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise self.sc.error(f"{what}: {exc}", *path) from None

    def size(self, value, what: str, *path, limit: int = 1 << 64) -> int:
        """A byte count or address below ``limit`` (2^64 unless a tighter bound applies)."""
        n = self.conv(parse_size, value, what, *path)
        if n >= limit:
            if limit == 1 << 64:
                raise self.sc.error(f"{what} does not fit in 64 bits (got {_show(value)})", *path)
            raise self.sc.error(f"{what} {_show(value)} is too large: it must be below {limit:#x}", *path)
        return n

    def typed(self, value, kind, what: str, *path):
        self.at = path
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = " or ".join(_kind(k) for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise self.sc.error(f"{what} must be {names}, not {_kind(value)} {_show(value)}", *path)
        return value

    def read(self, doc: dict) -> None:
        sc = self.sc
        self.keys(doc, names("top"))
        sc.name = self.typed(doc.get("name", sc.name), str, "name", "name")
        check_name(sc)
        sc.description = self.typed(doc.get("description", ""), str, "description", "description")
        self.machine(self.table(doc.get("machine", {}), "[machine]", "machine"))
        self.kernel(self.table(doc.get("kernel", {}), "[kernel]", "kernel"))
        check_memory_limit(sc)
        self.cpus(doc.get("cpu", {}))
        memory = self.table(doc.get("memory", {}), "[memory]", "memory")
        self.keys(memory, names("memory"), "memory")
        writes = self.typed(memory.get("write", []), list, "[[memory.write]]", "memory", "write")
        for i, w in enumerate(writes):
            sc.events.append(self.write(self.table(w, "a [[memory.write]] entry", "memory", "write", i),
                                        "memory", "write", i))
        if "crash" in doc:
            t = self.table(doc["crash"], "[crash]", "crash")
            crash = self.crash(t, "crash", allow_time=True)
            sc.events.append(Event("crash", self.int_(t.get("boot", 1), "crash.boot", "crash", "boot", lo=1, hi=1000),
                                   self.seconds(t.get("at", "30s"), "crash", "at"), sc.line_of("crash"),
                                   crash=crash))
        for i, e in enumerate(self.typed(doc.get("events", []), list, "[[events]]", "events")):
            sc.events.append(self.event(e, i))
        for i, f in enumerate(self.typed(doc.get("faults", []), list, "[[faults]]", "faults")):
            sc.faults.append(self.fault(f, "faults", i))
        self.capture(self.table(doc.get("capture", {}), "[capture]", "capture"))
        self.expect(self.table(doc.get("expect", {}), "[expect]", "expect"))
        self.check_events()
        check_timeline(sc)

    def int_(self, value, what, *path, lo: int = 0, hi: int = 1 << 63) -> int:
        """An integer (booleans are not) from ``lo`` up to, not including, ``hi``."""
        n = self.typed(value, int, what, *path)
        if n < lo:
            raise self.sc.error(f"{what} must be at least {lo}, not {n}", *path)
        if n >= hi:
            raise self.sc.error(f"{what} must be at most {hi - 1}, not {n}", *path)
        return n

    def seconds(self, value, *path) -> float:
        """A time of uptime: a number or "30s" / "250ms"; finite, not negative, at most MAX_SECONDS."""
        self.at = path
        hint = "write e.g. \"30s\", \"250ms\" or 12.5"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            t = float(value)
        else:
            m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(ms|s)?\s*", value) if isinstance(value, str) \
                else None
            if not m:
                raise self.sc.error(f"cannot read {_show(value)} as a time; {hint}", *path)
            t = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
        if not math.isfinite(t) or t < 0 or t > MAX_SECONDS:
            raise self.sc.error(f"time {_show(value)} must be a finite number of seconds from 0 up to "
                                f"{MAX_SECONDS:g}; {hint}", *path)
        return t


def _kind(value) -> str:
    """What a value (or a type) is, in TOML's words."""
    kind = value if isinstance(value, type) else type(value)
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(kind, kind.__name__)


def _show(value) -> str:
    """A value as the message shows it: repr, cut short (a hostile value can be huge)."""
    if isinstance(value, (list, dict)):
        text = "[...]" if isinstance(value, list) else "{...}"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
