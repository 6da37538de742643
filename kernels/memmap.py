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

from emulator.errors import BadInputError
from emulator.layout import Range
from emulator.units import align_up
from kernels.image import va

FULL_DESCRIPTION_LIMIT = 64 << 20
ADDRESS_SPACE = 0x0175_0000
"""A struct address_space for page-cache pages to point at (inside the image)."""
ANON_VMA = 0x0176_0000
PAGE_MAPPING_ANON = 1


@dataclass(frozen=True)
class PageLayout:
    """struct page of one kernel generation (include/linux/mm_types.h)."""

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

    def vmcoreinfo(self) -> list[str]:
        """The SIZE/OFFSET/NUMBER lines makedumpfile reads for this layout."""
        out = [f"SIZE(page)={self.size}", f"OFFSET(page.flags)={self.flags}",
               f"OFFSET(page.{self.refcount_name})={self.refcount}", f"OFFSET(page.mapping)={self.mapping}",
               f"OFFSET(page.lru)={self.lru}", f"OFFSET(page.private)={self.private}",
               f"OFFSET(page._mapcount)={self.mapcount}"]
        out += [f"NUMBER(PG_{name})={bit}" for name, bit in self.pg.items()]
        out.append(f"NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)={self.buddy_mapcount}")
        return out


PAGE_3_4 = PageLayout(size=64, flags=0, mapping=8, index=16, mapcount=24, refcount=28, lru=32, private=48,
                        refcount_name="_count",
                        pg={"lru": 5, "slab": 7, "reserved": 10, "private": 11, "swapcache": 15},
                        buddy_mapcount=-128)
"""3.4: flags, mapping, index, {_mapcount, _count}, lru, private; enum pageflags of 3.4."""

PAGE_6_10 = PageLayout(size=64, flags=0, mapping=24, index=32, private=40, mapcount=48, refcount=52, lru=8,
                         refcount_name="_refcount",
                         pg={"lru": 4, "slab": 9, "reserved": 10, "private": 11, "swapcache": 8, "head": 6},
                         buddy_mapcount=~0x80)
"""6.x: flags, lru, mapping, index, private, {_mapcount/page_type}, _refcount, memcg_data.

PG_slab: 6.10 turned slab into a page type; the emulated kernel keeps the
flag (and publishes its number) so that makedumpfile 1.7 can tell slab pages."""


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
            raise BadInputError(f"the {k.release} kernel finds no free memory for its mem_map ({self.size} bytes): "
                                "the fadump or crashkernel reservation on its command line leaves none; use a "
                                "smaller fadump_reserve_mem= or crashkernel=, or a larger machine.memory")
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

    def vmcoreinfo(self) -> list[str]:
        return [f"SYMBOL(mem_map)={va(self.k.symbols['mem_map']):x}"] + self.layout.vmcoreinfo()
