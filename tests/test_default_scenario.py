"""The default scenario is big-endian Linux 3.4, as every 3.4 pSeries kernel was, and every tool that reads
big-endian ppc64 cores reads its vmcore: binutils readelf, gdb-multiarch, drgn and fadump-emu's own dmesg.
Debian's ppc64el makedumpfile and crash cannot (tests/test_makedumpfile_crash.py says so); the little-endian
3.4 run they can read is scenarios/what-if/little-endian-3-4.toml, named for what it is.
"""

import re
from pathlib import Path

import drgn
import pytest

from emulator import cli
from emulator.scenario import loader as scenario
from emulator.run.runner import run_scenario
from tests.test_real_tools import run_tool

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / cli.DEFAULT_SCENARIO
WHAT_IF = ROOT / "scenarios" / "what-if" / "little-endian-3-4.toml"
KERNELBASE = 0xC000_0000_0000_0000
WORKLOAD = b"workload: order book for customer 42, inside boot memory"


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("default")
    result = run_scenario(scenario.load(DEFAULT), str(out))
    return result, out / "vmcore"


def test_the_default_scenario_is_big_endian_linux_3_4_and_the_little_endian_one_is_a_what_if():
    sc, what_if = scenario.load(DEFAULT), scenario.load(WHAT_IF)
    assert (sc.kernel.profile, sc.machine.little_endian) == ("linux-3.4", False)
    assert (what_if.kernel.profile, what_if.machine.little_endian) == ("linux-3.4", True)
    assert what_if.name.startswith("what-if") and "never existed" in what_if.description


def test_readelf_reads_the_default_vmcore_as_big_endian_powerpc64(default_run):
    result, vmcore = default_run
    assert result.outcome == "vmcore"
    proc = run_tool("readelf", "-h", "-n", str(vmcore))
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    assert re.search(r"Data:\s+2's complement, big endian", proc.stdout)
    assert re.search(r"Machine:\s+PowerPC64", proc.stdout)
    assert proc.stdout.count("NT_PRSTATUS") == 8  # one per online CPU


def test_gdb_and_drgn_read_the_workload_from_the_default_vmcore(default_run):
    _, vmcore = default_run
    proc = run_tool("gdb-multiarch", "-nx", "-batch", "-ex", f"core-file {vmcore}", "-ex", "show endian",
                    "-ex", f"x/s {KERNELBASE + 0x4100000:#x}")
    assert "currently big endian" in proc.stdout, proc.stdout + proc.stderr
    assert WORKLOAD.decode() in proc.stdout
    prog = drgn.Program()
    prog.set_core_dump(str(vmcore))
    assert prog.read(0x4100000, len(WORKLOAD), True) == WORKLOAD


def test_fadump_emu_dmesg_prints_the_default_runs_first_kernel_log(default_run, capsys):
    _, vmcore = default_run
    assert cli.main(["dmesg", str(vmcore)]) == 0
    out = capsys.readouterr().out
    assert "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b" in out
