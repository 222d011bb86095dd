"""Real-Blender tests: each test runs a driver script in its own process.

``bpy`` can be imported once per process and its state is global, so every driver is a fresh
``python tests/blender/drivers/<name>.py`` with Blender's user folders pointed at a temporary
directory (the real user configuration is never touched). A driver prints one line
``GENHMR_RESULT {json}`` with its measurements; the test asserts on them.

The extension zip is built once per session and installed with Blender's own extension
installer (``bpy.ops.extensions.package_install_files``); later drivers just enable it.

``GENHMR_BLENDER_PYTHON`` runs the drivers with another interpreter's ``bpy`` (tools/test.sh
runs this folder a second time with the Blender 4.2 LTS venv); pytest itself, the stand-in
backends and the real backend (``GENHMR_BACKEND_PYTHON`` in the drivers' environment) stay on
the dev venv.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = Path(__file__).resolve().parent / "drivers"
RESULT_PREFIX = "GENHMR_RESULT "
DRIVER_PYTHON = os.environ.get("GENHMR_BLENDER_PYTHON") or sys.executable
FIXTURES = str(ROOT / "tests" / "fixtures")
if FIXTURES not in sys.path:  # synthetic_result, shared with the drivers
    sys.path.insert(0, FIXTURES)

if importlib.util.find_spec("bpy") is None:  # pragma: no cover - the dev venv always has it
    pytest.skip("bpy wheel not installed in this interpreter", allow_module_level=True)


def user_env(user_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "BLENDER_USER_RESOURCES": str(user_dir / "resources"),
        "BLENDER_USER_CONFIG": str(user_dir / "config"),
        "BLENDER_USER_SCRIPTS": str(user_dir / "scripts"),
        "BLENDER_USER_EXTENSIONS": str(user_dir / "extensions"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "backend"),
                                       str(ROOT / "tests" / "fixtures")]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "GENHMR_BACKEND_PYTHON": sys.executable,
    })
    env.update(extra or {})
    return env


def run_driver(name: str, *args: str, env: dict[str, str], timeout: float = 120) -> dict:
    """Run drivers/<name>.py and return its result line as a dict (fails with its output)."""
    proc = subprocess.run([DRIVER_PYTHON, str(DRIVERS / f"{name}.py"), *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise AssertionError(f"driver {name} failed (exit {proc.returncode})\n--- stdout\n"
                             f"{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import build_extension
    finally:
        sys.path.pop(0)
    return build_extension.build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory, extension_zip: Path) -> dict:
    """Install the zip into a session-wide temporary Blender user folder."""
    user = tmp_path_factory.mktemp("blender_user")
    env = user_env(user)
    result = run_driver("install", extension_zip, env=env)
    return {"env": env, "user": user, "install": result}


@pytest.fixture()
def driver(installed: dict):
    """``driver(name, *args, **env_extra)`` against the installed extension."""

    def run(name: str, *args: str, timeout: float = 120, **extra: str) -> dict:
        return run_driver(name, *args, env={**installed["env"], **extra}, timeout=timeout)

    return run


@pytest.fixture()
def bare_driver(tmp_path: Path):
    """``bare_driver(name, *args)`` for drivers that need only ``bpy``, not the extension: a
    fresh Blender user folder and no install."""

    def run(name: str, *args: str, timeout: float = 120) -> dict:
        return run_driver(name, *args, env=user_env(tmp_path / "blender_user"), timeout=timeout)

    return run
