"""The emulator against real kernels: every committed reference case, compared point by point (issue 11, item 5).

Each case under tests/reference/linux-<series>/<case>/ (written by ``make reference`` from a real kernel crashed
under QEMU's pseries fadump) is turned into the equivalent scenario (emulator.host.reference_scenario), run, and
compared with emulator.host.compare_real, makedumpfile verdicts included for each Debian release whose ppc64el tools
are set up (and of the same version as in the reference). tests/reference/known_differences.toml is a ratchet: it
lists every difference not explained yet. A difference it does not list fails (the emulator drifted from the real
kernel), and so does a listed difference that no longer occurs (remove it from the list: the emulator got closer).
"""

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from emulator.host import compare_real
from emulator.host import makedumpfile_verdict
from emulator.host import reference_scenario
from emulator.run import report
from emulator.errors import FadumpEmuError
from emulator.run.runner import run_scenario

REFERENCE = Path(__file__).resolve().parent / "reference"
KNOWN = REFERENCE / "known_differences.toml"
CASES = sorted(p.parent for p in REFERENCE.glob("linux-*/*/case.json"))


def case_id(ref_dir: Path) -> str:
    return f"{ref_dir.parent.name}/{ref_dir.name}"


def known() -> dict[str, dict[str, str]]:
    """{case: {point: reason}} from the ratchet file."""
    out: dict[str, dict[str, str]] = {}
    for entry in tomllib.loads(KNOWN.read_text()).get("difference", []):
        out.setdefault(entry["case"], {})[entry["point"]] = entry["reason"]
    return out


def run_case(ref_dir: Path, out: Path) -> list[compare_real.Point]:
    try:
        _, sc = reference_scenario.scenario_for(ref_dir)
    except FadumpEmuError as exc:  # e.g. a radix case whose closest profile is linux-3.4 (no radix before 4.7)
        return [compare_real.Point("scenario", "the reference set-up", f"cannot be emulated: {exc}",
                                   status="different")]
    result = run_scenario(sc, str(out))
    report.write(result, str(out), report.check_expectations(result))
    return compare_real.compare(ref_dir, out, verdicts=True)


def comparable(listed: dict[str, str]) -> dict[str, str]:
    """The listed differences this machine can observe: makedumpfile points only for releases whose tools are set
    up (make ppc64el-tools; python -m emulator.host.ppc64el_tools --release trixie|sid)."""
    def can(point: str) -> bool:
        parts = point.split("/")
        if "makedumpfile" not in parts:
            return True
        return makedumpfile_verdict.tool_version(parts[parts.index("makedumpfile") + 1]) is not None
    return {k: v for k, v in listed.items() if can(k)}


def test_there_are_reference_cases_for_6_12():
    assert any(case_id(c).startswith("linux-6.12/") for c in CASES)


def ratchet(points: list[compare_real.Point], listed: dict[str, str]) -> tuple[list[str], list[str]]:
    """(differences the ratchet does not list, listed differences that no longer occur)."""
    found = {p.name for p in points if p.status == "different"}
    return sorted(found - set(listed)), sorted(set(listed) - found)


@pytest.mark.parametrize("ref_dir", CASES, ids=case_id)
def test_the_emulator_matches_the_real_kernel_but_for_the_listed_differences(ref_dir, tmp_path):
    points = run_case(ref_dir, tmp_path / "run")
    new, gone = ratchet(points, comparable(known().get(case_id(ref_dir), {})))
    by_name = {p.name: p for p in points}
    detail = "\n".join(f"  {n}\n    real:     {compare_real.short(by_name[n].reference, 110)}\n"
                       f"    emulator: {compare_real.short(by_name[n].emulator, 110)}" for n in new)
    assert not new, f"{case_id(ref_dir)}: differences from the real kernel not in {KNOWN.name}:\n{detail}"
    assert not gone, (f"{case_id(ref_dir)}: listed in {KNOWN.name} but now equal (remove them): "
                      f"{', '.join(gone)}")


def test_every_listed_difference_names_a_committed_case_and_a_reason():
    cases = {case_id(c) for c in CASES}
    for case, points in known().items():
        assert case in cases, f"{KNOWN.name} lists {case}, which has no reference folder"
        assert all(reason.strip() for reason in points.values())


def test_the_ratchet_catches_a_planted_difference_and_a_fixed_one(tmp_path):
    """e_flags planted into the radix reference's ELF header: a new, unlisted difference; and a listed point that
    is equal shows as fixed."""
    ref = REFERENCE / "linux-6.12" / "radix"
    planted = tmp_path / "linux-6.12" / "radix"
    shutil.copytree(ref, planted)
    shutil.copyfile(ref.parent / "kernel.config", planted.parent / "kernel.config")
    head = bytearray((planted / "vmcore-head.bin").read_bytes())
    head[48] ^= 0x1  # e_flags (ELF64 header offset 0x30)
    (planted / "vmcore-head.bin").write_bytes(bytes(head))
    points = run_case(planted, tmp_path / "run")
    listed = known().get("linux-6.12/radix", {})
    new, gone = ratchet(points, listed)
    assert "elf/header/e_flags" in new
    equal = next(p.name for p in points if p.status == "equal")
    assert ratchet(points, {**listed, equal: "planted"})[1] == [equal]


def test_each_case_keeps_a_small_reviewable_set_of_artifacts():
    for ref_dir in CASES:
        names = {p.name for p in ref_dir.iterdir()}
        assert {"case.json", "console.log", "files.txt", "vmcore-head.bin", "run.json"} <= names, case_id(ref_dir)
        assert sum(p.stat().st_size for p in ref_dir.iterdir()) < 1 << 20, case_id(ref_dir)
        case = json.loads((ref_dir / "case.json").read_text())
        assert case["name"] == ref_dir.name and case["kernel"] == ref_dir.parent.name
    for series in {c.parent for c in CASES}:
        assert (series / "kernel.config").is_file() and (series / "recipe.json").is_file()


def write_known(path: Path = KNOWN) -> None:
    """Rewrite the ratchet from the emulator as it is now (after a profile change: review the diff of the file)."""
    import tempfile
    lines = ["# Differences between the emulator and the real kernels of tests/reference/ that are not explained yet.",
             "# tests/test_reference_differential.py fails on a difference not listed here and on a listed one that",
             "# no longer occurs: when the emulator gets closer to the real kernel, remove the entry (or regenerate",
             "# with `.venv/bin/python -m tests.test_reference_differential --write` and review the diff).",
             "# Expected differences (symbol addresses, build strings, times) are not listed here: see ALLOWED in",
             "# emulator/host/compare_real.py.", ""]
    for ref_dir in CASES:
        profile = reference_scenario.profile_for(ref_dir.parent.name)
        extra = "" if profile == ref_dir.parent.name else \
            f" (compared with the {profile} profile: no {ref_dir.parent.name} profile yet)"
        with tempfile.TemporaryDirectory() as tmp:
            points = run_case(ref_dir, Path(tmp) / "run")
        for p in points:
            if p.status == "different":
                lines += ["[[difference]]", f'case = "{case_id(ref_dir)}"', f'point = "{p.name}"',
                          f'reason = "emulator does not match yet{extra}"', ""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["--write"]:
        write_known()
        print(f"wrote {KNOWN}")
    else:
        print("usage: python -m tests.test_reference_differential --write", file=sys.stderr)
        sys.exit(2)
