"""The paths a user gives for results (``--out``, ``--trace``, ``--map``, ``--junit``...), checked before anything
runs, and whole files written there atomically.

``--out`` itself must be a real folder: a symlink there (or a path whose last
component is one, or whose ``..`` climbs back out of one) is refused with exit
status 2 and a sentence naming the real folder. Why refuse rather than follow:
the default ``out/NAME`` is a predictable name in a shared working folder, and
a link planted there (``out/basic-panic -> /etc``) would make an innocent run
write its results, and with ``--force`` remove files, wherever the link
points. Refusing costs a user who made the link on purpose one retyped path
(the message gives it); following costs whatever the link points at. Folders
*above* ``--out`` that are symlinks (``/tmp`` or a home folder on some systems,
``out`` itself on a bigger disk) are the user's own choice and keep working:
only the output folder and what is inside it are guarded.
"""

import os
from pathlib import Path

from emulator.errors import BadInputError
from emulator.new_files import replace_with


def refuse_symlink(path: str | Path, option: str) -> None:
    """BadInputError if the folder ``path`` names is reached through a symlink of its own (see the module's
    docstring: its last component is a link, or a ``..`` after a link makes it name another folder)."""
    p = Path(path)
    if os.path.islink(p):
        real = os.path.realpath(p)
        fix = f"give the real folder ({option} {real}) or remove the link" if option.startswith("-") else \
            "remove the link"
        raise BadInputError(f"{option} {p}: is a symlink (to {real}); fadump-emu writes only into a real folder, "
                            f"never through a link, so a link planted there cannot send the files elsewhere; {fix}")
    meant, reached = os.path.realpath(os.path.normpath(p)), os.path.realpath(p)
    if meant != reached:
        raise BadInputError(f"{option} {p}: its '..' climbs out of a symlink, so it names {reached}, not "
                            f"{meant}; give the folder without '..' ({option} {reached} if that is the one)")


def _real_folder(path: str | Path, option: str, meant_for: str, elsewhere: str, results: bool) -> Path:
    """``path`` as a usable real folder, created if missing: BadInputError (``option PATH: what is wrong;
    elsewhere``) for a symlink, a file, a folder that cannot be made or written. A ``results`` folder's sentences
    also name a file in the middle of the path as such (rather than by the system's error) and suggest fixing
    the permissions of one that cannot be written."""
    p = Path(path)
    refuse_symlink(p, option)
    if p.exists() and not p.is_dir():
        raise BadInputError(f"{option} {p}: is a file, not a folder; {meant_for}")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if results and isinstance(exc, FileExistsError):
            raise BadInputError(f"{option} {p}: a part of this path is a file, not a folder; {elsewhere}") from None
        raise BadInputError(f"{option} {p}: cannot create this folder ({exc.strerror or exc}); {elsewhere}") \
            from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise BadInputError(f"{option} {p}: this folder is not writable; {elsewhere}"
                            + (" or fix its permissions" if results else ""))
    return p


def check_out_dir(path: str | Path, option: str = "--out") -> Path:
    """``--out`` as a usable real folder: created if missing; BadInputError with a sentence if it cannot be
    (a symlink is refused: see the module's docstring)."""
    elsewhere = f"choose another {option}" if option.startswith("-") else "choose another folder"
    return _real_folder(path, option, "choose a folder for the results", elsewhere, True)


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
    """A folder the run will fill (``--map``): not a file, not a symlink, creatable, writable."""
    return _real_folder(path, option, "give a folder for the pictures", "choose another path", False)


def write_file(path: str | Path, data: bytes | str, sync: bool = True) -> None:
    """Write a whole file atomically: a temporary file beside it, fsync, then rename over the name
    (emulator.new_files.replace_with).

    A symlink at ``path`` is replaced, never followed. The temporary name is random and created with
    ``O_EXCL``: a file or link planted under a guessable name (``.NAME.tmp.PID``) is never opened. ``sync``
    False skips the fsync, for files in a staging folder that commit() fsyncs (or, for scratch runs, need not
    be) before publishing them.
    """
    replace_with(path, data, sync)
