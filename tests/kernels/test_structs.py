"""Tests for kernels.structs: kernel-side fadump and ELF layouts in either byte order (ABI reference §1.3, §1.5, §1.6)."""

import io

import pytest
from construct import ConstError, ConstructError
from elftools.elf.elffile import ELFFile
from hypothesis import given
from hypothesis import strategies as st

from kernels.structs import (
    EHDR_SIZE,
    ELF_NGREG,
    ELF_PRSTATUS_SIZE,
    ELFCLASS64,
    ELFDATA2LSB,
    ELFDATA2MSB,
    EM_PPC64,
    ET_CORE,
    EV_CURRENT,
    FADUMP_CPU_UNKNOWN,
    FADUMP_CRASH_INFO_MAGIC,
    FADUMP_CRASH_INFO_MAGIC_OLD,
    FADUMP_HEADER_VERSION,
    PF_R,
    PF_W,
    PF_X,
    PHDR_SIZE,
    PR_REG_OFFSET,
    PT_LOAD,
    PT_NOTE,
    PT_REGS_FIELDS_3_4,
    PT_REGS_FIELDS_6_10,
    kernel_structs,
)

NR_CPUS = 2048
BE_NEW = kernel_structs(False, PT_REGS_FIELDS_6_10, NR_CPUS)
LE_NEW = kernel_structs(True, PT_REGS_FIELDS_6_10, NR_CPUS)
BE_OLD = kernel_structs(False, PT_REGS_FIELDS_3_4, 1024)
BOTH_ENDIANS = pytest.mark.parametrize("ks", [BE_NEW, LE_NEW], ids=["big", "little"])


def regs_bytes(ks, values: dict[str, int]) -> bytes:
    """A pt_regs image: every slot zero except ``values``, each an 8-byte word in ks's byte order."""
    return b"".join(values.get(name, 0).to_bytes(8, ks.byteorder) for name in ks.pt_regs_fields)


# --- configuration object ---


def test_kernel_structs_are_cached_per_configuration():
    """Asking twice for one configuration returns the same object; another configuration differs."""
    assert kernel_structs(False, PT_REGS_FIELDS_6_10, NR_CPUS) is BE_NEW
    assert BE_NEW is not LE_NEW
    assert BE_NEW.byteorder == "big" and LE_NEW.byteorder == "little"


def test_pt_regs_sizes_match_the_3_4_and_current_kernels():
    """pt_regs is 44 longs (352 bytes) in 3.4 and 48 longs (384 bytes) today."""
    assert BE_OLD.pt_regs_size == BE_OLD.pt_regs.sizeof() == 352
    assert BE_NEW.pt_regs_size == BE_NEW.pt_regs.sizeof() == 384 == 8 * ELF_NGREG


def test_cpumask_is_nr_cpus_bits():
    """A cpumask for NR_CPUS=2048 is 256 bytes."""
    assert BE_NEW.cpumask_size == 256


@pytest.mark.parametrize(
    ("field", "index"),
    [("gpr0", 0), ("gpr1", 1), ("gpr31", 31), ("nip", 32), ("msr", 33), ("orig_gpr3", 34), ("ctr", 35),
     ("link", 36), ("xer", 37), ("ccr", 38), ("softe", 39), ("trap", 40), ("dar", 41), ("dsisr", 42),
     ("result", 43), ("ppr", 44), ("exit_result", 45), ("kuap", 46), ("iamr", 47)],
)
def test_pt_regs_fields_sit_at_their_ptrace_h_slots(field, index):
    """Each pt_regs field is read from slot index*8, as in asm/ptrace.h."""
    raw = bytearray(384)
    raw[index * 8:index * 8 + 8] = (0xC000000000001234).to_bytes(8, "big")  # a kernel address in that slot
    parsed = BE_NEW.pt_regs.parse(bytes(raw))
    assert parsed[field] == 0xC000000000001234
    assert sum(parsed[name] for name in PT_REGS_FIELDS_6_10) == 0xC000000000001234


# --- magics ---


@pytest.mark.parametrize(
    ("ks", "header", "magic_bytes"),
    [
        (BE_NEW, "crash_info_header_old", b"FADMPINF"),
        (LE_NEW, "crash_info_header_old", b"FNIPMDAF"),
        (BE_NEW, "crash_info_header_v1", b"FADMPSIG"),
        (LE_NEW, "crash_info_header_v1", b"GISPMDAF"),
    ],
)
def test_fdh_magic_is_packed_msb_first_and_stored_in_kernel_byte_order(ks, header, magic_bytes):
    """The MSB-first packed magic reads as its text in big-endian memory and reversed in little-endian memory."""
    raw = getattr(ks, header).build(dict(elfcorehdr_addr=0, crashing_cpu=0, version=1, vmcoreinfo_raddr=0,
                                         vmcoreinfo_size=0, pt_regs_sz=384, cpu_mask_sz=256,
                                         regs={n: 0 for n in ks.pt_regs_fields}, cpu_mask=bytes(256)))
    assert raw[:8] == magic_bytes


def test_magic_constants_are_the_ascii_strings_packed_msb_first():
    """FADMPINF and FADMPSIG are the 8 ASCII bytes read as a big-endian u64."""
    assert FADUMP_CRASH_INFO_MAGIC_OLD == int.from_bytes(b"FADMPINF", "big") == 0x4641444D50494E46
    assert FADUMP_CRASH_INFO_MAGIC == int.from_bytes(b"FADMPSIG", "big") == 0x4641444D50534947


# --- old crash info header (3.4 to 6.9) ---


def old_fdh_bytes(ks) -> bytes:
    """A 3.4-era fdh in ks's byte order: crash on CPU 3 with nip and gpr1 set, CPUs 0-3 online."""
    order = ks.byteorder
    return (
        FADUMP_CRASH_INFO_MAGIC_OLD.to_bytes(8, order)  # magic_number = "FADMPINF"
        + (0x7FF00000).to_bytes(8, order)  # elfcorehdr_addr
        + (3).to_bytes(4, order)  # crashing_cpu = 3
        + bytes(4)  # padding
        + regs_bytes(ks, {"nip": 0xC000000000012340, "gpr1": 0xC0000000FFFF0000})  # regs
        + bytes([0x0F]) + bytes(ks.cpumask_size - 1)  # cpu_online_mask: CPUs 0-3
    )


def test_old_header_is_0x18_plus_pt_regs_plus_cpumask():
    """The 3.4-era fdh puts regs at 0x18 and the cpumask right after them."""
    assert BE_OLD.crash_info_header_old.sizeof() == 0x18 + 352 + 128
    assert BE_NEW.crash_info_header_old.sizeof() == 0x18 + 384 + 256


@pytest.mark.parametrize("ks", [BE_OLD, BE_NEW, LE_NEW], ids=["3.4-big", "6.10-big", "6.10-little"])
def test_old_header_round_trips_known_bytes(ks):
    """Parsing a known old fdh and building it again gives the same bytes, with fields at their offsets."""
    raw = old_fdh_bytes(ks)
    parsed = ks.crash_info_header_old.parse(raw)
    assert parsed.elfcorehdr_addr == 0x7FF00000
    assert parsed.crashing_cpu == 3
    assert parsed.regs.nip == 0xC000000000012340 and parsed.regs.gpr1 == 0xC0000000FFFF0000
    assert parsed.cpu_mask[0] == 0x0F
    assert ks.crash_info_header_old.build(parsed) == raw


def test_old_header_written_by_the_other_endianness_is_rejected():
    """A little-endian fdh fed to a big-endian parser fails the magic check with a ConstError."""
    with pytest.raises(ConstError):
        BE_NEW.crash_info_header_old.parse(old_fdh_bytes(LE_NEW))


def test_old_header_with_the_new_magic_is_rejected():
    """An old-layout parser refuses "FADMPSIG", the 6.10 magic."""
    raw = b"FADMPSIG" + old_fdh_bytes(BE_NEW)[8:]  # v1 magic on an old header
    with pytest.raises(ConstructError):
        BE_NEW.crash_info_header_old.parse(raw)


# --- v1 crash info header (6.10+) ---


def v1_fdh_bytes(ks) -> bytes:
    """A 6.10 fdh in ks's byte order, as written at registration (CPU unknown, possible mask 0-7)."""
    order = ks.byteorder
    return (
        FADUMP_CRASH_INFO_MAGIC.to_bytes(8, order)  # magic_number = "FADMPSIG"
        + (1).to_bytes(4, order)  # version = 1
        + (0xFFFFFFFF).to_bytes(4, order)  # crashing_cpu = FADUMP_CPU_UNKNOWN
        + (0x7001_2340).to_bytes(8, order)  # vmcoreinfo_raddr
        + (65572).to_bytes(8, order)  # vmcoreinfo_size = VMCOREINFO_NOTE_SIZE with 64 KiB pages
        + (384).to_bytes(4, order)  # pt_regs_sz
        + (256).to_bytes(4, order)  # cpu_mask_sz
        + regs_bytes(ks, {"msr": 0x8000000000001033, "iamr": 0x4000000000000000})  # regs
        + bytes([0xFF]) + bytes(255)  # cpu_mask: CPUs 0-7
    )


def test_v1_header_is_680_bytes_for_384_byte_pt_regs_and_2048_cpus():
    """0x28 + 384 + 256 = 680 bytes, the example in the ABI reference."""
    assert BE_NEW.crash_info_header_v1.sizeof() == 680 == 0x28 + 384 + 256
    assert len(v1_fdh_bytes(BE_NEW)) == 680


@BOTH_ENDIANS
def test_v1_header_round_trips_known_bytes(ks):
    """Parsing a known v1 fdh and building it again gives the same bytes, with fields at their offsets."""
    raw = v1_fdh_bytes(ks)
    parsed = ks.crash_info_header_v1.parse(raw)
    assert parsed.version == FADUMP_HEADER_VERSION
    assert parsed.crashing_cpu == FADUMP_CPU_UNKNOWN
    assert parsed.vmcoreinfo_raddr == 0x7001_2340
    assert parsed.vmcoreinfo_size == 65572
    assert (parsed.pt_regs_sz, parsed.cpu_mask_sz) == (384, 256)
    assert parsed.regs.msr == 0x8000000000001033 and parsed.regs.iamr == 0x4000000000000000
    assert parsed.cpu_mask == bytes([0xFF]) + bytes(255)
    assert ks.crash_info_header_v1.build(parsed) == raw


def test_v1_header_with_the_old_magic_is_rejected():
    """A v1 parser refuses "FADMPINF", as a 6.10 capture kernel refuses an old dump."""
    raw = b"FADMPINF" + v1_fdh_bytes(BE_NEW)[8:]  # old magic on a v1 header
    with pytest.raises(ConstError):
        BE_NEW.crash_info_header_v1.parse(raw)


@given(regs=st.lists(st.integers(0, 2**64 - 1), min_size=48, max_size=48), cpu=st.integers(0, 2**32 - 1),
       little=st.booleans())
def test_any_v1_header_survives_build_then_parse(regs, cpu, little):
    """Random register values and crashing CPU come back unchanged after build then parse, in either byte order."""
    ks = LE_NEW if little else BE_NEW
    fields = dict(version=1, crashing_cpu=cpu, vmcoreinfo_raddr=0, vmcoreinfo_size=0, pt_regs_sz=384,
                  cpu_mask_sz=256, regs=dict(zip(PT_REGS_FIELDS_6_10, regs)), cpu_mask=bytes(256))
    raw = ks.crash_info_header_v1.build(fields)
    parsed = ks.crash_info_header_v1.parse(raw)
    assert [parsed.regs[n] for n in PT_REGS_FIELDS_6_10] == regs
    assert parsed.crashing_cpu == cpu
    assert raw[0x28:0x30] == regs[0].to_bytes(8, ks.byteorder)  # gpr0 right after the fixed fields


# --- ELF header and program headers ---


def ehdr_bytes(ks, phnum: int) -> bytes:
    """An fadump ET_CORE Elf64_Ehdr as fadump_init_elfcore_header writes it."""
    order = ks.byteorder
    data = ELFDATA2LSB if ks.little_endian else ELFDATA2MSB
    return (
        b"\x7fELF"  # ELFMAG
        + bytes([ELFCLASS64, data, EV_CURRENT, 0, 0])  # class 64, data encoding, version 1, OSABI 0, ABI version 0
        + bytes(7)  # e_ident padding
        + ET_CORE.to_bytes(2, order)  # e_type = ET_CORE (4)
        + EM_PPC64.to_bytes(2, order)  # e_machine = EM_PPC64 (21)
        + (1).to_bytes(4, order)  # e_version = 1
        + (0).to_bytes(8, order)  # e_entry = 0
        + (64).to_bytes(8, order)  # e_phoff = 64
        + (0).to_bytes(8, order)  # e_shoff = 0
        + (2).to_bytes(4, order)  # e_flags = 2 (ELF ABI v2)
        + (64).to_bytes(2, order)  # e_ehsize
        + (56).to_bytes(2, order)  # e_phentsize
        + phnum.to_bytes(2, order)  # e_phnum
        + bytes(6)  # e_shentsize, e_shnum, e_shstrndx = 0
    )


def phdr_bytes(ks) -> bytes:
    """A boot-memory PT_LOAD: 320 MiB at physical 0, saved at 0x70010000, mapped at __va(0)."""
    order = ks.byteorder
    return (
        PT_LOAD.to_bytes(4, order)  # p_type = PT_LOAD
        + (PF_R | PF_W | PF_X).to_bytes(4, order)  # p_flags = RWX (7)
        + (0x70010000).to_bytes(8, order)  # p_offset = destination of the copy
        + (0xC000000000000000).to_bytes(8, order)  # p_vaddr = __va(0)
        + (0).to_bytes(8, order)  # p_paddr = 0
        + (320 << 20).to_bytes(8, order)  # p_filesz
        + (320 << 20).to_bytes(8, order)  # p_memsz
        + (0).to_bytes(8, order)  # p_align
    )


def test_elf_header_sizes_match_elf64():
    """Elf64_Ehdr is 64 bytes, Elf64_Phdr 56 and an Elf64_Nhdr 12."""
    assert BE_NEW.elf64_ehdr.sizeof() == EHDR_SIZE == 64
    assert BE_NEW.elf64_phdr.sizeof() == PHDR_SIZE == 56
    assert BE_NEW.elf_note_header.sizeof() == 12


@BOTH_ENDIANS
def test_elf_header_round_trips_known_bytes(ks):
    """Parsing a known ET_CORE header and building it again gives the same bytes."""
    raw = ehdr_bytes(ks, phnum=3)
    parsed = ks.elf64_ehdr.parse(raw)
    assert (parsed.e_type, parsed.e_machine, parsed.e_phoff, parsed.e_phnum) == (ET_CORE, EM_PPC64, 64, 3)
    assert (parsed.e_ehsize, parsed.e_phentsize, parsed.e_flags) == (64, 56, 2)
    assert ks.elf64_ehdr.build(parsed) == raw


def test_elf_header_rejects_a_wrong_magic_or_a_32_bit_class():
    """A header without \\x7fELF or with ELFCLASS32 fails its Const check."""
    raw = ehdr_bytes(BE_NEW, phnum=1)
    with pytest.raises(ConstError):
        BE_NEW.elf64_ehdr.parse(b"\x7fELG" + raw[4:])  # corrupted ELFMAG
    with pytest.raises(ConstError):
        BE_NEW.elf64_ehdr.parse(raw[:4] + b"\x01" + raw[5:])  # EI_CLASS = ELFCLASS32


@BOTH_ENDIANS
def test_program_header_round_trips_known_bytes(ks):
    """A known PT_LOAD parses with p_flags second (the Elf64 order) and builds back identically."""
    raw = phdr_bytes(ks)
    parsed = ks.elf64_phdr.parse(raw)
    assert (parsed.p_type, parsed.p_flags) == (PT_LOAD, 7)
    assert (parsed.p_offset, parsed.p_vaddr, parsed.p_paddr) == (0x70010000, 0xC000000000000000, 0)
    assert parsed.p_filesz == parsed.p_memsz == 320 << 20
    assert ks.elf64_phdr.build(parsed) == raw


@BOTH_ENDIANS
def test_built_elf_headers_are_read_correctly_by_pyelftools(ks):
    """An Ehdr plus a PT_NOTE and a PT_LOAD built here are what pyelftools reads back."""
    note = ks.elf64_phdr.build(dict(p_type=PT_NOTE, p_flags=0, p_offset=0x7001_0000, p_vaddr=0,
                                    p_paddr=0x7001_0000, p_filesz=0x10000, p_memsz=0x10000, p_align=0))
    image = ks.elf64_ehdr.parse(ehdr_bytes(ks, phnum=2))
    elf = ELFFile(io.BytesIO(ks.elf64_ehdr.build(image) + note + phdr_bytes(ks)))
    assert elf.little_endian == ks.little_endian
    assert elf.elfclass == 64
    assert elf["e_type"] == "ET_CORE" and elf["e_machine"] == "EM_PPC64"
    segments = list(elf.iter_segments())
    assert [s["p_type"] for s in segments] == ["PT_NOTE", "PT_LOAD"]
    assert segments[1]["p_vaddr"] == 0xC000000000000000 and segments[1]["p_memsz"] == 320 << 20


@BOTH_ENDIANS
def test_note_header_round_trips_a_prstatus_note_header(ks):
    """The 12-byte note header of an NT_PRSTATUS "CORE" note round-trips."""
    raw = (
        (5).to_bytes(4, ks.byteorder)  # n_namesz = len("CORE\0")
        + (504).to_bytes(4, ks.byteorder)  # n_descsz = sizeof(struct elf_prstatus)
        + (1).to_bytes(4, ks.byteorder)  # n_type = NT_PRSTATUS
    )
    parsed = ks.elf_note_header.parse(raw)
    assert (parsed.n_namesz, parsed.n_descsz, parsed.n_type) == (5, 504, 1)
    assert ks.elf_note_header.build(parsed) == raw


# --- elf_prstatus ---


def prstatus_bytes(ks) -> bytes:
    """An elf_prstatus with pr_pid, pr_reg[0], pr_reg[32] (nip), pr_reg[47] and pr_fpvalid set."""
    order = ks.byteorder
    raw = bytearray(504)
    raw[12:14] = (11).to_bytes(2, order)  # pr_cursig = SIGSEGV
    raw[32:36] = (1234).to_bytes(4, order)  # pr_pid
    raw[36:40] = (1).to_bytes(4, order)  # pr_ppid
    raw[112:120] = (0x1111).to_bytes(8, order)  # pr_reg[0] = gpr0
    raw[112 + 32 * 8:112 + 33 * 8] = (0xC000000000012340).to_bytes(8, order)  # pr_reg[32] = nip
    raw[112 + 47 * 8:112 + 48 * 8] = (0x4747).to_bytes(8, order)  # pr_reg[47] = iamr
    raw[496:500] = (1).to_bytes(4, order)  # pr_fpvalid
    return bytes(raw)


def test_prstatus_is_504_bytes_with_pr_reg_at_112():
    """struct elf_prstatus on ppc64 is 504 bytes and pr_reg starts at byte 112."""
    assert BE_NEW.elf_prstatus.sizeof() == ELF_PRSTATUS_SIZE == 504
    assert PR_REG_OFFSET == 112


@BOTH_ENDIANS
def test_prstatus_round_trips_known_bytes_with_fields_at_their_offsets(ks):
    """pr_cursig at 12, pr_pid at 32, pr_reg[48] at 112 and pr_fpvalid at 496 parse and rebuild exactly."""
    raw = prstatus_bytes(ks)
    parsed = ks.elf_prstatus.parse(raw)
    assert parsed.pr_cursig == 11
    assert (parsed.pr_pid, parsed.pr_ppid) == (1234, 1)
    assert len(parsed.pr_reg) == ELF_NGREG
    assert (parsed.pr_reg[0], parsed.pr_reg[32], parsed.pr_reg[47]) == (0x1111, 0xC000000000012340, 0x4747)
    assert parsed.pr_fpvalid == 1
    assert ks.elf_prstatus.build(parsed) == raw


def test_prstatus_pids_are_signed():
    """pid_t fields are signed 32-bit: all-ones bytes read as -1."""
    raw = bytearray(504)
    raw[32:36] = b"\xff\xff\xff\xff"  # pr_pid = -1
    assert BE_NEW.elf_prstatus.parse(bytes(raw)).pr_pid == -1
