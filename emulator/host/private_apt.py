"""A private apt state: Debian packages of any suite and architecture, fetched without touching the system's apt.

The state (sources list, lists, cache, an empty dpkg status) lives under one folder; ``apt-get`` is pointed at it with
``-o Dir::...`` options, so neither the system's package lists nor its dpkg database change and no
``dpkg --add-architecture`` is needed. Dependencies are resolved by apt itself: ``closure`` asks
``apt-get install --download-only --print-uris`` for the packages on an empty status, so apt names each package with
everything it depends on (``libelf1`` in bookworm, ``libelf1t64`` in trixie, with no list of names kept here);
packages the mirror lists but cannot serve are reported, so the caller can take them from another suite. Each .deb
is then unpacked with ``dpkg -x``. Used by ``ppc64el_tools`` (makedumpfile and crash of several releases) and by
``real_reference`` (sid's qemu-system-ppc, bookworm's busybox-static:ppc64el, sid's linux-source).
"""

import os
import re
import subprocess
from pathlib import Path

KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


class AptError(Exception):
    """apt-get or dpkg failed; the message has the command, its exit status and the end of its output."""


def deb_name(deb: Path) -> tuple[str, str, str]:
    """(package, version, architecture) from a .deb file name (``name_version_arch.deb``, ``%3a`` is ``:``)."""
    name, version, arch = deb.stem.split("_")
    return name, version.replace("%3a", ":"), arch


def fetched_bytes(apt_output: str) -> int:
    """What apt says it fetched ("Fetched 17.3 MB in 3s (5,770 kB/s)"), in bytes; 0 when it says nothing."""
    match = re.search(r"^Fetched ([\d.,]+) ([kMG]?)B", apt_output, re.MULTILINE)
    if not match:
        return 0
    return int(float(match.group(1).replace(",", "")) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[match.group(2)])


def parse_print_uris(out: str) -> list[tuple[str, str, str]]:
    """(package, version, architecture) of each ``'URI' FILE SIZE HASH`` line of ``apt-get --print-uris``."""
    found = []
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].startswith("'") and words[1].endswith(".deb"):
            found.append(deb_name(Path(words[1])))
    return found


def unservable(apt_error: str) -> set[tuple[str, str]]:
    """(package, architecture) of each ``Failed to fetch .../NAME_VERSION_ARCH.deb  404  Not Found`` line."""
    return set(re.findall(r"/([^/_\s]+)_[^/_\s]+_([^/_\s.]+)\.deb\s+404", apt_error))


class PrivateApt:
    """apt-get on a private state in ``root`` for ``suite`` of ``mirror`` (component main) and ``arches``."""

    def __init__(self, root: Path, suite: str, mirror: str, arches: tuple[str, ...], native: str):
        self.root, self.suite, self.mirror = Path(root), suite, mirror.rstrip("/")
        self.arches, self.native = tuple(arches), native

    def options(self) -> list[str]:
        a = self.root
        values = {
            "Dir::Etc::sourcelist": a / "sources.list",
            "Dir::Etc::sourceparts": a / "sources.list.d",
            "Dir::Etc::preferences": a / "preferences",
            "Dir::Etc::preferencesparts": a / "preferences.d",
            "Dir::State::lists": a / "lists",
            "Dir::State::status": a / "status",
            "Dir::State::extended_states": a / "extended_states",
            "Dir::Cache": a / "cache",
            "APT::Architectures": ",".join(dict.fromkeys((self.native, *self.arches))),
            "APT::Architecture": self.native,
            "APT::Install-Recommends": "false",
            "APT::Sandbox::User": "root",
        }
        argv = []
        for key, value in values.items():
            argv += ["-o", f"{key}={value}"]
        return argv

    def write_state(self) -> None:
        a = self.root
        for sub in ("sources.list.d", "preferences.d", "lists/partial", "cache/archives/partial"):
            (a / sub).mkdir(parents=True, exist_ok=True)
        (a / "status").write_text("")
        arches = ",".join(dict.fromkeys((*self.arches, self.native)))
        (a / "sources.list").write_text(f"deb [arch={arches} signed-by={KEYRING}] {self.mirror} {self.suite} main\n")

    def apt(self, *args: str, cwd: Path | None = None) -> str:
        return command(["apt-get", "-q", *self.options(), *args], cwd=cwd,
                       advice=f"check network access to {self.mirror} (the private apt state is in {self.root}; "
                              "pass --mirror URI to use another Debian mirror)")

    def update(self) -> int:
        """Write the state and fetch the indexes; the bytes apt says it fetched."""
        self.write_state()
        return fetched_bytes(self.apt("update", "--error-on=any"))

    def index_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.root / "lists").glob("*") if p.is_file())

    def closure(self, packages: list[str]) -> list[tuple[str, str, str]]:
        """(package, version, architecture) of ``packages`` and all they depend on, as apt resolves them on an
        empty system (``apt-get install --download-only --print-uris``, which leaves out what its cache holds, so
        the cache is emptied first)."""
        for old in (self.root / "cache" / "archives").glob("*.deb"):
            old.unlink()
        out = self.apt("install", "--download-only", "--print-uris", "-y", "-qq", "--no-install-recommends",
                       *packages)
        return parse_print_uris(out)

    def download_closure(self, packages: list[str], dest: Path) -> tuple[list[Path], list[str]]:
        """Download ``packages`` and their dependencies into dest: (the .debs, "name:arch" of those the mirror
        does not have; a mirror that only caches may list a version it cannot serve)."""
        wanted = [f"{name}:{arch}={version}" for name, version, arch in self.closure(packages)]
        missing: list[str] = []
        while wanted:
            try:
                self.download(wanted, dest)
                break
            except AptError as exc:
                gone = unservable(str(exc))
                if not gone:
                    raise
                missing += sorted(f"{n}:{a}" for n, a in gone)
                wanted = [w for w in wanted if (w.split(":")[0], w.split(":")[1].split("=")[0]) not in gone]
        return sorted(dest.glob("*.deb")), missing

    def download(self, packages: list[str], dest: Path) -> list[Path]:
        """Just these packages (no dependencies), into dest."""
        dest.mkdir(parents=True, exist_ok=True)
        self.apt("download", *packages, cwd=dest)
        return sorted(dest.glob("*.deb"))


def command(argv: list[str], cwd: Path | None = None, advice: str = "") -> str:
    """Run argv; its stdout, or AptError with the end of its output and the advice."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise AptError(f"cannot run {argv[0]}: {exc}") from exc
    if proc.returncode != 0:
        shown = " ".join(a for a in argv if not a.startswith(("-o", "Dir::", "APT::")))
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
        raise AptError(f"`{shown}` failed (exit {proc.returncode}):\n{tail}" + (f"\n{advice}" if advice else ""))
    return proc.stdout


def unpack(deb: Path, root: Path) -> None:
    command(["dpkg", "-x", str(deb), str(root)])


def merge_usr(root: Path) -> list[str]:
    """Give a sysroot of a merged-/usr release (trixie, sid) its top-level links bin, sbin, lib, lib64 -> usr/...

    Those links come from base-files, which is not unpacked; without them /lib64/ld64.so.2 (the loader path
    written into every binary) does not exist in the sysroot. The links made."""
    made = []
    for name in ("bin", "sbin", "lib", "lib64"):
        top, usr = root / name, root / "usr" / name
        if usr.is_dir() and not top.exists() and not top.is_symlink():
            top.symlink_to(f"usr/{name}")
            made.append(name)
    return made


def relative_symlinks(root: Path) -> list[str]:
    """Turn every absolute symlink under ``root`` into a relative one inside ``root``; the links changed.

    The host kernel resolves symlinks, not qemu: an absolute target (Debian's lib64/ld64.so.2 ->
    /lib/powerpc64le-linux-gnu/ld64.so.2) would leave the sysroot, so it must point to
    ../lib/powerpc64le-linux-gnu/ld64.so.2 instead.
    """
    changed = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            link = Path(dirpath) / name
            if not link.is_symlink():
                continue
            target = os.readlink(link)
            if not target.startswith("/"):
                continue
            inside = root / target.lstrip("/")
            link.unlink()
            link.symlink_to(os.path.relpath(inside, link.parent))
            changed.append(str(link.relative_to(root)))
    return sorted(changed, key=lambda p: (p != "lib64/ld64.so.2", p))
