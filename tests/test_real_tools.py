"""The vmcores we write, read by independent real tools: pyelftools, readelf, eu-readelf and gdb-multiarch.

Each vmcore is built once per module (small 1 GiB scenarios from conftest, both kernel profiles, both byte
orders); the expected facts (workload text and where it was written, the crashing CPU's registers) are read back
from the scenario text itself, so these tests follow conftest when it changes. What each tool needs and prints is
in ../shared/reference/vmcore-consumers.md, sections 3, 4 and 6.
"""

import io
import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass

import pytest
from elftools.elf.elffile import ELFFile

from emulator.scenario import loader as scenario
from emulator.run.runner import run_scenario
from tests.conftest import small_scenario_text

KERNELBASE = 0xC000_0000_0000_0000
PRSTATUS_SIZE = 504
PROFILES = ("linux-3.4", "linux-6.1", "linux-6.10")
EVERY_CORE = pytest.mark.parametrize(("profile", "endian"),
                                     [(profile, endian) for profile in PROFILES for endian in ("little", "big")])
NOTE_P_ALIGN = {"linux-3.4": 0, "linux-6.1": 0, "linux-6.10": 4}
"""The merged PT_NOTE's p_align as each release's /proc/vmcore writes it (merge_note_headers_elf64(): 0 in 3.4
and 6.1, 4 in 6.10)."""
CONFTEST_HIGH_WRITE = 'addr = "0x18000000"'
HIGH_WRITE = {"linux-3.4": CONFTEST_HIGH_WRITE, "linux-6.1": 'addr = "0x30000000"',
              "linux-6.10": 'addr = "0x30000000"'}
"""Where the workload write above boot memory goes: 6.1 and 6.10 reserve their dump area right above boot memory
(first fit), [0x14000000, 0x280102a8) in 1 GiB for 6.10, over conftest's address, so that write moves above it."""
TOOLS_ADVICE = "run `make tools` (Debian packages gdb-multiarch elfutils binutils)"


def require_tool(name: str) -> str:
    """The tool's path; a missing tool fails the test under CI or FADUMP_EMU_REQUIRE_TOOLS, else skips it."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed; {TOOLS_ADVICE}"
    if os.environ.get("CI") or os.environ.get("FADUMP_EMU_REQUIRE_TOOLS"):
        pytest.fail(message)
    pytest.skip(message)


def run_tool(*argv: str) -> subprocess.CompletedProcess:
    """Run a real tool (which must exist) and return its completed process, output as text."""
    require_tool(argv[0])
    env = dict(os.environ, DEBUGINFOD_URLS="", LC_ALL="C")
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, check=False)


@dataclass
class Core:
    """One vmcore and what the scenario that produced it says should be in it."""

    path: str
    profile: str
    endian: str
    online: list[int]
    crash_cpu: int
    regs: dict[str, int]
    writes: list[tuple[int, bytes]]
    """(physical address, bytes) of each [[memory.write]]: first inside boot memory, then above it."""

    @property
    def crash_note_index(self) -> int:
        """Notes are in CPU order, one per online CPU."""
        return self.online.index(self.crash_cpu)


@pytest.fixture(scope="module")
def cores(tmp_path_factory):
    """Build (once per module) and return the vmcore of a small scenario for a profile, byte order and crashing CPU."""
    built: dict[tuple[str, str, int], Core] = {}

    def get(profile: str, endian: str, crash_cpu: int = 1) -> Core:
        key = (profile, endian, crash_cpu)
        if key not in built:
            name = f"tools-{profile}-{endian}-cpu{crash_cpu}"
            text = small_scenario_text(name=name, endian=endian, crash_cpu=crash_cpu,
                                       kernel_extra=f'profile = "{profile}"')
            assert text.count(CONFTEST_HIGH_WRITE) == 1, "conftest moved its write above boot memory"
            text = text.replace(CONFTEST_HIGH_WRITE, HIGH_WRITE[profile])
            folder = tmp_path_factory.mktemp(name)
            (folder / "scenario.toml").write_text(text)
            result = run_scenario(scenario.load(folder / "scenario.toml"), str(folder / "out"))
            assert result.outcome == "vmcore", result.outcome
            data = tomllib.loads(text)
            writes = [(int(w["addr"], 0), w["text"].encode() * w.get("repeat", 1)) for w in data["memory"]["write"]]
            regs = {name: int(value, 0) for name, value in data["crash"]["regs"].items()}
            online = [cpu.id for cpu in result.partition.cpus if cpu.online]
            built[key] = Core(result.captures[0].path, profile, endian, online, crash_cpu, regs, writes)
        return built[key]

    return get


def signed64(value: int) -> int:
    """How eu-readelf prints a 64-bit GPR: signed decimal."""
    return value - (1 << 64) if value >> 63 else value


def load_covering(elf: ELFFile, paddr: int, size: int):
    """The PT_LOAD whose physical range holds [paddr, paddr + size)."""
    for seg in elf.iter_segments():
        if seg["p_type"] == "PT_LOAD" and seg["p_paddr"] <= paddr and paddr + size <= seg["p_paddr"] + seg["p_filesz"]:
            return seg
    raise AssertionError(f"no PT_LOAD covers [{paddr:#x}, {paddr + size:#x})")


def read_paddr(stream, paddr: int, size: int) -> bytes:
    """Physical memory as a reader of the core finds it: at the file offset its covering PT_LOAD gives."""
    seg = load_covering(ELFFile(stream), paddr, size)
    stream.seek(seg["p_offset"] + paddr - seg["p_paddr"])
    return stream.read(size)


# --- pyelftools ---

@EVERY_CORE
def test_pyelftools_reads_a_ppc64_core_header_in_the_right_byte_order(cores, profile, endian):
    """The ELF header says ET_CORE, EM_PPC64 and the byte order the partition ran in."""
    with open(cores(profile, endian).path, "rb") as f:
        elf = ELFFile(f)
        assert elf["e_type"] == "ET_CORE"
        assert elf["e_machine"] == "EM_PPC64"
        assert elf["e_ident"]["EI_DATA"] == ("ELFDATA2LSB" if endian == "little" else "ELFDATA2MSB")
        assert elf.little_endian == (endian == "little")


@EVERY_CORE
def test_pyelftools_finds_one_leading_pt_note_with_a_prstatus_per_online_cpu_and_vmcoreinfo(cores, profile, endian):
    """Exactly one PT_NOTE, first; one 504-byte NT_PRSTATUS per online CPU; VMCOREINFO with the keys drgn needs."""
    core = cores(profile, endian)
    with open(core.path, "rb") as f:
        segments = list(ELFFile(f).iter_segments())
        assert [s["p_type"] for s in segments].count("PT_NOTE") == 1
        assert segments[0]["p_type"] == "PT_NOTE"
        notes = list(segments[0].iter_notes())
    prstatus = [n for n in notes if n["n_name"] == "CORE" and n["n_type"] == "NT_PRSTATUS"]
    assert len(prstatus) == len(core.online)
    assert all(n["n_descsz"] == PRSTATUS_SIZE for n in prstatus)
    vmcoreinfo = [n for n in notes if n["n_name"] == "VMCOREINFO"]
    assert len(vmcoreinfo) == 1
    text = vmcoreinfo[0]["n_desc"].decode()
    for key in ("OSRELEASE=", "PAGESIZE=", "SYMBOL(swapper_pg_dir)=", "CRASHTIME="):
        assert any(line.startswith(key) for line in text.splitlines()), f"VMCOREINFO lacks {key}\n{text}"


@EVERY_CORE
def test_the_merged_pt_note_has_the_p_align_of_its_generation_and_every_pt_load_has_0(cores, profile, endian):
    """PT_NOTE p_align is 0 under 3.4 and 6.1, 4 under 6.10 (fs/proc/vmcore.c merge_note_headers_elf64() of each);
    PT_LOADs have 0 in all."""
    with open(cores(profile, endian).path, "rb") as f:
        segments = list(ELFFile(f).iter_segments())
    assert [(s["p_type"], s["p_align"]) for s in segments if s["p_type"] == "PT_NOTE"] == [
        ("PT_NOTE", NOTE_P_ALIGN[profile])]
    loads = [s["p_align"] for s in segments if s["p_type"] == "PT_LOAD"]
    assert loads and set(loads) == {0}


@EVERY_CORE
def test_every_pt_load_maps_the_kernel_linear_address_and_lies_inside_the_file(cores, profile, endian):
    """Each PT_LOAD has p_vaddr == KERNELBASE + p_paddr and its bytes end within the file."""
    path = cores(profile, endian).path
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        loads = [s for s in ELFFile(f).iter_segments() if s["p_type"] == "PT_LOAD"]
    assert loads
    for seg in loads:
        assert seg["p_vaddr"] == KERNELBASE + seg["p_paddr"]
        assert seg["p_offset"] + seg["p_filesz"] <= size


@EVERY_CORE
def test_workload_text_is_at_the_file_offset_its_pt_load_gives(cores, profile, endian):
    """The text written inside and above boot memory is where the covering PT_LOAD says its paddr is."""
    core = cores(profile, endian)
    with open(core.path, "rb") as f:
        for paddr, data in core.writes:
            assert read_paddr(f, paddr, len(data)) == data, f"workload at {paddr:#x}"


@EVERY_CORE
def test_a_corrupted_byte_in_boot_memory_changes_what_pyelftools_reads(cores, profile, endian):
    """The text check is not vacuous: flip one byte of the boot-memory PT_LOAD in a copy and it no longer matches."""
    core = cores(profile, endian)
    paddr, data = core.writes[0]
    with open(core.path, "rb") as f:
        seg = load_covering(ELFFile(f), paddr, len(data))
        assert seg["p_paddr"] == 0, "the first workload write should be inside boot memory"
        offset = seg["p_offset"] + paddr - seg["p_paddr"] + 5
        f.seek(0)
        copy = bytearray(f.read(offset + len(data)))  # header, notes and boot memory up to past the text
    copy[offset] ^= 0xFF
    assert read_paddr(io.BytesIO(bytes(copy)), paddr, len(data)) != data
    with open(core.path, "rb") as f:
        assert read_paddr(f, paddr, len(data)) == data


# --- readelf (binutils) ---

@EVERY_CORE
def test_readelf_shows_powerpc64_the_byte_order_and_a_prstatus_per_cpu_without_warnings(cores, profile, endian):
    """readelf -W -h -l -n: Machine PowerPC64, the right Data line, 0x1f8-byte NT_PRSTATUS per online CPU."""
    core = cores(profile, endian)
    proc = run_tool("readelf", "-W", "-h", "-l", "-n", core.path)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stdout + proc.stderr
    assert re.search(r"^\s*Machine:\s+PowerPC64$", proc.stdout, re.MULTILINE)
    assert re.search(rf"^\s*Data:\s+2's complement, {endian} endian$", proc.stdout, re.MULTILINE)
    prstatus = [line for line in proc.stdout.splitlines() if "NT_PRSTATUS" in line]
    assert len(prstatus) == len(core.online)
    assert all("0x000001f8" in line for line in prstatus)


# --- eu-readelf (elfutils) ---

def eu_readelf_prstatus_blocks(path: str) -> list[str]:
    """eu-readelf -n output cut into one text block per PRSTATUS note, in file order."""
    proc = run_tool("eu-readelf", "-n", path)
    assert proc.returncode == 0, proc.stderr
    blocks = re.split(r"^\s*CORE\s+\d+\s+PRSTATUS\s*$", proc.stdout, flags=re.MULTILINE)[1:]
    return [re.split(r"^\s*VMCOREINFO\s", b, flags=re.MULTILINE)[0] for b in blocks]


def eu_field(block: str, name: str) -> str:
    """The value eu-readelf prints after ``name:`` in one note's block."""
    match = re.search(rf"(?<![\w])({re.escape(name)}):\s+(-?\w+)", block)
    assert match, f"{name} not in eu-readelf output:\n{block}"
    return match.group(2)


@EVERY_CORE
def test_eu_readelf_decodes_the_crashing_cpus_registers(cores, profile, endian):
    """The crashing CPU's note (CPU order) shows its nip, lr, msr and r1 (signed decimal) as the scenario set them."""
    core = cores(profile, endian)
    blocks = eu_readelf_prstatus_blocks(core.path)
    assert len(blocks) == len(core.online)
    assert core.crash_note_index == 1  # cpu 1 of 4, all online: the 2nd note
    note = blocks[core.crash_note_index]
    assert int(eu_field(note, "nip"), 16) == core.regs["nip"] == 0xC0000000000A5F10
    assert int(eu_field(note, "lr"), 16) == core.regs["link"] == 0xC0000000000A5E80
    assert int(eu_field(note, "msr"), 16) == core.regs["msr"]
    assert int(eu_field(note, "r1")) == signed64(core.regs["gpr1"]) == signed64(0xC0000000FB4F3B80)
    others = [b for i, b in enumerate(blocks) if i != core.crash_note_index]
    assert all(int(eu_field(b, "nip"), 16) != core.regs["nip"] for b in others)


# --- gdb-multiarch ---

@EVERY_CORE
def test_gdb_detects_the_byte_order_and_reads_registers_and_workload_memory(cores, profile, endian):
    """gdb auto-detects the byte order, shows the crashing cpu 0's pc and r1, and reads the workload text."""
    core = cores(profile, endian, crash_cpu=0)  # all pr_pid are 0: gdb shows only the first note's registers
    longest = max(len(data) for _, data in core.writes)
    argv = ["gdb-multiarch", "-nx", "-batch", "-ex", f"core-file {core.path}", "-ex", "show endian",
            # gdb 13 leaves the current thread on a terminated duplicate of pid 0; the one live thread
            # holds the first note's registers, so ask every live thread rather than the current one.
            "-ex", "thread apply all p/x $pc", "-ex", "thread apply all p/x $r1",
            "-ex", f"set print elements {longest}"]
    for paddr, _ in core.writes:
        argv += ["-ex", f"x/s {KERNELBASE + paddr:#x}"]
    proc = run_tool(*argv)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert f"The target endianness is set automatically (currently {endian} endian)" in out
    values = [int(v, 16) for v in re.findall(r"^\$\d+ = (0x[0-9a-f]+)$", out, re.MULTILINE)]
    assert values == [core.regs["nip"], core.regs["gpr1"]], out
    for paddr, data in core.writes:
        match = re.search(rf"^{KERNELBASE + paddr:#x}:\s+\"(.*)\"(\.\.\.)?$", out, re.MULTILINE)
        assert match, f"gdb printed no string at {KERNELBASE + paddr:#x}:\n{out}\n{proc.stderr}"
        assert match.group(1).encode() == data
