"""Tests for `fadump-emu test` (the regression runner), golden transcripts and the pytest plugin."""

import contextlib
import io
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from emulator.regress import golden
from emulator.regress import suite, suite_pool
from emulator.cli import main
from emulator.regress.pytest_plugin import is_scenario_file
from tests.conftest import small_scenario_text

pytest_plugins = ["pytester"]

PASSING = '[expect]\noutcome = "vmcore"\nconsole = ["Firmware-assisted dump is active."]\n'
UNMET = '[expect]\noutcome = "vmcore"\nconsole = ["this line never appears"]\n'
BAD = '[machine]\nmemory = "8GiB!"\n'


def flat(text: str) -> str:
    """Text with line wrapping undone (rich wraps at the terminal width)."""
    return " ".join(text.split())


def write_scenarios(folder: Path, failing: bool = True) -> Path:
    """Two small passing scenarios, and unless told otherwise one failing and one bad file, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "alpha.toml").write_text(small_scenario_text(name="alpha", extra=PASSING))
    (folder / "nested").mkdir(exist_ok=True)
    (folder / "nested" / "beta.toml").write_text(small_scenario_text(name="beta", cpus=2, crash_cpu=0,
                                                                     extra=PASSING))
    if failing:
        (folder / "gamma.toml").write_text(small_scenario_text(name="gamma", extra=UNMET))
        (folder / "broken.toml").write_text(BAD)
    return folder


def run_test(capsys, *args) -> tuple[int, str]:
    """`fadump-emu test ARGS`; the exit status and what it printed on stdout."""
    status = main(["test", *map(str, args)])
    return status, capsys.readouterr().out


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> dict:
    """One `test` run over two passing scenarios, one failing and one bad file (2 workers)."""
    root = tmp_path_factory.mktemp("mixed")
    folder = write_scenarios(root / "scenarios")
    out = root / "out"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(["test", str(folder), "--out", str(out), "-j", "2"])
    return {"status": status, "stdout": buf.getvalue(), "out": out, "folder": folder}


def test_a_suite_with_a_failing_scenario_and_a_bad_file_exits_1(mixed):
    """A FAIL and an ERROR among passing scenarios make the exit status 1."""
    assert mixed["status"] == 1


def test_the_junit_xml_has_four_testcases_one_failure_and_one_error(mixed):
    """junit.xml parses and holds one testcase per scenario, a failure for gamma and an error for broken."""
    root = ET.parse(mixed["out"] / "junit.xml").getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert sorted(cases) == ["alpha", "beta", "broken", "gamma"]
    assert len(list(root.iter("failure"))) == 1
    assert len(list(root.iter("error"))) == 1
    failure = cases["gamma"].find("failure")
    assert "this line never appears" in failure.get("message")
    assert "unmet: console shows 'this line never appears'" in failure.text
    error = cases["broken"].find("error")
    assert error.get("message").endswith("broken.toml:2: machine.memory: cannot read '8GiB!' as a size; "
                                         'write e.g. "8GiB", "256MiB", "64KiB" or a number of bytes')
    assert error.get("type") == "ScenarioError"
    assert cases["alpha"].find("failure") is None and cases["alpha"].find("error") is None


def test_the_json_results_hold_each_scenario_with_its_verdict_and_expectations(mixed):
    """results.json has a summary and, per scenario in file order, the verdict, outcome and expectations."""
    doc = json.loads((mixed["out"] / "results.json").read_text())
    assert doc["summary"] | {"seconds": 0} == {"scenarios": 4, "passed": 2, "failed": 1, "errors": 1,
                                                "workers": 2, "seconds": 0, "ok": False}
    by_name = {r["name"]: r for r in doc["results"]}
    assert [r["name"] for r in doc["results"]] == ["alpha", "broken", "gamma", "beta"]
    assert by_name["alpha"]["verdict"] == "PASS" and by_name["alpha"]["outcome"] == "vmcore"
    assert by_name["alpha"]["met"] == by_name["alpha"]["total"] > 0
    gamma = by_name["gamma"]
    assert gamma["verdict"] == "FAIL"
    assert [e["what"] for e in gamma["expectations"] if not e["ok"]] == ["console shows 'this line never appears'"]
    assert by_name["broken"]["verdict"] == "ERROR"
    assert "broken.toml:2:" in by_name["broken"]["error"]
    assert by_name["broken"]["traceback"] is None


def test_the_table_shows_every_verdict_and_the_error_with_file_and_line_but_no_traceback(mixed):
    """stdout has a row per scenario, the unmet expectation and the bad file's `file:line: message`."""
    out = mixed["stdout"]
    for word in ("alpha", "beta", "gamma", "broken", "PASS", "FAIL", "ERROR"):
        assert word in out
    assert "unmet: console shows 'this line never appears'" in out
    assert any(line.strip().endswith("broken.toml:2: machine.memory: cannot read '8GiB!' as a size; write e.g. "
                                     '"8GiB", "256MiB", "64KiB" or a number of bytes') for line in out.splitlines())
    assert "Traceback" not in out
    assert "4 scenarios: 2 passed, 1 failed, 1 errors" in flat(out)


def test_each_scenario_runs_into_its_own_output_folder(mixed):
    """Every scenario that ran has OUT/NAME with console.log, report.json and a vmcore."""
    for name in ("alpha", "beta", "gamma"):
        folder = mixed["out"] / name
        for f in ("console.log", "report.json", "vmcore"):
            assert (folder / f).is_file(), folder / f


def test_a_second_run_into_the_same_out_folder_replaces_the_vmcores(mixed, tmp_path, capsys):
    """The runner forces its own folders: running again over existing vmcores still passes."""
    folder = write_scenarios(tmp_path / "scenarios", failing=False)
    out = tmp_path / "out"
    assert run_test(capsys, folder, "--out", out)[0] == 0
    assert run_test(capsys, folder, "--out", out)[0] == 0


def test_one_worker_and_two_workers_give_the_same_results(mixed, tmp_path, capsys):
    """-j 1 and -j 2 produce the same per-scenario results (apart from host time and folders)."""

    def results(out: Path) -> list[dict]:
        doc = json.loads((out / "results.json").read_text())
        return [{k: v for k, v in r.items() if k not in ("seconds", "out", "worker")} for r in doc["results"]]

    out1 = tmp_path / "j1"
    status, _ = run_test(capsys, mixed["folder"], "--out", out1, "-j", "1")
    assert status == mixed["status"]
    assert results(out1) == results(mixed["out"])
    for name in ("alpha", "beta", "gamma"):
        assert (out1 / name / "console.log").read_text() == (mixed["out"] / name / "console.log").read_text()


def test_junit_and_json_go_where_the_options_say(tmp_path, capsys):
    """--junit and --json choose the files instead of OUT/junit.xml and OUT/results.json."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "alpha.toml").write_text(small_scenario_text(name="alpha", extra=PASSING))
    status, _ = run_test(capsys, folder / "alpha.toml", "--out", tmp_path / "out", "--junit",
                         tmp_path / "r" / "j.xml", "--json", tmp_path / "r" / "r.json")
    assert status == 0
    assert ET.parse(tmp_path / "r" / "j.xml").getroot().find("testsuite").get("tests") == "1"
    assert json.loads((tmp_path / "r" / "r.json").read_text())["summary"]["ok"] is True
    assert not (tmp_path / "out" / "junit.xml").exists()


def test_a_path_that_does_not_exist_exits_2(tmp_path, capsys):
    """Naming a missing file or folder is bad input: exit 2 and the path in the message."""
    assert main(["test", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 2
    assert "nope: no such file or folder" in flat(capsys.readouterr().err)


def test_a_folder_without_scenario_files_exits_2(tmp_path, capsys):
    """A folder with no *.toml below it is bad input: exit 2."""
    (tmp_path / "empty").mkdir()
    assert main(["test", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "no scenario files" in capsys.readouterr().err


def test_zero_workers_is_bad_input(tmp_path, capsys):
    """-j 0 exits 2 instead of silently choosing a number."""
    folder = write_scenarios(tmp_path / "scenarios", failing=False)
    assert main(["test", str(folder), "-j", "0", "--out", str(tmp_path / "out")]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_scenarios_with_the_same_name_get_separate_output_folders(tmp_path):
    """Two files that declare the same name run into NAME and NAME-2, in file order."""
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "x.toml").write_text(small_scenario_text(name="twin"))
    tasks = suite.plan(suite.collect([str(tmp_path)]), tmp_path / "out")
    assert [Path(t["out"]).name for t in tasks] == ["twin", "twin-2"]


def test_a_file_named_twice_runs_once(tmp_path):
    """A file given directly and again through its folder is collected once."""
    folder = write_scenarios(tmp_path / "scenarios", failing=False)
    assert len(suite.collect([str(folder / "alpha.toml"), str(folder)])) == 2


def test_a_named_file_that_is_not_toml_is_bad_input(tmp_path):
    """Passing a golden .log (say from a shell glob) is refused instead of read as a scenario."""
    (tmp_path / "alpha.log").write_text("")
    with pytest.raises(suite.BadInputError, match="not a scenario file"):
        suite.collect([str(tmp_path / "alpha.log")])


# --- golden transcripts ---

@pytest.fixture
def golden_folder(tmp_path, capsys) -> Path:
    """Two passing scenarios whose golden transcripts were just written with --update-golden."""
    folder = write_scenarios(tmp_path / "scenarios", failing=False)
    assert run_test(capsys, folder, "--out", tmp_path / "out", "--update-golden")[0] == 0
    return folder


def test_update_golden_writes_name_log_beside_each_scenario(golden_folder, tmp_path):
    """--update-golden creates NAME.log (same folder, same stem) holding the run's console.log."""
    assert (golden_folder / "alpha.log").read_text() == (tmp_path / "out" / "alpha" / "console.log").read_text()
    assert (golden_folder / "nested" / "beta.log").read_text() == \
        (tmp_path / "out" / "beta" / "console.log").read_text()
    assert "Kernel panic - not syncing" in (golden_folder / "alpha.log").read_text()


def test_a_second_run_matches_the_golden_transcripts(golden_folder, tmp_path, capsys):
    """The console is deterministic: a fresh run equals the golden files, and the match is an expectation."""
    status, _ = run_test(capsys, golden_folder, "--out", tmp_path / "again")
    assert status == 0
    doc = json.loads((tmp_path / "again" / "results.json").read_text())
    for r in doc["results"]:
        assert r["golden"]["status"] == "match"
        assert any(e["what"] == f"console matches the golden transcript {r['name']}.log" and e["ok"]
                   for e in r["expectations"])


def test_a_modified_golden_fails_with_a_unified_diff(golden_folder, tmp_path, capsys):
    """Editing a line of alpha.log makes alpha FAIL, with the diff in the table and in the JUnit failure."""
    log = golden_folder / "alpha.log"
    log.write_text(log.read_text().replace("Kernel panic - not syncing", "Kernel panic - syncing"))
    status, out = run_test(capsys, golden_folder, "--out", tmp_path / "again")
    assert status == 1
    assert "-[   10.000000] Kernel panic - syncing" in out
    assert "+[   10.000000] Kernel panic - not syncing" in out
    assert "--- alpha.log (golden)" in out
    failure = ET.parse(tmp_path / "again" / "junit.xml").getroot().find(".//testcase[@name='alpha']/failure")
    assert "+[   10.000000] Kernel panic - not syncing" in failure.text
    assert ET.parse(tmp_path / "again" / "junit.xml").getroot().find(".//testcase[@name='beta']/failure") is None


def test_update_golden_repairs_a_modified_golden(golden_folder, tmp_path, capsys):
    """After an edit, --update-golden rewrites the file and the next run passes again."""
    (golden_folder / "alpha.log").write_text("stale\n")
    assert run_test(capsys, golden_folder, "--out", tmp_path / "again", "--update-golden")[0] == 0
    assert run_test(capsys, golden_folder, "--out", tmp_path / "again")[0] == 0


def test_updating_a_golden_replaces_the_file_whole_and_never_writes_through_a_symlink(tmp_path):
    """The new transcript is renamed over NAME.log: a symlink planted there is replaced, not followed."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (tmp_path / "s.log").symlink_to(victim)
    result = golden.check(tmp_path / "s.toml", "console\n", update=True)
    assert result["status"] == golden.WRITTEN and result["changed"]
    assert victim.read_text() == "keep me\n"
    assert (tmp_path / "s.log").read_text() == "console\n" and not (tmp_path / "s.log").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.log", "victim.txt"]  # no temporary left behind


def test_a_long_golden_diff_is_cut_to_twenty_lines():
    """A diff longer than DIFF_LINES shows its first lines and counts the rest."""
    old = "".join(f"line {i}\n" for i in range(100))
    new = "".join(f"LINE {i}\n" for i in range(100))
    lines = golden.diff(old, new, "x.log")
    assert len(lines) == golden.DIFF_LINES + 1
    assert lines[-1].startswith("... (") and lines[-1].endswith("more diff lines)")


def test_a_golden_that_differs_only_by_the_final_newline_still_fails_with_a_diff():
    """Text equal but for the trailing newline is a mismatch, and the diff is not empty."""
    assert golden.diff("a\nb\n", "a\nb", "x.log")


# --- the pytest plugin ---

def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    """The installed package advertises emulator.regress.pytest_plugin to pytest."""
    found = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert found.get("fadump_emu") == "emulator.regress.pytest_plugin"


def test_only_toml_files_inside_a_scenarios_folder_are_scenario_files(tmp_path):
    """pyproject.toml and *.toml outside scenarios/ are left alone; scenarios/**/x.toml is taken."""
    assert is_scenario_file(tmp_path / "scenarios" / "a.toml", tmp_path)
    assert is_scenario_file(tmp_path / "scenarios" / "faults" / "b.toml", tmp_path)
    assert not is_scenario_file(tmp_path / "pyproject.toml", tmp_path)
    assert not is_scenario_file(tmp_path / "tests" / "data.toml", tmp_path)
    assert not is_scenario_file(tmp_path / "scenarios" / "a.log", tmp_path)
    # Only folders below the rootdir count: a checkout inside a folder called scenarios is not special.
    assert not is_scenario_file(tmp_path / "scenarios" / "repo" / "pyproject.toml", tmp_path / "scenarios" / "repo")


def test_the_bundled_scenarios_are_scenario_files_wherever_the_installation_keeps_them(tmp_path):
    """A wheel's copies sit in site-packages/emulator/bundled_scenarios, a folder not named scenarios."""
    root = (tmp_path / "site-packages" / "emulator" / "bundled_scenarios").resolve()
    assert is_scenario_file(root / "basic-panic.toml", tmp_path / "elsewhere", bundled_root=root)
    assert is_scenario_file(root / "faults" / "disk-full.toml", tmp_path / "elsewhere", bundled_root=root)
    assert not is_scenario_file(tmp_path / "site-packages" / "other" / "a.toml", tmp_path / "elsewhere",
                                bundled_root=root)
    assert not is_scenario_file(root / "basic-panic.log", tmp_path / "elsewhere", bundled_root=root)


def test_fadump_bundled_runs_the_bundled_scenarios_from_any_folder_and_nothing_else(pytester):
    """`pytest --fadump-bundled` in a folder of its own: every bundled scenario is collected, a stray *.toml
    there is not (the bundled folder replaces the current one when no path is given)."""
    from emulator.scenario import bundled

    (pytester.path / "stray.toml").write_text("x = 1\n")
    result = pytester.runpytest("--fadump-bundled", "--collect-only", "-q", "-p", "no:cacheprovider")
    names = {line.split("::")[-1] for line in result.stdout.lines if "::" in line}
    assert names == {p.stem for p in bundled.folder().rglob("*.toml")} and "stray" not in names
    write_scenarios(pytester.path / "scenarios")
    result = pytester.runpytest("scenarios", "--fadump-bundled", "--collect-only", "-q", "-p", "no:cacheprovider")
    assert f"{len(bundled.listing()) + 4} tests collected" in result.stdout.str()


def test_pytest_collects_and_runs_every_scenario_under_a_scenarios_folder(pytester):
    """`pytest scenarios` makes one item per file: passing ones pass, the unmet and the bad one fail."""
    write_scenarios(pytester.path / "scenarios")
    result = pytester.runpytest("scenarios", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    text = result.stdout.str()
    assert "unmet: console shows 'this line never appears'" in text
    assert "scenarios/broken.toml:2: machine.memory: cannot read '8GiB!' as a size" in text
    assert "Traceback" not in text


def test_pytest_runs_a_single_scenario_file_named_on_the_command_line(pytester):
    """`pytest scenarios/alpha.toml` collects just that file, as scenarios/alpha.toml::alpha."""
    write_scenarios(pytester.path / "scenarios")
    result = pytester.runpytest("scenarios/alpha.toml", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*scenarios/alpha.toml::alpha PASSED*"])


def test_the_plugin_fails_a_scenario_whose_golden_transcript_differs(pytester, capsys):
    """With alpha.log beside it, the item compares the console and shows the diff when they differ."""
    folder = write_scenarios(pytester.path / "scenarios", failing=False)
    assert main(["test", str(folder), "--out", str(pytester.path / "out"), "--update-golden"]) == 0
    capsys.readouterr()
    pytester.runpytest("scenarios", "-p", "no:cacheprovider").assert_outcomes(passed=2)
    log = folder / "alpha.log"
    log.write_text(log.read_text().replace("Kernel panic", "Kernel oops"))
    result = pytester.runpytest("scenarios", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    assert "+[   10.000000] Kernel panic - not syncing" in result.stdout.str()


def test_a_plain_pytest_run_with_testpaths_does_not_collect_scenarios(pytester):
    """With testpaths = ["tests"], `pytest` runs tests/ only; scenarios/ is not collected as well."""
    write_scenarios(pytester.path / "scenarios")
    pytester.makeini("[pytest]\ntestpaths = tests\n")
    pytester.mkdir("tests")
    (pytester.path / "tests" / "test_one.py").write_text("def test_one():\n    pass\n")
    (pytester.path / "tests" / "data.toml").write_text("x = 1\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_repository_scenarios_folder_is_collected_by_the_plugin(pytester):
    """A copy of a bundled scenario under scenarios/ is collected and passes."""
    root = Path(__file__).resolve().parents[3]
    (pytester.path / "scenarios").mkdir()
    shutil.copy(root / "scenarios" / "cross-generation.toml", pytester.path / "scenarios")
    pytester.runpytest("scenarios", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_progress_bar_runs_the_same_suite_and_leaves_the_table_on_stdout(tmp_path):
    """With the progress bar forced on, the results and exit status are those of the quiet runner."""
    folder = write_scenarios(tmp_path / "scenarios", failing=False)
    out = io.StringIO()
    assert suite.run_suite([str(folder)], out_root=str(tmp_path / "out"), show_progress=True, stdout=out) == 0
    assert "2 scenarios: 2 passed, 0 failed, 0 errors" in flat(out.getvalue())


def test_a_fault_of_the_emulator_is_an_error_row_with_the_traceback_kept_in_json(tmp_path, monkeypatch):
    """An unexpected exception inside a run becomes ERROR "internal error: ..." and keeps its traceback."""
    import emulator.run.runner

    def broken(*args, **kwargs):
        raise RuntimeError("emulator bug")

    monkeypatch.setattr(emulator.run.runner, "run_scenario", broken)
    folder = write_scenarios(tmp_path / "scenarios", failing=False)
    r = suite.run_one(str(folder / "alpha.toml"), str(tmp_path / "out"))
    assert r["verdict"] == "ERROR"
    assert r["error"] == "internal error: RuntimeError: emulator bug"
    assert "Traceback" in r["traceback"]
    assert suite.details(r) == [r["error"]]


def test_tasks_are_handed_out_longest_golden_first_with_ties_in_file_order(tmp_path):
    """dispatch_order: the longer a scenario's golden transcript (its scenario file when it has none), the sooner
    it starts, so two workers finish together; equal costs keep file order."""
    names = {"short": 10, "long": 300, "none": None, "tie-a": 100, "tie-b": 100}
    tasks = []
    for name, golden_size in names.items():
        path = tmp_path / f"{name}.toml"
        path.write_text("x" * 50)  # the scenario file's size counts only without a golden transcript
        if golden_size is not None:
            path.with_suffix(".log").write_text("y" * golden_size)
        tasks.append({"path": str(path), "name": name, "out": str(tmp_path / "out" / name)})
    tasks.append({"path": str(tmp_path / "missing.toml"), "name": "missing", "out": str(tmp_path / "out" / "m")})
    order = [tasks[i]["name"] for i in suite_pool.dispatch_order(tasks)]
    assert order == ["long", "tie-a", "tie-b", "none", "short", "missing"]


def test_run_all_starts_the_longest_scenario_first_and_returns_results_in_file_order(tmp_path):
    """With one worker the results arrive in the order the tasks were handed out: the scenario with the longer
    golden transcript first; run_all still returns them in file order."""
    folder = write_scenarios(tmp_path / "scenarios", failing=False)
    (folder / "nested" / "beta.log").write_text("a long transcript\n" * 100)
    (folder / "alpha.log").write_text("short\n")
    tasks = suite.plan(suite.collect([str(folder)]), tmp_path / "out")
    arrived = []
    results = suite_pool.run_all(tasks, 1, progress=lambda r: arrived.append(r["name"]))
    assert arrived == ["beta", "alpha"]
    assert [r["name"] for r in results] == ["alpha", "beta"]


def test_the_workers_preload_more_the_more_of_them_share_it():
    """One worker imports only what a run needs; two or three also run worker_preload (imports and kallsyms
    tables); four or more with enough scenarios each run the full warm-up."""
    assert suite_pool.preload_for(1, 50) == suite_pool.PRELOAD
    assert suite_pool.preload_for(2, 50) == suite_pool.PRELOAD + ["emulator.regress.worker_preload"]
    assert suite_pool.preload_for(4, 16) == suite_pool.PRELOAD + ["emulator.regress.warm_worker"]
    assert suite_pool.preload_for(4, 15) == suite_pool.PRELOAD + ["emulator.regress.worker_preload"]


def passing_suite(tmp_path, count: int) -> list[dict]:
    """``count`` small passing scenarios s0, s1, ... planned into tmp_path/out."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for i in range(count):
        (folder / f"s{i}.toml").write_text(small_scenario_text(name=f"s{i}", extra=PASSING))
    return suite.plan(suite.collect([str(folder)]), tmp_path / "out")


def pool_workers() -> list:
    """This process's live pool worker processes (forked from it, from a forkserver, or spawned)."""
    import multiprocessing

    return [p for p in multiprocessing.active_children()
            if p.name.startswith(("ForkProcess", "SpawnProcess", "ForkServerProcess"))]


def test_ctrl_c_while_the_suite_runs_stops_every_worker_and_leaves_no_staging_folder(tmp_path):
    """KeyboardInterrupt in the parent (here from the progress callback, after the first result) stops the
    workers at once: run_all re-raises it, no worker process is left and no scenario's staging folder stays."""
    tasks = passing_suite(tmp_path, 6)

    def interrupt(_result):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        suite_pool.run_all(tasks, 2, progress=interrupt)
    assert not pool_workers()
    assert not list((tmp_path / "out").rglob(".fadump-emu-incomplete.*"))
    assert (Path(tasks[0]["out"]).parent).is_dir()


def test_when_a_worker_dies_every_scenario_still_gets_a_row_saying_what_happened(tmp_path):
    """A worker killed (as the kernel's OOM killer would) after the first result breaks the pool: run_all still
    returns one result per scenario, in file order; those without one are WorkerLost ERROR rows, the one the
    dead worker had claimed saying it died running it, the ones nobody started saying they were not run."""
    import os
    import signal

    tasks = passing_suite(tmp_path, 8)

    def kill_a_worker(_result):
        workers = pool_workers()
        if workers:
            os.kill(workers[0].pid, signal.SIGKILL)

    results = suite_pool.run_all(tasks, 2, progress=kill_a_worker)
    assert [r["name"] for r in results] == [f"s{i}" for i in range(8)]
    lost = [r for r in results if r["verdict"] == suite.ERROR]
    assert lost and all(r["error_type"] == "WorkerLost" for r in lost)
    assert {r["error"].split(": ", 1)[1] for r in lost} <= {
        "the worker process running it died (out of memory?)",
        "not run: a worker process died (out of memory?) and the pool stopped"}
    assert any("running it died" in r["error"] for r in lost) and any("not run" in r["error"] for r in lost)
    assert all(r["verdict"] == suite.PASS for r in results if r not in lost)


SECOND_SIGTERM = """
import os, signal, sys
from emulator.regress import suite, suite_pool
from emulator.run import outdir, runner
suite_pool._worker_init()
runner.Run.execute = lambda self: os.kill(os.getpid(), signal.SIGTERM)  # stopped mid-run by the parent
real = outdir._remove

def remove(p, dir_fd=None):
    os.kill(os.getpid(), signal.SIGTERM)  # the pool terminates the workers again while this one cleans up
    real(p, dir_fd)

outdir._remove = remove
try:
    suite.run_one(sys.argv[1], sys.argv[2])
except SystemExit as exc:
    print(exc.code)
"""


def test_a_second_sigterm_while_a_stopped_worker_cleans_up_does_not_leave_its_staging_folder(tmp_path):
    """Ctrl-C: the parent terminates every worker, and the pool terminates those still alive once more when the
    first one leaves; a worker in the middle of removing its staging folder ignores the second."""
    path = tmp_path / "s.toml"
    path.write_text(small_scenario_text(name="s", extra=PASSING))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", SECOND_SIGTERM, str(path), str(out)], capture_output=True,
                          text=True, cwd=Path(__file__).parents[3])
    assert proc.stdout.strip() == "130", proc.stderr
    assert out.is_dir() and not list(out.glob(".fadump-emu-incomplete.*"))
