"""kernels/base.py: what every kernel profile shares."""

from emulator.hw.ram import PartitionRAM
from kernels.base import SCRATCH_TILE, _scratch_tile, write_scratch


def test_the_scratch_pattern_is_written_a_tile_at_a_time_and_reads_back_as_one_repeat():
    """write_scratch fills its range with the boot's pattern repeated from its start, whatever the tile size:
    the same bytes as one block of the whole size (what it replaced), including a short last tile."""
    ram = PartitionRAM(16 << 20)
    size = 3 * SCRATCH_TILE + 1234
    write_scratch(ram, 0x10000, size, 2)
    pattern = b"boot 2 initramfs/page cache "
    assert ram.read(0x10000, size) == (pattern * (size // len(pattern) + 1))[:size]
    assert ram.read(0x10000 + size, 16) == bytes(16)
    assert len(_scratch_tile(2)) % len(pattern) == 0
    assert len(_scratch_tile(2)) <= SCRATCH_TILE
