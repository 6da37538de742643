"""Exploration: a crash at every lifecycle boundary, and the invariant behind it."""

from pathlib import Path

from emulator import explore, scenario
from emulator.cli import main
from firmware.phyp import PhypFadump

SMALL = Path(__file__).parents[2] / "scenarios" / "faults" / "register-busy-then-ok.toml"


def test_the_baseline_names_every_boundary_from_boot_to_capture():
    """Boundaries cover the first kernel's boot steps, the firmware's copy and the capture kernel."""
    labels = explore.baseline(scenario.load(SMALL))
    assert labels[0].startswith("boot 1: early_init_devtree")
    assert "firmware: preserving memory" in labels
    assert any(label.startswith("boot 2:") for label in labels)
    assert "boot 2: /proc/vmcore ready" in labels


def test_exploring_a_scenario_finds_no_violation():
    """Every (boundary, trigger) run either captures a matching vmcore or says why there is none."""
    points = explore.explore(str(SMALL), workers=1)
    assert points and all(p.ok for p in points), [p for p in points if not p.ok]
    outcomes = {p.outcome for p in points}
    assert {"no-dump", "vmcore", "capture-failed"} <= outcomes


def test_a_firmware_that_skips_the_copy_is_a_violation_with_a_reproducing_file(monkeypatch, tmp_path):
    """A copy claimed but not made shows up as a vmcore that differs, and explore writes a repro file."""

    def lazy_copy(self, s):
        s.bytes_dumped = s.source_len
        yield self.machine.env.timeout(0)

    monkeypatch.setattr(PhypFadump, "copy_section", lazy_copy)
    points = explore.explore(str(SMALL), triggers=("panic",), workers=1)
    bad = [p for p in points if not p.ok]
    assert bad and "differs" in bad[0].problem
    repro = explore.write_repro(str(SMALL), bad[0], str(tmp_path))
    sc = scenario.load(repro)
    assert sc.faults[-1].kind == "crash-at-boundary" and sc.faults[-1].params["boundary"] == bad[0].index


def test_the_explore_command_prints_the_count_and_exits_0(capsys):
    """fadump-emu explore reports how many runs it made and zero violations."""
    assert main(["explore", str(SMALL), "-j", "1", "--triggers", "panic"]) == 0
    out = capsys.readouterr().out
    assert "explored" in out and "0 invariant violations" in out


def test_an_unknown_trigger_is_bad_input(capsys):
    """A trigger name outside the catalog exits 2 with the list of valid ones."""
    assert main(["explore", str(SMALL), "--triggers", "meteor"]) == 2
    assert "unknown trigger" in capsys.readouterr().err
