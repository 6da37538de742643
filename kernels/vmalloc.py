"""vmap_area_list: where a dump reader of a pre-6.9 kernel finds the start of vmalloc space.

Until 6.9, kernel/crash_core.c crash_save_vmcoreinfo_init() published SYMBOL(vmap_area_list) with
OFFSET(vmap_area.va_start) and OFFSET(vmap_area.list), and no NUMBER(VMALLOC_START): makedumpfile's ppc64 code
follows vmap_area_list.next to the first struct vmap_area and takes its va_start as VMALLOC_START. The emulated
image holds the list head and one busy area at the start of vmalloc space, so that walk lands on real bytes.

struct vmap_area (include/linux/vmalloc.h, 6.1): va_start (0), va_end (8), struct rb_node rb_node (16, three
longs), struct list_head list (40), then a union. Measured on the real 6.1.192: OFFSET(vmap_area.va_start)=0,
OFFSET(vmap_area.list)=40.
"""

from kernels.image import va
from kernels.sparsemem import VMALLOC_START

VA_START = 0
VA_END = 8
LIST = 40
AREA_SIZE = 0x1_0000
"""The first vmalloc allocation the emulated kernel made (one 64 KiB page)."""


def place(kernel) -> None:
    """mm/vmalloc.c: vmap_area_list -> the first vmap_area (lowest address) -> back to the head."""
    if not kernel.version.vmap_area_list:
        return
    sym, order, ram = kernel.symbols, kernel.byteorder, kernel.ram
    head, area = sym["vmap_area_list"], sym["vmap_area_first"]
    ram.write_u64(area + VA_START, VMALLOC_START, order)
    ram.write_u64(area + VA_END, VMALLOC_START + AREA_SIZE, order)
    for at in (area + LIST, area + LIST + 8):  # list.next, list.prev
        ram.write_u64(at, va(head), order)
    for at in (head, head + 8):  # vmap_area_list.next, .prev
        ram.write_u64(at, va(area + LIST), order)


def vmcoreinfo_values(kernel) -> dict[str, str]:
    if not kernel.version.vmap_area_list or "vmap_area_list" not in kernel.symbols:
        return {}
    return {"OFFSET(vmap_area.va_start)": str(VA_START), "OFFSET(vmap_area.list)": str(LIST)}
