"""The Perfetto trace (emulator.views.trace) is an observer of the run's event bus: asked for, it records the
timeline as the run publishes it and writes exactly the trace the run wrote before it subscribed; not asked for,
the run publishes no span and builds no trace."""

import json
from pathlib import Path

import pytest

from emulator.run.events import Lifecycle
from emulator.run.runner import Run, publish, run_scenario
from emulator.scenario import bundled
from emulator.scenario import loader as scenario
from emulator.views import trace
from tests.conftest import small_scenario_text

GOLDEN = Path(__file__).parent / "traces"
"""Traces of bundled scenarios as `run --trace` wrote them when the trace still read a timeline kept in every
RunResult (commit dcfb31c): byte-identical output is the contract for the subscribed trace."""


def traced(sc, out: Path) -> tuple:
    """Run ``sc`` into ``out`` with a Trace observing it: (result, the Trace)."""
    tracer = trace.Trace()
    return run_scenario(sc, str(out), observers=[tracer.observe]), tracer


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.json")))
def test_a_trace_built_by_subscription_is_the_known_trace_of_the_bundled_scenario(name, tmp_path):
    """A 3.4 panic, a power loss mid-copy (the preservation span never ends: an instant), hotplug, and QEMU."""
    result, tracer = traced(scenario.load(bundled.resolve(name)), tmp_path / "out")
    tracer.export(result, str(tmp_path / "trace.json"))
    assert (tmp_path / "trace.json").read_text() == (GOLDEN / f"{name}.json").read_text()


def test_the_trace_golden_catches_a_span_the_subscription_missed(tmp_path):
    """The comparison above can fail: a trace without the firmware's preservation span differs from the golden."""
    result, tracer = traced(scenario.load(bundled.resolve("basic-panic")), tmp_path / "out")
    tracer.timeline.spans[:] = [s for s in tracer.timeline.spans if s["actor"] != "PHYP"]
    tracer.export(result, str(tmp_path / "trace.json"))
    assert (tmp_path / "trace.json").read_text() != (GOLDEN / "basic-panic.json").read_text()


def test_the_trace_records_each_boot_crash_preservation_and_save_with_its_end(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(small_scenario_text())
    _, tracer = traced(scenario.load(path), tmp_path / "out")
    spans = [(s["actor"], s["name"].split(":")[0], s["end"] is None) for s in tracer.timeline.spans]
    assert spans == [("kernel 1", "boot 1", False), ("cpu 1", "panic on CPU 1", True),
                     ("PHYP", "firmware preserves the partition", False), ("kernel 2", "boot 2", False),
                     ("kdump", "kdump saves vmcore (full)", False)]
    assert tracer.timeline.spans[0]["args"]["ended"] == "dumped"


def test_a_quiet_run_publishes_no_span_and_builds_no_trace(tmp_path, monkeypatch):
    """No trace asked for: the run never builds a span, and nothing of the trace runs."""
    monkeypatch.setattr(trace, "events", lambda *a: pytest.fail("a trace was built for a run nobody traced"))
    run = Run(scenario.loads(small_scenario_text()), None)
    published = []
    real = run.bus.publish
    run.bus.publish = lambda kind, **fields: published.append(kind) or real(kind, **fields)
    result = publish(run, str(tmp_path / "out"))
    assert result.outcome == "vmcore" and run._spans == 0
    assert Lifecycle.SPAN not in published and Lifecycle.SPAN_END not in published
    assert not hasattr(result, "timeline")


def test_run_trace_writes_the_trace_only_when_asked(tmp_path):
    from emulator.cli import main

    toml = tmp_path / "s.toml"
    toml.write_text(small_scenario_text())
    assert main(["run", str(toml), "--out", str(tmp_path / "plain"), "--quiet"]) == 0
    assert main(["run", str(toml), "--out", str(tmp_path / "traced"), "--quiet", "--trace",
                 str(tmp_path / "t.json")]) == 0
    doc = json.loads((tmp_path / "t.json").read_text())
    assert any(e["ph"] == "X" and e["name"].startswith("boot 1") for e in doc["traceEvents"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "s.toml", "t.json", "traced"]
