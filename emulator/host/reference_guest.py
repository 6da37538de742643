"""The guest of a reference run: a cpio initramfs with a static busybox and an /init that follows the case's steps.

Every boot of the partition runs the same /init. It counts boots on a small "state" disk (/dev/vda, one decimal
number in its first bytes, written 0 by the host), so boot 0 is the first kernel, boot 1 the first capture kernel,
boot 2 the capture kernel of a second crash, and so on; boot N runs the case's ``boots[N]`` steps:

- ``files``: print every fadump sysfs and debugfs file (see FILES), each between ``@@@ BEGIN <label> <path>`` and
  ``@@@ END`` lines, plus the mode and link target of /sys/kernel/fadump, its files and the compatibility links;
- ``marker``: keep MARKER (with the boot number) in a ramfs file, so it is somewhere in the dumped memory;
- ``offline:N``: ``echo 0 > /sys/devices/system/cpu/cpuN/online``;
- ``save``: ``dd`` /proc/vmcore onto the next vmcore disk (/dev/vdb for the first capture, /dev/vdc for the second),
  printing ``@@@ VMCORE <disk> <bytes>``;
- ``release``: write 1 to release_mem (``/sys/kernel/fadump/release_mem`` or the older
  ``/sys/kernel/fadump_release_mem``), when it exists;
- ``register``: write 1 to ``registered`` (either place), to arm fadump again after a release;
- ``reregister``: write 0 then 1 to ``registered`` (what the udev rule of fadump's documentation does after memory
  hotplug, to rebuild the registration for the new memory);
- ``wait-memory``: print ``@@@ WAIT-MEMORY`` (the host then hot-adds a DIMM through QEMU's monitor) and wait up to
  60 s for more memory blocks in /sys/devices/system/memory, printing ``@@@ MEMORY <before> <after>``;
- ``crash``: ``echo c > /proc/sysrq-trigger``;
- ``poweroff``: ``poweroff -f`` (also done when the steps run out).

The console text between the markers is what ``real_reference`` turns into files.txt.
"""

import io
import os
import stat
from pathlib import Path

MARKER = "FADUMP-EMU-REFERENCE-MARKER"

FILES = (
    "/sys/kernel/fadump/enabled",
    "/sys/kernel/fadump/registered",
    "/sys/kernel/fadump/mem_reserved",
    "/sys/kernel/fadump/hotplug_ready",
    "/sys/kernel/fadump/bootargs_append",
    "/sys/kernel/fadump_enabled",
    "/sys/kernel/fadump_registered",
    "/sys/kernel/debug/fadump_region",
    "/sys/kernel/debug/powerpc/fadump_region",
)
"""The readable fadump files of 6.1 to 7.x; each is printed when it exists (6.1 lacks hotplug_ready and
bootargs_append; debugfs moved to powerpc/ later). release_mem is write-only and only listed."""

STEPS = ("files", "marker", "save", "release", "register", "reregister", "wait-memory", "crash", "poweroff")


class GuestError(Exception):
    """A case asks for a step the guest does not know."""


def check_steps(boots: list[list[str]]) -> None:
    for n, steps in enumerate(boots):
        for step in steps:
            name = step.split(":", 1)[0]
            if name not in STEPS and name != "offline":
                raise GuestError(f"boot {n}: unknown step {step!r}; known: {', '.join(STEPS)}, offline:N")
            if name == "offline" and not step.partition(":")[2].isdigit():
                raise GuestError(f"boot {n}: {step!r} needs a CPU number, e.g. offline:3")


INIT_HEAD = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
BOOT=$(dd if=/dev/vda bs=16 count=1 2>/dev/null | tr -dc 0-9)
[ -n "$BOOT" ] || BOOT=0
printf '%-16s' $((BOOT + 1)) | dd of=/dev/vda bs=16 count=1 conv=notrunc 2>/dev/null
sync
echo "@@@ BOOT $BOOT"
files() {
  echo "@@@ LIST $1"
  stat -c '%A %N' /sys/kernel/fadump /sys/kernel/fadump/* /sys/kernel/fadump_* 2>/dev/null
  echo "@@@ END"
  for f in FILES_LIST; do
    if [ -e "$f" ]; then
      echo "@@@ BEGIN $1 $f"
      cat "$f" 2>&1
      echo "@@@ END"
    fi
  done
}
write1() {
  for f in "$@"; do
    if [ -e "$f" ]; then
      echo "@@@ WRITE 1 > $f"
      echo 1 > "$f"
      echo "@@@ WRITE-STATUS $?"
      return
    fi
  done
  echo "@@@ NO-FILE $*"
}
"""

STEP_SHELL = {
    "files": 'files "boot$BOOT-step$STEP"',
    "marker": f'echo "{MARKER}-boot$BOOT" > /tmp/marker; sync',
    "save": ('DISK=/dev/vd$(echo bcdefgh | cut -c$((BOOT))); '
             'SIZE=$(stat -c %s /proc/vmcore); '
             'dd if=/proc/vmcore of=$DISK bs=1M 2>/dev/null; sync; echo "@@@ VMCORE $DISK $SIZE"'),
    "release": "write1 /sys/kernel/fadump/release_mem /sys/kernel/fadump_release_mem",
    "register": "write1 /sys/kernel/fadump/registered /sys/kernel/fadump_registered",
    "reregister": ('for f in /sys/kernel/fadump/registered /sys/kernel/fadump_registered; do if [ -e $f ]; then '
                   'echo "@@@ WRITE 0,1 > $f"; echo 0 > $f; echo 1 > $f; echo "@@@ WRITE-STATUS $?"; break; fi; done'),
    "wait-memory": ('N0=$(ls -d /sys/devices/system/memory/memory* 2>/dev/null | wc -l); echo "@@@ WAIT-MEMORY"; '
                    'I=0; while [ $I -lt 60 ]; do N1=$(ls -d /sys/devices/system/memory/memory* 2>/dev/null | wc -l); '
                    '[ "$N1" -gt "$N0" ] && sleep 2 && break; sleep 1; I=$((I + 1)); done; '
                    'N1=$(ls -d /sys/devices/system/memory/memory* 2>/dev/null | wc -l); echo "@@@ MEMORY $N0 $N1"'),
    "crash": 'echo "@@@ CRASH"; echo c > /proc/sysrq-trigger',
    "poweroff": 'echo "@@@ POWEROFF"; sync; poweroff -f',
}


def init_script(boots: list[list[str]]) -> str:
    """The /init text for these per-boot steps."""
    check_steps(boots)
    lines = [INIT_HEAD.replace("FILES_LIST", " ".join(FILES))]
    lines.append('case "$BOOT" in')
    for n, steps in enumerate(boots):
        lines.append(f"{n})")
        for i, step in enumerate(steps):
            lines.append(f"  STEP={i}")
            if step.startswith("offline:"):
                cpu = int(step.split(":")[1])
                lines.append(f'  echo "@@@ OFFLINE cpu{cpu}"; echo 0 > /sys/devices/system/cpu/cpu{cpu}/online; '
                             'echo "@@@ OFFLINE-STATUS $?"')
            else:
                lines.append("  " + STEP_SHELL[step])
        lines.append("  ;;")
    lines.append("esac")
    lines.append(STEP_SHELL["poweroff"])
    return "\n".join(lines) + "\n"


# --- cpio (newc) ---

def _cpio_entry(out: io.BytesIO, ino: int, name: str, mode: int, data: bytes = b"", rdev: tuple = (0, 0)) -> None:
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    header = b"070701" + b"".join(b"%08X" % f for f in fields)
    out.write(header + name.encode() + b"\0")
    out.write(b"\0" * (-out.tell() % 4))
    out.write(data)
    out.write(b"\0" * (-out.tell() % 4))


def initramfs(busybox: Path, boots: list[list[str]]) -> bytes:
    """A newc cpio archive: /bin/busybox, /init for ``boots``, /dev/console (5,1) and the mount points."""
    out = io.BytesIO()
    entries = [("dev", stat.S_IFDIR | 0o755, b"", (0, 0)),
               ("dev/console", stat.S_IFCHR | 0o600, b"", (5, 1)),
               ("bin", stat.S_IFDIR | 0o755, b"", (0, 0)),
               ("bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes(), (0, 0)),
               ("init", stat.S_IFREG | 0o755, init_script(boots).encode(), (0, 0))]
    for sub in ("proc", "sys", "tmp"):
        entries.append((sub, stat.S_IFDIR | 0o755, b"", (0, 0)))
    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        _cpio_entry(out, ino, name, mode, data, rdev)
    _cpio_entry(out, 0, "TRAILER!!!", 0)
    return out.getvalue()


def write_initramfs(path: Path, busybox: Path, boots: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(initramfs(busybox, boots))
    os.chmod(path, 0o644)
    return path
