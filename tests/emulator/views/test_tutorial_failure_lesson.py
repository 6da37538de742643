"""docs/tutorial.md lesson 7b (an interrupted copy) says what the tools really show."""

import json
import re
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]
FADUMP_EMU = str(Path(sys.executable).with_name("fadump-emu"))


def lesson() -> str:
    text = (PROJECT / "docs" / "tutorial.md").read_text()
    return text.split("## 7b. When the copy is interrupted", 1)[1].split("## 8.", 1)[0]


def test_the_interrupted_copy_lesson_matches_run_map_report_explain_and_gdb(tmp_path):
    text = lesson()
    command = re.search(r"```sh\n(.*?)\n```", text, re.DOTALL).group(1).replace(".venv/bin/fadump-emu", FADUMP_EMU)
    (tmp_path / "scenarios").symlink_to(PROJECT / "scenarios")  # the tutorial runs from the project folder
    run = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    out = tmp_path / "out" / "interrupted"
    console = (out / "console.log").read_text()
    for line in re.search(r"```\n(.*?)\n```", text, re.DOTALL).group(1).splitlines():
        if line != "...":
            assert line in console, line
    assert "outcome   dump-rejected" in run.stdout
    maps = json.loads((out / "map" / "memmap.json").read_text())
    after = next(m for m in maps if m["moment"] == "after firmware preservation")
    assert "boot-memory copy of 0x0 (160 MiB dumped)" in [r["label"] for r in after["regions"]]
    assert "(160 MiB dumped)" in text
    assert '<section id="verification">' in (out / "report.html").read_text()
    gdb = subprocess.run([FADUMP_EMU, "gdb", str(out)], capture_output=True, text=True, check=False)
    assert gdb.returncode == 2 and "this run saved no vmcore" in gdb.stderr
    explain = subprocess.run([FADUMP_EMU, "explain", str(PROJECT / "scenarios/faults/hardware-error-during-copy.toml")],
                             capture_output=True, text=True, check=False)
    flat = " ".join(explain.stdout.replace("│", " ").split())
    for claim in ("the dump is INCOMPLETE: section REAL_MODE_REGION copied only 0xa000000 of 0x14000000 bytes; "
                  "dump_status_flag 0xe000 has DUMP_ERROR (0x2000) set", "fadump_process() failed"):
        assert claim in flat and claim.split(";")[0] in " ".join(text.split()).replace("*", ""), claim
