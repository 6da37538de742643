"""memblock's top-down allocation (mm/memblock.c memblock_alloc() with the default top-down direction), as
the early memory a booting kernel takes for its memory model is laid out (kernels.sparsemem): the highest free
place that fits, aligned; what an alignment leaves over stays free.
"""

from emulator.hw.layout import Range


class TopDown:
    """memblock_alloc(): the highest free place that fits, each allocation aligned; slack stays free."""

    def __init__(self, free: list[Range]):
        self.free = [(r.start, r.end) for r in sorted(free, key=lambda r: r.start) if r.size]
        self.taken: list[Range] = []

    def alloc(self, size: int, align: int) -> int | None:
        for i in range(len(self.free) - 1, -1, -1):
            start, end = self.free[i]
            addr = (end - size) & ~(align - 1)
            if addr >= start:
                rest = [(a, b) for a, b in ((start, addr), (addr + size, end)) if b > a]
                self.free[i:i + 1] = rest
                self.taken.append(Range(addr, addr + size))
                return addr
        return None

    def must(self, size: int, align: int, what: str) -> int:
        addr = self.alloc(size, align)
        if addr is None:
            raise MemoryError(f"no room for {what} ({size:#x} bytes)")
        return addr

    def must_many(self, count: int, size: int, align: int, what: str) -> list[int]:
        """``count`` calls of must(size, align, what), the same addresses in the same order.

        When ``size`` is a multiple of ``align``, the allocations that follow one another down a free range
        are taken together: after the first, the slack above it is smaller than ``align`` (so smaller than
        ``size``) and every next one lies just below the one before.
        """
        if size % align:
            return [self.must(size, align, what) for _ in range(count)]
        out: list[int] = []
        while len(out) < count:
            for i in range(len(self.free) - 1, -1, -1):
                start, end = self.free[i]
                top = (end - size) & ~(align - 1)
                if top >= start:
                    break
            else:
                raise MemoryError(f"no room for {what} ({size:#x} bytes)")
            n = min(count - len(out), (top - start) // size + 1)
            low = top - (n - 1) * size
            out += range(top, low - 1, -size)
            self.free[i:i + 1] = [(a, b) for a, b in ((start, low), (top + size, end)) if b > a]
            self.taken.append(Range(low, top + size))
        return out
