"""SimPy, imported without the package-metadata machinery it loads only to set ``simpy.__version__``.

simpy/__init__.py ends by asking ``importlib.metadata.version("simpy")``. Importing importlib.metadata pulls
in email, zipfile, csv, socket and more: about 25 ms of CPU here, a tenth of a whole ``fadump-emu run``, for a
string the emulator never reads. So when nothing has imported importlib.metadata yet, SimPy's import sees a
stand-in whose ``version()`` says the distribution is not found (SimPy then leaves ``__version__`` unset, as
it does when run from a source tree), and the stand-in is removed as soon as SimPy is in. Anything imported
later that needs importlib.metadata (entry points of the capture tools, pytest) gets the real one. When it is
already loaded, or SimPy's import ever needs more of it, SimPy is imported as usual.
"""

import importlib
import sys
import types


def _stand_in() -> types.ModuleType:
    module = types.ModuleType("importlib.metadata", "Stand-in while SimPy is imported (firmware.simpy_loader).")

    class PackageNotFoundError(ModuleNotFoundError):
        pass

    def version(distribution_name: str) -> str:
        raise PackageNotFoundError(distribution_name)

    module.PackageNotFoundError = PackageNotFoundError
    module.version = version
    return module


def _import_without_metadata() -> types.ModuleType:
    stand_in = _stand_in()
    sys.modules["importlib.metadata"] = stand_in
    importlib.metadata = stand_in  # what `import importlib.metadata` then reads
    try:
        import simpy
    except Exception:  # noqa: BLE001 - a SimPy that needs more than version(): forget the attempt
        for name in [m for m in sys.modules if m == "simpy" or m.startswith("simpy.")]:
            del sys.modules[name]
        simpy = None
    finally:
        if sys.modules.get("importlib.metadata") is stand_in:
            del sys.modules["importlib.metadata"]
        if getattr(importlib, "metadata", None) is stand_in:
            del importlib.metadata
    if simpy is None:
        import simpy
    return simpy


def load() -> types.ModuleType:
    """The simpy module (imported once; see the module's docstring for how)."""
    if "simpy" in sys.modules or "importlib.metadata" in sys.modules:
        import simpy

        return simpy
    return _import_without_metadata()


simpy = load()
