"""[machine] firmware / mmu / rma_size and [kernel] nr_cpus: accepted values and PATH:LINE errors.

Each mistake marks the offending line with ``# <-`` (helpers from test_scenario).
"""

import pytest

from emulator.scenario import loader as scenario
from tests.emulator.scenario.test_scenario import load_error, marked_line, write

MISTAKES = [
    ("firmware-unknown", """
        [machine]
        memory = "2GiB"
        firmware = "slof"  # <-
        """, "machine.firmware must be one of 'phyp', 'qemu'"),
    ("register-save-area-replaced", """
        [machine]
        memory = "2GiB"
        register_save_area = "qemu"  # <-
        """, "machine.register_save_area was replaced by machine.firmware"),
    ("rma-larger-than-memory", """
        [machine]
        memory = "1GiB"
        rma_size = "2GiB"  # <-
        """, "machine.rma_size must be above 0 and at most machine.memory (1024MiB)"),
    ("rma-not-16mib-aligned", """
        [machine]
        memory = "1GiB"
        rma_size = "100MiB"  # <-
        """, "machine.rma_size must be a multiple of 16MiB"),
    ("rma-over-a-hole", """
        [machine]
        memory = "4GiB"
        rma_size = "1GiB"  # <-
        holes = [{ start = "0x20000000", size = "256MiB" }]
        """, "machine.rma_size must end below the first hole"),
    ("qemu-without-extended-os-term", """
        [machine]
        memory = "2GiB"
        firmware = "qemu"
        extended_os_term = false  # <-
        """, "always advertises ibm,extended-os-term"),
    ("mmu-unknown", """
        [machine]
        memory = "2GiB"
        mmu = "segments"  # <-
        """, "machine.mmu must be \"hash\" or \"radix\""),
    ("radix-with-3-4", """
        [machine]
        memory = "2GiB"
        mmu = "radix"
        [kernel]
        profile = "linux-3.4"  # <-
        """, "predates the radix MMU"),
    ("nr-cpus-zero", """
        [kernel]
        profile = "linux-6.10"
        nr_cpus = 0  # <-
        """, "kernel.nr_cpus (CONFIG_NR_CPUS) must be between 2 and 8192, not 0"),
    ("nr-cpus-too-large", """
        [kernel]
        nr_cpus = 16384  # <-
        """, "must be between 2 and 8192"),
    ("nr-cpus-below-cpus", """
        [machine]
        cpus = 16
        [kernel]
        nr_cpus = 8  # <-
        """, "kernel.nr_cpus = 8 is below machine.cpus = 16"),
    ("nr-cpus-not-an-integer", """
        [kernel]
        nr_cpus = "eight"  # <-
        """, "kernel.nr_cpus must be an integer"),
]


@pytest.mark.parametrize(("toml", "fragment"), [(t, f) for _, t, f in MISTAKES], ids=[i for i, _, _ in MISTAKES])
def test_each_machine_key_mistake_points_at_its_line(tmp_path, toml, fragment):
    path = write(tmp_path, toml)
    err = load_error(path)
    assert str(err).startswith(f"{path}:{marked_line(path)}: "), str(err)
    assert fragment in str(err)


def test_firmware_defaults_to_phyp_and_rma_size_to_the_firmwares_default(tmp_path):
    sc = scenario.load(write(tmp_path, """
        [machine]
        memory = "2GiB"
        """))
    assert (sc.machine.firmware, sc.machine.rma_size, sc.kernel.nr_cpus) == ("phyp", None, None)


def test_firmware_qemu_radix_rma_and_nr_cpus_are_read(tmp_path):
    sc = scenario.load(write(tmp_path, """
        [machine]
        memory = "2GiB"
        cpus = 2
        firmware = "qemu"
        mmu = "radix"
        rma_size = "1GiB"
        [kernel]
        profile = "linux-6.10"
        nr_cpus = 8
        """))
    assert (sc.machine.firmware, sc.machine.mmu, sc.machine.rma_size) == ("qemu", "radix", 1 << 30)
    assert sc.kernel.nr_cpus == 8
