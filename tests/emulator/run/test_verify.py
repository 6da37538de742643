"""Verification reads the saved vmcore back and catches every mutation of it, naming the range.

The mutations are those that defeated the old weighted-sum fingerprint (two
bit-63 flips in one grain) and the ones a copy or a disk can make: single
bits, bit pairs in one word and across words, swapped blocks, a file cut
short or grown, a changed header.
"""

import os
import random
import shutil
import subprocess

import pytest

from emulator.run import digests
from emulator.scenario import loader as scenario
from emulator.cli import main
from emulator.errors import BadInputError
from emulator.run.runner import Run
from emulator.run.verify_command import verify_run_dir
from emulator.vmcore.vmcore_file import VmcoreFile

BASIC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "scenarios", "basic-panic.toml")
GRAIN = digests.GRAIN


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """basic-panic run once into a folder; tests mutate sparse copies of its vmcore."""
    out = tmp_path_factory.mktemp("verify") / "run"
    result = Run(scenario.load(BASIC), str(out)).execute()
    assert result.captures[0].verification["ok"]
    return str(out)


@pytest.fixture
def copy(run_dir, tmp_path):
    """A sparse copy of the run's vmcore (cp keeps the holes) with the paddr of any file offset."""
    dest = str(tmp_path / "vmcore.copy")
    subprocess.run(["cp", "--sparse=always", os.path.join(run_dir, "vmcore"), dest], check=True)
    return dest


def paddr_of(path: str, offset: int) -> int:
    with VmcoreFile(path) as core:
        ph = next(p for p in core.loads if p.p_offset <= offset < p.p_offset + p.p_filesz)
        return ph.p_paddr + offset - ph.p_offset


def written_offsets(path: str) -> list[int]:
    """File offsets of 8-byte words inside non-hole data of the PT_LOADs (what the workload wrote)."""
    with VmcoreFile(path) as core:
        start = min(ph.p_offset for ph in core.loads)
        fd = core._fd
        out, pos = [], start
        while True:
            try:
                a = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                return out
            b = os.lseek(fd, a, os.SEEK_HOLE)
            out += range(a - a % 8, b, 8 * 997)
            pos = b


def grain_start(path: str, offset: int) -> int:
    """File offset where the physical 4 KiB grain holding file ``offset`` begins."""
    return offset - paddr_of(path, offset) % GRAIN


def flip(path: str, offset: int, bit: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ (1 << bit)]))


def flip_word_bit(path: str, offset: int, bit: int) -> None:
    """Flip bit ``bit`` (0-63) of the little-endian 8-byte word at ``offset``."""
    flip(path, offset + bit // 8, bit % 8)


def verdict(run_dir: str, path: str) -> dict:
    return verify_run_dir(run_dir, path, "vmcore")[0]


def grain_range(paddr: int) -> dict:
    g = paddr - paddr % GRAIN
    return {"start": f"{g:#x}", "end": f"{g + GRAIN:#x}", "size": GRAIN}


def test_an_untouched_copy_verifies(run_dir, copy):
    """A verbatim copy of the vmcore matches crash-time memory, read back from disk."""
    v = verdict(run_dir, copy)
    assert v["ok"] and v["source"] == copy and v["checked_bytes"] > 0, v


def test_two_bit_63_flips_in_one_grain_are_caught(run_dir, copy):
    """The mutation the weighted-sum fingerprint missed: bit 63 of two words of the same 4 KiB grain."""
    off = grain_start(copy, written_offsets(copy)[3])
    flip_word_bit(copy, off + 8, 63)
    flip_word_bit(copy, off + 64, 63)
    v = verdict(run_dir, copy)
    assert not v["ok"] and v["differs"] == [grain_range(paddr_of(copy, off))]


@pytest.mark.parametrize("kind", ["single", "pair-in-word", "pair-across-words", "bit63-pair"])
def test_random_bit_mutations_are_each_caught_and_located(run_dir, copy, kind):
    """Twelve seeded positions per kind; each mutation is reverted before the next."""
    rng = random.Random(f"fadump-emu-{kind}")
    offsets = written_offsets(copy)
    for _ in range(12):
        off = rng.choice(offsets)
        first = grain_start(copy, off)
        if kind == "single":
            muts = [(off, rng.randrange(64))]
        elif kind == "pair-in-word":
            a, b = rng.sample(range(64), 2)
            muts = [(off, a), (off, b)]
        else:
            other = first + 8 * rng.choice([i for i in range(GRAIN // 8) if first + 8 * i != off])
            bits = (63, 63) if kind == "bit63-pair" else (rng.randrange(64), rng.randrange(64))
            muts = [(off, bits[0]), (other, bits[1])]
        for o, bit in muts:
            flip_word_bit(copy, o, bit)
        v = verdict(run_dir, copy)
        assert not v["ok"] and v["differs"] == [grain_range(paddr_of(copy, off))], (kind, off, muts, v)
        for o, bit in muts:
            flip_word_bit(copy, o, bit)
    assert verdict(run_dir, copy)["ok"]


def test_a_bit_set_in_never_written_memory_is_caught(run_dir, copy):
    """A flip inside a hole of the sparse file is data where crash-time memory was zero."""
    with VmcoreFile(copy) as core:
        ph = max(core.loads, key=lambda p: p.p_filesz)
    off = ph.p_offset + ph.p_filesz - 5 * GRAIN + 100
    flip(copy, off, 0)
    v = verdict(run_dir, copy)
    assert not v["ok"] and grain_range(paddr_of(copy, off)) in v["differs"]


def test_two_swapped_blocks_are_both_named(run_dir, copy):
    """Two 4 KiB blocks of different content change places: both grains differ."""
    offs = written_offsets(copy)
    a = grain_start(copy, offs[1])
    with open(copy, "r+b") as f:
        one = os.pread(f.fileno(), GRAIN, a)
        b = next(grain_start(copy, o) for o in offs[2:] if grain_start(copy, o) > a + GRAIN and
                 os.pread(f.fileno(), GRAIN, grain_start(copy, o)) != one)
        two = os.pread(f.fileno(), GRAIN, b)
        os.pwrite(f.fileno(), two, a)
        os.pwrite(f.fileno(), one, b)
    v = verdict(run_dir, copy)
    assert not v["ok"]
    assert grain_range(paddr_of(copy, a)) in v["differs"] and grain_range(paddr_of(copy, b)) in v["differs"]


def test_a_truncated_file_names_the_lost_range(run_dir, copy):
    """Cutting the last 4 KiB: the physical range past the new end is named as missing from the file."""
    size = os.path.getsize(copy)
    os.truncate(copy, size - GRAIN)
    v = verdict(run_dir, copy)
    assert not v["ok"]
    assert any(p.startswith("truncated") and f"file [{size - GRAIN:#x}, {size:#x})" in p for p in v["file_problems"])


def test_an_extended_file_names_the_extra_bytes(run_dir, copy):
    """Bytes appended after the last segment are named with their file range."""
    size = os.path.getsize(copy)
    with open(copy, "ab") as f:
        f.write(b"\0")
    v = verdict(run_dir, copy)
    assert not v["ok"] and v["file_problems"] == [f"extended: 1 bytes after the last segment, file "
                                                  f"[{size:#x}, {size + 1:#x})"]


def test_a_flipped_bit_in_the_notes_is_caught(run_dir, copy):
    """Headers and notes are not memory, so the record of the file as saved guards them."""
    with VmcoreFile(copy) as core:
        note = next(ph for ph in core.phdrs if ph.p_type == 4)
    flip(copy, note.p_offset + 200, 3)
    v = verdict(run_dir, copy)
    assert not v["ok"] and v["file_problems"][0].startswith("file headers and notes [0x0, ")


def test_the_verify_command_exits_1_and_prints_the_range(run_dir, copy, capsys):
    """fadump-emu verify RUN_DIR --vmcore FILE: exit 0 for the copy, 1 with the range once mutated."""
    assert main(["verify", run_dir, "--vmcore", copy]) == 0
    off = written_offsets(copy)[5]
    flip_word_bit(copy, off, 63)
    capsys.readouterr()
    assert main(["verify", run_dir, "--vmcore", copy]) == 1
    g = grain_range(paddr_of(copy, off))
    assert f"differs from crash-time memory: [{g['start']}, {g['end']})" in capsys.readouterr().out


def test_a_damaged_digest_file_is_refused_not_trusted(run_dir, tmp_path, capsys):
    """The header carries the binary file's own digest: a changed digest file is bad input (exit 2)."""
    other = tmp_path / "run"
    shutil.copytree(run_dir, other, ignore=shutil.ignore_patterns("vmcore"))
    os.symlink(os.path.join(run_dir, "vmcore"), other / "vmcore")
    flip(str(other / "digests" / "vmcore.bin"), 40, 1)
    with pytest.raises(BadInputError, match="digest file itself is damaged"):
        verify_run_dir(str(other))
    assert main(["verify", str(other)]) == 2


def test_a_folder_without_digests_is_bad_input(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 2
    assert "no digests/*.json" in capsys.readouterr().err


def test_a_flipped_bit_in_a_program_header_is_caught(run_dir, copy):
    """A smaller p_filesz would make the copy look filtered: the same file size says it is a copy."""
    with VmcoreFile(copy) as core:
        index = next(i for i, ph in enumerate(core.phdrs) if ph.p_type == 1 and ph.p_filesz > 1 << 20)
        at = core.ehdr.e_phoff + index * 56 + 32 + 2  # p_filesz, third byte: 64 KiB less
    flip(copy, at, 0)
    v = verdict(run_dir, copy)
    assert not v["ok"]
    assert v["file_problems"][0].startswith("file headers and notes [0x0, ")


def test_a_saved_filtered_dump_verifies_and_may_only_leave_out_zero_pages(run_dir, tmp_path):
    """--format filtered drops zero pages (makedumpfile -E -d 1): a dropped grain that held data is missing."""
    out = tmp_path / "filtered"
    result = Run(scenario.load(BASIC), str(out), export_mode="filtered").execute()
    v = result.captures[0].verification
    assert v["ok"] and v["filtered"] and v["source"].endswith("vmcore") and not v["missing"], v
    assert verify_run_dir(str(out))[0]["ok"]

    from emulator.run.verify import verify

    class DroppedOnePage:
        """The saved filtered file's coverage with the workload's first 64 KiB page left out."""
        filtered, drops_only_zero, problems = True, True, []

        def __init__(self, covered):
            self._covered = covered

        def describe(self):
            return "a zero-page filter that dropped data"

        def covered(self):
            return self._covered

        def chunks(self, snap):
            return iter(())

    snap, header = digests.load(out / "digests" / "vmcore.json")
    with VmcoreFile(str(out / "vmcore")) as core:
        kept = [(ph.p_paddr, ph.p_filesz) for ph in core.loads if ph.p_filesz]
    cut = [(p, n) for p, n in kept if not p <= 0x4100000 < p + n]
    holder = next((p, n) for p, n in kept if p <= 0x4100000 < p + n)
    cut += [(holder[0], 0x4100000 - holder[0]), (0x4110000, holder[0] + holder[1] - 0x4110000)]
    v = verify(snap, DroppedOnePage([(p, n) for p, n in cut if n > 0]))
    assert not v["ok"] and v["missing"][0] == {"start": "0x4100000", "end": "0x4110000", "size": 0x10000}


def test_any_set_of_flips_within_written_data_is_caught(run_dir, tmp_path_factory):
    """Hypothesis picks 1-4 grains and 1-6 bits in each (words and bits anywhere): every grain is named."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    copy_path = str(tmp_path_factory.mktemp("hyp") / "vmcore.copy")
    subprocess.run(["cp", "--sparse=always", os.path.join(run_dir, "vmcore"), copy_path], check=True)
    offsets = written_offsets(copy_path)
    with VmcoreFile(copy_path) as core:
        spans = [(ph.p_offset, ph.p_offset + ph.p_filesz) for ph in core.loads]
    inside = [o for o in offsets if any(a <= o < b for a, b in spans)]
    starts = sorted({g for g in (grain_start(copy_path, o) for o in inside)
                     if any(a <= g and g + GRAIN <= b for a, b in spans)})

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(st.tuples(st.sampled_from(starts), st.lists(st.tuples(st.integers(0, GRAIN // 8 - 1),
                                                                           st.integers(0, 63)),
                                                                 min_size=1, max_size=6, unique=True)),
                    min_size=1, max_size=4, unique_by=lambda t: t[0]))
    def check(mutations):
        for start, bits in mutations:
            for word, bit in bits:
                flip_word_bit(copy_path, start + 8 * word, bit)
        try:
            v = verdict(run_dir, copy_path)
            named = {grain_range(paddr_of(copy_path, start))["start"] for start, _ in mutations}
            listed = {int(r["start"], 16) for r in v["differs"]}
            covered = {f"{g:#x}" for r in v["differs"] for g in range(int(r["start"], 16), int(r["end"], 16), GRAIN)}
            assert not v["ok"] and named <= covered and listed, (mutations, v["differs"])
        finally:
            for start, bits in mutations:
                for word, bit in bits:
                    flip_word_bit(copy_path, start + 8 * word, bit)

    check()
    assert verdict(run_dir, copy_path)["ok"]


def test_pieces_read_into_one_reused_buffer_are_each_judged(run_dir, copy, monkeypatch):
    """The saved file is read back one piece at a time into a buffer each read reuses
    (dump_sources.ElfFileSource._read): with pieces of one grain, a flip in each of two grains far apart is
    named, and nothing else."""
    from emulator.run import verify as verify_module

    monkeypatch.setattr(verify_module, "STEP", GRAIN)
    assert verdict(run_dir, copy)["ok"]
    offsets = written_offsets(copy)
    a, b = grain_start(copy, offsets[2]), grain_start(copy, offsets[-2])
    flip(copy, a + 5, 1)
    flip(copy, b + 7, 6)
    v = verdict(run_dir, copy)
    assert not v["ok"] and v["differs"] == sorted([grain_range(paddr_of(copy, a)), grain_range(paddr_of(copy, b))],
                                                  key=lambda r: int(r["start"], 16))


PATTERN_RUN = """
name = "pattern"
description = "4 KiB of text repeated: a run of equal grains"
[machine]
memory = "1GiB"
[kernel]
profile = "linux-6.10"
cmdline = "fadump=on"
[[memory.write]]
addr = "0x8000000"
text = "{block}"
repeat = 64
[crash]
cpu = 1
at = "20s"
"""


def test_a_grain_changed_inside_a_run_of_equal_grains_is_caught(tmp_path):
    """Equal grains take the digest of the grain before them (digests._hash_work) only when their bytes are
    equal: a bit flipped in the middle of one grain of the run, or in its last word, is named."""
    block = "".join(chr(0x41 + (i * 7919) % 26) for i in range(GRAIN))
    toml = tmp_path / "pattern.toml"
    toml.write_text(PATTERN_RUN.format(block=block))
    out = str(tmp_path / "run")
    result = Run(scenario.load(str(toml)), out).execute()
    assert result.captures[0].verification["ok"]
    vmcore = os.path.join(out, "vmcore")
    with VmcoreFile(vmcore) as core:
        ph = next(p for p in core.loads if p.p_paddr <= 0x8000000 < p.p_paddr + p.p_memsz)
        base = ph.p_offset + 0x8000000 - ph.p_paddr
    for grain, where in ((5, GRAIN // 2), (40, GRAIN - 1)):
        off = base + grain * GRAIN + where
        flip(vmcore, off, 3)
        v = verdict(out, vmcore)
        assert not v["ok"] and v["differs"] == [grain_range(0x8000000 + grain * GRAIN)], v
        flip(vmcore, off, 3)
    assert verdict(out, vmcore)["ok"]


def test_each_thread_reads_files_back_into_its_own_buffer_kept_between_files(run_dir, copy):
    """dump_sources._READ_BUFFER: one buffer per thread, reused for the next file (no new zeroed buffer per
    verification); another thread (a Dask worker's) reads into its own, and both verdicts stay right."""
    import threading

    from emulator.run import dump_sources

    assert verdict(run_dir, copy)["ok"]
    mine = dump_sources._READ_BUFFER.bytes
    at = grain_start(copy, written_offsets(copy)[1]) + 9
    flip(copy, at, 2)
    assert not verdict(run_dir, copy)["ok"]
    assert dump_sources._READ_BUFFER.bytes is mine  # a file needing no larger pieces: the same buffer
    flip(copy, at, 2)
    seen = {}

    def verify_in_a_thread():
        seen["ok"] = verdict(run_dir, copy)["ok"]
        seen["buffer"] = dump_sources._READ_BUFFER.bytes

    t = threading.Thread(target=verify_in_a_thread)
    t.start()
    t.join()
    assert seen["ok"] and seen["buffer"] is not mine
