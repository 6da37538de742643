"""A Linux 6.1 pSeries kernel (Debian 12's 6.1.192): 6.10's boot, sysfs and messages, the original design's
fadump (kernels.linux61.fadump), and QEMU's pc-dimm hot-add as 6.1 answers it."""

from emulator.hw.layout import Range
from kernels.base import HOTPLUG_SRC
from kernels.fault_hooks import NO_FAULTS, FaultHooks
from kernels.linux61.fadump import Fadump61
from kernels.linux610.kernel import Linux610
from kernels.memmap import PageLayout
from kernels.versions import LINUX_6_1

IOMMU_SRC = "arch/powerpc/platforms/pseries/iommu.c (v6.1)"


class Linux61(Linux610):
    """Profile "linux-6.1" (Debian linux-source-6.1 6.1.192; measured on a real 6.1.192 kernel)."""

    profile = "linux-6.1"
    version = LINUX_6_1
    page_layout = PageLayout.of(LINUX_6_1.page)

    def __init__(self, machine, cmdline: str, release: str, boot: int, epoch: int, nr_cpus: int | None = None,
                 faults: FaultHooks = NO_FAULTS):
        super().__init__(machine, cmdline, release, boot, epoch, nr_cpus, faults)
        self.fadump = Fadump61(self)
        self.boot_hotplug_lmbs = frozenset(machine.hot_added) if machine.config.firmware == "qemu" else frozenset()
        """LMBs firmware flags hot-removable at this kernel's boot (their own memblock regions): QEMU flags a
        pc-dimm's LMBs so (measured: the dimm-hotplug capture kernel); whether PowerVM flags a DLPAR-added LMB is
        not modelled (no measurement), so under PowerVM memblock merges it with its neighbours."""
        self.ddw_limit = machine.layout.end_of_dram
        """The direct DMA window's reach: memory_hotplug_max() = memblock_end_of_DRAM() at boot without NUMA."""

    def dlpar_memory_add(self, addr: int) -> bool:
        """A hot-add as the 6.1 reference build answers it under QEMU.

        QEMU's pseries gives the virtio PCI devices a direct dynamic DMA window sized at boot by enable_ddw() to
        ddw_memory_hotplug_max(), that is memory_hotplug_max() = memblock_end_of_DRAM() without CONFIG_NUMA
        (arch/powerpc/include/asm/mmzone.h, 6.1; measured: "ibm,create-pe-dma-window ... 18 1f", a 2 GiB window
        for 2 GiB of RAM). Onlining memory above it runs iommu_mem_notifier(MEM_GOING_ONLINE), whose TCEs fall
        outside the window: NOTIFY_BAD, dlpar_add_lmb() removes the memory again and dlpar_memory_add_by_ic()
        (hotplug-memory.c, 6.1) rolls the request back. QEMU keeps the pc-dimm plugged: the next kernel (the
        capture kernel) boots with it. Under PowerVM (no emulated PCI window) the add goes through.
        """
        m = self.machine
        if not (self.version.ddw_limits_hot_add and m.config.firmware == "qemu" and addr >= self.ddw_limit):
            return super().dlpar_memory_add(addr)
        index = addr // m.layout.lmb_size
        self.printk(f"pseries-hotplug-mem: Attempting to hot-add 1 LMB(s) at index {0x80000000 + index:x}")
        if index not in m.layout.present:
            m.add_lmb(index)  # the pc-dimm stays plugged in QEMU
        self.printk("pseries-hotplug-mem: Memory indexed-count-add failed, removing any added LMBs")
        self.narrate("dlpar_memory_add_by_ic()", HOTPLUG_SRC,
                     f"the LMB at {addr:#x} lies above the direct DMA window this kernel sized at boot "
                     f"({self.ddw_limit:#x}, {IOMMU_SRC} enable_ddw()); iommu_mem_notifier() refuses to online it, "
                     "so the hot-add is rolled back: this kernel never uses the memory, the next boot sees it")
        return False

    def is_fadump_memory_area(self, lmb: Range) -> bool:
        """is_fadump_memory_area() (fadump.c, 6.1): while registered, the reserved area and everything up to
        boot_mem_top belong to fadump."""
        fw = self.fadump.fw_dump
        if not fw.dump_registered:
            return False
        area_end = fw.reserve_dump_area_start + fw.reserve_dump_area_size
        return (lmb.end > fw.reserve_dump_area_start and lmb.start <= area_end) or lmb.start <= fw.boot_mem_top

    def dlpar_memory_remove(self, addr: int) -> bool:
        """lmb_is_removable() (hotplug-memory.c, 6.1) refuses an LMB of fadump's memory area."""
        m = self.machine
        index = addr // m.layout.lmb_size
        lmb = Range(index * m.layout.lmb_size, (index + 1) * m.layout.lmb_size)
        if index not in m.layout.present or not self.is_fadump_memory_area(lmb):
            return super().dlpar_memory_remove(addr)
        self.printk(f"pseries-hotplug-mem: Attempting to hot-remove LMB, drc index {0x80000000 + index:x}")
        self.printk(f"pseries-hotplug-mem: Failed to hot-remove memory at {addr:x}")
        self.narrate("lmb_is_removable()", HOTPLUG_SRC, f"the LMB at {addr:#x} is fadump's (boot memory up to "
                     f"{self.fadump.fw_dump.boot_mem_top:#x} or the reserved area) while a dump is registered")
        return False
