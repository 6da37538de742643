"""Hold an emulator run against a real kernel's reference case, point by point (issue 11, item 5).

A reference case directory (``tests/reference/linux-<series>/<case>/``, written by ``real_reference``) holds what a
real kernel showed; an emulator run directory (``fadump-emu run --out DIR``) holds console.log, report.json and the
vmcore(s). ``compare(ref_dir, run_dir)`` yields one Point per thing compared:

- ``console/boot<N>``: the kernel's fadump lines of boot N, in order, time stamps removed (``reference_console``);
- ``sysfs/boot<N>/<path>``: each sysfs/debugfs file as the boot's first reading shows it;
- ``elf/header/<field>`` and ``elf/phdr<i>/<field>``: ELF header and program headers of each vmcore;
- ``notes/sequence``: the notes' (owner, type, size) in order, VMCOREINFO's size excluded (its text is compared
  key by key);
- ``vmcoreinfo/key-count`` and ``vmcoreinfo/<KEY>``: the number of keys, and each key of either side (a key on one
  side only is a difference; a value is compared unless ALLOWED lists it);
- ``makedumpfile/<release>/<mode>``: whether that release's makedumpfile succeeds (when asked for, and when the
  reference has that verdict and the tools are set up).

ALLOWED is the one list of differences that are expected between two correct dumps, each with its reason; a
point it covers is "allowed", not "different" (but never when the thing is missing on one side).
"""

import difflib
import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path

from emulator.host import makedumpfile_verdict
from emulator.host import reference_console
from emulator.errors import BadInputError
from emulator.vmcore.vmcore_file import VmcoreFile

ALLOWED = {
    "vmcoreinfo/SYMBOL(*)": "symbol addresses depend on the kernel build (linker layout), not on fadump",
    "vmcoreinfo/BUILD-ID": "a build string: the hash of the kernel image",
    "vmcoreinfo/CRASHTIME": "the time of the crash",
    "vmcoreinfo/KERNELOFFSET": "an address: where the kernel image was placed",
    "vmcoreinfo/NUMBER(KERNEL_IMAGE_SIZE)": "depends on the kernel build",
    "notes/VMCOREINFO-size": "the note's length follows its text, whose symbol addresses and build strings vary",
    "elf/phdr*/p_offset": "file offsets follow the note sizes (VMCOREINFO's text length, see above)",
}
"""Differences that are not errors, each with its reason. Keys are point names (fnmatch patterns)."""

IGNORED_CONSOLE = (re.compile(r"^(kdump|PHYP|QEMU|firmware): "), re.compile(r"^# "))
"""Emulator console lines that stand for userspace or firmware, not the kernel (the real kernel's console has no
such lines: its capture is done by /init, its firmware is QEMU's, silent); "# echo 1 > PATH" is a scenario's sysfs
write (the runner's echo of the shell command, the real /init's is an "@@@ WRITE" line)."""


@dataclass
class Point:
    name: str
    reference: object
    emulator: object
    status: str = ""
    reason: str = ""

    def __post_init__(self):
        if not self.status:
            if self.reference == self.emulator:
                self.status = "equal"
            elif self.reference is None or self.emulator is None:
                self.status = "different"  # present on one side only: never an allowed difference
            else:
                reason = allowed_reason(self.name)
                self.status, self.reason = ("allowed", reason) if reason else ("different", "")


VMCORE_PREFIX = re.compile(r"^vmcore\d+/")
"""The prefix of a later vmcore's points (a second crash's dump is "vmcore2/..."): ALLOWED applies behind it."""


def allowed_reason(name: str) -> str:
    bare = VMCORE_PREFIX.sub("", name, count=1)
    for pattern, reason in ALLOWED.items():
        if fnmatch.fnmatchcase(bare, pattern):
            return reason
    return ""


# --- the emulator side ---

def emulator_boots(console: str) -> list[str]:
    return reference_console.split_boots(console)


def emulator_fadump_lines(boot_text: str) -> list[str]:
    lines = reference_console.fadump_lines(boot_text)
    return [line for line in lines if not any(p.match(line) for p in IGNORED_CONSOLE)]


def emulator_vmcores(run_dir: Path, report: dict) -> list[Path]:
    out = []
    for cap in report.get("captures", []):
        path = cap.get("vmcore")
        if path:
            p = Path(path)
            out.append(p if p.is_absolute() else run_dir / p.name)
    return out


# --- comparisons ---

def compare_console(ref_dir: Path, run_dir: Path) -> list[Point]:
    ref_boots = sorted(ref_dir.glob("console-boot*.log"), key=lambda p: int(p.stem[len("console-boot"):]))
    emu_boots = emulator_boots((run_dir / "console.log").read_text(errors="replace"))
    points = []
    for n, path in enumerate(ref_boots):
        ref = reference_console.fadump_lines(path.read_text(errors="replace"))
        emu = emulator_fadump_lines(emu_boots[n]) if n < len(emu_boots) else None
        points.append(Point(f"console/boot{n}", ref, emu))
    return points


def first_readings(sections: list[dict]) -> dict[int, dict[str, str]]:
    """{boot: {path: text}} from the first time each boot's /init printed its files."""
    out: dict[int, dict[str, str]] = {}
    first_label: dict[int, str] = {}
    for s in sections:
        if s["path"] == "ls":
            continue
        label = first_label.setdefault(s["boot"], s["label"])
        if s["label"] == label:
            out.setdefault(s["boot"], {})[s["path"]] = s["text"]
    return out


def compare_sysfs(ref_dir: Path, report: dict) -> list[Point]:
    ref = first_readings(reference_console.read_files_txt((ref_dir / "files.txt").read_text()))
    emu_all = {int(k) - 1: v for k, v in report.get("sysfs", {}).items()}
    points = []
    for boot in sorted(ref):
        emu = emu_all.get(boot, {})
        for path in sorted(set(ref[boot]) | set(emu)):
            points.append(Point(f"sysfs/boot{boot}{path}", ref[boot].get(path), emu.get(path)))
    return points


def elf_facts(path: Path) -> dict:
    with VmcoreFile(str(path)) as core:
        eh = core.ehdr
        header = {f: getattr(eh, f) for f in ("e_type", "e_machine", "e_version", "e_entry", "e_phoff",
                                              "e_flags", "e_ehsize", "e_phentsize", "e_phnum", "e_shnum")}
        header["e_ident"] = bytes(open(path, "rb").read(16)).hex()
        phdrs = [{f: getattr(ph, f) for f in ("p_type", "p_flags", "p_offset", "p_vaddr", "p_paddr", "p_filesz",
                                              "p_memsz", "p_align")} for ph in core.phdrs]
        notes = [(name, n_type, len(desc)) for name, n_type, desc, _ in core.notes]
        return {"header": header, "phdrs": phdrs, "notes": notes, "vmcoreinfo": core.vmcoreinfo}


def compare_vmcore(tag: str, ref_head: Path, emu_vmcore: Path | None) -> list[Point]:
    ref = elf_facts(ref_head)
    if emu_vmcore is None or not emu_vmcore.is_file():
        return [Point(f"{tag}elf", "vmcore", None)]
    emu = elf_facts(emu_vmcore)
    points = [Point(f"{tag}elf/header/{k}", v, emu["header"].get(k)) for k, v in ref["header"].items()]
    for i in range(max(len(ref["phdrs"]), len(emu["phdrs"]))):
        r = ref["phdrs"][i] if i < len(ref["phdrs"]) else {}
        e = emu["phdrs"][i] if i < len(emu["phdrs"]) else {}
        for k in sorted(set(r) | set(e)):
            points.append(Point(f"{tag}elf/phdr{i}/{k}", r.get(k), e.get(k)))
    seq = lambda notes: [(n, t, s if n != "VMCOREINFO" else "-") for n, t, s in notes]  # noqa: E731
    points.append(Point(f"{tag}notes/sequence", seq(ref["notes"]), seq(emu["notes"])))
    size = lambda notes: [s for n, _, s in notes if n == "VMCOREINFO"]  # noqa: E731
    points.append(Point(f"{tag}notes/VMCOREINFO-size", size(ref["notes"]), size(emu["notes"])))
    rk, ek = ref["vmcoreinfo"], emu["vmcoreinfo"]
    points.append(Point(f"{tag}vmcoreinfo/key-count", len(rk), len(ek)))
    for key in sorted(set(rk) | set(ek)):
        points.append(Point(f"{tag}vmcoreinfo/{key}", rk.get(key), ek.get(key)))
    return points


def compare_verdicts(ref_dir: Path, emu_vmcores: list[Path]) -> list[Point]:
    path = ref_dir / "makedumpfile.json"
    if not path.is_file():
        return []
    ref = json.loads(path.read_text())
    points = []
    for i, (core, by_release) in enumerate(sorted(ref.items())):
        if i >= len(emu_vmcores):
            break
        releases = [r for r, v in by_release.items() if v.get("available")
                    and makedumpfile_verdict.tool_version(r) == v.get("version")]
        if not releases:
            continue
        emu = makedumpfile_verdict.verdicts(emu_vmcores[i], releases, echo=lambda *_: None)
        for release in releases:
            for mode in makedumpfile_verdict.MODES:
                points.append(Point(f"{core}/makedumpfile/{release}/{mode}", by_release[release][mode]["ok"],
                                    emu[release][mode]["ok"]))
    return points


def compare(ref_dir, run_dir, verdicts: bool = False) -> list[Point]:
    """Every point of the comparison of a reference case and an emulator run."""
    ref_dir, run_dir = Path(ref_dir), Path(run_dir)
    report = json.loads((run_dir / "report.json").read_text())
    points = compare_console(ref_dir, run_dir) + compare_sysfs(ref_dir, report)
    emu_cores = emulator_vmcores(run_dir, report)
    heads = sorted(ref_dir.glob("vmcore*-head.bin"), key=lambda p: (len(p.name), p.name))
    for i, head in enumerate(heads):
        tag = "" if i == 0 else f"vmcore{i + 1}/"
        points += compare_vmcore(tag, head, emu_cores[i] if i < len(emu_cores) else None)
    if verdicts:
        points += compare_verdicts(ref_dir, emu_cores)
    return points


def short(value, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value) if value is not None else "(none)"
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[:width - 3] + "..."


def table(points: list[Point]) -> str:
    """One row per point: status, name, and for differences both values (for lists, the items only the real
    kernel has, "- ", and those only the emulator has, "+ ")."""
    rows = []
    for p in points:
        row = f"{p.status:9} {p.name}"
        if p.status == "different" and isinstance(p.reference, list) and isinstance(p.emulator, list):
            row += "".join(f"\n          {line}" for line in difflib.ndiff(
                [short(x, 110) for x in p.reference], [short(x, 110) for x in p.emulator]) if line[:1] in "-+")
        elif p.status == "different":
            row += f"\n          real:     {short(p.reference, 100)}\n          emulator: {short(p.emulator, 100)}"
        elif p.status == "allowed":
            row += f"  ({p.reason})"
        rows.append(row)
    counts = {s: sum(1 for p in points if p.status == s) for s in ("equal", "allowed", "different")}
    rows.append(f"{len(points)} points: {counts['equal']} equal, {counts['allowed']} allowed, "
                f"{counts['different']} different")
    return "\n".join(rows)


def command(args) -> int:
    """fadump-emu compare-real REF_DIR RUN_DIR: the table; exit 1 when a point differs."""
    ref_dir, run_dir = Path(args.ref_dir), Path(args.run_dir)
    if not (ref_dir / "case.json").is_file():
        raise BadInputError(f"{ref_dir}: not a reference case folder (no case.json); reference cases are under "
                            "tests/reference/linux-*/ (make reference writes them)")
    if not (run_dir / "report.json").is_file() or not (run_dir / "console.log").is_file():
        raise BadInputError(f"{run_dir}: not a run folder (no report.json and console.log); write one with "
                            "`fadump-emu run SCENARIO --out DIR`")
    points = compare(ref_dir, run_dir, verdicts=args.verdicts)
    print(table(points))
    return 1 if any(p.status == "different" for p in points) else 0
