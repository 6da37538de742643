"""Where verification reads a dump from: the saved file on disk, or /proc/vmcore when nothing was saved.

Each source says which physical ranges it claims to hold (``covered``),
whether it is a filtered dump (pages left out by design), what is wrong with
the file as a file (``problems``: cut short, grown, headers changed), and
yields the (paddr, bytes) spans worth comparing with crash-time digests.

A saved ELF file is read back with pread; a sparse full image is walked with
SEEK_DATA/SEEK_HOLE so that a 64 TiB file costs only its data, yet any byte
that is not a hole is read. The header record written at save time (offset
of the first data byte, digest of everything before it, PT_LOAD coverage,
file size) tells a verbatim copy from a dump some tool rewrote.
"""

import errno
import os
import threading

from emulator.run.digests import digest
from emulator.errors import BadInputError
from emulator.hw.layout import Range, merge, subtract
from emulator.run.verify import candidate_spans, read_spans
from emulator.vmcore.vmcore_file import VmcoreFile, open_regular

KDUMP_SIGNATURE = b"KDUMP   "
_READ_BUFFER = threading.local()
"""Each thread's buffer for reading saved files back (Dask runs several verifications at once in threads)."""
FLAT_SIGNATURE = b"makedumpfile"


class ProcVmcoreSource:
    """The capture kernel's /proc/vmcore (used when the run saved no file)."""

    filtered = False
    problems: list[str] = []

    def __init__(self, vmcore, ram):
        self.vmcore, self.ram = vmcore, ram

    def describe(self) -> str:
        return "/proc/vmcore (not saved)"

    def covered(self) -> list[tuple[int, int]]:
        return [(l.paddr, l.size) for l in self.vmcore.loads]

    def chunks(self, snap):
        for load in self.vmcore.loads:
            end = load.paddr + load.size
            now = [(load.paddr + s - load.source, load.paddr + e - load.source)
                   for s, e in self.ram.touched_runs(load.source, load.source + load.size)]
            spans = candidate_spans(snap, load.paddr, end, now)
            yield from read_spans(spans, lambda p, n, l=load: self.vmcore.read(l.file_offset + p - l.paddr, n))


def saved_record(path: str) -> dict:
    """What verification later needs to know about a vmcore file exactly as it was written."""
    with VmcoreFile(path) as core:
        loads = [ph for ph in core.loads if ph.p_filesz]
        header_end = min((ph.p_offset for ph in loads), default=core.size)
        head = os.pread(core._fd, header_end, 0)
        return {"size": core.size, "header_end": header_end, "header_digest": digest(head).hex(),
                "covered": [[ph.p_paddr, ph.p_memsz] for ph in core.loads]}


class ElfFileSource:
    """A saved ELF vmcore, full or filtered, read back from disk."""

    def __init__(self, path: str, saved: dict | None):
        self.path = path
        self.core = VmcoreFile(path)
        self.problems: list[str] = []
        size = self.core.size
        mine = [Range(p, p + m) for p, m in self.covered()]
        theirs = merge([Range(int(p), int(p) + int(m)) for p, m in (saved or {}).get("covered", [])])
        left = list(theirs)
        for r in mine:
            left = subtract(left, r)
        # Filtered: the file holds less than /proc/vmcore did. Same size as saved: a copy of that file (a
        # tool's rewrite never comes out byte-for-byte as long), so its headers and notes must be as saved.
        copy = bool(saved) and "header_end" in saved and size == saved["size"]
        self.filtered = bool(saved) and bool(left)
        self.drops_only_zero = copy and saved.get("format") == "filtered"
        """Our own filtered format (makedumpfile -E -d 1): a page it left out must have been all zero."""
        if copy:
            end = saved["header_end"]
            if digest(os.pread(self.core._fd, end, 0)).hex() != saved["header_digest"]:
                self.problems.append(f"file headers and notes [0x0, {end:#x}) differ from the vmcore as saved")
        data_end = max([self.core.ehdr.e_phoff + self.core.ehdr.e_phnum * 56] +
                       [ph.p_offset + ph.p_filesz for ph in self.core.phdrs])
        for ph in self.core.loads:
            if ph.p_offset + ph.p_filesz > size:
                cut = max(ph.p_offset, size)
                lost = Range(ph.p_paddr + cut - ph.p_offset, ph.p_paddr + ph.p_filesz)
                self.problems.append(f"truncated: the file ends at {size:#x}, so PT_LOAD bytes for physical "
                                     f"[{lost.start:#x}, {lost.end:#x}) (file [{cut:#x}, "
                                     f"{ph.p_offset + ph.p_filesz:#x})) are missing")
        if size > data_end:
            self.problems.append(f"extended: {size - data_end} bytes after the last segment, file "
                                 f"[{data_end:#x}, {size:#x})")

    def describe(self) -> str:
        return self.path

    def close(self) -> None:
        self.core.close()

    def covered(self) -> list[tuple[int, int]]:
        """What the file holds: p_filesz bytes of each PT_LOAD (makedumpfile -E leaves the rest out)."""
        return [(ph.p_paddr, ph.p_filesz) for ph in self.core.loads if ph.p_filesz]

    def chunks(self, snap):
        size = self.core.size
        for ph in self.core.loads:
            in_file = max(0, min(ph.p_filesz, size - ph.p_offset))
            now = [(ph.p_paddr + a - ph.p_offset, ph.p_paddr + b - ph.p_offset)
                   for a, b in self._data_runs(ph.p_offset, ph.p_offset + in_file)]
            spans = candidate_spans(snap, ph.p_paddr, ph.p_paddr + ph.p_filesz, now)
            # Bytes the file lost to truncation are named as such, not judged.
            spans = [s for sp in spans for s in _cut(sp, ph.p_paddr + in_file, ph.p_paddr + ph.p_filesz)]
            yield from read_spans(spans, lambda p, n, ph=ph: self._read(ph, p, n))

    def _read(self, ph, paddr: int, n: int) -> memoryview:
        """The file's bytes for [paddr, paddr+n), read into one buffer this thread reuses for every piece of
        every file it verifies (a fresh buffer per piece costs a page fault per page, a fresh zeroed one per
        file a memset); valid until the next read."""
        buffer = getattr(_READ_BUFFER, "bytes", None)
        if buffer is None or len(buffer) < n:
            buffer = _READ_BUFFER.bytes = bytearray(n)
        view = memoryview(buffer)[:n]
        return view[:os.preadv(self.core._fd, [view], ph.p_offset + paddr - ph.p_paddr)]

    def _data_runs(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """File ranges in [lo, hi) that are not holes (SEEK_DATA), or all of it where holes are unknown."""
        fd, out, pos = self.core._fd, [], lo
        while pos < hi:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    break
                return [(lo, hi)]
            if start >= hi:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            out.append((start, min(end, hi)))
            pos = end
        return out


def _cut(span: tuple[int, int], lo: int, hi: int) -> list[tuple[int, int]]:
    """``span`` without [lo, hi)."""
    a, b = span
    return [(x, y) for x, y in ((a, min(b, lo)), (max(a, hi), b)) if x < y]


def open_source(path: str, saved: dict | None):
    """The dump source for a file: ELF or kdump-compressed; BadInputError for anything else."""
    fd = open_regular(path)
    try:
        magic = os.pread(fd, 16, 0)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)
    if magic.startswith(KDUMP_SIGNATURE):
        from emulator.vmcore.kdump_compressed import KdumpFileSource
        return KdumpFileSource(path)
    if magic.startswith(FLAT_SIGNATURE):
        raise BadInputError(f"{path}: a flattened makedumpfile stream (-F); turn it into a dump file first "
                            "with `makedumpfile -R FILE < STREAM`")
    return ElfFileSource(path, saved)
