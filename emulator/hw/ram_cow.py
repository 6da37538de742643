"""Copy-on-write copies inside PartitionRAM: the half of RAM that moves bytes late.

PartitionRAM.copy() between ranges that do not overlap records the destination's
whole blocks as aliases of their source (ram_alias.AliasTable) and moves nothing;
a write to either side later copies, for real, only the blocks it touches
(_before_write, _materialise). Overlapping copies and the partial blocks at the
ends of any copy move at once (_copy_now), exactly like memmove.

A mixin of PartitionRAM: it works on the RAM's mapping (_map, _bytes), its
written-block map (_touched) and its alias table (_aliases).
"""

import mmap

BLOCK_SHIFT = 16
BLOCK_SIZE = 1 << BLOCK_SHIFT
"""Granularity of write tracking and of copy-on-write; independent of the guest kernel's page size."""
MADV_POPULATE_WRITE = 23
POPULATE_MIN = 4 << 20
"""Copies at least this large pre-fault their destination (cheaper than one fault per page)."""


class CopyOnWrite:
    """PartitionRAM's copying: at once (_copy_now) or as aliases made real when written (_copy_lazily)."""

    def _copy_now(self, src: int, dst: int, length: int, progress) -> int:
        # The source is made real first: the destination may overlap it, and dropping the
        # destination's aliases (it is about to be overwritten) must not lose source bytes.
        self._materialise(src >> BLOCK_SHIFT, ((src + length - 1) >> BLOCK_SHIFT) + 1)
        self._before_write(dst, length)
        spans = [(s - src, e - src) for s, e in self.touched_runs(src, src + length)]
        spans += [(s - dst, e - dst) for s, e in self.touched_runs(dst, dst + length)]
        # memmove: when dst is above src, copy the highest span first so that no
        # span reads source bytes an earlier span has already overwritten.
        merged = merge_spans(spans)
        moved = 0
        for lo, hi in (reversed(merged) if dst > src else merged):
            self._populate(dst + lo, hi - lo)
            self._bytes[dst + lo:dst + hi] = self._bytes[src + lo:src + hi]
            self._mark(dst + lo, hi - lo)
            moved += hi - lo
            if progress:
                progress(hi - lo)
        return moved

    def _copy_lazily(self, src: int, dst: int, length: int, progress) -> int:
        """Copy between ranges that do not overlap: whole destination blocks become aliases,
        the partial blocks at either end are copied now."""
        w0, w1 = -(-dst >> BLOCK_SHIFT), (dst + length) >> BLOCK_SHIFT
        if w0 >= w1:
            return self._copy_now(src, dst, length, progress)
        moved = 0
        head, tail = (w0 << BLOCK_SHIFT) - dst, dst + length - (w1 << BLOCK_SHIFT)
        if head:
            moved += self._copy_now(src, dst, head, progress)
        if tail:
            moved += self._copy_now(src + length - tail, w1 << BLOCK_SHIFT, tail, progress)
        first = src + head  # the byte block w0 reads
        self._materialise_readers(w0, w1)  # whatever reads the destination gets its copy first
        plan = self._plan(first, w1 - w0)
        plan = [(x0 + w0, x1 + w0, where) for x0, x1, where in plan]
        self._aliases.remove(w0, w1)
        for b0, b1 in _subtract(self._touched.runs(w0, w1 - 1), [(d0, d1) for d0, d1, _ in plan]):
            self._bytes[b0 << BLOCK_SHIFT:b1 << BLOCK_SHIFT] = 0  # written before, zero in the source
        for d0, d1, where in plan:
            if self._stale_count:  # an alias's own bytes are never read: it stops being stale as it is
                self._unstale(d0 << BLOCK_SHIFT, (d1 - d0) << BLOCK_SHIFT, overwritten=True)
            self._aliases.add(d0, d1, where)
            self._touched.mark(d0, d1 - 1)
            moved += (d1 - d0) << BLOCK_SHIFT
            if progress:
                progress((d1 - d0) << BLOCK_SHIFT)
        return moved

    def _plan(self, first: int, blocks: int) -> list[tuple[int, int, int]]:
        """Where ``blocks`` blocks of bytes from ``first`` on live, skipping never-written ones:
        (x0, x1, src) with x counted from 0."""
        end = first + (blocks << BLOCK_SHIFT)
        b0, b1 = first >> BLOCK_SHIFT, ((end - 1) >> BLOCK_SHIFT) + 1
        if first & (BLOCK_SIZE - 1):
            self._materialise(b0, b1)  # an unaligned source reads real bytes only
            out: list[tuple[int, int, int]] = []
            for t0, t1 in self._touched.runs(b0, b1 - 1):
                x0 = max(0, ((t0 << BLOCK_SHIFT) - first) >> BLOCK_SHIFT)
                x1 = min(blocks, -(-((t1 << BLOCK_SHIFT) - first) >> BLOCK_SHIFT))
                if out and out[-1][1] >= x0:
                    out[-1] = (out[-1][0], max(out[-1][1], x1), out[-1][2])
                else:
                    out.append((x0, x1, first + (x0 << BLOCK_SHIFT)))
            return out
        return [(x0 - b0, x1 - b0, where) for t0, t1 in self._touched.runs(b0, b1 - 1)
                for x0, x1, where in self._aliases.resolve(t0, t1)]

    def _aliased(self, addr: int, length: int) -> bool:
        return length > 0 and self._aliases.touches_dst(addr >> BLOCK_SHIFT, ((addr + length - 1) >> BLOCK_SHIFT) + 1)

    def _pieces(self, addr: int, length: int) -> list[tuple[int, int]]:
        """[addr, addr+length) as (where the bytes live, how many), in order."""
        out = []
        end = addr + length
        for x0, x1, where in self._aliases.resolve(addr >> BLOCK_SHIFT, ((end - 1) >> BLOCK_SHIFT) + 1):
            lo, hi = max(addr, x0 << BLOCK_SHIFT), min(end, x1 << BLOCK_SHIFT)
            p = lo - (x0 << BLOCK_SHIFT) + where
            if out and out[-1][0] + out[-1][1] == p:
                out[-1] = (out[-1][0], out[-1][1] + hi - lo)
            else:
                out.append((p, hi - lo))
        return out

    def _before_write(self, addr: int, length: int) -> None:
        """Before [addr, addr+length) changes: copies that read from it are made, and aliases
        there are dropped (blocks wholly overwritten) or made (blocks written in part)."""
        if length <= 0:
            return
        b0, b1 = addr >> BLOCK_SHIFT, ((addr + length - 1) >> BLOCK_SHIFT) + 1
        self._materialise_readers(b0, b1)
        if not self._aliases.touches_dst(b0, b1):
            return
        whole0, whole1 = -(-addr >> BLOCK_SHIFT), (addr + length) >> BLOCK_SHIFT
        if whole0 < whole1:
            self._materialise(b0, whole0)
            self._materialise(whole1, b1)
            self._aliases.remove(whole0, whole1)
        else:
            self._materialise(b0, b1)

    def _materialise_readers(self, b0: int, b1: int) -> None:
        """Make the copies whose source lies in blocks [b0, b1)."""
        if self._aliases.touches_src(b0, b1):
            for d0, d1, _ in self._aliases.reading(b0, b1):
                self._materialise(d0, d1)

    def _materialise(self, b0: int, b1: int) -> None:
        """Copy for real the aliased destination blocks within [b0, b1)."""
        if b0 >= b1 or not self._aliases.touches_dst(b0, b1):
            return
        for d0, d1, src in self._aliases.in_dst(b0, b1):
            n = (d1 - d0) << BLOCK_SHIFT
            self.copied_late += n
            self._populate(d0 << BLOCK_SHIFT, n)
            self._bytes[d0 << BLOCK_SHIFT:(d0 << BLOCK_SHIFT) + n] = self._bytes[src:src + n]
        self._aliases.remove(b0, b1)

    def _populate(self, addr: int, length: int) -> None:
        """Fault in destination pages in one go before a bulk copy.

        MADV_POPULATE_WRITE (Linux 5.14) roughly doubles first-touch speed; where
        the host lacks it the copy simply faults the pages in itself.
        """
        if length < POPULATE_MIN:
            return
        start = addr - addr % mmap.PAGESIZE
        try:
            self._map.madvise(MADV_POPULATE_WRITE, start, length + (addr - start))
        except OSError:
            pass


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of half-open intervals, sorted."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _subtract(runs: list[tuple[int, int]], covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of sorted half-open ``runs`` outside the sorted, disjoint ``covered`` intervals."""
    out, i = [], 0
    for lo, hi in runs:
        while i < len(covered) and covered[i][1] <= lo:
            i += 1
        j = i
        while lo < hi:
            if j < len(covered) and covered[j][0] < hi:
                if covered[j][0] > lo:
                    out.append((lo, covered[j][0]))
                lo = max(lo, covered[j][1])
                j += 1
            else:
                out.append((lo, hi))
                break
    return out
