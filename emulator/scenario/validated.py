"""Strict dataclasses validated by pydantic, with their core schemas cached beside the bytecode.

emulator.scenario.model declares the scenario model with ``ValidatedModels.dataclass``: a standard
dataclass carrying ``__pydantic_config__`` (strict, validated on assignment), whose ``__init__`` and
``__setattr__`` go through a pydantic-core ``SchemaValidator``, as a pydantic dataclass's do. The core
schema is pydantic's own: ``pydantic.TypeAdapter(cls).core_schema``, the very schema pydantic builds for a
pydantic dataclass of the same fields and config (tests/emulator/scenario/test_validated.py compares
them, and the errors). So validation, its messages and their locations are pydantic's.

What this saves is the start-up: building the schemas means importing pydantic (about 60 ms of CPU here)
and generating them (about 15 ms), on every process. The schemas are plain data naming classes, so the
first process that needs them pickles the validators beside the module's bytecode
(``__pycache__/model.cpython-311.pydantic.pickle``) and later processes unpickle them in about a
millisecond, importing only pydantic-core. The file is keyed by the Python, pydantic and pydantic-core
versions and the source of every module whose classes the schemas name: edit a field, or upgrade
pydantic, and the next run builds and writes it again. Like bytecode, it is not written under
PYTHONDONTWRITEBYTECODE (or where the folder is read-only), and an unreadable or stale file is ignored.
"""

import dataclasses
import hashlib
import os
import pickle
import sys

from pydantic_core import ArgsKwargs, SchemaValidator, __version__ as PYDANTIC_CORE_VERSION

CACHE_FORMAT = 1
"""Bumped when the cache file's layout changes."""


class ValidatedModels:
    """The strict dataclasses of one module, and their validators, built or loaded on first use."""

    def __init__(self, module: str, config: dict):
        self.module = module
        self.config = config
        self.classes: dict[str, type] = {}
        self.cache_path: str | None = _cache_path(module)
        """Where the validators are cached (None: nowhere); tests point it elsewhere."""
        self._validators: dict[str, SchemaValidator] | None = None
        self.loaded_from_cache: bool | None = None
        """After the first use: whether the validators came from the cache file (else pydantic built them)."""

    def dataclass(self, cls: type) -> type:
        """A standard dataclass whose creation and assignments pydantic validates with ``self.config``."""
        cls = dataclasses.dataclass(cls)
        cls.__pydantic_config__ = self.config  # what pydantic reads when it builds the schema of a dataclass
        models = self

        def __init__(self, *args, **kwargs) -> None:
            models.validator(type(self)).validate_python(ArgsKwargs(args, kwargs), self_instance=self)

        def __setattr__(self, name: str, value) -> None:
            models.validator(type(self)).validate_assignment(self, name, value)

        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        __setattr__.__qualname__ = f"{cls.__qualname__}.__setattr__"
        cls.__init__ = __init__
        cls.__setattr__ = __setattr__
        self.classes[cls.__qualname__] = cls
        return cls

    def validator(self, cls: type) -> SchemaValidator:
        validators = self._validators
        if validators is None:
            validators = self._validators = self._load() or self._build()
        return validators[cls.__qualname__]

    def reset(self) -> None:
        """Forget the validators: the next use loads or builds them again."""
        self._validators = None
        self.loaded_from_cache = None

    # --- building (pydantic) ---

    def _build(self) -> dict[str, SchemaValidator]:
        from pydantic import TypeAdapter

        schemas = {name: TypeAdapter(cls).core_schema for name, cls in self.classes.items()}
        validators = {name: SchemaValidator(schema, _config(schema)) for name, schema in schemas.items()}
        self.loaded_from_cache = False
        if self.cache_path and not sys.dont_write_bytecode:
            sources = sorted({self.module} | {m for s in schemas.values() for m in _modules_named(s)})
            try:
                self._write({"format": CACHE_FORMAT, "key": _key(sources), "sources": sources,
                             "validators": validators})
            except (OSError, LookupError, pickle.PicklingError, TypeError, AttributeError):
                pass  # a read-only install or an unpicklable default: the next process builds them again
        return validators

    def _write(self, content: dict) -> None:
        """Into a new file moved over the old one (readers never see half a file), umask permissions as bytecode."""
        folder = os.path.dirname(self.cache_path)
        os.makedirs(folder, exist_ok=True)
        tmp = f"{self.cache_path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(content, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.cache_path)
        except BaseException:
            os.unlink(tmp)
            raise

    # --- loading (pydantic-core only) ---

    def _load(self) -> dict[str, SchemaValidator] | None:
        if not self.cache_path:
            return None
        try:
            with open(self.cache_path, "rb") as f:
                content = pickle.load(f)
            if content["format"] != CACHE_FORMAT or content["key"] != _key(content["sources"]):
                return None
            validators = content["validators"]
            if set(validators) != set(self.classes):
                return None
        except Exception:  # noqa: BLE001 - any unreadable, foreign or stale file: build the validators instead
            return None
        self.loaded_from_cache = True
        return validators


def _cache_path(module: str) -> str | None:
    """``__pycache__/NAME.cpython-311.pydantic.pickle`` of the module, where its bytecode goes."""
    import importlib.util

    source = getattr(sys.modules.get(module), "__file__", None)
    if not source or not source.endswith(".py"):
        return None
    try:
        return importlib.util.cache_from_source(source).removesuffix(".pyc") + ".pydantic.pickle"
    except (NotImplementedError, ValueError):  # no bytecode cache for this interpreter
        return None


def _config(schema: dict) -> dict | None:
    """The core config pydantic gives a dataclass's validator: the one inside its schema (strict, title)."""
    inner = schema["schema"] if schema.get("type") == "definitions" else schema
    return inner.get("config")


def _modules_named(value) -> set[str]:
    """Modules of the classes and functions a core schema refers to (nested dataclasses, enums, defaults)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, type) or callable(item):
            module = getattr(item, "__module__", None)
            if module and module != "builtins":
                found.add(module)
    return found


def _key(modules: list[str]) -> str:
    """What the schemas depend on: Python, pydantic and pydantic-core versions, the source of each module."""
    h = hashlib.sha256()
    h.update(f"{sys.version}\0{PYDANTIC_CORE_VERSION}\0".encode())
    h.update(_pydantic_version_text())
    for name in modules:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path is None:
            raise LookupError(f"{name} is not an imported module with a source file")
        with open(path, "rb") as f:
            h.update(name.encode() + b"\0" + f.read() + b"\0")
    return h.hexdigest()


def _pydantic_version_text() -> bytes:
    """pydantic's version.py, read without importing pydantic (which is what the cache saves)."""
    import importlib.util

    spec = importlib.util.find_spec("pydantic")
    if spec is None or not spec.origin:
        raise LookupError("pydantic is not installed")
    with open(os.path.join(os.path.dirname(spec.origin), "version.py"), "rb") as f:
        return f.read()
