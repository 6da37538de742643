"""The reference /init and its initramfs (emulator.host.reference_guest)."""

import struct

import pytest

from emulator.host import reference_guest as guest


def test_each_boot_runs_its_own_steps_chosen_by_the_boot_counter():
    text = guest.init_script([["marker", "files", "crash"], ["files", "save", "release", "poweroff"]])
    assert text.startswith("#!/bin/busybox sh\n")
    assert "BOOT=$(dd if=/dev/vda" in text
    first = text.split("\n0)\n", 1)[1].split(";;", 1)[0]
    capture = text.split("\n1)\n", 1)[1].split(";;", 1)[0]
    assert "sysrq-trigger" in first and "/proc/vmcore" not in first
    assert "dd if=/proc/vmcore" in capture and "release_mem" in capture


def test_offline_step_writes_zero_to_that_cpus_online_file():
    text = guest.init_script([["offline:3", "crash"], ["poweroff"]])
    assert "echo 0 > /sys/devices/system/cpu/cpu3/online" in text


def test_release_tries_the_new_sysfs_place_then_the_6_1_one():
    text = guest.init_script([["release"]])
    assert "write1 /sys/kernel/fadump/release_mem /sys/kernel/fadump_release_mem" in text


@pytest.mark.parametrize("steps", [[["reboot"]], [["offline:x"]], [["offline"]]])
def test_unknown_or_malformed_steps_are_refused(steps):
    with pytest.raises(guest.GuestError):
        guest.init_script(steps)


def test_every_file_of_6_1_and_6_12_is_printed_only_when_it_exists():
    text = guest.init_script([["files"]])
    assert 'if [ -e "$f" ]' in text
    for path in ("/sys/kernel/fadump/hotplug_ready", "/sys/kernel/fadump_registered",
                 "/sys/kernel/debug/fadump_region", "/sys/kernel/debug/powerpc/fadump_region"):
        assert path in text


def test_initramfs_is_a_newc_archive_with_console_node_busybox_and_init(tmp_path):
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF" + b"x" * 1001)
    data = guest.initramfs(busybox, [["crash"]])
    entries, pos = {}, 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = fields[11], fields[6]
        name = data[pos + 110: pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        entries[name] = (fields[1], data[pos:pos + filesize], fields[9], fields[10])
        pos += filesize
        pos += -pos % 4
        if name == "TRAILER!!!":
            break
    assert entries["dev/console"][0] == 0o20600 and entries["dev/console"][2:] == (5, 1)
    assert entries["bin/busybox"][1] == busybox.read_bytes()
    assert entries["init"][0] & 0o111 and entries["init"][1].startswith(b"#!/bin/busybox sh")
    assert pos == len(data)
    assert struct.calcsize("<I") == 4
