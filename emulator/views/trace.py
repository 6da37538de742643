"""A run as a Chrome trace-event file, for Perfetto (ui.perfetto.dev) or chrome://tracing.

One process (the partition) with one track per actor of the run's timeline:
each kernel boot, every CPU (its state at power-on, hotplug, its crash), PHYP (the hypervisor), kdump, and an
RTAS track with every call the kernels made. Spans become complete events
("X"), instants and console lines instant events ("i"); times are microseconds
of simulated partition time. Format: the Trace Event Format document
(JSON object form, ``traceEvents`` plus metadata events ``process_name`` and
``thread_name``).

A Trace is an observer: asked for (``fadump-emu run --trace``), it subscribes to
the run's event bus before the partition powers on and records the timeline's
spans as the run publishes them (emulator.views.observers.Timeline); the console lines,
RTAS calls, CPUs and hotplug events it adds come from the result's frozen data
(RunResult.partition). A run without a Trace publishes no span.
"""

import json
import re

from emulator.run.events import EventBus
from emulator.views.observers import Timeline
from firmware.abi import DumpCommand, RtasStatus

PID = 1
"""The partition's process id in the trace (there is only one)."""
RTAS_TRACK = "RTAS"
US = 1_000_000
"""Microseconds per simulated second."""


def track_of_source(source: str) -> str:
    """The track of a console line: kernelN and userN lines belong to kernel N."""
    m = re.fullmatch(r"(?:kernel|user)(\d+)", source)
    return f"kernel {m.group(1)}" if m else source


def sort_key(track: str) -> tuple:
    """Kernels first in boot order, then CPUs, the hypervisor, RTAS, kdump, anything else."""
    kind, _, number = track.partition(" ")
    groups = {"kernel": 0, "cpu": 1, "PHYP": 2, "QEMU": 2, RTAS_TRACK: 3, "kdump": 4}
    return (groups.get(kind, 5), int(number) if number.isdigit() else 0, track)


def rtas_name(call) -> str:
    """"ibm,configure-kernel-dump REGISTER" for the dump call, the plain call name otherwise."""
    if call.name == "ibm,configure-kernel-dump" and call.args:
        try:
            return f"{call.name} {DumpCommand(int(call.args[0])).name}"
        except ValueError:
            pass
    return call.name


def rtas_status(status) -> str:
    if status is None:
        return "did not return"
    try:
        return f"{int(status)} ({RtasStatus(status).name})"
    except ValueError:
        return str(int(status))


class Trace:
    """The trace of one run: ``observe`` before the run (an observer), ``events``/``export`` after it."""

    def __init__(self):
        self.timeline = Timeline()

    def observe(self, bus: EventBus) -> None:
        self.timeline.observe(bus)

    def events(self, result) -> list[dict]:
        return events(result, self.timeline.spans)

    def export(self, result, path: str) -> None:
        """Write the trace of ``result`` to ``path`` (loads with json.load; opens in Perfetto)."""
        export(result, self.timeline.spans, path)


def events(result, spans: list[dict]) -> list[dict]:
    """Every trace event of ``result`` (a RunResult) and its timeline ``spans``, metadata first."""
    body = []
    for span in spans:
        ev = {"name": span["name"], "pid": PID, "track": span["actor"], "ts": span["start"] * US,
              "args": {k: _plain(v) for k, v in span["args"].items()}}
        if span["end"] is None:
            ev.update(ph="i", s="t")
        else:
            ev.update(ph="X", dur=max(0.0, span["end"] - span["start"]) * US)
        body.append(ev)
    for cpu in result.partition.cpus:  # one track per CPU, as the tutorial promises, even for CPUs that never crash
        start = result.scenario.machine.online_cpus
        online = start is None or cpu.id in start
        body.append({"name": f"CPU {cpu.id} {'online' if online else 'offline'} at power-on", "ph": "i", "s": "t",
                     "pid": PID, "track": f"cpu {cpu.id}", "ts": 0.0, "args": {}})
    for ev in result.hotplug:
        if ev["kind"].startswith("cpu-") and ev.get("time") is not None:
            body.append({"name": f"{ev['kind']} ({'done' if ev['ok'] else 'refused'})", "ph": "i", "s": "t",
                         "pid": PID, "track": f"cpu {ev['cpu']}", "ts": ev["time"] * US, "args": {}})
    for call in result.partition.rtas_calls:
        body.append({"name": rtas_name(call), "ph": "i", "s": "t", "pid": PID, "track": RTAS_TRACK,
                     "ts": call.time * US, "args": {"args": [f"{int(a):#x}" for a in call.args],
                                                    "status": rtas_status(call.status)}})
    for line in result.partition.console.lines:
        body.append({"name": line.text[:80], "ph": "i", "s": "t", "pid": PID, "track": track_of_source(line.source),
                     "ts": line.time * US, "args": {"text": line.text, "stamp": f"[{line.stamp:12.6f}]"}})
    tracks = sorted({ev["track"] for ev in body}, key=sort_key)
    tid = {name: i + 1 for i, name in enumerate(tracks)}
    meta = [{"name": "process_name", "ph": "M", "pid": PID, "tid": 0,
             "args": {"name": f"partition: {result.scenario.name}"}}]
    for name in tracks:
        meta.append({"name": "thread_name", "ph": "M", "pid": PID, "tid": tid[name], "args": {"name": name}})
        meta.append({"name": "thread_sort_index", "ph": "M", "pid": PID, "tid": tid[name],
                     "args": {"sort_index": tid[name]}})
    for ev in body:
        ev["tid"] = tid[ev.pop("track")]
    body.sort(key=lambda ev: ev["ts"])
    return meta + body


def _plain(value):
    """A JSON-safe form of a span argument."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def export(result, spans: list[dict], path: str) -> None:
    """Write the trace of ``result`` and its timeline ``spans`` to ``path``."""
    doc = {"traceEvents": events(result, spans), "displayTimeUnit": "ms",
           "otherData": {"scenario": result.scenario.name, "outcome": result.outcome,
                         "clock": "simulated partition time"}}
    from emulator.run.out_paths import write_file

    write_file(path, json.dumps(doc, indent=None, separators=(",", ":")) + "\n")
