"""The partition (firmware.machine): one clock, the SimPy environment's."""

import simpy

from emulator.units import GiB
from firmware.machine import Machine, MachineConfig


def test_there_is_one_clock_and_no_second_one_for_busy_waits():
    """A kernel's busy-waits are timeouts now: the machine keeps no stall to catch up with."""
    m = Machine(MachineConfig(memory=1 * GiB, cpus=2))
    assert not hasattr(m, "stall") and not hasattr(Machine, "catch_up")
    assert isinstance(m.env, simpy.Environment)


def test_partition_time_is_the_event_clock_and_uptime_counts_from_power_on():
    m = Machine(MachineConfig(memory=1 * GiB, cpus=2))
    m.env.run(until=3)
    m.power_on("quiet")
    m.env.run(until=5.5)
    assert m.now() == m.env.now == 5.5 and m.uptime() == 2.5
    assert isinstance(Machine(MachineConfig(memory=1 * GiB, cpus=2)).now(), float)  # 0.0, as stamps print it
