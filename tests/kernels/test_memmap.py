"""struct page as each profile writes it, read back at the offsets and with the tests of that kernel version.

Offsets are from include/linux/mm_types.h struct page (6.10: msgeden/cryptocap-arm64-linux-6.10; 6.12: Debian
linux-source-6.12 6.12.117), without CONFIG_MEMCG (the reference configuration): flags 0, lru 8, mapping 24,
index 32, private 40, {_mapcount, page_type} 48, _refcount 52, 56 bytes. The page-type tests are
include/linux/page-flags.h's: 6.10 PageType(page, flag) is (page_type & (PAGE_TYPE_BASE | flag)) ==
PAGE_TYPE_BASE with PAGE_TYPE_BASE 0xf0000000, PG_buddy 0x80, PG_slab 0x1000; 6.12 tests page_type >> 24 ==
PGTY_buddy (0xf0) or PGTY_slab (0xf5).
"""

import pytest

from firmware.machine import Machine, MachineConfig
from emulator.units import GiB
from kernels import version_layouts, vmcoreinfo
from kernels.linux612 import Linux612
from kernels.memmap import PAGE_6_10, PAGE_6_12


def booted(cls):
    """A kernel object on a small machine (its VMCOREINFO page keys come from the release's table)."""
    return cls(Machine(MachineConfig(memory=2 * GiB, cpus=2)), "fadump=on", "r", 1, 0)

KINDS = ("reserved", "kernel", "slab", "cache", "user", "free")


def decode(raw: bytes, order: str) -> dict[str, int]:
    word = lambda at, n: int.from_bytes(raw[at:at + n], order)  # noqa: E731
    return {"flags": word(0, 8), "mapping": word(24, 8), "private": word(40, 8), "page_type": word(48, 4),
            "refcount": word(52, 4)}


def is_buddy(layout, page_type: int) -> bool:
    if layout is PAGE_6_12:
        return page_type >> 24 == 0xF0
    return page_type & (0xF000_0000 | 0x80) == 0xF000_0000


def is_slab(layout, page_type: int) -> bool:
    if layout is PAGE_6_12:
        return page_type >> 24 == 0xF5
    return page_type & (0xF000_0000 | 0x1000) == 0xF000_0000


LAYOUTS = pytest.mark.parametrize("layout", [PAGE_6_10, PAGE_6_12], ids=["6.10", "6.12"])
ORDERS = pytest.mark.parametrize("order", ["little", "big"])


@LAYOUTS
@ORDERS
def test_struct_page_is_56_bytes_and_each_kind_reads_back_as_that_kernel_tests_it(layout, order):
    """Free pages pass PageBuddy, slab pages PageSlab, and no other kind passes either."""
    assert layout.size == 56
    for kind in KINDS:
        raw = layout.records(3, kind, order).tobytes()
        assert len(raw) == 3 * 56
        pages = [decode(raw[i * 56:(i + 1) * 56], order) for i in range(3)]
        assert pages[0] == pages[1] == pages[2]
        page = pages[0]
        assert is_buddy(layout, page["page_type"]) == (kind == "free"), kind
        assert is_slab(layout, page["page_type"]) == (kind == "slab"), kind


@LAYOUTS
def test_page_cache_and_anonymous_pages_carry_pg_lru_and_their_mapping(layout):
    """PG_lru is bit 5 in both; anonymous pages have PAGE_MAPPING_ANON and PG_swapbacked (6.10: 18, 6.12: 17)."""
    swapbacked = 17 if layout is PAGE_6_12 else 18
    cache = decode(layout.records(1, "cache", "little").tobytes(), "little")
    user = decode(layout.records(1, "user", "little").tobytes(), "little")
    assert cache["flags"] & (1 << 5) and not cache["mapping"] & 1 and cache["refcount"] == 2
    assert user["flags"] & (1 << 5) and user["flags"] & (1 << swapbacked) and user["mapping"] & 1
    reserved = decode(layout.records(1, "reserved", "little").tobytes(), "little")
    assert reserved["flags"] == 1 << 13  # PG_reserved


def test_the_published_buddy_values_are_what_a_free_page_holds():
    """NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE): 6.10 ~PG_buddy = -129; 6.12 PGTY_buddy << 24 = -268435456 (measured)."""
    for layout, table, value in ((PAGE_6_10, version_layouts.PAGE_6_10, -129), (PAGE_6_12, version_layouts.PAGE_6_12, -268435456)):
        assert table.page_types["PAGE_BUDDY_MAPCOUNT_VALUE"] == value
        free = decode(layout.records(1, "free", "little").tobytes(), "little")
        assert free["page_type"] == value & 0xFFFF_FFFF


def test_6_12_publishes_the_measured_page_flag_numbers():
    """The real 6.12 dump's VMCOREINFO: PG_lru 5, PG_private 14, PG_swapcache 10, PG_swapbacked 17, PG_head_mask 64."""
    k = booted(Linux612)
    lines = vmcoreinfo.lines(k)
    lines = [line.split("=", 1)[0] + "=" + line.split("=", 1)[1] for line in lines]
    for line in ("SIZE(page)=56", "NUMBER(PG_lru)=5", "NUMBER(PG_private)=14", "NUMBER(PG_swapcache)=10",
                 "NUMBER(PG_swapbacked)=17", "NUMBER(PG_head_mask)=64",
                 "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456"):
        assert line in lines
    assert not any(line.startswith("NUMBER(PG_slab)") for line in lines)


def test_a_long_run_of_struct_pages_is_written_in_tiles_and_reads_back_as_one_array():
    """MemMap._describe writes TILE_RECORDS records at a time: the bytes in RAM are the whole run's records,
    across tile boundaries and a short last tile, and no array longer than one tile is ever built."""
    from types import SimpleNamespace

    from emulator.hw.ram import PartitionRAM
    from kernels.memmap import TILE_RECORDS, MemMap, PageLayout

    layout = PageLayout.of(version_layouts.PAGE_3_4)  # a fresh layout: its records cache starts empty
    count = 2 * TILE_RECORDS + 5
    ram = PartitionRAM(64 << 20)
    kernel = SimpleNamespace(ram=ram, page_size=4096, byteorder="big",
                             machine=SimpleNamespace(layout=SimpleNamespace(end_of_dram=ram.size)))
    mm = MemMap(kernel, layout)
    mm.base = 0x100000
    mm._describe(3 * 4096, count * 4096, "free")
    whole = layout._build_records(count, "free", "big").tobytes()
    at = mm.base + 3 * layout.size
    assert ram.read(at, len(whole)) == whole
    assert ram.read(at + len(whole), layout.size) == bytes(layout.size)  # nothing written past the run
    assert max(len(a) for a in layout.__dict__["_records"].values()) == TILE_RECORDS * layout.size
