"""Self-verification: what RAM held at the crash against what the vmcore says it held.

At the moment firmware takes over, every 4 KiB grain of memory that was ever
written is hashed (untouched grains are zero and cost nothing). After capture,
each PT_LOAD of the vmcore is read back grain by grain through the vmcore's own
read path and compared; crash-time memory that no PT_LOAD covers is named as
missing, PT_LOADs that describe no crash-time memory as bogus.
"""

import hashlib
from dataclasses import dataclass, field

from emulator.layout import Range, merge, subtract

GRAIN = 4096
"""Verification granularity: the smallest page size a ppc64 kernel uses."""
ZERO = hashlib.blake2b(bytes(GRAIN), digest_size=16).digest()


def _hash(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


@dataclass
class CrashSnapshot:
    """Grain hashes of memory at the crash, the memory map, and the excluded dump area."""

    time: float
    memory: list[Range]
    excluded: list[tuple[Range, str]]
    hashes: dict[int, bytes] = field(default_factory=dict)

    @classmethod
    def take(cls, ram, memory: list[Range], excluded: list[tuple[Range, str]], time: float) -> "CrashSnapshot":
        snap = cls(time, list(memory), list(excluded))
        for r in memory:
            for s, e in ram.touched_runs(r.start, r.end):
                view = ram.view(s, e - s)
                for off in range(0, e - s, GRAIN):
                    snap.hashes[(s + off) // GRAIN] = _hash(view[off:off + GRAIN].tobytes())
        return snap


def verify(snap: CrashSnapshot, vmcore, ram) -> dict:
    """Compare a ProcVmcore with the snapshot; a JSON-ready verdict."""
    loads = [Range(l.paddr, l.paddr + l.size) for l in vmcore.loads]
    bogus: list[Range] = []
    for r in loads:  # the parts of each PT_LOAD that were not memory at the crash
        pieces = [r]
        for m in snap.memory:
            pieces = subtract(pieces, m)
        bogus += pieces
    bogus = merge(bogus)
    overlapping = [str(a) for i, a in enumerate(loads) for b in loads[i + 1:] if a.overlaps(b)]
    missing = merge(snap.memory)
    for r in loads:
        missing = subtract(missing, r)
    for r, _ in snap.excluded:
        missing = subtract(missing, r)
    differs: list[Range] = []
    checked = 0
    for load in vmcore.loads:
        grains = set()
        first, last = load.paddr // GRAIN, (load.paddr + load.size - 1) // GRAIN
        grains.update(g for g in snap.hashes if first <= g <= last)
        for s, e in ram.touched_runs(load.source, load.source + load.size):
            lo = load.paddr + (s - load.source)
            hi = load.paddr + (e - load.source)
            grains.update(range(lo // GRAIN, (hi - 1) // GRAIN + 1))
        for g in sorted(grains):
            start = max(g * GRAIN, load.paddr)
            end = min((g + 1) * GRAIN, load.paddr + load.size)
            data = vmcore.read(load.file_offset + start - load.paddr, end - start)
            checked += len(data)
            expected = snap.hashes.get(g, ZERO)
            if end - start != GRAIN:
                continue  # partial grains are not hashed (ranges are page aligned in practice)
            if _hash(data) != expected:
                differs.append(Range(start, end))
    differs = merge(differs)
    ok = not (bogus or missing or differs)
    return {
        "ok": ok,
        "checked_bytes": checked,
        "covered_bytes": sum(r.size for r in merge(loads)),
        "crash_memory": [_range(r) for r in snap.memory],
        "excluded": [dict(_range(r), reason=why) for r, why in snap.excluded],
        "missing": [_range(r) for r in missing],
        "bogus": [_range(r) for r in bogus],
        "overlapping": overlapping,
        "differs": [_range(r) for r in differs[:64]],
        "differs_count": len(differs),
    }


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
    return out
