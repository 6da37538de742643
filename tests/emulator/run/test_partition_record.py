"""What a run leaves behind (emulator.run.partition_record): plain values, frozen when the run ends, cheap to take,
and a RunResult that holds no live object but the documented read-only view of the final RAM."""

import dataclasses
import mmap
import pickle

import numpy as np
import pytest
import simpy

from emulator.hw.ram import PartitionRAM
from emulator.run.partition_record import FinalMemory, MemoryReleased, PartitionRecord
from emulator.run.runner import Run
from emulator.scenario import loader as scenario
from emulator.views import observers
from firmware.machine import Machine
from kernels.base import Kernel
from tests.conftest import small_scenario_text

LIVE = (Machine, Kernel, simpy.Environment, PartitionRAM, np.ndarray, mmap.mmap)
"""What a result must not reach: the partition, its kernels, the SimPy clock, RAM and anything owning its bytes."""


@pytest.fixture(scope="module")
def executed():
    """The small scenario run in memory with its memory maps taken: the Run (live) and its result (data)."""
    run = Run(scenario.loads(small_scenario_text(extra='[capture]\nafter = "stay"\n')), None,
              observers=[observers.memory_maps])
    run.execute()
    return run


def reachable_live_objects(root, allowed=(FinalMemory,)) -> list[str]:
    """Paths from ``root`` to every LIVE object, following fields, containers and plain objects (not into
    ``allowed``, whose insides are documented to be live)."""
    found, seen, todo = [], set(), [(root, "result")]
    while todo:
        obj, path = todo.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None), type)):
            continue
        seen.add(id(obj))
        if isinstance(obj, LIVE):
            found.append(f"{path}: {type(obj).__name__}")
            continue
        if isinstance(obj, allowed):
            continue
        if isinstance(obj, dict):
            todo += [(v, f"{path}[{k!r}]") for k, v in obj.items()] + [(k, f"{path} key") for k in obj]
        elif isinstance(obj, (list, tuple, set, frozenset)):
            todo += [(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        elif dataclasses.is_dataclass(obj):
            todo += [(getattr(obj, f.name), f"{path}.{f.name}") for f in dataclasses.fields(obj)]
        elif hasattr(obj, "__dict__"):
            todo += [(v, f"{path}.{k}") for k, v in vars(obj).items()]
        elif hasattr(type(obj), "__slots__"):
            todo += [(getattr(obj, k, None), f"{path}.{k}") for k in type(obj).__slots__]
        elif callable(obj):
            found.append(f"{path}: a callable ({obj!r}) that may close over live objects")
    return found


def test_a_run_result_reaches_no_machine_kernel_clock_or_ram_but_its_final_memory_view(executed):
    result = executed.result
    assert not hasattr(result, "machine") and not hasattr(result, "kernels")
    assert len(result.snapshots_for_map) == 3 and result.captures[0].notes  # the walk has data to go through
    assert reachable_live_objects(result) == []


def test_the_walk_that_checks_results_finds_a_machine_hidden_in_a_result(executed):
    """The check above can fail: a Machine smuggled into a capture's notes, or a kernel in the sysfs record, shows."""
    result = dataclasses.replace(executed.result, sysfs=[{"boot": 1, "kernel": executed.kernels[0]}])
    assert reachable_live_objects(result) == ["result.sysfs[0]['kernel']: Linux34"]
    assert reachable_live_objects(executed.result, allowed=()) == ["result.partition.memory._ram: PartitionRAM"]


def test_the_partition_record_is_what_the_machine_held_when_the_run_ended(executed):
    m, p = executed.machine, executed.result.partition
    assert p.console.text() == m.console.text() and p.console.contains("Firmware-assisted dump is active")
    assert [(c.time, c.name, c.args, c.status) for c in p.rtas_calls] == \
        [(c.time, c.name, c.args, c.status) for c in m.rtas.log]
    assert list(p.firmware.history) == m.fadump.state.history and p.firmware.actor == "PHYP"
    assert p.firmware.bytes_moved == m.fadump.state.bytes_moved > 0
    assert p.firmware.dump_pending  # capture.after = "stay": ibm,kernel-dump is still there
    assert [(c.id, c.online) for c in p.cpus] == [(c.id, c.online) for c in m.cpus]
    assert p.property("/rtas", "ibm,kernel-dump") == m.devicetree.get("/rtas", "ibm,kernel-dump") is not None
    assert (p.boot_count, p.simulated_seconds) == (2, m.env.now)
    assert p.memory.read(0x18000000, 17) == b"above boot memory"


def test_the_partition_record_is_frozen(executed):
    p = executed.result.partition
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.boot_count = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.rtas_calls[0].status = 0
    assert isinstance(p.console.lines, tuple) and isinstance(p.firmware.history, tuple)


def test_freezing_copies_no_ram_and_no_console_line(executed):
    """The end-of-run snapshot shares what it can: the final memory is the partition's own mapping."""
    p, m = executed.result.partition, executed.machine
    assert np.shares_memory(p.memory.view(0x18000000, 4096), m.ram.view(0x18000000, 4096))
    assert all(a is b for a, b in zip(p.console.lines, m.console.lines))


def test_the_final_memory_is_read_only():
    assert not any(hasattr(FinalMemory, name) for name in ("write", "fill", "copy", "write_u64"))


def test_a_result_pickles_without_its_ram_and_stays_small(executed):
    """A result sent to another process carries its data (console, calls, captures), never the partition's bytes."""
    result = executed.result
    raw = pickle.dumps(result)
    assert len(raw) < 64 * 1024  # the small scenario: a console, some RTAS calls, a report; 1 GiB of RAM stays here
    back = pickle.loads(raw)
    assert back.partition.console == result.partition.console and back.report == result.report
    assert back.partition.memory.size == result.partition.memory.size and back.partition.memory.released
    with pytest.raises(MemoryReleased, match="stayed in the process that ran the partition"):
        back.partition.memory.read(0x18000000, 17)
    assert result.partition.memory.read(0x18000000, 17) == b"above boot memory"  # the original still reads


def test_released_final_memory_refuses_reads_instead_of_showing_the_next_runs_bytes():
    run = Run(scenario.loads(small_scenario_text()), None)
    memory = run.execute().partition.memory
    ram = memory._ram
    memory.release()
    memory.release()  # twice is harmless
    assert memory.released
    with pytest.raises(MemoryReleased):
        memory.read(0x18000000, 17)
    assert PartitionRAM.reuse(ram.size) is ram  # the mapping went back for the next run in this process


def test_a_record_can_be_taken_of_a_machine_that_never_ran():
    p = PartitionRecord.of(Machine(scenario.loads(small_scenario_text()).machine))
    assert (p.boot_count, p.console.lines, p.rtas_calls, p.firmware.history) == (0, (), (), ())
    assert not p.firmware.registered and p.memory.touched_bytes() == 0
