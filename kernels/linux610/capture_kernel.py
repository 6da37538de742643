"""The capture-kernel half of modern fadump (fadump.c and rtas-fadump.c, v6.10).

The capture kernel reads the dump's shape from ibm,kernel-dump, protects the
crashed kernel's memory, checks the crash info header, then builds the ELF core
header itself from the memory it finds now, so memory added or removed before
the crash is described as it was.
"""

import errno

from construct import Container

from emulator.hw.layout import Range, subtract
from emulator.units import align_up
from firmware.abi import SectionType
from firmware.structs import sections_of
from kernels import elfcore
from kernels.image import va
from kernels.linux610 import messages as msg
from kernels.linux610.sysfs import COMMAND_LINE_SIZE
from kernels.regsave_reader import build_cpu_notes
from kernels.structs import (
    EHDR_SIZE, FADUMP_CRASH_INFO_MAGIC, FADUMP_CRASH_INFO_MAGIC_OLD, PF_R, PF_W, PF_X, PHDR_SIZE, PT_LOAD,
    PT_NOTE,
)

KNOWN = (SectionType.CPU_STATE_DATA, SectionType.HPTE_REGION, SectionType.REAL_MODE_REGION)


def swab64(value: int) -> int:
    return int.from_bytes(value.to_bytes(8, "little"), "big")


class CaptureMixin:
    """Dump detection, processing and release, for Fadump610."""

    def rtas_fadump_get_config(self, fdm: Container) -> None:
        """Boot regions, their copy, the reserve start and the header address from the sections."""
        fw, k = self.fw_dump, self.k
        regions, last_end, dest = [], 0, 0
        for s in fdm.sections:
            kind = s.source_data_type
            if kind == SectionType.CPU_STATE_DATA:
                fw.reserve_dump_area_start = s.destination_address
            elif kind == SectionType.HPTE_REGION:
                pass
            elif kind == SectionType.REAL_MODE_REGION:
                if s.source_address == 0:
                    dest = s.destination_address
                regions.append(Range(s.source_address, s.source_address + s.source_len))
                last_end = s.source_address + s.source_len
            elif kind == SectionType.PARAM_AREA:
                fw.param_area = s.destination_address
            else:
                k.printk(msg.SECTION_UNSUPPORTED.format(type=kind))
        fw.boot_mem_regions = regions
        fw.boot_memory_size = sum(r.size for r in regions)
        fw.boot_mem_dest_addr = dest
        fw.boot_mem_top = last_end
        fw.fadumphdr_addr = dest + fw.boot_memory_size

    def fadump_append_bootargs(self) -> str:
        """Append the parameter area's text to the capture kernel's command line (fadump_append_bootargs()).

        snprintf(" %s") and pr_info("Updated cmdline: %s") run whenever a dump is active with a parameter
        area, so an empty area leaves a trailing space. The area is memblock_reserve()d when it lies at or
        above boot_mem_top in 6.10, below it from 6.12 on (Version.param_area_reserved_when_above_top).
        """
        fw, k = self.fw_dump, self.k
        if not fw.dump_active or not fw.param_area_supported or not fw.param_area:
            return k.cmdline
        above = fw.param_area >= fw.boot_mem_top
        if above == k.version.param_area_reserved_when_above_top:
            k.memblock.reserve(Range(fw.param_area, fw.param_area + COMMAND_LINE_SIZE))
        text = k.ram.read(fw.param_area, COMMAND_LINE_SIZE).split(b"\0", 1)[0].decode("ascii", "replace")
        if len(k.cmdline) + len(text) >= COMMAND_LINE_SIZE - 1:
            k.printk(msg.APPEND_TRUNCATED)
        updated = f"{k.cmdline} {text}"[:COMMAND_LINE_SIZE - 1]
        k.printk(msg.UPDATED_CMDLINE.format(cmdline=updated))
        return updated

    def fadump_reserve_crash_area(self, base: int) -> None:
        """Reserve every memory range at or above ``base``: the crashed kernel's memory."""
        k = self.k
        for r in k.memblock.memory:
            if r.end <= base:
                continue
            start = max(r.start, base)
            k.memblock.reserve(Range(start, r.end))
            k.printk(msg.RESERVING_CRASH_AREA.format(mb=(r.end - start) >> 20, base=start))

    # --- fadump_process ---

    def is_fadump_header_compatible(self, fdh_raw: bytes) -> bool:
        k = self.k
        magic = int.from_bytes(fdh_raw[:8], k.byteorder)
        if magic == FADUMP_CRASH_INFO_MAGIC_OLD:
            k.printk(msg.OLD_MAGIC)
            return False
        if magic != FADUMP_CRASH_INFO_MAGIC:
            k.printk(msg.ENDIAN_MISMATCH if magic == swab64(FADUMP_CRASH_INFO_MAGIC) else msg.HEADER_CORRUPTED)
            return False
        pt_regs_sz = int.from_bytes(fdh_raw[0x20:0x24], k.byteorder)
        cpu_mask_sz = int.from_bytes(fdh_raw[0x24:0x28], k.byteorder)
        if pt_regs_sz != k.ks.pt_regs_size or cpu_mask_sz != k.ks.cpumask_size:
            k.printk(msg.HEADER_SIZE_MISMATCH)
            return False
        return True

    def fadump_process(self) -> int:
        """Check the header, build the ELF header, let the platform add CPU notes; set elfcorehdr_addr."""
        fw, k = self.fw_dump, self.k
        if not fw.fadumphdr_addr:
            k.printk(msg.HEADER_EMPTY)
            return -errno.EINVAL
        ks = k.ks
        raw = k.ram.read(fw.fadumphdr_addr, ks.crash_info_header_v1.sizeof())
        if not self.is_fadump_header_compatible(raw):
            return -errno.EINVAL
        fdh = ks.crash_info_header_v1.parse(raw)
        self.fadump_populate_elfcorehdr(fdh)
        rc = self.rtas_fadump_process(fdh)
        if rc < 0:
            return rc
        k.elfcorehdr_addr = fw.elfcorehdr_addr
        k.narrate("fadump_process()", f"arch/powerpc/kernel/fadump.c (v{k.version.release_number})",
                  f"header compatible; the ELF core header is built now, from the memory this kernel sees, at "
                  f"{fw.elfcorehdr_addr:#x}; CPU notes at {fw.cpu_notes_buf:#x}", kernel_dump=self.fdm_active)
        return 0

    def fadump_populate_elfcorehdr(self, fdh: Container) -> None:
        """PT_NOTE placeholder, VMCOREINFO, boot regions (read from the copy), then the rest of memory now."""
        fw, k = self.fw_dump, self.k
        ks = k.ks
        rwx = PF_R | PF_W | PF_X
        phdrs = [elfcore.phdr(ks, PT_NOTE),
                 elfcore.phdr(ks, PT_NOTE, p_offset=fdh.vmcoreinfo_raddr, p_paddr=fdh.vmcoreinfo_raddr,
                              p_filesz=fdh.vmcoreinfo_size, p_memsz=fdh.vmcoreinfo_size)]
        offset = 0
        for r in fw.boot_mem_regions:
            phdrs.append(elfcore.phdr(ks, PT_LOAD, p_offset=fw.boot_mem_dest_addr + offset, p_paddr=r.start,
                                      p_vaddr=va(r.start), p_filesz=r.size, p_memsz=r.size, p_flags=rwx))
            offset += r.size
        area = Range(fw.reserve_dump_area_start, fw.reserve_dump_area_start + self.get_fadump_area_size())
        for r in k.machine.layout.memblock_memory():
            if r.end <= fw.boot_mem_top:
                continue
            for piece in subtract([Range(max(r.start, fw.boot_mem_top), r.end)], area):
                phdrs.append(elfcore.phdr(ks, PT_LOAD, p_offset=piece.start, p_paddr=piece.start,
                                          p_vaddr=va(piece.start), p_filesz=piece.size, p_memsz=piece.size,
                                          p_flags=rwx))
        raw = elfcore.ehdr(ks, len(phdrs), e_flags=2 if ks.little_endian else 1) + b"".join(phdrs)
        fw.elfcorehdr_size = align_up(EHDR_SIZE + PHDR_SIZE * (2 + len(fw.boot_mem_regions)
                                                               + len(k.memblock.memory)), k.page_size)
        fw.elfcorehdr_addr = k.alloc_pages(max(fw.elfcorehdr_size, len(raw)))
        k.ram.write(fw.elfcorehdr_addr, raw)

    def rtas_fadump_process(self, fdh: Container) -> int:
        """Validate every section (strict bytes_dumped), then build the CPU notes."""
        k, fw = self.k, self.fw_dump
        for i, s in enumerate(self.fdm_active.sections):
            kind = s.source_data_type
            if kind in KNOWN:
                bad = False
                if s.error_flags:
                    k.printk(msg.NOT_VALID.format(i=i))
                    bad = True
                if s.bytes_dumped != s.source_len:
                    k.printk(msg.INCOMPLETE.format(i=i))
                    bad = True
                if bad:
                    k.printk(msg.REGION_INFO.format(type=kind, src=s.source_address, dest=s.destination_address))
                    return -errno.EINVAL
            elif kind == SectionType.PARAM_AREA:
                if s.bytes_dumped != s.source_len or s.error_flags:
                    k.printk(msg.PARAM_FAILED)
                    fw.param_area = 0
            else:
                k.printk(msg.UNKNOWN_REGION.format(type=kind, src=s.source_address, dest=s.destination_address))
        cpu = sections_of(SectionType.CPU_STATE_DATA, self.fdm_active)[0]
        rc = build_cpu_notes(k, fw, cpu, fdh, msg)
        if rc:
            return rc
        size = fw.cpu_notes_buf_size
        k.ram.write(fw.elfcorehdr_addr + EHDR_SIZE, elfcore.phdr(k.ks, PT_NOTE, p_offset=fw.cpu_notes_buf,
                                                                  p_paddr=fw.cpu_notes_buf, p_filesz=size,
                                                                  p_memsz=size))
        return 0

    # --- release ---

    def fadump_invalidate_release_mem(self):
        """Invalidate, free the elfcorehdr and notes, give memory back, rebuild fdm for re-registration (SimPy
        steps)."""
        fw = self.fw_dump
        if not fw.dump_active:
            return
        yield from self.fadump_cleanup()
        self.k.elfcorehdr_addr = None
        self.fadump_release_memory(fw.boot_mem_top, self.k.machine.layout.end_of_dram)
        fw.cpu_notes_buf = fw.cpu_notes_buf_size = 0
        self.rtas_fadump_init_mem_struct()

    def fadump_release_memory(self, begin: int, end: int) -> None:
        """Free [begin, end) except the dump area kept for re-registration, chunk by chunk."""
        fw, k = self.fw_dump, self.k
        fw.reserve_dump_area_size = self.get_fadump_area_size()
        keep = Range(fw.reserve_dump_area_start, fw.reserve_dump_area_start + fw.reserve_dump_area_size)
        freed = subtract([Range(begin, end)], keep)
        page = k.page_size
        for r in freed:  # fadump_free_reserved_memory() prints PFN_PHYS(PHYS_PFN(x)): page-aligned down
            k.printk(msg.FREEING.format(start=r.start - r.start % page, end=r.end - r.end % page))
        for r in freed:
            k.memblock.reserved = subtract(k.memblock.reserved, r)
        k.memblock.reserve(keep)
        k.use_freed_memory([r for r in freed if k.machine.layout.is_memory(Range(r.start, r.start + 1))])
