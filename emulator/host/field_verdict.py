"""How a field failure ended, and which emulator fault reproduces it: read from the capture kernel's lines.

``verdict(facts)`` takes the last crash of the log and what the next boot (the capture kernel, if one booted) said,
and returns the outcome in the scenario's words (vmcore, no-dump, dump-rejected, capture-failed, none) and the
faults (emulator.scenario.faults) that make the emulated partition end the same way. Each comes with the log line
it rests on, or, when the log cannot tell why, with ``assumed`` set and a sentence saying what else it could be.

The symptom lines are the kernels' (rtas-fadump.c rtas_fadump_process() 6.10: "Dump taken by platform is not
valid (%d)" / "incomplete (%d)" with the index of the section, 0 CPU state, 1 HPTE, 2 boot memory; fadump.c 6.10
"Fadump header is corrupted.", "Endianness mismatch between the crashed and fadump kernels."; 3.4 fadump.c
process_fadump() "Crash info header is not valid.", "Dump taken by platform is incomplete"; fs/proc/vmcore.c
"Warning: Core image elf header not found"; fadump.c 6.10 "Old magic number, can't process the dump." (a
3.4-style header met by a 6.10+ capture kernel: no fault, the kernel generations differ); pseries/ras.c "ibm,os-term call failed %d").
"""

import re
from dataclasses import dataclass

from emulator.host.field_facts import BootFacts, LogFacts

SECTIONS_BY_INDEX = {0: "cpu-state", 1: "hpte", 2: "boot-memory"}
"""rtas_fadump_process() (6.10) numbers the sections it checks: CPU state, HPTE, then boot memory."""
INVALID_SOURCE = 0x4000
"""The section error flag the emulator sets for an unreadable source (rtas-fadump.h, 6.10: RTAS_FADUMP_ERROR_FLAG)."""
REJECTIONS = (
    (r"Dump taken by platform is not valid \((\d+)\)",
     lambda m: {"kind": "copy-error", "section": SECTIONS_BY_INDEX.get(int(m.group(1)), "boot-memory"),
                "error_flags": INVALID_SOURCE}),
    (r"Dump taken by platform is incomplete \((\d+)\)",
     lambda m: {"kind": "copy-error", "section": SECTIONS_BY_INDEX.get(int(m.group(1)), "boot-memory"),
                "short_by": 16 if int(m.group(1)) == 0 else "64KiB"}),
    (r"Dump taken by platform is incomplete", lambda m: {"kind": "copy-error", "section": "boot-memory",
                                                          "short_by": "64KiB"}),
    (r"Crash info header is not valid|Fadump header is corrupted", lambda m: {"kind": "crash-info-corrupt"}),
    (r"Endianness mismatch", lambda m: {"kind": "crash-info-byteswapped"}),
    (r"Unable to read register save area", lambda m: {"kind": "regsave-bad-magic"}),
    (r"Unable to read CPU state data", lambda m: {"kind": "regsave-missing-cpustrt"}),
    (r"elf header not found|vmcore not initialized", lambda m: {"kind": "elf-header-overwritten"}),
    (r"Old magic number", lambda m: None),
)
"""A rejection line -> the fault that makes the emulated capture kernel print it (first match wins)."""


@dataclass
class Cause:
    fault: dict | None
    """A [[faults]] entry, or None (nothing to inject: the emulator ends that way by itself)."""
    why: str
    assumed: bool = False
    """True: the log does not show the cause; this is one that ends the same way."""


@dataclass
class Verdict:
    outcome: str
    why: str
    assumed: bool
    causes: list[Cause]
    capture_cmdline: str | None = None


def registration_faults(boot: BootFacts) -> list[Cause]:
    failures = [r for r in boot.registrations if r.value != 0]
    if not failures:
        return []
    statuses = [r.value for r in boot.registrations]
    # The statuses, in order, up to the last failure: firmware answers each registration call with the next one.
    last = max(i for i, r in enumerate(boot.registrations) if r.value != 0)
    words = statuses[:last + 1]
    return [Cause({"kind": "rtas-status", "call": "ibm,configure-kernel-dump", "command": "register",
                   "statuses": words},
                  f"firmware answered registration with {words} ({failures[0].cite()}); the log does not say why"
                  + (" (-3 is a parameter error: e.g. a destination overlapping the source)" if -3 in words else ""))]


def no_capture_cause(crashed: BootFacts, nxt: BootFacts | None) -> Cause:
    """Why no dump came out of a crash that firmware should have preserved."""
    if crashed.os_term_failed:
        return Cause({"kind": "rtas-status", "call": "ibm,os-term", "statuses": [crashed.os_term_failed.value]},
                     f"{crashed.os_term_failed.cite()}")
    power = next((v for v in (nxt.verdict if nxt else []) + crashed.verdict if "power lost" in v.text), None)
    if power:
        m = re.search(r"after copying (0x[0-9a-f]+) of (0x[0-9a-f]+)", power.text)
        fraction = round(int(m.group(1), 16) / int(m.group(2), 16), 3) if m and int(m.group(2), 16) else 0.5
        return Cause({"kind": "copy-interrupted", "fraction": min(max(fraction, 0.001), 0.999), "mode": "power-loss"},
                     power.cite())
    if nxt is not None:
        return Cause({"kind": "copy-interrupted", "fraction": 0.5, "mode": "power-loss"},
                     "the next boot shows no active dump although registration succeeded: the firmware's copy did "
                     "not complete; the log cannot tell why (power loss, a service processor reset, a firmware "
                     "error): modelled as power lost half way through the copy", assumed=True)
    return Cause({"kind": "no-extended-os-term"},
                 "the log ends after the crash with no capture kernel: the partition did not reboot into one; the "
                 "log cannot tell why (firmware without ibm,extended-os-term, a hang in the panic path, or a log cut "
                 "short): modelled as firmware without ibm,extended-os-term", assumed=True)


def verdict(facts: LogFacts) -> Verdict:
    crashes = [i for i, b in enumerate(facts.boots) if b.crash]
    if not crashes:
        return Verdict("none", "the log shows no crash (no panic, oops, sysrq or system-reset line)", False, [])
    i = crashes[-1]
    crashed = facts.boots[i]
    nxt = facts.boots[i + 1] if i + 1 < len(facts.boots) else None
    causes = registration_faults(crashed) if i == 0 else []
    registered = any(r.value == 0 for b in facts.boots[:i + 1] for r in b.registrations)
    if not registered and not crashed.registrations and crashed.reserved and i == 0:
        causes.append(Cause({"kind": "crash-during-registration", "cpu": crashed.crash.cpu.value
                             if crashed.crash.cpu else 0},
                            f"the kernel reserved the dump area but crashed before any registration line "
                            f"({crashed.crash.start.cite()})"))
        return Verdict("no-dump", "the crash came before registration finished", False, causes)
    if causes:
        return Verdict("no-dump", f"registration failed ({causes[0].why.split(' (')[0]})", False, causes)
    if nxt is None or not nxt.dump_active:
        cause = no_capture_cause(crashed, nxt)
        what = "the next boot has no active dump" if nxt else "no capture kernel booted after the crash"
        return Verdict("no-dump", what, nxt is None, [cause])
    for line in nxt.verdict:
        for pattern, make in REJECTIONS:
            m = re.search(pattern, line.text)
            if m:
                return Verdict("dump-rejected", line.cite(), False, [Cause(make(m), line.cite())])
        m = re.search(r"saving vmcore failed: No space left on device(?: after (\d+) bytes)?", line.text)
        if m:
            capacity = f"{max(1, int(m.group(1) or 1048576) >> 20)}MiB"
            return Verdict("capture-failed", line.cite(), False,
                           [Cause({"kind": "disk-full", "capacity": capacity}, line.cite())])
    if not any(re.search(r"(Reserving|Reserved) \d+MB of memory at .*(preserving|saving) crash", x.text)
               for x in nxt.reserved):
        cmd = nxt.cmdline.value if nxt.cmdline else None
        if cmd is not None and "fadump=on" not in cmd.split():
            return Verdict("dump-rejected", f"the capture kernel booted without fadump=on ({nxt.cmdline.cite()})",
                           False, [], capture_cmdline=cmd)
        return Verdict("dump-rejected", f"the capture kernel saw the dump ({nxt.dump_active.cite()}) but reserved "
                                        "no memory to preserve it",
                       False, [Cause({"kind": "capture-without-fadump"},
                                     "the capture kernel did not reserve the preserved memory: it booted without "
                                     "fadump=on (its command line is not in the log)", assumed=cmd is None)])
    if nxt.saved or nxt.released:
        return Verdict("vmcore", f"the capture kernel accepted the dump ({(nxt.saved or nxt.released).cite()})",
                       False, [])
    return Verdict("vmcore", f"the capture kernel accepted the dump ({nxt.dump_active.cite()}) and rejected nothing; "
                             "the log does not show the vmcore being saved", True, [])
