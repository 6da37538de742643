"""The first-kernel half of modern fadump: arch/powerpc/kernel/fadump.c and
arch/powerpc/platforms/pseries/rtas-fadump.c as of Linux 6.10.

Boot memory may span holes (up to 7 regions), the reservation is the lowest
fit above boot memory, registration happens at boot, and the crash info header
is the versioned FADMPSIG one. No ELF header is built here: the capture kernel
builds it from the memory it finds, which is what made 6.10 hotplug-safe.

Here: struct fw_dump, the device-tree scan, registration (the RTAS structure, the
crash info header, ibm,configure-kernel-dump) and crash_fadump(). Sizing and
reserving boot memory and the dump area (fadump_reserve_mem(), CMA, the parameter
area) are kernels.linux610.reservation; /sys/kernel/fadump/ is kernels.linux610.sysfs
and the capture kernel's side kernels.linux610.capture_kernel.
"""

import errno
from dataclasses import dataclass, field

from construct import Container

from emulator.hw.devicetree import read_cells
from emulator.hw.layout import Range
from emulator.units import align_up
from firmware import abi
from firmware.abi import DumpCommand, RtasStatus, SectionType
from firmware.structs import DumpMemStruct, requested_section
from kernels.process_steps import RTAS_TIMED_OUT
from kernels.crash import save_crash_info
from kernels.linux610 import messages as msg
from kernels.linux610.capture_kernel import CaptureMixin
from kernels.linux610.reservation import ReservationMixin
from kernels.linux610.sysfs import COMMAND_LINE_SIZE, SysfsMixin
from kernels.structs import FADUMP_CPU_UNKNOWN, FADUMP_HEADER_VERSION


@dataclass
class FwDump:
    """struct fw_dump (fadump-internal.h, v6.10), the fields the pSeries code uses."""

    cpu_state_data_size: int = 0
    hpte_region_size: int = 0
    boot_memory_size: int = 0
    boot_mem_top: int = 0
    boot_mem_dest_addr: int = 0
    boot_mem_regions: list[Range] = field(default_factory=list)
    reserve_dump_area_start: int = 0
    reserve_dump_area_size: int = 0
    reserve_bootvar: int = 0
    fadumphdr_addr: int = 0
    param_area: int = 0
    cpu_notes_buf: int = 0
    cpu_notes_buf_size: int = 0
    elfcorehdr_addr: int = 0
    elfcorehdr_size: int = 0
    fadump_enabled: bool = False
    fadump_supported: bool = False
    param_area_supported: bool = False
    dump_active: bool = False
    dump_registered: bool = False
    nocma: bool = False


class Fadump610(ReservationMixin, CaptureMixin, SysfsMixin):
    """The fadump code of one 6.10 kernel, with its fw_dump, fdm and fdm_active."""

    def __init__(self, kernel):
        self.k = kernel
        self.fw_dump = FwDump()
        self.fdm: Container | None = None
        self.fdm_active: Container | None = None
        self.memory_limit = 0

    # --- early boot ---

    def rtas_fadump_dt_scan(self) -> None:
        """Token, section sizes and, if present, the active dump (rtas-fadump.c)."""
        dt, fw = self.k.machine.devicetree, self.fw_dump
        token = dt.get("/rtas", abi.DT_CONFIGURE_KERNEL_DUMP)
        if token is None:
            return
        fw.fadump_supported = True
        fw.param_area_supported = True
        active = dt.get("/rtas", abi.DT_KERNEL_DUMP)
        if active is not None:
            self.k.printk(msg.DUMP_ACTIVE_RTAS)
            self.fdm_active = DumpMemStruct.parse(active)
            fw.dump_active = True
            self.rtas_fadump_get_config(self.fdm_active)
        c = read_cells(dt.get("/rtas", abi.DT_CONFIGURE_KERNEL_DUMP_SIZES) or b"")
        for i in range(0, len(c) - 2, 3):
            size = (c[i + 1] << 32) | c[i + 2]
            if c[i] == SectionType.CPU_STATE_DATA:
                fw.cpu_state_data_size = size
            elif c[i] == SectionType.HPTE_REGION:
                fw.hpte_region_size = size

    # --- registration ---

    def rtas_fadump_init_mem_struct(self) -> int:
        """rgn[]: CPU state, HPTE, one REAL_MODE per boot region (page-aligned copy), PARAM."""
        fw = self.fw_dump
        addr = fw.reserve_dump_area_start & ~(self.k.page_size - 1)

        sections = [requested_section(SectionType.CPU_STATE_DATA, 0, fw.cpu_state_data_size, addr)]
        addr += fw.cpu_state_data_size
        sections.append(requested_section(SectionType.HPTE_REGION, 0, fw.hpte_region_size, addr))
        addr = align_up(addr + fw.hpte_region_size, self.k.page_size)
        fw.boot_mem_dest_addr = addr
        for r in fw.boot_mem_regions:
            sections.append(requested_section(SectionType.REAL_MODE_REGION, r.start, r.size, addr))
            addr += r.size
        if fw.param_area:
            sections.append(requested_section(SectionType.PARAM_AREA, fw.param_area, COMMAND_LINE_SIZE, fw.param_area))
        header = Container(dump_format_version=abi.DUMP_FORMAT_VERSION, dump_num_sections=len(sections),
                           dump_status_flag=0, offset_first_dump_section=abi.SECTION_HEADER_SIZE,
                           dd_block_size=0, dd_block_offset=0, dd_num_blocks=0, dd_offset_disk_path=0,
                           max_time_auto=0)
        self.fdm = Container(header=header, sections=sections)
        fw.fadumphdr_addr = fw.boot_mem_dest_addr + fw.boot_memory_size
        return addr

    def fadump_relocate(self, paddr: int) -> int:
        """Where the firmware copy will hold ``paddr`` (boot regions are packed back to back)."""
        fw, offset = self.fw_dump, 0
        for r in fw.boot_mem_regions:
            if r.start <= paddr < r.end:
                return fw.boot_mem_dest_addr + offset + paddr - r.start
            offset += r.size
        return paddr

    def init_fadump_header(self) -> None:
        """The FADMPSIG v1 header: possible CPUs in the mask until the crash."""
        k = self.k
        ks = k.ks
        fdh = Container(version=FADUMP_HEADER_VERSION, crashing_cpu=FADUMP_CPU_UNKNOWN,
                        vmcoreinfo_raddr=self.fadump_relocate(k.vmcoreinfo_paddr),
                        vmcoreinfo_size=k.vmcoreinfo_note_size, pt_regs_sz=ks.pt_regs_size,
                        cpu_mask_sz=ks.cpumask_size, regs=Container({f: 0 for f in ks.pt_regs_fields}),
                        cpu_mask=k.cpumask_bytes([c.id for c in k.machine.cpus]))
        k.ram.write(self.fw_dump.fadumphdr_addr, ks.crash_info_header_v1.build(fdh))

    def _rtas_fdm(self, command: int, fdm: Container, exact: bool):
        """ibm,configure-kernel-dump with the structure at its static home (exact size or all of rgn[10]);
        SimPy steps (rtas_fadump_call()'s busy waits), the value is the status."""
        if command == DumpCommand.REGISTER:
            fdm = self.k.faults.register_structure(fdm)
        raw = DumpMemStruct.build(fdm)
        length = len(raw) if exact else abi.SECTION_HEADER_SIZE + abi.MAX_SECTIONS * abi.SECTION_SIZE
        home = self.k.symbols["fdm"]
        self.k.ram.write(home, raw.ljust(length, b"\0"))
        limit = self.k.version.rtas_busy_limit_ms
        rc = yield from self.k.rtas_call(abi.DT_CONFIGURE_KERNEL_DUMP, command, home, length, busy_limit_ms=limit)
        if rc == RTAS_TIMED_OUT:
            self.k.printk(msg.RTAS_TIMED_OUT.format(op=DumpCommand(command).name.lower()))
        return rc

    def register_fadump(self):
        """init_fadump_header() then RTAS REGISTER with exactly 40 + n x 40 bytes; SimPy steps, 0 or -errno.

        register_fadump() (fadump.c): -ENODEV without a reservation. rtas_fadump_register() (rtas-fadump.c):
        err starts at -EIO, so a hardware error (-1) or an unknown status stays -EIO; a parameter error
        gives -EINVAL; "already registered" (-9) gives -EEXIST.
        """
        fw, k = self.fw_dump, self.k
        if not fw.reserve_dump_area_size:
            return -errno.ENODEV
        self.init_fadump_header()
        k.narrate("register_fadump()", f"arch/powerpc/platforms/pseries/rtas-fadump.c (v{k.version.release_number})",
                  f"the FADMPSIG crash info header is at {fw.fadumphdr_addr:#x}; no ELF header is built now (the "
                  f"capture kernel will); registering {len(self.fdm.sections)} sections with exactly "
                  f"{40 + 40 * len(self.fdm.sections)} bytes", fdm=self.fdm)
        return (yield from self.rtas_fadump_register())

    def rtas_fadump_register(self):
        """rtas_fadump_register() (rtas-fadump.c): REGISTER with exactly 40 + n x 40 bytes; SimPy steps, 0 or
        -errno."""
        fw, k = self.fw_dump, self.k
        rc = yield from self._rtas_fdm(DumpCommand.REGISTER, self.fdm, exact=True)
        err = -errno.EIO
        if rc == RTAS_TIMED_OUT:
            return rc
        if rc == RtasStatus.SUCCESS:
            k.printk(msg.REGISTERED)
            fw.dump_registered = True
            err = 0
        elif rc == RtasStatus.HARDWARE_ERROR:
            k.printk(msg.REGISTER_HW_ERROR.format(rc=rc))
        elif rc == RtasStatus.PARAMETER_ERROR:
            if not self.boot_memory_contiguous():
                k.printk(msg.HOLES_IN_BOOT_MEM)
            elif not k.machine.layout.is_memory(Range(fw.reserve_dump_area_start,
                                                    fw.reserve_dump_area_start + fw.reserve_dump_area_size)):
                k.printk(msg.HOLES_IN_RESERVED)
            k.printk(msg.REGISTER_PARAM_ERROR.format(rc=rc))
            err = -errno.EINVAL
        elif rc == RtasStatus.DUMP_ALREADY_REGISTERED:
            k.printk(msg.ALREADY_REGISTERED)
            fw.dump_registered = True
            err = -errno.EEXIST
        elif rc is not None:
            k.printk(msg.REGISTER_UNKNOWN.format(rc=rc))
        return err

    def boot_memory_contiguous(self) -> bool:
        """6.10+ registers one REAL_MODE region per piece of memory (rtas_fadump_init_mem_struct()), so a boot
        region never spans a hole and rtas_fadump_register() has no "holes in boot memory" message any more;
        the single-region 6.1 profile overrides this with is_fadump_boot_mem_contiguous()."""
        return True

    def rtas_fadump_unregister(self):
        """rtas_fadump_unregister() (rtas-fadump.c, v6.10): SimPy steps, 0 or -errno."""
        rc = yield from self._rtas_fdm(DumpCommand.UNREGISTER, self.fdm, exact=False)
        if rc == RTAS_TIMED_OUT:
            return rc
        if rc:
            self.k.printk(msg.UNREGISTER_FAILED.format(rc=rc))
            return -errno.EIO  # rtas_fadump_unregister() (6.10)
        self.fw_dump.dump_registered = False
        return 0

    def rtas_fadump_invalidate(self):
        """rtas_fadump_invalidate() (rtas-fadump.c, v6.10): SimPy steps, 0 or -errno."""
        rc = yield from self._rtas_fdm(DumpCommand.INVALIDATE, self.fdm_active, exact=False)
        if rc == RTAS_TIMED_OUT:
            return rc
        if rc:
            self.k.printk(msg.INVALIDATE_FAILED.format(rc=rc))
            return -errno.EIO  # rtas_fadump_invalidate() (6.10)
        self.fw_dump.dump_active = False
        self.fdm_active = None
        return 0

    def fadump_cleanup(self):
        """machine_shutdown(): invalidate an active dump, else unregister a registration (SimPy steps)."""
        if not self.fw_dump.fadump_supported:
            return
        if self.fw_dump.dump_active:
            yield from self.rtas_fadump_invalidate()
        elif self.fw_dump.dump_registered:
            yield from self.rtas_fadump_unregister()

    # --- crash ---

    def crash_fadump(self, regs: dict[str, int], reason: str):
        """Save crashing CPU, VMCOREINFO, registers and the online mask; trigger via os-term (SimPy steps; True if
        it never returned)."""
        fw, k = self.fw_dump, self.k
        if not fw.dump_registered or not fw.fadumphdr_addr:
            return False
        fdh = save_crash_info(k, fw.fadumphdr_addr, k.ks.crash_info_header_v1, regs)
        k.narrate("crash_fadump()", f"arch/powerpc/kernel/fadump.c (v{k.version.release_number})",
                  f"CPU {k.crashing_cpu} wins the cmpxchg, saves its registers and the online mask, appends "
                  "CRASHTIME, then triggers firmware through ibm,os-term",
                  crash_info_header={"crashing_cpu": fdh.crashing_cpu, "vmcoreinfo_raddr": fdh.vmcoreinfo_raddr,
                                     "regs.nip": fdh.regs.nip, "regs.gpr1": fdh.regs.gpr1})
        return (yield from k.rtas_os_term(reason))
