"""The fadump-emu command line."""

import gc
import importlib
import os
import re
import sys
from contextlib import contextmanager

from emulator import dataclass_code, single_threaded_blas
from emulator.cli_parser import DEFAULT_SCENARIO, build_parser, parser_for  # noqa: F401 (re-exported)
from emulator.errors import FadumpEmuError
from emulator.units import fmt_size

COMMAND_MODULES = {
    "inspect": "emulator.vmcore.inspector", "dmesg": "emulator.vmcore.dmesg", "verify": "emulator.run.verify_command",
    "gdb": "emulator.host.debuggers", "drgn": "emulator.host.debuggers", "crash": "emulator.host.debuggers",
    "faults": "emulator.scenario.fault_catalog", "schema": "emulator.scenario.schema", "compare-real": "emulator.host.compare_real",
    "from-console": "emulator.host.replay", "replay": "emulator.host.replay",
}
"""Subcommands whose module has a ``command(args)``."""


def main(argv: list[str] | None = None) -> int:
    """The command line; ``argv`` None means the process's own (``fadump-emu``, ``python -m emulator``): then a
    run that finished ends the process itself (exit_now)."""
    single_threaded_blas()
    dataclass_code.install()  # before the command imports the modules that declare dataclasses
    as_program = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    tool_args = []
    if argv and argv[0] in ("gdb", "drgn", "crash") and "--" in argv:
        cut = argv.index("--")
        argv, tool_args = argv[:cut], argv[cut + 1:]
    args = parser_for(argv).parse_args(argv)
    args.tool_args = tool_args
    if args.command is None:
        build_parser().print_help()
        return 2
    try:
        if args.command == "run":
            status = cmd_run(args)
            return exit_now(status) if as_program else status
        if args.command == "explore":
            return cmd_explore(args)
        if args.command == "explain":
            return cmd_explain(args)
        if args.command == "check-scenario":
            return cmd_check(args)
        if args.command in COMMAND_MODULES:  # imported only when asked for: a quiet run loads none of them
            return importlib.import_module(COMMAND_MODULES[args.command]).command(args)
        if args.command == "test":
            return cmd_test(args)
    except FadumpEmuError as exc:
        # Plain text, one line: "file:line: message" must survive grep and editors.
        print(f"fadump-emu: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("fadump-emu: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`fadump-emu faults | head`): stop quietly, as cat does, and keep Python from
        # complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 2


def exit_now(status: int) -> int:
    """End the process with ``status`` as Python's exit would, less tearing the interpreter down.

    A process ending normally frees every object and module it holds before it exits (about 6 ms of CPU after a
    run of the default scenario here), which the operating system does at once when the process ends anyway.
    Here the standard streams are flushed and the atexit handlers run (as Python's exit does), then the
    process ends with os._exit. Every file a run writes is complete and closed before its command returns.
    When that is not safe, ``status`` is returned for the caller to exit the ordinary way: another thread is
    still running (Python's exit would wait for it), or a standard stream cannot be flushed (Python's exit then
    reports it).
    """
    import atexit
    import threading

    if threading.active_count() > 1:
        return status
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return status
    atexit._run_exitfuncs()
    atexit._clear()  # run once: not again should the ordinary exit follow
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return status
    os._exit(status)


def cmd_explore(args) -> int:
    if args.matrix:
        from emulator.errors import BadInputError
        from emulator.regress import explore_matrix
        from emulator.scenario.model import CRASH_KINDS

        args.triggers = args.triggers or ",".join(CRASH_KINDS)
        unknown = [t for t in args.triggers.split(",") if t.strip() and t.strip() not in CRASH_KINDS]
        if unknown:
            raise BadInputError(f"unknown trigger(s) {', '.join(unknown)}; use {', '.join(CRASH_KINDS)}")
        if args.limit is not None and args.limit < 1:
            raise BadInputError(f"--limit {args.limit}: give a number of runs >= 1")
        return explore_matrix.command(args)
    from emulator.regress import explore

    args.scenario = scenario_path(args.scenario)
    args.triggers = args.triggers or "panic,system-reset,hypervisor"
    return explore.command(args)


def cmd_explain(args) -> int:
    from emulator.views import explain
    from emulator.scenario import loader as scenario

    return explain.explain(scenario.load(scenario_path(args.scenario)), step=args.step, as_json=args.json)


def cmd_check(args) -> int:
    """The validation ``run`` does: the same reading and checks, then the same run without writing anything."""
    from emulator.scenario import loader as scenario
    from emulator.run.runner import rehearse

    from pathlib import Path

    from emulator.errors import BadInputError

    paths = []
    for given in args.scenarios:
        p = Path(scenario_path(given))
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*.toml"))
            if not found:
                raise BadInputError(f"{given}: no *.toml scenario files in this folder")
            paths += found
        else:
            paths.append(str(p))
    for path in paths:
        sc = scenario.load(path)
        rehearse(sc)
        print(f"{path}: ok ({sc.kernel.profile}, {fmt_size(sc.machine.memory)}, {len(sc.events)} events)")
    return 0


def cmd_test(args) -> int:
    from emulator.regress import suite

    paths = [scenario_path(p) for p in (args.paths or suite.DEFAULT_PATHS)]  # from any folder: the bundled ones
    return suite.run_suite(paths, out_root=args.out, workers=args.jobs, junit_path=args.junit,
                           json_path=args.json, update_golden=args.update_golden, scheduler=args.scheduler,
                           cluster=args.cluster, collect_files=args.collect)


def cmd_list() -> int:
    """run --list: the bundled scenarios, one line each into pipes, a table on a terminal."""
    from emulator.scenario import bundled

    entries = bundled.listing()
    if not entries:
        print("fadump-emu: this installation has no bundled scenarios", file=sys.stderr)
        return 2
    if not sys.stdout.isatty():
        sys.stdout.write(bundled.text_listing(entries))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"bundled scenarios (fadump-emu run NAME; files in {bundled.folder()})")
    for column in ("name", "profile", "what it shows"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.relative, e.profile, e.description)
    Console(highlight=False).print(table)
    return 0


def scenario_path(arg: str) -> str:
    """A scenario argument as a file: itself, or the bundled scenario it names (emulator.scenario.bundled)."""
    from emulator.scenario import bundled

    return bundled.resolve(arg)


@contextmanager
def importing():
    """Import what a command needs without the cyclic garbage collector running in between.

    Importing numpy, construct and the emulator makes some fifty thousand tracked objects that live until the
    process ends; the collector, triggered every 700 allocations, walks them again and again and finds nothing
    (about a tenth of a whole ``fadump-emu run``). So it is off while they are imported, and what they made is
    then frozen (gc.freeze: later collections skip it). Only when they are not imported yet (a fresh process).
    """
    if "emulator.run.runner" in sys.modules or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def cmd_run(args) -> int:
    with importing():  # reading the scenario imports the kernel profile it names
        from emulator.run import out_paths
        from emulator.scenario import loader as scenario
        from emulator.run.runner import run_scenario
        from emulator.views import observers

        if args.list:
            return cmd_list()
        sc = scenario.load(scenario_path(args.scenario))
    out = args.out or f"out/{sc.name}"
    # Every output target is checked before the run starts: a bad one costs nothing.
    out_paths.check_out_dir(out)
    if args.trace:
        out_paths.check_file_target(args.trace, "--trace")
    if args.map:
        out_paths.check_dir_target(args.map, "--map")
    watching = list(observers.FOR_OUTPUT)
    if args.trace:
        from emulator.views.trace import Trace

        tracer = Trace()
        watching.append(tracer.observe)
    result = run_scenario(sc, out, force=args.force, echo=None if args.quiet else sys.stdout,
                          export_mode=args.format, observers=watching, makedumpfile=makedumpfile_for(sc))
    rep = result.report
    if args.map:
        write_map(result, args.map)
    if args.trace:
        tracer.export(result, args.trace)
    summarize(result, rep, out)
    return 0 if rep["ok"] else 1


def makedumpfile_for(sc):
    """The capture tool a scenario's capture.tool needs (Debian's makedumpfile), imported only then."""
    if sc.capture_tool != "makedumpfile":
        return None
    from emulator.host.ppc64el_tools import MAKEDUMPFILE

    return MAKEDUMPFILE


def write_map(result, folder: str) -> None:
    """The memory-map pictures, drawn in a private folder and renamed into ``folder`` (no symlink followed)."""
    import os
    import shutil
    import tempfile

    from emulator.views import memmap_view

    tmp = tempfile.mkdtemp(prefix=".fadump-emu-map.", dir=folder)
    try:
        from rich.console import Console

        memmap_view.write(result.snapshots_for_map, tmp, Console(highlight=False))
        for name in os.listdir(tmp):
            os.replace(os.path.join(tmp, name), os.path.join(folder, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class PlainConsole:
    """The few rich Console calls the summaries use, as plain text: a quiet or scripted run needs no rich."""

    MARKUP = re.compile(r"\[/?(?:bold|green|red|yellow)?\]")

    def __init__(self, file=None):
        self.file = file or sys.stdout

    def print(self, text: str = "", markup: bool = True, **_) -> None:
        print(self.MARKUP.sub("", text) if markup else text, file=self.file)

    def rule(self, title: str = "") -> None:
        title = self.MARKUP.sub("", title)
        side = max(3, (80 - len(title) - 2) // 2)
        print(f"{'─' * side} {title} {'─' * side}", file=self.file)


def make_console():
    """rich's Console on a terminal; plain text into pipes and files."""
    if not sys.stdout.isatty():
        return PlainConsole()
    from rich.console import Console

    return Console(highlight=False)


def summarize(result, rep: dict, out: str) -> None:
    con = make_console()
    con.rule("[bold]summary")
    con.print(f"scenario  {result.scenario.name} ({result.scenario.kernel.profile}, "
              f"{fmt_size(result.scenario.machine.memory)}, {len(result.partition.cpus)} CPUs)")
    con.print(f"outcome   [bold]{rep['outcome']}[/]")
    for cap in result.captures:
        if cap.rejected:
            con.print(f"boot {cap.boot}    capture kernel rejected the dump")
            continue
        v = cap.verification or {}
        if v.get("ok"):
            mark = "[green]matches crash-time memory[/]"
        else:
            counts = ", ".join(f"{len(v[key])} {key}" for key in ("missing", "bogus", "differs", "file_problems") if v.get(key))
            mark = f"[yellow]does not match crash-time memory ({counts}; see report.json)[/]"
        where = cap.path or "(not saved)"
        con.print(f"vmcore    {where}: {fmt_size(cap.file_size or cap.size)} {cap.format or ''} file, "
                  f"{fmt_size(cap.disk_bytes)} of data, {mark}")
        if cap.format_reason:
            con.print(f"          {cap.format_reason}")
    for e in rep["expectations"]:
        sign = "[green]ok  [/]" if e["ok"] else "[red]FAIL[/]"
        detail = f" ({e['detail']})" if e["detail"] and not e["ok"] else ""
        con.print(f"{sign} {e['what']}{detail}")
    # "results", not "written": a re-run keeps console.log and report.html when their bytes are unchanged.
    con.print(f"results   {out}/console.log, {out}/report.json, {out}/report.html")
