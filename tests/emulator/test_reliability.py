"""The reliability set: hundreds of generated bad inputs, the race, path escapes, symlinks and Ctrl-C.

Each test counts what it tried and asserts the counts the issue asks for:
0 tracebacks, 0 wrong exit codes, 0 escapes, 0 torn outputs, 0 hangs. The
whole set stays under about a minute.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulator.scenario import loader as scenario
from emulator.cli import main
from emulator.errors import ScenarioError
from emulator.run.outdir import LOCK, STAGING_PREFIX
from emulator.run.runner import rehearse
from emulator.vmcore.vmcore_file import VmcoreFile
from tests.emulator.scenario.scenario_gen import mutations, to_toml

ROOT = Path(__file__).resolve().parents[2]
MARKER_ADDR = 0x10000000


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "emulator", *args]


def spawn(argv: list[str], **kw) -> subprocess.Popen:
    """A child with Ctrl-C at its default (a shell's background job would have it ignored), in its own group."""
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kw)


def slow_scenario(name: str, marker: str, megabytes: int = 64) -> str:
    """A run of about a second or more: ``megabytes`` of workload to snapshot, copy, save and verify."""
    repeat = (megabytes << 20) // 16
    return (f'name = "{name}"\n[machine]\nmemory = "2GiB"\ncpus = 2\n'
            f'[[memory.write]]\naddr = "{MARKER_ADDR:#x}"\ntext = "{marker:<16.16}"\n'
            f'[[memory.write]]\naddr = "0x20000000"\nhex = "00112233445566778899aabbccddeeff"\nrepeat = {repeat}\n'
            '[crash]\nat = "10s"\n[expect]\noutcome = "vmcore"\n')


# --- generated bad inputs ---

def test_over_300_generated_bad_inputs_give_0_tracebacks_and_0_unlocated_errors(tmp_path):
    """Every place of a full scenario, times ten wrong values: refused with file:line, or read and rehearsed."""
    counts = {"inputs": 0, "rejected": 0, "accepted": 0, "refused at run": 0, "tracebacks": 0, "unlocated": 0}
    failures = []
    for i, (label, doc) in enumerate(mutations()):
        path = tmp_path / f"m{i}.toml"
        path.write_text(to_toml(doc), encoding="utf-8")
        counts["inputs"] += 1
        try:
            sc = scenario.load(path)
        except ScenarioError as exc:
            counts["rejected"] += 1
            if not re.match(re.escape(str(path)) + r":\d+: \S", str(exc)):
                counts["unlocated"] += 1
                failures.append(f"{label}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 -- this is what the test counts
            counts["tracebacks"] += 1
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        try:
            rehearse(sc)
            counts["accepted"] += 1
        except ScenarioError:
            counts["refused at run"] += 1
        except Exception as exc:  # noqa: BLE001
            if getattr(exc, "exit_status", None) == 2:
                counts["refused at run"] += 1
            else:
                counts["tracebacks"] += 1
                failures.append(f"{label}: {type(exc).__name__}: {exc}")
    print("generated bad inputs:", counts)
    assert counts["rejected"] + counts["refused at run"] >= 300, counts
    assert counts["tracebacks"] == 0 and counts["unlocated"] == 0, failures[:10]


def test_check_scenario_and_run_agree_on_every_sampled_mutation(tmp_path, capsys):
    """One validation: check-scenario exits 2 exactly when run exits 2, for every mutation that reads (the ones
    only a run can judge) and a sample of the rest."""
    wrong = []
    sample = [m for m in mutations() if _reads(m[1])] + mutations()[::40]
    for i, (label, doc) in enumerate(sample):
        path = tmp_path / f"s{i}.toml"
        path.write_text(to_toml(doc), encoding="utf-8")
        checked = main(["check-scenario", str(path)])
        ran = main(["run", str(path), "--out", str(tmp_path / f"out{i}"), "--quiet"])
        err = capsys.readouterr().err
        if (checked == 2) != (ran == 2) or checked not in (0, 2) or ran not in (0, 1, 2) or "Traceback" in err:
            wrong.append((label, checked, ran))
    assert len(sample) >= 30
    assert wrong == [], wrong


def _reads(doc) -> bool:
    try:
        scenario.loads(to_toml(doc), "m.toml")
    except ScenarioError:
        return False
    return True


# --- the race ---

def marker_in(vmcore: Path) -> str:
    with VmcoreFile(str(vmcore)) as f:
        return f.read_paddr(MARKER_ADDR, 16).decode().strip()


def test_two_concurrent_runs_into_one_folder_never_tear_it(tmp_path):
    """Three trials of two runs started together into one --out (--force): one wins, the other exits 2 at once;
    the report, console and vmcore left are all from the same run."""
    out = tmp_path / "shared"
    counts = {"runs": 0, "wrong exit": 0, "tracebacks": 0, "torn": 0, "hangs": 0, "refused": 0}
    for trial in range(3):
        procs = []
        for who in ("alpha", "bravo"):
            path = tmp_path / f"{who}.toml"
            path.write_text(slow_scenario(who, f"{who}-{trial}"))
            procs.append(spawn(command("run", str(path), "--out", str(out), "--quiet", "--force")))
        for p in procs:
            counts["runs"] += 1
            try:
                _, err = p.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                counts["hangs"] += 1
                continue
            counts["tracebacks"] += "Traceback" in err
            if p.returncode == 2:
                counts["refused"] += 1
                counts["wrong exit"] += "another fadump-emu run is writing into this folder" not in err
            elif p.returncode != 0:
                counts["wrong exit"] += 1
        rep = json.loads((out / "report.json").read_text())
        name = rep["scenario"]["name"]
        console_lines = (out / "console.log").read_text().count("\n")
        if marker_in(out / "vmcore") != f"{name}-{trial}" or console_lines != rep["console_lines"]:
            counts["torn"] += 1
        assert not list(out.glob(STAGING_PREFIX + "*"))
    print("race:", counts)
    assert counts["refused"] >= 1, "the runs did not overlap; the race was not tried"
    assert counts == {**counts, "wrong exit": 0, "tracebacks": 0, "torn": 0, "hangs": 0}, counts


# --- escapes ---

ESCAPES = [
    ("name", 'name = "../.."\n'),
    ("name", 'name = "/tmp/fadump-emu-escape"\n'),
    ("name", 'name = "a/../../b"\n'),
    ("capture path", '[[events]]\naction = "capture"\nboot = 2\nat = 1\npath = "."\n'),
    ("capture path", '[[events]]\naction = "capture"\nboot = 2\nat = 1\npath = "../outside"\n'),
    ("capture path", '[[events]]\naction = "capture"\nboot = 2\nat = 1\npath = "/tmp/fadump-emu-escape"\n'),
    ("capture path", '[[events]]\naction = "capture"\nboot = 2\nat = 1\npath = "sub/../../x"\n'),
    ("capture path", '[[events]]\naction = "capture"\nboot = 2\nat = 1\npath = "report.json"\n'),
    ("capture path", '[[events]]\naction = "capture"\nboot = 2\nat = 1\npath = ".fadump-emu-manifest.json"\n'),
]


@pytest.mark.parametrize(("what", "text"), ESCAPES)
def test_no_scenario_path_escapes_the_output_folder(tmp_path, capsys, monkeypatch, what, text):
    """Names and capture paths that would leave --out (or take the tool's own files) are refused; nothing
    appears outside the output folder, with or without --out."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    path = work / "s.toml"
    path.write_text(text + '[machine]\nmemory = "1GiB"\n[crash]\nat = "10s"\n')
    before = sorted(p for p in tmp_path.rglob("*"))
    assert main(["run", str(path), "--quiet"]) == 2
    assert main(["run", str(path), "--out", str(work / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"s.toml:1: {what}" in err or f"s.toml:5: {what}" in err, err
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not Path("/tmp/fadump-emu-escape").exists()


# --- Ctrl-C ---

def staging_of(folder: Path) -> list[Path]:
    return list(folder.glob(STAGING_PREFIX + "*")) if folder.is_dir() else []


def wait_for(predicate, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("delay", [0.0, 0.4])
def test_ctrl_c_during_a_run_leaves_the_previous_results_as_they_were(tmp_path, delay):
    """SIGINT mid-run: exit 130 without a traceback, the earlier results byte for byte, no staging left behind
    (or, when the signal comes as the run publishes, the new results whole)."""
    path = tmp_path / "slow.toml"
    path.write_text(slow_scenario("slow", "first"))
    out = tmp_path / "out"
    first = spawn(command("run", str(path), "--out", str(out), "--quiet"))
    assert first.wait(120) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name not in ("vmcore", LOCK)}
    vmcore_marker = marker_in(out / "vmcore")
    path.write_text(slow_scenario("slow", "second", megabytes=256))
    run = spawn(command("run", str(path), "--out", str(out), "--quiet", "--force"))
    assert wait_for(lambda: staging_of(out)), "the run never started staging"
    time.sleep(delay)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=30)
    assert "Traceback" not in err
    assert staging_of(out) == []
    if marker_in(out / "vmcore") == "second":
        # The signal came as the run was publishing (SIGINT is held off for those few renames) or exiting:
        # then the new results are there whole -- report, console and vmcore of the same run.
        rep = json.loads((out / "report.json").read_text())
        assert rep["ok"] and (out / "console.log").read_text().count("\n") == rep["console_lines"]
        assert run.returncode in (0, 130, -signal.SIGINT), err
        pytest.skip("the run had finished when the signal arrived")
    assert run.returncode == 130, err
    assert "interrupted" in err
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name not in ("vmcore", LOCK)}
    assert after == before
    assert marker_in(out / "vmcore") == vmcore_marker


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_ctrl_c_stops_fadump_emu_test_and_its_workers_at_once(tmp_path):
    """SIGINT to `fadump-emu test -j 2`: it exits 130 within seconds, every worker is gone, no traceback,
    and no scenario folder holds a report next to a staging folder."""
    suite = tmp_path / "suite"
    suite.mkdir()
    for n in range(4):
        (suite / f"s{n}.toml").write_text(slow_scenario(f"s{n}", f"s{n}", megabytes=128))
    out = tmp_path / "out"
    proc = spawn(command("test", str(suite), "-j", "2", "--out", str(out)))
    assert wait_for(lambda: any(staging_of(d) for d in out.glob("s*"))), "no worker started"
    workers = descendants(proc.pid)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - start
    assert proc.returncode == 130, err
    assert took < 5, f"took {took:.1f} s to stop"
    assert "Traceback" not in err
    assert wait_for(lambda: not any(alive(p) for p in workers), 5), "workers still running"
    for d in out.glob("s*"):
        assert not (staging_of(d) and (d / "report.json").exists())
