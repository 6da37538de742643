"""How a kernel goes down: panic, oops, sysrq-c, system reset, and the way to firmware.

Models kernel/panic.c, arch/powerpc/kernel/traps.c (die, system_reset_exception),
drivers/tty/sysrq.c and rtas_os_term() in arch/powerpc/kernel/rtas.c; the
wording follows the kernel generation (``modern_wording``).
"""

from enum import StrEnum

from construct import Construct, Container

from emulator.hw.cpu import TRAP_SYSTEM_RESET, system_reset
from firmware import abi
from kernels import tasks


class CrashKind(StrEnum):
    """How the scenario brings a kernel down ([crash] kind)."""

    PANIC = "panic"
    SYSRQ = "sysrq"
    OOPS = "oops"
    SYSTEM_RESET = "system-reset"
    HYPERVISOR = "hypervisor"


class Verdict(StrEnum):
    """How a boot ends: a crash's verdict (report.json crashes[].result) or a clean reboot."""

    DUMPED = "dumped"
    """Firmware preserved the partition; the capture kernel boots next."""
    REBOOT = "reboot"
    """panic= timeout: the partition reboots without a dump."""
    HANG = "hang"
    """The kernel stops; nothing else happens."""
    TERMINATED = "terminated"
    """The hypervisor ended the partition with no dump registered."""
    POWER_LOSS = "power-loss"
    """Power went away during preservation: memory and the dump are gone."""
    CLEAN_REBOOT = "clean-reboot"
    """userspace asked for a reboot (no crash)."""

    @property
    def restarts(self) -> bool:
        """Whether the partition boots again after this ending."""
        return self in (Verdict.DUMPED, Verdict.REBOOT, Verdict.CLEAN_REBOOT, Verdict.POWER_LOSS)

PANIC = "Kernel panic - not syncing: {message}"
CRASH_FUNCTIONS = {"panic": "panic()", "sysrq": "sysrq_handle_crash()", "oops": "die()",
                   "system-reset": "system_reset_exception()"}
REBOOTING = "Rebooting in {seconds} seconds.."
OS_TERM_FAILED = "ibm,os-term call failed {rc}"
"""rtas.c, KERN_EMERG, no prefix."""
TRAP_DATA_ACCESS = 0x300
ENTER_RTAS = 0xC000_0000_0000_F3A0
"""Where the crashing CPU is while ibm,os-term runs (inside enter_rtas): the NIA firmware saves for it."""
CRASH_TIMEOUT_MS = 500
"""crash_fadump(): how long the first CPU waits for the others on a system reset (since ~5.8)."""
POLL_MS = 1
"""crash_fadump()'s poll step (mdelay(1)): the wait lasts this long when every CPU arrives (assumption)."""


def save_crash_info(k, addr: int, header: Construct, regs: dict[str, int]) -> Container:
    """What every crash_fadump() writes into the crash info header at ``addr`` (fadump.c, 3.4 to 7.2): the
    crashing CPU, CRASHTIME appended to VMCOREINFO, the crashing CPU's registers and the online CPUs' mask.
    ``header`` is the release's layout (FADMPINF or FADMPSIG v1); the header as written is returned."""
    fdh = header.parse(k.ram.read(addr, header.sizeof()))
    fdh.crashing_cpu = k.crashing_cpu
    k.crash_save_vmcoreinfo()
    fdh.regs = Container({f: regs.get(f, 0) for f in k.ks.pt_regs_fields})
    fdh.cpu_mask = k.cpumask_bytes(k.online_cpu_ids())
    k.ram.write(addr, header.build(fdh))
    k.crash_info_saved = True
    return fdh


class CrashPaths:
    """Entry points into crash_fadump(), mixed into Kernel."""

    modern_wording = False
    waits_for_secondaries = False
    mask_at_registration = "none"
    """Which CPUs the header's mask holds until a crash rewrites it: "none" (3.4, zeroed)
    or "possible" (5.19+, so a hypervisor-initiated dump still has every CPU's notes)."""

    def online_cpu_ids(self) -> list[int]:
        return [c.id for c in self.machine.cpus if c.online]

    def cpumask_bytes(self, cpus: list[int]) -> bytes:
        """A struct cpumask: unsigned longs in the kernel's byte order, bit n = CPU n."""
        words = [0] * (self.ks.cpumask_size // 8)
        for c in cpus:
            words[c // 64] |= 1 << (c % 64)
        return b"".join(w.to_bytes(8, self.byteorder) for w in words)

    def cpumask_test(self, mask: bytes, cpu: int) -> bool:
        word = int.from_bytes(mask[(cpu // 64) * 8:(cpu // 64) * 8 + 8], self.byteorder)
        return bool(word >> (cpu % 64) & 1)

    def crash(self, kind: str, cpu: int, regs: dict[str, int], message: str, stuck: tuple[int, ...] = ()) -> Verdict:
        """Crash on ``cpu`` by ``kind`` to its end on the machine's clock (crash_process run on its own)."""
        return self.settle(self.crash_process(kind, cpu, regs, message, stuck))

    def trap_frame(self, kind: str, cpu: int, overrides: dict[str, int]) -> dict[str, int]:
        """The crashing CPU's pt_regs as the trigger leaves them (traps.c, sysrq.c): its live registers, trap 0x300
        for a bad data access (an oops, and 3.4's sysrq-c NULL store), 0x100 for a system reset, then
        ``overrides`` (what the scenario says the frame held)."""
        regs = dict(self.machine.cpus[cpu].regs)
        if kind in ("oops", "sysrq") and not (kind == "sysrq" and self.modern_wording):
            regs.update(trap=TRAP_DATA_ACCESS)
        if kind == "system-reset":
            regs.update(trap=TRAP_SYSTEM_RESET)
        regs.update(overrides)
        return regs

    def crash_process(self, kind: str, cpu: int, regs: dict[str, int], message: str,
                      stuck: tuple[int, ...] = ()):
        """The crashing CPU through panic()/die()/system_reset_exception() (kernel/panic.c, traps.c): a Verdict.

        ``regs`` are what the trigger's frame holds beyond the CPU's live registers (trap_frame). A system
        reset is taken by every online CPU first (emulator.hw.cpu.system_reset); one that ends without a dump
        goes back to firmware, which dumps a registered partition anyway (no ibm,nmi-interlock, LoPAR R1-3).
        """
        if kind == "system-reset":
            system_reset(self.machine.cpus)
        regs = self.crash_regs = self.trap_frame(kind, cpu, regs)
        self.crashing_cpu = cpu
        tasks.record_crashing_cpu(self, cpu)
        registered = self.fadump_registered_now()
        self.narrate(CRASH_FUNCTIONS.get(kind, kind), "kernel/panic.c, arch/powerpc/kernel/traps.c",
                     f"CPU {cpu} goes down ({kind}); fadump is "
                     + ("registered: the crash path hands over to firmware" if registered else
                        "NOT registered: firmware will not preserve memory"))
        if kind == "system-reset" and self.waits_for_secondaries and registered:
            yield from self.wait_for_secondaries(stuck)
        if kind == "panic":
            result = yield from self.panic(regs, message)
        elif kind == "sysrq":
            result = yield from self.sysrq_crash(regs)
        elif kind == "oops":
            result = yield from self.die_oops(regs)
        elif kind == "system-reset":
            result = yield from self.system_reset_exception(regs, stuck)
        else:
            raise ValueError(kind)
        if result != Verdict.DUMPED:
            fallback = " kdump's crashkernel= reservation would take the dump instead (fallback)" \
                if getattr(self, "kdump_fallback", False) else " nothing saves this crash"
            self.narrate("no firmware-assisted dump", "arch/powerpc/kernel/fadump.c",
                         f"the crash ends in {str(result)!r} without a firmware-assisted dump;{fallback}")
        if kind == "system-reset" and result != Verdict.DUMPED and self.machine.fadump.system_reset_unhandled():
            result = Verdict.DUMPED
        return result

    def ppc_save_regs(self, regs: dict[str, int]) -> dict[str, int]:
        """What ppc_save_regs() (arch/powerpc/kernel/ppc_save_regs.S) stores for crash_fadump(NULL, ...).

        3.4 and 6.10 alike: r0-r31, NIP and LINK from the link register, MSR, CTR, XER, CR, and _TRAP = 0.
        6.10 also stores SOFTE from the PACA (paca->irq_soft_mask) and ORIG_GPR3 = 0. The rest of the
        header's pt_regs keeps the zeros it was initialised with.
        """
        saved = {f"gpr{i}": regs.get(f"gpr{i}", 0) for i in range(32)}
        for name in ("nip", "link", "msr", "ctr", "xer", "ccr"):
            saved[name] = regs.get(name, 0)
        saved["trap"] = 0
        if self.version.save_regs_softe:
            saved["softe"] = regs.get("softe", 0)
            saved["orig_gpr3"] = 0
        return saved

    def panic(self, regs: dict[str, int], message: str):
        """panic(): the message, the fadump panic notifier (crash_fadump(NULL): ppc_save_regs), reboot or hang."""
        self.printk(PANIC.format(message=message))
        if (yield from self.crash_fadump(self.ppc_save_regs(regs), message)):
            return Verdict.DUMPED
        timeout = int(self.params.get("panic", "0") or 0)
        if timeout > 0:
            self.printk(REBOOTING.format(seconds=timeout))
            return Verdict.REBOOT
        return Verdict.HANG

    def sysrq_crash(self, regs: dict[str, int]):
        """echo c > /proc/sysrq-trigger: a panic in modern kernels, a NULL store (oops) in 3.4."""
        if self.modern_wording:
            self.printk("sysrq: Trigger a crash")
            return (yield from self.panic(regs, "sysrq triggered crash"))
        self.printk("SysRq : Trigger a crash")
        return (yield from self.die_oops(dict(regs, dar=0)))

    def die_oops(self, regs: dict[str, int]):
        """A bad kernel data access: the fault report, then die() calls crash_fadump(regs, "die oops")."""
        dar, nip = regs.get("dar", 0), regs.get("nip", 0)
        if self.modern_wording:
            what = "Kernel NULL pointer dereference" if dar < self.page_size else "Unable to handle kernel data access"
            self.printk(f"BUG: {what} on read at {dar:#010x}")
        else:
            self.printk(f"Unable to handle kernel paging request for data at address {dar:#010x}")
        self.printk(f"Faulting instruction address: {nip:#010x}")
        self.printk("Oops: Kernel access of bad area, sig: 11 [#1]")
        if (yield from self.crash_fadump(regs, "die oops")):
            return Verdict.DUMPED
        return (yield from self.panic(regs, "Fatal exception"))

    def wait_for_secondaries(self, stuck: tuple[int, ...]):
        """crash_fadump() since ~5.8 (arch/powerpc/kernel/fadump.c): wait up to 500 ms for the other CPUs.

        The system reset reaches every CPU; each other online CPU enters crash_fadump() and counts
        itself in cpus_in_fadump (secondary_enters_fadump, an event per CPU). The first CPU polls
        (mdelay(1)) until all are in or the 500 ms run out; CPUs listed in ``stuck`` never arrive.
        """
        env = self.machine.env
        stuck_others = [c for c in stuck if c != self.crashing_cpu]
        arrivals = [env.process(self.secondary_enters_fadump(c)) for c in self.online_cpu_ids()
                    if c != self.crashing_cpu and c not in stuck_others]
        arrivals += [env.event() for _ in stuck_others]  # a stuck CPU never arrives
        yield env.all_of([env.timeout(POLL_MS / 1000), *arrivals]) | env.timeout(CRASH_TIMEOUT_MS / 1000)

    def secondary_enters_fadump(self, cpu: int):
        """A secondary CPU takes the system reset and enters crash_fadump() (arch/powerpc/kernel/fadump.c)."""
        yield self.machine.env.timeout(POLL_MS / 1000)
        return cpu

    def system_reset_exception(self, regs: dict[str, int], stuck: tuple[int, ...]):
        """An NMI on every CPU: the first to arrive sends it through crash_fadump("System Reset").

        Since ~5.8 that CPU first waits for the others (wait_for_secondaries, run by crash_process).
        """
        if (yield from self.crash_fadump(regs, "System Reset")):
            return Verdict.DUMPED
        self.printk("Oops: System Reset, sig: 6 [#1]")
        return (yield from self.panic(regs, "System Reset" if self.modern_wording else "Fatal exception"))

    def fadump_registered_now(self) -> bool:
        return bool(getattr(self, "dump_registered", False))

    def rtas_os_term(self, reason: str):
        """rtas_os_term() (arch/powerpc/kernel/rtas.c): only with ibm,os-term and ibm,extended-os-term; SimPy steps
        whose value is True if the call never returned. The crashing CPU is inside enter_rtas meanwhile (what
        firmware saves for it); if the call returns, it is back where it was."""
        dt = self.machine.devicetree
        if not dt.has("/rtas", abi.DT_OS_TERM) or not dt.has("/rtas", abi.DT_EXTENDED_OS_TERM):
            return False
        text = f"OS panic: {reason}".encode()[:2047] + b"\0"
        self.ram.write(self.symbols["rtas_os_term_buf"], text)
        cpu = self.machine.cpus[self.crashing_cpu] if self.crashing_cpu >= 0 else None
        live = dict(cpu.regs) if cpu is not None else None
        if cpu is not None:
            cpu.regs.update(nip=ENTER_RTAS, link=(self.crash_regs or cpu.regs)["nip"])
        status = yield from self.rtas_call(abi.DT_OS_TERM, self.symbols["rtas_os_term_buf"])
        if status is None:
            return True
        if cpu is not None:
            cpu.regs = live
        if status != 0:
            self.printk(OS_TERM_FAILED.format(rc=status))
        return False
