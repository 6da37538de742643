"""Numbers of the firmware-assisted dump ABI (PAPR/LoPAR and Linux's view of it).

Every value cites where it comes from; the layouts that use them are in
``firmware.structs``.
"""

from enum import IntEnum

# --- ibm,configure-kernel-dump (LoPAR sec_rtas_configure_kernel_dump.xml) ---


class DumpCommand(IntEnum):
    """First input of ibm,configure-kernel-dump (asm/fadump.h in 3.4)."""

    REGISTER = 1
    UNREGISTER = 2
    INVALIDATE = 3


class RtasStatus(IntEnum):
    """RTAS status words as LoPAR's status table and Linux read them.

    LoPAR contradicts itself on -8/-9/-10 (table vs. R1-4/R1-5); we follow the
    table, which is also what Linux (-9 = "already registered") and QEMU use.
    """

    SUCCESS = 0
    HARDWARE_ERROR = -1
    BUSY = -2
    PARAMETER_ERROR = -3
    DUMP_ALREADY_REGISTERED = -9
    DUMP_ACTIVE = -10


EXTENDED_DELAY_MIN = 9900
"""990x: extended delay, retry after 10**(rc-9900) ms (rtas_busy_delay_time)."""
EXTENDED_DELAY_MAX = 9905


def busy_delay_ms(status: int) -> float:
    """How long Linux's rtas_busy_delay_time() waits before retrying; 0 = not busy."""
    if status == RtasStatus.BUSY:
        return 1.0
    if EXTENDED_DELAY_MIN <= status <= EXTENDED_DELAY_MAX:
        return float(10 ** (status - EXTENDED_DELAY_MIN))
    return 0.0


class SectionType(IntEnum):
    """source_data_type of a dump section (LoPAR; RTAS_FADUMP_* in rtas-fadump.h)."""

    CPU_STATE_DATA = 0x0001
    HPTE_REGION = 0x0002
    REAL_MODE_REGION = 0x0011
    OS_IDENTIFIED_STRING = 0x0012
    PARAM_AREA = 0x0100


REQUEST_FLAG = 0x00000001
"""request_flag: firmware copies source to partition memory (mandatory without disk)."""

DUMP_FORMAT_VERSION = 0x00000001
MAX_SECTIONS = 10
"""'up to nine additional 40 bytes sections' after the first (LoPAR)."""
MAX_STRUCT_BYTES = 512
"""The whole structure may not exceed 512 bytes for version 1 (LoPAR)."""
SECTION_HEADER_SIZE = 0x28
SECTION_SIZE = 0x28


class DumpStatus(IntEnum):
    """Header dump_status_flag bits (LoPAR; QEMU spapr_fadump.h)."""

    PERFORMED = 0x8000
    TRIGGERED = 0x4000
    ERROR = 0x2000


class SectionError(IntEnum):
    """Section error_flags bits (LoPAR)."""

    INVALID_DATA_TYPE = 0x8000
    INVALID_SOURCE_ADDR = 0x4000
    LENGTH_EXCEEDS_SOURCE = 0x2000
    INVALID_DEST_ADDR = 0x1000
    DEST_TOO_SMALL = 0x0800


# --- Register save area (LoPAR app_firmware_dump.xml) ---

REGSAVE_MAGIC = b"REGSAVE\0"
REGSAVE_NUM_CPU_OFFSET_LOPAR = 0x1C
"""LoPAR: NumCpus at 0x1C after 12 bytes of zeroed padding; entries from 0x20."""
REGSAVE_NUM_CPU_OFFSET_QEMU = 0x10
"""QEMU's variant: NumCpus at 0x10, entries from 0x14."""
REGSAVE_ENTRY_SIZE = 16
CPU_ID_MASK = 0xFFFFFFFF
"""RTAS_FADUMP_CPU_ID_MASK: low word of CPUSTRT/CPUEND is the logical CPU id."""


def reg_id(name: str) -> int:
    """Pack an ASCII register id MSB-first into a u64, zero-filled (fadump_str_to_u64)."""
    raw = name.encode("ascii")
    if len(raw) > 8:
        raise ValueError(f"register id {name!r} is longer than 8 bytes")
    return int.from_bytes(raw.ljust(8, b"\0"), "big")


def reg_name(value: int) -> str:
    """The ASCII id packed in a u64 register id (the inverse of reg_id)."""
    return value.to_bytes(8, "big").rstrip(b"\0").decode("ascii", "replace")


# --- Device tree (LoPAR app_papr_binding.xml) ---

DT_CONFIGURE_KERNEL_DUMP = "ibm,configure-kernel-dump"
DT_CONFIGURE_KERNEL_DUMP_SIZES = "ibm,configure-kernel-dump-sizes"
DT_CONFIGURE_KERNEL_DUMP_VERSION = "ibm,configure-kernel-dump-version"
DT_KERNEL_DUMP = "ibm,kernel-dump"
DT_OS_TERM = "ibm,os-term"
DT_EXTENDED_OS_TERM = "ibm,extended-os-term"
