"""SPARSEMEM_VMEMMAP as a pSeries (Book3S-64, 64 KiB pages) kernel sets it up at boot.

What ends up in RAM, and where (Linux 6.12 from Debian's linux-source-6.12; 6.10 is the same):
- mm/sparse.c memblocks_present()/sparse_index_alloc(): SPARSEMEM_EXTREME. ``mem_section`` points at
  NR_SECTION_ROOTS root pointers (memblock_alloc), each root at SECTIONS_PER_ROOT = PAGE_SIZE /
  sizeof(struct mem_section) sections (memblock_alloc_node). struct mem_section is {section_mem_map,
  usage} (16 bytes without CONFIG_PAGE_EXTENSION). section_mem_map is sparse_encode_mem_map():
  pfn_to_page(first pfn) - first pfn, which for VMEMMAP is ``vmemmap`` itself, ORed with the flags of
  include/linux/mmzone.h (PRESENT, HAS_MEM_MAP, IS_ONLINE, IS_EARLY).
- arch/powerpc/include/asm/sparsemem.h SECTION_SIZE_BITS 24; book3s/64/{hash-64k,radix}.h
  MAX_PHYSMEM_BITS 51 with VMEMMAP and EXTREME (the profile's max_physmem_bits); radix.h/hash.h:
  vmemmap at 0xc00c000000000000 and VMALLOC_START 0xc008000000000000 with 64 KiB pages.
- mm/sparse.c sparse_init_nid(): one buffer of map_count * section_map_size() (ALIGN(sizeof(struct page)
  * PAGES_PER_SECTION, PMD_SIZE)) is taken top-down and bump-allocated; sparse_buffer_fini() frees what is
  left. If it cannot be had, each block comes from memblock on its own (vmemmap_alloc_block).
- radix (mm/book3s64/radix_pgtable.c radix__vmemmap_populate): a 2 MiB PMD leaf where the first address
  a section's memmap touches in that PMD is PMD-aligned, else 64 KiB pages; kernels.radix_pgtable writes
  the tables. Since 6.6 (368a0590d954) radix does not fill ``vmemmap_list``: it stays NULL. Before (6.1,
  Version.radix_vmemmap_list), radix went through mm/init_64.c vmemmap_populate() as hash does: aligned
  2 MiB blocks (mmu_vmemmap_psize MMU_PAGE_2M), each recorded in ``vmemmap_list`` and mapped by a PMD leaf.
- hash (mm/init_64.c __vmemmap_populate, vmemmap_list_populate): blocks of mmu_vmemmap_psize (16 MiB
  when 16M pages exist and RAM >= 1 GiB, hash_utils.c htab_init_page_sizes; else 64 KiB), each recorded
  in a struct vmemmap_backing {list, phys, virt_addr} pushed on the front of ``vmemmap_list``; the
  entries are handed out of PAGE_SIZE chunks. The hashed page table that maps them (bolted HPTEs) belongs
  to the hypervisor on pSeries (H_ENTER): it is not in partition memory, so no dump holds it, and readers
  translate vmemmap through vmemmap_list.

Cost: mem_section, the page tables and vmemmap_list are written in full (a 64 TiB partition has 28672
PMD leaves); struct pages are described like FLATMEM's (every page when the memmap is at most
memmap.FULL_DESCRIPTION_LIMIT, else only pages that were written).
"""

import bisect

import numpy as np

from emulator.hw.layout import Range, merge
from kernels import radix_pgtable as rpt
from kernels.image import pa, va
from kernels.memblock_topdown import TopDown
from kernels.memmap import FULL_DESCRIPTION_LIMIT, StructPages

VMEMMAP_BASE = 0xC00C_0000_0000_0000
VMALLOC_START = 0xC008_0000_0000_0000
SECTION_SIZE_BITS = 24
MEM_SECTION_SIZE = 16
SECTION_MARKED_PRESENT, SECTION_HAS_MEM_MAP, SECTION_IS_ONLINE, SECTION_IS_EARLY = 1, 2, 4, 8
SMP_CACHE_BYTES = 128
VMEMMAP_BACKING_SIZE = 24
"""struct vmemmap_backing (book3s/64/pgalloc.h): list at 0, phys at 8, virt_addr at 16."""
MMU_PSIZE_DEF_SIZE = 96
"""struct mmu_psize_def (book3s/64/mmu.h): shift u32 at 0, penc[MMU_PAGE_COUNT=16] int, tlbiel u32, then
avpnm, h_rpt_pgsize and sllp/ap unsigned longs at 72, 80, 88."""
MMU_PAGE = {"4K": 0, "64K": 2, "2M": 7, "16M": 10, "1G": 13, "16G": 14}
"""asm/mmu.h MMU_PAGE_* indexes into mmu_psize_defs."""
PAGE_SIZES = {"radix": {"4K": 12, "64K": 16, "2M": 21, "1G": 30},
              "hash": {"4K": 12, "64K": 16, "16M": 24, "16G": 34}}
"""Page sizes (shift) a POWER9 partition reports: radix (ibm,processor-radix-AP-encodings) and hash
(ibm,segment-page-sizes)."""
HASH_PMD_SIZE = 1 << 24
"""PMD_SIZE under hash with 64 KiB pages (H_PTE_INDEX_SIZE 8): what section_map_size() aligns to."""


class SparseVmemmap(StructPages):
    """mem_section, vmemmap and what maps it, for one booted kernel; struct pages kept up to date."""

    def __init__(self, kernel, layout):
        self.k = kernel
        self.layout = layout
        self.page = kernel.page_size
        self.mmu = kernel.machine.config.mmu
        self.block_list = self.mmu == "hash" or kernel.version.radix_vmemmap_list
        """vmemmap goes in aligned mmu_vmemmap_psize blocks recorded in vmemmap_list (mm/init_64.c)."""
        self.pages_per_section = (1 << SECTION_SIZE_BITS) // self.page
        self.sections_per_root = self.page // MEM_SECTION_SIZE
        self.max_physmem_bits = kernel.max_physmem_bits
        """The profile's MAX_PHYSMEM_BITS (51 on Book3S-64 with VMEMMAP and EXTREME): sizes the root array."""
        self.nr_roots = (1 << (self.max_physmem_bits - SECTION_SIZE_BITS)) // self.sections_per_root
        self.max_pfn = kernel.machine.layout.end_of_dram // self.page
        self.full = self.max_pfn * layout.size <= FULL_DESCRIPTION_LIMIT
        self.roots = 0
        self.mappings: list[rpt.Mapping] = []
        self._starts: list[int] = []
        self.vmemmap_list_head = 0
        self.tables = None
        self.psize = self._vmemmap_psize()
        self._pmds: dict[int, object] = {}
        """radix: PMD number -> "leaf" or the set of 64 KiB vmemmap pages mapped under its PTE table."""
        self._blocks: set[int] = set()
        """hash: vmemmap blocks already backed."""
        self._backing_chunk, self._backing_left = 0, 0

    def _vmemmap_psize(self) -> str:
        if self.mmu == "radix":
            return "2M"
        return "16M" if self.k.machine.layout.phys_mem_size >= 1 << 30 else "64K"

    # --- boot ---

    def present_sections(self) -> list[tuple[int, int]]:
        """[first, end) section numbers holding memory, merged (memblocks_present)."""
        runs: list[tuple[int, int]] = []
        for r in self.k.memblock.memory:
            s0, s1 = r.start >> SECTION_SIZE_BITS, -(-r.end >> SECTION_SIZE_BITS)
            if runs and s0 <= runs[-1][1]:
                runs[-1] = (runs[-1][0], max(runs[-1][1], s1))
            else:
                runs.append((s0, s1))
        return runs

    def place(self) -> None:
        """paging_init(): sparse_init() and vmemmap_populate(), then mark what was taken reserved."""
        k = self.k
        alloc = TopDown(k.memblock.free())
        runs = self.present_sections()
        self._mem_sections(alloc, runs)
        buffer_used = self._populate(alloc, runs)
        if self.mmu == "radix":
            self.tables = rpt.RadixTables(k.ram, k.symbols["swapper_pg_dir"])
            self.tables.clear_pgd()
            self.tables.plan(self.mappings, lambda size, align: alloc.must(size, align, "a page table"))
            self.tables.write_all(self.mappings)
        else:
            k.ram.fill(k.symbols["swapper_pg_dir"], 8 << rpt.PGD_INDEX, 0)
        if self.block_list:
            self._vmemmap_list(self.mappings, lambda size, align: alloc.must(size, align, "vmemmap_backing"))
        self._globals()
        leaves = sum(m.size == rpt.PMD_SIZE for m in self.mappings) if self.mmu == "radix" else 0
        listed = f"vmemmap_list: {len(self.mappings)} {self.psize} blocks"
        how = (f"radix page tables under swapper_pg_dir: {leaves} 2 MiB PMD leaves, "
               f"{len(self.mappings) - leaves} 64 KiB pages; " + (listed if self.block_list else
                                                                 "vmemmap_list stays NULL")
               if self.mmu == "radix" else f"{listed} (the hash table is the hypervisor's)")
        k.narrate("sparse_init(), vmemmap_populate()", "mm/sparse.c, arch/powerpc/mm (SPARSEMEM_VMEMMAP)",
                  f"{sum(b - a for a, b in runs)} memory sections of 16 MiB; mem_section roots at "
                  f"{self.roots:#x}; struct pages ({self.layout.size} bytes each) at vmemmap "
                  f"{VMEMMAP_BASE:#x}, mapped by {how}")
        taken = [r for r in alloc.taken if r != buffer_used[0]] + buffer_used[1:]
        for r in merge(taken):
            k.memblock.reserve(r)
        if self.full:
            self.describe(0, self.max_pfn * self.page, "free")
        for r in k.memblock.reserved:
            self.describe(r.start, r.size, "reserved")

    def _mem_sections(self, alloc: TopDown, runs) -> None:
        k, order = self.k, self.k.byteorder
        self.roots = alloc.must(8 * self.nr_roots, SMP_CACHE_BYTES, "mem_section roots")
        k.ram.fill(self.roots, 8 * self.nr_roots, 0)
        dtype = np.dtype(np.uint64).newbyteorder("<" if order == "little" else ">")
        flags = SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP | SECTION_IS_ONLINE | SECTION_IS_EARLY
        spr = self.sections_per_root
        roots = sorted({s // spr for s0, s1 in runs for s in range(s0 - s0 % spr, s1, spr)})
        full = None
        """The array of a root whose sections all hold memory (most of them): built once."""
        pointers = []
        for root in roots:
            array = alloc.must(spr * MEM_SECTION_SIZE, SMP_CACHE_BYTES, "a mem_section array")
            base = root * spr
            present = [(max(s0, base) - base, min(s1, base + spr) - base) for s0, s1 in runs
                       if max(s0, base) < min(s1, base + spr)]
            if present == [(0, spr)] and full is not None:
                words = full
            else:
                words = np.zeros((spr, MEM_SECTION_SIZE // 8), dtype=dtype)
                for lo, hi in present:
                    words[lo:hi, 0] = VMEMMAP_BASE | flags
                if present == [(0, spr)]:
                    full = words
            k.ram.write(array, words.view(np.uint8).reshape(-1))
            pointers.append((root, va(array)))
        # The root pointers, one RAM write per run of consecutive roots (the same bytes, and blocks marked
        # written, as one write each).
        i = 0
        while i < len(pointers):
            j = i + 1
            while j < len(pointers) and pointers[j][0] == pointers[j - 1][0] + 1:
                j += 1
            values = np.array([p for _, p in pointers[i:j]], dtype=dtype)
            k.ram.write(self.roots + 8 * pointers[i][0], values.view(np.uint8))
            i = j

    def _populate(self, alloc: TopDown, runs) -> list[Range]:
        """Decide every vmemmap block's virtual and physical address; return [buffer, used part]."""
        size = self.layout.size
        map_size = -(-size * self.pages_per_section // self.section_map_align()) * self.section_map_align()
        count = sum(s1 - s0 for s0, s1 in runs)
        buf = alloc.alloc(count * map_size, map_size)
        bump = buf

        def blocks(nbytes: int, n: int = 1) -> list[int]:
            """``n`` blocks of ``nbytes`` from the buffer while it lasts, then each from memblock on its own."""
            nonlocal bump
            out: list[int] = []
            if buf is not None and n:
                at = -(-bump // nbytes) * nbytes
                fit = max(0, min(n, (buf + count * map_size - at) // nbytes))
                if fit:
                    out = list(range(at, at + fit * nbytes, nbytes))
                    bump = at + fit * nbytes
            if len(out) < n:
                out += alloc.must_many(n - len(out), nbytes, nbytes, "a vmemmap block")
            return out

        self.mappings = self._map(runs, blocks)
        self._starts = [m.vaddr for m in self.mappings]
        if buf is None:
            return [Range(0, 0)]
        return [Range(buf, buf + count * map_size), Range(buf, max(bump, buf))]

    def section_map_align(self) -> int:
        return rpt.PMD_SIZE if self.mmu == "radix" else HASH_PMD_SIZE

    def _map(self, runs, blocks) -> list[rpt.Mapping]:
        """vmemmap_populate() over the memmap of ``runs`` of sections, in order; ``blocks(n, count)`` backs
        ``count`` blocks of n bytes, in the order the kernel allocates them (blocks of one size that follow
        one another are asked for together)."""
        out: list[rpt.Mapping] = []
        per = self.pages_per_section * self.layout.size
        if not self.block_list:
            pmds, pending = self._pmds, []
            """PMDs that get a 2 MiB leaf, waiting for their blocks (until a 64 KiB page needs one)."""

            def leaves() -> None:
                for p, at in zip(pending, blocks(rpt.PMD_SIZE, len(pending))):
                    out.append(rpt.Mapping(p << rpt.PMD_SHIFT, rpt.PMD_SIZE, at))
                pending.clear()

            for s0, s1 in runs:
                v, v1 = (VMEMMAP_BASE + s0 * per) & ~(self.page - 1), VMEMMAP_BASE + s1 * per
                while v < v1:
                    p = v >> rpt.PMD_SHIFT
                    st = pmds.get(p)
                    if st is None and v % rpt.PMD_SIZE == 0:
                        pmds[p] = "leaf"
                        pending.append(p)
                    elif st is None or isinstance(st, set):
                        leaves()
                        pages = pmds.setdefault(p, set())
                        if v not in pages:
                            pages.add(v)
                            out.append(rpt.Mapping(v, self.page, blocks(self.page)[0]))
                        v += self.page
                        continue
                    v = (p + 1) << rpt.PMD_SHIFT
            leaves()
            return out
        psize = 1 << PAGE_SIZES[self.mmu][self.psize]
        for s0, s1 in runs:
            new = [v for v in range((VMEMMAP_BASE + s0 * per) & ~(psize - 1), VMEMMAP_BASE + s1 * per, psize)
                   if v not in self._blocks]
            self._blocks.update(new)
            out += [rpt.Mapping(v, psize, at) for v, at in zip(new, blocks(psize, len(new)))]
        return out

    def _vmemmap_list(self, mappings, alloc) -> None:
        """vmemmap_list_populate(): one vmemmap_backing per block, each pushed on the front of the list;
        vmemmap_list_alloc() hands them out of PAGE_SIZE chunks.

        The entries that go into one chunk are written with one RAM write (a chunk is zeroed when it is
        taken, then filled from its start, so the bytes and the blocks marked written are those of one
        write per entry)."""
        k = self.k
        dtype = np.dtype(np.uint64).newbyteorder("<" if k.byteorder == "little" else ">")
        phys = np.fromiter((m.paddr for m in mappings), dtype=np.uint64, count=len(mappings))
        virt = np.fromiter((m.vaddr for m in mappings), dtype=np.uint64, count=len(mappings))
        i = 0
        while i < len(mappings):
            if not self._backing_left:
                self._backing_chunk = alloc(self.page, self.page)
                self._backing_left = self.page // VMEMMAP_BACKING_SIZE
                k.ram.fill(self._backing_chunk, self.page, 0)
            n = min(self._backing_left, len(mappings) - i)
            at = self._backing_chunk + VMEMMAP_BACKING_SIZE * np.arange(n, dtype=np.uint64)
            entries = np.empty((n, 3), dtype=dtype)
            entries[0, 0] = self.vmemmap_list_head
            entries[1:, 0] = at[:-1] | np.uint64(va(0))  # each entry's list points at the entry before it
            entries[:, 1], entries[:, 2] = phys[i:i + n], virt[i:i + n]
            k.ram.write(self._backing_chunk, entries.view(np.uint8).reshape(-1))
            self.vmemmap_list_head = va(self._backing_chunk + VMEMMAP_BACKING_SIZE * (n - 1))
            self._backing_chunk += VMEMMAP_BACKING_SIZE * n
            self._backing_left -= n
            i += n

    def _globals(self) -> None:
        """The kernel variables VMCOREINFO names: mem_section, vmemmap, vmemmap_list, mmu_*psize*, mem_map."""
        k, order, sym = self.k, self.k.byteorder, self.k.symbols
        k.ram.write_u64(sym["mem_section"], va(self.roots), order)
        k.ram.write_u64(sym["vmemmap"], VMEMMAP_BASE, order)
        k.ram.write_u64(sym["vmemmap_list"], self.vmemmap_list_head, order)
        k.ram.write_u64(sym["mem_map"], 0, order)  # !CONFIG_NUMA keeps the FLATMEM pointer, NULL here
        k.ram.write_u32(sym["mmu_vmemmap_psize"], MMU_PAGE[self.psize], order)
        defs = bytearray(MMU_PSIZE_DEF_SIZE * 16)
        for name, shift in PAGE_SIZES[self.mmu].items():
            at = MMU_PAGE[name] * MMU_PSIZE_DEF_SIZE
            defs[at:at + 4] = shift.to_bytes(4, order)
        k.ram.write(sym["mmu_psize_defs"], bytes(defs))

    # --- memory hotplug (mm/memory_hotplug.c, mm/sparse.c sparse_add_section / sparse_remove_section) ---

    def _runtime_alloc(self, size: int, align: int) -> int:
        """After boot the page allocator backs vmemmap blocks and tables (alloc_pages: naturally aligned)."""
        addr = self.k.alloc_pages(size + max(0, align - self.page))
        return -(-addr // align) * align

    def add_memory(self, r: Range) -> None:
        """A hot-added LMB: sparse_index_init(), section_activate() (vmemmap_populate with the page
        allocator), the sections marked present with a mem_map, then onlined: its pages go to the buddy."""
        k, order = self.k, self.k.byteorder
        s0, s1 = r.start >> SECTION_SIZE_BITS, -(-r.end >> SECTION_SIZE_BITS)
        spr = self.sections_per_root
        for section in range(s0, s1):
            slot = self.roots + 8 * (section // spr)
            array = k.ram.read_u64(slot, order)
            if not array:  # kzalloc_node(array_size)
                array = va(self._runtime_alloc(spr * MEM_SECTION_SIZE, SMP_CACHE_BYTES))
                k.ram.fill(pa(array), spr * MEM_SECTION_SIZE, 0)
                k.ram.write_u64(slot, array, order)
            flags = SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP | SECTION_IS_ONLINE
            k.ram.write_u64(pa(array) + MEM_SECTION_SIZE * (section % spr), VMEMMAP_BASE | flags, order)
        new = self._map([(s0, s1)], lambda n, count=1: [self._runtime_alloc(n, n) for _ in range(count)])
        if self.tables is not None:
            self.tables.plan(new, self._runtime_alloc)
            self.tables.write_all(new)
        if self.block_list:
            self._vmemmap_list(new, self._runtime_alloc)
            k.ram.write_u64(k.symbols["vmemmap_list"], self.vmemmap_list_head, order)
        self.mappings = sorted(self.mappings + new, key=lambda m: m.vaddr)
        self._starts = [m.vaddr for m in self.mappings]
        self.max_pfn = max(self.max_pfn, r.end // self.page)
        self.describe(r.start, r.size, "free")

    def remove_memory(self, r: Range) -> None:
        """A hot-removed LMB: section_deactivate() leaves its sections empty (section_mem_map 0). Its
        vmemmap stays mapped here: a PMD leaf or hash block is shared with neighbouring sections."""
        k, order, spr = self.k, self.k.byteorder, self.sections_per_root
        for section in range(r.start >> SECTION_SIZE_BITS, -(-r.end >> SECTION_SIZE_BITS)):
            array = k.ram.read_u64(self.roots + 8 * (section // spr), order)
            if array:
                k.ram.fill(pa(array) + MEM_SECTION_SIZE * (section % spr), MEM_SECTION_SIZE, 0)

    # --- struct pages ---

    def struct_page(self, pfn: int) -> int:
        """The virtual address of pfn's struct page (pfn_to_page)."""
        return VMEMMAP_BASE + pfn * self.layout.size

    def vmemmap_phys(self, vaddr: int) -> int | None:
        """Where a vmemmap address is backed in RAM (None if no block maps it)."""
        i = bisect.bisect_right(self._starts, vaddr) - 1
        if i >= 0 and vaddr < self.mappings[i].vaddr + self.mappings[i].size:
            m = self.mappings[i]
            return m.paddr + vaddr - m.vaddr
        return None

    def _describe(self, addr: int, length: int, kind: str) -> None:
        first, last = self.pfn_span(addr, length)
        if last <= first:
            return
        data = self.layout.records(last - first, kind, self.k.byteorder)
        v, v1 = self.struct_page(first), self.struct_page(last)
        i = max(0, bisect.bisect_right(self._starts, v) - 1)
        while i < len(self.mappings) and self.mappings[i].vaddr < v1:
            m = self.mappings[i]
            lo, hi = max(v, m.vaddr), min(v1, m.vaddr + m.size)
            if lo < hi:
                self.k.ram.write(m.paddr + lo - m.vaddr, data[lo - v:hi - v])
            i += 1

    # --- VMCOREINFO ---
    # Pieces in the order the kernel appends them, for a per-version table to place between its other keys.

    def vmcoreinfo_vmalloc(self) -> list[str]:
        """kernel/vmcore_info.c (6.9 and later), after SYMBOL(_stext): what replaced vmap_area_list."""
        return [f"NUMBER(VMALLOC_START)={VMALLOC_START:#x}"]

    def vmcoreinfo_sections(self) -> list[str]:
        """kernel/vmcore_info.c: !CONFIG_NUMA mem_map, SPARSEMEM_VMEMMAP vmemmap, SPARSEMEM mem_section lines."""
        sym = self.k.symbols
        return [f"SYMBOL(mem_map)={va(sym['mem_map']):x}",
                f"SYMBOL(vmemmap)={VMEMMAP_BASE:x}",
                f"SYMBOL(mem_section)={va(self.roots):x}",
                f"LENGTH(mem_section)={self.nr_roots}",
                f"SIZE(mem_section)={MEM_SECTION_SIZE}",
                "OFFSET(mem_section.section_mem_map)=0",
                f"NUMBER(SECTION_SIZE_BITS)={SECTION_SIZE_BITS}",
                f"NUMBER(MAX_PHYSMEM_BITS)={self.max_physmem_bits}"]

    def vmcoreinfo_arch(self) -> list[str]:
        """arch/powerpc/kexec/vmcore_info.c arch_crash_save_vmcoreinfo(): PPC64 && SPARSEMEM_VMEMMAP."""
        sym = self.k.symbols
        return [f"SYMBOL(vmemmap_list)={va(sym['vmemmap_list']):x}",
                f"SYMBOL(mmu_vmemmap_psize)={va(sym['mmu_vmemmap_psize']):x}",
                f"SYMBOL(mmu_psize_defs)={va(sym['mmu_psize_defs']):x}",
                f"SIZE(vmemmap_backing)={VMEMMAP_BACKING_SIZE}",
                "OFFSET(vmemmap_backing.list)=0", "OFFSET(vmemmap_backing.phys)=8",
                "OFFSET(vmemmap_backing.virt_addr)=16",
                f"SIZE(mmu_psize_def)={MMU_PSIZE_DEF_SIZE}", "OFFSET(mmu_psize_def.shift)=0"]

    def vmcoreinfo_values(self) -> dict[str, str]:
        """The memory model's VMCOREINFO values; kernels.vmcoreinfo places them in the release's key order.

        SYMBOL(mem_section) and SYMBOL(vmemmap) are VMCOREINFO_SYMBOL_ARRAY: the pointers' values, not the
        variables' addresses, so they override the plain symbol lines."""
        lines = [*self.vmcoreinfo_vmalloc(), *self.vmcoreinfo_sections(), *self.vmcoreinfo_arch()]
        return dict(line.split("=", 1) for line in lines)
