"""The time line of a field scenario: the crash, hotplug and sysfs events, the capture kernels' steps, the faults
and the [expect] table, from a field log's facts (emulator.host.field_scenario calls ``add_events``).

Boot N of the log (0 = the first kernel) is boot N + 1 of the scenario. The emulated schedule keeps the log's order,
not its times (field_scenario.FIRST_EVENT_AT, CRASH_AT): the scenario's comments say so.
"""

from emulator.host.field_facts import LogFacts

REGISTER_AT = 15.0
"""A capture kernel's re-registration (its /init or kdump service writing 1 to registered), after its release."""


def registered_path(profile: str) -> str:
    """The sysfs file that (re-)registers: /sys/kernel/fadump_registered (3.4), /sys/kernel/fadump/registered (6.x;
    arch/powerpc/kernel/fadump.c, 6.10, fadump_init_files())."""
    return "/sys/kernel/fadump_registered" if profile == "linux-3.4" else "/sys/kernel/fadump/registered"


def add_events(fs, facts: LogFacts, put) -> None:
    from emulator.host.field_scenario import CRASH_AT, FIRST_EVENT_AT, Note

    doc, vd = fs.doc, fs.verdict
    events: list[dict] = []
    crash_injected = any(c.fault and c.fault["kind"] == "crash-during-registration" for c in vd.causes)
    first_crash_done = False
    for b in facts.boots:
        boot = b.index + 1
        at = FIRST_EVENT_AT
        if b.dump_active is None or b.index == 0:
            for h in b.hotplug:
                kind, where, applied = h.value
                if not applied:
                    fs.notes[f"skipped.{h.line}"] = Note(
                        h.cite(facts.path), "a hot-add the kernel reported as failed: no memory event emulated")
                    continue
                ev = {"action": "hotplug", "boot": boot, "at": f"{at:g}s", "kind": kind}
                ev["cpu" if kind.startswith("cpu") else "addr"] = where if kind.startswith("cpu") else f"{where:#x}"
                events.append(ev)
                put(ev, "kind", kind, f"events.{len(events) - 1}", h)
                at += 1
            extra = [r for r in b.registrations if r.value == 0][1:] if b.index == 0 else []
            for r in extra:  # registered again in the first kernel (after hotplug: the udev rule's re-registration)
                for value in ("0", "1"):
                    ev = {"action": "sysfs", "boot": boot, "at": f"{at:g}s", "path": registered_path(fs.profile),
                          "value": value}
                    events.append(ev)
                    put(ev, "value", value, f"events.{len(events) - 1}", r)
                    at += 0.5
        elif b.dump_active is not None and b.crash is not None:
            again = [r for r in b.registrations if r.value == 0]
            if again:
                ev = {"action": "sysfs", "boot": boot, "at": f"{REGISTER_AT:g}s", "path": registered_path(fs.profile),
                      "value": "1"}
                events.append(ev)
                put(ev, "value", "1", f"events.{len(events) - 1}", again[0])
        if b.crash is None or crash_injected:
            continue
        crash_at = max(CRASH_AT, at + 5)
        if not first_crash_done and b.index == 0:
            crash = {"cpu": b.crash.cpu.value if b.crash.cpu else 0, "kind": b.crash.kind, "at": f"{crash_at:g}s"}
            if b.crash.message and b.crash.kind == "panic":
                crash["message"] = b.crash.message
            doc["crash"] = crash
            put(crash, "kind", b.crash.kind, "crash.kind", b.crash.start)
            cpu_note = fs.notes["crash.cpu"] = Note()
            if b.crash.cpu:
                cpu_note.source = b.crash.cpu.cite(facts.path)
            else:
                cpu_note.assumed = "the log does not show the crashing CPU (no \"CPU: N PID\" line): CPU 0 assumed"
        else:
            ev = {"action": "crash", "boot": boot, "at": f"{crash_at:g}s",
                  "cpu": b.crash.cpu.value if b.crash.cpu else 0, "kind": b.crash.kind}
            if b.crash.message and b.crash.kind == "panic":
                ev["message"] = b.crash.message
            events.append(ev)
            put(ev, "kind", b.crash.kind, f"events.{len(events) - 1}", b.crash.start)
        first_crash_done = True
    if events:
        doc["events"] = events
    captures = [b for b in facts.boots if b.dump_active is not None]
    capture: dict = {}
    doc["capture"] = capture
    if captures:
        last = captures[-1]
        again = [r for r in last.registrations if r.value == 0]
        if last.released and again and last.crash is None:
            put(capture, "after", "release-and-register", "capture.after", again[0])
        elif last.released:
            put(capture, "after", "release", "capture.after", last.released)
        else:
            put(capture, "after", "stay", "capture.after",
                assumed="the log does not show the capture kernel releasing the dump memory: it stays reserved")
    if vd.capture_cmdline is not None:
        put(doc["kernel"], "capture_cmdline", vd.capture_cmdline, "kernel.capture_cmdline", source=vd.why)
    faults = [c for c in vd.causes if c.fault]
    if faults:
        doc["faults"] = [dict(c.fault) for c in faults]
        for i, c in enumerate(faults):
            fs.notes[f"faults.{i}"] = Note(c.why if not c.assumed else "", c.why if c.assumed else "")
    expect: dict = {}
    doc["expect"] = expect
    put(expect, "outcome", vd.outcome, "expect.outcome", source=vd.why, assumed=vd.why if vd.assumed else "")
    lines = list(dict.fromkeys(line for boot in fs.field_lines for line in boot))
    if lines:
        put(expect, "console", lines, "expect.console", source=f"the fadump lines of {facts.path}, as logged")
