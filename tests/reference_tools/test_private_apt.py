"""The private apt state's helpers (emulator.host.private_apt); the network parts run in make reference."""

from pathlib import Path

from emulator.host import private_apt


def test_deb_file_names_give_package_version_and_architecture_with_the_epoch_restored():
    assert private_apt.deb_name(Path("makedumpfile_1%3a1.7.8-1_ppc64el.deb")) == ("makedumpfile", "1:1.7.8-1",
                                                                                 "ppc64el")


def test_print_uris_lines_name_every_package_apt_would_fetch():
    out = ("'http://deb.debian.org/debian/pool/main/g/glibc/libc6_2.43-7_ppc64el.deb' libc6_2.43-7_ppc64el.deb "
           "3000 SHA256:ab\n"
           "'http://deb.debian.org/debian/pool/main/m/makedumpfile/makedumpfile_1%3a1.7.8-1_ppc64el.deb' "
           "makedumpfile_1%3a1.7.8-1_ppc64el.deb 200 SHA256:cd\nsome other line\n")
    assert private_apt.parse_print_uris(out) == [("libc6", "2.43-7", "ppc64el"),
                                                 ("makedumpfile", "1:1.7.8-1", "ppc64el")]


def test_a_404_names_the_package_the_mirror_cannot_serve():
    err = ("E: Failed to fetch http://deb.debian.org/debian/pool/main/g/glibc/libc6_2.41-12%2bdeb13u5_ppc64el.deb"
           "  404  Not Found [IP: 203.0.113.80 80]\nE: Some files failed to download")
    assert private_apt.unservable(err) == {("libc6", "ppc64el")}


def test_merged_usr_sysroots_get_their_top_level_links(tmp_path):
    (tmp_path / "usr" / "lib64").mkdir(parents=True)
    (tmp_path / "usr" / "lib64" / "ld64.so.2").write_text("loader")
    (tmp_path / "usr" / "bin").mkdir()
    assert private_apt.merge_usr(tmp_path) == ["bin", "lib64"]
    assert (tmp_path / "lib64" / "ld64.so.2").read_text() == "loader"


def test_a_sysroot_that_has_its_own_lib64_is_left_alone(tmp_path):
    (tmp_path / "usr" / "lib64").mkdir(parents=True)
    (tmp_path / "lib64").mkdir()
    assert private_apt.merge_usr(tmp_path) == []
    assert not (tmp_path / "lib64").is_symlink()
