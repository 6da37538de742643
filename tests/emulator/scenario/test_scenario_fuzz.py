"""A Hypothesis fuzzer over whole scenario files: wrong types, wrong tables, extreme numbers, random unicode.

Whatever the file holds, reading it (and, when it reads, rehearsing the run)
either works or raises our located error: exit 2 with ``file:line:``, never a
traceback, in bounded time and memory. The bulk runs in-process; a sample
runs the real command in a subprocess under a memory limit and a timeout.
"""

import os
import re
import resource
import subprocess
import sys
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.scenario import loader as scenario
from emulator.errors import FadumpEmuError, ScenarioError
from emulator.run.runner import rehearse
from tests.emulator.scenario.scenario_gen import documents, to_toml

LOCATED = r"^{path}:\d+: \S"
SECONDS = 10.0
"""Bounded time: one document, read and rehearsed, within this (they take well under a second)."""


def check_one(tmp_path, doc) -> str:
    """Read (and rehearse) one generated document; 'ok', 'rejected' or 'refused-at-run' -- or fail the test."""
    path = tmp_path / "fuzz.toml"
    path.write_text(to_toml(doc), encoding="utf-8")
    start = time.monotonic()
    try:
        sc = scenario.load(path)
    except ScenarioError as exc:
        assert re.match(LOCATED.format(path=re.escape(str(path))), str(exc)), str(exc)
        return "rejected"
    finally:
        assert time.monotonic() - start < SECONDS
    try:
        rehearse(sc)
    except FadumpEmuError as exc:  # what run refuses: located when it is the scenario's fault
        assert exc.exit_status == 2, str(exc)
        if isinstance(exc, ScenarioError):
            assert re.match(LOCATED.format(path=re.escape(str(path))), str(exc)), str(exc)
        return "refused-at-run"
    assert time.monotonic() - start < SECONDS
    return "ok"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(doc=documents)
def test_any_generated_scenario_reads_or_is_refused_with_file_and_line(tmp_path, doc):
    """Structurally random documents: never an exception other than our located ScenarioError."""
    check_one(tmp_path, doc)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_any_text_at_all_is_read_or_refused_with_file_and_line(tmp_path, text):
    """Random characters (not TOML at all, or barely): ScenarioError with a line, nothing else."""
    path = tmp_path / "noise.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        scenario.load(path)
    except ScenarioError as exc:
        assert re.match(LOCATED.format(path=re.escape(str(path))), str(exc)) or "cannot read the file" in str(exc)


def run_bounded(argv: list[str], out_dir, seconds: float = 60.0) -> tuple[int, str, int]:
    """Run ``argv``: its exit status, stderr and peak resident memory in KiB, killed past ``seconds``.

    Partition RAM is a sparse mapping (address space is no measure), so the
    bound is on resident memory, read from the child's own rusage (wait4).
    """
    err_path = out_dir / "stderr.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CPU, (120, 120)))
    deadline = time.monotonic() + seconds
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            raise AssertionError(f"{argv} did not finish within {seconds} s")
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err_path.read_text(), usage.ru_maxrss


MAX_RSS_KIB = 1536 << 10


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents)
def test_a_sample_through_the_real_command_exits_0_or_2_within_time_and_memory(tmp_path, doc):
    """`fadump-emu check-scenario` in a subprocess: 0 or 2, no traceback, within 60 s and 1.5 GiB resident."""
    path = tmp_path / "fuzz.toml"
    path.write_text(to_toml(doc), encoding="utf-8")
    code, err, rss = run_bounded([sys.executable, "-m", "emulator", "check-scenario", str(path)], tmp_path)
    assert code in (0, 2), err
    assert "Traceback" not in err
    assert rss < MAX_RSS_KIB, f"{rss} KiB resident"
    if code == 2:
        assert re.match(r"^fadump-emu: " + re.escape(str(path)) + r"(:\d+)?: ", err), err
