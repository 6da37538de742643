"""A Linux 3.4 pSeries kernel: boot, the kdump service, panic, the capture path."""

from kernels import vmcoreinfo
from kernels.base import Kernel, SysfsFile
from kernels.image import SYMBOLS
from kernels.linux34 import messages as msg
from kernels.linux34.fadump import VMCOREINFO_BYTES, Fadump34
from kernels.structs import PT_REGS_FIELDS_3_4
from kernels.vmcore import LAYOUT_3_4, ProcVmcore, VmcoreError
from firmware import abi

CAPTURE_SCRATCH = (0x0400_0000, 0x0300_0000)
"""(start, size) of low memory a booting kernel fills with its initramfs and
page cache: in a capture kernel this overwrites the crashed kernel's data."""


class Linux34(Kernel):
    """Profile "linux-3.4": the seed design (arch/powerpc/kernel/fadump.c, v3.4)."""

    profile = "linux-3.4"
    pt_regs_fields = PT_REGS_FIELDS_3_4
    vmcore_layout = LAYOUT_3_4

    def __init__(self, machine, cmdline: str, release: str, boot: int, epoch: int):
        super().__init__(machine, cmdline, release, boot)
        self.fadump = Fadump34(self)
        self.epoch = epoch
        self.crashing_cpu = -1
        self.elfcorehdr_addr = None
        self.vmcoreinfo_text = ""
        self.fadump_reserved = False

    # --- boot ---

    def boot_sequence(self):
        """start_kernel() up to userspace, as a SimPy process."""
        env = self.machine.env
        self.printk(self.image.banner())
        self.fadump.early_init_dt_scan_fw_dump()
        self.fadump.early_fadump_param()
        self.fadump_reserved = self.fadump.fadump_reserve_mem()
        self.load_image()
        yield env.timeout(0.25)
        self.crash_save_vmcoreinfo_init()
        yield env.timeout(0.05)
        self.setup_fadump()
        yield env.timeout(0.05)
        self.vmcore_init()
        yield env.timeout(2.0)

    def load_image(self) -> None:
        """The image and the memory a young kernel fills: all below the reservation."""
        self.image.load(self.ram, self.boot)
        start, size = CAPTURE_SCRATCH
        pattern = f"boot {self.boot} initramfs/page cache ".encode()
        block = (pattern * (65536 // len(pattern) + 1))[:65536]
        for off in range(0, size, len(block)):
            self.ram.write(start + off, block)

    def crash_save_vmcoreinfo_init(self) -> None:
        """subsys_initcall: write the VMCOREINFO note (kernel/kexec.c)."""
        self.vmcoreinfo_text = vmcoreinfo.base_text(self.release, self.page_size)
        vmcoreinfo.write_note(self.ram, self.ks, self.vmcoreinfo_text, VMCOREINFO_BYTES)

    def crash_save_vmcoreinfo(self) -> None:
        """Append CRASHTIME and rebuild the note (called by crash_fadump)."""
        now = self.epoch + int(self.machine.env.now)
        text = self.vmcoreinfo_text + f"CRASHTIME={now}\n"
        vmcoreinfo.write_note(self.ram, self.ks, text, VMCOREINFO_BYTES)

    def setup_fadump(self) -> None:
        """subsys_initcall setup_fadump(): process an active dump or prepare registration."""
        fd = self.fadump
        fw = fd.fw_dump
        if fw.fadump_enabled and not fw.fadump_supported:
            self.printk(msg.NOT_SUPPORTED)
        if fw.fadump_enabled and fw.fadump_supported:
            if fw.dump_active:
                if fd.process_fadump() < 0:
                    fd.fadump_invalidate_release_mem()
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

    def vmcore_init(self) -> None:
        """fs_initcall vmcore_init(): export /proc/vmcore when elfcorehdr_addr is set."""
        if self.elfcorehdr_addr is None:
            return
        try:
            self.vmcore = ProcVmcore(self.ram, self.ks, self.elfcorehdr_addr, self.page_size, self.vmcore_layout)
        except VmcoreError as exc:
            self.printk(exc.message)

    def vmcore_cleanup(self) -> None:
        self.vmcore = None

    # --- userspace ---

    def kdump_service_register(self) -> None:
        """What the 3.4-era kdump service does at boot: echo 1 > /sys/kernel/fadump_registered."""
        if self.fadump.fw_dump.fadump_enabled and not self.fadump.fw_dump.dump_active:
            self.userspace("kdump: registering for firmware-assisted dump")
            self.sysfs_write("/sys/kernel/fadump_registered", "1")

    # --- crash ---

    def online_cpu_ids(self) -> list[int]:
        return [c.id for c in self.machine.cpus if c.online]

    def cpumask_bytes(self, cpus: list[int]) -> bytes:
        """A struct cpumask: unsigned longs in the kernel's byte order, bit n = CPU n."""
        words = [0] * (self.ks.cpumask_size // 8)
        for c in cpus:
            words[c // 64] |= 1 << (c % 64)
        return b"".join(w.to_bytes(8, self.byteorder) for w in words)

    def cpumask_test(self, mask: bytes, cpu: int) -> bool:
        word = int.from_bytes(mask[(cpu // 64) * 8:(cpu // 64) * 8 + 8], self.byteorder)
        return bool(word >> (cpu % 64) & 1)

    def panic(self, cpu: int, regs: dict[str, int], message: str) -> str:
        """panic() on ``cpu``: "dumped" if firmware took over, else "reboot" or "hang"."""
        self.crashing_cpu = cpu
        self.printk(msg.PANIC.format(message=message))
        if self.fadump.crash_fadump(regs, message):
            return "dumped"
        timeout = int(self.params.get("panic", "0") or 0)
        if timeout > 0:
            self.printk(msg.REBOOTING.format(seconds=timeout))
            return "reboot"
        return "hang"

    def rtas_os_term(self, reason: str) -> bool:
        """rtas_os_term(): only with ibm,os-term and ibm,extended-os-term; True if it never returned."""
        dt = self.machine.devicetree
        if not dt.has("/rtas", abi.DT_OS_TERM) or not dt.has("/rtas", abi.DT_EXTENDED_OS_TERM):
            return False
        text = f"OS panic: {reason}".encode()[:2047] + b"\0"
        self.ram.write(SYMBOLS["rtas_os_term_buf"], text)
        status = self.rtas_call(abi.DT_OS_TERM, SYMBOLS["rtas_os_term_buf"])
        if status is None:
            return True
        if status != 0:
            self.printk(msg.OS_TERM_FAILED.format(rc=status))
        return False

    def machine_shutdown(self) -> None:
        """A clean reboot: fadump_cleanup() invalidates an active dump."""
        self.fadump.fadump_cleanup()

    # --- for reports and the runner ---

    @property
    def reserved_area(self):
        from emulator.layout import Range

        fw = self.fadump.fw_dump
        if not fw.reserve_dump_area_size or fw.dump_active:
            return None
        return Range(fw.reserve_dump_area_start, fw.reserve_dump_area_start + fw.reserve_dump_area_size)

    @property
    def dump_active(self) -> bool:
        return self.fadump.fw_dump.dump_active

    @property
    def dump_registered(self) -> bool:
        return self.fadump.fw_dump.dump_registered
