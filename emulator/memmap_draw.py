"""Memory map pictures (SVG and PNG) of the snapshots in emulator.memmap_view, with matplotlib.

One column of stacked boxes per moment, lowest address at the top as in the
3.4 commit's picture; box heights grow with size but are not to scale (a
400-byte header and 8 GiB of memory must both be readable). Brackets on the
left mark reserved areas, brackets on the right the vmcore's PT_LOADs, and
arrows show pointers (elfcorehdr_addr) and the firmware's copy.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, Rectangle

from emulator.units import fmt_size

COLOURS = {"memory": "#e9ecef", "boot": "#8ecae6", "image": "#adb5bd", "hole": "#ffffff", "reserved": "#f8f9fa",
           "cpu": "#ffb703", "hpte": "#fb8500", "copy": "#219ebc", "fdh": "#e63946", "elf": "#c77dff",
           "notes": "#90be6d", "param": "#f4a261"}
BAR_LEFT, BAR_RIGHT = 2.2, 7.0
"""Horizontal extent of the stacked boxes, in axis units (the axis is 13 units wide)."""
MARKER_HEIGHT = 0.35
WIDTH = 13.0


def heights(regions) -> list[float]:
    """Box heights: at least one text line, growing with the fourth root of the size."""
    biggest = max((r.size for r in regions), default=1) or 1
    return [MARKER_HEIGHT if not r.size else 0.8 + 2.2 * (r.size / biggest) ** 0.25 for r in regions]


def draw(ax, snap) -> None:
    """Draw one moment on ``ax``."""
    hs = heights(snap.regions)
    tops = [sum(hs[:i]) for i in range(len(hs))]
    total = sum(hs)
    y_of = _locator(snap.regions, tops, hs)
    for r, top, h in zip(snap.regions, tops, hs):
        ax.add_patch(Rectangle((BAR_LEFT, top), BAR_RIGHT - BAR_LEFT, h, facecolor=COLOURS.get(r.kind, "#dddddd"),
                               edgecolor="#333333", linewidth=0.8, hatch="//" if r.kind == "hole" else None))
        text = f"{r.label}\n{fmt_size(r.size)}" if h >= 1.0 else f"{r.label} ({fmt_size(r.size)})"
        ax.text((BAR_LEFT + BAR_RIGHT) / 2, top + h / 2, text, ha="center", va="center", fontsize=7,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1} if r.kind == "hole" else None)
        ax.text(BAR_LEFT - 0.08, top, f"{r.start:#x}", ha="right", va="center", fontsize=6.5, family="monospace")
    if snap.regions:
        ax.text(BAR_LEFT - 0.08, total, f"{snap.regions[-1].end:#x}", ha="right", va="center", fontsize=6.5,
                family="monospace")
    for i, span in enumerate(snap.spans):
        _bracket(ax, 0.5 + 0.35 * i, y_of(span.start), y_of(span.end), span.label, side="left")
    shown = snap.loads[:10]
    for i, ld in enumerate(shown):
        x = BAR_RIGHT + 1.5 + 0.3 * i
        label = f"PT_LOAD {i}: {ld['paddr']:#x}, {fmt_size(ld['size'])}"
        if ld["source"] != ld["paddr"]:
            label += f"\nbytes read from {ld['source']:#x}"
        _bracket(ax, x, y_of(ld["paddr"]), y_of(ld["paddr"] + ld["size"]), label, side="right",
                 text_x=BAR_RIGHT + 1.5 + 0.3 * len(shown) + 0.1)
    if len(snap.loads) > len(shown):
        ax.text(WIDTH - 0.1, total, f"+{len(snap.loads) - len(shown)} more PT_LOADs", ha="right", fontsize=7)
    for n, (fs, fe, ts, te, what) in enumerate(snap.arrows):
        _arrow(ax, (y_of(fs) + y_of(fe - 1)) / 2, (y_of(ts) + y_of(te - 1)) / 2, what, 0.45 + 0.45 * n)
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(total + 0.9 + 0.3 * len(snap.remarks), -1.0)
    ax.axis("off")
    ax.set_title(f"{snap.moment}\nboot {snap.boot} ({snap.profile}), t = {snap.time:.3f} s", fontsize=10)
    notes = ["heights not to scale"] + snap.remarks
    for i, line in enumerate(notes):
        ax.text(0.1, total + 0.6 + 0.3 * i, line, fontsize=6.5, style="italic", color="#555555")


def _locator(regions, tops, hs):
    """Maps an address to a height in the picture (interpolated inside its box)."""

    def y_of(addr: int) -> float:
        for r, top, h in zip(regions, tops, hs):
            if r.start <= addr < r.end:
                return top + h * (addr - r.start) / r.size
        return sum(hs)

    return y_of


def _bracket(ax, x: float, y0: float, y1: float, label: str, side: str, text_x: float | None = None) -> None:
    tick = 0.12 if side == "right" else -0.12
    ax.plot([x - tick, x, x, x - tick], [y0, y0, y1, y1], color="#333333", linewidth=1)
    if side == "left":
        ax.text(x - 0.18, (y0 + y1) / 2, label, rotation=90, ha="right", va="center", fontsize=7)
    else:
        ax.text(text_x, (y0 + y1) / 2, label, ha="left", va="center", fontsize=6.5)


def _arrow(ax, y0: float, y1: float, label: str, reach: float) -> None:
    """An arrow on the right of the boxes, bulging out by ``reach`` units."""
    if abs(y1 - y0) < 1e-6:
        return
    style = f"bar,fraction={-reach / abs(y1 - y0):.4f}" if y1 > y0 else f"bar,fraction={reach / abs(y1 - y0):.4f}"
    ax.add_patch(FancyArrowPatch((BAR_RIGHT, y0), (BAR_RIGHT, y1), connectionstyle=style, arrowstyle="-|>",
                                 mutation_scale=9, color="#c1121f", linewidth=1))
    tall = abs(y1 - y0) > 2.5
    ax.text(BAR_RIGHT + reach + 0.08, (y0 + y1) / 2, label, fontsize=6.5, color="#c1121f", va="center",
            ha="left", rotation=90 if tall else 0)


def figure(snaps):
    """A figure with one column per snapshot."""
    rows = max((sum(heights(s.regions)) for s in snaps), default=8)
    fig, axes = plt.subplots(1, len(snaps), figsize=(7.5 * len(snaps), max(6.0, 0.42 * rows + 2)), squeeze=False)
    for ax, snap in zip(axes[0], snaps):
        draw(ax, snap)
    fig.tight_layout()
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
