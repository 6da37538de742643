"""cur_cpu_spec: the struct cpu_spec the kernel picked for its CPU (arch/powerpc/kernel/cputable.c).

VMCOREINFO publishes SYMBOL(cur_cpu_spec) and OFFSET(cpu_spec.cpu_features/mmu_features)
(arch/powerpc/kexec/vmcore_info.c arch_crash_save_vmcoreinfo(), 6.12): a reader follows the pointer to learn the
CPU's features. identify_cpu() copies the matching table entry into the_cpu_spec and points cur_cpu_spec at it.

The emulated CPU is QEMU's POWER9 in architected mode (the reference runs' "POWER9 (architected) 0x4e1202
0xf000005"; a pseries guest without ibm,powerpc-cpu-features, and the reference .config has PPC_DT_CPU_FTRS
unset), so the entry is cpu_specs_book3s_64.h's "3.00-compliant processor" (pvr 0x0f000005): CPU_FTRS_POWER9 and
MMU_FTRS_POWER9 as the table has them. The bits the kernel changes at run time (CPU_FTR_HVMODE cleared for a
guest, MMU_FTR_TYPE_RADIX/GTSE/1T_SEGMENT from the device tree) are not modelled: the values are the table's, a
choice made without a measurement (the reference vmcore heads hold no kernel memory).
"""

from construct import Bytes, Int32ub, Int32ul, Int64ub, Int64ul, Padding, Struct

from kernels.image import va

CPU_FTR = {
    # arch/powerpc/include/asm/cputable.h (6.12)
    "COHERENT_ICACHE": 0x1, "DBELL": 0x4, "LWSYNC": 0x80, "NOEXECUTE": 0x100, "REAL_LE": 0x1000,
    "HVMODE": 0x2000, "ARCH_206": 0x8000, "ARCH_207S": 0x10000, "ARCH_300": 0x20000, "MMCRA": 0x40000,
    "CTRL": 0x80000, "SMT": 0x100000, "PURR": 0x400000, "SPURR": 0x1000000, "DSCR": 0x2000000,
    "SAO": 0x8000000, "STCX_CHECKS_ADDRESS": 0x80000000, "POPCNTB": 0x1_0000_0000, "POPCNTD": 0x2_0000_0000,
    "VMX_COPY": 0x8_0000_0000, "CFAR": 0x20_0000_0000, "HAS_PPR": 0x40_0000_0000,
    "P9_TLBIE_STQ_BUG": 0x4000_0000_0000, "P9_TIDR": 0x8000_0000_0000, "P9_TLBIE_ERAT_BUG": 0x1_0000_0000_0000,
}
CPU_FTRS_POWER9 = (
    # cputable.h (6.12) #define CPU_FTRS_POWER9; CPU_FTR_PPCAS_ARCH_V2 is CPU_FTR_NOEXECUTE and CPU_FTR_TM_COMP is 0
    # without CONFIG_PPC_TRANSACTIONAL_MEM (unset in the reference .config).
    "LWSYNC", "NOEXECUTE", "CTRL", "ARCH_206", "MMCRA", "SMT", "COHERENT_ICACHE", "PURR", "SPURR", "REAL_LE",
    "DSCR", "SAO", "STCX_CHECKS_ADDRESS", "POPCNTB", "POPCNTD", "CFAR", "HVMODE", "VMX_COPY", "DBELL", "HAS_PPR",
    "ARCH_207S", "ARCH_300", "P9_TLBIE_STQ_BUG", "P9_TLBIE_ERAT_BUG", "P9_TIDR",
)
MMU_FTR = {
    # arch/powerpc/include/asm/mmu.h (6.12)
    "HPTE_TABLE": 0x1, "68_BIT_VA": 0x2000, "KERNEL_RO": 0x4000, "16M_PAGE": 0x0400_0000, "TLBIEL": 0x0800_0000,
    "LOCKLESS_TLBIE": 0x1000_0000,
}
MMU_FTRS_POWER9 = (
    # mmu.h (6.12): MMU_FTRS_POWER9 = MMU_FTRS_POWER6 = MMU_FTRS_POWER5 | KERNEL_RO | 68_BIT_VA; MMU_FTRS_POWER5 =
    # MMU_FTRS_POWER (MMU_FTRS_DEFAULT_HPTE_ARCH_V2: HPTE_TABLE | TLBIEL | 16M_PAGE) | LOCKLESS_TLBIE.
    "HPTE_TABLE", "TLBIEL", "16M_PAGE", "LOCKLESS_TLBIE", "KERNEL_RO", "68_BIT_VA",
)
POWER9_ARCHITECTED = {
    # cpu_specs_book3s_64.h (6.12): the "3.00-compliant processor, i.e. Power9 architected mode" entry.
    "pvr_mask": 0xFFFF_FFFF, "pvr_value": 0x0F00_0005, "cpu_name": "POWER9 (architected)",
    "cpu_features": sum(CPU_FTR[n] for n in CPU_FTRS_POWER9),
    "mmu_features": sum(MMU_FTR[n] for n in MMU_FTRS_POWER9),
    "icache_bsize": 128, "dcache_bsize": 128, "platform": "power9",
}


def cpu_spec_struct(layout, little_endian: bool) -> Struct:
    """struct cpu_spec up to platform (cputable.h, 6.12); function pointers are left NULL (no code to point at)."""
    u32, u64 = (Int32ul, Int64ul) if little_endian else (Int32ub, Int64ub)
    return Struct(
        "pvr_mask" / u32, "pvr_value" / u32, "cpu_name" / u64,
        Padding(layout.cpu_features - 16), "cpu_features" / u64,
        "cpu_user_features" / u32, "cpu_user_features2" / u32,
        Padding(layout.mmu_features - layout.cpu_features - 16), "mmu_features" / u32,
        "icache_bsize" / u32, "dcache_bsize" / u32, Padding(4), "cpu_down_flush" / u64,
        "num_pmcs" / u32, "pmc_type" / u32, "cpu_setup" / u64, "cpu_restore" / u64, "platform" / u64,
        "rest" / Bytes(layout.size - 88),
    )


def place(kernel) -> None:
    """identify_cpu(): the_cpu_spec from the POWER9 entry, cur_cpu_spec pointing at it, the strings it names.

    cpu_user_features(2) (COMMON_USER_POWER9) and the function pointers are left 0: nothing reads them here."""
    layout = kernel.version.cpu_spec
    if layout is None:
        return
    sym, order = kernel.symbols, kernel.byteorder
    name_at = sym["the_cpu_spec"] + 0x100  # the strings in .rodata just behind it (no symbol of their own)
    platform_at = name_at + 32
    kernel.ram.write(name_at, POWER9_ARCHITECTED["cpu_name"].encode() + b"\0")
    kernel.ram.write(platform_at, POWER9_ARCHITECTED["platform"].encode() + b"\0")
    spec = dict(POWER9_ARCHITECTED, cpu_name=va(name_at), platform=va(platform_at), cpu_user_features=0,
                cpu_user_features2=0, cpu_down_flush=0, num_pmcs=0, pmc_type=0, cpu_setup=0, cpu_restore=0,
                rest=bytes(layout.size - 88))
    kernel.ram.write(sym["the_cpu_spec"], cpu_spec_struct(layout, order == "little").build(spec))
    kernel.ram.write_u64(sym["cur_cpu_spec"], va(sym["the_cpu_spec"]), order)


def vmcoreinfo_values(kernel) -> dict[str, str]:
    layout = kernel.version.cpu_spec
    if layout is None or "cur_cpu_spec" not in kernel.symbols:
        return {}
    return {"OFFSET(cpu_spec.cpu_features)": str(layout.cpu_features),
            "OFFSET(cpu_spec.mmu_features)": str(layout.mmu_features)}
