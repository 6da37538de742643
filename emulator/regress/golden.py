"""Golden transcripts: a scenario's expected console, kept beside it as NAME.log.

The console is stamped with simulated time, so a scenario prints the same
text on every run and on every machine; a golden file catches any change in
wording, order or timing that the scenario's [expect] needles would let pass.
"""

import difflib
from pathlib import Path

from emulator.run.out_paths import write_file

DIFF_LINES = 20
"""How many lines of the unified diff a failure shows (the rest is counted, not shown)."""

MATCH, DIFFERS, WRITTEN, ABSENT = "match", "differs", "written", "absent"


def golden_path(scenario_path: str | Path) -> Path:
    """The golden transcript of a scenario file: same folder, same stem, suffix .log."""
    return Path(scenario_path).with_suffix(".log")


def diff(expected: str, actual: str, name: str, limit: int = DIFF_LINES) -> list[str]:
    """The first ``limit`` lines of the unified diff from ``expected`` to ``actual`` (empty when equal)."""
    lines = [line.rstrip("\n") for line in difflib.unified_diff(
        expected.splitlines(keepends=True), actual.splitlines(keepends=True),
        fromfile=f"{name} (golden)", tofile="console.log (this run)", n=1)]
    if not lines and expected != actual:  # only the line endings differ, which difflib does not show
        lines = [f"--- {name} (golden)", "+++ console.log (this run)",
                 "@@ the texts differ only in line endings or a final newline @@"]
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more diff lines)"]
    return lines


def check(scenario_path: str | Path, console_text: str, update: bool = False) -> dict:
    """Compare (or with ``update``, rewrite) the golden transcript; a dict with path, status and diff.

    status is "match", "differs", "written" (updated or created) or "absent"
    (no golden file, nothing to compare).
    """
    path = golden_path(scenario_path)
    if update:
        old = path.read_text() if path.is_file() else None
        if old != console_text:
            write_file(path, console_text)  # a rename: an interrupted update leaves the old file whole
        return {"path": str(path), "status": WRITTEN, "changed": old != console_text, "diff": []}
    if not path.is_file():
        return {"path": str(path), "status": ABSENT, "diff": []}
    expected = path.read_text()
    if expected == console_text:
        return {"path": str(path), "status": MATCH, "diff": []}
    return {"path": str(path), "status": DIFFERS, "diff": diff(expected, console_text, path.name)}


def expectation(result: dict) -> dict | None:
    """The golden comparison as one more expectation (None when there was nothing to compare)."""
    if result["status"] not in (MATCH, DIFFERS):
        return None
    name = Path(result["path"]).name
    ok = result["status"] == MATCH
    return {"what": f"console matches the golden transcript {name}", "ok": ok,
            "detail": "" if ok else "\n".join(result["diff"])}
