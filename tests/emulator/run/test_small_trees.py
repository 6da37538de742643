"""Tests for small result folders (each boot's /proc/device-tree): written at commit, or kept when unchanged."""

import os
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.run import small_trees
from emulator.run.outdir import MANIFEST, STAGING_PREFIX, OutputFolder
from tests.conftest import small_scenario_text

TREE = {"proc/device-tree/chosen/bootargs": b"root=/dev/sda2\0",
        "proc/device-tree/rtas/ibm,extended-os-term": b"",
        "proc/device-tree/rtas/ibm,os-term": b"\x00\x00\x00\x2a"}


def folder_fd(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY)


def written(tmp_path: Path, files=TREE) -> int:
    fd = folder_fd(tmp_path)
    small_trees.write_tree(fd, "boot-1", files)
    return fd


def test_a_written_tree_holds_exactly_its_files_and_counts_as_the_same(tmp_path):
    fd = written(tmp_path)
    try:
        got = {str(p.relative_to(tmp_path / "boot-1")): p.read_bytes()
               for p in (tmp_path / "boot-1").rglob("*") if p.is_file()}
        assert got == TREE
        assert small_trees.same_tree(fd, "boot-1", TREE)
    finally:
        os.close(fd)


@pytest.mark.parametrize("change", ["one byte", "one byte more", "a file removed", "a file added", "a folder added"])
def test_a_tree_that_differs_in_any_way_is_not_the_same(tmp_path, change):
    fd = written(tmp_path)
    root = tmp_path / "boot-1" / "proc" / "device-tree"
    if change == "one byte":
        (root / "chosen" / "bootargs").write_bytes(b"root=/dev/sda3\0")
    elif change == "one byte more":
        (root / "rtas" / "ibm,extended-os-term").write_bytes(b"\0")
    elif change == "a file removed":
        (root / "rtas" / "ibm,os-term").unlink()
    elif change == "a file added":
        (root / "rtas" / "notes.txt").write_text("mine\n")
    else:
        (root / "cpus").mkdir()
    try:
        assert not small_trees.same_tree(fd, "boot-1", TREE)
    finally:
        os.close(fd)


def test_a_symlink_a_fifo_or_a_linked_folder_is_never_the_same_and_never_followed(tmp_path, decoy):
    """What a link points at is never read as part of the tree, and a FIFO never blocks the comparison."""
    fd = written(tmp_path)
    try:
        bootargs = tmp_path / "boot-1" / "proc" / "device-tree" / "chosen" / "bootargs"
        bootargs.unlink()
        (decoy / "bootargs").write_bytes(TREE["proc/device-tree/chosen/bootargs"])
        bootargs.symlink_to(decoy / "bootargs")
        assert not small_trees.same_tree(fd, "boot-1", TREE)
        bootargs.unlink()
        os.mkfifo(bootargs)
        assert not small_trees.same_tree(fd, "boot-1", TREE)
        small_trees.write_tree(fd, "real", TREE)
        (tmp_path / "boot-2").symlink_to(tmp_path / "real")
        assert small_trees.same_tree(fd, "real", TREE)
        assert not small_trees.same_tree(fd, "boot-2", TREE)
    finally:
        os.close(fd)


def test_only_folders_and_plain_files_are_ever_opened_while_comparing(tmp_path, monkeypatch):
    """A FIFO (or a device) where a file was is told by its kind in the folder listing, never opened."""
    fd = written(tmp_path)
    os_term = tmp_path / "boot-1" / "proc" / "device-tree" / "rtas" / "ibm,os-term"
    os_term.unlink()
    os.mkfifo(os_term)
    opened = []
    real_open = os.open
    monkeypatch.setattr(small_trees.os, "open", lambda name, *a, **k: opened.append(name) or real_open(name, *a, **k))
    try:
        assert not small_trees.same_tree(fd, "boot-1", TREE)
    finally:
        os.close(fd)
    assert "ibm,os-term" not in opened and "boot-1" in opened


@pytest.mark.parametrize("path", ["", "/etc/passwd", "proc/../../x", "proc//x", "./x"])
def test_a_path_that_is_not_plain_and_relative_is_refused(path):
    with pytest.raises(ValueError):
        small_trees.check_paths({path: b""})


def test_a_name_that_is_both_a_file_and_a_folder_is_refused():
    with pytest.raises(ValueError):
        small_trees.check_paths({"proc": b"", "proc/x": b""})


def test_writing_over_an_existing_folder_fails_instead_of_mixing_trees(tmp_path):
    fd = written(tmp_path)
    try:
        with pytest.raises(FileExistsError):
            small_trees.write_tree(fd, "boot-1", TREE)
    finally:
        os.close(fd)


# --- through the output folder ---

def run_into(out: Path, trees: dict, commit: bool = True) -> None:
    folder = OutputFolder(out, force=True, durable=False)
    with folder as staging:
        (staging / "console.log").write_text("a run\n")
        for name, files in trees.items():
            folder.add_tree(name, files)
        if commit:
            folder.commit()


def inode(path: Path) -> int:
    return os.stat(path, follow_symlinks=False).st_ino


def test_an_unchanged_tree_is_kept_from_the_previous_results_and_listed_in_the_manifest(tmp_path):
    out = tmp_path / "out"
    run_into(out, {"boot-1": TREE})
    before = inode(out / "boot-1" / "proc" / "device-tree" / "chosen" / "bootargs")
    run_into(out, {"boot-1": TREE})
    assert inode(out / "boot-1" / "proc" / "device-tree" / "chosen" / "bootargs") == before
    assert "boot-1" in (out / MANIFEST).read_text()
    assert not list(out.glob(STAGING_PREFIX + "*"))


def test_a_changed_tree_replaces_the_old_one_whole(tmp_path):
    out = tmp_path / "out"
    run_into(out, {"boot-1": TREE, "boot-2": TREE})
    (out / "boot-1" / "proc" / "device-tree" / "rtas" / "mine").write_text("added by hand\n")
    changed = {**TREE, "proc/device-tree/chosen/bootargs": b"root=/dev/sdb1\0"}
    run_into(out, {"boot-1": TREE, "boot-2": changed})
    for name, files in (("boot-1", TREE), ("boot-2", changed)):
        fd = folder_fd(out)
        try:
            assert small_trees.same_tree(fd, name, files), name
        finally:
            os.close(fd)


def test_a_tree_the_new_run_does_not_write_goes_with_the_earlier_results(tmp_path):
    out = tmp_path / "out"
    run_into(out, {"boot-1": TREE, "boot-2": TREE})
    run_into(out, {"boot-1": TREE})
    assert (out / "boot-1").is_dir() and not (out / "boot-2").exists()


def test_an_interrupted_run_leaves_the_earlier_trees_as_they_were(tmp_path):
    out = tmp_path / "out"
    run_into(out, {"boot-1": TREE})
    with pytest.raises(KeyboardInterrupt):
        folder = OutputFolder(out, force=True, durable=False)
        with folder as staging:
            folder.add_tree("boot-1", {"proc/x": b"new"})
            raise KeyboardInterrupt
    fd = folder_fd(out)
    try:
        assert small_trees.same_tree(fd, "boot-1", TREE)
    finally:
        os.close(fd)
    assert not list(out.glob(STAGING_PREFIX + "*"))


@pytest.mark.parametrize("name", ["", "..", "a/b", ".fadump-emu.lock", ".fadump-emu-manifest.json"])
def test_a_tree_cannot_take_a_name_outside_the_results(tmp_path, name):
    folder = OutputFolder(tmp_path / "out", force=True, durable=False)
    with folder:
        with pytest.raises(ValueError):
            folder.add_tree(name, TREE)


SMALL_RESULTS = ("boot-*/**/*", "digests/*", "console.log", "report.html", MANIFEST)
"""What a re-run of an unchanged scenario keeps: what it writes is byte for byte what is there."""


def small_results(out: Path) -> dict[Path, int]:
    return {p: inode(p) for pattern in SMALL_RESULTS for p in out.glob(pattern)}


def test_a_rerun_keeps_its_small_results_and_they_hold_what_a_fresh_run_writes(tmp_path, capsys):
    """The whole run: boot-1, boot-2, digests/, console.log, report.html and the manifest of an unchanged scenario
    are kept, byte for byte a fresh run's; the report (its timings differ) and the vmcore are written anew; verify
    still passes."""
    scenario = tmp_path / "small.toml"
    scenario.write_text(small_scenario_text(extra='[expect]\noutcome = "vmcore"\n'))
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    kept = small_results(out)
    assert {p.relative_to(out).parts[0] for p in kept} == {"boot-1", "boot-2", "digests", "console.log", "report.html",
                                                           MANIFEST}
    renewed = {name: inode(out / name) for name in ("report.json", "vmcore")}
    assert main(["run", str(scenario), "--out", str(out), "--quiet", "--force"]) == 0
    assert main(["run", str(scenario), "--out", str(fresh), "--quiet"]) == 0
    assert main(["verify", str(out)]) == 0
    capsys.readouterr()
    assert small_results(out) == kept
    assert all(inode(out / name) != before for name, before in renewed.items())
    for p in kept:  # report.html names its folder's vmcore: the same page up to that path
        twin = fresh / p.relative_to(out)
        assert p.is_dir() == twin.is_dir()
        assert p.is_dir() or p.read_bytes().replace(bytes(out), bytes(fresh)) == twin.read_bytes()
    assert sorted(p.relative_to(fresh) for p in small_results(fresh)) == sorted(p.relative_to(out) for p in kept)


# --- small files (console.log) and the earlier results set aside ---

def folder_run(out: Path, files: dict[str, bytes], trees: dict | None = None) -> None:
    folder = OutputFolder(out, force=True, durable=False)
    with folder:
        for name, data in files.items():
            folder.add_file(name, data)
        for name, tree in (trees or {}).items():
            folder.add_tree(name, tree)
        folder.commit()


def test_an_unchanged_file_is_kept_and_a_changed_one_replaced(tmp_path):
    out = tmp_path / "out"
    folder_run(out, {"console.log": b"booted\n", "extra.log": b"one\n"})
    log, extra = inode(out / "console.log"), inode(out / "extra.log")
    folder_run(out, {"console.log": b"booted\n", "extra.log": b"two\n"})
    assert inode(out / "console.log") == log and (out / "console.log").read_bytes() == b"booted\n"
    assert inode(out / "extra.log") != extra and (out / "extra.log").read_bytes() == b"two\n"
    assert not list(out.glob(".fadump-emu-old*")) and not list(out.glob(STAGING_PREFIX + "*"))


@pytest.mark.parametrize("plant", ["symlink", "fifo", "hardlink-elsewhere-differs"])
def test_a_link_or_fifo_where_the_file_was_is_replaced_and_never_opened(tmp_path, plant):
    out, decoy = tmp_path / "out", tmp_path / "decoy"
    folder_run(out, {"console.log": b"booted\n"})
    decoy.write_bytes(b"booted\n")  # the very bytes the run writes: still not kept through a link
    (out / "console.log").unlink()
    if plant == "symlink":
        (out / "console.log").symlink_to(decoy)
    elif plant == "fifo":
        os.mkfifo(out / "console.log")
    else:
        decoy.write_bytes(b"the user's file\n")
        os.link(decoy, out / "console.log")
    folder_run(out, {"console.log": b"booted\n"})
    assert not (out / "console.log").is_symlink() and (out / "console.log").is_file()
    assert (out / "console.log").read_bytes() == b"booted\n"
    assert decoy.read_bytes() in (b"booted\n", b"the user's file\n")  # untouched either way
    if plant == "hardlink-elsewhere-differs":
        assert decoy.read_bytes() == b"the user's file\n"


def test_a_name_is_either_a_file_or_a_tree_and_never_the_folder_s_own(tmp_path):
    folder = OutputFolder(tmp_path / "out", force=True, durable=False)
    with folder:
        folder.add_tree("digests", {"vmcore.bin": b"x"})
        for name in ("digests", ".fadump-emu-old.report.json", "a/b", ".."):
            with pytest.raises(ValueError):
                folder.add_file(name, b"y")
        folder.add_file("console.log", b"y")
        with pytest.raises(ValueError):
            folder.add_tree("console.log", {"x": b"z"})


def test_each_capture_adds_its_digests_to_the_one_digests_folder(tmp_path):
    out = tmp_path / "out"
    folder_run(out, {}, {"digests": {"vmcore.bin": b"1", "vmcore.json": b"{}"}})
    folder = OutputFolder(out, force=True, durable=False)
    with folder:
        folder.add_tree("digests", {"vmcore.bin": b"1", "vmcore.json": b"{}"})
        folder.add_tree("digests", {"vmcore.2.bin": b"2", "vmcore.2.json": b"{}"})
        folder.commit()
    assert sorted(p.name for p in (out / "digests").iterdir()) == ["vmcore.2.bin", "vmcore.2.json", "vmcore.bin",
                                                                  "vmcore.json"]


def test_the_manifest_is_kept_while_the_list_is_the_same_and_rewritten_when_it_changes(tmp_path):
    out = tmp_path / "out"
    folder_run(out, {"console.log": b"a\n"})
    first = inode(out / MANIFEST)
    folder_run(out, {"console.log": b"b\n"})
    assert inode(out / MANIFEST) == first
    folder_run(out, {"console.log": b"b\n", "vmcore": b"core"})
    assert inode(out / MANIFEST) != first and "vmcore" in (out / MANIFEST).read_text()


def test_the_earlier_results_go_aside_into_the_staging_folder_without_a_folder_of_their_own(tmp_path, monkeypatch):
    """Only the staging folder is made at all (a changed tree makes its own): nothing is made to hold the earlier
    results, which leave with the staging folder."""
    out = tmp_path / "out"
    folder_run(out, {"console.log": b"a\n", "report.json": b"{}"})
    made = []
    real_mkdir = os.mkdir

    def mkdir(path, *a, **k):
        if k.get("dir_fd") is not None:  # made inside the output folder (check_out_dir only makes sure of OUT)
            made.append(str(path))
        return real_mkdir(path, *a, **k)

    monkeypatch.setattr(os, "mkdir", mkdir)
    folder_run(out, {"console.log": b"b\n", "report.json": b"{}"})
    assert len(made) == 1 and made[0].startswith(STAGING_PREFIX), made
    assert sorted(p.name for p in out.iterdir()) == sorted([".fadump-emu.lock", MANIFEST, "console.log",
                                                           "report.json"])
    assert (out / "console.log").read_bytes() == b"b\n"
