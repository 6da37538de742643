"""A field log becomes a scenario whose every key cites the log or says ASSUMED; the profile comes from the kernel
release matched against kernels.registry at run time."""

import re
from pathlib import Path

import pytest

from emulator.host import field_scenario, replay
from emulator.scenario import loader

ROOT = Path(__file__).resolve().parents[3]
REF = ROOT / "tests/reference"


def test_the_profile_is_the_release_series_or_the_nearest_older_profile_with_the_reason():
    assert field_scenario.choose_profile("6.12.117", "line 14", False)[:1] == ("linux-6.12",)
    assert field_scenario.choose_profile("6.1.192", "line 13", False)[:1] == ("linux-6.1",)
    profile, why, assumed = field_scenario.choose_profile("6.5.0", "line 13", False)
    assert (profile, assumed) == ("linux-6.1", True) and "no linux-6.5 profile" in why and "nearest older" in why
    assert field_scenario.choose_profile("6.11.0", "x", False)[0] == "linux-6.10"


def test_a_new_profile_in_the_registry_is_chosen_without_code_changes(monkeypatch):
    from kernels import registry

    monkeypatch.setitem(registry.PROFILES, "linux-6.1", registry.PROFILES["linux-3.4"])
    assert field_scenario.choose_profile("6.1.192", "line 13", False) == (
        "linux-6.1", "the kernel is 6.1.192 (line 13), the release of profile linux-6.1", False)


def test_without_a_release_the_message_style_decides_and_says_it_assumed():
    assert field_scenario.choose_profile(None, "", True)[0] == "linux-3.4"
    profile, why, assumed = field_scenario.choose_profile(None, "", False)
    assert assumed and "no kernel release" in why


def test_a_reference_log_and_head_give_a_scenario_with_nothing_assumed_that_reads_back():
    fld = replay.read_field(str(REF / "linux-6.12/offline-cpu/console.log"),
                            str(REF / "linux-6.12/offline-cpu/vmcore-head.bin"))
    text = fld.scenario.to_toml()
    assert "ASSUMED" not in text and "Nothing assumed" in text
    sc = loader.loads(text, "field.toml")
    # case.json of the reference: 4 CPUs, CPU 3 offline before the crash, radix, QEMU's pseries.
    assert (sc.machine.cpus, sc.kernel.profile, sc.kernel.nr_cpus) == (4, "linux-6.12", 8)
    assert [(e.action, e.boot) for e in sc.events if e.action == "hotplug"] == [("hotplug", 1)]
    assert fld.scenario.doc["machine"]["mmu"] == "radix" and fld.scenario.doc["machine"]["firmware"] == "qemu"


def test_every_key_the_log_cannot_give_is_written_as_an_assumption(tmp_path):
    log = tmp_path / "bare.log"
    log.write_text("[    0.000000] Linux version 6.10.0 (x) #1\n[    0.300000] rtas fadump: Registration is "
                   "successful!\n[   20.000000] Kernel panic - not syncing: boom\n")
    text = replay.read_field(str(log)).scenario.to_toml()
    for key in ("memory", "cpus", "page_size", "endian", "firmware", "mmu", "cmdline", "cpu"):
        assert re.search(rf"^{key} = .*# ASSUMED: ", text, re.MULTILINE), key
    assert re.search(r'^outcome = "no-dump"  # ASSUMED: no capture kernel booted', text, re.MULTILINE)
    loader.loads(text, "bare.toml")


@pytest.mark.parametrize("keep", [5, 60, 150, 190, 200, 260, 400])
def test_a_truncated_log_gives_a_partial_scenario_that_still_reads_back(tmp_path, keep):
    lines = (REF / "linux-6.12/radix/console.log").read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.log"
    cut.write_text("".join(lines[:keep]))
    fs = replay.read_field(str(cut)).scenario
    loader.loads(fs.to_toml(), "cut.toml")
    if keep < 190:  # the sysrq line is line 187: before it the log shows no crash
        assert fs.verdict.outcome == "none"


def test_the_expect_table_holds_the_logs_own_fadump_lines_and_outcome():
    fs = replay.read_field(str(ROOT / "tests/emulator/host/field_logs/copy-error-boot-memory.log")).scenario
    assert fs.doc["expect"]["outcome"] == "dump-rejected"
    assert "rtas fadump: Dump taken by platform is not valid (2)" in fs.doc["expect"]["console"]
    assert fs.doc["faults"] == [{"kind": "copy-error", "section": "boot-memory", "error_flags": 0x4000}]


REAL_LINES = [x for x in (REF / "linux-6.12/second-crash/console.log").read_text().splitlines()
              if "fadump" in x or "Linux version" in x or "CPU" in x or "sysrq" in x or "panic" in x or "@@@" in x
              or "Kernel command line" in x or "mmu" in x][:80] + (ROOT / "scenarios/hotplug-stale-header.log") \
    .read_text().splitlines()


def garble(line: str, cut: int, junk: str) -> str:
    return line[:cut] + junk + line[cut:] if cut % 3 else line[:cut]


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(REAL_LINES), st.integers(0, 120), st.text(max_size=6),
                          st.booleans()), max_size=60), st.booleans())
def test_shuffled_dropped_or_garbled_real_lines_give_a_scenario_text_never_a_traceback(tmp_path, picks, stamps):
    """Whatever survives of a log, from-console writes a scenario; it either reads back or is refused as bad input
    (a mix no partition can run, e.g. a crash on CPU 1 of a 1-CPU log), never an unexpected exception."""
    from emulator.errors import BadInputError

    lines = [garble(line, cut, junk) if keep else line for line, cut, junk, keep in picks]
    if not stamps:
        lines = [re.sub(r"^\[\s*\d+\.\d+\] ", "", x) for x in lines]
    log = tmp_path / "f.log"
    log.write_text("\n".join(lines), errors="surrogateescape")
    try:
        fs = replay.read_field(str(log)).scenario
    except BadInputError:
        return
    text = fs.to_toml()
    assert text.startswith("# A field failure as a scenario")
    try:
        loader.loads(text, "f.toml")
    except BadInputError:
        pass


def test_fewer_cpus_brought_up_than_configured_become_online_cpus_marked_assumed(tmp_path):
    """arch/powerpc/platforms/pseries/setup.c (6.10) "Partition configured for %d cpus."; kernel/smp.c
    smp_cpus_done() "Brought up %d node%s, %d CPU%s"."""
    log = tmp_path / "c.log"
    log.write_text("[    0.000000] Partition configured for 4 cpus.\n[    0.2] smp: Brought up 1 node, 3 CPUs\n"
                   "[    0.3] rtas fadump: Registration is successful!\n")
    fs = replay.read_field(str(log)).scenario
    assert fs.doc["machine"]["online_cpus"] == [0, 1, 2]
    assert "which ones the log does not say" in fs.notes["machine.online_cpus"].assumed
