"""Tests for emulator.scenario.toml_lines: every key of a generated document is found on the line that writes it."""

from hypothesis import HealthCheck, example, given, settings

from emulator.scenario import toml_lines
from tests.emulator.scenario.scenario_gen import documents, key, places, to_toml


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents)
# a key ending in a newline once passed for a bare key ('$' matches before a final \n): it must be quoted
@example(doc={"name": {"0\n": "8GiB"}, "machine": {"memory": "1GiB", "cpus": 1},
              "kernel": {"profile": "linux-3.4"}})
def test_every_key_of_a_generated_document_is_located_on_a_line_that_writes_it(doc):
    """For each key path of the document: a line is known, and the key's TOML spelling is on that line."""
    text = to_toml(doc)
    lines = toml_lines.key_lines(text)
    rows = text.split("\n")  # TOML lines end at \n only (splitlines would also break at U+0085, U+2028)
    for path in places(doc):
        if not isinstance(path[-1], str):
            continue  # array items: checked by the inline-array test in test_bad_input
        if any(not isinstance(p, str) for p in path) and not _is_table_array(doc, path):
            continue  # keys inside inline arrays of tables: located at the array's own item
        assert path in lines, (path, text)
        assert key(path[-1]) in rows[lines[path] - 1], (path, lines[path], text)


def _is_table_array(doc, path) -> bool:
    """Whether every integer step of ``path`` indexes an [[array of tables]] (written as headers)."""
    node = doc
    for step in path:
        if isinstance(step, int):
            if not (isinstance(node, list) and node and all(isinstance(v, dict) for v in node)):
                return False
        node = node[step]
    return True


def test_strings_with_quotes_escapes_and_brackets_do_not_confuse_it():
    text = ('a = "x\\"[[no]] = 1"\n'
            "b = 'it''s'\n"
            'c = """\n\\"""\n[[e]]\nk = 1\n"""\n'
            "d = '''\n[[e]]\n'''\n"
            '[ t . "u v" ]\n'
            'w = 1 # [[e]]\n'
            '[[e]]\n'
            'k = 2\n')
    lines = toml_lines.key_lines(text)
    assert lines[("a",)] == 1
    assert lines[("c",)] == 3
    assert lines[("d",)] == 8
    assert lines[("t", "u v", "w")] == 12
    assert lines[("e", 0, "k")] == 14
    assert ("e", 1) not in lines
