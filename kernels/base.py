"""What every emulated kernel shares: printk, memblock, page allocation, boot pieces (RTAS calls and sysfs
writes, as steps of the kernel's process, are kernels.process_steps)."""

import errno
from dataclasses import dataclass, field
from functools import lru_cache

from emulator.hw.layout import Range, merge, subtract
from emulator.units import align_up
from firmware import abi
from kernels import cmdline as cmdline_mod
from kernels import cputable, kallsyms, mmzone, tasks, vmalloc, vmcoreinfo
from kernels.crash import CrashPaths
from kernels.process_steps import RTAS_TIMED_OUT, ProcessSteps, SysfsFile  # noqa: F401 (RTAS_TIMED_OUT re-exported)
from kernels.fault_hooks import NO_FAULTS, FaultHooks
from kernels.image import HEAP_START, IMAGE_SIZE, SYMBOLS, KernelImage, release_symbols
from kernels.memmap import MemMap
from kernels.sparsemem import SparseVmemmap
from kernels.structs import kernel_structs
from kernels.versions import LINUX_6_10, Version
from kernels.vmcore import ProcVmcore, VmcoreError


SCRATCH_TILE = 64 << 10
"""About how many bytes of the scratch pattern write_scratch writes at a time."""


@lru_cache(maxsize=4)
def _scratch_tile(boot: int) -> bytes:
    """Whole repeats of what a young kernel's initramfs and page cache leave in memory, about SCRATCH_TILE
    bytes: made once per boot number."""
    pattern = f"boot {boot} initramfs/page cache ".encode()
    return pattern * max(1, SCRATCH_TILE // len(pattern))


def write_scratch(ram, start: int, size: int, boot: int) -> None:
    """Fill [start, start+size) with boot ``boot``'s scratch pattern, repeated from ``start``, a tile at a time
    (not one block of ``size`` bytes built first: 4 MiB per boot of fresh memory for one copy), in one RAM
    call: a tile is not block-sized, so writing tile by tile zeroed every stale block it began or ended in."""
    ram.write_repeated(start, size, _scratch_tile(boot))

MEMORY_MODELS = {"flatmem": MemMap, "sparsemem-vmemmap": SparseVmemmap}
"""A profile's ``memory_model`` names how its struct pages are laid out and found."""

CAPTURE_SCRATCH = (0x0400_0000, 0x0040_0000)
"""(start, size) of low memory a booting kernel fills with its initramfs and
page cache: in a capture kernel this overwrites the crashed kernel's data."""


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


HOTPLUG_SRC = "arch/powerpc/platforms/pseries/hotplug-memory.c"


class Kernel(CrashPaths, ProcessSteps):
    """A booted kernel on a machine. Profiles subclass it with their generation's code."""

    profile = "base"
    version: Version = LINUX_6_10
    """The release this profile models (kernels.versions): its numbers, messages and rules."""
    pt_regs_fields: tuple[str, ...] = ()
    vmcoreinfo_bytes = 4096
    vmcore_layout = "paged"
    page_layout = None
    """struct page of this generation (kernels.memmap), or None for no mem_map."""
    memory_model = "flatmem"
    """A key of MEMORY_MODELS: "flatmem" (one mem_map array) or "sparsemem-vmemmap" (kernels.sparsemem)."""
    log_class = None
    """The printk buffer of this generation (kernels.printk), or None."""
    max_physmem_bits = 46

    rma_clamp_hash = 1 << 40
    """hash__setup_initial_memory_limit() (6.x, arch/powerpc/mm/book3s64/hash_utils.c): a guest on an
    ISA 3.0 CPU (POWER9/10, what we model) clamps ppc64_rma_size to 1 TiB (1UL << SID_SHIFT_1T)."""

    def __init__(self, machine, cmdline: str, release: str, boot: int, epoch: int = 0, nr_cpus: int | None = None,
                 faults: FaultHooks = NO_FAULTS):
        self.machine = machine
        self.faults = faults
        """Where the scenario's [[faults]] act inside this kernel (kernels.fault_hooks)."""
        self.nr_cpus = nr_cpus or self.version.nr_cpus
        """CONFIG_NR_CPUS of this build ([kernel] nr_cpus, else the release's pseries defconfig)."""
        self.ram = machine.ram
        self.cmdline = cmdline
        self.params = cmdline_mod.params(cmdline)
        self.release = release
        self.boot = boot
        self.epoch = epoch
        """Seconds since 1970 at partition power-on (CRASHTIME's base)."""
        le = machine.config.little_endian
        self.ks = kernel_structs(le, self.pt_regs_fields, self.nr_cpus)
        self.byteorder = self.ks.byteorder
        self.page_size = machine.page_size
        self.image = KernelImage(release, "ppc64le" if le else "ppc64", uts_name_offset=self.version.uts_name_offset)
        self.memblock = Memblock(memory=machine.layout.memblock_memory())
        self.symbols = dict(SYMBOLS) | release_symbols(self.version)
        """Physical addresses of this kernel's objects (static ones from the image, some allocated)."""
        self.memmap = None
        self.step = "power-on"
        """The last boot step this kernel finished (names lifecycle boundaries)."""
        self.log = self.log_class(self) if self.log_class else None
        self.sysfs: dict[str, SysfsFile] = {}
        self.debugfs: dict[str, SysfsFile] = {}
        self.vmcore = None
        self.pid_by_cpu = False
        """Number NT_PRSTATUS notes pid = cpu + 1 (an emulator option; fadump writes 0)."""
        self.crashing_cpu = -1
        self.crash_regs: dict[str, int] | None = None
        """The crashing CPU's pt_regs as the trigger left them (CrashPaths.trap_frame), once it crashed."""
        self.saved_regs: dict[str, int] | None = None
        """The registers the last crash_fadump() call was given (the crashing CPU's note)."""
        self.crash_info_saved = False
        self.kdump_fallback = False
        """fadump reserved nothing and crashkernel= did: kdump would take the dump."""
        """crash_fadump() wrote the crashing CPU, registers and online mask into the header."""
        self.elfcorehdr_addr = None
        self.vmcoreinfo_text = ""
        self._heap_next = HEAP_START
        self.heap_limit = machine.layout.end_of_dram

    @property
    def ppc64_rma_size(self) -> int:
        """What this kernel takes as its RMA (ppc64_rma_size), from the first memory node (the firmware's RMA).

        Radix: radix__setup_initial_memory_limit() sets ULONG_MAX ("Radix mode is not limited by RMA / VRMA
        addressing"). Hash, as a guest (no HVMODE): the first memblock's size, clamped to 1 GiB before
        ISA 3.0 and to 1 TiB from ISA 3.0 on (hash__setup_initial_memory_limit()). PowerVM and QEMU differ
        only in the first memory node they describe (firmware.*.default_rma_size()).
        """
        if self.machine.config.mmu == "radix":
            return (1 << 64) - 1
        return min(self.machine.rma_size, self.rma_clamp_hash)

    # --- console ---

    def printk(self, text: str) -> None:
        """One kernel console line, stamped with this kernel's uptime."""
        m = self.machine
        m.console.emit(m.now(), m.uptime(), f"kernel{self.boot}", text, self.boot)
        if self.log is not None:
            self.log.emit(text, m.uptime())

    def narrate(self, function: str, source: str, text: str, **structs) -> None:
        """A step of this kernel for `fadump-emu explain` (function and file it models)."""
        self.machine.narrate(f"kernel {self.boot} ({self.profile})", function, source, text, **structs)

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
        self.page_kind(addr, size, "kernel")
        return addr

    def page_kind(self, addr: int, size: int, kind: str) -> None:
        """Record in mem_map what the pages of [addr, addr+size) now hold."""
        if self.memmap is not None:
            self.memmap.describe(addr, size, kind)

    def use_freed_memory(self, ranges: list[Range]) -> None:
        """Memory just given back is soon used: leave a page-cache block at the start of each range."""
        stamp = f"boot {self.boot}: page cache in memory freed by the kernel ".encode()
        block = (stamp * (65536 // len(stamp) + 1))[:65536]
        for r in ranges[:4]:
            self.ram.write(r.start, block[:min(len(block), r.size)])
            self.page_kind(r.start, min(len(block), r.size), "cache")


    # --- boot-time pieces every generation shares ---

    def reserve_crashkernel(self) -> None:
        """reserve_crashkernel() (arch/powerpc/kexec/core.c): kdump's fallback when fadump reserved nothing.

        Where it goes is the release's (Version.kdump_base): KDUMP_KERNELBASE (32 MiB) for a non-relocatable
        kernel, min(ppc64_rma_size / 2, 512 MiB) for a relocatable one on an LPAR.
        """
        size = cmdline_mod.parse_crashkernel_size(self.params.get("crashkernel", ""),
                                                  self.machine.layout.phys_mem_size)
        if not size:
            return
        if self.version.kdump_base == "rma":
            base = align_up(min(self.machine.rma_size // 2, 512 << 20), self.page_size)
        else:
            base = 0x0200_0000  # KDUMP_KERNELBASE
        self.memblock.reserve(Range(base, base + size))
        self.kdump_fallback = True
        self.printk(f"Reserving {size >> 20}MB of memory at {base >> 20}MB for crashkernel "
                    f"(System RAM: {self.machine.layout.phys_mem_size >> 20}MB)")

    def old_memory_reserved(self) -> bool:
        """Whether this kernel protects a crashed kernel's memory (profiles override)."""
        return False

    def load_image(self) -> None:
        """The image and the memory a young kernel fills: all below the reservation."""
        self.image.load(self.ram, self.boot)
        tasks.place(self)
        start, size = CAPTURE_SCRATCH
        write_scratch(self.ram, start, size, self.boot)
        if self.page_layout is not None:
            self.memmap = MEMORY_MODELS[self.memory_model](self, self.page_layout)
            self.memmap.place()
            self.page_kind(0, IMAGE_SIZE, "reserved")
            self.page_kind(start, size, "cache")
        mmzone.place(self)
        cputable.place(self)
        kallsyms.place(self)
        vmalloc.place(self)
        if self.machine.devicetree.has("/rtas", "ibm,kernel-dump") and not self.old_memory_reserved():
            # Nothing reserved the crashed kernel's memory: this kernel spreads its page cache over it.
            end = self.machine.layout.end_of_dram
            for r in self.machine.layout.memblock_memory():
                for spot in range(r.start + (1 << 30), r.end - size, max(1 << 30, (end // 8) & ~0xFFFF)):
                    write_scratch(self.ram, spot, size, self.boot)

    def crash_save_vmcoreinfo_init(self) -> None:
        """subsys_initcall crash_save_vmcoreinfo_init(): write the VMCOREINFO note (keys of the release)."""
        self.vmcoreinfo_text = vmcoreinfo.base_text(self)
        vmcoreinfo.write_note(self.ram, self.ks, self.vmcoreinfo_text, self.vmcoreinfo_bytes,
                             self.symbols["vmcoreinfo_note"])

    def crash_save_vmcoreinfo(self) -> None:
        """Append CRASHTIME and rebuild the note (called by crash_fadump)."""
        now = self.epoch + int(self.machine.env.now)
        text = self.vmcoreinfo_text + vmcoreinfo.crashtime(self, now)
        vmcoreinfo.write_note(self.ram, self.ks, text, self.vmcoreinfo_bytes, self.symbols["vmcoreinfo_note"])

    def vmcore_init(self) -> None:
        """fs_initcall vmcore_init(): export /proc/vmcore when elfcorehdr_addr is set."""
        if self.elfcorehdr_addr is None:
            return
        try:
            self.vmcore = ProcVmcore(self.ram, self.ks, self.elfcorehdr_addr, self.page_size, self.vmcore_layout,
                                     note_align=self.version.vmcore_note_align)
        except VmcoreError as exc:
            self.printk(self.version.vmcore_pr_fmt + exc.message)
            self.printk(self.version.vmcore_pr_fmt + self.version.vmcore_not_initialized)
            return
        for line in self.vmcore.warnings:
            self.printk(self.version.vmcore_pr_fmt + line)

    def vmcore_cleanup(self) -> None:
        self.vmcore = None

    # --- the profile's fadump state, as the runner and reports see it ---

    def crash_fadump(self, regs: dict[str, int], reason: str):
        """crash_fadump(regs, reason); ``saved_regs`` keeps what it was handed for the crashing CPU's note.
        SimPy steps of the crashing CPU; the value is True when ibm,os-term never returned."""
        self.saved_regs = dict(regs)
        return (yield from self.fadump.crash_fadump(regs, reason))

    def machine_shutdown(self):
        """A clean reboot or kexec: fadump_cleanup() (invalidate, or unregister where the profile does); SimPy steps."""
        yield from self.fadump.fadump_cleanup()

    @property
    def reserved_area(self) -> Range | None:
        """The first kernel's dump area (None in a capture kernel or without a reservation)."""
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

    def narrate_rejection(self) -> None:
        """A capture kernel that found a dump but exported no /proc/vmcore: say why, from its own messages."""
        own = [ln.text for ln in self.machine.console.lines if ln.boot == self.boot and ln.source == f"kernel{self.boot}"]
        why = [t for t in own if any(w in t.lower() for w in ("fadump", "dump", "vmcore", "elf"))][-3:]
        said = " (it says: " + " / ".join(why) + ")" if why else ""
        fw = getattr(getattr(self, "fadump", None), "fw_dump", None)
        if fw is not None and not fw.fadump_enabled:
            self.narrate("no fadump in the capture kernel", "arch/powerpc/kernel/fadump.c",
                         "fadump is not enabled in this kernel, so it never processes the preserved dump: no "
                         "/proc/vmcore, nothing is saved" + said)
            return
        self.narrate("fadump_process() failed", "arch/powerpc/kernel/fadump.c",
                     "the capture kernel REJECTS the dump: no /proc/vmcore, nothing is saved" + said)

    # --- hotplug (arch/powerpc/platforms/pseries/hotplug-memory.c, hotplug-cpu.c) ---

    def dlpar_memory_add(self, addr: int) -> bool:
        """Hot-add the LMB at ``addr``; memblock and the device tree grow."""
        m = self.machine
        index = addr // m.layout.lmb_size
        if index in m.layout.present:
            self.printk(f"pseries-hotplug-mem: Failed to hot-add memory at {addr:#x}: already present")
            self.narrate("dlpar_memory_add()", HOTPLUG_SRC, f"the LMB at {addr:#x} is already present: nothing changes")
            return False
        self.printk(f"pseries-hotplug-mem: Attempting to hot-add LMB, drc index {0x80000000 + index:x}")
        m.add_lmb(index)
        self.memblock.memory = m.layout.memblock_memory()
        if hasattr(self.memmap, "add_memory"):
            self.memmap.add_memory(Range(index * m.layout.lmb_size, (index + 1) * m.layout.lmb_size))
        self.printk(f"pseries-hotplug-mem: Memory at {addr:x} (drc index {0x80000000 + index:x}) was hot-added")
        self.narrate("dlpar_memory_add()", HOTPLUG_SRC, f"the LMB at {addr:#x} ({m.layout.lmb_size >> 20} MiB) is "
                     "hot-added: memblock and the device tree grow; a dump registered before does not cover it "
                     "until fadump re-registers")
        return True

    def dlpar_memory_remove(self, addr: int) -> bool:
        """Hot-remove the LMB at ``addr``, unless the kernel holds it (lmb_is_removable)."""
        m = self.machine
        index = addr // m.layout.lmb_size
        lmb = Range(index * m.layout.lmb_size, (index + 1) * m.layout.lmb_size)
        self.printk(f"pseries-hotplug-mem: Attempting to hot-remove LMB, drc index {0x80000000 + index:x}")
        pinned = lmb.start < HEAP_START or any(lmb.overlaps(r) for r in self.memblock.reserved)
        if index not in m.layout.present or pinned:
            self.printk(f"pseries-hotplug-mem: Failed to hot-remove memory at {addr:x}")
            self.narrate("dlpar_memory_remove()", HOTPLUG_SRC, f"the LMB at {addr:#x} cannot be removed: "
                         + ("it is not present" if index not in m.layout.present else
                            "the kernel holds it (image or a reservation)"))
            return False
        m.remove_lmb(index)
        self.memblock.memory = m.layout.memblock_memory()
        if hasattr(self.memmap, "remove_memory"):
            self.memmap.remove_memory(lmb)
        self.printk(f"pseries-hotplug-mem: Memory at {addr:x} (drc index {0x80000000 + index:x}) was hot-removed")
        self.narrate("dlpar_memory_remove()", HOTPLUG_SRC, f"the LMB at {addr:#x} is hot-removed: memblock and "
                     "the device tree shrink; a dump registered before still names it until fadump re-registers")
        return True

    def cpu_set_online(self, cpu: int, online: bool) -> bool:
        """echo 0/1 > /sys/devices/system/cpu/cpuN/online; CPU 0 stays online."""
        c = self.machine.cpus[cpu]
        if c.online == online or (cpu == 0 and not online):
            return False
        c.online = online
        self.narrate("dlpar_cpu()" if online else "cpu_down()", HOTPLUG_SRC.replace("memory", "cpu"),
                     f"CPU {cpu} goes {'online' if online else 'offline'}; the online mask the crash info header "
                     "records at a crash changes with it")
        self.printk(f"CPU {cpu} is now {'online' if online else 'offline'}" if not online else
                    f"smp: Booting CPU {cpu}")
        return True
