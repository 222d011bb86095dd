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


def true_contacts(points: np.ndarray, fps: float, max_height_m: float = 0.05,
                  max_speed_m_s: float = 0.15) -> np.ndarray:
    """(F, N) which points (F, N, 3; :func:`on_floor` frames, y = height over the floor) rest
    on the floor: at most ``max_height_m`` over it and moving along it at most
    ``max_speed_m_s`` (central differences, one-sided at the ends). The definition of a
    planted foot used on exact synthetic truth, where both are known."""
    pts = np.asarray(points, dtype=np.float64)
    flat = pts[..., [0, 2]]
    if len(pts) < 2:
        return np.zeros(pts.shape[:2], bool)
    velocity = np.gradient(flat, axis=0) * float(fps)
    speed = np.linalg.norm(velocity, axis=-1)
    return (pts[..., 1] <= max_height_m) & (speed <= max_speed_m_s)


def contact_precision_recall(contact: np.ndarray, truth: np.ndarray, frames: np.ndarray,
                             threshold: float = 0.5) -> tuple[float, float]:
    """Precision and recall of contact probabilities (F, N) at ``threshold`` against true
    contacts (F, N), over the ``frames`` (F,) that count. NaN where nothing was predicted (or
    nothing was true)."""
    keep = np.asarray(frames, dtype=bool)
    found = (np.asarray(contact, dtype=np.float64) >= threshold)[keep]
    true = np.asarray(truth, dtype=bool)[keep]
    hits = float((found & true).sum())
    precision = hits / found.sum() if found.any() else float("nan")
    recall = hits / true.sum() if true.any() else float("nan")
    return precision, recall


def rotation_errors_deg(estimated: np.ndarray | None, truth: np.ndarray) -> np.ndarray:
    """(F,) angle between each frame's estimated rotation (F, 3, 3; None: the camera was
    judged fixed, every frame the identity) and the true one."""
    true = np.asarray(truth, dtype=np.float64)
    found = (np.broadcast_to(np.eye(3), true.shape) if estimated is None
             else np.asarray(estimated, dtype=np.float64))
    relative = found @ np.swapaxes(true, -1, -2)
    cos = np.clip((np.trace(relative, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    return np.degrees(np.arccos(cos))


def trajectory_errors(ours: np.ndarray, truth: np.ndarray, frames: np.ndarray,
                      ends: int = 5) -> dict[str, float]:
    """A root trajectory (F, 3) against the truth's, both in :func:`on_floor` frames (each level
    on its own floor, under its own camera: nothing fitted), over ``frames`` (F,):
    ``error_m`` the median distance; ``shape_error_m`` the median distance once each path's
    mean position is taken out (how well the motion is drawn, wherever it is placed);
    ``travel_ratio`` how far ours travels along the floor over how far the truth does (start to
    end, each the mean of ``ends`` frames; the scale: body size, focal length), NaN when the
    truth travels under 0.5 m."""
    keep = np.asarray(frames, dtype=bool)
    a, b = np.asarray(ours, np.float64)[keep], np.asarray(truth, np.float64)[keep]
    if not len(a):
        return {"error_m": float("nan"), "shape_error_m": float("nan"),
                "travel_ratio": float("nan")}

    def travel(path: np.ndarray) -> float:
        return float(np.linalg.norm((path[-ends:].mean(axis=0) - path[:ends].mean(axis=0))
                                    [[0, 2]]))

    true_travel = travel(b)
    return {"error_m": float(np.median(np.linalg.norm(a - b, axis=1))),
            "shape_error_m": float(np.median(np.linalg.norm(
                (a - a.mean(axis=0)) - (b - b.mean(axis=0)), axis=1))),
            "travel_ratio": travel(a) / true_travel if true_travel >= 0.5 else float("nan")}


def deepest_mm(heights: np.ndarray) -> float:
    """How far (mm) the lowest of the heights (metres over the support) goes under it; 0 when
    none is under, NaN when there are none."""
    values = np.asarray(heights, dtype=np.float64)
    return float(1000.0 * max(0.0, -values.min())) if values.size else float("nan")
