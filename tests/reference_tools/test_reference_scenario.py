"""Turning a reference case into the emulator's twin scenario (emulator.host.reference_scenario)."""

import json
from pathlib import Path

from emulator.host import reference_scenario as rs
from emulator.scenario import model as scenario_model

REFERENCE = Path(__file__).resolve().parent.parent / "reference"


def test_the_crashing_cpu_is_read_from_the_oops_after_sysrq():
    console = "[ 2.7] sysrq: Trigger a crash\n[ 2.7] Kernel panic - not syncing: sysrq triggered crash\n" \
              "[ 2.7] CPU: 1 UID: 0 PID: 1 Comm: init Not tainted 6.12.117 #1\n"
    assert rs.crash_cpu(console) == 1


def test_a_kernel_without_its_own_profile_falls_back_to_the_closest_design():
    assert rs.profile_for("linux-3.4") == "linux-3.4"
    expected = "linux-6.12" if "linux-6.12" in scenario_model.PROFILES else "linux-6.10"
    assert rs.profile_for("linux-6.12") == expected


def test_nr_cpus_comes_from_the_kernel_config():
    assert rs.nr_cpus("CONFIG_SMP=y\nCONFIG_NR_CPUS=8\n") == 8
    assert rs.nr_cpus("CONFIG_SMP=y\n") is None


def test_the_twin_has_the_cases_memory_cpus_command_line_and_offline_cpu():
    ref = REFERENCE / "linux-6.12" / "offline-cpu"
    doc, sc = rs.scenario_for(ref)
    case = json.loads((ref / "case.json").read_text())
    assert sc.machine.memory == 2 << 30 and sc.machine.cpus == case["smp"] == 4
    assert sc.kernel.cmdline == case["cmdline"]
    assert [(e.action, e.kind, e.cpu) for e in sc.events if e.action == "hotplug"] == [("hotplug", "cpu-offline", 3)]
    assert doc["crash"]["kind"] == "sysrq"


def test_keys_the_scenario_model_does_not_know_yet_are_dropped_and_known_ones_kept():
    doc, _ = rs.scenario_for(REFERENCE / "linux-6.12" / "radix")
    assert "nr_cpus" not in doc["kernel"] or doc["kernel"]["nr_cpus"] == 8
    assert doc["machine"]["mmu"] == "radix"


def test_a_twice_crashing_case_registers_again_only_in_its_first_capture_kernel():
    """second-crash's case.json: boot 1 runs "release", "register", "crash"; boot 2 only "release" and powers off
    (its console has no second "Registration is successful!"), so the twin releases after each capture and
    writes registered from a scenario event in boot 2 (the emulator's second boot), before the second crash."""
    ref = REFERENCE / "linux-6.12" / "second-crash"
    case = json.loads((ref / "case.json").read_text())
    assert "register" in case["boots"][1] and "register" not in case["boots"][2]
    _, sc = rs.scenario_for(ref)
    assert sc.capture_after == "release"
    sysfs = [(e.boot, e.path, e.value, e.at) for e in sc.events if e.action == "sysfs"]
    crash = [e for e in sc.events if e.action == "crash" and e.boot == 2][0]
    assert sysfs == [(2, "/sys/kernel/fadump/registered", "1", rs.REGISTER_AT)] and rs.REGISTER_AT < crash.at
