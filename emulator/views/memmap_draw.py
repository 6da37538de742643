"""Memory map pictures (SVG and PNG) of the snapshots in emulator.views.memmap_view, with matplotlib.

One column of stacked boxes per moment, lowest address at the top as in the 3.4 commit's picture; box
heights grow with size but are not to scale (a 400-byte header and 8 GiB of memory must both be
readable). From left to right: brackets of reserved areas (each in its own lane), addresses, the boxes,
the arrows of pointers and copies, callouts for labels that do not fit their box, brackets of the vmcore's
PT_LOADs and their labels.

Nothing is placed by eye: every text is measured with matplotlib's font metrics before it is placed
(``text_size``); a label goes inside its box only when it fits there, otherwise into the callout column
with a leader line; texts of one column are spread so that none overlaps another (``spread``). The figure
has fixed inches per data unit, so the measured sizes hold in the drawing.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyArrowPatch, Rectangle

from emulator.units import fmt_size

COLOURS = {"memory": "#e9ecef", "boot": "#8ecae6", "image": "#adb5bd", "hole": "#ffffff", "reserved": "#f8f9fa",
           "cpu": "#ffb703", "hpte": "#fb8500", "copy": "#219ebc", "fdh": "#e63946", "elf": "#c77dff",
           "notes": "#90be6d", "param": "#f4a261", "hotplug": "#b7e4c7"}
IN_X, IN_Y = 0.55, 0.42
"""Inches per data unit, across and down."""
MARKER_HEIGHT = 0.35
BAR_WIDTH = 3.4
LANE = 0.55
FONT = 6.5
GAP = 0.06
"""Data units kept free between two texts of a column."""
_MEASURE = RendererAgg(10, 10, 72)
"""A 72-dpi renderer: its pixels are points."""


def text_size(text: str, size: float, family: str = "sans-serif") -> tuple[float, float]:
    """(width, height) of ``text`` in inches, lines stacked at matplotlib's 1.2 line spacing."""
    prop = FontProperties(size=size, family=family)
    widths = [_MEASURE.get_text_width_height_descent(line or " ", prop, ismath=False)[0]
              for line in text.split("\n")]
    return max(widths) / 72, len(widths) * size * 1.2 / 72 + 2 / 72


def wrap(text: str, width_in: float, size: float) -> str:
    """Greedy word wrap of ``text`` into lines at most ``width_in`` inches wide (at font ``size``)."""
    out = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            trial = f"{line} {word}" if line else word
            if line and text_size(trial, size)[0] > width_in:
                out.append(line)
                line = word
            else:
                line = trial
        out.append(line)
    return "\n".join(out)


def spread(items: list[tuple[float, float]], lo: float, hi: float) -> list[float]:
    """Centres for (desired centre, height) items so that none overlaps the next (GAP apart), in order.

    Pushed down where they collide, then back up if they run past ``hi``, never above ``lo``.
    """
    order = sorted(range(len(items)), key=lambda i: items[i][0])
    centres = [0.0] * len(items)
    bottom = lo - GAP
    for i in order:
        want, h = items[i]
        centres[i] = max(want, bottom + GAP + h / 2)
        bottom = centres[i] + h / 2
    top = hi + GAP
    for i in reversed(order):
        h = items[i][1]
        if centres[i] + h / 2 > top - GAP:
            centres[i] = max(lo + h / 2, top - GAP - h / 2)
        top = centres[i] - h / 2
    return centres


def heights(regions) -> list[float]:
    """Box heights: at least one text line, growing with the fourth root of the size."""
    biggest = max((r.size for r in regions), default=1) or 1
    return [MARKER_HEIGHT if not r.size else 0.8 + 2.2 * (r.size / biggest) ** 0.25 for r in regions]


class Layout:
    """Where everything of one snapshot goes, in data units; computed before anything is drawn."""

    def __init__(self, snap):
        self.snap = snap
        self.hs = heights(snap.regions)
        self.tops = [sum(self.hs[:i]) for i in range(len(self.hs))]
        self.total = sum(self.hs)
        self.spans_end = 0.3 + LANE * len(snap.spans)
        addr_w = max((text_size(f"{r.end:#x}", FONT, "monospace")[0] for r in snap.regions), default=0.5) / IN_X
        self.addr_right = self.spans_end + addr_w + 0.15
        self.bar_left = self.addr_right + 0.1
        self.bar_right = self.bar_left + BAR_WIDTH
        self.call_left = self.bar_right + 0.35 * (len(snap.arrows) + 1) + 0.2
        self.inside: list[tuple[int, str, float]] = []
        """(region index, text, font size) of labels drawn inside their box."""
        self.callouts: list[dict] = []
        """{text, y, anchor_x, colour} of labels drawn in the callout column."""
        for i, (r, top, h) in enumerate(zip(snap.regions, self.tops, self.hs)):
            label = f"{r.label} ({fmt_size(r.size)})"
            for size in (7.0, 6.5, 6.0):
                text = label
                if text_size(label, size)[0] > (BAR_WIDTH - 0.5) * IN_X:  # the size gets a line of its own
                    text = wrap(r.label, (BAR_WIDTH - 0.6) * IN_X, size) + f"\n({fmt_size(r.size)})"
                w, th = text_size(text, size)
                if w <= (BAR_WIDTH - 0.5) * IN_X and th <= (h - 0.1) * IN_Y:
                    self.inside.append((i, text, size))
                    break
            else:
                self.callouts.append({"text": wrap(label, 3.0, FONT), "y": top + h / 2, "anchor": self.bar_right,
                                      "colour": "#333333"})
        for n, (fs, fe, ts, te, what) in enumerate(snap.arrows):
            y0, y1 = self.box_centre(fs, fe), self.box_centre(ts, te)
            reach = 0.35 * (n + 1)
            self.callouts.append({"text": wrap(what, 3.0, FONT), "y": (y0 + y1) / 2,
                                  "anchor": self.bar_right + reach, "colour": "#c1121f"})
        call_w = max((text_size(c["text"], FONT)[0] for c in self.callouts), default=0.0) / IN_X
        self.loads = snap.loads[:10]
        self.load_left = self.call_left + call_w + 0.35
        self.load_text = self.load_left + 0.3 * len(self.loads) + 0.15
        self.load_labels = []
        for i, ld in enumerate(self.loads):
            label = f"PT_LOAD {i}: {ld['paddr']:#x}, {fmt_size(ld['size'])}"
            if ld["source"] != ld["paddr"]:
                label += f"\nbytes read from {ld['source']:#x}"
            self.load_labels.append(label)
        load_w = max((text_size(t, FONT)[0] for t in self.load_labels), default=0.0) / IN_X
        self.width = max(self.load_text + load_w + 0.3, 9.0)
        remarks = ["heights not to scale"] + list(snap.remarks)
        if len(snap.loads) > len(self.loads):
            remarks.append(f"+{len(snap.loads) - len(self.loads)} more PT_LOADs")
        self.remarks = [wrap(r, (self.width - 0.4) * IN_X, FONT) for r in remarks]
        self.bottom = self.total + 0.3 + sum(text_size(r, FONT)[1] / IN_Y + GAP for r in self.remarks)

    def y_of(self, addr: int) -> float:
        """An address as a height in the picture (interpolated inside its box)."""
        for r, top, h in zip(self.snap.regions, self.tops, self.hs):
            if r.start <= addr < r.end:
                return top + h * (addr - r.start) / r.size
        return self.total

    def box_centre(self, start: int, end: int) -> float:
        """The centre of the biggest box inside [start, end): where an arrow to or from that range attaches."""
        best = None
        for r, top, h in zip(self.snap.regions, self.tops, self.hs):
            if start <= r.start and r.end <= end and r.size and (best is None or r.size > best[0]):
                best = (r.size, top + h / 2)
        return best[1] if best else (self.y_of(start) + self.y_of(max(start, end - 1))) / 2


def draw(ax, snap, lay: Layout | None = None) -> None:
    """Draw one moment on ``ax`` (whose data limits the layout sets)."""
    lay = lay or Layout(snap)
    inside = {i: (text, size) for i, text, size in lay.inside}
    for i, (r, top, h) in enumerate(zip(snap.regions, lay.tops, lay.hs)):
        ax.add_patch(Rectangle((lay.bar_left, top), BAR_WIDTH, h, facecolor=COLOURS.get(r.kind, "#dddddd"),
                               edgecolor="#333333", linewidth=0.8, hatch="//" if r.kind == "hole" else None,
                               gid=f"box:{i}"))
        if i in inside:
            text, size = inside[i]
            ax.text(lay.bar_left + BAR_WIDTH / 2, top + h / 2, text, ha="center", va="center", fontsize=size,
                    gid=f"box:{i}", bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5}
                    if r.kind == "hole" else None)
    addresses = [(top, f"{r.start:#x}") for r, top in zip(snap.regions, lay.tops)]
    if snap.regions:
        addresses.append((lay.total, f"{snap.regions[-1].end:#x}"))
    line_h = text_size("0x0", FONT, "monospace")[1] / IN_Y
    for (want, text), y in zip(addresses, spread([(y, line_h) for y, _ in addresses], -0.2, lay.total + 0.2)):
        ax.text(lay.addr_right, y, text, ha="right", va="center", fontsize=FONT, family="monospace")
    for i, span in enumerate(snap.spans):
        x = 0.3 + LANE * (i + 1) - 0.1
        y0, y1 = lay.y_of(span.start), lay.y_of(span.end)
        ax.plot([x + 0.1, x, x, x + 0.1], [y0, y0, y1, y1], color="#333333", linewidth=1)
        size = FONT + 0.5
        while size > 4.5 and text_size(span.label, size)[0] / IN_Y > lay.total + 0.4:
            size -= 0.5
        ax.text(x - 0.06, max(0.2, min((y0 + y1) / 2, lay.total - 0.2)), span.label, rotation=90, ha="right",
                va="center", fontsize=size)
    for n, (fs, fe, ts, te, _) in enumerate(snap.arrows):
        y0, y1 = lay.box_centre(fs, fe), lay.box_centre(ts, te)
        if abs(y1 - y0) < 1e-6:
            continue
        reach = 0.35 * (n + 1)
        frac = reach / abs(y1 - y0)
        ax.add_patch(FancyArrowPatch((lay.bar_right, y0), (lay.bar_right, y1),
                                     connectionstyle=f"bar,fraction={-frac if y1 > y0 else frac:.4f}",
                                     arrowstyle="-|>", mutation_scale=9, color="#c1121f", linewidth=1))
    heights_ = [text_size(c["text"], FONT)[1] / IN_Y for c in lay.callouts]
    ys = spread([(c["y"], h) for c, h in zip(lay.callouts, heights_)], -0.2, lay.total)
    for c, y in zip(lay.callouts, ys):
        ax.plot([c["anchor"], lay.call_left - 0.05], [c["y"], y], color=c["colour"], linewidth=0.5)
        ax.text(lay.call_left, y, c["text"], ha="left", va="center", fontsize=FONT, color=c["colour"])
    lh = [text_size(t, FONT)[1] / IN_Y for t in lay.load_labels]
    centres = [(lay.y_of(ld["paddr"]) + lay.y_of(ld["paddr"] + ld["size"])) / 2 for ld in lay.loads]
    for i, (ld, y) in enumerate(zip(lay.loads, spread(list(zip(centres, lh)), -0.2, lay.total))):
        x = lay.load_left + 0.3 * i
        y0, y1 = lay.y_of(ld["paddr"]), lay.y_of(ld["paddr"] + ld["size"])
        ax.plot([x - 0.1, x, x, x - 0.1], [y0, y0, y1, y1], color="#333333", linewidth=1)
        ax.plot([x, lay.load_text - 0.05], [(y0 + y1) / 2, y], color="#999999", linewidth=0.4)
        ax.text(lay.load_text, y, lay.load_labels[i], ha="left", va="center", fontsize=FONT)
    y = lay.total + 0.3
    for remark in lay.remarks:
        h = text_size(remark, FONT)[1] / IN_Y
        ax.text(0.1, y, remark, fontsize=FONT, style="italic", color="#555555", va="top")
        y += h + GAP
    ax.text(lay.width / 2, -0.75, f"{snap.moment}\nboot {snap.boot} ({snap.profile}), t = {snap.time:.3f} s",
            ha="center", va="center", fontsize=9)
    ax.set_xlim(0, lay.width)
    ax.set_ylim(lay.bottom + 0.2, -1.4)
    ax.axis("off")


def figure(snaps):
    """A figure with one column per snapshot, each at IN_X/IN_Y inches per data unit."""
    lays = [Layout(s) for s in snaps]
    widths = [lay.width for lay in lays] or [9.0]
    height = max((lay.bottom + 1.6 for lay in lays), default=8.0)
    fig = plt.figure(figsize=(sum(widths) * IN_X, height * IN_Y))
    left = 0.0
    for snap, lay in zip(snaps, lays):
        ax = fig.add_axes([left / sum(widths), 0.0, lay.width / sum(widths), (lay.bottom + 1.6) / height])
        draw(ax, snap, lay)
        left += lay.width
    return fig


def save(snaps, out: Path) -> list[str]:
    """memmap-N-MOMENT.{svg,png} per snapshot and memmap.{svg,png} with all of them side by side."""
    written = []
    groups = [(f"memmap-{i + 1}-{s.slug}", [s]) for i, s in enumerate(snaps)]
    if len(snaps) > 1:
        groups.append(("memmap", snaps))
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "fadump-emu"}):
        for stem, group in groups:
            fig = figure(group)
            for ext in ("svg", "png"):
                path = out / f"{stem}.{ext}"
                fig.savefig(path, format=ext, dpi=110, metadata={"Date": None} if ext == "svg" else None)
                written.append(str(path))
            plt.close(fig)
    return written
