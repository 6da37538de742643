"""kernels.vmalloc: the vmap_area_list a pre-6.9 VMCOREINFO names, walked as makedumpfile walks it."""

from emulator.hw.cpu import KERNELBASE
from firmware.machine import Machine, MachineConfig
from emulator.units import GiB
from kernels import vmcoreinfo
from kernels.linux61 import Linux61
from kernels.linux612 import Linux612
from kernels.sparsemem import VMALLOC_START


def booted(profile):
    m = Machine(MachineConfig(memory=2 * GiB, cpus=2, mmu="radix", firmware="qemu"))
    cmdline = "fadump=on"
    m.power_on(cmdline)
    k = profile(m, cmdline, "6.1.192", m.boot_count, 0, nr_cpus=8)
    m.env.process(k.boot_sequence())
    m.env.run()
    return k


def test_vmap_area_list_leads_to_the_start_of_vmalloc_space():
    """kernel/crash_core.c (6.1) publishes SYMBOL(vmap_area_list), OFFSET(vmap_area.va_start)=0 and
    OFFSET(vmap_area.list)=40 (measured on the real 6.1.192); a reader follows list.next back to the first area's
    va_start, the start of vmalloc space (0xc008000000000000 under both MMUs, book3s/64/{radix,hash}.h)."""
    k = booted(Linux61)
    info = vmcoreinfo.parse(k.vmcoreinfo_text)
    head = int(info["SYMBOL(vmap_area_list)"], 16) - KERNELBASE
    first = k.ram.read_u64(head, k.byteorder) - int(info["OFFSET(vmap_area.list)"]) - KERNELBASE
    assert k.ram.read_u64(first + int(info["OFFSET(vmap_area.va_start)"]), k.byteorder) == VMALLOC_START
    assert k.ram.read_u64(first + 40 + 8, k.byteorder) == head + KERNELBASE  # list.prev: back to the head
    assert "NUMBER(VMALLOC_START)" not in info


def test_from_6_9_on_the_note_names_vmalloc_start_instead():
    """kernel/vmcore_info.c (6.10+): NUMBER(VMALLOC_START), no vmap_area_list (Version.vmap_area_list False)."""
    info = vmcoreinfo.parse(booted(Linux612).vmcoreinfo_text)
    assert info["NUMBER(VMALLOC_START)"] == f"{VMALLOC_START:#x}"
    assert not any("vmap_area" in key for key in info)
