"""docs/scenarios.md is generated from the scenario format's own tables, and its examples are real.

The reference is written by emulator.scenario.scenario_doc from the key tables
the readers check (emulator.scenario.keys), the fault catalog, the outcome
meanings and the output files; these tests hold the committed file to what the
generator writes, every key to a documented example that the reader accepts,
and the documented defaults to what a scenario gets when it leaves a key out.
"""

import re
import tomllib
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.run.runner import rehearse, run_scenario
from emulator.scenario import loader as scenario
from emulator.scenario import doc_examples, scenario_doc
from emulator.scenario.faults import FAULTS
from emulator.scenario.keys import EVENT_COMMON, FAULT_PARAMS, KEYS
from emulator.scenario.model import ACTIONS, OUTCOMES, PROFILES
from emulator.units import parse_size

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "scenarios.md"

BASE = {"name": "doc-example", "machine": {"memory": "4GiB", "max_memory": "6GiB", "cpus": 4},
        "kernel": {"profile": "linux-6.10", "cmdline": "root=/dev/sda2 ro fadump=on"}, "crash": {"at": "30s"}}
"""What an example is read with when it does not say it itself (its own tables replace these)."""


def with_base(snippet: str) -> dict:
    doc = {**BASE, **tomllib.loads(snippet)}
    if "events" in doc and any(e["action"] == "crash" for e in doc["events"]):
        doc.pop("crash")
    if any(f["kind"] == "crash-during-registration" or f["kind"] == "crash-at-boundary"
           and f.get("trigger") != "power-loss" for f in doc.get("faults", [])):
        doc.pop("crash", None)  # the fault is the crash: a [crash] later in the same boot could never come
    return doc


def test_the_committed_reference_is_what_the_generator_writes():
    assert DOC.read_text(encoding="utf-8") == scenario_doc.render(), (
        f"docs/scenarios.md is stale: run `{scenario_doc.GENERATED_BY}`")


def test_schema_markdown_writes_the_reference_and_follows_the_key_tables(tmp_path, monkeypatch):
    """The reference is written from the tables: a key added to them appears in it with no other change."""
    out = tmp_path / "scenarios.md"
    assert main(["schema", "--markdown", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == scenario_doc.render()
    monkeypatch.setitem(KEYS["capture"], "compress", {"type": "boolean", "description": "compress the vmcore"})
    assert "| `compress` | boolean | — | — | compress the vmcore |" in scenario_doc.render()
    assert "compress" not in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("section", sorted(doc_examples.EXAMPLES))
def test_each_example_is_accepted_by_the_reader_and_the_run(section):
    for snippet in doc_examples.EXAMPLES[section]:
        rehearse(scenario.from_document(with_base(snippet), f"example-{section}"))


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_each_fault_example_is_accepted_by_the_reader_and_the_run(kind):
    snippet = doc_examples.FAULT_CONTEXT.get(kind, "") + f'[[faults]]\nkind = "{kind}"\n' + \
        doc_examples.FAULT_EXAMPLES.get(kind, "")
    rehearse(scenario.from_document(with_base(snippet), f"example-{kind}"))


def test_the_whole_example_runs_and_meets_every_expectation(tmp_path):
    path = tmp_path / "my-first-dump.toml"
    path.write_text(doc_examples.WHOLE)
    result = run_scenario(scenario.load(path), None)
    assert result.report["ok"], [e for e in result.expectations if not e["ok"]]
    assert len(result.expectations) >= 6


def rows(text: str) -> dict[str, list[list[str]]]:
    """Each '## ' or '### ' heading's table rows, as cells."""
    out, heading = {}, ""
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("| `"):
            out.setdefault(heading, []).append([c.strip() for c in line.strip("|").split(" | ")])
    return out


def test_every_key_of_every_table_has_a_row_with_a_type_and_an_example():
    tables = rows(scenario_doc.render())
    want = {"Top level": KEYS["top"], "[machine]": KEYS["machine"], "[kernel]": KEYS["kernel"],
            "[cpu.N.regs]": KEYS["cpu"], "[[memory.write]]": KEYS["write"],
            "[crash]": {**KEYS["crash"], **KEYS["crash_time"]}, "[capture]": KEYS["capture"],
            "[expect]": KEYS["expect"], "[[events]]": EVENT_COMMON}
    for action in ACTIONS:
        want[f'action = "{action}"'] = KEYS["write"] if action == "write" else KEYS["crash"] if action == "crash" \
            else KEYS[f"event.{action}"]
    for kind in FAULTS:
        want[f'kind = "{kind}"'] = FAULT_PARAMS.get(kind, {})
    for heading, keys in want.items():
        documented = {r[0].strip("`"): r for r in tables.get(heading, [])}
        assert set(documented) == {k for k, frag in keys.items() if frag}, heading
        for key, (_, kind, _, example, meaning) in documented.items():
            assert kind and meaning, (heading, key)
            assert example != "—" or kind == "refused", (heading, key, "has no example")


def test_the_shapes_of_the_expect_arrays_are_documented_with_examples():
    tables = rows(scenario_doc.render())
    shapes = tables["[[expect.registers]], [[expect.memory]], [[expect.sysfs]]"]
    assert {r[0].strip("`") for r in shapes} == set(KEYS["expect.registers"]) | set(KEYS["expect.memory"]) | set(
        KEYS["expect.sysfs"])
    assert all(r[3] != "—" for r in shapes)


def test_every_outcome_and_every_output_file_is_explained():
    text = scenario_doc.render()
    for outcome in OUTCOMES:
        assert re.search(rf"^\| `{outcome}` \| \w", text, re.M), outcome
    for name in ("console.log", "report.json", "report.html", "vmcore", "vmcore.N", "boot-N/", "digests/"):
        assert f"| `{name}` |" in text, name


def test_every_name_a_run_writes_is_documented(tmp_path):
    """The output folder of a real run holds only files the reference lists (or the tool's hidden ones)."""
    from emulator.scenario.checks import RESULT_NAME
    from emulator.views import observers

    out = tmp_path / "out"
    run_scenario(scenario.load(ROOT / "scenarios" / "basic-panic-modern.toml"), str(out),
                 observers=observers.FOR_OUTPUT)  # as `fadump-emu run` writes it, report.html included
    written = {p.name for p in out.iterdir() if not p.name.startswith(".fadump-emu")}
    assert {"console.log", "report.json", "report.html", "vmcore", "boot-1", "boot-2", "digests"} <= written
    assert all(RESULT_NAME.match(name) for name in written), written


def test_the_documented_defaults_are_what_a_scenario_gets_without_the_key():
    """Each default the reference states is the value the reader and the model give a scenario that omits it."""
    sc = scenario.loads('[crash]\nat = "10s"\n[[memory.write]]\naddr = "0x4100000"\ntext = "x"\n', "defaults.toml")
    crash = next(e.crash for e in sc.events if e.action == "crash")
    write = next(e for e in sc.events if e.action == "write")
    got = {
        ("machine", "memory"): sc.machine.memory, ("machine", "lmb_size"): sc.machine.lmb_size,
        ("machine", "cpus"): sc.machine.cpus, ("machine", "page_size"): sc.machine.page_size,
        ("machine", "endian"): "little" if sc.machine.little_endian else "big",
        ("machine", "extended_os_term"): sc.machine.extended_os_term, ("machine", "mmu"): sc.machine.mmu,
        ("machine", "firmware"): sc.machine.firmware,
        ("kernel", "profile"): sc.kernel.profile, ("kernel", "cmdline"): sc.kernel.cmdline,
        ("kernel", "epoch"): sc.kernel.epoch, ("kernel", "note_pids"): sc.kernel.note_pids,
        ("crash", "cpu"): crash.cpu, ("crash", "kind"): crash.kind, ("crash", "message"): crash.message,
        ("write", "repeat"): 1, ("write", "boot"): write.boot, ("write", "at"): write.at,
        ("write", "kind"): write.kind,
        ("capture", "after"): sc.capture_after, ("capture", "save"): sc.capture_save,
        ("capture", "tool"): sc.capture_tool, ("expect", "complete"): sc.expect.complete,
    }
    for (table, key), value in got.items():
        default = KEYS[table][key]["default"]
        if "pattern" in KEYS[table][key] and isinstance(default, str) and table != "write":
            default = parse_size(default)
        assert default == value, (table, key, default, value)
    assert KEYS["crash_time"]["at"]["default"] == "30s" and scenario.loads("[crash]\n", "t.toml").events[0].at == 30
    stated = {(t, k) for t in ("machine", "kernel", "crash", "write", "capture", "expect")
              for k, frag in KEYS[t].items() if "default" in frag}
    assert stated <= set(got), stated - set(got)


@pytest.mark.parametrize("profile", sorted(doc_examples.SYSFS_FILES))
def test_the_documented_sysfs_files_are_the_ones_each_profile_has(profile):
    """The table of fadump files in the reference is what a run of that profile has in each boot."""
    from emulator.run.runner import Run

    text = (f'[machine]\nmemory = "2GiB"\ncpus = 2\n[kernel]\nprofile = "{profile}"\ncmdline = "fadump=on"\n'
            '[crash]\nat = 10\n[capture]\nafter = "stay"\n')
    state = Run(scenario.loads(text, "sysfs.toml"), None).execute().sysfs_state
    first, capture = doc_examples.SYSFS_FILES[profile]
    assert set(state[1]) == set(first)
    assert set(state[2]) == set(first) | set(capture)
    assert set(doc_examples.SYSFS_FILES) == set(PROFILES)
