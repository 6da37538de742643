"""Importing this module prepares a process cheaply for running scenarios: the process that forks ``fadump-emu
test``'s workers imports it (suite_pool.preload_for), so every worker starts with that work done once.

Unlike emulator.regress.warm_worker, which runs a whole scenario of every profile (about 0.25 s of CPU: a gain
only when shared by four workers or more), this does only what every worker of a suite certainly does first,
at a few tens of milliseconds:

* imports what a run loads late: each kernel profile's package (kernels.registry imports them when first
  looked up), the views that write report.html (emulator.views.observers, html_report, memmap_view);
* builds the kallsyms tables of every kernel build that has them (kernels.kallsyms.encode, cached per process:
  about 9 ms each, the same for every boot of that build);
* finds and loads the installed capture tools (the entry points kdump_service.capture_tool reads: reading the
  installed packages' metadata and importing the tool cost a worker's first makedumpfile scenario ~35 ms,
  ~2 ms after that).

Everything it leaves is code or a cache of a pure function of its inputs (the tables a boot would compute
itself, byte for byte), so no result can depend on it. A failure here is ignored: the workers simply start
colder and the scenarios report any real problem themselves.
"""

import gc
from types import SimpleNamespace


def prepare() -> list[str]:
    """Import the late modules and build each kallsyms-bearing build's tables; the profiles prepared."""
    from importlib.metadata import entry_points

    from emulator.run.kdump_service import CAPTURE_TOOLS
    from emulator.views import html_report, memmap_view, observers  # noqa: F401 (imported for the workers)
    from kernels import kallsyms
    from kernels.registry import PROFILES

    for ep in entry_points(group=CAPTURE_TOOLS):  # what kdump_service.capture_tool finds and loads
        ep.load()

    prepared, seen = [], set()
    for name in PROFILES:
        version = PROFILES[name].version
        prepared.append(name)
        if version.kallsyms and id(version) not in seen:
            seen.add(id(version))
            kallsyms.encode(kallsyms.image_symbols(SimpleNamespace(version=version)))
    return prepared


try:
    prepare()
except Exception:  # noqa: BLE001 -- only an optimisation: workers start colder, their scenarios report problems
    pass
gc.collect()
gc.freeze()  # what this process holds now stays out of the workers' collections: their pages stay shared
