"""SPARSEMEM_VMEMMAP as a booted 6.10 kernel leaves it in RAM, read back the way a dump reader does.

The walker, the mem_section reader and the vmemmap_list reader here are written from the kernel headers,
not from kernels.sparsemem: the Linux 6.12 sources (Debian linux-source-6.12 6.12.117), the same as 6.10
for everything checked here:
- arch/powerpc/include/asm/book3s/64/radix-64k.h: PGD 13, PUD 9, PMD 9, PTE 5 index bits, 64 KiB pages.
- book3s/64/pgtable.h: _PAGE_PRESENT bit 63, _PAGE_PTE bit 62 (a leaf), {P4D,PUD,PMD}_MASKED_BITS
  0xc0000000000000ff, PTE_RPN_MASK ((1 << 53) - 1) & PAGE_MASK; entries are __be64.
- radix.h RADIX_*_VAL_BITS: a directory entry's low bits give the next table's index size.
- include/linux/mmzone.h struct mem_section {section_mem_map, usage} and the SECTION_* flag bits;
  mm/sparse.c sparse_encode_mem_map (the coded map of every VMEMMAP section is ``vmemmap``).
- book3s/64/pgalloc.h struct vmemmap_backing {list, phys, virt_addr}; book3s/64/mmu.h mmu_psize_def.shift.
"""

import gc

import pytest

from emulator.hw.layout import Range
from firmware.machine import Machine, MachineConfig
from emulator.units import GiB, MiB
from kernels import vmcoreinfo
from kernels.image import pa
from kernels.linux610 import Linux610

VMEMMAP = 0xC00C_0000_0000_0000
LEVELS = ((39, 13), (30, 9), (21, 9), (16, 5))
"""(shift, index bits) of PGD, PUD, PMD and PTE with 64 KiB radix pages."""
PRESENT, LEAF = 1 << 63, 1 << 62
DIRECTORY_MASK = 0xC0000000000000FF
RPN_MASK = ((1 << 53) - 1) & ~0xFFFF
STRUCT_PAGE = 56


class WalkError(Exception):
    """The tables are not in the format the kernel writes."""


def radix_walk(ram, pgd: int, vaddr: int) -> tuple[int, int] | None:
    """(physical address, level of the leaf: 2 = PMD, 3 = PTE) of ``vaddr``, or None when unmapped."""
    table = pgd
    for level, (shift, bits) in enumerate(LEVELS):
        entry = int.from_bytes(ram.read(table + 8 * ((vaddr >> shift) & ((1 << bits) - 1)), 8), "big")
        if not entry & PRESENT:
            return None
        if entry & LEAF:
            return (entry & RPN_MASK) + (vaddr & ((1 << shift) - 1)), level
        if level == len(LEVELS) - 1:
            raise WalkError(f"PTE {entry:#x} for {vaddr:#x} is not a leaf")
        if entry & 0x1F != LEVELS[level + 1][1]:
            raise WalkError(f"entry {entry:#x} at level {level} gives {entry & 0x1F} index bits for the next "
                            f"table, not {LEVELS[level + 1][1]}")
        table = entry & ~DIRECTORY_MASK
    raise AssertionError("unreachable")


def boot(memory=2 * GiB, mmu="radix", **config) -> Linux610:
    m = Machine(MachineConfig(memory=memory, cpus=2, mmu=mmu, **config))
    m.power_on("fadump=on")
    k = Linux610(m, "fadump=on", "6.10.0", m.boot_count, 0)
    m.env.process(k.boot_sequence())
    m.env.run()
    return k


def info(k) -> dict[str, str]:
    return vmcoreinfo.parse(k.vmcoreinfo_text)


def symbol(k, name: str) -> int:
    return int(info(k)[f"SYMBOL({name})"], 16)


def struct_page_fields(ram, paddr: int, order: str) -> dict[str, int]:
    """flags, _refcount and _mapcount/page_type of the struct page at ``paddr`` (6.10/6.12 offsets)."""
    raw = ram.read(paddr, STRUCT_PAGE)
    return {"flags": int.from_bytes(raw[0:8], order), "mapping": int.from_bytes(raw[24:32], order),
            "mapcount": int.from_bytes(raw[48:52], order, signed=True),
            "refcount": int.from_bytes(raw[52:56], order, signed=True)}


@pytest.fixture(scope="module")
def radix2g():
    return boot()


def test_every_struct_page_of_a_radix_partition_is_reached_through_swapper_pg_dir(radix2g):
    """The walk from SYMBOL(swapper_pg_dir) finds each pfn's struct page where the kernel wrote it."""
    k = radix2g
    pgd = pa(symbol(k, "swapper_pg_dir"))
    for pfn in (0, 1, 255, 256, 4096, k.memmap.max_pfn - 1):
        vaddr = VMEMMAP + pfn * STRUCT_PAGE
        found = radix_walk(k.ram, pgd, vaddr)
        assert found is not None, f"pfn {pfn:#x}"
        assert found[0] == k.memmap.vmemmap_phys(vaddr)
    image = struct_page_fields(k.ram, radix_walk(k.ram, pgd, VMEMMAP)[0], k.byteorder)
    assert image["flags"] == 1 << 13 and image["refcount"] == 1  # the image: PG_reserved (6.10 bit 13)


def test_a_2_gib_radix_partition_maps_its_memmap_with_one_2_mib_pmd_leaf(radix2g):
    """128 sections x 256 pages x 56 bytes = 1.75 MiB: one PMD leaf (radix__vmemmap_populate), no PTE table."""
    k = radix2g
    pgd = pa(symbol(k, "swapper_pg_dir"))
    assert radix_walk(k.ram, pgd, VMEMMAP)[1] == 2
    assert radix_walk(k.ram, pgd, VMEMMAP + (2 << 20) - 1)[1] == 2
    assert radix_walk(k.ram, pgd, VMEMMAP + (2 << 20)) is None
    assert [(m.vaddr, m.size) for m in k.memmap.mappings] == [(VMEMMAP, 2 << 20)]


def test_after_a_memory_hole_the_first_section_maps_its_memmap_with_64_kib_pages():
    """A PMD first touched at an unaligned address gets a PTE table (radix__vmemmap_populate base_mapping)."""
    k = boot(memory=4 * GiB, holes=[Range(0x6000_0000, 0xD000_0000)])  # sections 96..207 absent
    pgd = pa(symbol(k, "swapper_pg_dir"))
    first_after = VMEMMAP + 208 * 256 * STRUCT_PAGE  # 0x2d8000: inside the second PMD, not aligned
    phys, level = radix_walk(k.ram, pgd, first_after)
    assert level == 3 and phys == k.memmap.vmemmap_phys(first_after)
    assert radix_walk(k.ram, pgd, VMEMMAP + 96 * 256 * STRUCT_PAGE)[1] == 2  # the hole's start: first leaf
    free = struct_page_fields(k.ram, phys, k.byteorder)
    assert free["mapcount"] == ~0x80 and free["refcount"] == 0  # a free page: 6.10 PG_buddy page type


def test_the_walker_rejects_tables_the_kernel_would_not_write(radix2g):
    """Self-check: an entry with the wrong next-level size raises; a cleared PGD entry reads as unmapped."""
    k = radix2g
    pgd = pa(symbol(k, "swapper_pg_dir"))
    slot = pgd + 8 * ((VMEMMAP >> 39) & 0x1FFF)
    good = k.ram.read(slot, 8)
    try:
        entry = int.from_bytes(good, "big")
        k.ram.write(slot, ((entry & ~0x1F) | 5).to_bytes(8, "big"))
        with pytest.raises(WalkError, match="gives 5 index bits"):
            radix_walk(k.ram, pgd, VMEMMAP)
        k.ram.write(slot, bytes(8))
        assert radix_walk(k.ram, pgd, VMEMMAP) is None
    finally:
        k.ram.write(slot, good)
    assert radix_walk(k.ram, pgd, VMEMMAP) is not None


def test_mem_section_roots_lead_to_every_present_section_and_to_no_other():
    """SPARSEMEM_EXTREME: roots -> 4096 sections per root; present ones code ``vmemmap`` | PRESENT..EARLY."""
    k = boot(memory=4 * GiB, holes=[Range(0x6000_0000, 0xD000_0000)])
    keys = info(k)
    assert keys["LENGTH(mem_section)"] == "32768" and keys["SIZE(mem_section)"] == "16"
    roots = pa(symbol(k, "mem_section"))
    assert k.ram.read_u64(k.symbols["mem_section"], k.byteorder) == symbol(k, "mem_section")
    root0 = k.ram.read_u64(roots, k.byteorder)
    assert root0 and all(k.ram.read_u64(roots + 8 * r, k.byteorder) == 0 for r in (1, 2, 32767))
    maps = [k.ram.read_u64(pa(root0) + 16 * s, k.byteorder) for s in range(260)]
    present = [s for s, v in enumerate(maps) if v]
    assert present == list(range(96)) + list(range(208, 256))
    assert {maps[s] for s in present} == {VMEMMAP | 0xF}  # MARKED_PRESENT | HAS_MEM_MAP | IS_ONLINE | IS_EARLY


def test_radix_leaves_vmemmap_list_empty_and_says_its_vmemmap_pages_are_2_mib(radix2g):
    """Since 6.6 radix does not fill vmemmap_list; mmu_vmemmap_psize is MMU_PAGE_2M (7), shift 21."""
    k = radix2g
    assert k.ram.read_u64(pa(symbol(k, "vmemmap_list")), k.byteorder) == 0
    psize = k.ram.read_u32(pa(symbol(k, "mmu_vmemmap_psize")), k.byteorder)
    assert psize == 7
    assert k.ram.read_u32(pa(symbol(k, "mmu_psize_defs")) + 96 * psize, k.byteorder) == 21


@pytest.mark.parametrize("memory, block, psize", [(2 * GiB, 16 * MiB, 10), (512 * MiB, 64 << 10, 2)],
                         ids=["16M-pages", "64K-pages"])
def test_hash_lists_each_vmemmap_block_in_vmemmap_list_newest_first(memory, block, psize):
    """Hash: one vmemmap_backing per block, pushed on the front; 16 MiB blocks from 1 GiB of RAM up."""
    k = boot(memory=memory, mmu="hash")
    order = k.byteorder
    assert k.ram.read_u32(pa(symbol(k, "mmu_vmemmap_psize")), order) == psize
    shift = k.ram.read_u32(pa(symbol(k, "mmu_psize_defs")) + 96 * psize, order)
    assert 1 << shift == block
    entries, at = [], k.ram.read_u64(pa(symbol(k, "vmemmap_list")), order)
    while at:
        nxt, phys, virt = (k.ram.read_u64(pa(at) + off, order) for off in (0, 8, 16))
        entries.append((virt, phys))
        at = nxt
    memmap_bytes = memory // (64 << 10) * STRUCT_PAGE
    assert [v for v, _ in entries] == [VMEMMAP + i * block for i in reversed(range(-(-memmap_bytes // block)))]
    for virt, phys in entries:
        assert phys % block == 0 and k.memmap.vmemmap_phys(virt) == phys
    biggest = max(k.memblock.free(), key=lambda r: r.size)
    pfn = (biggest.start + biggest.size // 2) // (64 << 10)
    virt, phys = next((v, p) for v, p in entries if v <= VMEMMAP + pfn * STRUCT_PAGE)
    page = struct_page_fields(k.ram, phys + VMEMMAP + pfn * STRUCT_PAGE - virt, order)
    assert page["mapcount"] == ~0x80  # a page in the middle of free memory is a free (buddy) page


def test_the_memory_model_publishes_its_vmcoreinfo_keys_as_6_10_does(radix2g):
    """kernel/vmcore_info.c and arch/powerpc/kexec/vmcore_info.c (6.10): the memory-model keys and values."""
    keys = info(radix2g)
    expected = {
        "NUMBER(VMALLOC_START)": "0xc008000000000000", "SYMBOL(vmemmap)": "c00c000000000000",
        "LENGTH(mem_section)": "32768", "SIZE(mem_section)": "16", "OFFSET(mem_section.section_mem_map)": "0",
        "NUMBER(SECTION_SIZE_BITS)": "24", "NUMBER(MAX_PHYSMEM_BITS)": "51", "SIZE(page)": "56",
        "OFFSET(page.flags)": "0", "OFFSET(page._refcount)": "52", "OFFSET(page.mapping)": "24",
        "OFFSET(page.lru)": "8", "OFFSET(page._mapcount)": "48", "OFFSET(page.private)": "40",
        "OFFSET(page.compound_head)": "8", "NUMBER(PG_lru)": "5", "NUMBER(PG_private)": "14",
        "NUMBER(PG_swapcache)": "11", "NUMBER(PG_swapbacked)": "18", "NUMBER(PG_head_mask)": "64",
        "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)": "-129", "NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)": "-4097",
        "NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)": "-2049", "NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)": "-257",
        "SIZE(vmemmap_backing)": "24", "OFFSET(vmemmap_backing.list)": "0", "OFFSET(vmemmap_backing.phys)": "8",
        "OFFSET(vmemmap_backing.virt_addr)": "16", "SIZE(mmu_psize_def)": "96", "OFFSET(mmu_psize_def.shift)": "0",
    }
    assert {key: keys.get(key) for key in expected} == expected
    for name in ("mem_map", "mem_section", "vmemmap_list", "mmu_vmemmap_psize", "mmu_psize_defs"):
        assert f"SYMBOL({name})" in keys
    assert "NUMBER(PG_slab)" not in keys and "SYMBOL(vmap_area_list)" not in keys
    assert k_mem_map_is_null(radix2g)


def k_mem_map_is_null(k) -> bool:
    """!CONFIG_NUMA keeps the mem_map variable (SYMBOL(mem_map)); under SPARSEMEM it stays NULL."""
    return k.ram.read_u64(pa(symbol(k, "mem_map")), k.byteorder) == 0


def test_a_64_tib_partition_maps_its_memmap_with_2_mib_leaves_without_touching_it():
    """28672 PMD leaves and 4 Mi sections are written; the 56 GiB of struct pages are not touched."""
    k = boot(memory=64 << 40)
    try:
        assert len(k.memmap.mappings) == (64 << 40) // (64 << 10) * STRUCT_PAGE // (2 << 20)
        assert all(m.size == 2 << 20 for m in k.memmap.mappings)
        pgd = pa(symbol(k, "swapper_pg_dir"))
        last = VMEMMAP + ((64 << 40) // (64 << 10) - 1) * STRUCT_PAGE
        assert radix_walk(k.ram, pgd, last)[0] == k.memmap.vmemmap_phys(last)
        assert k.ram.touched_bytes() < 256 << 20
    finally:
        del k  # the kernel and its machine refer to each other: free the 64 TiB mapping for the next test
        gc.collect()


def section_map(k, section: int) -> int:
    """mem_section[section].section_mem_map, through the roots (SPARSEMEM_EXTREME)."""
    root = k.ram.read_u64(pa(symbol(k, "mem_section")) + 8 * (section // 4096), k.byteorder)
    return k.ram.read_u64(pa(root) + 16 * (section % 4096), k.byteorder) if root else 0


def test_hot_added_memory_gets_sections_and_free_struct_pages_reachable_through_the_tables():
    """DLPAR add: sparse_add_section marks the sections present and online (not early), vmemmap_populate maps
    their memmap (here in the boot-time PMD leaf at 4 GiB, with new 64 KiB pages past it at 6 GiB)."""
    k = boot(memory=4 * GiB, max_memory=8 * GiB)
    pgd = pa(symbol(k, "swapper_pg_dir"))
    for addr, level in ((4 * GiB, 2), (6 * GiB, 3)):
        assert section_map(k, addr >> 24) == 0
        assert k.dlpar_memory_add(addr)
        assert section_map(k, addr >> 24) == VMEMMAP | 0x7  # PRESENT | HAS_MEM_MAP | IS_ONLINE
        vaddr = VMEMMAP + (addr + 5 * MiB) // (64 << 10) * STRUCT_PAGE
        phys, found_level = radix_walk(k.ram, pgd, vaddr)
        assert found_level == level and phys == k.memmap.vmemmap_phys(vaddr)
        assert struct_page_fields(k.ram, phys, k.byteorder)["mapcount"] == ~0x80  # onlined: free


def test_hot_removed_memory_leaves_its_sections_empty():
    """DLPAR remove: section_deactivate() clears section_mem_map; the other sections keep theirs."""
    k = boot(memory=4 * GiB)
    assert k.dlpar_memory_remove(3 * GiB)
    assert [section_map(k, s) for s in (191, 192, 207, 208)] == [VMEMMAP | 0xF, 0, 0, VMEMMAP | 0xF]


def test_hash_hot_add_pushes_the_new_vmemmap_blocks_on_the_front_of_vmemmap_list():
    """With 64 KiB vmemmap blocks (RAM < 1 GiB at boot) the added LMB's memmap needs new blocks: listed first."""
    k = boot(memory=512 * MiB, max_memory=1 * GiB, mmu="hash")
    head_slot = pa(symbol(k, "vmemmap_list"))
    before = k.ram.read_u64(head_slot, k.byteorder)
    assert k.dlpar_memory_add(512 * MiB)
    head = k.ram.read_u64(head_slot, k.byteorder)
    assert head != before
    virt = k.ram.read_u64(pa(head) + 16, k.byteorder)
    assert virt == (VMEMMAP + (768 * MiB // (64 << 10)) * STRUCT_PAGE - 1) & ~0xFFFF  # the LMB (256 MiB) ends at 768 MiB
    assert k.memmap.vmemmap_phys(virt) == k.ram.read_u64(pa(head) + 8, k.byteorder)


def test_writing_all_tables_at_once_gives_the_bytes_and_written_blocks_of_one_mapping_at_a_time():
    """kernels.radix_pgtable.RadixTables.write_all (one RAM write per table) against write() per mapping: 2 MiB
    leaves and 64 KiB pages under several PUDs and PMDs, tables placed over old bytes (zeroed on first use),
    and a second batch that adds entries to tables written before (memory hot-add)."""
    from emulator.hw.ram import PartitionRAM
    from kernels import radix_pgtable as rpt

    def mappings(first_pmd: int, leaves: int, pages: int) -> list:
        out = [rpt.Mapping(VMEMMAP + (first_pmd + i) * rpt.PMD_SIZE, rpt.PMD_SIZE, (64 + 2 * i) << 20)
               for i in range(leaves)]
        base = VMEMMAP + (first_pmd + leaves) * rpt.PMD_SIZE
        return out + [rpt.Mapping(base + j * 3 * (64 << 10), 64 << 10, (512 << 20) + (j << 16)) for j in range(pages)]

    batches = [mappings(0, 5, 7) + mappings(1 << 9, 2, 3), mappings(5, 1, 4) + mappings(3 << 18, 1, 2),
               mappings(7 << 18, 0, 3)]
    rams = []
    for at_once in (False, True):
        ram = PartitionRAM(1 << 30)
        ram.fill(16 << 20, 8 << 20, 0x5A)  # old bytes where the tables will go
        tables = rpt.RadixTables(ram, 0x10000)
        tables.clear_pgd()
        top = [24 << 20]

        def alloc(size, align):
            top[0] -= size
            return top[0]

        for batch in batches:
            tables.plan(batch, alloc)
            if at_once:
                tables.write_all(batch)
            else:
                for m in batch:
                    tables.write(m)
        rams.append(ram)
    slow, fast = rams
    assert fast.touched_runs(0, 1 << 30) == slow.touched_runs(0, 1 << 30)
    assert fast.read(0, 32 << 20) == slow.read(0, 32 << 20)
