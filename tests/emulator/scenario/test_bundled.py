"""The bundled scenarios travel with the package: `fadump-emu run --list` and `fadump-emu run NAME` from any folder.

scenarios/ stays the source; emulator/bundled_scenarios links to it and pyproject.toml declares its files
package data, so a checkout and an installed wheel find the same scenarios and golden transcripts.
"""

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.errors import BadInputError
from emulator.scenario import bundled

ROOT = Path(__file__).resolve().parents[3]
SOURCES = sorted((ROOT / "scenarios").rglob("*.toml"))


def test_the_package_folder_is_the_top_level_scenarios_folder():
    assert bundled.folder().resolve() == (ROOT / "scenarios").resolve()


def test_run_list_names_every_bundled_scenario_with_its_profile_and_description(capsys):
    assert main(["run", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(SOURCES)
    for path in SOURCES:
        doc = tomllib.loads(path.read_text())
        name = path.relative_to(ROOT / "scenarios").with_suffix("").as_posix()
        line = next(l for l in lines if l.split()[0] == name)
        assert doc.get("kernel", {}).get("profile", "linux-3.4") == line.split()[1]
        assert line.endswith(doc.get("description", ""))
    assert lines[0].split()[0] == "basic-panic"


@pytest.mark.parametrize("arg", ["basic-panic-modern", "scenarios/basic-panic-modern.toml",
                                 "basic-panic-modern.toml"])
def test_run_takes_a_bundled_scenario_by_name_or_readme_path_from_any_folder(arg, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", arg, "--out", "here", "--quiet"]) == 0
    assert (tmp_path / "here" / "vmcore").exists()
    assert "matches crash-time memory" in capsys.readouterr().out


def test_a_scenario_in_a_subfolder_is_found_by_its_path_or_its_own_name():
    assert bundled.resolve("faults/disk-full") == str((ROOT / "scenarios/faults/disk-full.toml").resolve())
    assert bundled.resolve("disk-full") == bundled.resolve("faults/disk-full")


@pytest.mark.parametrize("arg", ["scenarios/basic-panic.toml", "basic-panic", "faults/disk-full"])
def test_a_bundled_scenario_named_by_its_path_is_found_without_reading_every_scenario(arg, tmp_path, monkeypatch):
    """The default scenario from another folder costs one file, not a parse of all of them (start-up time)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bundled, "listing", lambda: pytest.fail("read every bundled scenario"))
    name = arg.removeprefix("scenarios/").removesuffix(".toml")
    assert bundled.resolve(arg) == str((ROOT / "scenarios" / f"{name}.toml").resolve())


def test_a_file_that_exists_wins_over_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "basic-panic").write_text("not a scenario")
    assert bundled.resolve("basic-panic") == "basic-panic"


def test_an_unknown_name_is_bad_input_that_says_how_to_list(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "no-such-scenario", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no-such-scenario: no such scenario file or bundled scenario" in err and "run --list" in err


def test_a_name_two_bundled_scenarios_share_asks_for_the_path(tmp_path, monkeypatch):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "same.toml").write_text('description = "x"\n')
    monkeypatch.setattr(bundled, "folder", lambda: tmp_path)
    monkeypatch.chdir(tmp_path / "a")
    with pytest.raises(BadInputError, match=r"several bundled scenarios have this name \(a/same, b/same\)"):
        bundled.resolve("same")
    assert bundled.resolve("b/same") == str(tmp_path / "b" / "same.toml")


def test_check_scenario_and_explain_take_names_too(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["check-scenario", "basic-panic-modern", "faults/disk-full"]) == 0
    assert "disk-full.toml: ok" in capsys.readouterr().out
    assert main(["explain", "basic-panic-modern", "--json"]) == 0


def test_an_installed_wheel_carries_every_scenario_and_golden_and_runs_one_from_another_folder(tmp_path):
    """pip wheel, then the wheel installed in a folder of its own: run --list and run NAME there."""
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    if built.returncode and "Could not find a version that satisfies the requirement" in built.stderr:
        pytest.skip("pip cannot fetch setuptools to build the wheel (no package index reachable)")
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = wheels.glob("fadump_emu-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in SOURCES:
        relative = path.relative_to(ROOT / "scenarios").as_posix()
        assert f"emulator/bundled_scenarios/{relative}" in names, relative
        if path.with_suffix(".log").exists():
            assert f"emulator/bundled_scenarios/{relative[:-5]}.log" in names, relative
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = tmp_path / "elsewhere"
    where.mkdir()

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "emulator", *args], cwd=where, env=env, capture_output=True,
                              text=True, timeout=600)

    origin = subprocess.run([sys.executable, "-c", "import emulator; print(emulator.__file__)"], cwd=where, env=env,
                            capture_output=True, text=True, check=True).stdout
    assert origin.startswith(str(site)), origin
    listed = cli("run", "--list")
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == len(SOURCES)
    ran = cli("run", "basic-panic-modern", "--out", "out", "--quiet")
    assert ran.returncode == 0, ran.stderr
    assert (where / "out" / "vmcore").exists()
    [golden] = site.glob("emulator/bundled_scenarios/basic-panic-modern.log")
    before = golden.read_bytes()
    refused = cli("test", "basic-panic-modern", "--update-golden", "--out", "t")
    assert refused.returncode == 2 and "into the installed fadump-emu package" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and golden.read_bytes() == before


def test_check_scenario_takes_a_bundled_folder_by_name_from_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["check-scenario", "firmware"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{(ROOT / 'scenarios/firmware/qemu-pseries.toml').resolve()}: ok ("), line


def test_fadump_emu_test_runs_bundled_scenarios_by_name_against_their_golden_transcripts(tmp_path, monkeypatch,
                                                                                          capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["test", "firmware", "basic-panic-modern", "-j", "1", "--out", "out"]) == 0
    out = capsys.readouterr().out
    assert "2 scenarios: 2 passed" in out
    assert (tmp_path / "out" / "qemu-pseries" / "vmcore").exists()


def test_a_folder_here_wins_over_a_bundled_folder_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "faults").mkdir()
    assert bundled.resolve("faults") == "faults"
    assert bundled.resolve("triggers") == str((ROOT / "scenarios" / "triggers").resolve())


def test_only_an_installed_wheels_copies_count_as_installed_never_a_checkouts_linked_folder(tmp_path, monkeypatch):
    """A checkout's emulator/bundled_scenarios is the symbolic link to scenarios/ (a developer updates goldens
    there); a wheel's is a real folder that belongs to the package manager."""
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "a.toml").write_text("")
    link = tmp_path / "linked"
    link.symlink_to(scenarios)
    monkeypatch.setattr(bundled, "folder", lambda: link)
    assert not bundled.in_installed_copy(link / "a.toml")
    monkeypatch.setattr(bundled, "folder", lambda: scenarios)
    assert bundled.in_installed_copy(scenarios / "a.toml")
    assert not bundled.in_installed_copy(tmp_path / "elsewhere.toml")
