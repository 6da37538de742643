"""The fadump-emu command line: every command's arguments and help (emulator.cli runs them).

``parser_for(argv)`` builds only the subcommand argv names: a run starts without argparse building the
parsers of sixteen commands it does not use.
"""

import argparse

from emulator import __version__

DEFAULT_SCENARIO = "scenarios/basic-panic.toml"


class _OneSubcommand:
    """The subparsers of ``build_parser(only=NAME)``: only subcommand NAME is built; every other ``add_parser``
    returns a stand-in that takes its arguments and keeps none (argparse builds 17 parsers in about 5 ms, most
    of it gettext looking for message catalogues, where running one command needs one)."""

    def __init__(self, sub, only: str):
        self.sub, self.only, self.found = sub, only, False

    def add_parser(self, name: str, **kwargs):
        if name == self.only or self.only in kwargs.get("aliases", ()):
            self.found = True
            return self.sub.add_parser(name, **kwargs)
        return _Unbuilt()


class _Unbuilt:
    """A subcommand parser left unbuilt: add_argument, add_argument_group... do nothing and return it."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: self


def parser_for(argv: list[str]) -> argparse.ArgumentParser:
    """The parser of ``argv``: with only its subcommand built when argv starts with one (else all of them, so that
    --help and a misspelt command list every subcommand)."""
    if argv and not argv[0].startswith("-"):
        p = build_parser(only=argv[0])
        if p.fadump_emu_complete:
            return p
    return build_parser()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``only``, only that subcommand's parser is built (``fadump_emu_complete`` says whether
    it exists)."""
    p = argparse.ArgumentParser(
        prog="fadump-emu",
        description="Emulate a POWER partition that crashes and is saved by firmware-assisted dump.",
        epilog="Example: fadump-emu run scenarios/basic-panic.toml --out out/basic-panic (from any folder: "
               "fadump-emu run basic-panic; fadump-emu run --list shows the bundled scenarios)",
    )
    p.add_argument("--version", action="version", version=f"fadump-emu {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    if only is not None:
        sub = _OneSubcommand(sub, only)
    run = sub.add_parser("run", help="run a scenario: boot, crash, preserve, capture, verify",
                         description="Run a scenario file and write console.log, report.json and vmcore "
                                     "into the output folder. Exit status: 0 expectations met, 1 not met, "
                                     "2 bad input.")
    run.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO,
                     help=f"scenario file, or a bundled scenario's name (e.g. basic-panic, faults/disk-full; "
                          f"--list shows them) (default {DEFAULT_SCENARIO})")
    run.add_argument("--list", action="store_true",
                     help="list the bundled scenarios (name, kernel profile, what each shows) and exit")
    run.add_argument("--out", "-o", default=None, help="output folder (default out/NAME)")
    run.add_argument("--force", action="store_true",
                     help="replace the results of an earlier run in the output folder (only the files the tool "
                          "wrote; yours are kept)")
    run.add_argument("--quiet", "-q", action="store_true", help="do not echo the console while running")
    run.add_argument("--format", choices=("auto", "full", "filtered"), default="auto",
                     help="vmcore file format: the full image as a sparse file, or a filtered ELF dump without "
                          "zero pages (makedumpfile -E -d 1); auto writes the full image unless the file system "
                          "cannot hold it (default auto)")
    run.add_argument("--trace", default=None, metavar="FILE",
                     help="write the run as Chrome trace-event JSON (open in ui.perfetto.dev)")
    run.add_argument("--map", default=None, metavar="DIR",
                     help="print the memory map before the crash, after preservation and in the capture kernel, "
                          "and save it as SVG and PNG pictures in DIR")
    test = sub.add_parser("test", help="run many scenarios in parallel: table, JUnit XML, JSON, golden transcripts",
                          description="Run every scenario file under PATHS (folders are searched recursively "
                                      "for *.toml), each in a worker process into OUT/NAME, and compare each "
                                      "console with the golden transcript NAME.log beside the scenario when "
                                      "there is one. Exit status: 0 all passed, 1 any FAIL or ERROR, "
                                      "2 bad input (no such path, nothing to run).")
    test.add_argument("paths", nargs="*", metavar="PATH",
                      help="scenario files or folders, or bundled scenarios and folders by name (default scenarios/: "
                           "the bundled ones when there is no such folder here)")
    test.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                      help="worker processes (default: the number of CPUs)")
    test.add_argument("--out", "-o", default="out/test",
                      help="output root; each scenario runs into OUT/NAME (default out/test)")
    test.add_argument("--junit", default=None, metavar="FILE", help="JUnit XML file (default OUT/junit.xml)")
    test.add_argument("--json", default=None, metavar="FILE", help="JSON results file (default OUT/results.json)")
    test.add_argument("--update-golden", action="store_true",
                      help="write each run's console to NAME.log beside its scenario instead of comparing")
    dask_options(test)
    explore = sub.add_parser("explore", help="crash at every lifecycle boundary of a scenario and check the dump",
                             description="Run the scenario once per (lifecycle boundary, trigger) with a crash "
                                         "injected there, and hold each run to an independent model of the "
                                         "kernel and firmware rules (outcome and the console line that says why); "
                                         "every saved vmcore is read back and compared with the crash-time "
                                         "digests. Prints one row per boundary, writes OUT/explore.json, and "
                                         "writes each violation as a reproducing scenario file. Exit status: "
                                         "0 no violation, 1 violations, 2 bad input.")
    explore.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO)
    explore.add_argument("--triggers", default=None,
                         help="comma-separated crash kinds to inject (default panic,system-reset,hypervisor; "
                              "with --matrix every crash kind)")
    explore.add_argument("-j", "--jobs", type=int, default=None, help="worker processes (default: all cores)")
    explore.add_argument("--out", default="out/explore",
                         help="where explore.json and reproducing scenarios go (default out/explore)")
    explore.add_argument("--matrix", action="store_true",
                         help="instead of one scenario: every profile x machine layout x fault of the catalog x "
                              "boundary x trigger (over 10,000 runs); a summary by dimension and OUT/matrix.json")
    explore.add_argument("--limit", type=int, default=None, metavar="N",
                         help="with --matrix, run an evenly spaced sample of N of its runs")
    dask_options(explore, collect=False)
    inspect = sub.add_parser("inspect", help="decode a vmcore or a run folder: ELF headers, notes, ibm,kernel-dump",
                             description="Decode the structures of a vmcore file (ELF header, program headers, "
                                         "NT_PRSTATUS and VMCOREINFO notes) or of a run folder written by "
                                         "`run --out` (also each boot's ibm,kernel-dump).")
    inspect.add_argument("path", metavar="VMCORE_OR_RUN_DIR")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of tables")
    inspect.add_argument("--what", nargs="+", choices=("header", "phdrs", "notes", "kernel-dump"), default=None,
                         help="decode only these structures (default all)")
    dmesg = sub.add_parser("dmesg", help="print the crashed kernel's log from a vmcore (like vmcore-dmesg)",
                           description="Recover the crashed kernel's log from a vmcore through its VMCOREINFO "
                                       "(3.4 plain ring or the 5.10+ lockless ring buffer).")
    dmesg.add_argument("vmcore", metavar="VMCORE", help="a vmcore file, or a run folder holding one")
    explain = sub.add_parser("explain", help="narrate a run step by step with every structure decoded",
                             description="Run a scenario and narrate it: which actor did what, which kernel or "
                                         "firmware function that models (with its source file), and the "
                                         "structures it wrote, decoded field by field.")
    explain.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO)
    explain.add_argument("--step", action="store_true",
                         help="pause after each step: Enter goes on, `m ADDR LEN` shows memory as it is at that "
                              "step, q (or end of input) quits")
    explain.add_argument("--json", action="store_true", help="print the steps as JSON instead")
    verify = sub.add_parser("verify", help="re-check a run's saved vmcore against its crash-time digests",
                            description="Read the vmcore of a run folder back from disk and compare every 4 KiB "
                                        "with the BLAKE3 digests of crash-time memory kept in RUN_DIR/digests. "
                                        "Works after a copy, on another machine, or after makedumpfile (only the "
                                        "pages a filtered dump kept are checked). Exit status: 0 matches, "
                                        "1 does not match, 2 bad input.")
    verify.add_argument("run_dir", metavar="RUN_DIR")
    verify.add_argument("--vmcore", default=None, metavar="FILE",
                        help="check this file instead of the one in RUN_DIR (a copy, or makedumpfile's output)")
    verify.add_argument("--name", default=None, metavar="VMCORE_NAME",
                        help="which of the run's vmcores (vmcore, vmcore.2, ...) to check (default all)")
    for tool, what in (("gdb", "gdb-multiarch on the crashing CPU (or --cpu N)"),
                       ("drgn", "drgn on the vmcore with the emulated kernel's symbol file"),
                       ("crash", "Debian's ppc64el crash under qemu-user (--minimal)")):
        dbg = sub.add_parser(tool, help=f"open a run's vmcore in {tool}: {what}",
                             description=f"Open the vmcore of RUN_DIR in {tool} with a symbol file (vmlinux) "
                                         "of the emulated kernel image, built in RUN_DIR/debug/. Arguments "
                                         f"after -- go to {tool}.",
                             usage=f"fadump-emu {tool} [-h] RUN_DIR [options] [-- {tool.upper()} ARGS]")
        dbg.add_argument("run_dir", metavar="RUN_DIR")
        dbg.add_argument("--vmcore", default=None, metavar="VMCORE_NAME",
                         help="which of the run's vmcores (vmcore, vmcore.2, ...) (default the first)")
        if tool == "gdb":
            dbg.add_argument("--cpu", type=int, default=None, metavar="N",
                             help="select CPU N's thread (default the crashing CPU)")
    faults = sub.add_parser("faults", help="list the fault catalog: each fault's parameters and effect",
                            description="List every fault a scenario's [[faults]] can inject, with its parameters "
                                        "(type or allowed values, default) and what it does. A table on a "
                                        "terminal, plain unwrapped lines into pipes.")
    faults.add_argument("--json", action="store_true", help="print the catalog as JSON")
    schema = sub.add_parser("schema", help="write a JSON Schema of the scenario file format (for TOML editors), "
                                           "or with --markdown its reference, docs/scenarios.md",
                            description="Write the JSON Schema (draft 2020-12) of scenario files: every table and "
                                        "key, with types, units, defaults and allowed values. Taplo / Even Better "
                                        "TOML use it from a `#:schema scenario.schema.json` first line.")
    schema.add_argument("-o", "--output", default=None, metavar="FILE", help="write to FILE (default stdout)")
    schema.add_argument("--markdown", action="store_true",
                        help="write the scenario format reference (docs/scenarios.md) instead: every key, type, "
                             "default, allowed values and an example, the faults and the output files")
    check = sub.add_parser("check-scenario", help="validate scenario files without running them")
    check.add_argument("scenarios", nargs="+", metavar="PATH",
                       help="scenario files or folders (searched recursively for *.toml, like `test`)")
    real = sub.add_parser("compare-real", help="compare an emulator run with a real kernel's reference case",
                          description="Compare a run folder (`run --out`) with a reference case folder "
                                      "(tests/reference/linux-*/CASE, from `make reference`) point by point: "
                                      "fadump console lines, sysfs/debugfs, ELF headers, notes, VMCOREINFO, "
                                      "makedumpfile verdicts. Exit status: 0 no unexplained difference, "
                                      "1 differences, 2 bad input.")
    real.add_argument("ref_dir", metavar="REF_DIR")
    real.add_argument("run_dir", metavar="RUN_DIR")
    real.add_argument("--verdicts", action="store_true",
                      help="also run Debian's ppc64el makedumpfile on the run's vmcore (slow; needs "
                           "make ppc64el-tools for each release)")
    for name, what in (("from-console", "write a scenario reproducing a field failure from its console log"),
                       ("replay", "replay a field failure: its scenario run and compared with the field log")):
        field = sub.add_parser(name, help=what,
                               description=f"{what[0].upper()}{what[1:]} (and the head of its vmcore): kernel "
                                           "release and profile, partition, command line, registration, crash, "
                                           "hotplug, release and the capture kernel's verdict; what the inputs "
                                           "cannot tell is an assumption marked in the scenario. See "
                                           "docs/field-replay.md. Exit status: 0 done (replay: nothing differs), "
                                           "1 replay differs, 2 bad input.")
        field.add_argument("console", metavar="CONSOLE_LOG")
        field.add_argument("--vmcore-head", default=None, metavar="FILE",
                           help="the first megabytes of the field vmcore (ELF header, program headers, notes)")
        if name == "from-console":
            field.add_argument("-o", "--output", default=None, metavar="SCENARIO",
                               help="write the scenario here (default stdout)")
        else:
            field.add_argument("--out", "-o", default=None, metavar="DIR",
                               help="keep the emulator run in DIR (default a temporary folder)")
            field.add_argument("--bisect-profiles", action="store_true",
                               help="run the scenario on every kernel profile and show where the behaviour changes")
    p.fadump_emu_complete = only is None or sub.found
    return p


def dask_options(p: argparse.ArgumentParser, collect: bool = True) -> None:
    """--scheduler / --cluster (and --collect): run on Dask instead of local worker processes."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on a Dask distributed scheduler (e.g. tcp://host:8786); see README")
    where.add_argument("--cluster", default=None, metavar="local:N",
                       help="start a Dask LocalCluster of N worker processes and run on it")
    if collect:
        p.add_argument("--collect", action="store_true",
                       help="with --scheduler/--cluster, bring every run's files (vmcores too) back into OUT; "
                            "otherwise they stay on the worker that ran it (results.json says where)")
