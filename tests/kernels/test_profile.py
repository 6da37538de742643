"""Every registered kernel profile provides what the run needs (kernels.profile.KernelProfile)."""

import pytest

from emulator.units import GiB
from firmware.machine import Machine, MachineConfig
from kernels.fault_hooks import NO_FAULTS, FaultHooks
from kernels.profile import KernelProfile
from kernels.registry import PROFILES


def built(profile: str, **kwargs):
    m = Machine(MachineConfig(memory=1 * GiB, cpus=4))
    return PROFILES[profile](m, "fadump=on", "6.10.0", 1, 0, **kwargs)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_registered_profile_is_a_kernel_profile(profile):
    assert isinstance(built(profile), KernelProfile)


def test_an_object_missing_a_lifecycle_method_is_not_a_kernel_profile():
    """The protocol check is not vacuous: a kernel without boot_sequence() fails it."""
    k = built("linux-6.10")

    class Partial:
        def __getattr__(self, name):
            if name == "boot_sequence":
                raise AttributeError(name)
            return getattr(k, name)

    assert not isinstance(Partial(), KernelProfile)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_a_kernel_names_no_fault_and_acts_only_through_the_hooks_it_is_given(profile):
    """Without hooks nothing changes; the hooks given to the constructor are the ones its RTAS calls go through."""
    assert built(profile).faults is NO_FAULTS
    calls = []
    k = built(profile, faults=FaultHooks(before_rtas=lambda name, args: calls.append(name)))
    k.settle(k.rtas_call("ibm,os-term", 0))
    assert calls == ["ibm,os-term"]
