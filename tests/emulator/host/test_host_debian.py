"""This machine's Debian as the tool chains read it: the release, and the archive its own apt sources use, from
one-line sources.list entries and deb822 .sources stanzas alike; no source for a release is one clear sentence."""

import pytest

from emulator.host import host_debian, ppc64el_tools


def apt_etc(tmp_path, one_line: str = "", deb822: str = ""):
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "sources.list").write_text(one_line)
    if deb822:
        (etc / "sources.list.d" / "debian.sources").write_text(deb822)
    return str(etc)


def test_one_line_entries_give_each_suite_its_archive_and_comments_and_deb_src_are_skipped(tmp_path):
    etc = apt_etc(tmp_path, "# deb http://old.example/debian bookworm main\n"
                            "deb-src http://src.example/debian bookworm main\n"
                            "deb [signed-by=/usr/share/keyrings/k.gpg arch=amd64] http://deb.example/debian/ bookworm main\n"
                            "deb http://security.example/debian-security bookworm-security main\n")
    assert host_debian.apt_sources(etc) == [
        {"uris": ["http://deb.example/debian/"], "suites": ["bookworm"], "signed_by": "/usr/share/keyrings/k.gpg"},
        {"uris": ["http://security.example/debian-security"], "suites": ["bookworm-security"], "signed_by": ""}]
    assert host_debian.system_mirror("bookworm", etc) == "http://deb.example/debian"


def test_deb822_stanzas_are_read_and_disabled_ones_skipped(tmp_path):
    etc = apt_etc(tmp_path, deb822="Types: deb deb-src\nURIs: http://mirror.example/debian\nSuites: trixie "
                                   "trixie-updates\nComponents: main\nSigned-By: /k.gpg\n\n"
                                   "Types: deb\nURIs: http://off.example/debian\nSuites: sid\nEnabled: no\n")
    assert host_debian.system_mirror("trixie", etc) == "http://mirror.example/debian"
    with pytest.raises(host_debian.NoSource, match="no deb source for suite 'sid'.*pass --mirror URI"):
        host_debian.system_mirror("sid", etc)


def test_os_release_is_read_and_a_missing_file_is_empty(tmp_path):
    path = tmp_path / "os-release"
    path.write_text('ID=debian\nVERSION_CODENAME="bookworm"\n# comment\n')
    assert host_debian.os_release(str(path)) == {"ID": "debian", "VERSION_CODENAME": "bookworm"}
    assert host_debian.os_release(str(tmp_path / "missing")) == {}


def test_a_tool_build_without_any_source_for_its_release_stops_with_the_mirror_advice(tmp_path, monkeypatch):
    """ppc64el_tools.build turns host_debian's NoSource into its own BuildError (what its command line reports)."""
    def no_source(codename, etc="/etc/apt"):
        raise host_debian.NoSource(f"no deb source for suite {codename!r}; pass --mirror URI")

    monkeypatch.setattr(ppc64el_tools, "system_mirror", no_source)
    monkeypatch.setattr(ppc64el_tools, "host_release", lambda: "")
    monkeypatch.setattr(ppc64el_tools.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    keyring = tmp_path / "keyring.gpg"
    keyring.write_bytes(b"")
    monkeypatch.setattr(ppc64el_tools, "KEYRING", keyring)
    with pytest.raises(ppc64el_tools.BuildError, match="no deb source for suite 'sid'; pass --mirror URI"):
        ppc64el_tools.build(dest=tmp_path / "dest", release="sid")


# --- where the tool chain goes ---

def test_a_checkout_keeps_the_tools_in_its_own_tools_folder(tmp_path):
    (tmp_path / "Makefile").write_text("all:\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    assert ppc64el_tools.default_dest(tmp_path) == tmp_path / ".tools" / "ppc64el"


def test_an_installed_wheel_keeps_them_in_the_users_cache_never_in_site_packages(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert ppc64el_tools.default_dest(site) == tmp_path / "cache" / "fadump-emu" / "ppc64el"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ppc64el_tools.default_dest(site) == tmp_path / "home" / ".cache" / "fadump-emu" / "ppc64el"


def test_the_install_advice_names_make_only_in_a_checkout(tmp_path, monkeypatch):
    assert "run `make ppc64el-tools`" in ppc64el_tools.how_to_install(tmp_path / "none")
    monkeypatch.setattr(ppc64el_tools, "PROJECT", tmp_path)  # site-packages: no Makefile beside it
    advice = ppc64el_tools.how_to_install(tmp_path / "none")
    assert "make ppc64el-tools" not in advice and f"run `python -m emulator.host.ppc64el_tools --dest {tmp_path / 'none'}`" in advice
