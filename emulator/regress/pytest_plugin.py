"""A pytest plugin: scenario files under a scenarios/ folder are test items.

``pytest scenarios/`` or ``pytest scenarios/basic-panic.toml`` collects each
``*.toml`` below a folder named ``scenarios`` as one item, which runs the
scenario in-process into a tmp folder and fails with its unmet expectations
(and the golden transcript diff when a NAME.log sits beside it). The usual
``pytest`` run (testpaths = ["tests"]) never walks scenarios/, so nothing is
collected twice. Registered through the ``pytest11`` entry point.

The scenarios that come with fadump-emu (emulator.scenario.bundled) are scenario files wherever they are: the
checkout's scenarios/ or, in an installed wheel, its copies under site-packages, whose folder is not named
``scenarios``. ``pytest --fadump-bundled`` runs them from any folder.
"""

import functools
from pathlib import Path

import pytest

SCENARIO_FOLDER = "scenarios"


def pytest_addoption(parser) -> None:
    parser.getgroup("fadump-emu").addoption(
        "--fadump-bundled", action="store_true", dest="fadump_bundled",
        help="also run the scenarios that come with fadump-emu (fadump-emu run --list), from any folder")
    parser.addini("fadump_scenario_folder", "name of the folders whose *.toml files are scenarios "
                  f"(default {SCENARIO_FOLDER})", default=SCENARIO_FOLDER)
    parser.addini("fadump_xfail", "scenarios expected to fail, one per line: NAME: reason", type="linelist",
                  default=[])


def is_scenario_file(file_path: Path, rootpath: Path, folder: str = SCENARIO_FOLDER, named=(),
                     bundled_root: Path | None = None) -> bool:
    """Whether ``file_path`` is a *.toml inside a ``folder`` folder (judged below the rootdir when inside it),
    a *.toml named on the command line, or one of the bundled scenarios (below ``bundled_root``)."""
    if file_path.suffix != ".toml":
        return False
    real = file_path.resolve()
    if real in named or (bundled_root is not None and real.is_relative_to(bundled_root)):
        return True
    try:
        folders = file_path.relative_to(rootpath).parts[:-1]
    except ValueError:
        folders = file_path.parts[:-1]
    return folder in folders


def _named(config) -> set[Path]:
    """The *.toml files given on the command line (with any ::node suffix removed)."""
    here = Path(config.invocation_params.dir)
    return {(here / arg.split("::", 1)[0]).resolve() for arg in config.args if arg.split("::", 1)[0].endswith(".toml")}


def xfail_reasons(config) -> dict[str, str]:
    """fadump_xfail lines as {scenario name: reason}."""
    out = {}
    for line in config.getini("fadump_xfail"):
        name, _, reason = line.partition(":")
        out[name.strip()] = reason.strip() or "expected to fail (fadump_xfail)"
    return out


@functools.cache
def _bundled_root() -> Path | None:
    """The bundled scenarios' folder, resolved (a checkout's link leads to its scenarios/); None without any."""
    from emulator.scenario import bundled

    root = bundled.folder()
    return root.resolve() if root is not None else None


def pytest_configure(config) -> None:
    """--fadump-bundled: the bundled folder is one more path to collect (where it is depends on the install);
    the only one when no path was given (not the current folder, or testpaths, as well)."""
    if config.getoption("fadump_bundled", False):
        root = _bundled_root()
        if root is None:
            raise pytest.UsageError("--fadump-bundled: this installation of fadump-emu has no bundled scenarios")
        if config.getoption("file_or_dir"):
            config.args.append(str(root))
        else:
            config.args[:] = [str(root)]


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    config = parent.config
    if is_scenario_file(file_path, config.rootpath, config.getini("fadump_scenario_folder"), _named(config),
                        _bundled_root()):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """One scenario file: one item, named after the file's stem."""

    def collect(self):
        item = ScenarioItem.from_parent(self, name=self.path.stem)
        reason = xfail_reasons(self.config).get(self.path.stem)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
        yield item


class ScenarioNotMet(AssertionError):
    """A scenario ran but did not meet all of its expectations (or its golden transcript)."""


class ScenarioItem(pytest.Item):
    """Runs its scenario into a tmp folder; fails with the unmet expectations or the file:line error."""

    def runtest(self) -> None:
        from emulator.regress import suite

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
    from emulator.scenario import loader as scenario
    from emulator.run.runner import run_scenario
    from emulator.views import observers

    def run(path, out=None, **kwargs):
        sc = scenario.load(path)
        kwargs.setdefault("observers", [observers.html_report])
        return run_scenario(sc, str(out or tmp_path / sc.name), **kwargs)

    return run
