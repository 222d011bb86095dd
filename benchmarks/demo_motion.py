"""Motion quality without ground truth: ``demo.mp4`` (a hand-held, panning phone clip; a man
who stands on a box, jumps off and runs, and a woman walking past).

Nothing here says whether a pose is right; it says whether the motion is possible: how much the
body shakes (jerk of hip-aligned points), how fast the root moves in the world (the camera's
own rotation taken out, as the product estimates it), and how often the body turns more than
90 degrees between two frames (a facing flip: front and back, or left and right, confused).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genhmr_core import pose_metrics as pm
from genhmr_core.ground import UP
from genhmr_core.scene_space import to_world_axes

from .methods import Bodies
from .scoring import BODY_POINTS, HIPS, ROOTS


def person_rows(methods: dict[str, Bodies], camera_rotation: np.ndarray | None,
                up: np.ndarray | None, fps: float) -> list[dict[str, Any]]:
    """Per (tracked person, method): jerk, largest root speed, facing flips."""
    up = UP if up is None else np.asarray(up, dtype=np.float64)
    rows = []
    for method, bodies in methods.items():
        for p in range(bodies.valid.shape[0]):
            seen = bodies.valid[p]
            world = to_world_axes(bodies.keypoints[p], camera_rotation)
            points = world[:, list(BODY_POINTS)]
            yaw = pm.facing_yaw(world[:, HIPS[0]], world[:, HIPS[1]], up)
            row: dict[str, Any] = {
                "method": method, "track": p, "frames": int(seen.sum()),
                "jerk_mm": 1000 * pm.jerk(pm.root_aligned(points, ROOTS), seen),
                "facing_flips": pm.facing_flips(yaw, seen),
            }
            if bodies.placed:
                pelvis = points[:, list(ROOTS)].mean(axis=1)
                row["max_root_speed_m_s"] = pm.largest_step(pelvis, seen) * fps
                row["root_jerk_mm"] = 1000 * pm.jerk(pelvis, seen)
            rows.append(row)
    return rows
