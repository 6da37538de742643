"""What a kernel makes of the machine keys: ppc64_rma_size by MMU and firmware, and NR_CPUS from [kernel] nr_cpus.

ppc64_rma_size: arch/powerpc/mm/init_64.c mmu_early_init_devtree() (6.x: ULONG_MAX under radix) and
arch/powerpc/mm/book3s64/hash_utils.c hash__setup_initial_memory_limit() (6.x guest: first memblock size,
clamped to 1 GiB before ISA 3.0 and to 1 TiB from ISA 3.0). The first memblock is the firmware's RMA:
QEMU's spapr_rma_size() (min(RAM, 1 TiB)) or PowerVM's first LMB.
NR_CPUS: include/linux/cpumask.h, struct cpumask { DECLARE_BITMAP(bits, NR_CPUS); } in whole unsigned longs;
the crash info header embeds one (arch/powerpc/include/asm/fadump-internal.h, 6.10).
"""

from emulator.scenario import loader as scenario
from firmware.machine import Machine, MachineConfig
from emulator.run.runner import Run, publish
from emulator.units import GiB, MiB
from kernels.linux34 import Linux34
from kernels.linux610 import Linux610
from kernels.structs import kernel_structs


def kernel(cls=Linux610, nr_cpus=None, **config):
    m = Machine(MachineConfig(**{"memory": 2 * GiB, "cpus": 2, **config}))
    return cls(m, "fadump=on", "r", 1, 0, nr_cpus=nr_cpus)


def test_radix_kernels_see_no_rma_limit_whatever_the_firmware():
    assert kernel(mmu="radix").ppc64_rma_size == kernel(mmu="radix", firmware="qemu").ppc64_rma_size == 2**64 - 1


def test_hash_kernels_see_the_firmwares_first_memory_node():
    assert kernel(mmu="hash").ppc64_rma_size == 256 * MiB  # PowerVM's first LMB
    assert kernel(mmu="hash", firmware="qemu").ppc64_rma_size == 2 * GiB  # spapr_rma_size(): all of RAM
    assert kernel(mmu="hash", firmware="qemu", rma_size=1 * GiB).ppc64_rma_size == 1 * GiB


def test_the_3_4_kernel_clamps_its_rma_to_1_gib():
    assert kernel(Linux34, mmu="hash", firmware="qemu").ppc64_rma_size == 1 * GiB


def test_nr_cpus_defaults_to_the_profile_and_follows_the_scenario():
    assert kernel().nr_cpus == Linux610.version.nr_cpus == 2048
    k = kernel(nr_cpus=8)
    assert (k.nr_cpus, k.ks.cpumask_size) == (8, 8)


def test_a_cpumask_is_whole_unsigned_longs():
    assert [kernel_structs(True, (), n).cpumask_size for n in (1, 8, 64, 65, 2048)] == [8, 8, 8, 16, 256]


def test_nr_cpus_changes_the_reserved_metadata_by_the_cpumask_difference(tmp_path):
    """mem_reserved grows by sizeof(struct cpumask): 8 bytes with NR_CPUS=8 (the real 6.12 run: 536936880)."""
    text = ('[machine]\nmemory = "2GiB"\ncpus = 2\nfirmware = "qemu"\nmmu = "radix"\n[kernel]\nprofile = "linux-6.10"\n'
            'cmdline = "fadump=on crashkernel=512M"\n{nr}\n[capture]\nafter = "stay"\n')

    def reserved(nr: str) -> int:
        sc = scenario.loads(text.format(nr=nr))
        run = Run(sc, None)
        publish(run, str(tmp_path / (nr.replace(" ", "") or "default")))
        return int(run.kernels[0].sysfs["/sys/kernel/fadump/mem_reserved"].show())

    assert reserved("nr_cpus = 8") == 536936880
    assert reserved("") - reserved("nr_cpus = 8") == 256 - 8
