"""Fixtures shared by every test folder (keep this file small: folders add their own conftest)."""

from __future__ import annotations

import importlib.util
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
