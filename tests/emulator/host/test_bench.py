"""make bench measures the command line as a user runs it: its pools and clusters start with the same
one-thread OpenBLAS that the command line asks for (emulator.single_threaded_blas)."""

import os

import pytest

from emulator.host import bench


def test_bench_asks_openblas_for_one_thread_before_it_measures_anything(monkeypatch, tmp_path):
    for name in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.setenv(name, "")  # recorded, so that what main() sets is undone after the test
        monkeypatch.delenv(name)
    # A --out in a missing folder is refused before the first row: nothing is measured, the setting is made.
    assert bench.main(["--out", str(tmp_path / "missing" / "bench.json")]) == 2
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"


def test_bench_keeps_a_thread_count_the_user_chose(monkeypatch, tmp_path):
    for name in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert bench.main(["--out", str(tmp_path / "missing" / "bench.json")]) == 2
    assert "OPENBLAS_NUM_THREADS" not in os.environ


def test_a_scale_row_keeps_its_fastest_run_but_the_highest_peak_rss_of_all_its_runs():
    """A run slowed by the host's disk does not decide the time; a memory bound holds for every run."""
    runs = iter([{"process": 2.3, "rss_mib": 540.0, "ok": True}, {"process": 0.9, "rss_mib": 530.0, "ok": True},
                 {"process": 1.1, "rss_mib": 560.0, "ok": True}])
    row = bench.best_scale_run(3, lambda: next(runs))
    assert row == {"process": 0.9, "rss_mib": 560.0, "ok": True, "runs": 3}


def test_the_memory_a_virtual_machine_handed_back_to_its_host_is_counted_between_two_readings(tmp_path):
    """Free page reporting's running total (reported_kib beside page_reporting_order under
    /sys/module/page_reporting/parameters on the development machine's kernel, 6.18): the bench keeps what
    went back while it measured."""
    (tmp_path / "reported_kib").write_text("45579796\n")
    start = bench.memory_given_back(str(tmp_path))
    assert start == 45579796
    (tmp_path / "reported_kib").write_text("46628372\n")
    assert bench.given_back_since(start, str(tmp_path)) == 1048576


def test_a_kernel_that_does_not_count_it_gives_no_figure_rather_than_zero(tmp_path):
    (tmp_path / "page_reporting_order").write_text("9\n")  # reporting built in, but no running total
    assert bench.memory_given_back(str(tmp_path)) is None
    assert bench.given_back_since(None, str(tmp_path)) is None
    (tmp_path / "reported_kib").write_text("not a number\n")
    assert bench.memory_given_back(str(tmp_path)) is None
    assert bench.given_back_since(12, str(tmp_path)) is None


def test_a_pool_s_rate_per_core_is_shown_as_a_share_of_one_long_lived_process_s_rate_per_cpu_second():
    """29.8 scenarios/s per core beside 33.1 per CPU second in one process (the 2026-12-01 run): the pool
    keeps 90% of what the scenarios' own work allows; a pool twice as fast per core as one process is 2.0."""
    assert bench.share_of_one_process(29.8, 33.1) == pytest.approx(0.90, abs=0.005)
    assert bench.share_of_one_process(66.2, 33.1) == pytest.approx(2.0)
