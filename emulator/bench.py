"""``make bench``: how fast fadump-emu moves bytes and how its cost scales.

Prints a table and writes bench.json. Measures, on this machine, in one run:
1. numpy memcpy bandwidth (the physical limit);
2. firmware preservation and vmcore export throughput with 1 GiB of touched
   data, as a ratio to (1);
3. whole-scenario wall time and peak RSS with 256 MiB touched on 1 GiB, 1 TiB
   and 64 TiB partitions (each in a fresh process), and the 64 TiB / 1 GiB ratio;
4. the default scenario as a whole process, median of 5;
5. scenarios per second for a sweep of small (1 GiB) scenarios on all cores.
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
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from emulator.units import GiB, MiB

TARGETS = {"preserve_ratio": 0.5, "export_ratio": 0.5, "scale_ratio": 1.5, "64TiB_seconds": 10.0,
           "64TiB_rss_mib": 2048, "default_seconds": 1.0, "per_core_per_second": 20.0}


def scenario_text(memory: str, touched: int, profile: str = "linux-6.10", boot_mem: str | None = None,
                  low_share: float = 0.5) -> str:
    """A scenario writing ``touched`` bytes: ``low_share`` of it inside boot memory, the rest above."""
    from emulator.units import parse_size

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
    the limit for any copy into memory a process has not used yet, like the dump area."""
    from emulator.ram import PartitionRAM

    ram = PartitionRAM(2 * size)
    ram.fill(0, size, 7)
    t = time.perf_counter()
    ram.copy(0, size, size)
    return size / (time.perf_counter() - t)


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


def run_once(text: str, out: str, export_mode: str = "auto") -> dict:
    """Run scenario text in this process; host timings per phase and the report."""
    from emulator import scenario
    from emulator.runner import run_scenario

    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "bench.toml")
    with open(path, "w") as f:
        f.write(text)
    t = time.perf_counter()
    result = run_scenario(scenario.load(path), out, force=True, export_mode=export_mode)
    wall = time.perf_counter() - t
    rep = result.report
    return {"wall": wall, "timings": result.timings, "ok": rep["ok"], "moved": result.machine.fadump.state.bytes_moved,
            "data": result.captures[0].disk_bytes if result.captures else 0}


def child(memory: str, touched: int, out: str) -> dict:
    """Run one scenario in a fresh interpreter; its wall time, peak RSS and verdict."""
    code = ("import json,resource,sys,time;t=time.perf_counter();from emulator.bench import run_once, scenario_text;"
            f"r=run_once(scenario_text({memory!r},{touched}),{out!r});r['process']=time.perf_counter()-t;"
            "r['rss_mib']=[int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0]/1024;"
            "print(json.dumps(r))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _small(i: int) -> bool:
    with tempfile.TemporaryDirectory() as out:
        return run_once(scenario_text("1GiB", 4 * MiB), out)["ok"]


def sweep(count: int, workers: int) -> float:
    """Small scenarios per second with ``workers`` processes."""
    t = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        ok = list(pool.map(_small, range(count)))
    rate = count / (time.perf_counter() - t)
    if not all(ok):
        raise SystemExit("bench: a sweep scenario failed its own verification")
    return rate


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m emulator.bench", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="bench.json", help="where to write the results (default bench.json)")
    p.add_argument("--sweep", type=int, default=60, help="scenarios in the sweep (default 60)")
    args = p.parse_args(argv)
    cores = os.cpu_count() or 1
    res: dict = {"machine": {"cpus": cores, "platform": platform.platform(), "python": platform.python_version()}}
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        bw = memcpy_bandwidth()
        res["memcpy_bytes_per_second"] = bw
        res["fresh_copy_bytes_per_second"] = fresh_copy_bandwidth()
        res["file_write_bytes_per_second"] = file_write_bandwidth(tmp)
        r = run_once(scenario_text("16GiB", GiB, boot_mem="2G", low_share=1.0), os.path.join(tmp, "tp"))
        moved = r["data"]
        res["throughput"] = {
            "touched_bytes": GiB, "verified": r["ok"],
            "preserve_bytes_per_second": r["moved"] / r["timings"]["preserve"],
            "export_bytes_per_second": moved / r["timings"]["export"],
            "timings": r["timings"]}
        tp = res["throughput"]
        tp["preserve_ratio"] = tp["preserve_bytes_per_second"] / bw
        tp["export_ratio"] = tp["export_bytes_per_second"] / bw
        tp["preserve_to_fresh_copy"] = tp["preserve_bytes_per_second"] / res["fresh_copy_bytes_per_second"]
        tp["export_to_file_write"] = tp["export_bytes_per_second"] / res["file_write_bytes_per_second"]
        scale = {}
        for label, memory in (("1GiB", "1GiB"), ("1TiB", "1TiB"), ("64TiB", "64TiB")):
            out = os.path.join(tmp, label)
            os.makedirs(out)
            scale[label] = child(memory, 256 * MiB, out)
        res["scale"] = scale
        res["scale"]["ratio_64TiB_to_1GiB"] = scale["64TiB"]["process"] / scale["1GiB"]["process"]
        walls = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "emulator", "run", "-q", "--force", "--out",
                            os.path.join(tmp, "default")], check=True, capture_output=True)
            walls.append(time.perf_counter() - t)
        res["default_scenario_seconds"] = statistics.median(walls)
        rate = sweep(args.sweep, cores)
        res["sweep"] = {"scenarios": args.sweep, "workers": cores, "per_second": rate, "per_core_per_second": rate / cores}
    checks = {
        "preserve_ratio": res["throughput"]["preserve_ratio"] >= TARGETS["preserve_ratio"],
        "export_ratio": res["throughput"]["export_ratio"] >= TARGETS["export_ratio"],
        "scale_ratio": res["scale"]["ratio_64TiB_to_1GiB"] <= TARGETS["scale_ratio"],
        "64TiB_seconds": res["scale"]["64TiB"]["process"] <= TARGETS["64TiB_seconds"],
        "64TiB_rss_mib": res["scale"]["64TiB"]["rss_mib"] <= TARGETS["64TiB_rss_mib"],
        "default_seconds": res["default_scenario_seconds"] <= TARGETS["default_seconds"],
        "per_core_per_second": res["sweep"]["per_core_per_second"] >= TARGETS["per_core_per_second"],
        "verified": res["throughput"]["verified"] and all(s["ok"] for k, s in scale.items() if isinstance(s, dict)),
    }
    res["targets"], res["met"] = TARGETS, checks
    with open(args.out, "w") as f:
        json.dump(res, f, indent=2)
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
    row("vmcore export (1 GiB touched)", f"{tp['export_bytes_per_second'] / gb:.2f} GB/s = "
        f"{tp['export_ratio']:.2f} x memcpy, {tp['export_to_file_write']:.2f} x file write", ">= 0.5 x memcpy",
        "export_ratio")
    for label in ("1GiB", "1TiB", "64TiB"):
        t.add_row(f"whole run, 256 MiB touched, {label}", f"{sc[label]['process']:.2f} s, "
                  f"{sc[label]['rss_mib']:.0f} MiB RSS", "", "")
    row("64 TiB / 1 GiB time", f"{sc['ratio_64TiB_to_1GiB']:.2f}", "<= 1.5", "scale_ratio")
    row("64 TiB whole run", f"{sc['64TiB']['process']:.2f} s", "<= 10 s", "64TiB_seconds")
    row("64 TiB peak RSS", f"{sc['64TiB']['rss_mib']:.0f} MiB", "<= 2048 MiB", "64TiB_rss_mib")
    row("default scenario (process, median of 5)", f"{res['default_scenario_seconds']:.2f} s", "<= 1 s",
        "default_seconds")
    row("small-scenario sweep", f"{res['sweep']['per_core_per_second']:.1f} /s per core "
        f"({res['sweep']['per_second']:.1f} /s on {res['sweep']['workers']})", ">= 20 /s per core",
        "per_core_per_second")
    Console().print(t)


if __name__ == "__main__":
    raise SystemExit(main())
