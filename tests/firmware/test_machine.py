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


def test_power_loss_zeroes_the_same_ram_and_leaves_no_copy_on_write_alias():
    """Memory is gone: every byte reads as zero and the boot memory copy is undone; the mapping (and the pages a
    long-lived worker has already faulted in) is kept rather than replaced."""
    m = Machine(MachineConfig(memory=1 * GiB, cpus=2))
    ram = m.ram
    ram.write(0x10000, b"crashed kernel" * 10000)
    ram.copy(0, 0x2000_0000, 0x40_0000)  # the firmware's boot memory copy, as aliases
    m.power_loss()
    assert m.ram is ram
    assert ram.aliased_bytes() == 0 and ram.touched_runs(0, ram.size) == []
    assert ram.read(0, 0x40_0000) == ram.read(0x2000_0000, 0x40_0000) == bytes(0x40_0000)
