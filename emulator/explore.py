"""``fadump-emu explore``: crash at every boundary of a scenario's lifecycle.

A baseline run lists every point between two lifecycle steps (each boot step,
userspace start, each scenario event, the firmware's copy, capture, release).
Then the scenario runs again once per (boundary, trigger) with a crash (or a
power loss, at the firmware's copy) injected there through the fault catalog's
"crash-at-boundary" fault, and each run is held to one invariant: a vmcore
that exists matches crash-time memory exactly (or the report names what it
lacks, as for a stale header the scenario itself expects), and a run without a
vmcore says why on the console. Any violation is written as a reproducing
scenario file.
"""


import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from emulator import report, scenario
from emulator.errors import FadumpEmuError
from emulator.faults import Fault
from emulator.runner import Run

TRIGGERS = ("panic", "system-reset", "hypervisor")
WHY_NO_VMCORE = ("no-dump", "dump-rejected", "fallback", "capture-failed")


@dataclass
class Point:
    """One explored run: where, what was injected, and what came of it."""

    index: int
    label: str
    trigger: str
    outcome: str = ""
    ok: bool = True
    problem: str = ""


def baseline(sc) -> list[str]:
    """The boundaries the scenario passes when nothing is injected."""
    return Run(sc, None, lenient=True).execute().boundaries


def run_point(args) -> Point:
    """One (boundary, trigger) run; ``args`` is (path, index, label, trigger[, scenario text])."""
    path, index, label, trigger, *text = args
    sc = scenario.loads(text[0], path) if text else scenario.load(path)
    sc.faults = [f for f in sc.faults if f.kind != "crash-at-boundary"]
    sc.faults.append(Fault("crash-at-boundary", None, {"boundary": index, "trigger": trigger}))
    point = Point(index, label, trigger)
    try:
        result = Run(sc, None, lenient=True).execute()
    except FadumpEmuError as exc:
        point.ok, point.problem = False, f"emulator error: {exc}"
        return point
    point.outcome = result.outcome
    expected_incomplete = not sc.expect.complete
    for cap in result.captures:
        v = cap.verification
        if v is not None and not v["ok"] and not (expected_incomplete and not v["differs"]):
            point.ok = False
            point.problem = "vmcore differs from crash-time memory: " + "; ".join(report.describe(v)[:3])
    if result.outcome in WHY_NO_VMCORE and not any(line.source.startswith("kernel") or line.source in ("PHYP", "QEMU")
                                                  for line in result.machine.console.lines):
        point.ok, point.problem = False, f"{result.outcome} without any message saying why"
    result.machine.ram.release()  # the next run in this worker reuses the mapping
    return point


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
        jobs += [(path, i, label, t, text) for t in kinds]
    workers = workers or os.cpu_count() or 1
    points = []
    if scheduler or cluster:
        from emulator import dask_engine

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
        with ProcessPoolExecutor(workers) as pool:
            for p in pool.map(run_point, jobs, chunksize=4):
                points.append(p)
                if progress:
                    progress()
    return points


def write_repro(path: str, point: Point, out_dir: str) -> str:
    """A copy of the scenario with the injected fault added, to reproduce a violation."""
    os.makedirs(out_dir, exist_ok=True)
    with open(path) as f:
        text = f.read()
    name = f"{os.path.splitext(os.path.basename(path))[0]}-boundary{point.index}-{point.trigger}.toml"
    text += (f"\n# fadump-emu explore: violation at boundary {point.index} ({point.label}): {point.problem}\n"
             f"[[faults]]\nkind = \"crash-at-boundary\"\nboundary = {point.index}\ntrigger = \"{point.trigger}\"\n")
    dest = os.path.join(out_dir, name)
    with open(dest, "w") as f:
        f.write(text)
    return dest



