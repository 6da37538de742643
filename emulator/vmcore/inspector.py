"""`fadump-emu inspect`: decode a vmcore, or a run folder, structure by structure.

A vmcore gives its ELF header, program headers and notes (NT_PRSTATUS as pid
and named registers in the kernel's byte order, VMCOREINFO as keys). A run
folder (``fadump-emu run --out DIR``) adds each boot's ``ibm,kernel-dump``:
the big-endian structure firmware leaves in the device tree after a dump.
Values readelf prints in hex are hex strings in the JSON; counts are numbers.
"""

import json
import os
import re
import sys
from pathlib import Path

from construct import ConstructError
from rich.console import Console
from rich.table import Table

from emulator.errors import BadInputError
from emulator.vmcore.vmcore_file import VmcoreFile, open_regular
from firmware import abi
from firmware.structs import DumpMemStruct
from kernels.structs import NT_PRSTATUS, PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE

PARTS = ("header", "phdrs", "notes", "kernel-dump")
"""What --what can select: ELF header, program headers, notes, the firmware structure."""

KERNEL_DUMP_FILE = "proc/device-tree/rtas/" + abi.DT_KERNEL_DUMP
P_TYPES = {PT_LOAD: "LOAD", PT_NOTE: "NOTE"}
NOTE_TYPES = {NT_PRSTATUS: "NT_PRSTATUS"}


def inspect_path(path: str, parts=PARTS) -> dict:
    """Everything decodable under ``path`` (a vmcore file or a run folder), as plain data."""
    p = Path(path)
    if not p.exists():
        raise BadInputError(f"{path}: no such file or folder")
    out = {"path": str(p), "vmcores": [], "kernel_dumps": []}
    if p.is_dir():
        cores = sorted((f for f in p.glob("vmcore*") if f.is_file() and not f.name.endswith("-incomplete")),
                       key=_natural)
        dumps = sorted(p.glob("boot-*/" + KERNEL_DUMP_FILE), key=_natural)
        if not cores and not dumps:
            raise BadInputError(f"{path}: no vmcore file and no boot-N/{KERNEL_DUMP_FILE} in this folder; "
                                "give a vmcore or a folder written by `fadump-emu run --out`")
        if "kernel-dump" in parts:
            out["kernel_dumps"] = [decode_kernel_dump(read_small(str(f)), str(f), _boot_of(f)) for f in dumps]
    else:
        cores = [p]
    if any(part in parts for part in ("header", "phdrs", "notes")):
        out["vmcores"] = [decode_vmcore(str(f), parts) for f in cores]
    return out


MAX_KERNEL_DUMP = 1 << 20
"""ibm,kernel-dump is a header and a few sections: a few hundred bytes."""
MAX_TABLE_ROWS = 256
"""Program headers shown as table rows; the rest are counted (all of them are in --json)."""


def read_small(path: str) -> bytes:
    """A small regular file's bytes (never a FIFO or device, never more than MAX_KERNEL_DUMP)."""
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size > MAX_KERNEL_DUMP:
            raise BadInputError(f"{path}: {size} bytes is far too large for an ibm,kernel-dump property")
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def _natural(f: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(f))]


def _boot_of(f: Path) -> int:
    return int(next(part for part in f.parts if part.startswith("boot-"))[5:])


def command(args) -> int:
    """`fadump-emu inspect PATH [--json] [--what ...]`."""
    data = inspect_path(args.path, tuple(args.what or PARTS))
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        render(data, Console(highlight=False, soft_wrap=not sys.stdout.isatty()))
    return 0


# --- the vmcore ---

def decode_vmcore(path: str, parts=PARTS) -> dict:
    """ELF header, program headers and decoded notes of one vmcore file."""
    with VmcoreFile(path) as core:
        out = {"path": path, "size": core.size}
        if "header" in parts:
            eh = core.ehdr
            out["elf_header"] = {
                "class": "ELF64", "data": f"2's complement, {core.byteorder} endian",
                "type": "CORE" if eh.e_type == 4 else eh.e_type, "machine": "PowerPC64",
                "version": eh.e_version, "entry": f"{eh.e_entry:#x}", "phoff": eh.e_phoff, "shoff": eh.e_shoff,
                "flags": f"{eh.e_flags:#x}", "ehsize": eh.e_ehsize, "phentsize": eh.e_phentsize,
                "phnum": eh.e_phnum, "shentsize": eh.e_shentsize, "shnum": eh.e_shnum,
                "shstrndx": eh.e_shstrndx}
        if "phdrs" in parts:
            out["program_headers"] = [decode_phdr(ph) for ph in core.phdrs]
        if "notes" in parts:
            fields = core.pt_regs_fields
            out["notes"] = [decode_note(name, n_type, desc, off, core.ks, fields)
                            for name, n_type, desc, off in core.notes]
            label_cpus(out["notes"], Path(path))
        return out


def note_cpus(path: Path) -> list[int] | None:
    """The CPU of each NT_PRSTATUS note of a run's vmcore, from the report.json beside it (None if unknown).

    fadump writes the notes in CPU order for the CPUs of the crash-time mask (fadump_regs_to_elf_notes(),
    v6.10), with pid 0; the report lists the CPUs whose registers reached the notes, in that order.
    """
    try:
        report = json.loads((path.parent / "report.json").read_text())
    except (OSError, ValueError):
        return None
    for cap in report.get("captures", []):
        if cap.get("vmcore") and Path(cap["vmcore"]).name == path.name:
            return sorted(int(c) for c in cap.get("registers", {}))
    return None


def label_cpus(notes: list[dict], path: Path) -> None:
    """Give each NT_PRSTATUS note a "cpu" (and where it came from): the run's report, else pid - 1 when set."""
    prstatus = [n for n in notes if "registers" in n]
    cpus = note_cpus(path)
    if cpus is not None and len(cpus) == len(prstatus):
        for note, cpu in zip(prstatus, cpus):
            note["cpu"], note["cpu_from"] = cpu, "report.json (notes are in CPU order)"
        return
    for note in prstatus:
        if note["pid"]:
            note["cpu"], note["cpu_from"] = note["pid"] - 1, "pid - 1"
        else:
            note["cpu"], note["cpu_from"] = None, "unknown: fadump writes pid 0 and this vmcore has no report.json"


def decode_phdr(ph) -> dict:
    flags = "".join(c if ph.p_flags & bit else " " for c, bit in (("R", PF_R), ("W", PF_W), ("E", PF_X)))
    return {"type": P_TYPES.get(ph.p_type, f"{ph.p_type:#x}"), "offset": f"{ph.p_offset:#x}",
            "vaddr": f"{ph.p_vaddr:#x}", "paddr": f"{ph.p_paddr:#x}", "filesz": f"{ph.p_filesz:#x}",
            "memsz": f"{ph.p_memsz:#x}", "flags": flags.strip(), "align": f"{ph.p_align:#x}"}


def decode_note(name: str, n_type: int, desc: bytes, offset: int, ks, fields: tuple[str, ...]) -> dict:
    """One note; NT_PRSTATUS and VMCOREINFO decoded, others as their size only."""
    note = {"owner": name, "type": n_type, "type_name": NOTE_TYPES.get(n_type, "") if name == "CORE" else "",
            "offset": f"{offset:#x}", "size": len(desc)}
    if name == "CORE" and n_type == NT_PRSTATUS:
        note.update(decode_prstatus(desc, ks, fields))
    elif name == "VMCOREINFO":
        text = desc.split(b"\0", 1)[0].decode("ascii", "replace")
        note["vmcoreinfo"] = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return note


def decode_prstatus(desc: bytes, ks, fields: tuple[str, ...]) -> dict:
    """struct elf_prstatus: signal, pid and pr_reg[48] named by the kernel's pt_regs slots."""
    if len(desc) < ks.elf_prstatus.sizeof():
        return {"error": f"prstatus is {len(desc)} bytes, expected {ks.elf_prstatus.sizeof()}"}
    pr = ks.elf_prstatus.parse(desc)
    names = list(fields) + [f"pr_reg[{i}]" for i in range(len(fields), 48)]
    return {"pid": pr.pr_pid, "cursig": pr.pr_cursig,
            "registers": {name: f"{value:#018x}" for name, value in zip(names, pr.pr_reg)}}


# --- the firmware structure ---

def decode_kernel_dump(raw: bytes, path: str = "ibm,kernel-dump", boot: int | None = None) -> dict:
    """ibm,kernel-dump (big-endian, whatever the kernel): header, then every section with its type name."""
    try:
        mem = DumpMemStruct.parse(raw)
    except ConstructError as exc:
        raise BadInputError(f"{path}: not a dump memory structure ({len(raw)} bytes; {exc})") from exc
    h = mem.header
    header = {"dump_format_version": f"{h.dump_format_version:#x}", "dump_num_sections": h.dump_num_sections,
              "dump_status_flag": f"{h.dump_status_flag:#06x}",
              "dump_status": _flag_names(h.dump_status_flag, abi.DumpStatus),
              "offset_first_dump_section": f"{h.offset_first_dump_section:#x}",
              "dd_block_size": h.dd_block_size, "dd_block_offset": f"{h.dd_block_offset:#x}",
              "dd_num_blocks": h.dd_num_blocks, "dd_offset_disk_path": f"{h.dd_offset_disk_path:#x}",
              "max_time_auto": h.max_time_auto}
    sections = [{"request_flag": f"{s.request_flag:#x}", "source_data_type": f"{s.source_data_type:#06x}",
                 "type_name": _type_name(s.source_data_type), "error_flags": f"{s.error_flags:#06x}",
                 "errors": _flag_names(s.error_flags, abi.SectionError),
                 "source_address": f"{s.source_address:#x}", "source_len": f"{s.source_len:#x}",
                 "bytes_dumped": f"{s.bytes_dumped:#x}", "destination_address": f"{s.destination_address:#x}"}
                for s in mem.sections]
    return {"path": path, "boot": boot, "size": len(raw), "header": header, "sections": sections}


def _type_name(kind: int) -> str:
    try:
        return abi.SectionType(kind).name
    except ValueError:
        return "OS-defined" if kind >= 0x0100 else "unknown"


def _flag_names(value: int, flags) -> list[str]:
    return [f.name for f in flags if value & f]


# --- tables ---

def render(data: dict, console: Console) -> None:
    """The decoded structures as rich tables, one per structure."""
    for core in data["vmcores"]:
        console.rule(f"[bold]{core['path']}[/] ({core['size']} bytes)")
        if "elf_header" in core:
            console.print(_pairs("ELF header", core["elf_header"]))
        if "program_headers" in core:
            phdrs = core["program_headers"]
            console.print(_phdr_table(phdrs[:MAX_TABLE_ROWS], wide=console.width >= 120))
            if len(phdrs) > MAX_TABLE_ROWS:
                console.print(f"... and {len(phdrs) - MAX_TABLE_ROWS} more program headers (all are in --json)")
        per_row = 4 if console.width >= 140 else 2 if console.width >= 72 else 1
        notes = core.get("notes", [])
        for note in notes[:MAX_TABLE_ROWS]:
            console.print(_note_table(note, per_row))
        if len(notes) > MAX_TABLE_ROWS:
            console.print(f"... and {len(notes) - MAX_TABLE_ROWS} more notes (all are in --json)")
    for dump in data["kernel_dumps"]:
        console.rule(f"[bold]boot {dump['boot']}: {dump['path']}[/] ({dump['size']} bytes, big-endian)")
        console.print(_pairs("ibm,kernel-dump header", {**dump["header"],
                                                        "dump_status": ", ".join(dump["header"]["dump_status"])}))
        if console.width < 110:  # too narrow for one row per section: one small table each
            for i, sec in enumerate(dump["sections"]):
                console.print(_pairs(f"Section {i}: {sec['type_name']}",
                                     {**sec, "errors": ", ".join(sec["errors"]) or "none"}))
            continue
        t = Table(title="Sections", title_justify="left")
        for col in ("#", "source_data_type", "request", "error_flags", "source", "source_len", "bytes_dumped",
                    "destination"):
            t.add_column(col, justify="left" if col == "source_data_type" else "right", no_wrap=True)
        for i, sec in enumerate(dump["sections"]):
            errors = sec["error_flags"] + (f" ({', '.join(sec['errors'])})" if sec["errors"] else "")
            t.add_row(str(i), f"{sec['source_data_type']} {sec['type_name']}", sec["request_flag"], errors,
                      sec["source_address"], sec["source_len"], sec["bytes_dumped"], sec["destination_address"])
        console.print(t)


def _phdr_table(phdrs: list[dict], wide: bool) -> Table:
    """One row per program header, or two lines per row as readelf -l prints them when the terminal is narrow."""
    t = Table(title="Program headers", title_justify="left")
    cols = (("Type", "Offset", "VirtAddr", "PhysAddr", "FileSiz", "MemSiz", "Flg", "Align") if wide else
            ("Type", "Offset\nFileSiz", "VirtAddr\nMemSiz", "PhysAddr\nFlg Align"))
    for col in cols:
        t.add_column(col, justify="left" if col in ("Type", "Flg") else "right", no_wrap=True)
    for ph in phdrs:
        if wide:
            t.add_row(ph["type"], ph["offset"], ph["vaddr"], ph["paddr"], ph["filesz"], ph["memsz"],
                      ph["flags"], ph["align"])
        else:
            t.add_row(ph["type"], f"{ph['offset']}\n{ph['filesz']}", f"{ph['vaddr']}\n{ph['memsz']}",
                      f"{ph['paddr']}\n{ph['flags'] or '-'} {ph['align']}")
    return t


def _pairs(title: str, values: dict) -> Table:
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value")
    for key, value in values.items():
        t.add_row(key, str(value))
    return t


def _note_table(note: dict, per_row: int = 4) -> Table:
    """A note's header line as the title; registers ``per_row`` to a row, VMCOREINFO one key per row."""
    what = note["type_name"] or f"type {note['type']}"
    title = f"Note {note['owner']} {what} at {note['offset']} ({note['size']} bytes)"
    if "registers" in note:
        cpu = f"CPU {note['cpu']}" if note.get("cpu") is not None else "CPU unknown"
        t = Table(title=f"{title}: {cpu}, pid {note['pid']}", title_justify="left", show_header=False)
        for _ in range(per_row):
            t.add_column("name", style="bold")
            t.add_column("value")
        regs = list(note["registers"].items())
        for i in range(0, len(regs), per_row):
            row = [x for pair in regs[i:i + per_row] for x in pair]
            t.add_row(*row, *[""] * (2 * per_row - len(row)))
        return t
    if "vmcoreinfo" in note:
        return _pairs(title, note["vmcoreinfo"])
    return _pairs(title, {"error": note["error"]} if "error" in note else {})
