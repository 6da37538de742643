"""Tests for emulator.scenario: every mistake in a scenario file is reported as PATH:LINE: message.

Each case writes TOML to a tmp file and marks the line the error must point at
with a ``# <-`` comment; the test finds that line and compares it with the
line in the ScenarioError.
"""

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.scenario import loader as scenario
from emulator.errors import ScenarioError
from emulator.hw.layout import Range
from emulator.run.runner import run_scenario
from emulator.run.runner import rehearse

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
MARK = "# <-"


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    """Write dedented TOML text (first line = line 1) to a file in tmp_path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def marked_line(path: Path) -> int:
    """The number of the one line carrying the ``# <-`` marker."""
    marked = [no for no, line in enumerate(path.read_text().splitlines(), 1) if MARK in line]
    assert len(marked) == 1, f"test bug: {len(marked)} marked lines"
    return marked[0]


def load_error(path: Path) -> ScenarioError:
    """Load ``path`` and return the ScenarioError it must raise."""
    with pytest.raises(ScenarioError) as info:
        scenario.load(path)
    return info.value


# (id, TOML with the offending line marked, text the message must contain)
MISTAKES = [
    ("invalid-toml", """
        [machine]
        memory = "8GiB"
        cpus 8  # <-
        """, "not valid TOML"),
    ("unknown-top-level-key", """
        name = "x"
        colour = "blue"  # <-
        [machine]
        memory = "8GiB"
        """, "unknown key 'colour' in the top level"),
    ("unknown-top-level-table", """
        name = "x"
        [machine]
        memory = "8GiB"
        [network]  # <-
        nic = "eth0"
        """, "unknown key 'network' in the top level"),
    ("bad-size", """
        [machine]
        cpus = 8
        memory = "8GiB!"  # <-
        """, "cannot read '8GiB!' as a size"),
    ("memory-not-a-multiple-of-lmb-size", """
        [machine]
        lmb_size = "256MiB"
        memory = "1000MiB"  # <-
        """, "multiple of lmb_size (256MiB)"),
    ("page-size-not-4k-or-64k", """
        [machine]
        memory = "8GiB"
        page_size = "16KiB"  # <-
        """, "page_size"),
    ("endian-neither-little-nor-big", """
        [machine]
        memory = "8GiB"
        endian = "middle"  # <-
        """, "machine.endian"),
    ("online-cpu-that-does-not-exist", """
        [machine]
        cpus = 4
        online_cpus = [0, 1, 4]  # <-
        """, "4 is not a CPU number below 4"),
    ("crash-on-an-offline-cpu", """
        [machine]
        cpus = 4
        online_cpus = [0, 1]
        [crash]
        at = "10s"
        cpu = 2  # <-
        """, "crash cpu 2 is offline"),
    ("crash-on-a-cpu-number-not-below-cpus", """
        [machine]
        cpus = 8
        [crash]
        cpu = 8  # <-
        """, "crash cpu 8 does not exist"),
    ("unknown-crash-kind", """
        [crash]
        cpu = 0
        kind = "meteor"  # <-
        """, "crash kind 'meteor' is not supported"),
    ("unknown-register-name", """
        [crash]
        cpu = 0
        [crash.regs]
        nip = "0xc0000000000a5f10"
        r99 = "0x1"  # <-
        """, "unknown register 'r99'"),
    ("register-value-too-large", """
        [crash]
        cpu = 0
        [crash.regs]
        nip = "0xc0000000000a5f10"
        gpr3 = "0x10000000000000000"  # <-
        """, "register gpr3 does not fit in 64 bits"),
    ("per-cpu-table-for-a-missing-cpu", """
        [machine]
        cpus = 2
        [cpu.0]
        regs = { nip = "0xc0000000000198c4" }
        [cpu.7]  # <-
        regs = { nip = "0xc0000000000198c4" }
        """, "'7' is not a CPU number below 2"),
    ("memory-write-with-both-hex-and-text", """
        [[memory.write]]
        addr = "0x4000000"
        text = "first"
        [[memory.write]]  # <-
        addr = "0x5000000"
        hex = "deadbeef"
        text = "both"
        [[memory.write]]
        addr = "0x6000000"
        text = "third"
        """, "exactly one of hex or text"),
    ("memory-write-with-neither-hex-nor-text", """
        [[memory.write]]
        addr = "0x4000000"
        text = "first"
        [[memory.write]]
        addr = "0x5000000"
        hex = "deadbeef"
        [[memory.write]]  # <-
        addr = "0x6000000"
        """, "exactly one of hex or text"),
    ("memory-write-with-bad-hex", """
        [[memory.write]]
        addr = "0x4000000"
        hex = "00ff"
        [[memory.write]]
        addr = "0x5000000"
        hex = "deadbeeg"  # <-
        [[memory.write]]
        addr = "0x6000000"
        hex = "01"
        """, "hex must be pairs of hex digits"),
    ("memory-write-past-end-of-memory", """
        [machine]
        memory = "1GiB"
        [[memory.write]]
        addr = "0x4000000"
        text = "fits"
        [[memory.write]]
        addr = "0x3ffffffe"  # <-
        hex = "deadbeef"
        """, "runs past the end of memory (0x40000000;"),
    ("event-without-action", """
        [[events]]
        action = "sysfs"
        at = "3s"
        path = "/sys/kernel/fadump_registered"
        value = "1"
        [[events]]  # <-
        at = "5s"
        path = "/sys/kernel/fadump_registered"
        value = "0"
        """, "needs action"),
    ("event-without-at", """
        [[events]]
        action = "sysfs"
        at = "3s"
        path = "/sys/kernel/fadump_registered"
        value = "1"
        [[events]]  # <-
        action = "sysfs"
        path = "/sys/kernel/fadump_registered"
        value = "0"
        """, "each event needs at"),
    ("unknown-kernel-profile", """
        [kernel]
        cmdline = "fadump=on"
        profile = "linux-6.6"  # <-
        """, "unknown kernel profile 'linux-6.6'"),
    ("hole-not-on-lmb-boundaries", """
        [machine]
        memory = "8GiB"
        lmb_size = "256MiB"
        holes = [{ start = "0x80000000", size = "100MiB" }]  # <-
        """, "LMB boundary"),
]


CASES = [pytest.param(text, fragment, id=name) for name, text, fragment in MISTAKES]
CASES.append(pytest.param("""
        [machine]
        cpus = 2
        [cpu.0.regs]
        nip = "0xc0000000000198c4"
        [cpu.7.regs]  # <-
        nip = "0xc0000000000198c4"
        """, "'7' is not a CPU number below 2", id="per-cpu-regs-header-for-a-missing-cpu"))


@pytest.mark.parametrize(("text", "fragment"), CASES)
def test_each_mistake_is_a_scenario_error_at_the_offending_line(tmp_path, text, fragment):
    """A scenario mistake raises ScenarioError whose text is PATH:LINE: message, LINE being the marked line."""
    path = write(tmp_path, text)
    err = load_error(path)
    line = marked_line(path)
    assert str(err).startswith(f"{path}:{line}: "), str(err)
    assert fragment in str(err)
    assert (err.path, err.line) == (str(path), line)


def test_invalid_toml_takes_its_line_from_tomllib(tmp_path):
    """A TOML syntax error is reported at the line tomllib names, without tomllib's own position suffix."""
    path = write(tmp_path, """
        name = "x"

        [machine]
        memory = "8GiB"
        memory = "4GiB"
        """)
    err = load_error(path)
    assert str(err).startswith(f"{path}:5: not valid TOML: ")
    assert "(at line" not in str(err)


def test_unknown_key_in_machine_lists_every_known_key(tmp_path):
    """An unknown key in [machine] is named, and the message lists the keys that [machine] accepts."""
    path = write(tmp_path, """
        [machine]
        memory = "8GiB"
        cpu = 8  # <-
        """)
    err = load_error(path)
    assert str(err).startswith(f"{path}:{marked_line(path)}: unknown key 'cpu' in [machine]; known keys: ")
    known = str(err).split("known keys: ", 1)[1].split(", ")
    for key in ("memory", "lmb_size", "holes", "cpus", "online_cpus", "page_size", "endian", "rma_size",
                "firmware", "mmu"):
        assert key in known


def test_a_bad_write_among_several_in_events_points_at_its_own_table(tmp_path):
    """A write given as an [[events]] entry is located at its own [[events]] header, not the first one."""
    path = write(tmp_path, """
        [[events]]
        action = "write"
        addr = "0x4000000"
        text = "ok"
        [[events]]
        action = "write"
        addr = "0x5000000"
        text = "ok too"
        [[events]]  # <-
        action = "write"
        addr = "0x6000000"
        """)
    err = load_error(path)
    assert str(err).startswith(f"{path}:{marked_line(path)}: a memory write needs exactly one of hex or text")


def test_a_missing_file_is_a_scenario_error_naming_the_file(tmp_path):
    """Loading a file that does not exist raises ScenarioError that names the path."""
    path = tmp_path / "missing.toml"
    err = load_error(path)
    assert str(err).startswith(f"{path}: ")
    assert err.line is None


VALID = """
    name = "valid-example"
    description = "every table, sizes in several spellings"

    [machine]
    memory = "8GiB"
    lmb_size = "256MiB"
    cpus = 4
    online_cpus = [2, 0, 1]
    page_size = "4KiB"
    endian = "big"
    holes = [{ start = "0x80000000", size = "256MiB" }]

    [kernel]
    cmdline = "root=/dev/sda2 fadump=on"

    [[memory.write]]
    addr = "0x100000000"
    hex = "de ad be ef"
    at = "8s"

    [[memory.write]]
    addr = 0x2000000
    text = "ab"
    repeat = 3
    boot = 2
    at = "250ms"

    [crash]
    cpu = 2
    at = "20s"

    [crash.regs]
    nip = "0xc0000000000a5f10"
    gpr1 = 0xc0000000fb4f3b80

    [cpu.1.regs]
    link = "0xc0000000000198c4"

    [[events]]
    action = "sysfs"
    at = 3
    path = "/sys/kernel/fadump_registered"
    value = "1"

    [capture]
    after = "stay"

    [expect]
    outcome = "vmcore"
    console = ["Firmware-assisted dump is active."]
    """


def test_a_valid_file_loads_with_sizes_and_addresses_parsed(tmp_path):
    """A valid scenario loads: "8GiB" is 8<<30, hex strings and TOML hex integers become addresses."""
    sc = scenario.load(write(tmp_path, VALID))
    mc = sc.machine
    assert sc.name == "valid-example"
    assert mc.memory == 8 << 30
    assert mc.lmb_size == 256 << 20
    assert mc.page_size == 4096
    assert mc.cpus == 4
    assert mc.online_cpus == [0, 1, 2]
    assert mc.little_endian is False
    assert mc.holes == [Range(0x8000_0000, 0x9000_0000)]
    assert sc.kernel.profile == "linux-3.4"
    assert sc.cpu_regs == {1: {"link": 0xC000_0000_0001_98C4}}
    assert sc.capture_after == "stay"
    assert sc.expect.outcome == "vmcore"
    writes = [e for e in sc.events if e.action == "write"]
    assert [(e.addr, e.data, e.repeat) for e in writes] == [(0x1_0000_0000, b"\xde\xad\xbe\xef", 1),
                                                             (0x200_0000, b"ab", 3)]
    assert [e.length for e in writes] == [4, 6]  # a pattern is kept once, not expanded
    crash = next(e for e in sc.events if e.action == "crash").crash
    assert (crash.cpu, crash.kind) == (2, "panic")
    assert crash.regs == {"nip": 0xC000_0000_000A_5F10, "gpr1": 0xC000_0000_FB4F_3B80}


def test_events_are_sorted_by_boot_then_time(tmp_path):
    """Writes, the crash and [[events]] come out in one list ordered by (boot, at), whatever the file order."""
    sc = scenario.load(write(tmp_path, VALID))
    assert [(e.boot, e.at, e.action) for e in sc.events] == [
        (1, 3.0, "sysfs"),
        (1, 8.0, "write"),
        (1, 20.0, "crash"),
        (2, 0.25, "write"),
    ]
    assert [e.boot for e in sc.events] == sorted(e.boot for e in sc.events)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.name)
def test_every_bundled_scenario_loads(path):
    """Each scenarios/*.toml file passes validation."""
    sc = scenario.load(path)
    assert sc.events


def test_the_bundled_scenarios_folder_is_not_empty():
    """The glob above finds the default scenario, so the bundled-scenario test is not vacuous."""
    assert (SCENARIOS / "basic-panic.toml").is_file()


# --- mistakes found only at run time ---

RUNTIME = """
    [machine]
    memory = "8GiB"
    cpus = 2

    [[memory.write]]
    addr = "0x100000000"
    text = "fine: above boot memory, below the reserved area"

    [[memory.write]]  # <-
    addr = "{addr}"
    hex = "deadbeef"

    [[memory.write]]
    addr = "0x180000000"
    text = "also fine"

    [crash]
    cpu = 0
    at = "30s"
    """


@pytest.mark.parametrize(
    ("addr", "fragment"),
    [
        ("0x1EC000000", "overlaps memory the kernel reserved"),
        ("0x1FFFFFFF0", "overlaps memory the kernel reserved"),
        ("0x1000000", "the running kernel's image"),
    ],
    ids=["inside-fadump-reserved-area", "end-of-fadump-reserved-area", "inside-kernel-image"],
)
def test_a_write_into_reserved_memory_is_a_scenario_error_at_the_write(tmp_path, addr, fragment):
    """A write into the 3.4 reservation at the top of RAM (known once the kernel reserved it) or into the kernel
    image (known on reading) names file and line; check-scenario's validation (load, then rehearse) finds both."""
    path = write(tmp_path, RUNTIME.format(addr=addr))
    with pytest.raises(ScenarioError) as info:
        rehearse(scenario.load(path))
    assert str(info.value).startswith(f"{path}:{marked_line(path)}: write [{int(addr, 16):#x}, ")
    assert fragment in str(info.value)


def test_a_run_time_scenario_error_keeps_its_path_and_line_attributes(tmp_path):
    """The ScenarioError raised by run_scenario carries path and line, like one raised by load."""
    path = write(tmp_path, RUNTIME.format(addr="0x1EC000000"))
    with pytest.raises(ScenarioError) as info:
        run_scenario(scenario.load(path), None)
    assert (info.value.path, info.value.line) == (str(path), marked_line(path))
    assert not info.value.reason.startswith(str(path))


# --- property: garbage never escapes as anything but ScenarioError ---

def toml_string(value: str) -> str:
    """A TOML basic string holding ``value`` exactly (every non-printable or non-ASCII character escaped)."""
    out = []
    for ch in value:
        if ch in '"\\' or not (0x20 <= ord(ch) < 0x7F):
            out.append(f"\\U{ord(ch):08X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


size_like = st.from_regex(r"\s?(0[xX][0-9a-fA-F_]{0,6}|[0-9_]{0,6})\s?[a-zA-Z!]{0,4}\s?", fullmatch=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.text(max_size=30) | size_like)
def test_garbage_as_machine_memory_only_ever_raises_scenario_error(tmp_path, garbage):
    """Any string as machine.memory either loads or raises ScenarioError, never another exception."""
    path = tmp_path / "garbage.toml"
    path.write_text(f"[machine]\nmemory = {toml_string(garbage)}\n")
    try:
        sc = scenario.load(path)
    except ScenarioError as exc:
        assert str(exc).startswith(f"{path}:")
    else:
        assert sc.machine.memory > 0 and sc.machine.memory % sc.machine.lmb_size == 0
