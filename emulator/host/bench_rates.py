"""``make bench``'s throughput rows (emulator.host.bench): scenarios and runs per second through
``fadump-emu test``, its Dask engine, ``explore`` and ``explore --matrix``, each with the CPU seconds of every
process it used, and the scenario text the bench's rows run.
"""

import os
import time

from emulator.units import GiB, MiB, parse_size


def scenario_text(memory: str, touched: int, profile: str = "linux-6.10", boot_mem: str | None = None,
                  low_share: float = 0.5) -> str:
    """A scenario writing ``touched`` bytes: ``low_share`` of it inside boot memory, the rest above."""
    block = "".join(chr(0x41 + (i * 7919) % 26) for i in range(4096))  # 4 KiB of text
    low = int(touched * low_share) // 4096
    high = touched // 4096 - low
    top = 0x200000000 if parse_size(memory) >= 16 * GiB else 0x30000000  # clear of the 6.10 dump area
    cmdline = "fadump=on" + (f" crashkernel={boot_mem}" if boot_mem else "")
    writes = ""
    for addr, count in ((0x8000000, low), (top, high)):
        if count:
            writes += f'[[memory.write]]\naddr = "{addr:#x}"\ntext = "{block}"\nrepeat = {count}\n'
    return f"""
name = "bench"
description = "benchmark"
[machine]
memory = "{memory}"
cpus = 8
[kernel]
profile = "{profile}"
cmdline = "{cmdline}"
{writes}
[crash]
cpu = 1
at = "20s"
"""


def small_suite(folder: str, count: int) -> str:
    """A folder of ``count`` small scenarios (1 GiB, 4 MiB touched), for ``fadump-emu test``."""
    os.makedirs(folder, exist_ok=True)
    text = scenario_text("1GiB", 4 * MiB)
    for i in range(count):
        with open(os.path.join(folder, f"small-{i:03d}.toml"), "w") as f:
            f.write(text.replace('name = "bench"', f'name = "small-{i:03d}"'))
    return folder


def suite_rate(paths: list[str], out: str, workers: int) -> dict:
    """``fadump-emu test`` as a user runs it (its worker processes included): scenarios per second."""
    from emulator.regress import suite, suite_pool

    tasks = suite.plan(suite.collect(paths), out)
    c = _all_cpu()  # before the clock starts: it may wait for the forkserver
    t = time.perf_counter()
    results = suite_pool.run_all(tasks, workers)
    seconds = time.perf_counter() - t
    cpu = _all_cpu() - c
    passed = sum(r["verdict"] == suite.PASS for r in results)
    return {"scenarios": len(tasks), "passed": passed, "workers": workers, "seconds": seconds,
            "per_second": len(tasks) / seconds, "per_core_per_second": len(tasks) / seconds / workers,
            "cpu_seconds": cpu, "per_cpu_second": len(tasks) / cpu}


def dask_suite_rate(paths: list[str], out: str, workers: int) -> dict | None:
    """``fadump-emu test --cluster local:N``: scenarios per second once the cluster is up (None without Dask)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return None
    from emulator.regress import dask_engine
    from emulator.regress import suite

    tasks = suite.plan(suite.collect(paths), out)
    c = _all_cpu()
    t0 = time.perf_counter()
    cl = dask_engine.client(cluster=f"local:{workers}")
    try:
        t = time.perf_counter()
        results = dask_engine.run_tasks(cl, tasks)
        seconds = time.perf_counter() - t
    finally:
        dask_engine.close(cl)
    cpu = _all_cpu() - c  # the cluster's start and stop included
    passed = sum(r["verdict"] == suite.PASS for r in results)
    return {"scenarios": len(tasks), "passed": passed, "workers": workers, "seconds": seconds,
            "start_seconds": t - t0, "per_second": len(tasks) / seconds,
            "per_core_per_second": len(tasks) / seconds / workers, "cpu_seconds": cpu,
            "per_cpu_second": len(tasks) / cpu}


def explore_rate(path: str, workers: int) -> dict:
    """``fadump-emu explore`` of one scenario: runs per second."""
    from emulator.regress import explore

    c = _all_cpu()  # before the clock starts: it may wait for the forkserver
    t = time.perf_counter()
    points = explore.explore(path, workers=workers)
    seconds = time.perf_counter() - t
    cpu = _all_cpu() - c
    return {"runs": len(points), "ok": all(p.ok for p in points), "workers": workers, "seconds": seconds,
            "per_second": len(points) / seconds, "per_core_per_second": len(points) / seconds / workers,
            "cpu_seconds": cpu, "per_cpu_second": len(points) / cpu}


def matrix_rate(workers: int, limit: int | None, engine: str = "dask") -> dict | None:
    """``explore --matrix`` on ``--cluster local:N`` (engine "dask"; None without Dask) or on N local worker
    processes (engine "local"): baselines, then ``limit`` runs of it (an even sample; all of it with None), and
    the whole matrix's time extrapolated from the sample's rate."""
    if engine == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            return None
    from emulator.regress import explore_matrix
    from emulator.scenario.model import CRASH_KINDS

    c = _all_cpu()  # before the clock starts: it may wait for the forkserver
    t = time.perf_counter()
    where = {"cluster": f"local:{workers}"} if engine == "dask" else {"workers": workers}
    res = explore_matrix.run_matrix(CRASH_KINDS, limit=limit, **where)
    seconds = time.perf_counter() - t
    cpu = _all_cpu() - c  # the cluster's start, the baselines and the sample's runs
    runs = res["seconds"]["runs"]
    per_second = len(res["points"]) / runs
    return {"runs": len(res["points"]), "total_runs": res["total"], "workers": workers, "seconds": seconds,
            "baseline_seconds": res["seconds"]["baselines"], "run_seconds": runs, "per_second": per_second,
            "per_core_per_second": per_second / workers,
            "ok": all(p["ok"] for p in res["points"]), "cpu_seconds": cpu,
            "whole_matrix_seconds": seconds - runs + res["total"] / per_second}


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished child processes."""
    import resource

    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def _all_cpu() -> float:
    """CPU seconds (user + system) of this process, its finished child processes, and the multiprocessing
    forkserver with the workers it forked and reaped (fadump-emu test's pool when this process runs other threads;
    workers forked from this process are its children): the work of a row whatever
    else the machine runs. Read before and after a row; the workers must have exited (pools shut down)."""
    import resource

    u = resource.getrusage(resource.RUSAGE_SELF)
    total = u.ru_utime + u.ru_stime + children_cpu()
    try:
        from multiprocessing import forkserver

        pid = getattr(forkserver._forkserver, "_forkserver_pid", None)  # not a child of ours: read its counters
        if pid:
            time.sleep(0.2)  # it reaps each worker when told that the worker exited
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    except (OSError, ImportError, ValueError, AttributeError):
        pass
    return total


def cpu_rates(bundled: str, out: str, repeat: int) -> dict:
    """Scenarios per CPU second in one long-lived process (what one core gives when nobody shares it): the
    bundled suite as ``fadump-emu test`` runs each scenario, and explore's runs of the default scenario.
    A first pass warms the process up (imports, caches); the best of ``repeat`` passes is kept."""
    from emulator.regress import explore, suite

    tasks = suite.plan(suite.collect([bundled]), out)
    for t in tasks:
        suite.run_one(t["path"], t["out"], name=t["name"])
    test_cpu = min(_cpu_of(lambda: [suite.run_one(t["path"], t["out"], name=t["name"]) for t in tasks])
                   for _ in range(max(1, repeat)))
    path = os.path.join(bundled, "basic-panic.toml")
    from emulator.scenario import loader

    sc = loader.load(path)
    labels = explore.baseline(sc)
    text = open(path, encoding="utf-8").read()
    jobs = [(path, labels, i, t, text) for i, label in enumerate(labels)
            for t in (("power-loss",) if label.startswith("firmware") else explore.TRIGGERS)]
    explore_cpu = min(_cpu_of(lambda: [explore.run_point(j) for j in jobs]) for _ in range(max(1, repeat)))
    return {"test_scenarios": len(tasks), "test_cpu_seconds": test_cpu, "test_per_cpu_second": len(tasks) / test_cpu,
            "explore_runs": len(jobs), "explore_cpu_seconds": explore_cpu,
            "explore_per_cpu_second": len(jobs) / explore_cpu}


def _cpu_of(work) -> float:
    """CPU seconds of ``work()``: this process's and its child processes' (makedumpfile under qemu)."""
    t, c = time.process_time(), children_cpu()
    work()
    return time.process_time() - t + children_cpu() - c
