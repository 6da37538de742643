"""Output that fits scripts and CI: no wrapping in pipes, CPU-labelled notes, folders for check-scenario,
RunResult.ok and .vmcore_path, and the fadump_run fixture of the pytest plugin."""

import json
import os
import subprocess
import sys
from pathlib import Path

from emulator.cli import main
from tests.conftest import small_scenario_text

PROJECT = Path(__file__).resolve().parents[2]
FADUMP_EMU = str(Path(sys.executable).with_name("fadump-emu"))


def test_run_output_is_not_wrapped_when_stdout_is_a_pipe(tmp_path):
    toml = tmp_path / "small.toml"
    toml.write_text(small_scenario_text(name="a-scenario-with-a-rather-long-name-for-wrapping"))
    out = tmp_path / "an-output-folder-whose-name-makes-the-summary-line-longer-than-eighty-columns"
    proc = subprocess.run([FADUMP_EMU, "run", str(toml), "--out", str(out), "-q"], capture_output=True, text=True,
                          env=dict(os.environ, COLUMNS="80"), check=False)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("vmcore "))
    assert line.endswith("matches crash-time memory") and len(line) > 80


def test_inspect_labels_each_prstatus_note_with_its_cpu(tmp_path, capsys):
    toml = tmp_path / "small.toml"
    toml.write_text(small_scenario_text(cpus=4, crash_cpu=2))
    out = tmp_path / "out"
    assert main(["run", str(toml), "--out", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out), "--json", "--what", "notes"]) == 0
    notes = [n for n in json.loads(capsys.readouterr().out)["vmcores"][0]["notes"] if "registers" in n]
    assert [n["cpu"] for n in notes] == [0, 1, 2, 3] and all(n["pid"] == 0 for n in notes)
    assert main(["inspect", str(out), "--what", "notes"]) == 0
    assert "NT_PRSTATUS at 0x" in capsys.readouterr().out
    lone = tmp_path / "lone"
    lone.mkdir()
    os.link(out / "vmcore", lone / "vmcore")
    assert main(["inspect", str(lone / "vmcore"), "--json", "--what", "notes"]) == 0
    notes = [n for n in json.loads(capsys.readouterr().out)["vmcores"][0]["notes"] if "registers" in n]
    assert all(n["cpu"] is None and "pid 0" in n["cpu_from"] for n in notes)


def test_check_scenario_accepts_folders_like_test(capsys):
    assert main(["check-scenario", str(PROJECT / "scenarios" / "triggers")]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok (") == len(list((PROJECT / "scenarios" / "triggers").glob("*.toml")))


def test_check_scenario_of_a_folder_without_scenarios_is_bad_input(tmp_path, capsys):
    assert main(["check-scenario", str(tmp_path)]) == 2
    assert "no *.toml scenario files" in capsys.readouterr().err


def test_fadump_run_fixture_gives_a_result_with_ok_and_vmcore_path(fadump_run, tmp_path):
    toml = tmp_path / "small.toml"
    toml.write_text(small_scenario_text())
    result = fadump_run(toml)
    assert result.ok is True
    assert Path(result.vmcore_path).is_file() and Path(result.vmcore_path).parent == tmp_path / "small"


def test_run_result_is_not_ok_when_an_expectation_fails(fadump_run, tmp_path):
    toml = tmp_path / "small.toml"
    toml.write_text(small_scenario_text(extra='[expect]\nconsole = ["a line no kernel prints"]'))
    result = fadump_run(toml)
    assert result.ok is False


def test_the_readme_fixture_example_passes_as_written(tmp_path):
    readme = (PROJECT / "README.md").read_text()
    code = readme.split("`fadump_run` runs a scenario file from your own tests:", 1)[1]
    code = code.split("```python\n", 1)[1].split("```", 1)[0]
    test_file = tmp_path / "test_readme_example.py"
    test_file.write_text(code)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file),
                           "--rootdir", str(tmp_path), "--basetemp", str(tmp_path / "base")],
                          cwd=PROJECT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def _pytest(cwd, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rxX", *args],
                          cwd=cwd, capture_output=True, text=True, check=False)


def test_the_plugin_folder_is_configurable_and_named_toml_files_are_collected(tmp_path):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "ok-case.toml").write_text(small_scenario_text(name="ok-case"))
    (tmp_path / "loose.toml").write_text(small_scenario_text(name="loose"))
    (tmp_path / "pytest.ini").write_text("[pytest]\nfadump_scenario_folder = cases\n")
    folder = _pytest(tmp_path, "cases")
    assert "1 passed" in folder.stdout, folder.stdout[-2000:]
    named = _pytest(tmp_path, "loose.toml")
    assert "1 passed" in named.stdout, named.stdout[-2000:]


def test_the_plugin_marks_scenarios_listed_in_fadump_xfail(tmp_path):
    (tmp_path / "scenarios").mkdir()
    failing = small_scenario_text(name="known-bad", extra='[expect]\nconsole = ["a line no kernel prints"]')
    (tmp_path / "scenarios" / "known-bad.toml").write_text(failing)
    (tmp_path / "pytest.ini").write_text("[pytest]\nfadump_xfail =\n    known-bad: waiting for a fix\n")
    proc = _pytest(tmp_path, "scenarios")
    assert "1 xfailed" in proc.stdout and "waiting for a fix" in proc.stdout, proc.stdout[-2000:]
