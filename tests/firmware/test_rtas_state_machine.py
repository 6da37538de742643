"""ibm,configure-kernel-dump and ibm,os-term in any order, against a small model of PAPR's statuses."""

import hypothesis.strategies as st
from construct import Container
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from firmware.machine import Machine, MachineConfig
from emulator.units import GiB, MiB
from firmware import abi
from firmware.structs import DumpMemStruct

FDM_ADDR = 0x0170_0000
TERM_ADDR = 0x0171_0000


def structure(m: Machine, broken: bool = False) -> bytes:
    """A valid 3-section registration (or one with a destination inside its own source)."""
    cpu = m.fadump.cpu_state_data_size
    base = 0x1800_0000

    def section(kind, src, length, dest):
        return Container(request_flag=1, source_data_type=kind, error_flags=0, source_address=src,
                         source_len=length, bytes_dumped=0, destination_address=dest)

    rmr_dest = 0x100_0000 if broken else base + cpu
    return DumpMemStruct.build(Container(
        header=Container(dump_format_version=1, dump_num_sections=3, dump_status_flag=0,
                         offset_first_dump_section=0x28, dd_block_size=0, dd_block_offset=0, dd_num_blocks=0,
                         dd_offset_disk_path=0, max_time_auto=0),
        sections=[section(1, 0, cpu, base), section(2, 0, 0, base + cpu), section(0x11, 0, 320 * MiB, rmr_dest)]))


class FadumpFirmware(RuleBasedStateMachine):
    """The firmware and a model (registered, dump active) advance together."""

    def __init__(self):
        super().__init__()
        self.m = Machine(MachineConfig(memory=1 * GiB, cpus=2))
        self.m.ram.write(TERM_ADDR, b"OS panic: model\0")
        self.registered = False
        self.active = False

    def configure(self, command: int, raw: bytes) -> int:
        self.m.ram.write(FDM_ADDR, raw)
        return self.m.rtas.call(self.m.rtas.token(abi.DT_CONFIGURE_KERNEL_DUMP), command, FDM_ADDR, len(raw))

    @rule(broken=st.booleans())
    def register(self, broken):
        status = self.configure(abi.DumpCommand.REGISTER, structure(self.m, broken))
        if self.registered:
            assert status == abi.RtasStatus.DUMP_ALREADY_REGISTERED
        elif self.active:
            assert status == abi.RtasStatus.DUMP_ACTIVE
        elif broken:
            assert status == abi.RtasStatus.PARAMETER_ERROR
        else:
            assert status == 0
            self.registered = True

    @rule()
    def unregister(self):
        status = self.configure(abi.DumpCommand.UNREGISTER, structure(self.m))
        assert status == (abi.RtasStatus.DUMP_ACTIVE if self.active else 0)
        if not self.active:
            self.registered = False

    @rule()
    def invalidate(self):
        status = self.configure(abi.DumpCommand.INVALIDATE, structure(self.m))
        assert status == (0 if self.active else abi.RtasStatus.PARAMETER_ERROR)
        self.active = False

    @rule()
    def os_term(self):
        status = self.m.rtas.call(self.m.rtas.token(abi.DT_OS_TERM), TERM_ADDR)
        if not self.registered:
            assert status == 0
            return
        assert status is None  # never returns: the dump runs, then the partition resets
        self.m.env.process(self.m.fadump.preserve())
        self.m.env.run()
        self.registered, self.active = False, True

    @invariant()
    def kernel_dump_property_shows_exactly_an_active_dump(self):
        assert self.m.devicetree.has("/rtas", abi.DT_KERNEL_DUMP) == self.active
        assert (self.m.fadump.state.registered is not None) == self.registered


FadumpFirmware.TestCase.settings = settings(max_examples=40, stateful_step_count=20, deadline=None)
TestFadumpFirmwareAgainstTheModel = FadumpFirmware.TestCase


class QemuFadumpFirmware(FadumpFirmware):
    """The same walk on firmware = "qemu", against QEMU 10.2's own rules (hw/ppc/spapr_fadump.c
    do_fadump_register(), spapr_rtas.c rtas_configure_kernel_dump()): a destination inside its own
    source is not checked at REGISTER, and INVALIDATE always clears both states and returns 0."""

    def __init__(self):
        RuleBasedStateMachine.__init__(self)
        self.m = Machine(MachineConfig(memory=1 * GiB, cpus=2, firmware="qemu"))
        self.m.ram.write(TERM_ADDR, b"OS panic: model\0")
        self.registered = False
        self.active = False

    @rule(broken=st.booleans())
    def register(self, broken):
        status = self.configure(abi.DumpCommand.REGISTER, structure(self.m, broken))
        if self.registered:
            assert status == abi.RtasStatus.DUMP_ALREADY_REGISTERED
        elif self.active:
            assert status == abi.RtasStatus.DUMP_ACTIVE
        else:
            assert status == 0
            self.registered = True

    @rule()
    def invalidate(self):
        assert self.configure(abi.DumpCommand.INVALIDATE, structure(self.m)) == 0
        self.registered = self.active = False


QemuFadumpFirmware.TestCase.settings = settings(max_examples=40, stateful_step_count=20, deadline=None)
TestQemuFadumpFirmwareAgainstItsModel = QemuFadumpFirmware.TestCase
