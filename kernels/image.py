"""What a kernel image puts in RAM when it boots: text, banner, utsname, its symbols.

The emulated kernel is not executed, but its data is real: symbols that
VMCOREINFO publishes point at bytes that are really there.
"""

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from blake3 import blake3

from emulator.hw.cpu import KERNELBASE

IMAGE_SIZE = 0x0200_0000
"""The kernel image and its static data occupy the first 32 MiB of RAM."""

SYMBOLS = {
    "_stext": 0x0000_0000,
    "linux_banner": 0x00A0_0000,
    "init_uts_ns": 0x0140_0000,
    "swapper_pg_dir": 0x0150_0000,
    "vmcoreinfo_note": 0x0160_0000,
    "fdm": 0x0170_0000,
    "rtas_os_term_buf": 0x0171_0000,
    "mem_map": 0x0172_0000,
    "mem_section": 0x0172_0008,
    "vmemmap": 0x0172_0010,
    "vmemmap_list": 0x0172_0018,
    "mmu_vmemmap_psize": 0x0172_0020,
    "mmu_psize_defs": 0x0172_0100,
    "log_buf": 0x0173_0000,
    "log_buf_len": 0x0173_0008,
    "log_end": 0x0173_0010,
    "logged_chars": 0x0173_0018,
    "prb": 0x0174_0000,
    "__log_buf": 0x0180_0000,
    "printk_rb_static": 0x0190_0000,
    "clear_seq": 0x0190_0100,
    "_printk_rb_static_descs": 0x0191_0000,
    "_printk_rb_static_infos": 0x0194_0000,
    "crashing_cpu": 0x01A0_0000,
    "__per_cpu_offset": 0x01A0_1000,
    "init_task": 0x01A1_0000,
    "runqueues": 0x01A2_0000,
}
"""Physical addresses of the kernel's static objects (all inside the image)."""

KALLSYMS_START = 0x0120_0000
KALLSYMS_ROOM = {"kallsyms_num_syms": 4, "kallsyms_names": 0xFFF8, "kallsyms_markers": 0x1000,
                 "kallsyms_token_table": 0x1000, "kallsyms_token_index": 0x1000, "kallsyms_offsets": 0x9000,
                 "kallsyms_relative_base": 8, "kallsyms_seqs_of_names": 0x3FF8}
"""Room for each kallsyms table: laid out from KALLSYMS_START in the release's order (Version.kallsyms_layout),
each table aligned as its output_label() aligns it (Version.kallsyms_align), so the SYMBOL()s keep the real
kernel's order and the gap between num_syms and names (8 bytes in 6.x, 4 in 7.2)."""

RELEASE_SYMBOLS = {
    # kernels.mmzone: !CONFIG_NUMA's one node (mm/memblock.c contig_page_data) and node_states[] (mm/page_alloc.c)
    "contig_page_data": 0x0175_0000,
    "node_states": 0x0175_1000,
    # kernels.cputable: arch/powerpc/kernel/cputable.c
    "cur_cpu_spec": 0x0175_1100,
    "the_cpu_spec": 0x0175_1200,
    # kernels.vmalloc: mm/vmalloc.c's list of busy areas (pre-6.9 VMCOREINFO) and the first area on it
    "vmap_area_list": 0x0175_1800,
    "vmap_area_first": 0x0175_1840,
}
"""Static objects only some releases' images hold (kernels.versions: pgdat, cpu_spec, kallsyms say which)."""
KALLSYMS_END = 0x0122_0000
"""Where the room for kallsyms_seqs_of_names (the last table) ends."""


def release_symbols(version) -> dict[str, int]:
    """The RELEASE_SYMBOLS of the objects ``version`` (kernels.versions.Version) has in its image."""
    groups = {"contig_page_data": version.pgdat is not None,
              "node_states": version.pgdat is not None, "cur_cpu_spec": version.cpu_spec is not None,
              "the_cpu_spec": version.cpu_spec is not None, "vmap_area_": version.vmap_area_list}
    found = {name: addr for name, addr in RELEASE_SYMBOLS.items()
             if any(name.startswith(prefix) and on for prefix, on in groups.items())}
    return kallsyms_symbols(version.kallsyms_layout, version.kallsyms_align) | found if version.kallsyms else found


@lru_cache(maxsize=8)
def kallsyms_symbols(layout: tuple[str, ...], align: int) -> dict[str, int]:
    """Where each kallsyms table of ``layout`` starts (KALLSYMS_ROOM), in that order from KALLSYMS_START."""
    out, at = {}, KALLSYMS_START
    for table in layout:
        at += -at % align
        out[table] = at
        at += KALLSYMS_ROOM[table]
    if at > KALLSYMS_END:
        raise ValueError(f"kallsyms tables end at {at:#x}, past KALLSYMS_END {KALLSYMS_END:#x}")
    return out

TEXT_SIZE = 0x0010_0000
NEW_UTSNAME_FIELD = 65
HEAP_START = IMAGE_SIZE
"""Pages the kernel allocates at run time come from just above its image."""


def va(paddr: int) -> int:
    """__va(): the linear-map address of a physical address."""
    return paddr | KERNELBASE


def pa(vaddr: int) -> int:
    """__pa()."""
    return vaddr & ~KERNELBASE


@lru_cache(maxsize=8)
def _text(seed: bytes) -> np.ndarray:
    """The kernel text of one build: pseudo-random bytes from its seed (BLAKE3's extendable output), made once
    per process (about 0.3 ms; numpy.random cost a run 7 ms, most of it importing numpy.random)."""
    return np.frombuffer(blake3(seed).digest(TEXT_SIZE), dtype=np.uint8)  # over bytes: read-only


@dataclass
class KernelImage:
    """One build of the kernel: its release and the bytes it loads."""

    release: str
    machine: str
    version: str = "#1 SMP"
    uts_name_offset: int = 4
    """Where struct uts_namespace keeps name: 4 behind a struct kref (3.4), 0 once the kref went (6.x)."""

    def build_id(self) -> str:
        """The image's GNU build ID (20 bytes, hex): a digest of what identifies this build.

        The emulated image is never linked, so this stands for the ID the linker would have written; the
        symbol file (emulator.host.symbolfile) is linked with the same ID so debuggers can match the two.
        """
        return hashlib.sha1(f"fadump-emu/{self.release}/{self.machine}/{self.version}".encode()).hexdigest()

    def banner(self) -> str:
        return f"Linux version {self.release} (fadump-emu) {self.version}"

    def utsname(self) -> bytes:
        """struct new_utsname: six 65-byte NUL-padded fields."""
        fields = ("Linux", "(none)", self.release, self.version, self.machine, "(none)")
        return b"".join(f.encode()[:NEW_UTSNAME_FIELD - 1].ljust(NEW_UTSNAME_FIELD, b"\0") for f in fields)

    def load(self, ram, boot: int) -> None:
        """Place text, banner and init_uts_ns; zero the static data the boot reuses.

        ``boot`` seeds the data a boot leaves behind, so two boots' memory differ.
        """
        seed = hashlib.sha256(f"{self.release}/{self.machine}".encode()).digest()
        ram.write(SYMBOLS["_stext"], _text(seed))
        ram.write(SYMBOLS["linux_banner"], self.banner().encode() + b"\n\0")
        kref = (1).to_bytes(4, "little" if "le" in self.machine else "big")[:self.uts_name_offset]
        ram.write(SYMBOLS["init_uts_ns"], kref + self.utsname())
        for name in ("vmcoreinfo_note", "fdm", "rtas_os_term_buf"):
            ram.fill(SYMBOLS[name], 0x1_0000, 0)
        ram.write(SYMBOLS["swapper_pg_dir"], (boot.to_bytes(8, "big") + seed) * 64)
