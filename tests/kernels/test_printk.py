"""The 5.10+ lockless printk ring (kernels/printk.py PrbLogBuffer) as Linux 6.10 lays it out in RAM.

Facts from kernel/printk/printk_ringbuffer.[ch] and log_buf_vmcoreinfo_setup() (kernel/printk/printk.c) of
v6.10; the readers it must satisfy are makedumpfile's dump_lockless_dmesg() (printk.c) and crash's
dump_lockless_record_log(). Besides the project's own reader (read_prb), a second reader here follows
makedumpfile's walk literally (tail id to head id, committed/finalized only, lpos taken modulo the ring size,
a block whose begin lies after its next wrapped to 0), so the RAM layout is checked against both.
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emulator.host import ppc64el_tools
from emulator.scenario import loader as scenario
from emulator.hw.ram import PartitionRAM
from emulator.run.runner import run_scenario
from emulator.vmcore.vmcore_file import VmcoreFile
from kernels import vmcoreinfo
from kernels.image import IMAGE_SIZE, SYMBOLS, pa, va
from kernels.linux610 import Linux610
from kernels.printk import (
    DESC_FINALIZED,
    DESC_FLAGS_SHIFT,
    DESC_ID_MASK,
    DESC_REUSABLE,
    PRB_COUNT_BITS,
    PRB_SIZE_BITS,
    PlainLogBuffer,
    PrbLogBuffer,
    prb_layout,
    prb_records,
    read_plain,
    read_prb,
)
from tests.conftest import small_scenario_text

PROJECT = Path(__file__).resolve().parents[2]
MODERN = PROJECT / "scenarios" / "basic-panic-modern.toml"
BOTH = pytest.mark.parametrize("byteorder", ["little", "big"])
PRB_KEYS = {
    "SYMBOL(prb)", "SYMBOL(printk_rb_static)", "SYMBOL(clear_seq)",
    "SIZE(printk_ringbuffer)=88", "OFFSET(printk_ringbuffer.desc_ring)=0",
    "OFFSET(printk_ringbuffer.text_data_ring)=48", "OFFSET(printk_ringbuffer.fail)=80",
    "SIZE(prb_desc_ring)=48", "OFFSET(prb_desc_ring.count_bits)=0", "OFFSET(prb_desc_ring.descs)=8",
    "OFFSET(prb_desc_ring.infos)=16", "OFFSET(prb_desc_ring.head_id)=24", "OFFSET(prb_desc_ring.tail_id)=32",
    "SIZE(prb_desc)=24", "OFFSET(prb_desc.state_var)=0", "OFFSET(prb_desc.text_blk_lpos)=8",
    "SIZE(prb_data_blk_lpos)=16", "OFFSET(prb_data_blk_lpos.begin)=0", "OFFSET(prb_data_blk_lpos.next)=8",
    "SIZE(printk_info)=88", "OFFSET(printk_info.seq)=0", "OFFSET(printk_info.ts_nsec)=8",
    "OFFSET(printk_info.text_len)=16", "OFFSET(printk_info.caller_id)=20", "OFFSET(printk_info.dev_info)=24",
    "SIZE(dev_printk_info)=64", "OFFSET(dev_printk_info.subsystem)=0", "LENGTH(printk_info_subsystem)=16",
    "OFFSET(dev_printk_info.device)=16", "LENGTH(printk_info_device)=48",
    "SIZE(prb_data_ring)=32", "OFFSET(prb_data_ring.size_bits)=0", "OFFSET(prb_data_ring.data)=8",
    "OFFSET(prb_data_ring.head_lpos)=16", "OFFSET(prb_data_ring.tail_lpos)=24",
    "SIZE(atomic_long_t)=8", "OFFSET(atomic_long_t.counter)=0",
    "SIZE(latched_seq)=24", "OFFSET(latched_seq.val)=8",
}
"""log_buf_vmcoreinfo_setup() of 6.10 with ppc64 values (symbols checked by name only)."""
CONFTEST_HIGH_WRITE = 'addr = "0x18000000"'
HIGH_WRITE = 'addr = "0x30000000"'
"""6.10 reserves its dump area right above boot memory, over conftest's high write: move it above the area."""


@dataclass
class FakeKernel:
    """What a log class uses of a kernel: RAM holding the image, byte order, symbols."""

    byteorder: str
    ram: PartitionRAM = field(default_factory=lambda: PartitionRAM(IMAGE_SIZE))
    symbols: dict = field(default_factory=lambda: dict(SYMBOLS))

    def read_vaddr(self, vaddr: int, size: int) -> bytes:
        return self.ram.read(pa(vaddr), size)


def ring(byteorder: str, count_bits: int = PRB_COUNT_BITS, size_bits: int = PRB_SIZE_BITS):
    k = FakeKernel(byteorder)
    return k, PrbLogBuffer(k, count_bits, size_bits)


def records(k: FakeKernel):
    return prb_records(k.read_vaddr, k.byteorder, k.symbols["prb"])


def makedumpfile_walk(read_vaddr, byteorder: str, prb_vaddr: int, vmcoreinfo_text: str) -> list[str]:
    """makedumpfile 1.7's dump_lockless_dmesg(), step by step, driven only by the VMCOREINFO keys."""
    info = {k: int(v) for k, v in vmcoreinfo.parse(vmcoreinfo_text).items() if k.startswith(("SIZE(", "OFFSET("))}

    def ulong(raw, off):
        return int.from_bytes(raw[off:off + 8], byteorder)

    def uint(raw, off):
        return int.from_bytes(raw[off:off + 4], byteorder)

    rb = read_vaddr(ulong(read_vaddr(prb_vaddr, 8), 0), info["SIZE(printk_ringbuffer)"])
    ring_off, text_off = info["OFFSET(printk_ringbuffer.desc_ring)"], info["OFFSET(printk_ringbuffer.text_data_ring)"]
    count = 1 << uint(rb, ring_off + info["OFFSET(prb_desc_ring.count_bits)"])
    descs = read_vaddr(ulong(rb, ring_off + info["OFFSET(prb_desc_ring.descs)"]), info["SIZE(prb_desc)"] * count)
    infos = read_vaddr(ulong(rb, ring_off + info["OFFSET(prb_desc_ring.infos)"]), info["SIZE(printk_info)"] * count)
    size = 1 << uint(rb, text_off + info["OFFSET(prb_data_ring.size_bits)"])
    data = read_vaddr(ulong(rb, text_off + info["OFFSET(prb_data_ring.data)"]), size)
    counter = info["OFFSET(atomic_long_t.counter)"]
    tail = ulong(rb, ring_off + info["OFFSET(prb_desc_ring.tail_id)"] + counter)
    head = ulong(rb, ring_off + info["OFFSET(prb_desc_ring.head_id)"] + counter)
    out = []

    def dump_record(id_):
        desc = (id_ % count) * info["SIZE(prb_desc)"]
        sv = ulong(descs, desc + info["OFFSET(prb_desc.state_var)"] + counter)
        if sv & DESC_ID_MASK != id_ or (sv >> DESC_FLAGS_SHIFT) not in (1, 2):
            return
        lpos = desc + info["OFFSET(prb_desc.text_blk_lpos)"]
        begin = ulong(descs, lpos + info["OFFSET(prb_data_blk_lpos.begin)"]) % size
        nxt = ulong(descs, lpos + info["OFFSET(prb_data_blk_lpos.next)"]) % size
        if begin == nxt:
            return
        inf = (id_ % count) * info["SIZE(printk_info)"]
        at = inf + info["OFFSET(printk_info.text_len)"]
        text_len = int.from_bytes(infos[at:at + 2], byteorder)
        if begin > nxt:
            begin = 0
        begin += 8
        text_len = min(text_len, nxt - begin)
        ts = ulong(infos, inf + info["OFFSET(printk_info.ts_nsec)"])
        text = data[begin:begin + text_len].decode()
        out.append(f"[{ts // 10**9:5d}.{ts % 10**9 // 1000:06d}] {text}")

    id_ = tail
    while id_ != head:
        dump_record(id_)
        id_ = (id_ + 1) & DESC_ID_MASK
    dump_record(id_)
    return out


def vmcoreinfo_text(log: PrbLogBuffer) -> str:
    return "".join(line + "\n" for line in log.vmcoreinfo())


def message(i: int) -> str:
    """Messages of varying length (13 to 110 bytes), so blocks land everywhere in a small data ring."""
    return f"message {i:04d} " + "x" * (i * 37 % 97)


# --- the layout in RAM ---

@BOTH
def test_records_round_trip_through_the_reader(byteorder):
    """Each printk is one finalized record: seq from 0, ts_nsec from the console stamp, level 6, text w/o newline."""
    k, log = ring(byteorder)
    lines = [("Linux version 6.10.0 (fadump-emu) #1 SMP", 0.0), ("fadump: Reserved 320MB", 0.000123),
             ("rtas fadump: Registration is successful!", 0.3), ("", 1.5), ("Kernel panic - not syncing: x", 30.0)]
    for i, (text, stamp) in enumerate(lines):
        log.emit(text, stamp, level=6 if i != 4 else 0, caller_id=0x80000003 if i == 4 else 1)
    got = records(k)
    assert [r.seq for r in got] == list(range(len(lines)))
    assert [r.text.decode() for r in got] == [text for text, _ in lines]
    assert [r.ts_nsec for r in got] == [0, 123000, 300000000, 1500000000, 30000000000]
    assert [r.level for r in got] == [6, 6, 6, 6, 0]
    assert all(r.facility == 0 and r.flags == 2 for r in got)  # LOG_KERN, LOG_NEWLINE
    assert got[-1].caller_id == 0x80000003 and got[0].caller_id == 1
    assert read_prb(k.read_vaddr, byteorder, k.symbols) == (
        "[    0.000000] Linux version 6.10.0 (fadump-emu) #1 SMP\n"
        "[    0.000123] fadump: Reserved 320MB\n"
        "[    0.300000] rtas fadump: Registration is successful!\n"
        "[    1.500000] \n"
        "[   30.000000] Kernel panic - not syncing: x\n")


@BOTH
def test_the_structures_sit_in_ram_as_linux_lays_them_out(byteorder):
    """Pointer prb -> printk_rb_static; ids, lpos, state bits and the first data block, in the kernel's order."""
    k, log = ring(byteorder)
    ram, s, count, size = k.ram, k.symbols, 1 << PRB_COUNT_BITS, 1 << PRB_SIZE_BITS

    def u64(addr):
        return ram.read_u64(addr, byteorder)

    assert u64(s["prb"]) == va(s["printk_rb_static"])
    rb = s["printk_rb_static"]
    desc0_id = (-(count + 1)) & DESC_ID_MASK
    # _DEFINE_PRINTKRB(): empty ring, head = tail = DESC0_ID (the last descriptor, reusable and data-less).
    assert ram.read_u32(rb, byteorder) == PRB_COUNT_BITS
    assert (u64(rb + 8), u64(rb + 16)) == (va(s["_printk_rb_static_descs"]), va(s["_printk_rb_static_infos"]))
    assert u64(rb + 24) == u64(rb + 32) == desc0_id
    last = s["_printk_rb_static_descs"] + (count - 1) * 24
    assert (u64(last), u64(last + 8), u64(last + 16)) == ((DESC_REUSABLE << 62) | desc0_id, 1, 1)
    assert u64(s["_printk_rb_static_infos"]) == (-count) & (2**64 - 1)
    assert ram.read_u32(rb + 48, byteorder) == PRB_SIZE_BITS and u64(rb + 56) == va(s["__log_buf"])
    assert u64(rb + 64) == u64(rb + 72) == (-size) & (2**64 - 1)  # BLK0_LPOS
    assert records(k) == []

    log.emit("hello", 2.25)
    first_id = desc0_id + 1
    assert u64(rb + 24) == first_id and u64(rb + 32) == desc0_id and u64(rb + 40) == 0
    desc = s["_printk_rb_static_descs"]
    begin = (-size) & (2**64 - 1)
    # "\x016hello\n\0" is 9 bytes: a block of align8(8 + 9) = 24 bytes.
    assert (u64(desc), u64(desc + 8), u64(desc + 16)) == ((DESC_FINALIZED << 62) | first_id, begin, begin + 24)
    assert u64(rb + 64) == begin + 24 and u64(rb + 72) == begin
    assert u64(s["__log_buf"]) == first_id
    assert ram.read(s["__log_buf"] + 8, 5) == b"hello"
    info = ram.read(s["_printk_rb_static_infos"], 88)
    assert int.from_bytes(info[0:8], byteorder) == 0
    assert int.from_bytes(info[8:16], byteorder) == 2_250_000_000
    assert int.from_bytes(info[16:18], byteorder) == 5 and info[18] == 0
    assert info[19] == ((6 << 5) | 2 if byteorder == "little" else (2 << 3) | 6)  # u8 flags:5, level:3
    assert info[24:] == bytes(64)  # dev_info


# --- wrap-around ---

@BOTH
def test_data_ring_wrap_keeps_the_newest_records(byteorder):
    """A 1 KiB text ring with 64 descriptors: old blocks are recycled, wrapping blocks go to the start."""
    k, log = ring(byteorder, count_bits=6, size_bits=10)
    texts = [message(i) for i in range(300)]
    for i, text in enumerate(texts):
        log.emit(text, i / 10)
    got = records(k)
    n = len(got)
    assert 8 <= n < 64, "the data ring, not the descriptor ring, limits what is kept"
    assert [r.text.decode() for r in got] == texts[-n:]
    assert [r.seq for r in got] == list(range(300 - n, 300))
    used = sum(((len(t) + 4 + 8 + 7) & ~7) for t in texts[-n:])
    older = (len(texts[-n - 1]) + 4 + 8 + 7) & ~7
    assert used <= 1024 < used + older + 2 * 120, "as many of the newest records as fit are readable"
    # Some kept block wraps: its lpos begin lies one wrap before its next, its text is at the start.
    descs = k.symbols["_printk_rb_static_descs"]
    lpos = [(k.ram.read_u64(descs + i * 24 + 8, byteorder), k.ram.read_u64(descs + i * 24 + 16, byteorder))
            for i in range(64)]
    assert any(b >> 10 != n_ >> 10 and not b & 1 for b, n_ in lpos)
    expect = [f"[{(300 - n + i) // 10:5d}.{(300 - n + i) % 10 * 100000:06d}] {t}" for i, t in enumerate(texts[-n:])]
    assert read_prb(k.read_vaddr, byteorder, k.symbols).splitlines() == expect
    assert makedumpfile_walk(k.read_vaddr, byteorder, va(k.symbols["prb"]), vmcoreinfo_text(log)) == expect


@BOTH
def test_descriptor_ring_wrap_keeps_the_newest_records(byteorder):
    """16 descriptors, a roomy text ring: exactly the newest 16 records stay, across the id overflow at 2^62."""
    k, log = ring(byteorder, count_bits=4, size_bits=14)
    texts = [f"short {i}" for i in range(100)]
    for i, text in enumerate(texts):
        log.emit(text, float(i))
    got = records(k)
    assert [r.text.decode() for r in got] == texts[-16:]
    assert [r.seq for r in got] == list(range(84, 100))
    rb = k.symbols["printk_rb_static"]
    head, tail = k.ram.read_u64(rb + 24, byteorder), k.ram.read_u64(rb + 32, byteorder)
    assert head == (DESC_ID_MASK - 16 + 100) & DESC_ID_MASK == 83  # the first id is 2^62 - 16: ids wrapped
    assert tail == head - 15
    assert makedumpfile_walk(k.read_vaddr, byteorder, va(k.symbols["prb"]), vmcoreinfo_text(log)) == \
        [f"[{i:5d}.000000] short {i}" for i in range(84, 100)]


def test_long_lines_are_cut_to_the_record_maximum_and_oversized_records_dropped():
    """vprintk_store() reserves at most 1024 bytes: 1021 text bytes stay (no newline flag); a ring too small drops."""
    k, log = ring("little")
    log.emit("y" * 2000, 1.0)
    (rec,) = records(k)
    assert rec.text == b"y" * 1021 and rec.flags == 0
    k, log = ring("little", count_bits=3, size_bits=6)
    log.emit("z" * 60, 1.0)
    log.emit("fits", 2.0)
    assert [r.text for r in records(k)] == [b"fits"]


def test_the_plain_34_ring_still_reads_back():
    """PlainLogBuffer and read_plain are unchanged."""
    k = FakeKernel("big")
    log = PlainLogBuffer(k)
    log.emit("Linux version 3.4", 0.5)
    text = read_plain(k.read_vaddr, lambda a: k.ram.read_u64(pa(a), "big"), lambda a: k.ram.read_u32(pa(a), "big"),
                      {name: va(addr) for name, addr in k.symbols.items()})
    assert text == "<6>[    0.500000] Linux version 3.4\n"


# --- VMCOREINFO ---

def test_vmcoreinfo_publishes_prb_and_every_size_and_offset():
    """SYMBOL(prb|printk_rb_static|clear_seq) first, then log_buf_vmcoreinfo_setup()'s SIZE/OFFSET/LENGTH lines."""
    _, log = ring("little")
    lines = log.vmcoreinfo()
    assert lines[:3] == [f"SYMBOL({name})={va(SYMBOLS[name]):x}" for name in ("prb", "printk_rb_static", "clear_seq")]
    assert {line.split("=")[0] if line.startswith("SYMBOL(") else line for line in lines} == PRB_KEYS
    assert prb_layout(vmcoreinfo.parse(vmcoreinfo_text(log)))["SIZE(printk_info)"] == 88


def test_linux610_uses_the_lockless_ring():
    """The linux-6.10 profile keeps its log in printk_rb_static."""
    assert Linux610.log_class is PrbLogBuffer


# --- end to end: the vmcore keeps the first kernel's ring ---

def kernel1_lines(result) -> list[str]:
    return [line.render() for line in result.partition.console.lines if line.source == "kernel1"]


def check_vmcore(path: str, expected: list[str]) -> str:
    """VMCOREINFO has the keys; the ring read from the vmcore's bytes (through VMCOREINFO alone) is ``expected``."""
    with VmcoreFile(path) as core:
        info = core.vmcoreinfo
        text = "".join(f"{key}={value}\n" for key, value in info.items())
        for key in PRB_KEYS:
            assert (key + "=" if key.startswith("SYMBOL(") else key) in text, key
        dmesg = read_prb(core.read_vaddr, core.byteorder, vmcoreinfo=info)
        assert makedumpfile_walk(core.read_vaddr, core.byteorder, int(info["SYMBOL(prb)"], 16), text) == expected
    assert dmesg.splitlines() == expected
    return dmesg


@pytest.fixture(scope="module")
def modern(tmp_path_factory):
    """basic-panic-modern.toml, run once: (result, vmcore path)."""
    out = tmp_path_factory.mktemp("basic-panic-modern")
    result = run_scenario(scenario.load(MODERN), str(out))
    assert result.outcome == "vmcore", result.outcome
    return result, result.captures[0].path


def test_basic_panic_modern_vmcore_holds_the_first_kernels_log_up_to_the_panic(modern):
    """The preserved ring, read from the vmcore's bytes, is exactly kernel 1's console, the panic last."""
    result, path = modern
    expected = kernel1_lines(result)
    assert expected[-1].endswith("Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b")
    check_vmcore(path, expected)


@BOTH
def test_small_610_vmcore_keeps_the_ring_in_either_byte_order(tmp_path, byteorder):
    """A 1 GiB 6.10 partition, little- or big-endian: its vmcore's ring holds kernel 1's console."""
    text = small_scenario_text(name=f"prb-{byteorder}", endian=byteorder, kernel_extra='profile = "linux-6.10"')
    assert text.count(CONFTEST_HIGH_WRITE) == 1
    (tmp_path / "s.toml").write_text(text.replace(CONFTEST_HIGH_WRITE, HIGH_WRITE))
    result = run_scenario(scenario.load(tmp_path / "s.toml"), str(tmp_path / "out"))
    assert result.outcome == "vmcore", result.outcome
    check_vmcore(result.captures[0].path, kernel1_lines(result))


# --- Debian's ppc64el makedumpfile (skipped without `make ppc64el-tools`) ---

def require_ppc64el_tools() -> None:
    if ppc64el_tools.available():
        return
    if os.environ.get("CI") or os.environ.get("FADUMP_EMU_REQUIRE_TOOLS"):
        pytest.fail(ppc64el_tools.how_to_install())
    pytest.skip(ppc64el_tools.how_to_install())


def makedumpfile_dmesg(folder: Path) -> tuple[list[str], str]:
    proc = ppc64el_tools.makedumpfile(["--dump-dmesg", "vmcore", "dmesg.txt"], cwd=folder)
    shown = f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert proc.returncode == 0, shown
    return (folder / "dmesg.txt").read_text().splitlines(), shown


def test_makedumpfile_dump_dmesg_prints_the_modern_ring(modern):
    """Debian's makedumpfile --dump-dmesg (dump_lockless_dmesg) prints kernel 1's console exactly."""
    require_ppc64el_tools()
    result, path = modern
    lines, shown = makedumpfile_dmesg(Path(path).parent)
    assert lines == kernel1_lines(result), shown
    assert "The dmesg log is saved to dmesg.txt." in shown


class SmallRing(PrbLogBuffer):
    """A ring of 32 records and 1 KiB of text, wrapped by 200 filler lines before the kernel prints."""

    def __init__(self, kernel):
        super().__init__(kernel, count_bits=5, size_bits=10)
        for i in range(200):
            self.emit(message(i), 0.0)


def test_makedumpfile_reads_a_wrapped_ring_as_our_reader_does(tmp_path, monkeypatch):
    """With both rings wrapped before boot, makedumpfile prints the same records as read_prb."""
    require_ppc64el_tools()
    monkeypatch.setattr(Linux610, "log_class", SmallRing)
    result = run_scenario(scenario.load(MODERN), str(tmp_path / "out"))
    assert result.outcome == "vmcore", result.outcome
    with VmcoreFile(result.captures[0].path) as core:
        ours = read_prb(core.read_vaddr, core.byteorder, vmcoreinfo=core.vmcoreinfo).splitlines()
    console = kernel1_lines(result)
    assert ours[-len(console):] == console
    fillers = ours[:-len(console)]
    assert fillers and all(re.fullmatch(r"\[    0\.000000\] message \d{4} x*", line) for line in fillers)
    lines, shown = makedumpfile_dmesg(tmp_path / "out")
    assert lines == ours, shown
