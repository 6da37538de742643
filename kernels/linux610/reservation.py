"""Boot memory and the dump area of modern fadump: fadump_reserve_mem() and its helpers in
arch/powerpc/kernel/fadump.c as of Linux 6.10 (the 6.12 and 7.2 differences by kernels.versions.Version).

Sizing (crashkernel=, fadump_reserve_mem=, 5%), boot memory across up to 7 regions, the lowest fit above
boot memory, the mem= limit, CMA and the bootargs_append parameter area. Registration and the crash are
kernels.linux610.fadump; the parameter area's sysfs file is kernels.linux610.sysfs.
"""

from emulator.hw.layout import Range
from emulator.units import align_up, memparse
from kernels import cmdline as cmdline_mod
from kernels.linux610 import messages as msg
from kernels.linux610.sysfs import COMMAND_LINE_SIZE

RTAS_FADUMP_MIN_BOOT_MEM = (256 << 20) + (64 << 20)
MAX_BOOT_MEM_REGS = 7
MAX_BOOT_MEM_RATIO = 4
MIN_RMA_FOR_PARAM_AREA = 768 << 20
"""fadump_setup_param_area(): ppc64_rma_size >= 0x30000000 (6.10, 6.12); MIN_RMA = 768 MiB (asm/prom.h, 7.2)."""
HASH_PARAM_AREA_START = 0x2A00_0000
HASH_PARAM_AREA_SIZE = 0x0400_0000
"""6.10-6.12, hash MMU: "640 MB to 768 MB is not used by PFW/bootloader" (fadump_setup_param_area)."""
CMA_MIN_ALIGNMENT_BYTES = 16 << 20
"""PAGE_SIZE << pageblock_order: 64 KiB pages with pageblock_order 8 (MAX_PAGE_ORDER of 64K ppc64) = 16 MiB,
the alignment the real 6.12.117 kernel's CMA area showed (at 512MB, 0x20000000 bytes)."""


class ReservationMixin:
    """fadump_reserve_mem() and what it calls, on Fadump610's fw_dump (``self.k`` is the kernel)."""

    max_boot_mem_regs = MAX_BOOT_MEM_REGS
    """How many boot-memory regions fadump_get_boot_mem_regions() may use before "Too many holes"."""

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
