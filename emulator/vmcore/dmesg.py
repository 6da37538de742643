"""`fadump-emu dmesg`: the crashed kernel's log, recovered from a vmcore as vmcore-dmesg does.

VMCOREINFO (a note of the vmcore) names the log's symbols by virtual address;
__pa() makes them physical and the PT_LOADs (p_paddr, p_offset) say where in
the file those bytes are. Linux 3.4 keeps a plain character ring
(SYMBOL(log_buf), log_buf_len, log_end: ``kernels.printk.read_plain``); 5.10
and later keep the lockless printk_ringbuffer behind SYMBOL(prb), read by a
reader in ``kernels.printk`` when there is one.
"""

import re
from pathlib import Path

from emulator.errors import BadInputError, FadumpEmuError
from emulator.vmcore.vmcore_file import VmcoreFile
from kernels import printk

PLAIN_SYMBOLS = ("log_buf", "log_buf_len", "log_end")
MAX_LOG_BUF = 1 << 28
"""A 3.4 ring larger than 256 MiB (log_buf_len= on the command line) is not believed."""
LEVEL = re.compile(r"^<(\d)>")


class UnreadableLog(FadumpEmuError):
    """The dump is fine, but its kernel generation's log format has no reader yet."""


def command(args) -> int:
    """`fadump-emu dmesg VMCORE`: the lines, one per output line (a run folder means its vmcore)."""
    path = Path(args.vmcore)
    for line in recover(str(path / "vmcore" if path.is_dir() else path)):
        print(line)
    return 0


def recover(path: str) -> list[str]:
    """The log lines of the crashed kernel in the vmcore at ``path``, oldest first, without <level>."""
    with VmcoreFile(path) as core:
        info = core.vmcoreinfo
        if not info:
            raise BadInputError(f"{path}: no VMCOREINFO note; cannot find the kernel log without it")
        symbols = symbols_of(info)
        release = info.get("OSRELEASE", "unknown release")
        if all(s in symbols for s in PLAIN_SYMBOLS):
            check_plain_ring(core, symbols)
            text = printk.read_plain(core.read_vaddr, core.read_u64, core.read_u32, symbols)
            if "\0" in text:
                raise BadInputError(f"{path}: the log ring holds NUL bytes (at offset {text.index(chr(0))}); "
                                    "log_buf, log_buf_len or log_end in this dump are not sane")
            wrapped = core.read_u32(symbols["log_end"]) >= core.read_u32(symbols["log_buf_len"])
            return split_plain(text, wrapped)
        if "prb" in symbols:
            reader = prb_reader()
            if reader is None:
                raise UnreadableLog(f"{path}: the crashed kernel ({release}) keeps its log in the lockless "
                                    "printk ring buffer (SYMBOL(prb)); fadump-emu cannot read that format yet")
            try:
                text = reader(core.read_vaddr, core.byteorder, vmcoreinfo=info)
            except (KeyError, ValueError) as exc:
                raise FadumpEmuError(f"{path}: the printk ring buffer is not readable ({exc})") from exc
            return split_plain(text, False)
        if "log_first_idx" in symbols:
            raise UnreadableLog(f"{path}: the crashed kernel ({release}) keeps its log as 3.5-5.9 structured "
                                "records (SYMBOL(log_first_idx)); fadump-emu cannot read that format yet")
        raise BadInputError(f"{path}: VMCOREINFO names no kernel log (no SYMBOL(log_buf) or SYMBOL(prb))")


def check_plain_ring(core: VmcoreFile, symbols: dict[str, int]) -> None:
    """Linux 3.4's ring (kernel/printk.c): log_buf_len is a power of two and the ring is memory in the file.

    Checked before anything is read, so a forged length cannot make us read or allocate gigabytes.
    """
    length = core.read_u32(symbols["log_buf_len"])
    buf = core.read_u64(symbols["log_buf"])
    if length == 0 or length & (length - 1) or length > MAX_LOG_BUF:
        raise BadInputError(f"{core.path}: log_buf_len is {length:#x}; Linux 3.4 keeps a power of two of at most "
                            f"{MAX_LOG_BUF:#x} bytes, so the dump is damaged or forged")
    if not core.holds_vaddr(buf, length):
        raise BadInputError(f"{core.path}: the log ring [{buf:#x}, {buf + length:#x}) is not all in the dump's "
                            "PT_LOAD data; log_buf or log_buf_len is not sane")


def symbols_of(info: dict[str, str]) -> dict[str, int]:
    """SYMBOL(name)=hex pairs of VMCOREINFO as {name: virtual address}."""
    out = {}
    for key, value in info.items():
        if key.startswith("SYMBOL(") and key.endswith(")"):
            try:
                out[key[7:-1]] = int(value, 16)
            except ValueError:
                continue
    return out


def split_plain(text: str, wrapped: bool) -> list[str]:
    """The ring's text as lines; a wrapped ring's first line is cut, so it is left out."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if wrapped and lines:
        lines.pop(0)
    return [LEVEL.sub("", line) for line in lines]


def prb_reader():
    """kernels.printk.read_prb(read_vaddr, byteorder, symbols, vmcoreinfo) -> text, or None while it is missing."""
    fn = getattr(printk, "read_prb", None)
    return fn if callable(fn) else None
