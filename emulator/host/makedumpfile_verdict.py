"""What Debian's ppc64el makedumpfile of each release says about a vmcore: the verdict a capture pipeline would get.

Two runs per release, both as kdump-utils and a person would do them: ``makedumpfile -l -d 31 --message-level 23``
(filter and compress; level 23 = progress, common, error and the report of excluded pages) and
``makedumpfile --dump-dmesg``. A verdict is {"exit", "ok", "key_lines", "pages"}; "pages" is makedumpfile's report
(``Free pages : 0x...``) as numbers. The tools come from ``ppc64el_tools`` (one sysroot per release); a release whose
tools are not set up is reported as {"available": false} rather than guessed.
"""

import json
import re
import tempfile
from pathlib import Path

from emulator.host import ppc64el_tools

RELEASES = ppc64el_tools.RELEASES
MODES = {"filter": ["-l", "-d", "31", "--message-level", "23"], "dmesg": ["--dump-dmesg"]}
KEY_LINE = re.compile(r"fail|can't|cannot|not supported|readmem|error|invalid|saved to|completed", re.IGNORECASE)
REPORT_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z -]+?)\s*:\s*(0x[0-9a-fA-F]+|\d+)\s*$")
TIMEOUT = 1800.0


def parse(exit_code: int, output: str) -> dict:
    """A verdict from makedumpfile's exit status and its output."""
    lines = [line.strip() for line in output.replace("\r", "\n").splitlines() if line.strip()]
    key = []
    for line in lines:
        if KEY_LINE.search(line) and line not in key:
            key.append(line)
    pages = {}
    for line in lines:
        match = REPORT_LINE.match(line)
        if match and "pages" in match.group(1).lower():
            pages[match.group(1).strip()] = int(match.group(2), 0)
    return {"exit": exit_code, "ok": exit_code == 0, "key_lines": key[:12], "pages": pages}


def tool_version(release: str) -> str | None:
    """The makedumpfile package version of that release's sysroot, or None when it is not set up."""
    dest = ppc64el_tools.release_dest(release)
    if not ppc64el_tools.available(dest):
        return None
    info = json.loads((dest / ppc64el_tools.STAMP).read_text())
    return info.get("packages", {}).get("makedumpfile:ppc64el")


def verdicts(vmcore: Path, releases=RELEASES, echo=print) -> dict:
    """{release: {"version", "filter": verdict, "dmesg": verdict}} for a vmcore file."""
    vmcore = Path(vmcore).resolve()
    result = {}
    for release in releases:
        dest = ppc64el_tools.release_dest(release)
        version = tool_version(release)
        if version is None:
            result[release] = {"available": False, "how": ppc64el_tools.how_to_install(dest)}
            continue
        result[release] = {"available": True, "version": version}
        with tempfile.TemporaryDirectory(prefix="mkdf-", dir="/tmp") as work:
            for mode, args in MODES.items():
                proc = ppc64el_tools.makedumpfile([*args, str(vmcore), "out"], cwd=work, dest=dest,
                                                  timeout=TIMEOUT)
                result[release][mode] = parse(proc.returncode, proc.stdout + proc.stderr)
                Path(work, "out").unlink(missing_ok=True)
        echo(f"reference: makedumpfile {version} ({release}): -d 31 "
             f"{'ok' if result[release]['filter']['ok'] else 'FAILS'}, --dump-dmesg "
             f"{'ok' if result[release]['dmesg']['ok'] else 'FAILS'}")
    return result
