"""The whole boot-to-dump lifecycle, end to end, on small partitions."""

import pytest

from firmware.phyp import PhypFadump
from tests.conftest import small_scenario_text

WORKLOAD_LOW = 0x4100000
WORKLOAD_HIGH = 0x18000000

TWO_CRASHES = """
[capture]
after = "release-and-register"
[[events]]
action = "write"
boot = 2
at = "5s"
addr = "0x1A000000"
text = "written by the capture kernel after it re-registered"
[[events]]
action = "crash"
boot = 2
at = "20s"
cpu = 0
message = "second crash"
"""


@pytest.mark.parametrize("endian", ["little", "big"])
def test_a_panic_produces_a_vmcore_that_matches_crash_time_memory(run_text, endian):
    """Both byte orders: the vmcore verifies and every online CPU's note holds the expected registers."""
    result, rep = run_text(small_scenario_text(endian=endian))
    assert rep["outcome"] == "vmcore"
    assert rep["ok"], rep["expectations"]
    cap = result.captures[0]
    assert cap.verification["ok"] and not cap.verification["missing"]
    assert len(cap.notes) == 4
    crashing = cap.notes[1]["regs"]
    assert crashing["nip"] == 0xC0000000000A5F10 and crashing["gpr1"] == 0xC0000000FB4F3B80


def test_the_capture_kernel_overwrites_low_memory_but_the_vmcore_reads_the_firmware_copy(run_live):
    """Boot memory in RAM now holds the capture kernel's data; /proc/vmcore serves the copy."""
    result, _, kernels = run_live(small_scenario_text())
    kernel = kernels[1]
    assert b"inside boot memory" not in result.partition.memory.read(WORKLOAD_LOW, 18)
    assert kernel.vmcore is None  # released after capture (capture.after = "release")
    with open(result.captures[0].path, "rb") as f:
        data = f.read()
    assert b"inside boot memory" in data and b"above boot memory" in data


def test_a_missing_firmware_copy_is_caught_by_the_verification(run_text, monkeypatch):
    """If firmware claimed the boot-memory copy without doing it, the report names the range that differs."""

    def lazy_copy(self, s):
        s.bytes_dumped = s.source_len
        yield self.machine.env.timeout(0)

    monkeypatch.setattr(PhypFadump, "copy_section", lazy_copy)
    result, rep = run_text(small_scenario_text())
    v = result.captures[0].verification
    assert not v["ok"]
    assert v["differs"] and int(v["differs"][0]["start"], 16) < 320 << 20
    assert not rep["ok"]


def test_release_invalidates_the_dump_and_frees_the_old_memory(run_live):
    """fadump_release_mem: /proc/vmcore goes, ibm,kernel-dump goes, the reserved memory is given back."""
    result, _, kernels = run_live(small_scenario_text())
    p, capture = result.partition, kernels[1]
    assert p.property("/rtas", "ibm,kernel-dump") is None
    assert not capture.dump_active
    fw = capture.fadump.fw_dump
    # Only the dump area, at the old CPU-state destination, stays reserved for re-registration.
    above_boot_memory = [r for r in capture.memblock.reserved if r.start >= fw.boot_memory_size]
    assert [(r.start, r.size) for r in above_boot_memory] == [
        (fw.reserve_dump_area_start, fw.reserve_dump_area_size)]
    assert fw.reserve_dump_area_start > fw.boot_memory_size
    assert any(call.name == "ibm,configure-kernel-dump" and call.args[0] == 3 and call.status == 0
               for call in p.rtas_calls)


def test_re_registration_after_release_gives_a_second_correct_vmcore(run_text):
    """release-and-register, a write, a second crash: the second vmcore verifies and holds the new data."""
    result, rep = run_text(small_scenario_text(extra=TWO_CRASHES))
    assert rep["ok"], rep["expectations"]
    assert [c["result"] for c in result.crashes] == ["dumped", "dumped"]
    first, second = result.captures
    assert first.verification["ok"] and second.verification["ok"]
    with open(second.path, "rb") as f:
        data = f.read()
    assert b"written by the capture kernel after it re-registered" in data
    assert b"page cache in memory freed by the kernel" in data
    assert second.notes[0]["regs"]["nip"] != first.notes[0]["regs"]["nip"] or len(second.notes) == 4


def test_a_crash_without_registration_reaches_no_dump(run_text):
    """fadump=off: nothing is reserved or registered, the panic hangs the partition, no vmcore."""
    result, rep = run_text(small_scenario_text(cmdline="root=/dev/sda2"))
    assert rep["outcome"] == "no-dump"
    assert result.crashes[0]["result"] == "hang"
    assert not result.captures


def test_a_crash_with_panic_timeout_and_no_registration_reboots_normally(run_text):
    """panic=10 without fadump: "Rebooting in 10 seconds.." and a fresh boot without ibm,kernel-dump."""
    result, rep = run_text(small_scenario_text(cmdline="panic=10"))
    assert rep["outcome"] == "no-dump"
    assert result.partition.console.contains("Rebooting in 10 seconds..")
    assert result.partition.boot_count == 2


def test_firmware_without_extended_os_term_never_sees_the_crash(run_live):
    """rtas_os_term() returns early without ibm,extended-os-term: registered, yet no dump."""
    result, rep, kernels = run_live(small_scenario_text(machine_extra="extended_os_term = false"))
    assert kernels[0].dump_registered
    assert rep["outcome"] == "no-dump"


def test_a_clean_reboot_of_the_capture_kernel_invalidates_the_dump(run_live):
    """capture.after = "reboot": machine_shutdown() invalidates; the next boot registers afresh."""
    text = small_scenario_text(extra='[capture]\nafter = "reboot"\n')
    result, rep, kernels = run_live(text)
    assert rep["outcome"] == "vmcore"
    assert result.partition.boot_count == 3
    assert kernels[2].dump_registered


def test_the_python_api_builds_the_same_scenario_as_a_file(tmp_path):
    """ScenarioBuilder goes through the file format's validation and runs to a verified vmcore."""
    from emulator.api import ScenarioBuilder

    builder = (ScenarioBuilder("api")
               .machine(memory="1GiB", cpus=4)
               .kernel(profile="linux-6.10", cmdline="fadump=on")
               .write(0x4100000, text="written through the API")
               .crash(cpu=2, at="10s", regs={"nip": "0xc0000000000a5f10"})
               .expect(outcome="vmcore", memory=[{"addr": "0x4100000", "text": "written through the API"}]))
    result = builder.run(str(tmp_path / "out"))
    assert result.outcome == "vmcore"
    assert all(e["ok"] for e in result.expectations), result.expectations


def test_the_python_api_reports_mistakes_like_a_file():
    """A bad value is a ScenarioError naming what is wrong, as for a file."""
    import pytest

    from emulator.api import ScenarioBuilder
    from emulator.errors import ScenarioError

    with pytest.raises(ScenarioError, match="machine.page_size"):
        ScenarioBuilder("bad").machine(page_size="16KiB").build()
