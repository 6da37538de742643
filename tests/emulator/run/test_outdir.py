"""Tests for the output folder: locked, staged, replaced all at once, never through a symlink, never escaped."""

import hashlib
import json
import os
from pathlib import Path

import pytest

from emulator.run import out_paths, outdir
from emulator.cli import main
from emulator.errors import BadInputError, OutputExistsError
from emulator.run.outdir import LOCK, MANIFEST, STAGING_PREFIX, OutputFolder
from tests.conftest import small_scenario_text


def flat(text: str) -> str:
    return " ".join(text.split())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def small(tmp_path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(small_scenario_text(extra='[expect]\noutcome = "vmcore"\n'))
    return path


@pytest.fixture
def finished(tmp_path, small, capsys) -> Path:
    out = tmp_path / "out"
    assert main(["run", str(small), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    return out


def in_folder(name, dir_fd=None) -> str:
    """The full path of ``name`` in the open folder ``dir_fd`` (outdir renames relative to descriptors)."""
    return str(name) if dir_fd is None else os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), name)


def snapshot(folder: Path) -> dict[str, str]:
    """Every regular file under ``folder`` (but the lock) with its digest."""
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink() and p.name != LOCK}


# --- the lock ---

def test_a_run_into_a_folder_another_run_holds_exits_2_naming_the_other_run(finished, small, capsys):
    """While one run holds --out, a second run into it exits 2 at once, says so, and changes nothing."""
    before = snapshot(finished)
    with OutputFolder(finished, force=True):
        assert main(["run", str(small), "--out", str(finished), "--quiet", "--force"]) == 2
    err = flat(capsys.readouterr().err)
    assert "another fadump-emu run is writing into this folder" in err
    assert f"(pid {os.getpid()})" in err
    assert snapshot(finished) == before


def test_the_lock_holds_exactly_the_holders_pid_line_whatever_a_longer_earlier_holder_wrote(finished):
    """The pid is written over the old one and the file cut to its length (never emptied first: see _lock)."""
    (finished / LOCK).write_text("123456789012345678901234567890\n")
    with OutputFolder(finished, force=True):
        assert (finished / LOCK).read_text() == f"{os.getpid()}\n"


def test_the_lock_is_released_when_the_run_ends(finished, small, capsys):
    """After a run, a new run into the same folder (with --force) is not refused."""
    assert main(["run", str(small), "--out", str(finished), "--quiet", "--force"]) == 0


def test_a_lock_file_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path, small, capsys):
    """OUT/.fadump-emu.lock as a symlink: exit 2; the file it points at is not created or written."""
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "victim"
    (out / LOCK).symlink_to(target)
    assert main(["run", str(small), "--out", str(out), "--quiet"]) == 2
    assert "is a symlink" in flat(capsys.readouterr().err)
    assert not target.exists()


# --- all or nothing ---

def test_results_appear_together_with_a_manifest_and_no_staging_folder_left(finished):
    """A finished run leaves vmcore, console.log, report.json, boot-N and the manifest listing them; no staging."""
    names = sorted(p.name for p in finished.iterdir())
    assert not [n for n in names if n.startswith(STAGING_PREFIX)]
    manifest = json.loads((finished / MANIFEST).read_text())["files"]
    assert {"vmcore", "console.log", "report.json", "boot-1", "boot-2"} <= set(manifest)
    assert set(manifest) <= set(names)


def test_the_report_names_the_vmcore_where_it_ends_up_not_the_staging_folder(finished):
    """report.json's captures[0].vmcore, and the file its verification read back, are OUT/vmcore."""
    rep = json.loads((finished / "report.json").read_text())
    assert rep["captures"][0]["vmcore"] == str(finished / "vmcore")
    assert rep["captures"][0]["verification"]["source"] == str(finished / "vmcore")
    assert STAGING_PREFIX not in (finished / "report.json").read_text()


def test_a_run_that_fails_at_run_time_keeps_the_previous_results_byte_for_byte(finished, tmp_path, capsys):
    """A scenario error found only while running (a write into the reserved area) leaves OUT as it was."""
    before = snapshot(finished)
    bad = tmp_path / "bad.toml"
    bad.write_text(small_scenario_text(extra='[[events]]\naction = "write"\nat = 5\naddr = "0x3C000000"\n'
                                             'hex = "ff"\n'))
    assert main(["run", str(bad), "--out", str(finished), "--quiet", "--force"]) == 2
    assert "overlaps memory the kernel reserved" in flat(capsys.readouterr().err)
    assert snapshot(finished) == before
    assert not list(finished.glob(STAGING_PREFIX + "*"))


def test_a_rerun_never_renames_over_an_existing_name_and_the_results_are_the_new_runs(finished, tmp_path,
                                                                                    monkeypatch, capsys):
    """Each earlier result is moved aside before the new one takes its name (ext4 writes out a file's data when
    another is renamed over it); OUT ends with the new run's files and no staging folder."""
    renames = []
    real_replace = os.replace

    def replace(src, dst, src_dir_fd=None, dst_dir_fd=None):
        src_path, dst_path = in_folder(src, src_dir_fd), in_folder(dst, dst_dir_fd)
        renames.append((src_path, dst_path, os.path.lexists(dst_path)))
        real_replace(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    monkeypatch.setattr(outdir.os, "replace", replace)
    (tmp_path / "small.toml").write_text(small_scenario_text(extra='[expect]\noutcome = "vmcore"\n')
                                         .replace("0x4100000", "0x4200000"))
    assert main(["run", str(tmp_path / "small.toml"), "--out", str(finished), "--quiet", "--force"]) == 0
    capsys.readouterr()
    published = [(src, dst) for src, dst, _ in renames if STAGING_PREFIX in src and STAGING_PREFIX not in dst]
    # console.log and the manifest are byte for byte the earlier run's here: kept, not renamed (test_small_trees).
    assert {Path(dst).name for _, dst in published} >= {"vmcore", "report.json", "digests"}
    assert (finished / "console.log").is_file() and (finished / MANIFEST).is_file()
    assert not [r for r in renames if r[2]], [r for r in renames if r[2]]
    assert not list(finished.glob(STAGING_PREFIX + "*"))
    rep = json.loads((finished / "report.json").read_text())
    assert rep["ok"] and rep["captures"][0]["vmcore"] == str(finished / "vmcore")


def test_force_removes_only_what_the_tool_wrote(finished, tmp_path, capsys):
    """--force replaces the earlier run's files (a vmcore.2 it wrote goes) but keeps the user's own files."""
    (finished / "vmcore.sha256").write_text("user's checksum\n")
    (finished / "notes.txt").write_text("user's notes\n")
    manifest = json.loads((finished / MANIFEST).read_text())
    (finished / "vmcore.2").write_bytes(b"an earlier run's second vmcore")
    manifest["files"].append("vmcore.2")
    (finished / MANIFEST).write_text(json.dumps(manifest))
    small = tmp_path / "small.toml"
    assert main(["run", str(small), "--out", str(finished), "--quiet", "--force"]) == 0
    assert (finished / "vmcore.sha256").read_text() == "user's checksum\n"
    assert (finished / "notes.txt").read_text() == "user's notes\n"
    assert not (finished / "vmcore.2").exists()


def test_without_force_an_earlier_vmcore_is_refused_before_anything_runs(finished, small, capsys):
    """No --force and a vmcore already there: exit 2 with a hint, nothing changed, no staging folder made."""
    before = snapshot(finished)
    with pytest.raises(OutputExistsError):
        with OutputFolder(finished):
            pass
    assert main(["run", str(small), "--out", str(finished), "--quiet"]) == 2
    assert "--force" in flat(capsys.readouterr().err)
    assert snapshot(finished) == before


def test_a_staging_folder_left_by_a_killed_run_is_removed_by_the_next_run(finished, small):
    """A leftover .fadump-emu-incomplete.PID (a run killed with SIGKILL) is cleaned up, never published."""
    stale = finished / f"{STAGING_PREFIX}999999"
    stale.mkdir()
    (stale / "vmcore").write_bytes(b"half a vmcore")
    assert main(["run", str(small), "--out", str(finished), "--quiet", "--force"]) == 0
    assert not stale.exists()
    assert (finished / "vmcore").read_bytes()[:4] == b"\x7fELF"


# --- symlinks ---

@pytest.mark.parametrize("name", ["console.log", "report.json", "vmcore"])
def test_a_symlink_in_out_is_replaced_and_its_target_never_written(tmp_path, small, name, capsys):
    """A symlink named like an output points outside: after the run the target is unchanged, the link gone."""
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "precious"
    target.write_text("do not touch\n")
    (out / name).symlink_to(target)
    assert main(["run", str(small), "--out", str(out), "--quiet", "--force"]) == 0
    assert target.read_text() == "do not touch\n"
    assert not (out / name).is_symlink() and (out / name).is_file()


def test_a_boot_folder_symlink_is_replaced_not_followed(tmp_path, small, capsys):
    """boot-1 as a symlink to a folder outside: the folder outside stays empty."""
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (out / "boot-1").symlink_to(outside)
    assert main(["run", str(small), "--out", str(out), "--quiet", "--force"]) == 0
    assert list(outside.iterdir()) == []
    assert (out / "boot-1").is_dir() and not (out / "boot-1").is_symlink()


def test_write_file_replaces_a_symlink_instead_of_writing_through_it(tmp_path):
    """out_paths.write_file (used for report.json, console.log and --trace) never follows a symlink."""
    target = tmp_path / "target"
    target.write_text("old")
    link = tmp_path / "link"
    link.symlink_to(target)
    out_paths.write_file(link, "new")
    assert target.read_text() == "old"
    assert link.read_text() == "new" and not link.is_symlink()


def test_the_trace_file_as_a_symlink_is_replaced_not_followed(tmp_path, small, capsys):
    """--trace naming a symlink: the link becomes the trace; its target is untouched."""
    target = tmp_path / "precious"
    target.write_text("keep\n")
    link = tmp_path / "trace.json"
    link.symlink_to(target)
    assert main(["run", str(small), "--out", str(tmp_path / "out"), "--quiet", "--trace", str(link)]) == 0
    assert target.read_text() == "keep\n"
    assert json.loads(link.read_text())["traceEvents"]


# --- unusable targets, checked before the run ---

def test_out_naming_a_file_exits_2_with_a_sentence(tmp_path, small, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["run", str(small), "--out", str(tmp_path / "afile"), "--quiet"]) == 2
    assert "is a file, not a folder" in flat(capsys.readouterr().err)


def test_out_below_a_file_exits_2_with_a_sentence(tmp_path, small, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["run", str(small), "--out", str(tmp_path / "afile" / "sub"), "--quiet"]) == 2
    err = flat(capsys.readouterr().err)
    assert err.startswith("fadump-emu: --out ") and "Traceback" not in err


def test_out_in_a_folder_that_cannot_hold_files_exits_2_with_a_sentence(small, capsys):
    """/proc cannot hold our files, even for root: exit 2, a sentence, no traceback."""
    assert main(["run", str(small), "--out", "/proc", "--quiet"]) == 2
    err = flat(capsys.readouterr().err)
    assert err.startswith("fadump-emu: --out /proc") and "choose" in err


def test_out_in_a_read_only_folder_exits_2_with_a_sentence(tmp_path, small, capsys):
    """A folder we may not write: mode 555 for a user; for root (who writes anyway), a read-only bind mount in a
    private mount namespace, so the refusal is tested on the CI machine too."""
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    if os.geteuid() != 0:
        assert main(["run", str(small), "--out", str(ro), "--quiet"]) == 2
        assert "not writable" in flat(capsys.readouterr().err)
        return
    import shutil
    import subprocess
    import sys

    if not shutil.which("unshare"):
        pytest.skip("root writes into mode-555 folders, and unshare(1) is missing for a read-only mount")
    script = (f"mount --bind -o ro {ro} {ro} || exit 77; "
              f"exec {sys.executable} -m emulator run {small} --out {ro} --quiet")
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    if done.returncode == 77:
        pytest.skip(f"root writes into mode-555 folders, and this machine refuses a read-only bind mount: "
                    f"{done.stderr.strip()}")
    assert done.returncode == 2, done.stderr
    assert "not writable" in flat(done.stderr) and "Traceback" not in done.stderr
    assert not any(ro.iterdir())


def test_trace_naming_a_folder_exits_2_before_the_run(tmp_path, small, capsys):
    """--trace DIR: refused before the run, so no output folder is even created."""
    assert main(["run", str(small), "--out", str(tmp_path / "out"), "--quiet", "--trace", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in flat(capsys.readouterr().err)
    assert not (tmp_path / "out" / "report.json").exists()


def test_trace_in_a_missing_folder_exits_2_before_the_run(tmp_path, small, capsys):
    assert main(["run", str(small), "--out", str(tmp_path / "out"), "--quiet", "--trace",
                 str(tmp_path / "nowhere" / "t.json")]) == 2
    assert "does not exist" in flat(capsys.readouterr().err)
    assert not (tmp_path / "out" / "report.json").exists()


def test_map_naming_a_file_exits_2_before_the_run(tmp_path, small, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["run", str(small), "--out", str(tmp_path / "out"), "--quiet", "--map", str(tmp_path / "afile")]) == 2
    assert "is a file, not a folder" in flat(capsys.readouterr().err)
    assert not (tmp_path / "out" / "report.json").exists()


def test_check_out_dir_refuses_with_bad_input_error(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(BadInputError):
        out_paths.check_out_dir(tmp_path / "f")
    with pytest.raises(BadInputError):
        out_paths.check_file_target(tmp_path, "--trace")
    with pytest.raises(BadInputError):
        out_paths.check_dir_target(tmp_path / "f", "--map")


@pytest.mark.parametrize("check, option, sentence", [
    (out_paths.check_out_dir, "--out", "is a file, not a folder; choose a folder for the results"),
    (out_paths.check_out_dir, "the debug folder", "is a file, not a folder; choose a folder for the results"),
    (out_paths.check_dir_target, "--map", "is a file, not a folder; give a folder for the pictures"),
])
def test_each_folder_check_names_its_own_option_and_advice(tmp_path, check, option, sentence):
    (tmp_path / "f").write_text("")
    with pytest.raises(BadInputError) as err:
        check(tmp_path / "f", option)
    assert str(err.value) == f"{option} {tmp_path / 'f'}: {sentence}"
    with pytest.raises(BadInputError) as err:
        check(tmp_path / "f" / "below", option)
    advice = {"--out": "choose another --out", "the debug folder": "choose another folder", "--map": "choose another path"}
    assert str(err.value).startswith(f"{option} {tmp_path / 'f' / 'below'}: cannot create this folder (")
    assert str(err.value).endswith(advice[option])


# --- fadump-emu test: its output root and report files ---

def test_fadump_emu_test_with_out_naming_a_file_exits_2_before_running(tmp_path, small, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["test", str(small), "--out", str(tmp_path / "afile")]) == 2
    assert "is a file, not a folder" in flat(capsys.readouterr().err)


def test_fadump_emu_test_with_junit_naming_a_folder_exits_2_before_running(tmp_path, small, capsys):
    assert main(["test", str(small), "--out", str(tmp_path / "out"), "--junit", str(tmp_path)]) == 2
    assert "--junit" in flat(capsys.readouterr().err)
    assert not (tmp_path / "out" / "small").exists()


def test_fadump_emu_test_replaces_a_results_json_symlink_instead_of_writing_through_it(tmp_path, small, capsys):
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "precious"
    target.write_text("keep\n")
    (out / "results.json").symlink_to(target)
    assert main(["test", str(small), "--out", str(out), "-j", "1"]) == 0
    assert target.read_text() == "keep\n"
    assert json.loads((out / "results.json").read_text())["summary"]["passed"] == 1


def test_a_full_disk_while_writing_the_report_keeps_the_earlier_results_and_says_why(finished, small, capsys,
                                                                                       monkeypatch):
    """ENOSPC while staging: exit 1 with a sentence, no traceback, the earlier results byte for byte."""
    import errno

    from emulator.run import report

    before = snapshot(finished)

    def full(path, data, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report, "write_file", full)
    assert main(["run", str(small), "--out", str(finished), "--quiet", "--force"]) == 1
    err = flat(capsys.readouterr().err)
    assert "cannot write the results (No space left on device)" in err and "Traceback" not in err
    assert snapshot(finished) == before
    assert not list(finished.glob(STAGING_PREFIX + "*"))


def test_ctrl_c_delivered_to_another_thread_during_the_renames_waits_until_the_results_are_whole(tmp_path, monkeypatch):
    """A SIGINT that arrives while commit() is renaming, received by a thread other than the main one (as with the
    digest pool alive), must not stop the renames half way: the old report was already moved aside then, and the
    staging folder holding it would be removed. The interrupt comes after, with the new results in place."""
    import signal

    # Python's own Ctrl-C handler, whatever an earlier test in this process left installed (else a leaked SIG_IGN
    # makes the deferred interrupt vanish, and SIG_DFL ends pytest itself).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _renames_interrupted_from_another_thread(tmp_path, monkeypatch)
    finally:
        signal.signal(signal.SIGINT, previous)


def _renames_interrupted_from_another_thread(tmp_path, monkeypatch):
    import signal
    import threading

    out = tmp_path / "out"
    first = OutputFolder(out)
    with first as staging:
        (staging / "report.json").write_text("old report")
        (staging / "vmcore").write_text("old vmcore")
        first.commit()
    folder = OutputFolder(out, force=True)
    real_replace, sent = os.replace, []

    def replace_then_interrupt(src, dst, **dir_fds):
        real_replace(src, dst, **dir_fds)
        if not sent:  # after the first rename (the old report moved aside), from another thread
            sent.append(1)
            t = threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT))
            t.start()
            t.join()

    with folder as staging:
        (staging / "report.json").write_text("new report")
        (staging / "vmcore").write_text("new vmcore")
        monkeypatch.setattr(outdir.os, "replace", replace_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            folder.commit()
        monkeypatch.setattr(outdir.os, "replace", real_replace)
    assert folder.committed
    assert (out / "report.json").read_text() == "new report" and (out / "vmcore").read_text() == "new vmcore"


# --- durability ---

def staged_results(out: Path, durable: bool = True) -> tuple[OutputFolder, Path]:
    folder = OutputFolder(out, durable=durable)
    staging = folder.__enter__()
    (staging / "report.json").write_text("report")
    (staging / "vmcore").write_bytes(b"\1" * 4096)
    (staging / "boot-1").mkdir()
    (staging / "boot-1" / "ibm,kernel-dump.bin").write_bytes(b"\2" * 64)
    return folder, staging


def record_fsyncs_and_renames(monkeypatch) -> list[tuple[str, str]]:
    """(what, path) in the order they happen: ("fsync", path of the descriptor) and ("rename", source)."""
    events, lock = [], __import__("threading").Lock()
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        real_fsync(fd)
        with lock:
            events.append(("fsync", path))

    def replace(src, dst, src_dir_fd=None, dst_dir_fd=None):
        events.append(("rename", in_folder(src, src_dir_fd)))
        real_replace(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    monkeypatch.setattr(outdir.os, "fsync", fsync)
    monkeypatch.setattr(outdir.os, "replace", replace)
    return events


def test_every_staged_file_and_folder_is_fsynced_before_the_first_result_is_moved_into_place(tmp_path, monkeypatch):
    """fsyncs run several at a time, but all of them end before any rename (durable results, never torn)."""
    folder, staging = staged_results(tmp_path / "out")
    expected = {str(p) for p in [staging, *staging.rglob("*")]}
    events = record_fsyncs_and_renames(monkeypatch)
    try:
        folder.commit()
    finally:
        folder.__exit__(None, None, None)
    first_rename = next(i for i, (what, _) in enumerate(events) if what == "rename")
    synced_before = {path for what, path in events[:first_rename] if what == "fsync"}
    assert expected <= synced_before
    assert (tmp_path / "out" / "boot-1" / "ibm,kernel-dump.bin").read_bytes() == b"\2" * 64


def test_scratch_results_of_test_and_explore_workers_are_not_fsynced(tmp_path, monkeypatch):
    folder, _ = staged_results(tmp_path / "out", durable=False)
    events = record_fsyncs_and_renames(monkeypatch)
    try:
        folder.commit()
    finally:
        folder.__exit__(None, None, None)
    assert [what for what, _ in events if what == "fsync"] == []
    assert (tmp_path / "out" / "report.json").read_text() == "report"


def test_a_failed_fsync_moves_nothing_and_the_earlier_results_stay(finished, small, capsys, monkeypatch):
    """EIO from one fsync among the parallel ones: the run says why and the earlier results stay byte for byte."""
    import errno

    before = snapshot(finished)
    real_fsync = os.fsync

    def failing(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("/vmcore"):
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(outdir.os, "fsync", failing)
    assert main(["run", str(small), "--out", str(finished), "--quiet", "--force"]) == 1
    assert "cannot write the results (Input/output error)" in flat(capsys.readouterr().err)
    assert snapshot(finished) == before
    assert not list(finished.glob(STAGING_PREFIX + "*"))


# --- a symlink as the output folder itself, or planted inside it (links point at a decoy under tmp_path) ---

def untouched(decoy: Path) -> bool:
    return sorted(p.name for p in decoy.iterdir()) == ["passwd"] and (decoy / "passwd").read_text() == "root:x:0:0\n"


def test_out_that_is_a_symlink_to_a_folder_is_refused_with_exit_2_naming_the_real_folder(tmp_path, small, decoy,
                                                                                          capsys):
    """--out LINK (LINK -> a folder): exit 2 before the run, a sentence saying it is a symlink and which real
    folder to give instead, no traceback, nothing written where the link points."""
    link = tmp_path / "results"
    link.symlink_to(decoy)
    assert main(["run", str(small), "--out", str(link), "--quiet"]) == 2
    err = flat(capsys.readouterr().err)
    assert err.startswith(f"fadump-emu: --out {link}: is a symlink (to {decoy})") and "Traceback" not in err
    assert f"give the real folder (--out {decoy})" in err
    assert untouched(decoy)


def test_a_link_planted_at_the_default_out_name_is_refused(tmp_path, small, decoy, capsys, monkeypatch):
    """No --out: the default out/NAME is a predictable name; a link planted there is refused, not followed."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "small").symlink_to(decoy)
    assert main(["run", str(small), "--quiet", "--force"]) == 2
    assert "out/small: is a symlink" in flat(capsys.readouterr().err)
    assert untouched(decoy)


@pytest.mark.parametrize("spelling", ["{link}/", "{link}/.", "{link}//"])
def test_a_symlinked_out_is_refused_however_it_is_spelled(tmp_path, small, decoy, capsys, spelling):
    """A trailing slash or dot makes the kernel follow the link: the refusal does not depend on the spelling."""
    link = tmp_path / "results"
    link.symlink_to(decoy)
    assert main(["run", str(small), "--out", spelling.format(link=link), "--quiet"]) == 2
    assert "is a symlink" in flat(capsys.readouterr().err)
    assert untouched(decoy)


def test_a_dangling_symlink_as_out_is_refused_and_its_target_not_created(tmp_path, small, decoy, capsys):
    link = tmp_path / "results"
    link.symlink_to(decoy / "new")
    assert main(["run", str(small), "--out", str(link), "--quiet"]) == 2
    assert "is a symlink" in flat(capsys.readouterr().err)
    assert untouched(decoy)


def test_dot_dot_climbing_out_of_a_symlink_is_refused_naming_both_folders(tmp_path, small, decoy, capsys):
    """--out LINK/.. where LINK -> DECOY/sub: the kernel reaches DECOY, the user read it as LINK's folder."""
    (decoy / "sub").mkdir()
    (tmp_path / "here").mkdir()
    link = tmp_path / "here" / "link"
    link.symlink_to(decoy / "sub")
    assert main(["run", str(small), "--out", f"{link}/..", "--quiet"]) == 2
    err = flat(capsys.readouterr().err)
    assert "climbs out of a symlink" in err and f"names {decoy}, not {tmp_path / 'here'}" in err
    assert sorted(p.name for p in decoy.iterdir()) == ["passwd", "sub"] and not any((decoy / "sub").iterdir())


def test_a_symlinked_folder_above_out_is_the_users_choice_and_works(tmp_path, small, capsys):
    """Only --out itself is guarded: a parent that is a symlink (/tmp, a home folder, out/ on a bigger disk)
    keeps working, and the results land in the real folder it points at."""
    real = tmp_path / "bigdisk"
    real.mkdir()
    (tmp_path / "out").symlink_to(real)
    assert main(["run", str(small), "--out", str(tmp_path / "out" / "small"), "--quiet"]) == 0
    assert (real / "small" / "report.json").is_file() and (real / "small" / "vmcore").is_file()


def test_map_naming_a_symlink_to_a_folder_is_refused_before_the_run(tmp_path, small, decoy, capsys):
    link = tmp_path / "maps"
    link.symlink_to(decoy)
    assert main(["run", str(small), "--out", str(tmp_path / "out"), "--quiet", "--map", str(link)]) == 2
    assert f"--map {link}: is a symlink" in flat(capsys.readouterr().err)
    assert untouched(decoy)
    assert not (tmp_path / "out" / "report.json").exists()


def test_the_output_folder_swapped_for_a_link_during_the_run_still_gets_the_results(tmp_path, decoy):
    """The folder is opened once and published into by descriptor: renaming it away and planting a link at its
    path while the run is staging sends nothing through the link; the results land in the folder opened."""
    out, moved = tmp_path / "out", tmp_path / "moved"
    folder = OutputFolder(out)
    with folder as staging:
        (staging / "report.json").write_text("report")
        (staging / "vmcore").write_text("vmcore")
        os.rename(out, moved)
        out.symlink_to(decoy)
        folder.commit()
    assert untouched(decoy)
    assert (moved / "report.json").read_text() == "report" and (moved / "vmcore").read_text() == "vmcore"
    assert not list(moved.glob(STAGING_PREFIX + "*"))


def test_a_fifo_planted_as_the_lock_is_refused_with_exit_2(tmp_path, small, capsys):
    """OUT/.fadump-emu.lock as a FIFO (or a device): never written into; exit 2 with a sentence."""
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / LOCK)
    assert main(["run", str(small), "--out", str(out), "--quiet"]) == 2
    err = flat(capsys.readouterr().err)
    assert "is not a regular file; remove it" in err and "Traceback" not in err


def test_a_hard_link_planted_as_the_lock_is_refused_and_the_linked_file_untouched(tmp_path, small, decoy, capsys):
    """OUT/.fadump-emu.lock as a hard link to a file elsewhere (O_NOFOLLOW cannot see it): the lock would truncate
    it and write a pid into it; the run exits 2 instead, with a sentence, and the file keeps its content."""
    out = tmp_path / "out"
    out.mkdir()
    os.link(decoy / "passwd", out / LOCK)
    assert main(["run", str(small), "--out", str(out), "--quiet"]) == 2
    assert "is a hard link to another file; remove it" in flat(capsys.readouterr().err)
    assert untouched(decoy)


def test_a_fifo_planted_as_the_manifest_does_not_hang_the_run(tmp_path):
    """OUT/.fadump-emu-manifest.json as a FIFO: opening it must not wait for a writer that never comes."""
    import threading

    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / MANIFEST)
    folder = OutputFolder(out, force=True)
    found: list = []
    with folder:
        reader = threading.Thread(target=lambda: found.append(folder.manifest()), daemon=True)
        reader.start()
        reader.join(10)
        if reader.is_alive():  # unblock the stuck open so the thread ends, then fail
            os.close(os.open(out / MANIFEST, os.O_WRONLY | os.O_NONBLOCK))
            reader.join(5)
            pytest.fail("manifest() blocked on a FIFO")
    assert found == [[]]


def test_a_stale_staging_name_planted_as_a_link_is_removed_not_followed(tmp_path, small, decoy, capsys):
    """OUT/.fadump-emu-incomplete.N -> a folder outside: the next run unlinks the link and empties nothing."""
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{STAGING_PREFIX}999999").symlink_to(decoy)
    assert main(["run", str(small), "--out", str(out), "--quiet"]) == 0
    assert untouched(decoy)
    assert not os.path.lexists(out / f"{STAGING_PREFIX}999999")


def test_write_file_never_opens_a_file_planted_at_a_guessable_temporary_name(tmp_path, decoy):
    """A link planted at .NAME.tmp.PID (the name a pid-only scheme would use): write_file still writes NAME
    whole, and the file the link points at is untouched."""
    (tmp_path / f".report.json.tmp.{os.getpid()}").symlink_to(decoy / "passwd")
    out_paths.write_file(tmp_path / "report.json", "{}\n")
    assert (tmp_path / "report.json").read_text() == "{}\n"
    assert untouched(decoy)


# --- the other commands that write folders: test, explore ---

def test_fadump_emu_test_with_out_naming_a_symlink_exits_2_before_running(tmp_path, small, decoy, capsys):
    link = tmp_path / "results"
    link.symlink_to(decoy)
    assert main(["test", str(small), "--out", str(link), "-j", "1"]) == 2
    err = flat(capsys.readouterr().err)
    assert "--out" in err and "is a symlink" in err and "Traceback" not in err
    assert untouched(decoy)


def test_fadump_emu_test_refuses_a_link_planted_at_one_scenarios_folder_as_that_scenarios_error(tmp_path, small,
                                                                                              decoy, capsys):
    """OUT/NAME planted as a link: that scenario is an ERROR row saying so; nothing is written through it."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "small").symlink_to(decoy)
    assert main(["test", str(small), "--out", str(out), "-j", "1"]) == 1
    results = json.loads((out / "results.json").read_text())["results"]
    assert results[0]["verdict"] == "ERROR" and "is a symlink" in results[0]["error"]
    assert untouched(decoy)


def test_explore_with_out_naming_a_symlink_exits_2_before_exploring(tmp_path, small, decoy, capsys):
    link = tmp_path / "results"
    link.symlink_to(decoy)
    assert main(["explore", str(small), "--out", str(link), "-j", "1"]) == 2
    captured = capsys.readouterr()
    assert "is a symlink" in flat(captured.err) and "explored" not in captured.out
    assert untouched(decoy)
