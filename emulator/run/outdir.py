"""The output folder of a run: locked, staged, replaced all at once, never through a symlink.

``--out`` itself must be a real folder, never reached through a symlink (emulator.run.out_paths says
why and checks the paths a user gives).

Inside the folder nothing is followed either: the folder is opened once
(``O_NOFOLLOW | O_DIRECTORY``) and the lock, the staging folder, the manifest
and every rename that publishes the results are made relative to that open
folder (``dir_fd``), with ``O_NOFOLLOW`` / ``O_EXCL`` on every file opened, so
a link planted inside (``OUT/vmcore -> /etc/passwd``) is replaced, never
written through, and swapping the folder's path for a link during the run
cannot redirect the results.

A run never writes into ``--out`` directly:

* ``OUT/.fadump-emu.lock`` is locked (``fcntl.flock``) for the whole run, so a
  second run into the same folder stops at once with exit status 2;
* everything is written into ``OUT/.fadump-emu-incomplete.PID`` (the staging
  folder: its name says what it is if a killed run leaves it behind);
* at the end the results are moved into place with ``os.replace`` (a rename:
  it replaces a symlink, it never writes through one), ``report.json`` last,
  after the old report was taken away first, so a report never stands next to
  files of another run;
* ``OUT/.fadump-emu-manifest.json`` lists what the tool wrote; ``--force``
  removes only those files, never the user's own (``vmcore.sha256``...).

An interrupted or failed run removes its staging folder and leaves the
previous results exactly as they were.

Small results the run hands over as bytes (each boot's ``boot-N`` and the
``digests`` folder: ``add_tree``; ``console.log`` and report.html: ``add_file``;
the manifest) are written into the staging folder at commit, or, when the
previous results hold exactly the same bytes, kept as they are
(emulator.run.small_trees). A re-run of an unchanged scenario then makes and
frees three inodes (the staging folder, the report, the vmcore) instead of
ten. On ext4 without a journal every new inode is found by
scanning past the inodes of its group freed in the last 30 seconds (``perf``
put that scan at 15% of a re-run suite's CPU on the development machine,
whose other work on the same disk frees inodes too).
"""

import errno
import fcntl
import json
import os
import re
import shutil
import stat
import signal
import threading
from pathlib import Path

from emulator.scenario.checks import RESULT_NAME, is_reserved  # noqa: F401 (the folder's own names)
from emulator.errors import BadInputError, OutputExistsError
from emulator.new_files import create_file, open_folder
from emulator.run.out_paths import check_out_dir, refuse_symlink
from emulator.run import small_trees

LOCK = ".fadump-emu.lock"
MANIFEST = ".fadump-emu-manifest.json"
STAGING_PREFIX = ".fadump-emu-incomplete."
TRASH = ".fadump-emu-old"
REPORT = "report.json"
VMCORE_NAME = re.compile(r"^vmcore(\.\d+)?$")


def _remove(p: str | Path, dir_fd: int | None = None) -> None:
    """Remove a file, a symlink (not its target) or a folder tree; nothing if it is gone. With ``dir_fd``,
    ``p`` is a name in that open folder."""
    try:
        st = os.stat(p, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(p, ignore_errors=True, dir_fd=dir_fd)
    else:
        try:
            os.unlink(p, dir_fd=dir_fd)
        except FileNotFoundError:
            pass


def _lexists(name: str, dir_fd: int) -> bool:
    """Whether ``name`` (a file, folder or link, never followed) is in the open folder ``dir_fd``."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _move(name: str, src_fd: int, dst_fd: int) -> None:
    """Rename ``name`` from one open folder to another: a rename replaces a link at the target, never follows it."""
    os.replace(name, name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)


def _aside(name: str, out_fd: int, staging_fd: int) -> None:
    """Move the earlier run's ``name`` into the staging folder as ``TRASH.NAME`` (removed with the staging folder):
    a reserved name no result may take (is_reserved), and no folder is made for them (one inode fewer per run)."""
    os.replace(name, f"{TRASH}.{name}", src_dir_fd=out_fd, dst_dir_fd=staging_fd)


def _check_result_name(name: str, other: dict) -> None:
    """ValueError unless ``name`` is a plain result name, not already handed over as the other kind."""
    if "/" in name or name in ("", ".", "..") or name.startswith(".fadump-emu") or name in other:
        raise ValueError(f"not a result name: {name!r}")


FSYNC_THREADS = 8
"""How many fsyncs of one tree are in flight at once."""


def _fsync_tree(root: Path) -> None:
    """fsync every file and folder under ``root``, several at a time.

    Each fsync waits for the file system to commit; issued together they share commits (ext4 groups them
    into one journal transaction) instead of waiting one after another: a run's two dozen files took
    about 170 ms one by one and 45 ms together on this machine's disk. All are done when this returns.
    """
    todo = []
    for dirpath, _, files in os.walk(root):
        todo += [(os.path.join(dirpath, name), os.O_RDONLY | os.O_NOFOLLOW) for name in files]
        todo.append((dirpath, os.O_RDONLY | os.O_DIRECTORY))
    errors: list[OSError] = []

    def worker() -> None:
        while True:
            try:
                path, flags = todo.pop()  # list.pop is atomic: each path is taken once
            except IndexError:
                return
            try:
                _fsync(path, flags)
            except OSError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker, name="fsync", daemon=True)
               for _ in range(min(FSYNC_THREADS, len(todo)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _fsync(path: str, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class OutputFolder:
    """``with OutputFolder(out, force) as staging:`` write into ``staging``; ``commit()`` publishes it.

    Leaving the block without commit() (an error, Ctrl-C) removes the staging
    folder and keeps the previous results. The folder is opened once, without
    following a symlink; everything after is done relative to that descriptor.
    """

    def __init__(self, path: str | Path, force: bool = False, names: tuple[str, ...] = (), durable: bool = True):
        self.path = Path(path)
        self.force = force
        self.durable = durable
        """fsync the results before publishing them; ``fadump-emu test`` and ``explore`` runs, whose outputs
        are scratch, skip it (the renames keep them all-or-nothing; only a host crash could tear them)."""
        self.names = names
        """File names the scenario itself asks for (capture paths): refused like vmcores without --force."""
        self._lock_fd = -1
        self._fd = -1
        """The output folder, opened with O_NOFOLLOW: the lock, staging and publishing renames are relative to it."""
        self._staging_fd = -1
        self.staging: Path | None = None
        self.committed = False
        self.trees: dict[str, small_trees.Tree] = {}
        """Small folders written at commit, or kept from the previous results when byte-identical (add_tree)."""
        self.files: dict[str, bytes] = {}
        """Small files written at commit, or kept when byte-identical (add_file)."""
        self._kept: set[str] = set()

    # --- opening ---

    def __enter__(self) -> Path:
        check_out_dir(self.path)
        try:
            self._fd = open_folder(self.path)
        except OSError as exc:  # made a symlink (or removed) since the check: the same refusal, now for certain
            if exc.errno == errno.ELOOP:
                refuse_symlink(self.path, "--out")
            raise BadInputError(f"--out {self.path}: cannot open this folder ({exc.strerror}); "
                                "choose another --out") from None
        try:
            self._lock()
            self._refuse_to_overwrite()
            for stale in os.listdir(self._fd):
                if stale.startswith(STAGING_PREFIX):
                    _remove(stale, self._fd)  # left by a killed run: we hold the lock, nobody else writes there
            name = f"{STAGING_PREFIX}{os.getpid()}"
            os.mkdir(name, dir_fd=self._fd)
            self._staging_fd = open_folder(name, self._fd)
            self.staging = self.path / name
        except BaseException:
            self._close()
            raise
        return self.staging

    def __exit__(self, *exc) -> None:
        try:
            if self.staging is not None and not self.committed:
                _remove(self.staging.name, self._fd)
        finally:
            self._close()

    def _lock(self) -> None:
        lock = self.path / LOCK
        try:
            fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=self._fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise BadInputError(f"{lock} is a symlink; remove it (fadump-emu never writes through symlinks)") \
                    from None
            raise BadInputError(f"--out {self.path}: cannot create the lock file ({exc.strerror}); "
                                "choose a writable folder") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:  # a FIFO, a device or another file's hard link
            os.close(fd)  # planted there: the lock's pid is never written into it
            what = "is not a regular file" if not stat.S_ISREG(st.st_mode) else "is a hard link to another file"
            raise BadInputError(f"{lock} {what}; remove it (fadump-emu writes only into its own lock file)")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise BadInputError(f"--out {self.path}: another fadump-emu run is writing into this folder{who}; "
                                "wait for it to finish or choose another --out") from None
        # Written, then cut to its length: truncating to zero first made ext4 (auto_da_alloc) write the file
        # out when it was closed, 30 µs of the close and about 165 µs a run in all on this machine, against 9.
        line = f"{os.getpid()}\n".encode()
        os.pwrite(fd, line, 0)
        os.ftruncate(fd, len(line))
        self._lock_fd = fd

    def _close(self) -> None:
        for attr in ("_staging_fd", "_lock_fd", "_fd"):  # closing the lock's descriptor releases the flock
            fd = getattr(self, attr)
            if fd >= 0:
                os.close(fd)
                setattr(self, attr, -1)

    def manifest(self) -> list[str]:
        """What the previous run wrote here, by its manifest (names only, never paths outside)."""
        try:
            fd = os.open(MANIFEST, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self._fd)
        except OSError:  # results of a version without manifests: the names the tool always wrote
            return sorted(n for n in os.listdir(self._fd) if RESULT_NAME.match(n))
        with os.fdopen(fd) as f:
            try:
                names = json.load(f).get("files", []) if stat.S_ISREG(os.fstat(fd).st_mode) else []
            except (ValueError, AttributeError):
                return []
        return [n for n in names if isinstance(n, str) and "/" not in n and n not in ("", ".", "..")]

    def _refuse_to_overwrite(self) -> None:
        if self.force:
            return
        present = sorted(n for n in os.listdir(self._fd) if VMCORE_NAME.match(n) or (n in self.names))
        if present:
            raise OutputExistsError(f"{self.path / present[0]} already exists; choose another --out folder or "
                                    "pass --force to replace the results of the earlier run (files you added "
                                    "yourself are kept)")

    # --- publishing ---

    def add_tree(self, name: str, files: small_trees.Tree) -> None:
        """The folder ``name`` of the results holds ``files`` (emulator.run.small_trees): it is written into
        the staging folder at commit, unless the previous results hold exactly the same folder, which is kept."""
        _check_result_name(name, self.files)
        merged = {**self.trees.get(name, {}), **files}  # several captures each add their digests
        small_trees.check_paths(merged)
        self.trees[name] = merged

    def add_file(self, name: str, data: bytes | str) -> None:
        """The file ``name`` of the results holds ``data``: written into the staging folder at commit, unless the
        previous results hold exactly that file (plain, the same bytes), which is kept."""
        _check_result_name(name, self.trees)
        self.files[name] = data.encode() if isinstance(data, str) else bytes(data)

    def commit(self) -> None:
        """Move the staged results into place, report last; remove the earlier run's other files.

        Ctrl-C (SIGINT, SIGTERM) is deferred for the few renames this takes and delivered once they are done, so
        it cannot tear the results. Deferring is done with Python handlers, not a signal mask: a mask covers only
        the calling thread, and with any other thread alive (the digest and numpy pools) the kernel delivers the
        signal there and Python still raises KeyboardInterrupt in the main thread, between two renames.
        """
        assert self.staging is not None
        for name, files in self.trees.items():  # read and written before anything moves: still interruptible
            if small_trees.same_tree(self._fd, name, files):
                self._kept.add(name)
                if self.durable:
                    _fsync_tree(self.path / name)  # kept from a scratch run, perhaps never written out
            else:
                small_trees.write_tree(self._staging_fd, name, files)
        for name, data in self.files.items():
            if self._keep_or_stage(name, data, sync=False):  # the staging folder is fsynced whole below
                self._kept.add(name)
        if self.durable:
            _fsync_tree(self.staging)  # the slow part, still interruptible: nothing has moved yet
        if threading.current_thread() is not threading.main_thread():  # a Dask worker thread: no signals here
            self._commit()
            return
        pending: list[int] = []
        kinds = (signal.SIGINT, signal.SIGTERM)
        saved = {k: signal.signal(k, lambda signum, _frame: pending.append(signum)) for k in kinds}
        try:
            self._commit()
        finally:
            for k, handler in saved.items():
                signal.signal(k, handler)
        if pending:
            signal.raise_signal(pending[0])  # now the results are whole: interrupt as the user asked

    def _keep_or_stage(self, name: str, data: bytes | str, sync: bool) -> bool:
        """True when the previous results hold exactly the file ``name`` with ``data`` (kept, and fsynced when the
        run is durable: a scratch run may never have written it out); else it is created in the staging folder."""
        raw = data.encode() if isinstance(data, str) else data
        if small_trees.same_file(self._fd, name, raw):
            if self.durable:
                _fsync(str(self.path / name), os.O_RDONLY | os.O_NOFOLLOW)
            return True
        create_file(self._staging_fd, name, raw, sync=sync)
        return False

    def _commit(self) -> None:
        out, staging = self._fd, self._staging_fd
        new = sorted({*os.listdir(staging), *self._kept})
        manifest_kept = self._keep_or_stage(MANIFEST, json.dumps({"files": new}, indent=1) + "\n", self.durable)
        # The earlier run's files go aside into the staging folder (as TRASH.NAME), removed with it at the end.
        # 1. The old report goes first: from now on no report stands beside files it does not describe.
        if _lexists(REPORT, out) and REPORT not in self._kept:
            _aside(REPORT, out, staging)
        # 2. Files of the earlier run that this run does not write again (only the tool's own, by manifest).
        for name in self.manifest():
            if name not in new and name != REPORT and _lexists(name, out):
                _aside(name, out, staging)
        # 3. The new results. Whatever has the name already is moved aside first: rename cannot replace a
        # folder, and renaming a file over another makes ext4 (auto_da_alloc) write the new file's data out
        # at once, several milliseconds per file that a scratch run (durable False) never asked for.
        for name in new:
            if name == REPORT or name in self._kept:
                continue
            if _lexists(name, out):
                _aside(name, out, staging)
            _move(name, staging, out)
        if not manifest_kept:
            if _lexists(MANIFEST, out):
                _aside(MANIFEST, out, staging)
            _move(MANIFEST, staging, out)
        if REPORT in new and REPORT not in self._kept:
            _move(REPORT, staging, out)
        if self.durable:
            os.fsync(out)
        self.committed = True
        _remove(self.staging.name, out)
