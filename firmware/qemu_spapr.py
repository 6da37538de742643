"""QEMU >= 10.2's pseries firmware-assisted dump, as hw/ppc/spapr_fadump.c and spapr_rtas.c write it.

Sources (qemu/qemu, merged for 10.2 via "[PULL 00/32] ppc-for-10.2 queue"; read at
commit 0ea4120e39b7): ``rtas_configure_kernel_dump()`` and ``rtas_ibm_os_term()``
(hw/ppc/spapr_rtas.c), ``do_fadump_register()``, ``fadump_preserve_mem()``,
``do_preserve_region()``, ``do_populate_cpu_state()``, ``get_cpu_state_data()``,
``populate_cpu_reg_entries()``, ``trigger_fadump_boot()`` (hw/ppc/spapr_fadump.c),
``spapr_dt_rtas_fadump()`` (hw/ppc/spapr.c) and include/hw/ppc/spapr_fadump.h.

Where QEMU differs from PowerVM (firmware.phyp):

* REGISTER checks only: already registered (-9), dump active (-10), length
  < 40 (-3), buffer outside the RMA (-3), version != 1 (-3), more than 10
  sections (-3), a section not readable (-3). Sections are read from
  ``buf + offset_first_dump_section`` whatever the length says; the copy is
  kept with dump_status_flag cleared.
* INVALIDATE always clears both registration and dump and returns 0: the
  PARAM_ERROR stored when no dump is active is overwritten (no ``return``).
* ibm,os-term with nothing registered prints "OS terminated: ..." and
  reports a guest panic; there is no dump without os-term (no R1-3 system
  reset trigger, no hypervisor termination).
* Sections are processed in registration order; a section whose request flag
  is not 1 is skipped; HPTE is skipped (bytes_dumped 0); only types 0x0011
  and 0x0100 are copied; others get INVALID_DATA_TYPE.
* The register save area lists every vCPU (CPU_FOREACH), online in the guest
  or not, in the QEMU layout (firmware.regsave.QEMU); bytes_dumped is the
  length written, not source_len.
* Error flags for bad addresses are stored host-endian (``region->error_flags
  = FADUMP_ERROR_INVALID_SOURCE_ADDR``): on a little-endian host the kernel
  reads 0x0040 / 0x0010. A bad CPU-state destination is flagged as a bad
  *source*. INVALID_DATA_TYPE is stored with cpu_to_be16.
* The DUMP_ERROR status bit set on a failed copy is overwritten by
  ``dump_status_flag = TRIGGERED | PERFORMED`` in trigger_fadump_boot().
* ibm,configure-kernel-dump-version is two host-endian uint16 {1, 1}: bytes
  01 00 01 00 on a little-endian host (Linux never reads it).
"""

from emulator.hw.layout import Range
from firmware import abi, regsave
from firmware.abi import RtasStatus, SectionError, SectionType
from firmware.fadump import FadumpFirmware
from firmware.structs import DumpMemStruct, Section, SectionHeader

RMA_CEILING = 1 << 40
"""spapr_rma_size(): "VRMA access is via a special 1TiB SLB mapping, so the RMA can never exceed that"."""

LITTLE_ENDIAN_HOST = True
"""The host QEMU runs on (x86-64 in the measured set-up); decides the host-endian fields."""


def host_u16(value: int) -> int:
    """A uint16 stored without cpu_to_be16, as a big-endian reader sees it."""
    return int.from_bytes(value.to_bytes(2, "little" if LITTLE_ENDIAN_HOST else "big"), "big")


class QemuFadump(FadumpFirmware):
    """QEMU's pseries machine (spapr) as firmware: thin registration checks, all vCPUs saved."""

    name = "qemu"
    actor = "QEMU"
    regsave = regsave.QEMU
    cpus_word = "present"
    copy_chunk = 32 << 20
    """do_preserve_region(): FADUMP_CHUNK_SIZE, 32 MiB read into a buffer then written, chunk after chunk."""
    always_extended_os_term = True
    """spapr_dt_rtas() sets ibm,extended-os-term unconditionally ("rtas call return will always occur")."""
    source = "QEMU 10.2 hw/ppc/spapr_fadump.c"
    preserve_story = ("sections processed in registration order (register save area of every vCPU, HPTE "
                      "skipped, boot memory copied), status TRIGGERED|PERFORMED; GUEST_RESET keeps RAM and "
                      "the next device tree carries /rtas/ibm,kernel-dump")

    @staticmethod
    def default_rma_size(memory: int) -> int:
        """spapr_rma_size() for current machine types (no rma_limit, one NUMA node): min(RAM, 1 TiB)."""
        return min(memory, RMA_CEILING)

    def version_property(self) -> bytes:
        """spapr_dt_rtas_fadump(): ``uint16_t fadump_versions[2] = {1, 1}`` set without cpu_to_be16."""
        return host_u16(abi.DUMP_FORMAT_VERSION).to_bytes(2, "big") * 2

    # --- registration ---

    def accept(self, buf: int, length: int) -> tuple[int, bytes | None, str]:
        """do_fadump_register() after its two state checks, in its order."""
        m = self.machine
        if length < abi.SECTION_HEADER_SIZE:
            return RtasStatus.PARAMETER_ERROR, None, f"header size {length} is invalid"
        if buf <= 0 or buf + length > m.rma_size:
            return RtasStatus.PARAMETER_ERROR, None, f"fdm address {buf:#x} is not inside the RMA"
        if not m.layout.is_memory(Range(buf, buf + abi.SECTION_HEADER_SIZE)):
            return RtasStatus.HARDWARE_ERROR, None, f"unable to read fdm at {buf:#x}"
        header = SectionHeader.parse(m.ram.read(buf, abi.SECTION_HEADER_SIZE))
        if header.dump_format_version != abi.DUMP_FORMAT_VERSION:
            return RtasStatus.PARAMETER_ERROR, None, f"unknown header version {header.dump_format_version:#x}"
        header.dump_status_flag = 0
        n = header.dump_num_sections
        if n > abi.MAX_SECTIONS:
            return RtasStatus.PARAMETER_ERROR, None, f"too many sections: {n}"
        sections = []
        at = buf + header.offset_first_dump_section
        for i in range(n):
            if not m.layout.is_memory(Range(at, at + abi.SECTION_SIZE)):
                return RtasStatus.PARAMETER_ERROR, None, f"unable to read section {i}"
            sections.append(Section.parse(m.ram.read(at, abi.SECTION_SIZE)))
            at += abi.SECTION_SIZE
        return RtasStatus.SUCCESS, DumpMemStruct.build({"header": header, "sections": sections}), ""

    def _invalidate(self) -> int:
        """FADUMP_CMD_INVALIDATE: clears everything and ends in RTAS_OUT_SUCCESS either way."""
        if self.state.dump is None:
            self.state.history.append("INVALIDATE with no dump active (QEMU logs it, then returns 0)")
        self.state.registered = None
        self._forget_dump()
        return RtasStatus.SUCCESS

    # --- os-term, triggers and the dump ---

    def os_term_unregistered(self) -> int:
        """rtas_ibm_os_term(): error_report("OS terminated: %s"), qemu_system_guest_panicked(), status 0."""
        self.machine.firmware_log(f"OS terminated: {self.state.os_term_message}")
        self.state.history.append("os-term without registration: guest panicked")
        return RtasStatus.SUCCESS

    def trigger(self, reason: str) -> bool:
        """QEMU dumps only from ibm,os-term: an NMI or a stopped guest never starts one."""
        self.state.history.append(f"trigger: {reason} (QEMU has no dump without ibm,os-term)")
        return False

    def error_flag(self, flag: int) -> int:
        """do_preserve_region() and do_populate_cpu_state() store address errors host-endian."""
        return host_u16(flag)

    def process_sections(self, mem):
        """fadump_preserve_mem(): each section in order."""
        for s in mem.sections:
            s.error_flags, s.bytes_dumped = 0, 0
            if s.request_flag != abi.REQUEST_FLAG:
                continue
            kind = s.source_data_type
            if kind == SectionType.CPU_STATE_DATA:
                self._populate_cpu_state(s)
            elif kind == SectionType.HPTE_REGION:
                continue
            elif kind in (SectionType.REAL_MODE_REGION, SectionType.PARAM_AREA):
                yield from self.copy_section(s)
            else:
                s.error_flags = SectionError.INVALID_DATA_TYPE

    def saved_cpus(self) -> list:
        """CPU_FOREACH: every vCPU QEMU created, whether or not the guest has it online."""
        return list(self.machine.cpus)

    def _populate_cpu_state(self, s) -> None:
        """do_populate_cpu_state(): bytes_dumped is the length written; a mismatch is only logged."""
        written = self.write_cpu_state(s)
        if not written:
            s.error_flags, s.bytes_dumped = self.error_flag(SectionError.INVALID_SOURCE_ADDR), 0
            return
        s.bytes_dumped = written
        if written != s.source_len:
            self.machine.firmware_log(f"FADump: Mismatch in CPU State region's length exported: Kernel expected: "
                                      f"{s.source_len:#x} bytes, QEMU exported: {written:#x} bytes")
