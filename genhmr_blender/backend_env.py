"""Where the backend lives and which interpreter runs it (no ``bpy``, so it is unit-testable).

The extension root (the folder holding ``blender_manifest.toml``) ships the backend sources in
``backend/``; the backend imports ``genhmr_core`` from the root, so its ``PYTHONPATH`` is
``<root>:<root>/backend``. The interpreter is chosen in this order, first hit wins:

1. the path in the add-on preferences (what an artist sets, or "Set up backend" fills in);
2. ``$GENHMR_PYTHON`` (developer machines, CI and headless scripts);
3. the venv that "Set up backend" creates in the extension's user folder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from .backend_client import child_env

ENV_PYTHON = "GENHMR_PYTHON"
VENV_DIRNAME = "backend-venv"


class BackendNotConfigured(RuntimeError):
    """No usable backend interpreter: the message tells the artist what to do."""


def extension_root() -> Path:
    """The extension root: the parent of this ``genhmr_blender`` package."""
    return Path(__file__).resolve().parent.parent


def backend_dir() -> Path:
    return extension_root() / "backend"


def backend_pythonpath() -> list[str]:
    root = extension_root()
    return [str(root), str(root / "backend")]


def venv_python(venv: str | os.PathLike[str]) -> Path:
    """The interpreter inside a venv folder, on this platform."""
    venv = Path(venv)
    if sys.platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def find_backend_python(preference: str = "", user_dir: str | None = None,
                        environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(interpreter path, where it came from). Raises BackendNotConfigured with advice."""
    environ = os.environ if environ is None else environ
    if preference.strip():  # an explicit choice that is wrong must not be silently replaced
        if Path(preference.strip()).is_file():
            return preference.strip(), "preferences"
        raise BackendNotConfigured(
            f"The backend Python set in the GenHMR preferences does not exist: {preference}")
    candidates: list[tuple[str, str]] = []
    if environ.get(ENV_PYTHON, "").strip():
        candidates.append((environ[ENV_PYTHON].strip(), f"${ENV_PYTHON}"))
    if user_dir:
        candidates.append((str(venv_python(Path(user_dir) / VENV_DIRNAME)), "set-up venv"))
    for path, source in candidates:
        if Path(path).is_file():
            return path, source
    raise BackendNotConfigured(
        "No backend Python found. Open Preferences > Add-ons > GenHMR and press "
        "'Set up backend' (or set the backend Python path).")


def serve_command(python: str) -> list[str]:
    return [python, "-m", "genhmr", "serve"]


def serve_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    return child_env(backend_pythonpath(), base)


def install_command(installer_python: str, venv: str | os.PathLike[str],
                    wheels: str = "", torch_build: str = "auto", torch_index: str = ""
                    ) -> list[str]:
    """``install_backend.py`` invocation for the "Set up backend" button (JSON progress);
    ``torch_build`` auto / cpu / cuda, ``torch_index`` the CPU build's index ("" = PyTorch's)."""
    bdir = backend_dir()
    cmd = [installer_python, str(bdir / "install_backend.py"), "--venv", str(venv), "--json",
           "--requirements", str(bdir / "requirements.txt")]
    if (bdir / "constraints.txt").is_file():
        cmd += ["--constraints", str(bdir / "constraints.txt")]
    if wheels.strip():
        cmd += ["--wheels", wheels.strip()]
    cmd += ["--torch", torch_build]
    if torch_index.strip():
        cmd += ["--torch-index", torch_index.strip()]
    return cmd


def child_env_for_installer(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for ``install_backend.py`` under Blender's Python: no inherited PYTHONPATH."""
    env = child_env([], base)
    env.pop("PYTHONPATH", None)
    return env
