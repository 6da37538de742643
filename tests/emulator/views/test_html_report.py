"""Every run writes report.html: one self-contained page, checked in a real headless Chromium.

The page is loaded from disk by Debian's chromium with networking features off; its DOM (--dump-dom) must
hold every section with the run's own facts, and a screenshot of the first screen is kept as a test
artifact in out/test-artifacts/ (or $FADUMP_EMU_ARTIFACTS).
"""

import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from emulator.views import html_report
from tests.conftest import small_scenario_text
from tests.test_real_tools import require_tool

PROJECT = Path(__file__).resolve().parents[3]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium(*args: str) -> subprocess.CompletedProcess:
    exe = require_tool("chromium")
    with tempfile.TemporaryDirectory(prefix="fadump-emu-chromium.") as profile:
        return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A 4-CPU 6.10 run crashing on CPU 2; its output folder and report.html text."""
    from emulator.run import report
    from emulator.scenario import loader as scenario
    from emulator.run.runner import run_scenario
    from emulator.views import observers

    tmp = tmp_path_factory.mktemp("html")
    text = small_scenario_text(name="html-page", crash_cpu=2, kernel_extra='profile = "linux-6.10"')
    text = text.replace('addr = "0x18000000"', 'addr = "0x30000000"')  # above 6.10's dump area
    path = tmp / "html-page.toml"
    path.write_text(text)
    out = tmp / "out"
    result = run_scenario(scenario.load(path), str(out), observers=[observers.html_report])
    return result, out, (out / "report.html").read_text()


def test_every_run_writes_report_html_next_to_report_json(page):
    _, out, html = page
    assert (out / "report.json").exists() and html.startswith("<!DOCTYPE html>")
    assert "report.html" in (out / ".fadump-emu-manifest.json").read_text()


def test_the_page_needs_no_network_and_runs_no_script(page):
    html = page[2]
    assert "<script" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"url\(", html)
    assert "@import" not in html


def test_the_page_holds_both_boots_console_the_maps_registers_and_rtas_calls(page):
    result, _, html = page
    for line in result.partition.console.lines:
        assert html_escape(line.text) in html
    assert "<h3>boot 1</h3>" in html and "<h3>boot 2</h3>" in html
    assert html.count("<svg") == len(result.snapshots_for_map) == 3
    assert "boot 2, CPU 2" in html and "0xc0000000000a5f10" in html  # the crashing CPU's nip, as set and found
    assert "ibm,configure-kernel-dump REGISTER" in html and "ibm,os-term" in html


def html_escape(text: str) -> str:
    from html import escape

    return escape(text)


def test_headless_chromium_renders_every_section_and_a_screenshot_is_kept(page):
    _, out, _ = page
    url = (out / "report.html").resolve().as_uri()
    dom = chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for section in html_report.SECTIONS:
        assert re.search(rf'<section id="{section}"><h2>[^<]+</h2>', dom.stdout), section
    assert "Kernel panic - not syncing" in dom.stdout
    artifacts = Path(os.environ.get("FADUMP_EMU_ARTIFACTS", PROJECT / "out" / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report-html-first-screen.png"
    shot.unlink(missing_ok=True)
    done = chromium("--window-size=1280,1000", f"--screenshot={shot}", url)
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a rendered page, not a blank one


def test_the_pages_escape_is_html_escape_for_every_character_that_matters():
    """The page escapes text itself (not importing the html package): exactly html.escape(text, quote=True)."""
    import html
    import random

    rnd = random.Random(3)
    alphabet = "&<>\"'a;#x27 é\n"
    samples = ["", "&amp;", "<b>'x' & \"y\"</b>", *("".join(rnd.choice(alphabet) for _ in range(rnd.randrange(30)))
                                                   for _ in range(500))]
    for text in samples:
        assert html_report.escape(text) == html.escape(text)
