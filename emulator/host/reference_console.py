"""Reading a reference run's console: its boots, the fadump lines of each, and the sysfs/debugfs texts /init printed.

The console of a reference run is QEMU's stdout: the kernel's printk lines (``[    0.000000] ...``, hvc0 replays the
log buffer from the start when it registers) and the lines of the reference /init (``reference_guest``), which
marks everything it prints with ``@@@``. Both ``real_reference`` (to write files.txt and the per-boot consoles) and
``compare_real`` (to compare them with an emulator run) use this module.
"""

import re

TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\] ?")
"""printk's time prefix (CONFIG_PRINTK_TIME)."""
BOOT_START = "Linux version "
"""The kernel banner (linux_banner)."""
FADUMP_LINE = re.compile(r"fadump|firmware-assisted|Firmware-assisted|crashkernel|vmcore", re.IGNORECASE)
"""What makes a console line a fadump line for the comparison (its prefixes "fadump: " and "rtas fadump: ", the
registration and capture messages, the crashkernel= and vmcore messages)."""


def clean(text: str) -> str:
    """Console text with CR removed (the hvc console writes CRLF)."""
    return text.replace("\r", "")


def timestamp(line: str) -> float | None:
    match = TIMESTAMP.match(line)
    return float(line[1:line.index("]")]) if match else None


def split_boots(text: str) -> list[str]:
    """The console, one text per boot. A boot starts where printk's clock starts again at 0 (a ppc64 kernel prints
    its fadump lines from early_init_devtree, before the banner, so the banner cannot mark the start; the hvc
    console replays the log from its first line). What precedes the first kernel line belongs to boot 0."""
    lines = clean(text).splitlines(keepends=True)
    boots: list[list[str]] = [[]]
    last = None
    for line in lines:
        ts = timestamp(line)
        if ts is not None:
            if ts == 0.0 and last is not None and last > 0.0:
                boots.append([])
            last = ts
        boots[-1].append(line)
    return ["".join(b) for b in boots]


def strip_timestamp(line: str) -> str:
    return TIMESTAMP.sub("", line)


def fadump_lines(boot_text: str) -> list[str]:
    """The kernel's fadump lines of one boot, without their time stamps (/init's @@@ lines are not kernel lines;
    the banner and the command line are left out: they name fadump only in build strings and arguments)."""
    out = []
    for line in boot_text.splitlines():
        if not TIMESTAMP.match(line):
            continue
        body = strip_timestamp(line).rstrip("\n")
        if FADUMP_LINE.search(body) and not body.startswith(("Kernel command line", BOOT_START)):
            out.append(body)
    return out


def file_sections(text: str) -> list[dict]:
    """What /init printed between ``@@@ BEGIN <label> <path>`` and ``@@@ END``: [{"boot", "label", "path", "text"}]
    in console order, kernel lines that interleaved dropped; ``@@@ LIST <label>`` blocks come with path "ls"."""
    sections = []
    current = None
    boot = 0
    for line in clean(text).splitlines():
        if line.startswith("@@@ BOOT "):
            boot = int(line.split()[2])
            continue
        if current is None:
            begin = re.match(r"^@@@ BEGIN (\S+) (\S+)$", line)
            listing = re.match(r"^@@@ LIST (\S+)$", line)
            if begin:
                current = {"boot": boot, "label": begin.group(1), "path": begin.group(2), "lines": []}
            elif listing:
                current = {"boot": boot, "label": listing.group(1), "path": "ls", "lines": []}
            continue
        if line == "@@@ END":
            sections.append({"boot": current["boot"], "label": current["label"], "path": current["path"],
                             "text": "".join(x + "\n" for x in current["lines"])})
            current = None
        elif not TIMESTAMP.match(line):
            current["lines"].append(line)
    return sections


def events(text: str) -> list[str]:
    """/init's other @@@ lines (BOOT, WRITE, WRITE-STATUS, OFFLINE, VMCORE, CRASH, POWEROFF, NO-FILE) in order."""
    keep = ("@@@ BOOT", "@@@ WRITE", "@@@ OFFLINE", "@@@ VMCORE", "@@@ CRASH", "@@@ POWEROFF", "@@@ NO-FILE",
            "@@@ WAIT-MEMORY", "@@@ MEMORY")
    return [line for line in clean(text).splitlines() if line.startswith(keep)]


def files_txt(sections: list[dict]) -> str:
    """files.txt: one section per file read, headed ``==== boot N, <label>: <path> ====``."""
    out = []
    for s in sections:
        out.append(f"==== boot {s['boot']}, {s['label']}: {s['path']} ====\n")
        out.append(s["text"])
    return "".join(out)


def read_files_txt(text: str) -> list[dict]:
    """The sections of a files.txt (the inverse of ``files_txt``)."""
    sections = []
    for line in text.splitlines(keepends=True):
        head = re.match(r"^==== boot (\d+), (\S+): (\S+) ====$", line.rstrip("\n"))
        if head:
            sections.append({"boot": int(head.group(1)), "label": head.group(2), "path": head.group(3), "text": ""})
        elif sections:
            sections[-1]["text"] += line
    return sections
