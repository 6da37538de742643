"""fadump-emu explain narrates what happened on every path, from the steps the run itself records.

Each bundled scenario below takes one path (a fault of the catalog, a trigger, hotplug, re-registration,
release, fallback); explain must show the step that makes that path what it is, with the same console
as `run` (kdump: lines included) and the same clock (each step's uptime is the console's stamp).
"""

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from emulator.views import explain
from emulator.scenario import loader as scenario
from emulator.run.runner import run_scenario

PROJECT = Path(__file__).resolve().parents[3]


def narrate(name: str, step: bool = False, answers=()) -> tuple[str, list]:
    """explain's text output for a bundled scenario; ``answers`` feed --step prompts (then end of input)."""
    buf = io.StringIO()
    con = Console(file=buf, width=200, highlight=False, color_system=None)
    pending = list(answers)

    def read(prompt: str) -> str:
        if not pending:
            raise EOFError
        return pending.pop(0)

    sc = scenario.load(PROJECT / "scenarios" / f"{name}.toml")
    assert explain.explain(sc, console=con, step=step, read=read) == 0
    return buf.getvalue(), pending


PATHS = {
    # fault catalog
    "faults/hardware-error-during-copy": [r"fault: copy-interrupted, hardware-error", r"dump is INCOMPLETE.*0xa000000",
                                          r"DUMP_ERROR", r"capture kernel REJECTS the dump"],
    "faults/power-loss-during-copy": [r"copy-interrupted, power-loss", r"power is lost after copying"],
    "faults/crash-info-corrupt": [r"fault: crash-info-corrupt", r"REJECTS the dump"],
    "faults/crash-during-registration": [r"fault: crash-during-registration"],
    "faults/elf-header-overwritten": [r"fault: elf-header-overwritten"],
    "faults/capture-without-fadump": [r"no fadump in the capture kernel", r"fadump is not enabled in this kernel"],
    "faults/disk-full": [r"saving vmcore FAILS: No space left on device"],
    "faults/copy-error-boot-memory": [r"dump is INCOMPLETE: section REAL_MODE_REGION has error_flags"],
    # triggers
    "triggers/system-reset-modern": [r"system_reset_exception\(\)", r"CPU \d+ goes down \(system-reset\)"],
    "triggers/sysrq-modern": [r"sysrq_handle_crash\(\)"],
    # hotplug, re-registration, release, fallback
    "hotplug-stale-header": [r"dlpar_memory_add\(\)", r"is hot-added", r"dlpar_memory_remove\(\)"],
    "hotplug-reregister": [r"echo 0 > /sys/kernel/fadump_registered returns", r"echo 1 > "
                           r"/sys/kernel/fadump_registered returns", r"register_fadump\(\)"],
    "second-crash-after-release": [r"release_mem returns", r"matches crash-time memory"],
    "cmdline/low-reservation": [r"NOT registered", r"kdump's crashkernel= reservation would take the dump"],
    "cmdline/fadump-off": [r"NOT registered", r"nothing saves this crash"],
}


@pytest.mark.parametrize("name", sorted(PATHS))
def test_explain_shows_the_steps_that_make_each_path(name):
    text, _ = narrate(name)
    for pattern in PATHS[name]:
        assert re.search(pattern, text), (name, pattern)


def test_a_failed_dump_is_never_narrated_as_a_success():
    text, _ = narrate("faults/hardware-error-during-copy")
    assert "boot memory copied, the register save area written last" not in text
    assert "outcome dump-rejected" in text


def test_explain_prints_the_same_console_as_run_including_kdump_lines(tmp_path):
    text, _ = narrate("basic-panic")
    result = run_scenario(scenario.load(PROJECT / "scenarios" / "basic-panic.toml"), str(tmp_path / "out"))
    console = (tmp_path / "out" / "console.log").read_text().splitlines()
    assert any("kdump:" in line for line in console)
    shown = [line for line in text.splitlines() if re.match(r"^\[\s*\d+\.\d{6}\] ", line)]
    assert shown == console
    assert result.outcome == "vmcore"


def test_each_step_uses_the_consoles_clock():
    """The crash_fadump() step's uptime is the stamp of the panic line just before it (one clock)."""
    text, _ = narrate("basic-panic")
    panic = re.search(r"^\[\s*([\d.]+)\] Kernel panic", text, re.MULTILINE).group(1)
    step = re.search(r"crash_fadump\(\).*?boot 1 · uptime \[\s*([\d.]+)\]", text, re.DOTALL).group(1)
    assert step == panic


def test_step_mode_stops_cleanly_at_end_of_input():
    text, _ = narrate("basic-panic", step=True, answers=[""])
    assert "(stopped)" in text and "2. " in text and "3. " not in text


def test_step_mode_q_quits():
    text, pending = narrate("basic-panic", step=True, answers=["q", "never read"])
    assert "(stopped)" in text and "2. " not in text and pending == ["never read"]


def test_step_mode_m_shows_memory_as_it_is_at_that_step():
    """basic-panic writes its workload text at 0x4100000 after boot: absent at step 1, there at the crash."""
    first, _ = narrate("basic-panic", step=True, answers=["m 0x4100000 16", "q"])
    assert re.search(r"^0x0000000004100000  ", first, re.MULTILINE)
    assert "workload" not in first.split("m ADDR LEN")[0] and "workload: order bo" not in first
    text, _ = narrate("basic-panic", step=True, answers=["", "", "", "", "", "m 0x4100000 16", "q"])
    assert "6. kernel 1 (linux-3.4): crash_fadump()" in text
    assert re.search(r"^0x0000000004100000  .*workload: order ", text, re.MULTILINE), text[-3000:]


def test_step_mode_rejects_a_bad_memory_request_and_asks_again():
    text, _ = narrate("basic-panic", step=True, answers=["m zz 4", "m 0x0 999999", "q"])
    assert "not numbers: m zz 4" in text and "LEN 1..4096" in text
