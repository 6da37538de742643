"""Reading a field machine's console log into facts: one Boot per kernel that booted, what each one said.

A console log from the field is whatever the customer's terminal server, HMC virtual console or serial logger kept:
printk lines with or without their ``[    0.000000]`` time (printk.time), sometimes behind a syslog prefix or a
``<6>`` level, with firmware chatter, login prompts and userspace lines in between, CRLF line ends, a few
bytes of garbage where the console reconnected, and often cut short. ``read(path)`` never fails on such a log: a
line it does not understand is noise; a fact it cannot find stays None (the scenario writer states an assumption).
It fails, with ConsoleLogError (``path:line: what``, exit status 2), only when the file cannot be a console log at
all (missing, a folder, binary, too big).

The messages matched are the kernels' own (each pattern names where it is printed):
- arch/powerpc/kernel/fadump.c and platforms/pseries/rtas-fadump.c ("fadump: " / "rtas fadump: " since 5.x; 3.4
  printed the same sentences without a prefix, and "firmware-assisted kernel dump registration is successful");
- init/main.c (the "Linux version" banner of linux_banner, "Kernel command line:");
- kernel/panic.c ("Kernel panic - not syncing: "), drivers/tty/sysrq.c ("sysrq: Trigger a crash"),
  arch/powerpc/kernel/traps.c ("Oops: ... [#1]", "Oops: System Reset"), lib/dump_stack.c ("CPU: N ... PID:");
- arch/powerpc/platforms/pseries/hotplug-memory.c ("pseries-hotplug-mem: ..."), kernel/rcu/tree_plugin.h
  ("RCU restricting CPUs from NR_CPUS=N"), arch/powerpc/platforms/pseries/lpar.c ("Using radix MMU under
  hypervisor"), arch/powerpc/mm/book3s64/hash_utils.c ("hash-mmu: "), mm/mm_init.c ("Memory: A/TK available").
"""

import os
import re
import stat
from dataclasses import dataclass, field

from emulator.errors import BadInputError

MAX_BYTES = 256 << 20
"""A console log bigger than this is not read (a month of a busy system's syslog is not a console log)."""
BINARY_SHARE = 0.10
"""A file whose first 64 KiB are more than this share of NUL and other control bytes is binary, not a log."""

TIME = re.compile(r"\[\s*(\d+)\.(\d+)\]")
"""printk's time stamp (CONFIG_PRINTK_TIME / printk.time=1), seconds.microseconds."""
PREFIX = re.compile(r"^(?:<\d+>)?(?:\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: )?(?:<\d+>)?")
"""What may precede a kernel line: a <level>, and a syslog "Mon DD HH:MM:SS host kernel: " prefix."""
CALLER = re.compile(r"^\[\s*[TC]\d+\] ?")
"""printk's caller id (CONFIG_PRINTK_CALLER) after the time: "[    T1] "."""
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
INIT_MARK = "@@@ "
"""The reference harness's /init lines (emulator.host.reference_guest): userspace, but they say what it did."""


class ConsoleLogError(BadInputError):
    """A console log that cannot be read: ``path:line: what is wrong``."""

    def __init__(self, path: str, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")


@dataclass
class Line:
    number: int
    """1-based line number in the file (the one to quote)."""
    time: float | None
    text: str
    """The message, without prefix, time stamp and caller id."""
    kernel: bool
    """A printk line (it had a time stamp, or the log has none at all and it is not an @@@ line)."""


@dataclass
class Boot:
    index: int
    lines: list[Line] = field(default_factory=list)

    def find(self, pattern: str | re.Pattern, after: int = 0) -> tuple[Line, re.Match] | None:
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        for line in self.lines:
            if line.number >= after:
                m = rx.search(line.text)
                if m:
                    return line, m
        return None

    def find_all(self, pattern: str) -> list[tuple[Line, re.Match]]:
        rx = re.compile(pattern)
        return [(line, m) for line in self.lines for m in [rx.search(line.text)] if m]


@dataclass
class ConsoleLog:
    path: str
    boots: list[Boot]
    timestamps: bool
    """Whether the log had printk times (boots are split where the clock restarts, else at banners)."""
    noise: int
    """Lines that were not kernel lines (userspace, firmware, garbage)."""


def read_bytes(path: str) -> bytes:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ConsoleLogError(path, 0, "no such file; give the console log the machine wrote (a text file)")
    except OSError as exc:
        raise ConsoleLogError(path, 0, f"cannot read: {exc.strerror}")
    if stat.S_ISDIR(st.st_mode):
        raise ConsoleLogError(path, 0, "is a folder; give the console log file itself")
    if not stat.S_ISREG(st.st_mode):  # a FIFO would wait for a writer, a device never end
        raise ConsoleLogError(path, 0, "not a regular file; save the console log to a file first")
    if st.st_size > MAX_BYTES:
        raise ConsoleLogError(path, 0, f"{st.st_size} bytes is more than a console log ({MAX_BYTES >> 20} MiB "
                                       "at most): cut it to the boots around the crash (the boot that crashed "
                                       "and the capture kernel's)")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ConsoleLogError(path, 0, f"cannot read: {exc.strerror}")
    head = data[:65536]
    if head:
        bad = sum(1 for b in head if b < 9 or 13 < b < 32 or b == 127)
        if bad / len(head) > BINARY_SHARE:
            raise ConsoleLogError(path, 1, f"binary data ({bad} control bytes in the first {len(head)}), not a "
                                           "console log; a vmcore goes to --vmcore-head")
    return data


def parse_line(number: int, raw: str) -> Line:
    """One line of the file: a kernel line (its time, its message) or noise."""
    text = CONTROL.sub("", raw.replace("\r", "")).rstrip()
    text = PREFIX.sub("", text, count=1)
    m = TIME.search(text)
    if m:  # also inside the line: the console interleaved a userspace write with printk ("#2 SMP Mon[  0.3] ...")
        body = CALLER.sub("", text[m.end():].lstrip(" "), count=1)
        return Line(number, float(f"{m.group(1)}.{m.group(2)}"), body, True)
    return Line(number, None, text, False)


EARLY = re.compile(r"^(Linux version |(rtas )?fadump: |rtas fadump: |Firmware-assisted dump is active|"
                   r"Reserved \d+MB of memory at|random: crng init|radix-mmu: |hash-mmu: |lpar: |"
                   r"Page sizes from device-tree)")
"""Lines a ppc64 kernel prints first (early_init_devtree, before or around the banner): where a boot without
time stamps starts once the previous one has crashed."""
CRASHED = re.compile(r"Kernel panic - not syncing|Oops: |sysrq: Trigger a crash|dump complete; resetting|"
                     r"power lost after copying|ibm,os-term call failed|Rebooting in \d+ seconds")


def split(path: str, lines: list[Line], timestamps: bool) -> list[Boot]:
    """Boots: where printk's clock restarts at 0 (with time stamps), or at the first early line after a crash or a
    second banner (without)."""
    boots = [Boot(0)]
    last_time = None
    crashed = banner = False
    for line in lines:
        new = False
        if timestamps and line.time is not None:
            new = line.time == 0.0 and last_time is not None and last_time > 0.0
            last_time = line.time
        elif not timestamps and line.kernel:
            is_banner = line.text.startswith("Linux version ")
            new = (crashed and EARLY.match(line.text) is not None) or (is_banner and banner)
        if new and any(x.kernel for x in boots[-1].lines):
            boots.append(Boot(len(boots)))
            crashed = banner = False
        if line.kernel or line.text.startswith(INIT_MARK):
            crashed = crashed or bool(CRASHED.search(line.text))
            banner = banner or line.text.startswith("Linux version ")
        boots[-1].lines.append(line)
    return boots


def parse(path: str, text: str) -> ConsoleLog:
    raw_lines = text.split("\n")
    lines = [parse_line(i + 1, raw) for i, raw in enumerate(raw_lines)]
    timestamps = sum(1 for x in lines if x.time is not None) >= 3
    if not timestamps:
        # No printk.time: every line that is not an @@@ line may be a kernel line; the patterns decide.
        lines = [Line(x.number, None, x.text, bool(x.text) and not x.text.startswith(INIT_MARK)) for x in lines]
    lines = [x for x in lines if x.text]
    noise = sum(1 for x in lines if not x.kernel)
    return ConsoleLog(path, split(path, lines, timestamps), timestamps, noise)


KERNEL_MESSAGE = re.compile(r"Linux version |Kernel command line:|fadump|rtas|Kernel panic|sysrq|Oops|pseries|"
                            r"System RAM|phys_mem_size|Machine check|Hardware name:")
"""Messages only a kernel prints: without printk.time, a log must hold one of them to be taken as a console."""


def read(path: str) -> ConsoleLog:
    """The log at path, split into boots (ConsoleLogError when it is not a console log at all)."""
    data = read_bytes(path)
    text = data.decode("utf-8", errors="replace")
    log = parse(path, text)
    kernel = [x for b in log.boots for x in b.lines if x.kernel]
    if not kernel or not (log.timestamps or any(KERNEL_MESSAGE.search(x.text) for x in kernel)):
        raise ConsoleLogError(path, 1, "no kernel line in this file (no printk time stamp, no kernel message "
                                       "this tool knows); is it the console log?")
    return log
