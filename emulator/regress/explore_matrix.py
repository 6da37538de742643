"""``fadump-emu explore --matrix``: crash every way the catalog knows, across profiles and machine layouts.

The matrix is the cross product of
- every kernel profile (kernels.registry),
- a few machine LAYOUTS (memory, CPUs),
- no fault, or one fault from the catalog (emulator.scenario.faults.FAULTS; a fault with required parameters
  uses its EXAMPLES entry),
- every lifecycle boundary the (profile, layout, fault) scenario passes (its baseline run lists them),
- every trigger (power loss only at the firmware's copy, as in ``explore``).

Each cell is one ``explore`` run (explore.run_point): held to the model where the model covers the scenario,
and every vmcore it saves compared, read back from disk, with its crash-time digests. The baselines run
first (one per scenario, in parallel), then the runs, in batches so that a worker process (or a Dask worker)
runs many scenarios and reuses its RAM mapping. ``--limit N`` runs an evenly spaced sample of N cells.
"""

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict

from emulator.regress import suite_pool
from emulator.regress.explore import TRIGGERS, Point, run_point
from kernels.versions import VERSIONS

LAYOUTS = {
    "1GiB-2cpu": ("1GiB", 2),
    "2GiB-4cpu": ("2GiB", 4),
    "4GiB-8cpu": ("4GiB", 8),
    "8GiB-8cpu": ("8GiB", 8),
}
"""Machine shapes: memory and CPUs (lmb_size 256 MiB, page size 64 KiB)."""

EXAMPLES = {
    "rtas-status": {"call": "ibm,configure-kernel-dump", "statuses": [-2, 0]},
    "copy-error": {"section": "boot-memory", "error_flags": 0x4000},
}
"""Parameters for faults that have required ones (values as the fault catalog allows them)."""

ONLY_ON = {"elf-header-overwritten": tuple(name for name, v in VERSIONS.items() if v.elfcorehdr_by == "first kernel")}
"""Faults that exist only in some profiles (only a first kernel that builds the ELF core header, 3.4 and 6.1,
has one to overwrite)."""
NO_FAULT = "none"
BATCH = 25
"""Runs per task handed to a worker (fewer round trips, one RAM mapping reused across the batch)."""
BASELINE_BATCH = 6
"""Baselines per task: the 288 cells of the full matrix as 48 tasks, enough for two or more workers to share
evenly, few enough that a Dask scheduler's round trip per task no longer shows (one task per cell took
4.0 s against 2.5 s in a local process pool)."""


def fault_kinds() -> list[str]:
    """``none`` and every catalog fault except crash-at-boundary (the matrix injects that itself)."""
    from emulator.scenario.faults import FAULTS

    return [NO_FAULT] + [k for k in FAULTS if k != "crash-at-boundary"]


def _toml(value) -> str:
    return json.dumps(value)  # strings, integers and integer lists are written alike in TOML and JSON


def scenario_text(profile: str, layout: str, fault: str) -> str:
    """The scenario of one (profile, layout, fault): boot, register, a workload, panic at 30 s."""
    memory, cpus = LAYOUTS[layout]
    endian = "big" if profile == "linux-3.4" else "little"
    text = (f'name = "matrix-{profile}-{layout}-{fault}"\n'
            f'description = "explore --matrix: {profile}, {layout}, fault {fault}"\n'
            f'[machine]\nmemory = "{memory}"\nlmb_size = "256MiB"\ncpus = {cpus}\npage_size = "64KiB"\n'
            f'endian = "{endian}"\n'
            f'[kernel]\nprofile = "{profile}"\ncmdline = "root=/dev/sda2 ro fadump=on"\n'
            '[[memory.write]]\naddr = "0x4100000"\ntext = "workload: order book, inside boot memory"\nrepeat = 100\n'
            f'[crash]\ncpu = {cpus - 1}\nkind = "panic"\nat = "30s"\nmessage = "explore --matrix"\n')
    if fault != NO_FAULT:
        text += f'[[faults]]\nkind = "{fault}"\n' + "".join(f"{k} = {_toml(v)}\n"
                                                             for k, v in EXAMPLES.get(fault, {}).items())
    return text


def _baseline(cell: tuple[str, str, str]) -> tuple[tuple[str, str, str], list[str] | str]:
    """The boundaries of one scenario, or why it cannot run."""
    from emulator.errors import FadumpEmuError
    from emulator.run.runner import Run
    from emulator.scenario import loader as scenario

    text = scenario_text(*cell)
    try:
        sc = scenario.loads(text, f"matrix/{'-'.join(cell)}.toml")
        result = Run(sc, None, lenient=True).execute()
        labels = result.boundaries
        result.partition.memory.release()
        return cell, labels
    except FadumpEmuError as exc:
        return cell, f"{type(exc).__name__}: {exc}"


def _baselines(cells: list[tuple[str, str, str]]) -> list[tuple[tuple[str, str, str], list[str] | str]]:
    """The baselines of several cells, in order (one task for a worker instead of one per cell)."""
    return [_baseline(cell) for cell in cells]


def _run_batch(jobs: list[tuple]) -> list[dict]:
    """Runs of one batch, in order: each point as a dict with its cell's dimensions."""
    out = []
    for cell, labels, index, trigger in jobs:
        point = run_point((f"matrix/{'-'.join(cell)}.toml", labels, index, trigger, scenario_text(*cell)))
        out.append({"profile": cell[0], "layout": cell[1], "fault": cell[2], **asdict(point)})
    return out


def cells(profiles=None, layouts=None, faults=None) -> list[tuple[str, str, str]]:
    """Every (profile, layout, fault) scenario of the matrix."""
    from kernels.registry import PROFILES

    return [(p, l, f) for p in (profiles or list(PROFILES)) for l in (layouts or list(LAYOUTS))
            for f in (faults or fault_kinds()) if p in ONLY_ON.get(f, (p,))]


def plan(baselines: dict, triggers=TRIGGERS, limit: int | None = None) -> list[tuple]:
    """Every (cell, labels, boundary, trigger) run; an evenly spaced sample of ``limit`` when given."""
    jobs = []
    for cell, labels in baselines.items():
        if isinstance(labels, str):
            continue
        for i, label in enumerate(labels):
            kinds = ("power-loss",) if label.startswith("firmware") else triggers
            jobs += [(cell, labels, i, t) for t in kinds]
    if limit is not None and limit < len(jobs):
        step = len(jobs) / limit
        jobs = [jobs[int(i * step)] for i in range(limit)]
    return jobs


def _map(fn, items: list, workers: int, client=None, progress=None, chunk: int = 1) -> list:
    """fn over items in order: in this process, a local process pool, or a Dask client."""
    if client is not None:
        from distributed import as_completed

        futures = {client.submit(fn, item, pure=False): i for i, item in enumerate(items)}
        out: list = [None] * len(items)
        for fut in as_completed(list(futures)):
            out[futures[fut]] = fut.result()
            if progress:
                progress(out[futures[fut]])
        return out
    if workers == 1:
        out = []
        for item in items:
            out.append(fn(item))
            if progress:
                progress(out[-1])
        return out
    out = []
    with ProcessPoolExecutor(workers, mp_context=suite_pool.worker_context()) as pool:
        for r in pool.map(fn, items, chunksize=chunk):
            out.append(r)
            if progress:
                progress(r)
    return out


def run_matrix(triggers=TRIGGERS, workers: int | None = None, limit: int | None = None, scheduler=None,
               cluster=None, progress=None, profiles=None, layouts=None, faults=None) -> dict:
    """Baselines, then every run of the matrix; the points (dicts) and the host seconds of each phase."""
    workers = workers or os.cpu_count() or 1
    client = None
    if scheduler or cluster:
        from emulator.regress import dask_engine

        client = dask_engine.client(scheduler, cluster)
    try:
        t0 = time.perf_counter()
        todo = cells(profiles, layouts, faults)
        groups = [todo[i:i + BASELINE_BATCH] for i in range(0, len(todo), BASELINE_BATCH)]
        baselines = dict(b for group in _map(_baselines, groups, workers, client) for b in group)
        total = len(plan(baselines, triggers))
        jobs = plan(baselines, triggers, limit)
        t1 = time.perf_counter()
        batches = [jobs[i:i + BATCH] for i in range(0, len(jobs), BATCH)]
        tick = (lambda batch: progress(len(batch))) if progress else None
        points = [p for batch in _map(_run_batch, batches, workers, client, tick) for p in batch]
        t2 = time.perf_counter()
    finally:
        if client is not None:
            from emulator.regress import dask_engine

            dask_engine.close(client)
    return {"points": points, "jobs": len(jobs), "total": total, "refused": {"-".join(c): why for c, why in baselines.items()
                                                             if isinstance(why, str)},
            "seconds": {"baselines": t1 - t0, "runs": t2 - t1}, "scenarios": len(baselines)}


def summary(points: list[dict]) -> dict[str, list[dict]]:
    """Per dimension (profile, layout, fault, trigger) and value: runs, violations, outcomes."""
    out: dict[str, list[dict]] = {}
    for dim in ("profile", "layout", "fault", "trigger"):
        rows: dict[str, dict] = {}
        for p in points:
            row = rows.setdefault(p[dim], {dim: p[dim], "runs": 0, "violations": 0, "outcomes": {}})
            row["runs"] += 1
            row["violations"] += not p["ok"]
            outcome = p["outcome"] or "error"
            row["outcomes"][outcome] = row["outcomes"].get(outcome, 0) + 1
        out[dim] = list(rows.values())
    return out


def command(args) -> int:
    """`fadump-emu explore --matrix`: progress, a summary table by dimension, OUT/matrix.json; exit 1 on any
    violation."""
    import sys

    from emulator.run.out_paths import check_out_dir, write_file

    check_out_dir(args.out)  # a real folder (never a symlink), before the runs
    triggers = tuple(t.strip() for t in args.triggers.split(",") if t.strip())
    total = [0]

    def progress(n):
        total[0] += n
        if sys.stderr.isatty():
            print(f"\rexplore --matrix: {total[0]} runs", end="", file=sys.stderr, flush=True)

    start = time.perf_counter()
    res = run_matrix(triggers, args.jobs, args.limit, args.scheduler, args.cluster, progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    points = res["points"]
    seconds = time.perf_counter() - start
    bad = [p for p in points if not p["ok"]]
    print(f"explored {len(points)} runs of {res['scenarios']} scenarios (profiles x layouts x faults) in "
          f"{seconds:.1f} s ({len(points) / max(res['seconds']['runs'], 1e-9):.1f} runs/s after "
          f"{res['seconds']['baselines']:.1f} s of baselines)")
    reasons: dict[str, list[str]] = {}
    for name, why in res["refused"].items():
        reasons.setdefault(why.split(": ", 2)[-1], []).append(name)
    for why, names in reasons.items():
        print(f"not run: {len(names)} scenario(s) ({names[0]}{', ...' if len(names) > 1 else ''}): {why}")
    table = summary(points)
    for dim, rows in table.items():
        print(f"\nby {dim}:")
        width = max(len(str(r[dim])) for r in rows)
        for r in rows:
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
            print(f"  {r[dim]:<{width}}  {r['runs']:6d} runs  {r['violations']:4d} violations  {outcomes}")
    check_out_dir(args.out)
    path = os.path.join(args.out, "matrix.json")
    write_file(path, json.dumps({"runs": len(points), "violations": len(bad), "seconds": res["seconds"],
                                 "refused": res["refused"], "summary": table, "points": points}, indent=1),
               sync=False)
    for p in bad[:20]:
        print(f"VIOLATION {p['profile']} {p['layout']} {p['fault']} boundary {p['index']} ({p['label']}), "
              f"{p['trigger']}: {p['problem']}")
    print(f"{len(bad)} invariant violations" + (" (first 20 listed)" if len(bad) > 20 else ""))
    print(f"written   {path}")
    return 1 if bad else 0


__all__ = ["Point", "run_matrix", "summary", "command", "scenario_text", "cells", "plan"]
