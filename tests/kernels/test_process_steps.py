"""A kernel's process steps (kernels.process_steps): RTAS calls and sysfs writes are SimPy steps of the calling
kernel's process, so a busy firmware costs time on the one clock (env.now) that every other process sees."""

import errno

from emulator.units import GiB
from firmware import abi
from firmware.abi import RtasStatus
from firmware.machine import Machine, MachineConfig
from kernels.process_steps import RTAS_TIMED_OUT, Checkpoint
from kernels.linux610 import Linux610
from kernels.linux612 import Linux612
from kernels.versions import LINUX_6_10
from tests.kernels.booting import booted

SYSFS = "/sys/kernel/fadump"


def test_a_busy_rtas_call_is_a_timeout_another_process_sees_pass():
    """rtas_call() (arch/powerpc/kernel/rtas.c, 3.4-7.2) retries while firmware says busy, waiting
    rtas_busy_delay_time(): 1 ms for -2, 10 ms for 9901 (10^1). The waits are timeouts of the caller's process:
    a watcher 5 ms later finds the call still under way, and the call ends 11 ms after it began."""
    k = booted()
    env = k.machine.env
    k.machine.rtas.faults[abi.DT_OS_TERM] = [RtasStatus.BUSY, 9901, RtasStatus.PARAMETER_ERROR]
    start = env.now
    call = env.process(k.rtas_call(abi.DT_OS_TERM, 0))
    seen = []

    def watcher():
        yield env.timeout(0.005)
        seen.append((round(env.now - start, 6), call.is_alive))

    env.process(watcher())
    env.run(until=call)
    assert call.value == RtasStatus.PARAMETER_ERROR
    assert seen == [(0.005, True)]
    assert round(env.now - start, 6) == 0.011
    assert [round(r.time - start, 6) for r in k.machine.rtas.log[-3:]] == [0.0, 0.001, 0.011]


def test_a_call_that_never_returns_ends_at_once_with_no_status():
    """ibm,os-term with a dump registered never returns (LoPAR): rtas_call's value is None, no time passes."""
    k = booted()
    env = k.machine.env
    start = env.now
    assert k.settle(k.rtas_call(abi.DT_OS_TERM, k.symbols["rtas_os_term_buf"])) is None
    assert env.now == start and k.machine.fadump.state.pending


def test_a_bounded_call_gives_up_once_the_waits_reach_the_limit():
    """rtas_fadump_call() (platforms/pseries/rtas-fadump.c, Debian 6.12.117 and 7.2): a busy answer once the
    waits reach RTAS_FADUMP_MAX_WAIT_MS gives -ETIMEDOUT; 9905 asks for 10^5 ms. The one wait taken is on the
    clock: 100 s pass, then the second busy answer gives up without waiting again."""
    k = booted(Linux612)
    env = k.machine.env
    k.machine.rtas.faults[abi.DT_CONFIGURE_KERNEL_DUMP] = [9905, 9905]
    start = env.now
    rc = k.settle(k.rtas_call(abi.DT_CONFIGURE_KERNEL_DUMP, 1, 0, 0, busy_limit_ms=60_000))
    assert rc == RTAS_TIMED_OUT == -errno.ETIMEDOUT
    assert round(env.now - start, 6) == 100.0


def test_a_sysfs_store_that_reaches_firmware_waits_in_the_writers_process():
    """registered_store() (fadump.c, v6.10): "0" unregisters through RTAS; a busy firmware (-2 then 9902 =
    100 ms) makes the write(2) take that long on the one clock, and it still returns the count."""
    k = booted()
    env = k.machine.env
    k.machine.rtas.faults[abi.DT_CONFIGURE_KERNEL_DUMP] = [RtasStatus.BUSY, 9902]
    start = env.now
    write = env.process(k.sysfs_write(f"{SYSFS}/registered", "0"))
    env.run(until=write)
    assert write.value == 1 and not k.dump_registered
    assert round(env.now - start, 6) == 0.101


def test_a_store_refused_before_it_reaches_firmware_costs_no_time():
    """registered_store() (fadump.c, v6.10): kstrtoint() fails on "junk": -EINVAL, no RTAS call, no wait."""
    k = booted()
    env = k.machine.env
    calls, start = len(k.machine.rtas.log), env.now
    k.machine.rtas.faults[abi.DT_CONFIGURE_KERNEL_DUMP] = [RtasStatus.BUSY]
    assert k.settle(k.sysfs_write(f"{SYSFS}/registered", "junk")) == -errno.EINVAL
    assert env.now == start and len(k.machine.rtas.log) == calls


def test_the_boot_yields_a_checkpoint_at_each_lifecycle_step_and_only_time_between():
    """boot_sequence() marks each lifecycle boundary with a Checkpoint; a busy REGISTER inside setup_fadump()
    is a plain timeout in between (no boundary), so explore's list of boundaries does not depend on firmware."""
    m = Machine(MachineConfig(memory=1 * GiB, cpus=4))
    m.rtas.faults[abi.DT_CONFIGURE_KERNEL_DUMP] = [RtasStatus.BUSY, 9901]
    m.power_on("fadump=on")
    k = Linux610(m, "fadump=on", LINUX_6_10.release, m.boot_count, 0)
    kinds = []

    def boot():
        for step in k.boot_sequence():
            kinds.append("checkpoint" if isinstance(step, Checkpoint) else "wait")
            yield step

    m.env.process(boot())
    m.env.run()
    assert kinds == ["checkpoint", "checkpoint", "wait", "wait", "checkpoint", "checkpoint"]
    assert k.dump_registered
