"""Run a scenario: boot, events, crash, firmware preservation, capture, verification.

The partition's life is one SimPy process; each kernel boot runs as two more
(the kernel and the operator, emulator.run.actors), firmware's dump as another
(firmware.fadump.FadumpFirmware.dump); what the scenario's events and crash do is
emulator.run.scenario_steps. The run publishes its lifecycle on an
event bus (emulator.run.events) for whoever observes it; everything it produces
is collected in a RunResult and written by report.py.
"""

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from emulator.new_files import open_folder
from emulator.run import export, small_trees
from emulator.run.actors import KernelActors
from emulator.run.events import EventBus, Lifecycle
from emulator.run.kdump_service import CaptureSteps, CaptureTool, capture_tool
from emulator.run.scenario_steps import ScenarioSteps
from emulator.errors import (
    BadInputError,
    FadumpEmuError,
    ScenarioError,
)
from emulator.scenario.faults import FaultPlan
from firmware.machine import Machine
from emulator.run.outdir import OutputFolder
from emulator.run.partition_record import PartitionRecord
from emulator.run.results import RunResult
from emulator.scenario.loader import CrashSpec, Event, Scenario
from emulator.scenario.model import Outcome
from emulator.run.verify import SnapshotAtDump
from kernels.crash import Verdict
from kernels.registry import PROFILES


Observer = Callable[[EventBus], None]
"""Subscribes what it needs to a run's event bus before the run starts (emulator.views.observers)."""


class Run(KernelActors, CaptureSteps, ScenarioSteps):
    """One execution of a scenario into an output folder."""

    def __init__(self, scenario: Scenario, out_dir: str | None, force: bool = False, echo: TextIO | None = None,
                 export_mode: str = export.AUTO, lenient: bool = False, makedumpfile: CaptureTool | None = None,
                 observers: Iterable[Observer] = ()):
        self.sc = scenario
        self.lenient = lenient
        """Drop events a crash made impossible instead of calling them a scenario mistake (explore)."""
        self.boot_state_files = True
        """Write each boot's /proc/device-tree under OUT/boot-N (explore's throw-away runs do without)."""
        self.verify_saved = True
        """Verify each saved vmcore, read back from disk, as the run goes (explore verifies the folder afterwards
        from the digests the run saved, as `fadump-emu verify` does, and does without)."""
        self.export_mode = export_mode
        self.out = Path(out_dir) if out_dir else None
        self.folder: OutputFolder | None = None
        """The output folder being staged (run_scenario): small result folders are handed to it to publish."""
        self.force = force
        self.machine = Machine(scenario.machine, echo)
        self.bus = EventBus(self.machine.now)
        """Lifecycle events of this run; observers subscribe before execute() (emulator.run.events)."""
        self.machine.publish = self._publish_from_below
        self.machine.progress = self.bus.progress
        self.result = RunResult(scenario)
        self.kernels: list = []
        """Every kernel booted, in order (live objects: the result gets only what they left behind)."""
        for cpu_id, regs in scenario.cpu_regs.items():
            self.machine.cpus[cpu_id].set(regs)
        self.makedumpfile_tool = None
        """The capture step's makedumpfile (a CaptureTool), when the scenario's capture.tool asks for it."""
        if scenario.capture_tool == "makedumpfile":
            tool = makedumpfile or capture_tool("makedumpfile", scenario.path)
            if not tool.available():
                raise BadInputError(f"{scenario.path}: capture.tool = \"makedumpfile\" needs Debian's ppc64el "
                                    f"makedumpfile. {tool.how_to_install()}")
            self.makedumpfile_tool = tool
        self.faults = FaultPlan(scenario.faults, strike=self.strike)
        self.snapshot = SnapshotAtDump(self.bus)
        """The crash-time memory the capture is verified against (taken when firmware starts its dump)."""
        self.bus.subscribe(Lifecycle.PRESERVED, lambda ev: self.faults.after_preserve(ev.machine, ev.kernel))
        for observe in observers:
            observe(self.bus)
        self.bus.subscribe(Lifecycle.CRASH, lambda ev: self.faults.before_crash(ev.kernel))
        self.bus.subscribe(Lifecycle.DUMP, lambda ev: self.faults.before_dump(ev.machine, ev.boundary))
        self.faults.arm_machine(self.machine)
        self._spans = 0
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

    def _publish_from_below(self, kind: str, **fields) -> None:
        """Firmware's and the kernels' lifecycle events, with the run's context added."""
        self.bus.publish(Lifecycle(kind), machine=self.machine, result=self.result,
                         kernel=self.kernels[-1] if self.kernels else None, **fields)

    def lifecycle(self, kind: Lifecycle, k, **fields) -> None:
        """Publish one lifecycle event of kernel ``k`` (subscribers get the machine and the result too)."""
        self.bus.publish(kind, machine=self.machine, result=self.result, kernel=k, **fields)

    def span(self, name: str, actor: str, start: float, **args) -> int | None:
        """Open a span of the run's timeline (an instant unless end_span ends it): published as a SPAN event
        for whoever records the timeline (emulator.views.observers.Timeline); its id, or None when nobody does."""
        if not self.bus.wants(Lifecycle.SPAN):
            return None
        self._spans += 1
        self.bus.publish(Lifecycle.SPAN, id=self._spans, name=name, actor=actor, start=start, args=args)
        return self._spans

    def end_span(self, span: int | None, end: float, **args) -> None:
        """End the span ``span`` (from span()) at ``end``, adding ``args`` to its arguments."""
        if span is not None:
            self.bus.publish(Lifecycle.SPAN_END, id=span, end=end, args=args)

    def execute(self) -> RunResult:
        self.prepare_output()
        if self.bus.wants(Lifecycle.STEP):
            self.machine.on_step = lambda step: self.bus.publish(Lifecycle.STEP, step=step)
        env = self.machine.env
        env.process(self.partition())
        try:
            env.run()
        except FadumpEmuError as exc:
            # SimPy re-raises a copy (one per process it passed through); give the caller the original,
            # with its file and line.
            while isinstance(exc.__cause__, FadumpEmuError):
                exc = exc.__cause__
            if type(exc) is BadInputError:  # a kernel refused what the scenario asks (kernels know no file):
                raise self.sc.error(str(exc), "kernel", "cmdline") from None  # located at its command line
            raise exc from None
        except MemoryError as exc:  # a kernel's early allocator (memblock) found no room: not modelled further
            k = self.kernels[-1] if self.kernels else None
            who = f"boot {k.boot} ({k.profile})" if k else "the first boot"
            raise self.sc.error(f"{who} ran out of early boot memory: {exc}; the emulator does not model how the "
                                "kernel fails there. Give that kernel more memory to boot in (a larger "
                                "crashkernel= or fadump_reserve_mem= for a capture kernel) or use a smaller "
                                "machine.memory", "machine", "memory") from None
        self.result.partition = PartitionRecord.of(self.machine)
        self.result.outcome = self.outcome()
        if not self.lenient:
            self.check_injection_struck()
        return self.result

    def check_injection_struck(self) -> None:
        """A crash-at-boundary fault that never struck is a scenario mistake, not a quiet run without a crash."""
        fault = self.faults.kinds.get("crash-at-boundary")
        if fault is None or self.faults.struck:
            return
        labels, index = self.result.boundaries, fault.params["boundary"]
        if index >= len(labels):
            raise ScenarioError(f"crash-at-boundary: boundary {index} is never reached: this run passes "
                                f"{len(labels)} boundaries, 0 to {len(labels) - 1} (`fadump-emu explore "
                                f"{self.sc.path}` lists them); choose one of those", self.sc.path, fault.line)
        copies = [i for i, label in enumerate(labels) if label.startswith("firmware")]
        if labels[index].startswith("firmware"):
            raise ScenarioError(f"crash-at-boundary: boundary {index} is {labels[index]!r}, where no kernel runs to "
                                f"crash: trigger = \"{fault.params.get('trigger', 'panic')}\" cannot strike there; "
                                "use trigger = \"power-loss\", or a boundary before or after it", self.sc.path,
                                fault.line)
        raise ScenarioError(f"crash-at-boundary: trigger = \"power-loss\" strikes only while firmware copies "
                            f"memory, and boundary {index} is {labels[index]!r}; "
                            + (f"use boundary = {copies[0]} (firmware: preserving memory)" if copies else
                               "this run never preserves memory: add a crash first, or choose another trigger"),
                            self.sc.path, fault.line)

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
            k = PROFILES[profile](m, cmdline, release, boot, sc.kernel.epoch, nr_cpus=sc.kernel.nr_cpus,
                                  faults=self.faults.kernel_hooks())
            k.pid_by_cpu = sc.kernel.note_pids == "cpu"
            self.kernels.append(k)
            self.lifecycle(Lifecycle.BOOT, k, capture_boot=capture_boot)
            boot_span = self.span(f"boot {boot}: {profile}{' (capture kernel)' if capture_boot else ''}",
                                  f"kernel {boot}", m.env.now, cmdline=cmdline, release=release)
            mine = [e for e in events if e.boot == boot]
            events = [e for e in events if e.boot != boot]
            ended = yield from self.life_of(k, capture_boot, mine)
            self.end_span(boot_span, m.env.now, ended=ended or "scenario end")
            self.lifecycle(Lifecycle.ENDED, k, reason=ended)
            if ended is not None and Verdict(ended).restarts:
                m.reset()
                if ended in (Verdict.REBOOT, Verdict.CLEAN_REBOOT):
                    yield m.env.timeout(1.0)
                continue
            if events and not self.lenient:
                first = min(events, key=lambda e: (e.boot, e.at))
                raise ScenarioError(f"event for boot {first.boot} never runs: boot {boot} does not crash or "
                                    "reboot", sc.path, first.line)
            return

    def life_of(self, k, capture_boot: bool, events: list[Event]):
        """Bookkeeping of one boot: start the kernel's process and the operator's; how the boot ended, or None."""
        env = self.machine.env
        up = env.event()
        kernel = env.process(self.kernel_process(k, capture_boot, up))
        operator = env.process(self.operator(k, events, kernel, up))
        ended = yield kernel
        yield operator
        return ended

    def boundary(self, k, label: str):
        """A point between two steps of the lifecycle; an injected crash may strike here."""
        index = len(self.result.boundaries)
        self.result.boundaries.append(label)
        inject = self.faults.injection_at(index)
        if inject is None or inject.get("trigger") == Verdict.POWER_LOSS:
            return None
        self.faults.struck = True
        online = [c.id for c in self.machine.cpus if c.online]
        if "cpu" in inject and inject["cpu"] not in online and not self.lenient:
            raise ScenarioError(f"crash-at-boundary: cpu {inject['cpu']} is offline at boundary {index} ({label!r}); "
                                f"the online CPUs there are {online}", self.sc.path,
                                self.faults.kinds["crash-at-boundary"].line)
        cpu = inject.get("cpu", online[0]) if inject.get("cpu", online[0]) in online else online[0]
        crash = CrashSpec(cpu=cpu, kind=inject.get("trigger", "panic"), message=f"injected crash at {label}")
        return (yield from self.crash(k, Event("crash", k.boot, self.machine.uptime(), None, crash=crash)))

    def save_boot_state(self, k) -> None:
        """What userspace sees once the kernel is up: sysfs values and /proc/device-tree."""
        files = {}
        for path in sorted({**k.sysfs, **k.debugfs}):
            value = k.sysfs_read(path)
            files[path] = value if isinstance(value, str) else None
        self.result.sysfs_state[k.boot] = files
        if self.out is None or not self.boot_state_files:
            return
        name = f"boot-{k.boot}"
        tree = {path.lstrip("/"): raw for path, raw in self.machine.devicetree.proc_files().items()}
        if self.folder is not None:  # written when the results are published, or kept when unchanged
            self.folder.add_tree(name, tree)
            return
        fd = open_folder(self.out)  # a folder given to Run directly (no staging): written now
        try:
            small_trees.write_tree(fd, name, tree)
        finally:
            os.close(fd)

    # --- capture kernel ---

    def outcome(self) -> Outcome:
        r = self.result
        if not r.crashes:
            return Outcome.NONE
        if r.crashes[0]["result"] != Verdict.DUMPED:
            return Outcome.FALLBACK if self.kernels[0].kdump_fallback else Outcome.NO_DUMP
        if not r.captures and len(r.crashes) > 1:
            return Outcome.CAPTURE_FAILED  # the capture kernel itself went down before saving
        if not r.captures or r.captures[0].rejected:
            return Outcome.DUMP_REJECTED
        if r.captures[0].save_error:
            return Outcome.CAPTURE_FAILED
        return Outcome.VMCORE


def run_scenario(scenario: Scenario, out_dir: str | None, force: bool = False, echo=None,
                 export_mode: str = export.AUTO, durable: bool = True, observers: Iterable[Observer] = (),
                 makedumpfile: CaptureTool | None = None) -> RunResult:
    """Run ``scenario``; with ``out_dir``, publish vmcores, console.log and report.json there all at once
    (fsynced first unless ``durable`` is False). ``observers`` subscribe to the run's events first
    (emulator.views.observers: report.html, memory maps, progress bars)."""
    run = Run(scenario, None, force, echo, export_mode, makedumpfile=makedumpfile, observers=observers)
    return publish(run, out_dir, force, durable)


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
        run.out, run.folder = staging, folder
        try:
            result = run.execute()
            for cap in result.captures:  # the report names where the files will be, not where they were staged
                if cap.path:
                    staged, cap.path = cap.path, str(Path(out_dir) / Path(cap.path).name)
                    if cap.verification and cap.verification.get("source") == staged:
                        cap.verification["source"] = cap.path
            result.expectations = report.check_expectations(result)
            result.report = report.write(result, str(staging), result.expectations, sync=False, folder=folder)
            run.bus.publish(Lifecycle.PUBLISH, result=result, report=result.report, output=folder)
            folder.commit()
        except OSError as exc:  # the host's disk (full, gone read-only): the earlier results stay as they were
            raise FadumpEmuError(f"--out {out_dir}: cannot write the results ({exc.strerror or exc}); the folder "
                                 "keeps the earlier results unchanged; free some space or choose another --out") \
                from exc
    return result


def rehearse(sc: Scenario) -> None:
    """Run the scenario in memory, writing nothing: raises what ``run`` would raise (check-scenario)."""
    Run(sc, None).execute()
