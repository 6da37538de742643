"""Partition RAM: one numpy byte array over a lazily allocated anonymous mapping.

An 8 GiB (or far larger) partition costs only the pages that were written.
Writes are tracked per 64 KiB block so that copies, hashes and exports can skip
memory that was never touched (it reads as zeros).
"""

import mmap

import numpy as np

from emulator.errors import MemoryAccessError
from emulator.touchmap import TouchMap
from emulator.units import fmt_size

BLOCK_SHIFT = 16
BLOCK_SIZE = 1 << BLOCK_SHIFT
"""Granularity of write tracking; independent of the guest kernel's page size."""

_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)
MADV_POPULATE_WRITE = 23
POPULATE_MIN = 4 << 20
"""Copies at least this large pre-fault their destination (cheaper than one fault per page)."""
"""Linux: do not reserve swap, so a huge sparse partition maps under overcommit."""


class PartitionRAM:
    """The partition's physical memory, addressed from 0."""

    def __init__(self, size: int):
        if size <= 0 or size % BLOCK_SIZE:
            raise MemoryAccessError(f"RAM size {size:#x} must be a positive multiple of {BLOCK_SIZE:#x}")
        self.size = size
        try:
            self._map = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE)
        except OSError as exc:
            raise MemoryAccessError(
                f"cannot map {fmt_size(size)} of partition RAM ({exc.strerror}); this host's address space "
                "(or another partition still in this process) leaves no room: use a smaller machine.memory"
            ) from exc
        self.bytes = np.frombuffer(self._map, dtype=np.uint8)
        self._touched = TouchMap(size >> BLOCK_SHIFT)

    # --- bounds and tracking ---

    def check(self, addr: int, length: int) -> None:
        """Raise MemoryAccessError unless [addr, addr+length) lies inside RAM."""
        if addr < 0 or length < 0 or addr + length > self.size:
            raise MemoryAccessError(
                f"access to [{addr:#x}, {addr + length:#x}) is outside the partition's "
                f"{fmt_size(self.size)} of RAM (last address {self.size - 1:#x})"
            )

    def _mark(self, addr: int, length: int) -> None:
        if length:
            self._touched.mark(addr >> BLOCK_SHIFT, (addr + length - 1) >> BLOCK_SHIFT)

    def touched_runs(self, start: int, end: int) -> list[tuple[int, int]]:
        """Byte intervals inside [start, end) that lie in blocks ever written, merged."""
        if end <= start:
            return []
        runs = []
        for b0, b1 in self._touched.runs(start >> BLOCK_SHIFT, (end - 1) >> BLOCK_SHIFT):
            runs.append((max(start, b0 << BLOCK_SHIFT), min(end, b1 << BLOCK_SHIFT)))
        return runs

    def touched_bytes(self) -> int:
        """How many bytes lie in blocks that were ever written."""
        return self._touched.count() << BLOCK_SHIFT

    # --- raw access ---

    def read(self, addr: int, length: int) -> bytes:
        """A copy of [addr, addr+length)."""
        self.check(addr, length)
        return self.bytes[addr:addr + length].tobytes()

    def view(self, addr: int, length: int) -> np.ndarray:
        """A read-only numpy view of [addr, addr+length), without copying."""
        self.check(addr, length)
        v = self.bytes[addr:addr + length]
        v.flags.writeable = False
        return v

    def write(self, addr: int, data) -> None:
        """Store bytes (or a uint8 array) at addr."""
        if isinstance(data, np.ndarray):
            arr = data.view(np.uint8).reshape(-1)
        elif isinstance(data, (bytes, bytearray, memoryview)):
            arr = np.frombuffer(data, dtype=np.uint8)
        else:
            raise TypeError(f"RAM.write takes bytes or a numpy array, not {type(data).__name__}")
        self.check(addr, len(arr))
        self.bytes[addr:addr + len(arr)] = arr
        self._mark(addr, len(arr))

    def fill(self, addr: int, length: int, value: int = 0) -> None:
        """Set [addr, addr+length) to one byte value (zeroing untouched memory is free)."""
        self.check(addr, length)
        if value == 0:
            for s, e in self.touched_runs(addr, addr + length):
                self.bytes[s:e] = 0
            return
        self.bytes[addr:addr + length] = value
        self._mark(addr, length)

    def copy(self, src: int, dst: int, length: int, progress=None) -> int:
        """memmove within RAM; runs where neither side was ever written cost nothing. Bytes moved."""
        self.check(src, length)
        self.check(dst, length)
        spans = [(s - src, e - src) for s, e in self.touched_runs(src, src + length)]
        spans += [(s - dst, e - dst) for s, e in self.touched_runs(dst, dst + length)]
        # memmove: when dst is above src, copy the highest span first so that no
        # span reads source bytes an earlier span has already overwritten.
        merged = _merge(spans)
        moved = 0
        for lo, hi in (reversed(merged) if dst > src else merged):
            self._populate(dst + lo, hi - lo)
            self.bytes[dst + lo:dst + hi] = self.bytes[src + lo:src + hi]
            self._mark(dst + lo, hi - lo)
            moved += hi - lo
            if progress:
                progress(hi - lo)
        return moved

    def _populate(self, addr: int, length: int) -> None:
        """Fault in destination pages in one go before a bulk copy.

        MADV_POPULATE_WRITE (Linux 5.14) roughly doubles first-touch speed; where
        the host lacks it the copy simply faults the pages in itself.
        """
        if length < POPULATE_MIN:
            return
        start = addr - addr % mmap.PAGESIZE
        try:
            self._map.madvise(MADV_POPULATE_WRITE, start, length + (addr - start))
        except OSError:
            pass

    # --- typed access ---

    def read_int(self, addr: int, size: int, byteorder: str) -> int:
        """An unsigned integer of ``size`` bytes in ``byteorder`` ("big"/"little")."""
        return int.from_bytes(self.read(addr, size), byteorder)

    def write_int(self, addr: int, value: int, size: int, byteorder: str) -> None:
        """Store an unsigned integer of ``size`` bytes in ``byteorder``."""
        self.write(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, byteorder))

    def read_u32(self, addr: int, byteorder: str) -> int:
        return self.read_int(addr, 4, byteorder)

    def read_u64(self, addr: int, byteorder: str) -> int:
        return self.read_int(addr, 8, byteorder)

    def write_u32(self, addr: int, value: int, byteorder: str) -> None:
        self.write_int(addr, value, 4, byteorder)

    def write_u64(self, addr: int, value: int, byteorder: str) -> None:
        self.write_int(addr, value, 8, byteorder)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of half-open intervals, sorted."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out
