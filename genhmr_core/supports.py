"""What raised people stand on, as blocks for the scene: the support levels above the floor.

Why: the backend finds the levels people stand on (``genhmr_core.ground``: the floor, and e.g.
the 1.9 m box demo.mp4's man stands on before he jumps) and puts every planted foot on its
level (``support_height`` in the result). In Blender only the floor is drawn, so from the side
a person on a box floats in the air, and an artist cannot tell a right solve from a wrong one
nor animate against it. A block under each raised footprint makes the scene read as the
footage does: a stand-in for the box, the wall or the stage, as tall as its level and as wide
as where the feet rested on it (plus a margin).

Only what the feet say is drawn: the top of the support where it was stood on, from the floor
up (what is under a balcony is not known; a block is the honest stand-in a layout artist
replaces). Pure numpy (it runs inside Blender, whose Python has no scipy); the add-on builds
the meshes (``genhmr_blender.rig.ground``).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class SupportConfig:
    min_height: float = 0.15  # m: lower levels are the floor's unevenness, not something to draw
    contact: float = 0.5  # a foot point's contact probability to count as resting
    near_level: float = 0.05  # m: the point is on the level (not lifted off it)
    join: float = 1.0  # m: footprints closer than this on one level are one block
    margin: float = 0.25  # m added round the footprints on every side
    min_frames: int = 5  # fewer frames of footprints: not drawn (a stumble, a misread)


@dataclasses.dataclass(frozen=True)
class Support:
    """One block: its top at ``height`` over the floor, spanning ``low``..``high`` (world x, y,
    metres, Z up as in the Blender scene)."""

    height: float
    low: tuple[float, float]
    high: tuple[float, float]
    frames: int  # person-frames with a foot resting on it


def raised_supports(feet_world: np.ndarray, support_height: np.ndarray, contact: np.ndarray,
                    valid: np.ndarray, config: SupportConfig | None = None) -> list[Support]:
    """The blocks under people's raised footprints, lowest first.

    ``feet_world`` (P, F, 4, 3): the foot contact points (``genhmr_core.contacts``' order) in the
    scene's world, Z up, the floor at z = 0; ``support_height`` (P, F) and ``contact``
    (P, F, 4) as in the result file; ``valid`` (P, F). A footprint is a foot point resting
    (contact at least ``config.contact``) within ``near_level`` of a level at least
    ``min_height`` up; the footprints of one level are grouped by where they are (single
    linkage at ``join``), and each group seen on ``min_frames`` person-frames or more is one
    block."""
    config = config or SupportConfig()
    feet = np.asarray(feet_world, dtype=np.float64)
    level = np.asarray(support_height, dtype=np.float64)[..., None]  # (P, F, 1)
    resting = (np.asarray(valid, dtype=bool)[..., None]
               & (np.asarray(contact, dtype=np.float64) >= config.contact)
               & (level >= config.min_height)
               & (np.abs(feet[..., 2] - level) <= config.near_level))
    person, frame, _ = np.nonzero(resting)
    if not len(person):
        return []
    xy = feet[..., :2][resting]
    heights = np.broadcast_to(level, resting.shape)[resting]
    out = []
    # one level per distinct support height (the result's levels are exact values per level)
    for height in np.unique(np.round(heights, 3)):
        on = np.round(heights, 3) == height
        points, keys = xy[on], person[on] * (frame.max() + 1) + frame[on]
        groups = _groups(points, config.join)
        for g in np.unique(groups):
            mine = groups == g
            frames = len(np.unique(keys[mine]))
            if frames < config.min_frames:
                continue
            low, high = points[mine].min(axis=0) - config.margin, points[mine].max(
                axis=0) + config.margin
            out.append(Support(height=float(height), low=(float(low[0]), float(low[1])),
                               high=(float(high[0]), float(high[1])), frames=frames))
    return sorted(out, key=lambda s: (s.height, s.low))


def _groups(points: np.ndarray, join: float, cell: float = 0.05) -> np.ndarray:
    """(n,) a group label per point: single linkage at ``join`` metres, computed on the points
    snapped to a ``cell`` grid (a long clip's thousands of footprints fall on a few hundred
    cells, so the pairwise distances stay small)."""
    cells, index = np.unique(np.round(points / cell).astype(np.int64), axis=0, return_inverse=True)
    near = np.linalg.norm((cells[:, None] - cells[None]) * cell, axis=-1) <= join
    label = np.full(len(cells), -1)
    for start in range(len(cells)):
        if label[start] >= 0:
            continue
        label[start], frontier = start, [start]
        while frontier:  # flood fill over the cells within reach
            reached = np.flatnonzero(near[frontier].any(axis=0) & (label < 0))
            label[reached] = start
            frontier = list(reached)
    return label[index.reshape(-1)]
