"""Saving /proc/vmcore to a file, as the capture kernel's userspace does.

Two formats: the full image (``cp /proc/vmcore``), written as a sparse file so
that never-written memory costs no disk, and a filtered ELF dump that leaves
zero pages out of its PT_LOADs (what ``makedumpfile -E -d 1`` produces). The
full image is tried first unless filtered is asked for; a file system that
cannot hold a file that large (ext4 stops at 16 TiB) makes it fall back.
"""

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass

from emulator.errors import FadumpEmuError
from emulator.scenario.faults import DiskFull
from kernels import elfcore
from kernels.structs import PHDR_SIZE, PT_LOAD, PT_NOTE

CHUNK = 64 << 20
FULL, FILTERED, AUTO = "full", "filtered", "auto"


@dataclass
class Saved:
    """What was written: the format, why, the file's size and the bytes of data in it."""

    path: str
    format: str
    reason: str
    size: int
    data_bytes: int


def save(vmcore, path: str, mode: str = AUTO, progress: Callable[[int], None] | None = None,
         capacity: int | None = None) -> Saved:
    """Write ``vmcore`` to ``path`` in the requested format (auto: full, else filtered).

    Like kdump-utils, the data goes to PATH-incomplete first and is renamed when
    complete; ``capacity`` simulates a disk that fills up (DiskFull).
    """
    partial = path + "-incomplete"
    if capacity is not None:
        progress = _Budget(capacity, progress)
    saved = _save(vmcore, partial, mode, progress)
    os.replace(partial, path)
    saved.path = path
    return saved


class _Budget:
    """Counts bytes written and raises DiskFull past the disk's capacity."""

    def __init__(self, capacity: int, then):
        self.left, self.then, self.written = capacity, then, 0

    def __call__(self, n: int) -> None:
        self.written += n
        self.left -= n
        if self.left < 0:
            raise DiskFull(errno.ENOSPC, "No space left on device", self.written)
        if self.then:
            self.then(n)


def _save(vmcore, path: str, mode: str, progress) -> Saved:
    if mode == FILTERED:
        return _filtered(vmcore, path, "filtered format requested", progress)
    try:
        data = _full(vmcore, path, progress)
        return Saved(path, FULL, "full image (sparse: unwritten memory takes no disk space)", vmcore.size, data)
    except DiskFull:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EFBIG, errno.EINVAL) or mode == FULL:
            raise FadumpEmuError(f"cannot write {path}: {exc.strerror}; free some space or choose another --out "
                                 "folder") from exc
        os.unlink(path)
        why = (f"the full image ({vmcore.size} bytes) is larger than this file system allows a file to be "
               f"({exc.strerror}); wrote a filtered ELF dump without zero pages instead")
        return _filtered(vmcore, path, why, progress)


def _full(vmcore, path: str, progress) -> int:
    written = 0
    with open(path, "wb") as f:
        _probe_size(f, vmcore.size)
        for seg in vmcore.segments:
            if seg.buffer is not None:
                f.seek(seg.offset)
                f.write(seg.buffer)
                written += len(seg.buffer)
                continue
            for s, e in vmcore.ram.touched_runs(seg.paddr, seg.paddr + seg.size):
                written += _copy(vmcore.ram, f, s, e, seg.offset + s - seg.paddr, progress)
        f.truncate(vmcore.size)
    return written


def _probe_size(f, size: int) -> None:
    """Size the (sparse) file first: fails at once (EFBIG/EINVAL) where the file system cannot hold it."""
    f.truncate(size)


def _copy(ram, f, start: int, end: int, offset: int, progress) -> int:
    f.seek(offset)
    pos = start
    while pos < end:
        n = min(end - pos, CHUNK)
        if progress:
            progress(n)  # before the write: a full disk refuses it
        for piece in ram.views(pos, n):  # an aliased (copy-on-write) range is written from where it lives
            f.write(piece)
        pos += n
    return end - start


def _filtered(vmcore, path: str, reason: str, progress) -> Saved:
    """One PT_LOAD per page-aligned run of written memory inside each original PT_LOAD."""
    ks, ram, page = vmcore.ks, vmcore.ram, vmcore.page_size
    pieces = []  # (paddr, vaddr, size, source, flags)
    for load in vmcore.loads:
        for s, e in ram.touched_runs(load.source, load.source + load.size):
            lo = load.paddr + (s - load.source)
            hi = load.paddr + (e - load.source)
            lo = max(load.paddr, lo - lo % page)  # whole pages, as makedumpfile excludes pages
            hi = min(load.paddr + load.size, hi + (-hi) % page)
            if pieces and pieces[-1][0] + pieces[-1][2] >= lo:
                p = pieces[-1]
                if p[3] - p[0] == load.source - load.paddr:  # same PT_LOAD: extend the piece
                    pieces[-1] = (p[0], p[1], hi - p[0], p[3], p[4])
                    continue
            pieces.append((lo, load.vaddr + (lo - load.paddr), hi - lo, load.source + (lo - load.paddr), 7))
    notes = vmcore.notes[:vmcore.notes_size]
    phnum = 1 + len(pieces)
    note_off = 64 + phnum * PHDR_SIZE
    off = note_off + len(notes)
    phdrs = [elfcore.phdr(ks, PT_NOTE, p_offset=note_off, p_filesz=len(notes), p_memsz=len(notes), p_align=4)]
    layout = []
    for paddr, vaddr, size, source, flags in pieces:
        phdrs.append(elfcore.phdr(ks, PT_LOAD, p_offset=off, p_paddr=paddr, p_vaddr=vaddr, p_filesz=size,
                                  p_memsz=size, p_flags=flags))
        layout.append((off, source, size))
        off += size
    data = 0
    with open(path, "wb") as f:
        f.write(elfcore.ehdr(ks, phnum, vmcore.e_flags) + b"".join(phdrs) + notes)
        for offset, source, size in layout:
            data += _copy(ram, f, source, source + size, offset, progress)
        f.truncate(off)
    return Saved(path, FILTERED, reason, off, data)
