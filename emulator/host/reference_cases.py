"""The reference cases: partition set-ups a real kernel is crashed in (issue 11 and issue 18).

A case is the QEMU partition (memory, CPUs, MMU through the command line) and the steps /init runs in each boot
(``reference_guest``). Boot 0 is the first kernel; boot N >= 1 is the N-th capture kernel. Each case is written to
``tests/reference/linux-<series>/<name>/case.json`` with everything needed to rerun it or to build the equivalent
emulator scenario (``tests/test_reference_differential.py``).
"""

BASE_CMDLINE = "console=hvc0 fadump=on crashkernel=512M"
FIRST = ["marker", "files", "crash"]
CAPTURE = ["files", "save", "release", "files", "poweroff"]


def case(name, description, memory="2G", smp=2, cmdline=BASE_CMDLINE, boots=None, mmu="radix", extra=(),
         maxmem=None, monitor=()):
    """A case; ``maxmem`` gives the partition DIMM slots up to that size, ``monitor`` the QEMU monitor commands sent
    when /init prints ``@@@ WAIT-MEMORY``."""
    return {"name": name, "description": description, "memory": memory, "smp": smp, "cmdline": cmdline,
            "mmu": mmu, "boots": boots or [FIRST, CAPTURE], "qemu_extra": list(extra), "maxmem": maxmem,
            "monitor": list(monitor)}


DIMM_ADD = ("object_add memory-backend-ram,id=mem1,size=1G", "device_add pc-dimm,id=dimm1,memdev=mem1")
"""A 1 GiB DIMM hot-added through the monitor: QEMU's pseries turns it into a DLPAR memory-add event."""


CASES_612 = [
    case("radix", "2 GiB, 2 CPUs, radix MMU, fadump=on crashkernel=512M: crash, capture, release"),
    case("hash", "as radix with disable_radix: the hash MMU clamps the RMA to 1 GiB, so the parameter area "
                 "cannot be placed", cmdline=BASE_CMDLINE + " disable_radix", mmu="hash"),
    case("no-crashkernel", "no crashkernel=: the reservation is sized by the kernel's default rule",
         cmdline="console=hvc0 fadump=on"),
    case("offline-cpu", "4 CPUs, CPU 3 taken offline before the crash", smp=4,
         boots=[["marker", "offline:3", "files", "crash"], CAPTURE]),
    case("nocma", "fadump=nocma: the reservation is not given to CMA",
         cmdline="console=hvc0 fadump=nocma crashkernel=512M"),
    case("8g", "an 8 GiB partition", memory="8G"),
    case("second-crash", "crash, capture, release, register again from the capture kernel, crash again, capture",
         boots=[FIRST, ["files", "save", "release", "files", "register", "files", "marker", "crash"], CAPTURE]),
]

CASES_61 = [
    case("radix", "2 GiB, 2 CPUs, radix MMU, fadump=on crashkernel=512M: crash, capture, release"),
    case("hash", "as radix with disable_radix (hash MMU)", cmdline=BASE_CMDLINE + " disable_radix", mmu="hash"),
    case("dimm-hotplug", "a 1 GiB DIMM hot-added through QEMU's monitor (pc-dimm, a pseries DLPAR memory-add) after "
                         "registration, then the crash, without re-registration", maxmem="4G", monitor=DIMM_ADD,
         boots=[["marker", "files", "wait-memory", "files", "crash"], CAPTURE]),
]

CASES = {"6.12": CASES_612, "6.1": CASES_61, "7.2": CASES_612[:2]}
"""Per kernel series (``reference_kernel.KERNELS``), the cases ``make reference`` runs."""


def find(series: str, names: list[str] | None) -> list[dict]:
    known = CASES[series]
    if not names:
        return known
    by_name = {c["name"]: c for c in known}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise KeyError(f"unknown case {', '.join(unknown)} for linux-{series}; known: {', '.join(by_name)}")
    return [by_name[n] for n in names]
