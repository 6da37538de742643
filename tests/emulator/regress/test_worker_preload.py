"""The forkserver's cheap preparation (emulator.regress.worker_preload): what every worker would do first, done
once before forking, and nothing a result can see."""

import json
import subprocess
import sys

from tests.emulator.regress.test_warm_worker import ROOT, SCENARIOS, run

PREPARED = """
import gc, json, sys
import emulator.regress.worker_preload as w
from kernels import kallsyms
from kernels.registry import PROFILES
before = kallsyms._encode.cache_info()
from emulator.regress import suite
r = suite.run_one(sys.argv[1], sys.argv[2])
after = kallsyms._encode.cache_info()
print(json.dumps({"prepared": w.prepare(), "profiles": list(PROFILES),
                  "loaded": [isinstance(e, type) for e in PROFILES._entries.values()],
                  "views": all(m in sys.modules for m in ("emulator.views.observers", "emulator.views.html_report",
                                                         "emulator.views.memmap_view")),
                  "tables": before.currsize, "new_tables": after.misses - before.misses, "verdict": r["verdict"],
                  "frozen": gc.get_freeze_count() > 0,
                  "capture_tool": "emulator.host.ppc64el_tools" in sys.modules}))
"""


def test_preparing_imports_every_profile_and_the_views_and_builds_the_kallsyms_tables_runs_use(tmp_path):
    """After importing worker_preload every profile's package and report.html's views are loaded and each
    kallsyms-bearing build's tables are built: a 6.10 run then builds no table of its own."""
    proc = subprocess.run([sys.executable, "-c", PREPARED, "scenarios/basic-panic-modern.toml", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["prepared"] == got["profiles"] and all(got["loaded"]) and got["views"] and got["frozen"]
    assert got["capture_tool"]  # makedumpfile's entry point found and its module loaded once, for every worker
    assert got["tables"] >= 1  # one per distinct symbol set (builds of the same symbols share one)
    assert got["new_tables"] == 0 and got["verdict"] == "PASS"


def test_a_prepared_worker_running_every_scenario_matches_a_fresh_process_per_scenario(tmp_path):
    """The files, reports and results of scenarios run one after another in a prepared process are those of a
    fresh process per scenario."""
    prepared = run(tmp_path / "prepared", "preload", SCENARIOS)
    prepared.pop("spare_mappings")
    for i, path in enumerate(SCENARIOS):
        fresh = run(tmp_path / f"fresh-{i}", "cold", [path])
        fresh.pop("spare_mappings")
        assert prepared[path]["result"]["verdict"] == "PASS", prepared[path]["result"]
        assert prepared[path] == fresh[path], path
