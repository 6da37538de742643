"""JUnit XML for a suite of scenario runs, in the form CI servers (Jenkins, GitLab, GitHub) read."""

import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    """Text with the characters XML 1.0 cannot hold replaced by '?'."""
    return _NOT_XML.sub("?", text)


def failure_text(result: dict) -> str:
    """The body of a failure: each unmet expectation, with its detail (a golden diff) indented below it."""
    out = []
    for e in result["expectations"]:
        if e["ok"]:
            continue
        out.append(f"unmet: {e['what']}")
        out.extend(f"    {line}" for line in e["detail"].splitlines() if e["detail"])
    return "\n".join(out)


def to_xml(results: list[dict], seconds: float, suite: str = "fadump-emu") -> ET.ElementTree:
    """One <testsuite> with one <testcase> per scenario: <failure> for FAIL, <error> for ERROR."""
    counts = {v: sum(r["verdict"] == v for r in results) for v in ("FAIL", "ERROR")}
    root = ET.Element("testsuites", name=suite, tests=str(len(results)), failures=str(counts["FAIL"]),
                      errors=str(counts["ERROR"]), time=f"{seconds:.3f}")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)), failures=str(counts["FAIL"]),
                       errors=str(counts["ERROR"]), skipped="0", time=f"{seconds:.3f}",
                       timestamp=datetime.now(UTC).replace(microsecond=0).isoformat(),
                       hostname=socket.gethostname())
    for r in results:
        case = ET.SubElement(ts, "testcase", classname=f"{suite}.scenarios", name=_clean(r["name"]),
                             file=_clean(r["path"]), time=f"{r['seconds']:.3f}")
        if r["verdict"] == "FAIL":
            unmet = [e for e in r["expectations"] if not e["ok"]]
            message = f"{len(unmet)} unmet expectation(s): " + "; ".join(e["what"] for e in unmet)
            el = ET.SubElement(case, "failure", message=_clean(message), type="ExpectationNotMet")
            el.text = _clean(failure_text(r))
        elif r["verdict"] == "ERROR":
            el = ET.SubElement(case, "error", message=_clean(r["error"]), type=r.get("error_type") or "Error")
            el.text = _clean(r.get("traceback") or r["error"])
        if r["verdict"] != "PASS" and r.get("console"):
            ET.SubElement(case, "system-out").text = _clean(r["console"])
    ET.indent(root)
    return ET.ElementTree(root)


def write(results: list[dict], path: str | Path, seconds: float) -> None:
    """Write the JUnit XML file (creating its folder)."""
    import io

    from emulator.run.out_paths import write_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    to_xml(results, seconds).write(buf, encoding="utf-8", xml_declaration=True)
    write_file(path, buf.getvalue())  # atomically, never through a symlink
