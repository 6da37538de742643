"""``make bench``: how fast fadump-emu moves bytes and how its cost scales.

Prints a table and writes bench.json. Measures, on this machine, in one run,
each row beside the physical reference measured in the same run:
1. numpy memcpy bandwidth (the physical limit), a copy into never-written
   memory, and a file write through the page cache;
2. firmware preservation and vmcore export throughput with 1 GiB of touched
   data, as a ratio to (1) (best of --repeat); preservation is copy-on-write,
   so the worst case that follows it (the capture kernel rewriting every
   preserved block) is measured too;
3. whole-scenario wall time and peak RSS with 256 MiB touched on 1 GiB, 1 TiB
   and 64 TiB partitions (each in a fresh process; the fastest of --repeat,
   with the highest peak RSS of them), and the 64 TiB / 1 GiB ratio;
4. the default scenario as a whole process (best and median of 5), beside a
   bare interpreter importing numpy;
5. scenarios per second per core: ``fadump-emu test`` on the bundled suite and
   on a folder of small (1 GiB) scenarios, and ``explore`` of the default
   scenario, beside the cost of starting one process per scenario (the best of
   --repeat runs into one --out, as a regression farm re-runs its suite; the
   bundled suite's first run, into an empty folder, is shown too);
6. ``explore --matrix`` on ``--cluster local:N`` and on N local worker processes: its baselines and a sample
   of its runs (--matrix-sample, default 1000), the whole matrix's time extrapolated from them (--matrix-full
   runs all of it).
The load average is recorded: other work on the machine slows every row. So is how much freed memory a
virtual machine handed back to its host meanwhile (memory_given_back): new memory then costs more.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from emulator import single_threaded_blas
from emulator.host.bench_rates import (children_cpu, cpu_rates, dask_suite_rate, explore_rate, matrix_rate,
                                        scenario_text, small_suite, suite_rate)
from emulator.units import GiB, MiB

TARGETS = {"preserve_ratio": 0.5, "export_to_file_write": 0.5, "scale_ratio": 1.5, "64TiB_seconds": 2.0,
           "64TiB_rss_mib": 1024, "default_seconds": 0.25, "per_core_per_second": 50.0,
           "matrix_seconds": 120.0}


def memcpy_bandwidth(size: int = GiB // 2, rounds: int = 5) -> float:
    """Bytes per second of np.copyto between two touched arrays (best of ``rounds``)."""
    src = np.ones(size, dtype=np.uint8)
    dst = np.zeros(size, dtype=np.uint8)
    best = 0.0
    for _ in range(rounds):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = max(best, size / (time.perf_counter() - t))
    return best


def fresh_copy_bandwidth(size: int = GiB // 2) -> float:
    """Bytes per second copying into never-written anonymous memory (page faults included):
    the limit for any real copy into memory a process has not used yet, like the dump area."""
    import mmap

    src = np.full(size, 7, dtype=np.uint8)
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    dst = np.frombuffer(m, dtype=np.uint8)
    t = time.perf_counter()
    dst[:] = src
    rate = size / (time.perf_counter() - t)
    del dst
    m.close()
    return rate


def cow_worst_case(size: int = GiB // 2) -> float:
    """Bytes per second of a copy-on-write preservation followed by a rewrite of every source block
    (the worst a capture kernel can do), counting the copy's bytes: compare with a fresh copy."""
    from emulator.hw.ram import PartitionRAM

    ram = PartitionRAM(2 * size)
    ram.fill(0, size, 7)
    t = time.perf_counter()
    ram.copy(0, size, size)
    ram.fill(0, size, 9)
    elapsed = time.perf_counter() - t
    t = time.perf_counter()
    ram.fill(0, size, 11)  # the same rewrite once nothing is aliased: subtract its own cost
    return size / max(1e-9, elapsed - (time.perf_counter() - t))


def file_write_bandwidth(folder: str, size: int = GiB // 2) -> float:
    """Bytes per second writing a buffer to a new file in ``folder`` (the page-cache write path)."""
    buf = np.full(size, 7, dtype=np.uint8)
    path = os.path.join(folder, "write-test")
    t = time.perf_counter()
    with open(path, "wb") as f:
        for off in range(0, size, 64 << 20):
            f.write(buf[off:off + (64 << 20)])
    rate = size / (time.perf_counter() - t)
    os.unlink(path)
    return rate


PAGE_REPORTING = "/sys/module/page_reporting/parameters"


def memory_given_back(root: str = PAGE_REPORTING) -> int | None:
    """KiB of freed memory this (virtual) machine's kernel has handed back to its host so far (free page
    reporting, virtio-balloon), or None where the kernel does not count it.

    Where it does, a page the kernel later hands out again costs a fault in the host as well (zeroed there):
    about 10 us per 4 KiB page on the machine this was measured on (touching 4 GiB of new memory took 9.8 s;
    writing 8 MiB into new page-cache pages 20 ms, 1.7 ms into pages just freed). The rows that get new memory
    (a copy into never-written memory, a vmcore's page-cache pages, a new worker's heap) then depend on how
    much was freed shortly before, so the bench records how much went back while it measured."""
    try:
        with open(os.path.join(root, "reported_kib")) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def given_back_since(start: int | None, root: str = PAGE_REPORTING) -> int | None:
    """KiB handed back to the host since memory_given_back() read ``start`` (None where it is not counted)."""
    now = memory_given_back(root)
    return None if start is None or now is None else now - start


def best(times: int, measure, key=None):
    """The best of ``times`` results of ``measure()`` (highest, or lowest ``key``)."""
    results = [measure() for _ in range(max(1, times))]
    return min(results, key=key) if key else max(results)


def best_scale_run(times: int, run) -> dict:
    """The fastest of ``times`` whole-process runs, with the highest peak RSS of them all: on this shared host
    a run's export sometimes waits for the disk (0.08 s becoming 0.8-1.0 s for the 64 TiB run, with the
    same code), and a memory bound must hold for every run, not the best."""
    runs = [run() for _ in range(max(1, times))]
    fastest = min(runs, key=lambda r: r["process"])
    return {**fastest, "rss_mib": max(r["rss_mib"] for r in runs), "runs": len(runs)}


ONE_PROCESS_REFERENCE = {"test_bundled": "test_per_cpu_second", "test_bundled_dask": "test_per_cpu_second",
                         "explore": "explore_per_cpu_second"}
"""The pool rows whose runs bench_rates.cpu_rates also measures in one long-lived process, and its figure for them."""


def share_of_one_process(per_core_per_second: float, one_process_per_cpu_second: float) -> float:
    """A pool's scenarios per second per core as a share of what one long-lived process does per CPU second
    (bench_rates.cpu_rates, same run): 1.0 when its workers cost nothing beyond the scenarios' own work, less
    by what starting them and their first scenarios cost. The scenarios' own work caps a pool near 1.0: a
    per-core target above the one-process rate needs cheaper scenarios, not a better pool."""
    return per_core_per_second / one_process_per_cpu_second


def run_once(text: str, out: str, export_mode: str = "auto") -> dict:
    """Run scenario text in this process; host timings per phase and the report."""
    from emulator.scenario import loader as scenario
    from emulator.run.runner import run_scenario

    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "bench.toml")
    with open(path, "w") as f:
        f.write(text)
    t = time.perf_counter()
    from emulator.views import observers

    result = run_scenario(scenario.load(path), out, force=True, export_mode=export_mode,
                          observers=[observers.html_report])
    wall = time.perf_counter() - t
    rep = result.report
    return {"wall": wall, "timings": result.timings, "ok": rep["ok"], "moved": result.partition.firmware.bytes_moved,
            "data": result.captures[0].disk_bytes if result.captures else 0}


def child(memory: str, touched: int, out: str) -> dict:
    """Run one scenario in a fresh interpreter; its wall time, peak RSS and verdict."""
    code = ("import json,resource,sys,time;t=time.perf_counter();from emulator.host.bench import run_once, scenario_text;"
            f"r=run_once(scenario_text({memory!r},{touched}),{out!r});r['process']=time.perf_counter()-t;"
            "r['rss_mib']=[int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0]/1024;"
            "u=resource.getrusage(resource.RUSAGE_SELF);r['cpu']=u.ru_utime+u.ru_stime;"
            "print(json.dumps(r))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_bytecode_env())
    return json.loads(proc.stdout.strip().splitlines()[-1])


def process_start_seconds() -> float:
    """A fresh interpreter importing numpy: what one process per scenario would pay before any work."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import numpy"], check=True, env=_bytecode_env())
    return time.perf_counter() - t


def _bytecode_env() -> dict:
    """The environment without PYTHONDONTWRITEBYTECODE: whole-process rows measure cached bytecode,
    as an installed fadump-emu runs (the first run writes the cache)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m emulator.host.bench", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="bench.json", help="where to write the results (default bench.json)")
    p.add_argument("--sweep", type=int, default=60, help="small scenarios in the sweep (default 60)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each quick row; the best is kept (default 3)")
    p.add_argument("--matrix-sample", type=int, default=1000,
                   help="runs of explore --matrix measured on --cluster local:N; the whole matrix's time is "
                        "extrapolated from them (default 1000)")
    p.add_argument("--matrix-full", action="store_true", help="run the whole explore --matrix (over 10,000 runs)")
    args = p.parse_args(argv)
    single_threaded_blas()  # as the command line does: the pools and clusters the rows start inherit it
    from emulator.errors import BadInputError
    from emulator.run.out_paths import check_file_target, write_file

    try:  # before the hour of measuring: a folder, or a file in a missing folder, is refused
        check_file_target(args.out, "--out")
    except BadInputError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    cores = os.cpu_count() or 1
    res: dict = {"machine": {"cpus": cores, "platform": platform.platform(), "python": platform.python_version()},
                 "load_average": {"start": os.getloadavg()}}
    given_back = memory_given_back()
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        bw = memcpy_bandwidth()
        res["memcpy_bytes_per_second"] = bw
        res["fresh_copy_bytes_per_second"] = best(args.repeat, fresh_copy_bandwidth)
        res["file_write_bytes_per_second"] = best(args.repeat, lambda: file_write_bandwidth(tmp))
        res["cow_worst_case_bytes_per_second"] = best(args.repeat, cow_worst_case)
        text = scenario_text("16GiB", GiB, boot_mem="2G", low_share=1.0)
        runs = [run_once(text, os.path.join(tmp, "tp")) for _ in range(max(1, args.repeat))]  # best of --repeat
        r = min(runs, key=lambda x: x["timings"]["preserve"])
        ex = min(runs, key=lambda x: x["timings"]["export"])
        res["throughput"] = {
            "touched_bytes": GiB, "verified": all(x["ok"] for x in runs),
            "preserve_bytes_per_second": r["moved"] / r["timings"]["preserve"],
            "export_bytes_per_second": ex["data"] / ex["timings"]["export"],
            "timings": r["timings"]}
        tp = res["throughput"]
        tp["preserve_ratio"] = tp["preserve_bytes_per_second"] / bw
        tp["export_ratio"] = tp["export_bytes_per_second"] / bw
        tp["preserve_to_fresh_copy"] = tp["preserve_bytes_per_second"] / res["fresh_copy_bytes_per_second"]
        tp["export_to_file_write"] = tp["export_bytes_per_second"] / res["file_write_bytes_per_second"]
        tp["cow_worst_case_to_fresh_copy"] = res["cow_worst_case_bytes_per_second"] / res["fresh_copy_bytes_per_second"]
        scale = {}
        for label, memory in (("1GiB", "1GiB"), ("1TiB", "1TiB"), ("64TiB", "64TiB")):
            out = os.path.join(tmp, label)
            os.makedirs(out)
            scale[label] = best_scale_run(args.repeat, lambda m=memory, o=out: child(m, 256 * MiB, o))
        res["scale"] = scale
        res["scale"]["ratio_64TiB_to_1GiB"] = scale["64TiB"]["process"] / scale["1GiB"]["process"]
        walls = []
        env = _bytecode_env()
        subprocess.run([sys.executable, "-m", "emulator", "run", "-q", "--force", "--out",
                        os.path.join(tmp, "default")], check=True, capture_output=True, env=env)  # bytecode cache
        cpus = []
        for _ in range(5):
            t, c = time.perf_counter(), children_cpu()
            subprocess.run([sys.executable, "-m", "emulator", "run", "-q", "--force", "--out",
                            os.path.join(tmp, "default")], check=True, capture_output=True, env=env)
            walls.append(time.perf_counter() - t)
            cpus.append(children_cpu() - c)
        res["default_scenario_seconds"] = min(walls)
        res["default_scenario_cpu_seconds"] = min(cpus)
        res["default_scenario_median_seconds"] = statistics.median(walls)
        res["process_start_seconds"] = min(process_start_seconds() for _ in range(5))
        bundled = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scenarios")
        suite_runs = [suite_rate([bundled], os.path.join(tmp, "suite"), cores) for _ in range(max(1, args.repeat))]
        res["test_bundled"] = dict(min(suite_runs, key=lambda x: x["seconds"]),  # re-runs into the same --out
                                   first_run_per_core_per_second=suite_runs[0]["per_core_per_second"])
        res["test_bundled_dask"] = dask_suite_rate([bundled], os.path.join(tmp, "dask"), cores)
        small = small_suite(os.path.join(tmp, "small"), args.sweep)
        res["sweep"] = best(args.repeat, lambda: suite_rate([small], os.path.join(tmp, "sweep"), cores),
                            key=lambda x: x["seconds"])
        res["explore"] = best(args.repeat, lambda: explore_rate(os.path.join(bundled, "basic-panic.toml"), cores),
                              key=lambda x: x["seconds"])
        res["cpu_rates"] = cpu_rates(bundled, os.path.join(tmp, "cpu"), args.repeat)
        res["matrix"] = matrix_rate(cores, None if args.matrix_full else args.matrix_sample)
        res["matrix_local"] = matrix_rate(cores, None if args.matrix_full else args.matrix_sample, engine="local")
        for key in ("test_bundled", "test_bundled_dask", "sweep", "explore"):
            row = res[key]
            if row is None:
                continue
            row["to_process_per_scenario"] = row["per_core_per_second"] * res["process_start_seconds"]
            if key in ONE_PROCESS_REFERENCE:  # the same runs as cpu_rates measured in one process
                one = res["cpu_rates"][ONE_PROCESS_REFERENCE[key]]
                row["to_one_process"] = share_of_one_process(row["per_core_per_second"], one)
    res["load_average"]["end"] = os.getloadavg()
    res["memory_given_back_kib"] = given_back_since(given_back)
    checks = {
        "preserve_ratio": res["throughput"]["preserve_ratio"] >= TARGETS["preserve_ratio"],
        # An export is a file write: its physical reference is the page cache, which runs well below memcpy.
        "export_to_file_write": res["throughput"]["export_to_file_write"] >= TARGETS["export_to_file_write"],
        "scale_ratio": res["scale"]["ratio_64TiB_to_1GiB"] <= TARGETS["scale_ratio"],
        "64TiB_seconds": res["scale"]["64TiB"]["process"] <= TARGETS["64TiB_seconds"],
        "64TiB_rss_mib": res["scale"]["64TiB"]["rss_mib"] <= TARGETS["64TiB_rss_mib"],
        "default_seconds": res["default_scenario_seconds"] <= TARGETS["default_seconds"],
        "per_core_per_second": res["test_bundled"]["per_core_per_second"] >= TARGETS["per_core_per_second"],
        "matrix_seconds": res["matrix"] is not None and res["matrix"]["whole_matrix_seconds"] <= TARGETS["matrix_seconds"],
        "verified": res["throughput"]["verified"] and all(s["ok"] for k, s in scale.items() if isinstance(s, dict))
        and res["explore"]["ok"] and res["sweep"]["passed"] == res["sweep"]["scenarios"]
        and (res["matrix"] is None or res["matrix"]["ok"]) and res["matrix_local"]["ok"],
    }
    res["targets"], res["met"] = TARGETS, checks
    write_file(args.out, json.dumps(res, indent=2))  # a symlink at --out is replaced, never written through
    show(res)
    return 0 if all(checks.values()) else 1


def show(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"fadump-emu benchmark ({res['machine']['cpus']} cores, {res['machine']['platform']})")
    for col in ("measure", "value", "target", "met"):
        t.add_column(col)
    gb = 1e9
    m = res["met"]
    tp, sc = res["throughput"], res["scale"]

    def row(name, value, target, key):
        t.add_row(name, value, target, "[green]yes[/]" if m[key] else "[red]no[/]")

    t.add_row("numpy memcpy (warm memory)", f"{res['memcpy_bytes_per_second'] / gb:.2f} GB/s", "", "")
    t.add_row("copy into never-written memory", f"{res['fresh_copy_bytes_per_second'] / gb:.2f} GB/s", "", "")
    t.add_row("file write (page cache)", f"{res['file_write_bytes_per_second'] / gb:.2f} GB/s", "", "")
    row("firmware preservation (1 GiB touched)", f"{tp['preserve_bytes_per_second'] / gb:.2f} GB/s = "
        f"{tp['preserve_ratio']:.2f} x memcpy, {tp['preserve_to_fresh_copy']:.2f} x fresh copy", ">= 0.5 x memcpy",
        "preserve_ratio")
    t.add_row("  then every preserved block rewritten (worst case)",
              f"{res['cow_worst_case_bytes_per_second'] / gb:.2f} GB/s = "
              f"{tp['cow_worst_case_to_fresh_copy']:.2f} x fresh copy", "", "")
    row("vmcore export (1 GiB touched)", f"{tp['export_bytes_per_second'] / gb:.2f} GB/s = "
        f"{tp['export_ratio']:.2f} x memcpy, {tp['export_to_file_write']:.2f} x file write",
        ">= 0.5 x file write", "export_to_file_write")
    for label in ("1GiB", "1TiB", "64TiB"):
        t.add_row(f"whole run, 256 MiB touched, {label}", f"{sc[label]['process']:.2f} s "
                  f"({sc[label]['cpu']:.2f} s CPU), "
                  f"{sc[label]['rss_mib']:.0f} MiB RSS", "", "")
    row("64 TiB / 1 GiB time", f"{sc['ratio_64TiB_to_1GiB']:.2f}", "<= 1.5", "scale_ratio")
    row("64 TiB whole run", f"{sc['64TiB']['process']:.2f} s", "<= 2 s", "64TiB_seconds")
    row("64 TiB peak RSS", f"{sc['64TiB']['rss_mib']:.0f} MiB", "<= 1024 MiB", "64TiB_rss_mib")
    row("default scenario (whole process, best of 5)", f"{res['default_scenario_seconds']:.2f} s "
        f"({res['default_scenario_cpu_seconds']:.2f} s CPU) "
        f"(median {res['default_scenario_median_seconds']:.2f} s) = "
        f"{res['default_scenario_seconds'] / res['process_start_seconds']:.1f} x python -c 'import numpy' "
        f"({res['process_start_seconds']:.2f} s)", "<= 0.25 s", "default_seconds")
    per = res["process_start_seconds"]
    for key, name in (("test_bundled", f"fadump-emu test, bundled suite ({res['test_bundled']['scenarios']})"),
                      ("test_bundled_dask", "the same on Dask, --cluster local:N (after its start)"),
                      ("sweep", f"fadump-emu test, {res['sweep']['scenarios']} small scenarios"),
                      ("explore", f"explore basic-panic ({res['explore']['runs']} runs)")):
        r = res[key]
        if r is None:
            t.add_row(name, "not measured: Dask's distributed package is not installed", "", "")
            continue
        text = (f"{r['per_core_per_second']:.1f} /s per core ({r['per_second']:.1f} /s on {r['workers']}) = "
                + (f"{r['to_one_process']:.2f} x one long-lived process per CPU second (below), "
                   if "to_one_process" in r else "")
                + f"{r['to_process_per_scenario']:.2f} x one process start per scenario ({1 / per:.1f} /s)")
        if r.get("per_cpu_second"):
            text += f"; {r['per_cpu_second']:.1f} per CPU second of all its processes"
        if key == "test_bundled":
            text += (f"; its first run, into an empty --out: {r['first_run_per_core_per_second']:.1f} /s per core"
                     if "first_run_per_core_per_second" in r else "")
            row(name, text, ">= 50 /s per core", "per_core_per_second")
        else:
            t.add_row(name, text, "", "")
    cr = res["cpu_rates"]
    t.add_row("  in one process, per CPU second (load-independent)",
              f"test: {cr['test_per_cpu_second']:.1f} scenarios/s; explore: {cr['explore_per_cpu_second']:.1f} "
              "runs/s", ">= 50 /s", "")
    mx = res["matrix"]
    if mx is None:
        t.add_row("explore --matrix on --cluster local:N", "not measured: Dask's distributed package is not installed",
                  "", "")
    else:
        sample = "all" if mx["runs"] == mx["total_runs"] else f"{mx['runs']} sampled"
        row(f"explore --matrix ({mx['total_runs']} runs), --cluster local:{mx['workers']}",
            f"{mx['whole_matrix_seconds']:.0f} s{' (extrapolated)' if sample != 'all' else ''}: "
            f"{mx['baseline_seconds']:.1f} s of baselines, then {mx['per_core_per_second']:.1f} runs/s per core "
            f"({sample}); {mx['runs'] / mx['cpu_seconds']:.1f} runs per CPU second with baselines and cluster start",
            "<= 120 s", "matrix_seconds")
    ml = res.get("matrix_local")
    if ml is not None:
        t.add_row(f"  the same on {ml['workers']} local worker processes (no Dask)",
                  f"{ml['whole_matrix_seconds']:.0f} s{' (extrapolated)' if ml['runs'] != ml['total_runs'] else ''}: "
                  f"{ml['baseline_seconds']:.1f} s of baselines, then {ml['per_core_per_second']:.1f} runs/s per "
                  "core", "", "")
    la = res["load_average"]
    t.add_row("load average (1 min) at start / end", f"{la['start'][0]:.2f} / {la['end'][0]:.2f}", "", "")
    if res.get("memory_given_back_kib") is not None:
        t.add_row("freed memory handed back to the host while measuring (free page reporting)",
                  f"{res['memory_given_back_kib'] / (1 << 20):.1f} GiB: memory got anew afterwards cost a host "
                  "fault per page (rows writing into new memory vary with it)", "", "")
    Console().print(t)


if __name__ == "__main__":
    raise SystemExit(main())
