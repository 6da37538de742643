"""A file replaced whole: written under a new random name beside it, then renamed over it.

A name planted where the file goes (a symlink to /etc/passwd, say) is replaced by the rename, never written
through, and the temporary name is random and created with ``O_EXCL | O_NOFOLLOW``, so nothing planted under a
guessable name is opened either. A reader sees the old file or the new one, never half of one. The run's
output folder (emulator.run.outdir), ``--collect`` (emulator.regress.dask_engine) and ``schema -o`` all
write this way; it sits in the lowest layer so that each of them can.

Files and folders made inside an open folder (``create_file``, ``open_folder``) are never reached through a
link either: the output folder's staging and the small trees it publishes (emulator.run.small_trees) use them.
"""

import os
from pathlib import Path


def new_file_beside(path: Path, tag: str = "tmp") -> tuple[int, Path]:
    """A new file for writing next to ``path`` (``.NAME.TAG.PID.RANDOM``): its descriptor and its name."""
    while True:
        tmp = path.with_name(f".{path.name}.{tag}.{os.getpid()}.{os.urandom(4).hex()}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644), tmp
        except FileExistsError:
            continue


def replace_with(path: str | Path, data: bytes | str, sync: bool = False) -> None:
    """``data`` as the whole of ``path``: a new file beside it (fsynced with ``sync``), renamed over it."""
    p = Path(path)
    fd, tmp = new_file_beside(p)
    try:
        _write_all(fd, data, sync)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def open_folder(name: str | Path, dir_fd: int | None = None) -> int:
    """A descriptor of the folder ``name`` (in ``dir_fd``), which must not be a symlink (ELOOP otherwise)."""
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


def create_file(dir_fd: int, name: str, data: bytes | str, sync: bool = False) -> None:
    """Create the file ``name`` in the open folder ``dir_fd`` holding ``data`` (it must not exist: O_EXCL, never
    a link), fsynced with ``sync``."""
    _write_all(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                       dir_fd=dir_fd), data, sync)


def _write_all(fd: int, data: bytes | str, sync: bool) -> None:
    """``data`` (text as UTF-8) into the new file open as ``fd``, then close it; fsynced first with ``sync``."""
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        if sync:
            f.flush()
            os.fsync(f.fileno())
