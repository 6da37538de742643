"""Run a scenario: boot, events, crash, firmware preservation, capture, verification.

The partition's life is one SimPy process; each kernel boot is a sub-process.
Everything a run produces is collected in a RunResult and written by report.py.
"""

import errno
from pathlib import Path
from typing import TextIO

from emulator.run import export
from emulator.views import memmap_view
from emulator.run.kdump_service import CaptureSteps
from emulator.errors import (
    BadInputError,
    FadumpEmuError,
    ScenarioError,
)
from emulator.scenario.faults import FaultPlan, KernelCrashed
from emulator.hw.layout import Range
from firmware.machine import Machine
from emulator.run.outdir import OutputFolder
from emulator.run.results import Capture, RunResult
from emulator.scenario.loader import CrashSpec, Event, Scenario
from emulator.run.verify import CrashSnapshot
from firmware.fadump import PowerLoss
from kernels.crash import TRAP_DATA_ACCESS, TRAP_SYSTEM_RESET
from kernels.image import IMAGE_SIZE
from kernels.registry import PROFILES


class Run(CaptureSteps):
    """One execution of a scenario into an output folder."""

    def __init__(self, scenario: Scenario, out_dir: str | None, force: bool = False, echo: TextIO | None = None,
                 export_mode: str = export.AUTO, lenient: bool = False):
        self.sc = scenario
        self.lenient = lenient
        """Drop events a crash made impossible instead of calling them a scenario mistake (explore)."""
        self.export_mode = export_mode
        self.out = Path(out_dir) if out_dir else None
        self.force = force
        self.machine = Machine(scenario.machine, echo)
        self.result = RunResult(scenario, self.machine)
        for cpu_id, regs in scenario.cpu_regs.items():
            self.machine.cpus[cpu_id].set(regs)
        if scenario.capture_tool == "makedumpfile":
            from emulator.host import ppc64el_tools

            if not ppc64el_tools.available():
                raise BadInputError(f"{scenario.path}: capture.tool = \"makedumpfile\" needs Debian's ppc64el "
                                    f"makedumpfile. {ppc64el_tools.how_to_install()}")
        self.faults = FaultPlan(scenario.faults)
        self.faults.arm_machine(self.machine)
        self._snapshot: CrashSnapshot | None = None
        self._expected_regs: dict[int, dict[str, int]] = {}

    # --- output folder ---

    def prepare_output(self) -> None:
        """The folder being written is a fresh staging folder (emulator.run.outdir); only make sure it is there."""
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)

    def vmcore_path(self, n: int) -> Path | None:
        if self.out is None:
            return None
        return self.out / ("vmcore" if n == 1 else f"vmcore.{n}")

    # --- the partition's life ---

    def execute(self) -> RunResult:
        self.prepare_output()
        env = self.machine.env
        env.process(self.partition())
        try:
            env.run()
        except FadumpEmuError as exc:
            # SimPy re-raises a copy; give the caller the original (with its file and line).
            raise (exc.__cause__ if isinstance(exc.__cause__, FadumpEmuError) else exc) from None
        self.result.outcome = self.outcome()
        return self.result

    def partition(self):
        m, sc = self.machine, self.sc
        events = list(sc.events)
        boot = 0
        while True:
            boot += 1
            capture_boot = m.devicetree.has("/rtas", "ibm,kernel-dump")
            cmdline = (sc.kernel.capture_cmdline or sc.kernel.cmdline) if capture_boot else sc.kernel.cmdline
            if capture_boot:
                cmdline = self.faults.capture_cmdline(cmdline)
            profile = (sc.kernel.capture_profile or sc.kernel.profile) if capture_boot else sc.kernel.profile
            m.power_on(cmdline)
            release = sc.kernel.release(profile, capture_boot)
            k = PROFILES[profile](m, cmdline, release, boot, sc.kernel.epoch, nr_cpus=sc.kernel.nr_cpus)
            k.pid_by_cpu = sc.kernel.note_pids == "cpu"
            k.faults = self.faults
            self.result.kernels.append(k)
            boot_span = self.result.span(f"boot {boot}: {profile}{' (capture kernel)' if capture_boot else ''}",
                                         f"kernel {boot}", m.env.now, cmdline=cmdline, release=release)
            mine = [e for e in events if e.boot == boot]
            events = [e for e in events if e.boot != boot]
            ended = yield from self.life_of(k, capture_boot, mine)
            boot_span["end"] = m.env.now
            boot_span["args"]["ended"] = ended or "scenario end"
            if ended in ("dumped", "reboot", "clean-reboot", "power-loss"):
                m.reset()
                if ended == "reboot" or ended == "clean-reboot":
                    yield m.env.timeout(1.0)
                continue
            if events and not self.lenient:
                first = min(events, key=lambda e: (e.boot, e.at))
                raise ScenarioError(f"event for boot {first.boot} never runs: boot {boot} does not crash or "
                                    "reboot", sc.path, first.line)
            return

    def life_of(self, k, capture_boot: bool, events: list[Event]):
        """One kernel from power-on to the end of its boot: the reason it ended, or None."""
        m = self.machine
        try:
            gen = k.boot_sequence()
            for step in gen:
                yield step
                ended = yield from self.boundary(k, f"boot {k.boot}: {k.step}")
                if ended:
                    gen.close()
                    return ended
            yield from m.catch_up()
            self.save_boot_state(k)
            if k.vmcore is not None:
                ended = yield from self.boundary(k, f"boot {k.boot}: /proc/vmcore ready")
                if ended:
                    return ended
                yield from self.capture(k)
                ended = self.after_capture(k)
            elif capture_boot:
                self.result.captures.append(Capture(k.boot, rejected=True))
                k.narrate_rejection()
                ended = None
            else:
                k.kdump_service_register()
                ended = None
            if not ended:
                ended = yield from self.boundary(k, f"boot {k.boot}: userspace up")
        except KernelCrashed as crash:
            ev = Event("crash", k.boot, m.uptime(), None, crash=CrashSpec(cpu=crash.cpu, message=crash.message))
            return (yield from self.crash(k, ev))
        for ev in events:
            if ended:
                if self.lenient:
                    return ended
                raise ScenarioError(f"this event is for boot {k.boot}, which already ended ({ended})",
                                    self.sc.path, ev.line)
            yield m.env.timeout(max(0.0, m.boot_time + ev.at - m.env.now))
            ended = yield from self.apply(k, ev)
            yield from m.catch_up()
            if not ended:
                ended = yield from self.boundary(k, f"boot {k.boot}: after the {ev.action} at {ev.at:g}s")
        return ended

    def boundary(self, k, label: str):
        """A point between two steps of the lifecycle; an injected crash may strike here."""
        index = len(self.result.boundaries)
        self.result.boundaries.append(label)
        inject = self.faults.injection_at(index)
        if inject is None or inject.get("trigger") == "power-loss":
            return None
        online = [c.id for c in self.machine.cpus if c.online]
        cpu = inject.get("cpu", online[0]) if inject.get("cpu", online[0]) in online else online[0]
        crash = CrashSpec(cpu=cpu, kind=inject.get("trigger", "panic"), message=f"injected crash at {label}")
        return (yield from self.crash(k, Event("crash", k.boot, self.machine.uptime(), None, crash=crash)))

    def apply(self, k, ev: Event):
        """Carry out one event; the reason the boot ended, or None."""
        if ev.action == "write":
            self.check_write(k, ev)
            k.ram.write(ev.addr, ev.data)
            k.page_kind(ev.addr, len(ev.data), ev.kind or "kernel")
            return None
        if ev.action == "reboot":
            k.userspace("# reboot")
            k.machine_shutdown()
            return "clean-reboot"
        if ev.action == "capture":
            if k.vmcore is None:
                k.userspace("# cp /proc/vmcore: No such file or directory")
                return None
            yield from self.capture(k, ev.path or None)
            return None
        if ev.action == "hotplug":
            self.hotplug(k, ev)
            return None
        if ev.action == "sysfs":
            rc = k.sysfs_write(ev.path, ev.value)
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

    def save_boot_state(self, k) -> None:
        """What userspace sees once the kernel is up: sysfs values and /proc/device-tree."""
        files = {}
        for path in sorted({**k.sysfs, **k.debugfs}):
            value = k.sysfs_read(path)
            files[path] = value if isinstance(value, str) else None
        self.result.sysfs_state[k.boot] = files
        if self.out is None:
            return
        root = self.out / f"boot-{k.boot}"
        for path, raw in self.machine.devicetree.proc_files().items():
            dest = root / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(raw)

    def check_write(self, k, ev: Event) -> None:
        r = Range(ev.addr, ev.addr + len(ev.data))
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
        """The partition goes down by the scenario's trigger; firmware preserves it if registered."""
        m = self.machine
        c = ev.crash
        cpu = m.cpus[c.cpu]
        if not cpu.online:
            raise ScenarioError(f"crash cpu {c.cpu} is offline", self.sc.path, ev.line)
        regs = dict(cpu.regs)
        if c.kind in ("oops", "sysrq") and not (c.kind == "sysrq" and k.modern_wording):
            regs.update(trap=TRAP_DATA_ACCESS)
        if c.kind == "system-reset":
            for other in m.cpus:
                if other.online:
                    other.regs["trap"] = TRAP_SYSTEM_RESET
            regs.update(trap=TRAP_SYSTEM_RESET)
        regs.update(c.regs)
        self.result.snapshots_for_map.append(memmap_view.snapshot(memmap_view.BEFORE_CRASH, m, k))
        memory_at_crash = m.layout.memblock_memory()
        area = k.reserved_area
        self.faults.before_crash(k)
        if c.kind == "hypervisor":
            verdict = "dumped" if m.fadump.trigger("partition terminated by the hypervisor") else "terminated"
            if verdict == "terminated":
                m.firmware_log("partition terminated by the hypervisor; no dump is registered, so the partition "
                               "is reset and its memory is not preserved")
        else:
            # The crashing CPU ends in RTAS: firmware sees it inside enter_rtas.
            live = dict(cpu.regs)
            cpu.regs.update(nip=0xC000_0000_0000_F3A0, link=regs["nip"])
            verdict = k.crash(c.kind, c.cpu, regs, c.message, tuple(c.stuck_cpus))
            yield from m.catch_up()
            if verdict != "dumped":
                cpu.regs = live
            if verdict != "dumped" and c.kind == "system-reset" and m.fadump.trigger(
                    "system reset without ibm,nmi-interlock"):
                verdict = "dumped"
        self._expected_regs = self.expected_registers(k, c.cpu, k.saved_regs or regs)
        self.result.span(f"{c.kind} on CPU {c.cpu}: {verdict}", f"cpu {c.cpu}", m.env.now, message=c.message)
        self.result.crashes.append({"boot": k.boot, "cpu": c.cpu, "kind": c.kind, "time": m.env.now,
                                    "result": verdict})
        if verdict == "dumped":
            excluded = [(area, "fadump reserved dump area (excluded by design)")] if area else []
            with self.result.timed("snapshot"):
                self._snapshot = CrashSnapshot.take(m.ram, memory_at_crash, excluded, m.env.now)
            m.firmware_log(f"dump triggered (\"{m.fadump.state.os_term_message}\"); preserving")
            index = len(self.result.boundaries)
            self.result.boundaries.append("firmware: preserving memory")
            inject = self.faults.injection_at(index)
            if inject and inject.get("trigger") == "power-loss":
                m.fadump.state.interrupt = (0.5, "power-loss")
            preserve_span = self.result.span("firmware preserves the partition", m.fadump.actor, m.env.now)
            try:
                with self.result.timed("preserve"):
                    yield from m.fadump.preserve()
                preserve_span["end"] = m.env.now
            except PowerLoss as loss:
                m.firmware_log(str(loss))
                m.power_loss()
                self.result.crashes[-1]["result"] = "power-loss"
                self._snapshot = None
                return "power-loss"
            self.faults.after_preserve(m, k)
            self.result.snapshots_for_map.append(memmap_view.snapshot(memmap_view.AFTER_PRESERVATION, m, k))
            m.firmware_log("dump complete; resetting the partition (memory preserved)")
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

    # --- capture kernel ---

    def outcome(self) -> str:
        r = self.result
        if not r.crashes:
            return "none"
        if r.crashes[0]["result"] != "dumped":
            return "fallback" if r.kernels[0].kdump_fallback else "no-dump"
        if not r.captures and len(r.crashes) > 1:
            return "capture-failed"  # the capture kernel itself went down before saving
        if not r.captures or r.captures[0].rejected:
            return "dump-rejected"
        if r.captures[0].save_error:
            return "capture-failed"
        return "vmcore"


def run_scenario(scenario: Scenario, out_dir: str | None, force: bool = False, echo=None,
                 export_mode: str = export.AUTO, durable: bool = True) -> RunResult:
    """Run ``scenario``; with ``out_dir``, publish vmcores, console.log and report.json there all at once
    (fsynced first unless ``durable`` is False)."""
    return publish(Run(scenario, None, force, echo, export_mode), out_dir, force, durable)


def publish(run: Run, out_dir: str | None, force: bool = False, durable: bool = True) -> RunResult:
    """Execute ``run`` into a staging folder of ``out_dir`` (locked) and move the results into place together.

    The expectations are checked and the report written here, so that the
    report and the files it describes always come from the same run
    (``result.expectations``, ``result.report``). Without ``out_dir`` nothing
    is written.
    """
    from emulator.run import report

    if out_dir is None:
        run.out = None
        result = run.execute()
        result.expectations = report.check_expectations(result)
        result.report = report.to_json(result, result.expectations)
        return result
    folder = OutputFolder(out_dir, force, run.sc.capture_names(), durable)
    with folder as staging:
        run.out = staging
        try:
            result = run.execute()
            for cap in result.captures:  # the report names where the files will be, not where they were staged
                if cap.path:
                    cap.path = str(Path(out_dir) / Path(cap.path).name)
            result.expectations = report.check_expectations(result)
            result.report = report.write(result, str(staging), result.expectations, sync=False)
            folder.commit()
        except OSError as exc:  # the host's disk (full, gone read-only): the earlier results stay as they were
            raise FadumpEmuError(f"--out {out_dir}: cannot write the results ({exc.strerror or exc}); the folder "
                                 "keeps the earlier results unchanged; free some space or choose another --out") \
                from exc
    return result


def rehearse(sc: Scenario) -> None:
    """Run the scenario in memory, writing nothing: raises what ``run`` would raise (check-scenario)."""
    Run(sc, None).execute()
