"""report.html: one self-contained page per run that a teacher hands out and a CI job attaches.

No network and no script: inline CSS, the memory maps as inline SVG drawn here from the run's map
snapshots (emulator.views.memmap_view), everything else as HTML tables. Sections, each with an id a test can
find: summary, console (every boot), memory-maps, timeline, verification, registers (each CPU's
registers as the scenario set them and as the vmcore holds them), rtas (every RTAS call).
"""

from emulator.units import fmt_size

SECTIONS = ("summary", "console", "memory-maps", "timeline", "verification", "registers", "rtas")
COLOURS = {"boot": "#9ed9e6", "cpu": "#f3e08a", "hpte": "#f5b26b", "copy": "#8fb3f0", "fdh": "#f08f8f",
           "elf": "#e3a0e8", "hole": "#dddddd", "image": "#b8b8b8", "notes": "#9fe09f", "param": "#f5c27b",
           "reserved": "#f4f4f4", "memory": "#ffffff"}
CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:80em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
td.num{text-align:right;font-family:monospace}.ok{color:#070}.fail{color:#b00;font-weight:bold}
.diff{background:#fdd}.maps{display:flex;flex-wrap:wrap;gap:1.5em}.map{flex:1 1 24em}
"""


def escape(text: str) -> str:
    """Text as HTML: &, <, >, " and ' as the entities html.escape(text) gives them. Not html.escape itself: the
    html package imports its table of every named entity (for unescape), about 1 ms of a run's start-up."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("'", "&#x27;"))


def _table(head: list[str], rows: list[list[str]], raw: bool = False) -> str:
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{c if raw else escape(str(c))}</td>" for c in row) + "</tr>")
    return "".join(out) + "</table>"


def summary(result, rep: dict) -> str:
    sc, p = result.scenario, result.partition
    mark = '<span class="ok">expectations met</span>' if rep["ok"] else '<span class="fail">expectations not met</span>'
    rows = [["scenario", escape(f"{sc.name} ({sc.path})")], ["kernel", escape(sc.kernel.profile)],
            ["machine", escape(f"{fmt_size(sc.machine.memory)}, {len(p.cpus)} CPUs")],
            ["outcome", f"<b>{escape(str(rep['outcome']))}</b>, {mark}"],
            ["simulated time", f"{rep['simulated_seconds']} s"]]
    for c in rep["crashes"]:
        rows.append([f"crash in boot {c['boot']}", escape(f"{c['kind']} on CPU {c['cpu']} at {c['time']} s: "
                                                          f"{c['result']}")])
    return _table(["", ""], rows, raw=True)


def console(result) -> str:
    boots: dict[int, list] = {}
    for line in result.partition.console.lines:
        boots.setdefault(line.boot, []).append(line)
    parts = []
    for boot, lines in sorted(boots.items()):
        title = "firmware" if boot == 0 else f"boot {boot}"
        parts.append(f"<h3>{title}</h3><pre>" + escape("".join(ln.render() + "\n" for ln in lines)) + "</pre>")
    return "".join(parts) or "<p>No console output.</p>"


def map_svg(snap) -> str:
    """One snapshot as a bar of regions (lowest address at the top) with a label row per region."""
    row, rows = 18, snap.regions
    width = 180 + 7 * max((len(r.label) + 12 for r in rows), default=20)
    height = row * len(rows) + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'style="max-width:100%;height:auto" role="img" '
           f'aria-label="memory map {escape(snap.moment)}">']
    for i, r in enumerate(rows):
        y = 5 + i * row
        out.append(f'<rect x="2" y="{y}" width="40" height="{row - 2}" fill="{COLOURS.get(r.kind, "#fff")}" '
                   'stroke="#555"/>')
        out.append(f'<text x="48" y="{y + 13}" font-size="11" font-family="monospace">{r.start:#x}</text>')
        out.append(f'<text x="170" y="{y + 13}" font-size="11">{escape(r.label)} ({fmt_size(r.size)})</text>')
    out.append("</svg>")
    return "".join(out)


def memory_maps(result) -> str:
    snaps = result.snapshots_for_map
    if not snaps:
        return "<p>No memory map: the run never crashed.</p>"
    parts = []
    for snap in snaps:
        notes = [f"{s.label}: [{s.start:#x}, {s.end:#x}) {fmt_size(s.size)}" for s in snap.spans]
        notes += [f"PT_LOAD {i}: [{ld['paddr']:#x}, {ld['paddr'] + ld['size']:#x})" for i, ld in enumerate(snap.loads)]
        notes += [f"{what}: [{fs:#x}, {fe:#x}) -> [{ts:#x}, {te:#x})" for fs, fe, ts, te, what in snap.arrows]
        notes += list(snap.remarks)
        parts.append(f'<div class="map"><h3>{escape(snap.moment)} (boot {snap.boot}, t = {snap.time:.6f} s)</h3>'
                     + map_svg(snap) + "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul></div>")
    return '<div class="maps">' + "".join(parts) + "</div>"


def timeline(spans: list[dict]) -> str:
    rows = []
    for span in sorted(spans, key=lambda s: s["start"]):
        end = "" if span["end"] is None else f"{span['end']:.6f}"
        args = ", ".join(f"{k}={v}" for k, v in span["args"].items())
        rows.append([f"{span['start']:.6f}", end, span["actor"], span["name"], args])
    return _table(["start (s)", "end (s)", "actor", "what", "details"], rows) if rows else "<p>No events.</p>"


def verification(rep: dict) -> str:
    rows = [[f'<span class="{"ok" if e["ok"] else "fail"}">{"ok" if e["ok"] else "FAIL"}</span>',
             escape(e["what"]), escape(e["detail"] or "")] for e in rep["expectations"]]
    out = _table(["", "expectation", "detail"], rows, raw=True)
    for cap in rep["captures"]:
        v = cap.get("verification") or {}
        if cap.get("rejected"):
            out += f"<p>Boot {cap['boot']}: the capture kernel rejected the dump.</p>"
            continue
        counts = ", ".join(f"{len(v.get(k) or [])} {k}" for k in ("missing", "bogus", "differs"))
        out += (f"<p>Boot {cap['boot']}: {escape(str(cap.get('vmcore')))} ({escape(str(cap.get('format')))}), "
                f"{'matches' if v.get('ok') else 'does not match'} crash-time memory ({counts}).</p>")
    return out


def registers(rep: dict) -> str:
    parts = []
    for cap in rep["captures"]:
        for cpu, regs in cap.get("registers", {}).items():
            rows = []
            for name, pair in regs.items():
                cls = "" if pair["scenario"] == pair["vmcore"] else ' class="diff"'
                rows.append(f"<tr{cls}><td>{escape(name)}</td><td class=num>{pair['scenario']}</td>"
                            f"<td class=num>{pair['vmcore']}</td></tr>")
            parts.append(f"<h3>boot {cap['boot']}, CPU {escape(cpu)}</h3><table><tr><th>register</th>"
                         "<th>as set</th><th>as found in the vmcore</th></tr>" + "".join(rows) + "</table>")
    return "".join(parts) or "<p>No vmcore, so no registers were found.</p>"


def rtas(result) -> str:
    from emulator.views.trace import rtas_name, rtas_status

    rows = [[f"{c.time:.6f}", rtas_name(c), " ".join(f"{int(a):#x}" for a in c.args), rtas_status(c.status)]
            for c in result.partition.rtas_calls]
    return _table(["time (s)", "call", "arguments", "status"], rows) if rows else "<p>No RTAS calls.</p>"


def render(result, rep: dict, spans: list[dict]) -> str:
    """The whole page; ``spans`` is the run's timeline (emulator.views.observers.Timeline)."""
    body = {"summary": summary(result, rep), "console": console(result), "memory-maps": memory_maps(result),
            "timeline": timeline(spans), "verification": verification(rep), "registers": registers(rep),
            "rtas": rtas(result)}
    titles = {"summary": "Summary", "console": "Console", "memory-maps": "Memory maps", "timeline": "Timeline",
              "verification": "Verification", "registers": "Registers", "rtas": "RTAS calls"}
    nav = " · ".join(f'<a href="#{s}">{titles[s]}</a>' for s in SECTIONS)
    sections = "".join(f'<section id="{s}"><h2>{titles[s]}</h2>{body[s]}</section>' for s in SECTIONS)
    title = escape(f"fadump-emu: {result.scenario.name}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{CSS}</style></head><body><h1>{title}</h1><nav>{nav}</nav>{sections}</body></html>\n")
