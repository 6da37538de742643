"""What the scenario's events and its crash do to the running partition: a write, a sysfs store, DLPAR hotplug,
a capture, a reboot, and the crash itself up to firmware's dump (with the registers each CPU's note must then
hold). Mixed into emulator.run.runner.Run; the operator (emulator.run.actors) delivers each event at its time.
"""

import errno

from emulator.errors import ScenarioError
from emulator.hw.layout import Range
from emulator.run.events import Lifecycle
from emulator.scenario.loader import Event
from emulator.scenario.model import Action
from kernels.crash import CrashKind, Verdict
from kernels.image import IMAGE_SIZE


class ScenarioSteps:
    """apply(), hotplug(), check_write(), crash() and expected_registers() of a Run."""

    def apply(self, k, ev: Event):
        """Carry out one event; the reason the boot ended, or None."""
        if ev.action == Action.WRITE:
            self.check_write(k, ev)
            k.ram.write_repeated(ev.addr, ev.length, ev.data)  # the pattern ev.repeat times, never expanded
            k.page_kind(ev.addr, ev.length, ev.kind or "kernel")
            return None
        if ev.action == Action.REBOOT:
            k.userspace("# reboot")
            yield from k.machine_shutdown()
            return Verdict.CLEAN_REBOOT
        if ev.action == Action.CAPTURE:
            if k.vmcore is None:
                k.userspace("# cp /proc/vmcore: No such file or directory")
                return None
            yield from self.capture(k, ev.path or None)
            return None
        if ev.action == Action.HOTPLUG:
            self.hotplug(k, ev)
            return None
        if ev.action == Action.SYSFS:
            rc = yield from k.sysfs_write(ev.path, ev.value)
            text = "ok" if rc >= 0 else f"-{errno.errorcode.get(-rc, str(-rc))}"
            k.userspace(f"# echo {ev.value} > {ev.path}" + ("" if rc >= 0 else f"  (write error: {text})"))
            self.result.sysfs.append({"boot": k.boot, "path": ev.path, "value": ev.value, "result": text})
            return None
        return (yield from self.crash(k, ev))

    def hotplug(self, k, ev: Event) -> None:
        """DLPAR from the management console: memory add/remove, CPU online/offline."""
        if ev.kind == "memory-add":
            ok = k.dlpar_memory_add(ev.addr)
        elif ev.kind == "memory-remove":
            ok = k.dlpar_memory_remove(ev.addr)
        else:
            ok = k.cpu_set_online(ev.cpu, ev.kind == "cpu-online")
        self.result.hotplug.append({"boot": k.boot, "kind": ev.kind, "addr": f"{ev.addr:#x}", "cpu": ev.cpu,
                                    "ok": ok, "time": round(self.machine.now(), 6)})

    def check_write(self, k, ev: Event) -> None:
        r = Range(ev.addr, ev.addr + ev.length)
        where = f"write [{r.start:#x}, {r.end:#x})"
        if r.start < IMAGE_SIZE:
            raise ScenarioError(f"{where} overlaps the running kernel's image [0, {IMAGE_SIZE:#x}); "
                                f"write at or above {IMAGE_SIZE:#x}", self.sc.path, ev.line)
        if not self.machine.layout.is_memory(r):
            raise ScenarioError(f"{where} is not all memory (it touches a hole)", self.sc.path, ev.line)
        for res in k.memblock.reserved:
            if r.overlaps(res):
                raise ScenarioError(f"{where} overlaps memory the kernel reserved [{res.start:#x}, {res.end:#x}) "
                                    "(a dump area, the crashed kernel's memory or a crashkernel region); "
                                    "move it below or above", self.sc.path, ev.line)

    def crash(self, k, ev: Event):
        """Bookkeeping of a crash: publish it, start the crashing CPU's process (firmware's termination for the
        hypervisor's trigger), then, when a dump starts, firmware's dump process; record what happened."""
        m = self.machine
        c = ev.crash
        if not m.cpus[c.cpu].online:
            raise ScenarioError(f"crash cpu {c.cpu} is offline", self.sc.path, ev.line)
        self.lifecycle(Lifecycle.CRASH, k, trigger=c.kind, cpu=c.cpu)
        if c.kind == CrashKind.HYPERVISOR:
            verdict = Verdict.DUMPED if m.fadump.terminate_partition() else Verdict.TERMINATED
        else:
            verdict = yield m.env.process(k.crash_process(c.kind, c.cpu, c.regs, c.message, tuple(c.stuck_cpus)))
        self._expected_regs = self.expected_registers(k, c.cpu, k.saved_regs or k.crash_regs or {})
        self.span(f"{c.kind} on CPU {c.cpu}: {verdict}", f"cpu {c.cpu}", m.env.now, message=c.message)
        self.result.crashes.append({"boot": k.boot, "cpu": c.cpu, "kind": c.kind, "time": m.env.now,
                                    "result": verdict})
        if verdict != Verdict.DUMPED:
            return verdict
        index = len(self.result.boundaries)
        self.result.boundaries.append("firmware: preserving memory")
        self.lifecycle(Lifecycle.DUMP, k, boundary=index)
        preserve_span = self.span("firmware preserves the partition", m.fadump.actor, m.env.now)
        with self.result.timed("preserve"):
            preserved = yield m.env.process(m.fadump.dump())
        if not preserved:
            self.result.crashes[-1]["result"] = Verdict.POWER_LOSS
            self.lifecycle(Lifecycle.POWER_LOSS, k)
            return Verdict.POWER_LOSS
        self.end_span(preserve_span, m.env.now)
        return verdict

    def expected_registers(self, k, crashing: int, crash_regs: dict) -> dict[int, dict[str, int]]:
        """What each CPU's NT_PRSTATUS should hold, in the order the capture kernel writes them.

        Firmware saves online CPUs; the kernel keeps those in the header's mask, takes
        only GPRs, NIA, MSR, CTR, LR, XER, CR, DAR, DSISR from firmware, and uses
        the header's registers for the crashing CPU when crash_fadump() ran.
        """
        taken = {f"gpr{i}" for i in range(32)} | {"nip", "msr", "ctr", "link", "xer", "ccr", "dar", "dsisr"}
        fields = k.pt_regs_fields
        if k.crash_info_saved:
            mask = {c.id for c in self.machine.cpus if c.online}
        elif k.mask_at_registration == "possible":
            mask, crashing = {c.id for c in self.machine.cpus}, None
        else:
            mask, crashing = set(), None
        out = {}
        for cpu in self.machine.cpus:
            if not cpu.online or cpu.id not in mask:
                continue
            if cpu.id == crashing:
                out[cpu.id] = {f: crash_regs.get(f, 0) for f in fields}
            else:
                out[cpu.id] = {f: (cpu.regs.get(f, 0) if f in taken else 0) for f in fields}
        return out
