"""contig_page_data, node_online_map and cur_cpu_spec of a 6.12 image, read back through VMCOREINFO's keys.

Read the way a dump reader (makedumpfile) does, with only the published offsets and sizes
(kernel/vmcore_info.c crash_save_vmcoreinfo_init() and arch/powerpc/kexec/vmcore_info.c
arch_crash_save_vmcoreinfo(), 6.12), and the values checked against the sources:
- include/linux/mmzone.h (6.12): an empty free list is a list_head whose next and prev point at itself;
  NR_FREE_PAGES is vm_stat[0]; pgdat->nr_zones counts zones up to the highest populated one;
- include/linux/nodemask.h (6.12): node_online_map is node_states[N_ONLINE]; mm/page_alloc.c (6.12) node_states
  has node 0 online for !NUMA;
- arch/powerpc/kernel/cputable.c (6.12): cur_cpu_spec points at the_cpu_spec; cpu_specs_book3s_64.h: the
  "POWER9 (architected)" entry (pvr 0x0f000005) with CPU_FTRS_POWER9 / MMU_FTRS_POWER9 (cputable.h, mmu.h).
"""

import pytest

from firmware.machine import Machine, MachineConfig
from emulator.units import GiB
from kernels import vmcoreinfo
from kernels.image import pa
from kernels.linux612.kernel import Linux612


@pytest.fixture(scope="module", params=[True, False], ids=["little", "big"])
def k612(request):
    m = Machine(MachineConfig(memory=3 * GiB, cpus=2, little_endian=request.param))
    m.power_on("fadump=on")
    k = Linux612(m, "fadump=on", "6.12.0", m.boot_count, 0)
    m.env.process(k.boot_sequence())
    m.env.run()
    return k


def reader(k):
    info = vmcoreinfo.parse(k.vmcoreinfo_text)
    num = lambda key: int(info[key])  # noqa: E731
    u64 = lambda va: int.from_bytes(k.ram.read(pa(va), 8), k.byteorder)  # noqa: E731
    u32 = lambda va: int.from_bytes(k.ram.read(pa(va), 4), k.byteorder)  # noqa: E731
    return info, num, u64, u32


def test_the_release_publishes_every_key_it_names_and_each_once_but_contig_page_data():
    """arch_crash_save_vmcoreinfo() (6.12) repeats SYMBOL(contig_page_data) for !NUMA, as the real note does."""
    m = Machine(MachineConfig(memory=2 * GiB, cpus=2))
    m.power_on("fadump=on")
    k = Linux612(m, "fadump=on", "6.12.0", m.boot_count, 0)
    m.env.process(k.boot_sequence())
    m.env.run()
    keys = [line.split("=")[0] for line in vmcoreinfo.lines(k)]
    assert keys.count("SYMBOL(contig_page_data)") == 2
    # FLATMEM, NUMA and MEMORY_FAILURE only (none of them in the reference .config)
    assert set(vmcoreinfo.unbacked(k)) == {"OFFSET(pglist_data.node_mem_map)", "SYMBOL(node_data)",
                                           "LENGTH(node_data)", "NUMBER(PG_hwpoison)"}


def test_contig_page_data_spans_the_partition_in_one_zone(k612):
    info, num, u64, u32 = reader(k612)
    pgdat = int(info["SYMBOL(contig_page_data)"], 16)
    pages = k612.machine.layout.end_of_dram // k612.page_size
    assert u64(pgdat + num("OFFSET(pglist_data.node_start_pfn)")) == 0
    assert u64(pgdat + num("OFFSET(pglist_data.node_spanned_pages)")) == pages
    assert u32(pgdat + num("OFFSET(pglist_data.node_id)")) == 0
    assert u32(pgdat + num("OFFSET(pglist_data.nr_zones)")) == 1
    zone0 = pgdat + num("OFFSET(pglist_data.node_zones)")
    assert u64(zone0 + num("OFFSET(zone.spanned_pages)")) == pages
    assert u64(zone0 + num("SIZE(zone)") + num("OFFSET(zone.spanned_pages)")) == 0  # ZONE_MOVABLE: empty


def test_every_free_list_is_an_empty_list_head_pointing_at_itself(k612):
    info, num, u64, _ = reader(k612)
    zone0 = int(info["SYMBOL(contig_page_data)"], 16) + num("OFFSET(pglist_data.node_zones)")
    for order in range(num("LENGTH(zone.free_area)")):
        area = zone0 + num("OFFSET(zone.free_area)") + order * num("SIZE(free_area)")
        for t in range(num("LENGTH(free_area.free_list)")):
            head = area + num("OFFSET(free_area.free_list)") + t * num("SIZE(list_head)")
            assert u64(head + num("OFFSET(list_head.next)")) == head
            assert u64(head + num("OFFSET(list_head.prev)")) == head
    assert u64(zone0 + num("OFFSET(zone.vm_stat)") + 8 * num("NUMBER(NR_FREE_PAGES)")) == 0


def test_node_online_map_has_node_0(k612):
    info, num, u64, _ = reader(k612)
    assert num("SIZE(nodemask_t)") == 8
    assert u64(int(info["SYMBOL(node_online_map)"], 16)) == 1


def test_cur_cpu_spec_points_at_a_power9_architected_cpu_spec(k612):
    info, num, u64, u32 = reader(k612)
    spec = u64(int(info["SYMBOL(cur_cpu_spec)"], 16))
    assert u32(spec + 4) == 0x0F000005  # pvr_value
    name = k612.ram.read(pa(u64(spec + 8)), 32)
    assert name.split(b"\0")[0] == b"POWER9 (architected)"
    features = u64(spec + num("OFFSET(cpu_spec.cpu_features)"))
    # cputable.h (6.12): CPU_FTR_ARCH_300 0x20000, CPU_FTR_HVMODE 0x2000, CPU_FTR_P9_TIDR 1 << 47;
    # CPU_FTR_TM (1 << 36) is out without CONFIG_PPC_TRANSACTIONAL_MEM.
    assert features & 0x20000 and features & 0x2000 and features & (1 << 47) and not features & (1 << 36)
    mmu = u32(spec + num("OFFSET(cpu_spec.mmu_features)"))
    # mmu.h (6.12): MMU_FTRS_POWER9 = HPTE_TABLE | TLBIEL | 16M_PAGE | LOCKLESS_TLBIE | KERNEL_RO | 68_BIT_VA
    assert mmu == 0x1 | 0x0800_0000 | 0x0400_0000 | 0x1000_0000 | 0x4000 | 0x2000


def test_a_reader_of_the_published_offsets_would_notice_a_wrong_span(k612):
    """The readback is not vacuous: a pglist_data written one field off fails the span check."""
    info, num, u64, _ = reader(k612)
    at = pa(int(info["SYMBOL(contig_page_data)"], 16) + num("OFFSET(pglist_data.node_spanned_pages)"))
    saved = k612.ram.read(at, 8)
    k612.ram.write(at, bytes(8))
    try:
        with pytest.raises(AssertionError):
            test_contig_page_data_spans_the_partition_in_one_zone(k612)
    finally:
        k612.ram.write(at, saved)
