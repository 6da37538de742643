"""Each Debian makedumpfile release gives on an emulated SPARSEMEM_VMEMMAP dump the verdict it gives on a real one.

Measured on a real Linux 6.12.117 fadump (radix, 2 GiB; ../shared/reference/fadump-abi.md, corrections at the
top), ``makedumpfile -l -d 31``:
- bookworm 1.7.2 fails: ``readmem: type_addr: 0, addr:c00c000000000000`` and ``Can't read the buffer of struct
  page``. Its arch/ppc64.c get_machdep_info_ppc64 finds neither SYMBOL(vmap_area_list) nor SYMBOL(vmlist)
  (gone since 6.9; NUMBER(VMALLOC_START) replaced them), returns before taking swapper_pg_dir and
  vmemmap_list, and vaddr_to_paddr_ppc64 then reads vmemmap addresses as linear ones (vaddr - _stext).
- trixie 1.7.6 succeeds (NUMBER(VMALLOC_START), then a swapper_pg_dir walk on radix, where vmemmap_list is
  empty since 6.6, or vmemmap_list on hash) but excludes no free page: its isSlab() tests
  (_mapcount & (PAGE_TYPE_BASE | ~PAGE_SLAB_MAPCOUNT_VALUE)) == PAGE_TYPE_BASE, which every 6.12 page type
  (PGTY_x << 24) passes, so buddy pages count as slab.
- sid 1.7.8 succeeds and excludes the free pages (isSlab compares _mapcount with the value exactly).
- ``--dump-dmesg`` works with all three.

The 6.12 page types come from the linux-6.12 profile (kernels.versions PAGE_6_12, struct pages and VMCOREINFO
alike). Tools: bookworm from ``make ppc64el-tools``; trixie and sid from ``make ppc64el-tools-releases``
(.tools/ppc64el-trixie / -sid, or $FADUMP_EMU_PPC64EL_TOOLS_TRIXIE / _SID); CI installs all three.
"""

import os
import re
from pathlib import Path

import pytest

from emulator.host import ppc64el_tools
from emulator.api import ScenarioBuilder
from kernels.memmap import PAGE_6_10, PAGE_6_12

PROJECT = Path(__file__).resolve().parent.parent
KDUMP_UTILS = ("-l", "--message-level", "31", "-d", "31", "vmcore", "out.kdump")
FREE_PAGES = re.compile(r"Free pages\s*:\s*0x([0-9a-f]+)")
LAYOUTS = {"6.10": PAGE_6_10, "6.12": PAGE_6_12}
PROFILE_OF = {"6.10": "linux-6.10", "6.12": "linux-6.12"}
"""The profile whose struct pages and VMCOREINFO page keys (kernels.versions) carry each layout."""


def tools(release: str) -> Path | None:
    """The tool folder of a Debian release, or None when it is not set up."""
    if release == "bookworm":
        return ppc64el_tools.dest_dir() if ppc64el_tools.available() else None
    d = Path(os.environ.get(f"FADUMP_EMU_PPC64EL_TOOLS_{release.upper()}") or PROJECT / ".tools" / f"ppc64el-{release}")
    usable = ppc64el_tools.tool_path("makedumpfile", d).is_file() and os.access(ppc64el_tools.qemu_path(d), os.X_OK)
    return d.resolve() if usable else None


def need(release: str) -> Path:
    d = tools(release)
    if d is None:
        message = f"Debian {release}'s ppc64el makedumpfile is not set up"
        if os.environ.get("CI") or os.environ.get("FADUMP_EMU_REQUIRE_TOOLS"):  # .ci/run installs all three
            pytest.fail(ppc64el_tools.how_to_install() if release == "bookworm" else
                        f"{message}: make ppc64el-tools-releases")
        pytest.skip(message)
    return d


def makedumpfile(d: Path, folder: Path, *args: str):
    (folder / "out.kdump").unlink(missing_ok=True)
    return ppc64el_tools._run(d, "makedumpfile", list(args), str(folder), ppc64el_tools.RUN_TIMEOUT)


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    """One emulated 2 GiB dump per (mmu, release's page layout: the linux-6.10 or linux-6.12 profile), made once."""
    made: dict[tuple[str, str], Path] = {}

    def get(mmu: str, layout: str) -> Path:
        if (mmu, layout) not in made:
            folder = tmp_path_factory.mktemp(f"{mmu}-{layout}")
            result = (ScenarioBuilder(f"verdict-{mmu}-{layout}")
                      .machine(memory="2GiB", cpus=2, mmu=mmu)
                      .kernel(profile=PROFILE_OF[layout], cmdline="fadump=on crashkernel=512M")
                      .write(0x4100000, text="kernel data", repeat=100)
                      .crash(cpu=1)
                      .run(str(folder / "run")))
            assert result.outcome == "vmcore"
            (folder / "vmcore").symlink_to(result.captures[0].path)
            made[(mmu, layout)] = folder
        return made[(mmu, layout)]

    return get


def shown(proc) -> str:
    return f"rc={proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-2000:]}"


def free_pages(proc) -> int:
    found = FREE_PAGES.search(proc.stdout + proc.stderr)
    assert found, shown(proc)
    return int(found.group(1), 16)


MMUS = pytest.mark.parametrize("mmu", ["radix", "hash"])
BOTH_LAYOUTS = pytest.mark.parametrize("layout", ["6.10", "6.12"])


@MMUS
@BOTH_LAYOUTS
def test_bookworm_makedumpfile_1_7_2_cannot_read_struct_page_through_vmemmap(dumps, mmu, layout):
    """1.7.2 fails with the real dump's messages, whatever the MMU and page types."""
    d = need("bookworm")
    proc = makedumpfile(d, dumps(mmu, layout), *KDUMP_UTILS)
    assert proc.returncode == 1, shown(proc)
    assert "readmem: type_addr: 0, addr:c00c000000000000" in proc.stderr, shown(proc)
    assert "Can't read the buffer of struct page" in proc.stderr, shown(proc)


@MMUS
def test_trixie_makedumpfile_1_7_6_succeeds_but_keeps_6_12_free_pages(dumps, mmu):
    """1.7.6 completes on 6.12 page types and excludes no free page; on 6.10's it does exclude them."""
    d = need("trixie")
    proc = makedumpfile(d, dumps(mmu, "6.12"), *KDUMP_UTILS)
    assert proc.returncode == 0 and "makedumpfile Completed." in proc.stdout, shown(proc)
    assert free_pages(proc) == 0
    proc = makedumpfile(d, dumps(mmu, "6.10"), *KDUMP_UTILS)
    assert proc.returncode == 0 and free_pages(proc) > 0x4000, shown(proc)


@MMUS
def test_sid_makedumpfile_1_7_8_succeeds_and_drops_6_12_free_pages(dumps, mmu):
    """1.7.8 completes and excludes the buddy pages (most of the 1.5 GiB an idle 2 GiB partition dumps; the real dump: 0x5c25 of 0x5fff pages)."""
    d = need("sid")
    proc = makedumpfile(d, dumps(mmu, "6.12"), *KDUMP_UTILS)
    assert proc.returncode == 0 and "makedumpfile Completed." in proc.stdout, shown(proc)
    assert free_pages(proc) > 0x4000


@pytest.mark.parametrize("release", ["bookworm", "trixie", "sid"])
def test_dump_dmesg_works_with_every_release(dumps, release):
    """--dump-dmesg needs no struct page: all three releases print the log."""
    d = need(release)
    folder = dumps("radix", "6.12")
    (folder / "dmesg.txt").unlink(missing_ok=True)
    proc = makedumpfile(d, folder, "--dump-dmesg", "vmcore", "dmesg.txt")
    assert proc.returncode == 0, shown(proc)
    assert "Kernel panic - not syncing" in (folder / "dmesg.txt").read_text(errors="replace")


def test_trixie_translates_radix_vmemmap_through_the_page_tables_the_kernel_wrote(dumps):
    """Self-check: with the vmemmap PGD entry cleared in the vmcore, 1.7.6 can no longer read struct page."""
    from elftools.elf.elffile import ELFFile

    d = need("trixie")
    folder = dumps("radix", "6.12")
    with open(folder / "vmcore", "r+b") as f:
        head = f.read(1 << 20)  # ELF headers and notes
        at = head.index(b"SYMBOL(swapper_pg_dir)=") + len(b"SYMBOL(swapper_pg_dir)=")
        pgd = int(head[at:head.index(b"\n", at)], 16) & ~0xC000_0000_0000_0000
        entry = pgd + 8 * ((0xC00C_0000_0000_0000 >> 39) & 0x1FFF)
        load = next(s for s in ELFFile(f).iter_segments()
                    if s["p_type"] == "PT_LOAD" and s["p_paddr"] <= entry < s["p_paddr"] + s["p_filesz"])
        offset = load["p_offset"] + entry - load["p_paddr"]
        f.seek(offset)
        good = f.read(8)
        assert good != bytes(8)
        f.seek(offset)
        f.write(bytes(8))
    try:
        proc = makedumpfile(d, folder, *KDUMP_UTILS)
    finally:
        with open(folder / "vmcore", "r+b") as f:
            f.seek(offset)
            f.write(good)
    assert proc.returncode == 1, shown(proc)
    assert "Can't read the buffer of struct page" in proc.stderr, shown(proc)
    assert makedumpfile(d, folder, *KDUMP_UTILS).returncode == 0
