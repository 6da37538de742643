"""What each modelled kernel release is, as data: one table per version, later ones as deltas.

A profile named after a release promises that release's behaviour, so every number, message shape and rule that
differs between releases lives here, with where it was read: its struct layouts in kernels.version_layouts, its
VMCOREINFO keys and kallsyms order in kernels.version_tables, the rest below. Diff two versions by reading two
entries (or ``diff(LINUX_6_10, LINUX_6_12)``).

Sources (each read for this table; paths inside the tree of that version):
- 3.4:  Linux 3.4.4 (prtos-project/prtos-linux-3.4.4).
- 6.1:  Debian linux-source-6.1 6.1.192-3 (Debian 12's kernel), and the real 6.1.192 runs of tests/reference/linux-6.1.
- 6.10: Linux 6.10.0 (msgeden/cryptocap-arm64-linux-6.10, Makefile 6.10.0).
- 6.12: Debian linux-source-6.12 6.12.117-1~deb12u1, and the real-kernel measurements at the top of
        ../shared/reference/fadump-abi.md (a 6.12.117 kernel crashed under QEMU's pseries fadump).
- 7.2:  Debian sid linux-source-7.2 7.2.13-1 (the current upstream release Debian carries).
"""

from dataclasses import dataclass, fields, replace

from kernels.version_layouts import (CPU_SPEC_6_12, PAGE_3_4, PAGE_6_1, PAGE_6_10, PAGE_6_12, PAGE_7_2,
                                     PGDAT_6_1, PGDAT_6_12, CpuSpecLayout, PageTable, PgdatLayout)
from kernels.version_tables import (KALLSYMS_6_1, KALLSYMS_6_12, KALLSYMS_7_2, KEYS_3_4, KEYS_6_1, KEYS_6_10,
                                    KEYS_6_12, KEYS_7_2)

# --- the whole release ---


@dataclass(frozen=True)
class Version:
    """Everything one release decides that the emulator models."""

    name: str
    release: str
    """The default OSRELEASE of the emulated build."""
    nr_cpus: int
    """CONFIG_NR_CPUS of the pseries defconfig (sizes struct cpumask, so the crash info header)."""
    memory_model: str
    """The pseries defconfig's memory model ("sparsemem-vmemmap" with NUMA for every release here); the
    emulated kernel's own model is kernels.memmap's, and VMCOREINFO writes the keys of whichever it backs."""
    page: PageTable
    vmcoreinfo_keys: tuple[str, ...]
    crashtime_newline: bool
    """crash_save_vmcoreinfo(): "CRASHTIME=%ld" (3.4, no newline) or "CRASHTIME=%lld\\n"."""
    uts_name_offset: int
    """offsetof(struct uts_namespace, name): 4 behind struct kref (3.4), 0 once the kref went."""
    vmalloc_start: int | None = None
    # fadump itself
    crashkernel_sizes_fadump: bool = False
    """fadump_calculate_reserve_size() honours crashkernel= (not in 3.4)."""
    cma_line: str | None = None
    """"size-at-MB" (6.10-6.12), "range" (7.2) or None (no CMA in fadump)."""
    cma_rounds_boot_memory: bool = False
    cma_init_in_setup_arch: bool = False
    """fadump_cma_init() runs from setup_arch() after initmem_init() (6.12+: setup-common.c), so its line comes
    after early_init_devtree()'s fadump lines (the parameter area's); before, fadump_reserve_mem() called it."""
    """fadump_reserve_mem() rounds boot_memory_size up to CMA_MIN_ALIGNMENT_BYTES when CMA is on."""
    param_area_rule: str | None = None
    """None (no bootargs_append), "6.10" (setup_fadump, hash 0x2A000000-0x2E000000 with RMA >= 768 MiB),
    "6.12" (early_init_devtree, same windows, even when fadump is off) or "7.2" (early, only with fadump on;
    hash [MIN_RMA, min(RMA, boot_mem_top)))."""
    param_area_reserved_when_above_top: bool = False
    """fadump_append_bootargs() reserves the area when param_area >= boot_mem_top (6.10) or < it (6.12+)."""
    bootargs_append_from_init_files: bool = False
    """fadump_init_files() creates bootargs_append whenever param_area is set (6.12+), not only at setup."""
    compat_symlinks: bool = False
    """/sys/kernel/fadump_{enabled,registered,release_mem} symlinks to /sys/kernel/fadump/."""
    kdump_base: str = "32MB"
    """reserve_crashkernel() placement when fadump reserved nothing: "32MB" (KDUMP_KERNELBASE, non-relocatable
    3.4 pseries_defconfig) or "rma" (relocatable: min(ppc64_rma_size / 2, 512 MiB) on an LPAR)."""
    rtas_busy_limit_ms: int | None = None
    """rtas_fadump_call() (rtas-fadump.c, 6.12.117 and 7.2): give up with -ETIMEDOUT once the busy waits reach this
    many ms; None: retry for as long as firmware says busy ("TODO: Add upper time limit for the delay", 6.10)."""
    vmcore_pr_fmt: str = ""
    """fs/proc/vmcore.c's pr_fmt: none up to 6.12, "vmcore: " in 7.2 (every warning carries it)."""
    vmcore_note_align: int = 4
    """p_align of /proc/vmcore's merged PT_NOTE (fs/proc/vmcore.c merge_note_headers_elf64()): 0 in 6.1, 4 in
    6.10 and later (the 3.4 layout writes 0 regardless)."""
    vmcore_not_initialized: str = "Kdump: vmcore not initialized"
    """What vmcore_init() prints after a failed parse: "Kdump: vmcore not initialized" (3.4-6.12), "not
    initialized" (7.2, after pr_fmt)."""
    save_regs_softe: bool = False
    """ppc_save_regs() stores softe from the PACA and zeroes orig_gpr3 (6.x); 3.4 stores neither."""
    pgdat: PgdatLayout | None = None
    """The layout of contig_page_data and node_states the emulated image holds (kernels.mmzone), or None: the
    release's pgdat keys stay unbacked (vmcoreinfo.unbacked)."""
    cpu_spec: CpuSpecLayout | None = None
    """struct cpu_spec of the image's cur_cpu_spec (kernels.cputable), or None."""
    kallsyms: bool = False
    """The image holds the kallsyms tables in the 6.x base-relative format (kernels.kallsyms)."""
    kallsyms_place_relative: bool = False
    """kallsyms_offsets hold each symbol's address minus the entry's own address (7.2: offset_to_ptr), with no
    kallsyms_relative_base; False: address minus kallsyms_relative_base (6.x)."""
    kallsyms_layout: tuple[str, ...] = KALLSYMS_6_12
    """The kallsyms tables in the order scripts/kallsyms.c write_src() emits them into .rodata."""
    kallsyms_align: int = 8
    """What output_label() aligns each table to: ALGN, .balign 8 on 64-bit (6.x); .balign 4 (7.2)."""

    elfcorehdr_by: str = "capture kernel"
    """Who builds the ELF core header: "first kernel" (3.4 to 6.9: register_fadump() writes it behind the FADMPINF
    crash info header in the reserved area, so memory hotplug needs a re-registration) or "capture kernel" (6.10+:
    fadump_process() builds it from the memory it finds, behind a FADMPSIG header)."""
    registers_at_boot: bool = True
    """setup_fadump() registers by itself (commit 607451ce0aa9, Linux 5.18; 6.1 has it); 3.4 waits for the kdump
    service's ``echo 1 > registered``."""
    hotplug_ready: bool = False
    """/sys/kernel/fadump/hotplug_ready exists (6.10+: the kernel itself keeps the dump right across hotplug)."""
    vmap_area_list: bool = False
    """The image holds vmap_area_list and a first struct vmap_area (kernels.vmalloc); VMCOREINFO names them until
    6.9 replaced them with NUMBER(VMALLOC_START)."""
    adjusts_memory_limit: bool = False
    """fadump_reserve_mem() raises a mem= limit by the dump area's size and prints "Adjusted memory_limit for
    firmware-assisted dump" (3.4 and 6.1, gone by 6.10; the 3.4 profile has its own code for it)."""
    radix_vmemmap_list: bool = False
    """Under radix, vmemmap_populate() is mm/init_64.c's (aligned 2 MiB blocks recorded in vmemmap_list, each
    mapped by a PMD leaf), as before 6.6's radix__vmemmap_populate() (kernels.sparsemem)."""
    ddw_limits_hot_add: bool = False
    """pseries/iommu.c enable_ddw() sizes a direct DMA window to memory_hotplug_max(), which is
    memblock_end_of_DRAM() without CONFIG_NUMA (asm/mmzone.h, 6.1); iommu_mem_notifier() then fails MEM_GOING_ONLINE
    for memory above it, so a QEMU pc-dimm hot-add is rolled back ("Memory indexed-count-add failed"). Set where
    measured (6.1); 6.12's iommu_mem_notifier() skips memory at or above ddw_memory_hotplug_max(), and whether its
    hot-add then succeeds under QEMU is not measured (no 6.12 hotplug reference), so later releases leave it off."""

    @property
    def release_number(self) -> str:
        return self.name.removeprefix("linux-")


LINUX_3_4 = Version(
    name="linux-3.4",
    release="3.4.0-fadump-emu",
    # arch/powerpc/configs/pseries_defconfig (3.4): CONFIG_NR_CPUS=1024.
    nr_cpus=1024,
    # arch/powerpc/Kconfig (3.4): NUMA "default y if SMP && PPC_PSERIES", ARCH_SPARSEMEM_DEFAULT with SMP &&
    # PPC_PSERIES, ARCH_SPARSEMEM_ENABLE selects SPARSEMEM_VMEMMAP_ENABLE; mm/Kconfig: SPARSEMEM_VMEMMAP default y.
    memory_model="sparsemem-vmemmap",
    page=PAGE_3_4,
    vmcoreinfo_keys=KEYS_3_4,
    # kernel/kexec.c (3.4) crash_save_vmcoreinfo(): vmcoreinfo_append_str("CRASHTIME=%ld", get_seconds()).
    crashtime_newline=False,
    # include/linux/utsname.h (3.4): struct uts_namespace { struct kref kref; struct new_utsname name; ...}.
    uts_name_offset=4,
    # arch/powerpc/kernel/fadump.c (3.4) fadump_calculate_reserve_size(): fadump_reserve_mem= or 5%, nothing else.
    crashkernel_sizes_fadump=False,
    # arch/powerpc/kernel/machine_kexec.c (3.4) reserve_crashkernel(): without CONFIG_NONSTATIC_KERNEL (not in
    # pseries_defconfig) the crash kernel goes at KDUMP_KERNELBASE, 32 MiB.
    kdump_base="32MB",
    # arch/powerpc/kernel/fadump.c (3.4) register_fadump(): init_fadump_header(), fadump_create_elfcore_headers().
    elfcorehdr_by="first kernel",
    # fadump.c (3.4) fadump_reserve_mem(): "Adjusted memory_limit for firmware-assisted dump" (kernels.linux34).
    adjusts_memory_limit=True,
    # fadump.c (3.4) setup_fadump(): init_fadump_mem_struct() only; registration is fadump_register_store()'s.
    registers_at_boot=False,
    # fs/proc/vmcore.c (3.4) merge_note_headers_elf64(): phdr.p_align = 0 (kernels.vmcore's 3.4 layout).
    vmcore_note_align=0,
)

LINUX_6_1 = Version(
    name="linux-6.1",
    release="6.1.0-fadump-emu",
    # arch/powerpc/configs/ppc64_defconfig and pseries_defconfig (6.1): CONFIG_NR_CPUS=2048 (the reference build
    # sets 8).
    nr_cpus=2048,
    memory_model="sparsemem-vmemmap",
    page=PAGE_6_1,
    vmcoreinfo_keys=KEYS_6_1,
    # kernel/crash_core.c (6.1) crash_save_vmcoreinfo(): "CRASHTIME=%lld\n".
    crashtime_newline=True,
    # include/linux/utsname.h (6.1): struct uts_namespace { struct new_utsname name; ...}. Measured: 0.
    uts_name_offset=0,
    # No NUMBER(VMALLOC_START) before 6.9: dump readers follow vmap_area_list instead.
    vmalloc_start=None,
    vmap_area_list=True,
    # fadump.c (6.1) fadump_calculate_reserve_size(): crashkernel= sizes boot memory (capped at RAM / 4).
    crashkernel_sizes_fadump=True,
    # fadump.c (6.1) fadump_cma_init(): the 6.10 "Initialized 0x%lx bytes cma area at %ldMB" line, called from
    # setup_arch() (setup-common.c, 6.1: "fadump_cma_init();" after initmem_init()); fadump_reserve_mem() rounds
    # boot_memory_size up to CMA_MIN_ALIGNMENT_BYTES unless nocma. Measured: the line after the "---" banner.
    cma_line="size-at-MB",
    cma_rounds_boot_memory=True,
    cma_init_in_setup_arch=True,
    # fadump.c (6.1) has no parameter area and no bootargs_append (6.10 added them).
    param_area_rule=None,
    # fadump.c (6.1) fadump_init_files(): /sys/kernel/fadump/{enabled,registered,mem_reserved,release_mem} and
    # the compat_only_sysfs_link_entry_to_kobj() symlinks; no hotplug_ready (measured: the real ls has none).
    compat_symlinks=True,
    hotplug_ready=False,
    # arch/powerpc/kexec/core.c (6.1) reserve_crashkernel(): relocatable pseries, min(RMA / 2, 512 MiB).
    kdump_base="rma",
    # rtas-fadump.c (6.1) rtas_fadump_register(): "TODO: Add upper time limit for the delay".
    rtas_busy_limit_ms=None,
    # arch/powerpc/kernel/ppc_save_regs.S (6.1): softe from the PACA, as 6.10.
    save_regs_softe=True,
    # contig_page_data and node_states, kallsyms (CONFIG_KALLSYMS_BASE_RELATIVE: offsets + relative_base);
    # no cur_cpu_spec key in 6.1's arch_crash_save_vmcoreinfo().
    pgdat=PGDAT_6_1,
    cpu_spec=None,
    kallsyms=True,
    kallsyms_layout=KALLSYMS_6_1,
    # fadump.c (6.1) setup_fadump(): "fw_dump.ops->fadump_init_mem_struct(&fw_dump); register_fadump();" (measured:
    # "rtas fadump: Registration is successful!" at boot, before /init).
    registers_at_boot=True,
    # fadump.c (6.1) register_fadump(): fadump_setup_crash_memory_ranges(), init_fadump_header() (FADMPINF),
    # fadump_create_elfcore_headers(): the original design, as 3.4.
    elfcorehdr_by="first kernel",
    # fadump.c (6.1) fadump_reserve_mem(): "if (memory_limit && memory_limit < memblock_end_of_DRAM())" grows
    # memory_limit by get_fadump_area_size() and prints "Adjusted memory_limit for firmware-assisted dump".
    adjusts_memory_limit=True,
    # arch/powerpc/mm/init_64.c (6.1) vmemmap_populate(): vmemmap_list_populate() + vmemmap_create_mapping() for
    # radix too (radix__early_init_mmu(): mmu_vmemmap_psize = MMU_PAGE_2M). makedumpfile (1.7.2, 1.7.6) walks
    # vmemmap_list on a kernel without SYMBOL(vmemmap): the real 6.1 radix dumps filter fine.
    radix_vmemmap_list=True,
    # fs/proc/vmcore.c (6.1) merge_note_headers_elf64(): "phdr.p_align = 0;" (measured: the real vmcore's PT_NOTE
    # has p_align 0; 6.12's has 4).
    vmcore_note_align=0,
    # pseries/iommu.c and asm/mmzone.h (6.1); measured: the real dimm-hotplug case's hot-add is rolled back.
    ddw_limits_hot_add=True,
)

LINUX_6_10 = Version(
    name="linux-6.10",
    release="6.10.0-fadump-emu",
    # arch/powerpc/Makefile (6.10): pseries_defconfig = ppc64le_guest_defconfig = ppc64_defconfig + le + guest +
    # kvm_guest; ppc64_defconfig: CONFIG_NR_CPUS=2048 (no fragment changes it).
    nr_cpus=2048,
    # arch/powerpc/Kconfig (6.12, same in 6.10): NUMA "default y if PPC_PSERIES || PPC_POWERNV",
    # ARCH_SPARSEMEM_DEFAULT on PPC_BOOK3S_64; mm/Kconfig SPARSEMEM_VMEMMAP default y (the real 6.12 dump has
    # SYMBOL(vmemmap)).
    memory_model="sparsemem-vmemmap",
    page=PAGE_6_10,
    vmcoreinfo_keys=KEYS_6_10,
    # kernel/vmcore_info.c (6.10) crash_save_vmcoreinfo(): "CRASHTIME=%lld\n".
    crashtime_newline=True,
    # include/linux/utsname.h (6.10): struct uts_namespace { struct new_utsname name; ...}: name at 0.
    uts_name_offset=0,
    # arch/powerpc/include/asm/book3s/64/{radix,hash}.h: both MMUs start vmalloc at 0xc008000000000000.
    vmalloc_start=0xC008_0000_0000_0000,
    crashkernel_sizes_fadump=True,
    # arch/powerpc/kernel/fadump.c (6.10) fadump_cma_init(): "Initialized 0x%lx bytes cma area at %ldMB from
    # 0x%lx bytes of memory reserved for firmware-assisted dump"; fadump_reserve_mem(): boot_memory_size =
    # ALIGN(boot_memory_size, CMA_MIN_ALIGNMENT_BYTES) unless nocma.
    cma_line="size-at-MB",
    cma_rounds_boot_memory=True,
    # fadump.c (6.10) fadump_setup_param_area(), called from setup_fadump() for a first kernel only.
    param_area_rule="6.10",
    # fadump.c (6.10) fadump_append_bootargs(): "if (fw_dump.param_area >= fw_dump.boot_mem_top) memblock_reserve".
    param_area_reserved_when_above_top=True,
    # fadump.c (6.10): bootargs_append is created by fadump_setup_param_area() only (first kernel).
    bootargs_append_from_init_files=False,
    # fadump.c (6.10) fadump_init_files(): compat_only_sysfs_link_entry_to_kobj() for the three old names.
    compat_symlinks=True,
    # arch/powerpc/kexec/core.c (6.10) reserve_crashkernel(): CONFIG_NONSTATIC_KERNEL (RELOCATABLE, pseries):
    # crashk_res.start = min(ppc64_rma_size / 2, SZ_512M) on an LPAR.
    kdump_base="rma",
    # arch/powerpc/kernel/ppc_save_regs.S (6.10): SOFTE from PACAIRQSOFTMASK, _TRAP and ORIG_GPR3 = 0.
    save_regs_softe=True,
    # fadump.c (6.10) fadump_init_files(): hotplug_ready; the capture kernel builds the ELF core header
    # (fadump_process() -> fadump_populate_elfcorehdr()).
    hotplug_ready=True,
    elfcorehdr_by="capture kernel",
)

LINUX_6_12 = replace(
    LINUX_6_10,
    name="linux-6.12",
    release="6.12.0-fadump-emu",
    page=PAGE_6_12,
    vmcoreinfo_keys=KEYS_6_12,
    # fadump.c (6.12.117) still prints the 6.10 CMA line (measured on the real 6.12.117 too) and still rounds
    # boot_memory_size up to CMA_MIN_ALIGNMENT_BYTES in fadump_reserve_mem(); fadump_cma_init() moved to
    # setup_arch() (setup-common.c) but prints the same.
    # fadump.c (6.12) fadump_setup_param_area() is called from early_init_devtree() (prom.c) after
    # mmu_early_init_devtree(), with no fadump_enabled check; same windows as 6.10.
    param_area_rule="6.12",
    # setup-common.c (6.12.117) setup_arch(): "initmem_init(); ... fadump_cma_init();" (fadump_reserve_mem() no
    # longer calls it); measured: the real hash case prints the parameter-area WARNING before the CMA line.
    cma_init_in_setup_arch=True,
    # The objects behind the rest of 6.12's VMCOREINFO keys (kernel/vmcore_info.c and
    # arch/powerpc/kexec/vmcore_info.c, 6.12): contig_page_data, node_online_map, cur_cpu_spec, kallsyms.
    pgdat=PGDAT_6_12,
    cpu_spec=CPU_SPEC_6_12,
    kallsyms=True,
    # fadump.c (6.12) fadump_append_bootargs(): "if (fw_dump.param_area < fw_dump.boot_mem_top) memblock_reserve".
    param_area_reserved_when_above_top=False,
    # fadump.c (6.12) fadump_init_files(): "if (fw_dump.param_area) sysfs_create_file(bootargs_append)".
    bootargs_append_from_init_files=True,
    # platforms/pseries/rtas-fadump.c (6.12.117, a stable backport; 7.2 the same) rtas_fadump_call();
    # rtas-fadump.h: RTAS_FADUMP_MAX_WAIT_MS 60000U. 6.10's rtas_fadump_register() has "TODO: Add upper time limit".
    rtas_busy_limit_ms=60_000,
)

LINUX_7_2 = replace(
    LINUX_6_12,
    name="linux-7.2",
    release="7.2.0-fadump-emu",
    page=PAGE_7_2,
    vmcoreinfo_keys=KEYS_7_2,
    # fadump.c (7.2) fadump_cma_init(): base = ALIGN(start, CMA_MIN_ALIGNMENT_BYTES), end = ALIGN_DOWN(...),
    # "Initialized [0x%llx, %luMB] cma area from [0x%lx, %luMB] bytes of memory reserved for firmware-assisted
    # dump"; fadump_reserve_mem() no longer rounds boot_memory_size.
    cma_line="range",
    cma_rounds_boot_memory=False,
    # Measured on the real 7.2.13 (tests/reference/linux-7.2): struct pglist_data grew to SIZE(pglist_data)=4224
    # behind node_id (node_zones, nr_zones, node_start_pfn, node_spanned_pages and node_id keep 6.12's offsets);
    # zone, free_area and struct cpu_spec are 6.12's (cpu_features 16, mmu_features 32).
    pgdat=replace(PGDAT_6_12, pglist_data_size=4224),
    cpu_spec=CPU_SPEC_6_12,
    # scripts/kallsyms.c (7.2) write_src(): kallsyms_offsets entries are ".long _text - . + (offset)", place-relative,
    # and kernel/kallsyms.c kallsyms_sym_address() reads offset_to_ptr(kallsyms_offsets + idx); no
    # kallsyms_relative_base table any more.
    kallsyms=True,
    kallsyms_place_relative=True,
    # scripts/kallsyms.c (7.2) output_label(): "\t.balign 4" (6.x: ALGN, 8 on 64-bit); measured on the real 7.2.13:
    # SYMBOL(kallsyms_names) 4 bytes after SYMBOL(kallsyms_num_syms).
    kallsyms_layout=KALLSYMS_7_2,
    kallsyms_align=4,
    # fadump.c (7.2) fadump_setup_param_area(): returns unless fadump_enabled; hash MMU: [MIN_RMA (768 MiB),
    # min(ppc64_rma_size, boot_mem_top)).
    param_area_rule="7.2",
    # fs/proc/vmcore.c (7.2): #define pr_fmt(fmt) "vmcore: " fmt; vmcore_init(): pr_warn("not initialized\n").
    vmcore_pr_fmt="vmcore: ",
    vmcore_not_initialized="not initialized",
)

VERSIONS = {v.name: v for v in (LINUX_3_4, LINUX_6_1, LINUX_6_10, LINUX_6_12, LINUX_7_2)}


def diff(a: Version, b: Version) -> dict[str, tuple]:
    """The fields two versions disagree on: {field: (a's value, b's value)}."""
    return {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in fields(Version)
            if getattr(a, f.name) != getattr(b, f.name)}


def describe_diff(a: str, b: str) -> str:
    """``python -m kernels.versions linux-6.10 linux-6.12``: what changed between two releases, one field a line."""
    va, vb = VERSIONS[a], VERSIONS[b]
    out = []
    for name, (x, y) in diff(va, vb).items():
        if isinstance(x, PageTable):
            out += [f"page.{f.name}: {getattr(x, f.name)!r} -> {getattr(y, f.name)!r}" for f in fields(PageTable)
                    if getattr(x, f.name) != getattr(y, f.name)]
        elif name == "vmcoreinfo_keys":
            out += [f"VMCOREINFO -{k}" for k in x if k not in y] + [f"VMCOREINFO +{k}" for k in y if k not in x]
        else:
            out.append(f"{name}: {x!r} -> {y!r}")
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3 or not set(sys.argv[1:]) <= set(VERSIONS):
        sys.exit(f"usage: python -m kernels.versions OLD NEW   (releases: {', '.join(VERSIONS)})")
    print(describe_diff(sys.argv[1], sys.argv[2]))
