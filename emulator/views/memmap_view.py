"""The partition's memory map at three moments of the fadump lifecycle, for teaching.

Drawn like the picture in the commit that introduced the 3.4 design: boot
memory, the reserved dump area split into CPU state data, HPTE, the boot-memory
copy, the crash info header (whose elfcorehdr_addr points at the ELF core
header in the 3.4 design), holes, and the PT_LOAD ranges the vmcore exports.
``snapshot`` records what the map holds at one moment (the runner calls it
before the crash, after firmware preservation and in the capture kernel);
``render`` prints it with rich and ``write`` saves pictures (memmap_draw).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from emulator.hw.layout import Range
from emulator.units import fmt_size
from firmware.abi import DT_KERNEL_DUMP, SectionType
from firmware.structs import DumpMemStruct
from kernels.image import IMAGE_SIZE
from kernels.structs import (
    EHDR_SIZE,
    FADUMP_CRASH_INFO_MAGIC,
    FADUMP_CRASH_INFO_MAGIC_OLD,
    PHDR_SIZE,
    PT_LOAD,
)

if TYPE_CHECKING:  # rich is imported only when a map is printed
    from rich.console import Console

BEFORE_CRASH, AFTER_PRESERVATION, CAPTURE = "before the crash", "after firmware preservation", "in the capture kernel"
BOOT_SPAN = {BEFORE_CRASH: "boot memory (firmware will copy it)", AFTER_PRESERVATION: "boot memory (copied by firmware)",
             CAPTURE: "boot memory (reused by the capture kernel)"}
SLUGS = {BEFORE_CRASH: "before-crash", AFTER_PRESERVATION: "after-preservation", CAPTURE: "capture-kernel"}


@dataclass
class Region:
    """A labelled physical range [start, end); ``kind`` picks its colour."""

    start: int
    end: int
    label: str
    kind: str

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass
class MapSnapshot:
    """The memory map at one moment: regions top-down, brackets, PT_LOADs, arrows, remarks."""

    moment: str
    time: float
    boot: int
    profile: str
    end: int
    regions: list[Region] = field(default_factory=list)
    spans: list[Region] = field(default_factory=list)
    loads: list[dict] = field(default_factory=list)
    """{paddr, size, source}: each PT_LOAD's physical range and where its bytes are read from."""
    arrows: list[tuple[int, int, int, int, str]] = field(default_factory=list)
    """(from start, from end, to start, to end, what): a pointer or a copy between two ranges."""
    remarks: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return SLUGS.get(self.moment, self.moment.replace(" ", "-"))


def snapshot(moment: str, machine, kernel) -> MapSnapshot:
    """What the memory map holds at ``moment``, read from the machine and the running kernel."""
    m, k = machine, kernel
    end = m.layout.end_of_dram
    snap = MapSnapshot(moment, m.now(), k.boot, k.profile, end)
    paint = _Painter(end)
    base = "crashed kernel's memory (preserved in place)" if moment == CAPTURE else "memory (kernel, workload)"
    paint.add(0, end, base, "memory")
    for hole in m.layout.holes():
        paint.add(hole.start, hole.end, "hole (no memory)", "hole")
    lmb = m.layout.lmb_size
    for index in sorted(getattr(m, "hot_added", ())):
        paint.add(index * lmb, (index + 1) * lmb, "hot-added LMB", "hotplug")
    fw = getattr(getattr(k, "fadump", None), "fw_dump", None)
    raw = m.fadump.state.dump or m.fadump.state.registered or m.devicetree.get("/rtas", DT_KERNEL_DUMP)
    preserved = moment != BEFORE_CRASH and m.fadump.state.dump is not None
    sections = DumpMemStruct.parse(raw).sections if raw else []
    if moment == CAPTURE and fw is not None and fw.dump_active:
        snap.spans.append(Region(fw.boot_memory_size, end, "reserved by the capture kernel", "span"))
        if getattr(m, "dump_area", None):
            paint.add(*m.dump_area, "dump area (padding)", "reserved")  # the same name as before the crash
    elif fw is not None and fw.reserve_dump_area_size:
        start = fw.reserve_dump_area_start
        snap.spans.append(Region(start, start + fw.reserve_dump_area_size, "reserved dump area", "span"))
        paint.add(start, start + fw.reserve_dump_area_size, "dump area (padding)", "reserved")
        m.dump_area = (start, start + fw.reserve_dump_area_size)
    for s in sections:
        if s.source_data_type == SectionType.REAL_MODE_REGION:
            who = "the capture kernel runs here" if moment == CAPTURE else "kernel and workload"
            paint.add(s.source_address, s.source_address + s.source_len, f"boot memory: {who}", "boot")
            snap.spans.append(Region(s.source_address, s.source_address + s.source_len, BOOT_SPAN[moment], "span"))
    paint.add(0, min(IMAGE_SIZE, end), "kernel image (text, data, log buffer)", "image")
    copies = [(s.destination_address, s.destination_address + s.source_len) for s in sections
              if s.source_data_type < SectionType.PARAM_AREA]
    if copies:
        paint.add(min(c[0] for c in copies), max(c[1] for c in copies), "dump area (padding)", "reserved")
    for s in sections:
        _paint_section(paint, snap, s, preserved)
    if fw is not None and fw.fadumphdr_addr and sections:
        _paint_headers(paint, snap, m, k, fw.fadumphdr_addr)
    if moment == CAPTURE:
        _paint_capture(paint, snap, k, fw)
    snap.regions = paint.regions()
    return snap


def _paint_section(paint, snap: MapSnapshot, s, preserved: bool) -> None:
    kind, dest, length = s.source_data_type, s.destination_address, s.source_len
    state = f"{fmt_size(s.bytes_dumped)} dumped" if preserved else "empty until the crash"
    if kind == SectionType.CPU_STATE_DATA:
        paint.add(dest, dest + length, f"CPU state data ({'REGSAVE' if preserved else state})", "cpu")
    elif kind == SectionType.HPTE_REGION:
        paint.add(dest, dest + length, "HPTE region", "hpte")
    elif kind == SectionType.REAL_MODE_REGION:
        paint.add(dest, dest + length, f"boot-memory copy of {s.source_address:#x} ({state})", "copy")
        if preserved:
            what = "crash-time boot memory is in the copy" if snap.moment == CAPTURE else "firmware copies boot memory"
            snap.arrows.append((s.source_address, s.source_address + length, dest, dest + length, what))
    elif kind >= SectionType.PARAM_AREA:
        paint.add(dest, dest + length, "parameter area (bootargs_append)", "param")


def _read(m, addr: int, size: int) -> bytes | None:
    """RAM bytes, or None where a corrupt pointer leads outside memory."""
    if addr < 0 or not m.layout.is_memory(Range(addr, addr + size)):
        return None
    return m.ram.read(addr, size)


def _paint_headers(paint, snap: MapSnapshot, m, k, fdh: int) -> None:
    """The crash info header; for FADMPINF also the ELF core header it points at and its PT_LOADs."""
    raw = _read(m, fdh, 16)
    magic = int.from_bytes(raw[:8], k.byteorder) if raw else 0
    if magic == FADUMP_CRASH_INFO_MAGIC:
        size = k.ks.crash_info_header_v1.sizeof()
        paint.add(fdh, fdh + size, "crash info header FADMPSIG", "fdh")
        snap.remarks.append("6.10 design: no ELF core header in the dump area; the capture kernel builds it")
        return
    if magic != FADUMP_CRASH_INFO_MAGIC_OLD:
        paint.add(fdh, fdh + 64, "crash info header (no valid magic)", "fdh")
        return
    size = k.ks.crash_info_header_old.sizeof()
    paint.add(fdh, fdh + size, "crash info header FADMPINF", "fdh")
    elf = int.from_bytes(raw[8:16], k.byteorder)
    ehdr = _read(m, elf, EHDR_SIZE)
    if ehdr is None or ehdr[:4] != b"\x7fELF":
        snap.remarks.append(f"elfcorehdr_addr {elf:#x} does not point at an ELF header")
        return
    eh = k.ks.elf64_ehdr.parse(ehdr)
    phnum = min(eh.e_phnum, 4096)
    paint.add(elf, elf + EHDR_SIZE + phnum * PHDR_SIZE, f"ELF core header ({phnum} phdrs)", "elf")
    snap.arrows.append((fdh, fdh + size, elf, elf + EHDR_SIZE + phnum * PHDR_SIZE, "elfcorehdr_addr"))
    table = _read(m, elf + eh.e_phoff, phnum * PHDR_SIZE) or b""
    for i in range(len(table) // PHDR_SIZE):
        ph = k.ks.elf64_phdr.parse(table[i * PHDR_SIZE:(i + 1) * PHDR_SIZE])
        if ph.p_type == PT_LOAD:
            snap.loads.append({"paddr": ph.p_paddr, "size": ph.p_memsz, "source": ph.p_offset})


def _paint_capture(paint, snap: MapSnapshot, k, fw) -> None:
    """What the capture kernel adds: CPU notes, its ELF header (6.10), and the exported PT_LOADs."""
    if fw is not None and fw.cpu_notes_buf:
        paint.add(fw.cpu_notes_buf, fw.cpu_notes_buf + fw.cpu_notes_buf_size, "CPU notes (NT_PRSTATUS)", "notes")
    elf = k.elfcorehdr_addr
    built_here = fw is not None and elf is not None and elf < fw.boot_memory_size
    if built_here:
        paint.add(elf, elf + max(getattr(fw, "elfcorehdr_size", 0), EHDR_SIZE),
                  "ELF core header (capture-built)", "elf")
    if k.vmcore is not None:
        snap.loads = [{"paddr": ld.paddr, "size": ld.size, "source": ld.source, "file_offset": ld.file_offset}
                      for ld in k.vmcore.loads]


class _Painter:
    """Later labels paint over earlier ones; zero-length regions keep their place as markers."""

    def __init__(self, end: int):
        self.end = end
        self.layers: list[Region] = []

    def add(self, start: int, end: int, label: str, kind: str) -> None:
        start, end = max(0, start), min(self.end, end)
        if start <= end and start < self.end:
            self.layers.append(Region(start, end, label, kind))

    def regions(self) -> list[Region]:
        cuts = sorted({0, self.end, *(r.start for r in self.layers), *(r.end for r in self.layers)})
        out: list[Region] = []
        for lo, hi in itertools.pairwise(cuts):
            top = next(r for r in reversed(self.layers) if r.start <= lo and hi <= r.end and r.size)
            if out and out[-1].label == top.label and out[-1].end == lo:
                out[-1] = Region(out[-1].start, hi, top.label, top.kind)
            else:
                out.append(Region(lo, hi, top.label, top.kind))
        for marker in (r for r in self.layers if not r.size):
            at = next((i for i, r in enumerate(out) if r.start >= marker.start), len(out))
            out.insert(at, marker)
        return out


# --- the terminal ---

def render(snap: MapSnapshot, console: Console) -> None:
    """One moment as a table, lowest address first, with brackets, PT_LOADs and arrows beside it."""
    from rich.table import Table
    from rich.text import Text

    t = Table(title=f"Memory map {snap.moment}: boot {snap.boot} ({snap.profile}), t = {snap.time:.6f} s",
              title_justify="left")
    for col in ("start", "end", "size", "region", "vmcore"):
        t.add_column(col, justify="right" if col in ("start", "end", "size") else "left", no_wrap=col != "region")
    for r in snap.regions:
        loads = ", ".join(f"PT_LOAD {i}" for i, ld in enumerate(snap.loads)
                          if ld["paddr"] <= r.start and r.end <= ld["paddr"] + ld["size"] and r.size)
        t.add_row(f"{r.start:#x}", f"{r.end:#x}", fmt_size(r.size), Text(r.label, style=STYLE.get(r.kind, "")),
                  loads)
    console.print(t)
    for span in snap.spans:
        console.print(f"  {span.label}: [{span.start:#x}, {span.end:#x}) {fmt_size(span.size)}", markup=False)
    for i, ld in enumerate(snap.loads):
        where = "" if ld["source"] == ld["paddr"] else f", bytes read from {ld['source']:#x}"
        console.print(f"  PT_LOAD {i}: [{ld['paddr']:#x}, {ld['paddr'] + ld['size']:#x}) "
                      f"{fmt_size(ld['size'])}{where}", markup=False)
    for fs, fe, ts, te, what in snap.arrows:
        console.print(f"  {what}: [{fs:#x}, {fe:#x}) -> [{ts:#x}, {te:#x})", markup=False)
    for remark in snap.remarks:
        console.print(f"  {remark}", markup=False)


STYLE = {"hotplug": "bright_green", "boot": "cyan", "cpu": "yellow", "hpte": "dark_orange", "copy": "blue", "fdh": "red", "elf": "magenta",
         "hole": "dim", "image": "bright_black", "notes": "green", "param": "dark_orange", "reserved": "white"}


def to_json(snaps: list[MapSnapshot]) -> list[dict]:
    return [{**asdict(s), "slug": s.slug} for s in snaps]


def write(snaps: list[MapSnapshot], out_dir: str, console: Console | None = None) -> list[str]:
    """Print every moment and save memmap-N-MOMENT.svg/.png, memmap.svg/.png (all side by side), memmap.json."""
    import json
    from pathlib import Path

    from emulator.views import memmap_draw

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if console is not None:
        for snap in snaps:
            render(snap, console)
        if not snaps:
            console.print("memory map: nothing to draw (the run never crashed)")
    written = memmap_draw.save(snaps, out)
    (out / "memmap.json").write_text(json.dumps(to_json(snaps), indent=1) + "\n")
    written.append(str(out / "memmap.json"))
    if console is not None:
        console.print(f"written   {len(written)} files in {out}: memmap-N-MOMENT.svg/.png, memmap.json", markup=False)
    return written
