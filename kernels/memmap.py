"""The kernel's memory map: one struct page per page frame (FLATMEM ``mem_map``; SPARSEMEM_VMEMMAP is
kernels.sparsemem).

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
    """struct page of one kernel generation (include/linux/mm_types.h) and its page-flag numbers.

    ``pg`` are enum pageflags bits (include/linux/page-flags.h) the emulated kernel sets; ``types`` the value a
    typed page (buddy, slab) holds in its _mapcount/page_type word; ``numbers`` the NUMBER() lines the
    version's crash_save_vmcoreinfo_init() publishes, in its order.
    """

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
    types: dict[str, int]
    numbers: tuple[tuple[str, int], ...]
    compound_head: int | None = None
    """OFFSET(page.compound_head), published since 4.x; None where the version does not."""

    @property
    def buddy_mapcount(self) -> int:
        return self.types["buddy"]

    def vmcoreinfo(self) -> list[str]:
        """The SIZE/OFFSET/NUMBER lines of this layout, in crash_save_vmcoreinfo_init() order."""
        out = [f"SIZE(page)={self.size}", f"OFFSET(page.flags)={self.flags}",
               f"OFFSET(page.{self.refcount_name})={self.refcount}", f"OFFSET(page.mapping)={self.mapping}",
               f"OFFSET(page.lru)={self.lru}", f"OFFSET(page._mapcount)={self.mapcount}",
               f"OFFSET(page.private)={self.private}"]
        if self.compound_head is not None:
            out.append(f"OFFSET(page.compound_head)={self.compound_head}")
        out += [f"NUMBER({name})={value}" for name, value in self.numbers]
        return out

    def fields(self, kind: str) -> tuple[int, int, int, int]:
        """(flags, _refcount, mapping, _mapcount/page_type) of a page holding ``kind``."""
        pg, lru_cached = self.pg, (1 << self.pg["lru"]) | (1 << self.pg["uptodate"])
        if kind == "reserved":
            return 1 << pg["reserved"], 1, 0, -1
        if kind == "kernel":
            return 0, 1, 0, -1
        if kind == "slab":
            if "slab" in self.types:  # 6.10 and later: a page type, not a flag
                return 0, 1, 0, self.types["slab"]
            return 1 << pg["slab"], 1, 0, -1
        if kind == "cache":
            return lru_cached, 2, va(ADDRESS_SPACE), -1
        if kind == "user":
            anon = lru_cached | ((1 << pg["swapbacked"]) if "swapbacked" in pg else 0)
            return anon, 1, va(ANON_VMA) | PAGE_MAPPING_ANON, 0
        if kind == "free":
            return 0, 0, 0, self.types["buddy"]
        raise ValueError(f"unknown page kind {kind!r}")

    def records(self, count: int, kind: str, byteorder: str) -> np.ndarray:
        """``count`` struct pages of ``kind`` as bytes in the kernel's byte order."""
        flags, refcount, mapping, mapcount = self.fields(kind)
        end = "<" if byteorder == "little" else ">"
        rec = np.zeros((count, self.size // 8), dtype=np.dtype(np.uint64).newbyteorder(end))
        rec[:, self.flags // 8] = flags
        if mapping:
            rec[:, self.mapping // 8] = mapping
        raw = rec.view(np.uint8).reshape(count, self.size)
        # _mapcount and _refcount are two 32-bit fields sharing one doubleword.
        word = np.zeros(2, dtype=np.dtype(np.int32).newbyteorder(end))
        word[(self.mapcount % 8) // 4] = (mapcount & 0xFFFFFFFF) - ((mapcount & 0x80000000) << 1)
        word[(self.refcount % 8) // 4] = refcount
        at = self.mapcount - self.mapcount % 8
        raw[:, at:at + 8] = word.view(np.uint8)
        return raw.reshape(-1)


PAGE_3_4 = PageLayout(size=64, flags=0, mapping=8, index=16, mapcount=24, refcount=28, lru=32, private=48,
                        refcount_name="_count",
                        pg={"uptodate": 3, "lru": 5, "slab": 7, "reserved": 10, "private": 11, "swapcache": 15},
                        types={"buddy": -128},
                        numbers=(("PG_lru", 5), ("PG_slab", 7), ("PG_reserved", 10), ("PG_private", 11),
                                 ("PG_swapcache", 15), ("PAGE_BUDDY_MAPCOUNT_VALUE", -128)))
"""3.4: flags, mapping, index, {_mapcount, _count}, lru, private; enum pageflags of 3.4.

The numbers are the ones this profile has always published (FLATMEM mem_map)."""

PAGE_6_10 = PageLayout(size=56, flags=0, lru=8, mapping=24, index=32, private=40, mapcount=48, refcount=52,
                         compound_head=8, refcount_name="_refcount",
                         pg={"uptodate": 3, "lru": 5, "head": 6, "swapcache": 11, "reserved": 13, "private": 14,
                             "swapbacked": 18},
                         types={"buddy": ~0x80, "slab": ~0x1000},
                         numbers=(("PG_lru", 5), ("PG_private", 14), ("PG_swapcache", 11), ("PG_swapbacked", 18),
                                  ("PAGE_SLAB_MAPCOUNT_VALUE", ~0x1000), ("PG_head_mask", 1 << 6),
                                  ("PAGE_BUDDY_MAPCOUNT_VALUE", ~0x80), ("PAGE_HUGETLB_MAPCOUNT_VALUE", ~0x800),
                                  ("PAGE_OFFLINE_MAPCOUNT_VALUE", ~0x100)))
"""6.10 (msgeden/cryptocap-arm64-linux-6.10): include/linux/mm_types.h struct page (flags, lru|compound_head,
mapping, index, private, {_mapcount, page_type}, _refcount; memcg_data only with CONFIG_MEMCG, which the
reference configuration (allnoconfig + fadump fragment) leaves out: 56 bytes); include/linux/page-flags.h
enum pageflags (PG_error at 10 shifts PG_owner_priv_1/swapcache to 11, PG_mappedtodisk at 16 shifts
PG_swapbacked to 18) and enum pagetype (PG_buddy 0x80, PG_offline 0x100, PG_hugetlb 0x800, PG_slab 0x1000,
cleared from an all-ones page_type: __SetPageBuddy leaves ~0x80); kernel/vmcore_info.c
crash_save_vmcoreinfo_init() publishes the ~PG_x values. No NUMBER(PG_slab): slab is a page type."""

PAGE_6_12 = PageLayout(size=56, flags=0, lru=8, mapping=24, index=32, private=40, mapcount=48, refcount=52,
                         compound_head=8, refcount_name="_refcount",
                         pg={"uptodate": 3, "lru": 5, "head": 6, "swapcache": 10, "reserved": 13, "private": 14,
                             "swapbacked": 17},
                         types={"buddy": -(0x100 - 0xF0) << 24, "slab": -(0x100 - 0xF5) << 24},
                         numbers=(("PG_lru", 5), ("PG_private", 14), ("PG_swapcache", 10), ("PG_swapbacked", 17),
                                  ("PAGE_SLAB_MAPCOUNT_VALUE", -(0x100 - 0xF5) << 24), ("PG_head_mask", 1 << 6),
                                  ("PAGE_BUDDY_MAPCOUNT_VALUE", -(0x100 - 0xF0) << 24),
                                  ("PAGE_HUGETLB_MAPCOUNT_VALUE", -(0x100 - 0xF4) << 24),
                                  ("PAGE_OFFLINE_MAPCOUNT_VALUE", -(0x100 - 0xF1) << 24)))
"""6.12 (Debian linux-source-6.12 6.12.117): include/linux/mm_types.h struct page as in 6.10 (56 bytes without
CONFIG_MEMCG, measured SIZE(page)=56); include/linux/page-flags.h enum pageflags without PG_error and
PG_mappedtodisk (PG_lru 5, PG_head 6, PG_owner_priv_1 = PG_swapcache 10, PG_reserved 13, PG_private 14,
PG_swapbacked 17) and enum pagetype PGTY_buddy 0xf0, PGTY_offline 0xf1, PGTY_hugetlb 0xf4, PGTY_slab 0xf5 in the
top byte (__folio_set_buddy: page_type = PGTY_buddy << 24); kernel/vmcore_info.c publishes PGTY_x << 24 as
a signed int (measured NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456)."""


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
        L = self.layout
        self.k.ram.write(self.base + first * L.size, L.records(last - first, kind, self.k.byteorder))

    def vmcoreinfo(self) -> list[str]:
        return [f"SYMBOL(mem_map)={va(self.k.symbols['mem_map']):x}"] + self.layout.vmcoreinfo()
