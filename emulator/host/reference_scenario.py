"""The emulator scenario equivalent to a reference case: same partition, command line, crash and capture steps.

``scenario_for(ref_dir)`` reads the case's case.json (and, for what case.json cannot say, the real run's console:
which CPU ran sysrq-c, and the kernel release from the vmcore) and returns a scenario document (the TOML shape) and the
Scenario read from it. Keys the scenario model may or may not know yet are passed only when it accepts them:

- ``[kernel] profile``: "linux-<series>" when the emulator has that profile, else the closest older one it has;
- ``[kernel] nr_cpus``: the reference kernel's CONFIG_NR_CPUS (kernel.config of the series);
- ``[machine] firmware = "qemu"`` (the reference ran under QEMU's pseries fadump) and ``mmu``;
- ``[machine] max_memory`` and one memory-add event per LMB of each pc-dimm the case's QEMU monitor plugs.
"""

import copy
import json
import re
from pathlib import Path

from emulator.scenario import loader as scenario
from emulator.scenario import model as scenario_model
from emulator.errors import ScenarioError
from emulator.vmcore.vmcore_file import VmcoreFile

CRASH_AT = 20.0
"""When the emulated sysrq-c happens (seconds of uptime); the real one comes after /init's first steps."""
OFFLINE_AT = 10.0
DIMM_AT = 12.0
"""When the emulated QEMU monitor plugs a case's pc-dimm (the real /init waits for it before crashing)."""
LMB = 256 << 20
"""QEMU's pseries LMB (SPAPR_MEMORY_BLOCK_SIZE): a DIMM reaches the guest as one memory-add per 256 MiB."""
DEVICE_MEM_ALIGN = 1 << 30
"""QEMU's pseries places DIMMs from ROUND_UP(ram_size, SPAPR_DEVICE_MEM_ALIGN = 1 GiB) (hw/ppc/spapr.c)."""
REGISTER_AT = 15.0
"""When the emulated /init writes 1 to registered again after its release (a case that crashes twice)."""
PROFILE_FALLBACK = {"linux-6.12": "linux-6.10", "linux-7.2": "linux-6.10", "linux-6.1": "linux-3.4"}
OPTIONAL_KEYS = (("machine", "firmware"), ("machine", "mmu"), ("kernel", "nr_cpus"))
"""Keys dropped when the scenario model says it does not know them (an "unknown key '...'" error)."""


def profile_for(kernel: str) -> str:
    """The emulator profile for a reference kernel ("linux-6.12"): itself when known, else its fallback."""
    if kernel in scenario_model.PROFILES:
        return kernel
    fallback = PROFILE_FALLBACK.get(kernel, "linux-6.10")
    return fallback if fallback in scenario_model.PROFILES else scenario_model.PROFILES[-1]


def crash_cpu(console_boot0: str) -> int:
    """The CPU that ran ``echo c > /proc/sysrq-trigger``: the "CPU: N" of the oops/panic banner after sysrq's line."""
    after = console_boot0.split("sysrq: Trigger a crash", 1)[-1]
    match = re.search(r"CPU: (\d+) ", after)
    return int(match.group(1)) if match else 0


def nr_cpus(config_text: str) -> int | None:
    match = re.search(r"^CONFIG_NR_CPUS=(\d+)$", config_text, re.MULTILINE)
    return int(match.group(1)) if match else None


def qemu_size(text: str) -> int:
    """A QEMU size ("1G", "512M", "4G") in bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def dimm_events(case: dict) -> list[dict]:
    """The memory-add events the case's monitor commands make: each ``device_add pc-dimm,...,memdev=ID`` of a
    ``memory-backend-ram,id=ID,size=S`` plugs S bytes after the previous DIMM, from the first 1 GiB boundary above
    RAM; the guest sees one DLPAR memory-add per LMB."""
    backends, events = {}, []
    at = -(-qemu_size(case["memory"]) // DEVICE_MEM_ALIGN) * DEVICE_MEM_ALIGN
    for command in case.get("monitor", []):
        verb, _, args = command.partition(" ")
        opts = dict(item.partition("=")[::2] for item in args.split(",") if "=" in item)
        if verb == "object_add" and args.startswith("memory-backend-ram"):
            backends[opts["id"]] = qemu_size(opts["size"])
        elif verb == "device_add" and args.startswith("pc-dimm"):
            size = backends[opts["memdev"]]
            events += [{"action": "hotplug", "boot": 1, "at": f"{DIMM_AT:g}s", "kind": "memory-add",
                        "addr": f"{addr:#x}"} for addr in range(at, at + size, LMB)]
            at += size
    return events


def osrelease(head: Path) -> str | None:
    with VmcoreFile(str(head)) as core:
        return core.vmcoreinfo.get("OSRELEASE")


def document(ref_dir: Path) -> dict:
    """The full scenario document for the case in ref_dir (before dropping keys the model does not know)."""
    case = json.loads((ref_dir / "case.json").read_text())
    gib = int(case["memory"][:-1]) * (1 if case["memory"].endswith("G") else 0)
    memory = f"{gib}GiB" if gib else case["memory"][:-1] + "MiB"
    boot0 = (ref_dir / "console-boot0.log").read_text(errors="replace")
    cpu = crash_cpu(boot0)
    doc = {
        "name": f"reference-{case['kernel']}-{case['name']}",
        "description": f"the emulator's twin of tests/reference/{case['kernel']}/{case['name']}",
        "machine": {"memory": memory, "cpus": case["smp"], "page_size": "64KiB", "endian": "little",
                    "firmware": "qemu", "mmu": case["mmu"]},
        "kernel": {"profile": profile_for(case["kernel"]), "cmdline": case["cmdline"]},
        "crash": {"cpu": cpu, "kind": "sysrq", "at": f"{CRASH_AT:g}s"},
        "capture": {"after": "release"},
    }
    release = osrelease(ref_dir / "vmcore-head.bin") if (ref_dir / "vmcore-head.bin").is_file() else None
    if release:
        doc["kernel"]["osrelease"] = release
    if case.get("maxmem"):
        doc["machine"]["max_memory"] = case["maxmem"] + "iB"
    config = ref_dir.parent / "kernel.config"
    if config.is_file() and nr_cpus(config.read_text()):
        doc["kernel"]["nr_cpus"] = nr_cpus(config.read_text())
    events = dimm_events(case)
    for cpu_off in case.get("offline_cpus", []):
        events.append({"action": "hotplug", "boot": 1, "at": f"{OFFLINE_AT:g}s", "kind": "cpu-offline",
                       "cpu": cpu_off})
    if len(case["boots"]) > 2:  # crash again from the capture kernel after release and re-registration
        # Only that capture kernel registers again (its /init's "register" step); the last one, like the real
        # case's, releases and powers off, so [capture] after stays "release" and the register is an event.
        events.append({"action": "sysfs", "boot": 2, "at": f"{REGISTER_AT:g}s",
                       "path": "/sys/kernel/fadump/registered", "value": "1"})
        cpu2 = crash_cpu((ref_dir / "console-boot1.log").read_text(errors="replace"))
        events.append({"action": "crash", "boot": 2, "at": f"{CRASH_AT:g}s", "cpu": cpu2, "kind": "sysrq"})
    if events:
        doc["events"] = events
    return doc


def scenario_for(ref_dir) -> tuple[dict, scenario_model.Scenario]:
    """(document, Scenario) for the case; optional keys the model rejects are dropped one by one."""
    ref_dir = Path(ref_dir)
    doc = document(ref_dir)
    while True:
        try:
            return doc, scenario.from_document(copy.deepcopy(doc), doc["name"])
        except ScenarioError as exc:
            named = [(t, k) for t, k in OPTIONAL_KEYS if f"'{k}'" in str(exc) and k in doc[t]]
            if not named:
                raise
            doc[named[0][0]].pop(named[0][1])
