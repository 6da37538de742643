"""How an expectation failure shows an expected value next to what was found: whole when short, else the first
difference with context from both sides (never two cut-off prefixes that look the same)."""

WHOLE = 64
"""Values up to this many bytes (or characters) are shown whole."""
CONTEXT = 16
"""Bytes shown before the first difference; three times as many from it on."""


def shown(value: bytes | str, limit: int = WHOLE) -> str:
    """A value as a label shows it: whole when short, else its start and its length."""
    if len(value) <= limit:
        return repr(value)
    unit = "bytes" if isinstance(value, bytes) else "characters"
    return f"{value[:limit // 2]!r}... ({len(value)} {unit})"


def first_difference(want: bytes | str, got: bytes | str) -> int | None:
    """The offset of the first element that differs (or where the shorter one ends), None when equal."""
    for i, (a, b) in enumerate(zip(want, got)):
        if a != b:
            return i
    return None if len(want) == len(got) else min(len(want), len(got))


def describe(want: bytes | str, got: bytes | str) -> str:
    """What was found, next to what was expected: both whole when short, else around the first difference."""
    at = first_difference(want, got)
    if at is None:
        return f"found the same {shown(got)}"
    if max(len(want), len(got)) <= WHOLE:
        return f"expected {want!r}, found {got!r}: first difference at offset {at:#x}"
    start, end = max(0, at - CONTEXT), at + 3 * CONTEXT
    lead = "..." if start else ""
    sizes = f"{len(want)}" if len(want) == len(got) else f"{len(want)} expected, {len(got)} found"
    return (f"first difference at offset {at:#x} of {sizes}: expected {lead}{want[start:end]!r}"
            f"{'...' if end < len(want) else ''}, found {lead}{got[start:end]!r}{'...' if end < len(got) else ''} "
            f"(both from offset {start:#x})")


def chomp(text: str) -> str:
    """``text`` without one trailing newline (how a sysfs expectation is compared)."""
    return text[:-1] if text.endswith("\n") else text
