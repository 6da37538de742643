"""Profile "linux-6.10": modern fadump, ELF core header built by the capture kernel."""

from kernels.linux610.kernel import Linux610

__all__ = ["Linux610"]
