"""`fadump-emu faults` lists every fault of the catalog with its parameters and effect."""

import json

import pytest

from emulator.cli import main
from emulator.scenario.fault_catalog import catalog, plain_text
from emulator.scenario.faults import FAULTS
from emulator.scenario.keys import FAULT_PARAMS


def test_every_catalog_entry_appears_with_its_effect_and_parameters_in_the_plain_table(capsys):
    assert main(["faults"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for kind, (effect, params) in FAULTS.items():
        head = lines.index(f"{kind}: {effect}")
        block = []
        for line in lines[head + 1:]:
            if not line.startswith("    "):
                break
            block.append(line.strip())
        assert [b.split()[0] for b in block if b != "(no parameters)"] == list(params)
        if not params:
            assert block == ["(no parameters)"]


def test_the_plain_table_is_not_wrapped_even_when_lines_are_long(capsys):
    main(["faults"])
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) > 80
    assert "\x1b[" not in out


def test_parameters_show_their_allowed_values_and_defaults(capsys):
    main(["faults"])
    out = capsys.readouterr().out
    assert 'mode      "power-loss" | "hardware-error"  [default "power-loss"]' in out
    assert 'call      "ibm,configure-kernel-dump" | "ibm,os-term"  [required]' in out
    assert "fraction  number in [0, 1)  [default 0.5]" in out


def test_json_round_trips_to_the_catalog(capsys):
    assert main(["faults", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == catalog()
    assert [e["kind"] for e in data] == list(FAULTS)
    for entry in data:
        assert entry["effect"] == FAULTS[entry["kind"]][0]
        assert [p["name"] for p in entry["parameters"]] == list(FAULTS[entry["kind"]][1])


def test_a_fault_parameter_without_a_type_is_caught():
    """scenario_keys checks at import that FAULT_PARAMS types exactly the parameters FAULTS documents."""
    from emulator.scenario.keys import check_fault_params

    check_fault_params(FAULTS, FAULT_PARAMS)
    untyped = dict(FAULTS, **{"disk-full": (FAULTS["disk-full"][0], {"capacity": "", "speed": "new"})})
    with pytest.raises(AssertionError, match="disk-full"):
        check_fault_params(untyped, FAULT_PARAMS)
    with pytest.raises(AssertionError, match="cosmic-ray"):
        check_fault_params(FAULTS, dict(FAULT_PARAMS, **{"cosmic-ray": {}}))


def test_plain_text_marks_faults_without_parameters():
    text = plain_text([{"kind": "x", "effect": "does y", "parameters": []}])
    assert text == "x: does y\n    (no parameters)\n"


def test_on_a_terminal_the_catalog_is_a_table_naming_every_fault_and_parameter():
    from rich.console import Console

    from emulator.scenario.fault_catalog import rich_table

    con = Console(record=True, width=400)
    con.print(rich_table(catalog()))
    text = con.export_text()
    for kind, (_, params) in FAULTS.items():
        assert kind in text
        for name in params:
            assert f"{name}: " in text
