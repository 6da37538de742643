"""Saving /proc/vmcore (emulator.run.export): a sparse full image, a filtered ELF dump, a disk that fills up,
and the fall-back from one to the other where a file system cannot hold the full image."""

import errno
import os

import pytest
from elftools.elf.elffile import ELFFile

from emulator.errors import FadumpEmuError
from emulator.run import export
from emulator.run.runner import Run
from emulator.scenario import loader as scenario
from emulator.scenario.faults import DiskFull
from tests.conftest import small_scenario_text


@pytest.fixture(scope="module")
def vmcore():
    """/proc/vmcore of the small scenario's capture kernel, its RAM still alive."""
    run = Run(scenario.loads(small_scenario_text(extra="[capture]\nafter = \"stay\"\n")), None)
    run.execute()
    return run.kernels[-1].vmcore


def loads_of(path):
    with open(path, "rb") as f:
        elf = ELFFile(f)
        return [(seg["p_paddr"], seg["p_offset"], seg["p_filesz"]) for seg in elf.iter_segments()
                if seg["p_type"] == "PT_LOAD"]


def test_the_full_image_is_sparse_and_holds_every_written_byte(vmcore, tmp_path):
    path = tmp_path / "vmcore"
    moved = []
    saved = export.save(vmcore, str(path), export.FULL, progress=moved.append)
    assert saved.format == export.FULL and saved.size == vmcore.size == path.stat().st_size
    assert path.stat().st_blocks * 512 < vmcore.size  # never-written memory takes no disk
    assert sum(moved) <= saved.data_bytes and saved.data_bytes > 0
    first = next(load for load in vmcore.loads if load.size)
    with open(path, "rb") as f:
        paddr, offset, _ = next(x for x in loads_of(path) if x[0] == first.paddr)
        f.seek(offset)
        assert f.read(4096) == vmcore.ram.read(first.source, 4096)
    assert not (tmp_path / "vmcore-incomplete").exists()


def test_the_filtered_dump_keeps_only_written_pages_and_their_bytes(vmcore, tmp_path):
    full, filtered = tmp_path / "full", tmp_path / "filtered"
    export.save(vmcore, str(full), export.FULL)
    saved = export.save(vmcore, str(filtered), export.FILTERED)
    assert saved.format == export.FILTERED and saved.reason == "filtered format requested"
    assert filtered.stat().st_size == saved.size < full.stat().st_size
    with open(filtered, "rb") as f:
        for paddr, offset, size in loads_of(filtered):
            f.seek(offset)
            assert f.read(min(size, 4096)) == vmcore.read_paddr(paddr, min(size, 4096))


def test_a_full_disk_stops_the_save_and_keeps_the_incomplete_file(vmcore, tmp_path):
    path = tmp_path / "vmcore"
    with pytest.raises(DiskFull) as full:
        export.save(vmcore, str(path), export.FULL, capacity=1 << 20)
    assert full.value.written > 1 << 20
    assert not path.exists() and (tmp_path / "vmcore-incomplete").exists()


def test_auto_falls_back_to_filtered_where_the_file_system_cannot_hold_the_full_image(vmcore, tmp_path,
                                                                                      monkeypatch):
    """ext4 refuses a file above 16 TiB with EFBIG: auto writes the filtered dump and says why."""
    def too_big(f, size):
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))

    monkeypatch.setattr(export, "_probe_size", too_big)
    saved = export.save(vmcore, str(tmp_path / "vmcore"), export.AUTO)
    assert saved.format == export.FILTERED and "larger than this file system allows" in saved.reason
    with pytest.raises(FadumpEmuError, match="cannot write"):
        export.save(vmcore, str(tmp_path / "full-only"), export.FULL)
