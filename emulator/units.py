"""Sizes and addresses as people write them: "8GiB", "256M", "0x2000000", 4096."""

import re

_UNITS = {
    "": 1, "b": 1,
    "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
    "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
    "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
    "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
    "p": 1 << 50, "pb": 1 << 50, "pib": 1 << 50,
}
_SIZE = re.compile(r"^\s*(0x[0-9a-f_]+|[0-9][0-9_]*)\s*([a-z]*)\s*$", re.IGNORECASE)

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40


def parse_size(value: object) -> int:
    """An integer or a string like "8GiB", "64K", "0x10000" as a byte count.

    Binary units throughout ("GB" means GiB), as the kernel's memparse() does.
    Raises ValueError with a message fit for a scenario error.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative ({value})")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a size like \"8GiB\" or an integer, got {value!r}")
    m = _SIZE.match(value)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"cannot read {value!r} as a size; write e.g. \"8GiB\", \"256MiB\", \"64KiB\" or a number of bytes")
    return int(m.group(1).replace("_", ""), 0) * _UNITS[m.group(2).lower()]


def parse_addr(value: object) -> int:
    """An address: an integer or a hex string such as "0x2000000" (sizes also accepted)."""
    return parse_size(value)


def memparse(text: str) -> tuple[int, str]:
    """The kernel's memparse(): a number with an optional K/M/G/T/P/E suffix, and the rest."""
    m = re.match(r"(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([KkMmGgTtPpEe]?)", text)
    if not m:
        return 0, text
    number = int(m.group(1), 16) if m.group(1).lower().startswith("0x") else int(m.group(1), 8 if m.group(1).startswith("0") and len(m.group(1)) > 1 else 10)
    shift = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}[m.group(2).lower()]
    return number << shift, text[m.end():]


def fmt_size(n: int) -> str:
    """A byte count the way people read it: 8 GiB, 320 MiB, 1.5 KiB, 12 B."""
    for unit, size in (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} B"


def align_up(value: int, alignment: int) -> int:
    """Round up to a power-of-two multiple (the kernel's ALIGN / PAGE_ALIGN)."""
    return (value + alignment - 1) & ~(alignment - 1)


def align_down(value: int, alignment: int) -> int:
    """Round down to a power-of-two multiple (& PAGE_MASK)."""
    return value & ~(alignment - 1)
