"""The memory-map pictures of every bundled scenario have no colliding text.

Checked on the rendered figure with matplotlib's renderer extents (Text.get_window_extent): no two texts
overlap, every text stays inside the figure, and a label drawn inside its box stays inside that box.
"""

import itertools
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from emulator.views import memmap_draw
from emulator.views import memmap_view
from emulator.scenario import loader as scenario
from emulator.run.runner import run_scenario
from emulator.views import observers

MAPS = [observers.memory_maps]
"""The memory maps are a view: a run takes them only when asked."""

PROJECT = Path(__file__).resolve().parents[3]
SCENARIOS = sorted(p.relative_to(PROJECT / "scenarios").as_posix()
                   for p in (PROJECT / "scenarios").rglob("*.toml"))
SLACK = 0.5
"""Pixels two extents may share (antialiasing), and a text may pass its box's edge by."""


def collisions(fig) -> list[str]:
    """Every overlap of two texts, text outside the figure, or in-box label outside its box."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for ax in fig.axes for t in ax.texts if t.get_visible() and t.get_text().strip()]
    boxes = {p.get_gid(): p.get_window_extent(renderer) for ax in fig.axes for p in ax.patches if p.get_gid()}
    extents = [(t, t.get_window_extent(renderer)) for t in texts]
    page = fig.bbox
    problems = []
    for (a, ea), (b, eb) in itertools.combinations(extents, 2):
        if min(ea.x1, eb.x1) - max(ea.x0, eb.x0) > SLACK and min(ea.y1, eb.y1) - max(ea.y0, eb.y0) > SLACK:
            problems.append(f"{a.get_text()!r} overlaps {b.get_text()!r}")
    for t, e in extents:
        if e.x0 < page.x0 - SLACK or e.x1 > page.x1 + SLACK or e.y0 < page.y0 - SLACK or e.y1 > page.y1 + SLACK:
            problems.append(f"{t.get_text()!r} leaves the figure")
        box = boxes.get(t.get_gid()) if t.get_gid() else None
        if box is not None and (e.x0 < box.x0 - SLACK or e.x1 > box.x1 + SLACK or e.y0 < box.y0 - SLACK
                                or e.y1 > box.y1 + SLACK):
            problems.append(f"{t.get_text()!r} leaves its box")
    return problems


def test_the_check_catches_overlapping_and_escaping_text():
    """The self-check finds what it claims to find."""
    fig = plt.figure(figsize=(4, 3))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.add_patch(plt.Rectangle((0.1, 0.1), 0.2, 0.1, gid="box:0"))
    ax.text(0.5, 0.5, "one label")
    ax.text(0.5, 0.5, "another label")
    ax.text(0.1, 0.1, "a label far too long for its little box", gid="box:0")
    ax.text(0.99, 0.9, "off the edge of the page")
    found = collisions(fig)
    plt.close(fig)
    assert any("overlaps" in p for p in found)
    assert any("leaves its box" in p for p in found)
    assert any("leaves the figure" in p for p in found)


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_map_of_every_bundled_scenario_has_no_colliding_text(name):
    result = run_scenario(scenario.load(PROJECT / "scenarios" / name), None, observers=MAPS)
    snaps = result.snapshots_for_map
    for snap in snaps:
        fig = memmap_draw.figure([snap])
        problems = collisions(fig)
        plt.close(fig)
        assert not problems, (name, snap.moment, problems[:5])


def test_a_hot_added_lmb_is_marked_and_the_padding_keeps_its_name_after_the_crash():
    result = run_scenario(scenario.load(PROJECT / "scenarios" / "hotplug-stale-header.toml"), None, observers=MAPS)
    for snap in result.snapshots_for_map:
        labels = [r.label for r in snap.regions]
        assert "hot-added LMB" in labels, snap.moment
        assert "dump area (padding)" in labels, snap.moment


def test_the_copy_arrow_starts_at_boot_memory():
    """The firmware's copy arrow leaves from the biggest box of the source range: boot memory, not a header."""
    result = run_scenario(scenario.load(PROJECT / "scenarios" / "basic-panic.toml"), None, observers=MAPS)
    capture = next(s for s in result.snapshots_for_map if s.moment == memmap_view.CAPTURE)
    lay = memmap_draw.Layout(capture)
    fs, fe, *_ = next(a for a in capture.arrows if a[0] == 0)
    start_y = lay.box_centre(fs, fe)
    box = next(i for i, (top, h) in enumerate(zip(lay.tops, lay.hs)) if top <= start_y < top + h)
    assert capture.regions[box].kind == "boot"
