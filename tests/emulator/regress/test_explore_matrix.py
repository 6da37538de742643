"""`fadump-emu explore --matrix`: profiles x layouts x catalog faults x boundaries x triggers, each run held to the
model and its vmcores to their crash-time digests."""

import json

import pytest

from emulator.cli import main
from emulator.regress import explore_matrix as mx
from emulator.scenario import loader as scenario
from emulator.scenario.faults import FAULTS
from emulator.scenario.model import CRASH_KINDS
from firmware.phyp import PhypFadump
from kernels.registry import PROFILES


def test_every_cell_is_a_valid_scenario_of_its_profile_layout_and_fault():
    cells = mx.cells()
    assert {c[0] for c in cells} == set(PROFILES) and {c[1] for c in cells} == set(mx.LAYOUTS)
    assert {c[2] for c in cells} == {"none"} | set(FAULTS) - {"crash-at-boundary"}
    # the original design's fault: only a first kernel that builds the ELF core header (3.4, 6.1) has one to overwrite
    assert {c[0] for c in cells if c[2] == "elf-header-overwritten"} == {"linux-3.4", "linux-6.1"}
    for profile, layout, fault in cells:
        sc = scenario.loads(mx.scenario_text(profile, layout, fault), f"{profile}-{layout}-{fault}.toml")
        assert sc.kernel.profile == profile
        assert [f.kind for f in sc.faults] == ([] if fault == "none" else [fault])


def test_the_whole_matrix_holds_over_ten_thousand_runs():
    """The baselines of every scenario (each boundary it passes) times every crash kind."""
    baselines = dict(mx._baseline(c) for c in mx.cells())
    jobs = mx.plan(baselines, CRASH_KINDS)
    assert len(jobs) >= 10_000
    assert not [c for c, v in baselines.items() if isinstance(v, str)]  # every scenario runs


def test_a_sample_runs_evenly_across_the_matrix_with_no_violation():
    res = mx.run_matrix(CRASH_KINDS, workers=1, limit=24, layouts=["1GiB-2cpu"],
                        faults=["none", "disk-full", "copy-error", "rtas-status"])
    points = res["points"]
    assert len(points) == 24 and all(p["ok"] for p in points)
    assert len({p["profile"] for p in points}) == len(PROFILES)
    table = mx.summary(points)
    for dim, rows in table.items():
        assert sum(r["runs"] for r in rows) == 24
        assert sum(sum(r["outcomes"].values()) for r in rows) == 24


def test_a_firmware_that_skips_the_copy_is_found_by_the_matrix(monkeypatch):
    def lazy_copy(self, s):
        s.bytes_dumped = s.source_len
        yield self.machine.env.timeout(0)

    monkeypatch.setattr(PhypFadump, "copy_section", lazy_copy)
    res = mx.run_matrix(("panic",), workers=1, limit=12, profiles=["linux-6.10"], layouts=["1GiB-2cpu"],
                        faults=["none"])
    assert any("differs" in p["problem"] for p in res["points"] if not p["ok"])


def test_the_matrix_command_prints_a_summary_by_dimension_and_writes_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(mx, "LAYOUTS", {"1GiB-2cpu": mx.LAYOUTS["1GiB-2cpu"]})
    monkeypatch.setattr(mx, "fault_kinds", lambda: ["none", "crash-info-corrupt"])
    assert main(["explore", "--matrix", "--limit", "6", "-j", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "explored 6 runs" in out and "by profile:" in out and "by fault:" in out and "0 invariant" in out
    doc = json.loads((tmp_path / "matrix.json").read_text())
    assert doc["runs"] == 6 and doc["violations"] == 0 and set(doc["summary"]) == {"profile", "layout", "fault",
                                                                                    "trigger"}


@pytest.mark.parametrize("argv, says", [(["--limit", "0"], "--limit 0"), (["--triggers", "boom"], "boom")])
def test_bad_matrix_options_are_bad_input(argv, says, capsys):
    assert main(["explore", "--matrix", *argv]) == 2
    assert says in capsys.readouterr().err


def test_baselines_taken_in_batches_are_the_baselines_of_each_cell_in_order():
    from emulator.regress import explore_matrix as mx

    cells = mx.cells(profiles=["linux-3.4", "linux-6.12"], layouts=["1GiB-2cpu"], faults=["none", "disk-full"])
    assert mx._baselines(cells) == [mx._baseline(c) for c in cells]
    assert all(isinstance(labels, list) and labels for _, labels in mx._baselines(cells))
