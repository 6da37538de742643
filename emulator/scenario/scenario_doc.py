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
from emulator.scenario.doc_examples import EXAMPLES, FAULT_CONTEXT, FAULT_EXAMPLES, SYSFS_FILES, WHOLE
from emulator.units import _UNITS

GENERATED_BY = "fadump-emu schema --markdown -o docs/scenarios.md"

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
