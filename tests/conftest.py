"""Shared fixtures: small scenarios built from TOML text and run into tmp folders."""

import textwrap

import pytest

from emulator.run import report
from emulator.scenario import loader as scenario
from emulator.run.runner import Run, publish, run_scenario

SMALL = """
name = "{name}"
[machine]
memory = "{memory}"
cpus = {cpus}
endian = "{endian}"
{machine_extra}
[kernel]
cmdline = "{cmdline}"
{kernel_extra}
[[memory.write]]
addr = "0x4100000"
text = "inside boot memory"
repeat = 64
[[memory.write]]
addr = "0x18000000"
text = "above boot memory"
repeat = 64
[crash]
cpu = {crash_cpu}
at = "10s"
[crash.regs]
nip = "0xc0000000000a5f10"
gpr1 = "0xc0000000fb4f3b80"
link = "0xc0000000000a5e80"
msr = "{msr}"
{extra}
"""


def small_scenario_text(name="small", memory="1GiB", cpus=4, endian="little", cmdline="fadump=on",
                        crash_cpu=1, machine_extra="", kernel_extra="", extra="") -> str:
    """A 1 GiB partition with workload data below and above boot memory, crashing at 10 s."""
    msr = "0x8000000000009033" if endian == "little" else "0x8000000000009032"
    return textwrap.dedent(SMALL).format(name=name, memory=memory, cpus=cpus, endian=endian, cmdline=cmdline,
                                         crash_cpu=crash_cpu, machine_extra=machine_extra,
                                         kernel_extra=kernel_extra, extra=extra, msr=msr)


@pytest.fixture
def run_text(tmp_path):
    """Run scenario text into a fresh folder; returns (result, report dict)."""

    def run(text: str, name: str = "scenario"):
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        sc = scenario.load(path)
        out = tmp_path / f"out-{name}"
        result = run_scenario(sc, str(out))
        exp = report.check_expectations(result)
        return result, report.write(result, str(out), exp)

    return run


@pytest.fixture
def run_live(tmp_path):
    """As run_text, keeping the Run's live kernels too: (result, report dict, kernels in boot order).

    A RunResult holds data only; a test that looks inside a kernel after the run takes it from here.
    """

    def run(text: str, name: str = "scenario"):
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        live = Run(scenario.load(path), None)
        out = tmp_path / f"out-{name}"
        result = publish(live, str(out))
        return result, result.report, live.kernels

    return run


@pytest.fixture
def decoy(tmp_path):
    """The folder a planted symlink points at in the attacker tests (standing in for /etc): it must stay
    exactly as it is."""
    folder = tmp_path / "decoy"
    folder.mkdir()
    (folder / "passwd").write_text("root:x:0:0\n")
    return folder
