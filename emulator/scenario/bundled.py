"""The bundled scenarios, found wherever fadump-emu runs from: `fadump-emu run --list`, `fadump-emu run NAME`.

The scenarios live in the repository's top-level ``scenarios/`` folder (each
with its golden console transcript NAME.log). ``emulator/bundled_scenarios``
is a symbolic link to it, declared as package data in pyproject.toml, so a
checkout, an editable install and a built wheel (where setuptools copies the
files themselves) all find them in the package folder alike (through
``importlib.resources`` when the package is not a folder on disk).

A scenario argument is, in this order: a file that exists; a bundled
scenario's path as the README writes it (``scenarios/faults/disk-full.toml``)
from any folder; a bundled scenario's name (``basic-panic``) or its path
inside the folder without .toml (``faults/disk-full``). For ``test`` and
``check-scenario`` a bundled folder (``scenarios``, ``scenarios/faults``,
``faults``) works the same way.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from emulator.errors import BadInputError

PACKAGE_FOLDER = "bundled_scenarios"


@dataclass(frozen=True)
class Bundled:
    """One bundled scenario: its name, where it is, its profile and what it shows."""

    name: str
    relative: str
    """Its path inside the folder, without .toml (``faults/disk-full``)."""
    path: Path
    profile: str
    description: str


def folder() -> Path | None:
    """The folder holding the bundled scenarios, or None when this installation has none."""
    import emulator

    for package_dir in getattr(emulator, "__path__", ()):  # a package on disk (checkout, editable, wheel)
        root = Path(package_dir) / PACKAGE_FOLDER
        if root.is_dir():
            return root  # what resources.files() gives, without importing its zip readers (start-up time)
    from importlib import resources

    try:
        root = Path(str(resources.files("emulator") / PACKAGE_FOLDER))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - emulator is always importable here
        return None
    return root if root.is_dir() else None


def in_installed_copy(path: str | Path) -> bool:
    """Whether ``path`` is one of the bundled files of an installed fadump-emu (a wheel's copy in site-packages).

    In a checkout or an editable install ``emulator/bundled_scenarios`` is the symbolic link to the
    repository's scenarios/, which a developer edits; an installed wheel holds copies that belong to the
    package manager, and fadump-emu never writes there.
    """
    root = folder()
    if root is None or root.is_symlink():
        return False
    return Path(path).resolve().is_relative_to(root.resolve())


def listing() -> list[Bundled]:
    """Every bundled scenario, sorted by its path in the folder (top level first)."""
    root = folder()
    if root is None:
        return []
    out = []
    for path in sorted(root.rglob("*.toml"), key=lambda p: (len(p.relative_to(root).parts),
                                                             p.relative_to(root).with_suffix("").as_posix())):
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue  # a broken file is reported when it is run, not when the list is printed
        kernel = doc.get("kernel") if isinstance(doc.get("kernel"), dict) else {}
        relative = path.relative_to(root).with_suffix("").as_posix()
        out.append(Bundled(name=str(doc.get("name", path.stem)), relative=relative, path=path.resolve(),
                           profile=str(kernel.get("profile", "linux-3.4")),
                           description=str(doc.get("description", ""))))
    return out


def resolve(arg: str) -> str:
    """The scenario file ``arg`` means: itself when it exists, else a bundled scenario by path or name."""
    if Path(arg).exists() and not Path(arg).is_dir():  # a folder of that name: the bundled scenario, if any
        return arg
    wanted = arg[:-5] if arg.endswith(".toml") else arg
    if wanted.startswith("scenarios/"):
        wanted = wanted[len("scenarios/"):]
    root = folder()
    if root is not None and wanted and ".." not in Path(wanted).parts and (root / f"{wanted}.toml").is_file():
        return str((root / f"{wanted}.toml").resolve())  # a path in the folder: no need to read every scenario
    entries = listing()
    for entry in entries:
        if entry.relative == wanted:
            return str(entry.path)
    named = [e for e in entries if wanted in (e.name, Path(e.relative).name)]
    if len(named) == 1:
        return str(named[0].path)
    if len(named) > 1:
        raise BadInputError(f"{arg}: several bundled scenarios have this name "
                            f"({', '.join(e.relative for e in named)}); give the one you mean by its path, e.g. "
                            + named[0].relative)
    root, inside = folder(), wanted.rstrip("/")
    if Path(arg).is_dir() or root is None:
        return arg  # a folder of that name here wins over a bundled folder
    if inside == "scenarios" or (inside and (root / inside).is_dir()):
        return str((root / ("" if inside == "scenarios" else inside)).resolve())
    return arg  # the reader says that no such file exists, and how to list the bundled ones


def text_listing(entries: list[Bundled]) -> str:
    """One line per scenario, never wrapped: NAME  PROFILE  DESCRIPTION (for pipes, grep and files)."""
    width = max((len(e.relative) for e in entries), default=0)
    lines = [f"{e.relative:<{width}}  {e.profile:<10}  {e.description}" for e in entries]
    return "\n".join(lines) + ("\n" if lines else "")
