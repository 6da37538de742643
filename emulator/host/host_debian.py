"""This machine's Debian: its release, its architecture, and the archive its own apt sources use (both one-line
``sources.list`` entries and deb822 ``.sources`` stanzas). The private apt states that fetch Debian packages
without touching the system's apt (emulator.host.private_apt) start from it: ``ppc64el_tools`` (makedumpfile and
crash) and ``real_reference`` (the reference kernel's packages).
"""

import glob
import re
import subprocess
from pathlib import Path


class NoSource(Exception):
    """The system's apt sources name no archive for that release; the message says to pass --mirror."""


def host_release() -> str:
    """This machine's Debian codename (VERSION_CODENAME), or "" when it is not Debian."""
    osr = os_release()
    return osr.get("VERSION_CODENAME", "") if osr.get("ID") == "debian" else ""


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    """/etc/os-release as a dict (empty when it cannot be read)."""
    values = {}
    try:
        text = Path(path).read_text()
    except OSError:
        return values
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def apt_sources(etc: str = "/etc/apt") -> list[dict]:
    """Every enabled deb source of the system: {"uris": [...], "suites": [...], "signed_by": str}."""
    sources = []
    one_line = [f"{etc}/sources.list"] + sorted(glob.glob(f"{etc}/sources.list.d/*.list"))
    for path in one_line:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.split("#", 1)[0].strip()
            options = ""
            match = re.match(r"^deb\s+\[([^]]*)\]\s+(.*)$", line) or re.match(r"^deb\s+()(.*)$", line)
            if not match:
                continue
            options, rest = match.groups()
            words = rest.split()
            if len(words) < 2:
                continue
            signed = re.search(r"signed-by=(\S+)", options)
            sources.append({"uris": [words[0]], "suites": [words[1]], "signed_by": signed.group(1) if signed else ""})
    for path in sorted(glob.glob(f"{etc}/sources.list.d/*.sources")):
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            key = None
            for line in stanza.splitlines():
                if line.startswith("#") or not line.strip():
                    continue
                if line[0] in " \t" and key:
                    fields[key] += " " + line.strip()
                    continue
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
                continue
            sources.append({"uris": fields.get("uris", "").split(), "suites": fields.get("suites", "").split(),
                            "signed_by": fields.get("signed-by", "")})
    return sources


def system_mirror(codename: str, etc: str = "/etc/apt") -> str:
    """The URI of the system's own source for the release itself (not -updates or -security)."""
    candidates = [uri for s in apt_sources(etc) if codename in s["suites"] for uri in s["uris"]]
    if not candidates:
        raise NoSource(f"no deb source for suite {codename!r} in {etc}/sources.list or {etc}/sources.list.d/; "
                       "pass --mirror URI (the Debian archive your machine uses)")
    debian = [uri for uri in candidates if uri.rstrip("/").endswith("/debian")]
    return (debian or candidates)[0].rstrip("/")


def host_arch() -> str:
    """This machine's Debian architecture (dpkg --print-architecture), amd64 when dpkg cannot tell."""
    try:
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip() or "amd64"
    except (OSError, subprocess.CalledProcessError):
        return "amd64"
