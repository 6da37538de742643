"""What each modelled kernel release is, as data: one table per version, later ones as deltas.

A profile named after a release promises that release's behaviour, so every number, message
shape and rule that differs between releases lives here, with where it was read. Diff two
versions by reading two entries (or ``diff(LINUX_6_10, LINUX_6_12)``).

Sources (each read for this table; paths inside the tree of that version):
- 3.4:  Linux 3.4.4 (prtos-project/prtos-linux-3.4.4).
- 6.1:  Debian linux-source-6.1 6.1.192-3 (Debian 12's kernel), and the real 6.1.192 runs of tests/reference/linux-6.1.
- 6.10: Linux 6.10.0 (msgeden/cryptocap-arm64-linux-6.10, Makefile 6.10.0).
- 6.12: Debian linux-source-6.12 6.12.117-1~deb12u1, and the real-kernel measurements at the top of
        ../shared/reference/fadump-abi.md (a 6.12.117 kernel crashed under QEMU's pseries fadump).
- 7.2:  Debian sid linux-source-7.2 7.2.13-1 (the current upstream release Debian carries).
"""

from dataclasses import dataclass, field, fields, replace

# --- struct page and the numbers dump filters read ---


@dataclass(frozen=True)
class PageTable:
    """struct page of one release on ppc64 (offsets in bytes) and the page flags and types it publishes."""

    size: int
    offsets: dict[str, int]
    """flags, mapping, index, private, _mapcount (page_type shares it), refcount, lru."""
    refcount_name: str
    """``_count`` until 4.6, then ``_refcount``."""
    flags: dict[str, int]
    """enum pageflags numbers the emulator uses (lru, private, swapcache, reserved, ...)."""
    buddy: int
    """The _mapcount/page_type value of a free (buddy) page, as a signed 32-bit number."""
    slab_type: int | None
    """The page_type of a slab page, or None where slab is the PG_slab flag (3.4)."""
    page_types: dict[str, int] = field(default_factory=dict)
    """The *_MAPCOUNT_VALUE numbers VMCOREINFO publishes (empty where it publishes none)."""
    head_mask: int | None = None


def _s32(value: int) -> int:
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value & 0x8000_0000 else value


PAGE_3_4 = PageTable(
    # include/linux/mm_types.h (3.4) struct page, 64-bit: flags; mapping; {index|freelist};
    # {counters | {_mapcount, _count}}; {lru | {next, pages, pobjects}}; {private|ptl|slab|first_page}.
    # No WANT_PAGE_VIRTUAL, no HAVE_ALIGNED_STRUCT_PAGE on ppc64: 7 longs = 56 bytes.
    size=56,
    offsets={"flags": 0, "mapping": 8, "index": 16, "_mapcount": 24, "refcount": 28, "lru": 32, "private": 48},
    refcount_name="_count",
    # include/linux/page-flags.h (3.4) enum pageflags with CONFIG_PAGEFLAGS_EXTENDED (64-bit):
    # locked 0 .. lru 5, active 6, slab 7, owner_priv_1 8, arch_1 9, reserved 10, private 11,
    # private_2 12, writeback 13, head 14, tail 15, swapcache 16, mappedtodisk 17, reclaim 18, swapbacked 19.
    flags={"lru": 5, "slab": 7, "reserved": 10, "private": 11, "swapcache": 16, "swapbacked": 19, "head": 14},
    # include/linux/mm.h (3.4): #define PAGE_BUDDY_MAPCOUNT_VALUE (-128), not published in VMCOREINFO.
    buddy=-128,
    slab_type=None,
)

PAGE_6_1 = PageTable(
    # include/linux/mm_types.h (6.1) struct page: flags; {lru | compound_head, compound_dtor (u8), compound_order
    # (u8)}; mapping; index; private; {_mapcount|page_type}; _refcount; no memcg_data without CONFIG_MEMCG.
    # Measured on the real 6.1.192 (tests/reference/linux-6.1/*/vmcore-head.bin): SIZE(page)=56, page.lru 8,
    # page.mapping 24, page.private 40, page._mapcount 48, page._refcount 52, compound_dtor 16, compound_order 17.
    size=56,
    offsets={"flags": 0, "lru": 8, "mapping": 24, "index": 32, "private": 40, "_mapcount": 48, "refcount": 52,
             "compound_dtor": 16, "compound_order": 17},
    refcount_name="_refcount",
    # include/linux/page-flags.h (6.1) enum pageflags: locked 0, referenced 1, uptodate 2, dirty 3, lru 4, active 5,
    # workingset 6, waiters 7, error 8, slab 9, owner_priv_1 10 (= swapcache), arch_1 11, reserved 12, private 13,
    # private_2 14, writeback 15, head 16, mappedtodisk 17, reclaim 18, swapbacked 19. Measured: PG_lru 4,
    # PG_private 13, PG_swapcache 10, PG_swapbacked 19, PG_slab 9, PG_head_mask 65536.
    flags={"lru": 4, "uptodate": 2, "slab": 9, "swapcache": 10, "reserved": 12, "private": 13, "head": 16,
           "swapbacked": 19},
    # page-flags.h (6.1): PG_buddy 0x00000080 below PAGE_TYPE_BASE; crash_core.c (6.1) publishes (~PG_buddy).
    # Measured: PAGE_BUDDY_MAPCOUNT_VALUE=-129. Slab is still the PG_slab flag, as in 3.4.
    buddy=_s32(~0x80),
    slab_type=None,
    page_types={"PAGE_BUDDY_MAPCOUNT_VALUE": _s32(~0x80)},
    head_mask=1 << 16,  # page-flags.h (6.1): #define PG_head_mask ((1UL << PG_head))
)

PAGE_6_10 = PageTable(
    # include/linux/mm_types.h (6.10) struct page: flags; {lru; mapping; index; private}; {_mapcount|page_type};
    # _refcount; then memcg_data only with CONFIG_MEMCG. The profiles model the reference build that the real
    # kernel was measured on (allnoconfig + the fadump fragment, tests/reference), which leaves CONFIG_MEMCG out:
    # 7 longs = 56 bytes, as the real 6.12.117 published (SIZE(page)=56). ppc64_defconfig would add memcg_data (64).
    size=56,
    offsets={"flags": 0, "lru": 8, "mapping": 24, "index": 32, "private": 40, "_mapcount": 48, "refcount": 52},
    refcount_name="_refcount",
    # include/linux/page-flags.h (6.10) enum pageflags: locked 0, writeback 1, referenced 2, uptodate 3, dirty 4,
    # lru 5, head 6, waiters 7, active 8, workingset 9, error 10, owner_priv_1 11 (= swapcache), arch_1 12,
    # reserved 13, private 14, private_2 15, mappedtodisk 16, reclaim 17, swapbacked 18.
    flags={"lru": 5, "head": 6, "swapcache": 11, "reserved": 13, "private": 14, "swapbacked": 18},
    # page-flags.h (6.10) enum pagetype: PG_buddy 0x80, PG_offline 0x100, PG_hugetlb 0x800, PG_slab 0x1000;
    # a typed page holds ~flag (PAGE_TYPE_BASE 0xf0000000 kept); vmcore_info.c publishes ~PG_x.
    buddy=_s32(~0x80),
    slab_type=_s32(~0x1000),
    page_types={"PAGE_SLAB_MAPCOUNT_VALUE": _s32(~0x1000), "PAGE_BUDDY_MAPCOUNT_VALUE": _s32(~0x80),
                "PAGE_HUGETLB_MAPCOUNT_VALUE": _s32(~0x800), "PAGE_OFFLINE_MAPCOUNT_VALUE": _s32(~0x100)},
    head_mask=1 << 6,  # page-flags.h (6.10): #define PG_head_mask ((1UL << PG_head))
)

PAGE_6_12 = replace(
    PAGE_6_10,
    # page-flags.h (6.12): PG_error removed and PG_owner_2 added after owner_priv_1: owner_priv_1 10
    # (= swapcache), owner_2 11, arch_1 12, reserved 13, private 14, private_2 15, reclaim 16, swapbacked 17.
    # Measured on the real 6.12.117: PG_lru 5, PG_private 14, PG_swapcache 10, PG_swapbacked 17, PG_head_mask 64.
    flags={"lru": 5, "head": 6, "swapcache": 10, "reserved": 13, "private": 14, "swapbacked": 17},
    # page-flags.h (6.12) enum pagetype: PGTY_buddy 0xf0, offline 0xf1, hugetlb 0xf4, slab 0xf5, stored as
    # PGTY_x << 24; vmcore_info.c (6.12) publishes (PGTY_x << 24). Measured: PAGE_BUDDY_MAPCOUNT_VALUE=-268435456.
    buddy=_s32(0xF0 << 24),
    slab_type=_s32(0xF5 << 24),
    page_types={"PAGE_SLAB_MAPCOUNT_VALUE": _s32(0xF5 << 24), "PAGE_BUDDY_MAPCOUNT_VALUE": _s32(0xF0 << 24),
                "PAGE_HUGETLB_MAPCOUNT_VALUE": _s32(0xF4 << 24), "PAGE_OFFLINE_MAPCOUNT_VALUE": _s32(0xF1 << 24)},
)

PAGE_7_2 = replace(
    PAGE_6_12,
    # page-flags.h (7.2): PG_dropbehind added after PG_unevictable; the numbers up to swapbacked are 6.12's.
    # vmcore_info.c (7.2) adds PAGE_UNACCEPTED_MAPCOUNT_VALUE only with CONFIG_UNACCEPTED_MEMORY (not on ppc64).
)


# --- the memory-node objects VMCOREINFO describes: contig_page_data, its zones, their free lists ---


@dataclass(frozen=True)
class PgdatLayout:
    """struct pglist_data / zone / free_area of one build (include/linux/mmzone.h), !CONFIG_NUMA, as VMCOREINFO
    publishes them (kernel/vmcore_info.c crash_save_vmcoreinfo_init(): VMCOREINFO_SIZE/OFFSET/LENGTH)."""

    pglist_data_size: int
    node_zones: int
    nr_zones: int
    node_start_pfn: int
    node_present_pages: int
    node_spanned_pages: int
    node_id: int
    zone_size: int
    zone_spanned_pages: int
    zone_free_area: int
    zone_vm_stat: int
    free_area_size: int
    nr_page_orders: int
    """LENGTH(zone.free_area): NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1."""
    migrate_types: int
    """LENGTH(free_area.free_list): MIGRATE_TYPES."""
    max_nr_zones: int
    nr_node_states: int
    """enum node_states' NR_NODE_STATES (include/linux/nodemask.h): the length of node_states[]."""
    n_online: int = 1
    """N_ONLINE: node_online_map is #defined as node_states[N_ONLINE] (nodemask.h)."""
    nr_free_pages: int = 0
    """enum zone_stat_item NR_FREE_PAGES, the first item (mmzone.h)."""


PGDAT_6_12 = PgdatLayout(
    # Measured on the real 6.12.117 (tests/reference/linux-6.12/*/vmcore-head.bin, reference .config:
    # !NUMA, CMA + MEMORY_ISOLATION, no ZONE_DMA, ARCH_FORCE_MAX_ORDER=8): SIZE(pglist_data)=4096, node_zones 0,
    # nr_zones 3120, node_start_pfn 3128, node_spanned_pages 3144, node_id 3152; SIZE(zone)=1536, zone.spanned_pages
    # 128, zone.free_area 256, zone.vm_stat 1408; SIZE(free_area)=104; LENGTH(zone.free_area)=9,
    # LENGTH(free_area.free_list)=6. mmzone.h (6.12) struct pglist_data: node_zones[MAX_NR_ZONES], then
    # node_zonelists[MAX_ZONELISTS] (1 zonelist of MAX_ZONES_PER_ZONELIST + 1 = 3 zonerefs of 16 bytes: 3072 + 48
    # = 3120, so MAX_NR_ZONES = 2: ZONE_NORMAL and ZONE_MOVABLE), int nr_zones, node_start_pfn,
    # node_present_pages (3136), node_spanned_pages, node_id. enum migratetype: UNMOVABLE, MOVABLE, RECLAIMABLE,
    # HIGHATOMIC, CMA, ISOLATE = 6; struct free_area: free_list[6] (96 bytes), nr_free (8) = 104.
    pglist_data_size=4096, node_zones=0, nr_zones=3120, node_start_pfn=3128, node_present_pages=3136,
    node_spanned_pages=3144, node_id=3152, zone_size=1536, zone_spanned_pages=128, zone_free_area=256,
    zone_vm_stat=1408, free_area_size=104, nr_page_orders=9, migrate_types=6, max_nr_zones=2,
    # nodemask.h (6.12) enum node_states: POSSIBLE, ONLINE, NORMAL_MEMORY (= HIGH_MEMORY without HIGHMEM),
    # MEMORY, CPU, GENERIC_INITIATOR: NR_NODE_STATES = 6.
    nr_node_states=6,
)


PGDAT_6_1 = replace(
    PGDAT_6_12,
    # Measured on the real 6.1.192 (tests/reference/linux-6.1, the same reference fragment: !NUMA, CMA,
    # ARCH_FORCE_MAX_ORDER=9): pglist_data, free_area and the node offsets are 6.12's; struct zone is 1536 bytes too
    # but OFFSET(zone.spanned_pages)=112 (6.12: 128); LENGTH(zone.free_area)=MAX_ORDER=9 (mmzone.h (6.1):
    # free_area[MAX_ORDER], CONFIG_ARCH_FORCE_MAX_ORDER=9), LENGTH(free_area.free_list)=6.
    zone_spanned_pages=112,
)


@dataclass(frozen=True)
class CpuSpecLayout:
    """struct cpu_spec (arch/powerpc/include/asm/cputable.h) and the table entry the kernel copies into
    the_cpu_spec for the emulated CPU (identify_cpu(), arch/powerpc/kernel/cputable.c)."""

    cpu_features: int
    """offsetof(cpu_spec, cpu_features): pvr_mask u32, pvr_value u32, char *cpu_name, then this unsigned long."""
    mmu_features: int
    """offsetof(cpu_spec, mmu_features): after cpu_user_features and cpu_user_features2 (u32 each)."""
    size: int
    """How much of struct cpu_spec the emulated image writes (through platform, the last field modelled)."""


CPU_SPEC_6_12 = CpuSpecLayout(
    # cputable.h (6.12) struct cpu_spec: pvr_mask 0, pvr_value 4, cpu_name 8, cpu_features 16, cpu_user_features
    # 24, cpu_user_features2 28, mmu_features 32, icache_bsize 36, dcache_bsize 40, cpu_down_flush 48, num_pmcs 56,
    # pmc_type 60, cpu_setup 64, cpu_restore 72, platform 80. Measured on the real 6.12.117:
    # OFFSET(cpu_spec.cpu_features)=16, OFFSET(cpu_spec.mmu_features)=32.
    cpu_features=16, mmu_features=32, size=88,
)


# --- VMCOREINFO: the keys each release writes, in the order it writes them ---

KEYS_3_4 = (
    # kernel/kexec.c (3.4) crash_save_vmcoreinfo_init(), then arch_crash_save_vmcoreinfo()
    # (arch/powerpc/kernel/machine_kexec.c) and log_buf_kexec_setup() (kernel/printk.c).
    "OSRELEASE", "PAGESIZE", "SYMBOL(init_uts_ns)", "SYMBOL(node_online_map)", "SYMBOL(swapper_pg_dir)",
    "SYMBOL(_stext)", "SYMBOL(vmlist)",
    "SYMBOL(mem_map)", "SYMBOL(contig_page_data)",  # #ifndef CONFIG_NEED_MULTIPLE_NODES
    "SYMBOL(mem_section)", "LENGTH(mem_section)", "SIZE(mem_section)",  # #ifdef CONFIG_SPARSEMEM
    "OFFSET(mem_section.section_mem_map)",
    "SIZE(page)", "SIZE(pglist_data)", "SIZE(zone)", "SIZE(free_area)", "SIZE(list_head)", "SIZE(nodemask_t)",
    "OFFSET(page.flags)", "OFFSET(page._count)", "OFFSET(page.mapping)", "OFFSET(page.lru)",
    "OFFSET(pglist_data.node_zones)", "OFFSET(pglist_data.nr_zones)", "OFFSET(pglist_data.node_mem_map)",
    "OFFSET(pglist_data.node_start_pfn)", "OFFSET(pglist_data.node_spanned_pages)", "OFFSET(pglist_data.node_id)",
    "OFFSET(zone.free_area)", "OFFSET(zone.vm_stat)", "OFFSET(zone.spanned_pages)", "OFFSET(free_area.free_list)",
    "OFFSET(list_head.next)", "OFFSET(list_head.prev)", "OFFSET(vm_struct.addr)", "LENGTH(zone.free_area)",
    "SYMBOL(log_buf)", "SYMBOL(log_end)", "SYMBOL(log_buf_len)", "SYMBOL(logged_chars)",
    "LENGTH(free_area.free_list)", "NUMBER(NR_FREE_PAGES)",
    "NUMBER(PG_lru)", "NUMBER(PG_private)", "NUMBER(PG_swapcache)",
    "SYMBOL(node_data)", "LENGTH(node_data)",  # arch_crash_save_vmcoreinfo, CONFIG_NEED_MULTIPLE_NODES
)

KEYS_6_1 = (
    # kernel/crash_core.c (6.1) crash_save_vmcoreinfo_init(), log_buf_vmcoreinfo_setup() (kernel/printk/printk.c)
    # and arch_crash_save_vmcoreinfo() (arch/powerpc/kexec/core.c). The real 6.1.192 note has these lines.
    "OSRELEASE", "BUILD-ID", "PAGESIZE", "SYMBOL(init_uts_ns)", "OFFSET(uts_namespace.name)",
    "SYMBOL(node_online_map)", "SYMBOL(swapper_pg_dir)", "SYMBOL(_stext)",
    "SYMBOL(vmap_area_list)",  # what NUMBER(VMALLOC_START) replaced in 6.9
    "SYMBOL(mem_map)", "SYMBOL(contig_page_data)",  # #ifndef CONFIG_NUMA
    "SYMBOL(mem_section)", "LENGTH(mem_section)", "SIZE(mem_section)", "OFFSET(mem_section.section_mem_map)",
    "NUMBER(SECTION_SIZE_BITS)", "NUMBER(MAX_PHYSMEM_BITS)",  # CONFIG_SPARSEMEM (no SYMBOL(vmemmap) yet)
    "SIZE(page)", "SIZE(pglist_data)", "SIZE(zone)", "SIZE(free_area)", "SIZE(list_head)", "SIZE(nodemask_t)",
    "OFFSET(page.flags)", "OFFSET(page._refcount)", "OFFSET(page.mapping)", "OFFSET(page.lru)",
    "OFFSET(page._mapcount)", "OFFSET(page.private)", "OFFSET(page.compound_dtor)", "OFFSET(page.compound_order)",
    "OFFSET(page.compound_head)",
    "OFFSET(pglist_data.node_zones)", "OFFSET(pglist_data.nr_zones)", "OFFSET(pglist_data.node_mem_map)",
    "OFFSET(pglist_data.node_start_pfn)", "OFFSET(pglist_data.node_spanned_pages)", "OFFSET(pglist_data.node_id)",
    "OFFSET(zone.free_area)", "OFFSET(zone.vm_stat)", "OFFSET(zone.spanned_pages)", "OFFSET(free_area.free_list)",
    "OFFSET(list_head.next)", "OFFSET(list_head.prev)", "OFFSET(vmap_area.va_start)", "OFFSET(vmap_area.list)",
    "LENGTH(zone.free_area)",
    "<printk>",
    "LENGTH(free_area.free_list)", "NUMBER(NR_FREE_PAGES)",
    "NUMBER(PG_lru)", "NUMBER(PG_private)", "NUMBER(PG_swapcache)", "NUMBER(PG_swapbacked)", "NUMBER(PG_slab)",
    "NUMBER(PG_hwpoison)",  # CONFIG_MEMORY_FAILURE
    "NUMBER(PG_head_mask)", "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)",
    "NUMBER(HUGETLB_PAGE_DTOR)", "NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)",  # CONFIG_HUGETLB_PAGE
    "SYMBOL(kallsyms_names)", "SYMBOL(kallsyms_num_syms)", "SYMBOL(kallsyms_token_table)",
    "SYMBOL(kallsyms_token_index)", "SYMBOL(kallsyms_offsets)", "SYMBOL(kallsyms_relative_base)",
    "SYMBOL(node_data)", "LENGTH(node_data)",  # CONFIG_NUMA
    "SYMBOL(contig_page_data)",  # arch_crash_save_vmcoreinfo(), #ifndef CONFIG_NUMA: a second time
    "SYMBOL(vmemmap_list)", "SYMBOL(mmu_vmemmap_psize)", "SYMBOL(mmu_psize_defs)", "SIZE(vmemmap_backing)",
    "OFFSET(vmemmap_backing.list)", "OFFSET(vmemmap_backing.phys)", "OFFSET(vmemmap_backing.virt_addr)",
    "SIZE(mmu_psize_def)", "OFFSET(mmu_psize_def.shift)",
    "KERNELOFFSET",  # no cur_cpu_spec, cpu_spec offsets or RADIX_MMU yet (arch/powerpc/kexec/core.c, 6.1)
)

KEYS_6_10 = (
    # kernel/vmcore_info.c (6.10) crash_save_vmcoreinfo_init(), log_buf_vmcoreinfo_setup()
    # (kernel/printk/printk.c) and arch_crash_save_vmcoreinfo() (arch/powerpc/kexec/vmcore_info.c).
    "OSRELEASE", "BUILD-ID", "PAGESIZE", "SYMBOL(init_uts_ns)", "OFFSET(uts_namespace.name)",
    "SYMBOL(node_online_map)", "SYMBOL(swapper_pg_dir)", "SYMBOL(_stext)", "NUMBER(VMALLOC_START)",
    "SYMBOL(mem_map)", "SYMBOL(contig_page_data)",  # #ifndef CONFIG_NUMA
    "SYMBOL(vmemmap)",  # CONFIG_SPARSEMEM_VMEMMAP
    "SYMBOL(mem_section)", "LENGTH(mem_section)", "SIZE(mem_section)", "OFFSET(mem_section.section_mem_map)",
    "NUMBER(SECTION_SIZE_BITS)", "NUMBER(MAX_PHYSMEM_BITS)",  # CONFIG_SPARSEMEM
    "SIZE(page)", "SIZE(pglist_data)", "SIZE(zone)", "SIZE(free_area)", "SIZE(list_head)", "SIZE(nodemask_t)",
    "OFFSET(page.flags)", "OFFSET(page._refcount)", "OFFSET(page.mapping)", "OFFSET(page.lru)",
    "OFFSET(page._mapcount)", "OFFSET(page.private)", "OFFSET(page.compound_head)",
    "OFFSET(pglist_data.node_zones)", "OFFSET(pglist_data.nr_zones)", "OFFSET(pglist_data.node_mem_map)",
    "OFFSET(pglist_data.node_start_pfn)", "OFFSET(pglist_data.node_spanned_pages)", "OFFSET(pglist_data.node_id)",
    "OFFSET(zone.free_area)", "OFFSET(zone.vm_stat)", "OFFSET(zone.spanned_pages)", "OFFSET(free_area.free_list)",
    "OFFSET(list_head.next)", "OFFSET(list_head.prev)", "LENGTH(zone.free_area)",
    "<printk>",  # log_buf_vmcoreinfo_setup(): prb, printk_rb_static, clear_seq and the ring's sizes and offsets
    "LENGTH(free_area.free_list)", "NUMBER(NR_FREE_PAGES)",
    "NUMBER(PG_lru)", "NUMBER(PG_private)", "NUMBER(PG_swapcache)", "NUMBER(PG_swapbacked)",
    "NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)", "NUMBER(PG_hwpoison)", "NUMBER(PG_head_mask)",
    "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", "NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)", "NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)",
    "SYMBOL(kallsyms_names)", "SYMBOL(kallsyms_num_syms)", "SYMBOL(kallsyms_token_table)",
    "SYMBOL(kallsyms_token_index)", "SYMBOL(kallsyms_offsets)", "SYMBOL(kallsyms_relative_base)",
    "SYMBOL(node_data)", "LENGTH(node_data)",  # CONFIG_NUMA
    "SYMBOL(vmemmap_list)", "SYMBOL(mmu_vmemmap_psize)", "SYMBOL(mmu_psize_defs)", "SIZE(vmemmap_backing)",
    "OFFSET(vmemmap_backing.list)", "OFFSET(vmemmap_backing.phys)", "OFFSET(vmemmap_backing.virt_addr)",
    "SIZE(mmu_psize_def)", "OFFSET(mmu_psize_def.shift)",
    "SYMBOL(cur_cpu_spec)", "OFFSET(cpu_spec.cpu_features)", "OFFSET(cpu_spec.mmu_features)",
    "NUMBER(RADIX_MMU)", "KERNELOFFSET",
)

KEYS_6_12 = tuple(key for k in KEYS_6_10
                  for key in ((k, "SYMBOL(contig_page_data)") if k == "LENGTH(node_data)" else (k,)))
"""kernel/vmcore_info.c (6.12): 6.10's keys (the KALLSYMS_BASE_RELATIVE #ifdef is gone, kallsyms_offsets and
kallsyms_relative_base stay unconditionally); only the page_type values change (PAGE_6_12). arch/powerpc/kexec/
vmcore_info.c (6.12) arch_crash_save_vmcoreinfo() writes SYMBOL(contig_page_data) a second time (#ifndef
CONFIG_NUMA, after node_data's #ifdef): the real 6.12.117's note has the line twice."""

KEYS_7_2 = tuple("OFFSET(page.compound_info)" if k == "OFFSET(page.compound_head)" else k
                 for k in KEYS_6_12 if k != "SYMBOL(kallsyms_relative_base)")
"""kernel/vmcore_info.c (7.2): compound_head became compound_info; kallsyms_relative_base is gone.
arch/powerpc/kexec/vmcore_info.c (7.2) still writes SYMBOL(contig_page_data) a second time on a non-NUMA kernel
(measured: the real 7.2.13 note has the line twice, 114 lines for 113 keys)."""

KALLSYMS_6_12 = ("kallsyms_num_syms", "kallsyms_names", "kallsyms_markers", "kallsyms_token_table",
                 "kallsyms_token_index", "kallsyms_offsets", "kallsyms_relative_base", "kallsyms_seqs_of_names")
"""scripts/kallsyms.c (6.12) write_src(): the tables' order in .rodata (measured on the real 6.12.117:
SYMBOL(kallsyms_num_syms) < names < token_table < token_index < offsets < relative_base)."""
KALLSYMS_6_1 = ("kallsyms_offsets", "kallsyms_relative_base", "kallsyms_num_syms", "kallsyms_names",
                "kallsyms_markers", "kallsyms_seqs_of_names", "kallsyms_token_table", "kallsyms_token_index")
"""scripts/kallsyms.c (6.1.192, Debian's linux-source-6.1) write_src(): the addresses first (kallsyms_offsets,
then kallsyms_relative_base), and kallsyms_seqs_of_names before the token tables (measured on the real 6.1.192:
SYMBOL(kallsyms_offsets) < relative_base < num_syms < names < token_table < token_index)."""
KALLSYMS_7_2 = tuple(t for t in KALLSYMS_6_12 if t != "kallsyms_relative_base")
"""scripts/kallsyms.c (7.2) write_src(): 6.12's order without kallsyms_relative_base (offsets are place-relative)."""


# --- the whole release ---


@dataclass(frozen=True)
class Version:
    """Everything one release decides that the emulator models."""

    name: str
    release: str
    """The default OSRELEASE of the emulated build."""
    nr_cpus: int
    """CONFIG_NR_CPUS of the pseries defconfig (sizes struct cpumask, so the crash info header)."""
    memory_model: str
    """The pseries defconfig's memory model ("sparsemem-vmemmap" with NUMA for every release here); the
    emulated kernel's own model is kernels.memmap's, and VMCOREINFO writes the keys of whichever it backs."""
    page: PageTable
    vmcoreinfo_keys: tuple[str, ...]
    crashtime_newline: bool
    """crash_save_vmcoreinfo(): "CRASHTIME=%ld" (3.4, no newline) or "CRASHTIME=%lld\\n"."""
    uts_name_offset: int
    """offsetof(struct uts_namespace, name): 4 behind struct kref (3.4), 0 once the kref went."""
    vmalloc_start: int | None = None
    # fadump itself
    crashkernel_sizes_fadump: bool = False
    """fadump_calculate_reserve_size() honours crashkernel= (not in 3.4)."""
    cma_line: str | None = None
    """"size-at-MB" (6.10-6.12), "range" (7.2) or None (no CMA in fadump)."""
    cma_rounds_boot_memory: bool = False
    cma_init_in_setup_arch: bool = False
    """fadump_cma_init() runs from setup_arch() after initmem_init() (6.12+: setup-common.c), so its line comes
    after early_init_devtree()'s fadump lines (the parameter area's); before, fadump_reserve_mem() called it."""
    """fadump_reserve_mem() rounds boot_memory_size up to CMA_MIN_ALIGNMENT_BYTES when CMA is on."""
    param_area_rule: str | None = None
    """None (no bootargs_append), "6.10" (setup_fadump, hash 0x2A000000-0x2E000000 with RMA >= 768 MiB),
    "6.12" (early_init_devtree, same windows, even when fadump is off) or "7.2" (early, only with fadump on;
    hash [MIN_RMA, min(RMA, boot_mem_top)))."""
    param_area_reserved_when_above_top: bool = False
    """fadump_append_bootargs() reserves the area when param_area >= boot_mem_top (6.10) or < it (6.12+)."""
    bootargs_append_from_init_files: bool = False
    """fadump_init_files() creates bootargs_append whenever param_area is set (6.12+), not only at setup."""
    compat_symlinks: bool = False
    """/sys/kernel/fadump_{enabled,registered,release_mem} symlinks to /sys/kernel/fadump/."""
    kdump_base: str = "32MB"
    """reserve_crashkernel() placement when fadump reserved nothing: "32MB" (KDUMP_KERNELBASE, non-relocatable
    3.4 pseries_defconfig) or "rma" (relocatable: min(ppc64_rma_size / 2, 512 MiB) on an LPAR)."""
    rtas_busy_limit_ms: int | None = None
    """rtas_fadump_call() (rtas-fadump.c, 6.12.117 and 7.2): give up with -ETIMEDOUT once the busy waits reach this
    many ms; None: retry for as long as firmware says busy ("TODO: Add upper time limit for the delay", 6.10)."""
    vmcore_pr_fmt: str = ""
    """fs/proc/vmcore.c's pr_fmt: none up to 6.12, "vmcore: " in 7.2 (every warning carries it)."""
    vmcore_note_align: int = 4
    """p_align of /proc/vmcore's merged PT_NOTE (fs/proc/vmcore.c merge_note_headers_elf64()): 0 in 6.1, 4 in
    6.10 and later (the 3.4 layout writes 0 regardless)."""
    vmcore_not_initialized: str = "Kdump: vmcore not initialized"
    """What vmcore_init() prints after a failed parse: "Kdump: vmcore not initialized" (3.4-6.12), "not
    initialized" (7.2, after pr_fmt)."""
    save_regs_softe: bool = False
    """ppc_save_regs() stores softe from the PACA and zeroes orig_gpr3 (6.x); 3.4 stores neither."""
    pgdat: PgdatLayout | None = None
    """The layout of contig_page_data and node_states the emulated image holds (kernels.mmzone), or None: the
    release's pgdat keys stay unbacked (vmcoreinfo.unbacked)."""
    cpu_spec: CpuSpecLayout | None = None
    """struct cpu_spec of the image's cur_cpu_spec (kernels.cputable), or None."""
    kallsyms: bool = False
    """The image holds the kallsyms tables in the 6.x base-relative format (kernels.kallsyms)."""
    kallsyms_place_relative: bool = False
    """kallsyms_offsets hold each symbol's address minus the entry's own address (7.2: offset_to_ptr), with no
    kallsyms_relative_base; False: address minus kallsyms_relative_base (6.x)."""
    kallsyms_layout: tuple[str, ...] = KALLSYMS_6_12
    """The kallsyms tables in the order scripts/kallsyms.c write_src() emits them into .rodata."""
    kallsyms_align: int = 8
    """What output_label() aligns each table to: ALGN, .balign 8 on 64-bit (6.x); .balign 4 (7.2)."""

    elfcorehdr_by: str = "capture kernel"
    """Who builds the ELF core header: "first kernel" (3.4 to 6.9: register_fadump() writes it behind the FADMPINF
    crash info header in the reserved area, so memory hotplug needs a re-registration) or "capture kernel" (6.10+:
    fadump_process() builds it from the memory it finds, behind a FADMPSIG header)."""
    registers_at_boot: bool = True
    """setup_fadump() registers by itself (commit 607451ce0aa9, Linux 5.18; 6.1 has it); 3.4 waits for the kdump
    service's ``echo 1 > registered``."""
    hotplug_ready: bool = False
    """/sys/kernel/fadump/hotplug_ready exists (6.10+: the kernel itself keeps the dump right across hotplug)."""
    vmap_area_list: bool = False
    """The image holds vmap_area_list and a first struct vmap_area (kernels.vmalloc); VMCOREINFO names them until
    6.9 replaced them with NUMBER(VMALLOC_START)."""
    adjusts_memory_limit: bool = False
    """fadump_reserve_mem() raises a mem= limit by the dump area's size and prints "Adjusted memory_limit for
    firmware-assisted dump" (3.4 and 6.1, gone by 6.10; the 3.4 profile has its own code for it)."""
    radix_vmemmap_list: bool = False
    """Under radix, vmemmap_populate() is mm/init_64.c's (aligned 2 MiB blocks recorded in vmemmap_list, each
    mapped by a PMD leaf), as before 6.6's radix__vmemmap_populate() (kernels.sparsemem)."""
    ddw_limits_hot_add: bool = False
    """pseries/iommu.c enable_ddw() sizes a direct DMA window to memory_hotplug_max(), which is
    memblock_end_of_DRAM() without CONFIG_NUMA (asm/mmzone.h, 6.1); iommu_mem_notifier() then fails MEM_GOING_ONLINE
    for memory above it, so a QEMU pc-dimm hot-add is rolled back ("Memory indexed-count-add failed"). Set where
    measured (6.1); 6.12's iommu_mem_notifier() skips memory at or above ddw_memory_hotplug_max(), and whether its
    hot-add then succeeds under QEMU is not measured (no 6.12 hotplug reference), so later releases leave it off."""

    @property
    def release_number(self) -> str:
        return self.name.removeprefix("linux-")


LINUX_3_4 = Version(
    name="linux-3.4",
    release="3.4.0-fadump-emu",
    # arch/powerpc/configs/pseries_defconfig (3.4): CONFIG_NR_CPUS=1024.
    nr_cpus=1024,
    # arch/powerpc/Kconfig (3.4): NUMA "default y if SMP && PPC_PSERIES", ARCH_SPARSEMEM_DEFAULT with SMP &&
    # PPC_PSERIES, ARCH_SPARSEMEM_ENABLE selects SPARSEMEM_VMEMMAP_ENABLE; mm/Kconfig: SPARSEMEM_VMEMMAP default y.
    memory_model="sparsemem-vmemmap",
    page=PAGE_3_4,
    vmcoreinfo_keys=KEYS_3_4,
    # kernel/kexec.c (3.4) crash_save_vmcoreinfo(): vmcoreinfo_append_str("CRASHTIME=%ld", get_seconds()).
    crashtime_newline=False,
    # include/linux/utsname.h (3.4): struct uts_namespace { struct kref kref; struct new_utsname name; ...}.
    uts_name_offset=4,
    # arch/powerpc/kernel/fadump.c (3.4) fadump_calculate_reserve_size(): fadump_reserve_mem= or 5%, nothing else.
    crashkernel_sizes_fadump=False,
    # arch/powerpc/kernel/machine_kexec.c (3.4) reserve_crashkernel(): without CONFIG_NONSTATIC_KERNEL (not in
    # pseries_defconfig) the crash kernel goes at KDUMP_KERNELBASE, 32 MiB.
    kdump_base="32MB",
    # arch/powerpc/kernel/fadump.c (3.4) register_fadump(): init_fadump_header(), fadump_create_elfcore_headers().
    elfcorehdr_by="first kernel",
    # fadump.c (3.4) fadump_reserve_mem(): "Adjusted memory_limit for firmware-assisted dump" (kernels.linux34).
    adjusts_memory_limit=True,
    # fadump.c (3.4) setup_fadump(): init_fadump_mem_struct() only; registration is fadump_register_store()'s.
    registers_at_boot=False,
    # fs/proc/vmcore.c (3.4) merge_note_headers_elf64(): phdr.p_align = 0 (kernels.vmcore's 3.4 layout).
    vmcore_note_align=0,
)

LINUX_6_1 = Version(
    name="linux-6.1",
    release="6.1.0-fadump-emu",
    # arch/powerpc/configs/ppc64_defconfig and pseries_defconfig (6.1): CONFIG_NR_CPUS=2048 (the reference build
    # sets 8).
    nr_cpus=2048,
    memory_model="sparsemem-vmemmap",
    page=PAGE_6_1,
    vmcoreinfo_keys=KEYS_6_1,
    # kernel/crash_core.c (6.1) crash_save_vmcoreinfo(): "CRASHTIME=%lld\n".
    crashtime_newline=True,
    # include/linux/utsname.h (6.1): struct uts_namespace { struct new_utsname name; ...}. Measured: 0.
    uts_name_offset=0,
    # No NUMBER(VMALLOC_START) before 6.9: dump readers follow vmap_area_list instead.
    vmalloc_start=None,
    vmap_area_list=True,
    # fadump.c (6.1) fadump_calculate_reserve_size(): crashkernel= sizes boot memory (capped at RAM / 4).
    crashkernel_sizes_fadump=True,
    # fadump.c (6.1) fadump_cma_init(): the 6.10 "Initialized 0x%lx bytes cma area at %ldMB" line, called from
    # setup_arch() (setup-common.c, 6.1: "fadump_cma_init();" after initmem_init()); fadump_reserve_mem() rounds
    # boot_memory_size up to CMA_MIN_ALIGNMENT_BYTES unless nocma. Measured: the line after the "---" banner.
    cma_line="size-at-MB",
    cma_rounds_boot_memory=True,
    cma_init_in_setup_arch=True,
    # fadump.c (6.1) has no parameter area and no bootargs_append (6.10 added them).
    param_area_rule=None,
    # fadump.c (6.1) fadump_init_files(): /sys/kernel/fadump/{enabled,registered,mem_reserved,release_mem} and
    # the compat_only_sysfs_link_entry_to_kobj() symlinks; no hotplug_ready (measured: the real ls has none).
    compat_symlinks=True,
    hotplug_ready=False,
    # arch/powerpc/kexec/core.c (6.1) reserve_crashkernel(): relocatable pseries, min(RMA / 2, 512 MiB).
    kdump_base="rma",
    # rtas-fadump.c (6.1) rtas_fadump_register(): "TODO: Add upper time limit for the delay".
    rtas_busy_limit_ms=None,
    # arch/powerpc/kernel/ppc_save_regs.S (6.1): softe from the PACA, as 6.10.
    save_regs_softe=True,
    # contig_page_data and node_states, kallsyms (CONFIG_KALLSYMS_BASE_RELATIVE: offsets + relative_base);
    # no cur_cpu_spec key in 6.1's arch_crash_save_vmcoreinfo().
    pgdat=PGDAT_6_1,
    cpu_spec=None,
    kallsyms=True,
    kallsyms_layout=KALLSYMS_6_1,
    # fadump.c (6.1) setup_fadump(): "fw_dump.ops->fadump_init_mem_struct(&fw_dump); register_fadump();" (measured:
    # "rtas fadump: Registration is successful!" at boot, before /init).
    registers_at_boot=True,
    # fadump.c (6.1) register_fadump(): fadump_setup_crash_memory_ranges(), init_fadump_header() (FADMPINF),
    # fadump_create_elfcore_headers(): the original design, as 3.4.
    elfcorehdr_by="first kernel",
    # fadump.c (6.1) fadump_reserve_mem(): "if (memory_limit && memory_limit < memblock_end_of_DRAM())" grows
    # memory_limit by get_fadump_area_size() and prints "Adjusted memory_limit for firmware-assisted dump".
    adjusts_memory_limit=True,
    # arch/powerpc/mm/init_64.c (6.1) vmemmap_populate(): vmemmap_list_populate() + vmemmap_create_mapping() for
    # radix too (radix__early_init_mmu(): mmu_vmemmap_psize = MMU_PAGE_2M). makedumpfile (1.7.2, 1.7.6) walks
    # vmemmap_list on a kernel without SYMBOL(vmemmap): the real 6.1 radix dumps filter fine.
    radix_vmemmap_list=True,
    # fs/proc/vmcore.c (6.1) merge_note_headers_elf64(): "phdr.p_align = 0;" (measured: the real vmcore's PT_NOTE
    # has p_align 0; 6.12's has 4).
    vmcore_note_align=0,
    # pseries/iommu.c and asm/mmzone.h (6.1); measured: the real dimm-hotplug case's hot-add is rolled back.
    ddw_limits_hot_add=True,
)

LINUX_6_10 = Version(
    name="linux-6.10",
    release="6.10.0-fadump-emu",
    # arch/powerpc/Makefile (6.10): pseries_defconfig = ppc64le_guest_defconfig = ppc64_defconfig + le + guest +
    # kvm_guest; ppc64_defconfig: CONFIG_NR_CPUS=2048 (no fragment changes it).
    nr_cpus=2048,
    # arch/powerpc/Kconfig (6.12, same in 6.10): NUMA "default y if PPC_PSERIES || PPC_POWERNV",
    # ARCH_SPARSEMEM_DEFAULT on PPC_BOOK3S_64; mm/Kconfig SPARSEMEM_VMEMMAP default y (the real 6.12 dump has
    # SYMBOL(vmemmap)).
    memory_model="sparsemem-vmemmap",
    page=PAGE_6_10,
    vmcoreinfo_keys=KEYS_6_10,
    # kernel/vmcore_info.c (6.10) crash_save_vmcoreinfo(): "CRASHTIME=%lld\n".
    crashtime_newline=True,
    # include/linux/utsname.h (6.10): struct uts_namespace { struct new_utsname name; ...}: name at 0.
    uts_name_offset=0,
    # arch/powerpc/include/asm/book3s/64/{radix,hash}.h: both MMUs start vmalloc at 0xc008000000000000.
    vmalloc_start=0xC008_0000_0000_0000,
    crashkernel_sizes_fadump=True,
    # arch/powerpc/kernel/fadump.c (6.10) fadump_cma_init(): "Initialized 0x%lx bytes cma area at %ldMB from
    # 0x%lx bytes of memory reserved for firmware-assisted dump"; fadump_reserve_mem(): boot_memory_size =
    # ALIGN(boot_memory_size, CMA_MIN_ALIGNMENT_BYTES) unless nocma.
    cma_line="size-at-MB",
    cma_rounds_boot_memory=True,
    # fadump.c (6.10) fadump_setup_param_area(), called from setup_fadump() for a first kernel only.
    param_area_rule="6.10",
    # fadump.c (6.10) fadump_append_bootargs(): "if (fw_dump.param_area >= fw_dump.boot_mem_top) memblock_reserve".
    param_area_reserved_when_above_top=True,
    # fadump.c (6.10): bootargs_append is created by fadump_setup_param_area() only (first kernel).
    bootargs_append_from_init_files=False,
    # fadump.c (6.10) fadump_init_files(): compat_only_sysfs_link_entry_to_kobj() for the three old names.
    compat_symlinks=True,
    # arch/powerpc/kexec/core.c (6.10) reserve_crashkernel(): CONFIG_NONSTATIC_KERNEL (RELOCATABLE, pseries):
    # crashk_res.start = min(ppc64_rma_size / 2, SZ_512M) on an LPAR.
    kdump_base="rma",
    # arch/powerpc/kernel/ppc_save_regs.S (6.10): SOFTE from PACAIRQSOFTMASK, _TRAP and ORIG_GPR3 = 0.
    save_regs_softe=True,
    # fadump.c (6.10) fadump_init_files(): hotplug_ready; the capture kernel builds the ELF core header
    # (fadump_process() -> fadump_populate_elfcorehdr()).
    hotplug_ready=True,
    elfcorehdr_by="capture kernel",
)

LINUX_6_12 = replace(
    LINUX_6_10,
    name="linux-6.12",
    release="6.12.0-fadump-emu",
    page=PAGE_6_12,
    vmcoreinfo_keys=KEYS_6_12,
    # fadump.c (6.12.117) still prints the 6.10 CMA line (measured on the real 6.12.117 too) and still rounds
    # boot_memory_size up to CMA_MIN_ALIGNMENT_BYTES in fadump_reserve_mem(); fadump_cma_init() moved to
    # setup_arch() (setup-common.c) but prints the same.
    # fadump.c (6.12) fadump_setup_param_area() is called from early_init_devtree() (prom.c) after
    # mmu_early_init_devtree(), with no fadump_enabled check; same windows as 6.10.
    param_area_rule="6.12",
    # setup-common.c (6.12.117) setup_arch(): "initmem_init(); ... fadump_cma_init();" (fadump_reserve_mem() no
    # longer calls it); measured: the real hash case prints the parameter-area WARNING before the CMA line.
    cma_init_in_setup_arch=True,
    # The objects behind the rest of 6.12's VMCOREINFO keys (kernel/vmcore_info.c and
    # arch/powerpc/kexec/vmcore_info.c, 6.12): contig_page_data, node_online_map, cur_cpu_spec, kallsyms.
    pgdat=PGDAT_6_12,
    cpu_spec=CPU_SPEC_6_12,
    kallsyms=True,
    # fadump.c (6.12) fadump_append_bootargs(): "if (fw_dump.param_area < fw_dump.boot_mem_top) memblock_reserve".
    param_area_reserved_when_above_top=False,
    # fadump.c (6.12) fadump_init_files(): "if (fw_dump.param_area) sysfs_create_file(bootargs_append)".
    bootargs_append_from_init_files=True,
    # platforms/pseries/rtas-fadump.c (6.12.117, a stable backport; 7.2 the same) rtas_fadump_call();
    # rtas-fadump.h: RTAS_FADUMP_MAX_WAIT_MS 60000U. 6.10's rtas_fadump_register() has "TODO: Add upper time limit".
    rtas_busy_limit_ms=60_000,
)

LINUX_7_2 = replace(
    LINUX_6_12,
    name="linux-7.2",
    release="7.2.0-fadump-emu",
    page=PAGE_7_2,
    vmcoreinfo_keys=KEYS_7_2,
    # fadump.c (7.2) fadump_cma_init(): base = ALIGN(start, CMA_MIN_ALIGNMENT_BYTES), end = ALIGN_DOWN(...),
    # "Initialized [0x%llx, %luMB] cma area from [0x%lx, %luMB] bytes of memory reserved for firmware-assisted
    # dump"; fadump_reserve_mem() no longer rounds boot_memory_size.
    cma_line="range",
    cma_rounds_boot_memory=False,
    # Measured on the real 7.2.13 (tests/reference/linux-7.2): struct pglist_data grew to SIZE(pglist_data)=4224
    # behind node_id (node_zones, nr_zones, node_start_pfn, node_spanned_pages and node_id keep 6.12's offsets);
    # zone, free_area and struct cpu_spec are 6.12's (cpu_features 16, mmu_features 32).
    pgdat=replace(PGDAT_6_12, pglist_data_size=4224),
    cpu_spec=CPU_SPEC_6_12,
    # scripts/kallsyms.c (7.2) write_src(): kallsyms_offsets entries are ".long _text - . + (offset)", place-relative,
    # and kernel/kallsyms.c kallsyms_sym_address() reads offset_to_ptr(kallsyms_offsets + idx); no
    # kallsyms_relative_base table any more.
    kallsyms=True,
    kallsyms_place_relative=True,
    # scripts/kallsyms.c (7.2) output_label(): "\t.balign 4" (6.x: ALGN, 8 on 64-bit); measured on the real 7.2.13:
    # SYMBOL(kallsyms_names) 4 bytes after SYMBOL(kallsyms_num_syms).
    kallsyms_layout=KALLSYMS_7_2,
    kallsyms_align=4,
    # fadump.c (7.2) fadump_setup_param_area(): returns unless fadump_enabled; hash MMU: [MIN_RMA (768 MiB),
    # min(ppc64_rma_size, boot_mem_top)).
    param_area_rule="7.2",
    # fs/proc/vmcore.c (7.2): #define pr_fmt(fmt) "vmcore: " fmt; vmcore_init(): pr_warn("not initialized\n").
    vmcore_pr_fmt="vmcore: ",
    vmcore_not_initialized="not initialized",
)

VERSIONS = {v.name: v for v in (LINUX_3_4, LINUX_6_1, LINUX_6_10, LINUX_6_12, LINUX_7_2)}


def diff(a: Version, b: Version) -> dict[str, tuple]:
    """The fields two versions disagree on: {field: (a's value, b's value)}."""
    return {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in fields(Version)
            if getattr(a, f.name) != getattr(b, f.name)}


def describe_diff(a: str, b: str) -> str:
    """``python -m kernels.versions linux-6.10 linux-6.12``: what changed between two releases, one field a line."""
    va, vb = VERSIONS[a], VERSIONS[b]
    out = []
    for name, (x, y) in diff(va, vb).items():
        if isinstance(x, PageTable):
            out += [f"page.{f.name}: {getattr(x, f.name)!r} -> {getattr(y, f.name)!r}" for f in fields(PageTable)
                    if getattr(x, f.name) != getattr(y, f.name)]
        elif name == "vmcoreinfo_keys":
            out += [f"VMCOREINFO -{k}" for k in x if k not in y] + [f"VMCOREINFO +{k}" for k in y if k not in x]
        else:
            out.append(f"{name}: {x!r} -> {y!r}")
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3 or not set(sys.argv[1:]) <= set(VERSIONS):
        sys.exit(f"usage: python -m kernels.versions OLD NEW   (releases: {', '.join(VERSIONS)})")
    print(describe_diff(sys.argv[1], sys.argv[2]))
