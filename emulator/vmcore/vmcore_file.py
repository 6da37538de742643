"""A saved vmcore file as dump readers see it: ELF header, program headers, notes, memory.

Identify before parsing (as pyelftools does): the ELF magic, class and data
encoding come first, then the kernel-order layouts of ``kernels.structs``.
Only headers and notes are read at open; memory is read on demand through the
PT_LOADs, so a sparse 64 TiB file costs nothing to open.
"""

import os
import stat
from typing import Self

from construct import ConstructError

from emulator.hw.cpu import KERNELBASE
from emulator.errors import BadInputError
from kernels import elfcore, vmcoreinfo
from kernels.structs import (
    EHDR_SIZE,
    ELFCLASS64,
    ELFDATA2LSB,
    ELFDATA2MSB,
    EM_PPC64,
    ET_CORE,
    PHDR_SIZE,
    PT_LOAD,
    PT_NOTE,
    PT_REGS_FIELDS_3_4,
    PT_REGS_FIELDS_6_10,
    kernel_structs,
)

ELF_MAGIC = b"\x7fELF"
MAX_PHNUM = 1 << 20
"""More program headers than this means a corrupt header, not a big machine."""
MAX_NOTES_BYTES = 64 << 20
"""All PT_NOTE segments together: a crash dump's notes are a few KiB per CPU."""


_COMPILED: dict[bool, object] = {}
COMPILE_FROM = 128
"""Program header tables of at least this many entries are parsed by the compiled Elf64_Phdr: compiling it
costs about 1 ms (as much as parsing ~100 entries the plain way), and most vmcores have a few dozen."""


def _phdr_parser(ks, count: int):
    """How to parse ``count`` program headers: kernels.structs' Elf64_Phdr as it is for a short table (what a
    run's own vmcore has), compiled by construct for a long one (a 65535-entry table parses in under a
    second); both give the same Containers."""
    return _compiled_phdr(ks.little_endian) if count >= COMPILE_FROM else ks.elf64_phdr.parse


def _compiled_phdr(little_endian: bool):
    """kernels.structs' Elf64_Phdr, compiled by construct."""
    if little_endian not in _COMPILED:
        ks = kernel_structs(little_endian, PT_REGS_FIELDS_6_10, 2048)
        _COMPILED[little_endian] = ks.elf64_phdr.compile().parse
    return _COMPILED[little_endian]


def open_regular(path: str) -> int:
    """A read-only descriptor of the regular file ``path``; BadInputError for anything else.

    A FIFO, socket or device is refused by os.stat before any open (opening a
    FIFO for reading waits for a writer), and the open itself is O_NONBLOCK
    and checked again with fstat in case the path changed in between.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot examine ({exc.strerror})") from None
    _must_be_regular(path, st.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot open ({exc.strerror})") from None
    try:
        _must_be_regular(path, os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _must_be_regular(path: str, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "a character device" if stat.S_ISCHR(mode) else
            "a block device" if stat.S_ISBLK(mode) else "not a regular file")
    raise BadInputError(f"{path}: is {kind}, not a vmcore file; give a regular file (copy it to one first)")


class VmcoreFile:
    """An open ppc64 ELF core file; raises BadInputError for anything else."""

    def __init__(self, path: str):
        self.path = str(path)
        self._fd = open_regular(self.path)
        try:
            self.size = os.fstat(self._fd).st_size
            self._identify()
            self._read_headers()
            self._read_notes()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- parsing ---

    def _bad(self, what: str) -> BadInputError:
        return BadInputError(f"{self.path}: {what}")

    def _pread(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.size:
            raise self._bad(f"truncated: {size} bytes at file offset {offset:#x} run past the end "
                            f"({self.size} bytes)")
        data = os.pread(self._fd, size, offset)
        if len(data) != size:
            raise self._bad(f"truncated: {size} bytes at file offset {offset:#x} run past the end "
                            f"({self.size} bytes)")
        return data

    def _identify(self) -> None:
        ident = os.pread(self._fd, 16, 0)
        if len(ident) < 16 or ident[:4] != ELF_MAGIC:
            raise self._bad("not an ELF file (no \\x7fELF magic at offset 0)")
        if ident[4] != ELFCLASS64:
            raise self._bad(f"ELF class {ident[4]} is not ELFCLASS64 (2)")
        if ident[5] not in (ELFDATA2LSB, ELFDATA2MSB):
            raise self._bad(f"ELF data encoding {ident[5]} is neither little (1) nor big endian (2)")
        self.little_endian = ident[5] == ELFDATA2LSB
        self.byteorder = "little" if self.little_endian else "big"
        self.ks = kernel_structs(self.little_endian, PT_REGS_FIELDS_6_10, 2048)

    def _read_headers(self) -> None:
        try:
            self.ehdr = self.ks.elf64_ehdr.parse(self._pread(0, EHDR_SIZE))
        except ConstructError as exc:
            raise self._bad(f"unreadable ELF header ({exc})") from exc
        eh = self.ehdr
        if eh.e_type != ET_CORE:
            raise self._bad(f"ELF type {eh.e_type} is not ET_CORE (4): not a core dump")
        if eh.e_machine != EM_PPC64:
            raise self._bad(f"ELF machine {eh.e_machine} is not EM_PPC64 (21)")
        if eh.e_phentsize != PHDR_SIZE or not 0 < eh.e_phnum <= MAX_PHNUM:
            raise self._bad(f"program header table is not sane (e_phentsize {eh.e_phentsize}, "
                            f"e_phnum {eh.e_phnum})")
        if eh.e_phoff + eh.e_phnum * PHDR_SIZE > self.size:
            raise self._bad(f"the program header table (e_phoff {eh.e_phoff:#x}, {eh.e_phnum} entries) runs past "
                            f"the end of the file ({self.size} bytes)")
        raw = self._pread(eh.e_phoff, eh.e_phnum * PHDR_SIZE)
        parse = _phdr_parser(self.ks, eh.e_phnum)
        self.phdrs = [parse(raw[i * PHDR_SIZE:(i + 1) * PHDR_SIZE]) for i in range(eh.e_phnum)]
        self.loads = sorted((ph for ph in self.phdrs if ph.p_type == PT_LOAD), key=lambda ph: ph.p_paddr)

    def _read_notes(self) -> None:
        """Every note of every PT_NOTE: (name, type, desc, file offset of its header)."""
        self.notes: list[tuple[str, int, bytes, int]] = []
        budget = min(self.size, MAX_NOTES_BYTES)
        for ph in self.phdrs:
            if ph.p_type != PT_NOTE or not ph.p_filesz:
                continue
            budget -= ph.p_filesz
            if ph.p_offset + ph.p_filesz > self.size or budget < 0:
                raise self._bad(f"PT_NOTE at {ph.p_offset:#x} claims {ph.p_filesz} bytes: past the end of the "
                                f"file or more notes than a {self.size}-byte file (at most "
                                f"{min(self.size, MAX_NOTES_BYTES)} bytes of notes) can hold")
            data = self._pread(ph.p_offset, ph.p_filesz)
            self.notes += [(name, n_type, desc, ph.p_offset + off)
                           for name, n_type, desc, off in elfcore.walk_notes(self.ks, data)]

    # --- what the notes say ---

    @property
    def vmcoreinfo(self) -> dict[str, str]:
        """The VMCOREINFO note as KEY=value pairs ({} when the dump has none)."""
        for name, _, desc, _ in self.notes:
            if name == vmcoreinfo.VMCOREINFO_NOTE_NAME:
                return vmcoreinfo.parse(desc.split(b"\0", 1)[0].decode("ascii", "replace"))
        return {}

    @property
    def pt_regs_fields(self) -> tuple[str, ...]:
        """The pt_regs slot names of the crashed kernel's generation (from OSRELEASE)."""
        release = self.vmcoreinfo.get("OSRELEASE", "")
        major = release.split(".", 1)[0]
        if major.isdigit() and int(major) < 4:
            return PT_REGS_FIELDS_3_4
        return PT_REGS_FIELDS_6_10

    # --- memory ---

    def read_paddr(self, paddr: int, size: int) -> bytes:
        """Crash-time bytes of physical [paddr, paddr+size), across PT_LOADs (zeros past p_filesz)."""
        if size > self.size:
            raise self._bad(f"a read of {size} bytes at physical {paddr:#x} asks for more than the whole "
                            f"{self.size}-byte file; a length in the dump is not sane")
        out, pos, end = bytearray(), paddr, paddr + size
        while pos < end:
            ph = next((p for p in self.loads if p.p_paddr <= pos < p.p_paddr + p.p_memsz), None)
            if ph is None:
                raise self._bad(f"physical address {pos:#x} is in no PT_LOAD of this dump")
            take = min(end, ph.p_paddr + ph.p_memsz) - pos
            inner = pos - ph.p_paddr
            in_file = max(0, min(take, ph.p_filesz - inner))
            if in_file:
                out += self._pread(ph.p_offset + inner, in_file)
            out += bytes(take - in_file)
            pos += take
        return bytes(out)

    def holds_vaddr(self, vaddr: int, size: int) -> bool:
        """Whether linear-map [vaddr, vaddr+size) is file data of one PT_LOAD (not past p_filesz or EOF)."""
        paddr = vaddr - KERNELBASE
        return vaddr >= KERNELBASE and any(
            ph.p_paddr <= paddr and paddr + size <= ph.p_paddr + ph.p_filesz
            and ph.p_offset + ph.p_filesz <= self.size for ph in self.loads)

    def read_vaddr(self, vaddr: int, size: int) -> bytes:
        """Bytes at a linear-map address 0xc000...: __pa() then the PT_LOADs."""
        if vaddr < KERNELBASE:
            raise self._bad(f"{vaddr:#x} is not a kernel linear-map address (0xc000...)")
        return self.read_paddr(vaddr - KERNELBASE, size)

    def read_u64(self, vaddr: int) -> int:
        return int.from_bytes(self.read_vaddr(vaddr, 8), self.byteorder)

    def read_u32(self, vaddr: int) -> int:
        return int.from_bytes(self.read_vaddr(vaddr, 4), self.byteorder)
