"""The JSON files a run writes hold what json.dumps(value, indent=2) would: the same values in the same layout,
written by orjson, and by the standard library where orjson cannot write that text."""

import dataclasses
import datetime
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator import json_text

finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers(min_value=-(1 << 70), max_value=1 << 70) | st.text()


def json_values(leaves):
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                        max_leaves=30)


def standard(value) -> str:
    return json.dumps(value, indent=2) + "\n"


@settings(max_examples=300, deadline=None)
@given(json_values(scalars | finite))
def test_any_json_value_reads_back_as_itself_and_re_encodes_to_json_dumps_text(value):
    text = json_text.indented(value)
    assert json.loads(text) == value
    assert standard(json.loads(text)) == standard(value)
    assert text.isascii() and text.endswith("}\n" if isinstance(value, dict) and value else "\n")


@settings(max_examples=300, deadline=None)
@given(json_values(scalars))
def test_without_floats_the_text_is_json_dumps_text_byte_for_byte(value):
    assert json_text.indented(value) == standard(value)


def test_floats_are_spelled_as_repr_spells_them_except_below_1e_4():
    """orjson and repr agree on every float at or above 1e-4 (in magnitude) and on zero."""
    for value in (0.0, -0.0, 0.1, 0.0001, 20.000012, 1e15, 1e16, 1.5e300, 123456789012345680.0, -2.5):
        assert json_text.indented({"t": value}) == standard({"t": value})
    assert json.loads(json_text.indented({"t": 1e-05})) == {"t": 1e-05}


@pytest.mark.parametrize("value", [
    {"name": "caf\u00e9"}, {"name": "\u2028"},  # escaped by json.dumps, UTF-8 in orjson
    {"name": "rub\x7fout"}, {"\x7f": 1},  # DEL: ASCII, escaped by json.dumps, raw in orjson (found by hypothesis)
    {"addr": 1 << 64}, {"addr": -(1 << 63) - 1},  # beyond orjson's 64 bits
    {1: "int key"}, {"nested": [{"deep": (1 << 65, "x")}]},
])
def test_where_orjson_cannot_write_the_same_text_the_standard_library_writes_it(value):
    assert json_text.indented(value) == standard(value)


def test_a_report_like_value_is_written_by_orjson(monkeypatch):
    """The fast path is taken for what a run writes: plain ASCII, integers, strings, floats, nesting."""
    report = {"ok": True, "time": 20.000012, "host_seconds": {"snapshot": 3e-06},
              "registers": {"0": {"gpr1": {"scenario": "0xc000000001effe00"}}},
              "captures": [{"size": 8254329732, "rejected": False, "verification": None}], "empty": [], "none": {}}
    expected = json.loads(standard(report))

    def refuse(*a, **k):
        raise AssertionError("json.dumps was used")

    monkeypatch.setattr(json_text.json, "dumps", refuse)
    assert json.loads(json_text.indented(report)) == expected


def test_without_orjson_the_standard_library_writes_every_file(monkeypatch):
    monkeypatch.setattr(json_text, "orjson", None)
    assert json_text.indented({"t": 1e-05, "s": "x"}) == standard({"t": 1e-05, "s": "x"})


def test_what_json_dumps_refuses_is_refused_the_same_way():
    """orjson would write a dataclass or a datetime; json.dumps raises TypeError, and so does indented()."""

    @dataclasses.dataclass
    class Point:
        x: int

    for value in (Point(1), datetime.datetime(2026, 11, 30), 1.5j):
        with pytest.raises(TypeError):
            json_text.indented({"v": value})
