"""VMCOREINFO: the kernel's note describing itself to dump readers.

Models ``crash_save_vmcoreinfo_init``/``crash_save_vmcoreinfo`` and
``update_vmcoreinfo_note`` (kernel/kexec.c in 3.4, kernel/vmcore_info.c now).
Only keys the emulated kernel can back with real bytes are written.
"""

from kernels import elfcore
from kernels.image import SYMBOLS, va  # static symbols are the same in every boot
from kernels.structs import KernelStructs

VMCOREINFO_NOTE_NAME = "VMCOREINFO"


def base_text(release: str, page_size: int, more: list[str] = (), build_id: str | None = None) -> str:
    """The text written at boot (subsys_initcall), before any crash; ``more`` from the profile.

    ``build_id`` (hex) is published as BUILD-ID right after OSRELEASE, as VMCOREINFO_BUILD_ID() does since
    v5.9 (crash_save_vmcoreinfo_init(), kernel/vmcore_info.c v6.10); 3.4 has no such line.
    """
    lines = [
        f"OSRELEASE={release}",
        *([f"BUILD-ID={build_id}"] if build_id else []),
        f"PAGESIZE={page_size}",
        f"SYMBOL(init_uts_ns)={va(SYMBOLS['init_uts_ns']):x}",
        f"SYMBOL(swapper_pg_dir)={va(SYMBOLS['swapper_pg_dir']):x}",
        f"SYMBOL(_stext)={va(SYMBOLS['_stext']):x}",
        *more,
    ]
    return "".join(line + "\n" for line in lines)


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
