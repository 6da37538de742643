"""The actors of a boot (emulator.run.actors): the kernel and the operator are SimPy processes that meet
through interrupts, and firmware's dump is a process of its own."""

import simpy

from emulator.run.actors import Request
from emulator.run.runner import Run
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


def small_run(extra: str = "") -> Run:
    return Run(scenario.loads(small_scenario_text(extra=extra)), None)


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
