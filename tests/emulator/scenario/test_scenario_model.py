"""Tests for emulator.scenario.model: a strict pydantic model behind the readers, with a JSON Schema."""

import pytest
from pydantic import ValidationError

from emulator.scenario import loader as scenario
from emulator.scenario import model as scenario_model
from emulator.errors import ScenarioError
from emulator.scenario.model import CrashSpec, Event
from emulator.scenario.parts import TimelineTables
from tests.conftest import small_scenario_text


def test_an_event_refuses_a_boolean_boot_and_a_string_time():
    """Strict mode: True is not boot 1 and "10" is not 10 seconds."""
    with pytest.raises(ValidationError):
        Event("crash", True, 10.0, None)
    with pytest.raises(ValidationError):
        Event("crash", 1, "10", None)
    assert Event("crash", 1, 10.0, 3, crash=CrashSpec(cpu=1)).crash.cpu == 1


def test_assignments_are_validated_too():
    sc = scenario.loads(small_scenario_text())
    with pytest.raises(ValidationError):
        sc.capture_save = "yes"
    with pytest.raises(ValidationError):
        sc.kernel.note_pids = 0


def test_a_value_a_reader_lets_through_becomes_a_located_scenario_error(tmp_path, monkeypatch):
    """If a table reader forgot a check, the model still refuses the value, located at the table being read."""
    def careless_capture(self, t):
        self.at = ("capture",)
        self.sc.capture_save = t.get("save")

    monkeypatch.setattr(TimelineTables, "capture", careless_capture)
    path = tmp_path / "s.toml"
    path.write_text(small_scenario_text(extra='[capture]\nsave = "yes"\n'))
    with pytest.raises(ScenarioError) as info:
        scenario.load(path)
    line = path.read_text().splitlines().index("[capture]") + 1
    assert str(info.value).startswith(f"{path}:{line}: capture_save: input should be a valid boolean")


def test_the_json_schema_describes_scenarios_events_and_expectations():
    schema = scenario_model.json_schema()
    assert schema["title"] == "Scenario"
    assert {"machine", "kernel", "events", "expect", "faults"} <= set(schema["properties"])
    event = schema["$defs"]["Event"]["properties"]
    assert event["at"]["type"] == "number" and event["boot"]["type"] == "integer"
