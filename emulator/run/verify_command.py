"""`fadump-emu verify RUN_DIR`: re-check saved vmcores against the crash-time digests of their run.

A run folder keeps, for each vmcore it saved, ``digests/<name>.json`` and
``.bin``: BLAKE3 digests of every written 4 KiB grain of memory at the
crash. This command reads the vmcore file back from disk and compares, so it
works after a copy, on another machine, or after makedumpfile rewrote the dump
(ELF from -E, kdump-compressed from -l/-c/-p/-z): a filtered dump is checked on
the pages it kept, and what it left out is counted.
"""

import os
import sys
from pathlib import Path

from rich.console import Console

from emulator.run import digests
from emulator.run.dump_sources import open_source
from emulator.errors import BadInputError
from emulator.run.verify import describe, verify


def headers_of(run_dir: str) -> list[Path]:
    """The digest headers of a run folder, or BadInputError saying what the folder lacks."""
    root = Path(run_dir)
    if not root.is_dir():
        raise BadInputError(f"{run_dir}: not a folder; give the run folder (`fadump-emu run --out DIR`)")
    found = sorted((root / digests.DIGEST_DIR).glob("*.json"))
    if not found:
        raise BadInputError(f"{run_dir}: no {digests.DIGEST_DIR}/*.json in this folder; only runs that saved a "
                            "vmcore (fadump-emu 0.1 with digests) can be verified")
    return found


def verify_run_dir(run_dir: str, vmcore: str | None = None, only: str | None = None) -> list[dict]:
    """One verdict per saved vmcore of the run (``vmcore`` replaces the file of the one named ``only``)."""
    out = []
    for header_path in headers_of(run_dir):
        snap, header = digests.load(header_path)
        name = header["vmcore"]["name"]
        if only is not None and name != only:
            continue
        path = vmcore if vmcore is not None else os.path.join(run_dir, name)
        if not os.path.lexists(path):
            raise BadInputError(f"{path}: no such vmcore (named by {header_path}); give its new place with --vmcore")
        source = open_source(path, header["vmcore"])
        try:
            verdict = verify(snap, source)
        finally:
            getattr(source, "close", lambda: None)()
        verdict["vmcore"] = name
        out.append(verdict)
    if only is not None and not out:
        raise BadInputError(f"{run_dir}: no digests for a vmcore named {only!r}")
    return out


def command(args) -> int:
    """Print one verdict per vmcore; exit 0 when all match, 1 when any does not, 2 for bad input."""
    headers = headers_of(args.run_dir)
    only = args.name
    if args.vmcore is not None and only is None:
        if len(headers) > 1:
            raise BadInputError(f"{args.run_dir} saved {len(headers)} vmcores; say which one --vmcore replaces "
                                "with --name (e.g. --name vmcore.2)")
        only = digests.load(headers[0])[1]["vmcore"]["name"]
    con = Console(highlight=False, soft_wrap=not sys.stdout.isatty())  # no wrapping into pipes (grep, CI)
    bad = 0
    for v in verify_run_dir(args.run_dir, args.vmcore, only):
        where = v["source"]
        if v["ok"]:
            kept = (f"; a filtered dump: the pages it kept match, {v['filtered_out_bytes']} bytes of crash-time "
                    "memory are not in it") if v["filtered"] else ""
            con.print(f"[green]ok[/]   {where}: matches crash-time memory ({v['checked_bytes']} bytes "
                      f"compared by BLAKE3 digest per 4 KiB{kept})")
            continue
        bad += 1
        con.print(f"[red]FAIL[/] {where}: does not match crash-time memory")
        for line in describe(v):
            con.print(f"     {line}")
        if v["differs_count"] > len(v["differs"]):
            con.print(f"     ... {v['differs_count'] - len(v['differs'])} more ranges that differ")
    return 1 if bad else 0
