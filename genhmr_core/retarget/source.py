"""What the retarget needs to know about a GenHMR rig as the source."""

from __future__ import annotations

import numpy as np

from .. import ground, keypoints, scene_space, skeleton


def standing_pelvis_height(bone_heads: np.ndarray) -> float:
    """How high a GenHMR rig's pelvis stands above its floor in its rest pose.

    ``bone_heads`` (55, 3) are the rig's rest bone heads (armature space, Z up, as the add-on
    builds them from the person's rest joints). The floor is where the product puts it: the
    level of the foot keypoints (heels and toes) that rest on the ground, attached to the
    ankles and feet exactly as the solver attaches them.
    """
    rest = np.asarray(bone_heads, dtype=np.float64) @ scene_space.SMPLX_TO_ARMATURE
    joint, offset = keypoints.keypoint_attachments()
    feet = rest[joint[list(ground.FOOT_POINTS)]] + offset[list(ground.FOOT_POINTS)]
    feet_z = (feet @ scene_space.SMPLX_TO_ARMATURE.T)[:, 2]
    pelvis_z = float(np.asarray(bone_heads)[skeleton.JOINT_INDEX["pelvis"], 2])
    return pelvis_z - float(np.min(feet_z))
