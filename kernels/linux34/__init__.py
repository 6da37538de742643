"""Profile "linux-3.4": the seed design, ELF core header built by the first kernel."""

from kernels.linux34.kernel import Linux34

__all__ = ["Linux34"]
