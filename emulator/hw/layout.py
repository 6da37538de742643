"""The partition's memory map: LMBs, holes and the memblock ranges they form."""

from dataclasses import dataclass, field

import numpy as np

from emulator.units import fmt_size


@dataclass(frozen=True, order=True)
class Range:
    """A half-open physical range [start, end)."""

    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def overlaps(self, other: "Range") -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: "Range") -> bool:
        return self.start <= other.start and other.end <= self.end

    def __str__(self) -> str:
        return f"[{self.start:#x}-{self.end - 1:#x}] ({fmt_size(self.size)})"


def subtract(ranges: list[Range], cut: Range) -> list[Range]:
    """``ranges`` with ``cut`` taken out (each range splits into at most two)."""
    out = []
    for r in ranges:
        if not r.overlaps(cut):
            out.append(r)
            continue
        if r.start < cut.start:
            out.append(Range(r.start, cut.start))
        if cut.end < r.end:
            out.append(Range(cut.end, r.end))
    return out


def merge(ranges: list[Range]) -> list[Range]:
    """Sorted union of ranges, adjacent ones folded together."""
    out: list[Range] = []
    for r in sorted(ranges):
        if out and r.start <= out[-1].end:
            out[-1] = Range(out[-1].start, max(out[-1].end, r.end))
        else:
            out.append(r)
    return out


class LmbSet(set):
    """A set of LMB indices that counts its changes, so derived memory maps can be cached."""

    version = 0

    def _changed(self):
        self.version += 1

    def add(self, item):
        super().add(item)
        self._changed()

    def discard(self, item):
        super().discard(item)
        self._changed()

    def remove(self, item):
        super().remove(item)
        self._changed()

    def update(self, *items):
        super().update(*items)
        self._changed()

    def difference_update(self, *items):
        super().difference_update(*items)
        self._changed()

    def clear(self):
        super().clear()
        self._changed()


@dataclass
class MemoryLayout:
    """Partition memory as PowerVM hands it out: LMBs of ``lmb_size`` bytes.

    ``present`` is the set of LMB indices that hold memory; the gaps between
    them are holes. memblock.memory is the merged list of present LMBs.
    """

    lmb_size: int
    present: set[int] = field(default_factory=LmbSet)

    def __post_init__(self):
        if not isinstance(self.present, LmbSet):
            self.present = LmbSet(self.present)
        self._cache: tuple[int, int, list[Range]] | None = None

    @classmethod
    def with_holes(cls, total: int, lmb_size: int, holes: list[Range]) -> "MemoryLayout":
        """``total`` bytes of address space in LMBs, minus the LMBs that holes cover."""
        present = LmbSet(range(total // lmb_size))  # built once: a 64 TiB partition has 262144 LMBs
        for hole in holes:
            present.difference_update(range(hole.start // lmb_size, -(-hole.end // lmb_size)))
        return cls(lmb_size, present)

    @property
    def end_of_dram(self) -> int:
        """memblock_end_of_DRAM(): end of the highest present LMB (from the cached memory map, not a scan of
        every LMB)."""
        memory = self._memory()
        return memory[-1].end if memory else 0

    @property
    def phys_mem_size(self) -> int:
        """memblock_phys_mem_size(): bytes of memory actually present."""
        return len(self.present) * self.lmb_size

    def memblock_memory(self) -> list[Range]:
        """memblock.memory: the present LMBs, adjacent ones merged (vectorised: 64 TiB has 262144 LMBs)."""
        return list(self._memory())

    def _memory(self) -> list[Range]:
        """memblock_memory(), computed once per change of ``present`` (not to be modified)."""
        key = (id(self.present), self.present.version)
        if self._cache is None or self._cache[:2] != key:
            self._cache = (*key, self._compute_memory())
        return self._cache[2]

    def _compute_memory(self) -> list[Range]:
        if not self.present:
            return []
        lo, hi = min(self.present), max(self.present)
        if hi - lo + 1 == len(self.present):  # no holes (most partitions): one range, no sort
            return [Range(lo * self.lmb_size, (hi + 1) * self.lmb_size)]
        idx = np.fromiter(self.present, dtype=np.int64, count=len(self.present))
        idx.sort()
        breaks = np.flatnonzero(np.diff(idx) != 1)
        starts = np.concatenate(([idx[0]], idx[breaks + 1]))
        ends = np.concatenate((idx[breaks], [idx[-1]])) + 1
        size = self.lmb_size
        return [Range(int(s) * size, int(e) * size) for s, e in zip(starts, ends)]

    def holes(self) -> list[Range]:
        """Address ranges below end_of_dram that hold no memory."""
        out, cursor = [], 0
        for r in self.memblock_memory():
            if r.start > cursor:
                out.append(Range(cursor, r.start))
            cursor = r.end
        return out

    def is_memory(self, r: Range) -> bool:
        """Whether every byte of ``r`` is present memory."""
        return any(m.contains(r) for m in self.memblock_memory())
