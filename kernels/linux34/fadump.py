"""arch/powerpc/kernel/fadump.c as merged in Linux 3.4, one method per function.

Firmware structures are big-endian (as after the 2014 endianness fix, so that
the profile also runs little-endian); the crash info header, ELF header and
notes are in the kernel's byte order.
"""

from dataclasses import dataclass, field

from construct import Container

from emulator.hw.devicetree import read_cells
from emulator.hw.layout import Range
from emulator.units import align_up
from firmware import abi
from firmware.abi import DumpCommand, RtasStatus, SectionType
from firmware.structs import DumpMemStruct, requested_section, sections_of
from kernels import elfcore
from kernels.crash import save_crash_info
from kernels.image import SYMBOLS, va
from kernels.linux34 import messages as msg
from kernels.linux34.capture_kernel import CaptureMixin
from kernels.linux34.sysfs import SysfsMixin
from kernels.structs import (
    EHDR_SIZE, FADUMP_CPU_UNKNOWN, PF_R, PF_W, PF_X, PHDR_SIZE, PT_LOAD, PT_NOTE,
)
from emulator.units import memparse

SRC = "arch/powerpc/kernel/fadump.c (v3.4)"
RMA_START = 0
VMCOREINFO_BYTES = 4096
"""3.4: vmcoreinfo_data[4096]; the PT_NOTE says vmcoreinfo_max_size of it."""


@dataclass
class FwDump:
    """struct fw_dump (asm/fadump.h, v3.4)."""

    cpu_state_data_size: int = 0
    hpte_region_size: int = 0
    boot_memory_size: int = 0
    reserve_dump_area_start: int = 0
    reserve_dump_area_size: int = 0
    reserve_bootvar: int = 0
    fadumphdr_addr: int = 0
    cpu_notes_buf: int = 0
    cpu_notes_buf_size: int = 0
    ibm_configure_kernel_dump: int = 0
    fadump_enabled: bool = False
    fadump_supported: bool = False
    dump_active: bool = False
    dump_registered: bool = False
    crash_memory_ranges: list[Range] = field(default_factory=list)


class Fadump34(CaptureMixin, SysfsMixin):
    """The fadump code of one 3.4 kernel, with its fw_dump, fdm and fdm_active."""

    def __init__(self, kernel):
        self.k = kernel
        self.fw_dump = FwDump()
        self.fdm: Container | None = None
        self.fdm_active: Container | None = None
        self.memory_limit = 0

    # --- early boot ---

    def early_init_dt_scan_fw_dump(self) -> None:
        """Find /rtas ibm,configure-kernel-dump, ibm,kernel-dump and the section sizes."""
        dt = self.k.machine.devicetree
        token = dt.get("/rtas", abi.DT_CONFIGURE_KERNEL_DUMP)
        if token is None:
            return
        fw = self.fw_dump
        fw.fadump_supported = True
        fw.ibm_configure_kernel_dump = read_cells(token)[0]
        active = dt.get("/rtas", abi.DT_KERNEL_DUMP)
        if active is not None:
            self.fdm_active = DumpMemStruct.parse(active)
            fw.dump_active = True
        sizes = dt.get("/rtas", abi.DT_CONFIGURE_KERNEL_DUMP_SIZES)
        if sizes is None:
            return
        c = read_cells(sizes)
        for i in range(0, len(c) - 2, 3):
            size = (c[i + 1] << 32) | c[i + 2]
            if c[i] == SectionType.CPU_STATE_DATA:
                fw.cpu_state_data_size = size
            elif c[i] == SectionType.HPTE_REGION:
                fw.hpte_region_size = size

    def early_fadump_param(self) -> None:
        """early_param("fadump"): "on"/"off" matched by prefix; fadump_reserve_mem=."""
        p = self.k.params
        if "fadump" in p:
            if p["fadump"].startswith("on"):
                self.fw_dump.fadump_enabled = True
            elif p["fadump"].startswith("off"):
                self.fw_dump.fadump_enabled = False
        if p.get("fadump_reserve_mem"):
            self.fw_dump.reserve_bootvar = memparse(p["fadump_reserve_mem"])[0]
        if p.get("mem"):
            self.memory_limit = align_up(memparse(p["mem"])[0], self.k.page_size)

    @property
    def min_boot_mem(self) -> int:
        """MIN_BOOT_MEM: max(RMA size, 256 MiB) + 64 MiB."""
        return max(self.k.ppc64_rma_size, 1 << 28) + (1 << 26)

    def fadump_calculate_reserve_size(self) -> int:
        """fadump_reserve_mem=, else 5% of DRAM rounded down to 256 MiB (at least MIN_BOOT_MEM).

        3.4 has no crashkernel= here: it sizes only kdump's reservation, when fadump reserved nothing.
        """
        if self.fw_dump.reserve_bootvar:
            return self.fw_dump.reserve_bootvar
        layout = self.k.machine.layout
        size = layout.end_of_dram // 20
        size &= ~0x0FFFFFFF
        if self.memory_limit and size > self.memory_limit:
            size = self.memory_limit
        return size if size > self.min_boot_mem else self.min_boot_mem

    def get_fadump_area_size(self) -> int:
        """CPU + HPTE + boot memory + crash info header + ELF header with (regions + 2) phdrs."""
        fw = self.fw_dump
        size = fw.cpu_state_data_size + fw.hpte_region_size + fw.boot_memory_size
        size += self.k.ks.crash_info_header_old.sizeof()
        size += EHDR_SIZE + PHDR_SIZE
        size += PHDR_SIZE * (len(self.k.memblock.memory) + 2)
        return align_up(size, self.k.page_size)

    def fadump_reserve_mem(self) -> bool:
        """Reserve the dump area at the top of RAM, or everything above boot memory if a dump is active."""
        fw, k = self.fw_dump, self.k
        if not fw.fadump_enabled:
            return False
        if not fw.fadump_supported:
            k.printk(msg.NOT_SUPPORTED)
            fw.fadump_enabled = False
            return False
        if self.fdm_active is not None:
            fw.boot_memory_size = self._active_rmr().source_len
        else:
            fw.boot_memory_size = align_up(self.fadump_calculate_reserve_size(), k.page_size)
        end = k.machine.layout.end_of_dram
        if self.memory_limit and self.memory_limit < end:
            size = self.get_fadump_area_size()
            self.memory_limit = self.memory_limit + size if self.memory_limit + size < end else end
            k.printk(msg.ADJUSTED_MEMORY_LIMIT.format(limit=self.memory_limit))
        boundary = self.memory_limit or end
        if fw.dump_active:
            k.printk(msg.DUMP_ACTIVE)
            base = fw.boot_memory_size
            size = boundary - base
            k.memblock.reserve(Range(base, base + size))
            k.printk(msg.RESERVED_CAPTURE.format(size_mb=size >> 20, base_mb=base >> 20))
            k.narrate("fadump_reserve_mem()", SRC, f"a dump is active: reserve everything above boot memory "
                      f"[{base:#x}, {base + size:#x}) so this kernel never touches the crashed kernel's memory")
            rmr = self._active_rmr()
            fw.fadumphdr_addr = rmr.destination_address + rmr.source_len
        else:
            size = self.get_fadump_area_size()
            base = boundary - size
            k.memblock.reserve(Range(base, base + size))
            k.printk(msg.RESERVED_FIRST.format(size_mb=size >> 20, base_mb=base >> 20))
            k.narrate("fadump_reserve_mem()", SRC, f"boot memory is {fw.boot_memory_size >> 20} MiB; the dump area "
                      f"(CPU state, HPTE, boot-memory copy, crash info header, ELF header) is reserved at the top "
                      f"of memory: [{base:#x}, {base + size:#x})")
        fw.reserve_dump_area_start = base
        fw.reserve_dump_area_size = size
        return True

    def _active_rmr(self) -> Container:
        return sections_of(SectionType.REAL_MODE_REGION, self.fdm_active)[0]

    def _active_cpu(self) -> Container:
        return sections_of(SectionType.CPU_STATE_DATA, self.fdm_active)[0]

    # --- registration structure ---

    def init_fadump_mem_struct(self, addr: int) -> int:
        """Build fdm: CPU state, HPTE and RMR sections laid out from ``addr`` down the area."""
        fw = self.fw_dump
        addr &= ~(self.k.page_size - 1)

        cpu = requested_section(SectionType.CPU_STATE_DATA, 0, fw.cpu_state_data_size, addr)
        addr += fw.cpu_state_data_size
        hpte = requested_section(SectionType.HPTE_REGION, 0, fw.hpte_region_size, addr)
        addr += fw.hpte_region_size
        rmr = requested_section(SectionType.REAL_MODE_REGION, RMA_START, fw.boot_memory_size, addr)
        addr += fw.boot_memory_size
        header = Container(dump_format_version=abi.DUMP_FORMAT_VERSION, dump_num_sections=3,
                           dump_status_flag=0, offset_first_dump_section=abi.SECTION_HEADER_SIZE,
                           dd_block_size=0, dd_block_offset=0, dd_num_blocks=0, dd_offset_disk_path=0,
                           max_time_auto=0)
        self.fdm = Container(header=header, sections=[cpu, hpte, rmr])
        return addr

    @property
    def rmr(self) -> Container:
        return self.fdm.sections[2]

    def _rtas_fdm(self, command: int, fdm: Container):
        """Copy the structure to its static home in low memory and call ibm,configure-kernel-dump (SimPy steps;
        the value is the status)."""
        if command == DumpCommand.REGISTER:
            fdm = self.k.faults.register_structure(fdm)
        raw = DumpMemStruct.build(fdm)
        self.k.ram.write(SYMBOLS["fdm"], raw)
        return (yield from self.k.rtas_call(abi.DT_CONFIGURE_KERNEL_DUMP, command, SYMBOLS["fdm"], len(raw)))

    # --- crash memory ranges and the ELF core header ---

    def fadump_add_crash_memory(self, base: int, end: int) -> None:
        if base != end:
            self.fw_dump.crash_memory_ranges.append(Range(base, end))

    def fadump_exclude_reserved_area(self, start: int, end: int) -> None:
        fw = self.fw_dump
        ra_start = fw.reserve_dump_area_start
        ra_end = ra_start + fw.reserve_dump_area_size
        if ra_start < end and ra_end > start:
            if start < ra_start and end > ra_end:
                self.fadump_add_crash_memory(start, ra_start)
                self.fadump_add_crash_memory(ra_end, end)
            elif start < ra_start:
                self.fadump_add_crash_memory(start, ra_start)
            elif ra_end < end:
                self.fadump_add_crash_memory(ra_end, end)
        else:
            self.fadump_add_crash_memory(start, end)

    def fadump_setup_crash_memory_ranges(self) -> None:
        """Boot memory as its own range, then every memblock range minus the reserved area."""
        fw = self.fw_dump
        fw.crash_memory_ranges = []
        self.fadump_add_crash_memory(RMA_START, fw.boot_memory_size)
        for r in self._memblock_memory():
            start, end = r.start, r.end
            if start == RMA_START and end >= fw.boot_memory_size:
                start = fw.boot_memory_size
            self.fadump_exclude_reserved_area(start, end)

    def _memblock_memory(self) -> list[Range]:
        limit = self.memory_limit
        ranges = self.k.memblock.memory
        if not limit:
            return list(ranges)
        return [Range(r.start, min(r.end, limit)) for r in ranges if r.start < limit]

    def fadump_relocate(self, paddr: int) -> int:
        """Where firmware will have moved ``paddr`` (only boot memory moves)."""
        if RMA_START < paddr < self.fw_dump.boot_memory_size:
            return self.rmr.destination_address + paddr
        return paddr

    def init_fadump_header(self, addr: int) -> int:
        """Write the FADMPINF crash info header at ``addr``; the ELF header goes right after."""
        ks = self.k.ks
        size = ks.crash_info_header_old.sizeof()
        fdh = Container(elfcorehdr_addr=addr + size, crashing_cpu=FADUMP_CPU_UNKNOWN,
                        regs=Container({f: 0 for f in ks.pt_regs_fields}), cpu_mask=bytes(ks.cpumask_size))
        self.k.ram.write(addr, ks.crash_info_header_old.build(fdh))
        return addr + size

    def fadump_create_elfcore_headers(self, addr: int) -> None:
        """Ehdr, a PT_NOTE placeholder for CPU notes, the vmcoreinfo PT_NOTE, one PT_LOAD per range."""
        ks = self.k.ks
        phdrs = [elfcore.phdr(ks, PT_NOTE)]
        note = self.fadump_relocate(SYMBOLS["vmcoreinfo_note"])
        phdrs.append(elfcore.phdr(ks, PT_NOTE, p_offset=note, p_paddr=note,
                                  p_filesz=VMCOREINFO_BYTES, p_memsz=VMCOREINFO_BYTES))
        for r in self.fw_dump.crash_memory_ranges:
            offset = self.rmr.destination_address if r.start == RMA_START else r.start
            phdrs.append(elfcore.phdr(ks, PT_LOAD, p_offset=offset, p_paddr=r.start, p_vaddr=va(r.start),
                                      p_filesz=r.size, p_memsz=r.size, p_flags=PF_R | PF_W | PF_X))
        self.k.ram.write(addr, elfcore.ehdr(ks, len(phdrs)) + b"".join(phdrs))

    def register_fadump(self):
        """Build the ranges, the crash info header and the ELF header, then register (SimPy steps)."""
        fw = self.fw_dump
        if not fw.reserve_dump_area_size:
            return
        self.fadump_setup_crash_memory_ranges()
        addr = self.rmr.destination_address + self.rmr.source_len
        fw.fadumphdr_addr = addr
        addr = self.init_fadump_header(addr)
        self.fadump_create_elfcore_headers(addr)
        ks = self.k.ks
        fdh = ks.crash_info_header_old.parse(self.k.ram.read(fw.fadumphdr_addr, ks.crash_info_header_old.sizeof()))
        phdrs = [ks.elf64_phdr.parse(self.k.ram.read(addr + 64 + 56 * i, 56))
                 for i in range(ks.elf64_ehdr.parse(self.k.ram.read(addr, 64)).e_phnum)]
        self.k.narrate("register_fadump()", SRC,
                       f"crash memory ranges built; crash info header at {fw.fadumphdr_addr:#x} points at the ELF "
                       f"core header at {addr:#x}; registering with firmware",
                       fdm=self.fdm, crash_info_header={"magic_number": "FADMPINF", "elfcorehdr_addr": fdh.elfcorehdr_addr,
                                                        "crashing_cpu": fdh.crashing_cpu},
                       elf_program_headers=[{k: ph[k] for k in ("p_type", "p_offset", "p_paddr", "p_memsz")}
                                            for ph in phdrs])
        yield from self.register_fw_dump()

    def register_fw_dump(self):
        """register_fw_dump() (fadump.c, v3.4): REGISTER and its messages; SimPy steps, the value is the status."""
        rc = yield from self._rtas_fdm(DumpCommand.REGISTER, self.fdm)
        k = self.k
        if rc == RtasStatus.HARDWARE_ERROR:
            k.printk(msg.REGISTER_HW_ERROR.format(rc=rc))
        elif rc == RtasStatus.PARAMETER_ERROR:
            k.printk(msg.REGISTER_PARAM_ERROR.format(rc=rc))
        elif rc == RtasStatus.DUMP_ALREADY_REGISTERED:
            k.printk(msg.ALREADY_REGISTERED)
            self.fw_dump.dump_registered = True
        elif rc == RtasStatus.SUCCESS:
            k.printk(msg.REGISTERED)
            self.fw_dump.dump_registered = True
        return rc

    def fadump_unregister_dump(self):
        """fadump_unregister_dump() (fadump.c, v3.4): UNREGISTER; SimPy steps, the value is 0 or the status."""
        rc = yield from self._rtas_fdm(DumpCommand.UNREGISTER, self.fdm)
        if rc:
            self.k.printk(msg.UNREGISTER_FAILED.format(rc=rc))
            return rc
        self.fw_dump.dump_registered = False
        return 0

    def fadump_invalidate_dump(self, fdm: Container):
        """fadump_invalidate_dump() (fadump.c, v3.4): INVALIDATE; SimPy steps, the value is 0 or the status."""
        rc = yield from self._rtas_fdm(DumpCommand.INVALIDATE, fdm)
        if rc:
            self.k.printk(msg.INVALIDATE_FAILED.format(rc=rc))
            return rc
        self.fw_dump.dump_active = False
        self.fdm_active = None
        return 0

    def fadump_cleanup(self):
        """machine_shutdown(): invalidate the registration only if a dump is active (3.4); SimPy steps."""
        if self.fw_dump.dump_active:
            self.init_fadump_mem_struct(self._active_cpu().destination_address)
            yield from self.fadump_invalidate_dump(self.fdm)

    # --- crash ---

    def crash_fadump(self, regs: dict[str, int], reason: str):
        """Record the crashing CPU and its registers, then call ibm,os-term (SimPy steps); True if it never
        returned."""
        fw, k = self.fw_dump, self.k
        if not fw.dump_registered or not fw.fadumphdr_addr:
            return False
        fdh = save_crash_info(k, fw.fadumphdr_addr, k.ks.crash_info_header_old, regs)
        k.narrate("crash_fadump()", SRC, f"CPU {k.crashing_cpu} records itself, its registers and the online "
                  "CPUs in the crash info header, appends CRASHTIME to VMCOREINFO, then calls ibm,os-term",
                  crash_info_header={"crashing_cpu": fdh.crashing_cpu, "regs.nip": fdh.regs.nip,
                                     "regs.gpr1": fdh.regs.gpr1, "regs.link": fdh.regs.link})
        return (yield from k.rtas_os_term(reason))
