"""The memory node of a !CONFIG_NUMA kernel: contig_page_data, its zones, their free lists, and node_states[].

VMCOREINFO names them (kernel/vmcore_info.c crash_save_vmcoreinfo_init(), 6.12: SYMBOL(node_online_map),
SYMBOL(contig_page_data), SIZE/OFFSET of pglist_data, zone, free_area, list_head, nodemask_t); a dump reader such as
makedumpfile follows them, so the image holds them for real, in the kernel's byte order, at the layout the release's
kernels.version_layouts.PgdatLayout gives (include/linux/mmzone.h).

What the emulated node holds: one node (node_id 0) from pfn 0 spanning the partition's memory; ZONE_NORMAL spans
it all and ZONE_MOVABLE nothing (nr_zones 1: free_area_init() counts zones up to the highest populated one); every
free list is empty (a list_head pointing at itself, nr_free 0) and NR_FREE_PAGES is 0, since the emulated page
allocator keeps no buddy lists. node_states[] is mm/page_alloc.c's initializer for !NUMA: node 0 set in every
state but N_GENERIC_INITIATOR.
"""

from functools import cache, lru_cache

from construct import Array, Int32sb, Int32sl, Int64ub, Int64ul, Padding, Struct

from kernels.image import va
from kernels.version_layouts import PgdatLayout

N_GENERIC_INITIATOR = 5
"""enum node_states (include/linux/nodemask.h, 6.12): the one state mm/page_alloc.c leaves empty for !NUMA."""
LIST_HEAD_SIZE = 16
NODEMASK_SIZE = 8
"""nodemask_t with MAX_NUMNODES = 1 (!NUMA, NODES_SHIFT 0): one unsigned long."""


@cache
def structs(layout: PgdatLayout, little_endian: bool):
    """(pglist_data, zone) in the kernel's byte order; fields the emulator does not model are padding."""
    u64, s32 = (Int64ul, Int32sl) if little_endian else (Int64ub, Int32sb)
    list_head = Struct("next" / u64, "prev" / u64)
    free_area = Struct("free_list" / Array(layout.migrate_types, list_head), "nr_free" / u64,
                       Padding(layout.free_area_size - layout.migrate_types * LIST_HEAD_SIZE - 8))
    zone = Struct(
        Padding(layout.zone_spanned_pages), "spanned_pages" / u64,
        Padding(layout.zone_free_area - layout.zone_spanned_pages - 8),
        "free_area" / Array(layout.nr_page_orders, free_area),
        Padding(layout.zone_vm_stat - layout.zone_free_area - layout.nr_page_orders * layout.free_area_size),
        "nr_free_pages" / u64,  # vm_stat[NR_FREE_PAGES] (atomic_long_t), the first zone_stat_item
        Padding(layout.zone_size - layout.zone_vm_stat - 8),
    )
    pgdat = Struct(
        Padding(layout.node_zones), "node_zones" / Array(layout.max_nr_zones, zone),
        Padding(layout.nr_zones - layout.node_zones - layout.max_nr_zones * layout.zone_size),
        "nr_zones" / s32, Padding(layout.node_start_pfn - layout.nr_zones - 4),
        "node_start_pfn" / u64, Padding(layout.node_present_pages - layout.node_start_pfn - 8),
        "node_present_pages" / u64, Padding(layout.node_spanned_pages - layout.node_present_pages - 8),
        "node_spanned_pages" / u64, Padding(layout.node_id - layout.node_spanned_pages - 8),
        "node_id" / s32, Padding(layout.pglist_data_size - layout.node_id - 4),
    )
    return pgdat, zone


def pgdat_value(layout: PgdatLayout, base_va: int, spanned: int, present: int) -> dict:
    """The construct value of contig_page_data at virtual address ``base_va``."""
    def zone(index: int, pages: int) -> dict:
        zone_va = base_va + layout.node_zones + index * layout.zone_size
        areas = []
        for order in range(layout.nr_page_orders):
            area_va = zone_va + layout.zone_free_area + order * layout.free_area_size
            heads = [area_va + t * LIST_HEAD_SIZE for t in range(layout.migrate_types)]
            areas.append({"free_list": [{"next": h, "prev": h} for h in heads], "nr_free": 0})
        return {"spanned_pages": pages, "free_area": areas, "nr_free_pages": 0}

    zones = [zone(0, spanned)] + [zone(i, 0) for i in range(1, layout.max_nr_zones)]
    return {"node_zones": zones, "nr_zones": 1, "node_start_pfn": 0, "node_present_pages": present,
            "node_spanned_pages": spanned, "node_id": 0}


@lru_cache(maxsize=64)
def pgdat_bytes(layout: PgdatLayout, little_endian: bool, base_va: int, spanned: int, present: int) -> bytes:
    """contig_page_data as the kernel's bytes; built once per shape (a sweep boots the same shapes over and over,
    and building the node's zones and free lists field by field costs more than the rest of the boot's image)."""
    pgdat, _ = structs(layout, little_endian)
    return pgdat.build(pgdat_value(layout, base_va, spanned, present))


def place(kernel) -> None:
    """Write contig_page_data and node_states[] into the image (after the memory map is known)."""
    layout = kernel.version.pgdat
    if layout is None:
        return
    sym, order = kernel.symbols, kernel.byteorder
    little = order == "little"
    page = kernel.page_size
    spanned = kernel.machine.layout.end_of_dram // page
    present = sum(r.size for r in kernel.machine.layout.memblock_memory()) // page
    kernel.ram.write(sym["contig_page_data"], pgdat_bytes(layout, little, va(sym["contig_page_data"]), spanned,
                                                          present))
    states = b"".join((0 if s == N_GENERIC_INITIATOR else 1).to_bytes(NODEMASK_SIZE, order)
                      for s in range(layout.nr_node_states))
    kernel.ram.write(sym["node_states"], states)


def vmcoreinfo_values(kernel) -> dict[str, str]:
    """The pgdat family of VMCOREINFO keys, from the layout the image was written with."""
    layout = kernel.version.pgdat
    if layout is None or "contig_page_data" not in kernel.symbols:
        return {}
    return {
        "SYMBOL(node_online_map)": f"{va(kernel.symbols['node_states'] + layout.n_online * NODEMASK_SIZE):x}",
        "SIZE(pglist_data)": str(layout.pglist_data_size),
        "SIZE(zone)": str(layout.zone_size),
        "SIZE(free_area)": str(layout.free_area_size),
        "SIZE(list_head)": str(LIST_HEAD_SIZE),
        "SIZE(nodemask_t)": str(NODEMASK_SIZE),
        "OFFSET(pglist_data.node_zones)": str(layout.node_zones),
        "OFFSET(pglist_data.nr_zones)": str(layout.nr_zones),
        "OFFSET(pglist_data.node_start_pfn)": str(layout.node_start_pfn),
        "OFFSET(pglist_data.node_spanned_pages)": str(layout.node_spanned_pages),
        "OFFSET(pglist_data.node_id)": str(layout.node_id),
        "OFFSET(zone.free_area)": str(layout.zone_free_area),
        "OFFSET(zone.vm_stat)": str(layout.zone_vm_stat),
        "OFFSET(zone.spanned_pages)": str(layout.zone_spanned_pages),
        "OFFSET(free_area.free_list)": "0",
        "OFFSET(list_head.next)": "0",
        "OFFSET(list_head.prev)": "8",
        "LENGTH(zone.free_area)": str(layout.nr_page_orders),
        "LENGTH(free_area.free_list)": str(layout.migrate_types),
        "NUMBER(NR_FREE_PAGES)": str(layout.nr_free_pages),
    }
