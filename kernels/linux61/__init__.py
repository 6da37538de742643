"""Profile "linux-6.1": the original fadump design (first-kernel ELF core header) as Debian 12's 6.1 has it."""

from kernels.linux61.kernel import Linux61

__all__ = ["Linux61"]
