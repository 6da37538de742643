"""A field console log is read into boots whatever its form, and refused (exit 2, path:line) only when it cannot be
a console log. Messages matched are the kernels' (see emulator.host.field_console's docstring for where each is
printed); the time stamp is printk's "[%5lu.%06lu] " (kernel/printk/printk.c print_time(), 3.4 to 7.2)."""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.errors import BadInputError
from emulator.host import field_console

ROOT = Path(__file__).resolve().parents[3]
RADIX_612 = ROOT / "tests/reference/linux-6.12/radix/console.log"


def write(tmp_path, text, name="console.log", binary=False) -> str:
    path = tmp_path / name
    path.write_bytes(text if binary else text.encode())
    return str(path)


def test_a_real_6_12_log_splits_into_the_first_kernel_and_the_capture_kernel():
    log = field_console.read(str(RADIX_612))
    assert log.timestamps and len(log.boots) == 2
    # The capture kernel's boot starts with its first line at 0.000000 (printk's clock restarts), which on ppc64 is
    # a fadump line printed from early_init_devtree() before the banner (arch/powerpc/kernel/prom.c, 6.12).
    first = next(x for x in log.boots[1].lines if x.kernel)
    assert first.text == "rtas fadump: Firmware-assisted dump is active."


def test_a_log_without_printk_time_splits_at_the_first_early_line_after_the_crash(tmp_path):
    text = "\n".join(["Linux version 6.12.117 (root@vm) #2 SMP", "fadump: Reserved 512MB of memory at "
                      "0x00000020000000 (System RAM: 2048MB)", "rtas fadump: Registration is successful!",
                      "Kernel panic - not syncing: sysrq triggered crash", "Call Trace:",
                      "rtas fadump: Firmware-assisted dump is active.", "Linux version 6.12.117 (root@vm) #2 SMP"])
    log = field_console.read(write(tmp_path, text))
    assert not log.timestamps
    assert [len(b.lines) for b in log.boots] == [5, 2]


def test_syslog_prefixes_crlf_levels_and_caller_ids_are_taken_off(tmp_path):
    text = ("<6>Nov 30 06:10:01 lpar7 kernel: [    0.000000] fadump: Reserved 320MB of memory at 0x14000000\r\n"
            "[    0.300000][    T1] rtas fadump: Registration is successful!\r\n"
            "[   20.000000] Kernel panic - not syncing: boom\r\n")
    lines = [x for x in field_console.read(write(tmp_path, text)).boots[0].lines]
    assert [x.text for x in lines] == ["fadump: Reserved 320MB of memory at 0x14000000",
                                       "rtas fadump: Registration is successful!", "Kernel panic - not syncing: boom"]
    assert [x.time for x in lines] == [0.0, 0.3, 20.0]


def test_a_printk_line_interleaved_into_a_userspace_write_is_still_read(tmp_path):
    """The real 6.12 console has "#2 SMP Mon Nov 3[    0.395422] nvram: ..." (hvc output of /init and printk)."""
    text = "[    0.000000] a\n[    0.100000] b\n#2 SMP Mon Nov 3[    0.395422] rtas fadump: Registration is successful!\n"
    log = field_console.read(write(tmp_path, text))
    assert log.boots[0].lines[-1].text == "rtas fadump: Registration is successful!"
    assert log.boots[0].lines[-1].number == 3


@pytest.mark.parametrize("make, message", [
    (lambda tmp: str(tmp / "absent.log"), "no such file"),
    (lambda tmp: str(tmp), "is a folder"),
    (lambda tmp: write(tmp, bytes(range(256)) * 64, "core", binary=True), "binary data"),
    (lambda tmp: write(tmp, "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n", "passwd"),
     "no kernel line"),  # text without printk times and without any message only a kernel prints
])
def test_what_cannot_be_a_console_log_is_refused_with_its_path_and_exit_status_2(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(BadInputError, match=message) as caught:
        field_console.read(path)
    assert str(caught.value).startswith(f"{path}:") and caught.value.exit_status == 2


def test_a_huge_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(field_console, "MAX_BYTES", 100)
    with pytest.raises(BadInputError, match="more than a console log"):
        field_console.read(write(tmp_path, "[    0.000000] x\n" * 20))


def test_invalid_utf8_and_control_bytes_in_a_log_are_noise_not_errors(tmp_path):
    data = RADIX_612.read_bytes()[:4000] + b"\xff\xfe\x1b[0m garbage\n" + RADIX_612.read_bytes()[4000:]
    log = field_console.read(write(tmp_path, data, binary=True))
    assert len(log.boots) == 2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=80), st.sampled_from([
    "[    0.000000] Linux version 6.12.117 (root@vm)", "[   20.000000] Kernel panic - not syncing: x",
    "[    0.000000] rtas fadump: Firmware-assisted dump is active.", "[    1.0] CPU: 1 PID: 1",
    "Kernel command line: fadump=on", "[  0.3] rtas fadump: Failed to register. Hardware Error(-1)."])), max_size=40))
def test_any_text_is_read_or_refused_as_bad_input_never_a_traceback(tmp_path, lines):
    path = write(tmp_path, "\n".join(lines).encode("utf-8", "surrogatepass"), binary=True)
    try:
        field_console.read(path)
    except BadInputError:
        pass


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "console.fifo"
    os.mkfifo(fifo)
    with pytest.raises(BadInputError, match="not a regular file"):
        field_console.read(str(fifo))
