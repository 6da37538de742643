"""The real ppc64le kernel of the reference runs: Debian's linux-source-X, allnoconfig plus a fadump fragment.

Steps, each cached under CACHE (see ``real_reference``):

- ``source``: ``apt-get download linux-source-X`` (the system's apt for bookworm's 6.1 and 6.12; a private apt state
  for another suite), ``dpkg -x`` and untar ``usr/src/linux-source-X.tar.xz`` into CACHE/src/linux-source-X;
- ``configure``: ``make ARCH=powerpc allnoconfig KCONFIG_ALLCONFIG=fragment`` into an output folder keyed on the
  source package version and the fragment's hash, then a check that every option of the fragment survived;
- ``build``: ``make -j2 vmlinux`` (about 7 minutes on 2 cores for 6.12, 4 for 6.1); skipped when the output folder
  already holds a vmlinux newer than its .config.

Nothing here is kernel code: the fragment lists Kconfig options by name, and the build is Debian's source tree.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

CROSS = "powerpc64le-linux-gnu-"
BUILD_PACKAGES = ("gcc-powerpc64le-linux-gnu", "bc", "bison", "flex", "libssl-dev", "libelf-dev", "cpio", "kmod",
                  "xz-utils", "make", "libc6-dev")
"""Debian packages the cross build needs (installed with apt-get when the cross compiler is missing)."""

COMMON_FRAGMENT = """\
CONFIG_PPC64=y
CONFIG_CPU_LITTLE_ENDIAN=y
CONFIG_PPC_BOOK3S_64=y
CONFIG_PPC_PSERIES=y
CONFIG_PPC_SPLPAR=y
CONFIG_PPC_OF_BOOT_TRAMPOLINE=y
CONFIG_PPC_64K_PAGES=y
CONFIG_PPC_RADIX_MMU=y
CONFIG_PPC_RADIX_MMU_DEFAULT=y
CONFIG_SMP=y
CONFIG_NR_CPUS=8
CONFIG_HOTPLUG_CPU=y
CONFIG_KEXEC=y
CONFIG_FA_DUMP=y
# CONFIG_PRESERVE_FA_DUMP is not set
CONFIG_CRASH_DUMP=y
CONFIG_PROC_VMCORE=y
CONFIG_MAGIC_SYSRQ=y
CONFIG_DEBUG_FS=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_TTY=y
CONFIG_HVC_CONSOLE=y
CONFIG_PCI=y
CONFIG_VIRTIO_MENU=y
CONFIG_VIRTIO_PCI=y
CONFIG_BLOCK=y
CONFIG_BLK_DEV=y
CONFIG_VIRTIO_BLK=y
CONFIG_SPARSEMEM_VMEMMAP=y
CONFIG_CMA=y
CONFIG_ALTIVEC=y
CONFIG_VSX=y
CONFIG_PROC_FS=y
CONFIG_SYSFS=y
CONFIG_DEVTMPFS=y
CONFIG_DEVTMPFS_MOUNT=y
CONFIG_PRINTK=y
CONFIG_PRINTK_TIME=y
CONFIG_KALLSYMS=y
CONFIG_BINFMT_ELF=y
CONFIG_BINFMT_SCRIPT=y
# CONFIG_MODULES is not set
# CONFIG_NET is not set
"""
"""The options every reference kernel has (issue 11): pSeries, ppc64le, fadump without PRESERVE_FA_DUMP, 64K pages,
SPARSEMEM_VMEMMAP as distribution kernels have it (allnoconfig alone gives plain SPARSEMEM, which makedumpfile reads
differently),
radix by default (``disable_radix`` on the command line gives hash), NR_CPUS=8, an hvc console, virtio-blk for the
saved vmcore, CMA, AltiVec/VSX for busybox, no modules and no networking."""

KERNELS = {
    "6.12": {"package": "linux-source-6.12", "suite": None, "fragment": COMMON_FRAGMENT + "CONFIG_POWERPC64_CPU=y\n"},
    "6.1": {"package": "linux-source-6.1", "suite": None,
            "fragment": COMMON_FRAGMENT + "CONFIG_POWERPC64_CPU=y\nCONFIG_MEMORY_HOTPLUG=y\n"},
    "7.2": {"package": "linux-source-7.2", "suite": "sid", "fragment": COMMON_FRAGMENT + "CONFIG_POWERPC64_CPU=y\n"},
}
"""Per kernel series: Debian source package, the suite it comes from (None: this machine's apt sources), and the
fragment (CRASH_DUMP depends on KEXEC_CORE, hence KEXEC; the 6.1 reference also has memory hotplug for the DIMM
case)."""


class KernelError(Exception):
    """The kernel could not be fetched, configured or built; the message says what to do."""


def fragment_options(fragment: str) -> dict[str, str]:
    """{"CONFIG_X": "y" | "8" | "n"} from a fragment ("# CONFIG_X is not set" is "n")."""
    options = {}
    for line in fragment.splitlines():
        unset = re.match(r"# (CONFIG_\w+) is not set", line)
        if unset:
            options[unset.group(1)] = "n"
        elif "=" in line and line.startswith("CONFIG_"):
            key, value = line.split("=", 1)
            options[key] = value
    return options


def missing_options(config_text: str, fragment: str) -> list[str]:
    """The fragment's options the resulting .config does not have as asked (Kconfig drops what it cannot satisfy)."""
    have = fragment_options(config_text)
    wrong = []
    for key, want in fragment_options(fragment).items():
        got = have.get(key, "n")
        if got != want:
            wrong.append(f"{key}={want} (got {got})")
    return wrong


def run_logged(argv, log: Path, cwd=None, env=None) -> None:
    """Run argv with its output appended to log; KernelError with the log's tail when it fails."""
    with open(log, "a") as out:
        out.write(f"$ {' '.join(map(str, argv))}\n")
        out.flush()
        proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              check=False)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise KernelError(f"`{' '.join(map(str, argv))}` failed (exit {proc.returncode}); log {log}:\n{tail}")


def ensure_build_tools(echo=print) -> None:
    """apt-get install the cross compiler and build dependencies when the compiler is missing (needs root)."""
    if shutil.which(CROSS + "gcc"):
        return
    if os.geteuid() != 0:
        raise KernelError(f"{CROSS}gcc is missing; run `sudo apt-get install {' '.join(BUILD_PACKAGES)}`")
    echo(f"reference: apt-get install {' '.join(BUILD_PACKAGES)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *BUILD_PACKAGES], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise KernelError(f"apt-get install failed:\n{proc.stderr.strip()[-2000:]}")


def gcc_version() -> str:
    proc = subprocess.run([CROSS + "gcc", "--version"], capture_output=True, text=True, check=False)
    return (proc.stdout.splitlines() or ["?"])[0]


class KernelBuild:
    """One kernel series' source, configuration and vmlinux under CACHE."""

    def __init__(self, series: str, cache: Path, apt_for_suite=None, echo=print):
        if series not in KERNELS:
            raise KernelError(f"unknown kernel series {series!r}; known: {', '.join(KERNELS)}")
        self.series, self.cache, self.echo = series, cache, echo
        self.spec = KERNELS[series]
        self.apt_for_suite = apt_for_suite
        self.package = self.spec["package"]
        self.src_root = cache / "src"
        self.fragment = self.spec["fragment"]

    # --- source ---
    def source(self) -> tuple[Path, str]:
        """(source tree, Debian package version), downloading and unpacking on first use."""
        stamp = self.src_root / f"{self.package}.json"
        tree = self.src_root / self.package
        if stamp.is_file() and (tree / "Makefile").is_file():
            return tree, json.loads(stamp.read_text())["version"]
        self.src_root.mkdir(parents=True, exist_ok=True)
        debs = self.src_root / "debs"
        shutil.rmtree(debs, ignore_errors=True)
        debs.mkdir()
        started = time.monotonic()
        if self.spec["suite"]:
            self.apt_for_suite(self.spec["suite"]).apt("download", self.package, cwd=debs)
        else:
            proc = subprocess.run(["apt-get", "download", self.package], cwd=debs, capture_output=True, text=True,
                                  check=False)
            if proc.returncode != 0:
                raise KernelError(f"apt-get download {self.package} failed:\n{proc.stderr.strip()}")
        deb = next(debs.glob(f"{self.package}_*.deb"))
        version = deb.stem.split("_")[1].replace("%3a", ":")
        self.echo(f"reference: downloaded {deb.name} ({deb.stat().st_size / 1e6:.0f} MB) in "
                  f"{time.monotonic() - started:.0f} s; unpacking")
        unpack = self.src_root / "unpack"
        shutil.rmtree(unpack, ignore_errors=True)
        subprocess.run(["dpkg", "-x", str(deb), str(unpack)], check=True)
        tarball = next((unpack / "usr" / "src").glob(f"{self.package}.tar.*"))
        shutil.rmtree(tree, ignore_errors=True)
        subprocess.run(["tar", "-xf", str(tarball), "-C", str(self.src_root)], check=True)
        shutil.rmtree(unpack)
        shutil.rmtree(debs)
        if not (tree / "Makefile").is_file():
            raise KernelError(f"{tarball.name} did not unpack into {tree}")
        stamp.write_text(json.dumps({"package": self.package, "version": version}) + "\n")
        self.echo(f"reference: {self.package} {version} unpacked in {time.monotonic() - started:.0f} s")
        return tree, version

    # --- configuration and build ---
    def key(self, version: str) -> str:
        return hashlib.sha256(f"{self.package} {version}\n{self.fragment}".encode()).hexdigest()[:12]

    def out_dir(self, version: str) -> Path:
        return self.cache / "build" / f"{self.package}-{version}-{self.key(version)}"

    def make(self, tree: Path, out: Path, *targets: str, log: Path) -> None:
        env = dict(os.environ, ARCH="powerpc", CROSS_COMPILE=CROSS, LC_ALL="C")
        run_logged(["make", "-C", tree, f"O={out}", "ARCH=powerpc", f"CROSS_COMPILE={CROSS}", *targets], log,
                   env=env)

    def seed(self, out: Path, version: str) -> None:
        """Start from the newest other build of the same source version (a fragment change): moved, not copied;
        kbuild then recompiles only what the changed options touch."""
        if out.exists():
            return
        others = sorted((d for d in (self.cache / "build").glob(f"{self.package}-{version}-*")
                         if d != out and (d / ".config").is_file()), key=lambda d: d.stat().st_mtime)
        if others:
            self.echo(f"reference: starting from the earlier build {others[-1].name} (the fragment changed)")
            others[-1].rename(out)

    def vmlinux(self) -> dict:
        """Build (or reuse) vmlinux; {"vmlinux", "config", "version", "gcc", "seconds", "cached"}."""
        ensure_build_tools(self.echo)
        tree, version = self.source()
        out = self.out_dir(version)
        vmlinux, config = out / "vmlinux", out / ".config"
        if vmlinux.is_file() and config.is_file() and vmlinux.stat().st_mtime >= config.stat().st_mtime:
            self.echo(f"reference: reusing {vmlinux} (built before for {self.package} {version})")
            return {"vmlinux": vmlinux, "config": config, "version": version, "gcc": gcc_version(),
                    "seconds": 0.0, "cached": True}
        self.seed(out, version)
        out.mkdir(parents=True, exist_ok=True)
        log = out / "build.log"
        log.write_text("")
        fragment = out / "fragment.config"
        fragment.write_text(self.fragment)
        started = time.monotonic()
        self.echo(f"reference: configuring {self.package} {version} (allnoconfig + fragment) in {out}")
        env_fragment = f"KCONFIG_ALLCONFIG={fragment}"
        self.make(tree, out, env_fragment, "allnoconfig", log=log)
        wrong = missing_options(config.read_text(), self.fragment)
        if wrong:
            raise KernelError(f"the configuration lost options of the fragment: {', '.join(wrong)} "
                              f"(see {config}; Kconfig drops options whose dependencies are not met)")
        jobs = os.environ.get("REFERENCE_JOBS", str(min(2, os.cpu_count() or 1)))
        self.echo(f"reference: make -j{jobs} vmlinux (several minutes; log {log})")
        self.make(tree, out, f"-j{jobs}", "vmlinux", log=log)
        seconds = round(time.monotonic() - started, 1)
        self.echo(f"reference: built {vmlinux} in {seconds:.0f} s")
        return {"vmlinux": vmlinux, "config": config, "version": version, "gcc": gcc_version(),
                "seconds": seconds, "cached": False}
