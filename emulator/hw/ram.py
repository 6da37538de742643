"""Partition RAM: one numpy byte array over a lazily allocated anonymous mapping.

An 8 GiB (or far larger) partition costs only the pages that were written.
Writes are tracked per 64 KiB block so that copies, hashes and exports can skip
memory that was never touched (it reads as zeros).

Copies are copy-on-write: a block-aligned copy between ranges that do not
overlap records the destination as an alias of its source (ram_alias) and
moves no bytes. A later write to either side first copies, for real, only the
blocks it touches. read(), view() and every other accessor resolve aliases, so
callers see exactly the bytes a real memmove would have left.
"""

import mmap
import threading

import numpy as np

from emulator.errors import MemoryAccessError
from emulator.hw.ram_alias import AliasTable
from emulator.hw.ram_cow import BLOCK_SHIFT, BLOCK_SIZE, CopyOnWrite, merge_spans
from emulator.hw.touchmap import TouchMap, _runs_of
from emulator.units import fmt_size


_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)
"""Linux: do not reserve swap, so a huge sparse partition maps under overcommit."""
MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", 4)
KEEP_RESIDENT = 256 << 20
"""reset() keeps up to this many written bytes in place (as stale blocks); more go back to the kernel
(MADV_DONTNEED). A sweep of explore --matrix's four layouts leaves about 55 MiB per worker; at 64 MiB it often
went over and gave every page back: 182 page faults per run instead of 39."""


REPEAT_CHUNK = 1 << 20
"""write_repeated() copies its filled prefix in pieces of at most this many bytes (rounded down to whole tiles,
so that every piece starts in phase), small enough to stay in cache while it is copied again and again."""


_SPARE: list["PartitionRAM"] = []
"""Released RAMs kept for the next run in this process (a long-lived worker); see PartitionRAM.reuse."""
SPARE_MAX = 2
_SPARE_LOCK = threading.Lock()
REUSE_MAPPING = 16 << 30
"""reuse() maps at least this much (reserving nothing: MAP_NORESERVE, pages only where written), so that a worker
sweeping partitions of different sizes keeps one mapping and its pages."""


class PartitionRAM(CopyOnWrite):
    """The partition's physical memory, addressed from 0."""

    @classmethod
    def reuse(cls, size: int) -> "PartitionRAM":
        """Zeroed RAM of ``size`` bytes: a released one when its mapping is large enough (the smallest such),
        else a new mapping.

        A larger mapping serves a smaller partition as well: the partition is its first ``size`` bytes, and
        every access is checked against ``size``. Its pages from earlier runs are already there (reset()
        zeroes them in place), so the run does not fault them in again.
        """
        ram = None
        with _SPARE_LOCK:  # a Dask worker may run scenarios in several threads
            fits = [r for r in _SPARE if len(r._map) >= size and size > 0 and size % BLOCK_SIZE == 0]
            if fits:
                ram = min(fits, key=lambda r: len(r._map))
                _SPARE.remove(ram)
        if ram is None:
            if not 0 < size < REUSE_MAPPING or size % BLOCK_SIZE:
                return cls(size)
            try:
                ram = cls(REUSE_MAPPING)  # address space only: one mapping for every smaller partition to come
            except MemoryAccessError:  # a host that commits memory strictly (vm.overcommit_memory = 2)
                return cls(size)
        if ram.size != size:
            ram.size = size
            ram._bytes = np.frombuffer(ram._map, dtype=np.uint8)[:size]
            ram._touched = TouchMap(size >> BLOCK_SHIFT)
        return ram

    @staticmethod
    def drop_spares() -> None:
        """Unmap the released RAMs kept for reuse (a process about to fork workers keeps none to share)."""
        _SPARE.clear()  # nothing else holds them: their mappings go with them

    def release(self) -> None:
        """Done with this RAM: zero it (its pages go back to the kernel) and keep the mapping for reuse().

        Only for whoever owns the whole run (a worker that has turned its result into plain data):
        nothing may read this object afterwards.
        """
        self.reset()
        with _SPARE_LOCK:
            if self not in _SPARE:
                _SPARE.append(self)
                del _SPARE[:-SPARE_MAX]

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
        self._bytes = np.frombuffer(self._map, dtype=np.uint8)
        self._touched = TouchMap(size >> BLOCK_SHIFT)
        self._aliases = AliasTable(BLOCK_SIZE)
        self._stale = bytearray()
        """One flag per block of the mapping (empty until a reset leaves any): 1 where the block still holds an
        earlier run's bytes, which read as zero. reset() leaves them for the next run to overwrite (a whole
        block written needs no zeroing first); any other access to them zeroes them first (_unstale)."""
        self._stale_count = 0
        self.copied_late = 0
        """Bytes that copies recorded as aliases have moved since, because one side was written."""

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
        if self._stale_count:
            self._unstale(addr, length)
        if self._aliases and self._aliased(addr, length):
            return b"".join(self._bytes[p:p + n].tobytes() for p, n in self._pieces(addr, length))
        return self._bytes[addr:addr + length].tobytes()

    def view(self, addr: int, length: int) -> np.ndarray:
        """A read-only numpy array of [addr, addr+length), without copying when it can.

        Valid until the next write to RAM (like any view of memory that changes).
        """
        self.check(addr, length)
        if self._stale_count:
            self._unstale(addr, length)
        if self._aliases and self._aliased(addr, length):
            pieces = self._pieces(addr, length)
            v = (self._bytes[pieces[0][0]:pieces[0][0] + length] if len(pieces) == 1
                 else np.concatenate([self._bytes[p:p + n] for p, n in pieces]))
        else:
            v = self._bytes[addr:addr + length]
        v.flags.writeable = False
        return v

    def views(self, addr: int, length: int) -> list[np.ndarray]:
        """[addr, addr+length) as read-only arrays of RAM's own bytes, in order: what view() gives, without
        joining the pieces an aliased range reads from into one new array. Valid until the next write."""
        self.check(addr, length)
        if self._stale_count:
            self._unstale(addr, length)
        if self._aliases and self._aliased(addr, length):
            out = [self._bytes[p:p + n] for p, n in self._pieces(addr, length)]
        else:
            out = [self._bytes[addr:addr + length]]
        for v in out:
            v.flags.writeable = False
        return out

    def write(self, addr: int, data) -> None:
        """Store bytes (or a uint8 array) at addr."""
        if type(data) is bytes:  # the common case (hundreds per boot), straight into the mapping
            n = len(data)
            if addr < 0 or addr + n > self.size:
                self.check(addr, n)
            if self._stale_count:
                self._unstale(addr, n, overwritten=True)
            if self._aliases:
                self._before_write(addr, n)
            self._map[addr:addr + n] = data
            if n:
                self._touched.mark(addr >> BLOCK_SHIFT, (addr + n - 1) >> BLOCK_SHIFT)
            return
        if isinstance(data, np.ndarray):
            arr = data.view(np.uint8).reshape(-1)
        elif isinstance(data, (bytes, bytearray, memoryview)):
            arr = np.frombuffer(data, dtype=np.uint8)
        else:
            raise TypeError(f"RAM.write takes bytes or a numpy array, not {type(data).__name__}")
        self.check(addr, len(arr))
        if self._stale_count:
            self._unstale(addr, len(arr), overwritten=True)
        if self._aliases:
            self._before_write(addr, len(arr))
        self._bytes[addr:addr + len(arr)] = arr
        self._mark(addr, len(arr))

    def write_repeated(self, addr: int, length: int, tile: bytes) -> None:
        """Store ``tile`` again and again from ``addr`` until ``length`` bytes are written (the last copy cut
        short): what one write() per tile stores, with the range's bookkeeping done once. Stale blocks the
        range covers whole are not zeroed first, though the tiles' own edges fall inside blocks."""
        n = len(tile)
        self.check(addr, max(0, length))
        if n == 0 or length <= 0:
            return
        if self._stale_count:
            self._unstale(addr, length, overwritten=True)
        if self._aliases:
            self._before_write(addr, length)
        # One tile, then the filled prefix copied after itself, doubling up to REPEAT_CHUNK: a copy starts at a
        # whole number of tiles, so it continues the pattern; a few memcpys whatever the tile (a Python store
        # per tile took 23 ms for kdump-utils-capture's 26-byte text repeated 100,000 times, this 0.2 ms).
        m = self._bytes
        first = min(n, length)
        self._map[addr:addr + first] = tile[:first]
        filled, most = first, max(n, REPEAT_CHUNK - REPEAT_CHUNK % n)  # whole tiles: the next piece starts in phase
        while filled < length:
            k = min(filled, length - filled, most)
            m[addr + filled:addr + filled + k] = m[addr:addr + k]
            filled += k
        self._mark(addr, length)

    def fill(self, addr: int, length: int, value: int = 0) -> None:
        """Set [addr, addr+length) to one byte value (zeroing untouched memory is free)."""
        self.check(addr, length)
        if self._stale_count and value != 0:  # stale blocks read as zero already: a zero fill leaves them be
            self._unstale(addr, length, overwritten=True)
        if self._aliases:
            self._before_write(addr, length)
        if value == 0:
            for s, e in self.touched_runs(addr, addr + length):
                self._bytes[s:e] = 0
            return
        self._bytes[addr:addr + length] = value
        self._mark(addr, length)

    def copy(self, src: int, dst: int, length: int, progress=None) -> int:
        """memmove within RAM; bytes copied (runs where neither side was ever written cost nothing).

        When the two ranges do not overlap, the destination's whole blocks are
        recorded as aliases (copy-on-write) and move nothing now; an overlapping
        copy, and the partial blocks at the ends of any copy, move at once.
        """
        self.check(src, length)
        self.check(dst, length)
        if length == 0:
            return 0
        overlap = src < dst + length and dst < src + length
        if self._stale_count:
            w0, w1 = -(-dst >> BLOCK_SHIFT), (dst + length) >> BLOCK_SHIFT
            head, tail = (w0 << BLOCK_SHIFT) - dst, dst + length - (w1 << BLOCK_SHIFT)
            if not overlap and w0 < w1:
                # Only the partial end blocks move now; whole blocks become aliases of touched source
                # blocks (never stale) or stay as they read (_copy_lazily): no stale block is zeroed for them.
                for a, n in ((src, head), (dst, head), (src + length - tail, tail), (w1 << BLOCK_SHIFT, tail)):
                    self._unstale(a, n)
                if (src + head) & (BLOCK_SIZE - 1):
                    self._unstale_neighbours(src + head, (w1 - w0) << BLOCK_SHIFT)
            else:
                self._unstale(src, length)
                self._unstale(dst, length)
        if overlap:
            return self._copy_now(src, dst, length, progress)
        return self._copy_lazily(src, dst, length, progress)

    def reset(self) -> None:
        """Make every byte read as zero again, keeping the mapping.

        Up to KEEP_RESIDENT written bytes stay in place as stale blocks: the next run, which writes much
        the same places, finds its pages already there (a memset costs a fifth of giving pages back with
        MADV_DONTNEED and faulting them in again), and a block it overwrites whole is never zeroed at all;
        any other first access to a stale block zeroes it (_unstale). Beyond that the written pages go back
        to the kernel.
        """
        runs = self._touched.runs(0, (self.size >> BLOCK_SHIFT) - 1)
        if self.touched_bytes() + self.stale_bytes() > KEEP_RESIDENT:
            if self._stale_count:
                starts, ends = _runs_of(np.frombuffer(self._stale, dtype=np.uint8), 0)
                runs = merge_spans(runs + list(zip(starts, ends)))
            for b0, b1 in runs:
                self._map.madvise(MADV_DONTNEED, b0 << BLOCK_SHIFT, (b1 - b0) << BLOCK_SHIFT)
            self._stale, self._stale_count = bytearray(), 0
        elif len(self._map) <= REUSE_MAPPING:  # one flag per block: a few hundred KiB at most
            if not self._stale:
                self._stale = bytearray(len(self._map) >> BLOCK_SHIFT)
            for b0, b1 in runs:
                self._stale[b0:b1] = b"\x01" * (b1 - b0)
            self._stale_count = self._stale.count(1)
        else:  # a huge mapping keeps no flags: zero in place
            for b0, b1 in runs:
                self._bytes[b0 << BLOCK_SHIFT:b1 << BLOCK_SHIFT] = 0
        self._touched = TouchMap(self.size >> BLOCK_SHIFT)
        self._aliases.clear()
        self.copied_late = 0

    def stale_bytes(self) -> int:
        """How many bytes still hold an earlier run's data (reading as zero) until they are written or read."""
        return self._stale_count << BLOCK_SHIFT

    def _unstale(self, addr: int, length: int, overwritten: bool = False) -> None:
        """Before [addr, addr+length) is accessed: its stale blocks become zero and stop being stale.

        With ``overwritten`` (the caller is about to store every byte of the range) the blocks the range
        covers whole are not zeroed, only the partial blocks at its ends.
        """
        if length <= 0:
            return
        b0, b1 = addr >> BLOCK_SHIFT, ((addr + length - 1) >> BLOCK_SHIFT) + 1
        flags = self._stale
        if not self._stale_count or flags.find(1, b0, b1) < 0:
            return
        w0, w1 = (-(-addr >> BLOCK_SHIFT), (addr + length) >> BLOCK_SHIFT) if overwritten else (b0, b0)
        if b1 - b0 <= 64:
            blocks = [b for b in range(b0, b1) if flags[b]]
        else:
            blocks = (np.flatnonzero(np.frombuffer(flags, dtype=np.uint8)[b0:b1]) + b0).tolist()
        for b in blocks:
            flags[b] = 0
            if not w0 <= b < w1:
                self._bytes[b << BLOCK_SHIFT:(b + 1) << BLOCK_SHIFT] = 0
        self._stale_count -= len(blocks)

    def _unstale_neighbours(self, first: int, length: int) -> None:
        """Before whole blocks become aliases of [first, first+length), a source not block-aligned: each alias
        reads two source blocks as they are, so the block just before and just after every written run of the
        source (which may still hold an earlier run's bytes) is zeroed. Stale blocks further away are never read
        through an alias and stay as they are."""
        b0, b1 = first >> BLOCK_SHIFT, ((first + length - 1) >> BLOCK_SHIFT) + 1
        for t0, t1 in self._touched.runs(b0, b1 - 1):
            for b in (t0 - 1, t1):
                if b0 <= b < b1:
                    self._unstale(b << BLOCK_SHIFT, BLOCK_SIZE)

    def aliased_bytes(self) -> int:
        """How many bytes currently read as a copy that has not been made yet."""
        return self._aliases.blocks() << BLOCK_SHIFT

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
