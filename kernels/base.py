"""What every emulated kernel shares: printk, memblock, RTAS calls, sysfs, page allocation."""

import errno
from collections.abc import Callable
from dataclasses import dataclass, field

from emulator.layout import Range, merge, subtract
from emulator.units import align_up
from firmware.abi import busy_delay_ms
from kernels import cmdline as cmdline_mod
from kernels.image import HEAP_START, KernelImage
from kernels.structs import kernel_structs


@dataclass
class SysfsFile:
    """A sysfs attribute: show() returns text; store(text) returns count or -errno."""

    show: Callable[[], str] | None = None
    store: Callable[[str], int] | None = None


@dataclass
class Memblock:
    """memblock: the memory ranges the kernel may use and the ones it reserved."""

    memory: list[Range] = field(default_factory=list)
    reserved: list[Range] = field(default_factory=list)

    def reserve(self, r: Range) -> None:
        self.reserved = merge(self.reserved + [r])

    def free(self) -> list[Range]:
        out = list(self.memory)
        for r in self.reserved:
            out = subtract(out, r)
        return out


class Kernel:
    """A booted kernel on a machine. Profiles subclass it with their generation's code."""

    profile = "base"
    pt_regs_fields: tuple[str, ...] = ()
    nr_cpus = 2048

    def __init__(self, machine, cmdline: str, release: str, boot: int):
        self.machine = machine
        self.ram = machine.ram
        self.cmdline = cmdline
        self.params = cmdline_mod.params(cmdline)
        self.release = release
        self.boot = boot
        le = machine.config.little_endian
        self.ks = kernel_structs(le, self.pt_regs_fields, self.nr_cpus)
        self.byteorder = self.ks.byteorder
        self.page_size = machine.page_size
        self.image = KernelImage(release, "ppc64le" if le else "ppc64")
        self.memblock = Memblock(memory=machine.layout.memblock_memory())
        self.sysfs: dict[str, SysfsFile] = {}
        self.debugfs: dict[str, SysfsFile] = {}
        self.vmcore = None
        self.stall = 0.0
        """Seconds spent in busy-waits (mdelay) not yet yielded to the clock."""
        self._heap_next = HEAP_START
        self.heap_limit = machine.layout.end_of_dram

    # --- console ---

    def printk(self, text: str) -> None:
        """One kernel console line, stamped with this kernel's uptime."""
        m = self.machine
        m.console.emit(m.env.now, m.uptime() + self.stall, f"kernel{self.boot}", text, self.boot)

    def userspace(self, text: str) -> None:
        """A line from a userspace service on the console."""
        m = self.machine
        m.console.emit(m.env.now, m.uptime(), f"user{self.boot}", text, self.boot)

    # --- memory ---

    def alloc_pages(self, size: int) -> int:
        """A page-aligned physical allocation from the kernel's free memory (bump allocator)."""
        size = align_up(size, self.page_size)
        addr = align_up(self._heap_next, self.page_size)
        for r in self.memblock.reserved:
            if Range(addr, addr + size).overlaps(r) and r.start >= HEAP_START:
                addr = align_up(r.end, self.page_size)
        if addr + size > self.heap_limit:
            raise MemoryError(f"out of memory allocating {size:#x} bytes")
        self._heap_next = addr + size
        return addr

    def use_freed_memory(self, ranges: list[Range]) -> None:
        """Memory just given back is soon used: leave a page-cache block at the start of each range."""
        stamp = f"boot {self.boot}: page cache in memory freed by the kernel ".encode()
        block = (stamp * (65536 // len(stamp) + 1))[:65536]
        for r in ranges[:4]:
            self.ram.write(r.start, block[:min(len(block), r.size)])

    # --- firmware ---

    def rtas_call(self, name: str, *args: int) -> int | None:
        """rtas_call() retried while busy (rtas_busy_delay_time + mdelay); None if it never returns."""
        rtas = self.machine.rtas
        token = rtas.token(name)
        while True:
            status = rtas.call(token, *args)
            delay = busy_delay_ms(status) if status is not None else 0
            if not delay:
                return status
            self.stall += delay / 1000.0

    # --- sysfs ---

    def sysfs_read(self, path: str) -> str | int:
        """Text of a sysfs/debugfs file, or -errno (ENOENT, EACCES)."""
        f = self.sysfs.get(path) or self.debugfs.get(path)
        if f is None:
            return -errno.ENOENT
        if f.show is None:
            return -errno.EACCES
        return f.show()

    def sysfs_write(self, path: str, value: str) -> int:
        """write(2) to a sysfs file: count on success or -errno."""
        f = self.sysfs.get(path)
        if f is None:
            return -errno.ENOENT
        if f.store is None:
            return -errno.EACCES
        return f.store(value)
