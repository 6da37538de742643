"""Reading a reference run's console (emulator.host.reference_console)."""

from emulator.host import reference_console as rc

CONSOLE = """qemu-system-ppc64: warning: TCG doesn't support requested feature, cap-cfpc=workaround\r
[    0.000000] Linux version 6.12.117 (gcc) #1 SMP\r
[    0.000000] fadump: Reserved 512MB of memory at 0x00000020000000 (System RAM: 2048MB)\r
[    0.000000] Kernel command line: console=hvc0 fadump=on crashkernel=512M\r
@@@ BOOT 0
@@@ LIST boot0-step1
  -rw-r--r--    1 0        0            65536 Nov 30 03:59 enabled
@@@ END
@@@ BEGIN boot0-step1 /sys/kernel/fadump/enabled
1
[    1.500000] random: interleaved kernel line
@@@ END
@@@ CRASH
[    2.000000] sysrq: Trigger a crash
[    0.000000] rtas fadump: Firmware-assisted dump is active.\r
[    0.000000] Linux version 6.12.117 (gcc) #1 SMP\r
@@@ BOOT 1
@@@ VMCORE /dev/vdb 2148532224
"""


def test_boots_start_where_the_printk_clock_restarts_and_qemu_warnings_belong_to_boot_0():
    """ppc64 prints the capture kernel's fadump lines before its banner (fadump_reserve_mem from
    early_init_devtree, arch/powerpc/kernel/prom.c, Linux 6.12): the banner does not start a boot."""
    boots = rc.split_boots(CONSOLE)
    assert len(boots) == 2
    assert boots[0].startswith("qemu-system-ppc64: warning")
    assert boots[1].startswith("[    0.000000] rtas fadump: Firmware-assisted dump is active.")
    assert "\r" not in boots[0]


def test_fadump_lines_lose_their_time_stamps_and_skip_the_command_line():
    lines = rc.fadump_lines(rc.split_boots(CONSOLE)[0])
    assert lines == ["fadump: Reserved 512MB of memory at 0x00000020000000 (System RAM: 2048MB)"]


def test_file_sections_keep_the_boot_and_drop_interleaved_kernel_lines():
    sections = rc.file_sections(CONSOLE)
    assert [(s["boot"], s["path"]) for s in sections] == [(0, "ls"), (0, "/sys/kernel/fadump/enabled")]
    assert sections[1]["text"] == "1\n"


def test_files_txt_reads_back_as_the_same_sections():
    sections = rc.file_sections(CONSOLE)
    assert rc.read_files_txt(rc.files_txt(sections)) == sections


def test_events_are_the_init_markers_in_order():
    assert rc.events(CONSOLE) == ["@@@ BOOT 0", "@@@ CRASH", "@@@ BOOT 1", "@@@ VMCORE /dev/vdb 2148532224"]
