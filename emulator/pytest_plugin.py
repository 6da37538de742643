"""A pytest plugin: scenario files under a scenarios/ folder are test items.

``pytest scenarios/`` or ``pytest scenarios/basic-panic.toml`` collects each
``*.toml`` below a folder named ``scenarios`` as one item, which runs the
scenario in-process into a tmp folder and fails with its unmet expectations
(and the golden transcript diff when a NAME.log sits beside it). The usual
``pytest`` run (testpaths = ["tests"]) never walks scenarios/, so nothing is
collected twice. Registered through the ``pytest11`` entry point.
"""

from pathlib import Path

import pytest

SCENARIO_FOLDER = "scenarios"


def is_scenario_file(file_path: Path, rootpath: Path) -> bool:
    """Whether ``file_path`` is a *.toml inside a scenarios/ folder (judged below the rootdir when inside it)."""
    if file_path.suffix != ".toml":
        return False
    try:
        folders = file_path.relative_to(rootpath).parts[:-1]
    except ValueError:
        folders = file_path.parts[:-1]
    return SCENARIO_FOLDER in folders


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if is_scenario_file(file_path, parent.config.rootpath):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """One scenario file: one item, named after the file's stem."""

    def collect(self):
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioNotMet(AssertionError):
    """A scenario ran but did not meet all of its expectations (or its golden transcript)."""


class ScenarioItem(pytest.Item):
    """Runs its scenario into a tmp folder; fails with the unmet expectations or the file:line error."""

    def runtest(self) -> None:
        from emulator import suite

        out = self._out_folder()
        result = suite.run_one(self._shown_path(), str(out))
        self.user_properties.append(("out", str(out)))
        if result["verdict"] == suite.FAIL:
            head = f"{result['name']}: {result['met']}/{result['total']} expectations met (output in {out})"
            raise ScenarioNotMet("\n".join([head, *suite.details(result)]))
        if result["verdict"] == suite.ERROR:
            raise ScenarioNotMet("\n".join(suite.details(result)))

    def _shown_path(self) -> str:
        """The scenario path as messages show it: relative to where pytest was started, when below it."""
        try:
            return str(self.path.relative_to(self.config.invocation_params.dir))
        except ValueError:
            return str(self.path)

    def _out_folder(self) -> Path:
        factory = getattr(self.config, "_tmp_path_factory", None)
        if factory is not None:
            return factory.mktemp(f"scenario-{self.name}", numbered=True)
        import tempfile

        return Path(tempfile.mkdtemp(prefix=f"scenario-{self.name}-"))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioNotMet):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"scenario {self.path.name}"


@pytest.fixture
def fadump_run(tmp_path):
    """Run a scenario file in-process: ``fadump_run("scenarios/basic-panic.toml")`` -> RunResult.

    The output goes to tmp_path/NAME (or ``out``); ``result.ok`` says whether its expectations held and
    ``result.vmcore_path`` names the saved vmcore.
    """
    from emulator import scenario
    from emulator.runner import run_scenario

    def run(path, out=None, **kwargs):
        sc = scenario.load(path)
        return run_scenario(sc, str(out or tmp_path / sc.name), **kwargs)

    return run
