"""The fault catalog: named things that go wrong, injected at the point they happen.

Each fault is data in a scenario (``[[faults]] kind = "..."`` plus parameters)
and acts through a hook of the machine, the firmware or the kernels; what
follows is whatever the real firmware and kernels do about it, with their
messages. FAULTS documents every kind and its parameters.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from firmware import abi
from firmware.abi import DumpCommand, SectionType
from firmware.structs import DumpMemStruct, overlap_destination, sections_of
from kernels.fault_hooks import NO_FAULTS, FaultHooks

SECTIONS = {"cpu-state": SectionType.CPU_STATE_DATA, "hpte": SectionType.HPTE_REGION,
            "boot-memory": SectionType.REAL_MODE_REGION}
COMMANDS = {"register": DumpCommand.REGISTER, "unregister": DumpCommand.UNREGISTER,
            "invalidate": DumpCommand.INVALIDATE}

FAULTS: dict[str, tuple[str, dict[str, str]]] = {
    "rtas-status": ("firmware answers an RTAS call with these statuses first (-1, -2 busy, -3, 9900-9905, -9, -10)",
                    {"call": "\"ibm,configure-kernel-dump\" or \"ibm,os-term\"",
                     "command": "register / unregister / invalidate (configure-kernel-dump only; optional)",
                     "statuses": "list of status words, consumed one per call"}),
    "copy-error": ("firmware fails a section: sets its error flags and/or dumps it short",
                   {"section": "boot-memory, cpu-state or hpte", "error_flags": "e.g. 0x4000 (invalid source)",
                    "short_by": "bytes left undumped (optional)"}),
    "dump-status-error": ("firmware ends the dump with DUMP_ERROR (0x2000) in the header status", {}),
    "crash-info-corrupt": ("the crash info header's magic is overwritten in the preserved memory", {}),
    "crash-info-byteswapped": ("the crash info header was written by a kernel of the other byte order", {}),
    "elf-header-overwritten": ("a stray write destroys the first kernel's ELF core header (3.4, 6.1)", {}),
    "regsave-bad-magic": ("the register save area lacks its REGSAVE magic", {}),
    "regsave-missing-cpustrt": ("the register save area's first CPU list lacks its CPUSTRT entry", {}),
    "destination-overlaps-source": ("a kernel bug points the boot-memory copy's destination into boot memory", {}),
    "capture-without-fadump": ("the capture kernel boots without fadump=on and uses all of memory", {}),
    "no-extended-os-term": ("firmware lacks ibm,extended-os-term, so Linux never calls ibm,os-term", {}),
    "disk-full": ("the disk fills while the capture kernel saves the vmcore",
                  {"capacity": "bytes the disk takes, e.g. \"16MiB\""}),
    "crash-during-registration": ("the kernel crashes inside the registration call, before firmware accepts it",
                                  {"cpu": "crashing CPU (default 0)"}),
    "crash-at-boundary": ("a crash (or power loss during the firmware's copy) at the Nth lifecycle boundary; "
                          "what fadump-emu explore injects",
                          {"boundary": "index of the boundary (explore prints them)",
                           "trigger": "panic, sysrq, oops, system-reset, hypervisor or power-loss",
                           "cpu": "crashing CPU (default: the first online)"}),
    "copy-interrupted": ("the firmware's boot-memory copy stops part way",
                         {"fraction": "share copied before it stops, 0..1", "mode": "power-loss or hardware-error"}),
}


@dataclass
class Fault:
    """One injected fault as the scenario states it."""

    kind: str
    line: int | None = None
    params: dict = field(default_factory=dict)


class DiskFull(OSError):
    """The disk filled up while saving; ``written`` bytes made it."""

    def __init__(self, err: int, message: str, written: int = 0):
        super().__init__(err, message)
        self.written = written


Strike = Callable[[int, str, int | None], object]
"""``strike(cpu, message, line)``: deliver a crash on ``cpu`` into the running kernel's process (the run's actors do
it as the operator delivers one), located at the fault's ``line`` of the scenario; returns the SimPy event the
interrupted call waits on."""


def _no_strike(cpu: int, message: str, line: int | None):
    raise RuntimeError("this fault plan was given no way to deliver a crash (FaultPlan(strike=...))")


class FaultPlan:
    """The faults of one run and the hooks through which they act."""

    def __init__(self, faults: list[Fault], strike: Strike = _no_strike):
        self.faults = faults
        self.strike = strike
        """How a fault crashes the running kernel: an event delivered into its process (emulator.run.actors)."""
        self.kinds = {f.kind: f for f in faults}
        self.machine = None
        self.struck = False
        """Whether the crash-at-boundary fault found its boundary."""

    def has(self, kind: str) -> bool:
        return kind in self.kinds

    def param(self, kind: str, name: str, default=None):
        return self.kinds[kind].params.get(name, default)

    def narrate_machine(self, function: str, text: str) -> None:
        if self.machine is not None:
            self.machine.narrate("fault", function, "the scenario's [[faults]]", text)

    def arm_machine(self, machine) -> None:
        """Firmware-side faults: RTAS statuses, copy errors, interrupted copy, status error."""
        self.machine = machine
        for f in self.faults:
            if f.kind == "rtas-status":
                statuses = list(f.params["statuses"])
                command = f.params.get("command")
                if command:
                    machine.rtas.command_faults[(f.params["call"], COMMANDS[command])] = statuses
                else:
                    machine.rtas.faults[f.params["call"]] = statuses
            elif f.kind == "copy-error":
                kind = SECTIONS[f.params["section"]]
                machine.fadump.inject_copy_fault(kind, f.params.get("error_flags", 0), f.params.get("short_by", 0))
            elif f.kind == "dump-status-error":
                machine.fadump.inject_status_error()
            elif f.kind == "copy-interrupted":
                machine.fadump.inject_interrupt(f.params["fraction"], f.params["mode"])
            elif f.kind == "no-extended-os-term":
                machine.devicetree.delete("/rtas", "ibm,extended-os-term")

    def injection_at(self, index: int) -> dict | None:
        """The crash-at-boundary fault aimed at boundary ``index``, if any."""
        f = self.kinds.get("crash-at-boundary")
        return f.params if f is not None and f.params.get("boundary") == index else None

    def before_dump(self, machine, boundary: int) -> None:
        """crash-at-boundary with trigger power-loss, aimed at the firmware's "preserving memory" boundary: power
        goes half way through the boot-memory copy."""
        inject = self.injection_at(boundary)
        if inject and inject.get("trigger") == "power-loss":
            machine.fadump.inject_interrupt(0.5, "power-loss")
            self.struck = True

    def capture_cmdline(self, cmdline: str) -> str:
        """capture-without-fadump: the capture kernel's command line without fadump=."""
        if not self.has("capture-without-fadump"):
            return cmdline
        return " ".join(w for w in cmdline.split() if not w.startswith("fadump="))

    def before_crash(self, kernel) -> None:
        """Faults that strike the crashed kernel's memory before firmware takes over."""
        if self.has("elf-header-overwritten"):
            fw = kernel.fadump.fw_dump
            elfcorehdr = fw.fadumphdr_addr + kernel.ks.crash_info_header_old.sizeof()
            kernel.ram.write(elfcorehdr, b"\xde\xad\xbe\xef" * 16)
            kernel.machine.narrate("fault", "fault: elf-header-overwritten", "the scenario's [[faults]]",
                                   FAULTS["elf-header-overwritten"][0] + f" (64 bytes at {elfcorehdr:#x})")

    def after_preserve(self, machine, kernel) -> None:
        """Faults that strike the preserved data between the dump and the capture boot."""
        mem = DumpMemStruct.parse(machine.fadump.state.dump)
        ram, fadumphdr, cpu_dest = machine.ram, _fadumphdr_addr(mem), _cpu_dest(mem)
        struck = [k for k in ("crash-info-corrupt", "crash-info-byteswapped", "regsave-bad-magic",
                              "regsave-missing-cpustrt") if self.has(k)]
        for kind in struck:
            machine.narrate("fault", f"fault: {kind}", "the scenario's [[faults]]",
                            FAULTS[kind][0] + f" (at {fadumphdr if kind.startswith('crash') else cpu_dest:#x})")
        if self.has("crash-info-corrupt"):
            ram.write(fadumphdr, b"\x00GARBAGE")
        if self.has("crash-info-byteswapped"):
            ram.write(fadumphdr, ram.read(fadumphdr, 8)[::-1])
        if self.has("regsave-bad-magic"):
            ram.write(cpu_dest, b"REGSAV\x00\x01")
        if self.has("regsave-missing-cpustrt"):
            offset = ram.read_u32(cpu_dest + 12, "big")
            ram.write(cpu_dest + offset + 4, b"NOTCPUST")

    def kernel_hooks(self) -> FaultHooks:
        """The hooks through which this plan's faults act inside a kernel (given to its constructor)."""
        overlap = self.has("destination-overlaps-source")
        return FaultHooks(before_rtas=self.before_rtas,
                          register_structure=overlap_destination if overlap else NO_FAULTS.register_structure)

    def before_rtas(self, name: str, args: tuple[int, ...]):
        """crash-during-registration: the crash lands inside the REGISTER call (the event the call waits on)."""
        if name == abi.DT_CONFIGURE_KERNEL_DUMP and args:
            return self.check_register(args[0])
        return None

    def check_register(self, command: int):
        """crash-during-registration: a crash is delivered into the kernel inside the REGISTER call, which waits on
        the event returned (it never returns: the crash interrupts it); None for any other call."""
        if command == DumpCommand.REGISTER and self.has("crash-during-registration"):
            f = self.kinds.pop("crash-during-registration")
            self.narrate_machine("fault: crash-during-registration", FAULTS["crash-during-registration"][0])
            return self.strike(f.params.get("cpu", 0), "fadump-emu: crash during fadump registration", f.line)
        return None


def _fadumphdr_addr(mem) -> int:
    """Where the crash info header sits: after the boot-memory copies (as the capture kernel finds it)."""
    rmr = sections_of(SectionType.REAL_MODE_REGION, mem)
    first = next(s for s in rmr if s.source_address == 0)
    return first.destination_address + sum(s.source_len for s in rmr)


def _cpu_dest(mem) -> int:
    return sections_of(SectionType.CPU_STATE_DATA, mem)[0].destination_address
