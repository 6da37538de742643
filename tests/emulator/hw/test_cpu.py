"""Virtual processors (emulator.hw.cpu): the system reset reaches every online CPU."""

from emulator.hw.cpu import TRAP_SYSTEM_RESET, make_cpus, system_reset


def test_a_system_reset_sets_the_0x100_trap_on_every_online_cpu_and_no_offline_one():
    """Power ISA: the System Reset interrupt's vector is 0x100; Linux's pt_regs.trap records it on each CPU."""
    cpus = make_cpus(4, {0, 1, 3}, little_endian=True)
    before = cpus[2].regs["trap"]
    system_reset(cpus)
    assert [c.regs["trap"] for c in cpus] == [TRAP_SYSTEM_RESET, TRAP_SYSTEM_RESET, before, TRAP_SYSTEM_RESET]
    assert TRAP_SYSTEM_RESET == 0x100 != before
