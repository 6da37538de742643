"""The kallsyms tables a 6.12 image holds, read back by a decoder written from the kernel's reader, and by drgn.

The decoder here follows kernel/kallsyms.c (6.12, Debian linux-source-6.12 6.12.117), not kernels.kallsyms:
- kallsyms_expand_symbol(): a length byte (0x80 set: 7 more bits in the next byte), then that many token codes,
  each expanded through kallsyms_token_index[code] into kallsyms_token_table; the first character is the type;
- kallsyms_sym_address(): without CONFIG_KALLSYMS_ABSOLUTE_PERCPU, kallsyms_relative_base + (u32)offsets[i];
- get_symbol_seq(): kallsyms_seqs_of_names holds 3 bytes per symbol, most significant first;
- scripts/kallsyms.c write_src() (6.12): kallsyms_num_syms is a .long; kallsyms_markers a .long per 256 symbols.
"""

import random
import re
from pathlib import Path

import pytest

from firmware.machine import Machine, MachineConfig
from emulator.units import GiB
from kernels import kallsyms, vmcoreinfo
from kernels.image import SYMBOLS, pa, release_symbols, va
from kernels.linux61.kernel import Linux61
from kernels.linux610 import Linux610
from kernels.linux612.kernel import Linux612, Linux72


def boot(profile=Linux612, endian_little=True):
    m = Machine(MachineConfig(memory=2 * GiB, cpus=2, little_endian=endian_little))
    m.power_on("fadump=on")
    k = profile(m, "fadump=on", "6.12.0", m.boot_count, 0)
    m.env.process(k.boot_sequence())
    m.env.run()
    return k


def read_kallsyms(ram, info: dict[str, str], order: str) -> dict[str, tuple[str, int]]:
    """{name: (type, address)} from the tables VMCOREINFO points at, the way kernel/kallsyms.c reads them."""
    at = {k: pa(int(info[f"SYMBOL(kallsyms_{k})"], 16))
          for k in ("names", "num_syms", "token_table", "token_index", "offsets", "relative_base")
          if f"SYMBOL(kallsyms_{k})" in info}
    num = int.from_bytes(ram.read(at["num_syms"], 4), order)
    index = [int.from_bytes(ram.read(at["token_index"] + 2 * c, 2), order) for c in range(256)]

    def token(code: int) -> bytes:
        raw = ram.read(at["token_table"] + index[code], 256)
        return raw[:raw.index(b"\0")]

    # 6.12: relative_base + (u32)offsets[i]; 7.2 (no kallsyms_relative_base): offset_to_ptr(kallsyms_offsets + i),
    # the entry's own address plus the signed 32-bit value it holds (kernel/kallsyms.c kallsyms_sym_address()).
    place_relative = "relative_base" not in at
    base = 0 if place_relative else int.from_bytes(ram.read(at["relative_base"], 8), order)
    out, off = {}, at["names"]
    for i in range(num):
        length = ram.read(off, 1)[0]
        off += 1
        if length & 0x80:
            length = (length & 0x7F) | (ram.read(off, 1)[0] << 7)
            off += 1
        text = b"".join(token(c) for c in ram.read(off, length))
        off += length
        entry = int.from_bytes(ram.read(at["offsets"] + 4 * i, 4), order, signed=place_relative)
        address = (va(at["offsets"]) + 4 * i + entry) if place_relative else base + entry
        out[text[1:].decode()] = (chr(text[0]), address)
    return out


@pytest.fixture(scope="module", params=[True, False], ids=["little", "big"])
def k612(request):
    return boot(endian_little=request.param)


def test_the_tables_list_every_static_symbol_of_the_image_at_its_address(k612):
    info = vmcoreinfo.parse(k612.vmcoreinfo_text)
    listed = read_kallsyms(k612.ram, info, k612.byteorder)
    image = {n: va(a) for n, a in (SYMBOLS | release_symbols(k612.version)).items()}
    assert {n: a for n, (_, a) in listed.items()} == image
    assert listed["init_uts_ns"] == ("D", va(k612.symbols["init_uts_ns"]))
    assert listed["_stext"][0] == "T" and listed["kallsyms_names"][0] == "R"
    assert "contig_page_data" in listed and "the_cpu_spec" in listed


def test_names_are_compressed_into_tokens_of_more_than_one_character(k612):
    enc = kallsyms.encode(kallsyms.image_symbols(k612))
    assert len(enc.names) < sum(1 + len(n) + 1 for n in kallsyms.image_symbols(k612)) * 0.8
    assert any(len(t) > 2 for t in enc.token_table.split(b"\0"))


def test_seqs_of_names_list_the_symbols_in_name_order(k612):
    """kallsyms_lookup_name() bisects kallsyms_seqs_of_names by name (kernel/kallsyms.c, 6.12)."""
    syms = kallsyms.image_symbols(k612)
    enc = kallsyms.encode(syms)
    by_address = sorted(syms, key=lambda n: (syms[n], n))
    seqs = [int.from_bytes(enc.seqs_of_names[i:i + 3], "big") for i in range(0, len(enc.seqs_of_names), 3)]
    assert [by_address[s] for s in seqs] == sorted(syms)


def test_a_symbol_of_more_than_127_tokens_takes_a_two_byte_length_and_decodes():
    """scripts/kallsyms.c (6.12): "if (table[i]->len <= 0x7F) ... else (len & 0x7F) | 0x80, len >> 7"."""
    names = {"a": 0xC000000000000000}
    rng = random.Random(1)
    long_name = "".join(chr(rng.randrange(33, 123)) for _ in range(300))  # few pairs repeat: many tokens
    names[long_name] = 0xC000000000001000
    enc = kallsyms.encode(names)
    first = enc.names[0]
    second_at = 1 + first
    assert enc.names[second_at] & 0x80
    length = (enc.names[second_at] & 0x7F) | (enc.names[second_at + 1] << 7)
    assert length > 0x7F
    index = enc.token_index
    tok = lambda c: enc.token_table[index[c]:enc.token_table.index(b"\0", index[c])]  # noqa: E731
    text = b"".join(tok(c) for c in enc.names[second_at + 2:second_at + 2 + length])
    assert text == b"D" + long_name.encode()


def test_the_decoder_notices_a_corrupted_offset(k612):
    """The readback is not vacuous: one changed byte of kallsyms_offsets moves a symbol."""
    info = vmcoreinfo.parse(k612.vmcoreinfo_text)
    at = pa(int(info["SYMBOL(kallsyms_offsets)"], 16)) + 4 * 3
    saved = k612.ram.read(at, 4)
    k612.ram.write(at, bytes([saved[0] ^ 0x10]) + saved[1:] if k612.byteorder == "little"
                   else saved[:3] + bytes([saved[3] ^ 0x10]))
    try:
        listed = read_kallsyms(k612.ram, info, k612.byteorder)
        image = {n: va(a) for n, a in (SYMBOLS | release_symbols(k612.version)).items()}
        assert {n: a for n, (_, a) in listed.items()} != image
    finally:
        k612.ram.write(at, saved)


def test_6_10_keeps_its_key_set_and_holds_no_kallsyms_tables():
    """The 6.10 profile backs only what it did (kernels.versions LINUX_6_10: kallsyms False)."""
    k = boot(Linux610)
    assert "kallsyms_names" not in k.symbols
    assert "SYMBOL(kallsyms_names)" in vmcoreinfo.unbacked(k)


SCENARIO_612 = """
name = "kallsyms612"
[machine]
memory = "2GiB"
cpus = 2
[kernel]
profile = "linux-6.12"
cmdline = "fadump=on crashkernel=512M"
[crash]
cpu = 1
at = "10s"
"""


@pytest.mark.parametrize("profile, cls", [("linux-6.12", Linux612), ("linux-6.1", Linux61), ("linux-7.2", Linux72)])
def test_drgn_reads_the_kallsyms_of_an_emulated_vmcore_without_vmlinux(run_text, profile, cls):
    """drgn.helpers.linux.kallsyms.load_vmlinux_kallsyms() uses VMCOREINFO's kallsyms keys (Linux >= 6.0): an
    independent reader of each release's layout (6.1's tables in their own order, 7.2's place-relative ones)."""
    drgn = pytest.importorskip("drgn")
    from drgn.helpers.linux.kallsyms import load_vmlinux_kallsyms

    name = "kallsyms" + profile[6:].replace(".", "")
    result, rep = run_text(SCENARIO_612.replace("linux-6.12", profile).replace("kallsyms612", name), name)
    vmcore = [c for c in rep["captures"] if c.get("vmcore")][0]["vmcore"]
    prog = drgn.Program()
    prog.set_core_dump(vmcore)
    index = load_vmlinux_kallsyms(prog)
    prog.register_symbol_finder("kallsyms", index, enable_index=0)
    sym = prog.symbol("init_uts_ns")
    assert sym.address == va(SYMBOLS["init_uts_ns"])
    # drgn sizes a symbol up to the next one (kallsyms has no sizes) when they are close enough
    pgdat = va(release_symbols(cls.version)["contig_page_data"])
    assert prog.symbol(pgdat + 0x100).name == "contig_page_data"
    assert len(index(prog, None, None, False)) == len(SYMBOLS | release_symbols(cls.version))


def test_7_2_offsets_are_place_relative_and_there_is_no_relative_base():
    """scripts/kallsyms.c (7.2) write_src(): ".long _text - . + (offset)"; kernel/kallsyms.c (7.2)
    kallsyms_sym_address(): offset_to_ptr(kallsyms_offsets + idx). VMCOREINFO has no kallsyms_relative_base."""
    k = boot(Linux72)
    info = vmcoreinfo.parse(k.vmcoreinfo_text)
    assert "SYMBOL(kallsyms_relative_base)" not in info and "SYMBOL(kallsyms_offsets)" in info
    listed = read_kallsyms(k.ram, info, k.byteorder)
    image = {n: va(a) for n, a in (SYMBOLS | release_symbols(k.version)).items()}
    assert {n: a for n, (_, a) in listed.items()} == image


def real_kallsyms_symbols(profile: str) -> dict[str, int]:
    """SYMBOL(kallsyms_*) from the real kernel's VMCOREINFO note (tests/reference/PROFILE/hash/vmcore-head.bin)."""
    head = (Path(__file__).parents[1] / "reference" / profile / "hash" / "vmcore-head.bin").read_bytes()
    return {m.group(1).decode(): int(m.group(2), 16)
            for m in re.finditer(rb"SYMBOL\((kallsyms_\w+)\)=([0-9a-f]+)\n", head)}


@pytest.mark.parametrize("profile, cls", [("linux-6.1", Linux61), ("linux-6.12", Linux612), ("linux-7.2", Linux72)])
def test_the_tables_lie_in_the_real_kernels_order_with_its_alignment(profile, cls):
    """scripts/kallsyms.c write_src() emits the tables in a release's own order and output_label() aligns each:
    6.1 (6.1.192) kallsyms_offsets and kallsyms_relative_base first, kallsyms_seqs_of_names before the token
    tables, ALGN (8); 6.12 (6.12.117) the names first and the addresses after the token tables, ALGN (8); 7.2
    (7.2.13) 6.12's order without kallsyms_relative_base, ".balign 4". Held against each real kernel's VMCOREINFO:
    the order of the SYMBOL()s and how far kallsyms_names lies behind kallsyms_num_syms (one aligned .long)."""
    real = real_kallsyms_symbols(profile)
    k = boot(cls)
    ours = {key[7:-1]: int(v, 16) for key, v in vmcoreinfo.parse(k.vmcoreinfo_text).items()
            if key.startswith("SYMBOL(kallsyms_")}
    assert set(ours) == set(real)
    assert sorted(ours, key=ours.get) == sorted(real, key=real.get)
    gap = real["kallsyms_names"] - real["kallsyms_num_syms"]
    assert ours["kallsyms_names"] - ours["kallsyms_num_syms"] == gap == k.version.kallsyms_align


def test_6_1_tables_in_their_own_order_read_back_as_every_static_symbol():
    """kernel/kallsyms.c (6.1.192) reads the same formats as 6.12 (kallsyms_expand_symbol(), kallsyms_sym_address():
    kallsyms_relative_base + (u32)offsets[i]): only where each table lies differs."""
    k = boot(Linux61)
    listed = read_kallsyms(k.ram, vmcoreinfo.parse(k.vmcoreinfo_text), k.byteorder)
    assert {n: a for n, (_, a) in listed.items()} == {n: va(a) for n, a in (SYMBOLS | release_symbols(k.version)).items()}
