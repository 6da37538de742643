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
from emulator.hw.layout import Range
from emulator.units import align_up
from kernels import version_layouts
from kernels.image import va

FULL_DESCRIPTION_LIMIT = 64 << 20
RECORDS_CACHE_BYTES = 16 << 20
"""The longest run of identical struct pages PageLayout.records keeps for reuse, per kind and byte order."""
TILE_RECORDS = 4096
"""MemMap writes a long run of identical struct pages as repeats of this many records (229 KiB of 56-byte
pages), not as one array of the whole run: an 8 GiB partition's mem_map is 7.3 MB, which a process would
allocate, zero and fill only to copy it into RAM once."""
ADDRESS_SPACE = 0x0175_0000
"""A struct address_space for page-cache pages to point at (inside the image)."""
ANON_VMA = 0x0176_0000
PAGE_MAPPING_ANON = 1


@dataclass(frozen=True)
class PageLayout:
    """struct page of one kernel release (include/linux/mm_types.h), from kernels.version_layouts.

    ``pg`` are enum pageflags bits (include/linux/page-flags.h); ``buddy_mapcount`` and ``slab_type`` the value
    a typed page holds in its _mapcount/page_type word (slab_type None: slab is the PG_slab flag, as in 3.4).
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
    buddy_mapcount: int
    slab_type: int | None = None

    @classmethod
    def of(cls, table: version_layouts.PageTable) -> "PageLayout":
        o = table.offsets
        return cls(size=table.size, flags=o["flags"], mapping=o["mapping"], index=o["index"], private=o["private"],
                   mapcount=o["_mapcount"], refcount=o["refcount"], lru=o["lru"], refcount_name=table.refcount_name,
                   pg=dict(table.flags), buddy_mapcount=table.buddy, slab_type=table.slab_type)

    @property
    def compound_head(self) -> int | None:
        """OFFSET(page.compound_head): the first word of the lru union in 6.x (kernels.vmcoreinfo publishes the
        same); None for 3.4, whose struct page has no such member."""
        return None if self.refcount_name == "_count" else self.lru

    def fields(self, kind: str) -> tuple[int, int, int, int]:
        """(flags, _refcount, mapping, _mapcount/page_type) of a page holding ``kind``."""
        pg = self.pg
        lru_cached = (1 << pg["lru"]) | (1 << pg.get("uptodate", 3))  # PG_uptodate is 3 in every release here
        if kind == "reserved":
            return 1 << pg["reserved"], 1, 0, -1
        if kind == "kernel":
            return 0, 1, 0, -1
        if kind == "slab":
            if self.slab_type is not None:  # 6.10 and later: a page type, not a flag
                return 0, 1, 0, self.slab_type
            return 1 << pg["slab"], 1, 0, -1
        if kind == "cache":
            return lru_cached, 2, va(ADDRESS_SPACE), -1
        if kind == "user":
            anon = lru_cached | ((1 << pg["swapbacked"]) if "swapbacked" in pg else 0)
            return anon, 1, va(ANON_VMA) | PAGE_MAPPING_ANON, 0
        if kind == "free":
            return 0, 0, 0, self.buddy_mapcount
        raise ValueError(f"unknown page kind {kind!r}")

    def records(self, count: int, kind: str, byteorder: str) -> np.ndarray:
        """``count`` struct pages of ``kind`` as bytes in the kernel's byte order (read-only).

        Every struct page of one kind is the same record, so the longest run built so far (up to
        RECORDS_CACHE_BYTES) is kept on this layout and shorter runs are its beginning: each boot describes
        the same memory again, and a long-lived worker boots thousands of kernels.
        """
        cache = self.__dict__.get("_records")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_records", cache)  # a frozen dataclass: the cache is not a field
        built = cache.get((kind, byteorder))
        if built is not None and len(built) >= count * self.size:
            return built[:count * self.size]
        raw = self._build_records(count, kind, byteorder)
        raw.flags.writeable = False
        if len(raw) <= RECORDS_CACHE_BYTES:
            cache[(kind, byteorder)] = raw
        return raw

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_records"}  # the cache never travels

    def _build_records(self, count: int, kind: str, byteorder: str) -> np.ndarray:
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


PAGE_3_4 = PageLayout.of(version_layouts.PAGE_3_4)
PAGE_6_10 = PageLayout.of(version_layouts.PAGE_6_10)
PAGE_6_12 = PageLayout.of(version_layouts.PAGE_6_12)
PAGE_7_2 = PageLayout.of(version_layouts.PAGE_7_2)


class StructPages:
    """What both memory models share: which struct pages a range of memory has, and filling them."""

    def describe(self, addr: int, length: int, kind: str) -> None:
        """Fill the struct pages of [addr, addr+length) for pages of ``kind``.

        A partition too large for a full description only describes written pages.
        """
        if not self.full and length > 64 * self.page:
            for s, e in self.k.ram.touched_runs(addr, addr + length):
                self._describe(s, e - s, kind)
            return
        self._describe(addr, length, kind)

    def pfn_span(self, addr: int, length: int) -> tuple[int, int]:
        """[first, last) page frames of the range, clipped to the end of memory."""
        return addr // self.page, min(self.max_pfn, -(-(addr + length) // self.page))

    def _describe(self, addr: int, length: int, kind: str) -> None:
        raise NotImplementedError


class MemMap(StructPages):
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

    def _describe(self, addr: int, length: int, kind: str) -> None:
        first, last = self.pfn_span(addr, length)
        if last <= first:
            return
        L = self.layout
        count = last - first
        tile = L.records(min(count, TILE_RECORDS), kind, self.k.byteorder)
        at = self.base + first * L.size
        for done in range(0, count, TILE_RECORDS):
            n = min(TILE_RECORDS, count - done)
            self.k.ram.write(at + done * L.size, tile[:n * L.size])
