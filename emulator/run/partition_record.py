"""What the partition left behind when a run ended, as plain values (RunResult.partition).

The run's Machine is a live object: a SimPy environment, RAM, CPUs, RTAS,
firmware and console that the kernels drive. When the run ends it is frozen
into a PartitionRecord, which holds only what a report, a view, a regression
runner or a test reads afterwards:

* the console transcript (every line, with its times, source and boot);
* every RTAS call the kernels made;
* the firmware's history, its last dump's byte count and its name;
* each CPU's id and whether it ended online;
* the device tree firmware would hand the next boot (a few small properties);
* the boot count and the simulated time;
* the RAM as the run left it, read-only (FinalMemory).

Freezing costs no copy of anything large: the console lines and RTAS calls are
immutable records already, shared, not copied; the RAM is not copied at all.

Why the RAM stays a view and not bytes: guest memory is the partition's data (a
test reads what the capture kernel overwrote, what firmware saved in its register
save area), but a copy would cost up to the whole partition (gigabytes, or a
sparse 64 TiB) on every run. After the run nothing writes to it any more, so a
read-only window on the final array is the data itself, at no cost. It is the
one part of a result that lives in this process only: it does not pickle (a
result sent to another process arrives with its memory released), and
``release()`` hands the mapping back for the next run in a worker, after which
reading it is an error rather than a read of someone else's memory.
"""

from dataclasses import dataclass

from emulator.errors import FadumpEmuError
from emulator.hw.console import ConsoleLine


@dataclass(frozen=True, slots=True)
class Transcript:
    """The partition console as the run left it: console.log, line by line."""

    lines: tuple[ConsoleLine, ...]

    def text(self) -> str:
        """The whole console as console.log holds it."""
        return "".join(line.render() + "\n" for line in self.lines)

    def contains(self, needle: str) -> bool:
        return any(needle in line.text for line in self.lines)


@dataclass(frozen=True, slots=True)
class RtasCallRecord:
    """One RTAS call as the guest made it: when, which, with what arguments, and the status it got."""

    time: float
    name: str
    args: tuple[int, ...]
    status: int | None


@dataclass(frozen=True, slots=True)
class FirmwareRecord:
    """The platform firmware's dump state at the end of the run."""

    name: str
    """Which firmware ran the partition ("phyp", "qemu")."""
    actor: str
    """How it signs its console lines and trace track ("PHYP", "QEMU")."""
    history: tuple[str, ...]
    """What it did, in order (REGISTER accepted, dump written, ...), as report.json's "firmware"."""
    bytes_moved: int
    """Bytes its last dump really copied."""
    registered: bool
    """A dump was still registered when the run ended."""
    dump_pending: bool
    """A dump structure (ibm,kernel-dump) was still there to be read or invalidated."""


@dataclass(frozen=True, slots=True)
class CpuAtEnd:
    """One processor at the end of the run."""

    id: int
    online: bool


class MemoryReleased(FadumpEmuError):
    """The partition's RAM was handed back (or stayed in the process that ran it)."""


class FinalMemory:
    """The partition's RAM as the run left it, read-only; lives in the process that ran the partition."""

    __slots__ = ("_ram", "size")

    def __init__(self, ram):
        self._ram = ram
        self.size: int = ram.size

    def _live(self):
        if self._ram is None:
            raise MemoryReleased("the partition's memory was released (or stayed in the process that ran the "
                                 "partition); read it before release(), in that process")
        return self._ram

    def read(self, addr: int, length: int) -> bytes:
        """A copy of [addr, addr+length) as the run left it."""
        return self._live().read(addr, length)

    def view(self, addr: int, length: int):
        """A read-only numpy array of [addr, addr+length), valid until release()."""
        return self._live().view(addr, length)

    def touched_bytes(self) -> int:
        """How many bytes lie in blocks the run ever wrote."""
        return self._live().touched_bytes()

    @property
    def released(self) -> bool:
        return self._ram is None

    def release(self) -> None:
        """Done with it: the mapping is zeroed and kept for the next run in this process (PartitionRAM.release)."""
        if self._ram is not None:
            ram, self._ram = self._ram, None
            ram.release()

    def __getstate__(self):
        return {"size": self.size}  # the bytes stay here: a pickled result carries no RAM

    def __setstate__(self, state) -> None:
        self._ram, self.size = None, state["size"]


@dataclass(frozen=True, slots=True)
class PartitionRecord:
    """The partition at the end of a run, frozen (see the module docstring for what and why)."""

    console: Transcript
    rtas_calls: tuple[RtasCallRecord, ...]
    firmware: FirmwareRecord
    cpus: tuple[CpuAtEnd, ...]
    devicetree: dict[str, dict[str, bytes]]
    """Node path -> property -> raw bytes (a copy: a few hundred bytes)."""
    boot_count: int
    simulated_seconds: float
    memory: FinalMemory

    @classmethod
    def of(cls, machine) -> "PartitionRecord":
        """Freeze ``machine`` (a firmware.machine.Machine whose run has ended)."""
        fw = machine.fadump
        return cls(
            console=Transcript(tuple(machine.console.lines)),
            rtas_calls=tuple(RtasCallRecord(c.time, c.name, tuple(c.args), c.status) for c in machine.rtas.log),
            firmware=FirmwareRecord(fw.name, fw.actor, tuple(fw.state.history), fw.state.bytes_moved,
                                    fw.state.registered is not None, fw.state.dump is not None),
            cpus=tuple(CpuAtEnd(c.id, c.online) for c in machine.cpus),
            devicetree={path: dict(props) for path, props in machine.devicetree.nodes.items()},
            boot_count=machine.boot_count,
            simulated_seconds=machine.env.now,
            memory=FinalMemory(machine.ram),
        )

    def property(self, path: str, name: str) -> bytes | None:
        """A device-tree property as firmware left it (None when absent)."""
        return self.devicetree.get(path, {}).get(name)
