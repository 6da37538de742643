"""PowerVM's side of firmware-assisted dump: ibm,configure-kernel-dump and the dump itself.

Models PAPR/LoPAR ``sec_rtas_configure_kernel_dump.xml`` R1-1..R1-7 as PowerVM
behaves (exact-size structure, status codes), not QEMU's thinner checks
(``hw/ppc/spapr_fadump.c``): every validation rule returns one status.
Assumptions are marked as such.
"""

from dataclasses import dataclass, field

from construct import ConstructError

from emulator.layout import Range
from emulator import progress
from firmware import abi, regsave
from firmware.abi import DumpCommand, DumpStatus, RtasStatus, SectionError, SectionType
from firmware.rtas import rtas_call
from firmware.structs import DumpMemStruct, SectionHeader

COPY_BANDWIDTH = 8 << 30
"""Bytes per simulated second that firmware moves while preserving (assumption)."""

HPTE_REGION_SIZE = 0
"""This firmware advertises an HPTE section of 0 bytes (as QEMU does): a radix or
hash guest's HPT is not modelled, and Linux never parses HPTE data."""


class PowerLoss(Exception):
    """The system lost power while firmware was preserving memory: nothing survives."""


@dataclass
class FadumpState:
    """What the hypervisor remembers across partition reboots."""

    registered: bytes | None = None
    """The structure as registered (header + sections), copied at REGISTER (as QEMU does)."""
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


class PhypFadump:
    """Firmware-assisted dump in the partition firmware; one per machine."""

    def __init__(self, machine, num_cpu_offset: int = abi.REGSAVE_NUM_CPU_OFFSET_LOPAR):
        self.machine = machine
        self.num_cpu_offset = num_cpu_offset
        self.state = FadumpState()

    # --- device tree ---

    @property
    def cpu_state_data_size(self) -> int:
        return regsave.area_size(len(self.machine.cpus), self.num_cpu_offset)

    def sizes_property(self) -> bytes:
        """ibm,configure-kernel-dump-sizes: {type, size_hi, size_lo} triplets (be32)."""
        out = b""
        for kind, size in ((SectionType.CPU_STATE_DATA, self.cpu_state_data_size),
                           (SectionType.HPTE_REGION, HPTE_REGION_SIZE)):
            out += b"".join(v.to_bytes(4, "big") for v in (kind, size >> 32, size & 0xFFFFFFFF))
        return out

    # --- ibm,configure-kernel-dump ---

    @rtas_call(abi.DT_CONFIGURE_KERNEL_DUMP, nargs=3, nret=1)
    def configure_kernel_dump(self, command: int, buf: int, length: int) -> int:
        """Dispatch REGISTER / UNREGISTER / INVALIDATE.

        Returns: 0 success, -1 hardware error, -3 parameter error,
        -9 already registered, -10 dump active (LoPAR status table).
        """
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
        raw = self._read_buffer(buf, length)
        if raw is None:
            return RtasStatus.PARAMETER_ERROR
        problem = self.validate(raw)
        if problem:
            self.state.history.append(f"REGISTER rejected: {problem}")
            return RtasStatus.PARAMETER_ERROR
        self.state.registered = raw
        self.state.history.append("REGISTER accepted")
        self.machine.narrate("PHYP", "ibm,configure-kernel-dump REGISTER", "LoPAR sec_rtas_configure_kernel_dump",
                             f"structure of {length} bytes at {buf:#x} validated and remembered")
        return RtasStatus.SUCCESS

    def _unregister(self) -> int:
        if self.state.dump is not None:
            return RtasStatus.DUMP_ACTIVE
        self.state.registered = None
        return RtasStatus.SUCCESS

    def _invalidate(self) -> int:
        # QEMU falls through to success here; PAPR's intent is an error.
        if self.state.dump is None:
            return RtasStatus.PARAMETER_ERROR
        self.state.dump = None
        self.machine.devicetree.delete("/rtas", abi.DT_KERNEL_DUMP)
        return RtasStatus.SUCCESS

    def _read_buffer(self, buf: int, length: int) -> bytes | None:
        """R1-2: the work buffer must lie in the RMA (real mode area)."""
        if buf <= 0 or length < abi.SECTION_HEADER_SIZE or buf + length > self.machine.rma_size:
            return None
        return self.machine.ram.read(buf, length)

    def validate(self, raw: bytes) -> str | None:
        """Why PowerVM would refuse this structure with -3, or None if it accepts it."""
        header = SectionHeader.parse(raw)
        n = header.dump_num_sections
        if header.dump_format_version != abi.DUMP_FORMAT_VERSION:
            return f"dump format version {header.dump_format_version:#x} is not 1"
        if n > abi.MAX_SECTIONS or len(raw) > abi.MAX_STRUCT_BYTES:
            return f"{n} sections / {len(raw)} bytes exceed 10 sections / 512 bytes"
        if len(raw) != abi.SECTION_HEADER_SIZE + n * abi.SECTION_SIZE:
            return f"length {len(raw)} is not exactly 40 + {n} x 40"
        if header.offset_first_dump_section != abi.SECTION_HEADER_SIZE:
            return f"first section offset {header.offset_first_dump_section:#x} is not 0x28"
        try:
            mem = DumpMemStruct.parse(raw)
        except ConstructError as exc:
            return f"unreadable structure ({exc})"
        layout = self.machine.layout
        sources, destinations = [], []
        for i, s in enumerate(mem.sections):
            if s.request_flag != abi.REQUEST_FLAG:
                return f"section {i}: request flag {s.request_flag:#x} is not 0x1"
            kind = s.source_data_type
            known = kind in (SectionType.CPU_STATE_DATA, SectionType.HPTE_REGION,
                             SectionType.REAL_MODE_REGION, SectionType.OS_IDENTIFIED_STRING)
            if not known and kind < 0x0100:
                return f"section {i}: unknown source data type {kind:#06x}"
            if s.source_len == 0:
                continue
            dest = Range(s.destination_address, s.destination_address + s.source_len)
            if kind == SectionType.REAL_MODE_REGION:
                src = Range(s.source_address, s.source_address + s.source_len)
                if not layout.is_memory(src):
                    return f"section {i}: source {src} is not all partition memory"
                sources.append(src)
            if kind >= 0x0100 and s.source_address == s.destination_address:
                continue  # OS-defined area preserved in place: nothing to copy
            if not layout.is_memory(dest):
                return f"section {i}: destination {dest} is not all partition memory"
            destinations.append(dest)
        for d in destinations:
            if any(d.overlaps(s) for s in sources):
                return f"destination {d} overlaps a source region"
            if sum(d.overlaps(o) for o in destinations) > 1:
                return f"destination {d} overlaps another destination"
        return None

    # --- ibm,os-term and the dump ---

    @rtas_call(abi.DT_OS_TERM, nargs=1, nret=1)
    def os_term(self, string_addr: int) -> int | None:
        """ibm,os-term: with a dump registered it never returns; the dump follows.

        Without one, extended os-term behaviour: return to the OS (status 0).
        """
        raw = self.machine.ram.read(string_addr, 256)
        self.state.os_term_message = raw.split(b"\0", 1)[0].decode("ascii", "replace")
        if self.state.registered is None:
            return RtasStatus.SUCCESS
        self.state.pending = True
        return None

    def trigger(self, reason: str) -> bool:
        """A dump without ibm,os-term: R1-3's system reset without ibm,nmi-interlock, or
        the hypervisor terminating the partition. True if a registration makes it dump."""
        self.state.history.append(f"trigger: {reason}")
        if self.state.registered is None:
            return False
        self.state.os_term_message = reason
        self.state.pending = True
        return True

    def preserve(self):
        """Process each registered section, then record the result (SimPy process).

        Order: boot-memory and OS areas are copied first, CPU state is written
        last (as QEMU does), then the header status is set to TRIGGERED|PERFORMED.
        """
        m = self.machine
        mem = DumpMemStruct.parse(self.state.registered)
        mem.header.dump_status_flag = 0
        self.state.bytes_moved = 0
        cpu_sections = []
        for s in mem.sections:
            s.error_flags, s.bytes_dumped = 0, 0
            kind = s.source_data_type
            if kind == SectionType.CPU_STATE_DATA:
                cpu_sections.append(s)
            elif kind == SectionType.HPTE_REGION:
                s.bytes_dumped = min(s.source_len, HPTE_REGION_SIZE)
            elif kind == SectionType.REAL_MODE_REGION or kind >= 0x0100:
                yield from self._copy_section(s)
            else:
                s.error_flags = SectionError.INVALID_DATA_TYPE
        for s in cpu_sections:
            self._write_cpu_state(s)
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
        m.devicetree.set("/rtas", abi.DT_KERNEL_DUMP, self.state.dump)
        m.narrate("PHYP", "ibm,os-term: dump", "LoPAR ibm,configure-kernel-dump R1-3, R1-6",
                  "boot memory copied, the register save area written last, status TRIGGERED|PERFORMED; the "
                  "structure is published as /rtas/ibm,kernel-dump and the partition resets with RAM intact",
                  kernel_dump=mem)

    def _copy_section(self, s):
        m = self.machine
        if s.source_address == s.destination_address:
            s.bytes_dumped = s.source_len
            return
        src = Range(s.source_address, s.source_address + s.source_len)
        dst = Range(s.destination_address, s.destination_address + s.source_len)
        if not m.layout.is_memory(src):
            s.error_flags = SectionError.INVALID_SOURCE_ADDR
            return
        if not m.layout.is_memory(dst):
            s.error_flags = SectionError.INVALID_DEST_ADDR
            return
        m.firmware_log(f"copying {src} to {dst.start:#x}")
        length = s.source_len
        if self.state.interrupt and s.source_data_type == SectionType.REAL_MODE_REGION:
            fraction, mode = self.state.interrupt
            length = int(s.source_len * fraction) & ~0xFFFF
            yield m.env.timeout(length / COPY_BANDWIDTH)
            self.state.bytes_moved += m.ram.copy(src.start, dst.start, length)
            if mode == "power-loss":
                raise PowerLoss(f"power lost after copying {length:#x} of {s.source_len:#x} bytes")
            m.firmware_log(f"hardware error after copying {length:#x} of {s.source_len:#x} bytes")
            s.bytes_dumped = length
            self.state.status_error = True
            return
        yield m.env.timeout(length / COPY_BANDWIDTH)
        todo = sum(e - b for b, e in m.ram.touched_runs(src.start, src.start + length))
        with progress.bar("firmware copying boot memory", todo) as advance:
            self.state.bytes_moved += m.ram.copy(src.start, dst.start, length, advance)
        s.bytes_dumped = s.source_len

    def _write_cpu_state(self, s) -> None:
        m = self.machine
        online = [c for c in m.cpus if c.online]
        data = regsave.build(online, self.num_cpu_offset)
        dst = Range(s.destination_address, s.destination_address + s.source_len)
        if len(data) > s.source_len:
            s.error_flags = SectionError.DEST_TOO_SMALL
            return
        if not m.layout.is_memory(dst):
            s.error_flags = SectionError.INVALID_DEST_ADDR
            return
        # The unused tail (offline CPUs' room) is zeroed; the whole section counts
        # as dumped, so bytes_dumped == source_len (assumption about PowerVM).
        m.ram.write(dst.start, data)
        m.ram.fill(dst.start + len(data), s.source_len - len(data), 0)
        s.bytes_dumped = s.source_len
        m.firmware_log(f"saved registers of {len(online)} online CPUs at {dst.start:#x}")
