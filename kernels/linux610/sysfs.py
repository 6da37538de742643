"""/sys/kernel/fadump/* and debugfs powerpc/fadump_region of a modern (6.10) kernel."""

import errno

from firmware.abi import SectionType
from kernels.linux610 import messages as msg

COMMAND_LINE_SIZE = 2048


def kstrtoint(text: str) -> int | None:
    """kstrtoint(buf, 0, ...): one integer (base prefix allowed), an optional trailing newline."""
    body = text[:-1] if text.endswith("\n") else text
    try:
        return int(body, 0)
    except ValueError:
        return None


class SysfsMixin:
    """The sysfs show/store handlers, for Fadump610."""

    def enabled_show(self) -> str:
        return f"{int(self.fw_dump.fadump_enabled)}\n"

    def registered_show(self) -> str:
        return f"{int(self.fw_dump.dump_registered)}\n"

    def mem_reserved_show(self) -> str:
        return f"{self.fw_dump.reserve_dump_area_size}\n"

    def hotplug_ready_show(self) -> str:
        return "1\n"

    def registered_store(self, buf: str):
        """0 unregisters (no-op when not registered); 1 (re-)registers; -EPERM with a dump active. SimPy steps.

        registered_store() (fadump.c, v6.10) returns register_fadump()'s error as is: -ENODEV without a
        reservation, -EIO for an RTAS hardware or unknown error, -EINVAL, -EEXIST.
        """
        fw = self.fw_dump
        if not fw.fadump_enabled or fw.dump_active:
            return -errno.EPERM
        value = kstrtoint(buf)
        if value == 0:
            if fw.dump_registered:
                yield from self.rtas_fadump_unregister()
        elif value == 1:
            if fw.dump_registered:
                yield from self.rtas_fadump_unregister()
            rc = yield from self.register_fadump()
            if rc < 0:
                return rc
        else:
            return -errno.EINVAL
        return len(buf)

    def release_mem_store(self, buf: str):
        """release_mem_store() (fadump.c, v6.10): SimPy steps (it invalidates); count or -errno."""
        if not self.fw_dump.dump_active:
            return -errno.EPERM
        if kstrtoint(buf) != 1:
            return -errno.EINVAL
        self.k.vmcore_cleanup()
        yield from self.fadump_invalidate_release_mem()
        return len(buf)  # release_mem_store() (6.10) removes no file: release_mem and its symlink stay

    def bootargs_append_show(self) -> str:
        text = self.k.ram.read(self.fw_dump.param_area, COMMAND_LINE_SIZE).split(b"\0", 1)[0]
        return text.decode("ascii", "replace") + "\n"

    def bootargs_append_store(self, buf: str) -> int:
        fw, k = self.fw_dump, self.k
        if not fw.fadump_enabled or fw.dump_active:
            return -errno.EPERM
        if len(buf) >= COMMAND_LINE_SIZE:
            return -errno.EINVAL
        if len(k.cmdline) + len(buf) >= COMMAND_LINE_SIZE:
            k.printk(msg.APPEND_TOO_LONG)
            return -errno.ENOSPC
        text = buf[:-1] if buf.endswith("\n") else buf
        k.ram.write(fw.param_area, text.encode().ljust(COMMAND_LINE_SIZE, b"\0"))
        return len(buf)

    def fadump_region_show(self) -> str:
        """The ≥5.5 pSeries format, one line per rgn, then the preserved-area line when active."""
        fw = self.fw_dump
        if not fw.fadump_enabled:
            return ""
        fdm = self.fdm_active if self.fdm_active is not None else self.fdm
        if fdm is None:
            return ""
        out = ""
        for s in fdm.sections:
            d, n, kind = s.destination_address, s.source_len, s.source_data_type
            if kind == SectionType.CPU_STATE_DATA:
                out += f"CPU :[{d:#016x}-{d + n - 1:#016x}] {n:#x} bytes, Dumped: {s.bytes_dumped:#x}\n"
            elif kind == SectionType.HPTE_REGION:
                out += f"HPTE:[{d:#016x}-{d + n - 1:#016x}] {n:#x} bytes, Dumped: {s.bytes_dumped:#x}\n"
            elif kind == SectionType.REAL_MODE_REGION:
                out += (f"DUMP: Src: {s.source_address:#016x}, Dest: {d:#016x}, "
                        f"Size: {n:#x}, Dumped: {s.bytes_dumped:#x} bytes\n")
            elif kind == SectionType.PARAM_AREA:
                text = self.k.ram.read(d, n).split(b"\0", 1)[0].decode("ascii", "replace")
                out += f"\n[{d:#016x}-{d + n - 1:#016x}]: cmdline append: '{text}'\n"
            else:
                out += f"Unknown region type {kind} : Src: {s.source_address:#016x}, Dest: {d:#016x}, "
        if self.fdm_active is not None:
            out += f"\nMemory above {fw.boot_mem_top:#016x} is reserved for saving crash dump\n"
        return out
