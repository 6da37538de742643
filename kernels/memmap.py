"""The kernel's memory map: one struct page per page frame (FLATMEM ``mem_map``).

makedumpfile decides which pages to drop (-d 31: cache, user, free, zero) from
struct page: flags, _refcount, mapping, _mapcount and private. The emulated
kernel keeps one for every page it uses, with what that page holds.

Cost: a partition whose mem_map is at most FULL_DESCRIPTION_LIMIT describes
every page (never-written pages as free buddy pages). Larger partitions
describe only the pages that were ever written; the struct pages of the others
stay zero, and those pages themselves are zero, so makedumpfile's -d 1 (zero
pages) drops them just the same. The array is placed top-down in free memory,
as memblock allocates it.
"""

from dataclasses import dataclass

import numpy as np

from emulator.layout import Range
from emulator.units import align_up
from kernels import versions
from kernels.image import va

FULL_DESCRIPTION_LIMIT = 64 << 20
ADDRESS_SPACE = 0x0175_0000
"""A struct address_space for page-cache pages to point at (inside the image)."""
ANON_VMA = 0x0176_0000
PAGE_MAPPING_ANON = 1


@dataclass(frozen=True)
class PageLayout:
    """struct page of one kernel release (include/linux/mm_types.h), from kernels.versions."""

    size: int
    flags: int
    mapping: int
    index: int
    private: int
    mapcount: int
    refcount: int
    lru: int
    refcount_name: str
    pg: dict[str, int]
    buddy_mapcount: int
    slab_type: int | None = None
    """page_type of a slab page (6.10+), or None where slab is the PG_slab flag."""

    @classmethod
    def of(cls, table: versions.PageTable) -> "PageLayout":
        o = table.offsets
        return cls(size=table.size, flags=o["flags"], mapping=o["mapping"], index=o["index"], private=o["private"],
                   mapcount=o["_mapcount"], refcount=o["refcount"], lru=o["lru"], refcount_name=table.refcount_name,
                   pg=dict(table.flags), buddy_mapcount=table.buddy, slab_type=table.slab_type)


PAGE_3_4 = PageLayout.of(versions.PAGE_3_4)
PAGE_6_10 = PageLayout.of(versions.PAGE_6_10)


class MemMap:
    """The mem_map array of one kernel in RAM, kept up to date as pages change hands."""

    def __init__(self, kernel, layout: PageLayout):
        self.k = kernel
        self.layout = layout
        self.page = kernel.page_size
        self.max_pfn = kernel.machine.layout.end_of_dram // self.page
        self.size = align_up(self.max_pfn * layout.size, self.page)
        self.base = 0
        self.full = self.size <= FULL_DESCRIPTION_LIMIT

    def place(self) -> None:
        """memblock_alloc(): top-down in free memory, then publish the mem_map pointer."""
        k = self.k
        for r in reversed(k.memblock.free()):
            start = (r.end - self.size) & ~(self.page - 1)
            if start >= r.start:
                self.base = start
                break
        else:
            raise MemoryError("no room for mem_map")
        k.memblock.reserve(Range(self.base, self.base + self.size))
        k.ram.write_u64(k.symbols["mem_map"], va(self.base), k.byteorder)
        if self.full:
            self.describe(0, self.max_pfn * self.page, "free")
        for r in k.memblock.reserved:
            self.describe(r.start, r.size, "reserved")

    def describe(self, addr: int, length: int, kind: str) -> None:
        """Fill the struct pages of [addr, addr+length) for pages of ``kind``.

        A partition too large for a full description only describes written pages.
        """
        if not self.full and length > 64 * self.page:
            for s, e in self.k.ram.touched_runs(addr, addr + length):
                self._describe(s, e - s, kind)
            return
        self._describe(addr, length, kind)

    def _describe(self, addr: int, length: int, kind: str) -> None:
        first, last = addr // self.page, min(self.max_pfn, -(-(addr + length) // self.page))
        if last <= first:
            return
        count = last - first
        L, order = self.layout, self.k.byteorder
        rec = np.zeros((count, L.size // 8), dtype=np.dtype(np.uint64).newbyteorder("<" if order == "little" else ">"))
        flags = refcount = mapping = 0
        mapcount = -1
        if kind == "reserved":
            flags, refcount = 1 << L.pg["reserved"], 1
        elif kind == "kernel":
            refcount = 1
        elif kind == "slab" and L.slab_type is not None:
            refcount, mapcount = 1, L.slab_type
        elif kind == "slab":
            flags, refcount = 1 << L.pg["slab"], 1
        elif kind == "cache":
            flags, refcount, mapping = (1 << L.pg["lru"]) | (1 << 3), 2, va(ADDRESS_SPACE)
        elif kind == "user":
            flags, refcount, mapping, mapcount = (1 << L.pg["lru"]) | (1 << 3), 1, va(ANON_VMA) | PAGE_MAPPING_ANON, 0
        elif kind == "free":
            mapcount = L.buddy_mapcount
        rec[:, L.flags // 8] = flags
        if mapping:
            rec[:, L.mapping // 8] = mapping
        raw = rec.view(np.uint8).reshape(count, L.size)
        # _mapcount and _refcount are two 32-bit fields sharing one doubleword.
        word = np.zeros(2, dtype=np.dtype(np.int32).newbyteorder("<" if order == "little" else ">"))
        word[(L.mapcount % 8) // 4] = mapcount
        word[(L.refcount % 8) // 4] = refcount
        raw[:, L.mapcount - L.mapcount % 8:L.mapcount - L.mapcount % 8 + 8] = word.view(np.uint8)
        self.k.ram.write(self.base + first * L.size, raw.reshape(-1))
