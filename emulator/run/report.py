"""What a run says about itself: expectations met, verification, report.json, console.log."""

from pathlib import Path

from emulator import __version__
from emulator.json_text import indented
from emulator.run import value_diff
from emulator.run.out_paths import write_file
from emulator.run.results import RunResult
from emulator.run.verify import describe


def check_expectations(result: RunResult) -> list[dict]:
    """Each expectation of the scenario with whether it held; verification counts as one."""
    sc, out = result.scenario, []
    console = result.partition.console
    if sc.expect.outcome is not None:
        out.append({"what": f"outcome is {sc.expect.outcome}", "ok": result.outcome == sc.expect.outcome,
                    "detail": f"outcome was {result.outcome}"})
    for needle in sc.expect.console:
        out.append({"what": f"console shows {needle!r}", "ok": console.contains(needle), "detail": ""})
    for needle in sc.expect.no_console:
        out.append({"what": f"console does not show {needle!r}", "ok": not console.contains(needle),
                    "detail": ""})
    for n, cap in enumerate(result.captures):
        v = cap.verification
        if v is None:
            continue
        problems = "; ".join(describe(v)[:5])
        if sc.expect.complete:
            out.append({"what": f"vmcore of boot {cap.boot} matches crash-time memory", "ok": v["ok"],
                        "detail": problems})
            continue
        if n == 0:
            for key in ("missing", "bogus"):
                want = [{"start": f"{r.start:#x}", "end": f"{r.end:#x}", "size": r.size}
                        for r in getattr(sc.expect, key)]
                out.append({"what": f"vmcore of boot {cap.boot} has exactly the expected {key} ranges",
                            "ok": v[key] == want, "detail": problems or "no problems found"})
        out.append({"what": f"vmcore of boot {cap.boot} has no bytes that differ from crash-time memory",
                    "ok": not v["differs"], "detail": problems})
        if cap.expected_regs and not cap.rejected:
            want = [regs for _, regs in sorted(cap.expected_regs.items())]
            got = [n["regs"] for n in cap.notes]
            ok = len(want) == len(got) and all(w == {k: g.get(k, 0) for k in w} for w, g in zip(want, got))
            out.append({"what": f"every online CPU's registers reach the notes of boot {cap.boot}'s vmcore",
                        "ok": ok, "detail": f"{len(got)} notes for {len(want)} online CPUs"})
    return out + check_samples(result)


def check_samples(result: RunResult) -> list[dict]:
    """expect.registers, expect.memory and expect.sysfs against the first capture and the boots."""
    sc, out = result.scenario, []
    first = next((c for c in result.captures if not c.rejected), None)
    for cpu, name, value, _ in sc.expect.registers:
        order = sorted(first.expected_regs) if first else []
        got = first.notes[order.index(cpu)]["regs"].get(name) if first and cpu in order and \
            order.index(cpu) < len(first.notes) else None
        out.append({"what": f"CPU {cpu}'s {name} in the vmcore is {value:#x}", "ok": got == value,
                    "detail": "no note for that CPU" if got is None else f"it is {got:#x}"})
    for addr, data, got in (first.samples if first else []):
        out.append({"what": f"the vmcore holds {value_diff.shown(data)} at {addr:#x}", "ok": got == data,
                    "detail": "not inside any PT_LOAD" if got is None else value_diff.describe(data, got)})
    if sc.expect.memory and first is None:
        out.append({"what": "memory samples can be checked", "ok": False, "detail": "no vmcore was captured"})
    for boot, path, value, _ in sc.expect.sysfs:
        got = result.sysfs_state.get(boot, {}).get(path)
        # Compared without a trailing newline: "1" and "1\n" both match a file reading "1\n".
        ok = got is not None and value_diff.chomp(got) == value_diff.chomp(value)
        out.append({"what": f"{path} reads {value_diff.shown(value)} in boot {boot}", "ok": ok,
                    "detail": "no such file" if got is None else (
                        f"it reads {value_diff.shown(got)}" if ok else
                        value_diff.describe(value_diff.chomp(value), value_diff.chomp(got))
                        + "; compared without a trailing newline")})
    return out


def registers_table(cap) -> dict:
    """Per CPU and register: what the scenario set next to what the vmcore holds."""
    table = {}
    for i, (cpu, want) in enumerate(sorted(cap.expected_regs.items())):
        got = cap.notes[i]["regs"] if i < len(cap.notes) else {}
        table[str(cpu)] = {name: {"scenario": f"{value:#x}", "vmcore": f"{got.get(name, 0):#x}"}
                           for name, value in want.items()}
    return table


def to_json(result: RunResult, expectations: list[dict]) -> dict:
    sc = result.scenario
    p = result.partition
    return {
        "fadump_emu": __version__,
        "scenario": {"path": sc.path, "name": sc.name, "profile": sc.kernel.profile},
        "outcome": result.outcome,
        "ok": all(e["ok"] for e in expectations),
        "expectations": expectations,
        "crashes": result.crashes,
        "captures": [{"boot": c.boot, "vmcore": c.path, "size": c.size, "disk_bytes": c.disk_bytes,
                      "format": c.format, "format_reason": c.format_reason, "file_size": c.file_size,
                      "rejected": c.rejected, "verification": c.verification,
                      "registers": registers_table(c)} for c in result.captures],
        "sysfs_writes": result.sysfs,
        "sysfs": {str(boot): files for boot, files in result.sysfs_state.items()},
        "hotplug": result.hotplug,
        "rtas_calls": [{"time": round(r.time, 6), "call": r.name, "args": [f"{a:#x}" for a in r.args],
                        "status": r.status} for r in p.rtas_calls],
        "firmware": list(p.firmware.history),
        "simulated_seconds": round(p.simulated_seconds, 6),
        "host_seconds": {phase: round(t, 6) for phase, t in result.timings.items()},
        "console_lines": len(p.console.lines),
    }


def write(result: RunResult, out_dir: str, expectations: list[dict], sync: bool = True, folder=None) -> dict:
    """Write console.log and report.json into out_dir (each atomically, never through a symlink); the report.

    report.html is a view: emulator.views.observers.html_report writes it when the run is published. ``sync``
    False leaves fsync to whoever publishes the folder (runner.publish writes into a staging folder that
    OutputFolder.commit fsyncs when the run is durable). With ``folder`` (that OutputFolder), console.log is
    handed to it instead: written at commit, or kept when the previous results hold the same bytes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if folder is not None:
        folder.add_file("console.log", result.partition.console.text())
    else:
        write_file(out / "console.log", result.partition.console.text(), sync)
    report = to_json(result, expectations)
    write_file(out / "report.json", indented(report), sync)
    return report
