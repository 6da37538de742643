"""`fadump-emu test` and `explore` on Dask give what the local worker processes give."""

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from emulator.regress import explore
from emulator.cli import main
from tests.emulator.regress.test_suite import run_test, write_scenarios

distributed = pytest.importorskip("distributed")

VARYING = ("seconds", "worker", "worker_out")
"""What may differ between two runs of the same suite: host time and who ran it."""


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """A LocalCluster of two worker processes, reached by address like a remote scheduler; the
    workers' temporary directory (where runs leave their folders) is a pytest one."""
    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp_path_factory.mktemp("workers"))
    try:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
    finally:
        if old is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = old
    yield cluster.scheduler_address
    cluster.close()


def results(out: Path) -> list[dict]:
    doc = json.loads((out / "results.json").read_text())
    return [{k: v for k, v in r.items() if k not in VARYING} for r in doc["results"]]


def junit(out: Path) -> str:
    return re.sub(r' (time|timestamp)="[^"]*"', "", (out / "junit.xml").read_text())


def digest(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes()).hexdigest()


def test_the_same_suite_gives_the_same_results_junit_and_json_on_dask_as_locally(tmp_path, capsys, scheduler):
    folder = write_scenarios(tmp_path / "scenarios")  # two passing, one failing, one bad file
    (folder / "alpha.log").write_text("a golden transcript that does not match\n")
    local, dask = tmp_path / "local", tmp_path / "dask"
    status_local, table_local = run_test(capsys, folder, "--out", local, "-j", "2")
    status_dask, table_dask = run_test(capsys, folder, "--out", dask, "--scheduler", scheduler)
    assert status_local == status_dask == 1
    assert results(dask) == [{**r, "out": r["out"].replace(str(local), str(dask))} for r in results(local)]
    assert junit(dask) == junit(local).replace(str(local), str(dask))
    assert sorted(r["verdict"] for r in results(dask)) == ["ERROR", "FAIL", "FAIL", "PASS"]  # alpha: golden
    workers = {r["worker"] for r in json.loads((dask / "results.json").read_text())["results"]}
    assert all(w.startswith("tcp://") or w == "client" for w in workers)


def test_vmcores_stay_on_the_worker_unless_collected_and_then_match_the_local_ones(tmp_path, capsys, scheduler):
    folder = write_scenarios(tmp_path / "scenarios", failing=False)
    local, kept, collected = tmp_path / "local", tmp_path / "kept", tmp_path / "collected"
    assert run_test(capsys, folder, "--out", local, "-j", "1")[0] == 0
    assert run_test(capsys, folder, "--out", kept, "--scheduler", scheduler)[0] == 0
    assert run_test(capsys, folder, "--out", collected, "--scheduler", scheduler, "--collect")[0] == 0
    assert not (kept / "alpha").exists()
    where = json.loads((kept / "results.json").read_text())["results"][0]["worker_out"]
    assert where.endswith("alpha") and "fadump-emu-dask" in where and "workers" in where
    assert (Path(where) / "vmcore").is_file()  # on the worker (here: this machine)
    for name in ("alpha", "beta"):
        assert digest(collected / name / "vmcore") == digest(local / name / "vmcore")
        assert (collected / name / "console.log").read_text() == (local / name / "console.log").read_text()
        assert json.loads((collected / name / "report.json").read_text())["outcome"] == "vmcore"


def test_explore_finds_the_same_points_on_dask(scheduler):
    path = "scenarios/basic-panic.toml"
    here = explore.explore(path, ("panic",), workers=1)
    there = explore.explore(path, ("panic",), scheduler=scheduler)
    assert there == here


def test_a_cluster_that_is_not_local_n_is_bad_input(tmp_path, capsys):
    folder = write_scenarios(tmp_path / "scenarios", failing=False)
    assert main(["test", str(folder), "--out", str(tmp_path / "out"), "--cluster", "remote:2"]) == 2
    assert "use local:N" in capsys.readouterr().err


def test_the_matrix_finds_the_same_points_on_dask(scheduler):
    from emulator.regress import explore_matrix as mx

    kw = dict(triggers=("panic", "hypervisor"), limit=8, profiles=["linux-3.4", "linux-6.12"],
              layouts=["1GiB-2cpu"], faults=["none", "disk-full"])
    here = mx.run_matrix(workers=1, **kw)
    there = mx.run_matrix(scheduler=scheduler, **kw)
    assert there["points"] == here["points"] and len(here["points"]) == 8


def _profiler_enabled() -> bool:
    import dask

    return dask.config.get("distributed.worker.profile.enabled")


def test_a_local_cluster_s_workers_run_without_dask_s_statistical_profiler():
    """Its 10 ms stack sampling cost about 6% of every run, for a dashboard --cluster does not serve."""
    from emulator.regress import dask_engine

    cl = dask_engine.client(cluster="local:1")
    try:
        assert cl.submit(_profiler_enabled, pure=False).result() is False
    finally:
        dask_engine.close(cl)
    assert _profiler_enabled() is True  # this process's own configuration is left as it was


def _preloaded() -> bool:
    import sys

    return "emulator.regress.worker_preload" in sys.modules


def test_every_worker_a_client_reaches_has_run_the_worker_preload_before_its_first_scenario(scheduler):
    """As the local pool's forkserver does once for its workers (suite_pool.preload_for): the modules a run
    imports late and the kallsyms tables are ready before a scenario starts, on a scheduler's workers too."""
    from emulator.regress import dask_engine

    cl = dask_engine.client(scheduler=scheduler)
    try:
        answers = cl.run(_preloaded)  # on every worker, outside any task
    finally:
        cl.close()
    assert len(answers) == 2 and all(answers.values())


def test_collected_files_replace_a_planted_link_and_never_write_through_it(tmp_path):
    """--collect brings a run's files back into OUT/NAME: a link planted there (vmcore -> a file outside) is
    replaced by the collected file, and the file outside is left untouched."""
    from emulator.regress import dask_engine

    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    out = tmp_path / "out" / "small"
    out.mkdir(parents=True)
    (out / "vmcore").symlink_to(victim)
    dask_engine.write_files(str(out), {"vmcore": {"size": 8, "extents": [(0, b"\x7fELF")]}})
    assert victim.read_text() == "keep\n"
    assert not (out / "vmcore").is_symlink() and (out / "vmcore").read_bytes() == b"\x7fELF\0\0\0\0"
    assert sorted(p.name for p in out.iterdir()) == ["vmcore"]  # no temporary file left behind


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "..", "sub/file"])
def test_a_collected_file_name_that_is_not_a_plain_name_is_refused(tmp_path, name):
    from emulator.errors import BadInputError
    from emulator.regress import dask_engine

    with pytest.raises(BadInputError, match="not a plain file name"):
        dask_engine.write_files(str(tmp_path / "out"), {name: {"size": 1, "extents": [(0, b"x")]}})
    assert not (tmp_path / "escape").exists()


def test_a_run_folder_planted_as_a_link_is_refused_by_collect(tmp_path):
    from emulator.errors import BadInputError
    from emulator.regress import dask_engine

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "small").symlink_to(elsewhere)
    with pytest.raises(BadInputError, match="is a symlink"):
        dask_engine.write_files(str(tmp_path / "out" / "small"), {"vmcore": {"size": 1, "extents": [(0, b"x")]}})
    assert list(elsewhere.iterdir()) == []


def test_collect_into_a_run_folder_planted_as_a_link_is_that_scenario_s_error_row(tmp_path, capsys, scheduler):
    """The run happens on the worker; bringing its files back into OUT/alpha, a link to a folder outside, is
    refused: alpha is an ERROR row that says why, beta is collected as usual, nothing lands outside."""
    folder = write_scenarios(tmp_path / "scenarios", failing=False)
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    out.mkdir()
    (out / "alpha").symlink_to(outside)
    status, table = run_test(capsys, folder, "--out", out, "--scheduler", scheduler, "--collect")
    rows = {r["name"]: r for r in json.loads((out / "results.json").read_text())["results"]}
    assert status == 1 and rows["alpha"]["verdict"] == "ERROR" and "is a symlink" in rows["alpha"]["error"]
    assert rows["beta"]["verdict"] == "PASS" and (out / "beta" / "vmcore").is_file()
    assert list(outside.iterdir()) == []


def test_a_worker_removes_what_exited_workers_left_but_the_newest_few_and_never_a_live_one_s_or_a_link(tmp_path):
    """Every --cluster local:N starts new worker processes, each with a folder named by its pid under the
    temporary directory: a new worker removes the folders of exited ones beyond the KEEP_EXITED newest, and
    leaves alone a running process's folder (however old), other names, and a link named like a pid."""
    import subprocess
    import sys

    from emulator.regress import dask_engine

    dead = []
    for _ in range(7):
        p = subprocess.Popen([sys.executable, "-c", "pass"])
        p.wait()
        dead.append(p.pid)
    for age, pid in enumerate(dead[:6]):  # dead[0] written last
        folder = tmp_path / str(pid)
        (folder / "basic-panic").mkdir(parents=True)
        os.utime(folder, (1e9 - 100 * age, 1e9 - 100 * age))
    running = tmp_path / str(os.getppid())
    running.mkdir()
    os.utime(running, (1, 1))
    (tmp_path / "notes").mkdir()
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "keep.txt").write_text("mine")
    (tmp_path / str(dead[6])).symlink_to(decoy)

    removed = dask_engine.prune_exited(tmp_path, 4)
    assert sorted(removed) == sorted(tmp_path / str(pid) for pid in dead[4:6])
    assert all((tmp_path / str(pid) / "basic-panic").is_dir() for pid in dead[:4])
    assert running.is_dir() and (tmp_path / "notes").is_dir()
    assert (tmp_path / str(dead[6])).is_symlink() and (decoy / "keep.txt").read_text() == "mine"


def test_dask_gets_the_longest_scenarios_first_as_the_local_pool_hands_them_out(tmp_path, monkeypatch):
    """Dask runs its tasks roughly in the order they were submitted: the scenario with the longer golden
    transcript goes first (suite_pool.dispatch_order), so no long one is left to finish alone; the results
    still come back in file order."""
    import tempfile

    import distributed

    from emulator.regress import dask_engine, suite
    from tests.conftest import small_scenario_text

    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name, log in (("alpha", "short\n"), ("beta", "a long transcript\n" * 100)):
        (folder / f"{name}.toml").write_text(small_scenario_text(name=name))
        (folder / f"{name}.log").write_text(log)
    tasks = suite.plan(suite.collect([str(folder)]), tmp_path / "out")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "worker-tmp"))
    monkeypatch.setattr(dask_engine, "_OWN_FOLDER", None)  # this process plays the worker: a folder of its own
    (tmp_path / "worker-tmp").mkdir()
    submitted = []

    class Done:
        def __init__(self, value):
            self.value = value

        def result(self):
            return self.value

    class Client:
        def submit(self, fn, task, collect, pure, key):
            submitted.append(task["name"])
            return Done(fn(task, collect))

    monkeypatch.setattr(distributed, "as_completed", lambda futures: iter(futures))
    results = dask_engine.run_tasks(Client(), tasks)
    assert submitted == ["beta", "alpha"]
    assert [r["name"] for r in results] == ["alpha", "beta"]
