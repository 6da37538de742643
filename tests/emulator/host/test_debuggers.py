"""fadump-emu gdb, drgn and crash open a run's vmcore with the emulated kernel's symbol file.

Facts: fadump writes pr_pid 0 in every NT_PRSTATUS note (fadump_regs_to_elf_notes(),
arch/powerpc/kernel/fadump.c, v6.10), which is why gdb gets a derived core; crash_fadump() records the
crashing CPU in ``crashing_cpu`` (cmpxchg(&crashing_cpu, -1, this_cpu), same file, v6.10), which is how
drgn's crashed_thread() finds the CPU whose note and idle task it returns.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.errors import BadInputError
from emulator.host import debuggers
from emulator.host import ppc64el_tools
from emulator.run import report
from emulator.scenario import loader as scenario
from emulator.run.runner import run_scenario
from emulator.vmcore.vmcore_file import VmcoreFile
from kernels.structs import NT_PRSTATUS
from tests.conftest import small_scenario_text
from tests.test_real_tools import require_tool

PROJECT = Path(__file__).resolve().parents[3]
FADUMP_EMU = str(Path(sys.executable).with_name("fadump-emu"))
NIP = 0xC0000000000A5F10
"""conftest's crash.regs nip: the crashing CPU's pc."""


def require_compiler(little_endian: bool) -> None:
    require_tool("powerpc64le-linux-gnu-gcc" if little_endian else "powerpc64-linux-gnu-gcc")


def _run(tmp: Path, name: str, profile: str, endian: str, crash_cpu: int) -> Path:
    text = small_scenario_text(name=name, endian=endian, crash_cpu=crash_cpu, cpus=4,
                               kernel_extra=f'profile = "{profile}"')
    # 6.1 and 6.10 reserve their dump area right above boot memory, over conftest's high write: move it above.
    if profile != "linux-3.4":
        text = text.replace('addr = "0x18000000"', 'addr = "0x30000000"')
    path = tmp / f"{name}.toml"
    path.write_text(text)
    out = tmp / name
    result = run_scenario(scenario.load(path), str(out))
    report.write(result, str(out), report.check_expectations(result))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("debuggers")
    made = {}

    def get(profile: str, endian: str = "little", crash_cpu: int = 2) -> Path:
        key = (profile, endian, crash_cpu)
        if key not in made:
            made[key] = _run(tmp, f"{profile}-{endian}-{crash_cpu}".replace(".", ""), profile, endian, crash_cpu)
        return made[key]

    return get


def fadump_emu(*args: str, stdin: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, DEBUGINFOD_URLS="", LC_ALL="C")
    return subprocess.run([FADUMP_EMU, *args], capture_output=True, text=True, timeout=600, input=stdin,
                          env=env, cwd=cwd, check=False)


@pytest.mark.parametrize("profile", ["linux-3.4", "linux-6.1", "linux-6.10"])
@pytest.mark.parametrize("endian", ["little", "big"])
def test_gdb_starts_on_the_crashing_cpu_and_reads_the_kernel_data_by_name(runs, profile, endian):
    require_tool("gdb-multiarch")
    require_compiler(endian == "little")
    out = runs(profile, endian)
    proc = fadump_emu("gdb", str(out), "--", "-batch", "-ex", "p/x $pc", "-ex", "p crashing_cpu",
                      "-ex", "p init_uts_ns.name.release", "-ex", "p runqueues.cpu", "-ex", "info threads")
    assert proc.returncode == 0, proc.stderr
    values = re.findall(r"^\$\d+ = (.*)$", proc.stdout, re.MULTILINE)
    assert int(values[0], 16) == NIP
    assert values[1] == "2"
    assert values[2].startswith(f'"{profile.removeprefix("linux-")}.')
    assert re.search(r"^\* 3\s+LWP 3 ", proc.stdout, re.MULTILINE), proc.stdout


def test_gdb_cpu_option_selects_another_cpus_thread_and_the_saved_vmcore_keeps_pid_0(runs):
    require_tool("gdb-multiarch")
    require_compiler(True)
    out = runs("linux-6.10")
    proc = fadump_emu("gdb", str(out), "--cpu", "0", "--", "-batch", "-ex", "p/x $pc")
    assert proc.returncode == 0, proc.stderr
    pc = int(re.findall(r"^\$1 = (0x[0-9a-f]+)$", proc.stdout, re.MULTILINE)[0], 16)
    assert pc != NIP
    for path, pids in ((out / "vmcore", [0, 0, 0, 0]), (out / "debug" / "vmcore.gdb", [1, 2, 3, 4])):
        with VmcoreFile(str(path)) as vf:
            found = [int.from_bytes(desc[32:36], vf.byteorder) for name, t, desc, _ in vf.notes
                     if name == "CORE" and t == NT_PRSTATUS]
        assert found == pids, path


def test_gdb_refuses_a_cpu_without_a_note(runs):
    require_compiler(True)
    proc = fadump_emu("gdb", str(runs("linux-6.10")), "--cpu", "9")
    assert proc.returncode == 2
    assert "CPU 9 has no register note" in proc.stderr and "Traceback" not in proc.stderr


def test_a_folder_without_a_report_is_bad_input(tmp_path):
    proc = fadump_emu("drgn", str(tmp_path))
    assert proc.returncode == 2 and "no report.json" in proc.stderr


DRGN_SCRIPT = """
from drgn.helpers.linux.printk import get_dmesg
print("release", prog["init_uts_ns"].name.release.string_().decode())
t = prog.crashed_thread()
print("crashed", t.tid, t.object.comm.string_().decode(), t.object.cpu.value_())
print(get_dmesg(prog).decode())
"""


@pytest.mark.parametrize("endian", ["little", "big"])
def test_drgn_prints_init_uts_ns_finds_the_crashed_thread_and_walks_the_printk_ring(runs, endian, tmp_path):
    require_compiler(endian == "little")
    out = runs("linux-6.10", endian, crash_cpu=3)
    script = tmp_path / "s.py"
    script.write_text(DRGN_SCRIPT)
    proc = fadump_emu("drgn", str(out), "--", str(script))
    assert proc.returncode == 0, proc.stderr
    assert f" -s {out}/debug/vmlinux " in proc.stderr  # matched by build ID: BUILD-ID in 6.10's VMCOREINFO
    assert "release 6.10" in proc.stdout
    assert "crashed 0 swapper/3 3" in proc.stdout
    console = (out / "console.log").read_text()
    lines = console.splitlines()
    last = next(i for i, line in enumerate(lines) if "dump triggered" in line) - 1
    for line in (lines[0], lines[last]):  # the first boot's first and last kernel lines, as run printed them
        assert line.split("] ", 1)[1] in proc.stdout, line


def test_crash_starts_on_the_symbol_file_and_reads_the_log(runs):
    if not ppc64el_tools.available():
        if os.environ.get("CI") or os.environ.get("FADUMP_EMU_REQUIRE_TOOLS"):
            pytest.fail(ppc64el_tools.how_to_install())
        pytest.skip(ppc64el_tools.how_to_install())
    require_compiler(True)
    out = runs("linux-6.10")
    proc = fadump_emu("crash", str(out), "--", "-s", stdin="sym crashing_cpu\nrd -32 crashing_cpu 1\nlog\nexit\n")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"c000000001a00000 \(\w\) crashing_cpu", proc.stdout), proc.stdout
    assert re.search(r"c000000001a00000:\s+00000002", proc.stdout), proc.stdout
    assert "Kernel panic - not syncing" in proc.stdout


def readme_debugger_lines() -> list[str]:
    text = (PROJECT / "README.md").read_text()
    block = text.split("<!-- readme-debuggers:", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


README_EXPECT = [
    [r"^\$1 = 0x[0-9a-f]+$", r'^\$2 = "3\.4\.0', r"^\$3 = 3$"],
    [r"^\* 1\s+LWP 1 ", r"0xc000000004100000:\s+\"workload: order book"],
    [r"swapper/3"],
    [r"Kernel panic - not syncing"],
    [r"Kernel panic - not syncing"],
]


def test_readme_debugger_examples_run_as_written(tmp_path):
    """The README's debugger lines, run on the bundled scenarios they name."""
    require_tool("gdb-multiarch")
    require_compiler(True)
    lines = readme_debugger_lines()
    assert len(lines) == len(README_EXPECT)
    for name in ("basic-panic", "basic-panic-modern"):
        proc = fadump_emu("run", str(PROJECT / "scenarios" / f"{name}.toml"), "--out", f"out/{name}", "-q",
                          cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    for line, expect in zip(lines, README_EXPECT):
        if "fadump-emu crash" in line and not ppc64el_tools.available():
            continue
        cmd = line.replace("fadump-emu", FADUMP_EMU)
        proc = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                              env=dict(os.environ, DEBUGINFOD_URLS="", LC_ALL="C"))
        assert proc.returncode == 0, (line, proc.stderr)
        for pattern in expect:
            assert re.search(pattern, proc.stdout, re.MULTILINE), (line, pattern, proc.stdout)
    assert debuggers.DEBUG_DIR in os.listdir(tmp_path / "out" / "basic-panic")


# --- RUN_DIR/debug is written by these commands: never through a symlink planted there ---

def test_a_debug_folder_planted_as_a_symlink_is_refused_and_nothing_is_built_through_it(tmp_path, decoy, capsys):
    """RUN_DIR/debug -> a folder outside: exit 2 with a sentence; neither vmlinux nor vmcore.gdb lands there."""
    run_dir = _run(tmp_path, "planted", "linux-3.4", "little", 2)
    (run_dir / debuggers.DEBUG_DIR).symlink_to(decoy)
    info = debuggers.read_run(str(run_dir))
    for build in (debuggers.gdb_core, debuggers.symbol_file):
        with pytest.raises(BadInputError, match="the debug folder .*: is a symlink .*; remove the link"):
            build(info)
    assert sorted(p.name for p in decoy.iterdir()) == ["passwd"]


@pytest.mark.parametrize("planted", ["vmcore.gdb", "vmcore.gdb.partial"])
def test_the_gdb_core_replaces_a_planted_link_and_never_writes_through_it(tmp_path, decoy, planted):
    """RUN_DIR/debug/vmcore.gdb (or the old fixed temporary name beside it) as a link to a file outside: the
    derived core is built anyway, as a regular file, and the file outside is untouched."""
    run_dir = _run(tmp_path, "planted", "linux-3.4", "little", 2)
    (run_dir / debuggers.DEBUG_DIR).mkdir()
    (run_dir / debuggers.DEBUG_DIR / planted).symlink_to(decoy / "passwd")
    core = debuggers.gdb_core(debuggers.read_run(str(run_dir)))
    assert (decoy / "passwd").read_text() == "root:x:0:0\n"
    assert core.is_file() and not core.is_symlink() and core.read_bytes()[:4] == b"\x7fELF"
