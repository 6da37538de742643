"""docs/scenarios.md, written from the scenario format's own tables so that it cannot drift.

Every key, type, default and allowed value comes from emulator.scenario.keys
(the tables the readers check unknown keys against and the JSON Schema is
built from); fault parameters and effects from the fault catalog; outcome
meanings and what each crash kind uses from emulator.scenario.model; the output
folder's files from emulator.scenario.checks.OUTPUT_FILES; units from
emulator.units. The examples are data here, and tests/emulator/scenario/
test_scenario_doc.py loads each one with the real reader, so an example that
stops being valid fails the suite. ``fadump-emu schema --markdown -o
docs/scenarios.md`` (or ``make docs``) writes the file; a test fails when the
committed file differs from what this module writes.
"""

import json
import tomllib

from emulator.hw.cpu import REGISTER_NAMES, SPRS
from emulator.scenario.checks import OUTPUT_FILES
from emulator.scenario.faults import FAULTS
from emulator.scenario.keys import (
    EVENT_COMMON, FAULT_PARAMS, FAULT_REQUIRED, KEYS, SIZE_NOTE, SIZE_PATTERN, TIME_NOTE,
)
from emulator.scenario.model import ACTIONS, CRASH_KIND_USES, OUTCOME_MEANINGS
from emulator.units import _UNITS

GENERATED_BY = "fadump-emu schema --markdown -o docs/scenarios.md"

WHOLE = '''\
name = "my-first-dump"
description = "A 6.10 partition panics on CPU 1; the vmcore holds the workload's bytes and registers"

[machine]
memory = "4GiB"
cpus = 4

[kernel]
profile = "linux-6.10"
cmdline = "root=/dev/sda2 ro fadump=on"

[[memory.write]]
addr = "0x4100000"
text = "my workload's data"
repeat = 16

[crash]
cpu = 1
at = "30s"
message = "Attempted to kill init! exitcode=0x0000000b"

[crash.regs]
nip = "0xc0000000000a5f10"

[expect]
outcome = "vmcore"
console = ["Kernel panic - not syncing: Attempted to kill init!"]

[[expect.registers]]
cpu = 1
name = "nip"
value = "0xc0000000000a5f10"

[[expect.memory]]
addr = "0x4100000"
text = "my workload's data"

[[expect.sysfs]]
path = "/sys/kernel/fadump/registered"
value = "1"
'''
"""A whole scenario that runs and meets its expectations (the doc's test runs it)."""

EXAMPLES: dict[str, list[str]] = {
    "top": ['name = "my-first-dump"\ndescription = "A 6.10 partition panics; the vmcore holds the workload"\n'],
    "machine": ['''\
[machine]
memory = "4GiB"
max_memory = "6GiB"
lmb_size = "256MiB"
holes = [{start = "0x80000000", size = "256MiB"}]
cpus = 4
online_cpus = [0, 1, 3]
page_size = "64KiB"
endian = "little"
rma_size = "256MiB"
extended_os_term = true
mmu = "radix"
firmware = "phyp"
'''],
    "kernel": ['''\
[kernel]
profile = "linux-6.10"
cmdline = "root=/dev/sda2 ro fadump=on"
capture_cmdline = "root=/dev/sda2 ro fadump=on nr_cpus=1"
capture_profile = "linux-6.10"
osrelease = "6.10.0-mine"
capture_osrelease = "6.10.0-mine"
epoch = 1767225600
note_pids = "zero"
nr_cpus = 8
'''],
    "cpu": ['''\
[cpu.2.regs]
nip = "0xc0000000000a5f10"
gpr1 = "0xc0000000fb4f3b80"
msr = "0x8000000000009033"
'''],
    "write": ['''\
[[memory.write]]
addr = "0x4100000"
text = "workload data"
repeat = 64
boot = 1
at = "5s"
kind = "cache"

[[memory.write]]
addr = "0x4110000"
hex = "de ad be ef"
'''],
    "crash": ['''\
[crash]
boot = 1
at = "30s"
cpu = 1
kind = "panic"
message = "Attempted to kill init! exitcode=0x0000000b"

[crash.regs]
nip = "0xc0000000000a5f10"
gpr3 = 42
''', '''\
[crash]
at = "20s"
kind = "system-reset"
stuck_cpus = [3]
'''],
    "events": ['''\
[[events]]
action = "write"
boot = 1
at = "5s"
addr = "0x100000000"
text = "written into the hot-added LMB"

[[events]]
action = "hotplug"
at = "4s"
kind = "memory-add"
addr = "0x100000000"

[[events]]
action = "hotplug"
at = "6s"
kind = "cpu-offline"
cpu = 3

[[events]]
action = "sysfs"
at = "7s"
path = "/sys/kernel/fadump/registered"
value = "0"

[[events]]
action = "sysfs"
at = "8s"
path = "/sys/kernel/fadump/registered"
value = "1"

[[events]]
action = "crash"
at = "20s"
cpu = 1
kind = "oops"

[[events]]
action = "capture"
boot = 2
at = "1s"
path = "vmcore-early"

[[events]]
action = "reboot"
boot = 2
at = "60s"

[capture]
after = "stay"
'''],
    "capture": ['''\
[capture]
after = "release"
save = true
tool = "cp"
'''],
    "expect": ['''\
[expect]
outcome = "vmcore"
console = ["rtas fadump: Registration is successful!"]
no_console = ["kdump: registering for firmware-assisted dump"]
complete = true

[[expect.registers]]
cpu = 0
name = "nip"
value = "0xc0000000000a5f10"

[[expect.memory]]
addr = "0x4100000"
text = "workload data"

[[expect.memory]]
addr = "0x4110000"
hex = "de ad be ef"

[[expect.sysfs]]
boot = 1
path = "/sys/kernel/fadump/registered"
value = "1"
''', '''\
[expect]
outcome = "vmcore"
missing = [{start = "0x100000000", size = "256MiB"}]
bogus = [{start = "0x80000000", size = "256MiB"}]
'''],
}
"""Section -> TOML snippets. Each key's example in the reference tables is its value in these snippets."""

FAULT_EXAMPLES: dict[str, str] = {
    "rtas-status": 'call = "ibm,configure-kernel-dump"\ncommand = "register"\nstatuses = [-2, -2, 0]\n',
    "copy-error": 'section = "boot-memory"\nerror_flags = "0x4000"\nshort_by = "16MiB"\n',
    "disk-full": 'capacity = "16MiB"\n',
    "crash-during-registration": "cpu = 0\n",
    "crash-at-boundary": 'boundary = 3\ntrigger = "system-reset"\ncpu = 1\n',
    "copy-interrupted": 'fraction = 0.5\nmode = "hardware-error"\n',
}
"""Fault kind -> its parameters in TOML (kinds without parameters need only ``kind``)."""

FAULT_CONTEXT = {"elf-header-overwritten": '[kernel]\nprofile = "linux-3.4"\n'}
"""What a fault's example needs besides the [[faults]] entry (shown above it)."""

_MODERN_FIRST = ("/sys/kernel/fadump/enabled", "/sys/kernel/fadump/registered", "/sys/kernel/fadump/mem_reserved",
                 "/sys/kernel/fadump/hotplug_ready", "/sys/kernel/fadump_enabled", "/sys/kernel/fadump_registered",
                 "/sys/kernel/debug/powerpc/fadump_region")
SYSFS_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "linux-3.4": (("/sys/kernel/fadump_enabled", "/sys/kernel/fadump_registered",
                   "/sys/kernel/debug/powerpc/fadump_region"), ("/sys/kernel/fadump_release_mem",)),
    "linux-6.1": (tuple(f for f in _MODERN_FIRST if not f.endswith("hotplug_ready")),
                  ("/sys/kernel/fadump/release_mem", "/sys/kernel/fadump_release_mem")),
    "linux-6.10": (_MODERN_FIRST, ("/sys/kernel/fadump/release_mem", "/sys/kernel/fadump_release_mem")),
    "linux-6.12": (_MODERN_FIRST, ("/sys/kernel/fadump/release_mem", "/sys/kernel/fadump_release_mem")),
    "linux-7.2": (_MODERN_FIRST, ("/sys/kernel/fadump/release_mem", "/sys/kernel/fadump_release_mem")),
}
"""Profile -> (the fadump sysfs/debugfs files a first kernel has, the ones a capture kernel adds); the doc's test
holds each to what a run of that profile really has."""

SECTIONS = (
    ("top", "Top level", "top", "Keys outside any table."),
    ("machine", "[machine]", "machine", "The partition: memory, CPUs, byte order, firmware."),
    ("kernel", "[kernel]", "kernel", "The kernels that run: the first kernel and the capture kernel."),
    ("cpu", "[cpu.N.regs]", "cpu", "Registers of CPU N as the crash leaves them (CPUs that do not crash keep "
                                   "them; firmware saves them). Any register not set has a plausible "
                                   "default."),
    ("write", "[[memory.write]]", "write", "Bytes the kernel writes into memory before the crash (the workload "
                                           "the vmcore must hold). Exactly one of hex or text. A write may not "
                                           "touch the kernel image (below 0x2000000), a hole, or memory the "
                                           "kernel reserved: the dump area the console's `Reserved ...` line "
                                           "names, usually just above boot memory. Boot memory above the "
                                           "image (e.g. 0x4100000) is free: the examples write there."),
    ("crash", "[crash]", "crash", "How and when the kernel crashes. Without [crash] (and without a crash "
                                  "event or a crashing fault) nothing crashes and the outcome is `none`."),
    ("capture", "[capture]", "capture", "What the capture kernel does."),
    ("expect", "[expect]", "expect", "What must come out. A run whose expectations all hold exits 0, else 1."),
)


REQUIRED = {"write": ("addr",)}
"""Keys a section cannot do without (the reader refuses the table without them)."""


def value_formats() -> str:
    units = {}
    for suffix, factor in _UNITS.items():
        if suffix:
            units.setdefault(factor, []).append(suffix.upper() if len(suffix) < 3 else suffix[0].upper() + "iB")
    unit_lines = ", ".join(f"{' '.join(f'`{u}`' for u in sorted(v, key=len))} = 2^{f.bit_length() - 1}"
                           for f, v in units.items())
    return f"""## Value formats

- **size** and **address**: an integer (`4096`, `0x4100000` in TOML) or a string of a number (decimal, or hex
  with `0x`; `_` may separate digits) and an optional unit, case-insensitive: {unit_lines}. Units are
  binary throughout (`"2GB"` is 2 GiB), as the kernel's memparse() reads them. Examples: `"2GiB"`,
  `"256MiB"`, `"64KiB"`, `"0x2000000"`, `"0x1_0000_0000"`, `4096`. (Pattern: `{SIZE_PATTERN}`.)
- **time**: seconds of uptime *of that boot* (each boot starts at 0, as its console stamps do): a number
  (`12.5`) or a string with `s` or `ms` (`"30s"`, `"250ms"`), from 0 up to 1000000 seconds.
- **bytes** (in [[memory.write]], [[expect.memory]] and write events): exactly one of `hex = "de ad be ef"` (pairs
  of hex digits, spaces ignored) or `text = "..."` (UTF-8).
- **boot**: which boot, counting from 1: boot 1 is the first kernel, boot 2 the kernel that boots after the first
  crash or reboot (the capture kernel after a preserved crash), and so on.
- **register names**: `gpr0`..`gpr31`, `fpr0`..`fpr31`, `vr0_hi`/`vr0_lo`..`vr31_hi`/`vr31_lo`,
  `vsr0_hi`/`vsr0_lo`..`vsr63_hi`/`vsr63_lo` and {", ".join(f"`{r}`" for r in SPRS)}. Values are sizes
  (64-bit).
- **range**: a table `{{start = "0x100000000", size = "256MiB"}}` (start is an address, size a size).
"""


def type_of(frag: dict, key: str = "") -> str:
    """A key's type as the reference shows it."""
    if "not" in frag:
        return "refused"
    if "enum" in frag and set(frag["enum"]) == REGISTER_NAMES:
        return "register name (see value formats)"
    if "enum" in frag:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in frag["enum"])
    kinds = frag.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if frag.get("pattern") == SIZE_PATTERN:
        return "address" if key in ("addr", "start") else "size"
    if "string" in kinds and "number" in kinds:
        return "time"
    if kinds == ["object"] and "propertyNames" in frag:
        return "table of register = size"
    if kinds == ["array"]:
        items = frag["items"]
        if items.get("type") == "object":
            return "array of ranges"
        return f"array of {items['type']}s"
    text = kinds[0]
    bounds = []
    if "minimum" in frag:
        bounds.append(f"≥ {frag['minimum']}")
    if "maximum" in frag:
        bounds.append(f"≤ {frag['maximum']}")
    if "exclusiveMaximum" in frag:
        bounds.append(f"< {frag['exclusiveMaximum']}")
    return text + (" " + ", ".join(bounds) if bounds else "")


def description(frag: dict, key: str = "") -> str:
    if key == "outcome":
        return "how the run ends (the outcome table below says what each one means)"
    text = frag.get("description", "")
    for note in (SIZE_NOTE, TIME_NOTE):
        text = text.replace(note, "")
    return text.replace("|", "\\|")


def toml_value(value) -> str:
    """A parsed TOML value written back as TOML (what the example column shows)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _tables(doc: dict, section: str) -> list[dict]:
    """The tables of a parsed snippet that hold ``section``'s keys."""
    if section == "top":
        return [doc]
    if section == "write":
        return doc.get("memory", {}).get("write", [])
    if section == "cpu":
        return [t for t in doc.get("cpu", {}).values()]
    if section == "faults":
        return [doc]
    if section == "events":
        return doc.get("events", [])
    if section.startswith("events."):
        return [e for e in doc.get("events", []) if e.get("action") == section.split(".")[1]]
    if section.startswith("expect."):
        return doc.get("expect", {}).get(section.split(".")[1], [])
    return [doc.get(section, {})]


FALLBACK = {"events.write": "write", "events.crash": "crash"}
"""Where an event action's keys find an example when the [[events]] example does not show them."""


def example_of(section: str, key: str, snippets: list[str] | None = None) -> str | None:
    """``key``'s value in the examples of ``section`` (TOML text), or None when no example shows it."""
    for snippet in snippets if snippets is not None else EXAMPLES[section.split(".")[0]]:
        for table in _tables(tomllib.loads(snippet), section):
            if key in table:
                return toml_value(table[key])
    if section in FALLBACK and snippets is None:
        return example_of(FALLBACK[section], key)
    return None


def key_table(section: str, keys: dict, required=(), snippets=None) -> str:
    rows = ["| key | type | default | example | meaning |", "|---|---|---|---|---|"]
    for key, frag in keys.items():
        if not frag:  # a sub-table, documented in its own section
            continue
        default = "required" if key in required else (
            f"`{toml_value(frag['default'])}`" if "default" in frag else "—")
        example = example_of(section, key, snippets)
        rows.append(f"| `{key}` | {type_of(frag, key)} | {default} | {f'`{example}`' if example else '—'} | "
                    f"{description(frag, key)} |")
    return "\n".join(rows) + "\n"


def fenced(text: str) -> str:
    return f"```toml\n{text.rstrip()}\n```\n"


def section_text(name: str, title: str, table: str, intro: str) -> str:
    keys = dict(KEYS[table])
    if table == "crash":
        keys.update(KEYS["crash_time"])
    out = [f"## {title}\n", intro + "\n", key_table(name, keys, REQUIRED.get(name, ()))]
    if name == "crash":
        out.append("\nWhat each crash `kind` uses (the reader refuses a key its kind would ignore):\n")
        out += [f"- `{kind}`: " + (", ".join(f"`{k}`" for k in uses) if uses else
                                   "none of `regs`, `message`, `stuck_cpus` (no kernel code runs: firmware "
                                   "saves the CPUs' live registers, set them with [cpu.N.regs])")
                for kind, uses in CRASH_KIND_USES.items()]
        out.append("")
    out += ["\nExample:\n"] + [fenced(s) for s in EXAMPLES[name]]
    return "\n".join(out)


def events_text() -> str:
    out = ["## [[events]]\n",
           "The timeline: each entry happens at `at` seconds of uptime of boot `boot`. Every event has these "
           "keys:\n", key_table("events", EVENT_COMMON, required=("action", "at"))]
    for action in ACTIONS:
        if action == "write":
            keys, what = KEYS["write"], ("bytes written at that time, with the keys of [[memory.write]] "
                                         "(`addr` and one of `hex`/`text` required)")
            required = ("addr",)
        elif action == "crash":
            keys, what = KEYS["crash"], "a crash, with the keys of [crash] (a boot crashes at most once)"
            required = ()
        else:
            keys = KEYS[f"event.{action}"]
            what = {"reboot": "the partition reboots cleanly (`reboot`); the next boot starts",
                    "capture": "the capture kernel copies /proc/vmcore once more (to `path`, or to vmcore.N)",
                    "hotplug": "a DLPAR operation from the management console: an LMB added or removed, a CPU "
                               "onlined or offlined",
                    "sysfs": "userspace writes `value` to a sysfs file (e.g. re-registration: 0 then 1 to "
                             "/sys/kernel/fadump/registered, or /sys/kernel/fadump_registered in 3.4; the table "
                             "under [[expect.sysfs]] lists each kernel's files)"}[action]
            required = {"hotplug": ("kind",), "sysfs": ("path", "value")}.get(action, ())
        out.append(f"\n### action = \"{action}\"\n\n{what}.\n")
        if keys:
            out.append(key_table(f"events.{action}", keys, required))
    out.append("\nA memory hotplug event needs `addr` (an LMB's start, below machine.max_memory); a CPU hotplug "
               "event needs `cpu`.\n\nExample:\n")
    out += [fenced(s) for s in EXAMPLES["events"]]
    return "\n".join(out)


def faults_text() -> str:
    out = ["## [[faults]]\n",
           "Something that goes wrong, injected where it happens: `kind` names an entry of the fault catalog "
           "(`fadump-emu faults` prints it), the other keys are that kind's parameters. "
           "`scenarios/faults/` holds one scenario per kind.\n"]
    for kind, (effect, _) in FAULTS.items():
        params = FAULT_PARAMS.get(kind, {})
        out.append(f"\n### kind = \"{kind}\"\n\n{effect[0].upper() + effect[1:]}.\n")
        snippet = FAULT_CONTEXT.get(kind, "") + f'[[faults]]\nkind = "{kind}"\n' + FAULT_EXAMPLES.get(kind, "")
        if params:
            out.append(key_table("faults", params, FAULT_REQUIRED.get(kind, ()),
                                 snippets=[FAULT_EXAMPLES[kind]]))
        else:
            out.append("No parameters.\n")
        out.append(fenced(snippet))
    return "\n".join(out)


def expect_shapes_text() -> str:
    out = ["### [[expect.registers]], [[expect.memory]], [[expect.sysfs]]\n",
           "Arrays of tables (`[[expect.registers]]` entries, or inline `registers = [{...}, ...]`).\n",
           "[[expect.registers]]: a register of a CPU's NT_PRSTATUS note in the first saved vmcore.\n",
           key_table("expect.registers", KEYS["expect.registers"], ("name", "value"), EXAMPLES["expect"]),
           "\n[[expect.memory]]: bytes the first saved vmcore holds at a physical address (exactly one of hex or "
           "text).\n",
           key_table("expect.memory", KEYS["expect.memory"], ("addr",), EXAMPLES["expect"]),
           "\n[[expect.sysfs]]: what a sysfs or debugfs file reads once boot `boot` is up.\n",
           key_table("expect.sysfs", KEYS["expect.sysfs"], ("path", "value"), EXAMPLES["expect"]),
           "\nThe fadump files each kernel has (what `path` may name in [[expect.sysfs]] and sysfs events; "
           "`bootargs_append` too where the kernel sets up its parameter area):\n",
           sysfs_table(),
           "\n`missing` and `bogus` are arrays of ranges: the crash-time memory the first vmcore lacks, and the "
           "memory it describes that was not there (or holds wrongly), exactly. Either one sets `complete = "
           "false`.\n",
           "\n### outcome\n",
           "What `expect.outcome` may say:\n",
           "| outcome | meaning |", "|---|---|"]
    out += [f"| `{k}` | {v} |" for k, v in OUTCOME_MEANINGS.items()]
    return "\n".join(out) + "\n"


def sysfs_table() -> str:
    groups: dict[tuple, list[str]] = {}
    for profile, files in SYSFS_FILES.items():
        groups.setdefault(files, []).append(profile)
    rows = ["| profile | first kernel | a capture kernel also has |", "|---|---|---|"]
    for (first, capture), profiles in groups.items():
        rows.append(f"| {', '.join(profiles)} | {', '.join(f'`{f}`' for f in first)} | "
                    f"{', '.join(f'`{f}`' for f in capture)} |")
    return "\n".join(rows) + "\n"


def output_text() -> str:
    rows = ["## What a run writes\n",
            "`fadump-emu run SCENARIO --out DIR` writes into DIR (default `out/NAME`):\n",
            "| file | holds |", "|---|---|"]
    rows += [f"| `{shown}` | {what} |" for shown, _, what in OUTPUT_FILES]
    rows.append("\nA capture event's `path` adds a file of that name; it may not take one of the names above. "
                "`--force` replaces only these files; yours stay.\n")
    return "\n".join(rows)


def render() -> str:
    """The whole of docs/scenarios.md."""
    parts = [
        "# The scenario file format\n",
        f"<!-- Generated by `{GENERATED_BY}` from emulator/scenario/keys.py, model.py, faults.py and "
        "checks.py. Do not edit: change those and regenerate (tests fail when this file differs). -->\n",
        "A scenario is a TOML file: the machine, the kernels, what happens, what must come out. "
        "`fadump-emu check-scenario FILE` checks one without running it; `fadump-emu schema` writes a JSON Schema "
        "for TOML editors. Every mistake is reported as `file:line: what is wrong` with exit status 2.\n",
        "A whole scenario:\n", fenced(WHOLE), value_formats(),
    ]
    for name, title, table, intro in SECTIONS:
        parts.append(section_text(name, title, table, intro))
        if name == "crash":
            parts += [events_text(), faults_text()]
        if name == "expect":
            parts.append(expect_shapes_text())
    parts.append(output_text())
    return "\n".join(parts)
