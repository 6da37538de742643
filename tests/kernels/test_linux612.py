"""Where 6.12 prints its CMA line: from setup_arch(), after early_init_devtree()'s fadump lines.

arch/powerpc/kernel/setup-common.c (6.12.117) setup_arch(): "initmem_init(); ... fadump_cma_init();", and
arch/powerpc/kernel/prom.c (6.12) early_init_devtree(): fadump_reserve_mem(), then later fadump_setup_param_area().
6.10's fadump_reserve_mem() called fadump_cma_init() itself (arch/powerpc/kernel/fadump.c, 6.10). Measured on the
real 6.12.117 (tests/reference/linux-6.12/hash/console-boot0.log): "Reserved 512MB", the parameter-area WARNING,
then "Initialized 0x20000000 bytes cma area".
"""

from firmware.machine import Machine, MachineConfig
from emulator.units import GiB
from kernels.linux610 import Linux610
from kernels.linux612.kernel import Linux612

CMDLINE = "fadump=on crashkernel=512M"


def fadump_lines(profile) -> list[str]:
    m = Machine(MachineConfig(memory=2 * GiB, cpus=2, mmu="hash", firmware="qemu"))
    m.power_on(CMDLINE)
    k = profile(m, CMDLINE, "6.12.0", m.boot_count, 0)
    m.env.process(k.boot_sequence())
    m.env.run()
    lines = [line.split("] ", 1)[-1] for line in m.console.text().splitlines()]
    return [line for line in lines if line.startswith(("fadump: Reserved", "fadump: WARNING", "fadump: Initialized"))]


def test_6_12_prints_the_parameter_area_warning_before_the_cma_line():
    lines = fadump_lines(Linux612)
    assert [line.split()[1] for line in lines] == ["Reserved", "WARNING:", "Initialized"], lines


def test_6_10_still_prints_the_cma_line_right_after_the_reservation():
    lines = fadump_lines(Linux610)
    assert [line.split()[1] for line in lines][:2] == ["Reserved", "Initialized"], lines
