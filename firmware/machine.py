"""The partition: RAM, memory map, CPUs, device tree, console, firmware and clock."""

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from firmware.simpy_loader import simpy

from emulator.hw.console import Console
from emulator.hw.cpu import Cpu, make_cpus
from emulator.hw.devicetree import DeviceTree, cells
from emulator.hw.layout import MemoryLayout, Range
from emulator.hw.ram import PartitionRAM
from emulator.units import GiB, MiB
from firmware import abi
from firmware.platforms import DEFAULT_FIRMWARE, firmware_class
from firmware.rtas import Rtas


@dataclass
class MachineConfig:
    """The hardware of one partition, as a scenario's [machine] table gives it."""

    memory: int = 8 * GiB
    max_memory: int | None = None
    """The partition profile's maximum memory: room for DLPAR memory-add (default: memory)."""
    lmb_size: int = 256 * MiB
    holes: list[Range] = field(default_factory=list)
    cpus: int = 8
    online_cpus: list[int] | None = None
    page_size: int = 64 * 1024
    little_endian: bool = True
    rma_size: int | None = None
    """The real mode area firmware gives the partition (its first memory node); None = the firmware's
    default (PowerVM: the first 256 MiB LMB; QEMU: spapr_rma_size(), min(RAM, 1 TiB)). What a kernel
    makes of it (ppc64_rma_size) depends on the MMU: see Kernel.ppc64_rma_size."""
    extended_os_term: bool = True
    mmu: str = "hash"
    """"hash" (PowerVM LPARs) or "radix": the MMU the kernel runs with (ppc64_rma_size, parameter area)."""
    firmware: str = DEFAULT_FIRMWARE
    """"phyp" (PowerVM) or "qemu" (QEMU >= 10.2 pseries): which firmware.platforms class runs fadump."""


class Machine:
    """One POWER partition under its firmware (PowerVM or QEMU), driven by a SimPy environment."""

    def __init__(self, config: MachineConfig, echo: TextIO | None = None):
        self.config = config
        self.env = simpy.Environment()
        self.ram = PartitionRAM.reuse(max(config.memory, config.max_memory or 0))
        self.layout = MemoryLayout.with_holes(config.memory, config.lmb_size, config.holes)
        online = set(range(config.cpus)) if config.online_cpus is None else set(config.online_cpus)
        self.cpus: list[Cpu] = make_cpus(config.cpus, online, config.little_endian)
        self.console = Console(echo)
        self.devicetree = DeviceTree()
        self.hot_added: set[int] = set()
        """LMB indexes added by hotplug since power-on (the memory maps mark them)."""
        self.dump_area: tuple[int, int] | None = None
        """The first kernel's reserved dump area as the maps drew it, to name it the same way afterwards."""
        self.on_step: Callable[[dict], None] | None = None
        """Called with each narrated step (what an actor did, for explain); None: nobody listens, nothing is built."""
        self.publish: Callable[..., None] = _publish_nowhere
        """``publish(kind, **fields)``: a lifecycle event for the run's event bus (emulator.run.events)."""
        self.progress = quiet_progress
        """``progress(description, total)``: a context yielding ``advance(nbytes)`` for a long copy; the run
        points it at its event bus, where a view may draw a bar."""
        self.rtas = Rtas(self.now)
        self.fadump = firmware_class(config.firmware)(self)
        self.rtas.install(self.fadump)
        self.boot_count = 0
        self.boot_time = 0.0
        self._build_rtas_node()

    @property
    def rma_size(self) -> int:
        """The firmware's real mode area (QEMU: spapr->rma_size), from 0: REGISTER's buffer must lie in it."""
        if self.config.rma_size is not None:
            return self.config.rma_size
        return self.fadump.default_rma_size(self.config.memory)

    @property
    def page_size(self) -> int:
        return self.config.page_size

    def _build_rtas_node(self) -> None:
        """/rtas as the firmware presents it to every boot (LoPAR app_papr_binding.xml; QEMU spapr_dt_rtas_fadump())."""
        dt = self.devicetree
        dt.set("/rtas", abi.DT_CONFIGURE_KERNEL_DUMP, cells(self.rtas.token(abi.DT_CONFIGURE_KERNEL_DUMP)))
        dt.set("/rtas", abi.DT_CONFIGURE_KERNEL_DUMP_SIZES, self.fadump.sizes_property())
        dt.set("/rtas", abi.DT_CONFIGURE_KERNEL_DUMP_VERSION, self.fadump.version_property())
        dt.set("/rtas", abi.DT_OS_TERM, cells(self.rtas.token(abi.DT_OS_TERM)))
        if self.config.extended_os_term:
            dt.set("/rtas", abi.DT_EXTENDED_OS_TERM, b"")
        self._build_memory_nodes()

    def _build_memory_nodes(self) -> None:
        """One /memory@ADDR node per memblock range, as the next kernel will see them."""
        dt = self.devicetree
        for path in [p for p in dt.nodes if p.startswith("/memory@")]:
            del dt.nodes[path]
        for r in self.layout.memblock_memory():
            dt.set(f"/memory@{r.start:x}", "reg", cells(r.start >> 32, r.start, r.size >> 32, r.size))

    # --- dynamic reconfiguration (DLPAR) ---

    def add_lmb(self, index: int) -> None:
        """The HMC gives the partition one more LMB (its memory starts zeroed)."""
        self.layout.present.add(index)
        self.hot_added.add(index)
        size = self.layout.lmb_size
        self.ram.fill(index * size, size, 0)
        self._build_memory_nodes()

    def remove_lmb(self, index: int) -> None:
        """The LMB goes back to the hypervisor; its contents are gone."""
        self.layout.present.discard(index)
        self.hot_added.discard(index)
        size = self.layout.lmb_size
        self.ram.fill(index * size, size, 0)
        self._build_memory_nodes()

    # --- lifecycle ---

    def power_on(self, bootargs: str) -> int:
        """Start a boot: count it, note the time, pass the command line in /chosen."""
        self.boot_count += 1
        self.boot_time = self.env.now
        self.devicetree.set("/chosen", "bootargs", bootargs.encode() + b"\0")
        return self.boot_count

    def reset(self) -> None:
        """Memory-preserving reset (PAPR R1-6): RAM survives, firmware state stays.

        CPUs restart: every online CPU's live registers return to their
        defaults, the way a new kernel finds them.
        """
        from emulator.hw.cpu import default_registers

        for cpu in self.cpus:
            cpu.regs = default_registers(cpu.id, self.config.little_endian)

    def power_loss(self) -> None:
        """Power goes away: memory and the hypervisor's dump state are gone.

        The same RAM is zeroed in place (reset: every byte reads as zero, no copy-on-write alias survives)
        rather than replaced by a new mapping, whose every page a long-lived worker would fault in again.
        """
        self.ram.reset()
        self.fadump.power_loss()

    def narrate(self, actor: str, function: str, source: str, text: str, **structs) -> None:
        """One step for `fadump-emu explain`: who did what, modelling which code, with what data (if anyone listens)."""
        if self.on_step is None:
            return
        self.on_step({"time": round(self.now(), 6), "uptime": round(self.uptime(), 6),
                      "console_line": len(self.console.lines), "boot": self.boot_count, "actor": actor,
                      "function": function, "source": source, "text": text,
                      "structs": {name: plain(value) for name, value in structs.items()}})

    def now(self) -> float:
        """Partition time: the one SimPy clock (a kernel's busy-waits are timeouts on it)."""
        return float(self.env.now)

    def uptime(self) -> float:
        return self.now() - self.boot_time

    def firmware_log(self, text: str) -> None:
        """A line from the hypervisor, stamped with the uptime of the boot it ends."""
        actor = self.fadump.actor
        self.console.emit(self.now(), self.uptime(), actor, f"{actor}: {text}", self.boot_count)


def _publish_nowhere(kind, **fields) -> None:
    """The machine's publisher before a run connects its event bus."""


def _ignore(_: int) -> None:
    return None


@contextmanager
def quiet_progress(description: str, total: int):
    """A long operation nobody watches: ``advance`` does nothing."""
    yield _ignore


def plain(value):
    """construct Containers and lists as plain dicts/lists (numbers as hex strings) for display and JSON."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:#x}" if value >= 10 else value
    if isinstance(value, bytes):
        return value.hex() if len(value) <= 32 else value[:32].hex() + "..."
    return str(value)
