"""Big-endian firmware structures of fadump, declared once with construct.

Layouts: LoPAR ``sec_rtas_configure_kernel_dump.xml`` ("Kernel Assisted Dump
Memory Structure") and ``app_firmware_dump.xml`` ("Firmware Assisted Dump Data
Format"); Linux ``rtas-fadump.h``. All fields are big-endian, whatever the
kernel's endianness.
"""

from construct import (
    Array,
    Bytes,
    Const,
    Container,
    Int16ub,
    Int32ub,
    Int64ub,
    Padding,
    Struct,
    this,
)

from firmware import abi

SectionHeader = Struct(
    "dump_format_version" / Int32ub,
    "dump_num_sections" / Int16ub,
    "dump_status_flag" / Int16ub,
    "offset_first_dump_section" / Int32ub,
    "dd_block_size" / Int32ub,
    "dd_block_offset" / Int64ub,
    "dd_num_blocks" / Int64ub,
    "dd_offset_disk_path" / Int32ub,
    "max_time_auto" / Int32ub,
)
"""struct rtas_fadump_section_header (LoPAR: 40 bytes, no padding)."""

Section = Struct(
    "request_flag" / Int32ub,
    "source_data_type" / Int16ub,
    "error_flags" / Int16ub,
    "source_address" / Int64ub,
    "source_len" / Int64ub,
    "bytes_dumped" / Int64ub,
    "destination_address" / Int64ub,
)
"""struct rtas_fadump_section (LoPAR: 40 bytes)."""

DumpMemStruct = Struct(
    "header" / SectionHeader,
    "sections" / Array(this.header.dump_num_sections, Section),
)
"""Header plus dump_num_sections sections, as firmware reads it.

The kernel's own array size (3 named members up to 6.9, rgn[10] from 6.10) is a
kernel matter; firmware only ever looks at the sections the header counts.
"""

RegSaveHeader = Struct(
    "magic_number" / Const(abi.REGSAVE_MAGIC),
    "version" / Int32ub,
    "num_cpu_offset" / Int32ub,
)
"""Start of the Register Save Area; NumCpus sits at num_cpu_offset (LoPAR 0x1C)."""

RegEntry = Struct(
    "reg_id" / Int64ub,
    "reg_value" / Int64ub,
)
"""One 16-byte RegEntry: 8-byte ASCII id, 8-byte value (4-byte entries: 0 then value)."""

RegSaveLoPAR = Struct(
    "header" / RegSaveHeader,
    Padding(abi.REGSAVE_NUM_CPU_OFFSET_LOPAR - RegSaveHeader.sizeof()),
    "num_cpus" / Int32ub,
)
"""LoPAR's register save area prologue: 12 zero bytes of padding, NumCpus at 0x1C."""

HpteSaveHeader = Struct(
    "magic_number" / Const(b"HPTESAVE"),
    "version" / Int32ub,
    "num_entries_offset" / Int32ub,
    "reserved" / Bytes(0x10),
)
"""HPTESAVE prologue (LoPAR); unused while the HPTE section is advertised as 0 bytes."""


def overlap_destination(mem: Container) -> Container:
    """A copy of ``mem`` whose first boot-memory section copies onto its own source (a kernel bug)."""
    bad = DumpMemStruct.parse(DumpMemStruct.build(mem))
    for s in bad.sections:
        if s.source_data_type == abi.SectionType.REAL_MODE_REGION:
            s.destination_address = s.source_address + 0x0200_0000
            break
    return bad


def requested_section(kind: int, source: int, length: int, destination: int) -> Container:
    """One section as a kernel asks for it at registration: the request flag set, nothing dumped yet."""
    return Container(request_flag=abi.REQUEST_FLAG, source_data_type=kind, error_flags=0, source_address=source,
                     source_len=length, bytes_dumped=0, destination_address=destination)


def sections_of(kind: int, mem: Container) -> list[Container]:
    """The sections of a parsed DumpMemStruct whose source_data_type is ``kind``."""
    return [s for s in mem.sections if s.source_data_type == kind]
