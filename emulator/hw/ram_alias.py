"""Copy-on-write aliases for partition RAM: destination blocks that read as other bytes.

A firmware copy of boot memory into the dump area only has to behave like a
copy. PartitionRAM records it here as aliases instead of moving the bytes:
destination blocks ``[d0, d1)`` read as the bytes from address ``src`` on
(block ``d0 + i`` reads ``[src + i * size, src + (i + 1) * size)``) until
either side is written, and then only the blocks written are materialised
(copied for real). The source need not be block-aligned: the 6.10 dump area
starts on a 64 KiB boundary, the 3.4 one does not.

Invariant kept by PartitionRAM: the bytes an alias reads never lie in an
aliased destination block, so one look-up finds where a block's bytes live.
Destinations are block numbers, sources byte addresses; intervals are half-open.
"""

from bisect import bisect_right, insort


class AliasTable:
    """Sorted, non-overlapping destination block intervals, each with the byte address it reads from."""

    def __init__(self, block_size: int):
        self.block = block_size
        self._items: list[tuple[int, int, int]] = []
        """(d0, d1, src) sorted by d0; destination intervals never overlap."""
        self._bounds()

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[int, int, int]]:
        return list(self._items)

    def blocks(self) -> int:
        """How many destination blocks read as other bytes."""
        return sum(d1 - d0 for d0, d1, _ in self._items)

    def _bounds(self) -> None:
        B = self.block
        if self._items:
            self._dst_lo, self._dst_hi = self._items[0][0], self._items[-1][1]
            self._src_lo = min(src for _, _, src in self._items)
            self._src_hi = max(src + (d1 - d0) * B for d0, d1, src in self._items)
        else:
            self._src_lo = self._src_hi = self._dst_lo = self._dst_hi = 0

    # --- queries ---

    def touches_dst(self, b0: int, b1: int) -> bool:
        """Quick test: might any aliased destination lie in blocks [b0, b1)?"""
        return b0 < self._dst_hi and b1 > self._dst_lo

    def touches_src(self, b0: int, b1: int) -> bool:
        """Quick test: might any alias read bytes of blocks [b0, b1)?"""
        return b0 * self.block < self._src_hi and b1 * self.block > self._src_lo

    def in_dst(self, b0: int, b1: int) -> list[tuple[int, int, int]]:
        """The aliases clipped to destination blocks [b0, b1), in order: (d0, d1, src)."""
        out = []
        i = max(0, bisect_right(self._items, (b0, float("inf"), 0)) - 1)
        while i < len(self._items) and self._items[i][0] < b1:
            d0, d1, src = self._items[i]
            lo, hi = max(d0, b0), min(d1, b1)
            if lo < hi:
                out.append((lo, hi, src + (lo - d0) * self.block))
            i += 1
        return out

    def reading(self, b0: int, b1: int) -> list[tuple[int, int, int]]:
        """The aliases clipped to the destination blocks that read bytes of blocks [b0, b1): (d0, d1, src)."""
        B, out = self.block, []
        for d0, d1, src in self._items:
            lo = d0 + max(0, (b0 * B - src) // B)
            hi = d0 + min(d1 - d0, -(-(b1 * B - src) // B))
            if lo < hi:
                out.append((lo, hi, src + (lo - d0) * B))
        return out

    def resolve(self, b0: int, b1: int) -> list[tuple[int, int, int]]:
        """Blocks [b0, b1) as pieces (x0, x1, src): blocks x0..x1 read the bytes from ``src`` on."""
        out, pos = [], b0
        for d0, d1, src in self.in_dst(b0, b1):
            if pos < d0:
                out.append((pos, d0, pos * self.block))
            out.append((d0, d1, src))
            pos = d1
        if pos < b1:
            out.append((pos, b1, pos * self.block))
        return out

    # --- changes ---

    def remove(self, b0: int, b1: int) -> None:
        """Forget the aliases of destination blocks [b0, b1) (cutting intervals that straddle it)."""
        if b0 >= b1 or not self.touches_dst(b0, b1):
            return
        kept = []
        for d0, d1, src in self._items:
            if d1 <= b0 or d0 >= b1:
                kept.append((d0, d1, src))
                continue
            if d0 < b0:
                kept.append((d0, b0, src))
            if d1 > b1:
                kept.append((b1, d1, src + (b1 - d0) * self.block))
        self._items = kept
        self._bounds()

    def add(self, d0: int, d1: int, src: int) -> None:
        """Destination blocks [d0, d1) now read the bytes from ``src`` on; older aliases there are gone."""
        if d0 >= d1 or src == d0 * self.block:
            return
        insort(self._items, (d0, d1, src))
        merged: list[tuple[int, int, int]] = []
        for item in self._items:
            if merged:
                p0, p1, psrc = merged[-1]
                if p1 == item[0] and psrc + (p1 - p0) * self.block == item[2]:
                    merged[-1] = (p0, item[1], psrc)
                    continue
            merged.append(item)
        self._items = merged
        self._bounds()

    def clear(self) -> None:
        self._items = []
        self._bounds()
