"""A field scenario as a TOML file: every key with a comment naming the log line it comes from, or ASSUMED and why.

The header lists the profile and why, the observed outcome and every assumption, so a reader sees at once what the
field inputs said and what was filled in. The file reads back with emulator.scenario.loader (a test holds that).
"""

import json


def value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string: JSON's escapes (\", \\, \uXXXX) are TOML's
    if isinstance(v, list):
        if any(isinstance(x, str) for x in v) and sum(len(str(x)) for x in v) > 60:
            return "[\n" + "".join(f"    {value(x)},\n" for x in v) + "]"
        return "[" + ", ".join(value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {v!r}")


def comment(note) -> str:
    if note is None:
        return ""
    text = f"ASSUMED: {note.assumed}" if note.assumed else note.source
    return f"  # {text}" if text else ""


def lines_of(table: dict, notes: dict, prefix: str) -> list[str]:
    out = []
    for key, v in table.items():
        note = notes.get(f"{prefix}.{key}")
        if isinstance(v, list) and v and isinstance(v[0], str) and len(value(v)) > 80:
            if note:
                out.append(comment(note).strip())
            out.append(f"{key} = {value(v)}")
        else:
            out.append(f"{key} = {value(v)}{comment(note)}")
    return out


def render(fs) -> str:
    doc, notes = fs.doc, fs.notes
    head = ["# A field failure as a scenario: written by `fadump-emu from-console`; run it with `fadump-emu run`.",
            f"# Profile {fs.profile}: {fs.profile_why}."]
    if fs.verdict:
        head.append(f"# Observed outcome: {fs.verdict.outcome} ({fs.verdict.why}).")
    assumed = fs.assumptions()
    if assumed:
        head.append("# What the inputs could not tell (each assumption is also marked ASSUMED at its key):")
        head += [f"#   {key}: {why}" for key, why in assumed]
    else:
        head.append("# Nothing assumed: every key comes from the inputs.")
    if fs.head is not None:
        h = fs.head
        loads = ", ".join(f"{a:#x}+{size:#x}" for a, size in h.loads)
        nr = f", NR_CPUS {h.nr_cpus_range[0]}..{h.nr_cpus_range[1]} (metadata size)" if h.nr_cpus_range else ""
        head.append(f"# vmcore head {h.path}: {h.endian}-endian, e_flags {h.e_flags}, {h.cpus} NT_PRSTATUS{nr}; "
                    f"PT_LOAD {loads}; {len(h.vmcoreinfo)} VMCOREINFO keys ({', '.join(list(h.vmcoreinfo)[:4])}, ...)")
    head.append("# Times are the emulator's schedule (events from 10 s, the crash at 20 s or later): the field log's "
                "order is kept, not its times.")
    out = head + [f"name = {value(doc['name'])}", f"description = {value(doc['description'])}"]
    for table in ("machine", "kernel", "crash", "capture"):
        if doc.get(table):
            out += ["", f"[{table}]"] + lines_of(doc[table], notes, table)
    for i, ev in enumerate(doc.get("events", [])):
        note = notes.get(f"events.{i}")
        out += ["", "[[events]]" + comment(note)] + [f"{k} = {value(v)}" for k, v in ev.items()]
    for i, fault in enumerate(doc.get("faults", [])):
        note = notes.get(f"faults.{i}")
        out += ["", "[[faults]]" + comment(note)] + [f"{k} = {value(v)}" for k, v in fault.items()]
    if doc.get("expect"):
        out += ["", "[expect]"] + lines_of(doc["expect"], notes, "expect")
    return "\n".join(out) + "\n"
