"""The run's event bus: subscribers see the lifecycle in order, and a run nobody observes builds no view."""

from pathlib import Path

import pytest

from emulator.run.events import EventBus, Lifecycle
from emulator.run.runner import Run, run_scenario
from emulator.scenario import loader as scenario
from emulator.views import memmap_view, observers
from tests.conftest import small_scenario_text

PROJECT = Path(__file__).resolve().parents[3]


def small(tmp_path, extra: str = "", name: str = "events") -> scenario.Scenario:
    path = tmp_path / f"{name}.toml"
    path.write_text(small_scenario_text(name=name, extra=extra))
    return scenario.load(path)


def lifecycle_of(sc, out=None) -> list[tuple[str, int | None]]:
    """(event kind, boot of its kernel) of every lifecycle event a run of ``sc`` publishes, in order."""
    seen = []
    kinds = [k for k in Lifecycle if k not in (Lifecycle.STEP, Lifecycle.PROGRESS, Lifecycle.SPAN, Lifecycle.SPAN_END)]

    def watch(bus: EventBus) -> None:
        bus.subscribe(kinds, lambda ev: seen.append((str(ev.kind), ev.kernel.boot if ev.fields.get("kernel")
                                                     else None)))

    run_scenario(sc, out, observers=[watch])
    return seen


def test_a_subscriber_sees_a_dumped_partition_go_through_its_lifecycle_in_order(tmp_path):
    """Boot, REGISTER accepted, crash, firmware's dump starts, preserved, the boot ends; the capture kernel
    captures and saves."""
    sc = small(tmp_path, extra='[capture]\nafter = "release"\n')
    assert lifecycle_of(sc, str(tmp_path / "out")) == [
        ("boot", 1), ("registered", 1), ("crash", 1), ("dump", 1), ("preserved", 1), ("ended", 1),
        ("boot", 2), ("capture", 2), ("saved", 2), ("released", 2), ("ended", 2), ("publish", None)]


def test_a_run_into_no_folder_saves_nothing_and_publishes_no_folder(tmp_path):
    kinds = [kind for kind, _ in lifecycle_of(small(tmp_path))]
    assert "capture" in kinds and "saved" not in kinds and "publish" not in kinds


def test_a_run_without_fadump_publishes_a_crash_but_no_preservation(tmp_path):
    path = tmp_path / "off.toml"
    path.write_text(small_scenario_text(name="off", cmdline="fadump=off"))
    kinds = [kind for kind, _ in lifecycle_of(scenario.load(path))]
    assert "crash" in kinds and "registered" not in kinds and "preserved" not in kinds


def test_a_quiet_run_builds_no_memory_map_snapshot(tmp_path, monkeypatch):
    """With no observer the memory-map snapshot code is never called, and the result holds no maps."""
    calls = []
    monkeypatch.setattr(memmap_view, "snapshot", lambda *a: calls.append(a))
    result = run_scenario(small(tmp_path), None)
    assert result.outcome == "vmcore"
    assert calls == [] and result.snapshots_for_map == []


def test_the_memory_maps_observer_takes_the_three_snapshots(tmp_path):
    """The observer that makes the check above meaningful: asked for, the same run has its three maps."""
    result = run_scenario(small(tmp_path), None, observers=[observers.memory_maps])
    assert [s.moment for s in result.snapshots_for_map] == [memmap_view.BEFORE_CRASH,
                                                           memmap_view.AFTER_PRESERVATION, memmap_view.CAPTURE]


def test_report_html_is_written_only_by_its_observer(tmp_path):
    sc = small(tmp_path)
    run_scenario(sc, str(tmp_path / "plain"))
    run_scenario(sc, str(tmp_path / "viewed"), observers=[observers.html_report])
    assert (tmp_path / "plain" / "report.json").is_file() and not (tmp_path / "plain" / "report.html").exists()
    assert "<svg" in (tmp_path / "viewed" / "report.html").read_text()


def test_narrated_steps_are_built_only_when_someone_listens(tmp_path):
    """explain's steps go through the bus; a run without a STEP subscriber leaves the machine's hook unset."""
    quiet = Run(small(tmp_path), None)
    quiet.execute()
    assert quiet.machine.on_step is None
    listened = Run(small(tmp_path), None)
    steps = []
    listened.bus.subscribe(Lifecycle.STEP, lambda ev: steps.append(ev.step))
    listened.execute()
    assert any(s["function"] == "crash_fadump()" for s in steps)
    assert [s["time"] for s in steps] == sorted(s["time"] for s in steps)


def test_progress_reaches_a_subscriber_with_each_advance_and_its_end():
    bus = EventBus()
    log = []

    def on_progress(ev):
        log.append(("start", ev.description, ev.total))
        ev.on_advance(lambda n: log.append(("advance", n)))
        ev.on_end(lambda: log.append(("end",)))

    bus.subscribe(Lifecycle.PROGRESS, on_progress)
    with bus.progress("copying", 300) as advance:
        advance(100)
        advance(200)
    assert log == [("start", "copying", 300), ("advance", 100), ("advance", 200), ("end",)]


def test_progress_nobody_watches_costs_nothing():
    bus = EventBus()
    with bus.progress("copying", 1 << 40) as advance:
        assert advance(5) is None
    assert not bus.wants(Lifecycle.PROGRESS)


def test_firmware_draws_no_bar_and_never_asks_whether_stderr_is_a_terminal(tmp_path, monkeypatch):
    """The bar is a view's decision: with no observer, a run never calls isatty."""
    import sys

    asked = []
    monkeypatch.setattr(sys.stderr, "isatty", lambda: asked.append(1) or True, raising=False)
    run_scenario(small(tmp_path), None)
    assert asked == []


def test_an_unknown_event_kind_is_refused():
    with pytest.raises(ValueError):
        EventBus().subscribe("exploded", lambda ev: None)
