"""Scenario files (TOML): what machine, which kernel, what happens, what must come out.

Scenario files are data: nothing in them is executed. Every mistake is reported
as ``file:line: what is wrong`` (ScenarioError), with the line found by
scanning the file, since tomllib does not keep positions.
"""

import re
import tomllib
from pathlib import Path

from emulator.errors import ScenarioError
from emulator.scenario_model import (  # noqa: F401  (the names scenario users import from here)
    ACTIONS, CAPTURE_AFTER, CRASH_KINDS, DEFAULT_EPOCH, DEFAULT_RELEASES, HOTPLUG_KINDS, OUTCOMES, PAGE_KINDS,
    PROFILES, CrashSpec, Event, Expect, KernelSpec, Scenario,
)
from emulator.scenario_parts import MachineTables, TimelineTables


def locate_lines(text: str) -> dict[tuple, int]:
    """Map key paths to the line that writes them (tables, arrays of tables, keys)."""
    lines: dict[tuple, int] = {}
    counters: dict[tuple, int] = {}
    current: tuple = ()
    header = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    keyline = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")
    for no, raw in enumerate(text.splitlines(), 1):
        m = header.match(raw)
        if m:
            parts = tuple(p.strip().strip("\"'") for p in m.group(2).split("."))
            resolved: tuple = ()
            for p in parts[:-1]:
                resolved += (p,)
                if resolved in counters:
                    resolved += (counters[resolved],)
            resolved += (parts[-1],)
            if m.group(1) == "[[":
                counters[resolved] = counters.get(resolved, -1) + 1
                lines.setdefault(resolved, no)
                resolved += (counters[resolved],)
            current = resolved
            for depth in range(1, len(current) + 1):  # [a.b.c] also opens [a] and [a.b]
                lines.setdefault(current[:depth], no)
            continue
        k = keyline.match(raw)
        if k:
            key = tuple(p.strip().strip("\"'") for p in k.group(1).split("."))
            lines.setdefault(current + key, no)
    return lines


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raises ScenarioError on any mistake."""
    path = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ScenarioError("no such scenario file; the bundled ones are in scenarios/", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the file ({exc})", path) from None
    return loads(text, path)


def loads(text: str, path: str = "<scenario>") -> Scenario:
    """Parse scenario text (see load)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ScenarioError(f"not valid TOML: {reason}", path, int(m.group(1)) if m else None) from None
    sc = Scenario(path=path, name=Path(path).stem, lines=locate_lines(text))
    _Reader(sc).read(doc)
    return sc


def from_document(doc: dict, name: str = "api") -> Scenario:
    """A scenario from a dict shaped like the TOML file (what emulator.api builds); same checks."""
    sc = Scenario(path=f"<{name}>", name=name)
    _Reader(sc).read(doc)
    return sc


class _Reader(MachineTables, TimelineTables):
    """Turns the parsed TOML document into a Scenario, table by table."""

    def __init__(self, sc: Scenario):
        self.sc = sc

    def keys(self, table: dict, allowed: set[str], *path) -> None:
        for key in table:
            if key not in allowed:
                where = "[" + ".".join(str(p) for p in path) + "]" if path else "the top level"
                known = ", ".join(sorted(allowed))
                raise self.sc.error(f"unknown key '{key}' in {where}; known keys: {known}", *path, key)

    def conv(self, fn, value, what: str, *path):
        try:
            return fn(value)
        except (ValueError, TypeError) as exc:
            raise self.sc.error(f"{what}: {exc}", *path) from None

    def typed(self, value, kind, what: str, *path):
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.sc.error(f"{what} must be a {names}, not {value!r}", *path)
        return value

    def read(self, doc: dict) -> None:
        sc = self.sc
        self.keys(doc, {"name", "description", "machine", "kernel", "memory", "crash", "cpu", "events",
                        "capture", "expect", "faults"})
        sc.name = self.typed(doc.get("name", sc.name), str, "name", "name")
        sc.description = self.typed(doc.get("description", ""), str, "description", "description")
        self.machine(doc.get("machine", {}))
        self.kernel(doc.get("kernel", {}))
        self.cpus(doc.get("cpu", {}))
        for i, w in enumerate(doc.get("memory", {}).get("write", [])):
            sc.events.append(self.write(w, "memory", "write", i))
        self.keys(doc.get("memory", {}), {"write"}, "memory")
        if "crash" in doc:
            crash = self.crash(doc["crash"], "crash", allow_time=True)
            t = doc["crash"]
            sc.events.append(Event("crash", self.int_(t.get("boot", 1), "crash.boot", "crash", "boot"),
                                   self.seconds(t.get("at", "30s"), "crash", "at"), sc.line_of("crash"),
                                   crash=crash))
        for i, e in enumerate(doc.get("events", [])):
            sc.events.append(self.event(e, i))
        for i, f in enumerate(self.typed(doc.get("faults", []), list, "[[faults]]", "faults")):
            sc.faults.append(self.fault(f, "faults", i))
        self.capture(doc.get("capture", {}))
        self.expect(doc.get("expect", {}))
        self.check_events()

    def int_(self, value, what, *path) -> int:
        return self.typed(value, int, what, *path)

    def seconds(self, value, *path) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s)?\s*", str(value))
        if not m:
            raise self.sc.error(f"cannot read {value!r} as a time; write e.g. \"30s\", \"250ms\" or 12.5", *path)
        return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
