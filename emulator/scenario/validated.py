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
versions and by the shape of every class the model reaches, read from the live classes (each field's
name, type, default or factory, the config; nested dataclasses and enums): change a field or a default
(wherever its constant lives), or upgrade pydantic, and the next run builds and writes it again. Like
bytecode, it is not written under PYTHONDONTWRITEBYTECODE (or where the folder is read-only), and an
unreadable or stale file is ignored.
"""

import dataclasses
import enum
import os
import pickle
import sys
import typing

from blake3 import blake3


def _pydantic_core_extension():
    """pydantic-core's compiled module, ``pydantic_core._pydantic_core``, which holds everything used here.

    Importing it the ordinary way runs the ``pydantic_core`` package first, whose ``__init__`` imports its
    ``core_schema`` (hundreds of TypedDicts and Literals, for type checkers and for building schemas, which
    only pydantic does): about 10 ms of CPU here, of the 12 ms the package cost a quiet run. When nothing
    imported the package yet, the extension is loaded alone, under its own name in sys.modules; a later
    ``import pydantic_core`` (pydantic building the cache, a test) runs the package, whose
    ``from ._pydantic_core import ...`` finds this very module there. Should the extension not be found
    that way, it is imported the ordinary way.
    """
    name = "pydantic_core._pydantic_core"
    if name in sys.modules:
        return sys.modules[name]
    from importlib import machinery, util

    try:
        folder = util.find_spec("pydantic_core").submodule_search_locations[0]
        spec = machinery.FileFinder(folder, (machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES)) \
            .find_spec(name)
        module = util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    except Exception:  # noqa: BLE001 - laid out otherwise (a zipped or vendored install): the ordinary import
        sys.modules.pop(name, None)
        import pydantic_core._pydantic_core as module

        return module


PYDANTIC_CORE = _pydantic_core_extension()
ArgsKwargs = PYDANTIC_CORE.ArgsKwargs
SchemaValidator = PYDANTIC_CORE.SchemaValidator
ValidationError = PYDANTIC_CORE.ValidationError
"""pydantic.ValidationError itself (pydantic re-exports pydantic-core's)."""
PYDANTIC_CORE_VERSION = PYDANTIC_CORE.__version__

CACHE_FORMAT = 2
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
            try:
                self._write({"format": CACHE_FORMAT, "key": self.key()}, validators)
            except (OSError, LookupError, pickle.PicklingError, TypeError, AttributeError):
                pass  # a read-only install or an unpicklable default: the next process builds them again
        return validators

    def key(self) -> str:
        """What the validators depend on: Python, pydantic and pydantic-core, and the shape of every class the
        model reaches (fields, their types, defaults and factories, config; nested dataclasses and enums)."""
        h = blake3()  # not hashlib, whose OpenSSL module costs ~2.5 ms to load; a run loads blake3 for its digests
        h.update(f"{sys.version}\0{PYDANTIC_CORE_VERSION}\0".encode())
        h.update(_pydantic_version_text())
        lines: list[str] = []
        seen: set[type] = set()
        for name in sorted(self.classes):
            _shape(self.classes[name], seen, lines)
        h.update("\n".join(lines).encode())
        return h.hexdigest()

    def _write(self, header: dict, validators: dict[str, SchemaValidator]) -> None:
        """The header (format, key), then the validators, into a new file moved over the old one (readers never
        see half a file), with the umask's permissions as bytecode has."""
        folder = os.path.dirname(self.cache_path)
        os.makedirs(folder, exist_ok=True)
        tmp = f"{self.cache_path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(header, f, protocol=pickle.HIGHEST_PROTOCOL)
                pickle.dump(validators, f, protocol=pickle.HIGHEST_PROTOCOL)
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
                header = _Unpickler(f).load()
                if header["format"] != CACHE_FORMAT or header["key"] != self.key():
                    return None  # stale: its validators are not even read
                validators = _Unpickler(f).load()
            if set(validators) != set(self.classes):
                return None
        except Exception:  # noqa: BLE001 - any unreadable, foreign or stale file: build the validators instead
            return None
        self.loaded_from_cache = True
        return validators


class _Unpickler(pickle.Unpickler):
    """Finds SchemaValidator in the extension loaded above: pickle's own lookup imports the pydantic_core
    package first, which the extension was loaded alone to avoid."""

    def find_class(self, module: str, name: str):
        if module == PYDANTIC_CORE.__name__:
            return getattr(PYDANTIC_CORE, name)
        return super().find_class(module, name)


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


def _shape(tp, seen: set[type], lines: list[str]) -> None:
    """Append to ``lines`` what pydantic's schema of type ``tp`` is made of, reaching into nested types."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if tp in seen:
            return
        seen.add(tp)
        params = tp.__dataclass_params__
        lines.append(f"dataclass {tp.__module__}.{tp.__qualname__} frozen={params.frozen} "
                     f"post_init={hasattr(tp, '__post_init__')} slots={'__slots__' in tp.__dict__} "
                     f"config={getattr(tp, '__pydantic_config__', None)!r}")
        for f in dataclasses.fields(tp):
            default = "-" if f.default is dataclasses.MISSING else repr(f.default)
            factory = f.default_factory
            made_by = "-" if factory is dataclasses.MISSING else \
                f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', repr(factory))}"
            lines.append(f"  {f.name}: {f.type!r} = {default} / {made_by} init={f.init} kw_only={f.kw_only} "
                         f"metadata={dict(f.metadata)!r}")
            _shape(f.type, seen, lines)
            if isinstance(factory, type):
                _shape(factory, seen, lines)
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        if tp not in seen:
            seen.add(tp)
            lines.append(f"enum {tp.__module__}.{tp.__qualname__} {[(m.name, m.value) for m in tp]!r}")
    else:
        for arg in typing.get_args(tp):
            _shape(arg, seen, lines)


def _pydantic_version_text() -> bytes:
    """pydantic's version.py, read without importing pydantic (which is what the cache saves)."""
    import importlib.util

    spec = importlib.util.find_spec("pydantic")
    if spec is None or not spec.origin:
        raise LookupError("pydantic is not installed")
    with open(os.path.join(os.path.dirname(spec.origin), "version.py"), "rb") as f:
        return f.read()
