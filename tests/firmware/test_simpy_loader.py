"""firmware.simpy_loader: SimPy without importlib.metadata, and nothing of the stand-in left behind."""

import json
import subprocess
import sys


def fresh(code: str) -> list:
    """Run ``code`` in a fresh interpreter; its last line of output, as JSON."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.splitlines()[-1])


def test_simpy_is_imported_without_importlib_metadata_and_works():
    loaded, now, gone = fresh(
        "import json, sys\n"
        "from firmware.simpy_loader import simpy\n"
        "loaded = 'importlib.metadata' in sys.modules\n"
        "env = simpy.Environment()\n"
        "def p(env):\n"
        "    yield env.timeout(2.5)\n"
        "env.process(p(env)); env.run()\n"
        "import importlib\n"
        "print(json.dumps([loaded, env.now, hasattr(importlib, 'metadata')]))\n")
    assert loaded is False and now == 2.5 and gone is False


def test_the_real_importlib_metadata_works_afterwards():
    """A later `import importlib.metadata` (capture-tool entry points, pytest) gets the real module."""
    version, entry_points = fresh(
        "import json\n"
        "from firmware.simpy_loader import simpy\n"
        "import importlib.metadata as md\n"
        "eps = [ep.name for ep in md.entry_points(group='fadump_emu.capture_tools')]\n"
        "print(json.dumps([md.version('simpy'), eps]))\n")
    assert version.count(".") >= 1 and "makedumpfile" in entry_points


def test_with_importlib_metadata_already_loaded_simpy_is_imported_as_usual():
    version = fresh(
        "import json, importlib.metadata\n"
        "from firmware.simpy_loader import simpy\n"
        "print(json.dumps(simpy.__version__))\n")
    assert version == fresh("import json, importlib.metadata as md; print(json.dumps(md.version('simpy')))")


def test_a_simpy_that_needs_more_of_importlib_metadata_is_imported_the_usual_way(tmp_path):
    """If SimPy's __init__ ever asks the stand-in for more than version(), the loader falls back."""
    fake = tmp_path / "simpy"
    fake.mkdir()
    (fake / "__init__.py").write_text("import importlib.metadata\n"
                                      "DISTS = [d.metadata['Name'] for d in importlib.metadata.distributions()][:1]\n")
    dists, real = fresh(
        "import json, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from firmware.simpy_loader import simpy\n"
        "print(json.dumps([simpy.DISTS, type(sys.modules['importlib.metadata'].distributions).__name__]))\n")
    assert len(dists) == 1 and real == "function"
