"""Pinhole intrinsics for footage whose lens is unknown.

Without metadata we assume the field of view of phone and action-camera video: about 60 degrees
across the *longer* side of the picture, whichever way the camera was held. (The rule was once
60 degrees across the width, which is right for landscape and 45 % short for portrait: Pose2Sim's
portrait phone clips, 1088 x 1920, have a calibrated 1,674-1,682 px; the rule gives 1,663, the
old one 942.) The focal length sets the depth: the solve places each person where their metric
body has its size in pixels, so a focal length x % short puts everybody x % too close. Users who
know their lens pass ``focal_px``; otherwise the job reads it from the file's metadata, the
camera's turns (:mod:`genhmr.focal_from_turns`) or, for a fixed camera far from this guess,
its vertical edges and its people's horizon (:mod:`genhmr.focal_from_horizon`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

from genhmr_core.keypoints import KEYPOINT_INDEX

DEFAULT_FOV_DEG = 60.0  # across the longer side of the picture
# MediaPipe's metric "world" landmarks are hip-centred and, as measured on renders with known
# poses (docs/synthetic.md, the noise model's ``world_frame``), in the axes of a camera turned
# to look at the hips rather than in the image's axes.
DETECTOR_WORLD_FRAME = "ray"
_HIPS = [KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]]


def focal_for_fov(size_px: float, fov_deg: float) -> float:
    """Focal length in pixels giving a field of view of ``fov_deg`` across ``size_px``."""
    return float(size_px) / (2.0 * math.tan(math.radians(fov_deg) / 2.0))


def default_focal_px(width: int, height: int) -> float:
    """The focal length assumed for an unknown lens: ``DEFAULT_FOV_DEG`` across the longer side
    (module docstring)."""
    return focal_for_fov(max(width, height), DEFAULT_FOV_DEG)


FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


def focal_from_35mm(lens_mm: float, width: int, height: int) -> float:
    """Focal length in pixels of a lens given as its 35 mm-equivalent focal length (what phone
    spec sheets and a photo's EXIF state): the same angle across the picture's diagonal as
    that lens across a 36 x 24 mm frame's."""
    return float(lens_mm) * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM


def intrinsics(width: int, height: int, focal_px: float | None = None) -> np.ndarray:
    """3x3 K with square pixels and the principal point at the image centre."""
    f = float(focal_px) if focal_px else default_focal_px(width, height)
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


def translation_from_keypoints(points: np.ndarray, uv: np.ndarray, weight: np.ndarray,
                               K: np.ndarray, iterations: int = 3,
                               robust_scale: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the translation that puts a posed body's points on their pixels.

    ``points`` (F, N, 3) are the body's points in camera axes before translation, ``uv``
    (F, N, 2) the detected pixels and ``weight`` (F, N) their confidence (0: not seen); ``K``
    (3, 3), or (F, 3, 3) for a lens that zoomed. Each
    seen point gives two equations linear in the translation t (its ray through the pixel must
    pass through ``point + t``), solved by weighted least squares; ``iterations`` rounds of
    reweighting (Geman-McClure on the pixel error, scale ``robust_scale`` times the person's
    extent in the picture) keep one wrong keypoint from moving the body. Returns t (F, 3) and
    ``ok`` (F,): False where fewer than 4 points are seen or the body would land behind the
    camera (t is then 0).

    Why: given the body's size and pose, its extent in the picture fixes its distance; this is
    how far the person must be to look their size, where a regressed camera (the transformer's
    crop camera) only gives a distance learnt for an average body.
    """
    points = np.asarray(points, dtype=np.float64)
    w = np.where(np.isfinite(uv).all(-1), np.asarray(weight, dtype=np.float64), 0.0)
    uv = np.nan_to_num(np.asarray(uv, dtype=np.float64))
    K = np.broadcast_to(np.asarray(K, dtype=np.float64), (len(points), 3, 3))
    fx, fy = K[:, 0, 0, None], K[:, 1, 1, None]  # (F, 1): each frame's own lens
    cx, cy = K[:, 0, 2, None], K[:, 1, 2, None]
    a = (uv[..., 0] - cx) / fx
    b = (uv[..., 1] - cy) / fy
    X, Y, Z = points[..., 0], points[..., 1], points[..., 2]
    seen = w > 0
    high = np.where(seen[..., None], uv, -np.inf).max(axis=1)
    low = np.where(seen[..., None], uv, np.inf).min(axis=1)
    size = np.where(seen.any(axis=1), (high - low).max(axis=-1), 0.0)
    scale = np.maximum(robust_scale * size, 1.0)  # pixels
    ok = seen.sum(axis=1) >= 4
    t = np.zeros((len(points), 3))
    robust = np.ones_like(w)
    for _ in range(max(1, iterations)):
        ww = w * robust
        # rows [1, 0, -a] t = a Z - X and [0, 1, -b] t = b Z - Y, summed as normal equations
        ata = np.zeros((len(points), 3, 3))
        ata[:, 0, 0] = ww.sum(1)
        ata[:, 1, 1] = ww.sum(1)
        ata[:, 0, 2] = ata[:, 2, 0] = -(ww * a).sum(1)
        ata[:, 1, 2] = ata[:, 2, 1] = -(ww * b).sum(1)
        ata[:, 2, 2] = (ww * (a * a + b * b)).sum(1)
        rx, ry = a * Z - X, b * Z - Y
        atb = np.stack([(ww * rx).sum(1), (ww * ry).sum(1),
                        -(ww * (a * rx + b * ry)).sum(1)], axis=1)
        solvable = ok & (np.abs(np.linalg.det(ata)) > 1e-12)
        t[solvable] = np.linalg.solve(ata[solvable], atb[solvable][..., None])[..., 0]
        moved = points + t[:, None]
        depth = np.maximum(moved[..., 2], 1e-6)
        pixel = np.stack([moved[..., 0] / depth * fx + cx,
                          moved[..., 1] / depth * fy + cy], axis=-1)
        residual = np.linalg.norm(pixel - uv, axis=-1) / scale[:, None]
        robust = 1.0 / (1.0 + residual ** 2) ** 2
    ok = solvable & (points[..., 2] + t[:, 2:3] > 0.1).all(axis=1)
    return np.where(ok[:, None], t, 0.0), ok

