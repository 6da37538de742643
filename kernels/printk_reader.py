"""Reading the 5.10+ lockless printk ring buffer back from a dump, as makedumpfile's dump_lockless_dmesg() does
(makedumpfile 1.7.x printk.c), and as crash's and drgn's log readers walk it: every finalized record from the
tail id to the head id. The ring itself, and the kernel side that writes it, are kernels.printk_ringbuffer.
"""

from dataclasses import dataclass

from kernels.image import va
from kernels.printk_ringbuffer import (DESC_COMMITTED, DESC_FINALIZED, EMPTY_LINE_LPOS, INFO_FACILITY, INFO_FLAGS_LEVEL,
                                       PRB_DEFAULTS, ULONG_MASK, desc_id, desc_state, unpack_flags_level)


@dataclass(frozen=True)
class PrbRecord:
    """One record as a reader recovers it."""

    seq: int
    ts_nsec: int
    facility: int
    flags: int
    level: int
    caller_id: int
    text: bytes

    def render(self) -> str:
        """"[seconds.micros] text" as makedumpfile --dump-dmesg prints it (lines after the first indented)."""
        prefix = f"[{self.ts_nsec // 1_000_000_000:5d}.{self.ts_nsec % 1_000_000_000 // 1000:06d}] "
        text = self.text.decode("utf-8", "replace")
        text = "".join(c if c.isprintable() or c.isspace() else f"\\x{ord(c):02x}" for c in text)
        return prefix + text.replace("\n", "\n" + " " * len(prefix))


def prb_layout(vmcoreinfo: dict[str, str] | None = None) -> dict[str, int]:
    """Sizes and offsets by VMCOREINFO key: the published values where given, else Linux 6.10's."""
    layout = dict(PRB_DEFAULTS)
    for key in layout:
        if vmcoreinfo and key in vmcoreinfo:
            layout[key] = int(vmcoreinfo[key])
    return layout


def prb_records(read_vaddr, byteorder: str, prb: int, layout: dict[str, int] | None = None) -> list[PrbRecord]:
    """Every readable record from the tail id to the head id, as dump_lockless_dmesg() walks them.

    ``read_vaddr(vaddr, size)`` reads the dump; ``prb`` is the address of the ``prb`` pointer (a physical
    one is taken as its linear-map address). Records that are not committed or finalized, or whose block
    was lost (FAILED_LPOS) or is not a legal block (get_data()), are skipped.
    """
    L = layout or PRB_DEFAULTS

    def u64(raw: bytes, off: int) -> int:
        return int.from_bytes(raw[off:off + 8], byteorder)

    def u32(raw: bytes, off: int) -> int:
        return int.from_bytes(raw[off:off + 4], byteorder)

    rb = read_vaddr(u64(read_vaddr(va(prb), 8), 0), L["SIZE(printk_ringbuffer)"])
    ring = L["OFFSET(printk_ringbuffer.desc_ring)"]
    text_ring = L["OFFSET(printk_ringbuffer.text_data_ring)"]
    counter = L["OFFSET(atomic_long_t.counter)"]
    count_bits = u32(rb, ring + L["OFFSET(prb_desc_ring.count_bits)"])
    size_bits = u32(rb, text_ring + L["OFFSET(prb_data_ring.size_bits)"])
    if not (0 < count_bits <= 24 and 3 < size_bits <= 30):
        raise ValueError(f"printk_ringbuffer: implausible count_bits {count_bits} or size_bits {size_bits}")
    count, size = 1 << count_bits, 1 << size_bits
    desc_size, info_size = L["SIZE(prb_desc)"], L["SIZE(printk_info)"]
    descs = read_vaddr(u64(rb, ring + L["OFFSET(prb_desc_ring.descs)"]), count * desc_size)
    infos = read_vaddr(u64(rb, ring + L["OFFSET(prb_desc_ring.infos)"]), count * info_size)
    data = read_vaddr(u64(rb, text_ring + L["OFFSET(prb_data_ring.data)"]), size)
    head = u64(rb, ring + L["OFFSET(prb_desc_ring.head_id)"] + counter)
    tail = u64(rb, ring + L["OFFSET(prb_desc_ring.tail_id)"] + counter)

    def wraps(lpos: int) -> int:
        return (lpos & ULONG_MASK) >> size_bits

    def record(id_: int) -> PrbRecord | None:
        d = (id_ % count) * desc_size
        state = desc_state(id_, u64(descs, d + L["OFFSET(prb_desc.state_var)"] + counter))
        if state not in (DESC_COMMITTED, DESC_FINALIZED):
            return None
        lpos = d + L["OFFSET(prb_desc.text_blk_lpos)"]
        begin = u64(descs, lpos + L["OFFSET(prb_data_blk_lpos.begin)"])
        nxt = u64(descs, lpos + L["OFFSET(prb_data_blk_lpos.next)"])
        i = (id_ % count) * info_size
        off = i + L["OFFSET(printk_info.text_len)"]
        text_len = int.from_bytes(infos[off:off + 2], byteorder)
        if begin & 1 and nxt & 1:  # data-less: an empty line, or a block that could not be allocated
            if begin != EMPTY_LINE_LPOS or nxt != EMPTY_LINE_LPOS:
                return None
            start, length = 0, 0
        elif wraps(begin) == wraps(nxt) and begin < nxt:
            start, length = begin & (size - 1), nxt - begin
        elif wraps(begin + size) == wraps(nxt):
            start, length = 0, nxt & (size - 1)
        else:
            return None
        if length and ((begin | nxt) & 7 or length < 8):  # blocks are id-aligned and hold at least the id
            return None
        text = data[start + 8:start + length][:text_len] if length else b""
        flags, level = unpack_flags_level(infos[i + INFO_FLAGS_LEVEL], byteorder)
        return PrbRecord(seq=u64(infos, i + L["OFFSET(printk_info.seq)"]),
                         ts_nsec=u64(infos, i + L["OFFSET(printk_info.ts_nsec)"]),
                         facility=infos[i + INFO_FACILITY], flags=flags, level=level,
                         caller_id=u32(infos, i + L["OFFSET(printk_info.caller_id)"]), text=text)

    out, id_ = [], tail
    for _ in range(count):
        rec = record(id_)
        if rec is not None:
            out.append(rec)
        if id_ == head:
            break
        id_ = desc_id(id_ + 1)
    return out


def read_prb(read_vaddr, byteorder: str, symbols: dict[str, int] | None = None,
             vmcoreinfo: dict[str, str] | None = None) -> str:
    """Recover the log text from a dump of a 5.10+ kernel: one "[seconds] text" line per record.

    The ``prb`` address comes from ``symbols`` (kernel.symbols, physical) or else from the VMCOREINFO
    (``kernels.vmcoreinfo.parse()`` of the note), whose SIZE/OFFSET values are used where it has them.
    """
    if symbols and "prb" in symbols:
        prb = symbols["prb"]
    elif vmcoreinfo and "SYMBOL(prb)" in vmcoreinfo:
        prb = int(vmcoreinfo["SYMBOL(prb)"], 16)
    else:
        raise KeyError("no prb symbol: neither in the symbols nor as SYMBOL(prb) in the VMCOREINFO")
    records = prb_records(read_vaddr, byteorder, prb, prb_layout(vmcoreinfo))
    return "".join(rec.render() + "\n" for rec in records)
