"""Replaying field failures: every real reference case from its own console log and vmcore head, every bundled fault
scenario from a field-style log of it, the profile bisect, and the command line's exit statuses."""

import tomllib
from pathlib import Path

import pytest

from emulator import cli
from emulator.host import compare_real, replay

ROOT = Path(__file__).resolve().parents[3]
REF = ROOT / "tests/reference"
FIELD_LOGS = ROOT / "tests/emulator/host/field_logs"
CASES = sorted(p.parent for p in REF.glob("linux-*/*/console.log"))
NEEDS_61 = ()


def replay_points(console: Path, head: Path | None, out: Path) -> list[compare_real.Point]:
    fld = replay.read_field(str(console), str(head) if head else None)
    rep = replay.run(replay.load(fld.scenario), str(out))
    return replay.compare(fld, out, rep)


@pytest.mark.parametrize("case", [pytest.param(c, marks=NEEDS_61 if c.parent.name == "linux-6.1" else (),
                                               id=f"{c.parent.name}/{c.name}") for c in CASES])
def test_a_reference_case_replays_from_its_own_console_log_with_no_unexplained_difference(case, tmp_path):
    points = replay_points(case / "console.log", case / "vmcore-head.bin", tmp_path / "run")
    different = [f"{p.name}: real {compare_real.short(p.reference)} emulator {compare_real.short(p.emulator)}"
                 for p in points if p.status == "different"]
    assert not different, "\n".join(different)
    assert any(p.name == "elf/phdr1/p_paddr" for p in points)  # the layout was compared, not skipped


def test_the_comparison_catches_a_field_log_the_emulator_does_not_reproduce(tmp_path):
    """Plant a difference: the field log's capture kernel says it freed other memory than the emulated one does."""
    text = (REF / "linux-6.12/radix/console.log").read_text()
    planted = tmp_path / "console.log"
    planted.write_text(text.replace("freeing reserved memory (0x40010000", "freeing reserved memory (0x40020000"))
    points = replay_points(planted, None, tmp_path / "run")
    assert [p.name for p in points if p.status == "different"] == ["console/boot1"]


def fault_cases():
    return sorted(p.stem for p in (ROOT / "scenarios/faults").glob("*.toml"))


def test_every_bundled_fault_scenario_has_a_field_style_log():
    assert fault_cases() == sorted(p.stem for p in FIELD_LOGS.glob("*.log"))


@pytest.mark.parametrize("name", fault_cases())
def test_a_field_style_log_of_a_fault_scenario_replays_to_the_same_outcome(name, tmp_path):
    want = tomllib.loads((ROOT / "scenarios/faults" / f"{name}.toml").read_text())["expect"]["outcome"]
    fld = replay.read_field(str(FIELD_LOGS / f"{name}.log"))
    assert fld.scenario.verdict.outcome == want
    rep = replay.run(replay.load(fld.scenario), str(tmp_path / "run"))
    assert rep["outcome"] == want
    assert [e["what"] for e in rep["expectations"] if not e["ok"]] == []


def test_the_bisect_finds_the_stale_header_up_to_6_1_and_gone_from_6_10():
    """The seed's hidden staleness lives as long as the first kernel writes the ELF core header: 3.4 and 6.1
    (arch/powerpc/kernel/fadump.c, fadump_init_elfcore_header(), 6.1); 6.10 builds it in the capture kernel."""
    fs = replay.read_field(str(ROOT / "scenarios/hotplug-stale-header.log")).scenario
    rows = replay.bisect(fs)
    by = {r.profile: r for r in rows}
    assert by["linux-3.4"].memory == by["linux-6.1"].memory == "differs" and by["linux-6.10"].memory == "matches"
    assert replay.changes(rows)[0].startswith("behaviour changes between linux-6.1 and linux-6.10")


def test_from_console_writes_a_scenario_and_says_which_profile_and_why(tmp_path, capsys):
    out = tmp_path / "field.toml"
    assert cli.main(["from-console", str(REF / "linux-7.2/hash/console.log"), "-o", str(out)]) == 0
    assert "profile linux-7.2: the kernel is 7.2.13" in capsys.readouterr().err
    assert 'profile = "linux-7.2"' in out.read_text()


def test_replay_prints_the_table_and_exits_0_when_nothing_differs(capsys):
    assert cli.main(["replay", str(FIELD_LOGS / "disk-full.log")]) == 0
    assert "0 different" in capsys.readouterr().out


def radix_log_of_a_kernel_older_than_every_radix_profile(tmp_path: Path) -> Path:
    """A real radix log relabelled 4.4: the nearest profile is linux-3.4, older than the radix MMU (4.7)."""
    log = tmp_path / "console.log"
    log.write_text((REF / "linux-6.1/radix/console.log").read_text().replace("Linux version 6.1.192", "Linux version 4.4.0"))
    return log


def test_a_radix_log_no_profile_can_boot_is_not_emulable_and_replay_says_why(tmp_path, capsys):
    assert cli.main(["replay", str(radix_log_of_a_kernel_older_than_every_radix_profile(tmp_path))]) == 1
    assert "predates the radix MMU" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["from-console", "/nonexistent/console.log"], ["replay", "/nonexistent.log"]])
def test_a_missing_log_is_exit_2_with_the_path_and_no_traceback(args, capsys):
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("fadump-emu: /nonexistent") and "Traceback" not in err


def test_a_binary_file_given_as_the_log_is_exit_2(tmp_path, capsys):
    core = tmp_path / "vmcore"
    core.write_bytes((REF / "linux-6.12/radix/vmcore-head.bin").read_bytes())
    assert cli.main(["from-console", str(core)]) == 2
    assert f"{core}:1: binary data" in capsys.readouterr().err


def test_from_console_still_writes_a_scenario_no_profile_can_run_and_says_so_at_its_top(tmp_path, capsys):
    out = tmp_path / "r.toml"
    assert cli.main(["from-console", str(radix_log_of_a_kernel_older_than_every_radix_profile(tmp_path)), "-o",
                     str(out)]) == 0
    assert out.read_text().startswith("# NOT RUNNABLE as written: ")
    assert "cannot run as written" in capsys.readouterr().err


def test_an_unwritable_output_is_exit_2(tmp_path, capsys):
    assert cli.main(["from-console", str(FIELD_LOGS / "disk-full.log"), "-o", str(tmp_path / "no/such/dir.toml")]) == 2
    assert "cannot write the scenario" in capsys.readouterr().err


def test_from_console_output_planted_as_a_symlink_is_replaced_never_written_through(tmp_path, capsys):
    """-o LINK (LINK -> a file outside): LINK becomes the scenario; the file it pointed at is untouched."""
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    link = tmp_path / "field.toml"
    link.symlink_to(victim)
    assert cli.main(["from-console", str(FIELD_LOGS / "disk-full.log"), "-o", str(link)]) == 0
    assert victim.read_text() == "keep\n"
    assert not link.is_symlink() and "[kernel]" in link.read_text()
