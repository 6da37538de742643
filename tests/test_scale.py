"""Scale: a 64 TiB partition's whole lifecycle, with cost following the data touched (not timed here)."""

from emulator.api import ScenarioBuilder
from emulator.units import TiB


def test_a_64_tib_partition_boots_crashes_and_captures_a_verified_vmcore(tmp_path):
    """Boot memory is over 3 TiB, yet only written pages are copied, saved and verified."""
    result = (ScenarioBuilder("huge")
              .machine(memory="64TiB", cpus=8)
              .kernel(profile="linux-6.10", cmdline="fadump=on")
              .write(0x4100000, text="inside boot memory of a 64 TiB partition", repeat=1000)
              .write(48 * TiB, text="forty-eight tebibytes up", repeat=1000)
              .crash(cpu=5, at="10s")
              .expect(outcome="vmcore", memory=[{"addr": hex(48 * TiB), "text": "forty-eight tebibytes up"}])
              .run(str(tmp_path / "out")))
    assert all(e["ok"] for e in result.expectations), result.expectations
    cap = result.captures[0]
    assert cap.verification["ok"] and cap.size > 60 * TiB
    assert cap.disk_bytes < 256 << 20  # the data, not the partition
    assert result.partition.memory.touched_bytes() < 1 << 30
    assert result.partition.firmware.bytes_moved < 256 << 20  # 3.2 TiB of boot memory, a few MiB copied


def test_the_full_image_of_a_terabyte_partition_is_a_sparse_file(tmp_path):
    """A 1 TiB vmcore is written in full, but as a sparse file whose blocks follow the data."""
    import os

    result = (ScenarioBuilder("tera")
              .machine(memory="1TiB", cpus=4)
              .kernel(profile="linux-6.10", cmdline="fadump=on")
              .write(0x4100000, text="data", repeat=100)
              .crash(cpu=1, at="10s")
              .run(str(tmp_path / "out")))
    cap = result.captures[0]
    st = os.stat(cap.path)
    assert cap.format == "full" and st.st_size == cap.size
    assert st.st_blocks * 512 < 512 << 20
