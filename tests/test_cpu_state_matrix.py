"""CPU state fidelity across crash kinds, crashing CPUs, online masks and byte orders, read by real consumers.

Every CPU gets its own registers through [cpu.N.regs]; each vmcore is built once per module, and what every
NT_PRSTATUS note should hold is worked out here from the scenario alone (fadump-abi.md §1.4, §1.5, §4.2): notes in
CPU order for the online CPUs; the crashing CPU's from the crash registers when crash_fadump() ran (panic, system
reset), firmware's copy of the live registers otherwise (a hypervisor-initiated termination); under 3.4 no notes at
all when crash_fadump() never ran. The tools and their output are those of vmcore-consumers.md §3, §4.3 and §4.4.
"""

import json
import os
import re
from dataclasses import dataclass, replace

import pytest
from elftools.elf.elffile import ELFFile

from emulator.run import report
from emulator.scenario import loader as scenario
from emulator.run.runner import run_scenario
from tests.test_real_tools import (
    eu_field,
    eu_readelf_prstatus_blocks,
    run_tool,
    signed64,
)

KERNELBASE = 0xC000_0000_0000_0000
TEXT = "cpu state matrix: order book of customer 42"
LOW = 0x4100000
HIGH = {"linux-3.4": 0x18000000, "linux-6.10": 0x30000000}
"""Above boot memory and clear of each generation's dump area (6.10's sits at 0x14000000..~0x28020000 in 1 GiB;
3.4's at the top of memory)."""
ALL_ONLINE, CPU1_OFFLINE = (0, 1, 2, 3), (0, 2, 3)
MSR = {"little": 0x8000_0000_0000_9033, "big": 0x8000_0000_0000_9032}
MSR_EE = 1 << 15
PR_REG_OFFSET, TRAP_SLOT, TRAP_SYSTEM_RESET = 112, 40, 0x100
NUM_CPU_OFFSET = {"phyp": 0x1C, "qemu": 0x10}
EU_NAMES = {"nip": "nip", "msr": "msr", "link": "lr", "ctr": "ctr", "xer": "xer", "ccr": "cr", "dar": "dar",
            "dsisr": "dsisr"}
"""Scenario register name -> the label eu-readelf prints (r1 is checked apart: it prints GPRs in signed decimal)."""


def live_regs(cpu: int, endian: str) -> dict[str, int]:
    """What [cpu.N.regs] gives CPU ``cpu``: each value carries the CPU number, the MSR LE bit the byte order."""
    return {"nip": 0xC000_0000_0030_0010 + cpu * 0x100, "gpr1": 0xC000_0000_FB00_3B80 + cpu * 0x10000,
            "link": 0xC000_0000_0031_0020 + cpu * 0x100, "msr": MSR[endian],
            "ctr": 0xC000_0000_0032_0000 + cpu * 0x100, "xer": 0x2000_0000 + cpu, "ccr": 0x2400_2840 + cpu,
            "dar": 0xC000_0000_0040_0000 + cpu * 8, "dsisr": 0x4200_0000 + cpu}


@dataclass(frozen=True)
class Spec:
    """One scenario of this module: a 1 GiB, 4-CPU partition that crashes at 10 s; hashable, so it keys the cache."""

    profile: str = "linux-6.10"
    endian: str = "little"
    kind: str = "panic"
    crash_cpu: int = 0
    online: tuple[int, ...] = ALL_ONLINE
    note_pids: str = "zero"
    firmware: str = "phyp"
    stuck: tuple[int, ...] = ()
    dar: int | None = None
    after: str = "release"

    @property
    def name(self) -> str:
        offline = "".join(str(c) for c in range(4) if c not in self.online) or "none"
        return (f"{self.profile}-{self.endian}-{self.kind}-cpu{self.crash_cpu}-off{offline}-{self.note_pids}-"
                f"{self.firmware}-stuck{''.join(map(str, self.stuck))}-dar{self.dar}-{self.after}")

    @property
    def crash_regs(self) -> dict[str, int]:
        """[crash.regs]: where the crashing CPU was, interrupts off (so its MSR differs from every live one)."""
        regs = {"nip": 0xC000_0000_000A_5F10, "gpr1": 0xC000_0000_FB4F_3B80, "link": 0xC000_0000_000A_5E80,
                "msr": MSR[self.endian] & ~MSR_EE}
        return regs | ({} if self.dar is None else {"dar": self.dar})

    def expected_notes(self) -> dict[int, dict[str, int]]:
        """Per CPU with a note, in note order, the registers it should hold."""
        if self.kind == "hypervisor" and self.profile == "linux-3.4":
            return {}  # the 3.4 header's cpu mask stays zero until crash_fadump() runs (fixed in 5.19)
        notes = {cpu: live_regs(cpu, self.endian) for cpu in self.online}
        if self.kind != "hypervisor":
            notes[self.crash_cpu] |= self.crash_regs
        if self.kind == "panic":
            # panic -> crash_fadump(NULL) -> ppc_save_regs() (arch/powerpc/kernel/ppc_save_regs.S, 3.4 and 6.10):
            # it stores GPRs, NIP, LINK, MSR, CTR, XER, CR and a zero _TRAP, never DAR or DSISR.
            notes[self.crash_cpu] |= {"dar": 0, "dsisr": 0}
        return notes

    def toml(self) -> str:
        lines = [f'name = "{self.name}"', "[machine]", 'memory = "1GiB"', "cpus = 4", f'endian = "{self.endian}"',
                 f"online_cpus = {list(self.online)}", f'firmware = "{self.firmware}"', 'rma_size = "256MiB"',
                 "[kernel]", f'profile = "{self.profile}"', 'cmdline = "fadump=on"', f'note_pids = "{self.note_pids}"']
        for addr in (LOW, HIGH[self.profile]):
            lines += ["[[memory.write]]", f'addr = "{addr:#x}"', f'text = "{TEXT}"']
        lines += ["[crash]", f"cpu = {self.crash_cpu}", f'kind = "{self.kind}"', 'at = "10s"',
                  f"stuck_cpus = {list(self.stuck)}"]
        if self.kind != "hypervisor":  # a hypervisor termination runs no kernel code: [crash.regs] is refused
            lines += ["[crash.regs]"] + [f'{k} = "{v:#x}"' for k, v in self.crash_regs.items()]
        for cpu in range(4):
            lines += [f"[cpu.{cpu}.regs]"] + [f'{k} = "{v:#x}"' for k, v in live_regs(cpu, self.endian).items()]
        return "\n".join(lines + ["[capture]", f'after = "{self.after}"', ""])


@dataclass
class Built:
    """A scenario's run: the vmcore, report.json and console.log as written, and the run itself."""

    spec: Spec
    path: str
    report: dict
    console: list[str]
    """Console messages without their timestamps."""
    result: object


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """Build (once per module) and return the run of a Spec."""
    built: dict[Spec, Built] = {}

    def get(spec: Spec) -> Built:
        if spec not in built:
            folder = tmp_path_factory.mktemp("cpu-state")
            (folder / "scenario.toml").write_text(spec.toml())
            out = folder / "out"
            result = run_scenario(scenario.load(folder / "scenario.toml"), str(out))
            report.write(result, str(out), report.check_expectations(result))
            assert result.outcome == "vmcore", (result.outcome, (out / "console.log").read_text())
            console = [re.sub(r"^\[\s*[\d.]+\] ", "", line) for line in (out / "console.log").read_text().splitlines()]
            built[spec] = Built(spec, result.captures[0].path, json.loads((out / "report.json").read_text()),
                                console, result)
        return built[spec]

    return get


MATRIX = [pytest.param(Spec(endian=endian, kind=kind, crash_cpu=cpu, online=online),
                       id=f"{endian}-{kind}-cpu{cpu}-{'all' if online == ALL_ONLINE else 'cpu1off'}")
          for endian in ("little", "big") for kind in ("panic", "system-reset", "hypervisor")
          for cpu in (0, 3) for online in (ALL_ONLINE, CPU1_OFFLINE)]


def prstatus_descs(path: str) -> list[bytes]:
    """The NT_PRSTATUS descriptors of a vmcore, in file order (pyelftools)."""
    with open(path, "rb") as f:
        return [n["n_desc"] for seg in ELFFile(f).iter_segments() if seg["p_type"] == "PT_NOTE"
                for n in seg.iter_notes() if n["n_name"] == "CORE" and n["n_type"] == "NT_PRSTATUS"]


def check_eu_readelf_notes(spec: Spec, path: str) -> None:
    """eu-readelf -n shows one PRSTATUS per expected CPU, in CPU order, with that CPU's registers."""
    blocks = eu_readelf_prstatus_blocks(path)
    expected = spec.expected_notes()
    assert len(blocks) == len(expected), f"{len(blocks)} PRSTATUS notes for CPUs {sorted(expected)}"
    for block, (cpu, regs) in zip(blocks, expected.items()):
        assert int(eu_field(block, "pid")) == (cpu + 1 if spec.note_pids == "cpu" else 0)
        for name, label in EU_NAMES.items():
            assert int(eu_field(block, label), 16) == regs[name], f"cpu {cpu} {label}:\n{block}"
        assert int(eu_field(block, "r1")) == signed64(regs["gpr1"]), f"cpu {cpu} r1"


# --- the matrix: {LE, BE} x {panic, system reset, hypervisor} x {crashing CPU 0, 3} x {all online, CPU 1 off} ---

@pytest.mark.parametrize("spec", MATRIX)
def test_report_registers_table_agrees_with_the_vmcore_for_every_cpu_it_holds(build, spec):
    """report.json lists exactly the CPUs with notes, and for each its scenario value equals the vmcore's."""
    table = build(spec).report["captures"][0]["registers"]
    expected = spec.expected_notes()
    assert sorted(table) == [str(cpu) for cpu in expected]
    for cpu, regs in expected.items():
        row = table[str(cpu)]
        mismatched = {name: v for name, v in row.items() if v["scenario"] != v["vmcore"]}
        assert not mismatched, f"cpu {cpu}: {mismatched}"
        assert {name: int(row[name]["vmcore"], 16) for name in regs} == regs, f"cpu {cpu}"


@pytest.mark.parametrize("spec", MATRIX)
def test_eu_readelf_shows_each_online_cpus_own_registers_and_no_offline_cpu(build, spec):
    """One PRSTATUS per online CPU in CPU order; the crashing CPU's from the crash (firmware's under hypervisor)."""
    check_eu_readelf_notes(spec, build(spec).path)


@pytest.mark.parametrize("spec", MATRIX)
def test_readelf_lists_the_notes_without_warnings(build, spec):
    """readelf -W -h -l -n prints no warning, one NT_PRSTATUS per online CPU and one VMCOREINFO."""
    proc = run_tool("readelf", "-W", "-h", "-l", "-n", build(spec).path)
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in (proc.stdout + proc.stderr).lower()
    lines = proc.stdout.splitlines()
    assert len([ln for ln in lines if "NT_PRSTATUS" in ln]) == len(spec.online)
    assert len([ln for ln in lines if ln.strip().startswith("VMCOREINFO")]) == 1


@pytest.mark.parametrize("spec", [p for p in MATRIX if p.values[0].kind == "system-reset"])
def test_a_system_reset_leaves_trap_0x100_in_the_crashing_cpus_note_only(build, spec):
    """pt_regs slot 40 (trap) is 0x100 in the crashing CPU's note; firmware does not save trap for the others."""
    descs = prstatus_descs(build(spec).path)
    assert len(descs) == len(spec.online)
    order = "little" if spec.endian == "little" else "big"
    traps = {cpu: int.from_bytes(d[PR_REG_OFFSET + 8 * TRAP_SLOT:PR_REG_OFFSET + 8 * TRAP_SLOT + 8], order)
             for cpu, d in zip(spec.online, descs)}
    assert traps == {cpu: TRAP_SYSTEM_RESET if cpu == spec.crash_cpu else 0 for cpu in spec.online}


# --- gdb-multiarch: one thread per CPU when pr_pid = cpu + 1 ---

@pytest.mark.parametrize("endian", ["little", "big"])
def test_gdb_shows_a_thread_per_cpu_whose_registers_are_that_cpus(build, endian):
    """With note_pids = "cpu", `thread N` holds CPU N-1's pc and r1, and the workload text reads back."""
    spec = Spec(endian=endian, crash_cpu=3, note_pids="cpu")
    built = build(spec)
    argv = ["gdb-multiarch", "-nx", "-batch", "-ex", f"core-file {built.path}", "-ex", "show endian",
            "-ex", "info threads"]
    for n in range(1, 5):
        argv += ["-ex", f"thread {n}", "-ex", "p/x $pc", "-ex", "p/x $r1"]
    argv += ["-ex", f"set print elements {len(TEXT)}", "-ex", f"x/s {KERNELBASE + LOW:#x}",
             "-ex", f"x/s {KERNELBASE + HIGH[spec.profile]:#x}"]
    proc = run_tool(*argv)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert f"(currently {endian} endian)" in out
    threads = re.findall(r"^\*?\s+(\d+)\s+LWP (\d+)\s", out, re.MULTILINE)
    assert threads == [(str(n), str(n)) for n in range(1, 5)], out
    values = [int(v, 16) for v in re.findall(r"^\$\d+ = (0x[0-9a-f]+)$", out, re.MULTILINE)]
    expected = spec.expected_notes()
    assert values == [v for cpu in range(4) for v in (expected[cpu]["nip"], expected[cpu]["gpr1"])], out
    for paddr in (LOW, HIGH[spec.profile]):
        match = re.search(rf"^{KERNELBASE + paddr:#x}:\s+\"(.*)\"(\.\.\.)?$", out, re.MULTILINE)
        assert match and match.group(1) == TEXT, f"no workload text at {KERNELBASE + paddr:#x}:\n{out}"


# --- drgn ---

def require_drgn():
    """The drgn module; missing, it fails the test under CI or FADUMP_EMU_REQUIRE_TOOLS, else skips it."""
    try:
        import drgn
    except ImportError:
        message = "drgn is not installed; pip install -e '.[test]'"
        if os.environ.get("CI") or os.environ.get("FADUMP_EMU_REQUIRE_TOOLS"):
            pytest.fail(message)
        pytest.skip(message)
    return drgn


@pytest.mark.parametrize("profile", ["linux-3.4", "linux-6.10"])
@pytest.mark.parametrize("endian", ["little", "big"])
def test_drgn_opens_the_vmcore_as_a_linux_kernel_and_reads_physical_and_virtual_memory(build, profile, endian):
    """drgn sees a Linux kernel of the right byte order, VMCOREINFO text, and the workload at both addresses."""
    drgn = require_drgn()
    built = build(Spec(profile=profile, endian=endian))
    prog = drgn.Program()
    prog.set_core_dump(built.path)
    assert drgn.ProgramFlags.IS_LINUX_KERNEL in prog.flags
    assert prog.platform.arch == drgn.Architecture.PPC64
    assert (drgn.PlatformFlags.IS_LITTLE_ENDIAN in prog.platform.flags) == (endian == "little")
    vmcoreinfo = prog["VMCOREINFO"].string_().decode()
    assert "OSRELEASE=" in vmcoreinfo and "CRASHTIME=" in vmcoreinfo, vmcoreinfo
    for paddr in (LOW, HIGH[profile]):
        assert prog.read(paddr, len(TEXT), True) == TEXT.encode(), f"physical {paddr:#x}"
        assert prog.read(KERNELBASE + paddr, len(TEXT)) == TEXT.encode(), f"virtual {KERNELBASE + paddr:#x}"


# --- generations ---

@pytest.mark.parametrize(("profile", "notes"), [("linux-3.4", 0), ("linux-6.10", 3)])
def test_a_hypervisor_termination_has_cpu_notes_only_since_the_possible_cpu_mask(build, profile, notes):
    """3.4's zeroed header mask leaves no NT_PRSTATUS after a hypervisor-initiated dump; 6.10 has one per online CPU."""
    spec = Spec(profile=profile, kind="hypervisor", crash_cpu=3, online=CPU1_OFFLINE)
    built = build(spec)
    assert len(spec.expected_notes()) == notes
    assert len(prstatus_descs(built.path)) == notes
    proc = run_tool("readelf", "-W", "-n", built.path)
    assert proc.stdout.count("NT_PRSTATUS") == notes and "VMCOREINFO" in proc.stdout
    check_eu_readelf_notes(spec, built.path)
    assert len(built.report["captures"][0]["registers"]) == notes


@pytest.mark.parametrize(("profile", "kind", "dar", "lines"), [
    ("linux-3.4", "sysrq", None,
     ["SysRq : Trigger a crash", "Unable to handle kernel paging request for data at address 0x00000000"]),
    ("linux-6.10", "sysrq", None, ["sysrq: Trigger a crash", "Kernel panic - not syncing: sysrq triggered crash"]),
    ("linux-6.10", "oops", 0x10, ["BUG: Kernel NULL pointer dereference on read at 0x00000010"]),
])
def test_each_generation_words_a_sysrq_crash_and_an_oops_as_its_kernel_did(build, profile, kind, dar, lines):
    """The console shows the generation's own lines, one right after the other."""
    console = build(Spec(profile=profile, kind=kind, dar=dar)).console
    assert lines[0] in console, "\n".join(console)
    start = console.index(lines[0])
    assert console[start:start + len(lines)] == lines, "\n".join(console)


def os_term_time(built: Built) -> float:
    """When the crashing CPU reached ibm,os-term (the only call of it), per report.json."""
    times = [c["time"] for c in built.report["rtas_calls"] if c["call"] == "ibm,os-term"]
    assert len(times) == 1, built.report["rtas_calls"]
    return times[0]


@pytest.mark.parametrize(("profile", "delay"), [
    ("linux-6.10", 0.5),
    ("linux-3.4", 0.0),
])
def test_a_stuck_cpu_delays_a_system_reset_dump_by_half_a_second_only_where_the_kernel_waits(build, profile, delay):
    """6.10 waits 500 ms for a CPU that never answers the system reset before ibm,os-term; 3.4 does not wait."""
    base = Spec(profile=profile, kind="system-reset", crash_cpu=0)
    stuck, free = build(replace(base, stuck=(2,))), build(base)
    assert os_term_time(stuck) - os_term_time(free) == pytest.approx(delay, abs=0.002)
    assert stuck.report["crashes"][0]["time"] - free.report["crashes"][0]["time"] == pytest.approx(delay, abs=0.002)


# --- register save area layouts ---

@pytest.mark.parametrize("profile", ["linux-3.4", "linux-6.10"])
@pytest.mark.parametrize("firmware", ["qemu", "phyp"])
def test_the_capture_kernel_follows_num_cpu_offset_in_either_firmwares_register_save_area(build, profile, firmware):
    """Firmware writes NumCpus at its layout's offset (PowerVM: the online CPUs; QEMU 10.2: every vCPU,
    CPU_FOREACH in spapr_fadump.c get_cpu_state_data()), and the notes still hold every online CPU's registers
    because the capture kernel skips CPUs outside the crash-time mask."""
    spec = Spec(profile=profile, crash_cpu=3, online=CPU1_OFFLINE, firmware=firmware, after="stay")
    built = build(spec)
    saved = [re.search(r"saved registers of (\d+) (?:online|present) CPUs at (0x[0-9a-f]+)", line)
             for line in built.console]
    count, addr = next((int(m.group(1)), int(m.group(2), 16)) for m in saved if m)
    ram = built.result.partition.memory
    assert count == (len(spec.online) if firmware == "phyp" else 4)
    assert ram.read(addr, 8) == b"REGSAVE\0"
    assert int.from_bytes(ram.read(addr + 12, 4), "big") == NUM_CPU_OFFSET[firmware]
    assert int.from_bytes(ram.read(addr + NUM_CPU_OFFSET[firmware], 4), "big") == count
    check_eu_readelf_notes(spec, built.path)
    table = built.report["captures"][0]["registers"]
    assert all(v["scenario"] == v["vmcore"] for row in table.values() for v in row.values())
