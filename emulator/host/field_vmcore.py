"""What the first megabytes of a field vmcore say: byte order, e_flags, CPUs, NR_CPUS, PT_LOAD layout, VMCOREINFO.

A customer often sends only the head of /proc/vmcore (``head -c 1M vmcore``): the ELF header, the program headers
and the notes are there, the memory is not. ``head_facts(path)`` reads them with emulator.vmcore.vmcore_file (which
stops at the file's end) and derives:

- byte order from e_ident[EI_DATA], e_flags (2 = ELFv2 ABI: ppc64le; 1 or 0 = ELFv1: ppc64 big-endian);
- the CPUs the dump holds registers for (one NT_PRSTATUS per CPU: fadump writes one for every present CPU);
- NR_CPUS from the metadata size: the second PT_LOAD of a modern (6.10+) dump starts right behind the crash info
  header (struct fadump_crash_info_header v1, arch/powerpc/include/asm/fadump-internal.h, 6.10), which ends in a
  struct cpumask of BITS_TO_LONGS(NR_CPUS) longs; the header sits at a 64 KiB boundary (the boot-memory copy's
  end), so the start's offset in its 64 KiB page is the header's size and gives NR_CPUS to a multiple of 64;
- the RAM size (the end of the highest PT_LOAD) and the page size, release and keys of VMCOREINFO.
"""

from dataclasses import dataclass, field

from emulator.errors import BadInputError
from emulator.vmcore.vmcore_file import VmcoreFile
from kernels.structs import kernel_structs

HEADER_ALIGN = 0x10000
"""fadump's reserved-area pieces start at 64 KiB boundaries (the boot-memory copy's destination, its end)."""


@dataclass
class HeadFacts:
    path: str
    endian: str
    e_flags: int
    cpus: int
    """NT_PRSTATUS notes."""
    loads: list[tuple[int, int]]
    """(p_paddr, p_memsz) of each PT_LOAD."""
    vmcoreinfo: dict[str, str] = field(default_factory=dict)
    nr_cpus_range: tuple[int, int] | None = None
    """(lowest, highest) CONFIG_NR_CPUS the metadata size allows, or None when the layout does not show it."""

    @property
    def ram_bytes(self) -> int | None:
        return max((a + s for a, s in self.loads), default=None)

    @property
    def page_size(self) -> int | None:
        value = self.vmcoreinfo.get("PAGESIZE")
        return int(value) if value and value.isdigit() else None

    @property
    def osrelease(self) -> str | None:
        return self.vmcoreinfo.get("OSRELEASE")


def nr_cpus_range(loads: list[tuple[int, int]], pt_regs_fields: tuple[str, ...], little: bool) -> tuple[int, int] | None:
    """NR_CPUS bounds from where the PT_LOAD behind the boot-memory copy starts (modern dumps: the crash info header's
    size is that start's offset in its 64 KiB page)."""
    if len(loads) < 2:
        return None
    tail = loads[1][0] % HEADER_ALIGN
    fixed = kernel_structs(little, pt_regs_fields, 64).crash_info_header_v1.sizeof() - 8
    mask = tail - fixed
    if tail == 0 or mask <= 0 or mask % 8:
        return None
    longs = mask // 8
    return (longs - 1) * 64 + 1, longs * 64


def head_facts(path: str, pt_regs_fields: tuple[str, ...] | None = None) -> HeadFacts:
    """The facts of a vmcore head; BadInputError (path: what) when it is not an ELF core file."""
    try:
        with VmcoreFile(path) as core:
            little = core.little_endian
            loads = [(ph.p_paddr, ph.p_memsz) for ph in core.loads]
            cpus = sum(1 for name, n_type, _, _ in core.notes if name == "CORE" and n_type == 1)
            info = dict(core.vmcoreinfo)
            facts = HeadFacts(path, "little" if little else "big", core.ehdr.e_flags, cpus, loads, info)
            fields = pt_regs_fields or core.pt_regs_fields
    except BadInputError as exc:
        raise BadInputError(f"--vmcore-head {exc}") from None
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise BadInputError(f"--vmcore-head {path}: not a readable vmcore head ({exc}); give the first "
                            "megabytes of /proc/vmcore (head -c 1M vmcore > vmcore-head.bin)") from None
    facts.nr_cpus_range = nr_cpus_range(loads, fields, little)
    return facts
