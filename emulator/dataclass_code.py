"""The functions ``@dataclass`` writes, compiled once and kept beside the bytecode.

The standard library's dataclasses writes each class's ``__init__``, ``__repr__``, ``__eq__`` (and, for a
frozen class, ``__setattr__``, ``__delattr__``, ``__hash__``) as Python source text and compiles it, every
time the class is created: a quiet run of the default scenario creates 48 dataclasses, compiling 211 such
texts, which measured about 22 ms of CPU on the 2-core development machine (of about 28 ms that the 48
classes cost), on every process.

The code object compiled from a text depends on that text alone (and on the interpreter and its -O level):
the class's names reach the function through the globals and locals given to ``exec``, not through its code.
So the dataclasses module is given its own ``exec`` (install(); the module runs generated source through
that one name, looked up in its globals before the builtins): a text compiled before, in this process or in
an earlier one, runs as the code object compiled then, with the very globals and locals it was given. What
the class gets is what compiling the text again would have given it (tests/emulator/test_dataclass_code.py
compares the functions).

The compiled texts are kept, each text with its code object marshalled (as bytecode is), in
``__pycache__/dataclass_code.cpython-311.dataclasses.marshal`` beside this module's bytecode, written when the
process exits if it compiled a text the file did not hold; the file is keyed by the interpreter's bytecode
magic number, its version and its -O level. A process unmarshals only the code of the texts it runs (the
file also holds those of other commands): reading it costs a quiet run about a millisecond. Like bytecode, it is not written under PYTHONDONTWRITEBYTECODE (or where the folder is
read-only), and an unreadable or foreign file is ignored.
"""

import atexit
import builtins
import importlib.util
import marshal
import os
import sys
import types

FORMAT = 2
"""Bumped when the cache file's layout changes."""
LIMIT = 4096
"""At most this many texts are kept: past it, the file keeps only those the writing process used."""


class CodeCache:
    """Source text -> code object, for the ``exec`` of one module (the dataclasses module's)."""

    def __init__(self, path: str | None):
        self.path = path
        """The cache file (None: none); tests point it elsewhere."""
        self.codes: dict[str, types.CodeType] = {}
        """Code objects of the texts run in this process."""
        self.blobs: dict[str, bytes] = {}
        """Each known text's code object, marshalled: one is unmarshalled only when its text runs (the file
        also holds the texts of other commands and processes)."""
        self.used: set[str] = set()
        self.compiled = 0
        """Texts this process compiled (not found in the cache)."""
        self.reused = 0
        """Texts that ran as a code object compiled before."""
        self.loaded = False

    def key(self) -> tuple:
        return (FORMAT, importlib.util.MAGIC_NUMBER, sys.version, sys.flags.optimize)

    def load(self) -> None:
        """The texts of the cache file, if it is there and was written by this interpreter."""
        self.loaded = True
        if not self.path:
            return
        try:
            with open(self.path, "rb") as f:
                key, blobs = marshal.load(f)
            if tuple(key) != self.key() or not isinstance(blobs, dict):
                return
        except Exception:  # noqa: BLE001 - any unreadable, foreign or damaged file: compile instead
            return
        self.blobs.update(blobs)

    def exec(self, source, globals=None, locals=None, /):
        """builtins.exec, running a source text as the code object compiled from it before, if any."""
        if globals is None:  # exec's defaults: the caller's namespaces (dataclasses always gives its own)
            frame = sys._getframe(1)
            globals, locals = frame.f_globals, frame.f_locals if locals is None else locals
        if type(source) is str:
            if not self.loaded:
                self.load()
            code = self.codes.get(source) or self._unmarshal(source)
            if code is None:
                # As exec compiles a text: file name "<string>", no __future__ flags (dataclasses has none).
                code = self.codes[source] = compile(source, "<string>", "exec", dont_inherit=True)
                self.blobs[source] = marshal.dumps(code)
                self.compiled += 1
            else:
                self.reused += 1
            self.used.add(source)
            source = code
        return builtins.exec(source, globals, locals)

    def _unmarshal(self, source: str):
        blob = self.blobs.get(source)
        if blob is None:
            return None
        try:
            code = marshal.loads(blob)
        except (EOFError, ValueError, TypeError):  # a damaged entry: compile the text instead
            return None
        if not isinstance(code, types.CodeType):
            return None
        self.codes[source] = code
        return code

    def save(self) -> None:
        """Write the texts to the cache file if this process compiled new ones (a new file moved over the
        old one: readers never see half a file)."""
        if not self.compiled or not self.path or sys.dont_write_bytecode:
            return
        blobs = self.blobs if len(self.blobs) <= LIMIT else {s: self.blobs[s] for s in self.used}
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            with os.fdopen(fd, "wb") as f:
                marshal.dump((self.key(), blobs), f)
            os.replace(tmp, self.path)
            self.compiled = 0
        except (OSError, ValueError):  # a read-only install: the next process compiles them again
            try:
                os.unlink(tmp)
            except OSError:
                pass


def cache_path() -> str | None:
    """``__pycache__/dataclass_code.cpython-311.dataclasses.marshal``, where this module's bytecode goes."""
    try:
        return importlib.util.cache_from_source(__file__).removesuffix(".pyc") + ".dataclasses.marshal"
    except (NotImplementedError, ValueError):  # no bytecode cache for this interpreter
        return None


CACHE: CodeCache | None = None
"""The cache installed in the dataclasses module (None until install())."""


def install() -> CodeCache:
    """Give the dataclasses module the cached ``exec``, once per process, and save the cache at exit."""
    global CACHE
    import dataclasses

    if CACHE is None:
        CACHE = CodeCache(cache_path())
        atexit.register(CACHE.save)
    dataclasses.exec = CACHE.exec
    return CACHE
