"""The kernel command line as the early_param handlers read it."""

from emulator.units import memparse


def params(cmdline: str) -> dict[str, str]:
    """name -> value of each ``name=value`` word (a bare word maps to ""); last one wins."""
    out = {}
    for word in cmdline.split():
        name, _, value = word.partition("=")
        out[name] = value
    return out


def parse_crashkernel_size(value: str, system_ram: int) -> int | None:
    """crashkernel=size[@offset] or a range list "start-[end]:size,...": the size only.

    parse_crashkernel() (kernel/kexec.c): ranges are evaluated against system RAM;
    None when the syntax is bad or no range matches.
    """
    if not value:
        return None
    if ":" in value:
        for item in value.split("@")[0].split(","):
            span, _, size_text = item.partition(":")
            start_text, _, end_text = span.partition("-")
            start, rest = memparse(start_text)
            if rest:
                return None
            end = memparse(end_text)[0] if end_text else None
            size, rest = memparse(size_text)
            if rest:
                return None
            if system_ram >= start and (end is None or system_ram < end):
                return size
        return None
    size, rest = memparse(value)
    if rest and not rest.startswith("@"):
        return None
    return size or None
