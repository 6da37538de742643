"""The scenario model's validators are pydantic's own, and their cache is used only while it is current.

emulator.scenario.validated builds each model class's validator from pydantic.TypeAdapter's core schema and
caches it beside the bytecode; these tests hold it to what a pydantic dataclass of the same fields would do.
"""

import dataclasses
import json
import pickle
import re
import subprocess
import sys

import pytest
from pydantic import ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass

from emulator.scenario import model, validated
from emulator.scenario.model import MODEL_CONFIG, MODELS, CrashSpec, Event, Expect, KernelSpec, Scenario
from firmware.machine import MachineConfig

CLASSES = (KernelSpec, CrashSpec, Event, Expect, Scenario)


def pydantic_twin(cls: type) -> type:
    """The same fields and defaults declared as a pydantic dataclass (what the model was before the cache)."""
    ns = {"__annotations__": {}, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    for f in dataclasses.fields(cls):
        ns["__annotations__"][f.name] = f.type
        if f.default_factory is not dataclasses.MISSING:
            ns[f.name] = dataclasses.field(default_factory=f.default_factory)
        elif f.default is not dataclasses.MISSING:
            ns[f.name] = f.default
    return pydantic_dataclass(type(cls.__name__, (), ns), config=MODEL_CONFIG)


def shown(schema) -> str:
    """A core schema as text, without the object ids pydantic puts in its reference names."""
    return re.sub(r"(:\d+)'", "'", repr(schema))


@pytest.fixture
def fresh_models(tmp_path, monkeypatch):
    """MODELS with its cache file in tmp_path, written even under PYTHONDONTWRITEBYTECODE; restored after."""
    monkeypatch.setattr(MODELS, "cache_path", str(tmp_path / "__pycache__" / "model.pydantic.pickle"))
    monkeypatch.setattr(validated.sys, "dont_write_bytecode", False)
    MODELS.reset()
    yield MODELS
    MODELS.reset()


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_each_class_is_validated_with_the_schema_pydantic_builds_for_a_pydantic_dataclass(cls):
    from pydantic import TypeAdapter

    ours = TypeAdapter(cls).core_schema
    theirs = pydantic_twin(cls).__pydantic_core_schema__
    assert shown(ours) == shown(theirs)


BAD = [
    (KernelSpec, (), {"profile": 34}),
    (KernelSpec, (), {"epoch": "1"}),
    (CrashSpec, (), {"cpu": True}),
    (CrashSpec, (), {"regs": {"r1": "0x10"}}),
    (Event, ("crash", True, 10.0, None), {}),
    (Event, ("crash", 1, "10", None), {}),
    (Event, ("crash",), {}),
    (Expect, (), {"missing": [(0, 4096)]}),
    (Scenario, ("p", "n"), {"machine": {"memory": 1}}),
    (Scenario, ("p",), {}),
    (Scenario, ("p", "n"), {"lines": {("kernel",): "3"}}),
]


@pytest.mark.parametrize("cls,args,kwargs", BAD, ids=lambda x: getattr(x, "__name__", None) or str(x)[:20])
def test_a_bad_value_gives_the_error_a_pydantic_dataclass_gives(cls, args, kwargs):
    with pytest.raises(ValidationError) as ours:
        cls(*args, **kwargs)
    with pytest.raises(ValidationError) as theirs:
        pydantic_twin(cls)(*args, **kwargs)
    assert ours.value.errors() == theirs.value.errors()
    assert ours.value.title == cls.__name__


def test_an_unknown_keyword_is_ignored_as_a_pydantic_dataclass_ignores_it():
    assert "nonsense" not in vars(Scenario("p", "n", nonsense=1))
    assert "nonsense" not in vars(pydantic_twin(Scenario)("p", "n", nonsense=1))


def test_assignments_are_validated_and_good_values_kept():
    sc = Scenario("p", "n", machine=MachineConfig(memory=1 << 30))
    sc.capture_save = False
    assert sc.capture_save is False and sc.machine.memory == 1 << 30 and sc.kernel == KernelSpec()
    with pytest.raises(ValidationError) as info:
        sc.capture_save = "no"
    assert info.value.errors()[0]["loc"] == ("capture_save",)
    assert sc.capture_save is False


def test_the_first_process_builds_and_writes_the_cache_and_the_next_loads_it(fresh_models):
    assert KernelSpec().profile == "linux-3.4"
    assert fresh_models.loaded_from_cache is False
    fresh_models.reset()
    with pytest.raises(ValidationError):
        KernelSpec(epoch="1")
    assert fresh_models.loaded_from_cache is True


def test_the_cache_is_not_written_under_pythondontwritebytecode(fresh_models, monkeypatch):
    monkeypatch.setattr(validated.sys, "dont_write_bytecode", True)
    KernelSpec()
    fresh_models.reset()
    KernelSpec()
    assert fresh_models.loaded_from_cache is False


def test_a_cache_written_by_another_pydantic_is_rebuilt(fresh_models, monkeypatch):
    KernelSpec()
    monkeypatch.setattr(validated, "_pydantic_version_text", lambda: b"VERSION = '9.9.9'\n")
    fresh_models.reset()
    KernelSpec()
    assert fresh_models.loaded_from_cache is False
    fresh_models.reset()
    KernelSpec()
    assert fresh_models.loaded_from_cache is True  # rewritten for the new version


def shape_models(default: int, kind: type = int):
    """A model of its own: Outer holds a nested dataclass Inner whose field has ``default`` and type ``kind``."""
    from emulator.scenario.validated import ValidatedModels

    @dataclasses.dataclass
    class Inner:
        size: kind = default

    models = ValidatedModels(__name__, MODEL_CONFIG)

    @models.dataclass
    class Outer:
        inner: Inner = dataclasses.field(default_factory=Inner)

    return models


def test_the_key_follows_the_shape_of_nested_classes_their_defaults_and_types():
    assert shape_models(1).key() == shape_models(1).key()
    assert shape_models(2).key() != shape_models(1).key()
    assert shape_models(1, float).key() != shape_models(1).key()


def test_a_default_whose_constant_lives_in_another_module_is_part_of_the_key(fresh_models, monkeypatch):
    """MachineConfig.firmware defaults to firmware.platforms.DEFAULT_FIRMWARE: changing it makes the cache stale."""
    KernelSpec()
    field = next(f for f in dataclasses.fields(MachineConfig) if f.name == "firmware")
    monkeypatch.setattr(field, "default", "another-firmware")
    fresh_models.reset()
    KernelSpec()
    assert fresh_models.loaded_from_cache is False


def test_the_key_reaches_every_class_of_the_model():
    lines: list[str] = []
    validated._shape(Scenario, set(), lines)
    named = {line.split()[1] for line in lines if line.startswith(("dataclass ", "enum "))}
    assert {"emulator.scenario.model.Scenario", "firmware.machine.MachineConfig", "emulator.hw.layout.Range",
            "emulator.scenario.faults.Fault", "emulator.scenario.model.Event", "emulator.scenario.model.CrashSpec",
            "emulator.scenario.model.KernelSpec", "emulator.scenario.model.Expect"} <= named


def current_header(tail: bytes) -> bytes:
    """A header that matches this model, then ``tail`` where the validators belong."""
    return pickle.dumps({"format": validated.CACHE_FORMAT, "key": MODELS.key()}) + tail


@pytest.mark.parametrize("content", [b"", b"not a pickle", pickle.dumps({"format": 0}), pickle.dumps([1, 2])],
                         ids=["empty", "text", "old-format", "foreign"])
def test_an_unreadable_or_foreign_cache_file_is_ignored(fresh_models, content):
    import os

    os.makedirs(os.path.dirname(fresh_models.cache_path))
    with open(fresh_models.cache_path, "wb") as f:
        f.write(content)
    with pytest.raises(ValidationError):
        CrashSpec(cpu="1")
    assert fresh_models.loaded_from_cache is False


@pytest.mark.parametrize("tail", [b"", b"junk", pickle.dumps({"Other": 1})], ids=["cut", "junk", "other-classes"])
def test_a_current_header_with_broken_or_foreign_validators_is_ignored(fresh_models, tail):
    import os

    os.makedirs(os.path.dirname(fresh_models.cache_path))
    with open(fresh_models.cache_path, "wb") as f:
        f.write(current_header(tail))
    assert KernelSpec(epoch=5).epoch == 5
    assert fresh_models.loaded_from_cache is False


def test_a_read_only_cache_folder_costs_a_rebuild_not_an_error(fresh_models, tmp_path, monkeypatch):
    monkeypatch.setattr(fresh_models, "cache_path", str(tmp_path / "missing-file-as-folder" / "x" / "c.pickle"))
    (tmp_path / "missing-file-as-folder").write_text("a file where the folder would go")
    assert Event("crash", 1, 1.0, None).boot == 1
    assert fresh_models.loaded_from_cache is False


def test_the_json_schema_is_pydantics_for_the_model():
    assert model.json_schema() == pydantic_twin_schema()


def pydantic_twin_schema() -> dict:
    from pydantic import TypeAdapter

    return TypeAdapter(pydantic_twin(Scenario)).json_schema()


REFUSALS = ("from emulator.scenario.model import MODELS, KernelSpec, Scenario\n"
            "MODELS.cache_path = sys.argv[1]\n"
            "s = Scenario(path='x', name='y')\n"
            "core = sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic_core')\n"
            "def refusal(make):\n"
            "    try:\n"
            "        make()\n"
            "    except Exception as exc:\n"
            "        return [type(exc).__module__, type(exc).__name__, exc.errors(), str(exc)]\n"
            "found = [refusal(lambda: KernelSpec(profile=3)), refusal(lambda: Scenario(path='x', name=['y'])),\n"
            "         refusal(lambda: setattr(s, 'name', 7))]\n"
            "from emulator.scenario import validated\n"
            "import json, pydantic, pydantic_core\n"
            "same = [pydantic.ValidationError is validated.ValidationError,\n"
            "        pydantic_core.SchemaValidator is validated.SchemaValidator]\n"
            "print(json.dumps([found, core, same], default=str))\n")


def test_without_the_pydantic_core_package_the_model_refuses_values_with_pydantics_own_errors(tmp_path):
    """A process that loads only pydantic-core's extension (validated._pydantic_core_extension) validates with
    it, and gets the errors, messages and locations of a process that imported the pydantic_core package and
    pydantic first (the messages import pydantic for their links: the package then reuses the same extension
    module, so its classes are the ones already in use)."""
    cache = str(tmp_path / "model.pydantic.pickle")
    start = "import sys\nsys.dont_write_bytecode = False\n"
    runs = [json.loads(subprocess.run([sys.executable, "-c", code, cache], capture_output=True, text=True,
                                      check=True).stdout.splitlines()[-1])
            for code in (start + "import pydantic_core, pydantic\n" + REFUSALS, start + REFUSALS)]
    (found_after_package, core_after_package, same_after_package), (found, core, same) = runs  # 1st: the cache
    assert core == ["pydantic_core._pydantic_core"] and same == [True, True]
    assert "pydantic_core.core_schema" in core_after_package and same_after_package == [True, True]
    assert len(found) == 3 and all(f and f[1] == "ValidationError" for f in found)
    assert "Input should be a valid string" in found[0][3]
    assert found == found_after_package
