"""The 5.10+ lockless printk ring buffer, laid out in RAM as Linux 6.10 does.

kernel/printk/printk_ringbuffer.[ch] and log_buf_vmcoreinfo_setup() in
kernel/printk/printk.c (v6.10); read back by kernels.printk_reader, as makedumpfile's dump_lockless_dmesg does.
"""

from kernels.image import IMAGE_SIZE, va

# --- 5.10 and later: the lockless printk_ringbuffer (kernel/printk/printk_ringbuffer.[ch], v6.10) ---
#
# ``prb`` is a pointer (struct printk_ringbuffer *) to ``printk_rb_static``, which
# _DEFINE_PRINTKRB() lays out over three static arrays: the descriptors
# (struct prb_desc), their metadata (struct printk_info) and the text data ring
# (``__log_buf``). Every record is a descriptor plus an info at the same index
# and a data block "unsigned long id; char text[]" in the data ring, its
# position given by the descriptor's logical positions (lpos) begin and next.
# All integers are 64-bit (unsigned long) in the kernel's byte order.

PRB_AVGBITS = 5
"""kernel/printk/printk.c: the average text bytes of a record, as a power of 2."""
PRB_SIZE_BITS = 18
"""CONFIG_LOG_BUF_SHIFT=18: 256 KiB of text data (``__log_buf``)."""
PRB_COUNT_BITS = PRB_SIZE_BITS - PRB_AVGBITS
"""_DEFINE_PRINTKRB(printk_rb_static, LOG_BUF_SHIFT - PRB_AVGBITS, PRB_AVGBITS, __log_buf): 8192 records."""
PRINTKRB_RECORD_MAX = 1024
"""vprintk_store() reserves at most this many bytes for one record's text."""
LOG_NEWLINE = 2
"""enum printk_info_flags: the message ended with a newline (stripped before storing)."""

ULONG_MASK = (1 << 64) - 1
DESC_FLAGS_SHIFT = 62
"""DESC_SV_BITS - 2: the two top bits of state_var hold the state, the rest the descriptor id."""
DESC_ID_MASK = (1 << DESC_FLAGS_SHIFT) - 1
DESC_MISS, DESC_RESERVED, DESC_COMMITTED, DESC_FINALIZED, DESC_REUSABLE = -1, 0, 1, 2, 3
"""enum desc_state (desc_miss is the pseudo state of an id mismatch)."""
FAILED_LPOS = 0x1
"""A data-less record whose data block could not be allocated."""
EMPTY_LINE_LPOS = 0x3
"""A data-less record of an empty line (NO_LPOS before 6.8)."""

PRB_VMCOREINFO = (
    ("SIZE", "printk_ringbuffer", 88),
    ("OFFSET", "printk_ringbuffer.desc_ring", 0),
    ("OFFSET", "printk_ringbuffer.text_data_ring", 48),
    ("OFFSET", "printk_ringbuffer.fail", 80),
    ("SIZE", "prb_desc_ring", 48),
    ("OFFSET", "prb_desc_ring.count_bits", 0),
    ("OFFSET", "prb_desc_ring.descs", 8),
    ("OFFSET", "prb_desc_ring.infos", 16),
    ("OFFSET", "prb_desc_ring.head_id", 24),
    ("OFFSET", "prb_desc_ring.tail_id", 32),
    ("SIZE", "prb_desc", 24),
    ("OFFSET", "prb_desc.state_var", 0),
    ("OFFSET", "prb_desc.text_blk_lpos", 8),
    ("SIZE", "prb_data_blk_lpos", 16),
    ("OFFSET", "prb_data_blk_lpos.begin", 0),
    ("OFFSET", "prb_data_blk_lpos.next", 8),
    ("SIZE", "printk_info", 88),
    ("OFFSET", "printk_info.seq", 0),
    ("OFFSET", "printk_info.ts_nsec", 8),
    ("OFFSET", "printk_info.text_len", 16),
    ("OFFSET", "printk_info.caller_id", 20),
    ("OFFSET", "printk_info.dev_info", 24),
    ("SIZE", "dev_printk_info", 64),
    ("OFFSET", "dev_printk_info.subsystem", 0),
    ("LENGTH", "printk_info_subsystem", 16),
    ("OFFSET", "dev_printk_info.device", 16),
    ("LENGTH", "printk_info_device", 48),
    ("SIZE", "prb_data_ring", 32),
    ("OFFSET", "prb_data_ring.size_bits", 0),
    ("OFFSET", "prb_data_ring.data", 8),
    ("OFFSET", "prb_data_ring.head_lpos", 16),
    ("OFFSET", "prb_data_ring.tail_lpos", 24),
    ("SIZE", "atomic_long_t", 8),
    ("OFFSET", "atomic_long_t.counter", 0),
    ("SIZE", "latched_seq", 24),
    ("OFFSET", "latched_seq.val", 8),
)
"""log_buf_vmcoreinfo_setup() (v6.10) after its three SYMBOL lines, in its order, with ppc64's values."""
PRB_DEFAULTS = {f"{kind}({name})": value for kind, name, value in PRB_VMCOREINFO}
"""The same as VMCOREINFO keys: "SIZE(prb_desc)" -> 24."""
DESC_RING_LAST_FINALIZED_SEQ = 40
"""prb_desc_ring.last_finalized_seq (not published)."""
INFO_FACILITY = 18
INFO_FLAGS_LEVEL = 19
"""printk_info: u8 facility, then one byte holding the bitfields flags:5 and level:3."""
PRB_SYMBOLS = ("prb", "printk_rb_static", "clear_seq")


def desc_id(value: int) -> int:
    """DESC_ID(): the id bits of a state_var or an id computed with carries."""
    return value & DESC_ID_MASK


def desc_sv(id_: int, state: int) -> int:
    """DESC_SV(id, state)."""
    return ((state << DESC_FLAGS_SHIFT) | desc_id(id_)) & ULONG_MASK


def desc_state(id_: int, state_var: int) -> int:
    """get_desc_state(): the state of the descriptor queried as ``id_``, or DESC_MISS."""
    if desc_id(state_var) != id_:
        return DESC_MISS
    return (state_var >> DESC_FLAGS_SHIFT) & 3


def pack_flags_level(flags: int, level: int, byteorder: str) -> int:
    """The byte of ``u8 flags:5; u8 level:3`` as GCC allocates bitfields (from bit 0 on LE, bit 7 on BE)."""
    if byteorder == "little":
        return (flags & 0x1F) | ((level & 7) << 5)
    return ((flags & 0x1F) << 3) | (level & 7)


def unpack_flags_level(byte: int, byteorder: str) -> tuple[int, int]:
    if byteorder == "little":
        return byte & 0x1F, byte >> 5
    return byte >> 3, byte & 7


class PrbLogBuffer:
    """printk_rb_static of Linux 6.10 in RAM, written the way prb_reserve()/prb_final_commit() do.

    One writer, one record per printk: desc_reserve() (pushing the descriptor tail
    when the ring is full), the sequence number (the bootstrap rules of
    printk_ringbuffer.h), data_alloc() (pushing the data tail, making the
    descriptors of overwritten blocks reusable; a block that would cross the end
    of the data array stores only its id there and its whole self at the start),
    then the info and the finalized state. The kernel state (head/tail ids and
    lpos) lives in RAM; this object keeps a copy of it.
    """

    def __init__(self, kernel, count_bits: int = PRB_COUNT_BITS, size_bits: int = PRB_SIZE_BITS):
        self.k = kernel
        self.bo = kernel.byteorder
        s = kernel.symbols
        self.count_bits, self.size_bits = count_bits, size_bits
        self.count, self.size = 1 << count_bits, 1 << size_bits
        self.rb = s["printk_rb_static"]
        self.descs = s["_printk_rb_static_descs"]
        self.infos = s["_printk_rb_static_infos"]
        self.data = s["__log_buf"]
        desc_size, info_size = PRB_DEFAULTS["SIZE(prb_desc)"], PRB_DEFAULTS["SIZE(printk_info)"]
        room = {"descs": (self.count * desc_size, self.infos - self.descs),
                "infos": (self.count * info_size, IMAGE_SIZE - self.infos),
                "text": (self.size, self.rb - self.data)}
        for what, (need, have) in room.items():
            if not 0 < need <= have:
                raise ValueError(f"printk ring: {what} need {need:#x} bytes, the image has {have:#x}")
        ram = kernel.ram
        ram.fill(self.descs, self.count * desc_size, 0)
        ram.fill(self.infos, self.count * info_size, 0)
        ram.fill(self.data, self.size, 0)
        # _DEFINE_PRINTKRB(): the last descriptor is the initial head and tail, reusable and data-less;
        # infos[0].seq is -count so that the first reservation makes it 0 (Hack #1).
        self.head_id = self.tail_id = desc_id(-(self.count + 1))
        self.head_lpos = self.tail_lpos = -self.size & ULONG_MASK
        self.last_finalized_seq = 0
        self.fail = 0
        last = self._desc(self.head_id)
        self._w64(last, desc_sv(self.head_id, DESC_REUSABLE))
        self._w64(last + 8, FAILED_LPOS)
        self._w64(last + 16, FAILED_LPOS)
        self._w64(self._info(0), -self.count)
        ram.fill(self.rb, PRB_DEFAULTS["SIZE(printk_ringbuffer)"], 0)
        ram.write_u32(self.rb, count_bits, self.bo)
        self._w64(self.rb + 8, va(self.descs))
        self._w64(self.rb + 16, va(self.infos))
        text_ring = self.rb + PRB_DEFAULTS["OFFSET(printk_ringbuffer.text_data_ring)"]
        ram.write_u32(text_ring, size_bits, self.bo)
        self._w64(text_ring + 8, va(self.data))
        self._store_state()
        self._w64(s["prb"], va(self.rb))
        ram.fill(s["clear_seq"], PRB_DEFAULTS["SIZE(latched_seq)"], 0)
        # static char *log_buf = __log_buf; static u32 log_buf_len = __LOG_BUF_LEN;
        self._w64(s["log_buf"], va(self.data))
        ram.write_u32(s["log_buf_len"], self.size, self.bo)

    # --- RAM access ---

    def _w64(self, addr: int, value: int) -> None:
        self.k.ram.write_u64(addr, value & ULONG_MASK, self.bo)

    def _r64(self, addr: int) -> int:
        return self.k.ram.read_u64(addr, self.bo)

    def _desc(self, id_: int) -> int:
        return self.descs + (id_ & (self.count - 1)) * PRB_DEFAULTS["SIZE(prb_desc)"]

    def _info(self, id_: int) -> int:
        return self.infos + (id_ & (self.count - 1)) * PRB_DEFAULTS["SIZE(printk_info)"]

    def _store_state(self) -> None:
        """The atomic_long_t fields of printk_rb_static."""
        rb, text_ring = self.rb, self.rb + PRB_DEFAULTS["OFFSET(printk_ringbuffer.text_data_ring)"]
        self._w64(rb + PRB_DEFAULTS["OFFSET(prb_desc_ring.head_id)"], self.head_id)
        self._w64(rb + PRB_DEFAULTS["OFFSET(prb_desc_ring.tail_id)"], self.tail_id)
        self._w64(rb + DESC_RING_LAST_FINALIZED_SEQ, self.last_finalized_seq)
        self._w64(text_ring + PRB_DEFAULTS["OFFSET(prb_data_ring.head_lpos)"], self.head_lpos)
        self._w64(text_ring + PRB_DEFAULTS["OFFSET(prb_data_ring.tail_lpos)"], self.tail_lpos)
        self._w64(rb + PRB_DEFAULTS["OFFSET(printk_ringbuffer.fail)"], self.fail)

    # --- lpos arithmetic (DATA_INDEX, DATA_WRAPS, get_next_lpos) ---

    def _index(self, lpos: int) -> int:
        return lpos & (self.size - 1)

    def _wraps(self, lpos: int) -> int:
        return (lpos & ULONG_MASK) >> self.size_bits

    def _next_lpos(self, begin: int, size: int) -> int:
        nxt = (begin + size) & ULONG_MASK
        if self._wraps(begin) == self._wraps(nxt):
            return nxt
        return ((nxt & ~(self.size - 1)) + size) & ULONG_MASK

    # --- the writer ---

    def emit(self, text: str, stamp: float, level: int = 6, caller_id: int = 0) -> None:
        """printk(KERN_<level> "text\\n") stored by vprintk_store(): one finalized record.

        ``stamp`` is the console's uptime; ts_nsec holds it to the microsecond the console shows.
        ``caller_id`` is printk_caller_id(): a pid, or 0x80000000 + cpu outside task context.
        """
        # vscnprintf() into a buffer of reserve_size bytes, then printk_sprint() strips the trailing
        # newline and memmove()s the text over the 2-byte level prefix (its old tail stays behind).
        formatted = b"\x01" + str(level).encode() + text.encode("utf-8", "replace") + b"\n"
        reserve = min(len(formatted) + 1, PRINTKRB_RECORD_MAX)
        buf = bytearray(formatted[:reserve - 1] + b"\0")
        text_len, flags = reserve - 1, 0
        if text_len and buf[text_len - 1] == 0x0A:
            text_len -= 1
            flags |= LOG_NEWLINE
        text_len -= 2
        buf[:text_len] = buf[2:2 + text_len]
        if not self._data_check_size(reserve):
            return
        id_ = self._desc_reserve()
        if id_ is None:
            self.fail += 1
            self._store_state()
            return
        info = self._info(id_)
        old_seq = self._r64(info)
        self.k.ram.fill(info, PRB_DEFAULTS["SIZE(printk_info)"], 0)
        if old_seq == 0 and id_ & (self.count - 1):
            seq = id_ & (self.count - 1)
        else:
            seq = (old_seq + self.count) & ULONG_MASK
        # (prb_reserve() would finalize the previous record here; every record is final-committed already.)
        block = self._data_alloc(reserve, id_)
        if block is None:
            text_len = 0
        else:
            self.k.ram.write(self.data + block, bytes(buf))
        us = int(f"{stamp:.6f}".replace(".", ""))
        bo = self.bo
        record = (seq.to_bytes(8, bo) + (us * 1000).to_bytes(8, bo) + text_len.to_bytes(2, bo)
                  + bytes([0, pack_flags_level(flags, level, bo)]) + (caller_id & 0xFFFFFFFF).to_bytes(4, bo))
        self.k.ram.write(info, record)
        # prb_final_commit(): committed and finalized at once; desc_update_last_finalized().
        self._w64(self._desc(id_), desc_sv(id_, DESC_FINALIZED))
        self.last_finalized_seq = seq
        self._store_state()

    def _data_check_size(self, size: int) -> bool:
        """data_check_size(): a block must leave room for at least the id of the next one."""
        return self._blk_size(size) <= self.size - 8

    @staticmethod
    def _blk_size(size: int) -> int:
        """to_blk_size(): the text plus the id, aligned to the id's size."""
        return (size + 8 + 7) & ~7

    def _desc_reserve(self) -> int | None:
        """desc_reserve(): the next id, recycling the tail descriptor once the ring is full."""
        id_ = desc_id(self.head_id + 1)
        id_prev_wrap = desc_id(id_ - self.count)
        if id_prev_wrap == self.tail_id and not self._desc_push_tail(id_prev_wrap):
            return None
        d = self._desc(id_)
        prev = self._r64(d)
        if prev and desc_state(id_prev_wrap, prev) != DESC_REUSABLE:
            return None
        self.head_id = id_
        self._w64(d, desc_sv(id_, DESC_RESERVED))
        return id_

    def _desc_push_tail(self, tail_id: int) -> bool:
        """desc_push_tail(): make the tail reusable, push the data tail past its block, advance tail_id."""
        d = self._desc(tail_id)
        sv = self._r64(d)
        state = desc_state(tail_id, sv)
        if state == DESC_MISS:
            return desc_id(sv) != desc_id(tail_id - self.count)
        if state in (DESC_RESERVED, DESC_COMMITTED):
            return False
        if state == DESC_FINALIZED:
            self._w64(d, desc_sv(tail_id, DESC_REUSABLE))
        if not self._data_push_tail(self._r64(d + 16)):
            return False
        nxt = desc_id(tail_id + 1)
        if desc_state(nxt, self._r64(self._desc(nxt))) in (DESC_FINALIZED, DESC_REUSABLE):
            self.tail_id = nxt
            return True
        return False

    def _data_push_tail(self, lpos: int) -> bool:
        """data_push_tail(): advance tail_lpos to at least ``lpos`` (nothing for a data-less lpos)."""
        if lpos & 1:
            return True
        if ((lpos - self.tail_lpos - 1) & ULONG_MASK) >= self.size:
            return True
        nxt = self._data_make_reusable(self.tail_lpos, lpos)
        if nxt is None:
            return False
        self.tail_lpos = nxt
        return True

    def _data_make_reusable(self, begin: int, end: int) -> int | None:
        """data_make_reusable(): descriptors of the blocks in [begin, end) become reusable; the new tail."""
        while ((end - begin - 1) & ULONG_MASK) < self.size:
            blk_id = self._r64(self.data + self._index(begin))
            d = self._desc(blk_id)
            state = desc_state(blk_id, self._r64(d))
            if state not in (DESC_FINALIZED, DESC_REUSABLE) or self._r64(d + 8) != begin:
                return None
            if state == DESC_FINALIZED:
                self._w64(d, desc_sv(blk_id, DESC_REUSABLE))
            begin = self._r64(d + 16)
        return begin

    def _data_alloc(self, size: int, id_: int) -> int | None:
        """data_alloc(): a block for ``size`` text bytes; the offset of its text in the data array."""
        d = self._desc(id_)
        size = self._blk_size(size)
        begin = self.head_lpos
        nxt = self._next_lpos(begin, size)
        if not self._data_push_tail((nxt - self.size) & ULONG_MASK):
            self._w64(d + 8, FAILED_LPOS)
            self._w64(d + 16, FAILED_LPOS)
            return None
        self.head_lpos = nxt
        self._w64(self.data + self._index(begin), id_)
        text = self._index(begin) + 8
        if self._wraps(begin) != self._wraps(nxt):
            self._w64(self.data, id_)  # the wrapped block: the id again, then the text, from the start
            text = 8
        self._w64(d + 8, begin)
        self._w64(d + 16, nxt)
        return text

    def vmcoreinfo(self) -> list[str]:
        """log_buf_vmcoreinfo_setup(): the three symbols, then every size and offset readers need."""
        s = self.k.symbols
        return ([f"SYMBOL({name})={va(s[name]):x}" for name in PRB_SYMBOLS]
                + [f"{kind}({name})={value}" for kind, name, value in PRB_VMCOREINFO])
