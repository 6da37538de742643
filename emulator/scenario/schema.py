"""`fadump-emu schema`: a JSON Schema (draft 2020-12) of the scenario FILE format.

Built from emulator.scenario.keys, the key tables the readers check unknown
keys against, so the schema and the readers cannot disagree on which keys
exist. For TOML editors: Taplo / Even Better TOML read it from a
``#:schema ./scenario.schema.json`` first line or from their settings.
It checks shapes (keys, types, allowed values, formats); the readers check
the rest (ranges that depend on the machine, timelines).
"""

import copy
import json
import sys
from pathlib import Path

from emulator.errors import BadInputError
from emulator.new_files import replace_with
from emulator.scenario.faults import FAULTS
from emulator.scenario.keys import EVENT_COMMON, FAULT_PARAMS, FAULT_REQUIRED, KEYS, table

SCHEMA_ID = "https://fadump-emu.invalid/scenario.schema.json"


def _props(name: str) -> dict:
    return {k: copy.deepcopy(v) for k, v in KEYS[name].items()}


def _one_of_data(frag: dict) -> dict:
    """hex or text, exactly one."""
    frag["oneOf"] = [{"required": ["hex"]}, {"required": ["text"]}]
    return frag


def _event_item() -> dict:
    """An [[events]] entry: its keys depend on its action."""
    common = copy.deepcopy(EVENT_COMMON)
    branches = []
    for action in EVENT_COMMON["action"]["enum"]:
        if action == "write":
            props = {"action": common["action"], **_props("write")}
            required = ["action", "addr"]
        elif action == "crash":
            props = {**common, **_props("crash")}
            required = ["action", "at"]
        else:
            props = {**common, **_props(f"event.{action}")}
            required = ["action", "at"] + (["kind"] if action == "hotplug" else []) + (
                ["path", "value"] if action == "sysfs" else [])
        branches.append({"if": {"properties": {"action": {"const": action}}, "required": ["action"]},
                         "then": {"properties": props, "required": required, "additionalProperties": False}})
    return {"type": "object", "description": "something that happens at a time of a boot (action = ...)",
            "required": ["action"], "properties": {"action": common["action"]}, "allOf": branches}


def _fault_item() -> dict:
    """A [[faults]] entry: kind from the catalog, then that kind's parameters."""
    kind = {"type": "string", "enum": list(FAULTS),
            "description": "fault kind (fadump-emu faults lists them): " + "; ".join(
                f"{k}: {effect}" for k, (effect, _) in FAULTS.items())}
    branches = []
    for name in FAULTS:
        props = {"kind": {"const": name}, **copy.deepcopy(FAULT_PARAMS.get(name, {}))}
        branches.append({"if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
                         "then": {"properties": props, "additionalProperties": False,
                                  "required": ["kind", *FAULT_REQUIRED.get(name, ())]}})
    return {"type": "object", "description": "a fault injected where it happens", "required": ["kind"],
            "properties": {"kind": kind}, "allOf": branches}


def build() -> dict:
    """The JSON Schema of a scenario file."""
    top = _props("top")
    top["machine"] = table(_props("machine"), "[machine]: the partition")
    top["kernel"] = table(_props("kernel"), "[kernel]: the kernels that run")
    write = _one_of_data(table(_props("write"), "a [[memory.write]]: bytes the kernel writes before the crash",
                               required=("addr",)))
    top["memory"] = table({"write": {"type": "array", "items": write,
                                     "description": "[[memory.write]] entries"}}, "[memory]")
    top["crash"] = table({**_props("crash"), **_props("crash_time")}, "[crash]: how and when the kernel crashes")
    top["cpu"] = {"type": "object", "description": "[cpu.N]: registers of CPU N as the crash leaves them",
                  "propertyNames": {"pattern": "^[0-9]{1,5}$"},
                  "additionalProperties": table(_props("cpu"), "[cpu.N]")}
    top["events"] = {"type": "array", "items": _event_item(), "description": "[[events]]: the timeline"}
    top["faults"] = {"type": "array", "items": _fault_item(), "description": "[[faults]]: what goes wrong"}
    top["capture"] = table(_props("capture"), "[capture]: what the capture kernel does")
    expect = _props("expect")
    expect["registers"] = {"type": "array", "description": "registers the vmcore's notes must hold",
                           "items": table(_props("expect.registers"), "an expected register",
                                          required=("name", "value"))}
    expect["memory"] = {"type": "array", "description": "bytes the vmcore must hold",
                        "items": _one_of_data(table(_props("expect.memory"), "an expected memory sample",
                                                    required=("addr",)))}
    expect["sysfs"] = {"type": "array", "description": "sysfs files and their contents",
                       "items": table(_props("expect.sysfs"), "an expected sysfs value",
                                      required=("path", "value"))}
    top["expect"] = table(expect, "[expect]: what must come out")
    schema = table(top, "a fadump-emu scenario file (TOML)")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "fadump-emu scenario", **schema}


def command(args) -> int:
    if getattr(args, "markdown", False):
        from emulator.scenario import scenario_doc

        text = scenario_doc.render()
    else:
        text = json.dumps(build(), indent=2) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return 0
    target = Path(args.output)
    if target.is_dir():
        raise BadInputError(f"{args.output}: is a folder; give a file name, e.g. {args.output}/scenario.schema.json")
    try:
        replace_with(target, text)
    except OSError as exc:
        raise BadInputError(f"{args.output}: cannot write the schema ({exc.strerror}); give a writable file") \
            from None
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
