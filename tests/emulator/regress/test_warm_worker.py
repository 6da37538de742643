"""A long-lived, warmed-up worker gives exactly the results of a fresh process per scenario.

A worker of `fadump-emu test` (and explore) keeps per-process state between scenarios: the RAM mapping (reused
at any smaller size), the digest memo, cached struct pages, node data, parsed text; the forkserver may warm all
of that up first (emulator.regress.warm_worker). None of it may show in a result.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[3]
SCENARIOS = ["scenarios/basic-panic-modern.toml",  # linux-6.10, 8 GiB: a mapping the smaller ones reuse
             "scenarios/basic-panic-6-1.toml",  # 2 GiB
             "scenarios/basic-panic.toml",  # linux-3.4, big-endian, 8 GiB
             "scenarios/faults/disk-full.toml"]

RUN = """
import hashlib, json, os, re, sys
from pathlib import Path
if sys.argv[1] == "warm":
    import emulator.regress.warm_worker  # noqa: F401 (importing it warms this process up)
elif sys.argv[1] == "preload":
    import emulator.regress.worker_preload  # noqa: F401 (importing it prepares this process)
from emulator.hw import ram
from emulator.regress import suite
def digest(p):  # a vmcore is sparse (8 GiB here): its size and data extents
    h = hashlib.sha256()
    with open(p, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        h.update(str(size).encode())
        pos = 0
        while pos < size:
            try:
                start = os.lseek(f.fileno(), pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(f.fileno(), start, os.SEEK_HOLE)
            f.seek(start)
            h.update(str(start).encode() + f.read(end - start))
            pos = end
    return h.hexdigest()
out = {}
for i, path in enumerate(sys.argv[3:]):
    folder = Path(sys.argv[2]) / str(i)
    r = suite.run_one(path, str(folder))
    files = {p.relative_to(folder).as_posix(): digest(p)
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in ("report.json", "report.html", ".fadump-emu.lock")}
    report = json.loads((folder / "report.json").read_text()) if (folder / "report.json").exists() else {}
    report.pop("host_seconds", None)
    out[path] = {"result": {k: v for k, v in r.items() if k not in ("seconds", "out")}, "files": files,
                 "report": re.sub(r"incomplete\\.\\d+", "incomplete.PID",  # the staging folder names the process
                                  json.dumps(report, sort_keys=True).replace(str(folder), "OUT"))}
out["spare_mappings"] = len(ram._SPARE)
print(json.dumps(out))
"""


def run(tmp_path: Path, mode: str, scenarios: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUN, mode, str(tmp_path), *scenarios], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.splitlines()[-1])


def test_one_warmed_up_worker_running_every_scenario_matches_a_fresh_process_per_scenario(tmp_path):
    reused = run(tmp_path / "reused", "warm", SCENARIOS)
    assert reused.pop("spare_mappings") >= 1  # the worker did keep a mapping between scenarios
    for i, path in enumerate(SCENARIOS):
        fresh = run(tmp_path / f"fresh-{i}", "cold", [path])
        fresh.pop("spare_mappings")
        assert reused[path]["result"]["verdict"] == "PASS", reused[path]["result"]
        assert reused[path] == fresh[path], path
    vmcores = [reused[p]["files"].get("vmcore") for p in SCENARIOS[:3]]
    assert all(vmcores) and len(set(vmcores)) == 3  # each run's own vmcore was compared, byte for byte


def test_warming_up_runs_every_profile_and_leaves_no_mapping_for_the_workers_to_share():
    code = ("import emulator.regress.warm_worker as w, gc, json; from emulator.hw import ram; "
            "from kernels.registry import PROFILES; "
            "print(json.dumps([w.warm_up(), list(PROFILES), len(ram._SPARE), gc.get_freeze_count() > 0]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    ran, profiles, spares, frozen = json.loads(proc.stdout.splitlines()[-1])
    assert ran == profiles and spares == 0 and frozen
