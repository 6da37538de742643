"""Small results a run writes whole (each boot's ``boot-N/proc/device-tree``, ``digests``, ``console.log``): made at
commit, or kept.

A run's output folder is staged and published at once (emulator.run.outdir). Most of what a re-run
publishes is byte for byte what the previous run left: a scenario that did not change boots the same
device tree. Creating those files again and removing the old ones costs a new inode each and a freed one,
which is most of a small scenario's system time on some file systems (ext4 without a journal scans past
every inode freed in the last 30 seconds for each one it hands out). So a tree is handed to the output
folder as bytes (``OutputFolder.add_tree``) and, when it publishes, the previous run's folder of that name
is kept as it is when it holds exactly those files with exactly those bytes; otherwise the tree is written
into the staging folder and published like every other result. A reader sees the same bytes either way;
only the kept files' timestamps are those of the run that first wrote them.

Nothing is followed or written through: folders are opened with ``O_NOFOLLOW | O_DIRECTORY`` relative to
their parent's descriptor, files with ``O_NOFOLLOW`` (read) or ``O_EXCL | O_NOFOLLOW`` (created), and a
link, a FIFO or anything that is not a plain file or folder makes the old tree count as different (it is
then moved aside and removed like any earlier result, the link itself, never what it points at).
"""

import os
import stat

from emulator.new_files import create_file, open_folder

Tree = dict[str, bytes]
"""Paths relative to the tree's folder ("proc/device-tree/rtas/ibm,os-term") and each file's bytes."""

_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a planted FIFO must not block the run


def layout(files: Tree) -> dict[str, dict[str, bool]]:
    """Each folder of the tree ("" for its top) and what it holds: name -> whether that entry is a folder."""
    folders: dict[str, dict[str, bool]] = {"": {}}
    for path in files:
        parts = path.split("/")
        for i, name in enumerate(parts):
            parent = "/".join(parts[:i])
            folders.setdefault(parent, {})[name] = i < len(parts) - 1
    return folders


def check_paths(files: Tree) -> None:
    """Every path is relative and plain (no "", ".", ".." part), and no file is also a folder."""
    for path in files:
        if any(part in ("", ".", "..") for part in path.split("/")):
            raise ValueError(f"not a plain relative path: {path!r}")
    for folder, entries in layout(files).items():
        for name, is_dir in entries.items():
            if is_dir and f"{folder}/{name}".lstrip("/") in files:
                raise ValueError(f"{name!r} is both a file and a folder")


def write_tree(dir_fd: int, name: str, files: Tree) -> None:
    """Make the folder ``name`` in the open folder ``dir_fd`` (it must not exist) holding ``files``."""
    folders = layout(files)
    fds: dict[str, int] = {}
    try:
        os.mkdir(name, dir_fd=dir_fd)
        fds[""] = open_folder(name, dir_fd)
        for folder in sorted(folders, key=lambda f: (f.count("/"), f)):  # parents before their children
            for entry, is_dir in folders[folder].items():
                path = f"{folder}/{entry}".lstrip("/")
                if is_dir:
                    os.mkdir(entry, dir_fd=fds[folder])
                    fds[path] = open_folder(entry, fds[folder])
                else:
                    create_file(fds[folder], entry, files[path])
    finally:
        for fd in fds.values():
            os.close(fd)


def same_tree(dir_fd: int, name: str, files: Tree) -> bool:
    """Whether ``name`` in the open folder ``dir_fd`` is a folder holding exactly ``files``: the same
    folders and files, nothing else, every file plain and byte for byte equal. Never follows a link."""
    try:
        fd = open_folder(name, dir_fd)
    except OSError:  # absent, a link (ELOOP), not a folder
        return False
    try:
        return _same_folder(fd, "", layout(files), files)
    finally:
        os.close(fd)


def _same_folder(fd: int, folder: str, folders: dict[str, dict[str, bool]], files: Tree) -> bool:
    entries = folders[folder]
    try:
        with os.scandir(fd) as listing:  # the kinds come with the names: nothing but a plain file is opened
            kinds = {e.name: _kind(e) for e in listing}
    except OSError:
        return False
    if kinds != entries:  # a name missing or extra, a folder where a file should be, a link, a FIFO, a device
        return False
    for entry, is_dir in entries.items():
        path = f"{folder}/{entry}".lstrip("/")
        try:
            child = open_folder(entry, fd) if is_dir else os.open(entry, _READ, dir_fd=fd)
        except OSError:
            return False
        try:
            if is_dir:
                if not _same_folder(child, path, folders, files):
                    return False
            elif not _same_file(child, files[path]):
                return False
        finally:
            os.close(child)
    return True


def _kind(entry: os.DirEntry) -> bool | None:
    """True for a folder, False for a plain file, None for anything else (a link, a FIFO, a device)."""
    if entry.is_dir(follow_symlinks=False):
        return True
    return False if entry.is_file(follow_symlinks=False) else None


def _same_file(fd: int, data: bytes) -> bool:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
        return False
    return os.pread(fd, len(data) + 1, 0) == data


def same_file(dir_fd: int, name: str, data: bytes) -> bool:
    """Whether ``name`` in the open folder ``dir_fd`` is a plain file holding exactly ``data`` (never followed)."""
    try:
        if not stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            return False  # a link, a FIFO, a device, a folder: never opened
        fd = os.open(name, _READ, dir_fd=dir_fd)
    except OSError:  # absent, or replaced by a link since (ELOOP)
        return False
    try:
        return _same_file(fd, data)
    finally:
        os.close(fd)
