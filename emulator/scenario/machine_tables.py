"""How the partition's tables of a scenario file are read and checked (mixed into the reader,
emulator.scenario.loader): [machine], [kernel], [cpu.N]. The timeline's tables are emulator.scenario.parts.
"""

import re

from emulator.hw.cpu import REGISTER_NAMES
from emulator.hw.layout import Range
from emulator.scenario.keys import names
from emulator.scenario.model import HASH_ONLY_PROFILES, MAX_NR_CPUS, PROFILES
from firmware.platforms import FIRMWARES


class MachineTables:
    """[machine], [kernel] and per-CPU registers."""

    def machine(self, t: dict) -> None:
        sc, mc = self.sc, self.sc.machine
        self.keys(t, names("machine"), "machine")
        if "register_save_area" in t:
            raise sc.error("machine.register_save_area was replaced by machine.firmware, which brings the whole "
                           "firmware (register save area, registration checks, sizes): write firmware = \"qemu\" "
                           "for QEMU's pseries fadump (NumCpus at 0x10) or firmware = \"phyp\" for PowerVM "
                           "(LoPAR layout, the default)", "machine", "register_save_area")
        if "firmware" in t:
            mc.firmware = self.choice(t["firmware"], tuple(FIRMWARES),
                                      f"machine.firmware must be one of {', '.join(map(repr, FIRMWARES))} "
                                      "(\"phyp\" = PowerVM, \"qemu\" = QEMU >= 10.2 pseries)", "machine", "firmware")
        for key in ("memory", "max_memory", "lmb_size", "rma_size", "page_size"):
            if key in t:
                setattr(mc, key, self.size(t[key], f"machine.{key}", "machine", key, limit=1 << 60))
        if mc.lmb_size <= 0 or mc.lmb_size & (mc.lmb_size - 1) or mc.lmb_size < (16 << 20):
            raise sc.error("machine.lmb_size must be a power of two of at least 16MiB (PowerVM uses 256MiB)",
                           "machine", "lmb_size")
        if mc.memory <= 0 or mc.memory % mc.lmb_size:
            raise sc.error(f"machine.memory must be a positive multiple of lmb_size ({mc.lmb_size >> 20}MiB)",
                           "machine", "memory")
        if mc.max_memory is not None and (mc.max_memory < mc.memory or mc.max_memory % mc.lmb_size):
            raise sc.error("machine.max_memory must be a multiple of lmb_size and at least machine.memory",
                           "machine", "max_memory")
        if mc.page_size not in (4096, 65536):
            raise sc.error("machine.page_size must be \"64KiB\" or \"4KiB\"", "machine", "page_size")
        if "cpus" in t:
            mc.cpus = self.int_(t["cpus"], "machine.cpus", "machine", "cpus", lo=1, hi=2049)
        if not 1 <= mc.cpus <= 2048:
            raise sc.error("machine.cpus must be between 1 and 2048", "machine", "cpus")
        if "online_cpus" in t:
            online = self.typed(t["online_cpus"], list, "machine.online_cpus", "machine", "online_cpus")
            for c in online:
                if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < mc.cpus:
                    raise sc.error(f"machine.online_cpus: {c!r} is not a CPU number below {mc.cpus}",
                                   "machine", "online_cpus")
            if not online:
                raise sc.error("machine.online_cpus must name at least one CPU", "machine", "online_cpus")
            mc.online_cpus = sorted(set(online))
        if "endian" in t:
            endian = self.choice(t["endian"], ("little", "big"),
                                 "machine.endian must be \"little\" (ppc64le) or \"big\" (ppc64)", "machine", "endian")
            mc.little_endian = endian == "little"
        if "mmu" in t:
            mc.mmu = self.choice(t["mmu"], ("hash", "radix"), "machine.mmu must be \"hash\" or \"radix\"",
                                 "machine", "mmu")
        if "extended_os_term" in t:
            mc.extended_os_term = self.typed(t["extended_os_term"], bool, "machine.extended_os_term",
                                             "machine", "extended_os_term")
            if not mc.extended_os_term and FIRMWARES[mc.firmware].always_extended_os_term:
                raise sc.error(f"machine.firmware = \"{mc.firmware}\" always advertises ibm,extended-os-term; "
                               "extended_os_term = false needs firmware = \"phyp\"", "machine", "extended_os_term")
        holes = self.typed(t.get("holes", []), list, "machine.holes", "machine", "holes")
        for i, h in enumerate(holes):
            if not isinstance(h, dict) or set(h) != {"start", "size"}:
                raise sc.error("each hole is a table {start = \"0x...\", size = \"256MiB\"}", "machine", "holes", i)
            start = self.size(h["start"], "hole start", "machine", "holes", i, "start", limit=1 << 60)
            size = self.size(h["size"], "hole size", "machine", "holes", i, "size", limit=1 << 60)
            if start % mc.lmb_size or size % mc.lmb_size or not size:
                raise sc.error(f"hole {start:#x}+{size:#x} must start and end on an LMB boundary "
                               f"({mc.lmb_size >> 20}MiB)", "machine", "holes", i)
            if start == 0:
                raise sc.error("a hole cannot start at 0: the first LMB holds the RMA", "machine", "holes", i)
            if start + size >= mc.memory:
                raise sc.error("a hole must end below machine.memory (memory ends with present LMBs)",
                               "machine", "holes", i)
            mc.holes.append(Range(start, start + size))
        if mc.rma_size is not None:
            if mc.rma_size <= 0 or mc.rma_size > mc.memory:
                raise sc.error(f"machine.rma_size must be above 0 and at most machine.memory ({mc.memory >> 20}MiB): "
                               "it is the first memory node, from address 0", "machine", "rma_size")
            if mc.rma_size % (16 << 20) or mc.rma_size % mc.lmb_size and mc.rma_size > mc.lmb_size:
                raise sc.error("machine.rma_size must be a multiple of 16MiB, and of lmb_size when larger than one "
                               "LMB", "machine", "rma_size")
            if mc.holes and mc.rma_size > mc.holes[0].start:
                raise sc.error("machine.rma_size must end below the first hole", "machine", "rma_size")

    def kernel(self, t: dict) -> None:
        ks = self.sc.kernel
        self.keys(t, names("kernel"), "kernel")
        for key in ("profile", "cmdline", "capture_cmdline", "capture_profile", "osrelease", "capture_osrelease"):
            if key in t:
                setattr(ks, key, self.typed(t[key], str, f"kernel.{key}", "kernel", key))
                if "\0" in t[key] or len(t[key]) > 4096:
                    raise self.sc.error(f"kernel.{key} must be text without NUL characters, at most 4096 long",
                                        "kernel", key)
        if "note_pids" in t:
            ks.note_pids = self.choice(t["note_pids"], ("zero", "cpu"),
                                       "kernel.note_pids must be \"zero\" (as fadump writes them) or \"cpu\"",
                                       "kernel", "note_pids")
        if "epoch" in t:
            ks.epoch = self.int_(t["epoch"], "kernel.epoch", "kernel", "epoch", hi=1 << 40)
        if "nr_cpus" in t:
            n = self.int_(t["nr_cpus"], "kernel.nr_cpus", "kernel", "nr_cpus")
            if not 2 <= n <= MAX_NR_CPUS:
                raise self.sc.error(f"kernel.nr_cpus (CONFIG_NR_CPUS) must be between 2 and {MAX_NR_CPUS}, not {n}",
                                    "kernel", "nr_cpus")
            if n < self.sc.machine.cpus:
                raise self.sc.error(f"kernel.nr_cpus = {n} is below machine.cpus = {self.sc.machine.cpus}: the "
                                    "kernel would ignore CPUs (not modelled); raise nr_cpus or lower cpus",
                                    "kernel", "nr_cpus")
            ks.nr_cpus = n
        for key in ("profile", "capture_profile"):
            value = getattr(ks, key)
            if value is not None and value not in PROFILES:
                raise self.sc.error(f"unknown kernel profile {value!r}; known: {', '.join(PROFILES)}",
                                    "kernel", key)
            if value in HASH_ONLY_PROFILES and self.sc.machine.mmu == "radix":
                raise self.sc.error(f"kernel profile {value!r} predates the radix MMU (Linux 4.7): use "
                                    "machine.mmu = \"hash\"", "kernel", key)

    def regs(self, t, *path) -> dict[str, int]:
        self.table(t, "registers", *path)
        out = {}
        for name, value in t.items():
            if name not in REGISTER_NAMES:
                raise self.sc.error(f"unknown register '{name}'; use gpr0..gpr31, nip, msr, link, ctr, xer, "
                                    "ccr, dar, dsisr, trap, softe, orig_gpr3, result and other SPR names",
                                    *path, name)
            out[name] = self.size(value, f"register {name}", *path, name)
        return out

    def cpus(self, t: dict) -> None:
        self.table(t, "[cpu]", "cpu")
        for key, table in t.items():
            if not re.fullmatch(r"[0-9]{1,5}", key) or int(key) >= self.sc.machine.cpus:
                raise self.sc.error(f"[cpu.{key}]: '{key}' is not a CPU number below {self.sc.machine.cpus}",
                                    "cpu", key)
            self.keys(table, names("cpu"), "cpu", key)  # also: [cpu.N] must be a table
            self.sc.cpu_regs[int(key)] = self.regs(table.get("regs", {}), "cpu", key, "regs")
