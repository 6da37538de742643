"""The original fadump design as Linux 6.1 has it: arch/powerpc/kernel/fadump.c and
arch/powerpc/platforms/pseries/rtas-fadump.c of Debian 12's 6.1.192.

What 6.1 shares with 6.10 (kernels.linux610, inherited): sizing (crashkernel=, fadump_reserve_mem=, 5%), the
lowest fit above boot memory, CMA, registration at boot from setup_fadump(), /sys/kernel/fadump/ with its
symlinks, the 5.5+ debugfs format, the RTAS calls and most messages. What it shares with 3.4 (kernels.linux34):
the design. The registration structure has exactly three sections (CPU state, HPTE, one real-mode region from 0),
and the first kernel writes the FADMPINF crash info header and the ELF core header into the reserved area when it
registers; the capture kernel only adds the CPU notes. Memory hot-added or removed after registration is not in
that header until userspace registers again (the udev rule's ``echo 1 > /sys/kernel/fadump/registered``, which
6.1's registered_store() turns into unregister + register).
"""

import errno

from construct import Container

from emulator.hw.layout import Range
from emulator.units import align_up
from firmware import abi
from firmware.abi import SectionType
from firmware.structs import requested_section, sections_of
from kernels import elfcore
from kernels.crash import save_crash_info
from kernels.image import va
from kernels.linux61 import messages as msg61
from kernels.linux610 import messages as msg
from kernels.linux610.fadump import Fadump610
from kernels.regsave_reader import build_cpu_notes
from kernels.structs import (
    EHDR_SIZE, FADUMP_CPU_UNKNOWN, FADUMP_CRASH_INFO_MAGIC_OLD, PF_R, PF_W, PF_X, PHDR_SIZE, PT_LOAD, PT_NOTE,
)

SRC = "arch/powerpc/kernel/fadump.c (v6.1)"
RTAS_SRC = "arch/powerpc/platforms/pseries/rtas-fadump.c (v6.1)"


class Fadump61(Fadump610):
    """The fadump code of one 6.1 kernel: 6.10's, with the original design's registration and capture."""

    max_boot_mem_regs = 128
    """FADUMP_MAX_MEM_REGS (asm/fadump-internal.h, 6.1): the common code's limit; the RTAS registration itself
    copies one region, [0, boot_memory_size), whatever holes it spans (rtas_fadump_init_mem_struct())."""

    # --- memory ---

    def memblock_regions(self) -> list[Range]:
        """memblock.memory's regions as this kernel booted with them.

        early_init_drmem_lmb() (arch/powerpc/kernel/prom.c, 6.1) marks an LMB that firmware flags hot-removable
        MEMBLOCK_HOTPLUG, and memblock never merges regions of different flags: memory that was hot-added
        (a QEMU pc-dimm) stays a region of its own next to boot memory. Measured: the real dimm-hotplug capture
        kernel prints one "Reserving" line for 0x20000000-0x80000000 and one for the DIMM at 0x80000000.
        """
        lmb = self.k.machine.layout.lmb_size
        hot = self.k.boot_hotplug_lmbs
        cuts = {i * lmb for i in hot if i - 1 not in hot} | {(i + 1) * lmb for i in hot if i + 1 not in hot}
        out = []
        for r in self.k.memblock.memory:
            start = r.start
            for cut in sorted(c for c in cuts if r.start < c < r.end):
                out.append(Range(start, cut))
                start = cut
            out.append(Range(start, r.end))
        return out

    def get_fadump_area_size(self) -> int:
        """PAGE_ALIGN(CPU + HPTE) + boot memory + FADMPINF header + ELF header with (regions + 3) phdrs, aligned.

        get_fadump_area_size() (fadump.c, 6.1): the ELF header, a placeholder PT_NOTE and one phdr per memblock
        region plus two live in the area, behind the crash info header. Measured: mem_reserved 537001984
        (0x20020000) for 512 MiB of boot memory and QEMU's 0xa00-byte CPU state section.
        """
        fw, k = self.fw_dump, self.k
        size = align_up(fw.cpu_state_data_size + fw.hpte_region_size, k.page_size)
        size += fw.boot_memory_size + k.ks.crash_info_header_old.sizeof()
        size += EHDR_SIZE + PHDR_SIZE + PHDR_SIZE * (len(self.memblock_regions()) + 2)
        return align_up(size, k.page_size)

    def fadump_reserve_crash_area(self, base: int) -> None:
        """fadump_reserve_crash_area() (fadump.c, 6.1): reserve every region ending at or above ``base``."""
        k = self.k
        for r in self.memblock_regions():
            if r.end < base:
                continue
            start = max(r.start, base)
            k.memblock.reserve(Range(start, r.end))
            k.printk(msg.RESERVING_CRASH_AREA.format(mb=(r.end - start) >> 20, base=start))

    # --- registration structure ---

    def rtas_fadump_init_mem_struct(self) -> int:
        """rtas_fadump_init_mem_struct() (rtas-fadump.c, 6.1): CPU state, HPTE and one real-mode region.

        The real-mode region copies [0, boot_memory_size) to the first page boundary behind CPU state and HPTE;
        the crash info header goes right behind the copy (rtas_fadump_update_config()).
        """
        fw, page = self.fw_dump, self.k.page_size
        addr = fw.reserve_dump_area_start & ~(page - 1)

        cpu = requested_section(SectionType.CPU_STATE_DATA, 0, fw.cpu_state_data_size, addr)
        addr += fw.cpu_state_data_size
        hpte = requested_section(SectionType.HPTE_REGION, 0, fw.hpte_region_size, addr)
        addr = align_up(addr + fw.hpte_region_size, page)
        rmr = requested_section(SectionType.REAL_MODE_REGION, 0, fw.boot_memory_size, addr)
        header = Container(dump_format_version=abi.DUMP_FORMAT_VERSION, dump_num_sections=3, dump_status_flag=0,
                           offset_first_dump_section=abi.SECTION_HEADER_SIZE, dd_block_size=0, dd_block_offset=0,
                           dd_num_blocks=0, dd_offset_disk_path=0, max_time_auto=0)
        self.fdm = Container(header=header, sections=[cpu, hpte, rmr])
        fw.boot_mem_dest_addr = addr
        fw.fadumphdr_addr = addr + fw.boot_memory_size
        return fw.fadumphdr_addr

    def boot_memory_contiguous(self) -> bool:
        """is_fadump_boot_mem_contiguous() (fadump.c, 6.1): the one real-mode region spans no hole."""
        return self.k.machine.layout.is_memory(Range(0, self.fw_dump.boot_memory_size))

    # --- the crash info header and the ELF core header, written by this (the first) kernel ---

    def fadump_setup_crash_memory_ranges(self) -> list[Range]:
        """fadump_setup_crash_memory_ranges() (fadump.c, 6.1): the boot regions, then all memory above
        boot_mem_top without the reserved area; adjacent ranges above boot_mem_top fold into one
        (fadump_add_mem_range())."""
        fw = self.fw_dump
        ranges: list[Range] = []

        def add(base: int, end: int) -> None:
            if base == end:
                return
            if ranges and ranges[-1].end == base and ranges[-1].start >= fw.boot_mem_top:
                ranges[-1] = Range(ranges[-1].start, end)
            else:
                ranges.append(Range(base, end))

        for r in fw.boot_mem_regions:
            add(r.start, r.end)
        ra_start, ra_end = fw.reserve_dump_area_start, fw.reserve_dump_area_start + fw.reserve_dump_area_size
        for r in self.memblock_regions():
            start, end = r.start, r.end
            if start < fw.boot_mem_top:
                if end <= fw.boot_mem_top:
                    continue
                start = fw.boot_mem_top
            if ra_start < end and ra_end > start:  # fadump_exclude_reserved_area()
                if start < ra_start:
                    add(start, ra_start)
                if ra_end < end:
                    add(ra_end, end)
            else:
                add(start, end)
        return ranges

    def init_fadump_header(self) -> int:
        """init_fadump_header() (fadump.c, 6.1): FADMPINF, the ELF header's address right behind, crashing_cpu
        unknown and every possible CPU in the mask (PHYP may terminate the LPAR without crash_fadump());
        returns where the ELF core header goes."""
        k, fw = self.k, self.fw_dump
        ks = k.ks
        elfcorehdr = fw.fadumphdr_addr + ks.crash_info_header_old.sizeof()
        fdh = Container(elfcorehdr_addr=elfcorehdr, crashing_cpu=FADUMP_CPU_UNKNOWN,
                        regs=Container({f: 0 for f in ks.pt_regs_fields}),
                        cpu_mask=k.cpumask_bytes([c.id for c in k.machine.cpus]))
        k.ram.write(fw.fadumphdr_addr, ks.crash_info_header_old.build(fdh))
        return elfcorehdr

    def fadump_create_elfcore_headers(self, addr: int, ranges: list[Range]) -> list[Container]:
        """fadump_create_elfcore_headers() (fadump.c, 6.1): Ehdr (e_flags 2 for ELFv2, 1 for ELFv1), a zeroed
        PT_NOTE for the CPU notes, the VMCOREINFO PT_NOTE at its address in the boot-memory copy
        (VMCOREINFO_NOTE_SIZE), then one PT_LOAD per range; a boot region's offset is its place in the copy."""
        k, fw = self.k, self.fw_dump
        ks = k.ks
        note = self.fadump_relocate(k.vmcoreinfo_paddr)
        phdrs = [elfcore.phdr(ks, PT_NOTE),
                 elfcore.phdr(ks, PT_NOTE, p_offset=note, p_paddr=note, p_filesz=k.vmcoreinfo_note_size,
                              p_memsz=k.vmcoreinfo_note_size)]
        boot = fw.boot_mem_regions
        j, offset = 0, 0
        raddr = boot[0].start if boot else None
        for r in ranges:
            p_offset = r.start
            if r.start == raddr:
                p_offset = fw.boot_mem_dest_addr + offset
                if j < len(boot) - 1:
                    offset += boot[j].size
                    j += 1
                    raddr = boot[j].start
            phdrs.append(elfcore.phdr(ks, PT_LOAD, p_offset=p_offset, p_paddr=r.start, p_vaddr=va(r.start),
                                      p_filesz=r.size, p_memsz=r.size, p_flags=PF_R | PF_W | PF_X))
        k.ram.write(addr, elfcore.ehdr(ks, len(phdrs), e_flags=2 if ks.little_endian else 1) + b"".join(phdrs))
        return [ks.elf64_phdr.parse(p) for p in phdrs]

    def register_fadump(self):
        """register_fadump() (fadump.c, 6.1): crash memory ranges, the crash info header, the ELF core header as
        memory is NOW, then rtas_fadump_register(). SimPy steps; -ENODEV without a reservation."""
        fw, k = self.fw_dump, self.k
        if not fw.reserve_dump_area_size:
            return -errno.ENODEV
        ranges = self.fadump_setup_crash_memory_ranges()
        elfcorehdr = self.init_fadump_header()
        phdrs = self.fadump_create_elfcore_headers(elfcorehdr, ranges)
        k.narrate("register_fadump()", SRC,
                  f"the FADMPINF crash info header at {fw.fadumphdr_addr:#x} points at the ELF core header at "
                  f"{elfcorehdr:#x}, built now from the {len(ranges)} memory range(s) this kernel has; memory "
                  "hotplugged later is not in it until the next registration; registering 3 sections",
                  fdm=self.fdm, crash_info_header={"magic_number": "FADMPINF", "elfcorehdr_addr": elfcorehdr},
                  elf_program_headers=[{f: ph[f] for f in ("p_type", "p_offset", "p_paddr", "p_memsz")}
                                       for ph in phdrs])
        return (yield from self.rtas_fadump_register())

    # --- crash ---

    def crash_fadump(self, regs: dict[str, int], reason: str):
        """crash_fadump() (fadump.c, 6.1): crashing CPU, CRASHTIME, registers and the online mask into the
        FADMPINF header, then rtas_fadump_trigger() (ibm,os-term); SimPy steps."""
        fw, k = self.fw_dump, self.k
        if not fw.dump_registered or not fw.fadumphdr_addr:
            return False
        fdh = save_crash_info(k, fw.fadumphdr_addr, k.ks.crash_info_header_old, regs)
        k.narrate("crash_fadump()", SRC, f"CPU {k.crashing_cpu} records itself, its registers and the online CPUs "
                  "in the FADMPINF header, appends CRASHTIME, then triggers firmware through ibm,os-term",
                  crash_info_header={"crashing_cpu": fdh.crashing_cpu, "regs.nip": fdh.regs.nip,
                                     "regs.gpr1": fdh.regs.gpr1})
        return (yield from k.rtas_os_term(reason))

    # --- capture ---

    def fadump_process(self) -> int:
        """rtas_fadump_process() (rtas-fadump.c, 6.1): the dump's status and the FADMPINF magic, the CPU notes
        patched into the first kernel's ELF header; elfcorehdr_addr is that header."""
        fw, k, active = self.fw_dump, self.k, self.fdm_active
        if active is None or not fw.fadumphdr_addr:
            return -errno.EINVAL
        cpu = sections_of(SectionType.CPU_STATE_DATA, active)[0]
        rmr = sections_of(SectionType.REAL_MODE_REGION, active)[0]
        if active.header.dump_status_flag == abi.DumpStatus.ERROR or cpu.error_flags or rmr.error_flags:
            k.printk(msg61.NOT_VALID)
            return -errno.EINVAL
        if rmr.bytes_dumped != rmr.source_len or not cpu.bytes_dumped:
            k.printk(msg61.INCOMPLETE)
            return -errno.EINVAL
        if k.ram.read_u64(fw.fadumphdr_addr, k.byteorder) != FADUMP_CRASH_INFO_MAGIC_OLD:
            k.printk(msg61.HEADER_NOT_VALID)
            return -errno.EINVAL
        rc = self.rtas_fadump_build_cpu_notes(cpu)
        if rc:
            return rc
        ks = k.ks
        fdh = ks.crash_info_header_old.parse(k.ram.read(fw.fadumphdr_addr, ks.crash_info_header_old.sizeof()))
        k.elfcorehdr_addr = fdh.elfcorehdr_addr
        k.narrate("rtas_fadump_process()", RTAS_SRC,
                  f"the dump is valid (status, error flags, bytes dumped, FADMPINF); CPU notes at "
                  f"{fw.cpu_notes_buf:#x} are patched into the first kernel's ELF core header at "
                  f"{fdh.elfcorehdr_addr:#x}, which /proc/vmcore exports as the first kernel wrote it",
                  kernel_dump=active)
        return 0

    def rtas_fadump_build_cpu_notes(self, cpu_section: Container) -> int:
        """rtas_fadump_build_cpu_notes() (rtas-fadump.c, 6.1): one NT_PRSTATUS per CPU of the crash-time mask
        (the crashing CPU's from the header), then fadump_update_elfcore_header()."""
        k, fw, ks = self.k, self.fw_dump, self.k.ks
        fdh = ks.crash_info_header_old.parse(k.ram.read(fw.fadumphdr_addr, ks.crash_info_header_old.sizeof()))
        rc = build_cpu_notes(k, fw, cpu_section, fdh, msg, alloc_failed=msg61.NOTES_ALLOC_FAILED)
        if rc == 0:
            self.fadump_update_elfcore_header(fdh.elfcorehdr_addr)
        return rc

    def fadump_update_elfcore_header(self, elfcorehdr: int) -> None:
        """fadump_update_elfcore_header() (fadump.c, 6.1): the first PT_NOTE, if it is one, now names the notes."""
        k, fw = self.k, self.fw_dump
        at = elfcorehdr + EHDR_SIZE
        ph = k.ks.elf64_phdr.parse(k.ram.read(at, PHDR_SIZE))
        if ph.p_type == PT_NOTE:
            size = fw.cpu_notes_buf_size
            ph.p_paddr = ph.p_offset = fw.cpu_notes_buf
            ph.p_filesz = ph.p_memsz = size
            k.ram.write(at, k.ks.elf64_phdr.build(ph))
