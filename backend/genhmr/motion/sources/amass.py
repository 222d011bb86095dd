"""AMASS-style SMPL-X / SMPL+H ``.npz`` folders (the large datasets users may own).

AMASS is licensed per sub-dataset by its owners and is never shipped or downloaded here; users
point the build command at their own copy. Each file holds ``poses`` (T, 165) for SMPL-X or
(T, 156) for SMPL+H, or the split keys ``root_orient`` (T, 3) + ``pose_body`` (T, 63), with
``trans`` (T, 3) and ``mocap_frame_rate`` (or ``mocap_framerate``). Both layouts start with the
global orientation and the same 21 body joints as SMPL-X, as axis-angle. AMASS worlds are Z up;
(x, y, z)_SMPL-X = (x, z, −y)_AMASS, applied to the global orientation and the translation
(local body rotations are frame-free). Files without poses (``shape.npz``) are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genhmr_core.rotations import axis_angle_to_matrix

from ..clip import NUM_POSE_JOINTS, MotionClip
from ..resample import TARGET_FPS, resample

LICENSE = "AMASS (user-supplied; per sub-dataset license of its owners)"
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def amass_clip(path: Path, name: str, license_text: str = LICENSE) -> MotionClip:
    """One AMASS file as a clip at 30 fps. Raises ``ValueError`` when it holds no motion."""
    with np.load(path, allow_pickle=False) as z:
        keys = set(z.files)
        if "poses" in keys:
            poses = np.asarray(z["poses"], dtype=np.float64)
            if poses.ndim != 2 or poses.shape[1] < 3 * NUM_POSE_JOINTS:
                raise ValueError(f"{path}: 'poses' has shape {poses.shape}")
            aa = poses[:, :3 * NUM_POSE_JOINTS]
        elif {"root_orient", "pose_body"} <= keys:
            aa = np.concatenate([z["root_orient"], z["pose_body"]], axis=1).astype(np.float64)
        else:
            raise ValueError(f"{path}: no 'poses' or 'root_orient'/'pose_body' (not a motion)")
        if "trans" not in keys:
            raise ValueError(f"{path}: no 'trans'")
        trans = np.asarray(z["trans"], dtype=np.float64)
        fps_key = next((k for k in ("mocap_frame_rate", "mocap_framerate") if k in keys), None)
        if fps_key is None:
            raise ValueError(f"{path}: no 'mocap_frame_rate'")
        fps = float(z[fps_key])
    if len(aa) < 2 or trans.shape != (len(aa), 3) or fps <= 0:
        raise ValueError(f"{path}: inconsistent lengths or frame rate")
    rot = axis_angle_to_matrix(aa.reshape(len(aa), NUM_POSE_JOINTS, 3))
    rot[:, 0] = Z_UP_TO_Y_UP @ rot[:, 0]
    rotations, root = resample(rot, trans @ Z_UP_TO_Y_UP.T, fps, TARGET_FPS)
    return MotionClip(name=name, source="amass", license=license_text, fps=TARGET_FPS,
                      rotations=rotations, root_position=root)


def load_amass_folder(folder: Path, license_text: str = LICENSE) -> list[MotionClip]:
    """Every motion ``.npz`` under ``folder``; non-motion files are skipped quietly, broken
    ones reported."""
    clips = []
    for path in sorted(Path(folder).rglob("*.npz")):
        rel = path.relative_to(folder).with_suffix("").as_posix()
        try:
            clips.append(amass_clip(path, f"amass/{rel}", license_text))
        except ValueError as exc:
            if "not a motion" not in str(exc):
                print(f"[motion] skipped {exc}")
        except OSError as exc:
            print(f"[motion] skipped {path}: {exc}")
    return clips
