"""The kernel log in the kernel's own memory, where dump readers find it.

Linux 3.4 keeps a plain character ring (kernel/printk.c: ``__log_buf``,
``log_buf``, ``log_buf_len``, ``log_end``, ``logged_chars``): each line is
stored as "<level>[seconds] text\\n". Later generations use other layouts
(3.5-5.9 records, 5.10+ the lockless printk_ringbuffer behind ``prb``: see
kernels.printk_ringbuffer and kernels.printk_reader, whose names are re-exported here so that every log
format is imported from one place).
"""

from kernels.image import va
from kernels.printk_reader import PrbRecord, prb_layout, prb_records, read_prb  # noqa: F401
from kernels.printk_ringbuffer import (  # noqa: F401
    DESC_FINALIZED, DESC_FLAGS_SHIFT, DESC_ID_MASK, DESC_REUSABLE, PRB_COUNT_BITS, PRB_SIZE_BITS, PrbLogBuffer,
)

LOG_BUF_LEN = 1 << 18
"""CONFIG_LOG_BUF_SHIFT=18: a 256 KiB ring."""


class PlainLogBuffer:
    """kernel/printk.c (v3.4): the character ring and its indices, in RAM."""

    def __init__(self, kernel):
        self.k = kernel
        self.end = 0
        s = kernel.symbols
        self.buf = s["__log_buf"]
        kernel.ram.fill(self.buf, LOG_BUF_LEN, 0)
        kernel.ram.write_u64(s["log_buf"], va(self.buf), kernel.byteorder)
        kernel.ram.write_u32(s["log_buf_len"], LOG_BUF_LEN, kernel.byteorder)
        self._store_indices()

    def emit(self, text: str, stamp: float, level: int = 6) -> None:
        """Append one line as emit_log_char() does, byte by byte into the ring."""
        line = f"<{level}>[{stamp:12.6f}] {text}\n".encode("utf-8", "replace")
        ram, at = self.k.ram, self.end & (LOG_BUF_LEN - 1)
        first = min(len(line), LOG_BUF_LEN - at)
        ram.write(self.buf + at, line[:first])
        if first < len(line):
            ram.write(self.buf, line[first:])
        self.end = (self.end + len(line)) & 0xFFFFFFFF
        self._store_indices()

    def _store_indices(self) -> None:
        s, k = self.k.symbols, self.k
        k.ram.write_u32(s["log_end"], self.end, k.byteorder)
        k.ram.write_u32(s["logged_chars"], min(self.end, LOG_BUF_LEN), k.byteorder)

    def vmcoreinfo(self) -> list[str]:
        s = self.k.symbols
        return [f"SYMBOL(log_buf)={va(s['log_buf']):x}", f"SYMBOL(log_end)={va(s['log_end']):x}",
                f"SYMBOL(log_buf_len)={va(s['log_buf_len']):x}", f"SYMBOL(logged_chars)={va(s['logged_chars']):x}"]


def read_plain(read_vaddr, read_u64, read_u32, symbols: dict[str, int]) -> str:
    """Recover the log text from a dump, as makedumpfile's dump_dmesg does for pre-3.5 kernels."""
    buf = read_u64(symbols["log_buf"])
    length = read_u32(symbols["log_buf_len"])
    end = read_u32(symbols["log_end"])
    if end < length:
        data = read_vaddr(buf, end)
    else:
        start = end & (length - 1)
        data = read_vaddr(buf + start, length - start) + read_vaddr(buf, start)
    return data.decode("utf-8", "replace")

