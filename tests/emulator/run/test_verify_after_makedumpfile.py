"""`fadump-emu verify` on what Debian's ppc64el makedumpfile made of a saved vmcore.

makedumpfile 1.7.2 (Debian bookworm, under qemu-user) rewrites the dump as a
filtered ELF file (-E) or the kdump-compressed format (-l lzo, -c zlib;
layout from makedumpfile's diskdump_mod.h). Only the pages it kept are
checked against the crash-time digests, and a changed byte in a kept page is
still found and named.
"""

import os

import pytest

from emulator.vmcore import kdump_compressed
from emulator.vmcore import lzo1x
from emulator.host import ppc64el_tools
from emulator.scenario import loader as scenario
from emulator.cli import main
from emulator.run.runner import Run
from emulator.run.verify_command import verify_run_dir

BASIC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "scenarios", "basic-panic-modern.toml")
"""Little-endian 6.10 (the ppc64el tools read no big-endian dump). Debian 12's makedumpfile 1.7.2 cannot read
its struct pages through vmemmap (tests/test_makedumpfile_verdicts.py), so the filter here is -d 1 (zero pages),
which needs no struct page."""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    if not ppc64el_tools.available():
        if os.environ.get("CI") or os.environ.get("FADUMP_EMU_REQUIRE_TOOLS"):
            pytest.fail(ppc64el_tools.how_to_install())
        pytest.skip(ppc64el_tools.how_to_install())
    out = tmp_path_factory.mktemp("mdf") / "run"
    Run(scenario.load(BASIC), str(out)).execute()
    return out


def makedumpfile(run_dir, *opts: str) -> str:
    name = "vmcore.mdf" + "".join(o.strip("-") for o in opts)
    dest = run_dir / name
    if dest.exists():
        dest.unlink()
    proc = ppc64el_tools.makedumpfile([*opts, "vmcore", name], cwd=str(run_dir))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return str(dest)


@pytest.mark.parametrize("opts", [("-E", "-d", "1"), ("-l", "-d", "1"), ("-c", "-d", "1"), ("-d", "1")])
def test_a_makedumpfile_output_verifies_on_the_pages_it_kept(run_dir, opts):
    """Filtered ELF (-E) and kdump-compressed (lzo, zlib, raw) outputs match where they hold pages."""
    path = makedumpfile(run_dir, *opts)
    v = verify_run_dir(str(run_dir), path, "vmcore")[0]
    assert v["ok"] and v["filtered"] and v["checked_bytes"] > 1 << 20, v
    if "-E" in opts:  # an ELF file leaves the dropped zero pages out of its PT_LOADs
        assert v["filtered_out_bytes"] > 0


def test_a_changed_byte_in_a_compressed_page_is_found(run_dir, tmp_path, capsys):
    """An uncompressed (-d 1 without -l) kdump page with one flipped bit: verify exits 1 and names the grain."""
    path = makedumpfile(run_dir, "-d", "1")
    src = kdump_compressed.KdumpFileSource(path)
    pfn = next(p for p in src.pfns() if p * src.block_size >= 0x100000000)
    index = next(i for i, p in enumerate(src.pfns()) if p == pfn)
    desc = src._desc.parse(src._read(src._desc_off + index * 24, 24))
    src.close()
    assert desc.flags == 0 and desc.size == src.block_size
    with open(path, "r+b") as f:
        f.seek(desc.offset + 5000)
        b = f.read(1)[0]
        f.seek(desc.offset + 5000)
        f.write(bytes([b ^ 0x80]))
    assert main(["verify", str(run_dir), "--vmcore", path]) == 1
    grain = pfn * src.block_size + 4096
    assert f"differs from crash-time memory: [{grain:#x}, {grain + 4096:#x})" in capsys.readouterr().out


def test_lzo_streams_that_lie_are_errors_not_crashes():
    """A match before the start, a literal run past the end, or output past the page: ValueError."""
    for bad in (b"\x11\x00", b"\x40\x05", b"\x20" + b"\xff" * 10, bytes([17 + 200]) + b"a" * 10):
        with pytest.raises(ValueError):
            lzo1x.decompress(bad, 64)


def test_lzo_round_trip_of_a_known_stream():
    """A stream of 4 literals then the end marker 0x11 0x00 0x00 (lzo.rst first-byte rule) decodes to them."""
    assert lzo1x.decompress(bytes([17 + 4]) + b"abcd" + b"\x11\x00\x00", 64) == b"abcd"
