"""The facts of a console log, each with the line it was read from."""

from pathlib import Path

from emulator.host import field_console, field_facts

ROOT = Path(__file__).resolve().parents[3]
REF = ROOT / "tests/reference"


def facts_of(path) -> field_facts.LogFacts:
    return field_facts.facts(field_console.read(str(path)))


def facts_of_text(tmp_path, text) -> field_facts.LogFacts:
    p = tmp_path / "c.log"
    p.write_text(text)
    return facts_of(p)


def test_the_real_second_crash_log_shows_two_crashes_a_release_and_a_re_registration():
    f = facts_of(REF / "linux-6.12/second-crash/console.log")
    b0, b1, b2 = f.boots
    # init/main.c start_kernel() (6.12): "Kernel command line: %s"; lib/dump_stack.c dump_stack_print_info() (6.12):
    # "CPU: %d UID: %u PID: %d Comm: ..."; drivers/tty/sysrq.c sysrq_handle_crash() via __handle_sysrq: "Trigger a crash".
    assert b0.cmdline.value == "console=hvc0 fadump=on crashkernel=512M"
    assert (b0.crash.kind, b1.crash.kind, b2.crash) == ("sysrq", "sysrq", None)
    assert b1.crash.cpu.value == 1
    # arch/powerpc/kernel/fadump.c fadump_release_memory() -> "freeing reserved memory (0x%llx - 0x%llx)" (6.12);
    # rtas-fadump.c rtas_fadump_register() (6.12): "Registration is successful!" after the capture kernel's write.
    assert b1.released and b1.dump_active and [r.value for r in b1.registrations] == [0]
    assert b0.nr_cpus.value == 8 and b0.mmu.value == "radix" and b0.firmware.value == "qemu"


def test_registration_failures_keep_their_rtas_status(tmp_path):
    """rtas-fadump.c rtas_fadump_register() (6.10): "Failed to register. Hardware Error(%d)." for -1,
    "Already registered!" for -9 (no number printed)."""
    f = facts_of_text(tmp_path, "[    0.3] rtas fadump: Failed to register. Hardware Error(-1).\n"
                                "[    2.3] rtas fadump: Already registered!\n[    3.0] x\n")
    assert [(r.value, r.line) for r in f.boots[0].registrations] == [(-1, 1), (-9, 2)]


def test_the_crash_kind_is_the_first_line_that_says_it(tmp_path):
    """arch/powerpc/kernel/traps.c (6.10) die(): "Oops: System Reset, sig: 6 [#1]" then panic("System Reset")."""
    f = facts_of_text(tmp_path, "[    1.0] x\n[   20.0] Oops: System Reset, sig: 6 [#1]\n"
                                "[   20.0] CPU: 3 PID: 0 Comm: swapper/3\n[   20.0] Kernel panic - not syncing: System Reset\n")
    assert (f.boots[0].crash.kind, f.boots[0].crash.cpu.value) == ("system-reset", 3)


def test_a_garbled_number_leaves_the_fact_unknown_instead_of_failing(tmp_path):
    f = facts_of_text(tmp_path, "[    0.0] Partition configured for ?? cpus.\n[    0.0] phys_mem_size     = 0xZZ\n"
                                "[    0.1] y\n")
    assert f.boots[0].cpus is None and f.boots[0].ram_mib is None


def test_an_indexed_count_add_becomes_one_add_per_lmb_whatever_the_kernel_then_did():
    """arch/powerpc/platforms/pseries/hotplug-memory.c (6.1) dlpar_memory_add_by_ic(): "Attempting to hot-add %u
    LMB(s) at index %x", then "Memory indexed-count-add failed, removing any added LMBs". The adds are replayed;
    the emulated kernel decides whether they stay (6.1 rolls them back, as the real one did). DRC index 0x80000008
    is LMB 8: 2 GiB with QEMU's 256 MiB LMBs (hw/ppc/spapr_drc.c)."""
    f = facts_of(REF / "linux-6.1/dimm-hotplug/console.log")
    assert [h.value for h in f.boots[0].hotplug] == [("memory-add", (8 + i) << 28, True) for i in range(4)]


def test_a_failed_add_without_its_attempt_line_is_kept_as_not_applied(tmp_path):
    f = facts_of_text(tmp_path, "[    1.0] pseries-hotplug-mem: Memory indexed-count-add failed, removing any added "
                                "LMBs\n")
    assert [h.value for h in f.boots[0].hotplug] == [("memory-add", None, False)]
    g = facts_of(ROOT / "scenarios/hotplug-stale-header.log")
    assert [h.value[:2] for h in g.boots[0].hotplug] == [("memory-add", 0x100000000), ("memory-remove", 0x80000000),
                                                         ("memory-remove", 0xF0000000)]
