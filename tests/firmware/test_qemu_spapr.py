"""QEMU >= 10.2's pseries fadump (firmware = "qemu"), driven through RTAS on a real Machine.

Every fact cites QEMU's source as read at qemu/qemu commit 0ea4120e39b7 (merged for 10.2):
hw/ppc/spapr_fadump.c, hw/ppc/spapr_rtas.c, hw/ppc/spapr.c spapr_dt_rtas_fadump(),
include/hw/ppc/spapr_fadump.h. The real 6.12 run under QEMU 11.1.3 (fadump-abi.md, corrections)
measured the CPU state section at 0xa00 bytes for 2 vCPUs.
"""

from emulator.hw.cpu import default_registers
from emulator.hw.devicetree import read_cells
from firmware.machine import Machine, MachineConfig
from emulator.units import GiB, MiB
from firmware import abi, regsave
from firmware.abi import DumpCommand, DumpStatus, RtasStatus, SectionType
from firmware.structs import DumpMemStruct, RegEntry
from tests.firmware.test_fadump import (
    AREA, BOOT_SIZE, BUF, configure, in_place, os_term, section, structure, take_dump, valid_sections,
)


def qemu(**config) -> Machine:
    """A 1 GiB, 4-vCPU QEMU pseries guest."""
    return Machine(MachineConfig(**{"memory": 1 * GiB, "cpus": 4, "firmware": "qemu", **config}))


def registered(m: Machine, sections=None) -> Machine:
    assert configure(m, DumpCommand.REGISTER, structure(sections or valid_sections(m))) == RtasStatus.SUCCESS
    return m


# --- device tree (spapr_dt_rtas_fadump) ---


def test_the_cpu_state_size_is_header_padding_num_cpus_and_79_entries_per_possible_cpu():
    """16 + 0xc + 4 + max_possible_cpus * FADUMP_PER_CPU_REG_ENTRIES(79) * 16: 0xa00 for 2 vCPUs, as measured."""
    for cpus, size in ((1, 0x20 + 79 * 16), (2, 0xA00), (4, 0x20 + 4 * 1264)):
        cells = read_cells(qemu(cpus=cpus).devicetree.get("/rtas", abi.DT_CONFIGURE_KERNEL_DUMP_SIZES))
        assert cells == [SectionType.CPU_STATE_DATA, 0, size, SectionType.HPTE_REGION, 0, 0]


def test_the_version_property_is_two_host_endian_uint16_ones():
    """fadump_versions[2] = {1, 1} is set without cpu_to_be16: 01 00 01 00 from a little-endian host."""
    assert qemu().devicetree.get("/rtas", abi.DT_CONFIGURE_KERNEL_DUMP_VERSION) == bytes.fromhex("01000100")
    assert Machine(MachineConfig(memory=1 * GiB)).devicetree.get(
        "/rtas", abi.DT_CONFIGURE_KERNEL_DUMP_VERSION) == bytes.fromhex("00010001")  # PowerVM: big-endian


def test_the_rma_defaults_to_all_of_ram_below_1_tib():
    """spapr_rma_size(): min(ram_size, node 0, 1 TiB) with no rma_limit for current machine types."""
    assert qemu().rma_size == 1 * GiB
    assert Machine(MachineConfig(memory=1 * GiB)).rma_size == 256 * MiB  # PowerVM: the first LMB
    assert qemu(rma_size=512 * MiB).rma_size == 512 * MiB


# --- registration (do_fadump_register) ---


def test_a_structure_longer_than_its_sections_registers_where_powervm_refuses_it():
    """QEMU never compares the length with 40 + n*40; PowerVM returns -3."""
    raw = structure(valid_sections(qemu())) + bytes(40)
    m = qemu()
    assert configure(m, DumpCommand.REGISTER, raw) == RtasStatus.SUCCESS
    assert m.fadump.state.registered == raw[:-40]
    phyp = Machine(MachineConfig(memory=1 * GiB, cpus=4))
    assert configure(phyp, DumpCommand.REGISTER, structure(valid_sections(phyp)) + bytes(40)) == -3


def test_registration_refusals_in_qemus_order():
    """-9 registered, -10 active, -3 for short, outside the RMA, version != 1, more than 10 sections."""
    m = qemu(rma_size=256 * MiB)
    good = structure(valid_sections(m))
    assert configure(m, DumpCommand.REGISTER, good, length=39) == RtasStatus.PARAMETER_ERROR
    assert configure(m, DumpCommand.REGISTER, good, addr=256 * MiB - 100) == RtasStatus.PARAMETER_ERROR
    assert configure(m, DumpCommand.REGISTER, structure(valid_sections(m), version=2)) == -3
    assert configure(m, DumpCommand.REGISTER, structure([in_place(i) for i in range(11)])) == -3
    assert m.fadump.state.registered is None
    assert configure(m, DumpCommand.REGISTER, good) == RtasStatus.SUCCESS
    assert configure(m, DumpCommand.REGISTER, good) == RtasStatus.DUMP_ALREADY_REGISTERED
    take_dump(m)
    assert configure(m, DumpCommand.REGISTER, good) == RtasStatus.DUMP_ACTIVE


def test_sections_are_read_from_the_first_section_offset_and_the_status_flag_is_cleared():
    """next_section_addr = fdm_addr + offset_first_dump_section; header.dump_status_flag = 0 before storing."""
    m = qemu()
    sections = valid_sections(m)
    raw = bytearray(structure(sections))
    raw[6:8] = (0xC000).to_bytes(2, "big")  # a stale status flag
    raw[8:12] = (0x50).to_bytes(4, "big")  # sections start 40 bytes later than the header's end
    raw = bytes(raw[:40]) + bytes(40) + bytes(raw[40:])
    assert configure(m, DumpCommand.REGISTER, raw, length=40) == RtasStatus.SUCCESS
    stored = DumpMemStruct.parse(m.fadump.state.registered)
    assert stored.header.dump_status_flag == 0
    assert [s.source_data_type for s in stored.sections] == [s["source_data_type"] for s in sections]


def test_invalidate_without_a_dump_returns_success_and_drops_the_registration():
    """FADUMP_CMD_INVALIDATE stores PARAM_ERROR but falls through to RTAS_OUT_SUCCESS, clearing registration."""
    m = registered(qemu())
    assert configure(m, DumpCommand.INVALIDATE) == RtasStatus.SUCCESS
    assert m.fadump.state.registered is None
    phyp = Machine(MachineConfig(memory=1 * GiB, cpus=4))
    assert configure(phyp, DumpCommand.INVALIDATE) == RtasStatus.PARAMETER_ERROR  # PowerVM refuses


# --- os-term and triggers (rtas_ibm_os_term, trigger_fadump_boot) ---


def test_os_term_without_registration_reports_os_terminated_and_returns_0():
    m = qemu()
    assert os_term(m) == RtasStatus.SUCCESS
    assert any(line.text == "QEMU: OS terminated: OS panic: test" for line in m.console.lines)


def test_qemu_never_dumps_without_os_term():
    """No R1-3 system-reset trigger and no hypervisor termination in QEMU."""
    m = registered(qemu())
    assert not m.fadump.trigger("system reset without ibm,nmi-interlock")
    assert not m.fadump.state.pending


# --- preservation (fadump_preserve_mem and friends) ---


def test_the_register_save_area_lists_every_vcpu_in_qemus_order():
    """CPU_FOREACH (offline vCPUs too); NumCpus at 0x10; ACOP first, GPR00 after FSCR, XER last, CPUEND; 12 zero bytes."""
    m = registered(qemu(online_cpus=[0, 2, 3]))
    mem = take_dump(m)
    size = 0x20 + 4 * 79 * 16
    assert mem.sections[0].bytes_dumped == mem.sections[0].source_len == size
    area = m.ram.read(AREA, size)
    assert area[:0x14] == b"REGSAVE\0" + bytes(4) + bytes.fromhex("00000010") + bytes.fromhex("00000004")
    ids = [RegEntry.parse(area[0x14 + 16 * i:0x24 + 16 * i]) for i in range(4 * 79)]
    assert [e.reg_value for e in ids[::79]] == [0, 1, 2, 3]  # CPUSTRT of vCPU 1 too, though offline
    names = [abi.reg_name(e.reg_id) for e in ids[:79]]
    assert names[:3] == ["CPUSTRT", "ACOP", "AMR"] and names[-2:] == ["XER", "CPUEND"]
    assert names[22:24] == ["FSCR", "GPR00"] and names[54] == "GPR31" and names[55] == "IAMR"
    assert area[-12:] == bytes(12)


def test_the_saved_values_are_the_vcpus_registers_as_be64():
    m = qemu()
    m.cpus[2].set({"gpr5": 0x1122_3344_5566_7788, "ccr": 0x2400_4288, "nip": 0xC000_0000_0012_3450})
    registered(m)
    take_dump(m)
    entries = {(cpu, abi.reg_name(e.reg_id)): e.reg_value for cpu in range(4)
               for e in (RegEntry.parse(m.ram.read(AREA + 0x14 + 16 * (79 * cpu + i), 16)) for i in range(79))}
    assert entries[(2, "GPR05")] == 0x1122_3344_5566_7788
    assert entries[(2, "CR")] == 0x2400_4288
    assert entries[(2, "NIA")] == 0xC000_0000_0012_3450
    assert entries[(0, "PIR")] == default_registers(0, True)["pir"]


def test_hpte_is_skipped_and_the_dump_is_published_with_triggered_and_performed():
    m = registered(qemu())
    mem = take_dump(m)
    assert mem.sections[1].bytes_dumped == 0 and mem.sections[1].error_flags == 0
    assert mem.sections[2].bytes_dumped == BOOT_SIZE
    assert mem.header.dump_status_flag == DumpStatus.TRIGGERED | DumpStatus.PERFORMED
    assert m.devicetree.get("/rtas", abi.DT_KERNEL_DUMP) == m.fadump.state.dump
    assert len(m.fadump.state.dump) == 40 + 3 * 40


def test_address_errors_are_stored_host_endian_and_unknown_types_big_endian():
    """region->error_flags = FADUMP_ERROR_INVALID_SOURCE_ADDR (no cpu_to_be16): the kernel reads 0x0040;
    the unknown-type flag goes through cpu_to_be16: 0x8000. A request flag other than 1 is skipped."""
    m = qemu()
    sections = valid_sections(m)
    dest = sections[2]["destination_address"] + BOOT_SIZE
    sections += [section(SectionType.REAL_MODE_REGION, 0x1000_0000, BOOT_SIZE, dest),
                 section(SectionType.OS_IDENTIFIED_STRING, 0x0200_0000, 0x100, dest + BOOT_SIZE),
                 section(SectionType.REAL_MODE_REGION, 0, BOOT_SIZE, dest + 2 * BOOT_SIZE, flag=0)]
    registered(m, sections)
    m.layout.present.discard(1)  # the second region's LMB leaves before the crash
    mem = take_dump(m)
    assert (mem.sections[3].error_flags, mem.sections[3].bytes_dumped) == (0x0040, 0)
    assert mem.sections[4].error_flags == 0x8000
    assert (mem.sections[5].error_flags, mem.sections[5].bytes_dumped) == (0, 0)
    assert not m.ram.touched_runs(dest + 2 * BOOT_SIZE, dest + 3 * BOOT_SIZE)


def test_a_cpu_state_length_mismatch_is_only_logged_and_bytes_dumped_is_what_was_written():
    """do_populate_cpu_state(): bytes_dumped = cpu_state_len; a different source_len is logged, not refused."""
    m = qemu()
    sections = valid_sections(m)
    sections[0]["source_len"] += 0x1000
    registered(m, sections)
    mem = take_dump(m)
    assert mem.sections[0].bytes_dumped == regsave.QEMU.area_size(4) != mem.sections[0].source_len
    assert mem.sections[0].error_flags == 0
    assert any("Mismatch in CPU State region's length" in line.text for line in m.console.lines)


def test_a_param_area_preserved_in_place_counts_as_dumped():
    """do_preserve_region(): src == dest sets bytes_dumped = len without copying."""
    m = qemu()
    registered(m, valid_sections(m) + [in_place(0)])
    assert take_dump(m).sections[3].bytes_dumped == 0x800


def test_after_invalidate_a_new_registration_is_accepted_and_kernel_dump_is_gone():
    m = registered(qemu())
    take_dump(m)
    assert configure(m, DumpCommand.INVALIDATE) == RtasStatus.SUCCESS
    assert not m.devicetree.has("/rtas", abi.DT_KERNEL_DUMP)
    assert configure(m, DumpCommand.REGISTER, structure(valid_sections(m)), addr=BUF) == RtasStatus.SUCCESS


def test_an_overlapping_destination_gets_chunks_already_overwritten_by_earlier_ones():
    """do_preserve_region() copies 32 MiB chunks upwards (FADUMP_CHUNK_SIZE) and QEMU never checks overlap:
    with the destination 32 MiB above the source, the second chunk reads what the first one wrote."""
    m = qemu()
    first, second = b"first chunk".ljust(16, b"."), b"second chunk".ljust(16, b".")
    m.ram.write(0x0, first)
    m.ram.write(32 * MiB, second)
    sections = valid_sections(m)[:2] + [section(SectionType.REAL_MODE_REGION, 0, 64 * MiB, 32 * MiB)]
    registered(m, sections)
    assert take_dump(m).sections[2].bytes_dumped == 64 * MiB
    assert m.ram.read(32 * MiB, 16) == first
    assert m.ram.read(64 * MiB, 16) == first  # not "second chunk": that source was overwritten first
    phyp = Machine(MachineConfig(memory=1 * GiB, cpus=4))
    assert configure(phyp, DumpCommand.REGISTER, structure(valid_sections(phyp)[:2] + sections[2:])) == -3
