"""``fadump-emu test``'s local worker pool (emulator.regress.suite): each scenario runs in a worker process,
forked from a process that has imported, once for all of them, what every worker would import first: this
process itself when it runs no other thread, else a forkserver; the longest scenarios are handed out first;
Ctrl-C stops every worker, which removes its staging folder.
"""

import importlib
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from emulator.regress.pool_claims import Claims


_TASKS: list[dict] = []
_CLAIMS: Claims | None = None
"""A worker's share of its pool: every task, and the claims (pool_claims) by which it picks its next one."""


def _run_next(update_golden: bool) -> tuple[int, dict] | None:
    """Claim the next task (pool_claims) and run it: its index and result, or None when none was left."""
    from emulator.regress import suite  # imported here: suite imports this module at its top

    i = _CLAIMS.claim()
    if i is None:
        return None
    task = _TASKS[i]
    try:
        return i, {**suite.run_one(task["path"], task["out"], update_golden, task["name"]),
                   "worker": f"local:{os.getpid()}"}
    except (KeyboardInterrupt, SystemExit):
        # Stopped by the parent (Ctrl-C): the run has removed its staging folder; leave at once, quietly.
        os._exit(130)


def _worker_init(tasks: list[dict] | None = None, claims: tuple | None = None) -> None:
    """Workers leave Ctrl-C to the parent, which stops them with SIGTERM (turned into a clean exit); each keeps
    the pool's tasks and its claims."""
    global _TASKS, _CLAIMS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminate)
    if claims is not None:
        _TASKS, _CLAIMS = tasks, Claims(*claims)


def _terminate(signum, frame):
    # Further SIGTERMs are ignored: when one worker leaves, the pool calls the rest broken and terminates them
    # again, and a second SystemExit inside the clean-up (removing the staging folder) would cut it short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(130)


def _stop_workers(pool: ProcessPoolExecutor, grace: float = 2.0) -> None:
    """Stop every worker now: SIGTERM (each removes its staging folder), SIGKILL after ``grace`` seconds."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + grace
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)
    pool.shutdown(wait=False, cancel_futures=True)


def _lost(task: dict, why: str) -> dict:
    """The ERROR result of a task whose worker process went away."""
    from emulator.regress import suite

    return {"name": task["name"], "path": task["path"], "out": task["out"], "profile": "", "outcome": "",
            "verdict": suite.ERROR, "expectations": [], "met": 0, "total": 0, "seconds": 0.0, "golden": None,
            "error": f"{task['path']}: {why}", "error_type": "WorkerLost", "traceback": None, "console": ""}


WARM_MIN_WORKERS = 4
WARM_MIN_PER_WORKER = 4
"""The process that forks the workers warms up first (emulator.regress.warm_worker) for at least WARM_MIN_WORKERS
workers with WARM_MIN_PER_WORKER scenarios each: its warm-up (about 0.25 s of CPU, before any worker starts) saves each
worker about 0.05 s of first-scenario work, so it pays only where it is shared by several workers."""

PRELOAD_MIN_WORKERS = 2
"""From this many workers on, the process that forks them also runs emulator.regress.worker_preload (about 40 ms: the
modules a run imports late and the kallsyms tables every worker would otherwise build for itself)."""

PRELOAD = ["__main__", "emulator.run.runner", "emulator.run.report", "emulator.regress.suite"]
"""What is always imported before a worker is forked. ``__main__`` is the program's script (the fadump-emu
entry point, pytest's): a forkserver imports it so that no worker runs it again to set itself up."""


def preload_for(workers: int, tasks: int) -> list[str]:
    """What to import before forking a pool of ``workers`` running ``tasks`` scenarios: the more workers share
    it, the more one-time work is worth doing once before forking instead of once in every worker."""
    if workers >= WARM_MIN_WORKERS and tasks >= WARM_MIN_PER_WORKER * workers:
        return PRELOAD + ["emulator.regress.warm_worker"]
    if workers >= PRELOAD_MIN_WORKERS:
        return PRELOAD + ["emulator.regress.worker_preload"]
    return list(PRELOAD)


def single_threaded() -> bool:
    """Whether this process runs one thread only, native threads included (numpy's OpenBLAS starts its own
    unless told not to): only then is forking it safe, since no other thread can hold a lock that the child
    would inherit locked. False where the threads cannot be counted (no /proc)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def worker_context(preload: list[str] = PRELOAD):
    """The start method for worker processes (``fadump-emu test``'s pool, explore's, explore --matrix's): fork
    when this process runs no other thread, else forkserver where there is one, otherwise spawn.

    Forked workers share what this process has imported, so ``preload`` (preload_for()) is imported here first:
    once per process, and no second interpreter imports it all again (a forkserver's start, ~0.15 s of CPU
    and as much wall time before the first worker, in every ``fadump-emu test``). A forkserver imports
    ``preload`` itself before it forks the workers; it is started once per process: the first pool decides
    what it preloads, later pools share it.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and single_threaded():
        _prepare_here(preload)
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return multiprocessing.get_context("spawn")


def _prepare_here(preload: list[str]) -> None:
    """Before forking workers from this process: import ``preload`` (``__main__`` is this process's own), and
    give back the RAM mappings kept for this process's own next runs, which every worker would otherwise
    inherit and copy page by page on its first write."""
    for name in preload:
        if name != "__main__":
            importlib.import_module(name)
    from emulator.hw.ram import PartitionRAM

    PartitionRAM.drop_spares()


def prepare_workers(workers: int, tasks: int) -> str | None:
    """Get the pool's start ready now, before the caller plans the suite: when workers will be forked from this
    process, import what they need here (planning needs much of it too); with a forkserver, start it now so
    that its imports overlap the planning instead of delaying the first worker. The start method, or None
    for a single worker."""
    if workers < 2:
        return None
    ctx = worker_context(preload_for(workers, tasks))
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
    return ctx.get_start_method()


def cost(task: dict) -> int:
    """How long a task is expected to take, for ordering only: the size of its golden transcript (a longer
    console means more boots, crashes and captures), else of its scenario file. 0 when neither can be read."""
    for path in (Path(task["path"]).with_suffix(".log"), Path(task["path"])):
        try:
            return os.stat(path).st_size
        except OSError:
            continue
    return 0


def dispatch_order(tasks: list[dict]) -> list[int]:
    """Indexes of ``tasks`` longest first (ties in file order): the short ones come last, so the workers
    run out of work at nearly the same moment instead of one finishing a long scenario alone."""
    return sorted(range(len(tasks)), key=lambda i: -cost(tasks[i]))


def run_all(tasks: list[dict], workers: int, update_golden: bool = False, progress=None) -> list[dict]:
    """Run every task in ``workers`` processes; results in task order. ``progress(result)`` after each.

    Each worker claims its next task itself (pool_claims): one like the task it just ran, else the longest
    left (dispatch_order). Results and folders do not depend on which worker ran what.
    """
    results: list[dict | None] = [None] * len(tasks)
    workers = max(1, min(workers, len(tasks)))
    ctx = worker_context(preload_for(workers, len(tasks)))
    taken = ctx.Array("b", len(tasks), lock=False)
    claims = (dispatch_order(tasks), [t.get("affinity") for t in tasks], taken,
              ctx.Value("q", len(tasks), lock=False), ctx.Lock(), workers)
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(tasks, claims),
                               mp_context=ctx)
    try:
        for fut in as_completed([pool.submit(_run_next, update_golden) for _ in tasks]):
            try:
                done = fut.result()
            except BrokenProcessPool:
                continue  # which task that worker held is not known: every task left without a result, below
            if done is not None:
                results[done[0]] = done[1]
                if progress is not None:
                    progress(done[1])
        for i, r in enumerate(results):
            if r is None:
                results[i] = _lost(tasks[i], "the worker process running it died (out of memory?)" if taken[i]
                                   else "not run: a worker process died (out of memory?) and the pool stopped")
                if progress is not None:
                    progress(results[i])
    except BaseException:
        _stop_workers(pool)  # Ctrl-C: no worker goes on with its scenario or starts the next one
        raise
    pool.shutdown(wait=True)
    return results  # type: ignore[return-value]
