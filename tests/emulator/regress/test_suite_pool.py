"""How `fadump-emu test`'s pool starts its workers (emulator.regress.suite_pool): forked from the command itself
when it runs no other thread, from a forkserver otherwise, with the same results either way."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from emulator.hw import ram
from emulator.regress import suite, suite_pool
from tests.conftest import small_scenario_text
from tests.emulator.regress.test_suite import PASSING

BOTH_WAYS = """
import json, multiprocessing, sys, threading
from emulator.regress import suite, suite_pool

def run(out):
    tasks = suite.plan(suite.collect([sys.argv[1]]), out)
    method = suite_pool.prepare_workers(2, len(tasks))
    names = set()
    results = suite_pool.run_all(tasks, 2, progress=lambda r: names.update(
        p.name.rsplit("-", 1)[0] for p in multiprocessing.active_children()))
    keep = ("name", "verdict", "outcome", "console", "expectations", "met", "total", "golden", "error")
    return {"method": method, "processes": sorted(names), "results": [{k: r[k] for k in keep} for r in results]}

forked = run(sys.argv[2])
stop = threading.Event()
other = threading.Thread(target=stop.wait)
other.start()  # a second thread: forking this process is no longer safe
try:
    served = run(sys.argv[3])
finally:
    stop.set()
    other.join()
print(json.dumps({"forked": forked, "served": served}))
"""


def test_a_single_threaded_command_forks_its_workers_and_a_threaded_one_uses_a_forkserver_with_equal_results(
        tmp_path):
    """The command line runs one thread (OpenBLAS told to start none): its workers are forked from it, with no
    second interpreter to start. With another thread running, the same suite goes through a forkserver, and
    every scenario's verdict, console and expectations are the same."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for i in range(4):
        (folder / f"s{i}.toml").write_text(small_scenario_text(name=f"s{i}", cpus=2 + i % 2, extra=PASSING))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", BOTH_WAYS, str(folder), str(tmp_path / "a"), str(tmp_path / "b")],
                          capture_output=True, text=True, env=env, cwd=Path(__file__).parents[3], timeout=300)
    assert proc.returncode == 0, proc.stderr
    both = json.loads(proc.stdout)
    assert both["forked"]["method"] == "fork" and both["forked"]["processes"] == ["ForkProcess"]
    assert both["served"]["method"] == "forkserver" and both["served"]["processes"] == ["ForkServerProcess"]
    assert [r["verdict"] for r in both["forked"]["results"]] == [suite.PASS] * 4
    assert both["forked"]["results"] == both["served"]["results"]


def test_a_process_running_another_thread_is_not_single_threaded():
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not suite_pool.single_threaded()
    finally:
        stop.set()
        other.join()


def test_before_forking_the_ram_kept_for_this_process_s_next_runs_is_given_back():
    """A released RAM stays mapped for this process's next run (PartitionRAM.reuse); forked workers would each
    inherit it and copy its pages on their first write, so it is dropped first."""
    ram.PartitionRAM.reuse(1 << 30).release()
    assert ram._SPARE
    suite_pool._prepare_here(suite_pool.PRELOAD)
    assert not ram._SPARE


def test_one_worker_needs_no_preparation():
    assert suite_pool.prepare_workers(1, 10) is None


def test_the_progress_bar_starts_no_thread_so_the_workers_can_still_be_forked(tmp_path, monkeypatch):
    """rich redraws the bar at each result instead of from a refresh thread of its own."""
    seen = []

    def fake_run_all(tasks, workers, update_golden, progress):
        seen.append(threading.active_count())
        return []

    monkeypatch.setattr(suite, "run_all", fake_run_all)
    before = threading.active_count()
    suite._run_with_progress([{"name": "s"}], 2, False)
    assert seen == [before]
