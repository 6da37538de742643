"""The scenario file format as data: every table, its keys, their types, units, defaults and allowed values.

One source of truth for three users: the readers' unknown-key checks
(emulator.scenario.parts, emulator.scenario take their key sets from KEYS),
the JSON Schema that `fadump-emu schema` writes (emulator.scenario.schema),
and `fadump-emu faults` (FAULT_PARAMS, the typed parameters of each fault in
emulator.scenario.faults.FAULTS). Each key is a JSON Schema fragment with a description.
"""

from emulator.hw.cpu import REGISTER_NAMES
from emulator.scenario.faults import FAULTS, SECTIONS
from emulator.scenario.model import (
    ACTIONS, CAPTURE_AFTER, CRASH_KINDS, DEFAULT_EPOCH, HOTPLUG_KINDS, OUTCOME_MEANINGS, OUTCOMES, PAGE_KINDS,
    PROFILES,
)
from firmware.platforms import FIRMWARES

SIZE_PATTERN = r"^\s*(0[xX][0-9a-fA-F_]+|[0-9][0-9_]*)\s*([kKmMgGtTpP]([iI]?[bB])?|[bB])?\s*$"
"""What emulator.units.parse_size reads: a number (decimal or 0x hex) and a binary unit."""
TIME_PATTERN = r"^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*(ms|s)?\s*$"
"""What the reader's seconds() reads: "30s", "250ms", "12.5"."""
SIZE_NOTE = " (bytes: an integer or \"2GiB\", \"256MiB\", \"64KiB\", \"0x2000000\"; binary units)"
"""What size() appends to a description (the markdown reference shows it once, under value formats)."""
TIME_NOTE = " (seconds of uptime: a number or \"10s\", \"250ms\")"


def size(description: str, default=None) -> dict:
    """A byte count or an address: an integer, or a string like "2GiB", "256MiB", "0x2000000"."""
    frag = {"type": ["integer", "string"], "minimum": 0, "pattern": SIZE_PATTERN,
            "description": description + SIZE_NOTE}
    if default is not None:
        frag["default"] = default
    return frag


def time(description: str, default=None) -> dict:
    """Seconds of uptime: a number or "10s", "250ms"."""
    frag = {"type": ["number", "string"], "minimum": 0, "pattern": TIME_PATTERN,
            "description": description + TIME_NOTE}
    if default is not None:
        frag["default"] = default
    return frag


def choice(values, description: str, default=None) -> dict:
    frag = {"type": "string", "enum": list(values), "description": description}
    if default is not None:
        frag["default"] = default
    return frag


def integer(description: str, default=None, minimum=None, maximum=None) -> dict:
    frag = {"type": "integer", "description": description}
    for key, value in (("default", default), ("minimum", minimum), ("maximum", maximum)):
        if value is not None:
            frag[key] = value
    return frag


def string(description: str, default=None) -> dict:
    frag = {"type": "string", "description": description}
    if default is not None:
        frag["default"] = default
    return frag


def boolean(description: str, default=None) -> dict:
    frag = {"type": "boolean", "description": description}
    if default is not None:
        frag["default"] = default
    return frag


def table(properties: dict, description: str, required=()) -> dict:
    frag = {"type": "object", "description": description, "properties": properties, "additionalProperties": False}
    if required:
        frag["required"] = list(required)
    return frag


def array(items: dict, description: str) -> dict:
    return {"type": "array", "items": items, "description": description}


def list_of(kind: str, description: str) -> dict:
    return {"type": "array", "items": {"type": kind}, "description": description}


RANGE = table({"start": size("first byte"), "size": size("length")}, "a range {start = \"0x...\", size = \"256MiB\"}",
              required=("start", "size"))
REGS = {"type": "object", "propertyNames": {"enum": sorted(REGISTER_NAMES)}, "additionalProperties": size("value"),
        "description": "register values by name: gpr0..gpr31, nip, msr, link, ctr, xer, ccr, dar, dsisr, trap, "
                       "softe, orig_gpr3, result and other SPR names"}
DATA = {"hex": string("bytes as hex digit pairs, e.g. \"de ad be ef\" (exactly one of hex or text)"),
        "text": string("bytes as UTF-8 text (exactly one of hex or text)")}

KEYS: dict[str, dict[str, dict]] = {
    "top": {
        "name": string("scenario name (default: the file name without .toml)"),
        "description": string("one line saying what the scenario shows", ""),
        "machine": {}, "kernel": {}, "memory": {}, "crash": {}, "cpu": {}, "events": {}, "capture": {},
        "expect": {}, "faults": {},
    },
    "machine": {
        "memory": size("RAM present at boot; a multiple of lmb_size", "8GiB"),
        "max_memory": size("room for hot-added LMBs (default: memory)"),
        "lmb_size": size("logical memory block size, a power of two of at least 16MiB", "256MiB"),
        "holes": array(RANGE, "address ranges with no memory, LMB-aligned, not at 0"),
        "cpus": integer("number of CPUs", 8, 1, 2048),
        "online_cpus": list_of("integer", "CPU numbers online at boot (default all)"),
        "page_size": size("kernel page size: \"64KiB\" or \"4KiB\"", "64KiB"),
        "endian": choice(("little", "big"), "byte order: little (ppc64le) or big (ppc64)", "little"),
        "rma_size": size("real mode area size, a multiple of 16MiB (default: the firmware's: PowerVM the first LMB, "
                                "QEMU min(memory, 1TiB))"),
        "register_save_area": {"description": "replaced by machine.firmware (refused with a hint)", "not": {}},
        "extended_os_term": boolean("firmware advertises ibm,extended-os-term", True),
        "mmu": choice(("hash", "radix"), "MMU mode", "hash"),
        "firmware": choice(tuple(FIRMWARES), "firmware: phyp = PowerVM (LoPAR layout), qemu = QEMU >= 10.2 pseries",
                           "phyp"),
    },
    "kernel": {
        "profile": choice(PROFILES, "kernel release whose fadump code runs the first kernel", PROFILES[0]),
        "cmdline": string("first kernel's command line", "root=/dev/sda2 fadump=on"),
        "capture_cmdline": string("capture kernel's command line (default: cmdline)"),
        "capture_profile": choice(PROFILES, "kernel release of the capture kernel (default: profile)"),
        "osrelease": string("uname -r of the first kernel (default: the profile's, e.g. 6.10.0-fadump-emu)"),
        "capture_osrelease": string("uname -r of the capture kernel (default: osrelease when both kernels run the same "
                                    "profile, else the capture profile's)"),
        "epoch": integer("wall-clock time of the first boot, seconds since 1970", DEFAULT_EPOCH, minimum=0),
        "note_pids": choice(("zero", "cpu"), "pid in NT_PRSTATUS notes: zero (as fadump writes them) or cpu",
                            "zero"),
        "nr_cpus": integer("CONFIG_NR_CPUS, at least machine.cpus (default: the profile's pseries defconfig "
                                   "value)", minimum=2),
    },
    "cpu": {"regs": REGS},
    "memory": {"write": {}},
    "write": {
        "addr": size("where the bytes go (an address)"), **DATA,
        "repeat": integer("how many times the bytes are repeated", 1, 1),
        "boot": integer("which boot writes (1 = the first kernel)", 1, 1, 999),
        "at": time("when", 5.0),
        "kind": choice(PAGE_KINDS, "what the pages hold, for mem_map", "kernel"),
    },
    "crash": {
        "cpu": integer("crashing CPU", 0, 0),
        "kind": choice(CRASH_KINDS, "how the kernel crashes", "panic"),
        "message": string("panic message (kind = \"panic\" only)", "fadump-emu: scripted crash"),
        "regs": dict(REGS, description="the crashing CPU's registers as crash_fadump() saves them in the crash "
                                       "info header (not with kind = \"hypervisor\": set [cpu.N] regs)"),
        "stuck_cpus": list_of("integer", "CPUs that do not answer the system reset (kind = \"system-reset\" only)"),
    },
    "crash_time": {
        "at": time("when the crash happens", "30s"),
        "boot": integer("which boot crashes (1 = the first kernel)", 1, 1, 999),
    },
    "capture": {
        "after": choice(CAPTURE_AFTER, "what the capture kernel does after saving the vmcore", "release"),
        "save": boolean("the capture kernel saves the vmcore", True),
        "tool": choice(("cp", "makedumpfile"), "cp copies /proc/vmcore; makedumpfile runs makedumpfile -l "
                                               "--message-level 7 -d 31 (kdump-utils)", "cp"),
    },
    "expect": {
        "outcome": choice(OUTCOMES, "how the run ends: " + "; ".join(f"{k}: {v}" for k, v in OUTCOME_MEANINGS.items())),
        "console": list_of("string", "lines (substrings) the console must show"),
        "no_console": list_of("string", "lines (substrings) the console must not show"),
        "complete": boolean("the vmcore holds all of crash-time memory", True),
        "missing": array(RANGE, "ranges the vmcore is expected to lack"),
        "bogus": array(RANGE, "ranges the vmcore is expected to hold wrongly"),
        "registers": {}, "memory": {}, "sysfs": {},
    },
    "expect.registers": {
        "cpu": integer("CPU number", 0, 0),
        "name": choice(sorted(REGISTER_NAMES), "register name"),
        "value": size("value the vmcore's note must hold"),
    },
    "expect.memory": {"addr": size("address in the vmcore"), **DATA},
    "expect.sysfs": {
        "boot": integer("which boot reads it", 1, 1, 999),
        "path": string("sysfs path, e.g. /sys/kernel/fadump/enabled"),
        "value": string("expected contents; compared without a trailing newline (\"1\" matches a file reading "
                        "\"1\\n\")"),
    },
    "event.reboot": {},
    "event.capture": {"path": string("where the capture kernel saves the vmcore")},
    "event.hotplug": {
        "kind": choice(HOTPLUG_KINDS, "what is hot-plugged"),
        "addr": size("the LMB's start (memory-add, memory-remove)"),
        "cpu": integer("the CPU number (cpu-online, cpu-offline)", minimum=0),
    },
    "event.sysfs": {"path": string("sysfs file written"), "value": string("text written")},
}
"""Table -> key -> JSON Schema fragment. Empty fragments are sub-tables the schema module fills in."""

EVENT_COMMON = {
    "action": choice(ACTIONS, "what happens"),
    "boot": integer("which boot (1 = the first kernel)", 1, 1, 999),
    "at": time("when (required)"),
}

FAULT_PARAMS: dict[str, dict[str, dict]] = {
    "rtas-status": {
        "call": choice(("ibm,configure-kernel-dump", "ibm,os-term"), "which RTAS call answers with the statuses"),
        "command": choice(("register", "unregister", "invalidate"),
                          "only calls with this command (configure-kernel-dump only; optional)"),
        "statuses": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 1000,
                     "description": "status words returned first, consumed one per call (e.g. [-2, -2, 0])"},
    },
    "copy-error": {
        "section": choice(tuple(SECTIONS), "which section fails"),
        "error_flags": size("error flags set on the section, e.g. 0x4000 (invalid source)", 0),
        "short_by": size("bytes left undumped", 0),
    },
    "disk-full": {"capacity": size("bytes the disk takes, e.g. \"16MiB\"", 0)},
    "crash-during-registration": {"cpu": integer("crashing CPU", 0, 0)},
    "crash-at-boundary": {
        "boundary": integer("index of the lifecycle boundary (fadump-emu explore prints them)", minimum=0),
        "trigger": choice((*CRASH_KINDS, "power-loss"), "crash kind, or power loss during the firmware's copy",
                          "panic"),
        "cpu": integer("crashing CPU (default: the first online)", minimum=0),
    },
    "copy-interrupted": {
        "fraction": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.5,
                     "description": "share of boot memory copied before the copy stops, 0 up to 1"},
        "mode": choice(("power-loss", "hardware-error"), "why the copy stops", "power-loss"),
    },
}
"""Fault kind -> parameter -> JSON Schema fragment; parameter names are those of FAULTS (checked below)."""
FAULT_REQUIRED: dict[str, tuple[str, ...]] = {
    "rtas-status": ("call", "statuses"), "copy-error": ("section",), "crash-at-boundary": ("boundary",),
}
"""The parameters a fault cannot do without (the reader refuses the fault when they are absent)."""



def check_fault_params(faults: dict, params: dict) -> None:
    """Every fault's typed parameters name exactly the parameters its catalog entry documents."""
    for kind, (_, documented) in faults.items():
        if set(params.get(kind, {})) != set(documented):
            raise AssertionError(f"FAULT_PARAMS[{kind!r}] does not name the parameters of FAULTS[{kind!r}]")
    for kind in set(params) - set(faults):
        raise AssertionError(f"FAULT_PARAMS[{kind!r}] types a fault the catalog does not have")


check_fault_params(FAULTS, FAULT_PARAMS)


def names(table_name: str) -> set[str]:
    """The keys a table accepts (what the reader's unknown-key check allows)."""
    return set(KEYS[table_name])
