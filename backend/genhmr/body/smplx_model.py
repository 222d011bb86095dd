"""The real SMPL-X body through the ``smplx`` package, from the user's own model files.

SMPL-X model files are licensed by their owners and never shipped; the user points the add-on
at the folder holding ``SMPLX_NEUTRAL.npz`` (or ``SMPLX_MALE``/``SMPLX_FEMALE``), either directly
or in an ``smplx/`` sub-folder as the official download lays it out.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np
import torch

from genhmr_core.body_mesh import KeypointRegressor, from_smplx_arrays
from genhmr_core.keypoints import KEYPOINT_INDEX, NUM_KEYPOINTS
from genhmr_core.skeleton import JOINT_INDEX, NUM_JOINTS, PARENTS

from .body_model import BodyModel
from .skeleton_model import SkeletonModel

GENDERS = ("neutral", "male", "female")


class SmplxModelError(RuntimeError):
    """The SMPL-X model folder or file is missing or unreadable."""


def find_model_file(model_dir: str | Path, gender: str = "neutral") -> Path:
    """Locate ``SMPLX_<GENDER>.npz`` in ``model_dir`` or ``model_dir/smplx``."""
    if gender not in GENDERS:
        raise SmplxModelError(f"gender must be one of {GENDERS}, got {gender!r}")
    model_dir = Path(model_dir).expanduser()
    if not model_dir.is_dir():
        raise SmplxModelError(
            f"SMPL-X model folder not found: {model_dir}. Point the add-on preferences at the "
            "folder holding SMPLX_NEUTRAL.npz, or leave it empty to use the built-in skeleton.")
    name = f"SMPLX_{gender.upper()}.npz"
    folders = (model_dir, model_dir / "smplx")
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    others = sorted({p.name for folder in folders if folder.is_dir()
                     for p in folder.glob("SMPLX_*.*")})
    found = f" It holds {', '.join(others)}." if others else ""
    if any(o.lower() == name[:-4].lower() + ".pkl" for o in others):
        found += " Only the .npz version of the SMPL-X model files is supported."
    raise SmplxModelError(
        f"SMPL-X model file {name} not found in {model_dir} (nor in {model_dir / 'smplx'}).{found}"
        " Expected SMPLX_NEUTRAL.npz (or SMPLX_MALE.npz / SMPLX_FEMALE.npz) from the SMPL-X"
        " download.")


def load_smplx(model_dir: str | Path, gender: str = "neutral", num_betas: int = 10
               ) -> torch.nn.Module:
    """Build an ``smplx.SMPLX`` layer from the user's model file (full 3x3-matrix hand poses)."""
    import smplx  # imported here: only needed when the user has model files

    path = find_model_file(model_dir, gender)
    try:
        # smplx prints warnings (e.g. for v1.0 files with 10 shape directions) to stdout, which
        # is the protocol channel of the backend server: send them to stderr with the logs.
        with contextlib.redirect_stdout(sys.stderr):
            return smplx.SMPLX(str(path.parent), gender=gender, num_betas=num_betas,
                               use_pca=False, flat_hand_mean=True, ext="npz")
    except Exception as exc:  # corrupt or foreign file: say which, keep the cause
        raise SmplxModelError(f"cannot load SMPL-X model {path}: {exc}") from exc


@torch.no_grad()
def smplx_rest_joints(model: torch.nn.Module, betas: np.ndarray | None = None) -> np.ndarray:
    """Rest (T-pose) joint positions (55, 3) of an SMPL-X layer for the given shape."""
    nb = model.shapedirs.shape[-1]
    b = torch.zeros(1, nb, dtype=model.shapedirs.dtype)
    if betas is not None:
        values = torch.as_tensor(np.asarray(betas)[:nb], dtype=b.dtype)
        b[0, : values.shape[0]] = values
    verts = model.v_template + torch.einsum("vcl,bl->bvc", model.shapedirs, b)[0]
    joints = model.J_regressor @ verts
    return joints[:NUM_JOINTS].cpu().numpy().astype(np.float64)


def smplx_skeleton(model: torch.nn.Module, betas: np.ndarray | None = None) -> SkeletonModel:
    """The SMPL-X model's own skeleton (for the given shape) as a :class:`SkeletonModel`."""
    return SkeletonModel(smplx_rest_joints(model, betas), name="smplx")


# Keypoints on SMPL-X: face and foot points are the mesh vertices ``smplx`` itself selects
# (``smplx.vertex_ids``); limb keypoints are SMPL-X joints of the same name.
_SMPLX_VERTEX_KEYPOINTS = {
    "nose": "nose", "left_eye": "leye", "right_eye": "reye", "left_ear": "lear",
    "right_ear": "rear", "left_heel": "LHeel", "right_heel": "RHeel",
    "left_foot_index": "LBigToe", "right_foot_index": "RBigToe",
}  # fmt: skip
_SMPLX_JOINT_KEYPOINTS = {
    "left_index": "left_index1", "right_index": "right_index1",
    "left_pinky": "left_pinky1", "right_pinky": "right_pinky1",
}  # fmt: skip


def smplx_keypoint_regressor(num_vertices: int) -> KeypointRegressor:
    """Our named keypoints on the SMPL-X mesh and skeleton."""
    from smplx.vertex_ids import vertex_ids

    ids = vertex_ids["smplx"]
    vertex = np.zeros((NUM_KEYPOINTS, num_vertices))
    joint = np.zeros((NUM_KEYPOINTS, NUM_JOINTS))
    for name, k in KEYPOINT_INDEX.items():
        if name in _SMPLX_VERTEX_KEYPOINTS:
            vertex[k, ids[_SMPLX_VERTEX_KEYPOINTS[name]]] = 1.0
        else:
            joint[k, JOINT_INDEX[_SMPLX_JOINT_KEYPOINTS.get(name, name)]] = 1.0
    return KeypointRegressor(vertex=vertex, joint=joint)


class SmplxBody(BodyModel):
    """The user's SMPL-X model behind the :class:`BodyModel` interface.

    Posing runs ``smplx.lbs.lbs`` on the layer's own buffers with rotation matrices, so SMPL-X's
    pose-corrective blend shapes apply; hands, jaw and eyes take whatever rotations are given
    (identity = flat hands, closed jaw). Expressions stay neutral.
    """

    def __init__(self, layer: torch.nn.Module, gender: str = "neutral") -> None:
        def array(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().numpy().astype(np.float64)

        mesh = from_smplx_arrays(
            array(layer.v_template), np.asarray(layer.faces, dtype=np.int64),
            array(layer.lbs_weights), array(layer.shapedirs), array(layer.J_regressor),
            name=f"smplx-{gender}", num_betas=int(layer.shapedirs.shape[-1]))
        super().__init__(mesh, smplx_keypoint_regressor(mesh.num_vertices), name="smplx")
        self.layer = layer

    def _pose(self, betas: torch.Tensor, local_rot: torch.Tensor, transl: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from smplx.lbs import lbs

        layer = self.layer
        vertices, joints = lbs(betas, local_rot, layer.v_template, layer.shapedirs,
                               layer.posedirs, layer.J_regressor, layer.parents,
                               layer.lbs_weights, pose2rot=False)
        rotations = [local_rot[:, 0]]
        for j in range(1, NUM_JOINTS):
            rotations.append(rotations[PARENTS[j]] @ local_rot[:, j])
        offset = transl.unsqueeze(1)
        return vertices + offset, joints[:, :NUM_JOINTS] + offset, torch.stack(rotations, 1)


def load_smplx_body(model_dir: str | Path, gender: str = "neutral", num_betas: int = 10
                    ) -> SmplxBody:
    """The user's SMPL-X model as a :class:`BodyModel` (raises SmplxModelError)."""
    return SmplxBody(load_smplx(model_dir, gender, num_betas), gender)
