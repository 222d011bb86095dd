"""World-space measures shared by the benchmark report (pure numpy, unit-tested).

Why: the product's world (the first frame's camera, its floor found from the footage) and the
calibrated truth's (the lab's floor, z = 0) are different frames. Comparing positions, foot
sliding or penetration needs both in one kind of frame: each made level with its own floor and
centred under its own camera (:func:`on_floor`). That is what the Blender scene shows (the
camera above the floor at z = 0, turned by the floor's tilt), so a pelvis error measured there
is the error an artist sees in the scene, with the floors aligned and nothing fitted to people.
"""

from __future__ import annotations

import numpy as np

from genhmr_core.contacts import sliding_mm_per_frame
from genhmr_core.scene_space import level_rotation


def on_floor(points: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Points (..., 3) in OpenCV axes (a camera at the origin, over the floor ``normal . X =
    offset``, ``normal`` pointing up) as (x, height above the floor, z): the frame turned level
    with the floor (``scene_space.level_rotation``), so x and z lie along the floor, which is
    what ``contacts.sliding_mm_per_frame`` takes as horizontal. The camera is at (0, -offset,
    0)."""
    n = np.asarray(normal, dtype=np.float64)
    scale = float(np.linalg.norm(n))
    level = np.asarray(points, dtype=np.float64) @ level_rotation(n).T
    out = level.copy()
    out[..., 1] = -level[..., 1] - offset / scale
    return out


def sliding_pair(ours: np.ndarray, truth: np.ndarray, contact: np.ndarray,
                 usable: np.ndarray, threshold: float = 0.5) -> tuple[float, float]:
    """Foot sliding in contact (mm/frame, ``contacts.sliding_mm_per_frame``) of our foot points
    and the truth's (F, 4, 3; both in :func:`on_floor` frames) over the same planted frames: our
    contacts (F, 4), kept only where ``usable`` (F, 4) says the truth has the point."""
    planted = np.where(np.asarray(usable, dtype=bool), np.asarray(contact, dtype=np.float64), 0.0)
    return (sliding_mm_per_frame(ours, planted, threshold),
            sliding_mm_per_frame(truth, planted, threshold))


def share_below(heights: np.ndarray, depth_m: float = 0.02) -> float:
    """Share of the heights (over the support, metres) more than ``depth_m`` under it: ground
    penetration as a share of frames. NaN when there are none."""
    values = np.asarray(heights, dtype=np.float64)
    return float(np.mean(values < -depth_m)) if values.size else float("nan")
