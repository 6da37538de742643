"""Running ``fadump-emu test`` and ``explore`` on a Dask distributed cluster.

``--scheduler ADDRESS`` connects to a running scheduler (``dask scheduler`` and
``dask worker ADDRESS`` on each machine, every one with fadump-emu installed);
``--cluster local:N`` starts a LocalCluster of N single-threaded worker
processes on this machine. The local process pool stays the default and needs
no Dask.

Scenarios travel as data: the client reads each file and sends its text, so
workers need no shared file system. Each run writes its folder on its worker
(under the worker's temporary directory); ``--collect`` brings the files back
(sparse files as their data extents). Golden transcripts are compared on the
client, where the scenario files are, so results, JUnit XML and JSON are the
same whichever engine ran the work; each result records which worker ran it.
"""

import os
import re
import shutil
import tempfile
from pathlib import Path

from emulator.errors import BadInputError
from emulator.new_files import new_file_beside

LOCAL = re.compile(r"local:(\d+)$")
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}
"""Dask configuration of the LocalCluster's workers. Dask's statistical profiler samples each running task's
Python stack every 10 ms (for its dashboard, which --cluster does not serve); a run is a deep stack of SimPy
generators, so sampling it cost about 6% of every run's time (explore --matrix, 1000 runs on local:2:
17.7 -> 16.7 ms per run and core)."""
WORKER_ROOT = "fadump-emu-dask"
"""Folder under each worker's temporary directory where runs write their outputs: one folder per worker
process, named by its pid."""
KEEP_EXITED = 4
"""Folders of worker processes that have exited kept under WORKER_ROOT (the most recently written ones); a
worker removes the older ones before its first run, so that cluster after cluster (every --cluster local:N
starts new worker processes) does not fill the temporary directory. --collect brings a run's files back."""


def client(scheduler: str | None = None, cluster: str | None = None):
    """A distributed.Client for ``--scheduler ADDRESS`` or ``--cluster local:N`` (bad input otherwise)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise BadInputError("--scheduler and --cluster run on Dask: install its distributed package "
                            "(pip install 'fadump-emu[dask]')") from None
    if cluster is not None:
        m = LOCAL.match(cluster)
        if not m or int(m.group(1)) < 1:
            raise BadInputError(f"--cluster {cluster}: use local:N with N >= 1 worker processes (e.g. local:2)")
        import dask

        with dask.config.set(WORKER_CONFIG):  # each nanny hands the configuration it starts with to its worker
            lc = LocalCluster(n_workers=int(m.group(1)), threads_per_worker=1, processes=True,
                              dashboard_address=None)
        return _prepared(Client(lc))
    try:
        return _prepared(Client(scheduler, timeout="20s"))
    except OSError as exc:
        raise BadInputError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({exc}); start one "
                            "with `dask scheduler` and workers with `dask worker ADDRESS`") from None


def _prepared(cl):
    """``cl`` once every worker (and every worker that joins later) has run emulator.regress.worker_preload."""
    cl.register_plugin(_preload_plugin())
    return cl


def _preload_plugin():
    """A Dask WorkerPlugin whose setup imports emulator.regress.worker_preload on its worker: the modules a run
    imports late and the kallsyms tables, as the local pool does once for all its workers before forking them. Without
    it each worker's first scenario did that work (and a LocalCluster's workers start from nothing)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class WorkerPreload(WorkerPlugin):
        name = "fadump-emu-worker-preload"

        def setup(self, worker) -> None:
            import emulator.regress.worker_preload  # noqa: F401 -- importing it is the preparation

    return WorkerPreload()


def close(cl) -> None:
    cluster = getattr(cl, "cluster", None)
    cl.close()
    if cluster is not None:
        cluster.close()


# --- on a worker ---

def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"local:{os.getpid()}"


_OWN_FOLDER: Path | None = None


def _own_folder() -> Path:
    """This worker process's folder under WORKER_ROOT; the first call prunes what exited workers left."""
    global _OWN_FOLDER
    if _OWN_FOLDER is None:
        root = Path(tempfile.gettempdir()) / WORKER_ROOT
        prune_exited(root, KEEP_EXITED)
        _OWN_FOLDER = root / str(os.getpid())
    return _OWN_FOLDER


def prune_exited(root: Path, keep: int) -> list[Path]:
    """Remove the folders under ``root`` of worker processes that have exited, all but the ``keep`` most
    recently written; the folders removed. A folder is a worker's when its name is a pid; it has exited when
    no process has that pid (one that merely belongs to another user is alive). Links are never followed."""
    exited = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    for e in entries:
        if not e.name.isdigit() or int(e.name) in (0, os.getpid()) or not e.is_dir(follow_symlinks=False):
            continue
        try:
            os.kill(int(e.name), 0)
            continue  # alive
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        try:
            exited.append((e.stat(follow_symlinks=False).st_mtime, Path(e.path)))
        except OSError:
            continue
    exited.sort(reverse=True)
    removed = [p for _, p in exited[keep:]]
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)  # fd-based on Linux: never follows a link inside
    return removed


def run_remote(task: dict, collect: bool) -> dict:
    """One scenario on a worker: run it from its text into a folder of the worker's own (judge=False)."""
    from emulator.regress import suite

    out = _own_folder() / Path(task["out"]).name
    res = suite.run_one(task["path"], str(out), name=task["name"], text=task["text"], judge=False)
    res.update(out=task["out"], worker=_worker_name(), worker_out=str(out))
    if collect:
        res["files"] = gather_files(out) if out.is_dir() else {}
    return res


def gather_files(folder: Path) -> dict[str, dict]:
    """Every regular file of a run folder as {name: {"size": n, "extents": [(offset, bytes)]}} (holes skipped)."""
    files = {}
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.is_symlink():
            continue
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            extents, pos = [], 0
            while pos < size:
                try:
                    start = os.lseek(f.fileno(), pos, os.SEEK_DATA)
                    end = os.lseek(f.fileno(), start, os.SEEK_HOLE)
                except OSError:  # no more data (ENXIO), or no SEEK_DATA here: read it all
                    if pos == 0 and not extents:
                        start, end = 0, size
                    else:
                        break
                f.seek(start)
                extents.append((start, f.read(end - start)))
                pos = end
        files[p.name] = {"size": size, "extents": extents}
    return files


def write_files(folder: str, files: dict[str, dict]) -> None:
    """The collected files of one run into ``folder`` (sparse where they were sparse).

    Each file is written under a fresh random name beside its own (O_EXCL, O_NOFOLLOW) and renamed over it:
    a symlink planted at OUT/NAME/vmcore is replaced, never written through, and a reader never sees a file
    half written. A folder that is itself a symlink, or a name that is not a plain file name (a worker is
    another machine), is refused.
    """
    out = Path(folder)
    if out.is_symlink():
        raise BadInputError(f"{out}: is a symlink (to {os.path.realpath(out)}); --collect writes only into a real "
                            "folder, never through a link: remove the link and run again")
    out.mkdir(parents=True, exist_ok=True)
    for name, f in files.items():
        if name in ("", ".", "..") or name != Path(name).name:
            raise BadInputError(f"{out}: a worker sent a file named {name!r}, which is not a plain file name; "
                                "check the workers: they must run the same fadump-emu")
        fd, tmp = new_file_beside(out / name, "collect")
        try:
            with os.fdopen(fd, "wb") as dst:
                dst.truncate(f["size"])
                for offset, data in f["extents"]:
                    dst.seek(offset)
                    dst.write(data)
            os.replace(tmp, out / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


# --- on the client ---

def run_tasks(cl, tasks: list[dict], update_golden: bool = False, collect: bool = False, progress=None) -> list[dict]:
    """suite_pool.run_all on a Dask cluster: results in task order, judged here against the golden files."""
    from distributed import as_completed

    from emulator.regress import suite, suite_pool
    from emulator.scenario.loader import MAX_FILE_BYTES

    results: list[dict | None] = [None] * len(tasks)
    futures = {}
    for i in suite_pool.dispatch_order(tasks):  # longest first, as the local pool hands them out: no long tail
        t = tasks[i]
        try:
            if Path(t["path"]).stat().st_size > MAX_FILE_BYTES:
                raise OSError("too large to be a scenario")
            text = Path(t["path"]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):  # scenario.load's own refusal, made here
            results[i] = suite.run_one(t["path"], t["out"], update_golden, t["name"])  # the same ERROR row
            results[i]["worker"] = "client"
            if progress is not None:
                progress(results[i])
            continue
        fut = cl.submit(run_remote, {**t, "text": text}, collect, pure=False, key=f"fadump-emu-{i}-{os.getpid()}")
        futures[fut] = i
    try:
        for fut in as_completed(list(futures)):
            i = futures[fut]
            res = fut.result()
            files = res.pop("files", None)
            if files is not None:
                try:
                    write_files(tasks[i]["out"], files)
                except BadInputError as exc:  # that scenario's folder cannot take them: its row says why
                    res.update(error=str(exc), error_type=type(exc).__name__)
            results[i] = suite.finish(res, update_golden)
            if progress is not None:
                progress(results[i])
    except BaseException:
        cl.cancel(list(futures))
        raise
    return results  # type: ignore[return-value]


def map_points(cl, run_point, jobs: list, progress=None) -> list:
    """explore's runs on a Dask cluster, in job order."""
    from distributed import as_completed

    futures = {cl.submit(run_point, job, pure=False, key=f"fadump-emu-explore-{i}-{os.getpid()}"): i
               for i, job in enumerate(jobs)}
    points: list = [None] * len(jobs)
    try:
        for fut in as_completed(list(futures)):
            points[futures[fut]] = fut.result()
            if progress:
                progress()
    except BaseException:
        cl.cancel(list(futures))
        raise
    return points
