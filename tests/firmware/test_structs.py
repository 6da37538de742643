"""Tests for firmware.structs: the big-endian RTAS fadump structures (ABI reference §1.1, §1.4)."""

import pytest
from construct import ConstError, ConstructError, StreamError
from hypothesis import given
from hypothesis import strategies as st

from firmware import abi
from firmware.structs import (
    DumpMemStruct,
    HpteSaveHeader,
    RegEntry,
    RegSaveHeader,
    RegSaveLoPAR,
    Section,
    requested_section,
    SectionHeader,
    sections_of,
)

# struct rtas_fadump_section_header with a distinct value in every field
HEADER_BYTES = bytes.fromhex(
    "00000001"  # dump_format_version = 1
    "0003"  # dump_num_sections = 3
    "c000"  # dump_status_flag = DUMP_PERFORMED | DUMP_TRIGGERED
    "00000028"  # offset_first_dump_section = 0x28
    "11223344"  # dd_block_size
    "0102030405060708"  # dd_block_offset
    "1112131415161718"  # dd_num_blocks
    "21222324"  # dd_offset_disk_path
    "31323334"  # max_time_auto
)
HEADER_FIELDS = dict(
    dump_format_version=1,
    dump_num_sections=3,
    dump_status_flag=0xC000,
    offset_first_dump_section=0x28,
    dd_block_size=0x11223344,
    dd_block_offset=0x0102030405060708,
    dd_num_blocks=0x1112131415161718,
    dd_offset_disk_path=0x21222324,
    max_time_auto=0x31323334,
)


def section_bytes(kind: int, src: int, length: int, dumped: int, dest: int, error: int = 0) -> bytes:
    """A big-endian struct rtas_fadump_section with request_flag = 1."""
    return (
        (1).to_bytes(4, "big")  # request_flag = RTAS_FADUMP_REQUEST_FLAG
        + kind.to_bytes(2, "big")  # source_data_type
        + error.to_bytes(2, "big")  # error_flags
        + src.to_bytes(8, "big")  # source_address
        + length.to_bytes(8, "big")  # source_len
        + dumped.to_bytes(8, "big")  # bytes_dumped
        + dest.to_bytes(8, "big")  # destination_address
    )


# A boot-memory (real-mode region) section: copy [0, 320 MiB) to 0x70010000, fully dumped, error 0x1000
RMR_SECTION_BYTES = bytes.fromhex(
    "00000001"  # request_flag = RTAS_FADUMP_REQUEST_FLAG
    "0011"  # source_data_type = REAL_MODE_REGION
    "1000"  # error_flags = INVALID_DEST_ADDR
    "0000000000000000"  # source_address = 0
    "0000000014000000"  # source_len = 320 MiB
    "0000000014000000"  # bytes_dumped = 320 MiB
    "0000000070010000"  # destination_address
)


# --- section header ---


def test_section_header_is_40_bytes():
    """struct rtas_fadump_section_header is 0x28 bytes with no padding."""
    assert SectionHeader.sizeof() == 40 == abi.SECTION_HEADER_SIZE


def test_section_header_parses_every_field_at_its_abi_offset():
    """Each header field is read big-endian from its documented offset."""
    assert SectionHeader.parse(HEADER_BYTES) == HEADER_FIELDS


def test_section_header_round_trips_known_bytes():
    """Parsing known header bytes and building the result gives the same bytes."""
    assert SectionHeader.build(SectionHeader.parse(HEADER_BYTES)) == HEADER_BYTES


# --- section ---


def test_section_is_40_bytes():
    """struct rtas_fadump_section is 0x28 bytes."""
    assert Section.sizeof() == 40 == abi.SECTION_SIZE


def test_section_parses_every_field_at_its_abi_offset():
    """Each section field is read big-endian from its documented offset."""
    assert Section.parse(RMR_SECTION_BYTES) == dict(
        request_flag=abi.REQUEST_FLAG,
        source_data_type=abi.SectionType.REAL_MODE_REGION,
        error_flags=abi.SectionError.INVALID_DEST_ADDR,
        source_address=0,
        source_len=320 << 20,
        bytes_dumped=320 << 20,
        destination_address=0x70010000,
    )


def test_section_round_trips_known_bytes():
    """Parsing known section bytes and building the result gives the same bytes."""
    assert Section.build(Section.parse(RMR_SECTION_BYTES)) == RMR_SECTION_BYTES


def test_section_builds_big_endian_whatever_the_host():
    """A built section stores the 2-byte type as 00 11, most significant byte first."""
    raw = Section.build(dict(request_flag=1, source_data_type=0x11, error_flags=0, source_address=0,
                             source_len=0, bytes_dumped=0, destination_address=0))
    assert raw[:8] == bytes.fromhex("00000001" "0011" "0000")  # request_flag 1, type 0x0011, no errors


def test_section_rejects_short_input_with_a_construct_error():
    """Fewer than 40 bytes cannot be parsed as a section."""
    with pytest.raises(StreamError):
        Section.parse(RMR_SECTION_BYTES[:39])


@given(
    fields=st.fixed_dictionaries(
        dict(
            request_flag=st.integers(0, 2**32 - 1),
            source_data_type=st.integers(0, 2**16 - 1),
            error_flags=st.integers(0, 2**16 - 1),
            source_address=st.integers(0, 2**64 - 1),
            source_len=st.integers(0, 2**64 - 1),
            bytes_dumped=st.integers(0, 2**64 - 1),
            destination_address=st.integers(0, 2**64 - 1),
        )
    )
)
def test_any_section_survives_build_then_parse(fields):
    """Building any in-range field values and parsing the 40 bytes back gives the same values."""
    raw = Section.build(fields)
    assert len(raw) == 40
    assert Section.parse(raw) == fields
    assert raw[8:16] == fields["source_address"].to_bytes(8, "big")


# --- whole dump memory structure ---

# The 3.4 to 6.9 layout: header with 3 sections, then CPU state, HPTE and RMR sections
FDM_BYTES = (
    bytes.fromhex(
        "00000001"  # dump_format_version = 1
        "0003"  # dump_num_sections = 3
        "0000"  # dump_status_flag = 0 (not yet dumped)
        "00000028"  # offset_first_dump_section = 0x28
        + "00" * 28  # dd_* fields and max_time_auto all zero
    )
    + section_bytes(abi.SectionType.CPU_STATE_DATA, 0, 0x1000, 0, 0x70000000)  # CPU state data, 4 KiB
    + section_bytes(abi.SectionType.HPTE_REGION, 0, 0, 0, 0x70001000)  # HPTE region, empty
    + section_bytes(abi.SectionType.REAL_MODE_REGION, 0, 320 << 20, 0, 0x70010000)  # boot memory
)


def test_dump_mem_struct_of_three_sections_is_160_bytes_and_round_trips():
    """A 3-section structure is 40 + 3*40 bytes and builds back to the same bytes."""
    assert len(FDM_BYTES) == 160
    parsed = DumpMemStruct.parse(FDM_BYTES)
    assert [s.source_data_type for s in parsed.sections] == [0x0001, 0x0002, 0x0011]
    assert DumpMemStruct.build(parsed) == FDM_BYTES


def test_dump_mem_struct_reads_only_as_many_sections_as_the_header_counts():
    """Trailing unused rgn[] slots (6.10's 10-entry array) are not read as sections."""
    padded = FDM_BYTES + bytes(7 * 40)  # rgn[3..9] left zero, as in a 440-byte kernel struct
    parsed = DumpMemStruct.parse(padded)
    assert len(parsed.sections) == 3
    assert DumpMemStruct.build(parsed) == FDM_BYTES


def test_sections_of_picks_sections_by_type_not_position():
    """sections_of returns every section with the requested source_data_type, in order."""
    parsed = DumpMemStruct.parse(FDM_BYTES)
    rmr = sections_of(abi.SectionType.REAL_MODE_REGION, parsed)
    assert [s.destination_address for s in rmr] == [0x70010000]
    assert sections_of(abi.SectionType.PARAM_AREA, parsed) == []


# --- register save area ---

# QEMU's register save area prologue: "REGSAVE\0", version 0, NumCpus at offset 0x10
REGSAVE_QEMU_BYTES = bytes.fromhex(
    "5245475341564500"  # magic_number = "REGSAVE\0"
    "00000000"  # version = 0
    "00000010"  # num_cpu_offset = 0x10
)


def test_regsave_header_is_16_bytes_and_round_trips():
    """The REGSAVE prologue is magic, version and num_cpu_offset, and builds back identically."""
    assert RegSaveHeader.sizeof() == 16
    parsed = RegSaveHeader.parse(REGSAVE_QEMU_BYTES)
    assert parsed.num_cpu_offset == abi.REGSAVE_NUM_CPU_OFFSET_QEMU
    assert RegSaveHeader.build(parsed) == REGSAVE_QEMU_BYTES


def test_regsave_header_builds_its_magic_without_being_told():
    """The Const magic is filled in by build, so only version and offset need giving."""
    assert RegSaveHeader.build(dict(version=0, num_cpu_offset=0x10)) == REGSAVE_QEMU_BYTES


def test_regsave_header_rejects_a_wrong_magic():
    """Bytes not starting with "REGSAVE\\0" fail to parse with a ConstError."""
    bad = b"REGSAVF\0" + REGSAVE_QEMU_BYTES[8:]  # last magic letter changed
    with pytest.raises(ConstError):
        RegSaveHeader.parse(bad)


def test_regsave_lopar_prologue_puts_num_cpus_at_0x1c_after_zero_padding():
    """LoPAR's prologue is 0x20 bytes: the header, 12 zero bytes, then NumCpus at 0x1C."""
    raw = (
        bytes.fromhex("5245475341564500" "00000001" "0000001c")  # "REGSAVE\0", version 1, num_cpu_offset 0x1C
        + bytes(12)  # padding
        + bytes.fromhex("00000004")  # NumCpus = 4
    )
    assert RegSaveLoPAR.sizeof() == 0x20
    parsed = RegSaveLoPAR.parse(raw)
    assert parsed.header.num_cpu_offset == abi.REGSAVE_NUM_CPU_OFFSET_LOPAR
    assert parsed.num_cpus == 4
    assert RegSaveLoPAR.build(parsed) == raw


def test_reg_entry_is_an_ascii_id_and_a_value_both_big_endian():
    """A 16-byte RegEntry holds the MSB-first ASCII id then the value."""
    raw = bytes.fromhex(
        "4350555354525400"  # reg_id = "CPUSTRT\0"
        "0000000000000005"  # reg_value = logical CPU 5
    )
    assert RegEntry.sizeof() == abi.REGSAVE_ENTRY_SIZE == 16
    parsed = RegEntry.parse(raw)
    assert parsed.reg_id == abi.reg_id("CPUSTRT") == 0x4350555354525400
    assert abi.reg_name(parsed.reg_id) == "CPUSTRT"
    assert parsed.reg_value & abi.CPU_ID_MASK == 5
    assert RegEntry.build(parsed) == raw


def test_hpte_save_header_is_32_bytes_round_trips_and_checks_its_magic():
    """The HPTESAVE prologue parses, rebuilds to the same 32 bytes and rejects other magics."""
    raw = (
        b"HPTESAVE"  # magic_number
        + bytes.fromhex("00000001" "00000020")  # version 1, num_entries_offset 0x20
        + bytes(range(16))  # reserved
    )
    assert HpteSaveHeader.sizeof() == 32
    assert HpteSaveHeader.build(HpteSaveHeader.parse(raw)) == raw
    with pytest.raises(ConstructError):
        HpteSaveHeader.parse(b"REGSAVE\0" + raw[8:])


def test_a_requested_section_asks_firmware_to_dump_and_round_trips_with_nothing_dumped_yet():
    """What each release's registration fills per section (rtas_fadump_init_mem_struct(), fadump-rtas.c 6.10;
    init_fadump_mem_struct(), fadump.c 3.4): request flag 0x00000001, no error flags, 0 bytes dumped (firmware's to set)."""
    s = requested_section(abi.SectionType.REAL_MODE_REGION, 0, 0x4000_0000, 0x2000_0000)
    raw = Section.build(s)
    assert Section.parse(raw) == s and len(raw) == Section.sizeof()
    assert (s.request_flag, s.error_flags, s.bytes_dumped) == (abi.REQUEST_FLAG, 0, 0)
    assert raw[:4] == b"\x00\x00\x00\x01"  # the 32-bit request flag first, big-endian
