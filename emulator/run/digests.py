"""Crash-time memory as per-grain BLAKE2b digests, kept in the run folder for later checks.

When firmware takes over, every 4 KiB grain of memory that was ever written
gets a 128-bit BLAKE3 digest (never-written grains are zero and share one
known digest, so they cost nothing; a grain holding exactly the bytes of the
grain before it takes that grain's digest, so memory filled with one pattern,
like a table of equal entries, is hashed once per run). BLAKE3 is a cryptographic hash: no
pattern of changed bits, however placed, is known to leave a digest unchanged
(the weighted sums this replaced missed two flipped bit-63s in one grain).
It is the PyPI ``blake3`` package (the BLAKE3 team's Rust bindings), chosen
over the standard library's BLAKE2b because it measured about twice as fast
per 4 KiB grain on the 2-core development machine (1.13 against 0.60 GB/s,
best of three; 1.33 against 0.22 GB/s under load), which keeps ``make
bench``'s 64 TiB run inside its 10 s budget.

Grains cut by an excluded range (the fadump reserved area need not be
4 KiB-aligned) also get a digest of each part that stays memory, so the parts
a vmcore holds can be checked exactly.

On disk (``digests/<vmcore name>.json`` and ``.bin`` in the run folder): the
JSON header says what was digested and how; the binary file is the sorted
grain numbers (little-endian int64) followed by their 16-byte digests, and the
header carries the binary file's own digest so a damaged digest file is
refused rather than trusted.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from blake3 import blake3

from emulator.errors import BadInputError
from emulator.json_text import indented
from emulator.new_files import replace_with
from emulator.run.same_rows import same_rows
from emulator.hw.layout import Range

GRAIN = 4096
"""Verification granularity: the smallest page size a ppc64 kernel uses."""
DIGEST_SIZE = 16
ALGORITHM = f"blake3-{DIGEST_SIZE * 8}"
FORMAT_VERSION = 1
STEP = 8 << 20
"""Digest in 8 MiB reads so temporaries stay small whatever the run length."""
DIGEST_DIR = "digests"


def digest(data) -> bytes:
    return blake3(data).digest(DIGEST_SIZE)


ZERO = digest(bytes(GRAIN))


def _hash_rows(mv: memoryview, rows) -> bytes:
    return b"".join([blake3(mv[i * GRAIN:(i + 1) * GRAIN]).digest(DIGEST_SIZE) for i in rows])


def _repeats(rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Which grains ``idx`` (sorted indexes into ``rows``) hold exactly the bytes of the grain before them.

    Two words are compared first, so that grains which differ (nearly all of them in most memory) cost
    next to nothing; the grains left are compared in full (_equal_rows).
    """
    same = np.zeros(len(idx), dtype=bool)
    inner = np.flatnonzero(idx > 0)
    if not len(inner):
        return same
    at = idx[inner]
    cand = inner[(rows[at, 0] == rows[at - 1, 0]) & (rows[at, -1] == rows[at - 1, -1])]
    if len(cand):
        same[cand] = _equal_rows(rows, idx[cand], rows, idx[cand] - 1)
    return same


def _hash_work(mv: memoryview, rows: np.ndarray, work: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[work]`` with the digests of grains ``work`` (sorted, none all-zero; ``out`` of every other
    grain already filled).

    A grain whose bytes equal the grain's before it has, exactly, that grain's digest: only the first grain
    of each run of equal grains is hashed (memory filled with one pattern, like a table of equal entries,
    costs one hash per run). The digest is taken from the run's first grain, which is either hashed here or
    was filled in ``out`` already.
    """
    if not len(work):
        return
    same = _repeats(rows, work)
    heads = work[~same]
    out[heads] = np.frombuffer(_hash_rows(mv, heads.tolist()), dtype=np.uint8).reshape(-1, DIGEST_SIZE)
    if same.any():
        # For each grain, the index of the last grain at or before it that starts a run (differs from the
        # grain before it): runs are told by the repeat flags of the work grains only, since every grain
        # outside ``work`` keeps its own digest in ``out``.
        n = len(out)
        starts = np.ones(n, dtype=bool)
        starts[work[same]] = False
        first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        rep = work[same]
        out[rep] = out[first[rep]]


def grain_digests(data, at: int | None = None) -> np.ndarray:
    """One digest per whole grain of ``data`` (a bytes-like object), as an (n, 16) uint8 array.

    With ``at`` (the physical address of ``data``, grain-aligned) grains whose bytes equal what this
    process digested at the same address before take that digest from the MEMO; the result is the same.
    """
    mv = memoryview(data).cast("B")
    n = len(mv) // GRAIN
    if at is None or n == 0 or at % GRAIN:
        out = np.empty((n, DIGEST_SIZE), dtype=np.uint8)
        rows = np.frombuffer(mv[:n * GRAIN], dtype=np.uint64).reshape(n, GRAIN // 8)
        zero = ~rows.any(axis=1)
        out[zero] = np.frombuffer(ZERO, dtype=np.uint8)
        _hash_work(mv, rows, np.flatnonzero(~zero), out)
        return out
    return MEMO.digests(mv[:n * GRAIN], at // GRAIN)


def _runs(ai: np.ndarray, bi: np.ndarray) -> list[tuple[int, int, int]] | None:
    """Ascending indexes ``ai`` paired with ``bi``, as (first a, end a, first b) runs consecutive in both: a run
    is read or written as one slice, where indexing row by row gathered copies first. None when the pairs are
    too scattered for runs to pay (more than one run per 8 rows)."""
    if not len(ai):
        return []
    cuts = np.flatnonzero((np.diff(ai) != 1) | (np.diff(bi) != 1)) + 1
    if len(cuts) > len(ai) // 8:
        return None
    cuts = cuts.tolist()
    return [(int(ai[a]), int(ai[b - 1]) + 1, int(bi[a])) for a, b in zip([0, *cuts], [*cuts, len(ai)])]


def _equal_rows(a: np.ndarray, ai: np.ndarray, b: np.ndarray, bi: np.ndarray) -> np.ndarray:
    """``(a[ai] == b[bi]).all(axis=1)``: whether each row ``ai`` of ``a`` equals row ``bi`` of ``b``."""
    runs = _runs(ai, bi)
    if runs is None:
        return (a[ai] == b[bi]).all(axis=1)
    out, pos = np.empty(len(ai), dtype=bool), 0
    for a0, a1, b0 in runs:
        out[pos:pos + a1 - a0] = same_rows(a[a0:a1], b[b0:b0 + a1 - a0])
        pos += a1 - a0
    return out


def _nonzero_rows(rows: np.ndarray, idx: np.ndarray, runs: list | None) -> np.ndarray:
    """``rows[idx].any(axis=1)``: whether each row ``idx`` (ascending; ``runs`` is ``_runs(idx, idx)``) holds a
    non-zero byte, tested run by run in place where the rows come in runs, rather than gathered into a copy first."""
    if runs is None:
        return rows[idx].any(axis=1)
    return np.concatenate([rows[a0:a1].any(axis=1) for a0, a1, _ in runs]) if runs else np.zeros(0, dtype=bool)


def _copy_rows(dst: np.ndarray, src: np.ndarray, idx: np.ndarray, runs: list | None) -> None:
    """``dst[idx] = src[idx]`` for ascending ``idx`` (``runs`` as for _nonzero_rows), a run at a time where the
    rows come in runs."""
    if runs is None:
        dst[idx] = src[idx]
        return
    for a0, a1, _ in runs:
        dst[a0:a1] = src[a0:a1]


class DigestMemo:
    """Grains digested before in this process, by grain number: their bytes and their digest.

    Runs in one process (a worker of ``fadump-emu test`` or ``explore``, or a run that digests memory at
    the crash and then verifies the vmcore holding the same bytes) digest the same bytes at the same
    addresses again and again: the kernel image, its page cache, its tables. Comparing 4 KiB with the bytes
    kept here is several times cheaper than hashing them, and a grain whose bytes are equal has, exactly,
    the digest kept with them. A grain that differs is hashed and replaces what was kept. All-zero grains
    take the known ZERO digest. At most ``capacity`` grains are kept (new grains beyond are not kept).
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.used = 0
        """Slots 0..used-1 hold a grain."""
        self.data = np.zeros((0, GRAIN // 8), dtype=np.uint64)
        self.sums = np.zeros((0, DIGEST_SIZE), dtype=np.uint8)
        self.owner = np.zeros(0, dtype=np.int64)
        """The grain number kept in each slot."""
        self._keys = np.zeros(0, dtype=np.int64)
        self._key_slots = np.zeros(0, dtype=np.int64)
        """The kept grain numbers sorted, and their slots: a range of grains is looked up with two binary
        searches, not one dictionary look-up per grain."""
        self.hits = 0

    @property
    def slot(self) -> dict[int, int]:
        """Grain number -> slot, for every grain kept."""
        return dict(zip(self.owner[:self.used].tolist(), range(self.used)))

    def _grow(self, need: int) -> None:
        """Room for every slot at once: np.zeros takes pages the kernel hands out zeroed on first touch,
        so only slots used cost memory (growing by copies cost more than the digests saved)."""
        if not len(self.data):  # the first grain kept
            self.data = np.zeros((self.capacity, GRAIN // 8), dtype=np.uint64)
            self.sums = np.zeros((self.capacity, DIGEST_SIZE), dtype=np.uint8)
            self.owner = np.full(self.capacity, -1, dtype=np.int64)

    def slots(self, first: int, n: int) -> np.ndarray:
        """The slot of each grain first..first+n-1, -1 where it is not kept."""
        out = np.full(n, -1, dtype=np.int64)
        lo, hi = np.searchsorted(self._keys, [first, first + n])
        out[self._keys[lo:hi] - first] = self._key_slots[lo:hi]
        return out

    def digests(self, mv: memoryview, first: int) -> np.ndarray:
        n = len(mv) // GRAIN
        rows = np.frombuffer(mv, dtype=np.uint64).reshape(n, GRAIN // 8)
        slots = self.slots(first, n)
        s0 = int(slots[0])
        if s0 >= 0 and s0 + n <= self.used and (slots == np.arange(s0, s0 + n)).all():
            return self._in_a_row(mv, rows, s0, n)
        out = np.empty((n, DIGEST_SIZE), dtype=np.uint8)
        known = np.flatnonzero(slots >= 0)
        same = np.zeros(n, dtype=bool)
        if len(known):
            same[known] = _equal_rows(rows, known, self.data, slots[known])
            hit = known[same[known]]
            out[hit] = self.sums[slots[hit]]
            self.hits += len(hit)
        todo = np.flatnonzero(~same)
        if len(todo):
            zero = ~_nonzero_rows(rows, todo, _runs(todo, todo))
            out[todo[zero]] = np.frombuffer(ZERO, dtype=np.uint8)
            _hash_work(mv, rows, todo[~zero], out)
            self._keep(todo, slots, rows, out, first)
        return out

    def _in_a_row(self, mv: memoryview, rows: np.ndarray, s0: int, n: int) -> np.ndarray:
        """Every grain was kept, in consecutive slots: compare in place, hash and keep only what changed."""
        kept = self.data[s0:s0 + n]
        changed = np.flatnonzero(~same_rows(kept, rows))
        out = self.sums[s0:s0 + n].copy()
        self.hits += n - len(changed)
        if len(changed):
            runs = _runs(changed, changed)
            zero = ~_nonzero_rows(rows, changed, runs)
            out[changed[zero]] = np.frombuffer(ZERO, dtype=np.uint8)
            _hash_work(mv, rows, changed[~zero], out)
            _copy_rows(kept, rows, changed, runs)
            self.sums[s0 + changed] = out[changed]
        return out

    def _keep(self, todo: np.ndarray, slots: np.ndarray, rows: np.ndarray, out: np.ndarray, first: int) -> None:
        """Remember the grains just digested: in their old slot, or a new one while there is room."""
        old = todo[slots[todo] >= 0]
        new = todo[slots[todo] < 0][:max(0, self.capacity - self.used)]
        if len(new):
            base = self.used
            self._grow(base + len(new))
            slots[new] = np.arange(base, base + len(new))
            self.owner[base:base + len(new)] = new + first
            self.used += len(new)
            at = np.searchsorted(self._keys, new + first)  # new grains are ascending: merge, not re-sort
            self._keys = np.insert(self._keys, at, new + first)
            self._key_slots = np.insert(self._key_slots, at, np.arange(base, base + len(new)))
        kept = np.sort(np.concatenate([old, new]))
        runs = _runs(kept, slots[kept])
        if runs is None:
            self.data[slots[kept]] = rows[kept]
            self.sums[slots[kept]] = out[kept]
        for i0, i1, s in runs or ():
            self.data[s:s + i1 - i0] = rows[i0:i1]
            self.sums[s:s + i1 - i0] = out[i0:i1]

    def clear(self) -> None:
        self.__init__(self.capacity)


MEMO = DigestMemo(16384)
"""This process's digest memo: up to 16384 grains (64 MiB of kept bytes)."""


@dataclass
class CrashSnapshot:
    """Digests of memory at the crash, the memory map, and the excluded dump area."""

    time: float
    memory: list[Range]
    excluded: list[tuple[Range, str]]
    grains: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    digests: np.ndarray = field(default_factory=lambda: np.zeros((0, DIGEST_SIZE), dtype=np.uint8))
    pieces: dict[tuple[int, int], bytes] = field(default_factory=dict)
    """Digests of the parts of grains that an excluded range cuts: (start, end) -> digest."""

    @classmethod
    def take(cls, ram, memory: list[Range], excluded: list[tuple[Range, str]], time: float) -> "CrashSnapshot":
        snap = cls(time, list(memory), list(excluded))
        grains, digests = [], []
        for r in memory:
            for s, e in ram.touched_runs(r.start, r.end):
                s0, e0 = s - s % GRAIN, e + (-e) % GRAIN
                grains.append(np.arange(s0 // GRAIN, e0 // GRAIN, dtype=np.int64))
                for a in range(s0, e0, STEP):
                    digests.append(grain_digests(ram.view(a, min(e0, a + STEP) - a), a))
        if grains:
            snap.grains, snap.digests = np.concatenate(grains), np.concatenate(digests)
        for r, _ in excluded:
            for edge, keep_below in ((r.start, True), (r.end, False)):
                if edge % GRAIN:
                    g0 = edge - edge % GRAIN
                    a, b = (g0, edge) if keep_below else (edge, g0 + GRAIN)
                    snap.pieces[(a, b)] = digest(ram.read(a, b - a))
        return snap

    def expected(self, first: int, count: int) -> np.ndarray:
        """Crash-time digests of grains first..first+count-1 (the zero digest where never written)."""
        out = np.tile(np.frombuffer(ZERO, dtype=np.uint8), (count, 1))
        lo, hi = np.searchsorted(self.grains, [first, first + count])
        out[self.grains[lo:hi] - first] = self.digests[lo:hi]
        return out

    def written(self, grain: int) -> bool:
        i = np.searchsorted(self.grains, grain)
        return bool(i < len(self.grains) and self.grains[i] == grain)

    def grains_in(self, start: int, end: int) -> np.ndarray:
        """Written grain numbers that overlap physical [start, end)."""
        lo, hi = np.searchsorted(self.grains, [start // GRAIN, (end - 1) // GRAIN + 1])
        return self.grains[lo:hi]

    # --- the run folder ---

    def files(self, vmcore_name: str, saved: dict) -> dict[str, bytes]:
        """The files of digests/ for one vmcore, by name: <vmcore_name>.bin and .json (see the module's docstring);
        ``saved`` describes the vmcore file as written."""
        blob = self.grains.astype("<i8").tobytes() + np.ascontiguousarray(self.digests).tobytes()
        bin_name = f"{vmcore_name}.bin"
        header = {
            "fadump_emu_digests": FORMAT_VERSION,
            "algorithm": ALGORITHM, "grain": GRAIN, "zero_digest": ZERO.hex(),
            "crash_time": self.time,
            "crash_memory": [[r.start, r.end] for r in self.memory],
            "excluded": [[r.start, r.end, why] for r, why in self.excluded],
            "pieces": [[a, b, d.hex()] for (a, b), d in sorted(self.pieces.items())],
            "written_grains": len(self.grains),
            "binary": {"file": bin_name, "size": len(blob), "digest": digest(blob).hex()},
            "vmcore": {"name": vmcore_name, **saved},
        }
        return {bin_name: blob, f"{vmcore_name}.json": indented(header).encode()}

    def save(self, run_dir: str | os.PathLike, vmcore_name: str, saved: dict) -> Path:
        """Write digests/<vmcore_name>.json and .bin into ``run_dir`` now; the header's path. (A run that publishes
        through an output folder hands the files to it instead: OutputFolder.add_tree.)"""
        folder = Path(run_dir) / DIGEST_DIR
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.files(vmcore_name, saved).items():
            replace_with(folder / name, data)  # a link planted there is replaced, never written through
        return folder / f"{vmcore_name}.json"


def load(json_path: str | os.PathLike) -> tuple[CrashSnapshot, dict]:
    """A snapshot and its header back from digests/<name>.json; BadInputError when damaged."""
    json_path = Path(json_path)
    try:
        header = json.loads(json_path.read_text())
        if header.get("fadump_emu_digests") != FORMAT_VERSION or header.get("algorithm") != ALGORITHM:
            raise BadInputError(f"{json_path}: not a fadump-emu digest header of version {FORMAT_VERSION} "
                                f"({ALGORITHM})")
        binary = header["binary"]
        bin_path = json_path.parent / Path(binary["file"]).name
        if not bin_path.is_file() or bin_path.stat().st_size != binary["size"]:
            raise BadInputError(f"{bin_path}: missing or not {binary['size']} bytes; the digests cannot be used")
        blob = bin_path.read_bytes()
        if digest(blob).hex() != binary["digest"]:
            raise BadInputError(f"{bin_path}: its contents do not match the digest in {json_path.name}; "
                                "the digest file itself is damaged")
        n = header["written_grains"]
        if len(blob) != n * (8 + DIGEST_SIZE):
            raise BadInputError(f"{bin_path}: {len(blob)} bytes cannot hold {n} grains")
        snap = CrashSnapshot(float(header["crash_time"]),
                             [Range(int(a), int(b)) for a, b in header["crash_memory"]],
                             [(Range(int(a), int(b)), str(why)) for a, b, why in header["excluded"]])
        snap.grains = np.frombuffer(blob[:8 * n], dtype="<i8").astype(np.int64)
        snap.digests = np.frombuffer(blob[8 * n:], dtype=np.uint8).reshape(n, DIGEST_SIZE)
        snap.pieces = {(int(a), int(b)): bytes.fromhex(d) for a, b, d in header["pieces"]}
        return snap, header
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInputError(f"{json_path}: unreadable digest header ({exc})") from None
