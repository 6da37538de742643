"""The capture-kernel half of arch/powerpc/kernel/fadump.c (v3.4).

process_fadump() validates what firmware left, fadump_build_cpu_notes() turns the
register save area into ELF notes and patches the first kernel's ELF header in
old memory; release gives the preserved memory back.
"""

import errno

from construct import Container

from emulator.hw.layout import Range, subtract
from firmware import abi
from kernels import elfcore
from kernels.linux34 import messages as msg
from kernels.regsave_reader import build_cpu_notes
from kernels.structs import EHDR_SIZE, FADUMP_CRASH_INFO_MAGIC_OLD, PHDR_SIZE, PT_NOTE


class CaptureMixin:
    """fadump_process and release, for Fadump34 (needs self.k, fw_dump, fdm_active)."""

    def process_fadump(self) -> int:
        """Validate the dump and the crash info header, build CPU notes, set elfcorehdr_addr."""
        fw, k, active = self.fw_dump, self.k, self.fdm_active
        if active is None or not fw.fadumphdr_addr:
            return -errno.EINVAL
        cpu, rmr = self._active_cpu(), self._active_rmr()
        if active.header.dump_status_flag == abi.DumpStatus.ERROR or cpu.error_flags or rmr.error_flags:
            k.printk(msg.NOT_VALID)
            return -errno.EINVAL
        if rmr.bytes_dumped != rmr.source_len or not cpu.bytes_dumped:
            k.printk(msg.INCOMPLETE)
            return -errno.EINVAL
        magic = k.ram.read_u64(fw.fadumphdr_addr, k.byteorder)
        if magic != FADUMP_CRASH_INFO_MAGIC_OLD:
            k.printk(msg.HEADER_NOT_VALID)
            return -errno.EINVAL
        rc = self.fadump_build_cpu_notes(cpu)
        if rc:
            return rc
        fdh = k.ks.crash_info_header_old.parse(k.ram.read(fw.fadumphdr_addr, k.ks.crash_info_header_old.sizeof()))
        k.elfcorehdr_addr = fdh.elfcorehdr_addr
        k.narrate("process_fadump()", "arch/powerpc/kernel/fadump.c (v3.4)",
                  f"the dump is valid (status, error flags, bytes dumped, FADMPINF); CPU notes built at "
                  f"{fw.cpu_notes_buf:#x}; the first kernel's ELF header at {fdh.elfcorehdr_addr:#x} is patched "
                  "and handed to /proc/vmcore", kernel_dump=self.fdm_active)
        return 0

    def fadump_build_cpu_notes(self, cpu_section: Container) -> int:
        """Turn the register save area into one NT_PRSTATUS note per CPU in the crash-time mask."""
        k, fw, ks = self.k, self.fw_dump, self.k.ks
        fdh = ks.crash_info_header_old.parse(k.ram.read(fw.fadumphdr_addr, ks.crash_info_header_old.sizeof()))
        rc = build_cpu_notes(k, fw, cpu_section, fdh, msg)
        if rc == 0:
            self.fadump_update_elfcore_header(fdh.elfcorehdr_addr)
        return rc

    def fadump_update_elfcore_header(self, elfcorehdr: int) -> None:
        """Point the first PT_NOTE (the placeholder) at the CPU notes buffer."""
        ks, k = self.k.ks, self.k
        at = elfcorehdr + EHDR_SIZE
        ph = ks.elf64_phdr.parse(k.ram.read(at, PHDR_SIZE))
        if ph.p_type == PT_NOTE:
            size = self.fw_dump.cpu_notes_buf_size
            k.ram.write(at, elfcore.phdr(ks, PT_NOTE, p_offset=self.fw_dump.cpu_notes_buf,
                                          p_paddr=self.fw_dump.cpu_notes_buf, p_filesz=size, p_memsz=size))

    def fadump_invalidate_release_mem(self):
        """Invalidate the dump, give the old memory back, keep the area for re-registration (SimPy steps)."""
        fw = self.fw_dump
        if not fw.dump_active:
            return
        destination = self._active_cpu().destination_address
        yield from self.fadump_cleanup()
        old = Range(fw.reserve_dump_area_start, fw.reserve_dump_area_start + fw.reserve_dump_area_size)
        fw.reserve_dump_area_start = destination
        fw.reserve_dump_area_size = self.get_fadump_area_size()
        self.fadump_release_memory(old)
        fw.cpu_notes_buf = fw.cpu_notes_buf_size = 0
        self.init_fadump_mem_struct(fw.reserve_dump_area_start)

    def fadump_release_memory(self, old: Range) -> None:
        """Free every page of ``old`` except the (new) dump reserve area."""
        fw, k = self.fw_dump, self.k
        keep = Range(fw.reserve_dump_area_start, fw.reserve_dump_area_start + fw.reserve_dump_area_size)
        k.memblock.reserved = subtract(k.memblock.reserved, old)
        k.memblock.reserve(keep)
        k.heap_limit = k.machine.layout.end_of_dram
        k.use_freed_memory(subtract([old], keep))

