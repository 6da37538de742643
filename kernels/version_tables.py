"""What each modelled release writes into the notes and tables a dump reader looks up by name: the VMCOREINFO
keys in the order the release writes them, and the order of its kallsyms tables in .rodata, with where each was
read or measured. kernels.versions gives every release its lists (Version.vmcoreinfo_keys, .kallsyms_layout);
the sources are the ones listed there.
"""

# --- VMCOREINFO: the keys each release writes, in the order it writes them ---

KEYS_3_4 = (
    # kernel/kexec.c (3.4) crash_save_vmcoreinfo_init(), then arch_crash_save_vmcoreinfo()
    # (arch/powerpc/kernel/machine_kexec.c) and log_buf_kexec_setup() (kernel/printk.c).
    "OSRELEASE", "PAGESIZE", "SYMBOL(init_uts_ns)", "SYMBOL(node_online_map)", "SYMBOL(swapper_pg_dir)",
    "SYMBOL(_stext)", "SYMBOL(vmlist)",
    "SYMBOL(mem_map)", "SYMBOL(contig_page_data)",  # #ifndef CONFIG_NEED_MULTIPLE_NODES
    "SYMBOL(mem_section)", "LENGTH(mem_section)", "SIZE(mem_section)",  # #ifdef CONFIG_SPARSEMEM
    "OFFSET(mem_section.section_mem_map)",
    "SIZE(page)", "SIZE(pglist_data)", "SIZE(zone)", "SIZE(free_area)", "SIZE(list_head)", "SIZE(nodemask_t)",
    "OFFSET(page.flags)", "OFFSET(page._count)", "OFFSET(page.mapping)", "OFFSET(page.lru)",
    "OFFSET(pglist_data.node_zones)", "OFFSET(pglist_data.nr_zones)", "OFFSET(pglist_data.node_mem_map)",
    "OFFSET(pglist_data.node_start_pfn)", "OFFSET(pglist_data.node_spanned_pages)", "OFFSET(pglist_data.node_id)",
    "OFFSET(zone.free_area)", "OFFSET(zone.vm_stat)", "OFFSET(zone.spanned_pages)", "OFFSET(free_area.free_list)",
    "OFFSET(list_head.next)", "OFFSET(list_head.prev)", "OFFSET(vm_struct.addr)", "LENGTH(zone.free_area)",
    "SYMBOL(log_buf)", "SYMBOL(log_end)", "SYMBOL(log_buf_len)", "SYMBOL(logged_chars)",
    "LENGTH(free_area.free_list)", "NUMBER(NR_FREE_PAGES)",
    "NUMBER(PG_lru)", "NUMBER(PG_private)", "NUMBER(PG_swapcache)",
    "SYMBOL(node_data)", "LENGTH(node_data)",  # arch_crash_save_vmcoreinfo, CONFIG_NEED_MULTIPLE_NODES
)

KEYS_6_1 = (
    # kernel/crash_core.c (6.1) crash_save_vmcoreinfo_init(), log_buf_vmcoreinfo_setup() (kernel/printk/printk.c)
    # and arch_crash_save_vmcoreinfo() (arch/powerpc/kexec/core.c). The real 6.1.192 note has these lines.
    "OSRELEASE", "BUILD-ID", "PAGESIZE", "SYMBOL(init_uts_ns)", "OFFSET(uts_namespace.name)",
    "SYMBOL(node_online_map)", "SYMBOL(swapper_pg_dir)", "SYMBOL(_stext)",
    "SYMBOL(vmap_area_list)",  # what NUMBER(VMALLOC_START) replaced in 6.9
    "SYMBOL(mem_map)", "SYMBOL(contig_page_data)",  # #ifndef CONFIG_NUMA
    "SYMBOL(mem_section)", "LENGTH(mem_section)", "SIZE(mem_section)", "OFFSET(mem_section.section_mem_map)",
    "NUMBER(SECTION_SIZE_BITS)", "NUMBER(MAX_PHYSMEM_BITS)",  # CONFIG_SPARSEMEM (no SYMBOL(vmemmap) yet)
    "SIZE(page)", "SIZE(pglist_data)", "SIZE(zone)", "SIZE(free_area)", "SIZE(list_head)", "SIZE(nodemask_t)",
    "OFFSET(page.flags)", "OFFSET(page._refcount)", "OFFSET(page.mapping)", "OFFSET(page.lru)",
    "OFFSET(page._mapcount)", "OFFSET(page.private)", "OFFSET(page.compound_dtor)", "OFFSET(page.compound_order)",
    "OFFSET(page.compound_head)",
    "OFFSET(pglist_data.node_zones)", "OFFSET(pglist_data.nr_zones)", "OFFSET(pglist_data.node_mem_map)",
    "OFFSET(pglist_data.node_start_pfn)", "OFFSET(pglist_data.node_spanned_pages)", "OFFSET(pglist_data.node_id)",
    "OFFSET(zone.free_area)", "OFFSET(zone.vm_stat)", "OFFSET(zone.spanned_pages)", "OFFSET(free_area.free_list)",
    "OFFSET(list_head.next)", "OFFSET(list_head.prev)", "OFFSET(vmap_area.va_start)", "OFFSET(vmap_area.list)",
    "LENGTH(zone.free_area)",
    "<printk>",
    "LENGTH(free_area.free_list)", "NUMBER(NR_FREE_PAGES)",
    "NUMBER(PG_lru)", "NUMBER(PG_private)", "NUMBER(PG_swapcache)", "NUMBER(PG_swapbacked)", "NUMBER(PG_slab)",
    "NUMBER(PG_hwpoison)",  # CONFIG_MEMORY_FAILURE
    "NUMBER(PG_head_mask)", "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)",
    "NUMBER(HUGETLB_PAGE_DTOR)", "NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)",  # CONFIG_HUGETLB_PAGE
    "SYMBOL(kallsyms_names)", "SYMBOL(kallsyms_num_syms)", "SYMBOL(kallsyms_token_table)",
    "SYMBOL(kallsyms_token_index)", "SYMBOL(kallsyms_offsets)", "SYMBOL(kallsyms_relative_base)",
    "SYMBOL(node_data)", "LENGTH(node_data)",  # CONFIG_NUMA
    "SYMBOL(contig_page_data)",  # arch_crash_save_vmcoreinfo(), #ifndef CONFIG_NUMA: a second time
    "SYMBOL(vmemmap_list)", "SYMBOL(mmu_vmemmap_psize)", "SYMBOL(mmu_psize_defs)", "SIZE(vmemmap_backing)",
    "OFFSET(vmemmap_backing.list)", "OFFSET(vmemmap_backing.phys)", "OFFSET(vmemmap_backing.virt_addr)",
    "SIZE(mmu_psize_def)", "OFFSET(mmu_psize_def.shift)",
    "KERNELOFFSET",  # no cur_cpu_spec, cpu_spec offsets or RADIX_MMU yet (arch/powerpc/kexec/core.c, 6.1)
)

KEYS_6_10 = (
    # kernel/vmcore_info.c (6.10) crash_save_vmcoreinfo_init(), log_buf_vmcoreinfo_setup()
    # (kernel/printk/printk.c) and arch_crash_save_vmcoreinfo() (arch/powerpc/kexec/vmcore_info.c).
    "OSRELEASE", "BUILD-ID", "PAGESIZE", "SYMBOL(init_uts_ns)", "OFFSET(uts_namespace.name)",
    "SYMBOL(node_online_map)", "SYMBOL(swapper_pg_dir)", "SYMBOL(_stext)", "NUMBER(VMALLOC_START)",
    "SYMBOL(mem_map)", "SYMBOL(contig_page_data)",  # #ifndef CONFIG_NUMA
    "SYMBOL(vmemmap)",  # CONFIG_SPARSEMEM_VMEMMAP
    "SYMBOL(mem_section)", "LENGTH(mem_section)", "SIZE(mem_section)", "OFFSET(mem_section.section_mem_map)",
    "NUMBER(SECTION_SIZE_BITS)", "NUMBER(MAX_PHYSMEM_BITS)",  # CONFIG_SPARSEMEM
    "SIZE(page)", "SIZE(pglist_data)", "SIZE(zone)", "SIZE(free_area)", "SIZE(list_head)", "SIZE(nodemask_t)",
    "OFFSET(page.flags)", "OFFSET(page._refcount)", "OFFSET(page.mapping)", "OFFSET(page.lru)",
    "OFFSET(page._mapcount)", "OFFSET(page.private)", "OFFSET(page.compound_head)",
    "OFFSET(pglist_data.node_zones)", "OFFSET(pglist_data.nr_zones)", "OFFSET(pglist_data.node_mem_map)",
    "OFFSET(pglist_data.node_start_pfn)", "OFFSET(pglist_data.node_spanned_pages)", "OFFSET(pglist_data.node_id)",
    "OFFSET(zone.free_area)", "OFFSET(zone.vm_stat)", "OFFSET(zone.spanned_pages)", "OFFSET(free_area.free_list)",
    "OFFSET(list_head.next)", "OFFSET(list_head.prev)", "LENGTH(zone.free_area)",
    "<printk>",  # log_buf_vmcoreinfo_setup(): prb, printk_rb_static, clear_seq and the ring's sizes and offsets
    "LENGTH(free_area.free_list)", "NUMBER(NR_FREE_PAGES)",
    "NUMBER(PG_lru)", "NUMBER(PG_private)", "NUMBER(PG_swapcache)", "NUMBER(PG_swapbacked)",
    "NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)", "NUMBER(PG_hwpoison)", "NUMBER(PG_head_mask)",
    "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", "NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)", "NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)",
    "SYMBOL(kallsyms_names)", "SYMBOL(kallsyms_num_syms)", "SYMBOL(kallsyms_token_table)",
    "SYMBOL(kallsyms_token_index)", "SYMBOL(kallsyms_offsets)", "SYMBOL(kallsyms_relative_base)",
    "SYMBOL(node_data)", "LENGTH(node_data)",  # CONFIG_NUMA
    "SYMBOL(vmemmap_list)", "SYMBOL(mmu_vmemmap_psize)", "SYMBOL(mmu_psize_defs)", "SIZE(vmemmap_backing)",
    "OFFSET(vmemmap_backing.list)", "OFFSET(vmemmap_backing.phys)", "OFFSET(vmemmap_backing.virt_addr)",
    "SIZE(mmu_psize_def)", "OFFSET(mmu_psize_def.shift)",
    "SYMBOL(cur_cpu_spec)", "OFFSET(cpu_spec.cpu_features)", "OFFSET(cpu_spec.mmu_features)",
    "NUMBER(RADIX_MMU)", "KERNELOFFSET",
)

KEYS_6_12 = tuple(key for k in KEYS_6_10
                  for key in ((k, "SYMBOL(contig_page_data)") if k == "LENGTH(node_data)" else (k,)))
"""kernel/vmcore_info.c (6.12): 6.10's keys (the KALLSYMS_BASE_RELATIVE #ifdef is gone, kallsyms_offsets and
kallsyms_relative_base stay unconditionally); only the page_type values change (PAGE_6_12). arch/powerpc/kexec/
vmcore_info.c (6.12) arch_crash_save_vmcoreinfo() writes SYMBOL(contig_page_data) a second time (#ifndef
CONFIG_NUMA, after node_data's #ifdef): the real 6.12.117's note has the line twice."""

KEYS_7_2 = tuple("OFFSET(page.compound_info)" if k == "OFFSET(page.compound_head)" else k
                 for k in KEYS_6_12 if k != "SYMBOL(kallsyms_relative_base)")
"""kernel/vmcore_info.c (7.2): compound_head became compound_info; kallsyms_relative_base is gone.
arch/powerpc/kexec/vmcore_info.c (7.2) still writes SYMBOL(contig_page_data) a second time on a non-NUMA kernel
(measured: the real 7.2.13 note has the line twice, 114 lines for 113 keys)."""

KALLSYMS_6_12 = ("kallsyms_num_syms", "kallsyms_names", "kallsyms_markers", "kallsyms_token_table",
                 "kallsyms_token_index", "kallsyms_offsets", "kallsyms_relative_base", "kallsyms_seqs_of_names")
"""scripts/kallsyms.c (6.12) write_src(): the tables' order in .rodata (measured on the real 6.12.117:
SYMBOL(kallsyms_num_syms) < names < token_table < token_index < offsets < relative_base)."""
KALLSYMS_6_1 = ("kallsyms_offsets", "kallsyms_relative_base", "kallsyms_num_syms", "kallsyms_names",
                "kallsyms_markers", "kallsyms_seqs_of_names", "kallsyms_token_table", "kallsyms_token_index")
"""scripts/kallsyms.c (6.1.192, Debian's linux-source-6.1) write_src(): the addresses first (kallsyms_offsets,
then kallsyms_relative_base), and kallsyms_seqs_of_names before the token tables (measured on the real 6.1.192:
SYMBOL(kallsyms_offsets) < relative_base < num_syms < names < token_table < token_index)."""
KALLSYMS_7_2 = tuple(t for t in KALLSYMS_6_12 if t != "kallsyms_relative_base")
"""scripts/kallsyms.c (7.2) write_src(): 6.12's order without kallsyms_relative_base (offsets are place-relative)."""
