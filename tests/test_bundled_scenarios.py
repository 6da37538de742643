"""The scenario files we ship: each runs and meets its own [expect] table, and basic-panic is the CLI's default."""

import os
import tomllib
from pathlib import Path

import pytest

from emulator import cli
from emulator.regress import golden
from emulator.run import report
from emulator.scenario import loader as scenario
from emulator.run.runner import run_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BUNDLED = sorted(SCENARIOS.rglob("*.toml"))
EACH_BUNDLED = pytest.mark.parametrize("path", BUNDLED, ids=[path.stem for path in BUNDLED])


def test_the_scenarios_folder_holds_bundled_scenarios():
    """The glob finds scenario files, so the parametrized tests below are not silently empty."""
    assert BUNDLED, f"no *.toml under {SCENARIOS}"


@EACH_BUNDLED
def test_a_bundled_scenario_meets_every_one_of_its_expectations(path, tmp_path):
    """Running the scenario into a fresh folder meets every expectation it states (and it states some)."""
    sc = scenario.load(path)
    if sc.capture_tool == "makedumpfile":
        from emulator.host import ppc64el_tools

        if not ppc64el_tools.available():
            message = ppc64el_tools.how_to_install()
            if os.environ.get("CI") or os.environ.get("FADUMP_EMU_REQUIRE_TOOLS"):
                pytest.fail(message)
            pytest.skip(message)
    result = run_scenario(sc, str(tmp_path / "out"))
    expectations = report.check_expectations(result)
    assert expectations, f"{path.name} states no expectations"
    failing = [f"{e['what']}" + (f" ({e['detail']})" if e["detail"] else "") for e in expectations if not e["ok"]]
    assert not failing, f"{path.name}: {len(failing)} unmet expectation(s):\n  " + "\n  ".join(failing)
    checked = golden.check(path, result.partition.console.text())
    assert checked["status"] == golden.MATCH, (
        f"{path.name}: console differs from its golden transcript {golden.golden_path(path).name} "
        "(regenerate on purpose with `fadump-emu test scenarios --update-golden`):\n" + "\n".join(checked["diff"]))


@EACH_BUNDLED
def test_every_bundled_scenario_has_a_golden_console_transcript(path):
    """Each scenario ships NAME.log beside it: the safety net that keeps refactors byte-identical on the console."""
    assert golden.golden_path(path).is_file(), f"{path} has no golden transcript; write it with --update-golden"


@EACH_BUNDLED
def test_a_bundled_scenario_declares_a_name_and_a_description(path):
    """The file itself sets a non-empty name and description (the loader would default the name to the stem)."""
    doc = tomllib.loads(path.read_text())
    assert isinstance(doc.get("name"), str) and doc["name"].strip(), f"{path.name} has no name"
    assert isinstance(doc.get("description"), str) and doc["description"].strip(), f"{path.name} has no description"
    sc = scenario.load(path)
    assert (sc.name, sc.description) == (doc["name"], doc["description"])


def test_the_cli_runs_basic_panic_when_no_scenario_is_given():
    """`fadump-emu run` without a file runs scenarios/basic-panic.toml, one of the bundled scenarios."""
    assert cli.DEFAULT_SCENARIO == "scenarios/basic-panic.toml"
    assert cli.build_parser().parse_args(["run"]).scenario == cli.DEFAULT_SCENARIO
    assert (ROOT / cli.DEFAULT_SCENARIO).resolve() in BUNDLED
