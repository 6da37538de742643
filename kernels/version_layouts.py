"""The kernel structures each modelled release lays out differently (struct page, pglist_data and struct zone,
struct cpu_spec), as data: one table per release, later ones as deltas, with where each number was read or
measured. kernels.versions gives every release its tables (Version.page, .pgdat, .cpu_spec); the sources are
the ones listed there.
"""

from dataclasses import dataclass, field, replace

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
