"""/sys/kernel/fadump_* and debugfs powerpc/fadump_region of a 3.4 kernel."""

import errno

from firmware.abi import SectionType
from firmware.structs import sections_of


class SysfsMixin:
    """The sysfs show/store handlers, for Fadump34."""

    def fadump_enabled_show(self) -> str:
        return f"{int(self.fw_dump.fadump_enabled)}\n"

    def fadump_register_show(self) -> str:
        return f"{int(self.fw_dump.dump_registered)}\n"

    def fadump_register_store(self, buf: str):
        """fadump_register_store() (fadump.c, v3.4): SimPy steps (it reaches firmware); count or -errno."""
        fw = self.fw_dump
        if not fw.fadump_enabled or self.fdm_active is not None:
            return -errno.EPERM
        first = buf[:1]
        if first == "0":
            if not fw.dump_registered:
                return -errno.EINVAL
            yield from self.fadump_unregister_dump()
        elif first == "1":
            if fw.dump_registered:
                return -errno.EINVAL
            yield from self.register_fadump()
        else:
            return -errno.EINVAL
        return len(buf)

    def fadump_release_memory_store(self, buf: str):
        """fadump_release_memory_store() (fadump.c, v3.4): SimPy steps (it invalidates); count or -errno."""
        if not self.fw_dump.dump_active:
            return -errno.EPERM
        if buf[:1] != "1":
            return -errno.EINVAL
        self.k.vmcore_cleanup()
        yield from self.fadump_invalidate_release_mem()
        return len(buf)

    def fadump_region_show(self) -> str:
        """debugfs powerpc/fadump_region in the 3.4 to 5.4 format."""
        fw = self.fw_dump
        if not fw.fadump_enabled:
            return ""
        fdm = self.fdm_active if self.fdm_active is not None else self.fdm
        if fdm is None:
            return ""
        cpu, hpte, rmr = (sections_of(t, fdm)[0] for t in
                          (SectionType.CPU_STATE_DATA, SectionType.HPTE_REGION, SectionType.REAL_MODE_REGION))
        out = ""
        for label, s in (("CPU ", cpu), ("HPTE", hpte), ("DUMP", rmr)):
            d = s.destination_address
            out += f"{label}: [{d:#016x}-{d + s.source_len - 1:#016x}] {s.source_len:#x} bytes, Dumped: {s.bytes_dumped:#x}\n"
        if self.fdm_active is None or fw.reserve_dump_area_start == cpu.destination_address:
            return out
        size = cpu.destination_address - fw.reserve_dump_area_start
        out += (f"    : [{fw.reserve_dump_area_start:#016x}-{cpu.destination_address - 1:#016x}] "
                f"{size:#x} bytes, Dumped: {size:#x}\n")
        return out
