"""A Linux 3.4 pSeries kernel: boot, the kdump service, panic, the capture path."""

from kernels.fault_hooks import NO_FAULTS, FaultHooks
from kernels.base import Kernel
from kernels.process_steps import Checkpoint, SysfsFile
from kernels.memmap import PAGE_3_4
from kernels.printk import PlainLogBuffer
from kernels.linux34 import messages as msg
from kernels.linux34.fadump import VMCOREINFO_BYTES, Fadump34
from kernels.structs import PT_REGS_FIELDS_3_4
from kernels.versions import LINUX_3_4
from kernels.vmcore import LAYOUT_3_4


class Linux34(Kernel):
    """Profile "linux-3.4": the seed design (arch/powerpc/kernel/fadump.c, v3.4)."""

    profile = "linux-3.4"
    version = LINUX_3_4
    pt_regs_fields = PT_REGS_FIELDS_3_4
    vmcore_layout = LAYOUT_3_4
    vmcoreinfo_bytes = VMCOREINFO_BYTES
    page_layout = PAGE_3_4
    log_class = PlainLogBuffer
    rma_clamp_hash = 1 << 30
    """3.4 predates radix and ISA 3.0: setup_initial_memory_limit() clamps ppc64_rma_size to 1 GiB
    ("to avoid some funky things such as RTAS bugs"), the clamp 6.x keeps for pre-POWER9 guests."""

    def __init__(self, machine, cmdline: str, release: str, boot: int, epoch: int, nr_cpus: int | None = None,
                 faults: FaultHooks = NO_FAULTS):
        super().__init__(machine, cmdline, release, boot, epoch, nr_cpus, faults)
        self.fadump = Fadump34(self)
        self.fadump_reserved = False

    # --- boot ---

    def boot_sequence(self):
        """start_kernel() up to userspace, as SimPy steps: each Checkpoint ends a lifecycle step."""
        env = self.machine.env
        self.printk(self.image.banner())
        self.fadump.early_init_dt_scan_fw_dump()
        self.fadump.early_fadump_param()
        self.fadump_reserved = self.fadump.fadump_reserve_mem()
        if not self.fadump_reserved:
            self.reserve_crashkernel()
        self.load_image()
        self.step = "early_init_devtree: memory reserved, image loaded"
        yield Checkpoint(env, 0.25)
        self.crash_save_vmcoreinfo_init()
        self.step = "crash_save_vmcoreinfo_init done"
        yield Checkpoint(env, 0.05)
        yield from self.setup_fadump()
        self.step = "setup_fadump done"
        yield Checkpoint(env, 0.05)
        self.vmcore_init()
        self.step = "vmcore_init done"
        yield Checkpoint(env, 2.0)

    def setup_fadump(self):
        """subsys_initcall setup_fadump() (fadump.c, v3.4): process an active dump or prepare registration.
        SimPy steps (releasing a rejected dump invalidates it through RTAS).

        With fadump off (or cleared by fadump_reserve_mem() on unsupported hardware) it returns before
        fadump_init_files(): no /sys/kernel/fadump_* file and no debugfs fadump_region exist then.
        """
        fd = self.fadump
        fw = fd.fw_dump
        if not fw.fadump_enabled:
            return
        if not fw.fadump_supported:
            self.printk(msg.NOT_SUPPORTED)
            return
        if fw.dump_active:
            if fd.process_fadump() < 0:
                yield from fd.fadump_invalidate_release_mem()
        elif fw.reserve_dump_area_size:
            fd.init_fadump_mem_struct(fw.reserve_dump_area_start)
        self.fadump_init_files()

    def fadump_init_files(self) -> None:
        fd = self.fadump
        self.sysfs["/sys/kernel/fadump_enabled"] = SysfsFile(show=fd.fadump_enabled_show)
        self.sysfs["/sys/kernel/fadump_registered"] = SysfsFile(show=fd.fadump_register_show,
                                                                store=fd.fadump_register_store)
        self.debugfs["/sys/kernel/debug/powerpc/fadump_region"] = SysfsFile(show=fd.fadump_region_show)
        if fd.fw_dump.dump_active:
            self.sysfs["/sys/kernel/fadump_release_mem"] = SysfsFile(store=fd.fadump_release_memory_store)

    # --- userspace ---

    def kdump_service_register(self):
        """What the 3.4-era kdump service does at boot: echo 1 > /sys/kernel/fadump_registered (SimPy steps)."""
        if self.fadump.fw_dump.fadump_enabled and not self.fadump.fw_dump.dump_active:
            self.userspace("kdump: registering for firmware-assisted dump")
            yield from self.sysfs_write("/sys/kernel/fadump_registered", "1")

    # --- crash ---


    # --- for reports and the runner ---

    def old_memory_reserved(self) -> bool:
        return self.fadump_reserved and self.fadump.fw_dump.dump_active
