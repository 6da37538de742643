"""Each profile is exactly its release: the per-version facts, each checked against that release's own source.

Sources: Linux 3.4.4 (prtos-project/prtos-linux-3.4.4), Linux 6.10.0 (msgeden/cryptocap-arm64-linux-6.10),
Debian linux-source-6.12 6.12.117 plus the real-kernel measurements at the top of
../shared/reference/fadump-abi.md, Debian sid linux-source-7.2 7.2.13. File and function are named per test.
"""

import errno

import pytest

from emulator.scenario import loader as scenario
from firmware.machine import Machine, MachineConfig
from emulator.hw.ram import PartitionRAM
from emulator.run.runner import Run
from kernels.registry import PROFILES
from emulator.units import GiB, MiB
from firmware.abi import RtasStatus
from kernels import elfcore, version_tables, versions, vmcoreinfo
from kernels.linux34 import Linux34
from kernels.linux610 import Linux610
from kernels.linux612 import Linux72, Linux612
from kernels.structs import PT_LOAD, PT_NOTE, PT_REGS_FIELDS_6_10, kernel_structs
from kernels.vmcore import LAYOUT_3_4, LAYOUT_PAGED, NOT_FOUND, NOT_INITIALIZED, ProcVmcore, VmcoreError

SYSFS = "/sys/kernel/fadump"
REGION = "/sys/kernel/debug/powerpc/fadump_region"

SCENARIO = """
name = "versions"
[machine]
memory = "{memory}"
cpus = {cpus}
endian = "{endian}"
mmu = "{mmu}"
rma_size = "{rma}"
[kernel]
profile = "{profile}"
cmdline = "{cmdline}"
{kernel}
[[memory.write]]
addr = "0x4100000"
text = "inside boot memory"
repeat = 64
[crash]
cpu = 1
at = "10s"
kind = "{kind}"
[crash.regs]
nip = "0xc0000000000a5f10"
softe = "0x3"
trap = "0x700"
orig_gpr3 = "0x1234"
dar = "0xdead0000"
{extra}
"""


def run(profile, cmdline="fadump=on", memory="1GiB", cpus=4, endian="little", mmu="hash", rma="256MiB", kernel="",
        kind="panic", extra='[capture]\nafter = "stay"'):
    """Run one crash-and-capture on ``profile``; the capture kernel stays up (unless ``extra`` says otherwise)."""
    return run_live(profile, cmdline, memory, cpus, endian, mmu, rma, kernel, kind, extra)[0]


def run_live(profile, cmdline="fadump=on", memory="1GiB", cpus=4, endian="little", mmu="hash", rma="256MiB",
             kernel="", kind="panic", extra='[capture]\nafter = "stay"'):
    """As run(), with the Run's live kernels in boot order (to look inside them after the run)."""
    text = SCENARIO.format(**locals())
    live = Run(scenario.loads(text), None)
    return live.execute(), live.kernels


def console(result) -> list[str]:
    return [line.text for line in result.partition.console.lines]


def booted(cls, memory=1 * GiB, cmdline="fadump=on", **config):
    """Boot a first kernel of ``cls`` to userspace."""
    m = Machine(MachineConfig(memory=memory, cpus=4, **config))
    m.power_on(cmdline)
    k = cls(m, cmdline, cls.version.release, m.boot_count, 0)
    m.env.process(k.boot_sequence())
    m.env.run()
    return k


def note_text(k) -> str:
    """The VMCOREINFO text in the kernel's note (after the 24-byte header and padded name)."""
    raw = k.ram.read(k.symbols["vmcoreinfo_note"] + 24, k.vmcoreinfo_bytes)
    return raw.split(b"\0", 1)[0].decode()


# --- the tables ---


def test_every_version_table_is_a_registered_profile_with_its_own_class():
    """kernels.registry.PROFILES has one class per kernels.versions entry, and each class models that entry."""
    assert set(PROFILES) == set(versions.VERSIONS)
    assert all(cls.version is versions.VERSIONS[name] for name, cls in PROFILES.items())


def test_6_12_differs_from_6_10_only_where_its_source_does():
    """The table delta 6.10 -> 6.12 (fadump.c, page-flags.h, vmcore_info.c of each) and 6.12 -> 7.2."""
    assert set(versions.diff(versions.LINUX_6_10, versions.LINUX_6_12)) == {
        "name", "release", "page", "param_area_rule", "param_area_reserved_when_above_top",
        "bootargs_append_from_init_files", "rtas_busy_limit_ms",
        # setup-common.c (6.12.117) setup_arch() calls fadump_cma_init(); arch/powerpc/kexec/vmcore_info.c (6.12)
        # repeats SYMBOL(contig_page_data); the objects behind 6.12's keys are modelled for 6.12 only.
        "cma_init_in_setup_arch", "vmcoreinfo_keys", "pgdat", "cpu_spec", "kallsyms"}
    assert set(versions.diff(versions.LINUX_6_12, versions.LINUX_7_2)) == {
        "name", "release", "vmcoreinfo_keys", "cma_line", "cma_rounds_boot_memory", "param_area_rule",
        "vmcore_pr_fmt", "vmcore_not_initialized", "pgdat", "kallsyms_place_relative",
        # scripts/kallsyms.c (7.2) write_src() drops kallsyms_relative_base; output_label() ".balign 4".
        "kallsyms_layout", "kallsyms_align"}


@pytest.mark.parametrize("cls, nr_cpus, header", [(Linux34, 1024, 0x1F8), (Linux610, 2048, 0x2A8)])
def test_nr_cpus_defaults_to_the_pseries_defconfig_and_sizes_the_crash_info_header(cls, nr_cpus, header):
    """3.4: arch/powerpc/configs/pseries_defconfig CONFIG_NR_CPUS=1024; 6.10: pseries_defconfig is
    ppc64le_guest_defconfig (arch/powerpc/Makefile), ppc64_defconfig CONFIG_NR_CPUS=2048. The cpumask of
    BITS_TO_LONGS(NR_CPUS) longs ends struct fadump_crash_info_header (asm/fadump.h 3.4, fadump-internal.h 6.10)."""
    k = booted(cls)
    assert k.nr_cpus == nr_cpus and k.ks.cpumask_size == nr_cpus // 8
    size = (k.ks.crash_info_header_old if cls is Linux34 else k.ks.crash_info_header_v1).sizeof()
    assert size == header


def test_kernel_nr_cpus_overrides_the_default_and_the_6_12_metadata_follows_it():
    """Real 6.12.117 with NR_CPUS=8, 2 CPUs, crashkernel=512M: metadata 0x1b0 bytes, mem_reserved 536936880
    (0x10000 CPU state page + 0x20000000 boot memory + 0x1b0), measured (fadump-abi.md, top)."""
    result, kernels = run_live("linux-6.12", "fadump=on crashkernel=512M", memory="2GiB", cpus=2, mmu="radix",
                 kernel="nr_cpus = 8")
    first = kernels[0]
    assert first.ks.cpumask_size == 8 and first.ks.crash_info_header_v1.sizeof() == 0x1B0
    assert first.sysfs_read(f"{SYSFS}/mem_reserved") == "536936880\n"


def test_kernel_nr_cpus_below_the_cpu_count_is_a_scenario_error():
    with pytest.raises(scenario.ScenarioError, match="nr_cpus"):
        scenario.loads(SCENARIO.format(memory="1GiB", cpus=4, endian="big", mmu="hash", rma="256MiB",
                                       profile="linux-3.4", cmdline="fadump=on", kernel="nr_cpus = 2",
                                       kind="panic", extra=""))


# --- linux-3.4 ---


def test_3_4_fadump_off_creates_no_sysfs_or_debugfs_file():
    """setup_fadump() (arch/powerpc/kernel/fadump.c, v3.4) returns before fadump_init_files() when fadump is off
    or unsupported (fadump_reserve_mem() cleared fadump_enabled)."""
    for k in (booted(Linux34, cmdline="fadump=off"), booted(Linux34, cmdline="root=/dev/sda2")):
        assert k.sysfs == {} and k.debugfs == {}
        assert k.sysfs_read("/sys/kernel/fadump_enabled") == -errno.ENOENT
    assert "/sys/kernel/fadump_enabled" in booted(Linux34).sysfs


def test_3_4_crashkernel_only_matters_to_kdump_at_32mb():
    """3.4: fadump_calculate_reserve_size() ignores crashkernel=; with fadump off, reserve_crashkernel()
    (arch/powerpc/kernel/machine_kexec.c, v3.4) puts it at KDUMP_KERNELBASE (no CONFIG_NONSTATIC_KERNEL)."""
    k = booted(Linux34, 8 * GiB, "fadump=off crashkernel=256M")
    assert "Reserving 256MB of memory at 32MB for crashkernel (System RAM: 8192MB)" in console_of(k)
    assert booted(Linux34, 8 * GiB, "fadump=on crashkernel=512M").fadump.fw_dump.boot_memory_size == 320 * MiB


def console_of(k) -> list[str]:
    return [line.text for line in k.machine.console.lines]


def test_3_4_vmcoreinfo_has_only_keys_3_4_wrote_with_3_4_values():
    """kernel/kexec.c (3.4) crash_save_vmcoreinfo_init(): no MAX_PHYSMEM_BITS, page.private, page._mapcount,
    PG_slab, PG_reserved or PAGE_BUDDY_MAPCOUNT_VALUE; OFFSET(page._count); PG_swapcache 16 (page-flags.h with
    PAGEFLAGS_EXTENDED); SIZE(page) 56 (mm_types.h: 7 longs on ppc64)."""
    k = booted(Linux34)
    info = vmcoreinfo.parse(note_text(k))
    for never in ("NUMBER(MAX_PHYSMEM_BITS)", "OFFSET(page.private)", "OFFSET(page._mapcount)", "NUMBER(PG_slab)",
                  "NUMBER(PG_reserved)", "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", "OFFSET(uts_namespace.name)",
                  "BUILD-ID", "KERNELOFFSET", "NUMBER(RADIX_MMU)"):
        assert never not in info
    assert set(info) <= set(version_tables.KEYS_3_4)
    assert (info["SIZE(page)"], info["OFFSET(page._count)"], info["NUMBER(PG_swapcache)"]) == ("56", "28", "16")
    assert (info["NUMBER(PG_lru)"], info["NUMBER(PG_private)"]) == ("5", "11")


def test_3_4_crashtime_has_no_trailing_newline():
    """kernel/kexec.c (3.4) crash_save_vmcoreinfo(): vmcoreinfo_append_str("CRASHTIME=%ld", get_seconds())."""
    last = vmcore_vmcoreinfo(run_live("linux-3.4", endian="big")[1]).rsplit("\n", 1)[1]
    assert last == "CRASHTIME=1767225610"  # DEFAULT_EPOCH + 10 s
    # kernel/vmcore_info.c (6.10): "CRASHTIME=%lld\n"
    assert vmcore_vmcoreinfo(run_live("linux-6.10")[1]).endswith("\nCRASHTIME=1767225610\n")


def vmcore_vmcoreinfo(kernels) -> str:
    """The VMCOREINFO text as the capture kernel's /proc/vmcore holds it."""
    k = kernels[1]
    texts = [desc for name, _, desc, _ in elfcore.walk_notes(k.ks, k.vmcore.notes) if name == "VMCOREINFO"]
    return texts[0].split(b"\0", 1)[0].decode()


def test_3_4_vmcore_failures_print_the_3_4_warnings_then_not_initialized(tmp_path):
    """fs/proc/vmcore.c (3.4) parse_crash_elf_headers(): "Warning: Core image elf header not found" for a bad
    magic; vmcore_init() then "Kdump: vmcore not initialized". 3.4 has no "Zero PT_NOTE entries found"."""
    fault = '[capture]\nafter = "stay"\n[[faults]]\nkind = "elf-header-overwritten"'
    result, kernels = run_live("linux-3.4", endian="big", extra=fault)
    capture_lines = [line.text for line in result.partition.console.lines if line.boot == 2]
    at = capture_lines.index(NOT_FOUND)
    assert capture_lines[at + 1] == NOT_INITIALIZED
    assert kernels[1].vmcore is None


def test_only_the_paged_layout_warns_about_empty_notes():
    """update_note_header_size_elf64() (6.10) warns "Zero PT_NOTE entries found" and goes on; 3.4's
    merge_note_headers_elf64() just counts nothing."""
    ks = kernel_structs(True, PT_REGS_FIELDS_6_10, 2048)
    ram = PartitionRAM(64 * MiB)
    hdr = 0x100000
    phdrs = elfcore.phdr(ks, PT_NOTE, p_offset=0x200000, p_memsz=64) + elfcore.phdr(
        ks, PT_LOAD, p_offset=0, p_paddr=0, p_filesz=1 * MiB, p_memsz=1 * MiB)
    ram.write(hdr, elfcore.ehdr(ks, 2) + phdrs)
    assert ProcVmcore(ram, ks, hdr, 65536, LAYOUT_PAGED).warnings == ["Warning: Zero PT_NOTE entries found"]
    assert ProcVmcore(ram, ks, hdr, 65536, LAYOUT_3_4).warnings == []
    ram.write(hdr, b"\0ELF")
    with pytest.raises(VmcoreError, match="^Warning: Core image elf header not found$"):
        ProcVmcore(ram, ks, hdr, 65536, LAYOUT_PAGED)


# --- the crashing CPU's note on a panic ---


@pytest.mark.parametrize("profile, softe", [("linux-3.4", 0), ("linux-6.10", 3)])
def test_a_panic_note_holds_what_ppc_save_regs_stores(profile, softe):
    """crash_fadump(NULL) -> ppc_save_regs() (arch/powerpc/kernel/ppc_save_regs.S): GPRs, NIP, LINK, MSR, CTR,
    XER, CR, _TRAP = 0; 6.10 also SOFTE from the PACA and ORIG_GPR3 = 0; 3.4 leaves both at the header's zero.
    DAR stays zero: ppc_save_regs does not store it. The crash registers set trap 0x700, softe 3, orig_gpr3
    0x1234 and dar 0xdead0000; the note of the crashing CPU (1, the second note) shows what survived."""
    result = run(profile, endian="big" if profile == "linux-3.4" else "little")
    note = result.captures[0].notes[1]["regs"]
    assert (note["trap"], note["softe"], note["orig_gpr3"], note["dar"]) == (0, softe, 0, 0)
    assert note["nip"] == 0xC0000000000A5F10
    assert result.captures[0].expected_regs[1]["trap"] == 0  # what the report compares against


def test_a_system_reset_note_keeps_the_trigger_trap():
    """system_reset_exception() passes its own pt_regs to crash_fadump() (traps.c): every field of the exception
    frame stays, here the scenario's trap 0x700, softe, orig_gpr3 and dar; without them the trap is 0x100."""
    note = run("linux-6.10", kind="system-reset").captures[0].notes[1]["regs"]
    assert (note["trap"], note["softe"], note["orig_gpr3"], note["dar"]) == (0x700, 3, 0x1234, 0xDEAD0000)


# --- linux-6.10 ---


@pytest.mark.parametrize("cls, boot_mb", [(Linux610, 336), (Linux612, 336), (Linux72, 330)])
def test_boot_memory_is_rounded_to_the_cma_alignment_until_7_2(cls, boot_mb):
    """fadump_reserve_mem(): boot_memory_size = ALIGN(..., CMA_MIN_ALIGNMENT_BYTES) unless nocma, in 6.10 and
    still in Debian's 6.12.117 fadump.c; 7.2's fadump_reserve_mem() has no such rounding."""
    k = booted(cls, 2 * GiB, "fadump=on crashkernel=330M")
    assert k.fadump.fw_dump.boot_memory_size == boot_mb * MiB
    assert booted(cls, 2 * GiB, "fadump=nocma crashkernel=330M").fadump.fw_dump.boot_memory_size == 330 * MiB


def test_7_2_prints_the_range_cma_line_of_the_aligned_part():
    """fadump_cma_init() (7.2): base = ALIGN(start), end = ALIGN_DOWN(start + boot size), "Initialized [0x%llx,
    %luMB] cma area from [0x%lx, %luMB] bytes of memory reserved for firmware-assisted dump"."""
    k = booted(Linux72, 2 * GiB, "fadump=on crashkernel=330M")
    start = k.fadump.fw_dump.reserve_dump_area_start
    assert start == 330 * MiB
    assert ("fadump: Initialized [0x15000000, 320MB] cma area from [0x14a00000, 330MB] bytes of memory reserved "
            "for firmware-assisted dump") in console_of(k)


def test_6_10_cma_init_fails_on_an_unaligned_area():
    """cma_init_reserved_mem() (mm/cma.c) returns -EINVAL unless base and size are CMA-aligned; fadump_cma_init()
    (6.10) prints "Failed to init cma area for firmware-assisted dump,%d" and goes on."""
    k = booted(Linux610, 2 * GiB, "fadump=on crashkernel=330M mem=2G", holes=[])
    assert not any("Failed to init cma" in line for line in console_of(k))  # 336 MiB at 336 MiB: aligned
    k.fadump.fw_dump.reserve_dump_area_start += 65536
    k.fadump.fadump_cma_init()
    assert console_of(k)[-1] == "fadump: Failed to init cma area for firmware-assisted dump,-22"


@pytest.mark.parametrize("cls, rma, crashkernel, area", [
    (Linux610, 1 * GiB, "", 0x2E000000 - 2048),
    (Linux610, 1 * GiB, " crashkernel=512M", None),
    (Linux610, 512 * MiB, "", 0),
    (Linux612, 1 * GiB, " crashkernel=512M", None),  # the real 6.12 hash run: reservation at 0x20000000
    (Linux72, 1 * GiB, "", None),
    (Linux72, 2 * GiB, " crashkernel=1G", 0x40000000 - 2048),
])
def test_hash_mmu_parameter_area_follows_the_release(cls, rma, crashkernel, area):
    """6.10 fadump_setup_param_area(): hash only in 0x2A000000-0x2E000000 and only with ppc64_rma_size >=
    0x30000000 (512 MiB RMA: silently none); a reservation covering it gives the WARNING (seen on the real hash
    run). 7.2: [MIN_RMA, min(ppc64_rma_size, boot_mem_top)), empty below 768 MiB of boot memory."""
    k = booted(cls, 4 * GiB, "fadump=on" + crashkernel, rma_size=rma)
    fw = k.fadump.fw_dump
    warned = "fadump: WARNING: Could not setup area to pass additional parameters!" in console_of(k)
    if area is None:
        assert fw.param_area == 0 and warned
    else:
        assert fw.param_area == area and not warned
    assert (f"{SYSFS}/bootargs_append" in k.sysfs) == bool(area)


def test_radix_parameter_area_is_the_highest_free_2k_of_the_upper_half():
    """fadump_setup_param_area(): radix range [DRAM/2, DRAM), memblock_phys_alloc_range() allocates top-down.
    6.12 runs it in early_init_devtree(), so it gets the last 2 KiB of DRAM (as on the real 6.12); 6.10 runs it
    in setup_fadump(), after boot allocations took the top, so it lands below them."""
    assert booted(Linux612, 2 * GiB, mmu="radix").fadump.fw_dump.param_area == 2 * GiB - 2048
    k = booted(Linux610, 2 * GiB, mmu="radix")
    pa = k.fadump.fw_dump.param_area
    assert 1 * GiB <= pa < 2 * GiB - 2048 and pa % 2048 == 0
    assert not [r for r in k.memblock.free() if r.start <= pa + 2048 < r.end and r.end - 2048 > pa + 2048]


def test_6_12_sets_up_the_parameter_area_even_with_fadump_off_and_7_2_does_not():
    """fadump_setup_param_area() (6.12) has no fadump_enabled check; 7.2's returns unless fadump is enabled."""
    assert booted(Linux612, 2 * GiB, "fadump=off", mmu="radix").fadump.fw_dump.param_area == 2 * GiB - 2048
    assert booted(Linux72, 2 * GiB, "fadump=off", mmu="radix").fadump.fw_dump.param_area == 0
    assert booted(Linux610, 2 * GiB, "fadump=off", mmu="radix").fadump.fw_dump.param_area == 0


@pytest.mark.parametrize("profile, reserved, bootargs_file", [("linux-6.10", True, False),
                                                              ("linux-6.12", False, True)])
def test_capture_kernel_prints_updated_cmdline_with_its_trailing_space(profile, reserved, bootargs_file):
    """fadump_append_bootargs(): snprintf(" %s") then pr_info("Updated cmdline: %s") even with nothing to append
    (real 6.12: "fadump: Updated cmdline: console=hvc0 fadump=on crashkernel=512M "). The area (radix: above
    boot_mem_top) is memblock_reserve()d when >= boot_mem_top in 6.10, when < it in 6.12.
    fadump_init_files() (6.12) creates bootargs_append whenever param_area is set; 6.10 only at setup."""
    result, kernels = run_live(profile, "fadump=on crashkernel=512M", memory="2GiB", mmu="radix")
    capture = kernels[1]
    assert "fadump: Updated cmdline: fadump=on crashkernel=512M " in console(result)
    pa = capture.fadump.fw_dump.param_area
    assert pa == kernels[0].fadump.fw_dump.param_area >= capture.fadump.fw_dump.boot_mem_top
    assert any(r.start <= pa and pa + 2048 <= r.end for r in capture.memblock.reserved)  # reserved either way
    assert (f"{SYSFS}/bootargs_append" in capture.sysfs) == bootargs_file
    assert capture.version.param_area_reserved_when_above_top == reserved


def test_vmcoreinfo_as_6_10_publishes_it():
    """kernel/vmcore_info.c (6.10) and arch/powerpc/kexec/vmcore_info.c: BUILD-ID, OFFSET(uts_namespace.name)=0,
    NUMBER(VMALLOC_START)=0x..., PG numbers of 6.10's enum pageflags, PG_swapbacked, PG_head_mask, the four
    ~PG_x page_type values, KERNELOFFSET; no PG_slab, PG_reserved or PG_head."""
    k = booted(Linux610)
    info = vmcoreinfo.parse(note_text(k))
    printk_keys = set(vmcoreinfo.parse("\n".join(k.log.vmcoreinfo())))
    assert set(info) - printk_keys <= set(version_tables.KEYS_6_10)
    assert info["OFFSET(uts_namespace.name)"] == "0" and len(info["BUILD-ID"]) == 40
    assert info["NUMBER(VMALLOC_START)"] == "0xc008000000000000" and info["KERNELOFFSET"] == "0"
    assert {key: info[f"NUMBER({key})"] for key in ("PG_lru", "PG_private", "PG_swapcache", "PG_swapbacked",
                                                   "PG_head_mask")} == {
        "PG_lru": "5", "PG_private": "14", "PG_swapcache": "11", "PG_swapbacked": "18", "PG_head_mask": "64"}
    assert [info[f"NUMBER(PAGE_{t}_MAPCOUNT_VALUE)"] for t in ("SLAB", "BUDDY", "HUGETLB", "OFFLINE")] == \
        ["-4097", "-129", "-2049", "-257"]
    for never in ("NUMBER(PG_slab)", "NUMBER(PG_reserved)", "NUMBER(PG_head)"):
        assert never not in info
    assert (info["SIZE(page)"], info["OFFSET(page._refcount)"], info["OFFSET(page._mapcount)"]) == ("56", "52", "48")  # reference build: no CONFIG_MEMCG
    assert k.ram.read(k.symbols["init_uts_ns"], 5) == b"Linux"  # name at offset 0: no kref in front


def test_vmcoreinfo_of_6_12_has_the_measured_page_numbers():
    """Real 6.12.117 VMCOREINFO: PG_lru 5, PG_private 14, PG_swapcache 10, PG_swapbacked 17, PG_head_mask 64,
    PAGE_BUDDY_MAPCOUNT_VALUE -268435456 (PGTY_buddy << 24), OFFSET(uts_namespace.name) 0, no NUMBER(PG_slab)."""
    info = vmcoreinfo.parse(note_text(booted(Linux612)))
    assert [info[f"NUMBER({k})"] for k in ("PG_lru", "PG_private", "PG_swapcache", "PG_swapbacked",
                                           "PG_head_mask", "PAGE_BUDDY_MAPCOUNT_VALUE")] == \
        ["5", "14", "10", "17", "64", "-268435456"]
    assert info["OFFSET(uts_namespace.name)"] == "0" and "NUMBER(PG_slab)" not in info


def test_unbacked_keys_are_listed_not_invented():
    """Keys a release writes but the emulated kernel has no object for are reported, never written."""
    k = booted(Linux610)
    missing = vmcoreinfo.unbacked(k)
    info = vmcoreinfo.parse(note_text(k))
    assert "SYMBOL(node_online_map)" in missing and "SYMBOL(node_online_map)" not in info
    assert not set(missing) & set(info)


def test_freeing_line_prints_page_aligned_addresses_and_release_mem_stays():
    """fadump_free_reserved_memory() prints PFN_PHYS(start_pfn): the real 6.12 printed "freeing reserved memory
    (0x40010000 - 0x80000000)" for an area ending at 0x400101b0. release_mem_store() (6.10) removes no file."""
    result, kernels = run_live("linux-6.12", "fadump=on crashkernel=512M", memory="2GiB", cpus=2, mmu="radix",
                 kernel="nr_cpus = 8", extra='[capture]\nafter = "release"')
    assert "fadump: freeing reserved memory (0x40010000 - 0x80000000)" in console(result)
    capture = kernels[1]
    for path in (f"{SYSFS}/release_mem", "/sys/kernel/fadump_release_mem"):
        assert path in capture.sysfs
        assert capture.settle(capture.sysfs_write(path, "1")) == -errno.EPERM  # the dump is gone, the file is not


def firmware_answering(status: int):
    """An rtas_call that answers ``status`` at once (the kernel's call steps, with nothing to wait for)."""

    def rtas_call(name, *args, **kw):
        return status
        yield

    return rtas_call


def test_writing_registered_returns_register_fadump_errors():
    """register_fadump() (fadump.c, 6.10): -ENODEV without a reservation; rtas_fadump_register(): err = -EIO for
    a hardware error (-1) or an unknown status."""
    k = booted(Linux610)
    k.settle(k.sysfs_write(f"{SYSFS}/registered", "0"))
    k.rtas_call = firmware_answering(RtasStatus.HARDWARE_ERROR)
    assert k.settle(k.sysfs_write(f"{SYSFS}/registered", "1")) == -errno.EIO
    k.rtas_call = firmware_answering(-7)
    assert k.settle(k.sysfs_write(f"{SYSFS}/registered", "1")) == -errno.EIO
    k.fadump.fw_dump.reserve_dump_area_size = 0
    assert k.settle(k.sysfs_write(f"{SYSFS}/registered", "1")) == -errno.ENODEV


def test_6_10_kdump_fallback_goes_at_half_the_rma_up_to_512mb():
    """reserve_crashkernel() (arch/powerpc/kexec/core.c, 6.10), relocatable, on an LPAR:
    crashk_res.start = min(ppc64_rma_size / 2, SZ_512M)."""
    k = booted(Linux610, 8 * GiB, "fadump=off crashkernel=256M")
    assert "Reserving 256MB of memory at 128MB for crashkernel (System RAM: 8192MB)" in console_of(k)
    k = booted(Linux610, 8 * GiB, "fadump=off crashkernel=256M", rma_size=2 * GiB)
    assert "Reserving 256MB of memory at 512MB for crashkernel (System RAM: 8192MB)" in console_of(k)


def test_6_10_without_firmware_support_creates_no_file():
    """setup_fadump() (6.10): "if (!fw_dump.fadump_supported) return 0;" before fadump_init_files()."""
    m = Machine(MachineConfig(memory=1 * GiB, cpus=4))
    m.power_on("fadump=on")
    m.devicetree.delete("/rtas", "ibm,configure-kernel-dump")
    k = Linux610(m, "fadump=on", "6.10.0", 1, 0)
    m.env.process(k.boot_sequence())
    m.env.run()
    assert "fadump: Firmware-Assisted Dump is not supported on this hardware" in console_of(k)
    assert k.sysfs == {} and k.debugfs == {}


# --- current upstream ---


def test_7_2_keeps_the_compat_symlinks_and_the_range_cma_line_end_to_end():
    """fadump_init_files() (7.2) still calls compat_only_sysfs_link_entry_to_kobj() for the three old names."""
    result, kernels = run_live("linux-7.2", "fadump=on crashkernel=512M", memory="2GiB", mmu="radix")
    capture = kernels[1]
    assert "/sys/kernel/fadump_release_mem" in capture.sysfs and "/sys/kernel/fadump_enabled" in capture.sysfs
    assert ("fadump: Initialized [0x20000000, 512MB] cma area from [0x20000000, 512MB] bytes of memory reserved "
            "for firmware-assisted dump") in console(result)
    assert result.outcome == "vmcore"


@pytest.mark.parametrize("profile, registered", [("linux-6.10", True), ("linux-6.12", False), ("linux-7.2", False)])
def test_6_12_stops_waiting_for_a_busy_firmware_after_60_seconds(profile, registered):
    """rtas_fadump_call() (platforms/pseries/rtas-fadump.c, Debian 6.12.117 and 7.2): once the busy waits reach
    RTAS_FADUMP_MAX_WAIT_MS (60000, rtas-fadump.h) it prints "Timed out waiting for firmware to complete fadump
    register" and returns -ETIMEDOUT; 6.10's rtas_fadump_register() loops for as long as firmware says busy
    (100 s twice here). Timed out, the boot's registration fails and the kdump service's "echo 1" succeeds."""
    faults = ('[[faults]]\nkind = "rtas-status"\ncall = "ibm,configure-kernel-dump"\ncommand = "register"\n'
              'statuses = [9905, 9905]\n[capture]\nafter = "stay"')
    result, kernels = run_live(profile, "fadump=on crashkernel=512M", memory="2GiB", mmu="radix", extra=faults)
    first = kernels[0]
    lines = console(result)
    timed_out = "rtas fadump: Timed out waiting for firmware to complete fadump register" in lines
    assert timed_out != registered
    registrations = [i for i, line in enumerate(lines) if line == "rtas fadump: Registration is successful!"]
    service = [i for i, line in enumerate(lines) if line == "kdump: registering for firmware-assisted dump"]
    assert bool(service) != registered  # only a failed boot registration leaves work for the service
    assert registrations and (registered or registrations[0] > service[0])
    assert first.version.rtas_busy_limit_ms == (None if registered else 60_000)


def test_describe_diff_reads_as_the_release_notes_of_the_model():
    """python -m kernels.versions linux-6.12 linux-7.2: vmcore_info.c (7.2) renamed compound_head to compound_info
    and dropped kallsyms_relative_base; fadump_cma_init() switched to the range line."""
    text = versions.describe_diff("linux-6.12", "linux-7.2").splitlines()
    assert {"VMCOREINFO -OFFSET(page.compound_head)", "VMCOREINFO +OFFSET(page.compound_info)",
            "VMCOREINFO -SYMBOL(kallsyms_relative_base)", "cma_line: 'size-at-MB' -> 'range'"} <= set(text)


@pytest.mark.parametrize("cls, lines", [
    (Linux612, ["Warning: Core image elf header not found", "Kdump: vmcore not initialized"]),
    (Linux72, ["vmcore: Warning: Core image elf header not found", "vmcore: not initialized"]),
])
def test_vmcore_init_failure_lines_follow_the_release(cls, lines):
    """fs/proc/vmcore.c: 6.12 has no pr_fmt and prints "Kdump: vmcore not initialized"; 7.2 defines
    pr_fmt "vmcore: " and prints "not initialized". A zeroed page stands for an ELF header that is not there."""
    k = booted(cls)
    k.elfcorehdr_addr = 0x0500_0000
    k.ram.fill(k.elfcorehdr_addr, 4096, 0)
    k.vmcore_init()
    assert console_of(k)[-2:] == lines and k.vmcore is None


@pytest.mark.parametrize("profile, reserved", [("linux-6.10", False), ("linux-6.12", True)])
def test_a_parameter_area_inside_boot_memory_is_reserved_by_the_6_12_capture_kernel_only(profile, reserved):
    """Hash MMU, 1 GiB RMA, crashkernel=1G: the area (0x2A000000-0x2E000000) lies inside boot memory.
    fadump_append_bootargs() reserves it "if (param_area >= boot_mem_top)" in 6.10 (so not here, and the capture
    kernel may reuse it) and "if (param_area < boot_mem_top)" in 6.12."""
    result, kernels = run_live(profile, "fadump=on crashkernel=1G", memory="4GiB", rma="1GiB")
    capture = kernels[1]
    pa = capture.fadump.fw_dump.param_area
    assert pa == 0x2E000000 - 2048 < capture.fadump.fw_dump.boot_mem_top
    assert any(r.start <= pa and pa + 2048 <= r.end for r in capture.memblock.reserved) == reserved
