"""Importing this module warms the process up for running scenarios: the process that forks ``fadump-emu test``'s
workers (the command itself, or a forkserver: suite_pool.worker_context) imports it, so every worker starts warm.

A fresh worker spends its first few scenarios on one-time work: importing the modules a run uses late (the views
that write report.html, numpy.random for the kernel text), making each release's kernel text and its structs,
filling the digest memo with the kernel image's grains. Done once here, before the workers are forked, that work
is shared by every worker instead of repeated in each. It runs before any worker starts, so it pays only when
several workers share it: suite_pool.run_all asks for it from suite_pool.WARM_MIN_WORKERS workers on.

warm_up() runs one small scenario of every kernel profile (explore --matrix's scenario: boot, register, a
workload, panic, capture, verify) into a scratch folder that is removed again, exactly as a worker runs a
scenario. Nothing it leaves behind changes a result: the caches it fills hold pure functions of their inputs,
the digest memo compares every byte before it reuses a digest, and no RAM mapping is kept for the workers
to share. A failure here is ignored (the workers simply start cold; the scenarios themselves report it).
"""

import gc
import os
import shutil
import tempfile


def warm_up() -> list[str]:
    """Run one small scenario per kernel profile in this process; the names of the profiles it ran."""
    from emulator.hw.ram import PartitionRAM
    from emulator.regress.explore import scratch_dir
    from emulator.regress.explore_matrix import scenario_text
    from emulator.run.runner import run_scenario
    from emulator.scenario import loader
    from emulator.views import observers
    from kernels.registry import PROFILES

    ran = []
    tmp = tempfile.mkdtemp(prefix="fadump-emu-warm-", dir=scratch_dir())
    try:
        for profile in PROFILES:
            sc = loader.loads(scenario_text(profile, "1GiB-2cpu", "none"), f"warm-up/{profile}.toml")
            result = run_scenario(sc, os.path.join(tmp, profile), force=True, echo=None, durable=False,
                                  observers=[observers.html_report])
            result.partition.console.text()
            result.partition.memory.release()
            ran.append(profile)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        PartitionRAM.drop_spares()
    return ran


try:
    warm_up()
except Exception:  # noqa: BLE001 -- only an optimisation: workers start cold, their scenarios report the problem
    pass
gc.collect()
gc.freeze()  # what this process holds now stays out of the workers' collections: their pages stay shared
