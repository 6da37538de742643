"""What a crash at a lifecycle boundary must lead to: a model of the rules, kept apart from the emulator.

``explore`` holds every run to this model. The model never runs the emulator:
it reads the scenario's kernel command line and profile and the label of the
boundary, decides the phase of the partition's life from the rules in
PHASE_RULES and REGISTRATION, then looks the (phase, trigger) pair up in
OUTCOME_RULES for the outcome and the console line that must say why.

The facts behind the tables (kernel source, per version):

- Who registers. Linux 3.4 (arch/powerpc/kernel/fadump.c): setup_fadump()
  only sets up sysfs; the kdump service registers by writing 1 to
  /sys/kernel/fadump_registered (fadump_register_store), i.e. once userspace
  is up. Linux 6.10 (same file): setup_fadump() calls register_fadump() at
  boot when no dump is active.
- fadump=on enables it in both; 6.10 also takes fadump=nocma
  (early_fadump_param). Anything else leaves it off; then crashkernel=
  reserves memory for kdump instead (reserve_crashkernel) and a crash falls
  back to kdump. In 6.10 crashkernel= also sets fadump's boot memory size
  (fadump_calculate_reserve_size), and a size under the 320 MiB minimum
  turns fadump off ("Can't enable fadump with boot memory size ...").
- A crash with no registration is not preserved: crash_fadump() returns at
  once unless fw_dump.dump_registered (both versions), and firmware resets
  the partition without a dump. A system reset goes through
  system_reset_exception(): 3.4's die()/oops_end() panics with "Fatal
  exception"; 6.10 panics with "System Reset".
- Userspace may unregister and register again: writing 0 or 1 to
  /sys/kernel/fadump_registered (3.4) or /sys/kernel/fadump/registered
  (6.10) calls unregister_fadump() or register_fadump().
- Linux 3.4 builds the ELF core header in the first kernel at registration
  (fadump_setup_crash_memory_ranges() and fadump_create_elfcore_headers() from
  register_fadump()) and nothing rebuilds it on memory hotplug: a crash after a
  memory add or remove and before the next registration gives a vmcore whose
  PT_LOADs describe the old memory map (stale: missing and bogus ranges, but no
  byte that differs). 6.10's capture kernel builds the header itself.
- A panic reaches firmware only through rtas_os_term(), which both versions
  skip unless the device tree has ibm,os-term and ibm,extended-os-term
  (arch/powerpc/kernel/rtas.c): on firmware without ibm,extended-os-term a
  registered panic is not dumped. A system reset without ibm,nmi-interlock and
  a hypervisor termination still are (LoPAR R1-3: firmware triggers itself).
- The capture kernel holds an active dump, not a registration: a crash before
  its userspace saved /proc/vmcore loses the capture (the dump stays in
  firmware until released).
- Power lost while firmware copies: memory is gone; the next boot is a normal
  boot with nothing to capture.
"""

from dataclasses import dataclass

REGISTRATION = {
    # profile: the boundary label (after "boot N: ") from which a first kernel is registered
    "linux-3.4": "userspace up",
    "linux-6.10": "setup_fadump done",
}
ENABLING = {"linux-3.4": ("on",), "linux-6.10": ("on", "nocma")}
SYSTEM_RESET_PANIC = {"linux-3.4": "Kernel panic - not syncing: Fatal exception",
                      "linux-6.10": "Kernel panic - not syncing: System Reset"}
HYPERVISOR_NO_DUMP = "PHYP: partition terminated by the hypervisor; no dump is registered"
DUMP_DONE = "PHYP: dump complete; resetting the partition (memory preserved)"

PHASE_RULES = (
    ("unregistered", "a first kernel before its registration point, or with fadump not enabled"),
    ("registered", "a first kernel at or after its registration point"),
    ("firmware-copy", "firmware copying memory after a crash (only power loss is injected here)"),
    ("capture-before-save", "the capture kernel before its userspace saved /proc/vmcore"),
    ("after-capture", "any point after the capture kernel saved the dump"),
)

OUTCOME_RULES = {
    # (phase, trigger): (outcome, the console line that says why ({label} and {panic_sr} are filled in))
    ("unregistered", "panic"): ("no-dump", "Kernel panic - not syncing: injected crash at {label}"),
    ("unregistered", "system-reset"): ("no-dump", "{panic_sr}"),
    ("unregistered", "hypervisor"): ("no-dump", HYPERVISOR_NO_DUMP),
    ("registered", "panic"): ("vmcore", DUMP_DONE),
    ("registered", "system-reset"): ("vmcore", DUMP_DONE),
    ("registered", "hypervisor"): ("vmcore", DUMP_DONE),
    ("firmware-copy", "power-loss"): ("no-dump", "PHYP: power lost after copying"),
    ("capture-before-save", "panic"): ("capture-failed", "Kernel panic - not syncing: injected crash at {label}"),
    ("capture-before-save", "system-reset"): ("capture-failed", "{panic_sr}"),
    ("capture-before-save", "hypervisor"): ("capture-failed", HYPERVISOR_NO_DUMP),
    ("after-capture", "panic"): ("vmcore", DUMP_DONE),
    ("after-capture", "system-reset"): ("vmcore", DUMP_DONE),
    ("after-capture", "hypervisor"): ("vmcore", DUMP_DONE),
    # A later crash's copy losing power: the first dump was saved already, so the run still has its vmcore.
    ("after-capture", "power-loss"): ("vmcore", "PHYP: power lost after copying"),
}
FALLBACK_LINE = "for crashkernel"
"""reserve_crashkernel()'s "Reserving NMB of memory at 32MB for crashkernel" line."""


@dataclass(frozen=True)
class Prediction:
    phase: str
    outcome: str
    why: str
    """A console line (substring) that must appear."""
    absent: str = ""
    """A console line that must not appear (a registration before an unregistered crash)."""
    complete: bool = True
    """False when the vmcore's header is stale by design: missing and bogus ranges, but no byte that differs."""


BOOT_MEMORY_MIN = {"linux-6.10": 0x1400_0000}
SUFFIX = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def fadump_enabled(profile: str, cmdline: str) -> bool:
    values = [w.split("=", 1)[1] for w in cmdline.split() if w.startswith("fadump=")]
    if not values or values[-1] not in ENABLING.get(profile, ()):
        return False
    size = crashkernel_size(cmdline)
    return size is None or size >= BOOT_MEMORY_MIN.get(profile, 0)


def crashkernel_size(cmdline: str) -> int | None:
    """The plain crashkernel=SIZE[@OFFSET] size; None when absent or in the range syntax (not modelled)."""
    values = [w.split("=", 1)[1] for w in cmdline.split() if w.startswith("crashkernel=")]
    if not values or ":" in values[-1]:
        return None
    text = values[-1].split("@", 1)[0].split(",", 1)[0]
    scale = SUFFIX.get(text[-1:].upper(), 1)
    digits = text[:-1] if text[-1:].upper() in SUFFIX else text
    return int(digits) * scale if digits.isdigit() else None


def has_crashkernel(cmdline: str) -> bool:
    return any(w.startswith("crashkernel=") for w in cmdline.split())


STALE_AFTER_HOTPLUG = {"linux-3.4": True, "linux-6.10": False}
REGISTERED_FILES = ("/sys/kernel/fadump_registered", "/sys/kernel/fadump/registered")


def _event_of(sc, label: str):
    """The scenario event an "boot N: after the ACTION at Ts" label follows, or None."""
    head, _, step = label.partition(": ")
    if not step.startswith("after the ") or not head.startswith("boot "):
        return None
    action, _, at = step[len("after the "):].partition(" at ")
    return next((e for e in sc.events if e.boot == int(head[5:]) and e.action == action
                 and f"{e.at:g}s" == at), None)


def phases(sc, labels: list[str]) -> list[str]:
    """The phase of every boundary label of the baseline, in order."""
    return [phase for phase, _, _ in _walk(sc, labels)]


def _walk(sc, labels: list[str]) -> list[tuple[str, bool, bool]]:
    """(phase, stale header, registered before) of every boundary label, in order."""
    profile, cmdline = sc.kernel.profile, sc.kernel.cmdline
    enabled = fadump_enabled(profile, cmdline)
    out, registered, copying_seen, saved, stale, ever = [], False, False, False, False, False
    for label in labels:
        if label.startswith("firmware"):
            out.append(("after-capture" if saved else "firmware-copy", False, ever))
            copying_seen = True
            continue
        step = label.split(": ", 1)[1] if ": " in label else label
        if not copying_seen:
            if enabled and step.startswith(REGISTRATION.get(profile, "\0")) and not registered:
                registered, stale = True, False
            ev = _event_of(sc, label)
            if ev is not None and ev.action == "sysfs" and ev.path in REGISTERED_FILES and enabled:
                registered, stale = ev.value.strip() == "1", False
            if ev is not None and ev.action == "hotplug" and ev.kind.startswith("memory") and registered:
                stale = stale or STALE_AFTER_HOTPLUG.get(profile, False)
            ever = ever or registered
            out.append(("registered" if registered else "unregistered", stale, ever))
            continue
        if saved:
            out.append(("after-capture", False, ever))
            continue
        out.append(("capture-before-save", False, ever))
        saved = step == "/proc/vmcore ready"  # the capture itself runs after this boundary
    return out


def predict(sc, labels: list[str], index: int, trigger: str) -> Prediction | None:
    """The outcome and why-line of a crash of kind ``trigger`` at boundary ``index``; None if unmodelled."""
    phase, stale, ever = _walk(sc, labels)[index]
    rule = OUTCOME_RULES.get((phase, trigger))
    if rule is None:
        return None
    outcome, why = rule
    if phase == "registered" and trigger == "panic" and not getattr(sc.machine, "extended_os_term", True):
        outcome, why = "no-dump", "Kernel panic - not syncing: injected crash at {label}"
    profile = sc.kernel.profile if phase in ("unregistered", "registered") else \
        (sc.kernel.capture_profile or sc.kernel.profile)
    label = labels[index]
    why = why.format(label=label, panic_sr=SYSTEM_RESET_PANIC.get(profile, ""))
    absent = ""
    if phase == "unregistered":
        if not fadump_enabled(sc.kernel.profile, sc.kernel.cmdline) and has_crashkernel(sc.kernel.cmdline):
            return Prediction(phase, "fallback", FALLBACK_LINE)
        if not ever:  # never registered: no registration line may come before the crash
            absent = "registration is successful" if profile == "linux-3.4" else "Registration is successful"
    return Prediction(phase, outcome, why, absent, complete=not (stale and outcome == "vmcore"))


def _only_busy(fault) -> bool:
    """RTAS busy answers (-2, 9900-9905) that Linux retries (rtas_busy_delay) change nothing the model decides."""
    statuses = fault.params.get("statuses", [])
    return fault.kind == "rtas-status" and bool(statuses) and all(s == -2 or 9900 <= s <= 9905 for s in statuses)


def applies_to(sc) -> str | None:
    """None when the model covers the scenario; otherwise why its predictions would be guesses."""
    if sc.kernel.profile not in REGISTRATION:
        return f"no registration rule for profile {sc.kernel.profile}"
    unknown = [f for f in sc.faults if f.kind != "crash-at-boundary" and not _only_busy(f)]
    if unknown:
        kinds = ", ".join(sorted({f.kind for f in unknown}))
        return f"the scenario injects faults the model has no rules for ({kinds})"
    if sc.expect.outcome not in (None, "vmcore", "no-dump", "fallback"):
        return f"the scenario expects {sc.expect.outcome}, which the model does not derive"
    return None
