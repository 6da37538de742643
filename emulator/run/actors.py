"""The actors of one boot: the running kernel and the operator (HMC) who acts on it, as SimPy processes.

The kernel process boots (each step a checkpoint: a lifecycle boundary where
explore may inject a crash), starts userspace and then waits; the operator
process delivers the scenario's [[events]] into it at their times as SimPy
interrupts (a crash, a write, a sysfs store, hotplug, a capture or reboot).
The kernel handles each one and tells the operator it is done, or that it
ended (crashed, dumped, rebooted). A fault's crash inside a call (strike)
arrives the same way, while the call waits. There is one clock: a kernel's
busy-waits are timeouts of its process. Firmware's dump is a process of its
own (firmware.fadump.FadumpFirmware.dump). Mixed into emulator.run.runner.Run.
"""

from dataclasses import dataclass

from firmware.simpy_loader import simpy

from emulator.errors import ScenarioError
from emulator.run.results import Capture
from emulator.scenario.loader import CrashSpec, Event
from kernels.process_steps import Checkpoint


@dataclass
class Request:
    """One [[events]] entry delivered into the running kernel; ``done`` fires with how the boot ended (or None)."""

    event: Event
    done: simpy.Event


class KernelActors:
    """kernel_process(), operator(), strike() and boot_to_userspace() of a Run."""

    def kernel_process(self, k, capture_boot: bool, up: simpy.Event):
        """start_kernel() to init (init/main.c), then the running kernel taking requests until its boot ends."""
        try:
            ended = yield from self.boot_to_userspace(k, capture_boot)
        except simpy.Interrupt as inside:  # a crash struck inside a call the booting kernel made (a fault)
            ended = yield from self.struck(k, inside.cause)
        if ended:
            return ended
        up.succeed()
        m = self.machine
        while True:
            try:
                yield m.env.event()  # running: only an interrupt from the operator wakes it
            except simpy.Interrupt as interrupt:
                request: Request | None = interrupt.cause
                if request is None:  # the scenario has nothing more for this boot
                    return None
                ev = request.event
                try:
                    ended = yield from self.apply(k, ev)
                    if not ended:
                        ended = yield from self.boundary(k, f"boot {k.boot}: after the {ev.action} at {ev.at:g}s")
                except simpy.Interrupt as inside:  # a crash struck inside a call this request made (a fault)
                    ended = yield from self.struck(k, inside.cause)
                request.done.succeed(ended)
                if ended:
                    return ended

    def struck(self, k, request: Request):
        """A crash delivered while the kernel was inside a call: handled as the operator's crash is (apply)."""
        ended = yield from self.apply(k, request.event)
        request.done.succeed(ended)
        return ended

    def strike(self, cpu: int, message: str, line: int | None) -> simpy.Event:
        """The fault plan's crash on ``cpu``, inside the call the running kernel is making: a process delivers it
        into the kernel's process as an interrupt, as the operator delivers a [crash]. The call waits on the event
        returned, which never fires: the crash arrives first, at the same instant."""
        m = self.machine
        kernel = m.env.active_process
        ev = Event("crash", m.boot_count, m.uptime(), line, crash=CrashSpec(cpu=cpu, message=message))
        m.env.process(self.deliver(kernel, ev))
        return m.env.event()

    def deliver(self, kernel: simpy.Process, ev: Event):
        """The crash a fault strikes with (scenario [[faults]]), delivered into ``kernel`` like the HMC's."""
        request = Request(ev, self.machine.env.event())
        kernel.interrupt(request)
        yield request.done

    def boot_to_userspace(self, k, capture_boot: bool):
        """The boot's checkpoints, then what userspace does first (kdump service); how the boot ended, or None."""
        gen = k.boot_sequence()
        for step in gen:
            yield step
            if not isinstance(step, Checkpoint):  # time passing inside a step (a busy RTAS call)
                continue
            ended = yield from self.boundary(k, f"boot {k.boot}: {k.step}")
            if ended:
                gen.close()
                return ended
        self.save_boot_state(k)
        if k.vmcore is not None:
            ended = yield from self.boundary(k, f"boot {k.boot}: /proc/vmcore ready")
            if ended:
                return ended
            yield from self.capture(k)
            ended = yield from self.after_capture(k)
        elif capture_boot:
            self.result.captures.append(Capture(k.boot, rejected=True))
            k.narrate_rejection()
            ended = None
        else:
            yield from k.kdump_service_register()
            ended = None
        if not ended:
            ended = yield from self.boundary(k, f"boot {k.boot}: userspace up")
        return ended

    def operator(self, k, events: list[Event], kernel: simpy.Process, up: simpy.Event):
        """The HMC and the operator at the console: each of this boot's [[events]] at its time, into the kernel."""
        m = self.machine
        yield up | kernel
        ended = None if kernel.is_alive else kernel.value
        for ev in events:
            if ended:
                if self.lenient:
                    return
                raise ScenarioError(f"this event is for boot {k.boot}, which already ended ({ended})",
                                    self.sc.path, ev.line)
            yield m.env.timeout(max(0.0, m.boot_time + ev.at - m.env.now))
            request = Request(ev, m.env.event())
            kernel.interrupt(request)
            ended = yield request.done
        if kernel.is_alive and not ended:
            kernel.interrupt(None)
