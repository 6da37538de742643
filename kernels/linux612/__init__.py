"""Profiles "linux-6.12" and "linux-7.2": the 6.10 design with each release's deltas (kernels.versions)."""

from kernels.linux612.kernel import Linux72, Linux612

__all__ = ["Linux612", "Linux72"]
