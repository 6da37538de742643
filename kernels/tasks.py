"""The per-CPU data and idle tasks a debugger needs to name the crashed thread.

fadump writes ``pr_pid = 0`` in every NT_PRSTATUS note (fadump_regs_to_elf_notes(), v6.10: the notes
are filled from the register save area, not from a task). A debugger then finds the crashed thread the
way drgn's ``crashed_thread()`` does for a kernel core: the global ``crashing_cpu`` (set by
crash_fadump()'s ``cmpxchg(&crashing_cpu, -1, this_cpu)``, arch/powerpc/kernel/fadump.c v6.10; in 3.4
``crashing_cpu = smp_processor_id()``), that CPU's note, and, for pid 0, that CPU's idle task
``per_cpu(runqueues, cpu).idle`` with ``per_cpu_ptr(p, cpu) = p + __per_cpu_offset[cpu]``
(arch/powerpc/kernel/setup_64.c setup_per_cpu_areas()).

The emulated kernel runs no processes, so these objects are small: a ``struct rq`` and a
``struct task_struct`` holding only the members named below, at the offsets below. They are the
emulator's own layouts (not a real kernel's); the symbol file (emulator.host.symbolfile) describes exactly
these, so gdb, drgn and crash read them by name.
"""

from dataclasses import dataclass

from kernels.image import SYMBOLS, va

PERCPU_BASE = 0x01A4_0000
"""The first CPU's per-CPU area (inside the image); CPU n's is PERCPU_UNIT bytes further per CPU."""
PERCPU_UNIT = 0x200
IDLE_TASKS = 0x01C0_0000
"""Idle tasks of CPUs 1 and up (CPU 0's is init_task), TASK_STRIDE bytes apart."""
TASK_STRIDE = 0x200
MAX_CPUS = 2048
"""How many CPUs these areas have room for (both end below the image's 32 MiB)."""
TASK_COMM_LEN = 16


@dataclass(frozen=True)
class Member:
    name: str
    offset: int
    ctype: str
    """The C declaration with ``%s`` where the member's name goes."""
    size: int


TASK_STRUCT = (
    Member("__state", 0, "unsigned int %s", 4),
    Member("cpu", 4, "unsigned int %s", 4),
    Member("stack", 8, "void *%s", 8),
    Member("pid", 16, "int %s", 4),
    Member("tgid", 20, "int %s", 4),
    Member("comm", 24, "char %s[16]", TASK_COMM_LEN),
)
TASK_STRUCT_SIZE = 40
RQ = (
    Member("nr_running", 0, "unsigned int %s", 4),
    Member("cpu", 4, "int %s", 4),
    Member("curr", 8, "struct task_struct *%s", 8),
    Member("idle", 16, "struct task_struct *%s", 8),
)
RQ_SIZE = 24


def task_addr(cpu: int) -> int:
    """Physical address of CPU ``cpu``'s idle task."""
    return SYMBOLS["init_task"] if cpu == 0 else IDLE_TASKS + cpu * TASK_STRIDE


def percpu_offset(cpu: int) -> int:
    """__per_cpu_offset[cpu]: from the per-CPU template to CPU ``cpu``'s copy (addresses are linear-map)."""
    return (PERCPU_BASE + cpu * PERCPU_UNIT) - SYMBOLS["runqueues"]


def _pack(members, size: int, values: dict[str, int | bytes], order: str) -> bytes:
    out = bytearray(size)
    for m in members:
        v = values.get(m.name, 0)
        out[m.offset:m.offset + m.size] = v.ljust(m.size, b"\0") if isinstance(v, bytes) else \
            (v & ((1 << (8 * m.size)) - 1)).to_bytes(m.size, order)
    return bytes(out)


def place(kernel) -> None:
    """At boot: crashing_cpu = -1, each CPU's per-CPU offset, runqueue and idle task (pid 0, swapper/N)."""
    ram, order = kernel.ram, kernel.byteorder
    cpus = kernel.machine.cpus
    if len(cpus) > MAX_CPUS:
        raise ValueError(f"the per-CPU areas have room for {MAX_CPUS} CPUs, the machine has {len(cpus)}")
    ram.write_u32(SYMBOLS["crashing_cpu"], 0xFFFF_FFFF, order)
    ram.fill(SYMBOLS["__per_cpu_offset"], 8 * MAX_CPUS, 0)
    ram.fill(SYMBOLS["runqueues"], RQ_SIZE, 0)
    for c in cpus:
        task = task_addr(c.id)
        ram.write(task, _pack(TASK_STRUCT, TASK_STRUCT_SIZE,
                              {"cpu": c.id, "pid": 0, "tgid": 0, "comm": f"swapper/{c.id}".encode()}, order))
        ram.write_u64(SYMBOLS["__per_cpu_offset"] + 8 * c.id, percpu_offset(c.id), order)
        rq = SYMBOLS["runqueues"] + percpu_offset(c.id)
        ram.write(rq, _pack(RQ, RQ_SIZE, {"cpu": c.id, "curr": va(task), "idle": va(task)}, order))


def record_crashing_cpu(kernel, cpu: int) -> None:
    """crash_fadump(): the global crashing_cpu takes the CPU that crashes."""
    kernel.ram.write_u32(SYMBOLS["crashing_cpu"], cpu & 0xFFFF_FFFF, kernel.byteorder)
