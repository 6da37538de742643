"""Generated scenario documents for the fuzzer and the reliability set: a TOML writer, strategies, mutations.

Documents are dicts shaped like scenario files; ``to_toml`` writes one the way
people do (``[tables]``, ``[[arrays.of.tables]]``, inline tables below), so
that the reader's line numbers are exercised too.
"""

import math
import re

from hypothesis import strategies as st

BARE = re.compile(r"[A-Za-z0-9_-]+")

TABLE_KEYS = {
    "machine": ["memory", "max_memory", "lmb_size", "holes", "cpus", "online_cpus", "page_size", "endian",
                "rma_size", "register_save_area", "extended_os_term", "mmu"],
    "kernel": ["profile", "cmdline", "capture_cmdline", "capture_profile", "osrelease", "capture_osrelease",
               "epoch", "note_pids"],
    "crash": ["cpu", "kind", "message", "regs", "stuck_cpus", "at", "boot"],
    "capture": ["after", "save", "tool"],
    "expect": ["outcome", "console", "no_console", "complete", "missing", "bogus", "registers", "memory", "sysfs"],
    "memory": ["write"],
    "cpu": ["0", "1", "7", "99"],
}
ENTRY_KEYS = {
    "events": ["action", "boot", "at", "addr", "hex", "text", "repeat", "kind", "path", "value", "cpu", "message"],
    "faults": ["kind", "call", "command", "statuses", "section", "error_flags", "short_by", "capacity", "fraction",
               "mode", "boundary", "trigger", "cpu"],
    "write": ["addr", "hex", "text", "repeat", "boot", "at", "kind"],
}
PLAUSIBLE = ["8GiB", "1GiB", "256MiB", "16MiB", "64KiB", "4KiB", "0x10000000", "0x4100000", "0x180000000", "30s",
             "10s", "250ms", "panic", "oops", "system-reset", "hypervisor", "crash", "write", "sysfs", "hotplug",
             "capture", "reboot", "little", "big", "hash", "radix", "lopar", "qemu", "linux-3.4", "linux-6.10",
             "fadump=on", "fadump=off", "vmcore", "vmcore-early", "release", "stay", "memory-add", "cpu-offline",
             "disk-full", "copy-interrupted", "rtas-status", "boot-memory", "zero", "cpu", "deadbeef", "kernel",
             "/sys/kernel/fadump/registered", "1", 0, 1, 2, 3, 4, 10, 0.5, True, False]
EXTREME_NUMBERS = [-1, -(1 << 63), (1 << 63) - 1, 1 << 63, 1 << 64, 10 ** 30, -(10 ** 30), math.inf, -math.inf,
                   math.nan, -0.0, 1e308, 5e-324]
WILD_STRINGS = ["", " ", "1.2.3s", "zz", "-5s", "1e999s", "0x", "../..", "/etc/passwd", ".", "..", "nul",
                "1048576PiB", "\u202e\u0000", "\U0001F4A5" * 3, "a" * 300, "0x" + "f" * 40, "8 GiB", "8GiB!"]

scalars = st.one_of(
    st.sampled_from(PLAUSIBLE),
    st.sampled_from(EXTREME_NUMBERS),
    st.sampled_from(WILD_STRINGS),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3), max_leaves=8)


def table_of(keys: list[str]):
    """A table whose keys are mostly the known ones, with plausible or wild values."""
    return st.dictionaries(st.sampled_from(keys) | st.text(min_size=1, max_size=8), values, max_size=7)


def entries_of(keys: list[str]):
    return st.lists(table_of(keys) | values, max_size=4)


structural = st.fixed_dictionaries({}, optional={
    "name": st.sampled_from(["fuzz", "../..", "", "a/b", "ok-name"]) | values,
    "description": st.text(max_size=40) | values,
    "machine": table_of(TABLE_KEYS["machine"]) | values,
    "kernel": table_of(TABLE_KEYS["kernel"]) | values,
    "crash": table_of(TABLE_KEYS["crash"]) | values,
    "capture": table_of(TABLE_KEYS["capture"]) | values,
    "expect": table_of(TABLE_KEYS["expect"]) | values,
    "memory": st.fixed_dictionaries({}, optional={"write": entries_of(ENTRY_KEYS["write"])}) | values,
    "cpu": st.dictionaries(st.sampled_from(TABLE_KEYS["cpu"]) | st.text(max_size=4),
                           st.fixed_dictionaries({}, optional={"regs": st.dictionaries(
                               st.sampled_from(["nip", "gpr3", "msr", "bogus"]), values, max_size=3)}) | values,
                           max_size=2) | values,
    "events": entries_of(ENTRY_KEYS["events"]) | values,
    "faults": entries_of(ENTRY_KEYS["faults"]) | values,
    "unknown": values,
})


# --- writing TOML ---

def key(k: str) -> str:
    return k if BARE.fullmatch(k) else string(k)


def string(value: str) -> str:
    """A TOML basic string holding ``value`` exactly (quotes, backslashes and control characters escaped)."""
    out = []
    for ch in value:
        if ch in '"\\' or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\U{ord(ch):08X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def inline(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        return string(value)
    if isinstance(value, list):
        return "[" + ", ".join(inline(v) for v in value) + "]"
    return "{" + ", ".join(f"{key(k)} = {inline(v)}" for k, v in value.items()) + "}"


def _is_entries(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _section(prefix: list[str], table: dict, out: list[str]) -> None:
    later = []
    for k, v in table.items():
        if isinstance(v, dict) or _is_entries(v):
            later.append((k, v))
        else:
            out.append(f"{key(k)} = {inline(v)}")
    for k, v in later:
        name = ".".join(key(p) for p in prefix + [k])
        if isinstance(v, dict):
            out.append(f"[{name}]")
            _section(prefix + [k], v, out)
        else:
            for entry in v:
                out.append(f"[[{name}]]")
                _section(prefix + [k], entry, out)


def to_toml(doc: dict) -> str:
    """``doc`` as TOML text: scalars first, then [tables] and [[arrays of tables]], nested ones inline."""
    out: list[str] = []
    _section([], doc, out)
    return "\n".join(out) + "\n"


# --- the reliability set: a valid scenario, mutated at every place ---

BASE = {
    "name": "base",
    "description": "the scenario every mutation starts from",
    "machine": {"memory": "1GiB", "cpus": 4, "online_cpus": [0, 1, 2, 3], "endian": "little"},
    "kernel": {"profile": "linux-3.4", "cmdline": "fadump=on", "epoch": 1767225600},
    "memory": {"write": [{"addr": "0x4100000", "text": "workload", "repeat": 4, "kind": "slab"}]},
    "crash": {"cpu": 1, "kind": "panic", "at": "10s", "regs": {"nip": "0xc0000000000a5f10"}},
    "events": [{"action": "sysfs", "at": 1, "path": "/sys/kernel/fadump/registered", "value": "1"},
               {"action": "capture", "boot": 2, "at": 1, "path": "vmcore-copy"}],
    "capture": {"after": "release", "save": True, "tool": "cp"},
    "faults": [{"kind": "disk-full", "capacity": "1GiB"}],
    "expect": {"outcome": "vmcore", "console": ["Kernel panic"],
               "memory": [{"addr": "0x4100000", "text": "workload"}],
               "registers": [{"cpu": 1, "name": "nip", "value": "0xc0000000000a5f10"}]},
}
WRONG_TYPE = [{"t": 1}, [True], True, "1.2.3s", "zz", math.inf, math.nan, -5, 1 << 70, "\U0001F4A5../.."]


def places(doc, path=()):
    """Every key path in ``doc`` (tables, keys, array items)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield path + (k,)
            yield from places(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield path + (i,)
            yield from places(v, path + (i,))


def replaced(doc, path, value):
    """A copy of ``doc`` with the value at ``path`` replaced."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {k: (replaced(v, rest, value) if k == head else v) for k, v in doc.items()}
    return [replaced(v, rest, value) if i == head else v for i, v in enumerate(doc)]


def mutations(doc=BASE) -> list[tuple[str, dict]]:
    """(label, document) for every place of ``doc`` times every wrong value, plus extreme numbers for numbers."""
    out = []
    for path in places(doc):
        label = ".".join(map(str, path))
        for value in WRONG_TYPE:
            out.append((f"{label}={inline(value)[:20]}", replaced(doc, path, value)))
    return out


# --- plausible scenarios with a few wild places: deep into the reader and the run ---

ADDRS = ["0x4100000", "0x10000000", "0x18000000", "0x30000000", "0x3C000000", "0x100000", "0x7FFFFFF0",
         "0x100000000", "0x1EC000000"]
plausible_write = st.fixed_dictionaries(
    {"addr": st.sampled_from(ADDRS)},
    optional={"text": st.text(max_size=12), "repeat": st.integers(1, 64), "kind": st.sampled_from(
        ["kernel", "slab", "cache", "user", "free"]), "at": st.sampled_from([1, "2s", 5.5]), "boot": st.integers(1, 3)})
plausible_event = st.one_of(
    st.fixed_dictionaries({"action": st.just("sysfs"), "at": st.integers(0, 40),
                           "path": st.sampled_from(["/sys/kernel/fadump/registered", "/sys/kernel/fadump_release_mem",
                                                    "/sys/kernel/fadump/release_mem", "/nonexistent"]),
                           "value": st.sampled_from(["0", "1", "junk"])}, optional={"boot": st.integers(1, 3)}),
    st.fixed_dictionaries({"action": st.just("crash"), "at": st.integers(0, 40)},
                          optional={"boot": st.integers(1, 3), "cpu": st.integers(0, 3),
                                    "kind": st.sampled_from(["panic", "oops", "sysrq", "system-reset",
                                                             "hypervisor"])}),
    st.fixed_dictionaries({"action": st.just("hotplug"), "at": st.integers(0, 40),
                           "kind": st.sampled_from(["memory-add", "memory-remove", "cpu-online", "cpu-offline"])},
                          optional={"addr": st.sampled_from(["0x10000000", "0x20000000", "0x30000000"]),
                                    "cpu": st.integers(0, 3), "boot": st.integers(1, 2)}),
    st.fixed_dictionaries({"action": st.sampled_from(["reboot", "capture"]), "at": st.integers(0, 40)},
                          optional={"boot": st.integers(1, 3), "path": st.sampled_from(["vmcore-a", "copy"])}),
    plausible_write.map(lambda w: {"action": "write", "at": 3, **w}),
)
plausible_fault = st.one_of(
    st.fixed_dictionaries({"kind": st.sampled_from(["dump-status-error", "crash-info-corrupt", "regsave-bad-magic",
                                                    "regsave-missing-cpustrt", "destination-overlaps-source",
                                                    "capture-without-fadump", "no-extended-os-term",
                                                    "crash-info-byteswapped"])}),
    st.fixed_dictionaries({"kind": st.just("disk-full"), "capacity": st.sampled_from(["1MiB", "64MiB", 0])}),
    st.fixed_dictionaries({"kind": st.just("copy-interrupted"), "fraction": st.sampled_from([0, 0.5, 0.9])},
                          optional={"mode": st.sampled_from(["power-loss", "hardware-error"])}),
    st.fixed_dictionaries({"kind": st.just("crash-at-boundary"), "boundary": st.integers(0, 30)},
                          optional={"trigger": st.sampled_from(["panic", "system-reset", "hypervisor",
                                                                "power-loss"])}),
    st.fixed_dictionaries({"kind": st.just("copy-error"), "section": st.sampled_from(
        ["cpu-state", "hpte", "boot-memory"]), "short_by": st.sampled_from([4096, "1MiB"])}),
    st.fixed_dictionaries({"kind": st.just("rtas-status"), "call": st.just("ibm,configure-kernel-dump"),
                           "statuses": st.lists(st.sampled_from([-2, -1, -3, 0, 9900]), min_size=1, max_size=3)}),
    st.fixed_dictionaries({"kind": st.just("crash-during-registration")}, optional={"cpu": st.integers(0, 3)}),
)
plausible = st.fixed_dictionaries({
    "name": st.just("fuzz"),
    "machine": st.fixed_dictionaries(
        {"memory": st.sampled_from(["1GiB", "2GiB", "4GiB", "512MiB"]), "cpus": st.integers(1, 4)},
        optional={"endian": st.sampled_from(["little", "big"]), "mmu": st.sampled_from(["hash", "radix"]),
                  "max_memory": st.sampled_from(["4GiB", "8GiB"]), "online_cpus": st.lists(st.integers(0, 3),
                                                                                         min_size=1, max_size=3),
                  "register_save_area": st.sampled_from(["lopar", "qemu"]), "extended_os_term": st.booleans(),
                  "holes": st.just([{"start": "0x10000000", "size": "256MiB"}])}),
    "kernel": st.fixed_dictionaries(
        {"profile": st.sampled_from(["linux-3.4", "linux-6.10"])},
        optional={"cmdline": st.sampled_from(["fadump=on", "fadump=off", "fadump=nocma", "fadump=junk",
                                              "fadump=on crashkernel=256M", "fadump=on fadump_reserve_mem=128M",
                                              "fadump=on fadump_reserve_mem=99999G"]),
                  "capture_profile": st.sampled_from(["linux-3.4", "linux-6.10"]),
                  "note_pids": st.sampled_from(["zero", "cpu"])}),
}, optional={
    "memory": st.fixed_dictionaries({"write": st.lists(plausible_write, max_size=3)}),
    "crash": st.fixed_dictionaries({}, optional={"cpu": st.integers(0, 3), "at": st.sampled_from(["10s", 20, 0]),
                                                 "kind": st.sampled_from(["panic", "oops", "sysrq", "system-reset",
                                                                          "hypervisor"])}),
    "events": st.lists(plausible_event, max_size=4),
    "faults": st.lists(plausible_fault, max_size=2),
    "capture": st.fixed_dictionaries({}, optional={"after": st.sampled_from(["release", "release-and-register",
                                                                             "reboot", "stay"]),
                                                   "save": st.booleans()}),
    "expect": st.fixed_dictionaries({}, optional={"outcome": st.sampled_from(["vmcore", "no-dump"]),
                                                  "console": st.just(["Kernel panic"])}),
})


@st.composite
def mutated(draw, base=plausible):
    """A plausible scenario with zero to three places replaced by wild values (wrong type, extreme, unicode)."""
    doc = draw(base)
    for _ in range(draw(st.integers(0, 3))):
        spots = list(places(doc))
        if not spots:
            break
        doc = replaced(doc, draw(st.sampled_from(spots)), draw(values))
    return doc


documents = mutated() | structural
"""What the fuzzer reads: mostly plausible scenarios with a few wild places, some wholly structural noise."""
