"""``fadump-emu explore``: crash at every boundary of a scenario's lifecycle, held to an independent model.

A baseline run lists every point between two lifecycle steps (each boot step,
userspace start, each scenario event, the firmware's copy, capture, release).
Then the scenario runs again once per (boundary, trigger) with a crash (or a
power loss, at the firmware's copy) injected there through the fault catalog's
"crash-at-boundary" fault, each into its own temporary run folder, and each
run is held to two things:

- the prediction of ``explore_model`` (outcome, and the console line that
  says why), which comes from a table of kernel and firmware rules, not from
  running the emulator;
- every vmcore saved is read back from disk and compared with the crash-time
  BLAKE3 digests of its run folder (``verify_command.verify_run_dir``).

Any violation is written as a reproducing scenario file.
"""

import os
import pickle
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache

from emulator.regress import explore_model, suite_pool
from emulator.scenario import loader as scenario
from emulator.errors import FadumpEmuError
from emulator.scenario.faults import Fault
from emulator.run.runner import Run
from emulator.run.verify import describe

TRIGGERS = ("panic", "system-reset", "hypervisor")


@dataclass
class Point:
    """One explored run: where, what was injected, what the model said, and what came of it."""

    index: int
    label: str
    trigger: str
    predicted: str = ""
    why: str = ""
    outcome: str = ""
    verified: str = ""
    """"n vmcore(s) match", "no vmcore", or what did not match."""
    ok: bool = True
    problem: str = ""


def baseline(sc) -> list[str]:
    """The boundaries the scenario passes when nothing is injected."""
    return Run(sc, None, lenient=True).execute().boundaries


def scratch_dir() -> str | None:
    """Where a run's throw-away folder goes: memory (/dev/shm) when the host has it, else the temporary folder.

    Each run writes and removes a dozen folders and files; on a busy disk the journal makes that cost more
    than the run. Vmcores are sparse and removed at once, so memory holds only a run's written data.
    """
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


@lru_cache(maxsize=64)
def _parsed(text: str, path: str) -> bytes:
    """The scenario of ``text``, parsed once per worker and kept pickled: each run of a sweep gets its own copy
    (pickle.loads, a sixth of the cost of copy.deepcopy and far less than parsing again), which it may change
    (the injected fault) without touching the others."""
    return pickle.dumps(scenario.loads(text, path), protocol=pickle.HIGHEST_PROTOCOL)


def run_point(args) -> Point:
    """One (boundary, trigger) run; ``args`` is (path, labels, index, trigger[, scenario text])."""
    path, labels, index, trigger, *text = args
    sc = pickle.loads(_parsed(text[0], path)) if text else scenario.load(path)
    sc.faults = [f for f in sc.faults if f.kind != "crash-at-boundary"]
    unmodelled = explore_model.applies_to(sc)
    prediction = None if unmodelled else explore_model.predict(sc, labels, index, trigger)
    sc.faults.append(Fault("crash-at-boundary", None, {"boundary": index, "trigger": trigger}))
    point = Point(index, labels[index], trigger)
    if prediction is not None:
        point.predicted, point.why = prediction.outcome, prediction.why
    problems = []
    with tempfile.TemporaryDirectory(prefix="fadump-emu-explore-", dir=scratch_dir()) as tmp:
        out = os.path.join(tmp, "run")
        try:
            run = Run(sc, out, lenient=True)
            run.boot_state_files = False  # the folder is thrown away: only its vmcores and digests are read
            run.verify_saved = False  # _check_saved verifies every saved vmcore from the folder, once
            result = run.execute()
        except FadumpEmuError as exc:
            point.ok, point.problem = False, f"emulator error: {exc}"
            return point
        point.outcome = result.outcome
        console = result.partition.console
        if prediction is not None:
            if result.outcome != prediction.outcome:
                problems.append(f"outcome {result.outcome}, the model predicts {prediction.outcome} "
                                f"({prediction.phase})")
            if not console.contains(prediction.why):
                problems.append(f"the console never says {prediction.why!r}")
            if prediction.absent and console.contains(prediction.absent):
                problems.append(f"the console says {prediction.absent!r} before a crash the model calls "
                                "unregistered")
        problems += _check_saved(sc, result, out, point, prediction is None or prediction.complete)
        result.partition.memory.release()  # the next run in this worker reuses the mapping
    point.ok = not problems
    point.problem = "; ".join(problems)
    return point


def _check_saved(sc, result, out: str, point: Point, complete: bool = True) -> list[str]:
    """Every saved vmcore against its crash-time digests, read back from the file.

    When the scenario or the model says the header may be stale, missing and bogus ranges are allowed;
    a byte that differs never is.
    """
    from emulator.run.verify_command import verify_run_dir

    saved = [c for c in result.captures if c.path]
    expected_incomplete = not sc.expect.complete or not complete
    if not saved:
        point.verified = "no vmcore"
        if result.outcome == "vmcore" and sc.capture_save:
            return ["outcome vmcore, but no vmcore file was saved"]
        # Not saved on purpose (capture.save = false): the run compared /proc/vmcore with the same digests.
        views = [c.verification for c in result.captures if c.verification is not None]
        bad = [v for v in views if not v["ok"] and not (expected_incomplete and not v["differs"])]
        if views:
            point.verified = "/proc/vmcore matches" if not bad else "mismatch"
        return ["/proc/vmcore differs from crash-time memory: " + "; ".join(describe(v)[:3]) for v in bad]
    problems = []
    stale = 0
    for v in verify_run_dir(out):
        if v["ok"]:
            continue
        if expected_incomplete and not v["differs"] and not v["file_problems"]:
            stale += 1
            continue
        problems.append(f"{v['vmcore']} differs from crash-time memory: " + "; ".join(describe(v)[:3]))
    point.verified = ("mismatch" if problems else
                      f"{len(saved)} vmcore(s): every byte held matches; {stale} with a stale header as expected"
                      if stale else f"{len(saved)} vmcore(s) match")
    return problems


def explore(path: str, triggers=TRIGGERS, workers: int | None = None, progress=None,
            scheduler: str | None = None, cluster: str | None = None) -> list[Point]:
    """Every (boundary, trigger) of the scenario at ``path``; power loss only at the firmware's copy.

    With ``scheduler`` or ``cluster`` the runs go to Dask, each carrying the scenario's text.
    """
    sc = scenario.load(path)
    labels = baseline(sc)
    text = open(path, encoding="utf-8").read()
    jobs = []
    for i, label in enumerate(labels):
        kinds = ("power-loss",) if label.startswith("firmware") else triggers
        jobs += [(path, labels, i, t, text) for t in kinds]
    workers = workers or os.cpu_count() or 1
    points = []
    if scheduler or cluster:
        from emulator.regress import dask_engine

        cl = dask_engine.client(scheduler, cluster)
        try:
            return dask_engine.map_points(cl, run_point, jobs, progress)
        finally:
            dask_engine.close(cl)
    if workers == 1:
        for job in jobs:
            points.append(run_point(job))
            if progress:
                progress()
    else:
        # One run at a time (chunksize 1): the runs differ in length, and the baseline above left this
        # process warm for the workers it forks (suite_pool.worker_context).
        with ProcessPoolExecutor(workers, mp_context=suite_pool.worker_context()) as pool:
            for p in pool.map(run_point, jobs):
                points.append(p)
                if progress:
                    progress()
    return points


def rows(points: list[Point]) -> list[dict]:
    """One row per boundary: its label and, per trigger, predicted -> actual with a verdict."""
    out: dict[int, dict] = {}
    for p in points:
        row = out.setdefault(p.index, {"index": p.index, "label": p.label, "ok": True, "runs": {}})
        row["runs"][p.trigger] = {"predicted": p.predicted or "(no prediction)", "outcome": p.outcome or "error",
                                  "why": p.why, "verified": p.verified, "ok": p.ok, "problem": p.problem}
        row["ok"] = row["ok"] and p.ok
    return [out[i] for i in sorted(out)]


def to_json(path: str, points: list[Point], unmodelled: str | None) -> dict:
    return {"scenario": path, "model": "emulator.regress.explore_model", "unmodelled": unmodelled,
            "runs": len(points), "violations": sum(not p.ok for p in points),
            "boundaries": rows(points), "points": [asdict(p) for p in points]}


def write_repro(path: str, point: Point, out_dir: str) -> str:
    """A copy of the scenario with the injected fault added, to reproduce a violation (a link there is replaced)."""
    from emulator.run.out_paths import check_out_dir, write_file

    check_out_dir(out_dir)
    with open(path) as f:
        text = f.read()
    name = f"{os.path.splitext(os.path.basename(path))[0]}-boundary{point.index}-{point.trigger}.toml"
    text += (f"\n# fadump-emu explore: violation at boundary {point.index} ({point.label}): {point.problem}\n"
             f"[[faults]]\nkind = \"crash-at-boundary\"\nboundary = {point.index}\ntrigger = \"{point.trigger}\"\n")
    dest = os.path.join(out_dir, name)
    write_file(dest, text, sync=False)
    return dest


def command(args) -> int:
    """`fadump-emu explore`: the table, OUT/explore.json and repro files; exit 1 on any violation."""
    import json
    import sys
    import time

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from emulator.errors import BadInputError
    from emulator.run.out_paths import check_out_dir, write_file

    sc = scenario.load(args.scenario)  # bad input is reported before any work
    check_out_dir(args.out)  # a real folder (never a symlink), before hours of runs
    triggers = tuple(t.strip() for t in args.triggers.split(",") if t.strip())
    unknown = [t for t in triggers if t not in scenario.CRASH_KINDS]
    if unknown:
        raise BadInputError(f"unknown trigger(s) {', '.join(unknown)}; use {', '.join(scenario.CRASH_KINDS)}")
    unmodelled = explore_model.applies_to(sc)
    start = time.perf_counter()
    with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("exploring", total=None)
        points = explore(args.scenario, triggers, args.jobs, progress=lambda: bar.advance(task),
                         scheduler=args.scheduler, cluster=args.cluster)
    con = Console(highlight=False, soft_wrap=not sys.stdout.isatty())  # no wrapping into pipes
    con.print(f"explored {len(points)} runs: {len({p.index for p in points})} boundaries x triggers of "
              f"{args.scenario} in {time.perf_counter() - start:.1f} s")
    if unmodelled:
        con.print(f"[yellow]no predictions[/]: {unmodelled}; only the vmcores are checked")
    table = Table(title="one row per boundary: the outcome the model predicts and the run had",
                  title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("boundary")
    kinds = list(dict.fromkeys(p.trigger for p in points))
    for kind in kinds:
        table.add_column(kind)
    for row in rows(points):
        cells = []
        for kind in kinds:
            run = row["runs"].get(kind)
            if run is None:
                cells.append("")
                continue
            if run["ok"] and run["predicted"] == run["outcome"]:
                cells.append(f"[green]ok[/] {run['outcome']}")
            else:
                mark = "[green]ok[/]" if run["ok"] else "[red]FAIL[/]"
                cells.append(f"{mark} {run['predicted']} -> {run['outcome']}")
        table.add_row(str(row["index"]), row["label"], *cells)
    con.print(table)
    check_out_dir(args.out)
    json_path = os.path.join(args.out, "explore.json")
    write_file(json_path, json.dumps(to_json(args.scenario, points, unmodelled), indent=2), sync=False)
    bad = [p for p in points if not p.ok]
    for p in bad:
        repro = write_repro(args.scenario, p, args.out)
        con.print(f"[red]VIOLATION[/] boundary {p.index} ({p.label}), {p.trigger}: {p.problem}\n          {repro}")
    con.print(f"{len(bad)} invariant violations" if bad else "[green]0 invariant violations[/]")
    con.print(f"written   {json_path}")
    return 1 if bad else 0
