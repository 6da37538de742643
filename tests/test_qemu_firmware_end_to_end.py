"""scenarios/firmware/qemu-pseries.toml end to end: QEMU 10.2's pseries fadump, then real ELF readers on the vmcore.

The scenario copies the set-up of the real 6.12 reference run (fadump-abi.md, corrections at the top: QEMU
11.1.3, -smp 2 -m 2G, NR_CPUS=8, crashkernel=512M, sysrq-c). The facts checked here are those the real run
measured and that belong to the firmware, the machine keys or nr_cpus: the 0xa00-byte CPU state section
(spapr_dt_rtas_fadump() and get_cpu_state_data()), 2 NT_PRSTATUS notes of 504 bytes in CPU order, and the
second PT_LOAD starting at 0x400101b0 (boot memory end + 0x1b0 bytes of metadata for an 8-CPU cpumask).
"""

import re
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from emulator.scenario import loader as scenario
from emulator.run.runner import run_scenario
from firmware import abi
from firmware.abi import SectionType
from firmware.structs import DumpMemStruct, sections_of
from tests.test_real_tools import run_tool

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "firmware" / "qemu-pseries.toml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    sc = scenario.load(SCENARIO)
    sc.capture_after = "stay"  # keep ibm,kernel-dump for inspection
    out = tmp_path_factory.mktemp("qemu-pseries")
    result = run_scenario(sc, str(out))
    return result, out / "vmcore"


def test_the_preserved_structure_shows_qemus_cpu_state_size_and_no_hpte(run):
    result, _ = run
    mem = DumpMemStruct.parse(result.partition.property("/rtas", abi.DT_KERNEL_DUMP))
    cpu, = sections_of(SectionType.CPU_STATE_DATA, mem)
    hpte, = sections_of(SectionType.HPTE_REGION, mem)
    assert (cpu.source_len, cpu.bytes_dumped) == (0xA00, 0xA00)
    assert (hpte.source_len, hpte.bytes_dumped) == (0, 0)
    area = result.partition.memory.read(cpu.destination_address, 0x20)
    assert area[:8] == b"REGSAVE\0" and area[0x0C:0x14] == bytes.fromhex("00000010" "00000002")


def test_pyelftools_reads_two_prstatus_notes_in_cpu_order_then_vmcoreinfo_and_two_loads(run):
    _, vmcore = run
    with open(vmcore, "rb") as f:
        elf = ELFFile(f)
        assert (elf["e_type"], elf["e_machine"], elf["e_flags"]) == ("ET_CORE", "EM_PPC64", 2)
        kinds = [seg["p_type"] for seg in elf.iter_segments()]
        assert kinds == ["PT_NOTE", "PT_LOAD", "PT_LOAD"]
        note_seg = elf.get_segment(0)
        assert note_seg["p_offset"] == 0x10000
        notes = list(note_seg.iter_notes())
        assert [n["n_type"] for n in notes[:2]] == ["NT_PRSTATUS", "NT_PRSTATUS"]
        assert [n["n_descsz"] for n in notes[:2]] == [504, 504]
        assert notes[2]["n_name"] == "VMCOREINFO"
        loads = [seg for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
        assert (loads[0]["p_paddr"], loads[0]["p_memsz"]) == (0, 0x2000_0000)
        assert loads[1]["p_paddr"] == 0x4001_01B0


def test_readelf_lists_both_vcpus_without_warnings(run):
    _, vmcore = run
    proc = run_tool("readelf", "-W", "-h", "-l", "-n", str(vmcore))
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stdout + proc.stderr
    assert re.search(r"^\s*Machine:\s+PowerPC64$", proc.stdout, re.MULTILINE)
    prstatus = [line for line in proc.stdout.splitlines() if "NT_PRSTATUS" in line]
    assert len(prstatus) == 2 and all("0x000001f8" in line for line in prstatus)


def bundled(name: str, out: Path):
    """A bundled trigger scenario run on firmware = "qemu" (its [expect] is PowerVM's, so not checked)."""
    sc = scenario.load(SCENARIO.parents[1] / "triggers" / name)
    sc.machine.firmware = "qemu"
    return run_scenario(sc, str(out))


def test_a_system_reset_dumps_on_qemu_through_os_term(tmp_path):
    """QEMU's NMI reaches the guest's system reset handler, which calls crash_fadump() and ibm,os-term;
    rtas_ibm_os_term() then runs trigger_fadump_boot()."""
    result = bundled("system-reset-modern.toml", tmp_path)
    assert result.outcome == "vmcore"
    assert [r.name for r in result.partition.rtas_calls].count("ibm,os-term") == 1


def test_a_partition_terminated_from_outside_is_not_dumped_on_qemu(tmp_path):
    """PowerVM dumps a registered partition its hypervisor terminates; QEMU only dumps from ibm,os-term."""
    result = bundled("hypervisor-modern.toml", tmp_path)
    assert result.crashes[0]["result"] == "terminated"
    assert result.outcome != "vmcore"
    assert any("QEMU has no dump without ibm,os-term" in h for h in result.partition.firmware.history)
