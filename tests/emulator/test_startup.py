"""A quiet run imports only what it needs: no rich, no matplotlib, no Dask, no pydantic (only pydantic-core
with the cached validators), no other kernel profile. Timing belongs to `make bench` (default scenario row);
these tests check what is imported and done, which does not depend on the machine's load."""

import json
import subprocess
import sys

HEAVY = ("rich", "matplotlib", "distributed", "dask")
NOT_FOR_A_RUN = ("jsonschema", "elftools", "drgn", "hypothesis", "pytest", "tomli_w", "emulator.regress",
                 "emulator.host", "emulator.views.memmap_draw", "emulator.views.explain",
                 "emulator.vmcore.inspector", "emulator.vmcore.dmesg", "emulator.scenario.schema",
                 "kernels.linux61", "kernels.linux610", "kernels.linux612", "numpy.random")
"""Packages and modules of other commands (test, explore, bench, schema, inspect, explain, the pictures) and
the other kernel profiles (basic-panic runs linux-3.4), numpy.random (the kernel text is BLAKE3 output): a run that
imports them pays their start-up for nothing."""


def test_a_quiet_run_into_a_pipe_imports_no_rich_matplotlib_or_dask(tmp_path):
    code = ("import json, sys\n"
            "from emulator.cli import main\n"
            f"status = main(['run', 'scenarios/basic-panic.toml', '--out', {str(tmp_path / 'out')!r}, '--quiet'])\n"
            f"print(json.dumps([status, sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    status, heavy = json.loads(lines[-1])
    assert status == 0
    assert heavy == []
    summary = "\n".join(lines[:-1])
    assert "outcome   vmcore" in summary and "[green]" not in summary and "[/]" not in summary


def test_the_plain_summary_keeps_brackets_that_are_not_markup(capsys):
    from emulator.cli import PlainConsole

    PlainConsole().print("[green]ok  [/] console shows '[    0.000000] Linux version'")
    assert capsys.readouterr().out == "ok   console shows '[    0.000000] Linux version'\n"


def test_a_quiet_run_imports_no_module_of_another_command(tmp_path):
    code = ("import json, sys\n"
            "from emulator.cli import main\n"
            f"status = main(['run', 'scenarios/basic-panic.toml', '--out', {str(tmp_path / 'out')!r}, '--quiet'])\n"
            "print(json.dumps([status, sorted(sys.modules)]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    status, modules = json.loads(proc.stdout.splitlines()[-1])
    assert status == 0
    assert "emulator.run.runner" in modules  # the check below looks at a real run
    loaded = [m for m in modules if any(m == n or m.startswith(n + ".") for n in NOT_FOR_A_RUN)]
    assert loaded == []


UNNEEDED_STDLIB = ("importlib.metadata", "email", "zipfile", "subprocess", "importlib.resources", "html")
"""Standard modules a run has no use for: package metadata (SimPy's version string, pydantic's plugins, the
capture-tool entry points), the zip readers of importlib.resources, subprocess (only makedumpfile runs one), the
html package (its table of named entities; report.html escapes text itself)."""


def run_twice_with_a_schema_cache(tmp_path, scenario="scenarios/basic-panic.toml"):
    """Two fresh processes running ``scenario`` quietly, the model's validator cache in tmp_path (written even
    when PYTHONDONTWRITEBYTECODE is set): [status, loaded_from_cache, pydantic modules, UNNEEDED_STDLIB loaded,
    pydantic_core modules] of each."""
    code = ("import json, sys\n"
            "sys.dont_write_bytecode = False\n"
            "from emulator.scenario import model\n"
            f"model.MODELS.cache_path = {str(tmp_path / 'model.pydantic.pickle')!r}\n"
            "from emulator.cli import main\n"
            f"status = main(['run', {scenario!r}, '--out', {str(tmp_path / 'out')!r}, '--quiet', '--force'])\n"
            "print(json.dumps([status, model.MODELS.loaded_from_cache,\n"
            "                  sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'),\n"
            f"                  sorted(m for m in sys.modules if m in {UNNEEDED_STDLIB!r}),\n"
            "                  sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic_core')]))\n")
    return [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                      check=True).stdout.splitlines()[-1]) for _ in range(2)]


def test_a_run_with_the_schema_cache_imports_pydantic_core_but_not_pydantic(tmp_path):
    """pydantic itself (its json_schema, fields, plugin loader: most of its import time) only builds the cache."""
    (status1, cached1, pydantic1, _, _), (status2, cached2, pydantic2, _, core2) = \
        run_twice_with_a_schema_cache(tmp_path)
    assert (status1, status2) == (0, 0)
    assert cached1 is False and "pydantic.json_schema" in pydantic1  # the first builds it with pydantic
    assert cached2 is True and pydantic2 == []
    assert core2 == ["pydantic_core._pydantic_core"]  # the extension alone: not the package's core_schema


def test_a_run_by_name_from_another_folder_imports_no_package_metadata_zip_readers_or_subprocess(tmp_path,
                                                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, (status, cached, _, unneeded, _) = run_twice_with_a_schema_cache(tmp_path, "basic-panic")
    assert status == 0 and cached is True
    assert unneeded == []


def test_a_run_asks_openblas_for_one_thread_unless_the_user_chose(monkeypatch):
    import emulator

    env = {}
    emulator.single_threaded_blas(env)
    assert env == {"OPENBLAS_NUM_THREADS": "1"}
    for name in emulator.BLAS_THREAD_VARIABLES:
        env = {name: "4"}
        emulator.single_threaded_blas(env)
        assert env == {name: "4"}


def test_numpy_imported_after_the_command_line_starts_no_blas_threads():
    """OpenBLAS starts its threads when numpy is imported: after single_threaded_blas() there are none."""
    code = ("import os\n"
            "for name in ('OPENBLAS_NUM_THREADS', 'GOTO_NUM_THREADS', 'OMP_NUM_THREADS'):\n"
            "    os.environ.pop(name, None)\n"
            "import emulator\n"
            "emulator.single_threaded_blas()\n"
            "import numpy\n"
            "print(len(os.listdir('/proc/self/task')))\n")
    threads = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(threads) == 1


def test_a_fresh_run_imports_with_the_collector_off_then_freezes_the_imports_and_collects_again(tmp_path):
    code = ("import gc, json\n"
            "from emulator import cli\n"
            "with cli.importing():\n"
            "    collected_while_importing = gc.isenabled()\n"
            "    import emulator.run.runner\n"
            "frozen = gc.get_freeze_count()\n"
            f"status = cli.main(['run', 'scenarios/basic-panic.toml', '--out', {str(tmp_path / 'out')!r}, '-q'])\n"
            "print(json.dumps([status, collected_while_importing, frozen, gc.isenabled()]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    status, collected_while_importing, frozen, enabled = json.loads(proc.stdout.splitlines()[-1])
    assert status == 0 and collected_while_importing is False
    assert frozen > 10_000 and enabled is True  # the objects of the imported modules


def test_a_process_that_already_imported_the_run_keeps_its_collector_as_it_was():
    """In a test process or a worker, nothing is imported any more: no reason to freeze what it holds."""
    import gc

    import emulator.run.runner  # noqa: F401
    from emulator import cli

    before = gc.get_freeze_count()
    with cli.importing():
        assert gc.isenabled()
    assert gc.get_freeze_count() == before


def _subcommands(parser) -> dict:
    import argparse

    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_a_command_line_naming_a_subcommand_builds_only_that_subcommand_and_parses_as_the_whole_parser():
    """parser_for(argv) builds one subparser when argv starts with a subcommand: the same help, defaults and
    parse as in the parser with all of them, for every subcommand."""
    from emulator import cli

    whole = _subcommands(cli.build_parser())
    assert len(whole) > 10
    for name, full in whole.items():
        argv = [name, "--", "x"] if name in ("gdb", "drgn", "crash") else [name]
        one = cli.parser_for([name])
        assert list(_subcommands(one)) == [name]
        assert _subcommands(one)[name].format_help() == full.format_help()
        try:
            expected = vars(cli.build_parser().parse_args(argv[:1]))
        except SystemExit:  # a subcommand with a required argument: both parsers must refuse it alike
            expected = "exit"
        try:
            got = vars(one.parse_args(argv[:1]))
        except SystemExit:
            got = "exit"
        assert got == expected, name


def test_an_unknown_or_missing_subcommand_gets_the_whole_parser_listing_every_subcommand(capsys):
    from emulator import cli

    for argv in (["rnu"], ["--version"], []):
        assert len(_subcommands(cli.parser_for(argv))) == len(_subcommands(cli.build_parser()))
    try:
        cli.main(["rnu"])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'rnu'" in err and "'explore'" in err and "'run'" in err


PROGRAM = ("import sys, atexit, threading, time\n"
           "sys.argv = ['fadump-emu', 'run', 'scenarios/basic-panic.toml', '-q', '--force', '--out', sys.argv[1]]\n"
           "atexit.register(lambda: print('atexit handler ran'))\n"
           "class Held:\n"
           "    def __del__(self):\n"
           "        print('interpreter torn down')\n"
           "held = Held()\n"
           "{thread}"
           "from emulator.cli import main\n"
           "status = main()\n"
           "print('main returned', status)\n")


def run_program(tmp_path, thread: str = "") -> subprocess.CompletedProcess:
    code = PROGRAM.replace("{thread}", thread)
    return subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True)


def test_a_run_as_the_program_ends_the_process_itself_after_flushing_and_the_atexit_handlers(tmp_path):
    """fadump-emu run (main() reading sys.argv) exits without tearing the interpreter down: the summary and the
    atexit handlers' output are all there, the status is the run's, and no object is finalized."""
    proc = run_program(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "outcome   vmcore" in proc.stdout and proc.stdout.endswith("atexit handler ran\n")
    assert "main returned" not in proc.stdout and "interpreter torn down" not in proc.stdout
    assert json.loads((tmp_path / "out" / "report.json").read_text())["ok"] is True


def test_with_another_thread_running_the_run_returns_and_python_exits_as_usual(tmp_path):
    proc = run_program(tmp_path, "threading.Thread(target=time.sleep, args=(1,)).start()\n")
    assert proc.returncode == 0, proc.stderr
    assert "main returned 0" in proc.stdout and "atexit handler ran" in proc.stdout
    assert proc.stdout.count("atexit handler ran") == 1


def test_exit_now_keeps_the_status_and_runs_each_atexit_handler_once():
    code = ("import atexit, sys\n"
            "from emulator.cli import exit_now\n"
            "atexit.register(lambda: print('handler'))\n"
            "print('before', end='')\n"
            "exit_now(3)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (3, "beforehandler\n")


def test_a_run_called_with_arguments_returns_its_status(tmp_path):
    """Tests and scripts calling main([...]) get the status back: only the program's own run ends the process."""
    from emulator import cli

    assert cli.main(["run", "scenarios/basic-panic.toml", "-q", "--out", str(tmp_path / "out")]) == 0
