"""The functions @dataclass writes are compiled once and kept: a class made from the cache has exactly the
functions compiling them again gives it, a later process compiles none, and a foreign, damaged or unwritable
cache costs only the compilation it would have saved."""

import builtins
import dataclasses
import inspect
import json
import marshal
import subprocess
import sys

import pytest

from emulator import dataclass_code
from emulator.dataclass_code import CodeCache


def declare():
    """The same three classes each time: plain, frozen with slots and defaults, ordered with a factory."""

    @dataclasses.dataclass
    class Plain:
        a: int
        b: str = "x"

    @dataclasses.dataclass(frozen=True, slots=True)
    class Frozen:
        addr: int
        name: str = "ram"
        tags: tuple[str, ...] = ()

    @dataclasses.dataclass(order=True)
    class Ordered:
        n: int
        items: list = dataclasses.field(default_factory=list)

    return Plain, Frozen, Ordered


GENERATED = ("__init__", "__repr__", "__eq__", "__setattr__", "__delattr__", "__hash__", "__lt__", "__ge__")


def functions(cls) -> dict:
    """The code of each generated function (inside the recursion guard dataclasses wraps __repr__ in)."""
    return {name: inspect.unwrap(cls.__dict__[name]).__code__ for name in GENERATED
            if name in cls.__dict__ and hasattr(cls.__dict__[name], "__code__")}


@pytest.fixture
def cached(monkeypatch, tmp_path):
    """A cache in tmp_path given to the dataclasses module for the test; returns a maker of more caches."""
    def use(path=tmp_path / "dc.marshal"):
        cache = CodeCache(str(path))
        monkeypatch.setattr(dataclasses, "exec", cache.exec, raising=False)
        return cache
    monkeypatch.delattr(dataclasses, "exec", raising=False)  # builtins.exec until use() (a test's cli.main installs)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    return use


def test_a_class_made_through_the_cache_has_the_functions_plain_dataclasses_compiles(cached):
    plain = declare()
    cache = cached()
    first = declare()
    assert cache.compiled > 10 and cache.reused == 0
    cache.save()
    again = cached()
    second = declare()
    assert again.compiled == 0 and again.reused > 10  # every text came from the file
    for p, f, s in zip(plain, first, second):
        assert functions(p) == functions(f) == functions(s) != {}
        assert all(code.co_filename == "<string>" for code in functions(s).values())


def test_classes_from_the_file_behave_as_dataclasses(cached):
    cached()
    declare()
    dataclasses.exec.__self__.save()
    cached()
    Plain, Frozen, Ordered = declare()
    assert Plain(1) == Plain(1, "x") and repr(Plain(2, "y")).endswith("Plain(a=2, b='y')")
    f = Frozen(0x1000, tags=("a",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.addr = 5
    assert hash(f) == hash(Frozen(0x1000, "ram", ("a",))) and not hasattr(f, "__dict__")
    assert Ordered(1) < Ordered(2) and Ordered(3).items == [] and Ordered(3).items is not Ordered(3).items
    with pytest.raises(TypeError):
        Plain()


def test_exec_without_namespaces_runs_in_the_callers_own(cached):
    cache = cached()
    namespace = {"cache": cache}
    builtins.exec("x = 41\ncache.exec('y = x + 1')\n", namespace)
    assert namespace["y"] == 42


def test_nothing_is_written_under_pythondontwritebytecode_or_when_nothing_was_compiled(cached, monkeypatch, tmp_path):
    cache = cached()
    declare()
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    cache.save()
    assert not (tmp_path / "dc.marshal").exists()
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    cache.save()
    stamp = (tmp_path / "dc.marshal").stat().st_mtime_ns
    again = cached()
    declare()
    again.save()  # everything came from the file: it is not written again
    assert (tmp_path / "dc.marshal").stat().st_mtime_ns == stamp and again.compiled == 0


@pytest.mark.parametrize("content", [b"", b"not marshal at all", marshal.dumps(((0, b"", "other", 0), {"x": 1})),
                                     marshal.dumps([1, 2, 3]),
                                     marshal.dumps((CodeCache(None).key(), {"x": b"not a code object"}))])
def test_a_damaged_or_foreign_cache_file_is_ignored_and_replaced(cached, tmp_path, content):
    (tmp_path / "dc.marshal").write_bytes(content)
    cache = cached()
    plain = functions(declare()[1])
    assert cache.reused == 0 and cache.compiled > 3
    cache.save()
    again = cached()
    assert functions(declare()[1]) == plain and again.compiled == 0


def test_a_damaged_entry_is_compiled_again(cached, tmp_path):
    cache = cached()
    plain = functions(declare()[1])
    compiled = cache.compiled
    cache.save()
    key, blobs = marshal.loads((tmp_path / "dc.marshal").read_bytes())
    damaged = dict.fromkeys(blobs, b"\xff")
    damaged[next(iter(blobs))] = marshal.dumps("a string, not code")
    (tmp_path / "dc.marshal").write_bytes(marshal.dumps((key, damaged)))
    again = cached()
    assert functions(declare()[1]) == plain
    assert again.reused == 0 and again.compiled == compiled > 3


def test_an_unwritable_cache_folder_is_no_error(cached, tmp_path):
    (tmp_path / "file").write_text("")
    cache = cached(tmp_path / "file" / "dc.marshal")  # its folder is a file
    declare()
    cache.save()
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]


def test_the_cache_lives_beside_the_modules_bytecode():
    path = dataclass_code.cache_path()
    assert "__pycache__" in path and path.endswith(".dataclasses.marshal")
    assert f"cpython-{sys.version_info.major}{sys.version_info.minor}" in path


def test_a_second_quiet_run_compiles_no_dataclass_function(tmp_path):
    """The command line installs the cache before importing the run: the first process compiles the ~200
    generated functions and writes the file at exit, the next one compiles none."""
    code = ("import json, sys, dataclasses\n"
            "sys.dont_write_bytecode = False\n"
            "from emulator import dataclass_code\n"
            f"dataclass_code.cache_path = lambda: {str(tmp_path / 'dc.marshal')!r}\n"
            "from emulator.cli import main\n"
            f"status = main(['run', 'scenarios/basic-panic.toml', '--out', {str(tmp_path / 'out')!r}, '-q',"
            " '--force'])\n"
            "cache = dataclass_code.CACHE\n"
            "print(json.dumps([status, cache.compiled, cache.reused, dataclasses.exec == cache.exec]))\n")
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                      check=True).stdout.splitlines()[-1]) for _ in range(2)]
    (status1, compiled1, _, installed1), (status2, compiled2, reused2, installed2) = runs
    assert (status1, status2) == (0, 0) and installed1 and installed2
    assert compiled1 > 100
    # The first run of a fresh checkout also builds the scenario validator's cache with pydantic, whose own
    # dataclasses it compiles too: the second needs fewer, and compiles none of them.
    assert compiled2 == 0 and reused2 > 100
