"""Which scenario a worker of ``fadump-emu test``'s local pool runs next: each worker claims its own.

A worker prefers a scenario like the one it just ran (the same memory size and kernel profile: the same
affinity key). Such a scenario writes its kernels, struct pages and scratch at the same physical addresses,
so the worker's RAM pages are already there (PartitionRAM.reset keeps them) and the digest memo already
holds most of the bytes it will digest. Measured on the bundled suite, by fork-based simulation on the 2-core
development machine: grouping by key took a worker's page faults from about 1,590 to 1,180 per scenario and
its CPU per scenario down by about 8%.

Otherwise, and always for the last few scenarios, a worker takes the longest scenario left (dispatch order),
so that the workers run out of work at about the same moment.

The claims are shared by every worker of one pool: one flag per scenario (taken or not) and a count of those
left, in shared memory behind one lock. Each worker keeps its own cursors into the dispatch order and into
each key's scenarios; flags only ever go from free to taken, so a cursor never has to go back.
"""

TAIL_PER_WORKER = 2
"""When no more than this many scenarios per worker are left, a worker takes the longest one left whatever its
key: the end of the run is balanced as with dispatch order alone."""


def affinity_key(scenario) -> str:
    """What makes two scenarios touch the same host memory: partition size and kernel profile."""
    return f"{scenario.machine.memory}:{scenario.kernel.profile}"


class Claims:
    """The claims of one pool, as one worker sees them (see the module's docstring)."""

    def __init__(self, order: list[int], keys: list[str | None], taken, left, lock, workers: int):
        self.order = order
        self.keys = keys
        self.taken = taken
        """Shared: 1 where some worker claimed the scenario."""
        self.left = left
        """Shared: how many scenarios nobody claimed yet."""
        self.lock = lock
        self.workers = workers
        self.by_key: dict[str, list[int]] = {}
        for i in order:
            if keys[i] is not None:
                self.by_key.setdefault(keys[i], []).append(i)
        self._cursor: dict[str | None, int] = {}
        """Per key (None: the dispatch order), how far this worker has found every task taken."""
        self.last: str | None = None
        """The key of the scenario this worker ran last."""

    def _first_free(self, key: str | None, seq: list[int]) -> int | None:
        pos = self._cursor.get(key, 0)
        while pos < len(seq) and self.taken[seq[pos]]:
            pos += 1
        self._cursor[key] = pos
        return seq[pos] if pos < len(seq) else None

    def claim(self) -> int | None:
        """The index of the scenario this worker runs next, now marked taken; None when none is left."""
        with self.lock:
            if self.left.value <= 0:
                return None
            pick = None
            if self.last is not None and self.left.value > TAIL_PER_WORKER * self.workers:
                pick = self._first_free(self.last, self.by_key.get(self.last, []))
            if pick is None:
                pick = self._first_free(None, self.order)
            self.taken[pick] = 1
            self.left.value -= 1
        self.last = self.keys[pick]
        return pick
