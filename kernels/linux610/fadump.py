"""The first-kernel half of modern fadump: arch/powerpc/kernel/fadump.c and
arch/powerpc/platforms/pseries/rtas-fadump.c as of Linux 6.10.

Boot memory may span holes (up to 7 regions), the reservation is the lowest
fit above boot memory, registration happens at boot, and the crash info header
is the versioned FADMPSIG one. No ELF header is built here: the capture kernel
builds it from the memory it finds, which is what made 6.10 hotplug-safe.
"""

import errno
from dataclasses import dataclass, field

from construct import Container

from emulator.hw.devicetree import read_cells
from emulator.hw.layout import Range
from emulator.units import align_up, memparse
from firmware import abi
from firmware.abi import DumpCommand, RtasStatus, SectionType
from firmware.structs import DumpMemStruct, requested_section
from kernels import cmdline as cmdline_mod
from kernels.process_steps import RTAS_TIMED_OUT
from kernels.crash import save_crash_info
from kernels.linux610 import messages as msg
from kernels.linux610.capture_kernel import CaptureMixin
from kernels.linux610.sysfs import SysfsMixin
from kernels.structs import FADUMP_CPU_UNKNOWN, FADUMP_HEADER_VERSION

RTAS_FADUMP_MIN_BOOT_MEM = (256 << 20) + (64 << 20)
MAX_BOOT_MEM_REGS = 7
MAX_BOOT_MEM_RATIO = 4
COMMAND_LINE_SIZE = 2048
MIN_RMA_FOR_PARAM_AREA = 768 << 20
"""fadump_setup_param_area(): ppc64_rma_size >= 0x30000000 (6.10, 6.12); MIN_RMA = 768 MiB (asm/prom.h, 7.2)."""
HASH_PARAM_AREA_START = 0x2A00_0000
HASH_PARAM_AREA_SIZE = 0x0400_0000
"""6.10-6.12, hash MMU: "640 MB to 768 MB is not used by PFW/bootloader" (fadump_setup_param_area)."""
CMA_MIN_ALIGNMENT_BYTES = 16 << 20
"""PAGE_SIZE << pageblock_order: 64 KiB pages with pageblock_order 8 (MAX_PAGE_ORDER of 64K ppc64) = 16 MiB,
the alignment the real 6.12.117 kernel's CMA area showed (at 512MB, 0x20000000 bytes)."""


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


class Fadump610(CaptureMixin, SysfsMixin):
    """The fadump code of one 6.10 kernel, with its fw_dump, fdm and fdm_active."""

    max_boot_mem_regs = MAX_BOOT_MEM_REGS
    """How many boot-memory regions fadump_get_boot_mem_regions() may use before "Too many holes"."""

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

    def early_fadump_param(self) -> None:
        """fadump=on|off|nocma (prefix match), fadump_reserve_mem=, mem=."""
        p, fw = self.k.params, self.fw_dump
        value = p.get("fadump")
        if value is not None:
            if value.startswith("on"):
                fw.fadump_enabled = True
            elif value.startswith("off"):
                fw.fadump_enabled = False
            elif value.startswith("nocma"):
                fw.fadump_enabled = True
                fw.nocma = True
        if p.get("fadump_reserve_mem"):
            fw.reserve_bootvar = memparse(p["fadump_reserve_mem"])[0]
        if p.get("mem"):
            self.memory_limit = align_up(memparse(p["mem"])[0], self.k.page_size)

    def fadump_calculate_reserve_size(self) -> int:
        """crashkernel= (capped at 25% of RAM), else fadump_reserve_mem=, else 5% rounded down to 256 MiB."""
        k, fw = self.k, self.fw_dump
        ram = k.machine.layout.phys_mem_size
        if fw.reserve_bootvar:
            k.printk(msg.RESERVE_MEM_DEPRECATED)
        size = cmdline_mod.parse_crashkernel_size(k.params.get("crashkernel", ""), ram)
        if size:
            if fw.reserve_bootvar:
                k.printk(msg.USING_CRASHKERNEL)
            fw.reserve_bootvar = size
            if size > ram // MAX_BOOT_MEM_RATIO:
                fw.reserve_bootvar = ram // MAX_BOOT_MEM_RATIO
                k.printk(msg.ADJUSTED_BOOT_MEM.format(mb=fw.reserve_bootvar >> 20))
            return fw.reserve_bootvar
        if fw.reserve_bootvar:
            return fw.reserve_bootvar
        size = (ram // 20) & ~0x0FFFFFFF
        if self.memory_limit and size > self.memory_limit:
            size = self.memory_limit
        return max(size, RTAS_FADUMP_MIN_BOOT_MEM)

    def fadump_get_boot_mem_regions(self) -> bool:
        """Cover boot_memory_size from address 0 across holes; at most 7 regions."""
        fw = self.fw_dump
        regions, covered, holes, last_end = [], 0, 0, 0
        for r in self.k.memblock.memory:
            if covered >= fw.boot_memory_size:
                break
            holes += r.start - last_end
            size = min(r.size, fw.boot_memory_size - covered)
            if len(regions) == self.max_boot_mem_regs:
                return False
            regions.append(Range(r.start, r.start + size))
            covered += size
            last_end = r.end
        fw.boot_mem_regions = regions
        fw.boot_mem_top = align_up(fw.boot_memory_size + holes, self.k.page_size)
        return True

    def get_fadump_area_size(self) -> int:
        """PAGE_ALIGN(CPU + HPTE) + boot memory + crash info header (not page aligned)."""
        fw = self.fw_dump
        size = align_up(fw.cpu_state_data_size + fw.hpte_region_size, self.k.page_size)
        return size + fw.boot_memory_size + self.k.ks.crash_info_header_v1.sizeof()

    def fadump_locate_reserve_mem(self, base: int, size: int) -> int:
        """First fit, page aligned, bottom-up over free memory at or above ``base``."""
        base = align_up(base, self.k.page_size)
        for r in self.k.memblock.free():
            start = max(align_up(r.start, self.k.page_size), base)
            if start + size <= r.end:
                return start
        return self.k.machine.layout.end_of_dram

    def fadump_reserve_mem(self) -> bool:
        """Size boot memory, reserve the dump area, or protect the crashed kernel's memory."""
        k, fw = self.k, self.fw_dump
        if not fw.fadump_enabled:
            return False
        if not fw.fadump_supported:
            k.printk(msg.NOT_SUPPORTED)
            fw.fadump_enabled = False
            return False
        if fw.dump_active:
            self.adjust_memory_limit()
            k.printk(msg.DUMP_ACTIVE)
            self.fadump_reserve_crash_area(fw.boot_mem_top)
            fw.reserve_dump_area_size = self.get_fadump_area_size()
            return True
        fw.boot_memory_size = align_up(self.fadump_calculate_reserve_size(), k.page_size)
        if k.version.cma_rounds_boot_memory and not fw.nocma:
            fw.boot_memory_size = align_up(fw.boot_memory_size, CMA_MIN_ALIGNMENT_BYTES)
        if fw.boot_memory_size < RTAS_FADUMP_MIN_BOOT_MEM:
            k.printk(msg.BOOT_MEM_TOO_SMALL.format(size=fw.boot_memory_size, minimum=RTAS_FADUMP_MIN_BOOT_MEM))
            return self._error_out()
        if not self.fadump_get_boot_mem_regions():
            k.printk(msg.TOO_MANY_HOLES)
            return self._error_out()
        self.adjust_memory_limit()
        boundary = self.memory_limit or k.machine.layout.end_of_dram
        size = self.get_fadump_area_size()
        base = self.fadump_locate_reserve_mem(fw.boot_mem_top, size)
        if base + size > boundary:
            k.printk(msg.NO_CHUNK)
            return self._error_out()
        fw.reserve_dump_area_start, fw.reserve_dump_area_size = base, size
        k.memblock.reserve(Range(base, base + size))
        k.printk(msg.RESERVED.format(mb=size >> 20, base=base, ram_mb=k.machine.layout.phys_mem_size >> 20))
        k.narrate("fadump_reserve_mem()", f"arch/powerpc/kernel/fadump.c (v{k.version.release_number})",
                  f"boot memory is {fw.boot_memory_size >> 20} MiB in {len(fw.boot_mem_regions)} region(s); the "
                  f"dump area is the lowest fit above it: [{base:#x}, {base + size:#x})")
        if not k.version.cma_init_in_setup_arch:
            self.fadump_cma_init()
        return True

    def adjust_memory_limit(self) -> None:
        """fadump_reserve_mem() of 3.4 and 6.1 (Version.adjusts_memory_limit): a mem= limit below the end of DRAM
        grows by the dump area's size (at most to the end), so the area goes above it; 6.10's has no such code."""
        k = self.k
        end = k.machine.layout.end_of_dram
        if not k.version.adjusts_memory_limit or not self.memory_limit or self.memory_limit >= end:
            return
        size = self.get_fadump_area_size()
        self.memory_limit = self.memory_limit + size if self.memory_limit + size < end else end
        k.printk(msg.ADJUSTED_MEMORY_LIMIT.format(limit=self.memory_limit))

    def fadump_cma_init(self) -> None:
        """fadump_cma_init(): give the boot-memory-sized start of the area to CMA, in the release's way.

        6.10-6.12: cma_init_reserved_mem(reserve_dump_area_start, boot_memory_size) as is; both must be
        CMA_MIN_ALIGNMENT_BYTES aligned (mm/cma.c) or it fails with -EINVAL. 7.2: the aligned part inside.
        """
        k, fw = self.k, self.fw_dump
        if not fw.fadump_supported or not fw.fadump_enabled or fw.dump_active:
            return
        if fw.nocma or not fw.boot_memory_size:
            return
        start, size = fw.reserve_dump_area_start, fw.boot_memory_size
        if k.version.cma_line == "range":
            base = align_up(start, CMA_MIN_ALIGNMENT_BYTES)
            end = (start + size) & ~(CMA_MIN_ALIGNMENT_BYTES - 1)
            if end <= base:
                k.printk(msg.CMA_TOO_SMALL)
                return
            k.printk(msg.CMA_INIT_RANGE.format(base=base, mb=(end - base) >> 20, start=start, boot_mb=size >> 20))
            return
        if (start | size) & (CMA_MIN_ALIGNMENT_BYTES - 1):
            k.printk(msg.CMA_FAILED.format(rc=-22))
            return
        k.printk(msg.CMA_INIT.format(size=size, mb=start >> 20, reserved=fw.reserve_dump_area_size))

    def _error_out(self) -> bool:
        self.fw_dump.fadump_enabled = False
        self.fw_dump.reserve_dump_area_size = 0
        return False

    def fadump_setup_param_area(self) -> bool:
        """Reserve COMMAND_LINE_SIZE bytes for bootargs_append, shared across kernels; True if it got one.

        Where and when follow the release (Version.param_area_rule):
        - "6.10": from setup_fadump(), first kernel only; radix: the upper half of DRAM; hash: only
          0x2A000000-0x2E000000 and only when ppc64_rma_size >= 0x30000000.
        - "6.12": from early_init_devtree() after mmu_early_init_devtree(), with no fadump_enabled check;
          the same windows.
        - "7.2": early, only with fadump on; hash: [MIN_RMA (768 MiB), min(ppc64_rma_size, boot_mem_top)).
        memblock_phys_alloc_range() is top-down; failing, the kernel warns and creates no file.
        """
        k, fw = self.k, self.fw_dump
        rule = k.version.param_area_rule
        if rule is None or not fw.param_area_supported or fw.dump_active:
            return False
        if rule == "7.2" and not fw.fadump_enabled:
            return False
        if k.machine.config.mmu == "radix":
            window = Range(k.machine.layout.end_of_dram // 2, k.machine.layout.end_of_dram)
        elif rule == "7.2":
            if k.ppc64_rma_size < MIN_RMA_FOR_PARAM_AREA:
                return False
            window = Range(MIN_RMA_FOR_PARAM_AREA, min(k.ppc64_rma_size, fw.boot_mem_top))
        else:
            if k.ppc64_rma_size < MIN_RMA_FOR_PARAM_AREA:
                return False
            window = Range(HASH_PARAM_AREA_START, HASH_PARAM_AREA_START + HASH_PARAM_AREA_SIZE)
        for r in reversed(k.memblock.free()):
            top = min(r.end, window.end)
            start = (top - COMMAND_LINE_SIZE) & ~(COMMAND_LINE_SIZE - 1)
            if start >= max(r.start, window.start):
                fw.param_area = start
                k.memblock.reserve(Range(start, start + COMMAND_LINE_SIZE))
                k.ram.fill(start, COMMAND_LINE_SIZE, 0)
                return True
        k.printk(msg.PARAM_AREA_FAILED)
        return False

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
