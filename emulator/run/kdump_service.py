"""The capture kernel's userspace: save /proc/vmcore (cp or makedumpfile), verify, release.

Mixed into emulator.run.runner.Run; models what the kdump service (kdump-utils,
kdump-tools) does in a fadump capture kernel.
"""

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from emulator.run import export
from emulator.run.events import Lifecycle
from emulator.errors import BadInputError, OutputExistsError
from emulator.scenario.faults import DiskFull
from emulator.run.results import Capture
from emulator.run.digests import DIGEST_DIR
from emulator.run.dump_sources import ProcVmcoreSource, open_source, saved_record
from emulator.run.verify import verify
from kernels import elfcore
from kernels.crash import Verdict
from kernels.structs import NT_PRSTATUS, PR_REG_OFFSET

if TYPE_CHECKING:  # a run imports neither unless a capture tool is asked for (start-up time)
    import subprocess

DISK_BANDWIDTH = 1 << 30
"""Bytes per simulated second the capture kernel writes the vmcore at (assumption)."""


CAPTURE_TOOLS = "fadump_emu.capture_tools"
"""The entry-point group naming the capture tools a run may use when its caller injects none (pyproject.toml)."""


class CaptureTool(Protocol):
    """A capture program the kdump service runs on /proc/vmcore (emulator.host.ppc64el_tools.MAKEDUMPFILE)."""

    def available(self) -> bool:
        """Whether the program can run on this host."""

    def how_to_install(self) -> str:
        """A sentence saying how to get it."""

    def __call__(self, argv: list[str], cwd: str) -> "subprocess.CompletedProcess":
        """Run it with ``argv`` in ``cwd``; its output as text."""


def capture_tool(name: str, where: str = "") -> CaptureTool:
    """The installed capture tool ``name``: the object its entry point in CAPTURE_TOOLS names."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=CAPTURE_TOOLS):
        if ep.name == name:
            return ep.load()
    raise BadInputError(f"{where + ': ' if where else ''}capture.tool = \"{name}\": no such capture tool is "
                        f"installed (entry point group {CAPTURE_TOOLS}); reinstall fadump-emu (make setup)")


class CaptureSteps:
    """capture(), makedumpfile(), read_notes() and after_capture() of a Run."""

    def capture(self, k, name: str | None = None):
        """The kdump service in the capture kernel: save /proc/vmcore, then verify it."""
        m = self.machine
        self.lifecycle(Lifecycle.CAPTURE, k)
        n = len(self.result.captures) + 1
        cap = Capture(k.boot, size=k.vmcore.size, expected_regs=self._expected_regs)
        path = self.vmcore_path(n) if name is None or self.out is None else self.out / name
        saving = (self.sc.capture_save or name is not None) and path is not None
        if not saving:  # when saved, the file read back is what gets verified (below)
            cap.verification = self.verify_capture(k, None)
        cap.notes = self.read_notes(k)
        for addr, data, _ in self.sc.expect.memory:
            try:
                cap.samples.append((addr, data, k.vmcore.read_paddr(addr, len(data))))
            except KeyError:
                cap.samples.append((addr, data, None))
        if path is not None and path.exists() and name is not None and not self.force:
            raise OutputExistsError(f"{path} already exists; pass --force to replace it")
        if saving:
            k.userspace(f"kdump: saving vmcore ({k.vmcore.size} bytes) to {path.name}")
            capacity = self.faults.param("disk-full", "capacity") if self.faults.has("disk-full") else None
            data = sum(e - s for seg in k.vmcore.segments if seg.buffer is None
                       for s, e in m.ram.touched_runs(seg.paddr, seg.paddr + seg.size))
            try:
                with self.result.timed("export"), self.bus.progress(f"saving {path.name}", data) as advance:
                    saved = export.save(k.vmcore, str(path), self.export_mode, progress=advance, capacity=capacity)
            except DiskFull as full:
                cap.verification = self.verify_capture(k, None)  # nothing whole was saved: /proc/vmcore is judged
                cap.save_error = f"No space left on device after {full.written} bytes"
                k.userspace(f"kdump: saving vmcore failed: {cap.save_error}; kept {path.name}-incomplete")
                m.narrate(f"kdump (boot {k.boot})", "save /proc/vmcore", "kdump service",
                          f"saving {path.name} FAILS: {cap.save_error}; the partial file is kept as "
                          f"{path.name}-incomplete")
                self.result.captures.append(cap)
                return
            cap.disk_bytes, cap.path, cap.format, cap.format_reason = saved.data_bytes, saved.path, saved.format, saved.reason
            cap.file_size = saved.size
            if self.sc.capture_tool == "makedumpfile":
                self.makedumpfile(k, cap, path)
            cap.verification = self.verify_capture(k, path, cap.format) if cap.path else self.verify_capture(k, None)
            save_span = self.span(f"kdump saves {path.name} ({saved.format})", "kdump", m.env.now,
                                  bytes=saved.data_bytes)
            yield m.env.timeout(cap.disk_bytes / DISK_BANDWIDTH)
            self.end_span(save_span, m.env.now)
            k.userspace(f"kdump: saved vmcore ({cap.format}): {cap.disk_bytes} bytes of data in a "
                        f"{cap.file_size}-byte file")
            v = cap.verification or {}
            m.narrate(f"kdump (boot {k.boot})", "save /proc/vmcore", "kdump service",
                      f"/proc/vmcore is saved as {path.name} ({cap.format}, {cap.disk_bytes} bytes of data); read "
                      "back, it " + ("is left to `fadump-emu verify`" if not self.verify_saved else
                                     "matches crash-time memory" if v.get("ok") else
                                     "does NOT match crash-time memory (" + ", ".join(
                                         f"{len(v.get(key) or [])} {key}" for key in ("missing", "bogus", "differs"))
                                     + ")"))
            self.lifecycle(Lifecycle.SAVED, k, capture=cap)
        self.result.captures.append(cap)

    def verify_capture(self, k, path: Path | None, fmt: str = "") -> dict | None:
        """Crash-time digests against the saved file read back from disk (or /proc/vmcore when not saved).

        The digests and a record of the file as written go to digests/<vmcore name>.json and .bin
        beside it, for `fadump-emu verify` later.
        """
        snap = self.snapshot.current
        if snap is None:
            return None
        if path is None:
            source = ProcVmcoreSource(k.vmcore, self.machine.ram)
        else:
            saved = {"format": fmt, "covered": [[l.paddr, l.size] for l in k.vmcore.loads]}
            if not fmt.startswith("kdump-compressed"):
                saved.update(saved_record(str(path)))
            saved["covered"] = [[l.paddr, l.size] for l in k.vmcore.loads]
            if self.folder is not None and path.parent == self.out:  # written at commit, or kept when unchanged
                self.folder.add_tree(DIGEST_DIR, snap.files(path.name, saved))
            else:
                snap.save(path.parent, path.name, saved)
            if not self.verify_saved:
                return None
            source = open_source(str(path), saved)
        checked = len(snap.grains) * 4096
        try:
            with self.result.timed("verify"), self.bus.progress("verifying the vmcore", checked) as advance:
                return verify(snap, source, advance)
        finally:
            getattr(source, "close", lambda: None)()

    def makedumpfile(self, k, cap: Capture, path: Path) -> None:
        """kdump-utils' capture: makedumpfile -l --message-level 7 -d 31 /proc/vmcore vmcore (the injected tool)."""
        source = path.with_name(path.name + ".proc-vmcore")
        os.replace(path, source)
        argv = ["-l", "--message-level", "7", "-d", "31", source.name, path.name]
        k.userspace("kdump: makedumpfile " + " ".join(["-l", "--message-level", "7", "-d", "31", "/proc/vmcore",
                                                        path.name]))
        with self.result.timed("makedumpfile"):
            proc = self.makedumpfile_tool(argv, cwd=str(path.parent))
        source.unlink()
        for line in (proc.stdout + proc.stderr).splitlines():
            if line.strip() and "%]" not in line:  # progress meters are for terminals
                k.userspace(f"makedumpfile: {line.strip()}")
        if proc.returncode != 0:
            cap.save_error = f"makedumpfile exited with {proc.returncode}"
            cap.path = None
            return
        cap.format = "kdump-compressed (makedumpfile -l -d 31)"
        cap.format_reason = "filtered as kdump-utils does: zero, cache, user and free pages dropped, lzo"
        cap.file_size = cap.disk_bytes = path.stat().st_size

    def read_notes(self, k) -> list[dict]:
        """The NT_PRSTATUS notes as the vmcore holds them: pid and registers per note."""
        out = []
        order = k.ks.pt_regs_fields
        for name, n_type, desc, _ in elfcore.walk_notes(k.ks, k.vmcore.notes):
            if name != "CORE" or n_type != NT_PRSTATUS:
                continue
            regs = [int.from_bytes(desc[PR_REG_OFFSET + 8 * i:PR_REG_OFFSET + 8 * i + 8], k.byteorder)
                    for i in range(48)]
            out.append({"pid": int.from_bytes(desc[32:36], k.byteorder), "regs": dict(zip(order, regs))})
        return out

    def after_capture(self, k):
        """What the kdump service does once the vmcore is saved (SimPy steps: release and reboot reach firmware);
        how the boot ended, or None."""
        after = self.sc.capture_after
        if after in ("release", "release-and-register"):
            rel = yield from k.sysfs_write(k.release_path(), "1")
            k.userspace(f"kdump: released the dump memory (fadump_release_mem: {'ok' if rel >= 0 else rel})")
            self.lifecycle(Lifecycle.RELEASED, k, status=rel)
            if after == "release-and-register":
                yield from k.kdump_service_register()
            return None
        if after == "reboot":
            k.userspace("kdump: rebooting")
            yield from k.machine_shutdown()
            return Verdict.CLEAN_REBOOT
        return None
