"""The kernel's own symbol table, as scripts/kallsyms.c lays it out in 6.12 and kernel/kallsyms.c reads it.

VMCOREINFO publishes the tables (kernel/vmcore_info.c, 6.12: SYMBOL(kallsyms_names), kallsyms_num_syms,
kallsyms_token_table, kallsyms_token_index, kallsyms_offsets, kallsyms_relative_base) so that a reader without
vmlinux (drgn's load_vmlinux_kallsyms) can name addresses. The format, from scripts/kallsyms.c write_src() and
kernel/kallsyms.c kallsyms_expand_symbol()/kallsyms_sym_address() (6.12):

- kallsyms_num_syms: a u32, the number of symbols;
- kallsyms_names: per symbol, its length in tokens (one byte up to 0x7F; else two, the low 7 bits with 0x80 set,
  then the rest) and the token codes; the expanded text is the nm type letter followed by the name;
- kallsyms_markers: a u32 per 256 symbols, the offset of that symbol's entry in kallsyms_names;
- kallsyms_token_table: 256 NUL-terminated strings, the expansion of each code; kallsyms_token_index: 256 u16
  offsets of them;
- kallsyms_offsets: a u32 per symbol, its address minus kallsyms_relative_base (without
  CONFIG_KALLSYMS_ABSOLUTE_PERCPU, which powerpc does not select), in address order;
- kallsyms_relative_base: an unsigned long, the lowest symbol address;
- kallsyms_seqs_of_names: per symbol in name order, its index in address order, 3 bytes, most significant first.

The tables' order in .rodata and their alignment are the release's (kernels.versions: kallsyms_layout,
kallsyms_align; 6.1 writes the offsets first and kallsyms_seqs_of_names before the token tables, 7.2 drops
kallsyms_relative_base and aligns each table to 4 bytes); kernels.image lays them out.

The encoder is ours: a code no symbol text uses stands for the most frequent pair of adjacent codes, pair after
pair (the idea of scripts/kallsyms.c's optimize_token_table(), done our way), so tokens can nest.
"""

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from kernels.image import KALLSYMS_ROOM, SYMBOLS, release_symbols, va

TEXT_SYMBOLS = {"_stext"}
"""Symbols in .text (nm type T); the image's other objects are data (D), the kallsyms tables read-only (R)."""


@dataclass
class Encoded:
    num_syms: int
    names: bytes
    markers: list[int]
    token_table: bytes
    token_index: list[int]
    offsets: list[int]
    relative_base: int
    seqs_of_names: bytes


def type_letter(name: str) -> str:
    if name in TEXT_SYMBOLS:
        return "T"
    return "R" if name.startswith("kallsyms_") else "D"


def build_tokens(texts: list[bytes]) -> tuple[list[bytes], list[list[int]]]:
    """(expansion of each of the 256 codes, each text as codes): bytes the texts use stand for themselves, every
    other code for the most frequent adjacent pair left (b"" when no pair occurs twice)."""
    table: list[bytes] = [b""] * 256
    for text in texts:
        for c in text:
            table[c] = bytes([c])
    coded = [list(t) for t in texts]
    for code in range(255, -1, -1):
        if table[code]:
            continue
        pairs = Counter((a, b) for seq in coded for a, b in zip(seq, seq[1:]))
        if not pairs:
            break
        (a, b), count = max(pairs.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))
        if count < 2:
            break
        table[code] = table[a] + table[b]
        for i, seq in enumerate(coded):
            out, j = [], 0
            while j < len(seq):
                if j + 1 < len(seq) and seq[j] == a and seq[j + 1] == b:
                    out.append(code)
                    j += 2
                else:
                    out.append(seq[j])
                    j += 1
            coded[i] = out
    return table, coded


def encode(symbols: dict[str, int]) -> Encoded:
    """The tables for ``symbols`` ({name: virtual address}), sorted by address then name as the kernel's are."""
    return _encode(tuple(sorted(symbols.items(), key=lambda kv: (kv[1], kv[0]))))


@lru_cache(maxsize=8)
def _encode(entries: tuple[tuple[str, int], ...]) -> Encoded:
    """One encoding per symbol set and process (every boot of a build has the same image symbols)."""
    texts = [(type_letter(name) + name).encode() for name, _ in entries]
    table, coded = build_tokens(texts)
    names, markers = bytearray(), []
    for i, codes in enumerate(coded):
        if i % 256 == 0:
            markers.append(len(names))
        n = len(codes)
        if n > 0x3FFF:
            raise ValueError(f"kallsyms: symbol {entries[i][0]} too long ({n} tokens)")
        names += bytes([n]) if n <= 0x7F else bytes([(n & 0x7F) | 0x80, n >> 7])
        names += bytes(codes)
    token_table, token_index = bytearray(), []
    for expansion in table:
        token_index.append(len(token_table))
        token_table += expansion + b"\0"
    base = entries[0][1] if entries else 0
    by_name = sorted(range(len(entries)), key=lambda i: (entries[i][0], i))
    seqs = b"".join(i.to_bytes(3, "big") for i in by_name)
    return Encoded(len(entries), bytes(names), markers, bytes(token_table), token_index,
                   [addr - base for _, addr in entries], base, seqs)


def image_symbols(kernel) -> dict[str, int]:
    """The image's static symbols (virtual addresses), as linked: kernels.image's map for this release (not
    what the kernel allocates at run time, such as the VMCOREINFO note kernel.symbols later points at)."""
    return {name: va(addr) for name, addr in (SYMBOLS | release_symbols(kernel.version)).items()}


def place(kernel) -> None:
    """Write the tables at the image's kallsyms_* addresses, in the kernel's byte order."""
    if not kernel.version.kallsyms:
        return
    sym, order = kernel.symbols, kernel.byteorder
    enc = encode(image_symbols(kernel))
    data = {
        "kallsyms_num_syms": enc.num_syms.to_bytes(4, order),
        "kallsyms_names": enc.names,
        "kallsyms_markers": b"".join(m.to_bytes(4, order) for m in enc.markers),
        "kallsyms_token_table": enc.token_table,
        "kallsyms_token_index": b"".join(i.to_bytes(2, order) for i in enc.token_index),
        "kallsyms_offsets": b"".join(o.to_bytes(4, order) for o in enc.offsets),
        "kallsyms_relative_base": enc.relative_base.to_bytes(8, order),
        "kallsyms_seqs_of_names": enc.seqs_of_names,
    }
    if kernel.version.kallsyms_place_relative:  # 7.2: each entry is the symbol's distance from the entry itself
        at = va(sym["kallsyms_offsets"])
        data["kallsyms_offsets"] = b"".join((enc.relative_base + o - (at + 4 * i)).to_bytes(4, order, signed=True)
                                            for i, o in enumerate(enc.offsets))
    for table in kernel.version.kallsyms_layout:
        if len(data[table]) > KALLSYMS_ROOM[table]:
            raise ValueError(f"kallsyms: {table} needs {len(data[table])} bytes, the image map leaves "
                             f"{KALLSYMS_ROOM[table]} (kernels/image.py KALLSYMS_ROOM)")
        kernel.ram.write(sym[table], data[table])
