"""The output folder of a run: locked, staged, replaced all at once, never through a symlink.

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
"""

import errno
import fcntl
import json
import os
import re
import shutil
import signal
import threading
from pathlib import Path

from emulator.scenario.checks import RESULT_NAME, is_reserved  # noqa: F401 (the folder's own names)
from emulator.errors import BadInputError, OutputExistsError

LOCK = ".fadump-emu.lock"
MANIFEST = ".fadump-emu-manifest.json"
STAGING_PREFIX = ".fadump-emu-incomplete."
TRASH = ".old-results"
REPORT = "report.json"
VMCORE_NAME = re.compile(r"^vmcore(\.\d+)?$")


def check_out_dir(path: str | Path) -> Path:
    """``--out`` as a usable folder: created if missing; BadInputError with a sentence if it cannot be."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise BadInputError(f"--out {out}: is a file, not a folder; choose a folder for the results")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise BadInputError(f"--out {out}: a part of this path is a file, not a folder; choose another --out") \
            from None
    except OSError as exc:
        raise BadInputError(f"--out {out}: cannot create this folder ({exc.strerror}); choose another --out") \
            from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise BadInputError(f"--out {out}: this folder is not writable; choose another --out or fix its "
                            "permissions")
    return out


def check_file_target(path: str | Path, option: str) -> Path:
    """A file the run will write (``--trace``): not a folder, in a folder that exists and is writable."""
    p = Path(path)
    if p.is_dir():
        example = {"--junit": "junit.xml", "--json": "results.json"}.get(option, "trace.json")
        raise BadInputError(f"{option} {p}: is a folder; give a file name, e.g. {p / example}")
    parent = p.parent
    if not parent.is_dir():
        raise BadInputError(f"{option} {p}: the folder {parent} does not exist; create it or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadInputError(f"{option} {p}: the folder {parent} is not writable; choose another path")
    return p


def check_dir_target(path: str | Path, option: str) -> Path:
    """A folder the run will fill (``--map``): not a file, creatable, writable."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise BadInputError(f"{option} {p}: is a file, not a folder; give a folder for the pictures")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"{option} {p}: cannot create this folder ({exc.strerror or exc}); "
                            "choose another path") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise BadInputError(f"{option} {p}: this folder is not writable; choose another path")
    return p


def write_file(path: str | Path, data: bytes | str, sync: bool = True) -> None:
    """Write a whole file atomically: a temporary file beside it, fsync, then rename over the name.

    A symlink at ``path`` is replaced, never followed. ``sync`` False skips the fsync, for files in a
    staging folder that commit() fsyncs (or, for scratch runs, need not be) before publishing them.
    """
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp.{os.getpid()}")
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        _remove(tmp)
        raise


def _remove(p: Path) -> None:
    """Remove a file, a symlink (not its target) or a folder tree; nothing if it is gone."""
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return
    import stat

    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(p, ignore_errors=True)
    else:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class OutputFolder:
    """``with OutputFolder(out, force) as staging:`` write into ``staging``; ``commit()`` publishes it.

    Leaving the block without commit() (an error, Ctrl-C) removes the staging
    folder and keeps the previous results.
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
        self.staging: Path | None = None
        self.committed = False

    # --- opening ---

    def __enter__(self) -> Path:
        check_out_dir(self.path)
        self._lock()
        try:
            self._refuse_to_overwrite()
            for stale in self.path.glob(STAGING_PREFIX + "*"):
                _remove(stale)  # left by a run that was killed: we hold the lock, nobody else writes there
            self.staging = self.path / f"{STAGING_PREFIX}{os.getpid()}"
            self.staging.mkdir()
        except BaseException:
            self._unlock()
            raise
        return self.staging

    def __exit__(self, *exc) -> None:
        try:
            if self.staging is not None and not self.committed:
                _remove(self.staging)
        finally:
            self._unlock()

    def _lock(self) -> None:
        lock = self.path / LOCK
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise BadInputError(f"{lock} is a symlink; remove it (fadump-emu never writes through symlinks)") \
                    from None
            raise BadInputError(f"--out {self.path}: cannot create the lock file ({exc.strerror}); "
                                "choose a writable folder") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise BadInputError(f"--out {self.path}: another fadump-emu run is writing into this folder{who}; "
                                "wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = -1

    def manifest(self) -> list[str]:
        """What the previous run wrote here, by its manifest (names only, never paths outside)."""
        try:
            fd = os.open(self.path / MANIFEST, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:  # results of a version without manifests: the names the tool always wrote
            return sorted(p.name for p in self.path.iterdir() if RESULT_NAME.match(p.name))
        with os.fdopen(fd) as f:
            try:
                names = json.load(f).get("files", [])
            except (ValueError, AttributeError):
                return []
        return [n for n in names if isinstance(n, str) and "/" not in n and n not in ("", ".", "..")]

    def _refuse_to_overwrite(self) -> None:
        if self.force:
            return
        present = sorted(p.name for p in self.path.iterdir()
                         if VMCORE_NAME.match(p.name) or (p.name in self.names))
        if present:
            raise OutputExistsError(f"{self.path / present[0]} already exists; choose another --out folder or "
                                    "pass --force to replace the results of the earlier run (files you added "
                                    "yourself are kept)")

    # --- publishing ---

    def commit(self) -> None:
        """Move the staged results into place, report last; remove the earlier run's other files.

        Ctrl-C (SIGINT, SIGTERM) is deferred for the few renames this takes and delivered once they are done, so
        it cannot tear the results. Deferring is done with Python handlers, not a signal mask: a mask covers only
        the calling thread, and with any other thread alive (the digest and numpy pools) the kernel delivers the
        signal there and Python still raises KeyboardInterrupt in the main thread, between two renames.
        """
        assert self.staging is not None
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

    def _commit(self) -> None:
        staging, out = self.staging, self.path
        new = sorted(p.name for p in staging.iterdir())
        write_file(staging / MANIFEST, json.dumps({"files": new}, indent=1) + "\n", sync=self.durable)
        trash = staging / TRASH
        trash.mkdir()
        # 1. The old report goes first: from now on no report stands beside files it does not describe.
        if os.path.lexists(out / REPORT):
            os.replace(out / REPORT, trash / REPORT)
        # 2. Files of the earlier run that this run does not write again (only the tool's own, by manifest).
        for name in self.manifest():
            if name not in new and name != REPORT and os.path.lexists(out / name):
                os.replace(out / name, trash / name)
        # 3. The new results. Whatever has the name already is moved aside first: rename cannot replace a
        # folder, and renaming a file over another makes ext4 (auto_da_alloc) write the new file's data out
        # at once, several milliseconds per file that a scratch run (durable False) never asked for.
        for name in new:
            if name == REPORT:
                continue
            if os.path.lexists(out / name):
                os.replace(out / name, trash / name)
            os.replace(staging / name, out / name)
        if os.path.lexists(out / MANIFEST):
            os.replace(out / MANIFEST, trash / MANIFEST)
        os.replace(staging / MANIFEST, out / MANIFEST)
        if REPORT in new:
            os.replace(staging / REPORT, out / REPORT)
        if self.durable:
            _fsync_dir(out)
        self.committed = True
        _remove(staging)
