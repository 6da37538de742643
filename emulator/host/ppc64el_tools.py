"""Debian's own ppc64el makedumpfile and crash, run on this (x86-64) host under qemu-user.

kdump-utils saves a real fadump with ``makedumpfile -l --message-level 7 -d 31 /proc/vmcore``; Debian's amd64
makedumpfile and crash are built for an x86-64 target and cannot read a ppc64le vmcore, but the ppc64el builds
can, under ``qemu-ppc64le-static`` (../shared/reference/vmcore-consumers.md §8). This module fetches them from
Debian's archive into a sysroot; nothing is built and the system's apt is left alone:

- a private apt state (``private_apt``: sources list, lists, cache, an empty dpkg status) under DEST/apt, with one
  Debian release (``--release``; default this machine's ``VERSION_CODENAME``), ``main``, for
  ``[arch=ppc64el,amd64]``, from the mirror the system's own apt sources use, signed by the Debian archive keyring;
  never ``dpkg --add-architecture``;
- ``apt-get install --download-only makedumpfile:ppc64el crash:ppc64el`` on the empty status, so apt itself resolves
  the libraries of that release (bookworm's ``libelf1`` is ``libelf1t64`` in trixie and sid), each unpacked with
  ``dpkg -x`` into DEST/sysroot, and ``apt-get download`` of qemu-user-static (host architecture), of which only
  ``usr/bin/qemu-ppc64le-static`` is taken (DEST/host);
- absolute symlinks in the sysroot (``lib64/ld64.so.2`` first of all) made relative, otherwise qemu fails
  with ``Could not open '/lib64/ld64.so.2'``.

Run it as ``python -m emulator.host.ppc64el_tools [--release CODENAME] [--dest DIR]`` (``make ppc64el-tools``); it does
nothing when DEST already holds a complete build. Each release has its own DEST: this machine's release in
.tools/ppc64el, another one in .tools/ppc64el-CODENAME. The tools are run as ``qemu-ppc64le-static -L SYSROOT
SYSROOT/usr/bin/makedumpfile ARGS``: with ``-L``, qemu looks every absolute path up inside the sysroot
first, so vmcores and outputs must not live under a folder the sysroot has (``/usr``, ``/lib``, ``/etc``...).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emulator.host import private_apt
from emulator.host.host_debian import NoSource, host_arch, host_release, os_release, system_mirror
from emulator.host.private_apt import KEYRING, fetched_bytes, relative_symlinks  # noqa: F401 (part of this module's API)

PROJECT = Path(__file__).resolve().parents[2]


def is_checkout(project: Path) -> bool:
    """Whether ``project`` is a checkout of fadump-emu (its Makefile beside pyproject.toml), not the site-packages
    folder an installed wheel sits in."""
    return (project / "Makefile").is_file() and (project / "pyproject.toml").is_file()


def default_dest(project: Path = PROJECT) -> Path:
    """Where the tool chain goes by default: .tools/ppc64el in a checkout (ignored by git, what ``make
    ppc64el-tools`` fills), else the user's cache ($XDG_CACHE_HOME or ~/.cache, then fadump-emu/ppc64el): an
    installed wheel's site-packages is the package manager's, never written to."""
    if is_checkout(project):
        return project / ".tools" / "ppc64el"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "fadump-emu" / "ppc64el"


DEFAULT_DEST = default_dest()
"""Where the tool chain is built and looked for unless --dest or $FADUMP_EMU_PPC64EL_TOOLS says otherwise."""
DEST_ENV = "FADUMP_EMU_PPC64EL_TOOLS"
"""Environment variable naming another DEST for makedumpfile() and crash()."""
TOOL_PACKAGES = ("makedumpfile", "crash")
"""The ppc64el tools; apt resolves the libraries they link (libelf1 in bookworm, libelf1t64 in trixie and sid)."""
RELEASES = ("bookworm", "trixie", "sid")
FALLBACK_RELEASE = "sid"
"""Where a library comes from when the mirror lists a version of the asked release it cannot serve (a caching
mirror can); the substitution is recorded in BUILT.json."""
"""The Debian releases ``--release`` is tested with (any codename the mirror has works)."""
QEMU_PACKAGE = "qemu-user-static"
QEMU_MEMBER = "./usr/bin/qemu-ppc64le-static"
"""The one file taken from qemu-user-static's data archive."""
TARGET_ARCH = "ppc64el"
STAMP = "BUILT.json"
"""Written last: DEST holds a complete build when this file is there."""
RUN_TIMEOUT = 900.0
"""Seconds a makedumpfile or crash run may take under emulation (a -c run on 1 GiB takes about 40 s)."""


class BuildError(Exception):
    """The tool chain could not be fetched or unpacked; the message says what to do."""


# --- where things are ---

def dest_dir(dest: str | os.PathLike | None = None) -> Path:
    """DEST: the argument, else $FADUMP_EMU_PPC64EL_TOOLS, else .tools/ppc64el in the project."""
    return Path(dest or os.environ.get(DEST_ENV) or DEFAULT_DEST).resolve()


def release_dest(release: str | None) -> Path:
    """Where ``--release RELEASE`` builds by default: DEST for this machine's release (or no --release), else
    .tools/ppc64el-RELEASE beside it, so each release has its own sysroot."""
    if not release or release == host_release():
        return dest_dir()
    return (DEFAULT_DEST.parent / f"ppc64el-{release}").resolve()


def sysroot(dest=None) -> Path:
    return dest_dir(dest) / "sysroot"


def qemu_path(dest=None) -> Path:
    return dest_dir(dest) / "host" / QEMU_MEMBER


def tool_path(name: str, dest=None) -> Path:
    return sysroot(dest) / "usr" / "bin" / name


def available(dest=None) -> bool:
    """True when DEST holds a complete build (qemu, makedumpfile and crash)."""
    d = dest_dir(dest)
    return ((d / STAMP).is_file() and os.access(qemu_path(d), os.X_OK)
            and tool_path("makedumpfile", d).is_file() and tool_path("crash", d).is_file())


def how_to_install(dest=None) -> str:
    """One line saying how to get the tool chain."""
    d = dest_dir(dest)
    where = "" if d == DEFAULT_DEST.resolve() else f" --dest {d}"
    how = (f"run `make ppc64el-tools` (or `python -m emulator.host.ppc64el_tools{where}`)" if is_checkout(PROJECT)
           else f"run `python -m emulator.host.ppc64el_tools{where}`")
    return (f"Debian's ppc64el makedumpfile and crash are not set up in {d}; {how}: it downloads about 72 MB of "
            "Debian packages "
            "(makedumpfile, crash and their libraries for ppc64el, qemu-user-static) and 18 MB of indexes "
            "with a private apt state; "
            "it needs apt-get, dpkg-deb and network access to the Debian mirror, but not root")


# --- running the tools ---

def _check_paths(args, root: Path) -> None:
    """Refuse absolute paths that qemu -L would look up inside the sysroot instead of on the host."""
    for arg in args:
        arg = str(arg)
        if not arg.startswith("/"):
            continue
        top = Path(arg).parts[1] if len(Path(arg).parts) > 1 else ""
        if top and (root / top).exists():
            raise ValueError(f"{arg}: under qemu -L {root}, absolute paths are looked up inside the sysroot "
                             f"first and {root / top} exists; keep vmcores and outputs outside /{top} "
                             "(for example under /tmp) or pass them relative to cwd")


def run(tool: str, args, cwd=None, dest=None, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    """Run SYSROOT/usr/bin/TOOL ARGS under qemu-ppc64le-static -L SYSROOT; output captured as text."""
    d = dest_dir(dest)
    if not available(d):
        raise FileNotFoundError(how_to_install(d))
    return _run(d, tool, args, cwd, timeout)


def _run(d: Path, tool: str, args, cwd, timeout: float) -> subprocess.CompletedProcess:
    root = sysroot(d)
    args = [str(a) for a in args]
    _check_paths(args, root)
    env = dict(os.environ, LC_ALL="C", LANG="C", PAGER="cat", TERM="dumb")
    env.pop("QEMU_LD_PREFIX", None)
    argv = [str(qemu_path(d)), "-L", str(root), str(tool_path(tool, d)), *args]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, errors="replace",
                          timeout=timeout, check=False)


def makedumpfile(args, cwd=None, dest=None, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    """Debian's ppc64el makedumpfile with ``args`` (e.g. ``["-l", "-d", "31", "vmcore", "out"]``)."""
    return run("makedumpfile", args, cwd, dest, timeout)


class Makedumpfile:
    """The capture step's makedumpfile for a run (an emulator.run.kdump_service.CaptureTool): Debian's binary."""

    def __init__(self, dest=None):
        self.dest = dest

    def available(self) -> bool:
        return available(self.dest)

    def how_to_install(self) -> str:
        return how_to_install(self.dest)

    def __call__(self, argv: list[str], cwd: str) -> subprocess.CompletedProcess:
        return makedumpfile(argv, cwd=cwd, dest=self.dest)


MAKEDUMPFILE = Makedumpfile()
"""What the CLI and the API inject into a run whose capture.tool is makedumpfile (also the entry point
``makedumpfile`` of the group fadump_emu.capture_tools, for callers that inject nothing)."""


def crash(args, cwd=None, dest=None, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    """Debian's ppc64el crash with ``args`` (e.g. ``["--osrelease", "vmcore"]``)."""
    return run("crash", args, cwd, dest, timeout)


# --- the build ---

class Builder:
    """Fetches and unpacks the tool chain into DEST (see the module docstring)."""

    def __init__(self, dest: Path, release: str, mirror: str, arch: str, echo=print):
        self.dest, self.release, self.mirror, self.arch, self.echo = dest, release, mirror, arch, echo
        self.apt_dir = dest / "apt"
        self.debs = dest / "debs"
        self.private = private_apt.PrivateApt(self.apt_dir, release, mirror, (TARGET_ARCH,), arch)

    def build(self) -> dict:
        started = time.monotonic()
        self.dest.mkdir(parents=True, exist_ok=True)
        (self.dest / STAMP).unlink(missing_ok=True)
        self.echo(f"ppc64el-tools: apt-get update ({self.mirror} {self.release} main, "
                  f"{TARGET_ARCH} and {self.arch}; private state in {self.apt_dir})")
        try:
            fetched = self.private.update()
            lists = self.private.index_bytes()
            wanted = [f"{p}:{TARGET_ARCH}" for p in TOOL_PACKAGES]
            self.echo(f"ppc64el-tools: apt-get install --download-only {' '.join(wanted)} (apt resolves the "
                      f"libraries) and apt-get download {QEMU_PACKAGE}:{self.arch}")
            shutil.rmtree(self.debs, ignore_errors=True)
            debs, missing = self.private.download_closure(wanted, self.debs)
            substituted = {}
            if missing:
                self.echo(f"ppc64el-tools: the mirror lists but cannot serve {' '.join(missing)} of {self.release}; "
                          f"taking them from {FALLBACK_RELEASE} (newer libraries keep their ABI)")
                other = private_apt.PrivateApt(self.dest / "apt-fallback", FALLBACK_RELEASE, self.mirror,
                                               (TARGET_ARCH,), self.arch)
                other.update()
                before = set(self.debs.glob("*.deb"))
                other.download(missing, self.debs)
                substituted = {"release": FALLBACK_RELEASE,
                               "packages": sorted(d.name for d in set(self.debs.glob("*.deb")) - before)}
                debs = sorted(self.debs.glob("*.deb"))
            host = self.private if self.release == (host_release() or self.release) else private_apt.PrivateApt(
                self.dest / "apt-host", host_release(), self.mirror, (), self.arch)
            if host is not self.private:
                host.update()
            qemu_deb = host.download([f"{QEMU_PACKAGE}:{self.arch}"], self.debs / "host")
        except private_apt.AptError as exc:
            raise BuildError(str(exc)) from exc
        # apt also names host-architecture packages (perl for Multi-Arch: foreign dependencies); the sysroot is
        # ppc64el only
        debs = [d for d in debs if private_apt.deb_name(d)[2] != self.arch] + qemu_deb
        downloaded = sum(p.stat().st_size for p in debs)
        self.echo(f"ppc64el-tools: fetched {downloaded / 1e6:.1f} MB of packages "
                  f"(and {fetched / 1e6:.1f} MB of indexes)")

        root, host = self.dest / "sysroot", self.dest / "host"
        for d in (root, host):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir()
        versions = {}
        for deb in debs:
            name, version, arch = private_apt.deb_name(deb)
            versions[f"{name}:{arch}"] = version
            if name == QEMU_PACKAGE:
                self.extract_qemu(deb, host)
            else:
                self.command(["dpkg", "-x", str(deb), str(root)])
        missing = [w for w in wanted + [f"{QEMU_PACKAGE}:{self.arch}"] if w not in versions]
        if missing:
            raise BuildError(f"apt did not fetch {' '.join(missing)}")
        private_apt.merge_usr(root)
        fixed = relative_symlinks(root)
        loader = root / "lib64" / "ld64.so.2"
        if not loader.exists():
            raise BuildError(f"{loader} does not resolve inside the sysroot; qemu would fail with "
                             "Could not open '/lib64/ld64.so.2'")
        links = ", ".join(fixed[:3]) + ("..." if len(fixed) > 3 else "")
        self.echo(f"ppc64el-tools: unpacked {len(debs)} packages into {root}; "
                  f"made {len(fixed)} absolute symlinks relative ({links})")

        info = {"release": self.release, "mirror": self.mirror, "host_arch": self.arch, "packages": versions,
                "substituted": substituted, "download_bytes": downloaded, "index_download_bytes": fetched,
                "index_bytes": lists,
                "seconds": round(time.monotonic() - started, 1)}
        self.check(info)
        shutil.rmtree(self.debs)  # unpacked; a rebuild downloads afresh
        for deb in (self.apt_dir / "cache" / "archives").glob("*.deb"):
            deb.unlink()
        (self.dest / STAMP).write_text(json.dumps(info, indent=2) + "\n")
        return info

    def command(self, argv: list[str], cwd: Path | None = None, advice: str = "") -> str:
        try:
            return private_apt.command(argv, cwd, advice)
        except private_apt.AptError as exc:
            raise BuildError(str(exc)) from exc

    def extract_qemu(self, deb: Path, host: Path) -> None:
        """Only usr/bin/qemu-ppc64le-static: dpkg-deb --fsys-tarfile DEB | tar -x ./usr/bin/qemu-ppc64le-static."""
        with tempfile.TemporaryFile() as tar:
            proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=tar, stderr=subprocess.PIPE,
                                  text=False, check=False)
            if proc.returncode != 0:
                raise BuildError(f"dpkg-deb --fsys-tarfile {deb} failed: {proc.stderr.decode(errors='replace')}")
            tar.seek(0)
            proc = subprocess.run(["tar", "-x", "-C", str(host), QEMU_MEMBER], stdin=tar, capture_output=True,
                                  check=False)
        if proc.returncode != 0 or not (host / QEMU_MEMBER).is_file():
            raise BuildError(f"{deb.name} has no {QEMU_MEMBER}: {proc.stderr.decode(errors='replace').strip()}")

    def check(self, info: dict) -> None:
        """Run makedumpfile -v under qemu: the tool chain works."""
        proc = _run(self.dest, "makedumpfile", ["-v"], None, 120)
        first = (proc.stdout or proc.stderr).strip().splitlines()
        if proc.returncode != 0 or not first or not first[0].startswith("makedumpfile:"):
            raise BuildError(f"makedumpfile -v under qemu failed (exit {proc.returncode}):\n"
                             f"{(proc.stdout + proc.stderr).strip()}")
        info["makedumpfile_version"] = first[0]
        self.echo(f"ppc64el-tools: {first[0]} runs under {qemu_path(self.dest).name}")


def build(dest=None, release: str | None = None, mirror: str | None = None, force: bool = False,
          echo=print) -> dict | None:
    """Build the tool chain into DEST unless it is already there; its BUILT.json, or None when skipped.

    Without DEST, this machine's release goes to the default DEST and another release to its own folder
    (``release_dest``)."""
    d = dest_dir(dest) if dest else release_dest(release)
    if available(d) and not force:
        info = json.loads((d / STAMP).read_text())
        packages = info.get("packages", {})
        echo(f"ppc64el-tools: already built in {d} (Debian {info.get('release')}, makedumpfile "
             f"{packages.get('makedumpfile:ppc64el', '?')}, crash {packages.get('crash:ppc64el', '?')}); "
             "pass --force to rebuild")
        return None
    for tool in ("apt-get", "dpkg", "dpkg-deb", "tar"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} is not installed: the tool chain is made from Debian packages and needs "
                             "apt-get and dpkg-deb (a Debian or Debian-based host)")
    if release is None:
        osr = os_release()
        release = osr.get("VERSION_CODENAME", "")
        if not release or osr.get("ID") != "debian":
            raise BuildError(f"this machine is not a Debian release with a VERSION_CODENAME "
                             f"(/etc/os-release: ID={osr.get('ID', '?')}, VERSION_CODENAME={release or '?'}); "
                             "pass --release CODENAME and --mirror URI of a Debian archive")
    if not KEYRING.is_file():
        raise BuildError(f"{KEYRING} is missing; install it with `apt-get install debian-archive-keyring`")
    if mirror is None:
        try:
            try:
                mirror = system_mirror(release)
            except NoSource:
                if not host_release():
                    raise
                mirror = system_mirror(host_release())  # the same Debian archive carries every suite
        except NoSource as exc:
            raise BuildError(str(exc)) from None
    return Builder(d, release, mirror, host_arch(), echo).build()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator.host.ppc64el_tools",
                                     description="Fetch Debian's ppc64el makedumpfile and crash and "
                                                 "qemu-ppc64le-static into a private sysroot.")
    parser.add_argument("--dest", default=None, help=f"where to build (default {DEFAULT_DEST}, "
                                                     f"or ${DEST_ENV})")
    parser.add_argument("--force", action="store_true", help="rebuild even when DEST is complete")
    parser.add_argument("--release", help="Debian codename, e.g. " + " | ".join(RELEASES) + " (default: "
                                          "VERSION_CODENAME of /etc/os-release); a release other than this "
                                          "machine's goes to .tools/ppc64el-RELEASE unless --dest is given")
    parser.add_argument("--mirror", help="Debian archive URI (default: the one the system's apt sources use "
                                         "for that release)")
    opts = parser.parse_args(argv)
    try:
        info = build(opts.dest, opts.release, opts.mirror, opts.force)
    except BuildError as exc:
        print(f"ppc64el-tools: error: {exc}", file=sys.stderr)
        return 1
    if info is not None:
        print(f"ppc64el-tools: done in {info['seconds']} s: {info['download_bytes'] / 1e6:.1f} MB of packages, "
              f"{info['index_download_bytes'] / 1e6:.1f} MB of indexes ({info['index_bytes'] / 1e6:.1f} MB "
              f"stored); tools in {sysroot(opts.dest or release_dest(opts.release)) / 'usr/bin'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
