"""Tests for emulator.units: sizes and addresses as people and the kernel write them."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.units import GiB, KiB, MiB, TiB, align_down, align_up, fmt_size, memparse, parse_addr, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4096", 4096),
        ("0", 0),
        ("12b", 12),
        ("64K", 64 * KiB),
        ("64kb", 64 * KiB),
        ("64KiB", 64 * KiB),
        ("256M", 256 * MiB),
        ("256MiB", 256 * MiB),
        ("8G", 8 * GiB),
        ("8GB", 8 * GiB),
        ("8GiB", 8 * GiB),
        ("8gib", 8 * GiB),
        ("2TiB", 2 * TiB),
        ("1PiB", 1 << 50),
        ("0x2000000", 0x2000000),
        ("0X2000000", 0x2000000),
        ("0x10M", 16 * MiB),
        ("1_048_576", 1 << 20),
        ("0x1_0000", 0x10000),
        ("  8 GiB  ", 8 * GiB),
    ],
)
def test_parse_size_reads_numbers_with_binary_units(text, expected):
    """parse_size turns decimal or hex text with an optional binary unit into a byte count."""
    assert parse_size(text) == expected


def test_parse_size_treats_gb_as_gibibytes_like_memparse():
    """A "GB" suffix means 2**30 bytes, as the kernel's memparse() reads "G"."""
    assert parse_size("1GB") == parse_size("1GiB") == 1 << 30


def test_parse_size_passes_non_negative_integers_through():
    """An int is already a byte count and comes back unchanged."""
    assert parse_size(0) == 0
    assert parse_size(8 * GiB) == 8 * GiB


@pytest.mark.parametrize("value", [-1, True, False, 1.5, None, [1], b"8G"])
def test_parse_size_rejects_negative_and_non_size_values(value):
    """Negative numbers, booleans, floats and other types raise ValueError."""
    with pytest.raises(ValueError):
        parse_size(value)


@pytest.mark.parametrize("text", ["", "GiB", "8 furlongs", "1.5G", "-8G", "8 G i B", "0x"])
def test_parse_size_rejects_unreadable_text_with_an_example_in_the_message(text):
    """Text that is not a number with a known unit raises ValueError showing how to write a size."""
    with pytest.raises(ValueError, match=r"cannot read .* as a size; write e\.g\. \"8GiB\""):
        parse_size(text)


def test_parse_addr_accepts_hex_strings_and_integers():
    """parse_addr reads hex addresses, plain integers and sizes the same way parse_size does."""
    assert parse_addr("0x2000000") == 0x2000000
    assert parse_addr(0x7000_0000) == 0x7000_0000
    assert parse_addr("512MiB") == 512 * MiB


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512M", (512 * MiB, "")),
        ("512m", (512 * MiB, "")),
        ("4G@32M", (4 * GiB, "@32M")),
        ("64k,rest", (64 * KiB, ",rest")),
        ("1T", (TiB, "")),
        ("1P", (1 << 50, "")),
        ("1E", (1 << 60, "")),
        ("4096", (4096, "")),
        ("0x1000", (0x1000, "")),
        ("0x10M", (16 * MiB, "")),
        ("0X10M", (16 * MiB, "")),
        ("010", (8, "")),
        ("0", (0, "")),
        ("08", (0, "8")),
        ("0xg", (0, "xg")),
        ("abc", (0, "abc")),
        ("", (0, "")),
    ],
)
def test_memparse_returns_the_value_and_the_unparsed_rest_like_the_kernel(text, expected):
    """memparse follows simple_strtoull base 0 (0x hex, leading-0 octal) plus a K..E suffix."""
    assert memparse(text) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0 B"),
        (12, "12 B"),
        (1023, "1023 B"),
        (KiB, "1 KiB"),
        (1536, "1.5 KiB"),
        (320 * MiB, "320 MiB"),
        (8 * GiB, "8 GiB"),
        (3 * GiB // 2, "1.5 GiB"),
        (2 * TiB, "2 TiB"),
        (4096 * TiB, "4096 TiB"),
    ],
)
def test_fmt_size_uses_the_largest_binary_unit_that_fits(n, expected):
    """fmt_size prints whole numbers without decimals and fractions to one decimal."""
    assert fmt_size(n) == expected


def test_align_up_and_down_round_to_power_of_two_multiples():
    """align_up rounds to the next multiple, align_down to the previous, exact values stay put."""
    assert align_up(0, 0x10000) == 0
    assert align_up(1, 0x10000) == 0x10000
    assert align_up(0x10000, 0x10000) == 0x10000
    assert align_up(0x10001, 0x10000) == 0x20000
    assert align_down(0x1FFFF, 0x10000) == 0x10000
    assert align_down(0x20000, 0x10000) == 0x20000
    assert align_down(0xFFF, 0x1000) == 0


@given(value=st.integers(min_value=0, max_value=1 << 64), shift=st.integers(min_value=0, max_value=40))
def test_alignment_results_bracket_the_value_within_one_alignment(value, shift):
    """For any value, align_down <= value <= align_up, both are multiples, and each is less than one step away."""
    alignment = 1 << shift
    up, down = align_up(value, alignment), align_down(value, alignment)
    assert up % alignment == 0 and down % alignment == 0
    assert down <= value <= up
    assert up - value < alignment and value - down < alignment


@given(n=st.integers(min_value=0, max_value=1 << 50), unit=st.sampled_from(["", "K", "KiB", "M", "MB", "G", "GiB", "T"]))
def test_parse_size_agrees_with_memparse_on_plain_suffixes(n, unit):
    """A decimal number with a one-letter suffix means the same to parse_size and to memparse."""
    text = f"{n}{unit[:1]}"
    assert parse_size(text) == memparse(text)[0]
