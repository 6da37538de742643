"""QEMU for the reference runs: Debian sid's amd64 qemu-system-ppc (QEMU >= 10.2 emulates pseries fadump), and
bookworm's busybox-static:ppc64el for the guest, both fetched with a private apt state (``private_apt``).

QEMU 7.2 of Debian 12 has no ``ibm,configure-kernel-dump``; sid's QEMU (11.x) has. sid's binaries need sid's glibc,
newer than the host's, so they run through the sysroot's own loader::

    SYSROOT/lib64/ld-linux-x86-64.so.2 --library-path <the sysroot's library folders> \\
        SYSROOT/usr/bin/qemu-system-ppc64 -L SYSROOT/usr/share/qemu ...

``-L`` finds the firmware (vof.bin, slof.bin) in the sysroot. The partition is ``-M pseries,x-vof=on -cpu power9``,
the kernel is passed with ``-kernel`` and the initramfs with ``-initrd``; there is no ``-no-reboot``, because QEMU
itself resets the partition into the capture kernel after preserving memory.
"""

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

from emulator.host import private_apt

QEMU_PACKAGES = ("qemu-system-ppc", "qemu-system-data")
BUSYBOX_PACKAGE = "busybox-static"
MIN_QEMU = (10, 2)
"""The first QEMU with pseries fadump (peers-and-papr.md §2.1)."""
STAMP = "BUILT.json"


class QemuError(Exception):
    """QEMU could not be fetched or run; the message says why."""


def library_dirs(root: Path) -> list[Path]:
    """Every folder of the sysroot holding shared libraries (the loader's --library-path)."""
    dirs = {p.parent for p in root.glob("**/*.so*") if p.is_file() or p.is_symlink()}
    preferred = [root / "usr/lib/x86_64-linux-gnu", root / "lib/x86_64-linux-gnu"]
    rest = sorted(d for d in dirs if d not in preferred)
    return [d for d in preferred if d.is_dir()] + rest


class QemuSysroot:
    """sid's qemu-system-ppc and its libraries unpacked into CACHE/qemu-<suite>/sysroot."""

    def __init__(self, cache: Path, mirror: str, suite: str = "sid", echo=print):
        self.dir = cache / f"qemu-{suite}"
        self.root = self.dir / "sysroot"
        self.apt = private_apt.PrivateApt(self.dir / "apt", suite, mirror, ("amd64",), "amd64")
        self.suite, self.echo = suite, echo

    def info(self) -> dict | None:
        stamp = self.dir / STAMP
        return json.loads(stamp.read_text()) if stamp.is_file() else None

    def ensure(self) -> dict:
        info = self.info()
        if info:
            self.echo(f"reference: reusing QEMU {info['version']} in {self.root}")
            return info
        started = time.monotonic()
        self.echo(f"reference: fetching {self.suite}'s {' '.join(QEMU_PACKAGES)} and dependencies "
                  f"(private apt state in {self.apt.root})")
        index = self.apt.update()
        shutil.rmtree(self.dir / "debs", ignore_errors=True)
        debs, missing = self.apt.download_closure(list(QEMU_PACKAGES), self.dir / "debs")
        if missing:
            raise QemuError(f"the mirror lists but cannot serve {' '.join(missing)} of {self.suite}")
        size = sum(d.stat().st_size for d in debs)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        packages = {}
        for deb in debs:
            name, version, arch = private_apt.deb_name(deb)
            packages[f"{name}:{arch}"] = version
            private_apt.unpack(deb, self.root)
        private_apt.merge_usr(self.root)
        private_apt.relative_symlinks(self.root)
        for deb in debs:
            deb.unlink()
        version = self.version()
        info = {"suite": self.suite, "version": version, "packages": packages, "download_bytes": size,
                "index_download_bytes": index, "seconds": round(time.monotonic() - started, 1)}
        if tuple(int(x) for x in version.split(".")[:2]) < MIN_QEMU:
            raise QemuError(f"QEMU {version} from {self.suite} has no pseries fadump (needs >= 10.2)")
        (self.dir / STAMP).write_text(json.dumps(info, indent=2) + "\n")
        self.echo(f"reference: QEMU {version}: {len(debs)} packages, {size / 1e6:.0f} MB, in {info['seconds']} s")
        return info

    def argv(self) -> list[str]:
        loader = self.root / "lib64" / "ld-linux-x86-64.so.2"
        if not loader.exists():
            loader = self.root / "usr/lib64/ld-linux-x86-64.so.2"
        path = ":".join(str(d) for d in library_dirs(self.root))
        return [str(loader), "--library-path", path, str(self.root / "usr/bin/qemu-system-ppc64"),
                "-L", str(self.root / "usr/share/qemu")]

    def version(self) -> str:
        proc = subprocess.run(self.argv() + ["--version"], capture_output=True, text=True, check=False)
        first = (proc.stdout.splitlines() or [""])[0]
        if proc.returncode != 0 or "version" not in first:
            raise QemuError(f"qemu-system-ppc64 --version through the sysroot loader failed (exit "
                            f"{proc.returncode}): {proc.stderr.strip()[-800:]}")
        return first.split("version", 1)[1].split()[0]


def busybox(cache: Path, mirror: str, release: str = "bookworm", echo=print) -> tuple[Path, str]:
    """(path of busybox-static:ppc64el's /bin/busybox, its version), fetched once into CACHE/busybox-<release>."""
    d = cache / f"busybox-{release}"
    stamp = d / STAMP
    binary = d / "root" / "bin" / "busybox"
    if stamp.is_file() and binary.is_file():
        return binary, json.loads(stamp.read_text())["version"]
    apt = private_apt.PrivateApt(d / "apt", release, mirror, ("ppc64el",), "amd64")
    apt.update()
    debs = apt.download([f"{BUSYBOX_PACKAGE}:ppc64el"], d / "debs")
    shutil.rmtree(d / "root", ignore_errors=True)
    private_apt.unpack(debs[0], d / "root")
    version = private_apt.deb_name(debs[0])[1]
    shutil.rmtree(d / "debs")
    if not binary.is_file():
        raise QemuError(f"{debs[0].name} has no bin/busybox")
    stamp.write_text(json.dumps({"release": release, "version": version}) + "\n")
    echo(f"reference: busybox-static:ppc64el {version} from {release}")
    return binary, version


def run(argv: list[str], console: Path, timeout: float, monitor_script=None) -> dict:
    """Run QEMU with stdout/stderr into ``console``; {"exit", "seconds", "timed_out"}.

    ``monitor_script(proc, started)`` runs while QEMU runs (for monitor commands), when given."""
    started = time.monotonic()
    with open(console, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        timed_out = False
        try:
            if monitor_script:
                monitor_script(proc, started)
            proc.wait(timeout=max(1.0, timeout - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {"exit": proc.returncode, "seconds": round(time.monotonic() - started, 1), "timed_out": timed_out}
