"""Pinhole intrinsics for footage whose lens is unknown.

Without metadata we assume a horizontal field of view typical of phones and action cameras
(about 60 degrees). Users who know their lens pass ``focal_px``; a wrong guess mostly changes the
recovered depth, not the pose (the fit is anchored on metric 3D landmarks).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

from genhmr_core.keypoints import KEYPOINT_INDEX

DEFAULT_HFOV_DEG = 60.0
# MediaPipe's metric "world" landmarks are hip-centred and, as measured on renders with known
# poses (docs/synthetic.md, the noise model's ``world_frame``), in the axes of a camera turned
# to look at the hips rather than in the image's axes.
DETECTOR_WORLD_FRAME = "ray"
_HIPS = [KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]]


def default_focal_px(width: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> float:
    return float(width) / (2.0 * math.tan(math.radians(hfov_deg) / 2.0))


def intrinsics(width: int, height: int, focal_px: float | None = None) -> np.ndarray:
    """3x3 K with square pixels and the principal point at the image centre."""
    f = float(focal_px) if focal_px else default_focal_px(width)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """OpenCV camera-space points (..., 3) -> pixels (..., 2)."""
    points = np.asarray(points, dtype=np.float64)
    z = np.maximum(points[..., 2:3], 1e-6)
    uv = points[..., :2] / z
    return uv * np.array([K[0, 0], K[1, 1]]) + np.array([K[0, 2], K[1, 2]])


def ray_rotation(direction: np.ndarray) -> np.ndarray:
    """(..., 3, 3) smallest rotation taking ``direction`` (..., 3) onto the optical axis:
    the axes of a camera turned to look at that point."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    axis = np.cross(d, [0.0, 0.0, 1.0])
    s = np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = np.arctan2(s, d[..., 2:3])
    rotvec = axis / np.maximum(s, 1e-12) * angle
    return Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix().reshape(d.shape + (3,))


def landmarks_in_camera_axes(world: np.ndarray, keypoints2d: np.ndarray, K: np.ndarray,
                             frame: str = DETECTOR_WORLD_FRAME) -> np.ndarray:
    """The detector's hip-centred 3D landmarks (..., 25, 3) turned into camera axes.

    In the ``"ray"`` frame a person away from the image centre is seen rotated by the angle of
    their viewing ray, which a fit in camera axes would read as a lean. The ray goes through
    the observed hips' midpoint pixel: ``keypoints2d`` (..., 25, 2) with NaN where missing, or
    (..., 25, 3) with a confidence, 0 where missing (the tracker's output). Where the hips are
    missing the landmarks stay as they are. ``"camera"``: no change.
    """
    if frame == "camera":
        return world
    if frame != "ray":
        raise ValueError(f"unknown landmark frame {frame!r}")
    uv = keypoints2d[..., :2]
    if keypoints2d.shape[-1] == 3:
        uv = np.where(keypoints2d[..., 2:] > 0, uv, np.nan)
    hips = uv[..., _HIPS, :].mean(-2)
    K = np.broadcast_to(K, hips.shape[:-1] + (3, 3))
    ray = np.stack([(hips[..., 0] - K[..., 0, 2]) / K[..., 0, 0],
                    (hips[..., 1] - K[..., 1, 2]) / K[..., 1, 1], np.ones(hips.shape[:-1])], -1)
    ray = np.where(np.isfinite(ray).all(-1, keepdims=True), ray, [0.0, 0.0, 1.0])
    # world = centred @ R.T  =>  centred = world @ R
    return world @ ray_rotation(ray)
