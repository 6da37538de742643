"""Which blocks of RAM were ever written: a lazily allocated, chunked bitmap.

Cost grows with the memory a scenario touches, not with the partition's size:
a 64 TiB partition that wrote 256 MiB keeps a few kilobytes of flags.
"""

from bisect import bisect_left, bisect_right, insort

import numpy as np

CHUNK_SHIFT = 14
"""Blocks per chunk: 16384 blocks of 64 KiB = 1 GiB of RAM per 16 KiB flag array."""
CHUNK = 1 << CHUNK_SHIFT
SMALL_WINDOW = 64
"""runs() over at most this many blocks of a chunk reads their flags instead of the chunk's remembered runs."""


def _runs_of(flags: np.ndarray, offset: int) -> tuple[list[int], list[int]]:
    """Starts and ends (half-open, plus ``offset``) of the runs of True in ``flags``."""
    idx = np.flatnonzero(flags)
    if not len(idx):
        return [], []
    breaks = np.flatnonzero(np.diff(idx) != 1)
    starts = np.concatenate((idx[:1], idx[breaks + 1])) + offset
    ends = np.concatenate((idx[breaks] + 1, idx[-1:] + 1)) + offset
    return starts.tolist(), ends.tolist()


class TouchMap:
    """Per-block "ever written" flags, allocated one chunk at a time."""

    def __init__(self, blocks: int):
        self.blocks = blocks
        self._chunks: dict[int, np.ndarray] = {}
        self._order: list[int] = []
        self._runs: dict[int, tuple[list[int], list[int]]] = {}
        """Per chunk, its flagged runs (starts, ends) as last computed; dropped when the chunk is marked."""

    def mark(self, first: int, last: int) -> None:
        """Flag blocks first..last (inclusive)."""
        c = first >> CHUNK_SHIFT
        if c == last >> CHUNK_SHIFT and c in self._chunks:  # the common case: one chunk already there
            base = c << CHUNK_SHIFT
            self._chunks[c][first - base:last - base + 1] = True
            self._runs.pop(c, None)
            return
        for c in range(first >> CHUNK_SHIFT, (last >> CHUNK_SHIFT) + 1):
            flags = self._chunks.get(c)
            if flags is None:
                flags = self._chunks[c] = np.zeros(CHUNK, dtype=bool)
                insort(self._order, c)
            lo = max(first, c << CHUNK_SHIFT) - (c << CHUNK_SHIFT)
            hi = min(last, ((c + 1) << CHUNK_SHIFT) - 1) - (c << CHUNK_SHIFT)
            flags[lo:hi + 1] = True
            self._runs.pop(c, None)

    def runs(self, first: int, last: int) -> list[tuple[int, int]]:
        """Half-open block runs [b0, b1) of flagged blocks within first..last, merged."""
        out: list[tuple[int, int]] = []
        i = bisect_left(self._order, first >> CHUNK_SHIFT)
        while i < len(self._order) and self._order[i] <= last >> CHUNK_SHIFT:
            c = self._order[i]
            i += 1
            base = c << CHUNK_SHIFT
            lo, hi = max(first, base) - base, min(last, base + CHUNK - 1) - base + 1
            if hi - lo <= SMALL_WINDOW:  # a few blocks (a record zeroed, a struct written): look at them directly
                flags = self._chunks[c][lo:hi]
                if flags.all():
                    starts, ends = [lo], [hi]
                elif not flags.any():
                    continue
                else:
                    starts, ends = _runs_of(flags, lo)
            else:
                starts, ends = self._chunk_runs(c)
            j = bisect_right(ends, lo)  # the first run that ends after lo
            while j < len(starts) and starts[j] < hi:
                s, e = base + max(starts[j], lo), base + min(ends[j], hi)
                j += 1
                if out and out[-1][1] == s:
                    out[-1] = (out[-1][0], e)
                else:
                    out.append((s, e))
        return out

    def _chunk_runs(self, c: int) -> tuple[list[int], list[int]]:
        """The flagged runs of chunk ``c`` (block numbers within it): starts and ends, computed once per change."""
        got = self._runs.get(c)
        if got is None:
            got = self._runs[c] = _runs_of(self._chunks[c], 0)
        return got

    def count(self) -> int:
        """How many blocks are flagged."""
        return int(sum(int(f.sum()) for f in self._chunks.values()))

    @property
    def nbytes(self) -> int:
        """Memory the flags themselves take."""
        return len(self._chunks) * CHUNK
