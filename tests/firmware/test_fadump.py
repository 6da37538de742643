"""PowerVM's ibm,configure-kernel-dump and the dump itself, driven through RTAS on a real Machine.

Every validation rule of the call (LoPAR sec_rtas_configure_kernel_dump.xml,
peers-and-papr.md §4.1) returns exactly one status; preservation (ABI §4.3)
copies boot memory, writes the register save area (§1.4) and publishes
/rtas/ibm,kernel-dump.
"""

import pytest

from emulator.hw.devicetree import read_cells
from emulator.hw.layout import Range
from firmware.machine import Machine, MachineConfig
from emulator.units import GiB, MiB
from firmware import abi
from firmware.abi import DumpCommand, RtasStatus, SectionType
from firmware.regsave import REGISTER_IDS
from firmware.structs import DumpMemStruct, RegEntry

BUF = 0x0170_0000
"""The work buffer (where Linux keeps its fdm), inside the 256 MiB RMA."""
TERM_BUF = 0x0171_0000
"""Where the ibm,os-term message string goes."""
AREA = 0x3000_0000
"""The dump area: the start of the last 256 MiB LMB of a 1 GiB partition."""
BOOT_SIZE = 16 * MiB
"""Boot memory [0, 16 MiB) copied by the real-mode-region section."""
HOLE = Range(0x2000_0000, 0x3000_0000)
"""LMB 2 of a 1 GiB partition, absent."""

CPUSTRT = abi.reg_id("CPUSTRT")  # 0x4350555354525400: b"CPUSTRT\0"
CPUEND = abi.reg_id("CPUEND")  # 0x435055454E440000: b"CPUEND\0\0"


# --- helpers ---


def new_machine(**config) -> Machine:
    """A 1 GiB, 4-CPU partition (256 MiB LMBs and RMA) unless ``config`` says otherwise."""
    return Machine(MachineConfig(**{"memory": 1 * GiB, "cpus": 4, **config}))


def advertised_size(machine: Machine, kind: int) -> int:
    """The size ibm,configure-kernel-dump-sizes gives for ``kind`` ({type, hi, lo} be32 triplets)."""
    c = read_cells(machine.devicetree.get("/rtas", abi.DT_CONFIGURE_KERNEL_DUMP_SIZES))
    return next((c[i + 1] << 32) | c[i + 2] for i in range(0, len(c), 3) if c[i] == kind)


def section(kind: int, src: int, length: int, dest: int, flag: int = abi.REQUEST_FLAG) -> dict:
    """One dump section as the kernel fills it (error flags and bytes dumped zero)."""
    return {"request_flag": flag, "source_data_type": kind, "error_flags": 0, "source_address": src,
            "source_len": length, "bytes_dumped": 0, "destination_address": dest}


def valid_sections(machine: Machine, boot_size: int = BOOT_SIZE) -> list[dict]:
    """CPU state, HPTE and boot memory laid out from AREA the way Linux 3.4 lays them out."""
    cpu = advertised_size(machine, SectionType.CPU_STATE_DATA)
    hpte = advertised_size(machine, SectionType.HPTE_REGION)
    return [section(SectionType.CPU_STATE_DATA, 0, cpu, AREA),
            section(SectionType.HPTE_REGION, 0, hpte, AREA + cpu),
            section(SectionType.REAL_MODE_REGION, 0, boot_size, AREA + cpu + hpte)]


def in_place(i: int) -> dict:
    """An OS-defined section (type 0x0100) whose source is its destination: nothing to copy."""
    addr = 0x0200_0000 + i * 0x1000
    return section(SectionType.PARAM_AREA, addr, 0x800, addr)


def structure(sections: list[dict], version: int = abi.DUMP_FORMAT_VERSION) -> bytes:
    """Header plus sections, big-endian, exactly 40 + n*40 bytes."""
    header = {"dump_format_version": version, "dump_num_sections": len(sections), "dump_status_flag": 0,
              "offset_first_dump_section": abi.SECTION_HEADER_SIZE, "dd_block_size": 0, "dd_block_offset": 0,
              "dd_num_blocks": 0, "dd_offset_disk_path": 0, "max_time_auto": 0}
    return DumpMemStruct.build({"header": header, "sections": sections})


def configure(machine: Machine, command: int, raw: bytes = b"", addr: int = BUF, length: int | None = None):
    """Put ``raw`` at ``addr`` and call ibm,configure-kernel-dump(command, addr, length)."""
    if raw:
        machine.ram.write(addr, raw)
    token = machine.rtas.token(abi.DT_CONFIGURE_KERNEL_DUMP)
    return machine.rtas.call(token, command, addr, len(raw) if length is None else length)


def rejected(machine: Machine, raw: bytes, **kwargs) -> int:
    """REGISTER ``raw``; check that nothing was registered and return the status."""
    status = configure(machine, DumpCommand.REGISTER, raw, **kwargs)
    assert machine.fadump.state.registered is None
    return status


def os_term(machine: Machine) -> int | None:
    """ibm,os-term with a NUL-terminated message in RAM."""
    machine.ram.write(TERM_BUF, b"OS panic: test\0")  # the message, NUL-terminated
    return machine.rtas.call(machine.rtas.token(abi.DT_OS_TERM), TERM_BUF)


def take_dump(machine: Machine):
    """os-term, then run firmware's preservation to completion; the updated structure."""
    assert os_term(machine) is None
    machine.env.process(machine.fadump.preserve())
    machine.env.run()
    return DumpMemStruct.parse(machine.fadump.state.dump)


def registered_and_dumped(**config) -> Machine:
    """A machine whose valid 3-section registration has been dumped (a dump is active)."""
    m = new_machine(**config)
    assert configure(m, DumpCommand.REGISTER, structure(valid_sections(m))) == RtasStatus.SUCCESS
    take_dump(m)
    return m


def regsave_lists(machine: Machine, addr: int) -> list[tuple[int, int, int]]:
    """Walk the register save area: (CPUSTRT value, register entries, CPUEND value) per CPU."""
    ram = machine.ram
    offset = ram.read_u32(addr + 0x0C, "big")
    entry = addr + offset + 4
    out = []
    for _ in range(ram.read_u32(addr + offset, "big")):
        first = RegEntry.parse(ram.read(entry, 16))
        assert first.reg_id == CPUSTRT
        count, entry = 0, entry + 16
        while (e := RegEntry.parse(ram.read(entry, 16))).reg_id != CPUEND:
            count, entry = count + 1, entry + 16
        out.append((first.reg_value, count, e.reg_value))
        entry += 16
    return out


# --- registration rules ---


def test_a_valid_three_section_structure_registers():
    """CPU state, HPTE and boot memory with destinations in memory register with status 0."""
    m = new_machine()
    raw = structure(valid_sections(m))
    assert configure(m, DumpCommand.REGISTER, raw) == RtasStatus.SUCCESS
    assert m.fadump.state.registered == raw


def test_registering_twice_returns_already_registered():
    """A second REGISTER while registered returns -9."""
    m = new_machine()
    raw = structure(valid_sections(m))
    configure(m, DumpCommand.REGISTER, raw)
    assert configure(m, DumpCommand.REGISTER, raw) == RtasStatus.DUMP_ALREADY_REGISTERED == -9


@pytest.mark.parametrize("addr", [0, 0x1000_0000, 0x1000_0000 - 80, AREA],
                         ids=["address-0", "at-rma-end", "straddling-rma-end", "far-above-rma"])
def test_a_work_buffer_outside_the_rma_is_a_parameter_error(addr):
    """R1-2: the buffer must lie in the RMA (here [0, 256 MiB)), and address 0 is refused."""
    m = new_machine()
    assert rejected(m, structure(valid_sections(m)), addr=addr) == RtasStatus.PARAMETER_ERROR


@pytest.mark.parametrize("version", [0, 2])
def test_a_format_version_other_than_1_is_a_parameter_error(version):
    """Only dump format version 1 is defined."""
    m = new_machine()
    assert rejected(m, structure(valid_sections(m), version=version)) == RtasStatus.PARAMETER_ERROR


def test_ten_sections_are_accepted_and_eleven_are_a_parameter_error():
    """At most nine sections follow the first: 10 register, 11 (480 bytes) do not."""
    ten, eleven = new_machine(), new_machine()
    assert configure(ten, DumpCommand.REGISTER,
                     structure(valid_sections(ten) + [in_place(i) for i in range(7)])) == RtasStatus.SUCCESS
    raw = structure(valid_sections(eleven) + [in_place(i) for i in range(8)])
    assert len(raw) == 480
    assert rejected(eleven, raw) == RtasStatus.PARAMETER_ERROR


def test_a_structure_over_512_bytes_is_a_parameter_error():
    """Version 1 structures may not exceed 512 bytes (12 sections are 520)."""
    m = new_machine()
    raw = structure(valid_sections(m) + [in_place(i) for i in range(9)])
    assert len(raw) == 520
    assert rejected(m, raw) == RtasStatus.PARAMETER_ERROR


@pytest.mark.parametrize("length", [40, 120, 159, 161, 200, 440])
def test_a_length_other_than_40_plus_40_per_section_is_a_parameter_error(length):
    """PowerVM wants exactly 40 + n*40 bytes (160 for 3 sections), neither less nor more."""
    m = new_machine()
    raw = structure(valid_sections(m)).ljust(440, b"\0")  # zero bytes after the 3 sections
    assert rejected(m, raw, length=length) == RtasStatus.PARAMETER_ERROR


@pytest.mark.parametrize("flag", [0, 2, 0x8000_0001])
def test_a_request_flag_other_than_1_is_a_parameter_error(flag):
    """Without a disk, every section must ask firmware to copy (request flag 0x1)."""
    m = new_machine()
    sections = valid_sections(m)
    sections[2]["request_flag"] = flag
    assert rejected(m, structure(sections)) == RtasStatus.PARAMETER_ERROR


@pytest.mark.parametrize("kind", [0x0000, 0x0005, 0x0013, 0x00FF])
def test_an_unknown_firmware_section_type_is_a_parameter_error(kind):
    """Types below 0x0100 other than 0x0001, 0x0002, 0x0011 and 0x0012 are refused."""
    m = new_machine()
    extra = section(kind, 0x0200_0000, 0x1000, AREA + 0x0800_0000)
    assert rejected(m, structure(valid_sections(m) + [extra])) == RtasStatus.PARAMETER_ERROR


def test_an_os_defined_section_preserved_in_place_is_accepted():
    """Type 0x0100 (OS-defined) with source == destination registers: nothing is copied."""
    m = new_machine()
    assert configure(m, DumpCommand.REGISTER, structure(valid_sections(m) + [in_place(0)])) == RtasStatus.SUCCESS


@pytest.mark.parametrize("dest", [1 * GiB - BOOT_SIZE // 2, 1 * GiB, HOLE.start, HOLE.end - 0x1000],
                         ids=["crossing-ram-end", "beyond-ram", "in-hole", "ending-in-next-lmb"])
def test_a_destination_not_all_memory_is_a_parameter_error(dest):
    """The boot-memory copy must land in present memory, not past RAM nor in a hole."""
    m = new_machine(holes=[HOLE])
    sections = valid_sections(m)
    sections[2]["destination_address"] = dest
    assert rejected(m, structure(sections)) == RtasStatus.PARAMETER_ERROR


@pytest.mark.parametrize("dest", [0, BOOT_SIZE // 2, BOOT_SIZE - 1])
def test_a_destination_overlapping_the_boot_memory_source_is_a_parameter_error(dest):
    """No destination may overlap the real-mode region it copies from."""
    m = new_machine()
    sections = valid_sections(m)
    sections[2]["destination_address"] = dest
    assert rejected(m, structure(sections)) == RtasStatus.PARAMETER_ERROR


def test_a_destination_right_after_the_boot_memory_source_is_accepted():
    """Destination [16 MiB, 32 MiB) only touches the source [0, 16 MiB): accepted."""
    m = new_machine()
    sections = valid_sections(m)
    sections[2]["destination_address"] = BOOT_SIZE
    assert configure(m, DumpCommand.REGISTER, structure(sections)) == RtasStatus.SUCCESS


def test_a_boot_memory_source_spanning_a_hole_is_a_parameter_error():
    """A real-mode region [448 MiB, 576 MiB) crosses the hole [512 MiB, 768 MiB): refused."""
    m = new_machine(holes=[HOLE])
    sections = valid_sections(m)
    sections[2].update(source_address=HOLE.start - 64 * MiB, source_len=128 * MiB)
    assert rejected(m, structure(sections)) == RtasStatus.PARAMETER_ERROR


# --- commands while a dump is active, and malformed calls ---


def test_unregister_while_a_dump_is_active_returns_dump_active():
    """UNREGISTER after a dump (before INVALIDATE) returns -10."""
    m = registered_and_dumped()
    assert configure(m, DumpCommand.UNREGISTER, length=160) == RtasStatus.DUMP_ACTIVE == -10


def test_register_while_a_dump_is_active_returns_dump_active():
    """REGISTER after a dump (before INVALIDATE) returns -10."""
    m = registered_and_dumped()
    assert configure(m, DumpCommand.REGISTER, structure(valid_sections(m))) == RtasStatus.DUMP_ACTIVE


def test_invalidate_without_a_dump_is_a_parameter_error():
    """INVALIDATE with no dump is an error (-3), unlike QEMU, which falls through to success."""
    m = new_machine()
    assert configure(m, DumpCommand.INVALIDATE, structure(valid_sections(m))) == RtasStatus.PARAMETER_ERROR


def test_invalidate_after_a_dump_removes_ibm_kernel_dump_and_allows_registering_again():
    """INVALIDATE ends the dump: the property goes away and REGISTER succeeds again."""
    m = registered_and_dumped()
    raw = structure(valid_sections(m))
    assert configure(m, DumpCommand.INVALIDATE, raw) == RtasStatus.SUCCESS
    assert not m.devicetree.has("/rtas", abi.DT_KERNEL_DUMP)
    assert configure(m, DumpCommand.REGISTER, raw) == RtasStatus.SUCCESS


def test_unregister_forgets_the_registration():
    """UNREGISTER without a dump returns 0 and a new REGISTER succeeds."""
    m = new_machine()
    raw = structure(valid_sections(m))
    configure(m, DumpCommand.REGISTER, raw)
    assert configure(m, DumpCommand.UNREGISTER, raw) == RtasStatus.SUCCESS
    assert m.fadump.state.registered is None
    assert configure(m, DumpCommand.REGISTER, raw) == RtasStatus.SUCCESS


@pytest.mark.parametrize("command", [0, 4, 0xFFFF_FFFF])
def test_an_unknown_command_is_a_parameter_error(command):
    """Commands other than 1, 2 and 3 return -3."""
    m = new_machine()
    assert configure(m, command, structure(valid_sections(m))) == RtasStatus.PARAMETER_ERROR
    assert m.fadump.state.registered is None


@pytest.mark.parametrize("args", [(1, BUF), (1, BUF, 160, 0), ()])
def test_a_wrong_number_of_arguments_is_a_parameter_error(args):
    """ibm,configure-kernel-dump takes exactly three inputs."""
    m = new_machine()
    m.ram.write(BUF, structure(valid_sections(m)))
    assert m.rtas.call(m.rtas.token(abi.DT_CONFIGURE_KERNEL_DUMP), *args) == RtasStatus.PARAMETER_ERROR
    assert m.fadump.state.registered is None


def test_an_injected_fault_is_returned_once():
    """A queued -1 replaces exactly one call's status; the next call is handled normally."""
    m = new_machine()
    m.rtas.faults[abi.DT_CONFIGURE_KERNEL_DUMP] = [RtasStatus.HARDWARE_ERROR]
    raw = structure(valid_sections(m))
    assert configure(m, DumpCommand.REGISTER, raw) == -1
    assert m.fadump.state.registered is None
    assert configure(m, DumpCommand.REGISTER, raw) == RtasStatus.SUCCESS
    assert [r.status for r in m.rtas.log] == [-1, 0]


# --- ibm,os-term and preservation ---


def test_os_term_with_a_registration_never_returns_and_leaves_the_dump_pending():
    """R1-3: with a dump registered, ibm,os-term does not return; the dump is pending."""
    m = new_machine()
    configure(m, DumpCommand.REGISTER, structure(valid_sections(m)))
    assert os_term(m) is None
    assert m.fadump.state.pending
    assert m.fadump.state.os_term_message == "OS panic: test"


def test_os_term_without_a_registration_returns_success():
    """Extended os-term: with nothing registered the call returns 0 to the OS."""
    m = new_machine()
    assert os_term(m) == RtasStatus.SUCCESS
    assert not m.fadump.state.pending


def test_preservation_copies_boot_memory_and_reports_every_section():
    """Boot memory is copied, every section is complete and error-free, status 0xC000, ibm,kernel-dump set."""
    m = new_machine()
    m.ram.write(0x0040_0000, b"workload in boot memory" * 1000)
    configure(m, DumpCommand.REGISTER, structure(valid_sections(m)))
    mem = take_dump(m)
    rmr = mem.sections[2]
    assert m.ram.read(rmr.destination_address, BOOT_SIZE) == m.ram.read(0, BOOT_SIZE)
    assert [s.bytes_dumped for s in mem.sections] == [s.source_len for s in mem.sections]
    assert [s.error_flags for s in mem.sections] == [0, 0, 0]
    assert mem.header.dump_status_flag == 0xC000  # DUMP_TRIGGERED | DUMP_PERFORMED
    prop = m.devicetree.get("/rtas", abi.DT_KERNEL_DUMP)
    assert prop == m.fadump.state.dump and len(prop) == 40 + 3 * 40
    assert m.fadump.state.registered is None and not m.fadump.state.pending


def test_the_register_save_area_follows_lopar_for_the_online_cpus():
    """REGSAVE, num_cpu_offset 0x1C after zero padding, NumCpus = online CPUs, CPUSTRT..CPUEND per CPU."""
    m = new_machine(online_cpus=[0, 2, 3])
    m.cpus[2].set({"gpr3": 0x1122_3344_5566_7788})
    size = advertised_size(m, SectionType.CPU_STATE_DATA)
    m.ram.fill(AREA, size, 0xFF)  # stale bytes, so zeros below are firmware's
    configure(m, DumpCommand.REGISTER, structure(valid_sections(m)))
    take_dump(m)
    head = m.ram.read(AREA, 0x20)
    assert head[0x00:0x08] == b"REGSAVE\0"  # magic_number
    assert head[0x08:0x0C] == bytes(4)  # version 0
    assert head[0x0C:0x10] == bytes.fromhex("0000001c")  # num_cpu_offset = 0x1C
    assert head[0x10:0x1C] == bytes(12)  # padding
    assert head[0x1C:0x20] == bytes.fromhex("00000003")  # NumCpus = 3 online CPUs
    lists = regsave_lists(m, AREA)
    assert [(start, end) for start, _, end in lists] == [(0, 0), (2, 2), (3, 3)]  # low word = logical id
    assert {count for _, count, _ in lists} == {len(REGISTER_IDS)}
    cpu2_gpr3 = AREA + 0x20 + 16 * (len(REGISTER_IDS) + 2) + 16 * (1 + 3)  # past CPU 0, CPUSTRT, GPR00..02
    gpr3 = RegEntry.parse(m.ram.read(cpu2_gpr3, 16))
    assert (gpr3.reg_id, gpr3.reg_value) == (abi.reg_id("GPR03"), 0x1122_3344_5566_7788)
    used = 0x20 + 3 * 16 * (len(REGISTER_IDS) + 2)
    assert m.ram.read(AREA + used, size - used) == bytes(size - used)  # offline CPU 1's room, zeroed


def test_the_qemu_register_save_area_puts_num_cpus_at_0x10():
    """With firmware = "qemu", num_cpu_offset is 0x10 and the first CPUSTRT follows at 0x14
    (QEMU 10.2 hw/ppc/spapr_fadump.c get_cpu_state_data())."""
    m = registered_and_dumped(firmware="qemu")
    head = m.ram.read(AREA, 0x1C)
    assert head[0x0C:0x10] == bytes.fromhex("00000010")  # num_cpu_offset = 0x10
    assert head[0x10:0x14] == bytes.fromhex("00000004")  # NumCpus = 4
    assert head[0x14:0x1C] == b"CPUSTRT\0"  # first entry's id right after NumCpus
    assert [start for start, _, _ in regsave_lists(m, AREA)] == [0, 1, 2, 3]


def test_a_source_gone_from_memory_at_dump_time_gets_the_invalid_source_flag():
    """A region whose LMB was removed after registration is not copied and gets error flag 0x4000."""
    m = new_machine()
    sections = valid_sections(m)
    second = section(SectionType.REAL_MODE_REGION, 0x1000_0000, BOOT_SIZE,
                     sections[2]["destination_address"] + BOOT_SIZE)
    assert configure(m, DumpCommand.REGISTER, structure(sections + [second])) == RtasStatus.SUCCESS
    m.layout.present.discard(1)  # LMB 1, [256 MiB, 512 MiB), leaves the partition before the crash
    mem = take_dump(m)
    assert mem.sections[3].error_flags == 0x4000  # INVALID_SOURCE_ADDR
    assert mem.sections[3].bytes_dumped == 0
    assert [s.error_flags for s in mem.sections[:3]] == [0, 0, 0]
    assert not m.ram.touched_runs(second["destination_address"], second["destination_address"] + BOOT_SIZE)


# --- dumps without ibm,os-term: firmware methods, with their own console lines ---


def test_the_hypervisor_terminating_a_registered_partition_starts_a_dump():
    """LoPAR: a registered partition the hypervisor terminates is dumped (PowerVM); nothing else is said yet."""
    m = new_machine()
    assert configure(m, DumpCommand.REGISTER, structure(valid_sections(m))) == RtasStatus.SUCCESS
    assert m.fadump.terminate_partition() and m.fadump.state.pending
    assert m.fadump.state.os_term_message == "partition terminated by the hypervisor"
    assert not m.console.lines


def test_the_hypervisor_terminating_an_unregistered_partition_says_memory_is_not_preserved():
    """LoPAR (ibm,configure-kernel-dump): with nothing registered the partition is reset without preserving
    memory; the PHYP line saying so is the emulator's wording (PowerVM prints no such line a guest can read)."""
    m = new_machine()
    assert not m.fadump.terminate_partition() and not m.fadump.state.pending
    assert [line.text for line in m.console.lines] == [
        "PHYP: partition terminated by the hypervisor; no dump is registered, so the partition is reset and its "
        "memory is not preserved"]


@pytest.mark.parametrize("firmware, dumps", [("phyp", True), ("qemu", False)])
def test_a_system_reset_the_os_returns_from_is_dumped_by_powervm_only(firmware, dumps):
    """LoPAR R1-3: without ibm,nmi-interlock (Linux never calls it) PowerVM dumps a registered partition after a
    system reset; QEMU 10.2 dumps only from ibm,os-term (hw/ppc/spapr_fadump.c)."""
    m = new_machine(firmware=firmware)
    assert configure(m, DumpCommand.REGISTER, structure(valid_sections(m))) == RtasStatus.SUCCESS
    assert m.fadump.system_reset_unhandled() == dumps == m.fadump.state.pending
