"""The layers contract: hw <- firmware <- kernels <- scenario, vmcore <- run <- views, regress, host <- cli.

import-linter checks it from pyproject.toml's [tool.importlinter]; a module may import only from layers below
its own, so the packages cannot import each other in a cycle.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def lint(project: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run([str(LINT), "--config", str(project / "pyproject.toml"), "--no-cache"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)


def copy_of_the_project(tmp_path: Path) -> Path:
    for name in ("emulator", "firmware", "kernels"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", ".tools"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_packages_keep_the_layers_contract():
    """lint-imports keeps every contract: no module imports a layer above its own."""
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    """A hardware module that imports a view is caught and named (the contract is not vacuous)."""
    project = copy_of_the_project(tmp_path)
    (project / "emulator" / "hw" / "upward.py").write_text("from emulator.views import trace  # noqa: F401\n")
    done = lint(project)
    assert done.returncode != 0
    assert "emulator.hw.upward -> emulator.views.trace" in done.stdout


def test_kernels_importing_the_run_loop_breaks_the_contract(tmp_path):
    """A kernel that reaches up into the run loop is caught, the cycle the layers exist to prevent."""
    project = copy_of_the_project(tmp_path)
    (project / "kernels" / "upward.py").write_text("from emulator.run import runner  # noqa: F401\n")
    done = lint(project)
    assert done.returncode != 0
    assert "kernels.upward -> emulator.run.runner" in done.stdout
