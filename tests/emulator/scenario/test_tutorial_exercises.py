"""The tutorial's three exercises can be written from docs/scenarios.md alone, and their solutions hold.

Each solution in docs/exercises/ runs with every expectation met, and every key it uses (at any depth) has a
row in the generated reference, so a newcomer who reads only docs/scenarios.md finds each one with an example.
"""

import re
import tomllib
from pathlib import Path

import pytest

from emulator.run.runner import run_scenario
from emulator.scenario import loader as scenario

ROOT = Path(__file__).resolve().parents[3]
SOLUTIONS = sorted((ROOT / "docs" / "exercises").glob("exercise-*.toml"))
REFERENCE = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
DOCUMENTED = set(re.findall(r"^\| `([a-z_]+)` \|", REFERENCE, re.M)) | (
    {"start", "size"} if '**range**: a table `{start = "' in REFERENCE else set())
"""Every key with a row in the reference's tables, and the keys of a range (under value formats)."""


def keys_used(doc) -> set[str]:
    """Every key a parsed scenario uses, at any depth, except tables the reference has a heading for
    ([machine], [[memory.write]], [[expect.sysfs]], ...), register names inside regs and CPU numbers."""
    out = set()

    def walk(value, path: tuple):
        if isinstance(value, dict):
            for key, inner in value.items():
                dotted = ".".join(path + (key,))
                heading = f"[{dotted}]" in REFERENCE or f"[[{dotted}]]" in REFERENCE
                if not heading and path[-1:] not in (("regs",), ("cpu",)):
                    out.add(key)
                walk(inner, path + (key,))
        elif isinstance(value, list):
            for item in value:
                walk(item, path)

    walk(doc, ())
    return out


def test_there_are_three_exercises_and_the_tutorial_names_them():
    assert [p.name for p in SOLUTIONS] == ["exercise-1.toml", "exercise-2.toml", "exercise-3.toml"]
    tutorial = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    assert "## 10. Exercises" in tutorial and "(scenarios.md)" in tutorial


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_each_solution_runs_and_meets_every_expectation(path):
    result = run_scenario(scenario.load(path), None)
    assert result.report["ok"], [e for e in result.expectations if not e["ok"]]


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_every_key_a_solution_uses_is_documented_in_the_reference(path):
    used = keys_used(tomllib.loads(path.read_text()))
    assert used and used <= DOCUMENTED, used - DOCUMENTED
    for table in ("[machine]", "[kernel]", "[[memory.write]]", "[crash]", "[[events]]", "[[faults]]", "[expect]",
                  "[[expect.memory]]", "[[expect.registers]]", "[[expect.sysfs]]"):
        assert table in REFERENCE, table


def test_the_key_check_catches_an_undocumented_key():
    assert "ram" in keys_used({"machine": {"ram": "4GiB"}}) - DOCUMENTED
    assert "nip" not in keys_used({"crash": {"regs": {"nip": 1}}, "cpu": {"2": {"regs": {"nip": 1}}}})


def test_without_its_crash_exercise_3_ends_with_outcome_none():
    """The question at the end of exercise 3: nothing crashes, so the outcome is none (docs/scenarios.md)."""
    doc = tomllib.loads((ROOT / "docs" / "exercises" / "exercise-3.toml").read_text())
    del doc["crash"], doc["expect"]
    result = run_scenario(scenario.from_document(doc, "exercise-3-no-crash"), None)
    assert result.outcome == "none"
    assert "| `none` | no crash happened" in REFERENCE
