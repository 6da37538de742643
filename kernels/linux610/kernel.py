"""A Linux 6.10 pSeries kernel: automatic registration, capture-built ELF header, /sys/kernel/fadump."""

from kernels.fault_hooks import NO_FAULTS, FaultHooks
from kernels import cmdline as cmdline_mod
from kernels import vmcoreinfo
from kernels.base import Kernel
from kernels.process_steps import Checkpoint, SysfsFile
from kernels.memmap import PAGE_6_10
from kernels.printk import PrbLogBuffer
from kernels.linux610.fadump import Fadump610
from kernels.structs import PT_REGS_FIELDS_6_10
from kernels.versions import LINUX_6_10
from kernels.vmcore import LAYOUT_PAGED

SYSFS = "/sys/kernel/fadump"


class Linux610(Kernel):
    """Profile "linux-6.10": arch/powerpc/kernel/fadump.c and pseries/rtas-fadump.c (v6.10)."""

    profile = "linux-6.10"
    version = LINUX_6_10
    pt_regs_fields = PT_REGS_FIELDS_6_10
    vmcore_layout = LAYOUT_PAGED
    modern_wording = True
    waits_for_secondaries = True
    mask_at_registration = "possible"
    page_layout = PAGE_6_10
    memory_model = "sparsemem-vmemmap"
    log_class = PrbLogBuffer
    max_physmem_bits = 51

    def __init__(self, machine, cmdline: str, release: str, boot: int, epoch: int, nr_cpus: int | None = None,
                 faults: FaultHooks = NO_FAULTS):
        super().__init__(machine, cmdline, release, boot, epoch, nr_cpus, faults)
        self.fadump = Fadump610(self)
        self.vmcoreinfo_bytes = machine.page_size
        self.vmcoreinfo_paddr = 0

    @property
    def vmcoreinfo_note_size(self) -> int:
        """VMCOREINFO_NOTE_SIZE: 12*2 + 12 + PAGE_SIZE (65572 with 64 KiB pages)."""
        return vmcoreinfo.note_size(self.vmcoreinfo_bytes)

    def boot_sequence(self):
        """start_kernel() to userspace as SimPy steps (each Checkpoint ends a lifecycle step); registration happens
        in setup_fadump (since 5.18)."""
        env = self.machine.env
        fd = self.fadump
        self.printk(self.image.banner())
        fd.rtas_fadump_dt_scan()
        self.cmdline = fd.fadump_append_bootargs()
        self.params = cmdline_mod.params(self.cmdline)
        fd.early_fadump_param()
        if not fd.fadump_reserve_mem():
            self.reserve_crashkernel()
        if self.version.param_area_rule != "6.10":
            fd.fadump_setup_param_area()  # early_init_devtree(), after mmu_early_init_devtree() (6.12+)
        if self.version.cma_init_in_setup_arch:
            fd.fadump_cma_init()  # setup_arch(), after initmem_init() (6.12+)
        self.load_image()
        self.step = "early_init_devtree: memory reserved, image loaded"
        yield Checkpoint(env, 0.25)
        self.vmcoreinfo_paddr = self.alloc_pages(self.vmcoreinfo_note_size)
        self.symbols["vmcoreinfo_note"] = self.vmcoreinfo_paddr
        self.crash_save_vmcoreinfo_init()
        self.step = "crash_save_vmcoreinfo_init done"
        yield Checkpoint(env, 0.05)
        yield from self.setup_fadump()
        self.step = "setup_fadump done (registered or dump processed)"
        yield Checkpoint(env, 0.05)
        self.vmcore_init()
        self.step = "vmcore_init done"
        yield Checkpoint(env, 2.0)

    def setup_fadump(self):
        """subsys_initcall_sync setup_fadump(): nothing without firmware support; files; then process or register.
        SimPy steps (registering, or releasing a rejected dump, reaches firmware).

        6.10 sets up the parameter area here (first kernel, before the registration structure), and
        creates bootargs_append only when that worked.
        """
        fd, fw = self.fadump, self.fadump.fw_dump
        if not fw.fadump_supported:
            return
        self.fadump_init_files()
        if not fw.fadump_enabled:
            return
        if fw.dump_active:
            if fd.fadump_process() < 0:
                yield from fd.fadump_invalidate_release_mem()
        elif fw.reserve_dump_area_size:
            if self.version.param_area_rule == "6.10" and fd.fadump_setup_param_area():
                self.sysfs[f"{SYSFS}/bootargs_append"] = self.bootargs_append_file()
            fd.rtas_fadump_init_mem_struct()
            if self.version.registers_at_boot:
                yield from fd.register_fadump()

    def bootargs_append_file(self) -> SysfsFile:
        fd = self.fadump
        return SysfsFile(show=fd.bootargs_append_show, store=fd.bootargs_append_store)

    def fadump_init_files(self) -> None:
        fd = self.fadump
        files = {
            "enabled": SysfsFile(show=fd.enabled_show),
            "registered": SysfsFile(show=fd.registered_show, store=fd.registered_store),
            "mem_reserved": SysfsFile(show=fd.mem_reserved_show),
        }
        if self.version.hotplug_ready:  # fadump.c (6.10+); 6.1 has no such file
            files["hotplug_ready"] = SysfsFile(show=fd.hotplug_ready_show)
        if fd.fw_dump.dump_active:
            files["release_mem"] = SysfsFile(store=fd.release_mem_store)
        if fd.fw_dump.param_area and self.version.bootargs_append_from_init_files:
            files["bootargs_append"] = self.bootargs_append_file()
        for name, f in files.items():
            self.sysfs[f"{SYSFS}/{name}"] = f
        if self.version.compat_symlinks:
            for old in ("enabled", "registered", "release_mem"):  # deprecated compatibility symlinks
                if old in files:
                    self.sysfs[f"/sys/kernel/fadump_{old}"] = files[old]
        self.debugfs["/sys/kernel/debug/powerpc/fadump_region"] = SysfsFile(show=fd.fadump_region_show)

    def kdump_service_register(self):
        """Modern kernels register at boot; the service only re-registers after a release (SimPy steps)."""
        fw = self.fadump.fw_dump
        if fw.fadump_enabled and not fw.dump_active and not fw.dump_registered:
            self.userspace("kdump: registering for firmware-assisted dump")
            yield from self.sysfs_write(f"{SYSFS}/registered", "1")

    def release_path(self) -> str:
        return f"{SYSFS}/release_mem"

    def old_memory_reserved(self) -> bool:
        fw = self.fadump.fw_dump
        return fw.fadump_enabled and fw.dump_active
