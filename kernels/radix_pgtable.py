"""The kernel page table (swapper_pg_dir) of a Book3S-64 radix kernel with 64 KiB pages, as bytes in RAM.

Facts (Linux 6.12, Debian linux-source-6.12; the same in 6.10):
- arch/powerpc/include/asm/book3s/64/radix-64k.h: index sizes PTE 5, PMD 9, PUD 9, PGD 13 bits (a PTE
  table maps 2 MiB, a PMD entry 2 MiB, a PUD entry 1 GiB, a PGD entry 512 GiB).
- book3s/64/pgalloc.h p4d_populate/pud_populate/pmd_populate and radix.h RADIX_{PGD,PUD,PMD}_VAL_BITS: a
  directory entry is __pa(next table) | 0x8000000000000000 | the next table's index size.
- book3s/64/pgtable.h pfn_pte(): (pfn << PAGE_SHIFT) | pgprot | _PAGE_PTE; PAGE_KERNEL = _PAGE_PRESENT |
  _PAGE_ACCESSED | _PAGE_PRIVILEGED | _PAGE_READ | _PAGE_WRITE | _PAGE_DIRTY. A leaf at PMD level (a 2 MiB
  vmemmap block, radix_pgtable.c vmemmap_set_pmd) has the same format.
- Entries are __be64: big-endian whatever the kernel's byte order (since 4.7).
- radix_pgtable.c vmemmap_{pud,pmd,pte}_alloc: early, every table is a whole PAGE_SIZE page from
  early_alloc_pgtable() (memblock, aligned to its size).
"""

from dataclasses import dataclass

import numpy as np

PAGE_SHIFT = 16
PTE_INDEX, PMD_INDEX, PUD_INDEX, PGD_INDEX = 5, 9, 9, 13
PMD_SHIFT = PAGE_SHIFT + PTE_INDEX
PUD_SHIFT = PMD_SHIFT + PMD_INDEX
PGD_SHIFT = PUD_SHIFT + PUD_INDEX
PMD_SIZE = 1 << PMD_SHIFT
TABLE_PAGE = 1 << PAGE_SHIFT
"""Early page-table allocations take a whole page whatever the table's size."""

PAGE_PRESENT = 1 << 63
PAGE_PTE = 1 << 62
PAGE_EXEC, PAGE_WRITE, PAGE_READ, PAGE_PRIVILEGED = 0x1, 0x2, 0x4, 0x8
PAGE_DIRTY, PAGE_ACCESSED = 0x80, 0x100
PAGE_KERNEL = PAGE_PRESENT | PAGE_ACCESSED | PAGE_PRIVILEGED | PAGE_READ | PAGE_WRITE | PAGE_DIRTY
MASKED_BITS = 0xC0000000000000FF
"""{P4D,PUD,PMD}_MASKED_BITS: what is not the next table's address in a directory entry."""
RPN_MASK = ((1 << 53) - 1) & ~((1 << PAGE_SHIFT) - 1)
"""PTE_RPN_MASK: _PAGE_PA_MAX is 53."""


def pgd_index(vaddr: int) -> int:
    return (vaddr >> PGD_SHIFT) & ((1 << PGD_INDEX) - 1)


def pud_index(vaddr: int) -> int:
    return (vaddr >> PUD_SHIFT) & ((1 << PUD_INDEX) - 1)


def pmd_index(vaddr: int) -> int:
    return (vaddr >> PMD_SHIFT) & ((1 << PMD_INDEX) - 1)


def pte_index(vaddr: int) -> int:
    return (vaddr >> PAGE_SHIFT) & ((1 << PTE_INDEX) - 1)


def directory_entry(next_table: int, next_index_bits: int) -> int:
    """A PGD/PUD/PMD entry pointing at the next table (its physical address)."""
    return next_table | PAGE_PRESENT | next_index_bits


def leaf_entry(paddr: int) -> int:
    """pfn_pte(paddr >> PAGE_SHIFT, PAGE_KERNEL): a PTE, or a huge PMD leaf."""
    return (paddr & RPN_MASK) | PAGE_KERNEL | PAGE_PTE


@dataclass
class Mapping:
    """One vmemmap mapping: ``size`` bytes at ``vaddr`` backed by ``paddr`` (a 2 MiB leaf or a 64 KiB page)."""

    vaddr: int
    size: int
    paddr: int


class RadixTables:
    """swapper_pg_dir and the tables below it that map a set of vmemmap mappings.

    ``plan()`` decides every table's address in the order the kernel creates them (ascending virtual
    address, each from ``alloc(size, align)``); ``write(mapping)`` puts the entries of one mapping (and the
    directory entries above it) into RAM. Writing all of them or only the ones a caller needs gives the
    same bytes for what is written.
    """

    def __init__(self, ram, pgd: int):
        self.ram = ram
        self.pgd = pgd
        self.pud: dict[int, int] = {}
        self.pmd: dict[tuple[int, int], int] = {}
        self.pte: dict[tuple[int, int, int], int] = {}
        self._written: set = set()

    def plan(self, mappings: list[Mapping], alloc) -> list[int]:
        """Allocate the tables the mappings need (ascending vaddr order); return their addresses."""
        tables = []
        for m in mappings:
            g, u, d = pgd_index(m.vaddr), pud_index(m.vaddr), pmd_index(m.vaddr)
            if g not in self.pud:
                self.pud[g] = alloc(TABLE_PAGE, TABLE_PAGE)
                tables.append(self.pud[g])
            if (g, u) not in self.pmd:
                self.pmd[(g, u)] = alloc(TABLE_PAGE, TABLE_PAGE)
                tables.append(self.pmd[(g, u)])
            if m.size < PMD_SIZE and (g, u, d) not in self.pte:
                self.pte[(g, u, d)] = alloc(TABLE_PAGE, TABLE_PAGE)
                tables.append(self.pte[(g, u, d)])
        return tables

    def clear_pgd(self) -> None:
        """swapper_pg_dir starts empty (it is in the kernel's bss)."""
        self.ram.fill(self.pgd, 8 << PGD_INDEX, 0)

    def _table(self, key, addr: int) -> None:
        """A table's first use: memblock_alloc_try_nid() hands out zeroed memory."""
        if key in self._written:
            return
        self._written.add(key)
        self.ram.fill(addr, TABLE_PAGE, 0)

    def write_all(self, mappings: list[Mapping]) -> None:
        """Write the entries of every mapping: the same bytes, and the same blocks of RAM marked written, as
        ``write()`` of each in turn, with one RAM write per table instead of one per entry.

        Each table page gets its entries in one read-modify-write of the span from its first to its last
        entry (a table used for the first time is zeroed first, as ``write()`` does); an entry written twice
        always holds the same value, so the order of the writes does not matter.
        """
        if not mappings:
            return
        entries: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        """Table address -> (byte offsets, entries) to put there."""
        first_use: list[tuple[object, int]] = []

        def put(table: int, offsets, values) -> None:
            entries.setdefault(table, []).append((np.asarray(offsets, dtype=np.int64).reshape(-1),
                                                  np.asarray(values, dtype=np.uint64).reshape(-1)))

        leaves = [m for m in mappings if m.size >= PMD_SIZE]
        if leaves:  # 2 MiB leaves, the bulk of a large partition's vmemmap: grouped by PMD table with numpy
            v = np.fromiter((m.vaddr for m in leaves), dtype=np.uint64, count=len(leaves))
            phys = np.fromiter((m.paddr for m in leaves), dtype=np.uint64, count=len(leaves))
            g = ((v >> np.uint64(PGD_SHIFT)) & np.uint64((1 << PGD_INDEX) - 1)).astype(np.int64)
            u = ((v >> np.uint64(PUD_SHIFT)) & np.uint64((1 << PUD_INDEX) - 1)).astype(np.int64)
            d = ((v >> np.uint64(PMD_SHIFT)) & np.uint64((1 << PMD_INDEX) - 1)).astype(np.int64)
            leaf = (phys & np.uint64(RPN_MASK)) | np.uint64(PAGE_KERNEL | PAGE_PTE)
            keys, which = np.unique((g << PUD_INDEX) | u, return_inverse=True)
            order = np.argsort(which, kind="stable")
            bounds = np.searchsorted(which[order], np.arange(len(keys) + 1))
            for i, key in enumerate(keys.tolist()):
                gi, ui = key >> PUD_INDEX, key & ((1 << PUD_INDEX) - 1)
                pud, pmd = self.pud[gi], self.pmd[(gi, ui)]
                first_use += [(("pud", gi), pud), (("pmd", gi, ui), pmd)]
                put(self.pgd, 8 * gi, directory_entry(pud, PUD_INDEX))
                put(pud, 8 * ui, directory_entry(pmd, PMD_INDEX))
                sel = order[bounds[i]:bounds[i + 1]]
                put(pmd, 8 * d[sel], leaf[sel])
        for m in mappings:
            if m.size >= PMD_SIZE:
                continue
            gi, ui, di = pgd_index(m.vaddr), pud_index(m.vaddr), pmd_index(m.vaddr)
            pud, pmd, pte = self.pud[gi], self.pmd[(gi, ui)], self.pte[(gi, ui, di)]
            first_use += [(("pud", gi), pud), (("pmd", gi, ui), pmd), (("pte", gi, ui, di), pte)]
            put(self.pgd, 8 * gi, directory_entry(pud, PUD_INDEX))
            put(pud, 8 * ui, directory_entry(pmd, PMD_INDEX))
            put(pmd, 8 * di, directory_entry(pte, PTE_INDEX))
            put(pte, 8 * pte_index(m.vaddr), leaf_entry(m.paddr))
        for key, addr in first_use:
            self._table(key, addr)
        for table, parts in entries.items():
            offsets = np.concatenate([o for o, _ in parts])
            values = np.concatenate([x for _, x in parts])
            lo, hi = int(offsets.min()), int(offsets.max()) + 8
            span = np.frombuffer(bytearray(self.ram.read(table + lo, hi - lo)), dtype=">u8")
            span[(offsets - lo) // 8] = values
            self.ram.write(table + lo, span.view(np.uint8))

    def write(self, m: Mapping) -> None:
        g, u, d = pgd_index(m.vaddr), pud_index(m.vaddr), pmd_index(m.vaddr)
        pud, pmd = self.pud[g], self.pmd[(g, u)]
        self._table(("pud", g), pud)
        self._table(("pmd", g, u), pmd)
        put = self.ram.write_u64
        put(self.pgd + 8 * g, directory_entry(pud, PUD_INDEX), "big")
        put(pud + 8 * u, directory_entry(pmd, PMD_INDEX), "big")
        if m.size >= PMD_SIZE:
            put(pmd + 8 * d, leaf_entry(m.paddr), "big")
            return
        pte = self.pte[(g, u, d)]
        self._table(("pte", g, u, d), pte)
        put(pmd + 8 * d, directory_entry(pte, PTE_INDEX), "big")
        put(pte + 8 * pte_index(m.vaddr), leaf_entry(m.paddr), "big")
