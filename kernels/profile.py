"""KernelProfile: what the run (emulator.run) needs from a kernel, and nothing more.

Every class in kernels.registry.PROFILES satisfies it (tests/kernels/test_profile.py
builds each on a small machine and checks); the run touches a kernel only through
these names, so a new profile knows what it must provide.
"""

from collections.abc import Generator
from typing import Protocol, runtime_checkable

from emulator.hw.layout import Range
from kernels.crash import Verdict


@runtime_checkable
class KernelProfile(Protocol):
    """A booted kernel as the run sees it: its lifecycle, its userspace, its crash and what it left for capture."""

    profile: str
    """The registry name (linux-3.4, linux-6.10, ...)."""
    boot: int
    """Which boot of the partition this kernel is (1 = first)."""
    step: str
    """The last boot step it finished (names lifecycle boundaries)."""
    ram: object
    memblock: object
    sysfs: dict
    debugfs: dict
    vmcore: object | None
    """/proc/vmcore when this kernel is a capture kernel that accepted the dump, else None."""
    pid_by_cpu: bool
    modern_wording: bool
    mask_at_registration: str
    pt_regs_fields: tuple[str, ...]
    saved_regs: dict[str, int] | None
    crash_regs: dict[str, int] | None
    """The crashing CPU's registers as the trigger left them (set by crash_process)."""
    crash_info_saved: bool
    kdump_fallback: bool
    ks: object
    """The kernel's struct layouts (kernels.structs), for reading its notes."""
    byteorder: str

    def boot_sequence(self) -> Generator:
        """start_kernel() to userspace: yields SimPy events; each yield ends a lifecycle step."""

    @property
    def reserved_area(self) -> Range | None:
        """The fadump reserved dump area (excluded from crash-time verification)."""

    def crash_process(self, kind: str, cpu: int, regs: dict[str, int], message: str,
                      stuck: tuple[int, ...] = ()) -> Generator:
        """The crashing CPU as a SimPy process; its value is the Verdict."""

    def userspace(self, text: str) -> None: ...

    def kdump_service_register(self) -> Generator:
        """The kdump service's registration at boot (SimPy steps: it may write sysfs, which reaches firmware)."""

    def narrate_rejection(self) -> None: ...

    def machine_shutdown(self) -> Generator:
        """A clean reboot: fadump_cleanup() (SimPy steps: it reaches firmware)."""

    def release_path(self) -> str: ...

    def sysfs_read(self, path: str) -> str | int: ...

    def sysfs_write(self, path: str, value: str) -> Generator:
        """write(2) to sysfs as SimPy steps of the writing process; the value is the count or -errno."""

    def page_kind(self, addr: int, size: int, kind: str) -> None: ...

    def dlpar_memory_add(self, addr: int) -> bool: ...

    def dlpar_memory_remove(self, addr: int) -> bool: ...

    def cpu_set_online(self, cpu: int, online: bool) -> bool: ...
