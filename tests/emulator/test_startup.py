"""A quiet run imports only what it needs: no rich, no matplotlib, no Dask."""

import json
import subprocess
import sys

HEAVY = ("rich", "matplotlib", "distributed", "dask")
NOT_FOR_A_RUN = ("jsonschema", "elftools", "drgn", "hypothesis", "pytest", "tomli_w", "emulator.regress",
                 "emulator.host", "emulator.views.memmap_draw", "emulator.views.explain",
                 "emulator.vmcore.inspector", "emulator.vmcore.dmesg", "emulator.scenario.schema")
"""Packages and modules of other commands (test, explore, bench, schema, inspect, explain, the pictures):
a run that imports them pays their start-up for nothing."""


def test_a_quiet_run_into_a_pipe_imports_no_rich_matplotlib_or_dask(tmp_path):
    code = ("import json, sys\n"
            "from emulator.cli import main\n"
            f"status = main(['run', 'scenarios/basic-panic.toml', '--out', {str(tmp_path / 'out')!r}, '--quiet'])\n"
            f"print(json.dumps([status, sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    status, heavy = json.loads(lines[-1])
    assert status == 0
    assert heavy == []
    summary = "\n".join(lines[:-1])
    assert "outcome   vmcore" in summary and "[green]" not in summary and "[/]" not in summary


def test_the_plain_summary_keeps_brackets_that_are_not_markup(capsys):
    from emulator.cli import PlainConsole

    PlainConsole().print("[green]ok  [/] console shows '[    0.000000] Linux version'")
    assert capsys.readouterr().out == "ok   console shows '[    0.000000] Linux version'\n"


def test_a_quiet_run_imports_no_module_of_another_command(tmp_path):
    code = ("import json, sys\n"
            "from emulator.cli import main\n"
            f"status = main(['run', 'scenarios/basic-panic.toml', '--out', {str(tmp_path / 'out')!r}, '--quiet'])\n"
            "print(json.dumps([status, sorted(sys.modules)]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    status, modules = json.loads(proc.stdout.splitlines()[-1])
    assert status == 0
    assert "emulator.run.runner" in modules  # the check below looks at a real run
    loaded = [m for m in modules if any(m == n or m.startswith(n + ".") for n in NOT_FOR_A_RUN)]
    assert loaded == []
