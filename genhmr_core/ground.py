"""The floor under the people, from their feet: the lowest level that people stand on.

Why: one ground height taken from everybody's feet pooled together is wrong as soon as someone
stands on something. On demo.mp4 the man stands on a 2 m box for most of the clip, the pooled
median of the feet lies between box and grass, and the walking woman sinks into the "ground".
The floor is instead the *lowest level that is well supported*: heights where feet rest often
enough (at least ``min_share`` of all person-frames, and ``min_frames``) are support levels (the
grass, the top of the box); the lowest of them is the floor, and anyone above it is standing on
something.

Conventions: points are in the **world frame** of the result (the camera at the job's first
frame, OpenCV axes: x right, y down, z forward; ``genhmr_core.scene_space.to_world_axes`` turns
later frames into it). The floor is a plane ``n . X = d`` with ``n`` the unit normal pointing up
(towards the camera's side), so a camera above the floor has ``d < 0`` and stands ``-d`` above
it. Today the plane is level with the first frame's camera (``n = (0, -1, 0)``): estimating the
camera's pitch and roll from feet needs people spread over the floor in depth as well as across
the picture, which a single walker along a line does not give (see docs/world_space.md).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .keypoints import KEYPOINT_INDEX

FOOT_POINTS = tuple(KEYPOINT_INDEX[name] for name in (
    "left_heel", "right_heel", "left_foot_index", "right_foot_index"))
UP = np.array([0.0, -1.0, 0.0])  # OpenCV y points down


@dataclasses.dataclass(frozen=True)
class GroundConfig:
    tolerance_m: float = 0.1  # feet within this of a level rest on it
    min_share: float = 0.1  # a support level holds at least this share of person-frames ...
    min_frames: int = 5  # ... and at least this many
    fallback_height_m: float = 1.5  # camera height when nobody's feet are known


@dataclasses.dataclass(frozen=True)
class Ground:
    """The floor plane ``normal . X = offset`` (world frame, metres) and every support level
    found (heights of the levels above the floor, the floor's first)."""

    normal: np.ndarray  # (3,) unit, pointing up
    offset: float
    levels: tuple[float, ...]  # support levels, metres above the floor, ascending (0.0 first)
    support: tuple[int, ...]  # person-frames resting on each level
    estimated: bool  # False: nobody's feet were known, the fallback height is used

    @property
    def camera_height(self) -> float:
        """How far the first frame's camera is above the floor (metres)."""
        return -self.offset

    def as_array(self) -> np.ndarray:
        """(4,) float32 ``[nx, ny, nz, d]``: the result file's ``ground_plane``."""
        return np.append(self.normal, self.offset).astype(np.float32)

    def height_above(self, points: np.ndarray) -> np.ndarray:
        """Signed height (metres) of world points (..., 3) above the floor."""
        return np.asarray(points, dtype=np.float64) @ self.normal - self.offset


def lowest_feet(keypoints3d_world: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N,) the lowest foot point's height coordinate (world y, down) of every valid
    person-frame: keypoints (P, F, K, 3) in the world frame, valid (P, F)."""
    feet_y = np.asarray(keypoints3d_world)[..., FOOT_POINTS, 1].max(axis=-1)  # (P, F)
    out = feet_y[np.asarray(valid, dtype=bool)]
    return out[np.isfinite(out)]


def support_levels(feet_y: np.ndarray, config: GroundConfig) -> list[tuple[float, int]]:
    """Heights (world y) where feet rest, each with the person-frames on it, lowest level
    (largest y) first. A level is the median of a densest window of width 2 x tolerance;
    its points are then set aside and the next level is looked for."""
    remaining = np.sort(np.asarray(feet_y, dtype=np.float64))
    needed = max(config.min_frames, int(np.ceil(config.min_share * len(remaining))))
    levels: list[tuple[float, int]] = []
    width = 2.0 * config.tolerance_m
    while len(remaining) >= needed:
        # densest window [y_i, y_i + width]: count by binary search
        ends = np.searchsorted(remaining, remaining + width, side="right")
        counts = ends - np.arange(len(remaining))
        best = int(np.argmax(counts))
        if counts[best] < needed:
            break
        members = remaining[best:ends[best]]
        level = float(np.median(members))
        near = np.abs(remaining - level) <= config.tolerance_m
        levels.append((level, int(near.sum())))
        remaining = remaining[~near]
    levels.sort(key=lambda item: -item[0])  # largest y = lowest first
    return levels


def estimate_ground(keypoints3d_world: np.ndarray, valid: np.ndarray,
                    config: GroundConfig | None = None) -> Ground:
    """The floor from everybody's feet (keypoints (P, F, K, 3) in the world frame, valid
    (P, F)): the lowest well-supported level (see the module docstring)."""
    config = config or GroundConfig()
    feet_y = lowest_feet(keypoints3d_world, valid)
    levels = support_levels(feet_y, config)
    if not levels:
        if len(feet_y):  # too few frames for a level: all feet pooled, as before
            floor, support = float(np.median(feet_y)), (len(feet_y),)
        else:
            return Ground(normal=UP.copy(), offset=-config.fallback_height_m, levels=(0.0,),
                          support=(0,), estimated=False)
        heights = (0.0,)
    else:
        floor = levels[0][0]
        heights = tuple(floor - y for y, _ in levels)
        support = tuple(n for _, n in levels)
    if not floor > 0.05:  # the floor at or above the camera: not a floor (the fallback)
        return Ground(normal=UP.copy(), offset=-config.fallback_height_m, levels=(0.0,),
                      support=(0,), estimated=False)
    return Ground(normal=UP.copy(), offset=-floor, levels=heights, support=support,
                  estimated=True)
