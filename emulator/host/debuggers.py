"""From a run folder to a debugger in one command: ``fadump-emu gdb|drgn|crash RUN_DIR``.

Each command builds what its tool needs next to the run, in RUN_DIR/debug/ (derived files, never the
run's own vmcore):

- ``vmlinux``: the symbol file of the emulated kernel image (emulator.host.symbolfile), for every tool;
- ``vmcore.gdb``: for gdb only, a copy of the vmcore whose NT_PRSTATUS notes carry pid = CPU + 1.
  fadump writes pid 0 in every note (fadump_regs_to_elf_notes(), v6.10), and gdb merges threads with
  the same pid into one it then reports as terminated, so ``p/x $pc`` fails on the real file. The copy
  is sparse and only the pid fields differ; the saved vmcore keeps pid 0.

drgn reads the real vmcore: with the symbol file it finds the crashed thread itself (``crashing_cpu``,
that CPU's note, pid 0, so ``per_cpu(runqueues, cpu).idle``). crash is Debian's ppc64el build under
qemu-user (emulator.host.ppc64el_tools), started with ``--minimal``: the emulated kernel has no task list,
memory zones or modules for crash's full initialisation, but its log, symbols and memory commands work.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from emulator.errors import BadInputError
from emulator.host.symbolfile import ImageDescription, build
from emulator.vmcore.vmcore_file import VmcoreFile
from kernels.structs import NT_PRSTATUS

DEBUG_DIR = "debug"
PRSTATUS_PID_OFFSET = 32
"""struct elf_prstatus: pr_pid after pr_info (12), pr_cursig (2 + 2 padding), pr_sigpend and pr_sighold."""


@dataclass
class RunDebugInfo:
    """What a run folder says about its dump: which file, which kernel, which CPUs have notes."""

    run_dir: Path
    vmcore: Path
    profile: str
    little_endian: bool
    release: str
    crashing_cpu: int | None
    note_cpus: list[int]
    """The CPU of each NT_PRSTATUS note, in note order (fadump writes them in CPU order)."""
    prstatus_offsets: list[int]
    """File offset of each NT_PRSTATUS note's descriptor."""
    build_id: str | None = None
    """VMCOREINFO's BUILD-ID, when the kernel publishes one."""

    @property
    def debug_dir(self) -> Path:
        return self.run_dir / DEBUG_DIR

    def made_debug_dir(self) -> Path:
        """RUN_DIR/debug, created if missing; a symlink there is refused (nothing is written through it)."""
        from emulator.run.out_paths import check_out_dir

        return check_out_dir(self.debug_dir, "the debug folder")


def read_run(run_dir: str, vmcore_name: str | None = None) -> RunDebugInfo:
    """The run folder's report and vmcore; bad input when there is no usable dump."""
    rd = Path(run_dir)
    try:
        report = json.loads((rd / "report.json").read_text())
    except FileNotFoundError:
        raise BadInputError(f"{rd}: no report.json; give a folder written by `fadump-emu run --out`") from None
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{rd}/report.json: unreadable ({exc})") from None
    saved = [c for c in report.get("captures", []) if c.get("vmcore") and not c.get("rejected")]
    if vmcore_name:
        saved = [c for c in saved if Path(c["vmcore"]).name == vmcore_name]
    if not saved:
        raise BadInputError(f"{rd}: this run saved no vmcore"
                            + (f" named {vmcore_name}" if vmcore_name else "") + " (see its report.json)")
    cap = saved[0]
    path = rd / Path(cap["vmcore"]).name
    crashes = [c for c in report.get("crashes", []) if c.get("boot", 0) < cap["boot"]]
    crashing = crashes[-1]["cpu"] if crashes else None
    with VmcoreFile(str(path)) as vf:
        info = vf.vmcoreinfo
        offsets = []
        for name, n_type, _, off in vf.notes:
            if name == "CORE" and n_type == NT_PRSTATUS:
                offsets.append(off + 12 + (len(name) + 1 + 3) // 4 * 4)
        le = vf.little_endian
    cpus = sorted(int(c) for c in cap.get("registers", {}))
    if len(cpus) != len(offsets):
        cpus = list(range(len(offsets)))
    return RunDebugInfo(rd, path, report["scenario"]["profile"], le, info.get("OSRELEASE", "unknown"),
                        crashing, cpus, offsets, info.get("BUILD-ID"))


def symbol_file(info: RunDebugInfo) -> Path:
    """RUN_DIR/debug/vmlinux, built when missing or older than the vmcore."""
    out = info.made_debug_dir() / "vmlinux"
    if up_to_date(out, info.vmcore):
        return out
    return build(ImageDescription.of_profile(info.profile, info.little_endian, info.release), out)


def gdb_core(info: RunDebugInfo) -> Path:
    """RUN_DIR/debug/vmcore.gdb: the vmcore with pid = CPU + 1 in each NT_PRSTATUS note (sparse copy)."""
    out = info.made_debug_dir() / "vmcore.gdb"
    if up_to_date(out, info.vmcore):
        return out
    fd, tmp = tempfile.mkstemp(prefix=".vmcore.gdb.", dir=out.parent)  # a new file: no planted link is followed
    os.close(fd)
    try:
        done = subprocess.run(["cp", "--sparse=always", "--reflink=auto", str(info.vmcore), tmp],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise BadInputError(f"cannot copy {info.vmcore} for gdb: {done.stderr.strip()}")
        order = "little" if info.little_endian else "big"
        with open(tmp, "r+b") as f:
            for cpu, desc in zip(info.note_cpus, info.prstatus_offsets):
                f.seek(desc + PRSTATUS_PID_OFFSET)
                f.write((cpu + 1).to_bytes(4, order))
        os.replace(tmp, out)  # a symlink named vmcore.gdb is replaced, never written through
    except BaseException:
        os.unlink(tmp)
        raise
    return out


def up_to_date(derived: Path, vmcore: Path) -> bool:
    """``derived`` is a regular file (a symlink is not: it is rebuilt, replacing the link) newer than the vmcore."""
    try:
        st = os.lstat(derived)
    except FileNotFoundError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_mtime >= vmcore.stat().st_mtime


def gdb_argv(info: RunDebugInfo, cpu: int | None, extra: list[str]) -> list[str]:
    """gdb-multiarch on the symbol file and the derived core, the thread of ``cpu`` selected."""
    gdb = shutil.which("gdb-multiarch")
    if gdb is None:
        raise BadInputError("gdb-multiarch not found; install it with `apt-get install gdb-multiarch`")
    cpu = info.crashing_cpu if cpu is None else cpu
    if cpu is None or cpu not in info.note_cpus:
        raise BadInputError(f"CPU {cpu} has no register note in {info.vmcore}; CPUs with notes: "
                            f"{', '.join(map(str, info.note_cpus))}")
    vmlinux, core = symbol_file(info), gdb_core(info)
    thread = info.note_cpus.index(cpu) + 1  # gdb numbers a core's threads in note order
    return [gdb, "-q", "-ex", "set architecture powerpc:common64", "-ex", f"file {vmlinux}",
            "-ex", f"core-file {core}", "-ex", f"thread {thread}", *extra]


def drgn_argv(info: RunDebugInfo, extra: list[str]) -> list[str]:
    """drgn -c vmcore -s vmlinux when VMCOREINFO names a build ID (6.10) for drgn to match the symbol file
    with; --extra-symbols for 3.4, whose VMCOREINFO has none."""
    how = "-s" if info.build_id else "--extra-symbols"
    return [sys.executable, "-m", "drgn", "-q", "-c", str(info.vmcore), how, str(symbol_file(info)), *extra]


def crash_argv(info: RunDebugInfo, extra: list[str]) -> tuple[list[str], dict]:
    from emulator.host import ppc64el_tools as t

    if not t.available():
        raise BadInputError(t.how_to_install())
    argv = [str(t.qemu_path()), "-L", str(t.sysroot()), str(t.tool_path("crash")), "--minimal",
            str(symbol_file(info).resolve()), str(info.vmcore.resolve()), *extra]
    env = dict(os.environ)
    env.pop("QEMU_LD_PREFIX", None)
    return argv, env


def command(args) -> int:
    """fadump-emu gdb|drgn|crash RUN_DIR [--cpu N] [-- TOOL ARGS]."""
    info = read_run(args.run_dir, getattr(args, "vmcore", None))
    extra = list(args.tool_args or [])
    env = None
    if args.command == "gdb":
        argv = gdb_argv(info, args.cpu, extra)
    elif args.command == "drgn":
        argv = drgn_argv(info, extra)
    else:
        argv, env = crash_argv(info, extra)
    print(f"fadump-emu: {' '.join(argv)}", file=sys.stderr)
    sys.stdout.flush()
    return subprocess.run(argv, env=env).returncode
