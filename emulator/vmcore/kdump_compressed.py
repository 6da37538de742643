"""Reading makedumpfile's kdump-compressed format (-l lzo, -c zlib, or uncompressed pages) for verification.

Layout (makedumpfile diskdump_mod.h, struct disk_dump_header, kdump_sub_header
and page_desc; the same in crash's diskdump.h), in the dumped kernel's byte
order, in blocks of ``block_size`` (the kernel's page size):

- block 0: disk_dump_header, signature "KDUMP   ";
- blocks 1..sub_hdr_size: kdump_sub_header (max_mapnr_64 from header_version 6);
- bitmap_blocks blocks: two bitmaps of max_mapnr bits each, LSB first: the
  first says which pfns are memory, the second which pages were dumped;
- then one 24-byte page_desc per dumped page in pfn order: file offset, size,
  flags (0x1 zlib, 0x2 lzo, 0x4 snappy, 0x20 zstd; none means raw).

A filtered format by nature: only pages set in the second bitmap are checked.
Every count is bounded by the file's size before anything is allocated.
"""

import os
import zlib

from construct import Bytes, Const, Int32sb, Int32sl, Int32ub, Int32ul, Int64ub, Int64ul, Padding, Struct

from emulator.vmcore import lzo1x
from emulator.errors import BadInputError
from emulator.vmcore.vmcore_file import open_regular

KDUMP_SIGNATURE = b"KDUMP   "
DUMP_DH_COMPRESSED_ZLIB, DUMP_DH_COMPRESSED_LZO, DUMP_DH_COMPRESSED_SNAPPY = 0x1, 0x2, 0x4
DUMP_DH_COMPRESSED_ZSTD = 0x20
PAGE_DESC_SIZE = 24


def _structs(little: bool):
    i32, u32, u64 = (Int32sl, Int32ul, Int64ul) if little else (Int32sb, Int32ub, Int64ub)
    header = Struct(
        "signature" / Const(KDUMP_SIGNATURE),
        "header_version" / i32,
        "utsname" / Bytes(6 * 65),
        Padding(6),  # struct timeval is 8-byte aligned on 64-bit
        "tv_sec" / u64, "tv_usec" / u64,
        "status" / u32, "block_size" / i32, "sub_hdr_size" / i32, "bitmap_blocks" / u32, "max_mapnr" / u32,
        "total_ram_blocks" / u32, "device_blocks" / u32, "written_blocks" / u32, "current_cpu" / u32,
        "nr_cpus" / i32,
    )
    sub = Struct(
        "phys_base" / u64, "dump_level" / i32, "split" / i32, "start_pfn" / u64, "end_pfn" / u64,
        "offset_vmcoreinfo" / u64, "size_vmcoreinfo" / u64, "offset_note" / u64, "size_note" / u64,
        "offset_eraseinfo" / u64, "size_eraseinfo" / u64,
        "start_pfn_64" / u64, "end_pfn_64" / u64, "max_mapnr_64" / u64,
    )
    desc = Struct("offset" / u64, "size" / u32, "flags" / u32, "page_flags" / u64)
    return header, sub, desc


class KdumpFileSource:
    """A kdump-compressed vmcore as a dump source for emulator.run.verify."""

    filtered = True

    def __init__(self, path: str):
        self.path = path
        self.problems: list[str] = []
        self._fd = open_regular(path)
        try:
            self.size = os.fstat(self._fd).st_size
            self._parse()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def describe(self) -> str:
        return self.path

    def _bad(self, what: str) -> BadInputError:
        return BadInputError(f"{self.path}: kdump-compressed dump: {what}")

    def _read(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.size:
            raise self._bad(f"{size} bytes at file offset {offset:#x} run past the end of the file "
                            f"({self.size} bytes)")
        return os.pread(self._fd, size, offset)

    def _parse(self) -> None:
        raw = self._read(0, 464)
        little = 0 < int.from_bytes(raw[8:12], "little") < 0x10000
        self.byteorder = "little" if little else "big"
        header_s, sub_s, self._desc = _structs(little)
        h = header_s.parse(raw)
        bs = h.block_size
        if bs <= 0 or bs & (bs - 1) or bs > 1 << 20 or h.sub_hdr_size < 1 or h.bitmap_blocks < 1:
            raise self._bad(f"header is not sane (block_size {bs}, sub_hdr_size {h.sub_hdr_size}, "
                            f"bitmap_blocks {h.bitmap_blocks})")
        sub = sub_s.parse(self._read(bs, sub_s.sizeof()))
        max_mapnr = sub.max_mapnr_64 if h.header_version >= 6 else h.max_mapnr
        bitmap_off = (1 + h.sub_hdr_size) * bs
        bitmap_len = h.bitmap_blocks * bs
        if (max_mapnr + 7) // 8 > bitmap_len // 2:
            raise self._bad(f"max_mapnr {max_mapnr} does not fit the {bitmap_len}-byte bitmaps")
        second = self._read(bitmap_off + bitmap_len // 2, (max_mapnr + 7) // 8)
        self.block_size, self.max_mapnr = bs, max_mapnr
        self._second = second
        self._desc_off = bitmap_off + bitmap_len
        dumped = sum(bin(b).count("1") for b in second)
        if self._desc_off + dumped * PAGE_DESC_SIZE > self.size:
            raise self._bad(f"{dumped} page descriptors at {self._desc_off:#x} run past the end of the file")
        self.dumped_pages = dumped

    def pfns(self):
        """Dumped pfns in order (set bits of the second bitmap)."""
        for i, b in enumerate(self._second):
            while b:
                low = b & -b
                yield i * 8 + low.bit_length() - 1
                b ^= low

    def covered(self) -> list[tuple[int, int]]:
        """Physical ranges of dumped pages, runs merged."""
        out: list[list[int]] = []
        bs = self.block_size
        for pfn in self.pfns():
            if out and out[-1][1] == pfn * bs:
                out[-1][1] += bs
            else:
                out.append([pfn * bs, pfn * bs + bs])
        return [(a, b - a) for a, b in out]

    def chunks(self, snap):
        bs = self.block_size
        for i, pfn in enumerate(self.pfns()):
            d = self._desc.parse(self._read(self._desc_off + i * PAGE_DESC_SIZE, PAGE_DESC_SIZE))
            yield pfn * bs, self.page(pfn, d)

    def page(self, pfn: int, d) -> bytes:
        bs = self.block_size
        if d.size > bs:
            raise self._bad(f"page {pfn:#x}: descriptor claims {d.size} bytes, more than a {bs}-byte page")
        data = self._read(d.offset, d.size)
        try:
            if d.flags & DUMP_DH_COMPRESSED_LZO:
                data = lzo1x.decompress(data, bs)
            elif d.flags & DUMP_DH_COMPRESSED_ZLIB:
                z = zlib.decompressobj()
                data = z.decompress(data, bs)
            elif d.flags & (DUMP_DH_COMPRESSED_SNAPPY | DUMP_DH_COMPRESSED_ZSTD):
                raise self._bad(f"page {pfn:#x} is compressed with snappy or zstd (-p/-z), which fadump-emu "
                                "cannot read; use makedumpfile -l or -c")
        except (ValueError, zlib.error) as exc:
            self.problems.append(f"page {pfn:#x} (physical [{pfn * bs:#x}, {pfn * bs + bs:#x})) does not "
                                 f"decompress: {exc}")
            return bytes(bs)
        if len(data) != bs:
            self.problems.append(f"page {pfn:#x} (physical [{pfn * bs:#x}, {pfn * bs + bs:#x})) is "
                                 f"{len(data)} bytes, not {bs}")
            data = (data + bytes(bs))[:bs]
        return data
