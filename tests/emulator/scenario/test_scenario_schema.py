"""`fadump-emu schema` writes a JSON Schema of the scenario file format that every bundled scenario meets.

The schema is built from emulator.scenario.keys, the same key tables the
readers (emulator.scenario.parts, emulator.scenario) check unknown keys
against; these tests hold both to the same verdicts.
"""

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from emulator.scenario import loader as scenario
from emulator.cli import main
from emulator.errors import ScenarioError
from emulator.scenario.faults import FAULTS
from emulator.scenario.keys import KEYS
from emulator.scenario.schema import build

ROOT = Path(__file__).resolve().parents[3]
BUNDLED = sorted((ROOT / "scenarios").rglob("*.toml"))

BASE = """
name = "schema-check"
[machine]
memory = "2GiB"
cpus = 2
[kernel]
profile = "linux-6.12"
cmdline = "fadump=on"
[crash]
at = "10s"
"""


@pytest.fixture(scope="module")
def validator():
    schema = build()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(validator, text: str) -> list[str]:
    return [e.message for e in validator.iter_errors(tomllib.loads(text))]


def reader_refuses(text: str) -> bool:
    try:
        scenario.loads(text, "check.toml")
    except ScenarioError:
        return True
    return False


def test_there_are_bundled_scenarios_to_check():
    assert len(BUNDLED) >= 20


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(ROOT / "scenarios")))
def test_every_bundled_scenario_meets_the_schema(validator, path):
    doc = tomllib.loads(path.read_text())
    assert [e.message for e in validator.iter_errors(doc)] == []


def test_the_schema_declares_draft_2020_12_for_toml_editors():
    schema = build()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False


def test_the_base_scenario_is_accepted_by_schema_and_reader(validator):
    assert schema_errors(validator, BASE) == []
    assert not reader_refuses(BASE)


REJECTED = {
    "an unknown top-level key": BASE + "colour = \"red\"\n",
    "an unknown key in [machine]": BASE.replace("cpus = 2", "cpus = 2\ncores = 4"),
    "an unknown key in [crash]": BASE + "when = \"10s\"\n",
    "an unknown key in [capture]": BASE + "[capture]\ncompress = true\n",
    "an unknown key in [[memory.write]]": BASE + "[[memory.write]]\naddr = \"0x1000\"\ntext = \"x\"\nsize = 4\n",
    "an unknown key in an expected sysfs value":
        BASE + "[[expect.sysfs]]\npath = \"/sys/kernel/fadump/enabled\"\nvalue = \"1\"\nmode = \"r\"\n",
    "a key of another event action":
        BASE + "[[events]]\naction = \"reboot\"\nat = \"20s\"\npath = \"/var/crash\"\n",
    "an unknown fault parameter": BASE + "[[faults]]\nkind = \"disk-full\"\ncapacity = \"16MiB\"\nspeed = 3\n",
    "cpus as a string": BASE.replace("cpus = 2", "cpus = \"two\""),
    "memory as a boolean": BASE.replace("memory = \"2GiB\"", "memory = true"),
    "a size with an unknown unit": BASE.replace("memory = \"2GiB\"", "memory = \"2 gallons\""),
    "a time in minutes": BASE.replace("at = \"10s\"", "at = \"10min\""),
    "an outcome not in the list": BASE + "[expect]\noutcome = \"success\"\n",
    "an unknown fault kind": BASE + "[[faults]]\nkind = \"cosmic-ray\"\n",
    "a fault without its required parameter": BASE + "[[faults]]\nkind = \"copy-error\"\nshort_by = 4096\n",
    "a fault parameter of the wrong type":
        BASE + "[[faults]]\nkind = \"copy-interrupted\"\nfraction = \"half\"\n",
    "an unknown register": BASE + "[crash.regs]\nr99 = 1\n",
    "a memory sample with both hex and text":
        BASE + "[[expect.memory]]\naddr = \"0x1000\"\nhex = \"00\"\ntext = \"x\"\n",
}


@pytest.mark.parametrize("case", list(REJECTED))
def test_the_schema_rejects_what_the_reader_rejects(validator, case):
    text = REJECTED[case]
    assert schema_errors(validator, text), f"the schema accepts {case}"
    assert reader_refuses(text), f"the reader accepts {case}"


def test_the_schema_names_every_key_the_readers_accept():
    props = build()["properties"]
    assert set(props) == set(KEYS["top"])
    for table in ("machine", "kernel", "capture", "expect"):
        assert set(props[table]["properties"]) == set(KEYS[table])
    assert set(props["crash"]["properties"]) == set(KEYS["crash"]) | set(KEYS["crash_time"])
    fault_kinds = [b["if"]["properties"]["kind"]["const"] for b in props["faults"]["items"]["allOf"]]
    assert fault_kinds == list(FAULTS)


def test_a_key_added_to_the_tables_is_accepted_by_reader_and_schema_alike(monkeypatch, validator):
    """One source of truth: adding a key to KEYS["capture"] opens it in the reader and the schema at once."""
    text = BASE + "[capture]\nnote = \"x\"\n"
    assert reader_refuses(text)
    monkeypatch.setitem(KEYS["capture"], "note", {"type": "string", "description": "test"})
    assert not reader_refuses(text)
    assert jsonschema.Draft202012Validator(build()).is_valid(tomllib.loads(text))


def test_units_are_in_the_descriptions():
    props = build()["properties"]
    assert "2GiB" in props["machine"]["properties"]["memory"]["description"]
    assert "10s" in props["crash"]["properties"]["at"]["description"]
    assert "0x" in props["machine"]["properties"]["memory"]["description"]


def test_schema_command_writes_the_file(tmp_path, capsys):
    out = tmp_path / "scenario.schema.json"
    assert main(["schema", "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == build()
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == build()


def test_schema_command_refuses_a_folder_with_exit_2(tmp_path, capsys):
    assert main(["schema", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and "Traceback" not in err


def test_schema_output_planted_as_a_symlink_is_replaced_never_written_through(tmp_path, capsys):
    """-o LINK (LINK -> a file outside): LINK becomes the schema; the file it pointed at is untouched."""
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    link = tmp_path / "scenario.schema.json"
    link.symlink_to(victim)
    assert main(["schema", "-o", str(link)]) == 0
    assert victim.read_text() == "keep\n"
    assert not link.is_symlink() and json.loads(link.read_text()) == build()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.schema.json", "victim"]
