"""The run loop (emulator.run.runner): outcomes, the boundaries it passes, mistakes it reports with their line,
and the capture tool it is given."""

import re
import subprocess
from pathlib import Path

import pytest

from emulator.errors import BadInputError, ScenarioError
from emulator.run.runner import Run, run_scenario
from emulator.scenario import loader as scenario
from emulator.scenario.model import Outcome
from kernels.crash import Verdict
from tests.conftest import small_scenario_text

EARLY_CRASH = """
[[faults]]
kind = "crash-at-boundary"
boundary = 0
trigger = "panic"
"""
"""A crash at the first boundary, during boot 1: that boot's [[events]] and [crash] can no longer run."""


def run_of(text: str, **kwargs) -> Run:
    return Run(scenario.loads(text), None, **kwargs)


@pytest.mark.parametrize("cmdline, extra, outcome", [
    ("fadump=on", "", Outcome.VMCORE),
    ("fadump=off", "", Outcome.NO_DUMP),
    ("fadump=off crashkernel=16M", "", Outcome.FALLBACK),
    ("fadump=on", '[[faults]]\nkind = "crash-info-corrupt"\n', Outcome.DUMP_REJECTED),
])
def test_the_outcome_names_how_the_run_ended(cmdline, extra, outcome):
    result = run_of(small_scenario_text(cmdline=cmdline, extra=extra)).execute()
    assert result.outcome == outcome and result.outcome == str(outcome)


def test_a_run_without_a_crash_has_outcome_none():
    text = small_scenario_text().split("[crash]")[0]
    assert run_of(text).execute().outcome == Outcome.NONE


def test_the_crash_verdict_is_recorded_as_the_strings_report_json_has_always_used():
    crash = run_of(small_scenario_text()).execute().crashes[0]
    assert crash["result"] == Verdict.DUMPED == "dumped" and crash["kind"] == "panic"


def test_the_boundaries_of_a_run_are_the_same_every_time_and_name_each_lifecycle_step():
    first = run_of(small_scenario_text()).execute().boundaries
    again = run_of(small_scenario_text()).execute().boundaries
    assert first == again
    assert first[0].startswith("boot 1: ") and "firmware: preserving memory" in first
    assert "boot 2: /proc/vmcore ready" in first


def test_an_event_after_its_boot_ended_is_a_scenario_mistake_with_its_line():
    """The operator refuses to deliver into a boot that is over, naming the event's line."""
    with pytest.raises(ScenarioError) as err:
        run_of(small_scenario_text(extra=EARLY_CRASH)).execute()
    assert re.fullmatch(r"<scenario>:\d+: this event is for boot 1, which already ended \(hang\)", str(err.value))


def test_lenient_runs_drop_events_a_crash_made_impossible():
    """The injected crash before registration hangs boot 1; the writes and the [crash] at 10 s never happen."""
    result = run_of(small_scenario_text(extra=EARLY_CRASH), lenient=True).execute()
    assert [c["result"] for c in result.crashes] == [Verdict.HANG] and result.crashes[0]["time"] < 10
    assert result.outcome == Outcome.NO_DUMP


def test_a_crash_on_an_offline_cpu_is_refused():
    text = small_scenario_text(crash_cpu=3, machine_extra="online_cpus = [0, 1, 2]")
    with pytest.raises(ScenarioError, match="crash cpu 3 is offline"):
        run_of(text).execute()


class FakeMakedumpfile:
    """A capture tool that records its command line and fails as a broken makedumpfile would."""

    def __init__(self, available=True):
        self.calls, self._available = [], available

    def available(self) -> bool:
        return self._available

    def how_to_install(self) -> str:
        return "install the fake"

    def __call__(self, argv, cwd):
        self.calls.append(argv)
        return subprocess.CompletedProcess(argv, 1, "", "makedumpfile: something went wrong\n")


def test_the_capture_step_runs_the_makedumpfile_it_is_given(tmp_path):
    tool = FakeMakedumpfile()
    sc = scenario.loads(small_scenario_text(extra='[capture]\ntool = "makedumpfile"\n'))
    result = run_scenario(sc, str(tmp_path / "out"), makedumpfile=tool)
    assert tool.calls == [["-l", "--message-level", "7", "-d", "31", "vmcore.proc-vmcore", "vmcore"]]
    assert result.captures[0].save_error == "makedumpfile exited with 1"
    assert result.outcome == Outcome.CAPTURE_FAILED
    assert "makedumpfile: makedumpfile: something went wrong" in result.partition.console.text()


def test_a_capture_tool_that_cannot_run_is_refused_before_the_run_with_how_to_get_it():
    sc = scenario.loads(small_scenario_text(extra='[capture]\ntool = "makedumpfile"\n'))
    with pytest.raises(BadInputError, match="needs Debian's ppc64el makedumpfile. install the fake"):
        Run(sc, None, makedumpfile=FakeMakedumpfile(available=False))


def test_a_kernel_without_room_to_boot_is_a_scenario_mistake_at_machine_memory_not_a_traceback():
    """A capture kernel whose boot memory (crashkernel=) cannot hold the struct pages of all RAM finds no room in
    memblock (mm/sparse-vmemmap.c, vmemmap_populate()); how the real kernel then fails is not modelled, so the run
    stops with a sentence that points at machine.memory and says what to change."""
    text = ('[machine]\nmemory = "8TiB"\ncpus = 2\n[kernel]\nprofile = "linux-6.12"\n'
            'cmdline = "fadump=on crashkernel=512M"\n[crash]\nat = 10\n')
    with pytest.raises(ScenarioError) as err:
        run_of(text).execute()
    assert re.fullmatch(r"<scenario>:2: boot 2 \(linux-6\.12\) ran out of early boot memory: no room for .*"
                        r"a larger crashkernel= .* or use a smaller machine\.memory", str(err.value))


def test_run_crash_is_bookkeeping_with_no_firmware_or_hardware_mechanics():
    """Run.crash publishes, starts processes and records; registers, traps, firmware triggers and log lines,
    snapshots and fault injections live in their actors (kernels.crash, emulator.hw.cpu, firmware.fadump,
    emulator.run.verify, emulator.scenario.faults)."""
    import inspect

    source = inspect.getsource(Run.crash)
    for mechanic in ("cpu.regs", "regs.update", "trap", ".trigger(", "firmware_log", "inject_interrupt",
                     "CrashSnapshot", "before_crash", "injection_at", "for other in", "catch_up"):
        assert mechanic not in source, mechanic
    assert "env.process(k.crash_process(" in source and "env.process(m.fadump.dump())" in source


def test_the_hypervisor_termination_is_a_firmware_method(monkeypatch):
    """[crash] kind = "hypervisor" asks firmware (FadumpFirmware.terminate_partition); its answer is the verdict."""
    from firmware.fadump import FadumpFirmware

    asked = []
    monkeypatch.setattr(FadumpFirmware, "terminate_partition", lambda fw: asked.append(fw.actor) or False)
    sc = scenario.load(Path(__file__).parents[3] / "scenarios" / "triggers" / "hypervisor-modern.toml")
    result = Run(sc, None).execute()
    assert asked == ["PHYP"] and result.crashes[0]["result"] == Verdict.TERMINATED


def test_the_crash_time_snapshot_is_taken_by_a_subscriber_when_firmware_starts_its_dump():
    """The snapshot verification compares with is a subscriber of Lifecycle.DUMP (emulator.run.verify), taken at
    the instant firmware takes over, and published with the "firmware: preserving memory" boundary's index."""
    from emulator.run.events import Lifecycle

    seen = []
    run = run_of(small_scenario_text(), observers=[lambda bus: bus.subscribe(Lifecycle.DUMP, seen.append)])
    result = run.execute()
    assert [ev.boundary for ev in seen] == [result.boundaries.index("firmware: preserving memory")]
    assert run.snapshot.current is not None and run.snapshot.current.time == seen[0].time
    assert result.captures[0].verification["ok"]


def test_a_kernel_refusing_the_command_line_is_a_scenario_mistake_located_at_kernel_cmdline():
    """A reservation that leaves no room for 3.4's mem_map (kernels.memmap) is refused by the kernel, which knows
    no file: the run names the scenario's [kernel] cmdline line (what tests/emulator/scenario/test_scenario_fuzz.py
    found with fadump_reserve_mem=99999G)."""
    text = ('[machine]\nmemory = "1GiB"\ncpus = 1\n[kernel]\nprofile = "linux-3.4"\n'
            'cmdline = "fadump=on fadump_reserve_mem=99999G"\n')
    with pytest.raises(ScenarioError) as err:
        run_of(text).execute()
    assert re.fullmatch(r"<scenario>:6: the 3\.4\.0-fadump-emu kernel finds no free memory for its mem_map .*"
                        r"use a smaller fadump_reserve_mem= or crashkernel=, or a larger machine\.memory",
                        str(err.value))


def test_a_run_without_boot_state_files_writes_no_boot_folders_and_the_same_vmcore(tmp_path):
    """explore's throw-away runs skip OUT/boot-N/proc/device-tree; what the run saves and reports is the same."""
    import filecmp

    from emulator.run.runner import Run
    from emulator.scenario import loader
    from tests.conftest import small_scenario_text

    text = small_scenario_text()  # 1 GiB: the sparse vmcores are compared in small reads
    with_files = Run(loader.loads(text, "small.toml"), str(tmp_path / "with"), lenient=True).execute()
    run = Run(loader.loads(text, "small.toml"), str(tmp_path / "without"), lenient=True)
    run.boot_state_files = False
    without = run.execute()
    assert sorted(p.name for p in (tmp_path / "with").iterdir() if p.name.startswith("boot-")) == ["boot-1", "boot-2"]
    assert not [p for p in (tmp_path / "without").iterdir() if p.name.startswith("boot-")]
    assert without.sysfs_state == with_files.sysfs_state and without.outcome == with_files.outcome == "vmcore"
    assert filecmp.cmp(tmp_path / "without" / "vmcore", tmp_path / "with" / "vmcore", shallow=False)
    assert without.partition.console.text() == with_files.partition.console.text()


def test_a_crash_during_registration_on_an_offline_cpu_is_refused_at_the_faults_line():
    """The fault's crash (cpu 0 unless it says) needs an online CPU, as an operator's [crash] does; with CPU 0 left
    offline the refusal names the [[faults]] entry's line (what test_scenario_fuzz.py found without a line)."""
    text = ('[machine]\nmemory = "1GiB"\ncpus = 2\nonline_cpus = [1]\n[kernel]\nprofile = "linux-3.4"\n'
            '[[faults]]\nkind = "crash-during-registration"\n')
    with pytest.raises(ScenarioError) as err:
        run_of(text).execute()
    assert str(err.value) == "<scenario>:7: crash cpu 0 is offline"  # the [[faults]] line
