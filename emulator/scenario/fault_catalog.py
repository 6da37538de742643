"""`fadump-emu faults`: the fault catalog with each fault's parameters and effect.

The effects come from emulator.scenario.faults.FAULTS, the typed parameters from
emulator.scenario.keys.FAULT_PARAMS (the same data the JSON Schema uses).
"""

import json
import sys

from emulator.scenario.faults import FAULTS
from emulator.scenario.keys import FAULT_PARAMS, FAULT_REQUIRED


def value_type(frag: dict) -> str:
    """A parameter's type or allowed values, as a person reads them."""
    if "enum" in frag:
        return " | ".join(f'"{v}"' for v in frag["enum"])
    kinds = frag["type"] if isinstance(frag["type"], list) else [frag["type"]]
    if "pattern" in frag and "integer" in kinds:
        return "size (integer or \"16MiB\", \"0x4000\")"
    if frag["type"] == "array":
        return f"array of {frag['items']['type']}s"
    bounds = ""
    if "minimum" in frag and "exclusiveMaximum" in frag:
        bounds = f" in [{frag['minimum']}, {frag['exclusiveMaximum']})"
    elif "minimum" in frag:
        bounds = f" >= {frag['minimum']}"
    return " or ".join(kinds) + bounds


def catalog() -> list[dict]:
    """One entry per fault kind: kind, effect, parameters (name, type, allowed, default, required, description)."""
    out = []
    for kind, (effect, _) in FAULTS.items():
        params = []
        for name, frag in FAULT_PARAMS.get(kind, {}).items():
            params.append({"name": name, "type": value_type(frag), "allowed": frag.get("enum"),
                           "default": frag.get("default"), "required": name in FAULT_REQUIRED.get(kind, ()),
                           "description": frag["description"]})
        out.append({"kind": kind, "effect": effect, "parameters": params})
    return out


def plain_text(entries: list[dict]) -> str:
    """Plain text, one line per fault and one per parameter, never wrapped (for pipes, grep and files)."""
    lines = []
    for e in entries:
        lines.append(f"{e['kind']}: {e['effect']}")
        if not e["parameters"]:
            lines.append("    (no parameters)")
        width = max((len(p["name"]) for p in e["parameters"]), default=0)
        for p in e["parameters"]:
            default = "required" if p["required"] else (
                f"default {json.dumps(p['default'])}" if p["default"] is not None else "optional")
            lines.append(f"    {p['name']:<{width}}  {p['type']}  [{default}]  {p['description']}")
    return "\n".join(lines) + "\n"


def rich_table(entries: list[dict]):
    from rich.table import Table

    table = Table(title="fault catalog ([[faults]] kind = ...)", show_lines=True)
    for column in ("kind", "parameters (type, default)", "effect"):
        table.add_column(column)
    for e in entries:
        params = "\n".join(
            f"{p['name']}: {p['type']}" + (" (required)" if p["required"] else
                                            f" (default {json.dumps(p['default'])})" if p["default"] is not None
                                            else " (optional)")
            for p in e["parameters"]) or "-"
        table.add_row(e["kind"], params, e["effect"])
    return table


def command(args) -> int:
    entries = catalog()
    if args.json:
        print(json.dumps(entries, indent=2))
    elif sys.stdout.isatty():
        from rich.console import Console

        Console(highlight=False).print(rich_table(entries))
    else:
        sys.stdout.write(plain_text(entries))
    return 0
