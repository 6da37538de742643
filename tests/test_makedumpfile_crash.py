"""The vmcores we write, read by Debian's own ppc64el makedumpfile and crash under qemu-user.

This is the tool chain a real fadump capture runs (kdump-utils: ``makedumpfile -l --message-level 7 -d 31
/proc/vmcore ...``), so it is the strongest check that a vmcore is usable. The tools come from
``make ppc64el-tools`` (emulator/host/ppc64el_tools.py); without them these tests skip with that advice, and fail
under CI or FADUMP_EMU_REQUIRE_TOOLS. The bundled 8 GiB scenarios (the little-endian 3.4 what-if and
basic-panic-modern for 6.10; the default big-endian basic-panic for the tools' big-endian limit) are run once per
module; what makedumpfile and crash need from VMCOREINFO, and the errors they print otherwise, are in
../shared/reference/vmcore-consumers.md §4.5 and §8.
"""

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import drgn
import pytest
from elftools.elf.elffile import ELFFile

from emulator.host import ppc64el_tools
from emulator.scenario import loader as scenario
from emulator.run.runner import run_scenario

PROJECT = Path(__file__).resolve().parent.parent
SCENARIOS = {"linux-3.4": PROJECT / "scenarios" / "what-if" / "little-endian-3-4.toml",
             "linux-6.10": PROJECT / "scenarios" / "basic-panic-modern.toml"}
"""Debian's ppc64el tools read only little-endian vmcores, and no little-endian 3.4 kernel existed: the 3.4
design is read here through the explicitly named what-if scenario (the default basic-panic is big-endian)."""
BIG_ENDIAN = PROJECT / "scenarios" / "basic-panic.toml"
"""The default scenario: big-endian Linux 3.4, as 3.4 really was."""
KDUMP_SIGNATURE = b"KDUMP   "
"""The first 8 bytes of a kdump-compressed file (makedumpfile's disk_dump_header.signature)."""
LEVEL_PREFIX = re.compile(r"^<\d>")
"""The printk level that the 3.4 character ring (and so makedumpfile and crash) keep before each line."""

PRB_KEYS = ("SYMBOL(prb), SIZE(printk_ringbuffer|prb_desc|printk_info), "
            "OFFSET(printk_ringbuffer.desc_ring|text_data_ring), "
            "OFFSET(prb_desc_ring.count_bits|descs|infos|head_id|tail_id), OFFSET(prb_desc.state_var|text_blk_lpos), "
            "OFFSET(prb_data_blk_lpos.begin|next), OFFSET(prb_data_ring.size_bits|data), "
            "OFFSET(printk_info.ts_nsec|text_len), OFFSET(atomic_long_t.counter)")
"""The VMCOREINFO keys makedumpfile 1.7.2 reads for the lockless printk_ringbuffer of 5.10 and later."""
PROFILES = pytest.mark.parametrize("profile", list(SCENARIOS))
MAKEDUMPFILE_PROFILES = pytest.mark.parametrize("profile", ["linux-6.10"])
"""The profiles whose dumps makedumpfile 1.7.2 gets through: the 3.4 one stops early (see the 3.4 test below)."""


def require_ppc64el_tools() -> None:
    """A missing tool chain fails the test under CI or FADUMP_EMU_REQUIRE_TOOLS, else skips it."""
    if ppc64el_tools.available():
        return
    message = ppc64el_tools.how_to_install()
    if os.environ.get("CI") or os.environ.get("FADUMP_EMU_REQUIRE_TOOLS"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def tools():
    """Every test here needs the tool chain: check it before building any vmcore."""
    require_ppc64el_tools()


@dataclass
class Core:
    """One vmcore (in its own folder, the tools' working directory) and what its scenario put in it."""

    folder: Path
    release: str
    writes: list[tuple[int, bytes]]
    """(physical address, bytes) of each workload write of the first kernel."""
    dmesg: list[str]
    """The first kernel's printk lines, as its console showed them: everything it logged up to the crash."""

    @property
    def vmcore(self) -> Path:
        return self.folder / "vmcore"


@pytest.fixture(scope="module")
def cores(tmp_path_factory):
    """Run (once per module) a scenario into a tmp folder and return its Core."""
    built: dict[Path, Core] = {}

    def get(path: Path) -> Core:
        if path not in built:
            folder = tmp_path_factory.mktemp(path.stem)
            sc = scenario.load(path)
            result = run_scenario(sc, str(folder))
            assert result.outcome == "vmcore", result.outcome
            assert Path(result.captures[0].path) == folder / "vmcore"
            writes = [(ev.addr, ev.data * ev.repeat) for ev in sc.events if ev.action == "write" and ev.boot == 1]
            dmesg = [line.render() for line in result.partition.console.lines if line.source == "kernel1"]
            built[path] = Core(folder, sc.kernel.release(sc.kernel.profile, False), writes, dmesg)
        return built[path]

    return get


def makedumpfile(core: Core, *args: str):
    """makedumpfile ARGS in the core's folder (relative paths: nothing is looked up in the sysroot)."""
    return ppc64el_tools.makedumpfile(list(args), cwd=core.folder)


def crash(core: Core, *args: str):
    return ppc64el_tools.crash(list(args), cwd=core.folder)


def shown(proc) -> str:
    return f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def log_lines(text: str) -> list[str]:
    """A dmesg text as lines without their printk level prefix."""
    return [LEVEL_PREFIX.sub("", line) for line in text.splitlines() if line.strip()]


def read_paddr_elf(path: Path, paddr: int, size: int) -> bytes:
    """Physical memory as pyelftools finds it: at the file offset the covering PT_LOAD gives."""
    with open(path, "rb") as f:
        for seg in ELFFile(f).iter_segments():
            if (seg["p_type"] == "PT_LOAD" and seg["p_paddr"] <= paddr
                    and paddr + size <= seg["p_paddr"] + seg["p_filesz"]):
                f.seek(seg["p_offset"] + paddr - seg["p_paddr"])
                return f.read(size)
    raise AssertionError(f"no PT_LOAD of {path.name} covers [{paddr:#x}, {paddr + size:#x})")


def drgn_reads(path: Path, core: Core) -> None:
    """drgn opens ``path`` as a ppc64le Linux kernel core and finds every workload write physically."""
    prog = drgn.Program()
    prog.set_core_dump(str(path))
    assert prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL
    assert prog.platform.arch == drgn.Architecture.PPC64
    assert prog.platform.flags & drgn.PlatformFlags.IS_LITTLE_ENDIAN
    for paddr, data in core.writes:
        assert prog.read(paddr, len(data), True) == data, f"workload at {paddr:#x} in {path.name}"


def test_makedumpfile_runs_under_qemu_and_has_lzo():
    """makedumpfile -v prints its version under qemu-ppc64le-static, with lzo (what -l needs) enabled."""
    proc = ppc64el_tools.makedumpfile(["-v"])
    assert proc.returncode == 0, shown(proc)
    assert proc.stdout.startswith("makedumpfile: version "), shown(proc)
    assert re.search(r"^lzo\s+enabled$", proc.stdout, re.MULTILINE), shown(proc)


@MAKEDUMPFILE_PROFILES
def test_makedumpfile_elf_output_holds_the_workload_at_its_physical_address(cores, profile):
    """makedumpfile -E -d 0 copies every page; pyelftools and drgn find the workload text in its output."""
    core = cores(SCENARIOS[profile])
    need = os.path.getsize(core.vmcore) + (1 << 30)
    free = shutil.disk_usage(core.folder).free
    if free < need:  # -E -d 0 writes every page, zero or not: the output is not sparse
        message = f"makedumpfile -E -d 0 needs {need >> 30} GiB free in {core.folder}, {free >> 30} GiB are"
        if os.environ.get("CI") or os.environ.get("FADUMP_EMU_REQUIRE_TOOLS"):
            pytest.fail(message)
        pytest.skip(message)
    out = core.folder / "out.elf"
    try:
        proc = makedumpfile(core, "-E", "-d", "0", "vmcore", out.name)
        assert proc.returncode == 0, shown(proc)
        assert "makedumpfile Completed." in proc.stdout, shown(proc)
        for paddr, data in core.writes:
            assert read_paddr_elf(out, paddr, len(data)) == data, f"workload at {paddr:#x}"
        drgn_reads(out, core)
    finally:
        out.unlink(missing_ok=True)


def test_debian_12s_makedumpfile_cannot_read_struct_page_of_a_sparsemem_vmemmap_kernel(cores):
    """-l -d 31 fails on 6.10 as Debian 12's makedumpfile 1.7.2 fails on a real 6.12 dump (measured).

    Why (makedumpfile 1.7.2 arch/ppc64.c get_machdep_info_ppc64): with neither SYMBOL(vmap_area_list) nor
    SYMBOL(vmlist) it returns before reading swapper_pg_dir and vmemmap_list, so vaddr_to_paddr_ppc64 turns
    the vmemmap address into vaddr - _stext, a physical address the dump does not have. Linux 6.9 removed
    vmap_area_list and publishes NUMBER(VMALLOC_START) instead (kernel/vmcore_info.c, 6.10 and 6.12), which
    1.7.5 and later read (commit "ppc64: get vmalloc start address from vmcoreinfo").
    """
    core = cores(SCENARIOS["linux-6.10"])
    proc = makedumpfile(core, "-l", "--message-level", "7", "-d", "31", "vmcore", "out.kdump")
    assert proc.returncode == 1, shown(proc)
    assert "readmem: type_addr: 0, addr:c00c000000000000" in proc.stderr, shown(proc)
    assert "Can't read the buffer of struct page" in proc.stderr, shown(proc)
    assert "makedumpfile Failed." in proc.stdout, shown(proc)
    assert not (core.folder / "out.kdump").exists()


@MAKEDUMPFILE_PROFILES
def test_makedumpfile_dump_dmesg_prints_the_first_kernels_log_up_to_the_crash(cores, profile):
    """makedumpfile --dump-dmesg writes exactly the first kernel's console lines, the panic last."""
    core = cores(SCENARIOS[profile])
    proc = makedumpfile(core, "--dump-dmesg", "vmcore", "dmesg.txt")
    assert proc.returncode == 0, shown(proc)
    lines = log_lines((core.folder / "dmesg.txt").read_text(errors="replace"))
    assert lines == core.dmesg
    assert "Kernel panic - not syncing" in lines[-1]


@pytest.mark.parametrize("args", [["-E", "-d", "0", "vmcore", "out.elf"],
                                  ["-l", "--message-level", "7", "-d", "31", "vmcore", "out.kdump"],
                                  ["--dump-dmesg", "vmcore", "dmesg.txt"]], ids=["elf", "kdump", "dmesg"])
def test_makedumpfile_cannot_size_physical_memory_from_the_3_4_flatmem_key_set(cores, args):
    """What makedumpfile 1.7.2 does with this 3.4 dump: 3.4's VMCOREINFO has no NUMBER(MAX_PHYSMEM_BITS)
    (kernel/kexec.c, v3.4 crash_save_vmcoreinfo_init()), so set_ppc64_max_physmem_bits() falls back to matching
    LENGTH(mem_section), which only a SPARSEMEM kernel publishes. The emulated 3.4 kernel is FLATMEM (mem_map)
    and so writes no mem_section: makedumpfile stops before reading anything. A real 3.4 pseries_defconfig
    kernel was SPARSEMEM (ARCH_SPARSEMEM_DEFAULT with SMP && PPC_PSERIES) and got past this check."""
    core = cores(SCENARIOS["linux-3.4"])
    proc = makedumpfile(core, *args)
    assert proc.returncode == 1, shown(proc)
    assert "get_machdep_info_ppc64: Can't detect max_physmem_bits." in proc.stderr, shown(proc)
    assert not (core.folder / args[-1]).exists()


@PROFILES
def test_crash_osrelease_prints_the_scenarios_release(cores, profile):
    """crash --osrelease reads OSRELEASE from VMCOREINFO without a vmlinux."""
    core = cores(SCENARIOS[profile])
    proc = crash(core, "--osrelease", "vmcore")
    assert proc.returncode == 0, shown(proc)
    assert proc.stdout.strip() == core.release


def test_crash_log_prints_the_first_kernels_log_of_the_3_4_kernel(cores):
    """crash --log prints the first kernel's console lines from the 3.4 printk buffer in the vmcore."""
    core = cores(SCENARIOS["linux-3.4"])
    proc = crash(core, "--log", "vmcore")
    assert proc.returncode == 0, shown(proc)
    assert log_lines(proc.stdout) == core.dmesg


def test_crash_log_cannot_read_the_6_10_ring_without_a_vmlinux(cores):
    """Known limitation: crash 8.0.2's VMCOREINFO-only --log knows the log_buf formats, not SYMBOL(prb)."""
    core = cores(SCENARIOS["linux-6.10"])
    proc = crash(core, "--log", "vmcore")
    assert proc.returncode == 1, shown(proc)
    assert "VMCOREINFO: no log buffer data" in proc.stdout + proc.stderr, shown(proc)


@pytest.mark.parametrize("args", [["-l", "--message-level", "7", "-d", "31", "vmcore", "out.kdump"],
                                  ["-E", "-d", "0", "vmcore", "out.elf"]], ids=["kdump", "elf"])
def test_makedumpfile_cannot_read_a_big_endian_vmcore(cores, args):
    """Known limitation: makedumpfile reads ELF headers in host byte order, so a ppc64 (BE) vmcore fails."""
    core = cores(BIG_ENDIAN)
    proc = makedumpfile(core, *args)
    assert proc.returncode == 1, shown(proc)
    assert "get_elf_info: Can't get the number of PT_LOAD." in proc.stderr, shown(proc)
    assert "makedumpfile Failed." in proc.stdout, shown(proc)
    assert not (core.folder / args[-1]).exists()


def test_crash_reports_an_unknown_release_for_a_big_endian_vmcore(cores):
    """Known limitation: the little-endian crash cannot read a big-endian vmcore's release."""
    core = cores(BIG_ENDIAN)
    proc = crash(core, "--osrelease", "vmcore")
    assert proc.returncode == 1, shown(proc)
    assert proc.stdout.strip() == "unknown"


def test_the_kdump_utils_capture_stops_where_makedumpfile_1_7_2_stops_on_this_dump(tmp_path):
    """capture.tool = makedumpfile with Debian 12's 1.7.2 on the 3.4 what-if dump: the capture fails with the
    tool's own message, and the run says so (outcome capture-failed), rather than a vmcore it could not write."""
    require_ppc64el_tools()
    path = Path(__file__).resolve().parent.parent / "scenarios" / "distro" / "kdump-utils-capture.toml"
    result = run_scenario(scenario.load(path), str(tmp_path / "out"))
    assert result.outcome == "capture-failed"
    assert any("Can't detect max_physmem_bits" in line.text for line in result.partition.console.lines)

