"""Bad scenario input never gives a traceback: exit 2, ``file:line: message``, the same for check-scenario and run.

Each case marks the line the message must name with ``# <-``.
"""

import os
import textwrap
from pathlib import Path

import pytest

from emulator.scenario import loader as scenario
from emulator.scenario import toml_lines
from emulator.cli import main
from emulator.errors import ScenarioError
from tests.conftest import small_scenario_text

MARK = "# <-"


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def marked_line(path: Path) -> int:
    marked = [no for no, line in enumerate(path.read_text().splitlines(), 1) if MARK in line]
    assert len(marked) == 1, "test bug: mark exactly one line"
    return marked[0]


def flat(text: str) -> str:
    return " ".join(text.split())


# (id, TOML with the line the message must name marked, words the message must hold)
CASES = [
    ("machine-is-a-number", 'machine = 5  # <-\n', "[machine] must be a table"),
    ("crash-is-a-number", 'crash = 5  # <-\n', "[crash] must be a table"),
    ("memory-is-a-number", 'memory = 5  # <-\n', "[memory] must be a table"),
    ("events-is-a-table", '[events]  # <-\naction = "crash"\n', "[[events]] must be an array"),
    ("event-is-a-number", 'events = [5]  # <-\n', "an [[events]] entry must be a table"),
    ("at-with-two-dots", '[crash]\nat = "1.2.3s"  # <-\n', "cannot read '1.2.3s' as a time"),
    ("at-inf", '[crash]\nat = inf  # <-\n', "time inf must be a finite number"),
    ("at-nan", '[crash]\nat = nan  # <-\n', "time nan must be a finite number"),
    ("at-negative", '[crash]\nat = -5  # <-\n', "time -5 must be a finite number of seconds from 0"),
    ("at-a-boolean", '[crash]\nat = true  # <-\n', "cannot read True as a time"),
    ("repeat-huge", '[[memory.write]]\naddr = "0x10000000"\ntext = "a"\nrepeat = 1000000000000000  # <-\n',
     "one write may fill at most"),
    ("repeat-zero", '[[memory.write]]\naddr = "0x10000000"\ntext = "a"\nrepeat = 0  # <-\n',
     "repeat must be at least 1, not 0"),
    ("memory-beyond-any-address", '[machine]\nmemory = "1048576PiB"  # <-\n', "machine.memory"),
    ("memory-beyond-3.4-physmem-bits", '[machine]\nmemory = "128TiB"  # <-\n', "MAX_PHYSMEM_BITS = 46"),
    ("memory-beyond-6.10-physmem-bits", '[machine]\nmemory = "4PiB"  # <-\n[kernel]\nprofile = "linux-6.10"\n',
     "MAX_PHYSMEM_BITS = 51"),
    ("hex-zz-in-expectation", '[[expect.memory]]\naddr = "0x10000000"\nhex = "zz"  # <-\n',
     "hex must be pairs of hex digits"),
    ("text-a-number-in-expectation", '[[expect.memory]]\naddr = "0x10000000"\ntext = 5  # <-\n',
     "text must be a string"),
    ("online-cpus-a-boolean", '[machine]\ncpus = 4\nonline_cpus = [true]  # <-\n', "True is not a CPU number"),
    ("cpus-a-boolean", '[machine]\ncpus = true  # <-\n', "machine.cpus must be an integer, not a boolean"),
    ("stuck-cpus-a-boolean", '[crash]\nstuck_cpus = [true]  # <-\n', "stuck_cpus must list CPU numbers"),
    ("crash-kind-a-table", '[crash]\nkind = {a = 1}  # <-\n', "crash kind {...} is not supported"),
    ("fault-kind-an-array", '[[faults]]\nkind = ["disk-full"]  # <-\n', "unknown fault kind [...]"),
    ("endian-an-array", '[machine]\nendian = ["big"]  # <-\n', "machine.endian must be"),
    ("register-save-area-replaced", '[machine]\nregister_save_area = {x = 1}  # <-\n',
     "machine.register_save_area was replaced by machine.firmware"),
    ("firmware-a-table", '[machine]\nfirmware = {x = 1}  # <-\n', "machine.firmware must be one of"),
    ("fault-fraction-a-boolean", '[[faults]]\nkind = "copy-interrupted"\nfraction = true  # <-\n',
     "fraction must be a number"),
    ("cpu-table-a-number", '[cpu]\n0 = 5  # <-\n', "[cpu.0] must be a table"),
    ("cpu-key-unicode-digit", '[cpu."\u00b2"]  # <-\nregs = {}\n', "is not a CPU number"),
    ("register-value-too-big", '[crash.regs]\nnip = 18446744073709551616  # <-\n', "does not fit in 64 bits"),
    ("epoch-negative", '[kernel]\nepoch = -1  # <-\n', "kernel.epoch must be at least 0, not -1"),
    ("cmdline-with-nul", '[kernel]\ncmdline = "fadump=on\\u0000"  # <-\n', "without NUL characters"),
    ("boot-zero", '[[events]]\naction = "sysfs"\nboot = 0  # <-\nat = 1\npath = "/x"\nvalue = "1"\n',
     "boot must be at least 1, not 0"),
    ("name-escapes-out", 'name = "../.."  # <-\n', "one plain name inside the output folder"),
    ("name-absolute", 'name = "/tmp/x"  # <-\n', "one plain name"),
    ("name-dot", 'name = "."  # <-\n', "starts with a dot"),
    ("name-empty", 'name = ""  # <-\n', "name is empty"),
    ("name-reserved-device", 'name = "nul"  # <-\n', "reserved device name"),
    ("capture-path-absolute", '[crash]\nat = 10\n[[events]]\naction = "capture"\nboot = 2\nat = 1\n'
                              'path = "/tmp/vmcore"  # <-\n', "capture path '/tmp/vmcore' has a /"),
    ("capture-path-dotdot", '[crash]\nat = 10\n[[events]]\naction = "capture"\nboot = 2\nat = 1\n'
                            'path = "../vmcore"  # <-\n', "has a /"),
    ("capture-path-dot", '[crash]\nat = 10\n[[events]]\naction = "capture"\nboot = 2\nat = 1\n'
                         'path = "."  # <-\n', "starts with a dot"),
    ("capture-path-dotdot-alone", '[crash]\nat = 10\n[[events]]\naction = "capture"\nboot = 2\nat = 1\n'
                                  'path = ".."  # <-\n', "starts with a dot"),
    ("capture-path-report", '[crash]\nat = 10\n[[events]]\naction = "capture"\nboot = 2\nat = 1\n'
                            'path = "report.json"  # <-\n', "a name the tool writes itself"),
    ("capture-path-vmcore-n", '[crash]\nat = 10\n[[events]]\naction = "capture"\nboot = 2\nat = 1\n'
                              'path = "vmcore.3"  # <-\n', "a name the tool writes itself"),
    ("capture-path-lock", '[crash]\nat = 10\n[[events]]\naction = "capture"\nboot = 2\nat = 1\n'
                          'path = ".fadump-emu.lock"  # <-\n', "starts with a dot"),
    ("capture-path-empty", '[crash]\nat = 10\n[[events]]\naction = "capture"\nboot = 2\nat = 1\n'
                           'path = ""  # <-\n', "capture path is empty"),
    ("deep-nesting", 'x = ' + "[" * 100000 + "]" * 100000 + '  # <-\n', "nested 100000 deep"),
    ("two-crashes-in-one-boot", '[[events]]\naction = "crash"\nat = 10\n[[events]]  # <-\naction = "crash"\n'
                                'at = 20\n', "boot 1 already crashes at 10s"),
    ("event-after-the-crash", '[crash]\nat = 10\n[[events]]  # <-\naction = "sysfs"\nat = 20\npath = "/x"\n'
                              'value = "1"\n', "comes after the crash at 10s"),
    ("event-for-a-boot-that-never-comes", '[[events]]  # <-\naction = "sysfs"\nboot = 3\nat = 1\npath = "/x"\n'
                                          'value = "1"\n', "boot 3, which never comes"),
    ("write-into-the-kernel-image", '[[memory.write]]  # <-\naddr = "0x100000"\ntext = "x"\n',
     "overlaps the running kernel's image"),
    ("write-into-a-hole", '[machine]\nmemory = "4GiB"\nholes = [{start = "1GiB", size = "256MiB"}]\n'
                          '[[memory.write]]  # <-\naddr = "0x40000010"\ntext = "x"\n', "touches the hole"),
    # Inputs that used to be ignored without a word (issue 15).
    ("crash-at-boundary-past-the-last", '[machine]\nmemory = "1GiB"\ncpus = 2\n[[faults]]  # <-\n'
                                        'kind = "crash-at-boundary"\nboundary = 99\n',
     "boundary 99 is never reached: this run passes"),
    ("power-loss-at-a-kernel-boundary", '[machine]\nmemory = "1GiB"\ncpus = 2\n[crash]\nat = 10\n[[faults]]  # <-\n'
                                        'kind = "crash-at-boundary"\nboundary = 0\ntrigger = "power-loss"\n',
     'trigger = "power-loss" strikes only while firmware copies memory'),
    ("crash-at-boundary-on-an-offline-cpu", '[machine]\nmemory = "1GiB"\ncpus = 4\nonline_cpus = [0, 1]\n'
                                           '[[faults]]  # <-\nkind = "crash-at-boundary"\nboundary = 1\ncpu = 3\n',
     "crash-at-boundary: cpu 3 is offline at boundary 1"),
    ("hypervisor-with-crash-regs", '[crash]\nkind = "hypervisor"\nat = 10\n[crash.regs]  # <-\nnip = 1\n',
     "crash regs would be ignored: with kind = \"hypervisor\" no kernel code runs"),
    ("hypervisor-event-with-regs", '[[events]]\naction = "crash"\nat = 10\nkind = "hypervisor"\n'
                                   'regs = {nip = 1}  # <-\n', "set the CPU's registers with [cpu.N.regs] instead"),
    ("hypervisor-with-message", '[crash]\nkind = "hypervisor"\nmessage = "x"  # <-\n',
     "crash message would be ignored"),
    ("oops-with-message", '[crash]\nkind = "oops"\nmessage = "x"  # <-\n',
     'kind = "oops" does not use it (kinds that do: panic); remove message, or set kind = "panic"'),
    ("panic-with-stuck-cpus", '[crash]\nstuck_cpus = [1]  # <-\n',
     'kind = "panic" does not use it (kinds that do: system-reset)'),
]


@pytest.mark.parametrize(("text", "fragment"), [pytest.param(t, f, id=i) for i, t, f in CASES])
def test_check_scenario_and_run_both_exit_2_with_file_line_and_no_traceback(tmp_path, capsys, text, fragment):
    """The same bad file: check-scenario and run exit 2, one line `file:LINE: message`, no traceback."""
    path = write(tmp_path, text)
    line = marked_line(path)
    for argv in (["check-scenario", str(path)], ["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]):
        assert main(argv) == 2, argv
        err = flat(capsys.readouterr().err)
        assert err.startswith(f"fadump-emu: {path}:{line}: "), err
        assert fragment in err, err
        assert "Traceback" not in err
    assert not (tmp_path / "out" / "report.json").exists()


# --- line numbers come from a parser that knows strings ---

def test_a_multi_line_string_holding_table_headers_does_not_move_later_lines(tmp_path):
    """`[[events]]` and `key =` text inside a multi-line description are text, not TOML: the error names line 8."""
    path = write(tmp_path, '''
        description = """
        [[events]]
        action = "crash"
        cpus = 3
        """
        [machine]
        memory = "8GiB"
        cpus = "many"  # <-
        ''')
    with pytest.raises(ScenarioError) as info:
        scenario.load(path)
    assert info.value.line == marked_line(path)


def test_a_literal_multi_line_string_with_headers_does_not_count_as_events(tmp_path):
    """The second [[events]] entry is located at its own header even after a ''' string holding one."""
    path = write(tmp_path, """
        description = '''
        [[events]]
        at = 1
        '''
        [[events]]
        action = "sysfs"
        at = 1
        path = "/x"
        value = "1"
        [[events]]  # <-
        action = "meteor"
        at = 2
        """)
    with pytest.raises(ScenarioError) as info:
        scenario.load(path)
    assert info.value.line == marked_line(path)


def test_each_item_of_an_inline_array_has_its_own_line(tmp_path):
    """holes = [ {...}, {...} ] across lines: the bad second hole is named at its own line."""
    path = write(tmp_path, """
        [machine]
        memory = "8GiB"
        holes = [
          { start = "1GiB", size = "256MiB" },
          { start = "2GiB", size = "100MiB" },  # <-
        ]
        """)
    with pytest.raises(ScenarioError) as info:
        scenario.load(path)
    assert info.value.line == marked_line(path)


def test_key_lines_maps_quoted_dotted_and_inline_keys():
    """The tokenizer: quoted keys, dotted keys, inline tables and array-of-table indexes."""
    text = 'a = 1\n[t]\n"q.k" = 2\nx.y = 3\ninl = { p = 1, r = [1, 2] }\n[[e]]\nv = 1\n[[e]]\nv = 2\n'
    lines = toml_lines.key_lines(text)
    assert lines[("a",)] == 1
    assert lines[("t", "q.k")] == 3
    assert lines[("t", "x", "y")] == 4
    assert lines[("t", "inl", "r", 1)] == 5
    assert lines[("e", 1, "v")] == 9


def test_nesting_counts_brackets_outside_strings_only():
    assert toml_lines.nesting('s = "[[[["\nx = [[1]]\n') == (2, 2)


# --- one validation: check-scenario refuses what run refuses ---

def test_check_scenario_refuses_a_write_into_the_reserved_area_as_run_does(tmp_path, capsys):
    """The reserved area is known only once the kernel reserved it: check-scenario rehearses the run to find it."""
    path = tmp_path / "s.toml"
    path.write_text(small_scenario_text(extra='[[events]]\naction = "write"\nat = 5\naddr = "0x3C000000"\n'
                                              'hex = "ff"\n'))
    line = path.read_text().splitlines().index("[[events]]") + 1
    for argv in (["check-scenario", str(path)], ["run", str(path), "--out", str(tmp_path / "o"), "--quiet"]):
        assert main(argv) == 2
        err = flat(capsys.readouterr().err)
        assert f"s.toml:{line}: write [0x3c000000, 0x3c000001) overlaps memory the kernel reserved" in err


def test_check_scenario_refuses_events_for_a_boot_that_does_not_come_because_fadump_is_off(tmp_path, capsys):
    """With fadump=off boot 1's crash ends the partition: an event for boot 2 is refused by both commands."""
    path = tmp_path / "s.toml"
    path.write_text(small_scenario_text(cmdline="fadump=off", extra='[[events]]\naction = "sysfs"\nboot = 2\n'
                                        'at = 1\npath = "/sys/kernel/fadump/registered"\nvalue = "1"\n'))
    for argv in (["check-scenario", str(path)], ["run", str(path), "--out", str(tmp_path / "o"), "--quiet"]):
        assert main(argv) == 2
        assert "event for boot 2 never runs" in flat(capsys.readouterr().err)


def test_a_bad_file_in_fadump_emu_test_is_one_error_row_and_the_rest_still_runs(tmp_path, capsys):
    """A deeply nested file and a file with machine = 5 are ERROR rows; the good scenario still passes."""
    (tmp_path / "good.toml").write_text(small_scenario_text(name="good"))
    (tmp_path / "deep.toml").write_text("x = " + "[" * 50000 + "]" * 50000 + "\n")
    (tmp_path / "table.toml").write_text("machine = 5\n")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    assert main(["test", str(tmp_path), "-j", "1", "--out", str(tmp_path / "out")]) == 1
    out = flat(capsys.readouterr().out)
    assert "3 errors" in out and "1 passed" in out
    assert "deep.toml:1: arrays or tables nested 50000 deep" in out
    assert "table.toml:1: [machine] must be a table" in out
    assert "Traceback" not in out


def test_a_fifo_a_folder_or_a_huge_file_as_scenario_is_refused_without_reading_it(tmp_path, capsys):
    """Non-regular files would block (a FIFO) or never end (a device); a 5 MiB file is not a scenario."""
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * (5 << 20) + "\n")
    for path, words in ((fifo, "is not a regular file"), (huge, "larger than 4 MiB")):
        assert main(["check-scenario", str(path)]) == 2
        assert words in flat(capsys.readouterr().err)
    # check-scenario takes folders (every scenario in them); run takes one file.
    assert main(["run", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "is a folder" in flat(capsys.readouterr().err)


def test_writes_adding_up_past_the_workload_limit_are_refused_at_the_write_that_passes_it(tmp_path, monkeypatch):
    """The limit is on the sum of all writes (1 GiB; 4 KiB here), so many writes cannot exhaust host memory."""
    import emulator.scenario.parts

    monkeypatch.setattr(emulator.scenario.parts, "MAX_WRITE", 4096)
    path = write(tmp_path, """
        [[memory.write]]
        addr = "0x10000000"
        hex = "00"
        repeat = 4000
        [[memory.write]]
        addr = "0x20000000"
        hex = "0000"
        repeat = 50  # <-
        """)
    with pytest.raises(ScenarioError) as info:
        scenario.load(path)
    assert info.value.line == marked_line(path)
    assert "memory writes add up to 4100 bytes, more than 4096" in str(info.value)


def test_a_crash_kind_aimed_at_the_firmware_copy_is_refused_with_the_trigger_that_can_strike_there(tmp_path, capsys):
    """No kernel runs while firmware copies memory: only trigger = "power-loss" can strike at that boundary."""
    from emulator.run.runner import Run

    text = '[machine]\nmemory = "1GiB"\ncpus = 2\n[kernel]\nprofile = "linux-6.10"\n[crash]\nat = 10\n'
    labels = Run(scenario.loads(text, "base.toml"), None).execute().boundaries
    copy = labels.index("firmware: preserving memory")
    path = write(tmp_path, text + f'[[faults]]  # <-\nkind = "crash-at-boundary"\nboundary = {copy}\n')
    assert main(["check-scenario", str(path)]) == 2
    err = flat(capsys.readouterr().err)
    assert err.startswith(f"fadump-emu: {path}:{marked_line(path)}: "), err
    assert 'trigger = "panic" cannot strike there; use trigger = "power-loss"' in err
    path.write_text(text + f'[[faults]]\nkind = "crash-at-boundary"\nboundary = {copy}\ntrigger = "power-loss"\n')
    assert main(["check-scenario", str(path)]) == 0


def test_empty_stuck_cpus_and_crash_regs_of_other_kinds_are_still_accepted():
    """Only a key the kind would really ignore is refused: an empty list asks for nothing."""
    for kind in ("panic", "sysrq", "oops", "system-reset"):
        scenario.loads(f'[crash]\nkind = "{kind}"\nstuck_cpus = []\n[crash.regs]\nnip = 1\n', "ok.toml")
    scenario.loads('[crash]\nkind = "hypervisor"\nstuck_cpus = []\n[cpu.0.regs]\nnip = 1\n', "ok.toml")
