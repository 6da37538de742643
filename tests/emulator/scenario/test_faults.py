"""The fault plan (emulator.scenario.faults): each fault acts through a hook it is given, never by name
inside kernel or firmware code."""

import pytest

from emulator.scenario import faults as faults_mod
from emulator.scenario.faults import FaultPlan, Fault
from emulator.units import GiB
from firmware import abi
from firmware.abi import DumpCommand, SectionType
from firmware.machine import Machine, MachineConfig
from firmware.structs import overlap_destination
from kernels.fault_hooks import NO_FAULTS


def plan(*faults: tuple[str, dict], strike=None) -> FaultPlan:
    given = {"strike": strike} if strike else {}
    return FaultPlan([Fault(kind, params=params) for kind, params in faults], **given)


def test_a_plan_without_faults_gives_kernels_hooks_that_change_nothing():
    hooks = plan().kernel_hooks()
    fdm = object()
    assert hooks.register_structure(fdm) is fdm
    assert hooks.before_rtas(abi.DT_CONFIGURE_KERNEL_DUMP, (DumpCommand.REGISTER, 0, 0)) is None
    assert NO_FAULTS.register_structure(fdm) is fdm


def test_destination_overlaps_source_rewrites_the_registered_structure():
    assert plan(("destination-overlaps-source", {})).kernel_hooks().register_structure is overlap_destination


def test_a_crash_during_registration_strikes_the_first_register_call_only():
    """It asks the run to deliver a crash on the given CPU inside the REGISTER call and hands the call the event
    to wait on (the crash arrives as an event, not an exception); then it is spent."""
    struck = []

    def strike(cpu, message, line):
        struck.append((cpu, message))
        return "the event the call waits on"

    hooks = plan(("crash-during-registration", {"cpu": 2}), strike=strike).kernel_hooks()
    assert hooks.before_rtas(abi.DT_OS_TERM, (0,)) is None  # another call: nothing happens
    assert hooks.before_rtas(abi.DT_CONFIGURE_KERNEL_DUMP, (DumpCommand.INVALIDATE, 0, 0)) is None
    assert hooks.before_rtas(abi.DT_CONFIGURE_KERNEL_DUMP, (DumpCommand.REGISTER, 0, 0)) == \
        "the event the call waits on"
    assert struck == [(2, "fadump-emu: crash during fadump registration")]
    assert hooks.before_rtas(abi.DT_CONFIGURE_KERNEL_DUMP, (DumpCommand.REGISTER, 0, 0)) is None
    assert not hasattr(faults_mod, "KernelCrashed")


def test_a_power_loss_aimed_at_the_firmware_boundary_interrupts_the_copy_half_way():
    """crash-at-boundary, trigger power-loss: at the "firmware: preserving memory" boundary (its index), the
    firmware's boot-memory copy is told to stop at 0.5 by power loss; at any other index nothing happens."""
    m = Machine(MachineConfig(memory=1 * GiB, cpus=2))
    fault = plan(("crash-at-boundary", {"boundary": 7, "trigger": "power-loss"}))
    fault.before_dump(m, 6)
    assert m.fadump.state.interrupt is None and not fault.struck
    fault.before_dump(m, 7)
    assert m.fadump.state.interrupt == (0.5, "power-loss") and fault.struck


def test_firmware_faults_arm_the_firmware_through_its_methods():
    m = Machine(MachineConfig(memory=1 * GiB, cpus=2))
    plan(("copy-error", {"section": "boot-memory", "error_flags": 0x4000, "short_by": 16}),
         ("dump-status-error", {}), ("copy-interrupted", {"fraction": 0.25, "mode": "hardware-error"}),
         ("rtas-status", {"call": "ibm,os-term", "statuses": [-2, 0]})).arm_machine(m)
    state = m.fadump.state
    assert state.copy_faults == {SectionType.REAL_MODE_REGION: (0x4000, 16)}
    assert state.status_error and state.interrupt == (0.25, "hardware-error")
    assert m.rtas.faults == {"ibm,os-term": [-2, 0]}


def test_no_extended_os_term_takes_the_property_out_of_the_device_tree():
    m = Machine(MachineConfig(memory=1 * GiB, cpus=2))
    assert m.devicetree.has("/rtas", abi.DT_EXTENDED_OS_TERM)
    plan(("no-extended-os-term", {})).arm_machine(m)
    assert not m.devicetree.has("/rtas", abi.DT_EXTENDED_OS_TERM)


def test_capture_without_fadump_drops_only_the_fadump_parameter():
    assert plan(("capture-without-fadump", {})).capture_cmdline("root=/dev/sda2 fadump=on ro") == "root=/dev/sda2 ro"
    assert plan().capture_cmdline("root=/dev/sda2 fadump=on ro") == "root=/dev/sda2 fadump=on ro"


def test_a_boundary_crash_is_aimed_at_one_boundary_index():
    p = plan(("crash-at-boundary", {"boundary": 3, "trigger": "oops"}))
    assert [p.injection_at(i) for i in range(5)] == [None, None, None, {"boundary": 3, "trigger": "oops"}, None]
