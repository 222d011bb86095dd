"""Two-bone inverse kinematics that keeps a limb's own bend: one rule for foot locking and for
planting a retargeted rig's feet.

Both passes start from a posed leg and move its end a little (onto a pin in the world, onto the
floor of the artist's rig). The closed form puts the end on the goal, or as near as the bone
lengths reach with the limb straight, and keeps the middle joint in the plane it bends in now,
on the same side: a knee that points forward keeps pointing forward, so nothing flips. A limb
that is exactly straight has no such plane; it then bends across the line to its old end.

Near full extension a two-bone chain is ill-conditioned: at 98 % of its length the middle joint
moves ~4 mm across the limb for each millimetre the goal comes nearer or farther, so a goal that
jitters by a centimetre makes the knee swing by several. :func:`soft_goal` is the animators'
"soft IK" answer: the goal's distance is eased into full extension instead of reaching it.
"""

from __future__ import annotations

import numpy as np


def two_bone_ik(root: np.ndarray, middle: np.ndarray, end: np.ndarray, goal: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """New ``(middle, end)`` positions (3,) for the chain ``root`` (hip, fixed) - ``middle``
    (knee) - ``end`` (ankle), with ``end`` on ``goal`` as near as the chain reaches and both
    bone lengths kept. A chain of zero length, or a goal on the root, is left as it is."""
    root, middle, end, goal = (np.asarray(v, dtype=np.float64) for v in (root, middle, end, goal))
    upper = float(np.linalg.norm(middle - root))
    lower = float(np.linalg.norm(end - middle))
    reach = goal - root
    distance = float(np.linalg.norm(reach))
    if distance < 1e-9 or upper < 1e-9 or lower < 1e-9:
        return middle, end
    u = reach / distance
    distance = float(np.clip(distance, abs(upper - lower) + 1e-6, upper + lower - 1e-6))
    side = (middle - root) - np.dot(middle - root, u) * u  # where it bends now, across u
    if np.linalg.norm(side) < 1e-9:  # straight: bend across the line to the old end
        side = np.cross(np.cross(u, end - root), u)
        if np.linalg.norm(side) < 1e-9:  # ... which is the goal's line too: any normal
            side = np.cross(u, np.eye(3)[int(np.argmin(np.abs(u)))])
    v = side / np.linalg.norm(side)
    cos_root = (upper**2 + distance**2 - lower**2) / (2.0 * upper * distance)
    angle = float(np.arccos(np.clip(cos_root, -1.0, 1.0)))
    new_middle = root + upper * (np.cos(angle) * u + np.sin(angle) * v)
    return new_middle, root + distance * u


def soft_goal(root: np.ndarray, goal: np.ndarray, length: float, ease_from: float
              ) -> np.ndarray:
    """``goal`` (3,) moved along the line from ``root`` so that a chain of ``length`` never
    straightens fully to reach it: distances up to ``ease_from`` are kept, farther ones
    approach ``length`` exponentially (the eased distance and its slope are continuous at
    ``ease_from``; a goal at full length is reached at ``ease_from + (length - ease_from)(1 -
    1/e)``). ``ease_from`` >= ``length`` or a goal on the root leaves the goal as it is."""
    root, goal = np.asarray(root, dtype=np.float64), np.asarray(goal, dtype=np.float64)
    reach = goal - root
    distance = float(np.linalg.norm(reach))
    room = length - ease_from
    if room <= 0 or distance <= ease_from or distance < 1e-9:
        return goal
    eased = ease_from + room * (1.0 - np.exp(-(distance - ease_from) / room))
    return root + reach * (eased / distance)
