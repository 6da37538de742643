"""Debian's ppc64el tools of several releases side by side (emulator.host.ppc64el_tools --release)."""

import pytest

from emulator.host import ppc64el_tools


def test_this_machines_release_keeps_the_default_folder(monkeypatch):
    monkeypatch.setattr(ppc64el_tools, "host_release", lambda: "bookworm")
    monkeypatch.delenv(ppc64el_tools.DEST_ENV, raising=False)
    assert ppc64el_tools.release_dest("bookworm") == ppc64el_tools.DEFAULT_DEST.resolve()
    assert ppc64el_tools.release_dest(None) == ppc64el_tools.DEFAULT_DEST.resolve()


@pytest.mark.parametrize("release", ["trixie", "sid"])
def test_another_release_gets_its_own_folder(monkeypatch, release):
    monkeypatch.setattr(ppc64el_tools, "host_release", lambda: "bookworm")
    assert ppc64el_tools.release_dest(release).name == f"ppc64el-{release}"
    assert ppc64el_tools.release_dest(release).parent == ppc64el_tools.DEFAULT_DEST.parent.resolve()


def test_the_tools_are_named_not_their_libraries():
    """apt resolves the libraries of each release (bookworm's libelf1 is trixie's libelf1t64)."""
    assert ppc64el_tools.TOOL_PACKAGES == ("makedumpfile", "crash")
    assert not hasattr(ppc64el_tools, "MAKEDUMPFILE_PACKAGES")
