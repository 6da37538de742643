"""How a kernel goes down (kernels.crash): the crashing CPU's frame, the system reset on every CPU, the wait in
enter_rtas, and what firmware does with a system reset the kernel returns from. All of it is the kernel's crash
path (and the hardware's), not the run's."""

from emulator.hw.cpu import TRAP_SYSTEM_RESET
from firmware import abi
from kernels.crash import ENTER_RTAS, TRAP_DATA_ACCESS, Verdict
from tests.kernels.booting import booted

NIP = 0xC000_0000_000A_5F10


def test_an_oops_frame_holds_trap_0x300_under_the_registers_the_trigger_gives():
    """die() gets the bad access's pt_regs (arch/powerpc/kernel/traps.c, 3.4-7.2): the CPU's live registers, trap 0x300 (data storage), and
    what the scenario says the frame held on top."""
    k = booted()
    live = dict(k.machine.cpus[2].regs)
    frame = k.trap_frame("oops", 2, {"nip": NIP, "dar": 0x10})
    assert frame == dict(live, trap=TRAP_DATA_ACCESS, nip=NIP, dar=0x10)
    assert k.trap_frame("panic", 2, {})["trap"] == live["trap"]
    assert k.trap_frame("sysrq", 2, {})["trap"] == live["trap"]  # 6.x: sysrq-c panics, no bad access


def test_a_system_reset_is_taken_by_every_online_cpu_inside_the_crash_path():
    """A system reset (the HMC's, or QEMU's nmi) interrupts every online CPU with trap 0x100:
    system_reset_exception(), arch/powerpc/kernel/traps.c (6.10); offline CPUs take none."""
    k = booted(online_cpus=[0, 1, 3])
    assert k.crash("system-reset", 1, {}, "") == Verdict.DUMPED
    assert [c.regs["trap"] == TRAP_SYSTEM_RESET for c in k.machine.cpus] == [True, True, False, True]
    assert k.crash_regs["trap"] == TRAP_SYSTEM_RESET


def test_the_crashing_cpu_waits_inside_enter_rtas_while_firmware_dumps():
    """rtas_os_term() (arch/powerpc/kernel/rtas.c, 6.10) with a registration never returns: firmware finds the CPU in enter_rtas, called from the
    crash site (link)."""
    k = booted()
    assert k.crash("panic", 3, {"nip": NIP}, "test") == Verdict.DUMPED
    assert (k.machine.cpus[3].regs["nip"], k.machine.cpus[3].regs["link"]) == (ENTER_RTAS, NIP)


def test_an_os_term_that_returns_puts_the_crashing_cpu_back_where_it_was():
    """rtas_os_term() (arch/powerpc/kernel/rtas.c, 6.10): a failing ibm,os-term returns "ibm,os-term call failed -1" and the panic goes
    on; the CPU is no longer in RTAS."""
    k = booted()
    k.machine.rtas.faults[abi.DT_OS_TERM] = [-1]
    before = dict(k.machine.cpus[3].regs)
    assert k.crash("panic", 3, {"nip": NIP}, "test") == Verdict.HANG
    assert "ibm,os-term call failed -1" in [line.text for line in k.machine.console.lines]
    assert k.machine.cpus[3].regs == before


def test_a_system_reset_the_kernel_returns_from_goes_back_to_firmware():
    """No registration: system_reset_exception() (arch/powerpc/kernel/traps.c, 6.10) panics and hangs; LoPAR firmware's R1-3 fallback
    (FadumpFirmware.system_reset_unhandled) then decides, and its answer is the verdict."""
    k = booted(cmdline="fadump=off")
    asked = []
    k.machine.fadump.system_reset_unhandled = lambda: asked.append("asked") or True
    assert k.crash("system-reset", 0, {}, "") == Verdict.DUMPED and asked == ["asked"]
    asked.clear()
    assert k.crash("panic", 0, {}, "") == Verdict.HANG and asked == []  # only a system reset goes back
