"""The regression runner: many scenario files, in parallel processes, with a table, JUnit XML and JSON.

Every scenario runs in a worker process into its own folder; the result of
each is a plain dict (picklable, and what results.json holds):

    name, path, out, profile, outcome, verdict ("PASS" / "FAIL" / "ERROR"),
    expectations (as report.check_expectations gives them, plus the golden
    transcript check), met, total, seconds (host wall time), golden, error,
    error_type, traceback.

A scenario that cannot be read or run as written (ScenarioError and the other
bad-input errors) is an ERROR row carrying its ``file:line: message``, never a
traceback; a traceback is kept only for a fault of the emulator itself.
"""

import os
import re
import sys
import time
import traceback
from pathlib import Path

from emulator import __version__
from emulator.regress import golden
from emulator.regress import junit
from emulator.errors import BadInputError, FadumpEmuError
from emulator.json_text import indented
from emulator.regress.suite_pool import prepare_workers, run_all

PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"
DEFAULT_PATHS = ("scenarios",)
DEFAULT_OUT = "out/test"


# --- collecting ---

def collect(paths: list[str] | tuple[str, ...]) -> list[Path]:
    """The scenario files named by ``paths``: files as given, folders searched recursively for *.toml.

    Each file appears once, in the order given (folders sorted). A path that
    does not exist, a named file that is not .toml, or nothing to run at all
    is bad input.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for arg in paths:
        p = Path(arg)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*.toml") if f.is_file())
        elif p.is_file():
            if p.suffix != ".toml":
                raise BadInputError(f"{arg}: not a scenario file (scenario files end in .toml)")
            files = [p]
        else:
            raise BadInputError(f"{arg}: no such file or folder")
        for f in files:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                found.append(f)
    if not found:
        raise BadInputError(f"no scenario files (*.toml) in {', '.join(map(str, paths))}")
    return found


def folder_name(name: str) -> str:
    """A scenario name made safe as one path component."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return safe or "scenario"


def refuse_installed_goldens(files: list[Path]) -> None:
    """--update-golden writes beside each scenario: never into an installed package's bundled copies."""
    from emulator.scenario import bundled

    for f in files:
        if bundled.in_installed_copy(f):
            raise BadInputError(f"{f}: --update-golden would write {f.with_suffix('.log').name} into the installed "
                                "fadump-emu package; copy the scenarios you want to change into a folder of yours "
                                f"(cp -r {f.parent} my-scenarios) and run `fadump-emu test --update-golden "
                                "my-scenarios` there")


def plan(files: list[Path], out_root: str | Path) -> list[dict]:
    """One task per file: its path, a display name and an output folder of its own.

    The name is the scenario's ``name`` (the file stem when the file cannot be
    read); a name used twice gets -2, -3, ... on its folder, in file order, so
    folders do not depend on which worker finishes first. ``affinity`` groups
    scenarios a worker runs best one after the other (pool_claims).
    """
    from emulator.regress.pool_claims import affinity_key
    from emulator.scenario import loader as scenario

    tasks, used = [], set()
    for f in files:
        try:
            sc = scenario.load(f)
            name, affinity = sc.name, affinity_key(sc)
        except Exception:  # noqa: BLE001 -- any file that cannot be read becomes its own ERROR row when run
            name, affinity = f.stem, None
        base = folder_name(name)
        folder, n = base, 1
        while folder in used:
            n += 1
            folder = f"{base}-{n}"
        used.add(folder)
        tasks.append({"path": str(f), "name": name, "out": str(Path(out_root) / folder), "affinity": affinity})
    return tasks


# --- running one scenario (in a worker, or in-process for the pytest plugin) ---

def run_one(path: str, out: str, update_golden: bool = False, name: str | None = None,
            text: str | None = None, judge: bool = True) -> dict:
    """Run one scenario file into ``out`` (replacing earlier vmcores there) and judge it; a result dict.

    With ``text`` the scenario is that text (``path`` only names it: a Dask worker has no copy of the
    file); with ``judge`` False the golden transcript is left to whoever has the file (finish()).
    """
    from emulator.scenario import loader as scenario
    from emulator.run.runner import run_scenario
    from emulator.views import observers

    start = time.perf_counter()
    res = {"name": name or Path(path).stem, "path": path, "out": out, "profile": "", "outcome": "",
           "verdict": ERROR, "expectations": [], "met": 0, "total": 0, "seconds": 0.0, "golden": None,
           "error": None, "error_type": None, "traceback": None, "console": ""}
    try:
        sc = scenario.load(path) if text is None else scenario.loads(text, path)
        res.update(name=sc.name, profile=sc.kernel.profile)
        result = run_scenario(sc, out, force=True, echo=None, durable=False, observers=[observers.html_report])
        res.update(outcome=result.outcome, expectations=list(result.expectations),
                   console=result.partition.console.text())
        result.partition.memory.release()  # the next scenario in this worker reuses the mapping
    except FadumpEmuError as exc:
        res.update(error=str(exc), error_type=type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 -- a fault of the emulator: keep the traceback for whoever fixes it
        res.update(error=f"internal error: {type(exc).__name__}: {exc}", error_type=type(exc).__name__,
                   traceback=traceback.format_exc())
    res["seconds"] = round(time.perf_counter() - start, 6)
    return finish(res, update_golden) if judge else res


def finish(res: dict, update_golden: bool = False) -> dict:
    """Judge a run: its expectations plus the golden transcript beside its scenario file; the verdict."""
    if res["error"] is not None:
        res["console"] = ""
        return res
    expectations = res["expectations"]
    try:
        res["golden"] = golden.check(res["path"], res["console"], update=update_golden)
    except FadumpEmuError as exc:
        res.update(error=str(exc), error_type=type(exc).__name__, verdict=ERROR, console="")
        return res
    extra = golden.expectation(res["golden"])
    if extra is not None:
        expectations.append(extra)
    met = sum(e["ok"] for e in expectations)
    res.update(expectations=expectations, met=met, total=len(expectations),
               verdict=PASS if met == len(expectations) else FAIL)
    if res["verdict"] == PASS:
        res["console"] = ""
    return res


# --- the whole suite ---

def summary(results: list[dict], seconds: float, workers: int) -> dict:
    counts = {v: sum(r["verdict"] == v for r in results) for v in (PASS, FAIL, ERROR)}
    return {"scenarios": len(results), "passed": counts[PASS], "failed": counts[FAIL], "errors": counts[ERROR],
            "workers": workers, "seconds": round(seconds, 3), "ok": counts[PASS] == len(results)}


def write_json(results: list[dict], path: str | Path, summ: dict) -> None:
    """results.json: the summary and each scenario's result (without the console, which is in its folder)."""
    from emulator.run.out_paths import write_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"fadump_emu": __version__, "summary": summ,
           "results": [{k: v for k, v in r.items() if k != "console"} for r in results]}
    write_file(path, indented(doc))


def details(r: dict) -> list[str]:
    """What a reader needs about a FAIL or ERROR row: the unmet expectations (with any diff) or the error."""
    if r["verdict"] == ERROR:
        return [r["error"]]
    lines = []
    for e in r["expectations"]:
        if not e["ok"]:
            detail = e["detail"].splitlines() if e["detail"] else []
            if len(detail) == 1:
                lines.append(f"unmet: {e['what']} ({detail[0]})")
            else:
                lines.append(f"unmet: {e['what']}")
                lines.extend(f"    {d}" for d in detail)
    return lines


def print_table(results: list[dict], summ: dict, file=None) -> None:
    """The results table, then the details of each FAIL/ERROR row, then one summary line."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = file or sys.stdout
    # On a terminal rich fits the table to it; in a log file or pipe, make room for the longest name.
    longest = max((len(r["name"]) for r in results), default=0)
    width = None if out.isatty() else max(80, longest + 68)
    con = Console(file=out, highlight=False, width=width)
    table = Table(title=None, show_edge=False, pad_edge=False)
    table.add_column("scenario", overflow="fold")
    table.add_column("profile")
    table.add_column("outcome")
    table.add_column("expectations", justify="right")
    table.add_column("host s", justify="right")
    table.add_column("verdict")
    style = {PASS: "green", FAIL: "red", ERROR: "bold red"}
    for r in results:
        table.add_row(Text(r["name"]), r["profile"] or "-", r["outcome"] or "-",
                      f"{r['met']}/{r['total']}" if r["verdict"] != ERROR else "-",
                      f"{r['seconds']:.2f}", Text(r["verdict"], style=style[r["verdict"]]))
    con.print(table)
    for r in results:
        if r["verdict"] == PASS:
            continue
        head = Text(f"\n{r['verdict']} {r['name']} ({r['path']})", style=style[r["verdict"]])
        con.print(head, soft_wrap=True)
        for line in details(r):
            con.print(Text(f"  {line}"), soft_wrap=True)
    con.print(Text(f"\n{summ['scenarios']} scenarios: {summ['passed']} passed, {summ['failed']} failed, "
                   f"{summ['errors']} errors ({summ['seconds']:.2f} s, {summ['workers']} workers)",
                   style="green" if summ["ok"] else "red"), soft_wrap=True)


def run_suite(paths, out_root: str = DEFAULT_OUT, workers: int | None = None, junit_path: str | None = None,
              json_path: str | None = None, update_golden: bool = False, show_progress: bool | None = None,
              stdout=None, scheduler: str | None = None, cluster: str | None = None, collect_files: bool = False) -> int:
    """``fadump-emu test``: run, print, write JUnit XML and JSON; the exit status (0 all passed, 1 not).

    With ``scheduler`` (an address) or ``cluster`` ("local:N") the runs go to Dask (dask_engine).
    """
    if workers is not None and workers < 1:
        raise BadInputError(f"-j {workers}: the number of workers must be at least 1")
    workers = workers or os.cpu_count() or 1
    files = collect(list(paths) or list(DEFAULT_PATHS))
    junit_path, json_path = check_targets(out_root, junit_path, json_path)
    if update_golden:
        refuse_installed_goldens(files)
    if not (scheduler or cluster):
        prepare_workers(min(workers, len(files)), len(files))
    tasks = plan(files, out_root)
    workers = min(workers, len(tasks))
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    start = time.perf_counter()
    if scheduler or cluster:
        from emulator.regress import dask_engine

        cl = dask_engine.client(scheduler, cluster)
        try:
            workers = len(cl.scheduler_info().get("workers", {})) or 1
            results = dask_engine.run_tasks(cl, tasks, update_golden, collect_files)
        finally:
            dask_engine.close(cl)
    elif show_progress:
        results = _run_with_progress(tasks, workers, update_golden)
    else:
        results = run_all(tasks, workers, update_golden)
    seconds = time.perf_counter() - start
    summ = summary(results, seconds, workers)
    junit.write(results, junit_path, seconds)
    write_json(results, json_path, summ)
    print_table(results, summ, stdout)
    return 0 if summ["ok"] else 1


def check_targets(out_root, junit_path, json_path) -> tuple[Path, Path]:
    """--out, --junit and --json usable before anything runs (BadInputError with a sentence otherwise)."""
    from emulator.run import out_paths

    out_paths.check_out_dir(out_root)
    targets = []
    for given, default, option in ((junit_path, "junit.xml", "--junit"), (json_path, "results.json", "--json")):
        path = Path(given) if given else Path(out_root) / default
        if not path.is_dir():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BadInputError(f"{option} {path}: cannot create its folder ({exc.strerror or exc}); "
                                    "choose another path") from None
        targets.append(out_paths.check_file_target(path, option))
    return targets[0], targets[1]


def _run_with_progress(tasks: list[dict], workers: int, update_golden: bool) -> list[dict]:
    """run_all with a rich progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # No refresh thread (auto_refresh): the bar is redrawn at each result, and this process stays
    # single-threaded, so the workers can be forked from it (suite_pool.single_threaded).
    with Progress(TextColumn("[bold]scenarios"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=Console(stderr=True), transient=True,
                  auto_refresh=False) as bar:
        task = bar.add_task("", total=len(tasks))
        bar.refresh()

        def advance(r: dict) -> None:
            bar.update(task, advance=1, description=f"{r['name']}: {r['verdict']}", refresh=True)

        return run_all(tasks, workers, update_golden, advance)
