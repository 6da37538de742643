"""The Linux 3.4 fadump code's own rules: sizing, reservation, ELF core header, crash info, sysfs, capture checks.

References: fadump-abi.md §1.2, §1.3, §4.1, §4.4, §5.1 to §5.4 (3.4 wording).
"""

import errno

import pytest

from emulator.scenario import loader as scenario
from emulator.hw.layout import Range
from firmware.machine import Machine, MachineConfig
from emulator.run.runner import Run
from emulator.units import GiB, MiB
from firmware import abi
from firmware.abi import DumpCommand, SectionType
from firmware.structs import DumpMemStruct
from kernels.crash import ENTER_RTAS
from kernels.image import SYMBOLS
from kernels.linux34 import Linux34
from kernels.linux34 import messages as msg
from kernels.structs import FADUMP_CPU_UNKNOWN, PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE
from tests.conftest import small_scenario_text

RELEASE = "3.4.0-fadump-emu"
EPOCH = 1_767_225_600
KERNELBASE = 0xC000_0000_0000_0000
REGISTERED = "/sys/kernel/fadump_registered"
REGION = "/sys/kernel/debug/powerpc/fadump_region"


# --- helpers ---


def early_kernel(memory: int, cmdline: str, **config) -> Linux34:
    """A 3.4 kernel that has scanned the device tree and command line and reserved its area."""
    m = Machine(MachineConfig(memory=memory, cpus=4, **config))
    m.power_on(cmdline)
    k = Linux34(m, cmdline, RELEASE, 1, EPOCH)
    k.fadump.early_init_dt_scan_fw_dump()
    k.fadump.early_fadump_param()
    k.fadump_reserved = k.fadump.fadump_reserve_mem()
    return k


def booted_kernel(machine: Machine, cmdline: str = "fadump=on", register: bool = True) -> Linux34:
    """Boot a 3.4 kernel to userspace on ``machine``; the kdump service registers unless told not to."""
    machine.power_on(cmdline)
    k = Linux34(machine, cmdline, RELEASE, machine.boot_count, EPOCH)
    machine.env.process(k.boot_sequence())
    machine.env.run()
    if register:
        k.settle(k.kdump_service_register())
    return k


def lines(machine: Machine) -> list[str]:
    """The console's lines as text."""
    return [line.text for line in machine.console.lines]


def crash_info(k: Linux34):
    """The FADMPINF header the first kernel keeps right after the boot-memory copy."""
    ks = k.ks
    return ks.crash_info_header_old.parse(k.ram.read(k.fadump.fw_dump.fadumphdr_addr,
                                                     ks.crash_info_header_old.sizeof()))


def program_headers(k: Linux34, at: int):
    """The Elf64_Ehdr at ``at`` and the program headers after it, in the kernel's byte order."""
    ks = k.ks
    eh = ks.elf64_ehdr.parse(k.ram.read(at, 64))
    return eh, [ks.elf64_phdr.parse(k.ram.read(at + 64 + 56 * i, 56)) for i in range(eh.e_phnum)]


def run_with_tampered_dump(tamper):
    """Run the small scenario, letting ``tamper(machine, dump)`` edit what firmware left before the capture boot;
    the executed Run (its result, and its live kernels)."""
    run = Run(scenario.loads(small_scenario_text()), None)
    m, fadump = run.machine, run.machine.fadump
    preserve = fadump.preserve

    def preserve_then_tamper():
        yield from preserve()
        dump = DumpMemStruct.parse(fadump.state.dump)
        tamper(m, dump)
        fadump.state.dump = DumpMemStruct.build(dump)
        m.devicetree.set("/rtas", abi.DT_KERNEL_DUMP, fadump.state.dump)

    fadump.preserve = preserve_then_tamper
    run.execute()
    return run


def rmr_of(dump):
    """The real-mode-region (boot memory) section of a parsed dump structure."""
    return next(s for s in dump.sections if s.source_data_type == SectionType.REAL_MODE_REGION)


# --- boot-memory sizing and the reservation ---


@pytest.mark.parametrize("memory, cmdline, config, boot_size", [
    (1 * GiB, "fadump=on", {}, 320 * MiB),
    (8 * GiB, "fadump=on", {}, 320 * MiB),
    (64 * GiB, "fadump=on", {}, 3 * GiB),
    (8 * GiB, "fadump=on", {"rma_size": 512 * MiB}, 576 * MiB),
    (64 * GiB, "fadump=on fadump_reserve_mem=384M crashkernel=512M", {}, 384 * MiB),
    (8 * GiB, "fadump=on crashkernel=512M@64M", {}, 320 * MiB),  # 3.4 ignores crashkernel= here
    (64 * GiB, "fadump=on mem=1G", {}, 1 * GiB),
], ids=["1G-minimum", "8G-minimum", "64G-5-percent", "big-rma-minimum", "fadump_reserve_mem-wins",
        "crashkernel-size", "mem-caps"])
def test_boot_memory_size_follows_the_3_4_rules(memory, cmdline, config, boot_size):
    """5% of DRAM rounded down to 256 MiB, at least max(RMA, 256 MiB) + 64 MiB; fadump_reserve_mem=, mem= cap.

    fadump_calculate_reserve_size() (arch/powerpc/kernel/fadump.c, v3.4) has no crashkernel= code.
    """
    k = early_kernel(memory, cmdline, **config)
    assert k.fadump.fw_dump.boot_memory_size == boot_size


def test_crashkernel_offset_is_ignored_and_the_area_stays_at_the_top():
    """crashkernel=512M@64M changes nothing for 3.4 fadump (fadump_calculate_reserve_size() has no crashkernel=
    code, fadump.c v3.4): the area still ends at the end of DRAM."""
    k = early_kernel(8 * GiB, "fadump=on crashkernel=512M@64M")
    fw = k.fadump.fw_dump
    assert fw.reserve_dump_area_start + fw.reserve_dump_area_size == 8 * GiB
    assert fw.reserve_dump_area_start > 7 * GiB


def test_mem_raises_the_memory_limit_by_the_dump_area():
    """mem=1G on 64 GiB: the area goes above the limit, which grows by its size and is printed."""
    k = early_kernel(64 * GiB, "fadump=on mem=1G")
    fw = k.fadump.fw_dump
    assert fw.reserve_dump_area_start == 1 * GiB
    assert k.fadump.memory_limit == 1 * GiB + fw.reserve_dump_area_size == 0x8001_0000
    assert lines(k.machine) == [
        "Adjusted memory_limit for firmware-assisted dump, now 0x00000080010000",  # %#016llx
        "Reserved 1024MB of memory at 1024MB for firmware-assisted dump",
    ]


def test_the_first_kernel_reserves_the_dump_area_at_the_top_of_memory():
    """3.4 reserves [end of DRAM - area size, end of DRAM) and says so in MB."""
    k = early_kernel(1 * GiB, "fadump=on")
    fw = k.fadump.fw_dump
    area = Range(fw.reserve_dump_area_start, fw.reserve_dump_area_start + fw.reserve_dump_area_size)
    assert area.end == 1 * GiB and area.start % k.page_size == 0
    assert area in k.memblock.reserved
    assert lines(k.machine) == ["Reserved 320MB of memory at 703MB for firmware-assisted dump"]


@pytest.mark.parametrize("cmdline", ["root=/dev/sda2 fadump=off", "root=/dev/sda2"])
def test_without_fadump_on_nothing_is_reserved_or_registered(run_live, cmdline):
    """fadump=off, or no fadump= at all: no reservation, no registration, the panic is not dumped."""
    result, _, kernels = run_live(small_scenario_text(cmdline=cmdline))
    assert result.outcome == "no-dump"
    assert not any("firmware-assisted" in text for text in lines(result.partition))
    assert [r.name for r in result.partition.rtas_calls] == []
    k = kernels[0]
    assert k.memblock.reserved == [Range(k.memmap.base, k.memmap.base + k.memmap.size)]  # only mem_map


def test_a_machine_without_configure_kernel_dump_is_not_supported():
    """Without /rtas/ibm,configure-kernel-dump the kernel says so and disables fadump."""
    m = Machine(MachineConfig(memory=1 * GiB, cpus=4))
    m.devicetree.delete("/rtas", abi.DT_CONFIGURE_KERNEL_DUMP)
    k = booted_kernel(m)
    assert msg.NOT_SUPPORTED in lines(m)
    assert not k.fadump.fw_dump.fadump_enabled and not k.dump_registered
    assert k.memblock.reserved == [Range(k.memmap.base, k.memmap.base + k.memmap.size)] and m.rtas.log == []


# --- what the first kernel writes at registration ---


def test_the_elf_core_header_covers_memory_around_holes_and_the_reserved_area():
    """PT_NOTE placeholder, vmcoreinfo PT_NOTE, boot memory at its copy, then memory split at the hole."""
    hole = Range(0x4000_0000, 0x5000_0000)
    m = Machine(MachineConfig(memory=2 * GiB, cpus=4, holes=[hole]))
    k = booted_kernel(m)
    fw, rmr = k.fadump.fw_dump, k.fadump.rmr
    boot, base = fw.boot_memory_size, fw.reserve_dump_area_start
    assert k.dump_registered and base + fw.reserve_dump_area_size == 2 * GiB
    elfcorehdr = crash_info(k).elfcorehdr_addr
    eh, ph = program_headers(k, elfcorehdr)
    assert (eh.e_type, eh.e_machine, eh.e_phoff, eh.e_phnum) == (4, 21, 64, 5)  # ET_CORE, EM_PPC64
    assert m.ram.read(elfcorehdr + 64, 56) == bytes([PT_NOTE, 0, 0, 0]) + bytes(52)  # p_type LE, all else 0
    note = rmr.destination_address + SYMBOLS["vmcoreinfo_note"]  # fadump_relocate(): inside boot memory
    assert ph[1].p_type == PT_NOTE and ph[1].p_paddr == ph[1].p_offset == note
    loads = [(p.p_paddr, p.p_memsz, p.p_offset) for p in ph[2:]]
    assert loads == [(0, boot, rmr.destination_address),
                     (boot, hole.start - boot, boot),
                     (hole.end, base - hole.end, hole.end)]
    for p in ph[2:]:
        assert p.p_type == PT_LOAD and p.p_flags == PF_R | PF_W | PF_X
        assert p.p_vaddr == KERNELBASE + p.p_paddr and p.p_filesz == p.p_memsz


def test_a_partition_with_a_hole_is_captured_and_verified(run_text):
    """End to end on 2 GiB with the hole [1 GiB, 1.25 GiB): the vmcore matches crash-time memory."""
    hole = 'holes = [{start = "0x40000000", size = "256MiB"}]'
    result, report = run_text(small_scenario_text(memory="2GiB", machine_extra=hole))
    assert result.outcome == "vmcore" and report["ok"]
    assert result.captures[0].verification["ok"]


@pytest.mark.parametrize("little_endian, magic", [
    (True, b"FNIPMDAF"),  # 0x4641444D50494E46 ("FADMPINF" packed MSB-first) stored little-endian
    (False, b"FADMPINF"),  # the same u64 stored big-endian
], ids=["ppc64le", "ppc64"])
def test_the_crash_info_header_sits_after_the_boot_memory_copy(little_endian, magic):
    """FADMPINF (kernel byte order) at RMR destination + boot size, the ELF header after it, crashing_cpu unknown."""
    m = Machine(MachineConfig(memory=1 * GiB, cpus=4, little_endian=little_endian))
    k = booted_kernel(m)
    rmr = k.fadump.rmr
    at = rmr.destination_address + rmr.source_len
    assert k.fadump.fw_dump.fadumphdr_addr == at
    assert m.ram.read(at, 8) == magic
    fdh = crash_info(k)
    assert fdh.elfcorehdr_addr == at + k.ks.crash_info_header_old.sizeof()
    assert fdh.crashing_cpu == FADUMP_CPU_UNKNOWN == 0xFFFF_FFFF


def test_a_panic_records_the_crashing_cpu_its_registers_and_the_online_mask():
    """crash_fadump() fills the crash info header, then ibm,os-term never returns. The registers the trigger
    gives override the CPU's live ones (gpr3 here stays the CPU's own); the CPU waits inside enter_rtas."""
    m = Machine(MachineConfig(memory=1 * GiB, cpus=4, online_cpus=[0, 1, 3]))
    k = booted_kernel(m)
    live_gpr3 = m.cpus[3].regs["gpr3"]
    regs = {"nip": 0xC000_0000_000A_5F10, "gpr1": 0xC000_0000_FB4F_3B80, "link": 0xC000_0000_000A_5E80}
    assert k.crash("panic", 3, regs, "test crash") == "dumped"
    assert m.fadump.state.pending
    fdh = crash_info(k)
    assert fdh.crashing_cpu == 3
    assert (fdh.regs.nip, fdh.regs.gpr1, fdh.regs.link, fdh.regs.gpr3) == (*regs.values(), live_gpr3)
    assert (m.cpus[3].regs["nip"], m.cpus[3].regs["link"]) == (ENTER_RTAS, regs["nip"])
    assert fdh.cpu_mask[:8] == bytes([0b1011]) + bytes(7)  # CPUs 0, 1, 3 in the first little-endian word


# --- sysfs and debugfs ---


def test_fadump_enabled_reads_1():
    """/sys/kernel/fadump_enabled shows "1\\n" with fadump=on."""
    k = booted_kernel(Machine(MachineConfig(memory=1 * GiB, cpus=4)))
    assert k.sysfs_read("/sys/kernel/fadump_enabled") == "1\n"


def test_fadump_registered_rejects_redundant_and_junk_writes_with_einval():
    """3.4: "1" when registered, "0" when not registered and anything else are -EINVAL."""
    k = booted_kernel(Machine(MachineConfig(memory=1 * GiB, cpus=4)), register=False)
    assert k.settle(k.sysfs_write(REGISTERED, "0")) == -errno.EINVAL
    assert k.settle(k.sysfs_write(REGISTERED, "yes")) == -errno.EINVAL
    assert k.settle(k.sysfs_write(REGISTERED, "1")) == 1 and k.sysfs_read(REGISTERED) == "1\n"
    assert k.settle(k.sysfs_write(REGISTERED, "1")) == -errno.EINVAL
    assert k.settle(k.sysfs_write(REGISTERED, "junk")) == -errno.EINVAL
    assert k.dump_registered


def test_writing_0_unregisters_and_1_registers_again():
    """"0" unregisters through RTAS; "1" registers again."""
    m = Machine(MachineConfig(memory=1 * GiB, cpus=4))
    k = booted_kernel(m)
    assert k.settle(k.sysfs_write(REGISTERED, "0\n")) == 2 and k.sysfs_read(REGISTERED) == "0\n"
    assert k.settle(k.sysfs_write(REGISTERED, "1\n")) == 2 and k.sysfs_read(REGISTERED) == "1\n"
    assert [(r.args[0], r.status) for r in m.rtas.log] == [(DumpCommand.REGISTER, 0), (DumpCommand.UNREGISTER, 0),
                                                           (DumpCommand.REGISTER, 0)]


def test_a_capture_kernel_with_an_active_dump_refuses_every_write_with_eperm(run_live):
    """While the dump is active (not yet released), writes to fadump_registered are -EPERM."""
    result, _, kernels = run_live(small_scenario_text(extra='[capture]\nafter = "stay"'))
    capture = kernels[-1]
    assert result.outcome == "vmcore" and capture.dump_active
    for value in ("1", "0", "junk"):
        assert capture.settle(capture.sysfs_write(REGISTERED, value)) == -errno.EPERM


def test_fadump_region_shows_the_three_sections_in_the_3_4_format():
    """CPU, HPTE and DUMP lines: [dest-dest+len-1] len bytes, Dumped: 0x0 before any dump."""
    k = booted_kernel(Machine(MachineConfig(memory=1 * GiB, cpus=4)))
    fw = k.fadump.fw_dump
    cpu, hpte, boot = fw.reserve_dump_area_start, fw.cpu_state_data_size, fw.boot_memory_size
    dump = cpu + hpte
    assert k.sysfs_read(REGION) == (  # %#016llx is "0x" and 14 digits
        f"CPU : [0x{cpu:014x}-0x{cpu + hpte - 1:014x}] {hpte:#x} bytes, Dumped: 0x0\n"
        f"HPTE: [0x{dump:014x}-0x{dump - 1:014x}] 0x0 bytes, Dumped: 0x0\n"
        f"DUMP: [0x{dump:014x}-0x{dump + boot - 1:014x}] {boot:#x} bytes, Dumped: 0x0\n")
    assert k.sysfs_read(REGION).startswith("CPU : [0x0000002bff0000-0x0000002bff52df] 0x52e0 bytes")


def test_fadump_region_in_the_capture_kernel_adds_the_reserved_memory_line(run_live):
    """With a dump active, the dumped sizes show and a fourth line covers [boot size, CPU destination)."""
    result, _, kernels = run_live(small_scenario_text(extra='[capture]\nafter = "stay"'))
    text = kernels[-1].sysfs_read(REGION).splitlines()
    assert text[0].endswith("0x52e0 bytes, Dumped: 0x52e0")
    assert text[1].endswith("0x0 bytes, Dumped: 0x0")
    assert text[2].endswith("0x14000000 bytes, Dumped: 0x14000000")
    assert text[3] == "    : [0x00000014000000-0x0000002bfeffff] 0x17ff0000 bytes, Dumped: 0x17ff0000"


# --- capture-side rejections ---


def corrupt_magic(machine, dump):
    rmr = rmr_of(dump)
    machine.ram.write(rmr.destination_address + rmr.source_len, b"XXXXXXXX")  # not FADMPINF


def short_copy(machine, dump):
    rmr_of(dump).bytes_dumped -= 0x10000  # firmware stopped 64 KiB short


def error_flag(machine, dump):
    rmr_of(dump).error_flags = 0x4000  # invalid source address


@pytest.mark.parametrize("tamper, message", [
    (corrupt_magic, "Crash info header is not valid."),
    (short_copy, "Dump taken by platform is incomplete"),
    (error_flag, "Dump taken by platform is not valid"),
], ids=["bad-magic", "short-copy", "error-flag"])
def test_the_capture_kernel_rejects_a_bad_dump_and_invalidates_it(tamper, message):
    """process_fadump() refuses the dump with the 3.4 message; the kernel invalidates it and exports nothing."""
    run = run_with_tampered_dump(tamper)
    result, capture = run.result, run.kernels[-1]
    p = result.partition
    assert message in lines(p)
    assert result.outcome == "dump-rejected" and capture.vmcore is None
    assert (p.rtas_calls[-1].args[0], p.rtas_calls[-1].status) == (DumpCommand.INVALIDATE, 0)
    assert p.property("/rtas", abi.DT_KERNEL_DUMP) is None
