"""Replay a field failure: console log (and vmcore head) in, scenario out, run, held against the field log; and the
profile bisect ("which kernel fixed it").

- ``fadump-emu from-console LOG [--vmcore-head FILE] [-o SCENARIO]``: the scenario (emulator.host.field_scenario),
  with the profile chosen and why on stderr;
- ``fadump-emu replay LOG [--vmcore-head FILE] [--out DIR]``: the same scenario run, and a compare-real style table
  (emulator.host.compare_real): each boot's fadump lines of the field log next to the emulated ones, the outcome,
  and with a vmcore head its ELF header, program headers (the layout), notes and VMCOREINFO next to the emulated
  vmcore's. Exit status 0 when nothing differs beyond compare_real.ALLOWED, 1 otherwise, 2 bad input;
- ``--bisect-profiles``: the scenario run once per kernel profile of kernels.registry (the field's own options,
  profile changed), one row each (outcome, whether the vmcore holds crash-time memory, the expectations), and the
  profiles between which the behaviour changes.
"""

import copy
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from emulator.errors import BadInputError, FadumpEmuError
from emulator.host import compare_real, field_console, field_facts, field_scenario, field_vmcore
from emulator.host.compare_real import Point
from emulator.scenario import loader


@dataclass
class Field:
    log: field_console.ConsoleLog
    facts: field_facts.LogFacts
    head: field_vmcore.HeadFacts | None
    scenario: field_scenario.FieldScenario


def boot_kernel_lines(log: field_console.ConsoleLog) -> list[list[str]]:
    return [[x.text for x in b.lines if x.kernel] for b in log.boots]


def read_field(console: str, vmcore_head: str | None = None, name: str | None = None) -> Field:
    log = field_console.read(console)
    facts = field_facts.facts(log)
    head = field_vmcore.head_facts(vmcore_head) if vmcore_head else None
    name = name or f"field-{Path(console).stem}"
    fs = field_scenario.build(facts, boot_kernel_lines(log), head, name=name)
    return Field(log, facts, head, fs)


def load(fs: field_scenario.FieldScenario):
    """The Scenario of the field scenario, read back from its TOML text (what a user would run)."""
    return loader.loads(fs.to_toml(), f"<{fs.doc['name']}.toml>")


def run(sc, out_dir: str) -> dict:
    """Run the scenario into out_dir; its report (as report.json holds it)."""
    from emulator.run import report
    from emulator.run.runner import run_scenario

    result = run_scenario(sc, out_dir, force=True)
    return report.write(result, out_dir, report.check_expectations(result))


def normal(lines: list[str] | None) -> list[str] | None:
    """Lines as compared: trailing blanks dropped (a console keeps them, a copy-paste does not)."""
    return None if lines is None else [x.rstrip() for x in lines]


def compare(fld: Field, run_dir: Path, rep: dict) -> list[Point]:
    emu_boots = compare_real.emulator_boots((run_dir / "console.log").read_text(errors="replace"))
    points = []
    for n, lines in enumerate(fld.scenario.field_lines):
        emu = compare_real.emulator_fadump_lines(emu_boots[n]) if n < len(emu_boots) else None
        points.append(Point(f"console/boot{n}", normal(lines), normal(emu)))
    points.append(Point("outcome", fld.scenario.verdict.outcome, rep.get("outcome")))
    if fld.head:
        cores = compare_real.emulator_vmcores(run_dir, rep)
        points += compare_real.compare_vmcore("", Path(fld.head.path), cores[0] if cores else None)
    return points


def write_text(path: str, text: str) -> None:
    """The scenario into ``path``, whole (a symlink there is replaced, never written through)."""
    from emulator.run.out_paths import write_file

    try:
        write_file(path, text)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot write the scenario: {exc.strerror}; give -o a file in a folder that "
                            "exists and is writable") from None


def explain(fld: Field, out=None) -> None:
    out = out or sys.stderr
    fs = fld.scenario
    print(f"profile {fs.profile}: {fs.profile_why}", file=out)
    print(f"observed outcome: {fs.verdict.outcome} ({fs.verdict.why})", file=out)
    assumed = fs.assumptions()
    print(f"{len(assumed)} assumption(s), marked ASSUMED in the scenario" if assumed else "nothing assumed", file=out)


def from_console_command(args) -> int:
    fld = read_field(args.console, args.vmcore_head)
    text = fld.scenario.to_toml()
    try:
        load(fld.scenario)
    except FadumpEmuError as exc:  # e.g. a radix log whose nearest profile predates radix
        text = f"# NOT RUNNABLE as written: {exc}\n" + text
        print(f"fadump-emu: the scenario cannot run as written: {exc}", file=sys.stderr)
    if args.output:
        write_text(args.output, text)
    else:
        sys.stdout.write(text)
    explain(fld)
    return 0


def replay_command(args) -> int:
    fld = read_field(args.console, args.vmcore_head)
    explain(fld)
    if args.bisect_profiles:
        return bisect_command(fld)
    try:
        sc = load(fld.scenario)
    except FadumpEmuError as exc:  # the log is fine; no profile can run it as the field ran it (6.1 radix on 3.4)
        points = [Point("scenario", "the field set-up", f"cannot be emulated: {getattr(exc, 'reason', exc)}",
                        status="different")]
        print(compare_real.table(points))
        return 1
    if args.out:
        from emulator.run import out_paths

        out_paths.check_out_dir(args.out)
    with tempfile.TemporaryDirectory(prefix="fadump-emu-replay.") as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "run"
        rep = run(sc, str(out))
        points = compare(fld, out, rep)
    print(compare_real.table(points))
    return 1 if any(p.status == "different" for p in points) else 0


# --- the profile bisect ---

@dataclass
class Row:
    profile: str
    outcome: str
    memory: str
    """"matches", "differs" (the vmcore does not hold crash-time memory: missing or stale ranges) or "-"."""
    expectations: str
    note: str = ""

    @property
    def behaviour(self) -> tuple[str, str]:
        return self.outcome, self.memory


def doc_for(doc: dict, profile: str) -> dict:
    """The field scenario with another profile: the release string and the build's NR_CPUS belong to the field
    kernel, not to the other release, so they go (each profile's defaults come instead)."""
    d = copy.deepcopy(doc)
    d["kernel"]["profile"] = profile
    for key in ("osrelease", "capture_osrelease"):
        d["kernel"].pop(key, None)
    return d


def bisect(fs: field_scenario.FieldScenario) -> list[Row]:
    from emulator.run.runner import run_scenario

    rows = []
    for profile in field_scenario.registry_profiles():
        try:
            sc = loader.from_document(doc_for(fs.doc, profile), f"{fs.doc['name']}-{profile}")
        except FadumpEmuError as exc:
            rows.append(Row(profile, "-", "-", "-", f"cannot run: {getattr(exc, 'reason', exc)}"))
            continue
        with tempfile.TemporaryDirectory(prefix="fadump-emu-bisect.") as tmp:
            from emulator.run import report

            result = run_scenario(sc, os.path.join(tmp, "run"), force=True)
            exp = report.check_expectations(result)
            rep = report.to_json(result, exp)
        checked = [c.get("verification") for c in rep.get("captures", []) if c.get("verification")]
        memory = "-" if not checked else "matches" if all(v.get("ok") for v in checked) else "differs"
        failed = [e["what"] for e in exp if not e["ok"]]
        rows.append(Row(profile, rep["outcome"], memory, "met" if not failed else f"{len(failed)} not met",
                        failed[0] if failed else ""))
    return rows


def changes(rows: list[Row]) -> list[str]:
    runnable = [r for r in rows if r.outcome != "-"]
    out = []
    for a, b in zip(runnable, runnable[1:]):
        if a.behaviour != b.behaviour:
            out.append(f"behaviour changes between {a.profile} and {b.profile}: outcome {a.outcome} -> {b.outcome}, "
                       f"vmcore memory {a.memory} -> {b.memory}")
    return out


def bisect_table(rows: list[Row]) -> str:
    lines = [f"{'profile':12} {'outcome':14} {'vmcore memory':14} {'expectations':13} note"]
    lines += [f"{r.profile:12} {r.outcome:14} {r.memory:14} {r.expectations:13} {r.note}".rstrip() for r in rows]
    found = changes(rows)
    lines += found or ["the behaviour is the same on every profile that can run the scenario"]
    return "\n".join(lines)


def bisect_command(fld: Field) -> int:
    rows = bisect(fld.scenario)
    print(bisect_table(rows))
    return 0


def command(args) -> int:
    """Dispatch for cli.COMMAND_MODULES: from-console and replay."""
    if args.command == "from-console":
        return from_console_command(args)
    return replay_command(args)
