"""What every firmware's side of firmware-assisted dump shares: state, the RTAS calls, the dump.

A machine has one firmware (``[machine] firmware``): PowerVM (firmware.phyp) or
QEMU >= 10.2's pseries model (firmware.qemu_spapr). Both subclass
FadumpFirmware; it owns the sequence (REGISTER ... ibm,os-term, preserve,
publish /rtas/ibm,kernel-dump, reset with RAM intact) and each subclass
supplies the rules where the two differ: registration checks, which CPUs the
register save area lists and in which layout, section processing order, error
flag encoding, device-tree property encodings and the triggers without os-term.
"""

from dataclasses import dataclass, field

from emulator.hw.devicetree import cells
from emulator.hw.layout import Range
from firmware import abi
from firmware.abi import DumpCommand, DumpStatus, RtasStatus, SectionType
from firmware.regsave import RegSaveLayout
from firmware.rtas import rtas_call
from firmware.structs import DumpMemStruct

COPY_BANDWIDTH = 8 << 30
"""Bytes per simulated second that firmware moves while preserving (assumption)."""

HPTE_REGION_SIZE = 0
"""Both firmwares advertise an HPTE section of 0 bytes: QEMU does ("HPTE region not
implemented", spapr_dt_rtas_fadump()), and a guest's HPT is not modelled for PowerVM."""


class PowerLoss(Exception):
    """The system lost power while firmware was preserving memory: nothing survives."""


@dataclass
class FadumpState:
    """What the hypervisor remembers across partition reboots."""

    registered: bytes | None = None
    """The structure as registered (header + sections), copied at REGISTER."""
    dump: bytes | None = None
    """The structure updated by the dump, shown as ibm,kernel-dump until INVALIDATE."""
    pending: bool = False
    """os-term arrived while registered: the dump runs before the next boot."""
    os_term_message: str = ""
    copy_faults: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Injected: section type -> (error_flags to set, bytes to leave undumped)."""
    interrupt: tuple[float, str] | None = None
    """Injected: stop the boot-memory copy at this fraction, by "power-loss" or "hardware-error"."""
    status_error: bool = False
    """Injected: the dump ends with DUMP_ERROR (0x2000) in the header."""
    bytes_moved: int = 0
    """Bytes the last dump really copied (never-written memory costs nothing)."""
    history: list[str] = field(default_factory=list)


class FadumpFirmware:
    """Firmware-assisted dump in the platform firmware; one per machine. Subclasses set the rules."""

    name = "base"
    """The [machine] firmware value that selects this class."""
    actor = "FW"
    """How the firmware signs its console lines and narrated steps."""
    regsave: RegSaveLayout
    source = ""
    """Where the modelled behaviour is written down (for explain)."""
    copy_chunk: int | None = None
    """Bytes the firmware moves per step, in increasing address order (None: one memmove). It matters
    only when a destination overlaps its own source: later chunks then read bytes already overwritten."""
    always_extended_os_term = False
    """True when the firmware always puts ibm,extended-os-term in /rtas (the scenario may not drop it)."""

    def __init__(self, machine):
        self.machine = machine
        self.state = FadumpState()

    # --- what the hypervisor is told from outside the partition ---

    def power_loss(self) -> None:
        """Power goes away: the registration, a preserved dump and a pending dump are gone."""
        self.state.registered = None
        self.state.dump = None
        self.state.pending = False
        self.machine.devicetree.delete("/rtas", abi.DT_KERNEL_DUMP)

    def inject_copy_fault(self, section_type: int, error_flags: int, short_by: int) -> None:
        """Fault: the section of ``section_type`` ends with ``error_flags`` and ``short_by`` bytes undumped."""
        self.state.copy_faults[section_type] = (error_flags, short_by)

    def inject_status_error(self) -> None:
        """Fault: the dump ends with DUMP_ERROR in its header."""
        self.state.status_error = True

    def inject_interrupt(self, fraction: float, mode: str) -> None:
        """Fault: the boot-memory copy stops at ``fraction`` by "power-loss" or "hardware-error"."""
        self.state.interrupt = (fraction, mode)

    # --- device tree ---

    @property
    def cpu_state_data_size(self) -> int:
        """The CPU state section size advertised: room for every possible CPU."""
        return self.regsave.area_size(len(self.machine.cpus))

    def sizes_property(self) -> bytes:
        """ibm,configure-kernel-dump-sizes: {type, size_hi, size_lo} triplets (be32)."""
        out = b""
        for kind, size in ((SectionType.CPU_STATE_DATA, self.cpu_state_data_size),
                           (SectionType.HPTE_REGION, HPTE_REGION_SIZE)):
            out += cells(kind, size >> 32, size & 0xFFFFFFFF)
        return out

    def version_property(self) -> bytes:
        """ibm,configure-kernel-dump-version: two 16-bit cells, min and max supported version."""
        raise NotImplementedError

    # --- ibm,configure-kernel-dump ---

    @rtas_call(abi.DT_CONFIGURE_KERNEL_DUMP, nargs=3, nret=1)
    def configure_kernel_dump(self, command: int, buf: int, length: int) -> int:
        """Dispatch REGISTER / UNREGISTER / INVALIDATE; anything else is -3."""
        if command == DumpCommand.REGISTER:
            return self._register(buf, length)
        if command == DumpCommand.UNREGISTER:
            return self._unregister()
        if command == DumpCommand.INVALIDATE:
            return self._invalidate()
        return RtasStatus.PARAMETER_ERROR

    def _register(self, buf: int, length: int) -> int:
        if self.state.registered is not None:
            return RtasStatus.DUMP_ALREADY_REGISTERED
        if self.state.dump is not None:
            return RtasStatus.DUMP_ACTIVE
        status, stored, problem = self.accept(buf, length)
        if status != RtasStatus.SUCCESS:
            self.state.history.append(f"REGISTER rejected: {problem}")
            return status
        self.state.registered = stored
        self.state.history.append("REGISTER accepted")
        self.machine.publish("registered")
        self.machine.narrate(self.actor, "ibm,configure-kernel-dump REGISTER", self.source,
                             f"structure of {length} bytes at {buf:#x} checked and remembered")
        return RtasStatus.SUCCESS

    def accept(self, buf: int, length: int) -> tuple[int, bytes | None, str]:
        """(status, the structure as remembered, why refused) for a REGISTER of ``length`` bytes at ``buf``."""
        raise NotImplementedError

    def _unregister(self) -> int:
        if self.state.dump is not None:
            return RtasStatus.DUMP_ACTIVE
        self.state.registered = None
        return RtasStatus.SUCCESS

    def _invalidate(self) -> int:
        raise NotImplementedError

    def _forget_dump(self) -> None:
        self.state.dump = None
        self.machine.devicetree.delete("/rtas", abi.DT_KERNEL_DUMP)

    # --- ibm,os-term and the dump ---

    @rtas_call(abi.DT_OS_TERM, nargs=1, nret=1)
    def os_term(self, string_addr: int) -> int | None:
        """ibm,os-term: with a dump registered it never returns; the dump follows."""
        raw = self.machine.ram.read(string_addr, 256)
        self.state.os_term_message = raw.split(b"\0", 1)[0].decode("ascii", "replace")
        if self.state.registered is None:
            return self.os_term_unregistered()
        self.state.pending = True
        return None

    def os_term_unregistered(self) -> int:
        """ibm,os-term with nothing registered: the status the OS gets back."""
        raise NotImplementedError

    def trigger(self, reason: str) -> bool:
        """A dump without ibm,os-term (system reset, hypervisor); True if one starts."""
        raise NotImplementedError

    def terminate_partition(self) -> bool:
        """The hypervisor terminates the partition (LoPAR: a registered dump is taken; PowerVM's firmware, QEMU
        has none): True if a dump starts; otherwise the partition is reset with nothing preserved, and said so."""
        if self.trigger("partition terminated by the hypervisor"):
            return True
        self.machine.firmware_log("partition terminated by the hypervisor; no dump is registered, so the partition "
                                  "is reset and its memory is not preserved")
        return False

    def system_reset_unhandled(self) -> bool:
        """A system reset the OS returned from without ibm,nmi-interlock (LoPAR R1-3; Linux never calls it):
        firmware dumps a registered partition anyway. True if a dump starts."""
        return self.trigger("system reset without ibm,nmi-interlock")

    def dump(self):
        """The firmware's dump, its own SimPy process: started by ibm,os-term, a system reset or the hypervisor.

        Mirrors LoPAR's firmware-assisted dump (preserve the registered sections, publish ibm,kernel-dump,
        memory-preserving reset) and QEMU 10.2's trigger_fadump_boot() (hw/ppc/spapr_fadump.c). Its value is
        True when memory was preserved, False when power was lost on the way.
        """
        m = self.machine
        m.firmware_log(f"dump triggered (\"{self.state.os_term_message}\"); preserving")
        try:
            yield from self.preserve()
        except PowerLoss as loss:
            m.firmware_log(str(loss))
            m.power_loss()
            return False
        m.publish("preserved")
        m.firmware_log("dump complete; resetting the partition (memory preserved)")
        return True

    def preserve(self):
        """Process the registered sections, then publish the result (SimPy process)."""
        mem = DumpMemStruct.parse(self.state.registered)
        mem.header.dump_status_flag = 0
        self.state.bytes_moved = 0
        yield from self.process_sections(mem)
        mem.header.dump_status_flag = DumpStatus.TRIGGERED | DumpStatus.PERFORMED
        for s in mem.sections:
            flags, short = self.state.copy_faults.get(s.source_data_type, (0, 0))
            s.error_flags |= flags
            s.bytes_dumped = max(0, s.bytes_dumped - short)
        if self.state.status_error:
            mem.header.dump_status_flag |= DumpStatus.ERROR
        self.state.dump = DumpMemStruct.build(mem)
        self.state.registered = None
        self.state.pending = False
        self.machine.devicetree.set("/rtas", abi.DT_KERNEL_DUMP, self.state.dump)
        self.machine.narrate(self.actor, "ibm,os-term: dump", self.source, self.story_of(mem), kernel_dump=mem)

    def story_of(self, mem) -> str:
        """preserve_story when every section is complete; otherwise what the published structure says."""
        status = mem.header.dump_status_flag
        problems = []
        for s in mem.sections:
            name = SectionType(s.source_data_type).name if s.source_data_type in SectionType._value2member_map_ \
                else f"type {s.source_data_type:#x}"
            if s.error_flags:
                problems.append(f"section {name} has error_flags {s.error_flags:#x}")
            if s.source_data_type == SectionType.REAL_MODE_REGION and s.bytes_dumped != s.source_len:
                problems.append(f"section {name} copied only {s.bytes_dumped:#x} of {s.source_len:#x} bytes")
        if status & DumpStatus.ERROR:
            problems.append(f"dump_status_flag {status:#x} has DUMP_ERROR ({DumpStatus.ERROR:#x}) set")
        if not problems:
            return self.preserve_story
        return ("the dump is INCOMPLETE: " + "; ".join(problems) + ". The structure is still published as "
                "/rtas/ibm,kernel-dump and the partition reboots; the capture kernel decides what to do with it")

    preserve_story = ""
    """What preserve() did, in a sentence, for explain."""

    def process_sections(self, mem):
        """Copy, write or skip each section of ``mem`` in place (SimPy process)."""
        raise NotImplementedError

    def error_flag(self, flag: int) -> int:
        """``flag`` as this firmware stores it in a section's error_flags (big-endian by PAPR)."""
        return flag

    def copy_section(self, s):
        """Copy a section's source to its destination; set bytes_dumped or error_flags (SimPy process)."""
        m = self.machine
        if s.source_address == s.destination_address:
            s.bytes_dumped = s.source_len
            return
        src = Range(s.source_address, s.source_address + s.source_len)
        dst = Range(s.destination_address, s.destination_address + s.source_len)
        if not m.layout.is_memory(src):
            s.error_flags, s.bytes_dumped = self.error_flag(abi.SectionError.INVALID_SOURCE_ADDR), 0
            return
        if not m.layout.is_memory(dst):
            s.error_flags, s.bytes_dumped = self.error_flag(abi.SectionError.INVALID_DEST_ADDR), 0
            return
        m.firmware_log(f"copying {src} to {dst.start:#x}")
        length = s.source_len
        if self.state.interrupt and s.source_data_type == SectionType.REAL_MODE_REGION:
            fraction, mode = self.state.interrupt
            length = int(s.source_len * fraction) & ~0xFFFF
            yield m.env.timeout(length / COPY_BANDWIDTH)
            self.state.bytes_moved += m.ram.copy(src.start, dst.start, length)
            if mode == "power-loss":
                m.narrate(self.actor, "boot-memory copy (fault: copy-interrupted, power-loss)", self.source,
                          f"power is lost after copying {length:#x} of {s.source_len:#x} bytes of boot memory: "
                          "no dump structure is published and memory is gone")
                raise PowerLoss(f"power lost after copying {length:#x} of {s.source_len:#x} bytes")
            m.firmware_log(f"hardware error after copying {length:#x} of {s.source_len:#x} bytes")
            m.narrate(self.actor, "boot-memory copy (fault: copy-interrupted, hardware-error)", self.source,
                      f"a hardware error stops the copy after {length:#x} of {s.source_len:#x} bytes; "
                      "firmware records bytes_dumped and sets DUMP_ERROR in the header")
            s.bytes_dumped = length
            self.state.status_error = True
            return
        yield m.env.timeout(length / COPY_BANDWIDTH)
        todo = sum(e - b for b, e in m.ram.touched_runs(src.start, src.start + length))
        step = self.copy_chunk or length
        with m.progress("firmware copying boot memory", todo) as advance:
            for offset in range(0, length, step):
                n = min(step, length - offset)
                self.state.bytes_moved += m.ram.copy(src.start + offset, dst.start + offset, n, advance)
        s.bytes_dumped = s.source_len

    def saved_cpus(self) -> list:
        """The CPUs whose registers the register save area lists."""
        raise NotImplementedError

    def write_cpu_state(self, s) -> int:
        """Write the register save area at the section's destination; the bytes written (0 if refused)."""
        m = self.machine
        cpus = self.saved_cpus()
        data = self.regsave.build(cpus)
        dst = Range(s.destination_address, s.destination_address + len(data))
        if not m.layout.is_memory(dst):
            return 0
        m.ram.write(dst.start, data)
        m.firmware_log(f"saved registers of {len(cpus)} {self.cpus_word} CPUs at {dst.start:#x}")
        return len(data)

    cpus_word = "online"
    """How the console line names the CPUs saved."""
