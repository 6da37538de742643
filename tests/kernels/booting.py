"""A kernel booted to userspace on a small partition, for tests that call into it directly."""

from emulator.units import GiB
from firmware.machine import Machine, MachineConfig
from kernels.linux610 import Linux610
from kernels.versions import LINUX_6_10


def booted(cls=Linux610, cmdline: str = "fadump=on", **config):
    """A kernel of ``cls`` (with 6.10's release string) booted to userspace on a 1 GiB, 4-CPU partition; ``config``
    overrides MachineConfig fields."""
    m = Machine(MachineConfig(**{"memory": 1 * GiB, "cpus": 4, **config}))
    m.power_on(cmdline)
    k = cls(m, cmdline, LINUX_6_10.release, m.boot_count, 0)
    m.env.process(k.boot_sequence())
    m.env.run()
    return k
