"""The places where a scenario's [[faults]] may act inside a kernel, given to the kernel's constructor.

Kernel code never names a fault: it calls these hooks, which do nothing unless
emulator.scenario.faults.FaultPlan.kernel_hooks() filled them in.
"""

from collections.abc import Callable
from dataclasses import dataclass


def _no_call(name: str, args: tuple[int, ...]):
    return None


def _unchanged(fdm):
    return fdm


@dataclass(frozen=True)
class FaultHooks:
    """What faults may do inside a kernel (each hook's default changes nothing)."""

    before_rtas: Callable[[str, tuple[int, ...]], object] = _no_call
    """Called with the RTAS call's name and arguments before the kernel makes it; None, or a SimPy event the call
    waits on first (a crash strikes there: it arrives as an interrupt into the calling kernel's process)."""
    register_structure: Callable = _unchanged
    """Rewrites the dump structure a REGISTER passes to firmware (returns the structure to register)."""


NO_FAULTS = FaultHooks()
