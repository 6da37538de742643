"""The examples docs/scenarios.md shows (emulator.scenario.scenario_doc writes it): a whole scenario, each
section's snippets, each fault's parameters, and the fadump files each profile's kernels have. They are data,
loaded by tests/emulator/scenario/test_scenario_doc.py with the real reader and held to what runs really have,
so an example that stops being true fails the suite.
"""

WHOLE = '''\
name = "my-first-dump"
description = "A 6.10 partition panics on CPU 1; the vmcore holds the workload's bytes and registers"

[machine]
memory = "4GiB"
cpus = 4

[kernel]
profile = "linux-6.10"
cmdline = "root=/dev/sda2 ro fadump=on"

[[memory.write]]
addr = "0x4100000"
text = "my workload's data"
repeat = 16

[crash]
cpu = 1
at = "30s"
message = "Attempted to kill init! exitcode=0x0000000b"

[crash.regs]
nip = "0xc0000000000a5f10"

[expect]
outcome = "vmcore"
console = ["Kernel panic - not syncing: Attempted to kill init!"]

[[expect.registers]]
cpu = 1
name = "nip"
value = "0xc0000000000a5f10"

[[expect.memory]]
addr = "0x4100000"
text = "my workload's data"

[[expect.sysfs]]
path = "/sys/kernel/fadump/registered"
value = "1"
'''
"""A whole scenario that runs and meets its expectations (the doc's test runs it)."""

EXAMPLES: dict[str, list[str]] = {
    "top": ['name = "my-first-dump"\ndescription = "A 6.10 partition panics; the vmcore holds the workload"\n'],
    "machine": ['''\
[machine]
memory = "4GiB"
max_memory = "6GiB"
lmb_size = "256MiB"
holes = [{start = "0x80000000", size = "256MiB"}]
cpus = 4
online_cpus = [0, 1, 3]
page_size = "64KiB"
endian = "little"
rma_size = "256MiB"
extended_os_term = true
mmu = "radix"
firmware = "phyp"
'''],
    "kernel": ['''\
[kernel]
profile = "linux-6.10"
cmdline = "root=/dev/sda2 ro fadump=on"
capture_cmdline = "root=/dev/sda2 ro fadump=on nr_cpus=1"
capture_profile = "linux-6.10"
osrelease = "6.10.0-mine"
capture_osrelease = "6.10.0-mine"
epoch = 1767225600
note_pids = "zero"
nr_cpus = 8
'''],
    "cpu": ['''\
[cpu.2.regs]
nip = "0xc0000000000a5f10"
gpr1 = "0xc0000000fb4f3b80"
msr = "0x8000000000009033"
'''],
    "write": ['''\
[[memory.write]]
addr = "0x4100000"
text = "workload data"
repeat = 64
boot = 1
at = "5s"
kind = "cache"

[[memory.write]]
addr = "0x4110000"
hex = "de ad be ef"
'''],
    "crash": ['''\
[crash]
boot = 1
at = "30s"
cpu = 1
kind = "panic"
message = "Attempted to kill init! exitcode=0x0000000b"

[crash.regs]
nip = "0xc0000000000a5f10"
gpr3 = 42
''', '''\
[crash]
at = "20s"
kind = "system-reset"
stuck_cpus = [3]
'''],
    "events": ['''\
[[events]]
action = "write"
boot = 1
at = "5s"
addr = "0x100000000"
text = "written into the hot-added LMB"

[[events]]
action = "hotplug"
at = "4s"
kind = "memory-add"
addr = "0x100000000"

[[events]]
action = "hotplug"
at = "6s"
kind = "cpu-offline"
cpu = 3

[[events]]
action = "sysfs"
at = "7s"
path = "/sys/kernel/fadump/registered"
value = "0"

[[events]]
action = "sysfs"
at = "8s"
path = "/sys/kernel/fadump/registered"
value = "1"

[[events]]
action = "crash"
at = "20s"
cpu = 1
kind = "oops"

[[events]]
action = "capture"
boot = 2
at = "1s"
path = "vmcore-early"

[[events]]
action = "reboot"
boot = 2
at = "60s"

[capture]
after = "stay"
'''],
    "capture": ['''\
[capture]
after = "release"
save = true
tool = "cp"
'''],
    "expect": ['''\
[expect]
outcome = "vmcore"
console = ["rtas fadump: Registration is successful!"]
no_console = ["kdump: registering for firmware-assisted dump"]
complete = true

[[expect.registers]]
cpu = 0
name = "nip"
value = "0xc0000000000a5f10"

[[expect.memory]]
addr = "0x4100000"
text = "workload data"

[[expect.memory]]
addr = "0x4110000"
hex = "de ad be ef"

[[expect.sysfs]]
boot = 1
path = "/sys/kernel/fadump/registered"
value = "1"
''', '''\
[expect]
outcome = "vmcore"
missing = [{start = "0x100000000", size = "256MiB"}]
bogus = [{start = "0x80000000", size = "256MiB"}]
'''],
}
"""Section -> TOML snippets. Each key's example in the reference tables is its value in these snippets."""

FAULT_EXAMPLES: dict[str, str] = {
    "rtas-status": 'call = "ibm,configure-kernel-dump"\ncommand = "register"\nstatuses = [-2, -2, 0]\n',
    "copy-error": 'section = "boot-memory"\nerror_flags = "0x4000"\nshort_by = "16MiB"\n',
    "disk-full": 'capacity = "16MiB"\n',
    "crash-during-registration": "cpu = 0\n",
    "crash-at-boundary": 'boundary = 3\ntrigger = "system-reset"\ncpu = 1\n',
    "copy-interrupted": 'fraction = 0.5\nmode = "hardware-error"\n',
}
"""Fault kind -> its parameters in TOML (kinds without parameters need only ``kind``)."""

FAULT_CONTEXT = {"elf-header-overwritten": '[kernel]\nprofile = "linux-3.4"\n'}
"""What a fault's example needs besides the [[faults]] entry (shown above it)."""

_MODERN_FIRST = ("/sys/kernel/fadump/enabled", "/sys/kernel/fadump/registered", "/sys/kernel/fadump/mem_reserved",
                 "/sys/kernel/fadump/hotplug_ready", "/sys/kernel/fadump_enabled", "/sys/kernel/fadump_registered",
                 "/sys/kernel/debug/powerpc/fadump_region")
SYSFS_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "linux-3.4": (("/sys/kernel/fadump_enabled", "/sys/kernel/fadump_registered",
                   "/sys/kernel/debug/powerpc/fadump_region"), ("/sys/kernel/fadump_release_mem",)),
    "linux-6.1": (tuple(f for f in _MODERN_FIRST if not f.endswith("hotplug_ready")),
                  ("/sys/kernel/fadump/release_mem", "/sys/kernel/fadump_release_mem")),
    "linux-6.10": (_MODERN_FIRST, ("/sys/kernel/fadump/release_mem", "/sys/kernel/fadump_release_mem")),
    "linux-6.12": (_MODERN_FIRST, ("/sys/kernel/fadump/release_mem", "/sys/kernel/fadump_release_mem")),
    "linux-7.2": (_MODERN_FIRST, ("/sys/kernel/fadump/release_mem", "/sys/kernel/fadump_release_mem")),
}
"""Profile -> (the fadump sysfs/debugfs files a first kernel has, the ones a capture kernel adds); the doc's test
holds each to what a run of that profile really has."""
