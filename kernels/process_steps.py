"""What a kernel does as SimPy steps of its process: RTAS calls that wait while firmware is busy, sysfs writes
that reach firmware, and the checkpoints that end each boot step. There is one clock (the SimPy environment's):
a busy wait is a timeout other processes see pass. Mixed into kernels.base.Kernel.
"""

import errno
from collections.abc import Callable, Generator
from dataclasses import dataclass
from inspect import isgenerator

import simpy

from firmware.abi import busy_delay_ms

RTAS_TIMED_OUT = -errno.ETIMEDOUT
"""What a bounded rtas call returns when firmware stayed busy too long (never an RTAS status)."""


@dataclass
class SysfsFile:
    """A sysfs attribute: show() returns text; store(text) returns count or -errno, or, for a store that
    reaches firmware, a generator of the writing process's SimPy steps whose value is that."""

    show: Callable[[], str] | None = None
    store: Callable[[str], int | Generator] | None = None


class Checkpoint(simpy.Timeout):
    """A boot step that ends after ``delay``: a lifecycle boundary, where explore may inject a crash.

    boot_sequence() yields these; anything else it yields (a busy-wait inside an RTAS call) is only time passing.
    """


class ProcessSteps:
    """rtas_call(), sysfs_read(), sysfs_write() and settle() of a Kernel."""

    def settle(self, steps: Generator):
        """Run ``steps`` (a generator of SimPy steps, e.g. a sysfs_write) on the machine's clock to its end and
        return its value: for tests and tools that drive a kernel outside a run's processes."""
        env = self.machine.env
        process = env.process(steps)
        env.run(until=process)
        return process.value

    def rtas_call(self, name: str, *args: int, busy_limit_ms: float | None = None):
        """rtas_call() retried while busy (rtas_busy_delay_time + mdelay, arch/powerpc/kernel/rtas.c, 3.4-7.2).

        SimPy steps of the calling kernel's process: each busy wait is a timeout on the one clock, so other
        processes see the time pass. The value is the status, or None if the call never returns. A fault hook may
        hand back an event the call waits on first: a crash that strikes inside the call arrives there as an
        interrupt into this process. With ``busy_limit_ms`` (rtas_fadump_call() of 6.12.117 and 7.2), a busy
        answer once the waits so far reach the limit gives up: RTAS_TIMED_OUT is returned instead of waiting again.
        """
        m = self.machine
        rtas = m.rtas
        token = rtas.token(name)
        inside = self.faults.before_rtas(name, args)
        if inside is not None:
            yield inside
        start, waited, stalled = m.env.now, 0.0, 0.0
        while True:
            status = rtas.call(token, *args)
            delay = busy_delay_ms(status) if status is not None else 0
            if not delay:
                return status
            if busy_limit_ms is not None and waited >= busy_limit_ms:
                return RTAS_TIMED_OUT
            waited += delay
            stalled += delay / 1000.0
            # To start + the waits so far (not now + this wait): the stamps are those of the summed waits.
            yield m.env.timeout(start + stalled - m.env.now)

    # --- sysfs ---

    def release_path(self) -> str:
        """The sysfs file that releases a captured dump's memory."""
        return "/sys/kernel/fadump_release_mem"

    def sysfs_read(self, path: str) -> str | int:
        """Text of a sysfs/debugfs file, or -errno (ENOENT, EACCES)."""
        f = self.sysfs.get(path) or self.debugfs.get(path)
        if f is None:
            return -errno.ENOENT
        if f.show is None:
            return -errno.EACCES
        return f.show()

    def sysfs_write(self, path: str, value: str):
        """write(2) to a sysfs file (fs/sysfs/file.c sysfs_write_file in 3.4, fs/kernfs/file.c kernfs_fop_write_iter
        in 6.x): SimPy steps of the writing process (a store may reach firmware); the count on success or -errno."""
        f = self.sysfs.get(path)
        if f is None:
            return -errno.ENOENT
        if f.store is None:
            return -errno.EACCES
        lines = len(self.machine.console.lines)
        rc = f.store(value)
        if isgenerator(rc):
            rc = yield from rc
        said = [ln.text for ln in self.machine.console.lines[lines:]]
        outcome = f"returns {rc}" if rc >= 0 else f"fails with -{errno.errorcode.get(-rc, rc)}"
        self.narrate(f"store to {path}", "userspace (sysfs)",
                     f"echo {value.strip()} > {path} {outcome}" + (": " + "; ".join(said) if said else ""))
        return rc
