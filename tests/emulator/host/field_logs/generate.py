"""Write a field-style console log for each bundled fault scenario (scenarios/faults/NAME.toml): its golden
transcript NAME.log as a customer's console would show it. Run from the worktree:
``.venv/bin/python tests/emulator/host/field_logs/generate.py``; the logs are committed, this says how they were made.

What changes from the transcript: the firmware's own lines (PHYP:, QEMU:) go (a partition's console never shows
them); lines a real kernel prints around the fadump ones come in (Hardware name, Partition configured, hash-mmu,
Kernel command line, the dump_stack "CPU: N PID" banner after a panic); userspace and console noise interleave
(systemd, a login prompt, an escape sequence, a byte of garbage); and the form varies with the scenario's index:
printk.time on, printk.time off, or a syslog prefix with CRLF line ends.
"""

import random
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
HERE = Path(__file__).resolve().parent
NOISE = ["[  OK  ] Started kdump.service - Crash recovery kernel arming.", "localhost login: ",
         "\x1b[0m\x1b[1;32mWelcome to SUSE Linux Enterprise Server\x1b[0m", "Starting Hardware RNG Entropy Gatherer...",
         "\udcff\udcfe\x00garbage after the console reconnected"]


def field_log(toml: Path, style: int, rng: random.Random) -> str:
    sc = tomllib.loads(toml.read_text())
    cpus = sc.get("machine", {}).get("cpus", 1)
    cmdline = sc.get("kernel", {}).get("cmdline", "root=/dev/sda2 fadump=on")
    crash_cpu = sc.get("crash", {}).get("cpu", sc.get("faults", [{}])[0].get("cpu", 0))
    modern = sc.get("kernel", {}).get("profile") != "linux-3.4"
    out = []
    for line in toml.with_suffix(".log").read_text().splitlines():
        m = re.match(r"^(\[\s*\d+\.\d+\] )(.*)$", line)
        stamp, text = (m.group(1), m.group(2)) if m else ("", line)
        if text.startswith(("PHYP: ", "QEMU: ")):
            continue
        out.append((stamp, text))
        if text.startswith("Linux version "):
            for extra in ("Hardware name: IBM,9009-42A POWER9 (architected) 0x4e0202 0xf000005 of:IBM,FW950.80 "
                          "(VL950_131) hv:phyp pSeries", f"Partition configured for {cpus} cpus.",
                          *(["hash-mmu: Initializing hash mmu with SLB"] if modern else []),
                          f"Kernel command line: {cmdline}"):
                out.append((stamp, extra))
        if text.startswith("Kernel panic - not syncing") or text.startswith("Oops: "):
            version = "6.10.0-fadump-emu" if modern else "3.4.0-fadump-emu"
            out.append((stamp, f"CPU: {crash_cpu} PID: 4242 Comm: bash Not tainted {version} #1"))
            out.append((stamp, "Call Trace:"))
    lines = []
    for stamp, text in out:
        if rng.random() < 0.25:
            lines.append(rng.choice(NOISE))
        if style == 1:
            lines.append(text)
        elif style == 2:
            lines.append(f"Nov 30 06:1{rng.randrange(10)}:0{rng.randrange(10)} lpar7 kernel: {stamp}{text}")
        else:
            lines.append(f"{stamp}{text}")
    end = "\r\n" if style == 2 else "\n"
    return end.join(lines) + end


def main() -> int:
    rng = random.Random(17)
    for i, toml in enumerate(sorted((ROOT / "scenarios" / "faults").glob("*.toml"))):
        (HERE / f"{toml.stem}.log").write_bytes(field_log(toml, i % 3, rng).encode("utf-8", "surrogateescape"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
