"""The scenario file format as Python calls, for tests that need what a file cannot express.

Every call adds to a document shaped exactly like a scenario TOML file, and
``build()`` runs it through the same validation, so a file and a builder
describe the same things and fail the same way::

    from emulator.api import ScenarioBuilder

    result = (ScenarioBuilder("quick")
              .machine(memory="1GiB", cpus=4)
              .kernel(profile="linux-6.10", cmdline="fadump=on")
              .write(0x4100000, text="workload")
              .crash(cpu=1, kind="panic", at="10s", regs={"nip": 0xC0000000000A5F10})
              .expect(outcome="vmcore")
              .run("out/quick"))

``run()`` returns the RunResult: data only (``result.partition`` is the console,
RTAS calls, firmware state, CPUs and final RAM). A test that needs the live
machine or kernels takes the Run object with a ``hook`` (a callable run on the
Run before it starts), and can look at or change state between steps there.
"""

from collections.abc import Callable

from emulator.scenario import loader as scenario
from emulator.run.runner import Run, RunResult, publish
from emulator.views import observers




class ScenarioBuilder:
    """Builds a scenario document step by step (each method returns the builder)."""

    def __init__(self, name: str, description: str = ""):
        self.doc: dict = {"name": name, "description": description or name}
        self.hooks: list[Callable[[Run], None]] = []

    def machine(self, **fields) -> "ScenarioBuilder":
        self.doc.setdefault("machine", {}).update(fields)
        return self

    def kernel(self, **fields) -> "ScenarioBuilder":
        self.doc.setdefault("kernel", {}).update(fields)
        return self

    def write(self, addr: int | str, *, text: str | None = None, hex: str | None = None, **more) -> "ScenarioBuilder":
        entry = {"addr": addr, **({"text": text} if text is not None else {}), **({"hex": hex} if hex else {}), **more}
        self.doc.setdefault("memory", {}).setdefault("write", []).append(entry)
        return self

    def crash(self, **fields) -> "ScenarioBuilder":
        regs = fields.pop("regs", None)
        self.doc["crash"] = dict(fields, **({"regs": dict(regs)} if regs else {}))
        return self

    def cpu_regs(self, cpu: int, **regs) -> "ScenarioBuilder":
        self.doc.setdefault("cpu", {})[str(cpu)] = {"regs": regs}
        return self

    def event(self, action: str, **fields) -> "ScenarioBuilder":
        self.doc.setdefault("events", []).append({"action": action, **fields})
        return self

    def fault(self, kind: str, **params) -> "ScenarioBuilder":
        self.doc.setdefault("faults", []).append({"kind": kind, **params})
        return self

    def capture(self, **fields) -> "ScenarioBuilder":
        self.doc.setdefault("capture", {}).update(fields)
        return self

    def expect(self, **fields) -> "ScenarioBuilder":
        self.doc.setdefault("expect", {}).update(fields)
        return self

    def hook(self, fn: Callable[[Run], None]) -> "ScenarioBuilder":
        """Run ``fn(run)`` after the machine is built and before the partition powers on."""
        self.hooks.append(fn)
        return self

    def build(self) -> scenario.Scenario:
        """The validated Scenario (ScenarioError for any mistake, as for a file)."""
        return scenario.from_document(self.doc, self.doc["name"])

    def run(self, out_dir: str | None = None, force: bool = False) -> RunResult:
        """Run it; the report is written when ``out_dir`` is given. Returns the RunResult."""
        sc = self.build()
        tool = None
        if sc.capture_tool == "makedumpfile":
            from emulator.host.ppc64el_tools import MAKEDUMPFILE as tool
        run = Run(sc, None, force, makedumpfile=tool, observers=[observers.html_report] if out_dir else ())
        for fn in self.hooks:
            fn(run)
        return publish(run, out_dir or None, force)
