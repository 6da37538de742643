"""VMCOREINFO: the kernel's note describing itself to dump readers.

Models ``crash_save_vmcoreinfo_init``/``crash_save_vmcoreinfo`` and
``update_vmcoreinfo_note`` (kernel/kexec.c in 3.4, kernel/vmcore_info.c now).
The keys and their order are the release's (kernels.versions); a key is written
only when the emulated kernel has the object it names, so a reader never follows
a pointer into nothing. ``unbacked(kernel)`` lists the release's keys left out.
"""


from kernels import cputable, elfcore, mmzone, vmalloc
from kernels.image import va
from kernels.structs import KernelStructs

VMCOREINFO_NOTE_NAME = "VMCOREINFO"
PRINTK_KEYS = "<printk>"
"""Where a release's log_buf(_vmcoreinfo)_setup() lines go in its key list."""


def values(kernel) -> dict[str, str]:
    """Every key this emulated kernel can back, with the value its release prints."""
    v = kernel.version
    page = v.page
    out = {
        "OSRELEASE": kernel.release,
        "BUILD-ID": kernel.image.build_id(),  # the symbol file (emulator.host.symbolfile) is linked with the same ID
        "PAGESIZE": str(kernel.page_size),
        "OFFSET(uts_namespace.name)": str(v.uts_name_offset),
        "SIZE(page)": str(page.size),
        f"OFFSET(page.{page.refcount_name})": str(page.offsets["refcount"]),
        "KERNELOFFSET": "0",
        "NUMBER(RADIX_MMU)": str(int(kernel.machine.config.mmu == "radix")),
        "NUMBER(MAX_PHYSMEM_BITS)": str(kernel.max_physmem_bits),
    }
    if v.vmalloc_start is not None:
        out["NUMBER(VMALLOC_START)"] = f"{v.vmalloc_start:#x}"
    for name in ("flags", "mapping", "lru", "_mapcount", "private"):
        out[f"OFFSET(page.{name})"] = str(page.offsets[name])
    out["OFFSET(page.compound_head)"] = out["OFFSET(page.compound_info)"] = str(page.offsets["lru"])
    for name in ("compound_dtor", "compound_order"):  # struct page's first tail-page fields (up to 6.2)
        if name in page.offsets:
            out[f"OFFSET(page.{name})"] = str(page.offsets[name])
    for name, bit in page.flags.items():
        out[f"NUMBER(PG_{name})"] = str(bit)
    if page.head_mask is not None:
        out["NUMBER(PG_head_mask)"] = str(page.head_mask)
    for name, number in page.page_types.items():
        out[f"NUMBER({name})"] = str(number)
    for name, addr in kernel.symbols.items():
        out[f"SYMBOL({name})"] = f"{va(addr):x}"
    if kernel.memmap is not None and hasattr(kernel.memmap, "vmcoreinfo_values"):
        out.update(kernel.memmap.vmcoreinfo_values())
    out.update(mmzone.vmcoreinfo_values(kernel))
    out.update(cputable.vmcoreinfo_values(kernel))
    out.update(vmalloc.vmcoreinfo_values(kernel))
    return out


def lines(kernel) -> list[str]:
    """The boot-time VMCOREINFO lines, in the release's order, backed keys only."""
    have = values(kernel)
    out = []
    for key in kernel.version.vmcoreinfo_keys:
        if key == PRINTK_KEYS or key == "SYMBOL(log_buf)":
            if kernel.log is not None:
                out += kernel.log.vmcoreinfo()
            continue
        if key in ("SYMBOL(log_end)", "SYMBOL(log_buf_len)", "SYMBOL(logged_chars)"):
            continue  # written with SYMBOL(log_buf) by the 3.4 log
        if key in have:
            out.append(f"{key}={have[key]}")
    return out


def unbacked(kernel) -> list[str]:
    """The release's keys this emulated kernel leaves out (it has no such object)."""
    have = values(kernel)
    log_keys = {PRINTK_KEYS, "SYMBOL(log_buf)", "SYMBOL(log_end)", "SYMBOL(log_buf_len)", "SYMBOL(logged_chars)"}
    return [k for k in kernel.version.vmcoreinfo_keys if k not in have and k not in log_keys]


def base_text(kernel) -> str:
    """The text written at boot (subsys_initcall), before any crash."""
    return "".join(line + "\n" for line in lines(kernel))


def crashtime(kernel, seconds: int) -> str:
    """crash_save_vmcoreinfo()'s line: "CRASHTIME=%ld" in 3.4 (no newline), "CRASHTIME=%lld\\n" later."""
    return f"CRASHTIME={seconds}" + ("\n" if kernel.version.crashtime_newline else "")


def note_size(vmcoreinfo_bytes: int) -> int:
    """VMCOREINFO_NOTE_SIZE: two note headers, the padded name, the data area."""
    return 12 * 2 + 12 + vmcoreinfo_bytes


def write_note(ram, ks: KernelStructs, text: str, capacity: int, addr: int) -> None:
    """update_vmcoreinfo_note(): the note plus final_note at ``addr`` (vmcoreinfo_note)."""
    data = text.encode()[:capacity]
    ram.write(addr, elfcore.note(ks, VMCOREINFO_NOTE_NAME, 0, data) + elfcore.FINAL_NOTE)


def parse(text: str) -> dict[str, str]:
    """KEY=value lines as a dict (the way drgn and makedumpfile read them)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out
