"""Linux 6.1's fadump (Debian 12's 6.1.192): the original design with 6.10's sizing, placement and sysfs.

Each fact names the function and file of linux-source-6.1 (6.1.192) it was read from; the numbers that were measured
on the real kernel (tests/reference/linux-6.1/) say so.
"""

from dataclasses import replace
from pathlib import Path

import pytest

from emulator.host import reference_scenario
from emulator.scenario import loader as scenario
from emulator.errors import ScenarioError
from firmware.machine import Machine, MachineConfig
from emulator.run.runner import Run, publish
from emulator.units import GiB
from emulator.vmcore.vmcore_file import VmcoreFile
from firmware.abi import SectionType
from kernels import vmcoreinfo
from kernels.image import va
from kernels.linux61 import Linux61
from kernels.linux612 import Linux612
from kernels.structs import FADUMP_CRASH_INFO_MAGIC_OLD, PT_LOAD, PT_NOTE
from kernels.versions import LINUX_3_4, LINUX_6_1, LINUX_6_10

CMDLINE = "console=hvc0 fadump=on crashkernel=512M"
SYSFS = "/sys/kernel/fadump"


def booted(profile=Linux61, mmu="radix", firmware="qemu", memory=2 * GiB, max_memory=None) -> Linux61:
    """A first kernel booted to userspace on the reference set-up (2 GiB, 2 CPUs, NR_CPUS=8)."""
    m = Machine(MachineConfig(memory=memory, max_memory=max_memory, cpus=2, mmu=mmu, firmware=firmware))
    m.power_on(CMDLINE)
    k = profile(m, CMDLINE, "6.1.192", m.boot_count, 0, nr_cpus=8)
    m.env.process(k.boot_sequence())
    m.env.run()
    return k


def elf_header(k, at: int):
    ks = k.ks
    eh = ks.elf64_ehdr.parse(k.ram.read(at, 64))
    return eh, [ks.elf64_phdr.parse(k.ram.read(at + 64 + 56 * i, 56)) for i in range(eh.e_phnum)]


def crash_info(k):
    ks = k.ks
    return ks.crash_info_header_old.parse(k.ram.read(k.fadump.fw_dump.fadumphdr_addr,
                                                     ks.crash_info_header_old.sizeof()))


def run_text(tmp_path, text: str):
    return run_live(tmp_path, text)[0]


def run_live(tmp_path, text: str):
    """The result of running ``text``, and the Run's live kernels in boot order (to look inside them)."""
    path = tmp_path / "s.toml"
    path.write_text(text)
    run = Run(scenario.load(path), None)
    return publish(run, str(tmp_path / "out")), run.kernels


# --- the registration structure and the reserved area ---


def test_6_1_registers_at_boot_with_exactly_three_sections():
    """rtas_fadump_init_mem_struct() (platforms/pseries/rtas-fadump.c, 6.1): dump_num_sections 3 (CPU state, HPTE,
    one real-mode region from 0), called with register_fadump() from setup_fadump() (fadump.c, 6.1)."""
    k = booted()
    fdm = k.fadump.fdm
    assert k.dump_registered
    assert fdm.header.dump_num_sections == 3
    assert [s.source_data_type for s in fdm.sections] == [SectionType.CPU_STATE_DATA, SectionType.HPTE_REGION,
                                                         SectionType.REAL_MODE_REGION]
    assert (fdm.sections[2].source_address, fdm.sections[2].source_len) == (0, 512 << 20)


def test_the_boot_memory_copy_starts_on_the_page_after_cpu_state_and_the_area_is_page_aligned():
    """rtas_fadump_init_mem_struct() page-aligns the copy; get_fadump_area_size() (fadump.c, 6.1) adds the crash
    info header, the ELF header and (regions + 3) program headers, then page-aligns. Measured on the real 6.1.192
    under QEMU: DUMP Dest 0x20010000 and mem_reserved 537001984 (0x20020000)."""
    k = booted()
    assert k.fadump.fdm.sections[2].destination_address == 0x2001_0000
    assert k.sysfs_read(f"{SYSFS}/mem_reserved") == "537001984\n"


def test_sysfs_has_no_hotplug_ready_and_no_bootargs_append_but_keeps_the_compat_symlinks():
    """fadump_init_files() (fadump.c, 6.1): enabled, registered, mem_reserved, release_mem only with a dump
    active, and the fadump_enabled / fadump_registered symlinks; hotplug_ready and bootargs_append came in 6.10.
    Measured: the real ls of /sys/kernel shows exactly these."""
    k = booted()
    assert sorted(p for p in k.sysfs if p.startswith("/sys/kernel/fadump")) == [
        f"{SYSFS}/enabled", f"{SYSFS}/mem_reserved", f"{SYSFS}/registered",
        "/sys/kernel/fadump_enabled", "/sys/kernel/fadump_registered"]


# --- what the first kernel writes into the reserved area ---


def test_the_first_kernel_writes_a_fadmpinf_header_right_behind_the_boot_memory_copy():
    """rtas_fadump_update_config() (rtas-fadump.c, 6.1): fadumphdr_addr = copy + boot_memory_size;
    init_fadump_header() (fadump.c, 6.1): FADMPINF, the ELF header right behind it, crashing_cpu unknown, the
    possible CPUs in the mask."""
    k = booted()
    fw = k.fadump.fw_dump
    fdh = crash_info(k)
    assert fw.fadumphdr_addr == 0x2001_0000 + (512 << 20)
    assert k.ram.read_u64(fw.fadumphdr_addr, k.byteorder) == FADUMP_CRASH_INFO_MAGIC_OLD
    assert fdh.elfcorehdr_addr == fw.fadumphdr_addr + k.ks.crash_info_header_old.sizeof()
    assert fdh.crashing_cpu == 0xFFFF_FFFF
    assert k.cpumask_test(fdh.cpu_mask, 0) and k.cpumask_test(fdh.cpu_mask, 1)


def test_the_first_kernel_builds_the_elf_core_header_from_the_memory_it_has_at_registration():
    """fadump_create_elfcore_headers() (fadump.c, 6.1): a zeroed PT_NOTE for the CPU notes, the VMCOREINFO PT_NOTE
    at its place in the boot-memory copy (VMCOREINFO_NOTE_SIZE), then PT_LOADs: boot memory at the copy, the rest
    without the reserved area. Measured (vmcore of the real 6.1.192): PT_LOADs [0, 512M) and
    [0x40020000, 0x80000000), e_flags 2 (ELFv2)."""
    k = booted()
    fw = k.fadump.fw_dump
    eh, phdrs = elf_header(k, crash_info(k).elfcorehdr_addr)
    assert eh.e_flags == 2
    assert [p.p_type for p in phdrs] == [PT_NOTE, PT_NOTE, PT_LOAD, PT_LOAD]
    assert phdrs[0].p_offset == phdrs[0].p_filesz == 0
    assert phdrs[1].p_paddr == fw.boot_mem_dest_addr + k.vmcoreinfo_paddr
    assert phdrs[1].p_filesz == k.vmcoreinfo_note_size
    assert [(p.p_paddr, p.p_memsz, p.p_offset) for p in phdrs[2:]] == [
        (0, 0x2000_0000, 0x2001_0000), (0x4002_0000, 0x3FFE_0000, 0x4002_0000)]
    assert phdrs[3].p_vaddr == va(0x4002_0000)


def test_memory_hot_added_after_registration_is_missing_until_userspace_registers_again():
    """The original design's hole (fadump.c, 6.1): register_fadump() builds the ELF header once; a DLPAR add
    (PowerVM) grows memblock but not the header. registered_store() (fadump.c, 6.1) turns "1" while registered
    into unregister + register_fadump(), which rebuilds it: what the distributions' udev rule writes."""
    k = booted(firmware="phyp", memory=2 * GiB, max_memory=4 * GiB)
    assert k.dlpar_memory_add(0x8000_0000)
    _, stale = elf_header(k, crash_info(k).elfcorehdr_addr)
    assert max(p.p_paddr + p.p_memsz for p in stale) == 0x8000_0000
    assert k.settle(k.sysfs_write(f"{SYSFS}/registered", "1\n")) == 2
    _, fresh = elf_header(k, crash_info(k).elfcorehdr_addr)
    assert max(p.p_paddr + p.p_memsz for p in fresh) == 0x9000_0000
    assert k.dump_registered


# --- QEMU's pc-dimm hot-add on the 6.1 reference build ---


def test_a_qemu_dimm_above_the_dma_window_is_rolled_back_but_stays_plugged():
    """pseries/iommu.c (6.1) enable_ddw() sizes the direct window to memory_hotplug_max(), which is
    memblock_end_of_DRAM() without CONFIG_NUMA (asm/mmzone.h, 6.1); iommu_mem_notifier() then fails onlining memory
    above it and dlpar_memory_add_by_ic() (hotplug-memory.c, 6.1) rolls back. Measured: "Memory indexed-count-add
    failed, removing any added LMBs" on the real 6.1.192, whose capture kernel then sees the DIMM."""
    k = booted(memory=2 * GiB, max_memory=4 * GiB)
    assert not k.dlpar_memory_add(0x8000_0000)
    text = [line.text for line in k.machine.console.lines]
    assert "pseries-hotplug-mem: Memory indexed-count-add failed, removing any added LMBs" in text
    assert k.memblock.memory[-1].end == 0x8000_0000
    assert k.machine.layout.end_of_dram == 0x9000_0000


def test_the_dimm_case_twin_plugs_one_lmb_per_256_mib_from_the_first_gib_above_ram():
    """QEMU's pseries places DIMMs from ROUND_UP(ram_size, 1 GiB) (hw/ppc/spapr.c) and signals one LMB per
    256 MiB; the reference case's monitor plugs a 1 GiB pc-dimm into a 2 GiB guest."""
    case = {"memory": "2G", "monitor": ["object_add memory-backend-ram,id=mem1,size=1G",
                                        "device_add pc-dimm,id=dimm1,memdev=mem1"]}
    assert [e["addr"] for e in reference_scenario.dimm_events(case)] == [
        "0x80000000", "0x90000000", "0xa0000000", "0xb0000000"]


# --- capture ---

SCENARIO = """
name = "t61"
description = "6.1 capture"
[machine]
memory = "2GiB"
cpus = 2
mmu = "radix"
firmware = "qemu"
{machine_extra}
[kernel]
profile = "linux-6.1"
cmdline = "console=hvc0 fadump=on crashkernel=512M"
nr_cpus = 8
[crash]
cpu = 0
kind = "sysrq"
at = "10s"
{extra}
"""


def test_the_capture_kernel_exports_the_first_kernels_elf_header_with_cpu_notes(tmp_path):
    """rtas_fadump_process() (rtas-fadump.c, 6.1): elfcorehdr_addr = fdh->elfcorehdr_addr, after
    rtas_fadump_build_cpu_notes() pointed the first PT_NOTE at the notes (fadump_update_elfcore_header());
    merge_note_headers_elf64() (fs/proc/vmcore.c, 6.1) gives the merged PT_NOTE p_align 0 (measured)."""
    result, kernels = run_live(tmp_path, SCENARIO.format(machine_extra="", extra='[capture]\nafter = "stay"\n'))
    capture = kernels[-1]
    fw = capture.fadump.fw_dump
    fdh = crash_info(capture)
    header_size = capture.ks.crash_info_header_old.sizeof()
    assert capture.elfcorehdr_addr == fdh.elfcorehdr_addr == fw.fadumphdr_addr + header_size
    _, phdrs = elf_header(capture, fdh.elfcorehdr_addr)
    assert (phdrs[0].p_offset, phdrs[0].p_filesz) == (fw.cpu_notes_buf, fw.cpu_notes_buf_size)
    note = capture.ks.elf64_phdr.parse(capture.vmcore.header[64:120])
    assert (note.p_type, note.p_align) == (PT_NOTE, 0)


def test_a_corrupt_crash_info_header_is_rejected_with_the_6_1_message(tmp_path):
    """rtas_fadump_process() (rtas-fadump.c, 6.1): a magic other than FADMPINF prints "rtas fadump: Crash info
    header is not valid." (6.10 says "Fadump header is corrupted.") and no /proc/vmcore is exported."""
    result, kernels = run_live(tmp_path, SCENARIO.format(machine_extra="", extra='[[faults]]\nkind = "crash-info-corrupt"\n'))
    text = [line.text for line in result.partition.console.lines]
    assert "rtas fadump: Crash info header is not valid." in text
    assert kernels[-1].vmcore is None


def test_an_overwritten_first_kernel_elf_header_leaves_no_vmcore(tmp_path):
    """The original design's exposure (fadump.c, 6.1): the ELF core header lives in the first kernel's memory; a
    stray write before the crash is exported as is, and vmcore_init() (fs/proc/vmcore.c, 6.1) rejects it."""
    result, kernels = run_live(tmp_path, SCENARIO.format(machine_extra="",
                                                extra='[[faults]]\nkind = "elf-header-overwritten"\n'))
    text = [line.text for line in result.partition.console.lines]
    assert "Warning: Core image elf header not found" in text
    assert kernels[-1].vmcore is None


def test_the_capture_kernel_keeps_a_hot_added_dimm_in_its_own_memblock_region(tmp_path):
    """early_init_drmem_lmb() (arch/powerpc/kernel/prom.c, 6.1) marks a hot-removable LMB MEMBLOCK_HOTPLUG, so it
    is not merged with boot memory, and fadump_reserve_crash_area() (fadump.c, 6.1) prints one line per region.
    Measured: the real dimm-hotplug capture kernel's two "Reserving" lines."""
    events = "".join(f'[[events]]\naction = "hotplug"\nboot = 1\nat = "5s"\nkind = "memory-add"\naddr = "{a:#x}"\n'
                     for a in range(0x8000_0000, 0xC000_0000, 0x1000_0000))
    result = run_text(tmp_path, SCENARIO.format(machine_extra='max_memory = "4GiB"', extra=events))
    text = [line.text for line in result.partition.console.lines]
    assert "fadump: Reserving 1536MB of memory at 0x00000020000000 for preserving crash data" in text
    assert "fadump: Reserving 1024MB of memory at 0x00000080000000 for preserving crash data" in text
    assert "fadump: freeing reserved memory (0x40020000 - 0xc0000000)" in text


# --- VMCOREINFO and the objects behind it ---


def test_every_6_1_key_is_backed_except_those_of_options_the_reference_build_leaves_out():
    """crash_save_vmcoreinfo_init() (kernel/crash_core.c, 6.1): PG_hwpoison needs CONFIG_MEMORY_FAILURE,
    HUGETLB_PAGE_DTOR and PAGE_OFFLINE_MAPCOUNT_VALUE CONFIG_HUGETLB_PAGE, node_data CONFIG_NUMA,
    pglist_data.node_mem_map CONFIG_FLATMEM: none is in the reference .config, and the real note has none."""
    k = booted()
    assert sorted(vmcoreinfo.unbacked(k)) == sorted([
        "OFFSET(pglist_data.node_mem_map)", "NUMBER(PG_hwpoison)", "NUMBER(HUGETLB_PAGE_DTOR)",
        "NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)", "SYMBOL(node_data)", "LENGTH(node_data)"])


def test_radix_vmemmap_is_listed_in_vmemmap_list_before_6_6():
    """arch/powerpc/mm/init_64.c (6.1) vmemmap_populate() records every 2 MiB radix block in vmemmap_list
    (radix__early_init_mmu(): mmu_vmemmap_psize MMU_PAGE_2M); 6.12's radix__vmemmap_populate() leaves it NULL."""
    old, new = booted(), booted(profile=Linux612)
    assert old.ram.read_u64(old.symbols["vmemmap_list"], old.byteorder) != 0
    assert new.ram.read_u64(new.symbols["vmemmap_list"], new.byteorder) == 0


def test_3_4_and_6_1_share_the_first_kernel_elf_header_and_6_10_moved_it():
    """register_fadump() (fadump.c, 3.4 and 6.1) writes the ELF core header; 6.10's fadump_process() builds it in
    the capture kernel, and adds hotplug_ready."""
    assert LINUX_3_4.elfcorehdr_by == LINUX_6_1.elfcorehdr_by == "first kernel"
    assert LINUX_6_10.elfcorehdr_by == "capture kernel"
    assert (LINUX_6_1.hotplug_ready, LINUX_6_10.hotplug_ready) == (False, True)
    assert (LINUX_3_4.registers_at_boot, LINUX_6_1.registers_at_boot) == (False, True)


def test_without_registration_at_boot_the_kernel_waits_for_userspace():
    """Version.registers_at_boot is what setup_fadump() does (fadump.c, 6.1: register_fadump() after
    fadump_init_mem_struct(); 3.4: the structure only). A 6.1 build without it stays unregistered until the kdump
    service writes 1, as an upstream 5.14 kernel would (commit 607451ce0aa9 came with 5.18)."""

    class Without(Linux61):
        version = replace(LINUX_6_1, registers_at_boot=False)

    k = booted(profile=Without)
    assert not k.dump_registered and k.fadump.fdm is not None
    k.settle(k.kdump_service_register())
    assert k.dump_registered


def test_the_elf_header_fault_is_refused_for_a_release_whose_capture_kernel_builds_the_header(tmp_path):
    """elf-header-overwritten strikes the first kernel's ELF core header, which only 3.4 and 6.1 write
    (Version.elfcorehdr_by); a 6.10 scenario asking for it is bad input naming the profiles that have one."""
    text = SCENARIO.format(machine_extra="", extra='[[faults]]\nkind = "elf-header-overwritten"\n')
    path = tmp_path / "s.toml"
    path.write_text(text.replace('profile = "linux-6.1"', 'profile = "linux-6.10"'))
    with pytest.raises(ScenarioError, match="needs profile linux-3.4 or linux-6.1"):
        scenario.load(path)


def test_a_mem_limit_grows_by_the_dump_area_as_in_3_4():
    """fadump_reserve_mem() (fadump.c, 6.1): with mem= below the end of DRAM, memory_limit grows by
    get_fadump_area_size() and printk(KERN_INFO) says so without the "fadump: " prefix; 6.10's has no such code."""
    cmdline = "fadump=on mem=1G"
    m = Machine(MachineConfig(memory=4 * GiB, cpus=2, mmu="radix", firmware="qemu"))
    m.power_on(cmdline)
    k = Linux61(m, cmdline, "6.1.192", m.boot_count, 0, nr_cpus=8)
    m.env.process(k.boot_sequence())
    m.env.run()
    fw = k.fadump.fw_dump
    text = [line.text for line in m.console.lines]
    assert k.fadump.memory_limit == (1 << 30) + fw.reserve_dump_area_size
    assert f"Adjusted memory_limit for firmware-assisted dump, now {k.fadump.memory_limit:#016x}" in text


def test_boot_memory_cannot_be_hot_removed_while_registered():
    """lmb_is_removable() (platforms/pseries/hotplug-memory.c, 6.1) asks is_fadump_memory_area() (fadump.c, 6.1):
    while registered, an LMB at or below boot_mem_top or in the reserved area stays; one above them goes."""
    k = booted(firmware="phyp", memory=4 * GiB)
    assert k.fadump.fw_dump.boot_mem_top == 512 << 20  # crashkernel=512M
    assert not k.dlpar_memory_remove(0x1000_0000)
    assert k.dlpar_memory_remove(0x8000_0000)


def test_boot_memory_across_a_hole_cannot_be_registered(tmp_path):
    """rtas_fadump_init_mem_struct() (rtas-fadump.c, 6.1) registers one region [0, boot_memory_size) even across a
    hole, which PowerVM refuses (-3); rtas_fadump_register() then says why with is_fadump_boot_mem_contiguous()
    (fadump.c, 6.1). 6.10 registers one region per memory range instead (kernels.linux610)."""
    text = SCENARIO.format(machine_extra='lmb_size = "64MiB"\nholes = [{start = "0x8000000", size = "64MiB"}]',
                           extra="")
    result = run_text(tmp_path, text.replace("crashkernel=512M", "").replace('firmware = "qemu"', 'firmware = "phyp"'))
    text = [line.text for line in result.partition.console.lines]
    assert "rtas fadump: Can't have holes in boot memory area." in text
    assert "rtas fadump: Failed to register. Parameter Error(-3)." in text
    assert result.outcome == "no-dump"


def test_the_vmcoreinfo_lines_come_in_the_real_notes_order():
    """KEYS_6_1 follows crash_save_vmcoreinfo_init() (kernel/crash_core.c, 6.1) and arch_crash_save_vmcoreinfo()
    (arch/powerpc/kexec/core.c, 6.1): the emulated note's keys, in order, are the real 6.1.192 note's
    (tests/reference/linux-6.1/radix/vmcore-head.bin), CRASHTIME (appended at the crash) aside."""
    head = Path(__file__).resolve().parents[1] / "reference" / "linux-6.1" / "radix" / "vmcore-head.bin"
    with VmcoreFile(str(head)) as core:
        real = [key for key in core.vmcoreinfo if key != "CRASHTIME"]
    emulated = list(vmcoreinfo.parse(booted().vmcoreinfo_text))
    assert emulated == real


@pytest.mark.parametrize("first, capture, message", [
    ("linux-6.1", "linux-6.12", "fadump: Old magic number, can't process the dump."),
    ("linux-6.12", "linux-6.1", "rtas fadump: Crash info header is not valid."),
], ids=["debian-12-crash-debian-13-capture", "debian-13-crash-debian-12-capture"])
def test_a_dump_taken_by_the_other_design_is_refused_with_the_capture_kernels_message(tmp_path, first, capture,
                                                                                     message):
    """A kernel upgrade between crash and capture: 6.12's is_fadump_header_compatible() (fadump.c, 6.12) refuses
    the FADMPINF magic as old; 6.1's rtas_fadump_process() (rtas-fadump.c, 6.1) knows only FADMPINF and calls the
    FADMPSIG header not valid. Neither exports /proc/vmcore."""
    text = SCENARIO.format(machine_extra="", extra="").replace(
        'profile = "linux-6.1"', f'profile = "{first}"\ncapture_profile = "{capture}"')
    result = run_text(tmp_path, text)
    lines = [line.text for line in result.partition.console.lines if line.boot == 2]
    assert message in lines
    assert result.outcome == "dump-rejected"
