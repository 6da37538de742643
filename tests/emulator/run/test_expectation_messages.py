"""A failed expectation shows the whole difference: both values whole when short, else the first differing offset
with context from both sides, never two cut-off prefixes that look the same. sysfs values are compared without
their trailing newline, as docs/scenarios.md says."""

from emulator.run import value_diff
from tests.conftest import small_scenario_text

WRITTEN = "inside boot memory" * 64
"""What the small scenario writes at 0x4100000 (tests/conftest.py)."""


def failures(report: dict) -> dict[str, str]:
    return {e["what"]: e["detail"] for e in report["expectations"] if not e["ok"]}


def test_a_long_memory_sample_that_differs_late_names_the_offset_and_shows_both_sides(run_text):
    want = WRITTEN[:70] + "X" + WRITTEN[71:100]
    _, rep = run_text(small_scenario_text(extra=f'[[expect.memory]]\naddr = "0x4100000"\ntext = "{want}"\n'))
    [(what, detail)] = failures(rep).items()
    assert "(100 bytes)" in what
    assert detail.startswith("first difference at offset 0x46 of 100: expected ")
    expected, found = detail.split("expected ", 1)[1].split(", found ")
    assert "X" in expected and "X" not in found and expected != found
    assert repr(WRITTEN[70:90].encode())[2:-1] in found


def test_a_short_memory_sample_shows_both_values_whole(run_text):
    _, rep = run_text(small_scenario_text(extra='[[expect.memory]]\naddr = "0x4100000"\ntext = "inside boot Memory"\n'))
    [detail] = failures(rep).values()
    assert detail == ("expected b'inside boot Memory', found b'inside boot memory': first difference at offset 0xc")


def test_a_sysfs_value_matches_with_or_without_the_trailing_newline(run_text):
    extra = "".join(f'[[expect.sysfs]]\npath = "/sys/kernel/fadump_enabled"\nvalue = "{v}"\n' for v in ("1", "1\\n"))
    _, rep = run_text(small_scenario_text(extra=extra))
    sysfs = [e for e in rep["expectations"] if "fadump_enabled" in e["what"]]
    assert len(sysfs) == 2 and all(e["ok"] for e in sysfs), sysfs


def test_a_wrong_sysfs_value_says_what_it_reads_and_how_it_was_compared(run_text):
    _, rep = run_text(small_scenario_text(
        extra='[[expect.sysfs]]\npath = "/sys/kernel/fadump_enabled"\nvalue = "0\\n"\n'))
    [detail] = failures(rep).values()
    assert detail == "expected '0', found '1': first difference at offset 0x0; compared without a trailing newline"


def test_values_differing_only_in_length_name_where_the_shorter_one_ends():
    want, got = b"a" * 100, b"a" * 80
    text = value_diff.describe(want, got)
    assert text.startswith("first difference at offset 0x50 of 100 expected, 80 found: ")
    assert value_diff.first_difference(b"abc", b"abc") is None
    assert value_diff.describe("ab", "ab") == "found the same 'ab'"


def test_a_label_shows_a_long_value_by_its_start_and_length():
    assert value_diff.shown(b"x" * 10) == "b'xxxxxxxxxx'"
    assert value_diff.shown("y" * 100) == repr("y" * 32) + "... (100 characters)"
    assert value_diff.chomp("1\n") == "1" and value_diff.chomp("1\n\n") == "1\n" and value_diff.chomp("1") == "1"
