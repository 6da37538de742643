"""Self-verification: what RAM held at the crash against what the vmcore says it held.

When firmware takes over, every 4 KiB grain of memory that was ever written is
fingerprinted (untouched grains are zero and cost nothing). After capture, each
PT_LOAD of the vmcore is read back through the vmcore's own read path and
compared grain by grain; crash-time memory that no PT_LOAD covers is named as
missing, PT_LOAD parts that were not memory at the crash as bogus.

The fingerprint is two 64-bit weighted sums of a grain's words with odd weights:
any change confined to one word always changes it, and vectorised it runs near
memory speed (a cryptographic hash would be 5x slower for no gain here).
"""

from dataclasses import dataclass, field

import numpy as np

from emulator.layout import Range, merge, subtract

GRAIN = 4096
"""Verification granularity: the smallest page size a ppc64 kernel uses."""
WORDS = GRAIN // 8
_RNG = np.random.default_rng(0x6661_6475_6D70)
_W1 = _RNG.integers(0, 2**63, WORDS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_W2 = _RNG.integers(0, 2**63, WORDS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


STEP = 8 << 20
"""Fingerprint in 8 MiB steps so temporaries stay small whatever the run length."""


def fingerprints(data) -> np.ndarray:
    """One 128-bit fingerprint (two uint64 columns) per whole grain of ``data``."""
    words = np.frombuffer(data, dtype=np.uint64).reshape(-1, WORDS)
    out = np.empty((len(words), 2), dtype=np.uint64)
    rows = STEP // GRAIN
    for i in range(0, len(words), rows):
        chunk = words[i:i + rows]
        np.sum(chunk * _W1, axis=1, out=out[i:i + rows, 0])
        np.sum(chunk * _W2, axis=1, out=out[i:i + rows, 1])
    return out


ZERO = fingerprints(np.zeros(GRAIN, dtype=np.uint8))[0]


@dataclass
class CrashSnapshot:
    """Fingerprints of memory at the crash, the memory map, and the excluded dump area."""

    time: float
    memory: list[Range]
    excluded: list[tuple[Range, str]]
    grains: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    prints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.uint64))
    edges: dict[int, bytes] = field(default_factory=dict)
    """Raw crash-time bytes of grains cut by an excluded range, for partial comparisons."""

    @classmethod
    def take(cls, ram, memory: list[Range], excluded: list[tuple[Range, str]], time: float) -> "CrashSnapshot":
        snap = cls(time, list(memory), list(excluded))
        grains, prints = [], []
        for r in memory:
            for s, e in ram.touched_runs(r.start, r.end):
                s0, e0 = s - s % GRAIN, e + (-e) % GRAIN
                grains.append(np.arange(s0 // GRAIN, e0 // GRAIN, dtype=np.int64))
                prints.append(fingerprints(ram.view(s0, e0 - s0)))
        if grains:
            snap.grains, snap.prints = np.concatenate(grains), np.concatenate(prints)
        for r, _ in excluded:
            for edge in (r.start, r.end):
                if edge % GRAIN:
                    g = edge // GRAIN
                    snap.edges[g] = ram.read(g * GRAIN, GRAIN)
        return snap

    def expected(self, first: int, count: int) -> np.ndarray:
        """Crash-time fingerprints of grains first..first+count-1 (zero where never written)."""
        out = np.tile(ZERO, (count, 1))
        lo, hi = np.searchsorted(self.grains, [first, first + count])
        out[self.grains[lo:hi] - first] = self.prints[lo:hi]
        return out


def verify(snap: CrashSnapshot, vmcore, ram, progress=None) -> dict:
    """Compare a ProcVmcore with the snapshot; a JSON-ready verdict."""
    loads = [Range(l.paddr, l.paddr + l.size) for l in vmcore.loads]
    bogus: list[Range] = []
    for r in loads:
        pieces = [r]
        for m in snap.memory:
            pieces = subtract(pieces, m)
        bogus += pieces
    overlapping = [str(a) for i, a in enumerate(loads) for b in loads[i + 1:] if a.overlaps(b)]
    missing = merge(snap.memory)
    for r in loads:
        missing = subtract(missing, r)
    for r, _ in snap.excluded:
        missing = subtract(missing, r)
    differs: list[Range] = []
    checked = 0
    unjudged: list[Range] = []
    for load in vmcore.loads:
        for lo, hi in _candidate_spans(snap, ram, load):
            checked += hi - lo
            differs += _compare(snap, vmcore, load, lo, hi, unjudged)
            if progress:
                progress(hi - lo)
    differs = merge(differs)
    return {
        "ok": not (bogus or missing or differs),
        "checked_bytes": checked,
        "covered_bytes": sum(r.size for r in merge(loads)),
        "crash_memory": [_range(r) for r in snap.memory],
        "excluded": [dict(_range(r), reason=why) for r, why in snap.excluded],
        "missing": [_range(r) for r in missing],
        "bogus": [_range(r) for r in merge(bogus)],
        "overlapping": overlapping,
        "differs": [_range(r) for r in differs[:64]],
        "differs_count": len(differs),
        # Parts of written grains cut by a PT_LOAD edge nobody foresaw: not compared, and said so.
        "unjudged": [_range(r) for r in unjudged],
    }


def _candidate_spans(snap: CrashSnapshot, ram, load) -> list[tuple[int, int]]:
    """Physical spans of the load worth reading: written at the crash, or written now at the source."""
    end = load.paddr + load.size
    spans = []
    lo, hi = np.searchsorted(snap.grains, [load.paddr // GRAIN, (end - 1) // GRAIN + 1])
    g = snap.grains[lo:hi]
    if len(g):
        breaks = np.flatnonzero(np.diff(g) != 1)
        starts = np.concatenate(([g[0]], g[breaks + 1]))
        stops = np.concatenate((g[breaks], [g[-1]])) + 1
        spans += [(int(a) * GRAIN, int(b) * GRAIN) for a, b in zip(starts, stops)]
    for s, e in ram.touched_runs(load.source, load.source + load.size):
        spans.append((load.paddr + s - load.source, load.paddr + e - load.source))
    out = []
    for a, b in sorted(spans):
        a, b = max(a - a % GRAIN, load.paddr), min(b + (-b) % GRAIN, end)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        elif a < b:
            out.append((a, b))
    return out


def _compare(snap: CrashSnapshot, vmcore, load, lo: int, hi: int, unjudged: list[Range]) -> list[Range]:
    """Grain ranges of [lo, hi) whose vmcore bytes differ from crash time."""
    out = []
    head = lo if lo % GRAIN == 0 else min(hi, lo + (-lo) % GRAIN)
    tail = hi - hi % GRAIN if hi % GRAIN else hi
    for a, b in ((lo, head), (max(head, tail), hi)):  # partial grains at unaligned load edges
        if a < b:
            verdict = _partial_matches(snap, vmcore, load, a, b)
            if verdict is None:
                unjudged.append(Range(a, b))
            elif not verdict:
                out.append(Range(a, b))
    for a in range(head, tail, STEP):
        b = min(tail, a + STEP)
        data = vmcore.read(load.file_offset + a - load.paddr, b - a)
        bad = np.flatnonzero((fingerprints(data) != snap.expected(a // GRAIN, (b - a) // GRAIN)).any(axis=1))
        out += [Range(a + int(i) * GRAIN, a + (int(i) + 1) * GRAIN) for i in bad]
    return out


def _partial_matches(snap: CrashSnapshot, vmcore, load, a: int, b: int) -> bool | None:
    got = vmcore.read(load.file_offset + a - load.paddr, b - a)
    g = a // GRAIN
    if g in snap.edges:
        raw = snap.edges[g]
        return got == raw[a - g * GRAIN:b - g * GRAIN]
    written = np.searchsorted(snap.grains, g)
    if written < len(snap.grains) and snap.grains[written] == g:
        return None  # a cut we did not foresee: a part of a fingerprinted grain cannot be judged
    return got == bytes(b - a)


def _range(r: Range) -> dict:
    return {"start": f"{r.start:#x}", "end": f"{r.end:#x}", "size": r.size}


def describe(result: dict) -> list[str]:
    """One line per problem, in words."""
    out = []
    for r in result["missing"]:
        out.append(f"missing from the vmcore: [{r['start']}, {r['end']}) ({r['size']} bytes of crash-time memory)")
    for r in result["bogus"]:
        out.append(f"bogus PT_LOAD: [{r['start']}, {r['end']}) was not memory at the crash")
    for r in result["overlapping"]:
        out.append(f"overlapping PT_LOADs at {r}")
    for r in result["differs"]:
        out.append(f"differs from crash-time memory: [{r['start']}, {r['end']})")
    for r in result.get("unjudged", []):
        out.append(f"not compared (a PT_LOAD edge cuts a written 4 KiB grain): [{r['start']}, {r['end']})")
    return out
