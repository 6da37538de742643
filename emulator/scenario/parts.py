"""How the timeline's tables of a scenario file are read and checked (mixed into the reader,
emulator.scenario.loader): TimelineTables reads [crash], [[memory.write]], [[events]], [[faults]], [capture],
[expect]. The partition's tables ([machine], [kernel], [cpu.N]) are emulator.scenario.machine_tables.
"""

import re

from emulator.hw.cpu import REGISTER_NAMES
from emulator.errors import ScenarioError
from emulator.scenario.faults import FAULTS, SECTIONS, Fault
from emulator.hw.layout import Range
from emulator.scenario.model import (
    ACTIONS, CAPTURE_AFTER, CRASH_KIND_USES, CRASH_KINDS, HOTPLUG_KINDS, OUTCOMES, PAGE_KINDS, CrashSpec, Event,
)
from emulator.scenario.checks import check_capture_path
from emulator.scenario.keys import EVENT_COMMON, names
from kernels.versions import VERSIONS

MAX_WRITE = 1 << 30
"""A scenario's memory writes fill at most 1 GiB in all (every byte written takes a byte of host memory in the
partition's RAM; the scenario itself keeps only each write's pattern)."""


class TimelineTables:
    """What happens and what must come out."""

    def crash(self, t: dict, *path, allow_time=False) -> CrashSpec:
        allowed = names("crash") | (names("crash_time") if allow_time else set())
        self.keys(t, allowed, *path)
        c = CrashSpec()
        c.cpu = self.int_(t.get("cpu", 0), "crash cpu", *path, "cpu", hi=1 << 16)
        if not 0 <= c.cpu < self.sc.machine.cpus:
            raise self.sc.error(f"crash cpu {c.cpu} does not exist (machine.cpus = {self.sc.machine.cpus})",
                                *path, "cpu")
        online = self.sc.machine.online_cpus
        if online is not None and c.cpu not in online:
            raise self.sc.error(f"crash cpu {c.cpu} is offline; online CPUs are {online}", *path, "cpu")
        c.kind = self.choice(t.get("kind", "panic"), CRASH_KINDS,
                             "crash kind {got} is not supported; use one of " + ", ".join(CRASH_KINDS), *path, "kind")
        c.message = self.typed(t.get("message", c.message), str, "crash message", *path, "message")
        c.regs = self.regs(t.get("regs", {}), *path, "regs")
        stuck = self.typed(t.get("stuck_cpus", []), list, "stuck_cpus", *path, "stuck_cpus")
        if not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < self.sc.machine.cpus for x in stuck):
            raise self.sc.error(f"stuck_cpus must list CPU numbers below {self.sc.machine.cpus}", *path, "stuck_cpus")
        c.stuck_cpus = stuck
        self.crash_kind_uses(t, c.kind, *path)
        return c

    def crash_kind_uses(self, t: dict, kind: str, *path) -> None:
        """A [crash] key that ``kind`` would ignore is refused (model.CRASH_KIND_USES)."""
        uses = CRASH_KIND_USES[kind]
        for key in ("regs", "message", "stuck_cpus"):
            if key not in t or key in uses or (key != "message" and not t[key]):
                continue
            if kind == "hypervisor":
                why = ("with kind = \"hypervisor\" no kernel code runs: the hypervisor stops the partition and "
                       "firmware saves each CPU's live registers, so nothing reads it")
                fix = ("set the CPU's registers with [cpu.N.regs] instead" if key == "regs" else
                       f"remove {key}, or use a kind that uses it")
            else:
                users = [k for k, u in CRASH_KIND_USES.items() if key in u]
                why = f"kind = \"{kind}\" does not use it (kinds that do: {', '.join(users)})"
                fix = f"remove {key}, or set kind = \"{users[0]}\""
            raise self.sc.error(f"crash {key} would be ignored: {why}; {fix}", *path, key)

    def write(self, t: dict, *path) -> Event:
        self.keys(t, names("write"), *path)
        if "addr" not in t:
            raise self.sc.error("a memory write needs addr", *path)
        if ("hex" in t) == ("text" in t):
            raise self.sc.error("a memory write needs exactly one of hex or text", *path)
        addr = self.size(t["addr"], "addr", *path, "addr")
        data = self.data(t, *path)
        top = max(self.sc.machine.memory, self.sc.machine.max_memory or 0)
        repeat = self.int_(t.get("repeat", 1), "repeat", *path, "repeat", lo=1)
        length = len(data) * repeat  # what the write stores; the Event keeps only the pattern
        if length > min(MAX_WRITE, top):
            raise self.sc.error(f"repeat {repeat} makes a write of {length} bytes; one write may "
                                f"fill at most {min(MAX_WRITE, top)} bytes (split it, or write a smaller pattern)",
                                *path, "repeat")
        self.workload = getattr(self, "workload", 0) + length
        if self.workload > MAX_WRITE:
            raise self.sc.error(f"the scenario's memory writes add up to {self.workload} bytes, more than "
                                f"{MAX_WRITE} (every byte written takes host memory); "
                                "write less, or smaller patterns", *path, "repeat" if "repeat" in t else "addr")
        if not data:
            raise self.sc.error("a memory write needs at least one byte", *path)
        if addr + length > top:
            raise self.sc.error(f"write [{addr:#x}, {addr + length:#x}) runs past the end of memory "
                                f"({top:#x}; raise machine.max_memory to leave room for hot-added LMBs)",
                                *path, "addr")
        at = self.seconds(t["at"], *path, "at") if "at" in t else 5.0
        boot = self.int_(t.get("boot", 1), "boot", *path, "boot", lo=1, hi=1000)
        kind = self.choice(t.get("kind", "kernel"), PAGE_KINDS,
                           f"kind must be one of {', '.join(PAGE_KINDS)} (what the pages hold, for mem_map)",
                           *path, "kind")
        return Event("write", boot, at, self.sc.line_of(*path), addr=addr, data=data, repeat=repeat, kind=kind)

    def data(self, t: dict, *path) -> bytes:
        """The bytes of a write or memory sample: hex = "de ad be ef" or text = "..." (UTF-8)."""
        if "hex" in t:
            digits = self.typed(t["hex"], str, "hex", *path, "hex").replace(" ", "")
            if not re.fullmatch(r"([0-9a-fA-F]{2})*", digits):
                raise self.sc.error("hex must be pairs of hex digits, e.g. \"deadbeef\"", *path, "hex")
            return bytes.fromhex(digits)
        text = self.typed(t["text"], str, "text", *path, "text")
        try:
            return text.encode()
        except UnicodeEncodeError:
            raise self.sc.error("text holds characters that are not valid UTF-8 (lone surrogates)", *path,
                                "text") from None

    def event(self, t: dict, i: int) -> Event:
        path = ("events", i)
        self.table(t, "an [[events]] entry", *path)
        action = t.get("action")
        if action == "write":
            fields = {k: v for k, v in t.items() if k != "action"}
            return self.write(fields, *path)
        if action not in ACTIONS:
            raise self.sc.error("each [[events]] entry needs action = " + " or ".join(f'"{a}"' for a in ACTIONS),
                                *path)
        boot = self.int_(t.get("boot", 1), "boot", *path, "boot", lo=1, hi=1000)
        if "at" not in t:
            raise self.sc.error("each event needs at (seconds of uptime of its boot)", *path)
        at = self.seconds(t["at"], *path, "at")
        if action in ("reboot", "capture"):
            self.keys(t, set(EVENT_COMMON) | names(f"event.{action}"), *path)
            ev = Event(action, boot, at, self.sc.line_of(*path))
            if action == "capture":
                ev.path = self.typed(t.get("path", ""), str, "path", *path, "path")
                if "path" in t:
                    check_capture_path(self.sc, ev.path, *path)
            return ev
        if action == "hotplug":
            self.keys(t, set(EVENT_COMMON) | names("event.hotplug"), *path)
            kind = self.choice(t.get("kind"), HOTPLUG_KINDS, f"hotplug kind must be one of {', '.join(HOTPLUG_KINDS)}",
                               *path, "kind")
            ev = Event("hotplug", boot, at, self.sc.line_of(*path), kind=kind)
            if kind.startswith("memory"):
                if "addr" not in t:
                    raise self.sc.error("a memory hotplug event needs addr (the LMB's start)", *path)
                ev.addr = self.size(t["addr"], "addr", *path, "addr")
                lmb = self.sc.machine.lmb_size
                top = max(self.sc.machine.memory, self.sc.machine.max_memory or 0)
                if ev.addr >= top:
                    raise self.sc.error(f"addr {ev.addr:#x} is beyond machine.max_memory ({top:#x})", *path, "addr")
                if ev.addr % lmb:
                    raise self.sc.error(f"addr {ev.addr:#x} is not the start of an LMB ({lmb >> 20}MiB)",
                                        *path, "addr")
            else:
                if "cpu" not in t:
                    raise self.sc.error("a CPU hotplug event needs cpu (the CPU number)", *path)
                ev.cpu = self.int_(t["cpu"], "cpu", *path, "cpu", hi=1 << 16)
                if not 0 <= ev.cpu < self.sc.machine.cpus:
                    raise self.sc.error(f"cpu {ev.cpu} does not exist (machine.cpus = {self.sc.machine.cpus})",
                                        *path, "cpu")
            return ev
        if action == "sysfs":
            self.keys(t, set(EVENT_COMMON) | names("event.sysfs"), *path)
            if "path" not in t or "value" not in t:
                raise self.sc.error("a sysfs event needs path and value", *path)
            return Event("sysfs", boot, at, self.sc.line_of(*path), path=self.typed(t["path"], str, "path", *path),
                         value=self.typed(t["value"], str, "value", *path))
        fields = {k: v for k, v in t.items() if k not in ("action", "boot", "at")}
        return Event("crash", boot, at, self.sc.line_of(*path), crash=self.crash(fields, *path))

    def fault(self, t: dict, *path) -> Fault:
        """One [[faults]] entry: a kind from the catalog and that kind's parameters."""
        self.table(t, "a [[faults]] entry", *path)
        kind = self.choice(t.get("kind"), tuple(FAULTS), "unknown fault kind {got}; the catalog: " + ", ".join(FAULTS),
                           *path, "kind")
        allowed = set(FAULTS[kind][1])
        self.keys(t, allowed | {"kind"}, *path)
        params = {k: v for k, v in t.items() if k != "kind"}
        if kind == "rtas-status":
            self.choice(params.get("call"), ("ibm,configure-kernel-dump", "ibm,os-term"),
                        "rtas-status needs call = \"ibm,configure-kernel-dump\" or \"ibm,os-term\"", *path, "call")
            if "command" in params:
                self.choice(params["command"], ("register", "unregister", "invalidate"),
                            "command must be register, unregister or invalidate", *path, "command")
            statuses = params.get("statuses")
            if not isinstance(statuses, list) or not statuses or len(statuses) > 1000 or not all(
                    isinstance(x, int) and not isinstance(x, bool) and -(1 << 31) <= x < 1 << 31 for x in statuses):
                raise self.sc.error("statuses must be a non-empty list of integers, e.g. [-2, -2, 0]",
                                    *path, "statuses")
        elif kind == "copy-error":
            self.choice(params.get("section"), tuple(SECTIONS), f"section must be one of {', '.join(SECTIONS)}",
                        *path, "section")
            for key in ("error_flags", "short_by"):
                if key in params:
                    params[key] = self.size(params[key], key, *path, key, limit=1 << 60)
            if not params.get("error_flags") and not params.get("short_by"):
                raise self.sc.error("copy-error needs error_flags and/or short_by", *path)
        elif kind == "disk-full":
            params["capacity"] = self.size(params.get("capacity", 0), "capacity", *path, "capacity", limit=1 << 60)
        elif kind == "copy-interrupted":
            fraction = params.get("fraction", 0.5)
            if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 <= fraction < 1:
                raise self.sc.error("fraction must be a number from 0 up to (not including) 1", *path, "fraction")
            params["fraction"] = float(fraction)
            params["mode"] = self.choice(params.get("mode", "power-loss"), ("power-loss", "hardware-error"),
                                         "mode must be \"power-loss\" or \"hardware-error\"", *path, "mode")
        elif kind == "crash-at-boundary":
            self.int_(params.get("boundary"), "boundary (a boundary index: 0, 1, ...)", *path, "boundary",
                      hi=1 << 20)
            self.choice(params.get("trigger", "panic"), (*CRASH_KINDS, "power-loss"),
                        f"trigger must be one of {', '.join((*CRASH_KINDS, 'power-loss'))}", *path, "trigger")
            if "cpu" in params:
                self.int_(params["cpu"], "cpu", *path, "cpu", hi=self.sc.machine.cpus)
        elif kind == "elf-header-overwritten" and VERSIONS[self.sc.kernel.profile].elfcorehdr_by != "first kernel":
            first = [name for name, v in VERSIONS.items() if v.elfcorehdr_by == "first kernel"]
            raise self.sc.error(f"elf-header-overwritten needs profile {' or '.join(first)}: only the original design "
                                "builds the ELF core header in the first kernel", *path, "kind")
        elif kind == "crash-during-registration":
            cpu = params.get("cpu", 0)
            if not isinstance(cpu, int) or isinstance(cpu, bool) or not 0 <= cpu < self.sc.machine.cpus:
                raise self.sc.error(f"cpu must be a CPU number below {self.sc.machine.cpus}", *path, "cpu")
        return Fault(kind, self.sc.line_of(*path), params)

    def capture(self, t: dict) -> None:
        self.keys(t, names("capture"), "capture")
        self.sc.capture_tool = self.choice(t.get("tool", "cp"), ("cp", "makedumpfile"),
                                           "capture.tool must be \"cp\" (copy /proc/vmcore) or \"makedumpfile\" "
                                           "(kdump-utils: makedumpfile -l --message-level 7 -d 31)", "capture", "tool")
        self.sc.capture_after = self.choice(t.get("after", "release"), CAPTURE_AFTER,
                                            f"capture.after must be one of {', '.join(CAPTURE_AFTER)}",
                                            "capture", "after")
        self.sc.capture_save = self.typed(t.get("save", True), bool, "capture.save", "capture", "save")

    def expect(self, t: dict) -> None:
        self.keys(t, names("expect"), "expect")
        for i, item in enumerate(self.typed(t.get("registers", []), list, "expect.registers", "expect", "registers")):
            where = ("expect", "registers", i)
            self.typed(item, dict, "an expected register", *where)
            self.keys(item, names("expect.registers"), *where)
            self.choice(item.get("name"), REGISTER_NAMES, "unknown register {got}", *where, "name")
            cpu = self.int_(item.get("cpu", 0), "cpu", *where, "cpu", hi=self.sc.machine.cpus)
            value = self.size(item.get("value"), "value", *where, "value")
            self.sc.expect.registers.append((cpu, item["name"], value, self.sc.line_of(*where)))
        for i, item in enumerate(self.typed(t.get("memory", []), list, "expect.memory", "expect", "memory")):
            where = ("expect", "memory", i)
            self.typed(item, dict, "an expected memory sample", *where)
            self.keys(item, names("expect.memory"), *where)
            if ("hex" in item) == ("text" in item):
                raise self.sc.error("a memory sample needs exactly one of hex or text", *where)
            addr = self.size(item.get("addr"), "addr", *where, "addr")
            data = self.data(item, *where)
            self.sc.expect.memory.append((addr, data, self.sc.line_of(*where)))
        for i, item in enumerate(self.typed(t.get("sysfs", []), list, "expect.sysfs", "expect", "sysfs")):
            where = ("expect", "sysfs", i)
            self.typed(item, dict, "an expected sysfs value", *where)
            self.keys(item, names("expect.sysfs"), *where)
            if not isinstance(item.get("path"), str) or not isinstance(item.get("value"), str):
                raise self.sc.error("a sysfs expectation needs path and value strings", *where)
            boot = self.int_(item.get("boot", 1), "boot", *where, "boot", lo=1, hi=1000)
            self.sc.expect.sysfs.append((boot, item["path"], item["value"], self.sc.line_of(*where)))
        if "complete" in t:
            e_complete = self.typed(t["complete"], bool, "expect.complete", "expect", "complete")
            self.sc.expect.complete = e_complete
        for key in ("missing", "bogus"):
            ranges = []
            for i, item in enumerate(self.typed(t.get(key, []), list, f"expect.{key}", "expect", key)):
                if not isinstance(item, dict) or set(item) != {"start", "size"}:
                    raise self.sc.error(f"expect.{key} entries are tables {{start = \"0x...\", size = \"256MiB\"}}",
                                        "expect", key, i)
                start = self.size(item["start"], "start", "expect", key, i, "start")
                ranges.append(Range(start, start + self.size(item["size"], "size", "expect", key, i, "size")))
            setattr(self.sc.expect, key, ranges)
            if ranges:
                self.sc.expect.complete = False
        e = self.sc.expect
        if "outcome" in t:
            e.outcome = self.choice(t["outcome"], OUTCOMES, f"expect.outcome must be one of {', '.join(OUTCOMES)}",
                                    "expect", "outcome")
        for key in ("console", "no_console"):
            items = self.typed(t.get(key, []), list, f"expect.{key}", "expect", key)
            if not all(isinstance(s, str) for s in items):
                raise self.sc.error(f"expect.{key} must be a list of strings", "expect", key)
            setattr(e, key, items)

    def check_events(self) -> None:
        for ev in self.sc.events:
            if ev.boot < 1:
                raise ScenarioError("boot numbers start at 1 (the first kernel)", self.sc.path, ev.line)
        self.sc.events.sort(key=lambda e: (e.boot, e.at))
