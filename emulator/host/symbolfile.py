"""A symbol file (``vmlinux``) for the emulated kernel image: ELF symbols and DWARF types of its data.

The emulated kernel is never compiled, yet gdb, drgn and crash want a vmlinux to name what they read.
This module writes a small C file that declares, with the emulator's own layouts, exactly the objects
the emulated kernel writes into RAM (kernels.image.SYMBOLS: init_uts_ns, linux_banner, the printk
buffers, mem_map or mem_section, vmcoreinfo_note, crashing_cpu, __per_cpu_offset, runqueues, init_task),
compiles it with Debian's cross compiler ``powerpc64le-linux-gnu-gcc -g`` (``powerpc64-linux-gnu-gcc``
for a big-endian kernel) and links it with a linker script that puts every object at its emulated
address (KERNELBASE | physical). The compiler writes the DWARF; ``_Static_assert`` lines make it refuse
a layout that differs from the profile's, and tests/emulator/test_symbolfile.py reads the DWARF back.
"""

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from emulator.errors import BadInputError
from kernels import tasks
from kernels.image import SYMBOLS, KernelImage, va
from kernels.printk import LOG_BUF_LEN
from kernels.printk_ringbuffer import PRB_COUNT_BITS, PRB_DEFAULTS, PRB_SIZE_BITS
from kernels.sparsemem import MEM_SECTION_SIZE, MMU_PSIZE_DEF_SIZE, VMEMMAP_BACKING_SIZE
from kernels.vmcoreinfo import note_size

COMPILERS = {True: "powerpc64le-linux-gnu-gcc", False: "powerpc64-linux-gnu-gcc"}
"""Debian packages gcc-powerpc64le-linux-gnu and gcc-powerpc64-linux-gnu, by little_endian."""
NEW_UTSNAME_LEN = 65


@dataclass(frozen=True)
class ImageDescription:
    """What the symbol file describes: the profile's layouts and this kernel build's identity."""

    profile: str
    little_endian: bool
    release: str
    page_layout: object
    memory_model: str
    log: str
    """"plain" (3.4 character ring) or "prb" (5.10+ lockless ring buffer)."""
    nr_cpus: int
    vmcoreinfo_note: int | None
    """Physical address of the VMCOREINFO note, or None when it is not known."""
    vmcoreinfo_bytes: int = 4096
    uts_name_offset: int = 4
    """offsetof(struct uts_namespace, name): 4 behind a struct kref (3.4), 0 in 6.x (kernels.versions)."""

    @classmethod
    def of_profile(cls, profile: str, little_endian: bool, release: str, vmcoreinfo_note: int | None = None,
                   vmcoreinfo_bytes: int = 4096) -> "ImageDescription":
        from kernels.registry import PROFILES
        from kernels.printk import PrbLogBuffer

        k = PROFILES[profile]
        if vmcoreinfo_note is None and "vmcoreinfo_note" in SYMBOLS and k.profile == "linux-3.4":
            vmcoreinfo_note = SYMBOLS["vmcoreinfo_note"]
        return cls(profile, little_endian, release, k.page_layout, k.memory_model,
                   "prb" if k.log_class is PrbLogBuffer else "plain", k.version.nr_cpus, vmcoreinfo_note,
                   vmcoreinfo_bytes, k.version.uts_name_offset)


# --- C declarations ---

def struct_decl(name: str, members: list[tuple[int, str, int]], size: int) -> str:
    """``struct name`` with each (offset, declaration with %s, size) member at its offset.

    Members that share an offset go into an anonymous union; gaps become ``char __padN[]``; every offset
    and the size are asserted, so the compiler refuses a declaration that does not match.
    """
    groups: list[list[tuple[int, str, int]]] = []
    for m in sorted(members, key=lambda m: m[0]):
        if groups and groups[-1][0][0] == m[0]:
            groups[-1].append(m)
        else:
            groups.append([m])
    lines, at, pad = [f"struct {name} {{"], 0, 0
    for group in groups:
        off = group[0][0]
        if off > at:
            lines.append(f"\tchar __pad{pad}[{off - at}];")
            pad += 1
        if len(group) == 1:
            lines.append(f"\t{group[0][1]};")
        else:
            lines.append("\tunion { " + " ".join(f"{d};" for _, d, _ in group) + " };")
        at = off + max(s for _, _, s in group)
    if size > at:
        lines.append(f"\tchar __pad{pad}[{size - at}];")
    lines.append("};")
    for off, decl, _ in members:
        field = decl.replace("*", " ").split()[-1].split("[")[0]
        lines.append(f"_Static_assert(__builtin_offsetof(struct {name}, {field}) == {off}, \"{name}.{field}\");")
    lines.append(f"_Static_assert(sizeof(struct {name}) == {size}, \"sizeof {name}\");")
    return "\n".join(lines) + "\n"


def page_members(layout) -> list[tuple[int, str, int]]:
    """struct page as kernels.memmap.PageLayout places its members."""
    out = [(layout.flags, "unsigned long flags", 8), (layout.lru, "struct list_head lru", 16),
           (layout.mapping, "struct address_space *mapping", 8), (layout.index, "unsigned long index", 8),
           (layout.private, "unsigned long private", 8), (layout.mapcount, "atomic_t _mapcount", 4),
           (layout.refcount, f"atomic_t {layout.refcount_name}", 4)]
    if getattr(layout, "compound_head", None) is not None:  # PageLayout has no such field: it shares lru's word
        out.append((layout.compound_head, "unsigned long compound_head", 8))
    return out


def _members(ms) -> list[tuple[int, str, int]]:
    return [(m.offset, m.ctype % m.name, m.size) for m in ms]


PRB_STRUCTS = """\
enum desc_state { desc_miss = -1, desc_reserved = 0, desc_committed = 1, desc_finalized = 2, desc_reusable = 3 };
enum printk_info_flags { LOG_NEWLINE = 2, LOG_CONT = 8 };
struct prb_data_blk_lpos { unsigned long begin; unsigned long next; };
struct prb_desc { atomic_long_t state_var; struct prb_data_blk_lpos text_blk_lpos; };
struct dev_printk_info { char subsystem[16]; char device[48]; };
struct printk_info {
	u64 seq; u64 ts_nsec; u16 text_len; u8 facility; u8 flags:5; u8 level:3; u32 caller_id;
	struct dev_printk_info dev_info;
};
struct prb_desc_ring {
	unsigned int count_bits; struct prb_desc *descs; struct printk_info *infos;
	atomic_long_t head_id; atomic_long_t tail_id; atomic_long_t last_finalized_seq;
};
struct prb_data_ring { unsigned int size_bits; char *data; atomic_long_t head_lpos; atomic_long_t tail_lpos; };
struct printk_ringbuffer { struct prb_desc_ring desc_ring; struct prb_data_ring text_data_ring; atomic_long_t fail; };
struct latched_seq { struct { unsigned int sequence; } latch; u64 val[2]; };
"""
"""kernel/printk/printk_ringbuffer.h (v6.10); the asserts below check it against PRB_VMCOREINFO."""


def prb_asserts() -> str:
    out = []
    for key, value in PRB_DEFAULTS.items():
        kind, _, rest = key.partition("(")
        rest = rest.rstrip(")")
        if kind == "SIZE":
            out.append(f"_Static_assert(sizeof({'' if rest == 'atomic_long_t' else 'struct '}{rest}) == {value}, \"{key}\");")
        elif kind == "OFFSET":
            struct, _, member = rest.partition(".")
            t = struct if struct == "atomic_long_t" else f"struct {struct}"
            out.append(f"_Static_assert(__builtin_offsetof({t}, {member}) == {value}, \"{key}\");")
    return "\n".join(out) + "\n"


def c_source(d: ImageDescription) -> tuple[str, dict[str, int]]:
    """The C file and the objects it defines (name -> physical address)."""
    banner = KernelImage(d.release, "ppc64le" if d.little_endian else "ppc64").banner() + "\n"
    objects: list[tuple[str, str]] = []  # (symbol, definition)

    def obj(name: str, decl: str, init: str = "") -> None:
        objects.append((name, f"{decl % name} __attribute__((section(\".fe.{name}\"), used)){init};"))

    src = [f"/* Generated by fadump-emu: the data of the emulated {d.profile} kernel image "
           f"({'little' if d.little_endian else 'big'}-endian). */",
           "typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32;",
           "typedef unsigned long long u64;",
           "typedef struct { int counter; } atomic_t;", "typedef struct { long counter; } atomic_long_t;",
           "struct list_head { struct list_head *next, *prev; };", "struct address_space;",
           "struct kref { atomic_t refcount; };",
           "struct new_utsname { " + " ".join(f"char {f}[{NEW_UTSNAME_LEN}];" for f in
                                              ("sysname", "nodename", "release", "version", "machine",
                                               "domainname")) + " };",
           "struct uts_namespace { struct kref kref; struct new_utsname name; };" if d.uts_name_offset else
           "struct uts_namespace { struct new_utsname name; };",
           "_Static_assert(__builtin_offsetof(struct uts_namespace, name) == "
           f"{d.uts_name_offset}, \"uts_namespace.name\");",
           struct_decl("task_struct", _members(tasks.TASK_STRUCT), tasks.TASK_STRUCT_SIZE),
           struct_decl("rq", _members(tasks.RQ), tasks.RQ_SIZE)]
    obj("init_uts_ns", "struct uts_namespace %s")
    escaped = banner.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    obj("linux_banner", "const char %s[]", f' = "{escaped}"')
    obj("_stext", "char %s[0x100000]")
    obj("swapper_pg_dir", "unsigned long %s[8192]")
    obj("crashing_cpu", "int %s")
    obj("__per_cpu_offset", f"unsigned long %s[{tasks.MAX_CPUS}]")
    obj("init_task", "struct task_struct %s")
    obj("runqueues", "struct rq %s")
    obj("rtas_os_term_buf", "char %s[2048]")
    if d.vmcoreinfo_note is not None:
        objects.append(("vmcoreinfo_note", f"u32 vmcoreinfo_note[{(note_size(d.vmcoreinfo_bytes) + 3) // 4}] "
                                           "__attribute__((section(\".fe.vmcoreinfo_note\"), used));"))
    if d.page_layout is not None:
        src.append(struct_decl("page", page_members(d.page_layout), d.page_layout.size))
        obj("mem_map", "struct page *%s")
    if d.memory_model == "sparsemem-vmemmap":
        src.append(struct_decl("mem_section", [(0, "unsigned long section_mem_map", 8),
                                               (8, "void *usage", 8)], MEM_SECTION_SIZE))
        src.append(struct_decl("vmemmap_backing", [(0, "struct vmemmap_backing *list", 8),
                                                   (8, "unsigned long phys", 8),
                                                   (16, "unsigned long virt_addr", 8)], VMEMMAP_BACKING_SIZE))
        src.append(struct_decl("mmu_psize_def", [(0, "unsigned int shift", 4), (4, "int penc[16]", 64),
                                                 (68, "unsigned int tlbiel", 4), (72, "unsigned long avpnm", 8),
                                                 (80, "unsigned long h_rpt_pgsize", 8),
                                                 (88, "unsigned long sllp", 8)], MMU_PSIZE_DEF_SIZE))
        obj("mem_section", "struct mem_section **%s")
        obj("vmemmap", "struct page *%s")
        obj("vmemmap_list", "struct vmemmap_backing *%s")
        obj("mmu_vmemmap_psize", "int %s")
        obj("mmu_psize_defs", "struct mmu_psize_def %s[16]")
    obj("log_buf", "char *%s")
    obj("log_buf_len", "u32 %s")
    obj("__log_buf", f"char %s[{LOG_BUF_LEN}]")
    if d.log == "plain":
        obj("log_end", "unsigned int %s")
        obj("logged_chars", "unsigned int %s")
    else:
        src.append(PRB_STRUCTS + prb_asserts())
        obj("prb", "struct printk_ringbuffer *%s")
        obj("printk_rb_static", "struct printk_ringbuffer %s")
        obj("clear_seq", "struct latched_seq %s")
        obj("_printk_rb_static_descs", f"struct prb_desc %s[{1 << PRB_COUNT_BITS}]")
        obj("_printk_rb_static_infos", f"struct printk_info %s[{1 << PRB_COUNT_BITS}]")
        assert LOG_BUF_LEN == 1 << PRB_SIZE_BITS
    src += [definition for _, definition in objects]
    addresses = {name: (d.vmcoreinfo_note if name == "vmcoreinfo_note" else SYMBOLS[name]) for name, _ in objects}
    return "\n".join(src) + "\n", addresses


def linker_script(addresses: dict[str, int]) -> str:
    """Each object's section at its emulated (linear-map) address; only the banner has file contents."""
    lines = ["ENTRY(_stext)", "SECTIONS", "{"]
    for name, paddr in sorted(addresses.items(), key=lambda kv: kv[1]):
        kind = "" if name == "linux_banner" else " (NOLOAD)"
        lines.append(f"\t.fe.{name} {va(paddr):#x}{kind} : {{ KEEP(*(.fe.{name})) }}")
    lines += ["\t/DISCARD/ : { *(.comment) *(.note.GNU-stack) }", "}"]
    return "\n".join(lines) + "\n"


def compiler(little_endian: bool) -> str:
    """The cross compiler's path, or a bad-input error saying which Debian package brings it."""
    name = COMPILERS[little_endian]
    path = shutil.which(name)
    if path is None:
        pkg = "gcc-powerpc64le-linux-gnu" if little_endian else "gcc-powerpc64-linux-gnu"
        raise BadInputError(f"{name} not found: the symbol file is compiled with Debian's cross compiler; "
                            f"install it with `apt-get install {pkg}`")
    return path


def build(d: ImageDescription, out: str | os.PathLike) -> Path:
    """Compile and link the symbol file into ``out``; returns its path."""
    out = Path(out)
    cc = compiler(d.little_endian)
    source, addresses = c_source(d)
    with tempfile.TemporaryDirectory(prefix="fadump-emu-vmlinux.") as tmp:
        c, lds = Path(tmp) / "fadump_emu_image.c", Path(tmp) / "vmlinux.lds"
        c.write_text(source)
        lds.write_text(linker_script(addresses))
        args = [cc, "-g", "-O0", "-fno-eliminate-unused-debug-types", "-fno-common", "-fno-pic",
                "-ffreestanding", "-nostdlib", "-static", f"-Wl,--build-id=0x{KernelImage(d.release, 'ppc64le' if d.little_endian else 'ppc64').build_id()}", "-Wl,-T," + str(lds),
                "-Wl,--no-warn-rwx-segments", "-o", str(Path(tmp) / "vmlinux"), str(c)]
        args.insert(1, "-mlittle-endian" if d.little_endian else "-mbig-endian")
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{cc} failed building the symbol file:\n{done.stderr}")
        out.parent.mkdir(parents=True, exist_ok=True)
        built = Path(tmp) / "vmlinux"
        if Path(tmp).stat().st_dev != out.parent.stat().st_dev:  # copied to a new file beside ``out`` first
            fd, beside = tempfile.mkstemp(prefix=".vmlinux.", dir=out.parent)
            built, src = Path(beside), built
            try:
                with os.fdopen(fd, "wb") as dst, open(src, "rb") as f:
                    shutil.copyfileobj(f, dst)
            except BaseException:
                built.unlink()
                raise
        os.replace(built, out)  # a rename: a symlink at ``out`` is replaced, never written through
    return out
