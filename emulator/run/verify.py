"""Self-verification: what RAM held at the crash against what a vmcore says it held.

The crash-time side is a CrashSnapshot of per-grain BLAKE3 digests
(emulator.run.digests). The vmcore side is a dump source (emulator.run.dump_sources):
the saved file read back from disk (ELF, full or filtered, or
kdump-compressed), or, when nothing was saved, the capture kernel's
/proc/vmcore view. Every grain the dump holds that was written at the crash,
or that holds data now, is read and digested; crash-time memory no PT_LOAD
covers is named as missing, PT_LOAD parts that were not memory as bogus, and
a file cut short or grown is named with the byte range concerned.

A filtered dump (makedumpfile, or --format filtered) leaves pages out by
design: only the pages it kept are checked, and what it left out is counted,
not called missing.
"""

import numpy as np

from emulator.run.digests import DIGEST_SIZE, GRAIN, STEP, ZERO, CrashSnapshot, digest, grain_digests
from emulator.run.events import Event, EventBus, Lifecycle
from emulator.hw.layout import Range, merge, subtract

MAX_LISTED = 64
"""Ranges listed per kind in a verdict (the counts are always complete)."""


class SnapshotAtDump:
    """Memory as the crash left it, digested when firmware takes over (a subscriber of Lifecycle.DUMP); what a
    vmcore is verified against. Power lost during the dump leaves nothing to verify."""

    def __init__(self, bus: EventBus):
        self.current: CrashSnapshot | None = None
        bus.subscribe(Lifecycle.DUMP, self.take)
        bus.subscribe(Lifecycle.POWER_LOSS, self.forget)

    def take(self, ev: Event) -> None:
        """The partition's memory at the crash, less the dump area the kernel reserved (excluded by design)."""
        m, area = ev.machine, ev.kernel.reserved_area
        excluded = [(area, "fadump reserved dump area (excluded by design)")] if area else []
        with ev.result.timed("snapshot"):
            self.current = CrashSnapshot.take(m.ram, m.layout.memblock_memory(), excluded, m.env.now)

    def forget(self, ev: Event) -> None:
        self.current = None


def verify(snap: CrashSnapshot, source, progress=None) -> dict:
    """Compare a dump source with the snapshot; a JSON-ready verdict."""
    loads = [Range(p, p + m) for p, m in source.covered()]
    bogus: list[Range] = []
    for r in loads:
        pieces = [r]
        for m in snap.memory:
            pieces = subtract(pieces, m)
        bogus += pieces
    overlapping = [str(a) for i, a in enumerate(sorted(loads)) for b in sorted(loads)[i + 1:] if a.overlaps(b)]
    absent = merge(snap.memory)
    for r in loads:
        absent = subtract(absent, r)
    for r, _ in snap.excluded:
        absent = subtract(absent, r)
    filtered = source.filtered
    differs: list[Range] = []
    unjudged: list[Range] = []
    checked = 0
    excluded = merge([r for r, _ in snap.excluded])
    for paddr, data in source.chunks(snap):
        data = memoryview(data).cast("B")  # slices below are views, not copies
        for a, b in _outside(paddr, paddr + len(data), excluded):
            checked += b - a
            differs += _compare(snap, a, data[a - paddr:b - paddr], unjudged)
        if progress:
            progress(len(data))
    differs = merge(differs)
    problems = list(source.problems)
    lost = _written_nonzero(snap, absent) if filtered and getattr(source, "drops_only_zero", False) else []
    return {
        "ok": not (bogus or differs or problems or lost or (absent and not filtered)),
        "source": source.describe(),
        "filtered": filtered,
        "checked_bytes": checked,
        "covered_bytes": sum(r.size for r in merge(loads)),
        "crash_memory": [_range(r) for r in snap.memory],
        "excluded": [dict(_range(r), reason=why) for r, why in snap.excluded],
        "missing": [_range(r) for r in (lost if filtered else absent)[:MAX_LISTED]],
        "filtered_out_bytes": sum(r.size for r in absent) if filtered else 0,
        "bogus": [_range(r) for r in merge(bogus)[:MAX_LISTED]],
        "overlapping": overlapping[:MAX_LISTED],
        "differs": [_range(r) for r in differs[:MAX_LISTED]],
        "differs_count": len(differs),
        "file_problems": problems,
        # Parts of written grains cut by a PT_LOAD edge nobody foresaw: not compared, and said so.
        "unjudged": [_range(r) for r in unjudged[:MAX_LISTED]],
    }


def _written_nonzero(snap: CrashSnapshot, absent: list[Range]) -> list[Range]:
    """Grains of ``absent`` that held non-zero data at the crash (a zero-page filter must not drop them)."""
    zero = np.frombuffer(ZERO, dtype=np.uint8)
    out = []
    for r in absent:
        lo, hi = np.searchsorted(snap.grains, [r.start // GRAIN, (r.end - 1) // GRAIN + 1])
        nonzero = (snap.digests[lo:hi] != zero).any(axis=1)
        out += [Range(int(g) * GRAIN, int(g) * GRAIN + GRAIN) for g in snap.grains[lo:hi][nonzero]]
    return merge(out)


def _outside(lo: int, hi: int, excluded: list[Range]) -> list[tuple[int, int]]:
    """[lo, hi) without the excluded ranges: memory a dump may hold but nobody judges (the dump area)."""
    pieces = [Range(lo, hi)]
    for r in excluded:
        if r.start < hi and lo < r.end:
            pieces = subtract(pieces, r)
    return [(r.start, r.end) for r in pieces]


def _compare(snap: CrashSnapshot, paddr: int, data: bytes, unjudged: list[Range]) -> list[Range]:
    """Grain ranges of the span [paddr, paddr+len(data)) whose bytes differ from crash time."""
    out = []
    end = paddr + len(data)
    head = min(end, paddr + (-paddr) % GRAIN)
    tail = max(head, end - end % GRAIN)
    for a, b in ((paddr, head), (tail, end)):  # partial grains at unaligned span edges
        if a < b:
            verdict = _partial_matches(snap, a, data[a - paddr:b - paddr])
            if verdict is None:
                unjudged.append(Range(a, b))
            elif not verdict:
                out.append(Range(a, b))
    if tail > head:
        got = grain_digests(memoryview(data)[head - paddr:tail - paddr], head)
        want = snap.expected(head // GRAIN, (tail - head) // GRAIN)
        bad = np.flatnonzero((got != want).any(axis=1))
        out += [Range(head + int(i) * GRAIN, head + (int(i) + 1) * GRAIN) for i in bad]
    return out


def _partial_matches(snap: CrashSnapshot, a: int, got: bytes) -> bool | None:
    """Part of one grain: judged by a piece digest, by zeros when never written, else not at all."""
    b = a + len(got)
    if (a, b) in snap.pieces:
        return digest(got) == snap.pieces[(a, b)]
    if snap.written(a // GRAIN):
        return None  # a cut we did not foresee: a part of a digested grain cannot be judged
    return got == bytes(len(got))


def candidate_spans(snap: CrashSnapshot, lo: int, hi: int, data_runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Physical spans of [lo, hi) worth reading: written at the crash, or holding data in the dump now."""
    spans = _grain_runs(snap.grains_in(lo, hi)) + list(data_runs)
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        a, b = max(a - a % GRAIN, lo), min(b + (-b) % GRAIN, hi)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        elif a < b:
            out.append((a, b))
    return out


def _grain_runs(g: np.ndarray) -> list[tuple[int, int]]:
    if not len(g):
        return []
    breaks = np.flatnonzero(np.diff(g) != 1)
    starts = np.concatenate(([g[0]], g[breaks + 1]))
    stops = np.concatenate((g[breaks], [g[-1]])) + 1
    return [(int(a) * GRAIN, int(b) * GRAIN) for a, b in zip(starts, stops)]


def read_spans(spans: list[tuple[int, int]], read):
    """(paddr, bytes) in STEP-sized pieces; ``read(paddr, size)`` gives the dump's bytes (which may be a view
    of a buffer that the next read reuses: each piece is valid until the next one is asked for)."""
    for a, b in spans:
        for x in range(a, b, STEP):
            y = min(b, x + STEP)
            yield x, read(x, y - x)


def _range(r: Range) -> dict:
    return {"start": f"{r.start:#x}", "end": f"{r.end:#x}", "size": r.size}


def describe(result: dict) -> list[str]:
    """One line per problem, in words."""
    out = []
    for p in result.get("file_problems", []):
        out.append(p)
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


__all__ = ["CrashSnapshot", "DIGEST_SIZE", "GRAIN", "ZERO", "verify", "describe", "candidate_spans", "read_spans"]
