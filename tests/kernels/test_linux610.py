"""The Linux 6.10 fadump code's own rules: wording, sizing, placement, FADMPSIG header, rgn[], sysfs, capture checks.

References: fadump-abi.md §1.1, §1.2, §1.3, §2, §4.1, §4.4, §4.6, §5.1 to §5.4; peers-and-papr.md §5.
"""

import errno
import re
from pathlib import Path

import pytest

from emulator.run import report
from emulator.scenario import loader as scenario
from emulator.hw.layout import Range
from firmware.machine import Machine, MachineConfig
from emulator.run.runner import Run
from emulator.units import GiB, MiB
from firmware import abi
from firmware.abi import DumpCommand, SectionType
from firmware.structs import DumpMemStruct
from kernels.linux34 import messages as msg34
from kernels.linux610 import Linux610
from kernels.structs import PT_LOAD, PT_NOTE

RELEASE = "6.10.0-fadump-emu"
SYSFS = "/sys/kernel/fadump"
REGION = "/sys/kernel/debug/powerpc/fadump_region"
BOOTARGS = f"{SYSFS}/bootargs_append"
STAY = '[capture]\nafter = "stay"'
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

MODERN = """
name = "modern"
[machine]
memory = "1GiB"
cpus = 4
{machine}
[kernel]
profile = "{profile}"
cmdline = "{cmdline}"
{kernel}
[memory]
write = [{{addr = "0x4100000", text = "inside boot memory", repeat = 64}},
         {{addr = "{high}", text = "above the dump area", repeat = 64}}]
[crash]
cpu = {cpu}
at = "10s"
[crash.regs]
nip = "0xc0000000000a5f10"
{extra}
"""



def modern_text(machine="", cmdline="fadump=on", kernel="", high="0x30000000", cpu=1, extra="", profile="linux-6.10"):
    """A 1 GiB, 4-CPU partition with data in and above boot memory, crashing at 10 s on ``cpu``."""
    return MODERN.format(**locals())


def run(text: str, tamper=None):
    """Run scenario text with no output folder; ``tamper(machine, dump)`` edits the dump before the capture boot."""
    result, rep, _ = run_live(text, tamper)
    return result, rep


def run_live(text: str, tamper=None):
    """As run(), with the Run's live kernels too (for a look inside them after the run)."""
    r = Run(scenario.loads(text), None)
    if tamper is not None:
        m, fadump = r.machine, r.machine.fadump
        preserve = fadump.preserve

        def preserve_then_tamper(*args, **kwargs):
            yield from preserve(*args, **kwargs)
            dump = DumpMemStruct.parse(fadump.state.dump)
            tamper(m, dump)
            fadump.state.dump = DumpMemStruct.build(dump)
            m.devicetree.set("/rtas", abi.DT_KERNEL_DUMP, fadump.state.dump)

        fadump.preserve = preserve_then_tamper
    result = r.execute()
    return result, report.to_json(result, report.check_expectations(result)), r.kernels


def booted(memory=1 * GiB, cmdline="fadump=on", **config) -> Linux610:
    """Boot a 6.10 kernel to userspace; it registers by itself in setup_fadump()."""
    m = Machine(MachineConfig(memory=memory, cpus=4, **config))
    m.power_on(cmdline)
    k = Linux610(m, cmdline, RELEASE, m.boot_count, 0)
    m.env.process(k.boot_sequence())
    m.env.run()
    return k


def lines(machine: Machine) -> list[str]:
    return [line.text for line in machine.console.lines]


def rtas_configure_calls(calls) -> list[tuple[int, int, int | None]]:
    """(command, length, status) of every ibm,configure-kernel-dump call among ``calls`` (an RTAS log)."""
    return [(r.args[0], r.args[2], r.status) for r in calls if r.name == abi.DT_CONFIGURE_KERNEL_DUMP]


def registered_structure(k: Linux610):
    """The structure the last REGISTER passed, parsed from RAM at its address (args[1]) and length (args[2])."""
    call = [r for r in k.machine.rtas.log if r.args and r.args[0] == DumpCommand.REGISTER][-1]
    raw = k.ram.read(call.args[1], call.args[2])
    return raw, DumpMemStruct.parse(raw)


HOLES_64M = ('lmb_size = "64MiB"\n'
             'holes = [{start = "0x8000000", size = "64MiB"}, {start = "0x10000000", size = "64MiB"}]')
"""Memory [0, 128M) [192M, 256M) [320M, 1G): 320 MiB of boot memory needs three regions, boot_mem_top 448 MiB."""
HOLES = [Range(128 * MiB, 192 * MiB), Range(256 * MiB, 320 * MiB)]


# --- wording ---


def test_a_modern_life_prints_the_6_10_catalogue_verbatim_with_prefixes():
    """Reservation, automatic registration, the two "active" lines, the crash-area reservation and the release."""
    result, _ = run(modern_text())
    text = lines(result.partition)
    assert "fadump: Reserved 320MB of memory at 0x00000014000000 (System RAM: 1024MB)" in text  # %#016llx
    assert text.index("rtas fadump: Registration is successful!") < text.index(
        "Kernel panic - not syncing: fadump-emu: scripted crash")
    assert not any(line.startswith("kdump: registering") for line in text)  # nobody wrote to sysfs
    active = text.index("rtas fadump: Firmware-assisted dump is active.")
    assert text[active + 1] == "fadump: Firmware-assisted dump is active."
    assert text[active + 2] == "fadump: Reserving 704MB of memory at 0x00000014000000 for preserving crash data"
    freeing = [line for line in text if line.startswith("fadump: freeing reserved memory")]
    assert len(freeing) == 1 and re.fullmatch(r"fadump: freeing reserved memory \(0x[0-9a-f]+ - 0x40000000\)",
                                              freeing[0])
    assert rtas_configure_calls(result.partition.rtas_calls)[-1] == (DumpCommand.INVALIDATE, 440, 0)  # all of rgn[10]


def test_no_3_4_wording_appears_in_a_modern_life_and_no_modern_prefix_in_a_3_4_life():
    """The generations do not borrow each other's messages: 3.4 printed without prefixes."""
    result, _ = run(modern_text(extra=STAY))
    modern = [line.text for line in result.partition.console.lines if line.source.startswith("kernel")]
    heads = [v.split("{")[0] for k, v in vars(msg34).items()
             if k.isupper() and k not in ("PANIC", "REBOOTING", "OS_TERM_FAILED", "SYSFS_FAILED")]
    assert not [line for line in modern if any(line.startswith(h) for h in heads)]
    assert "Firmware-assisted dump is active." not in modern
    old, _ = run(modern_text(profile="linux-3.4", high="0x18000000", extra=STAY))
    seed = [line.text for line in old.partition.console.lines if line.source.startswith("kernel")]
    assert old.outcome == "vmcore" and "Firmware-assisted dump is active." in seed
    assert not [line for line in seed if line.startswith(("fadump: ", "rtas fadump: "))]


# --- sizing and placement ---


@pytest.mark.parametrize("memory, cmdline, boot_size, printed", [
    (1 * GiB, "fadump=on", 320 * MiB, []),
    (8 * GiB, "fadump=on", 320 * MiB, []),
    (64 * GiB, "fadump=on", 3 * GiB, []),
    (8 * GiB, "fadump=on crashkernel=512M@64M", 512 * MiB, []),
    (8 * GiB, "fadump=on crashkernel=4G", 2 * GiB, ["fadump: Adjusted boot memory size to 2048MB"]),
    (8 * GiB, "fadump=on fadump_reserve_mem=512M", 512 * MiB,
     ["fadump: 'fadump_reserve_mem=' parameter is deprecated in favor of 'crashkernel=' parameter."]),
    (8 * GiB, "fadump=on fadump_reserve_mem=512M crashkernel=1G", 1 * GiB,
     ["fadump: 'fadump_reserve_mem=' parameter is deprecated in favor of 'crashkernel=' parameter.",
      "fadump: Using 'crashkernel=' parameter for memory reservation."]),
    (8 * GiB, "fadump=on crashkernel=256M", 256 * MiB,
     ["fadump: Can't enable fadump with boot memory size (0x10000000) less than 0x14000000"]),
], ids=["1G-minimum", "8G-minimum", "64G-5-percent", "crashkernel-size", "crashkernel-capped-at-25-percent",
        "fadump_reserve_mem-deprecated", "crashkernel-wins", "crashkernel-below-minimum"])
def test_boot_memory_size_follows_the_6_10_rules(memory, cmdline, boot_size, printed):
    """At least 320 MiB, else 5% rounded down to 256 MiB; crashkernel= capped at RAM/4; fadump_reserve_mem= warned."""
    k = booted(memory, cmdline)
    fw = k.fadump.fw_dump
    assert fw.boot_memory_size == boot_size
    assert lines(k.machine)[1:1 + len(printed)] == printed
    assert k.dump_registered == (boot_size >= 320 * MiB)
    if k.dump_registered:  # first fit right above boot memory, far from the top of RAM
        area = Range(fw.reserve_dump_area_start, fw.reserve_dump_area_start + fw.reserve_dump_area_size)
        assert area.start == fw.boot_mem_top == boot_size and area.end < memory  # 3.4 ended at the top
        assert area in k.memblock.reserved


@pytest.mark.parametrize("cmdline, cma", [("fadump=on", True), ("fadump=nocma", False)])
def test_fadump_nocma_reserves_without_handing_the_area_to_cma(cmdline, cma):
    """fadump=nocma enables fadump like "on" but prints no CMA initialisation line.

    fadump_cma_init() (arch/powerpc/kernel/fadump.c, v6.10): "Initialized 0x%lx bytes cma area at %ldMB from
    0x%lx bytes of memory reserved for firmware-assisted dump" (CMA size, CMA base >> 20, reserved size).
    """
    k = booted(8 * GiB, cmdline)
    fw = k.fadump.fw_dump
    assert k.dump_registered
    assert (f"fadump: Initialized 0x14000000 bytes cma area at 320MB from {fw.reserve_dump_area_size:#x} bytes of "
            "memory reserved for firmware-assisted dump" in lines(k.machine)) == cma


def test_boot_memory_across_holes_becomes_several_real_mode_regions():
    """Two holes: three REAL_MODE regions copied back to back, the area at boot_mem_top; the vmcore verifies."""
    result, rep, kernels = run_live(modern_text(machine=HOLES_64M, high="0x38000000"))
    fw, fdm = kernels[0].fadump.fw_dump, kernels[0].fadump.fdm
    assert fw.boot_mem_regions == [Range(0, 128 * MiB), Range(192 * MiB, 256 * MiB), Range(320 * MiB, 448 * MiB)]
    assert fw.boot_mem_top == fw.reserve_dump_area_start == 448 * MiB
    rmr = [s for s in fdm.sections if s.source_data_type == SectionType.REAL_MODE_REGION]
    assert [(s.source_address, s.source_len) for s in rmr] == [(r.start, r.size) for r in fw.boot_mem_regions]
    assert [s.destination_address for s in rmr] == [fw.boot_mem_dest_addr + o for o in (0, 128 * MiB, 192 * MiB)]
    assert result.outcome == "vmcore" and rep["ok"] and result.captures[0].verification["ok"]


@pytest.mark.parametrize("first, holes, regions", [(128, 6, 7), (96, 7, 8)], ids=["7-regions", "8-regions"])
def test_more_than_seven_boot_regions_disable_fadump(first, holes, regions):
    """Boot memory [0, first MiB) then 32 MiB pieces between 16 MiB holes: 7 regions register, 8 do not."""
    spec = ", ".join(f'{{start = "{(first + 48 * i) << 20:#x}", size = "16MiB"}}' for i in range(holes))
    result, rep, kernels = run_live(modern_text(machine=f'lmb_size = "16MiB"\nholes = [{spec}]', high="0x3c000000"))
    too_many = "fadump: Too many holes in boot memory area to enable fadump" in lines(result.partition)
    assert too_many == (regions > 7)
    if regions > 7:
        assert result.outcome == "no-dump" and result.partition.rtas_calls == ()
        assert rep["sysfs"]["1"][f"{SYSFS}/enabled"] == "0\n" and rep["sysfs"]["1"][REGION] == ""
    else:
        assert len(kernels[0].fadump.fw_dump.boot_mem_regions) == 7
        assert result.outcome == "vmcore" and rep["ok"]


# --- the FADMPSIG crash info header ---


@pytest.mark.parametrize("endian, magic, page_size, note_size", [
    ("little", b"GISPMDAF", 65536, 65572),  # 0x4641444D50534947 ("FADMPSIG" packed MSB-first) stored LE
    ("big", b"FADMPSIG", 4096, 4132),  # the same u64 stored big-endian
])
def test_the_v1_header_is_written_at_registration_after_the_boot_memory_copy(endian, magic, page_size, note_size):
    """FADMPSIG, version 1, CPU unknown, relocated VMCOREINFO, sizes 384 and 256, possible CPUs; 680 bytes."""
    k = booted(little_endian=endian == "little", page_size=page_size, online_cpus=[0, 1, 3])
    fw, order = k.fadump.fw_dump, k.byteorder
    at = fw.fadumphdr_addr
    assert at == fw.boot_mem_dest_addr + fw.boot_memory_size
    raw = k.ram.read(at, 0x28)

    def field(off, size):
        return int.from_bytes(raw[off:off + size], order)

    assert raw[:8] == magic
    assert field(0x08, 4) == 1  # version
    assert field(0x0C, 4) == 0xFFFF_FFFF  # crashing_cpu: FADUMP_CPU_UNKNOWN
    assert field(0x10, 8) == fw.boot_mem_dest_addr + k.vmcoreinfo_paddr  # vmcoreinfo_raddr, in the copy
    assert field(0x18, 8) == note_size  # VMCOREINFO_NOTE_SIZE = 12*2 + 12 + PAGE_SIZE
    assert (field(0x20, 4), field(0x24, 4)) == (384, 256)  # pt_regs_sz, cpu_mask_sz (NR_CPUS 2048)
    assert k.ks.crash_info_header_v1.sizeof() == 0x28 + 384 + 256 == 680
    mask = k.ram.read(at + 0x28 + 384, 256)
    assert mask[:8] == (0b1111).to_bytes(8, order) and mask[8:] == bytes(248)  # possible CPUs 0 to 3


def test_the_crash_writes_the_crashing_cpu_and_the_online_mask():
    """crash_fadump() replaces the possible mask by the online one and records the crashing CPU."""
    result, _, kernels = run_live(modern_text(machine="online_cpus = [0, 1, 3]", cpu=3, extra=STAY))
    at = kernels[0].fadump.fw_dump.fadumphdr_addr
    raw = result.partition.memory.read(at, 680)
    assert int.from_bytes(raw[0x0C:0x10], "little") == 3  # crashing_cpu
    assert raw[0x28 + 32 * 8:0x28 + 33 * 8] == (0xC0000000000A5F10).to_bytes(8, "little")  # regs.nip (slot 32)
    assert raw[0x28 + 384:0x28 + 384 + 8] == (0b1011).to_bytes(8, "little")  # CPUs 0, 1, 3 online


# --- the registration structure ---


def test_register_passes_exactly_the_filled_sections_in_kernel_order():
    """CPU, HPTE, three REAL_MODE, PARAM: 40 + 6 x 40 bytes; boot-memory destination page aligned."""
    k = booted(lmb_size=64 * MiB, holes=HOLES, mmu="radix")
    raw, fdm = registered_structure(k)
    assert len(raw) == 40 + 6 * 40 == 280
    assert fdm.header.dump_num_sections == 6 and fdm.header.offset_first_dump_section == 0x28
    assert [s.source_data_type for s in fdm.sections] == [0x0001, 0x0002, 0x0011, 0x0011, 0x0011, 0x0100]
    cpu, hpte, first = fdm.sections[:3]
    assert cpu.destination_address == k.fadump.fw_dump.reserve_dump_area_start
    assert hpte.destination_address == cpu.destination_address + cpu.source_len
    assert first.destination_address % k.page_size == 0
    param = fdm.sections[5]  # preserved in place: source == destination, COMMAND_LINE_SIZE bytes
    pa = k.fadump.fw_dump.param_area
    assert (param.source_address, param.destination_address, param.source_len) == (pa, pa, 2048)


# --- sysfs ---


def test_the_sysfs_files_read_as_6_10_formats_them_and_refuse_writes_while_a_dump_is_active():
    """enabled, registered, mem_reserved (reserve_dump_area_size), hotplug_ready, aliases; -EPERM when active."""
    result, rep, kernels = run_live(modern_text(extra=STAY))
    first, capture = rep["sysfs"]["1"], rep["sysfs"]["2"]
    size = kernels[0].fadump.fw_dump.reserve_dump_area_size
    assert first[f"{SYSFS}/enabled"] == first[f"{SYSFS}/registered"] == first[f"{SYSFS}/hotplug_ready"] == "1\n"
    assert first[f"{SYSFS}/mem_reserved"] == f"{size}\n" == "335610536\n"  # PAGE_ALIGN(CPU+HPTE) + 320 MiB + 680
    assert first["/sys/kernel/fadump_enabled"] == "1\n" and first["/sys/kernel/fadump_registered"] == "1\n"
    assert f"{SYSFS}/release_mem" not in first and BOOTARGS not in first  # no dump; hash MMU with a small RMA
    assert capture[f"{SYSFS}/registered"] == "0\n"
    assert f"{SYSFS}/release_mem" in capture and "/sys/kernel/fadump_release_mem" in capture
    assert capture[f"{SYSFS}/release_mem"] is None  # write-only
    kernel = kernels[-1]
    for value in ("1", "0", "junk"):
        assert kernel.settle(kernel.sysfs_write(f"{SYSFS}/registered", value)) == -errno.EPERM
    assert kernel.settle(kernel.sysfs_write(f"{SYSFS}/release_mem", "2")) == -errno.EINVAL
    assert kernel.settle(kernel.sysfs_write(f"{SYSFS}/release_mem", "1")) == 1 and not kernel.dump_active


def test_writing_registered_follows_the_modern_rules():
    """1 re-registers (unregister then register), 0 when unregistered is a no-op, junk is -EINVAL."""
    k = booted()
    path = f"{SYSFS}/registered"
    assert k.settle(k.sysfs_write(path, "1\n")) == 2 and k.sysfs_read(path) == "1\n"
    assert rtas_configure_calls(k.machine.rtas.log)[1:] == [(DumpCommand.UNREGISTER, 440, 0), (DumpCommand.REGISTER, 160, 0)]
    assert k.settle(k.sysfs_write(path, "0")) == 1 and k.sysfs_read(path) == "0\n"
    calls = len(k.machine.rtas.log)
    assert k.settle(k.sysfs_write(path, "0")) == 1 and len(k.machine.rtas.log) == calls
    for junk in ("2", "yes", ""):
        assert k.settle(k.sysfs_write(path, junk)) == -errno.EINVAL
    assert k.settle(k.sysfs_write("/sys/kernel/fadump_registered", "1")) == 1 and k.dump_registered  # the alias writes too


def test_bootargs_append_reaches_the_capture_kernel_command_line():
    """Radix: the parameter area is in the top half of DRAM; its text is appended after the crash.

    6.10 allocates it in setup_fadump() (fadump_setup_param_area()), top-down below what boot took already."""
    event = (f'[[events]]\naction = "sysfs"\nat = "5s"\npath = "{BOOTARGS}"\nvalue = "nr_cpus=16 numa=off"\n')
    result, rep, kernels = run_live(modern_text(machine='mmu = "radix"', extra=event + STAY))
    first, capture = kernels
    assert 512 * MiB <= first.fadump.fw_dump.param_area < 1 * GiB  # top-down in [DRAM/2, DRAM)
    assert rep["sysfs_writes"][0]["result"] == "ok"
    assert "fadump: Updated cmdline: fadump=on nr_cpus=16 numa=off" in lines(result.partition)
    assert capture.cmdline == "fadump=on nr_cpus=16 numa=off"
    pa = first.fadump.fw_dump.param_area
    param_line = f"\n[0x{pa:014x}-0x{pa + 2047:014x}]: cmdline append: 'nr_cpus=16 numa=off'\n"
    assert param_line in capture.sysfs_read(REGION)
    # 6.10 creates bootargs_append in fadump_setup_param_area(), which a capture kernel never runs.
    assert capture.settle(capture.sysfs_write(BOOTARGS, "quiet")) == -errno.ENOENT


def test_bootargs_append_refuses_what_cannot_fit():
    """count >= 2048 is -EINVAL; cmdline + count >= 2048 is -ENOSPC with the kernel's message."""
    k = booted(mmu="radix")
    assert k.settle(k.sysfs_write(BOOTARGS, "crashkernel=1G\n")) == 15 and k.sysfs_read(BOOTARGS) == "crashkernel=1G\n"
    assert k.settle(k.sysfs_write(BOOTARGS, "x" * 2048)) == -errno.EINVAL
    assert k.settle(k.sysfs_write(BOOTARGS, "x" * 2040)) == -errno.ENOSPC
    assert lines(k.machine)[-1] == "fadump: Appending parameters exceeds cmdline size!"
    assert BOOTARGS not in booted().sysfs  # hash MMU with a 256 MiB RMA: no parameter area


# --- debugfs ---


def test_fadump_region_shows_one_line_per_rgn_in_the_6_10_format():
    """CPU, HPTE and DUMP lines with %#016llx addresses; the capture kernel adds where the crash data starts."""
    result, rep, kernels = run_live(modern_text(extra=STAY))
    n = kernels[0].fadump.fw_dump.cpu_state_data_size  # the firmware's advertised CPU state size
    hpte = 0x1400_0000 + n
    assert rep["sysfs"]["1"][REGION] == (
        f"CPU :[0x00000014000000-0x{hpte - 1:014x}] {n:#x} bytes, Dumped: 0x0\n"
        f"HPTE:[0x{hpte:014x}-0x{hpte - 1:014x}] 0x0 bytes, Dumped: 0x0\n"
        "DUMP: Src: 0x00000000000000, Dest: 0x00000014010000, Size: 0x14000000, Dumped: 0x0 bytes\n")
    assert rep["sysfs"]["2"][REGION] == (
        f"CPU :[0x00000014000000-0x{hpte - 1:014x}] {n:#x} bytes, Dumped: {n:#x}\n"
        f"HPTE:[0x{hpte:014x}-0x{hpte - 1:014x}] 0x0 bytes, Dumped: 0x0\n"
        "DUMP: Src: 0x00000000000000, Dest: 0x00000014010000, Size: 0x14000000, Dumped: 0x14000000 bytes\n"
        "\nMemory above 0x00000014000000 is reserved for saving crash dump\n")


# --- capture-side checks ---


def header_at(dump):
    rmr = dump.sections[2]  # the only REAL_MODE rgn: the header follows its copy
    return rmr.destination_address + rmr.source_len


@pytest.mark.parametrize("tamper, messages", [
    (lambda m, d: m.ram.write(header_at(d), b"FNIPMDAF"),  # FADMPINF as a little-endian kernel stores it
     ["fadump: Old magic number, can't process the dump."]),
    (lambda m, d: m.ram.write(header_at(d), b"FADMPSIG"),  # byte-swapped FADMPSIG, as a big-endian kernel stores it
     ["fadump: Endianness mismatch between the crashed and fadump kernels."]),
    (lambda m, d: m.ram.write(header_at(d), b"XXXXXXXX"),  # no magic at all
     ["fadump: Fadump header is corrupted."]),
    (lambda m, d: m.ram.write(header_at(d) + 0x20, (352).to_bytes(4, "little")),  # a 3.4-era pt_regs_sz
     ["fadump: Fadump header size mismatch."]),
    (lambda m, d: setattr(d.sections[2], "error_flags", 0x4000),  # REAL_MODE rgn: invalid source address
     ["rtas fadump: Dump taken by platform is not valid (2)",
      "rtas fadump: Region type: 17 src addr: 0x0 dest addr: 0x14010000"]),
    (lambda m, d: setattr(d.sections[0], "bytes_dumped", d.sections[0].bytes_dumped - 16),  # CPU rgn 16 short
     ["rtas fadump: Dump taken by platform is incomplete (0)",
      "rtas fadump: Region type: 1 src addr: 0x0 dest addr: 0x14000000"]),
], ids=["old-magic", "endian-mismatch", "corrupted", "size-mismatch", "error-flag", "incomplete"])
def test_the_capture_kernel_rejects_a_bad_dump_with_the_modern_message_and_invalidates_it(tamper, messages):
    """fadump_process() refuses the dump; the kernel invalidates it, frees the memory and exports nothing."""
    result, _, kernels = run_live(modern_text(), tamper)
    p, capture = result.partition, kernels[-1]
    text = lines(p)
    start = text.index("fadump: Firmware-assisted dump is active.")
    assert text[start + 2:start + 2 + len(messages)] == messages
    assert text[start + 2 + len(messages)].startswith("fadump: freeing reserved memory (")
    assert result.outcome == "dump-rejected" and capture.vmcore is None
    assert rtas_configure_calls(p.rtas_calls)[-1] == (DumpCommand.INVALIDATE, 440, 0)
    assert p.property("/rtas", abi.DT_KERNEL_DUMP) is None


def test_an_unknown_os_defined_section_is_ignored_and_the_dump_still_captured():
    """Type 0x0200 (from a newer crashed kernel) is warned about at DT scan and in processing, then skipped."""

    def future_section(m, dump):
        dump.sections[1].source_data_type = 0x0200  # the HPTE rgn rewritten as an unknown OS-defined type

    result, rep, kernels = run_live(modern_text(), future_section)
    text = lines(result.partition)
    assert text.index("rtas fadump: Section type 512 unsupported on this kernel. Ignoring!") < text.index(
        "fadump: Firmware-assisted dump is active.")
    hpte = 0x1400_0000 + kernels[0].fadump.fw_dump.cpu_state_data_size
    assert f"rtas fadump: Unknown region found: type: 512 src addr: 0x0 dest addr: {hpte:#x}" in text
    assert result.outcome == "vmcore" and rep["ok"]


# --- cross-generation ---


def test_each_generation_refuses_the_other_generations_crash_info_header():
    """cross-generation.toml (3.4 crash, 6.10 capture) says "Old magic"; the reverse pair, "not valid"."""
    result, rep = run((SCENARIOS / "cross-generation.toml").read_text())
    assert "fadump: Old magic number, can't process the dump." in lines(result.partition)
    assert result.outcome == "dump-rejected" and rep["ok"]
    result, _ = run(modern_text(kernel='capture_profile = "linux-3.4"'))
    assert "Crash info header is not valid." in lines(result.partition)
    assert result.outcome == "dump-rejected"
    assert rtas_configure_calls(result.partition.rtas_calls)[-1][::2] == (DumpCommand.INVALIDATE, 0)


# --- hotplug ---


def test_a_stale_seed_header_misses_the_added_lmb_and_keeps_the_removed_one():
    """hotplug-stale-header: verification names [4 GiB, +256 MiB) missing and [2 GiB, +256 MiB) bogus."""
    result, rep = run((SCENARIOS / "hotplug-stale-header.toml").read_text())
    v = result.captures[0].verification
    assert [(r["start"], r["size"]) for r in v["missing"]] == [("0x100000000", 256 * MiB)]
    assert [(r["start"], r["size"]) for r in v["bogus"]] == [("0x80000000", 256 * MiB)]
    assert rep["ok"]


@pytest.mark.parametrize("name, refused", [("hotplug-reregister", "f0000000"), ("hotplug-modern", "10000000")])
def test_reregistering_or_the_modern_design_gives_a_complete_vmcore_after_hotplug(name, refused):
    """Both complete; the LMB holding the dump area cannot be hot-removed."""
    result, rep = run((SCENARIOS / f"{name}.toml").read_text())
    assert result.outcome == "vmcore" and result.captures[0].verification["ok"] and rep["ok"]
    assert f"pseries-hotplug-mem: Failed to hot-remove memory at {refused}" in lines(result.partition)
    if name == "hotplug-modern":
        assert rep["sysfs"]["1"][f"{SYSFS}/hotplug_ready"] == "1\n"
        assert rtas_configure_calls(result.partition.rtas_calls)[0] == (DumpCommand.REGISTER, 160, 0)
        assert [c[0] for c in rtas_configure_calls(result.partition.rtas_calls)].count(DumpCommand.REGISTER) == 1


# --- the modern vmcore ---


def test_the_modern_vmcore_is_page_aligned_and_reads_boot_memory_from_the_copy():
    """One merged PT_NOTE (p_align 4) at a page boundary, PT_LOADs mmap-aligned, e_flags 2 (ELF ABI v2)."""
    result, _, kernels = run_live(modern_text(extra=STAY))
    capture = kernels[-1]
    vm, ks, page = capture.vmcore, capture.ks, capture.page_size
    eh = ks.elf64_ehdr.parse(vm.read(0, 64))
    ph = [ks.elf64_phdr.parse(vm.read(64 + 56 * i, 56)) for i in range(eh.e_phnum)]
    assert eh.e_flags == 2
    assert [p.p_type for p in ph].count(PT_NOTE) == 1 and ph[0].p_type == PT_NOTE
    assert ph[0].p_align == 4 and ph[0].p_offset % page == 0 and ph[0].p_offset >= 64 + 56 * eh.e_phnum
    loads = [p for p in ph[1:] if p.p_type == PT_LOAD]
    assert len(loads) == eh.e_phnum - 1
    assert all(p.p_offset % page == p.p_paddr % page for p in loads)
    fw = capture.fadump.fw_dump
    assert (vm.loads[0].paddr, vm.loads[0].source, vm.loads[0].size) == (0, fw.boot_mem_dest_addr, 320 * MiB)
    assert vm.read_paddr(0x4100000, 18) == b"inside boot memory"
    assert result.partition.memory.read(0x4100000, 18) != b"inside boot memory"  # the capture kernel reused it
    assert result.captures[0].verification["ok"]
