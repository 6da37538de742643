"""/proc/vmcore as ``fs/proc/vmcore.c`` lays it out, streamed from RAM.

``parse_crash_elf_headers`` reads the ELF core header the capture kernel was
given (elfcorehdr_addr), merges every PT_NOTE into one placed first, and
rewrites each PT_LOAD's p_offset from "physical address of the data" to the
file offset. Two generations: the 3.4 layout (contiguous, p_align 0) and the
page-aligned layout of 3.11 and later (mmap support; merged note p_align 0, 4 in later releases).
"""


from bisect import bisect_right
from dataclasses import dataclass

from kernels import elfcore
from kernels.structs import (
    EHDR_SIZE, EM_PPC64, ET_CORE, EV_CURRENT, PHDR_SIZE, PT_LOAD, PT_NOTE, KernelStructs,
)

LAYOUT_3_4 = "3.4"
LAYOUT_PAGED = "paged"


NOT_FOUND = "Warning: Core image elf header not found"
"""parse_crash_elf_headers(): no ELF magic at elfcorehdr_addr (3.4 and 6.10 alike)."""
NOT_SANE = "Warning: Core image elf header is not sane"
"""An ELF class other than 32/64 (both), and a bad Elf64 header from 3.11 on."""
NOT_SANE_3_4 = "Warning: Core image elf header is notsane"
"""parse_crash_elf64_headers() (fs/proc/vmcore.c, v3.4): "is not" "sane\n" concatenated without a space."""
ZERO_NOTES = "Warning: Zero PT_NOTE entries found"
"""update_note_header_size_elf64() (6.10): a warning per empty PT_NOTE; 3.4 has no such message."""
NOT_INITIALIZED = "Kdump: vmcore not initialized"
"""vmcore_init(): printed after every failure of parse_crash_elf_headers() (3.4 and 6.10)."""


class VmcoreError(Exception):
    """The header is unusable; ``message`` is what the kernel prints (then NOT_INITIALIZED)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Segment:
    """A piece of the file: ``size`` bytes at file ``offset`` from a source."""

    offset: int
    size: int
    buffer: bytes | None = None
    paddr: int | None = None


@dataclass(frozen=True)
class LoadInfo:
    """One PT_LOAD as /proc/vmcore exports it."""

    paddr: int
    vaddr: int
    size: int
    file_offset: int
    source: int
    """Physical address the bytes are read from (the old p_offset)."""


class ProcVmcore:
    """The exported file: header and notes buffers, then physical memory."""

    def __init__(self, ram, ks: KernelStructs, elfcorehdr_addr: int, page_size: int, layout: str,
                 note_align: int = 4):
        self.ram = ram
        self.ks = ks
        self.page_size = page_size
        self.layout = layout
        self.note_align = note_align
        """The merged PT_NOTE's p_align in the paged layout: 0 up to 6.1, 4 later (Version.vmcore_note_align)."""
        self._parse(elfcorehdr_addr)

    def _parse(self, addr: int) -> None:
        ks, ram = self.ks, self.ram
        ident = ram.read(addr, 16)
        if ident[:4] != b"\x7fELF":
            raise VmcoreError(NOT_FOUND)
        if ident[4] != 2:  # ELFCLASS64 (a 32-bit header would be parsed as such; none is ever built here)
            raise VmcoreError(NOT_SANE)
        insane = NOT_SANE_3_4 if self.layout == LAYOUT_3_4 else NOT_SANE
        eh = ks.elf64_ehdr.parse(ram.read(addr, EHDR_SIZE))
        if (eh.e_type != ET_CORE or eh.e_machine != EM_PPC64 or eh.e_ident.EI_VERSION != EV_CURRENT
                or eh.e_version != EV_CURRENT or eh.e_ehsize != EHDR_SIZE or eh.e_phentsize != PHDR_SIZE
                or eh.e_phnum == 0):
            raise VmcoreError(insane)
        raw = ram.read(addr + eh.e_phoff, eh.e_phnum * PHDR_SIZE)
        phdrs = [ks.elf64_phdr.parse(raw[i * PHDR_SIZE:(i + 1) * PHDR_SIZE]) for i in range(eh.e_phnum)]
        self.e_flags = eh.e_flags

        notes = b""
        nr_ptnote = 0
        self.warnings: list[str] = []
        """Lines vmcore_init() prints while it still succeeds."""
        for ph in phdrs:
            if ph.p_type != PT_NOTE:
                continue
            nr_ptnote += 1
            data = ram.read(ph.p_offset, ph.p_memsz)
            walked = elfcore.walk_notes(ks, data)
            real = 0
            if walked:
                name, _, desc, off = walked[-1]
                real = off + 12 + elfcore.align4(len(name) + 1) + elfcore.align4(len(desc))
            notes += data[:real]
            if real == 0 and self.layout == LAYOUT_PAGED:
                self.warnings.append(ZERO_NOTES)
        loads = [ph for ph in phdrs if ph.p_type == PT_LOAD]
        self.notes_size = len(notes)
        phnum = len(loads) + 1
        page = self.page_size
        if self.layout == LAYOUT_PAGED:
            note_off = _roundup(EHDR_SIZE + phnum * PHDR_SIZE, page)
            head_size = note_off
            notes_area = _roundup(len(notes), page)
            note_align = self.note_align
        else:
            note_off = EHDR_SIZE + phnum * PHDR_SIZE
            head_size = note_off
            notes_area = len(notes)
            note_align = 0
        off = head_size + notes_area
        out_phdrs = [elfcore.phdr(ks, PT_NOTE, p_offset=note_off, p_filesz=len(notes), p_memsz=len(notes),
                                  p_align=note_align)]
        self.loads: list[LoadInfo] = []
        segments: list[Segment] = []
        for ph in loads:
            if self.layout == LAYOUT_PAGED:
                start = ph.p_offset - ph.p_offset % page
                end = _roundup(ph.p_offset + ph.p_memsz, page)
                new_offset = off + (ph.p_offset - start)
                segments.append(Segment(off, end - start, paddr=start))
                off += end - start
            else:
                new_offset = off
                segments.append(Segment(off, ph.p_memsz, paddr=ph.p_offset))
                off += ph.p_memsz
            out_phdrs.append(elfcore.phdr(ks, PT_LOAD, p_offset=new_offset, p_vaddr=ph.p_vaddr,
                                          p_paddr=ph.p_paddr, p_filesz=ph.p_filesz, p_memsz=ph.p_memsz,
                                          p_flags=ph.p_flags, p_align=ph.p_align))
            self.loads.append(LoadInfo(ph.p_paddr, ph.p_vaddr, ph.p_memsz, new_offset, ph.p_offset))
        header = elfcore.ehdr(ks, phnum, eh.e_flags) + b"".join(out_phdrs)
        self.header = header.ljust(head_size, b"\0")
        self.notes = notes.ljust(notes_area, b"\0")
        self.segments = [Segment(0, len(self.header), buffer=self.header),
                         Segment(len(self.header), len(self.notes), buffer=self.notes)] + segments
        self._starts = [s.offset for s in self.segments]
        self.size = off

    # --- reading ---

    def read(self, offset: int, size: int) -> bytes:
        """read(2) on /proc/vmcore: bytes at [offset, offset+size), short at EOF."""
        end = min(offset + size, self.size)
        out = []
        pos = offset
        while pos < end:
            seg = self.segments[bisect_right(self._starts, pos) - 1]
            take = min(end, seg.offset + seg.size) - pos
            inner = pos - seg.offset
            if seg.buffer is not None:
                out.append(bytes(seg.buffer[inner:inner + take]))
            else:
                out.append(self.ram.read(seg.paddr + inner, take))
            pos += take
        return out[0] if len(out) == 1 else b"".join(out)  # one copy of the bytes, not three

    def read_paddr(self, paddr: int, size: int) -> bytes:
        """The vmcore's bytes for physical range [paddr, paddr+size), via its PT_LOADs."""
        for load in self.loads:
            if load.paddr <= paddr and paddr + size <= load.paddr + load.size:
                return self.read(load.file_offset + paddr - load.paddr, size)
        raise KeyError(f"{paddr:#x}+{size:#x} is not inside one PT_LOAD")


def _roundup(n: int, align: int) -> int:
    return -(-n // align) * align
