"""The actors of a boot (emulator.run.actors): the kernel and the operator are SimPy processes that meet
through interrupts, and firmware's dump is a process of its own."""

import simpy

from emulator.run.actors import KernelActors, Request
from emulator.run.runner import Run
from emulator.scenario import faults
from emulator.scenario import loader as scenario
from firmware.fadump import FadumpFirmware
from tests.conftest import small_scenario_text

WRITE_THEN_CRASH = """
[[events]]
action = "write"
boot = 1
at = "5s"
addr = "0x1A000000"
text = "written by the operator at 5 s"
"""


def small_run(extra: str = "", lenient: bool = False) -> Run:
    return Run(scenario.loads(small_scenario_text(extra=extra)), None, lenient=lenient)


def test_each_boot_runs_as_its_own_kernel_process_beside_an_operator_process(monkeypatch):
    """Both processes of every boot are started with env.process: two boots, two kernels, two operators."""
    run = small_run()
    started = []
    real = run.machine.env.process

    def process(generator):
        started.append(generator.__name__)
        return real(generator)

    monkeypatch.setattr(run.machine.env, "process", process)
    run.execute()
    assert started.count("kernel_process") == 2 and started.count("operator") == 2
    assert started[0] == "partition"


def test_a_crash_arrives_in_the_running_kernel_as_an_interrupt_from_the_operator(monkeypatch):
    """The scenario's [crash] is delivered by the operator as simpy.Interrupt(Request) into the kernel process."""
    run = small_run(WRITE_THEN_CRASH)
    delivered = []
    real_apply = Run.apply

    def apply(self, k, ev):
        delivered.append((ev.action, self.machine.env.active_process._generator.__name__,
                          round(self.machine.env.now - self.machine.boot_time, 6)))
        return (yield from real_apply(self, k, ev))

    monkeypatch.setattr(Run, "apply", apply)
    result = run.execute()
    assert {process for _, process, _ in delivered} == {"kernel_process"}
    assert delivered[-2:] == [("write", "kernel_process", 5.0), ("crash", "kernel_process", 10.0)]
    assert result.outcome == "vmcore"


def test_the_operator_waits_for_the_kernel_to_finish_each_request():
    """A Request's done event carries how the boot ended: None after a write, the verdict after a crash."""
    env = simpy.Environment()
    seen = []

    def kernel():
        while True:
            try:
                yield env.event()
            except simpy.Interrupt as interrupt:
                interrupt.cause.done.succeed("dumped" if interrupt.cause.event == "crash" else None)

    def operator(k):
        for ev in ("write", "crash"):
            request = Request(ev, env.event())
            k.interrupt(request)
            seen.append((ev, (yield request.done)))

    k = env.process(kernel())
    env.process(operator(k))
    env.run(until=1)
    assert seen == [("write", None), ("crash", "dumped")]


def test_firmware_dump_is_a_process_of_its_own(monkeypatch):
    """The crash starts FadumpFirmware.dump() with env.process; it preserves memory and logs its own lines."""
    run = small_run()
    started = []
    real = run.machine.env.process

    def process(generator):
        started.append((generator.__name__, round(run.machine.env.now, 6)))
        return real(generator)

    monkeypatch.setattr(run.machine.env, "process", process)
    result = run.execute()
    dump = [t for name, t in started if name == "dump"]
    assert dump == [result.crashes[0]["time"]]
    assert any("PHYP: dump triggered" in line.text for line in run.machine.console.lines)


def test_a_power_loss_inside_the_dump_process_ends_it_without_preserving(monkeypatch):
    """dump() returns False when power goes during the copy: nothing is published, memory is gone."""
    run = small_run()
    run.machine.fadump.inject_interrupt(0.5, "power-loss")
    result = run.execute()
    assert result.crashes[0]["result"] == "power-loss"
    text = run.machine.console.text()
    assert "PHYP: power lost after copying" in text and "dump complete" not in text
    assert result.outcome == "no-dump" and not result.captures  # the next boot found no dump to capture


def test_every_actor_process_cites_the_code_it_mirrors():
    """Each process's one-line docstring names the kernel or firmware function (and file) it models."""
    from emulator.run.actors import KernelActors

    assert "init/main.c" in KernelActors.kernel_process.__doc__.splitlines()[0]
    assert "HMC" in KernelActors.operator.__doc__.splitlines()[0]
    assert "spapr_fadump.c" in FadumpFirmware.dump.__doc__


BUSY_REGISTER = """
[[faults]]
kind = "rtas-status"
call = "ibm,configure-kernel-dump"
command = "register"
statuses = [9902]
"""
"""Firmware answers the first REGISTER "busy, wait 10^2 ms" (rtas_busy_delay_time(), rtas.c)."""


def stamp_of(run: Run, text: str) -> float:
    return next(line.stamp for line in run.machine.console.lines if text in line.text)


def test_a_busy_registration_is_time_on_the_one_clock_and_the_next_event_keeps_its_time():
    """3.4's kdump service registers at boot (echo 1 > fadump_registered): the 100 ms busy wait is a timeout of
    the kernel's process, so it ends 100 ms later on env.now, and the operator's [crash] at 10 s still lands at
    uptime 10 s (with a second clock the wait leaked into it: 10.1 s)."""
    quick, busy = small_run(), small_run(BUSY_REGISTER)
    quick.execute(), busy.execute()
    done = "firmware-assisted kernel dump registration is successful"
    assert round(stamp_of(busy, done) - stamp_of(quick, done), 6) == 0.1
    assert stamp_of(busy, "Kernel panic") == stamp_of(quick, "Kernel panic") == 10.0


CRASH_DURING_REGISTRATION = """
[[faults]]
kind = "crash-during-registration"
cpu = 2
"""


def test_a_crash_during_registration_arrives_in_the_kernel_process_as_an_event(monkeypatch):
    """The fault strikes inside the REGISTER call: a process delivers the crash into the kernel's process as an
    interrupt carrying a Request, the way the operator delivers a [crash]; the call never returns (firmware never
    sees REGISTER) and the crash is handled at that instant, on CPU 2. No exception type carries it."""
    run = small_run(CRASH_DURING_REGISTRATION, lenient=True)  # the scenario's later events cannot run
    delivered, handled = [], []
    real_deliver, real_struck = KernelActors.deliver, KernelActors.struck

    def deliver(self, kernel, ev):
        delivered.append((kernel._generator.__name__, ev.crash.cpu, self.machine.env.now))
        return (yield from real_deliver(self, kernel, ev))

    def struck(self, k, request):
        handled.append((self.machine.env.active_process._generator.__name__, type(request).__name__))
        return (yield from real_struck(self, k, request))

    monkeypatch.setattr(Run, "deliver", deliver)
    monkeypatch.setattr(Run, "struck", struck)
    result = run.execute()
    assert delivered == [("kernel_process", 2, result.crashes[0]["time"])]
    assert handled == [("kernel_process", "Request")]
    assert [c["cpu"] for c in result.crashes] == [2] and result.crashes[0]["result"] != "dumped"
    assert not [r for r in run.machine.rtas.log if r.name == "ibm,configure-kernel-dump"]
    assert not hasattr(faults, "KernelCrashed")


def test_the_boundaries_of_a_run_with_a_crash_during_registration_are_the_same_every_time():
    """explore's list: the same labels each run, ending where the crash struck (no boundary after it)."""
    first = small_run(CRASH_DURING_REGISTRATION, lenient=True).execute().boundaries
    assert first == small_run(CRASH_DURING_REGISTRATION, lenient=True).execute().boundaries
    assert first[-1] == "boot 1: vmcore_init done" and len(first) == 4


def test_the_busy_wait_and_the_strike_are_documented_as_mirroring_the_kernel():
    """Each new process cites what it models in its first docstring line."""
    from kernels.base import Kernel  # rtas_call and sysfs_write come from kernels.process_steps

    assert "arch/powerpc/kernel/rtas.c" in Kernel.rtas_call.__doc__.splitlines()[0]
    assert "HMC" in KernelActors.deliver.__doc__.splitlines()[0]
    assert "fs/kernfs/file.c" in " ".join(Kernel.sysfs_write.__doc__.splitlines()[:2])
    assert "LoPAR" in FadumpFirmware.terminate_partition.__doc__.splitlines()[0]
    assert "LoPAR R1-3" in FadumpFirmware.system_reset_unhandled.__doc__.splitlines()[0]


def test_a_crash_during_a_registration_the_operator_asked_for_ends_the_boot_through_the_same_path(monkeypatch):
    """A kdump service that does not register at boot leaves the first REGISTER to the operator's
    echo 1 > /sys/kernel/fadump_registered at 3 s (fadump_register_store(), fadump.c v3.4): the crash strikes
    inside that write's RTAS call, the kernel process handles it, and the write's request is done with the
    crash's verdict; the later events of the boot are dropped (lenient)."""
    from kernels.linux34 import Linux34

    def no_registration_at_boot(self):
        return
        yield

    monkeypatch.setattr(Linux34, "kdump_service_register", no_registration_at_boot)
    write = ('[[events]]\naction = "sysfs"\nboot = 1\nat = "3s"\npath = "/sys/kernel/fadump_registered"\n'
             'value = "1"\n')
    result = small_run(CRASH_DURING_REGISTRATION + write, lenient=True).execute()
    assert [(c["cpu"], round(c["time"], 6)) for c in result.crashes] == [(2, 3.0)]  # boot 1 starts at 0
    assert result.crashes[0]["result"] != "dumped" and not result.sysfs  # the write never returned
