"""Exploration: a crash at every lifecycle boundary, held to an independent model and to the digests."""

import json
import pickle
from pathlib import Path

from emulator.regress import explore
from emulator.regress import explore_model
from emulator.scenario import loader as scenario
from emulator.cli import main
from firmware.machine import Machine
from firmware.phyp import PhypFadump

SCENARIOS = Path(__file__).parents[3] / "scenarios"
SMALL = SCENARIOS / "faults" / "register-busy-then-ok.toml"
OLD = SCENARIOS / "triggers" / "hypervisor-3-4.toml"


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
    assert bad and "differs" in bad[0].problem and bad[0].outcome == bad[0].predicted == "vmcore"
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


def test_a_copy_that_flips_two_bit_63s_in_one_grain_is_a_violation(monkeypatch):
    """The corruption the old weighted-sum fingerprint could not see: explore reads the saved file and fails."""
    real_copy = PhypFadump.copy_section

    def flipping_copy(self, s):
        yield from real_copy(self, s)
        if s.source_len >= 0x4200000 and s.destination_address != s.source_address:
            at = s.destination_address + 0x4100000  # the workload's grain, as copied
            for word in (at + 8, at + 64):
                self.machine.ram.write(word + 7, bytes([self.machine.ram.read(word + 7, 1)[0] ^ 0x80]))

    monkeypatch.setattr(PhypFadump, "copy_section", flipping_copy)
    points = explore.explore(str(SMALL), triggers=("panic",), workers=1)
    bad = [p for p in points if not p.ok]
    assert bad and all("differs from crash-time memory: [0x4100000, 0x4101000)" in p.problem for p in bad)
    assert {p.outcome for p in bad} == {"vmcore"}


def test_a_silent_hypervisor_termination_is_a_violation(monkeypatch):
    """If firmware said nothing when it drops an unregistered partition, the banner would not excuse it."""
    real_log = Machine.firmware_log
    monkeypatch.setattr(Machine, "firmware_log",
                        lambda self, text: None if "terminated" in text else real_log(self, text))
    points = explore.explore(str(SMALL), triggers=("hypervisor",), workers=1)
    bad = [p for p in points if not p.ok]
    assert bad and all(p.outcome in ("no-dump", "capture-failed") for p in bad)
    assert all("the console never says 'PHYP: partition terminated by the hypervisor" in p.problem for p in bad)


def test_an_outcome_misclassified_by_the_emulator_is_a_violation(monkeypatch):
    """The model does not read the emulator's verdict: a runner that calls every run "vmcore" is caught."""
    from emulator.run.runner import Run

    monkeypatch.setattr(Run, "outcome", lambda self: "vmcore")
    points = explore.explore(str(OLD), triggers=("panic",), workers=1)
    early = next(p for p in points if p.index == 0)
    assert not early.ok and "outcome vmcore, the model predicts no-dump (unregistered)" in early.problem


def test_the_model_registers_3_4_at_userspace_and_6_10_at_setup_fadump():
    """3.4: the kdump service writes fadump_registered; 6.10: setup_fadump() calls register_fadump()."""
    old, new = scenario.load(OLD), scenario.load(SMALL)
    old_labels, new_labels = explore.baseline(old), explore.baseline(new)
    old_phases = dict(zip(old_labels, explore_model.phases(old, old_labels)))
    new_phases = dict(zip(new_labels, explore_model.phases(new, new_labels)))
    assert old_phases["boot 1: setup_fadump done"] == "unregistered"
    assert old_phases["boot 1: userspace up"] == "registered"
    assert next(v for k, v in new_phases.items() if k.startswith("boot 1: setup_fadump")) == "registered"
    assert new_phases["boot 2: /proc/vmcore ready"] == "capture-before-save"
    assert new_phases["boot 2: userspace up"] == "after-capture"


def test_the_model_predicts_the_line_that_says_why():
    """A 3.4 system reset before registration panics with "Fatal exception" (oops_end), 6.10 with "System Reset"."""
    old, new = scenario.load(OLD), scenario.load(SMALL)
    assert explore_model.predict(old, explore.baseline(old), 0, "system-reset").why == \
        "Kernel panic - not syncing: Fatal exception"
    assert explore_model.predict(new, explore.baseline(new), 0, "system-reset").why == \
        "Kernel panic - not syncing: System Reset"


def test_the_explore_command_writes_one_row_per_boundary_as_json(tmp_path, capsys):
    """explore.json has a row per boundary with the prediction and the outcome of each trigger."""
    assert main(["explore", str(SMALL), "-j", "1", "--triggers", "panic", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "explore.json").read_text())
    labels = explore.baseline(scenario.load(SMALL))
    assert [row["label"] for row in data["boundaries"]] == labels
    assert data["violations"] == 0 and data["unmodelled"] is None
    first = data["boundaries"][0]["runs"]["panic"]
    assert first["predicted"] == first["outcome"] == "no-dump"


def test_a_scenario_that_saves_nothing_is_still_held_to_the_digests(monkeypatch, tmp_path):
    """capture.save = false: the run compares /proc/vmcore with the digests, and a skipped copy is caught."""
    path = tmp_path / "unsaved.toml"
    path.write_text(SMALL.read_text() + "\n[capture]\nsave = false\n")
    clean = explore.explore(str(path), triggers=("panic",), workers=1)
    assert all(p.ok for p in clean) and "/proc/vmcore matches" in {p.verified for p in clean}

    def lazy_copy(self, s):
        s.bytes_dumped = s.source_len
        yield self.machine.env.timeout(0)

    monkeypatch.setattr(PhypFadump, "copy_section", lazy_copy)
    bad = [p for p in explore.explore(str(path), triggers=("panic",), workers=1) if not p.ok]
    assert bad and all("/proc/vmcore differs from crash-time memory" in p.problem for p in bad)


def test_a_crashkernel_below_320_mib_turns_6_10_fadump_off_and_kdump_takes_over():
    """6.10 fadump_calculate_reserve_size(): crashkernel=128M is fadump's boot memory, under the minimum."""
    sc = scenario.load(SCENARIOS / "cmdline" / "low-reservation.toml")
    labels = explore.baseline(sc)
    p = explore_model.predict(sc, labels, len(labels) - 1, "panic")
    assert (p.phase, p.outcome, p.why) == ("unregistered", "fallback", "for crashkernel")
    assert explore_model.crashkernel_size("ro crashkernel=512M@64M") == 512 << 20
    assert explore_model.crashkernel_size("crashkernel=1G-4G:256M") is None


def test_3_4_after_a_memory_hotplug_the_model_expects_a_stale_header_until_re_registration():
    """3.4 builds the ELF header at registration; writing 0 then 1 to fadump_registered unregisters and rebuilds."""
    sc = scenario.load(SCENARIOS / "hotplug-reregister.toml")
    labels = explore.baseline(sc)
    at = {label: i for i, label in enumerate(labels)}
    hot = explore_model.predict(sc, labels, at["boot 1: after the hotplug at 11s"], "panic")
    off = explore_model.predict(sc, labels, at["boot 1: after the sysfs at 12.5s"], "panic")
    on = explore_model.predict(sc, labels, at["boot 1: after the sysfs at 12.6s"], "panic")
    assert (hot.outcome, hot.complete) == ("vmcore", False)
    assert (off.phase, off.outcome, off.absent) == ("unregistered", "no-dump", "")
    assert (on.outcome, on.complete) == ("vmcore", True)


def test_exploring_the_hotplug_scenario_finds_the_stale_window_and_no_violation():
    """Crashes inside the window give vmcores whose every byte matches, with missing and bogus ranges."""
    points = explore.explore(str(SCENARIOS / "hotplug-reregister.toml"), triggers=("panic",), workers=1)
    assert all(p.ok for p in points), [p for p in points if not p.ok]
    assert any("stale header as expected" in p.verified for p in points)


def test_without_extended_os_term_a_registered_panic_is_not_dumped_but_a_system_reset_is():
    """rtas_os_term() needs ibm,extended-os-term; a reset without ibm,nmi-interlock dumps anyway (LoPAR R1-3)."""
    sc = scenario.load(SCENARIOS / "triggers" / "system-reset-no-os-term.toml")
    labels = explore.baseline(sc)
    up = labels.index("boot 1: userspace up")
    assert explore_model.predict(sc, labels, up, "panic").outcome == "no-dump"
    assert explore_model.predict(sc, labels, up, "system-reset").outcome == "vmcore"
    points = explore.explore(str(SCENARIOS / "triggers" / "system-reset-no-os-term.toml"), workers=1)
    assert all(p.ok for p in points), [p for p in points if not p.ok]


def test_runs_from_one_parsed_scenario_leave_it_untouched_and_match_runs_from_fresh_parses():
    """A worker parses a scenario text once and runs copies of it (unpickled from the kept template): the
    injected fault of one run never reaches the next, and every point is the one a fresh parse gives."""
    from dataclasses import asdict

    explore._parsed.cache_clear()
    text = SMALL.read_text()
    labels = explore.baseline(scenario.load(SMALL))
    jobs = [(str(SMALL), labels, i, t, text) for i, t in ((1, "panic"), (len(labels) - 2, "system-reset"))]
    shared = [explore.run_point(j) for j in jobs]
    template = pickle.loads(explore._parsed(text, str(SMALL)))
    assert explore._parsed.cache_info().hits >= 1
    assert [f.kind for f in template.faults] == [f.kind for f in scenario.load(SMALL).faults]
    assert template == scenario.loads(text, str(SMALL))  # the kept copy is the parse, field for field
    explore._parsed.cache_clear()
    fresh = []
    for j in jobs:
        explore._parsed.cache_clear()
        fresh.append(explore.run_point(j))
    assert [asdict(p) for p in shared] == [asdict(p) for p in fresh]


def test_each_saved_vmcore_is_verified_once_from_the_folder_the_run_left(monkeypatch):
    """The run saves the digests but leaves the check to _check_saved, which reads them and the vmcore back
    from the folder as `fadump-emu verify` does: one verification per saved vmcore, not two."""
    from emulator.run import kdump_service, verify_command

    calls = []
    real = verify_command.verify

    def counted(snap, source, progress=None):
        calls.append(source.describe())
        return real(snap, source, progress)

    monkeypatch.setattr(kdump_service, "verify", counted)
    monkeypatch.setattr(verify_command, "verify", counted)
    labels = explore.baseline(scenario.load(SMALL))
    point = explore.run_point((str(SMALL), labels, len(labels) - 1, "panic"))
    assert point.ok and point.outcome == "vmcore" and point.verified == "1 vmcore(s) match"
    files = [c for c in calls if "(not saved)" not in c]  # a capture kernel crashed before saving: its /proc/vmcore
    assert len(files) == 1 and files[0].endswith("/vmcore")


def test_a_reproducing_file_planted_as_a_symlink_is_replaced_never_written_through(tmp_path):
    """OUT/NAME-boundaryN-TRIGGER.toml as a link to a file outside: the repro replaces the link; the file it
    pointed at is untouched."""
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    out = tmp_path / "out"
    out.mkdir()
    point = explore.Point(3, "boot 1: somewhere", "panic", ok=False, problem="a planted problem")
    (out / f"{SMALL.stem}-boundary3-panic.toml").symlink_to(victim)
    repro = Path(explore.write_repro(str(SMALL), point, str(out)))
    assert victim.read_text() == "keep\n"
    assert not repro.is_symlink() and "boundary = 3" in repro.read_text()


def test_a_reproducing_file_is_never_written_into_an_out_that_is_a_symlink(tmp_path):
    """write_repro's folder (explore --out) as a link to a folder outside: refused; the folder stays empty."""
    import pytest

    from emulator.errors import BadInputError

    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out").symlink_to(outside)
    with pytest.raises(BadInputError, match="is a symlink"):
        explore.write_repro(str(SMALL), explore.Point(3, "b", "panic", ok=False), str(tmp_path / "out"))
    assert not any(outside.iterdir())
