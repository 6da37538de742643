"""The outcome of a field failure and the fault that reproduces it, read from the capture kernel's lines."""

from emulator.host import field_console, field_facts, field_verdict


def verdict_of(tmp_path, text) -> field_verdict.Verdict:
    p = tmp_path / "c.log"
    p.write_text(text)
    return field_verdict.verdict(field_facts.facts(field_console.read(str(p))))


FIRST = ("[    0.000000] Linux version 6.10.0 (x) #1 SMP\n"
         "[    0.000000] fadump: Reserved 320MB of memory at 0x00000014000000 (System RAM: 2048MB)\n"
         "[    0.300000] rtas fadump: Registration is successful!\n"
         "[   20.000000] Kernel panic - not syncing: boom\n")
CAPTURE = ("[    0.000000] rtas fadump: Firmware-assisted dump is active.\n"
           "[    0.000000] fadump: Firmware-assisted dump is active.\n"
           "[    0.000000] fadump: Reserving 1728MB of memory at 0x00000014000000 for preserving crash data\n")


def test_an_incomplete_boot_memory_section_is_a_short_copy_of_section_2(tmp_path):
    """rtas-fadump.c rtas_fadump_process() (6.10) checks sections in order CPU state (0), HPTE (1), boot memory (2)
    and prints "Dump taken by platform is incomplete (%d)" with the index."""
    v = verdict_of(tmp_path, FIRST + CAPTURE + "[    0.3] rtas fadump: Dump taken by platform is incomplete (2)\n")
    assert (v.outcome, v.causes[0].fault) == ("dump-rejected", {"kind": "copy-error", "section": "boot-memory",
                                                                 "short_by": "64KiB"})


def test_an_accepted_dump_needs_no_fault(tmp_path):
    v = verdict_of(tmp_path, FIRST + CAPTURE + "[    5.0] fadump: freeing reserved memory (0x28010000 - 0x80000000)\n")
    assert (v.outcome, v.causes, v.assumed) == ("vmcore", [], False)


def test_a_next_boot_without_an_active_dump_is_no_dump_with_an_assumed_cause(tmp_path):
    v = verdict_of(tmp_path, FIRST + FIRST.replace("Kernel panic - not syncing: boom", "login:"))
    assert v.outcome == "no-dump" and v.causes[0].assumed and "cannot tell why" in v.causes[0].why


def test_a_log_ending_at_the_crash_says_the_outcome_is_assumed(tmp_path):
    v = verdict_of(tmp_path, FIRST)
    assert (v.outcome, v.assumed) == ("no-dump", True)
    assert v.causes[0].fault == {"kind": "no-extended-os-term"} and v.causes[0].assumed


def test_a_log_without_a_crash_has_outcome_none(tmp_path):
    assert verdict_of(tmp_path, FIRST.replace("Kernel panic - not syncing: boom", "login:")).outcome == "none"
