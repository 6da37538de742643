"""inspect, dmesg and verify stay safe on files they did not make: exit 2 with a sentence, in bounded time.

Each hostile file is given to the real command in a subprocess with a
timeout: a hang or a runaway allocation fails the test by the timeout, not by
a timed assertion. The ELF layouts are the ppc64 Elf64_Ehdr/Elf64_Phdr of
kernels.structs (the kernel's byte order, here little-endian).
"""

import os
import subprocess
import sys

import pytest

from emulator.scenario import loader as scenario
from emulator.run.runner import Run
from emulator.vmcore.vmcore_file import VmcoreFile
from kernels import elfcore
from kernels.structs import EHDR_SIZE, PT_LOAD, PT_NOTE, PT_REGS_FIELDS_6_10, kernel_structs

KS = kernel_structs(True, PT_REGS_FIELDS_6_10, 8)
TIMEOUT = 60
BASIC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "scenarios", "basic-panic.toml")


def fadump_emu(*args: str) -> subprocess.CompletedProcess:
    """The command line in a child process, killed (and the test failed) after TIMEOUT seconds."""
    return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True, text=True,
                          timeout=TIMEOUT)


def refused(proc: subprocess.CompletedProcess, words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and words in proc.stderr, proc.stderr[-2000:]
    assert len(proc.stdout) < 100_000


def elf(path, phdrs: list[bytes], tail: bytes = b"", phnum: int | None = None, e_phoff: int = EHDR_SIZE) -> str:
    head = bytearray(elfcore.ehdr(KS, phnum if phnum is not None else len(phdrs)))
    head[32:40] = e_phoff.to_bytes(8, "little")
    with open(path, "wb") as f:
        f.write(bytes(head) + b"".join(phdrs) + tail)
    return str(path)


@pytest.mark.parametrize("command", ["inspect", "dmesg"])
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path, command):
    """Opening a FIFO for reading blocks until a writer comes: os.stat refuses it first."""
    fifo = tmp_path / "vmcore"
    os.mkfifo(fifo)
    refused(fadump_emu(command, str(fifo)), "is a FIFO (named pipe), not a vmcore file")


def test_a_fifo_in_a_run_folder_is_refused_by_verify(tmp_path):
    """verify reads the vmcore named by the digests; a FIFO in its place is refused, not opened."""
    out = tmp_path / "run"
    Run(scenario.load(BASIC), str(out)).execute()
    os.unlink(out / "vmcore")
    os.mkfifo(out / "vmcore")
    refused(fadump_emu("verify", str(out)), "is a FIFO (named pipe)")


@pytest.mark.parametrize("command", ["inspect", "dmesg"])
def test_a_character_device_is_refused(command):
    refused(fadump_emu(command, "/dev/zero"), "is a character device, not a vmcore file")


def test_a_note_bomb_is_refused_at_once(tmp_path):
    """e_phnum 65535, each a 64 MiB PT_NOTE at offset 0: more notes than the file could ever hold."""
    note = elfcore.phdr(KS, PT_NOTE, p_offset=0, p_filesz=64 << 20, p_memsz=64 << 20)
    path = elf(tmp_path / "bomb", [note] * 65535)
    refused(fadump_emu("inspect", path), "claims 67108864 bytes")
    refused(fadump_emu("dmesg", path), "claims 67108864 bytes")


def test_small_notes_that_all_point_at_one_place_are_bounded_by_the_file_size(tmp_path):
    """65535 PT_NOTEs of 4 KiB each over the same bytes add up to more than the file: refused."""
    note = elfcore.phdr(KS, PT_NOTE, p_offset=0, p_filesz=4096, p_memsz=4096)
    refused(fadump_emu("inspect", elf(tmp_path / "bomb", [note] * 65535)), "more notes than a")


def test_a_huge_program_header_table_in_table_mode_is_shown_in_part(tmp_path):
    """65535 PT_LOADs are decoded; the table shows the first rows and counts the rest."""
    template = elfcore.phdr(KS, PT_LOAD, p_memsz=1 << 16)
    paddr_at = 24  # Elf64_Phdr: p_type, p_flags, p_offset, p_vaddr, then p_paddr
    loads = [template[:paddr_at] + (i << 16).to_bytes(8, "little") + template[paddr_at + 8:] for i in range(65535)]
    proc = fadump_emu("inspect", elf(tmp_path / "many", loads), "--what", "header", "phdrs")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "65279 more program headers" in proc.stdout


def test_a_program_header_table_past_the_end_of_the_file_is_refused(tmp_path):
    """e_phnum 65535 in a file that ends after the ELF header."""
    refused(fadump_emu("inspect", elf(tmp_path / "short", [], phnum=65535)), "runs past the end of the file")


@pytest.mark.parametrize("field", ["e_phoff", "p_offset"])
def test_offsets_near_2_to_the_64_are_refused_not_overflowed(tmp_path, field):
    """An offset of 2^64 - 16 would overflow pread: it is compared with the file size first."""
    near = 2**64 - 16
    if field == "e_phoff":
        path = elf(tmp_path / "far", [elfcore.phdr(KS, PT_NOTE, p_filesz=64)], e_phoff=near)
    else:
        path = elf(tmp_path / "far", [elfcore.phdr(KS, PT_NOTE, p_offset=near, p_filesz=64, p_memsz=64)])
    for command in ("inspect", "dmesg"):
        refused(fadump_emu(command, path), "past the end")


@pytest.fixture(scope="module")
def real_vmcore(tmp_path_factory):
    """A Linux 3.4 vmcore (plain printk ring) to forge."""
    out = tmp_path_factory.mktemp("hostile") / "run"
    Run(scenario.load(BASIC), str(out)).execute()
    return out / "vmcore"


def forge_u32(src, dest, symbol: str, value: int) -> str:
    """Copy the vmcore sparsely and overwrite the u32 at VMCOREINFO's SYMBOL(symbol)."""
    subprocess.run(["cp", "--sparse=always", str(src), str(dest)], check=True)
    with VmcoreFile(str(dest)) as core:
        vaddr = int(core.vmcoreinfo[f"SYMBOL({symbol})"], 16)
        paddr = vaddr - 0xC000_0000_0000_0000
        ph = next(p for p in core.loads if p.p_paddr <= paddr < p.p_paddr + p.p_filesz)
        offset = ph.p_offset + paddr - ph.p_paddr
        order = core.byteorder  # the default scenario is big-endian 3.4
    with open(dest, "r+b") as f:
        f.seek(offset)
        f.write(value.to_bytes(4, order))
    return str(dest)


def test_the_real_vmcore_gives_its_log(real_vmcore):
    """The control case: the unforged file's dmesg works (exit 0)."""
    proc = fadump_emu("dmesg", str(real_vmcore))
    assert proc.returncode == 0 and "Kernel panic" in proc.stdout, proc.stderr


@pytest.mark.parametrize("value", [0x8000_0000, 0x1234_5678, 0])
def test_a_forged_log_buf_len_is_refused_before_reading(real_vmcore, tmp_path, value):
    """log_buf_len 2 GiB (more than any 3.4 ring), not a power of two, or zero: refused before any read."""
    path = forge_u32(real_vmcore, tmp_path / "forged", "log_buf_len", value)
    refused(fadump_emu("dmesg", path), "log_buf_len is")


def test_a_plausible_but_wrong_log_buf_len_prints_no_nuls(real_vmcore, tmp_path):
    """A 128 MiB ring (a legal size) said to have wrapped reaches the zeros after the real ring: refused."""
    path = forge_u32(real_vmcore, tmp_path / "forged", "log_buf_len", 0x0800_0000)
    path = forge_u32(path, tmp_path / "forged2", "log_end", 0x0800_0000 + 5)
    refused(fadump_emu("dmesg", path), "NUL bytes")


def test_a_log_end_pointing_into_zeros_gives_no_nul_flood(real_vmcore, tmp_path):
    """log_end past the written part of the ring would print NULs: refused with a sentence."""
    with VmcoreFile(str(real_vmcore)) as core:
        length = core.read_u32(int(core.vmcoreinfo["SYMBOL(log_buf_len)"], 16))
    path = forge_u32(real_vmcore, tmp_path / "forged", "log_end", length - 1)
    refused(fadump_emu("dmesg", path), "NUL bytes")


def kdump_header(block_size: int, sub_hdr_size: int, bitmap_blocks: int, max_mapnr: int) -> bytes:
    """makedumpfile's disk_dump_header (diskdump_mod.h) and a version-6 kdump_sub_header, little-endian."""
    from emulator.vmcore.kdump_compressed import _structs

    header, sub, _ = _structs(True)
    main = header.build(dict(header_version=6, utsname=bytes(390), tv_sec=0, tv_usec=0, status=0,
                             block_size=block_size, sub_hdr_size=sub_hdr_size, bitmap_blocks=bitmap_blocks,
                             max_mapnr=max_mapnr & 0xFFFFFFFF, total_ram_blocks=0, device_blocks=0,
                             written_blocks=0, current_cpu=0, nr_cpus=1))
    fields = dict.fromkeys(("phys_base", "dump_level", "split", "start_pfn", "end_pfn", "offset_vmcoreinfo",
                            "size_vmcoreinfo", "offset_note", "size_note", "offset_eraseinfo", "size_eraseinfo",
                            "start_pfn_64", "end_pfn_64"), 0)
    return main.ljust(block_size, b"\0") + sub.build(dict(fields, max_mapnr_64=max_mapnr))


@pytest.mark.parametrize("case", ["huge-bitmap", "descriptors-past-end", "bad-block-size"])
def test_a_forged_kdump_compressed_header_is_refused_by_verify(real_vmcore, tmp_path, case):
    """Bitmaps of 2^40 pages, page descriptors past the end, or a block size of 3: exit 2 at once."""
    if case == "huge-bitmap":
        raw = kdump_header(4096, 1, 0xFFFF_FFFF, 1 << 40)
    elif case == "descriptors-past-end":
        raw = kdump_header(4096, 1, 2, 8 * 4096) + bytes(4096) + b"\xff" * 4096
    else:
        raw = kdump_header(3, 1, 1, 8)
    path = tmp_path / "forged.kdump"
    path.write_bytes(raw)
    proc = fadump_emu("verify", str(real_vmcore.parent), "--vmcore", str(path))
    refused(proc, "kdump-compressed dump:")


def test_a_fifo_as_the_ibm_kernel_dump_of_a_run_folder_is_refused(real_vmcore):
    """inspect RUN_DIR reads boot-N/.../ibm,kernel-dump: a FIFO there is refused, not waited on."""
    import shutil

    run = real_vmcore.parent
    copy = run.parent / "fifo-run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("vmcore"))
    target = copy / "boot-2" / "proc" / "device-tree" / "rtas" / "ibm,kernel-dump"
    target.unlink()
    os.mkfifo(target)
    refused(fadump_emu("inspect", str(copy), "--what", "kernel-dump"), "is a FIFO (named pipe)")
