"""Tests for the fadump-emu command line: exit statuses, output files, refusals and error messages."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import __version__
from emulator.cli import main
from tests.conftest import small_scenario_text

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted((ROOT / "scenarios").glob("*.toml"))


def flat(text: str) -> str:
    """Console text with line wrapping undone (rich wraps at the terminal width)."""
    return " ".join(text.split())


@pytest.fixture
def small(tmp_path) -> Path:
    """A 1 GiB scenario file that crashes at 10 s and expects a vmcore."""
    path = tmp_path / "small.toml"
    path.write_text(small_scenario_text(extra='[expect]\noutcome = "vmcore"\n'))
    return path


@pytest.fixture
def finished(tmp_path, small, capsys) -> Path:
    """The output folder of one completed `run` of the small scenario."""
    out = tmp_path / "out"
    assert main(["run", str(small), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    return out


def test_run_exits_0_and_writes_console_log_report_and_vmcore(tmp_path, small, capsys):
    """`run` on a small scenario exits 0, echoes the console and writes console.log, report.json and vmcore."""
    out = tmp_path / "out"
    assert main(["run", str(small), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "Kernel panic - not syncing" in stdout
    assert "summary" in stdout
    # The summary names the results without claiming they were rewritten (a re-run keeps unchanged ones).
    assert f"results   {out}/console.log, {out}/report.json, {out}/report.html" in stdout
    for name in ("console.log", "report.json", "vmcore"):
        assert (out / name).is_file(), name
    assert "Firmware-assisted dump is active." in (out / "console.log").read_text()
    with open(out / "vmcore", "rb") as f:
        assert f.read(4) == b"\x7fELF"


def test_the_report_says_outcome_vmcore_and_ok(finished):
    """report.json of a met scenario has outcome "vmcore" and ok true."""
    rep = json.loads((finished / "report.json").read_text())
    assert rep["outcome"] == "vmcore"
    assert rep["ok"] is True


def test_a_second_run_into_the_same_folder_without_force_exits_2_and_keeps_the_vmcore(finished, small, capsys):
    """Running again into a folder holding a vmcore is refused with exit 2, a hint at --force, and no change."""
    vmcore = finished / "vmcore"
    before = vmcore.stat()
    assert main(["run", str(small), "--out", str(finished), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "--force" in flat(captured.err)
    assert "Traceback" not in captured.err + captured.out
    after = vmcore.stat()
    assert (after.st_mtime_ns, after.st_size, after.st_ino) == (before.st_mtime_ns, before.st_size, before.st_ino)


def test_a_second_run_with_force_exits_0_and_replaces_the_vmcore(finished, small, capsys):
    """With --force the second run into the same folder succeeds and writes a fresh vmcore."""
    vmcore = finished / "vmcore"
    size = vmcore.stat().st_size
    os.utime(vmcore, ns=(0, 0))  # an unmistakable "old" timestamp
    assert main(["run", str(small), "--out", str(finished), "--quiet", "--force"]) == 0
    assert vmcore.stat().st_mtime_ns != 0
    assert vmcore.stat().st_size == size
    assert json.loads((finished / "report.json").read_text())["ok"] is True


def test_an_unmet_expectation_exits_1_and_the_summary_shows_fail(tmp_path, capsys):
    """A scenario whose [expect] console line never appears exits 1, and the summary marks it FAIL."""
    path = tmp_path / "unmet.toml"
    path.write_text(small_scenario_text(extra='[expect]\nconsole = ["this line never appears"]\n'))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 1
    stdout = capsys.readouterr().out
    assert "FAIL" in stdout
    assert "this line never appears" in flat(stdout)
    assert json.loads((out / "report.json").read_text())["ok"] is False


def test_a_bad_scenario_exits_2_with_path_and_line_and_no_traceback(tmp_path, capsys, monkeypatch):
    """A scenario mistake exits 2 and prints `path:line: message`, without a traceback."""
    monkeypatch.chdir(tmp_path)
    Path("bad.toml").write_text('[machine]\nmemory = "8GiB!"\n')
    assert main(["run", "bad.toml", "--out", "out", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "bad.toml:2: machine.memory: cannot read '8GiB!' as a size" in flat(captured.err)
    assert "Traceback" not in captured.err + captured.out
    assert not Path("out").exists()


def test_check_scenario_on_a_bad_file_exits_2_with_path_and_line(tmp_path, capsys, monkeypatch):
    """check-scenario reports a mistake as `path:line:` and exits 2."""
    monkeypatch.chdir(tmp_path)
    Path("bad.toml").write_text('[crash]\ncpu = 0\nkind = "meteor"\n')
    assert main(["check-scenario", "bad.toml"]) == 2
    captured = capsys.readouterr()
    assert "bad.toml:3: crash kind 'meteor' is not supported" in flat(captured.err)
    assert "Traceback" not in captured.err + captured.out


def test_a_missing_scenario_file_exits_2(tmp_path, capsys):
    """`run` on a file that does not exist exits 2 and names the file."""
    missing = tmp_path / "nope.toml"
    assert main(["run", str(missing), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "nope.toml" in err
    assert "no such scenario file" in flat(err)
    assert "Traceback" not in err


def test_check_scenario_on_good_files_exits_0(small, capsys):
    """check-scenario accepts the bundled scenarios and a small tmp scenario, one ok line each."""
    files = [str(p) for p in BUNDLED] + [str(small)]
    assert main(["check-scenario", *files]) == 0
    out = capsys.readouterr().out
    for f in files:
        assert f"{f}: ok" in out
    assert "1 GiB" in out


def test_version_prints_the_program_name_and_version(capsys):
    """--version prints `fadump-emu VERSION` and exits 0."""
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"fadump-emu {__version__}"


def test_no_command_prints_help_and_exits_2(capsys):
    """Without a command the usage is printed and the exit status is 2 (bad input)."""
    assert main([]) == 2
    assert "usage: fadump-emu" in capsys.readouterr().out


def test_an_error_message_with_a_table_name_is_printed_verbatim(tmp_path, capsys, monkeypatch):
    """A scenario error that names a [table] shows that name on the console as the message has it."""
    monkeypatch.chdir(tmp_path)
    Path("bad.toml").write_text('[machine]\nmemory = "8GiB"\nbogus = 1\n')
    assert main(["check-scenario", "bad.toml"]) == 2
    assert "bad.toml:3: unknown key 'bogus' in [machine]; known keys:" in flat(capsys.readouterr().err)


def test_a_scenario_path_with_brackets_is_reported_without_a_crash(tmp_path, capsys):
    """A missing scenario whose path contains '[/]' still exits 2 with the path in the message."""
    missing = tmp_path / "x[/]y.toml"
    assert main(["check-scenario", str(missing)]) == 2
    assert "no such scenario file" in flat(capsys.readouterr().err)


def test_an_error_for_a_long_path_keeps_path_and_line_on_one_line(tmp_path, capsys):
    """Even for a path longer than a terminal line, the error names `path:line:` intact on one line."""
    folder = tmp_path / ("deep-" * 20)
    folder.mkdir()
    path = folder / "bad.toml"
    path.write_text('[machine]\nmemory = "8GiB!"\n')
    assert main(["check-scenario", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert any(f"{path}:2: machine.memory:" in line for line in lines), lines


def test_python_dash_m_emulator_help_works_as_a_subprocess():
    """`python -m emulator --help` exits 0 and shows the commands."""
    proc = subprocess.run([sys.executable, "-m", "emulator", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "usage: fadump-emu" in proc.stdout
    assert "run" in proc.stdout and "check-scenario" in proc.stdout


def test_explain_narrates_each_actor_with_the_function_it_models(capsys):
    """fadump-emu explain names the kernel and firmware functions and decodes the structures."""
    assert main(["explain", "scenarios/faults/register-busy-then-ok.toml"]) == 0
    out = capsys.readouterr().out
    for needle in ("register_fadump()", "arch/powerpc/platforms/pseries/rtas-fadump.c (v6.10)",
                   "crash_fadump()", "PHYP", "fadump_process()", "crashing_cpu"):
        assert needle in out


def test_explain_json_lists_the_steps(capsys):
    """--json gives the same steps as data."""
    import json

    assert main(["explain", "scenarios/basic-panic.toml", "--json"]) == 0
    steps = json.loads(capsys.readouterr().out)
    assert [s["function"] for s in steps][:2] == ["fadump_reserve_mem()", "register_fadump()"]


def test_a_reader_that_goes_away_ends_the_command_quietly_without_a_traceback():
    """`fadump-emu faults --json | head -1`: a closed pipe is not an error worth a traceback (exit 141, as SIGPIPE).

    The pipe is shrunk to one page (F_SETPIPE_SZ) so the 6 KB catalog cannot fit in it before the reader leaves."""
    import fcntl
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, 1031, 4096)  # F_SETPIPE_SZ
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "faults", "--json"], stdout=write_end,
                            stderr=subprocess.PIPE)
    os.close(write_end)
    assert os.read(read_end, 10)
    os.close(read_end)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err
