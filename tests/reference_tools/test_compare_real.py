"""The point-by-point comparison of an emulator run with a reference case (emulator.host.compare_real).

A reference case made from an emulator run itself must compare equal everywhere; each planted difference (a console
line, a sysfs text, an ELF field, a VMCOREINFO value) must show as "different", and the ALLOWED ones as "allowed".
"""

import json
import shutil

import pytest

from emulator.host import compare_real
from emulator.run import report
from emulator.host import reference_console
from emulator.scenario import loader as scenario
from emulator.cli import main as cli_main
from emulator.run.runner import run_scenario

SCENARIO = """
name = "cmp"
[machine]
memory = "2GiB"
cpus = 2
[kernel]
profile = "linux-6.10"
cmdline = "console=hvc0 fadump=on crashkernel=512M"
[crash]
cpu = 1
kind = "sysrq"
at = "20s"
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    path = out / "cmp.toml"
    path.write_text(SCENARIO)
    result = run_scenario(scenario.load(path), str(out / "run"))
    report.write(result, str(out / "run"), report.check_expectations(result))
    return out / "run"


def make_reference(run_dir, dest):
    """A reference case folder holding what the emulator run showed, in real_reference's format."""
    dest.mkdir()
    report = json.loads((run_dir / "report.json").read_text())
    console = (run_dir / "console.log").read_text()
    kept = "".join(line for line in console.splitlines(keepends=True)
                   if not any(p.match(reference_console.strip_timestamp(line))
                              for p in compare_real.IGNORED_CONSOLE))
    for n, text in enumerate(reference_console.split_boots(kept)):
        (dest / f"console-boot{n}.log").write_text(text)
    sections = [{"boot": int(b) - 1, "label": f"boot{int(b) - 1}-step0", "path": path, "text": text}
                for b, files in report["sysfs"].items() for path, text in files.items() if text is not None]
    (dest / "files.txt").write_text(reference_console.files_txt(sections))
    vmcore = compare_real.emulator_vmcores(run_dir, report)[0]
    (dest / "vmcore-head.bin").write_bytes(vmcore.read_bytes()[:128 * 1024])
    (dest / "case.json").write_text("{}")
    return dest


def different(points):
    return [p.name for p in points if p.status == "different"]


def test_a_run_compared_with_itself_has_no_difference(run_dir, tmp_path):
    ref = make_reference(run_dir, tmp_path / "ref")
    points = compare_real.compare(ref, run_dir)
    assert different(points) == []
    names = {p.name for p in points}
    assert {"console/boot0", "console/boot1", "notes/sequence", "vmcoreinfo/key-count", "elf/header/e_phnum"} <= names


def test_a_changed_console_line_is_caught(run_dir, tmp_path):
    ref = make_reference(run_dir, tmp_path / "ref")
    boot1 = ref / "console-boot1.log"
    text = boot1.read_text()
    line = next(x for x in text.splitlines() if "fadump: " in x)
    boot1.write_text(text.replace(line, line + " (changed)"))
    assert different(compare_real.compare(ref, run_dir)) == ["console/boot1"]


def test_a_changed_sysfs_text_is_caught(run_dir, tmp_path):
    ref = make_reference(run_dir, tmp_path / "ref")
    files = ref / "files.txt"
    files.write_text(files.read_text().replace("1\n", "0\n", 1))
    assert len(different(compare_real.compare(ref, run_dir))) == 1
    assert different(compare_real.compare(ref, run_dir))[0].startswith("sysfs/boot0/")


def test_a_changed_vmcoreinfo_value_is_caught_but_a_symbol_address_is_allowed(run_dir, tmp_path):
    ref = make_reference(run_dir, tmp_path / "ref")
    head = bytearray((ref / "vmcore-head.bin").read_bytes())
    at = head.index(b"PAGESIZE=65536")
    head[at:at + 14] = b"PAGESIZE=16384"
    sym = head.index(b"SYMBOL(")
    digit = head.index(b"=", sym) + 1 + 3
    head[digit] = ord("0") if head[digit] != ord("0") else ord("1")
    (ref / "vmcore-head.bin").write_bytes(bytes(head))
    points = compare_real.compare(ref, run_dir)
    assert different(points) == ["vmcoreinfo/PAGESIZE"]
    assert any(p.status == "allowed" and p.name.startswith("vmcoreinfo/SYMBOL(") for p in points)


def test_a_changed_program_header_is_caught(run_dir, tmp_path):
    ref = make_reference(run_dir, tmp_path / "ref")
    head = bytearray((ref / "vmcore-head.bin").read_bytes())
    phoff = int.from_bytes(head[32:40], "little")
    head[phoff + 56 + 4] ^= 0x2  # second program header's p_flags
    (ref / "vmcore-head.bin").write_bytes(bytes(head))
    assert different(compare_real.compare(ref, run_dir)) == ["elf/phdr1/p_flags"]


def test_the_allowed_rules_apply_to_a_second_vmcores_points_too():
    """A second crash's dump is compared as "vmcore2/..." (compare()); its symbol addresses, BUILD-ID and
    CRASHTIME differ between two correct dumps as the first one's do."""
    for name in ("vmcore2/vmcoreinfo/SYMBOL(init_uts_ns)", "vmcore2/vmcoreinfo/BUILD-ID",
                 "vmcore2/vmcoreinfo/CRASHTIME", "vmcore3/elf/phdr1/p_offset"):
        assert compare_real.Point(name, "1", "2").status == "allowed", name
    for name in ("vmcore2/vmcoreinfo/PAGESIZE", "vmcore2/elf/phdr1/p_filesz", "xvmcore2/vmcoreinfo/BUILD-ID",
                 "console/vmcore2/vmcoreinfo/BUILD-ID"):
        assert compare_real.Point(name, "1", "2").status == "different", name
    assert compare_real.Point("vmcore2/vmcoreinfo/BUILD-ID", "1", None).status == "different"


def test_every_allowed_difference_says_why():
    assert compare_real.ALLOWED and all(len(reason) > 20 for reason in compare_real.ALLOWED.values())


def test_compare_real_command_prints_one_row_per_point_and_exits_1_on_a_difference(run_dir, tmp_path, capsys):
    ref = make_reference(run_dir, tmp_path / "ref")
    assert cli_main(["compare-real", str(ref), str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "equal     console/boot0" in out and "0 different" in out
    (ref / "console-boot0.log").write_text("")
    assert cli_main(["compare-real", str(ref), str(run_dir)]) == 1


def test_compare_real_refuses_folders_that_are_not_a_case_or_a_run(run_dir, tmp_path, capsys):
    assert cli_main(["compare-real", str(tmp_path), str(run_dir)]) == 2
    assert "not a reference case folder" in capsys.readouterr().err
    ref = make_reference(run_dir, tmp_path / "ref")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_main(["compare-real", str(ref), str(empty)]) == 2
    shutil.rmtree(empty)


def test_a_vmcoreinfo_key_missing_on_one_side_is_a_difference_even_when_its_value_would_be_allowed(run_dir, tmp_path):
    ref = make_reference(run_dir, tmp_path / "ref")
    head = bytearray((ref / "vmcore-head.bin").read_bytes())
    at = head.index(b"SYMBOL(")
    head[at:at + 7] = b"SYMBOX("
    (ref / "vmcore-head.bin").write_bytes(bytes(head))
    found = different(compare_real.compare(ref, run_dir))
    assert len(found) == 2 and all(name.startswith("vmcoreinfo/SYMBO") for name in found)
