"""PowerVM's firmware-assisted dump: ibm,configure-kernel-dump as PAPR/LoPAR specifies it.

Models LoPAR ``sec_rtas_configure_kernel_dump.xml`` R1-1..R1-7 as PowerVM
behaves (exact-size structure, status codes): every validation rule returns
one status. Assumptions are marked as such.
"""

from construct import ConstructError

from emulator.hw.layout import Range
from firmware import abi, regsave
from firmware.abi import RtasStatus, SectionError, SectionType
from firmware.fadump import HPTE_REGION_SIZE, FadumpFirmware
from firmware.structs import DumpMemStruct, SectionHeader


class PhypFadump(FadumpFirmware):
    """PowerVM (pHyp): LoPAR register save area of the online CPUs, strict registration checks."""

    name = "phyp"
    actor = "PHYP"
    regsave = regsave.LOPAR
    source = "LoPAR sec_rtas_configure_kernel_dump"
    preserve_story = ("boot memory copied, the register save area written last, status TRIGGERED|PERFORMED; the "
                      "structure is published as /rtas/ibm,kernel-dump and the partition resets with RAM intact")

    @staticmethod
    def default_rma_size(memory: int) -> int:
        """The RMA a PowerVM partition commonly gets: its first 256 MiB LMB (assumption; scenarios may set
        another). The hypervisor describes it as the first memory node."""
        return min(memory, 256 << 20)

    def version_property(self) -> bytes:
        """Two big-endian 16-bit cells {1, 1} (LoPAR app_papr_binding.xml)."""
        return (abi.DUMP_FORMAT_VERSION).to_bytes(2, "big") * 2

    # --- registration ---

    def accept(self, buf: int, length: int) -> tuple[int, bytes | None, str]:
        """R1-2: the work buffer lies in the RMA; the structure must pass validate()."""
        m = self.machine
        if buf <= 0 or length < abi.SECTION_HEADER_SIZE or buf + length > m.rma_size:
            return RtasStatus.PARAMETER_ERROR, None, "work buffer not inside the RMA"
        raw = m.ram.read(buf, length)
        problem = self.validate(raw)
        if problem:
            return RtasStatus.PARAMETER_ERROR, None, problem
        return RtasStatus.SUCCESS, raw, ""

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

    def _invalidate(self) -> int:
        # QEMU falls through to success here; PAPR's intent is an error.
        if self.state.dump is None:
            return RtasStatus.PARAMETER_ERROR
        self._forget_dump()
        return RtasStatus.SUCCESS

    # --- os-term, triggers and the dump ---

    def os_term_unregistered(self) -> int:
        """Extended os-term behaviour: return to the OS (status 0)."""
        return RtasStatus.SUCCESS

    def trigger(self, reason: str) -> bool:
        """R1-3's system reset without ibm,nmi-interlock, or the hypervisor terminating the
        partition: a registration makes it dump."""
        self.state.history.append(f"trigger: {reason}")
        if self.state.registered is None:
            return False
        self.state.os_term_message = reason
        self.state.pending = True
        return True

    def process_sections(self, mem):
        """Boot-memory and OS areas first, CPU state last (assumption: as QEMU's output order suggests)."""
        cpu_sections = []
        for s in mem.sections:
            s.error_flags, s.bytes_dumped = 0, 0
            kind = s.source_data_type
            if kind == SectionType.CPU_STATE_DATA:
                cpu_sections.append(s)
            elif kind == SectionType.HPTE_REGION:
                s.bytes_dumped = min(s.source_len, HPTE_REGION_SIZE)
            elif kind == SectionType.REAL_MODE_REGION or kind >= 0x0100:
                yield from self.copy_section(s)
            else:
                s.error_flags = SectionError.INVALID_DATA_TYPE
        for s in cpu_sections:
            self._write_cpu_state(s)

    def saved_cpus(self) -> list:
        """LoPAR: the register save area holds the CPUs active at the dump (the online ones)."""
        return [c for c in self.machine.cpus if c.online]

    def _write_cpu_state(self, s) -> None:
        m = self.machine
        if self.regsave.area_size(len(self.saved_cpus())) > s.source_len:
            s.error_flags = SectionError.DEST_TOO_SMALL
            return
        if not m.layout.is_memory(Range(s.destination_address, s.destination_address + s.source_len)):
            s.error_flags = SectionError.INVALID_DEST_ADDR
            return
        written = self.write_cpu_state(s)
        # The unused tail (offline CPUs' room) is zeroed; the whole section counts
        # as dumped, so bytes_dumped == source_len (assumption about PowerVM).
        m.ram.fill(s.destination_address + written, s.source_len - written, 0)
        s.bytes_dumped = s.source_len
