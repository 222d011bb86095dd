"""The SMPL-X skeleton contract: 55 joint names, their hierarchy and a built-in rest pose.

Every body model in the product (the real SMPL-X model, the built-in skeleton, later the
license-free mesh) exposes these same joints in this order, so rigs, results and retargeting
never depend on which model produced them.

Coordinates follow SMPL-X: metres, Y up, the body faces +Z, the subject's left is +X, T-pose.
The built-in rest offsets are our own round numbers for a ~1.72 m adult (not taken from the
SMPL-X model files, which are licensed by their owners); they let the product run with no
licensed files at all.
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "jaw", "left_eye_smplhf", "right_eye_smplhf",
    "left_index1", "left_index2", "left_index3", "left_middle1", "left_middle2", "left_middle3",
    "left_pinky1", "left_pinky2", "left_pinky3", "left_ring1", "left_ring2", "left_ring3",
    "left_thumb1", "left_thumb2", "left_thumb3",
    "right_index1", "right_index2", "right_index3", "right_middle1", "right_middle2",
    "right_middle3", "right_pinky1", "right_pinky2", "right_pinky3", "right_ring1", "right_ring2",
    "right_ring3", "right_thumb1", "right_thumb2", "right_thumb3",
)  # fmt: skip

PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)  # fmt: skip

NUM_JOINTS = len(JOINT_NAMES)
NUM_BODY_JOINTS = 21  # SMPL-X ``body_pose``: joints 1..21 (pelvis is ``global_orient``)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

# Offsets of each joint from its parent in the built-in rest pose (left side; the right side is
# mirrored in x).  Chosen so joint centres sit where a 2D/3D keypoint detector puts the matching
# landmark (shoulder and hip centres, ankle bones, ball of the foot).
_LEFT_OFFSETS: dict[str, tuple[float, float, float]] = {
    "left_hip": (0.085, -0.085, 0.0),
    "left_knee": (0.015, -0.395, 0.005),
    "left_ankle": (0.0, -0.405, -0.035),
    "left_foot": (0.015, -0.055, 0.125),
    "left_collar": (0.07, 0.115, -0.01),
    "left_shoulder": (0.11, 0.025, -0.01),
    "left_elbow": (0.26, 0.0, -0.01),
    "left_wrist": (0.245, 0.0, 0.0),
    "left_eye_smplhf": (0.032, 0.045, 0.085),
    "left_index1": (0.09, -0.005, 0.025),
    "left_index2": (0.035, 0.0, 0.0),
    "left_index3": (0.025, 0.0, 0.0),
    "left_middle1": (0.095, -0.005, 0.004),
    "left_middle2": (0.04, 0.0, 0.0),
    "left_middle3": (0.027, 0.0, 0.0),
    "left_pinky1": (0.078, -0.005, -0.038),
    "left_pinky2": (0.026, 0.0, 0.0),
    "left_pinky3": (0.02, 0.0, 0.0),
    "left_ring1": (0.088, -0.005, -0.018),
    "left_ring2": (0.036, 0.0, 0.0),
    "left_ring3": (0.025, 0.0, 0.0),
    "left_thumb1": (0.025, -0.015, 0.03),
    "left_thumb2": (0.03, -0.005, 0.025),
    "left_thumb3": (0.025, 0.0, 0.015),
}
_CENTRE_OFFSETS: dict[str, tuple[float, float, float]] = {
    "pelvis": (0.0, 0.0, 0.0),
    "spine1": (0.0, 0.105, -0.015),
    "spine2": (0.0, 0.13, 0.0),
    "spine3": (0.0, 0.06, 0.01),
    "neck": (0.0, 0.205, -0.02),
    "head": (0.0, 0.09, 0.03),
    "jaw": (0.0, -0.02, 0.06),
}


def _mirror(name: str) -> str:
    return "right_" + name[len("left_") :]


def builtin_offsets() -> np.ndarray:
    """Parent-relative offsets (55, 3) of the built-in rest skeleton, in metres."""
    offsets = np.zeros((NUM_JOINTS, 3), dtype=np.float64)
    for name, off in _CENTRE_OFFSETS.items():
        offsets[JOINT_INDEX[name]] = off
    for name, (x, y, z) in _LEFT_OFFSETS.items():
        offsets[JOINT_INDEX[name]] = (x, y, z)
        offsets[JOINT_INDEX[_mirror(name)]] = (-x, y, z)
    return offsets


def offsets_to_joints(offsets: np.ndarray) -> np.ndarray:
    """Accumulate parent-relative offsets (..., 55, 3) into rest joint positions."""
    joints = np.array(offsets, dtype=np.float64, copy=True)
    for j in range(1, NUM_JOINTS):
        joints[..., j, :] += joints[..., PARENTS[j], :]
    return joints


def joints_to_offsets(joints: np.ndarray) -> np.ndarray:
    """Inverse of :func:`offsets_to_joints`; the root keeps its absolute position."""
    joints = np.asarray(joints, dtype=np.float64)
    offsets = joints.copy()
    parents = np.asarray(PARENTS[1:])
    offsets[..., 1:, :] = joints[..., 1:, :] - joints[..., parents, :]
    return offsets


def builtin_rest_joints() -> np.ndarray:
    """Rest joint positions (55, 3) of the built-in skeleton, pelvis at the origin."""
    return offsets_to_joints(builtin_offsets())


def children(joint: int) -> list[int]:
    """Indices of the direct children of ``joint``."""
    return [j for j, p in enumerate(PARENTS) if p == joint]


def mirror_index() -> np.ndarray:
    """For each joint, the index of its left/right mirror (itself for centre joints)."""
    out = np.arange(NUM_JOINTS)
    for i, name in enumerate(JOINT_NAMES):
        if name.startswith("left_"):
            out[i] = JOINT_INDEX[_mirror(name)]
        elif name.startswith("right_"):
            out[i] = JOINT_INDEX["left_" + name[len("right_") :]]
    return out
