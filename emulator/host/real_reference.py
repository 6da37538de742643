"""``make reference``: build a real ppc64le kernel, crash it under QEMU's pseries fadump, keep what it showed.

Run as ``python -m emulator.host.real_reference [--kernel 6.12] [--case radix ...]``. For each kernel series
(``reference_kernel``) and each of its cases (``reference_cases``) it:

1. builds the kernel once (Debian's linux-source, allnoconfig + fragment; cached in CACHE/build by version and
   fragment hash, so a second run reuses it);
2. fetches sid's qemu-system-ppc and bookworm's busybox-static:ppc64el once (``reference_qemu``);
3. boots the partition with an initramfs whose /init follows the case's steps (``reference_guest``): crash,
   capture (the vmcore is written to a virtio disk), release, and so on;
4. runs Debian's ppc64el makedumpfile of bookworm, trixie and sid on each saved vmcore (``makedumpfile_verdict``);
5. writes the case's artifacts to OUT/linux-<series>/<case>/: case.json (the set-up), run.json (what happened,
   times), console.log and console-boot<N>.log, files.txt (the sysfs/debugfs texts at each step),
   vmcore-head.bin (the first 128 KiB of each vmcore: vmcore2-head.bin for a second crash) and
   makedumpfile.json; and per series kernel.config and recipe.json (versions).

CACHE defaults to .cache/reference in the project (or $FADUMP_EMU_REFERENCE_CACHE); it holds the kernel tree, the
build, QEMU's sysroot and the full vmcores, none of which is committed. Every step says what it does and how long
it took. Regenerating everything takes about 15 minutes on 2 cores (two kernel builds of 4-7 minutes, then about
30 s to 2 minutes per case plus makedumpfile under qemu-user).
"""

import argparse
import hashlib
import json
import mmap
import os
import re
import shutil
import sys
import time
from pathlib import Path

from emulator.host import host_debian
from emulator.host import makedumpfile_verdict
from emulator.host import ppc64el_tools
from emulator.host import reference_cases
from emulator.host import reference_console
from emulator.host import reference_guest
from emulator.host import reference_kernel
from emulator.host import reference_qemu

PROJECT = Path(__file__).resolve().parents[2]
CACHE_ENV = "FADUMP_EMU_REFERENCE_CACHE"
DEFAULT_CACHE = PROJECT / ".cache" / "reference"
DEFAULT_OUT = PROJECT / "tests" / "reference"
HEAD_BYTES = 128 * 1024
MACHINE = ["-M", "pseries,x-vof=on", "-cpu", "power9", "-nographic", "-vga", "none"]
"""The partition: pseries with VOF (quicker than SLOF), POWER9, console on stdio, no VGA (sid's QEMU has no VGA
BIOS in the packages fetched)."""


class ReferenceError(Exception):
    """A reference step failed; the message says which and why."""


def timed(echo, what: str):
    """A context manager printing ``what`` and, at the end, how long it took."""
    class _Timer:
        def __enter__(self):
            self.started = time.monotonic()
            echo(f"reference: {what} ...")
            return self

        def __exit__(self, *exc):
            self.seconds = round(time.monotonic() - self.started, 1)
            echo(f"reference: {what}: {'failed after' if exc[0] else 'done in'} {self.seconds} s")
            return False
    return _Timer()


def memory_bytes(text: str) -> int:
    match = re.fullmatch(r"(\d+)([MG])", text)
    if not match:
        raise ReferenceError(f"memory {text!r}: write it as QEMU does, e.g. 2G or 512M")
    return int(match.group(1)) << (30 if match.group(2) == "G" else 20)


def captures(case: dict) -> int:
    return sum(1 for steps in case["boots"][1:] if "save" in steps)


def qemu_args(case: dict, kernel: str, initrd: str, disks: list[str]) -> list[str]:
    """QEMU's arguments after the binary and -L, with the given kernel/initrd/disk paths."""
    memory = case["memory"] + (f",slots=2,maxmem={case['maxmem']}" if case.get("maxmem") else "")
    args = MACHINE + ["-smp", str(case["smp"]), "-m", memory, "-kernel", kernel, "-initrd", initrd,
                      "-append", case["cmdline"]]
    for i, disk in enumerate(disks):
        zeroes = ",discard=unmap,detect-zeroes=unmap" if i else ""
        args += ["-drive", f"file={disk},format=raw,if=none,id=disk{i}{zeroes}",
                 "-device", f"virtio-blk-pci,drive=disk{i}"]
    return args + list(case["qemu_extra"])


def run_case(series: str, case: dict, vmlinux: Path, qemu: reference_qemu.QemuSysroot, busybox: Path, cache: Path,
             out: Path, verdicts: bool, echo=print) -> dict:
    """Boot the case's partition, then write its artifacts into out; run.json's content."""
    work = cache / "runs" / f"linux-{series}" / case["name"]
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    reference_guest.write_initramfs(work / "initramfs.cpio", busybox, case["boots"])
    (work / "state.img").write_bytes(b"0".ljust(1 << 20, b"\0"))
    disks = [str(work / "state.img")]
    for n in range(captures(case)):
        image = work / f"vmcore{n + 1}.img"
        with open(image, "wb") as f:
            f.truncate(memory_bytes(case["memory"]) + (256 << 20))
        disks.append(str(image))
    argv = qemu.argv() + qemu_args(case, str(vmlinux), str(work / "initramfs.cpio"), disks)
    monitor = None
    if case.get("monitor"):
        sock = work / "monitor.sock"
        argv += ["-monitor", f"unix:{sock},server=on,wait=off"]
        monitor = monitor_sender(work / "console.log", sock, case["monitor"], echo)
    timeout = 240 + 90 * memory_bytes(case["memory"]) / (1 << 30) * max(1, captures(case))
    with timed(echo, f"linux-{series}/{case['name']}: QEMU ({case['memory']}, {case['smp']} CPUs, "
                     f"`{case['cmdline']}`)") as t:
        result = reference_qemu.run(argv, work / "console.log", timeout, monitor)
    result["seconds"] = t.seconds
    console = reference_console.clean((work / "console.log").read_text(errors="replace"))
    if result["timed_out"]:
        echo(f"reference: QEMU did not power off within {timeout:.0f} s; the console so far is in "
             f"{work / 'console.log'}")
    saved = [line.split() for line in reference_console.events(console) if line.startswith("@@@ VMCORE")]

    dest = out / f"linux-{series}" / case["name"]
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    setup = {k: case[k] for k in ("name", "description", "memory", "smp", "cmdline", "mmu", "boots", "qemu_extra",
                                  "maxmem", "monitor")}
    setup["offline_cpus"] = [int(s.split(":")[1]) for steps in case["boots"] for s in steps
                             if s.startswith("offline:")]
    setup["kernel"] = f"linux-{series}"
    disk_names = ["state.img"] + [f"vmcore{n + 1}.img" for n in range(captures(case))]
    setup["qemu_args"] = qemu_args(case, "vmlinux", "initramfs.cpio", disk_names)
    if monitor:
        setup["qemu_args"] += ["-monitor", "unix:monitor.sock,server=on,wait=off"]
    write_json(dest / "case.json", setup)
    (dest / "console.log").write_text(console)
    boots = write_derived(dest)

    run = {"qemu": result, "boots": len(boots), "events": reference_console.events(console), "vmcores": []}
    verdict_all = {}
    for i, (_, _, disk, size) in enumerate(saved):
        image = Path(disks[i + 1])
        size = int(size)
        with open(image, "r+b") as f:
            f.truncate(size)
        head = image.read_bytes()[:HEAD_BYTES] if size <= HEAD_BYTES else read_head(image)
        name = "vmcore-head.bin" if i == 0 else f"vmcore{i + 1}-head.bin"
        (dest / name).write_bytes(head)
        info = {"disk": disk, "size": size, "head": name, "marker_hits": marker_hits(image),
                "sha256_head": hashlib.sha256(head).hexdigest()}
        run["vmcores"].append(info)
        if verdicts:
            with timed(echo, f"linux-{series}/{case['name']}: makedumpfile on vmcore {i + 1} ({size >> 20} MiB)"):
                verdict_all[f"vmcore{i + 1}"] = makedumpfile_verdict.verdicts(image, echo=echo)
    if verdicts:
        write_json(dest / "makedumpfile.json", verdict_all)
    write_json(dest / "run.json", run)
    echo(f"reference: linux-{series}/{case['name']}: {len(boots)} boots, {len(saved)} vmcore(s) saved; "
         f"artifacts in {dest}")
    return run


def monitor_sender(console: Path, sock: Path, commands: list[str], echo):
    """A monitor script for reference_qemu.run: once the console shows ``@@@ WAIT-MEMORY``, send the commands to
    QEMU's human monitor on ``sock`` and record its answers in the console file's sibling monitor.log."""
    import socket

    def send(proc, started):
        deadline = started + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if console.is_file() and b"@@@ WAIT-MEMORY" in console.read_bytes():
                break
            time.sleep(0.5)
        else:
            return
        answers = []
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(sock))
            s.settimeout(3)
            for command in commands:
                s.sendall(command.encode() + b"\n")
                time.sleep(1.5)
                try:
                    answers.append(s.recv(65536).decode(errors="replace"))
                except OSError:
                    answers.append("")
        (console.parent / "monitor.log").write_text("".join(answers))
        echo(f"reference: sent {len(commands)} monitor command(s): {'; '.join(commands)}")
    return send


def write_derived(dest: Path) -> list[str]:
    """console-boot<N>.log and files.txt from a case folder's console.log; the boots."""
    console = (dest / "console.log").read_text(errors="replace")
    for old in dest.glob("console-boot*.log"):
        old.unlink()
    boots = reference_console.split_boots(console)
    for n, text in enumerate(boots):
        (dest / f"console-boot{n}.log").write_text(text)
    (dest / "files.txt").write_text(reference_console.files_txt(reference_console.file_sections(console)))
    return boots


def read_head(image: Path) -> bytes:
    with open(image, "rb") as f:
        return f.read(HEAD_BYTES)


def marker_hits(image: Path) -> int:
    """How many times /init's memory marker is in the vmcore (it proves the dump holds the first kernel's memory)."""
    needle = reference_guest.MARKER.encode()
    with open(image, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        count, at = 0, m.find(needle)
        while at >= 0 and count < 1000:
            count += 1
            at = m.find(needle, at + 1)
    return count


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=False) + "\n")


def reference(series_list, case_names, cache: Path, out: Path, mirror: str, verdicts: bool, echo=print) -> None:
    started = time.monotonic()
    qemu = reference_qemu.QemuSysroot(cache, mirror, echo=echo)
    with timed(echo, "QEMU (sid's qemu-system-ppc, private apt state)"):
        qemu_info = qemu.ensure()
    with timed(echo, "busybox-static:ppc64el (bookworm)"):
        busybox, busybox_version = reference_qemu.busybox(cache, mirror, echo=echo)
    if verdicts:
        for release in makedumpfile_verdict.RELEASES:
            with timed(echo, f"makedumpfile of {release} (ppc64el_tools --release {release})"):
                ppc64el_tools.build(release=release, echo=echo)
    for series in series_list:
        cases = reference_cases.find(series, case_names)
        kernel = reference_kernel.KernelBuild(series, cache, apt_for_suite=lambda suite: sid_apt(cache, suite,
                                                                                              mirror), echo=echo)
        with timed(echo, f"kernel linux-{series} (download, configure, build; cached)"):
            built = kernel.vmlinux()
        series_dir = out / f"linux-{series}"
        series_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built["config"], series_dir / "kernel.config")
        recipe = {"kernel_source": {"package": kernel.package, "version": built["version"]},
                  "fragment_sha256": hashlib.sha256(kernel.fragment.encode()).hexdigest(),
                  "fragment": kernel.fragment.splitlines(),
                  "gcc": built["gcc"], "build_seconds": built["seconds"], "build_cached": built["cached"],
                  "qemu": {"suite": qemu_info["suite"], "version": qemu_info["version"],
                           "package": qemu_info["packages"].get("qemu-system-ppc:amd64")},
                  "busybox": {"package": "busybox-static:ppc64el", "release": "bookworm",
                              "version": busybox_version},
                  "makedumpfile": {r: makedumpfile_verdict.tool_version(r) for r in makedumpfile_verdict.RELEASES},
                  "machine": MACHINE}
        write_json(series_dir / "recipe.json", recipe)
        for case in cases:
            run_case(series, case, built["vmlinux"], qemu, busybox, cache, out, verdicts, echo)
    echo(f"reference: all done in {time.monotonic() - started:.0f} s")


def sid_apt(cache: Path, suite: str, mirror: str):
    from emulator.host.private_apt import PrivateApt
    apt = PrivateApt(cache / f"apt-{suite}-source", suite, mirror, (), "amd64")
    apt.update()
    return apt


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator.host.real_reference",
                                     description="Build a real ppc64le kernel, crash it under QEMU's pseries fadump "
                                                 "and write the reference artifacts (make reference).")
    parser.add_argument("--kernel", action="append", choices=sorted(reference_kernel.KERNELS),
                        help="kernel series (repeatable; default 6.12 and 6.1)")
    parser.add_argument("--case", action="append", help="only these cases (repeatable; default all)")
    parser.add_argument("--cache", default=os.environ.get(CACHE_ENV) or str(DEFAULT_CACHE),
                        help=f"downloads, builds and full vmcores (default {DEFAULT_CACHE} or ${CACHE_ENV})")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"artifacts (default {DEFAULT_OUT})")
    parser.add_argument("--mirror", default=None, help="Debian archive URI (default: the system's)")
    parser.add_argument("--no-verdicts", action="store_true", help="skip the makedumpfile runs")
    parser.add_argument("--reparse", action="store_true",
                        help="only rewrite console-boot<N>.log and files.txt of the cases in OUT from their "
                             "console.log (after a change to reference_console)")
    opts = parser.parse_args(argv)
    if opts.reparse:
        for case_json in sorted(Path(opts.out).glob("linux-*/*/case.json")):
            boots = write_derived(case_json.parent)
            print(f"reference: {case_json.parent}: {len(boots)} boots")
        return 0
    try:
        mirror = opts.mirror or host_debian.system_mirror(host_debian.host_release() or "bookworm")
        reference(opts.kernel or ["6.12", "6.1"], opts.case, Path(opts.cache).resolve(), Path(opts.out).resolve(),
                  mirror, not opts.no_verdicts)
    except (ReferenceError, reference_kernel.KernelError, reference_qemu.QemuError, reference_guest.GuestError,
            ppc64el_tools.BuildError, host_debian.NoSource, KeyError) as exc:
        print(f"reference: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
