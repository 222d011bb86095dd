"""Analytic two-bone inverse kinematics (thigh + shin, upper arm + forearm).

Rigs animated with IK store where the hand or foot should be and where the knee or elbow should
point, not the limb's rotations. For a chain of two rigid bones the solution is closed-form: the
end reaches the target (or as close as the bone lengths allow, the chain held straight), and the
middle joint lies on the circle of points at the right distances from both ends, at the point
nearest the pole target. This is what Blender's IK solver converges to on such a chain when the
target is reachable.
"""

from __future__ import annotations

import numpy as np


def two_bone_ik(root: np.ndarray, target: np.ndarray, pole: np.ndarray, upper: float,
                lower: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions (..., 3) of the middle joint and of the chain's end.

    ``root`` is the chain's fixed start (hip, shoulder), ``target`` where its end should be,
    ``pole`` a point the middle joint bends towards; ``upper``/``lower`` are the bone lengths.
    Out of reach, the chain points straight at the target (Blender's IK without stretch).
    """
    root, target, pole = (np.asarray(a, float) for a in (root, target, pole))
    if upper <= 0 or lower <= 0:
        raise ValueError("bone lengths must be positive")
    to_target = target - root
    dist = np.linalg.norm(to_target, axis=-1, keepdims=True)
    axis = to_target / np.maximum(dist, 1e-12)
    reach = np.clip(dist, abs(upper - lower) + 1e-9, upper + lower - 1e-9)
    along = (upper**2 - lower**2 + reach**2) / (2.0 * reach)
    height = np.sqrt(np.maximum(upper**2 - along**2, 0.0))
    to_pole = pole - root
    bend = to_pole - (to_pole * axis).sum(-1, keepdims=True) * axis
    norm = np.linalg.norm(bend, axis=-1, keepdims=True)
    if (norm < 1e-9).any():
        raise ValueError("the pole target lies on the line from the chain's root to its target: "
                         "the bend direction is undefined")
    mid = root + along * axis + height * bend / norm
    return mid, root + reach * axis
