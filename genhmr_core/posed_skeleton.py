"""The result file's skeleton posed in numpy: joints and keypoints from local rotations.

The world-space steps change a solved body's rotations after the fact (foot locking bends the
legs, pose smoothing takes out tremor) and need the joints and keypoints that follow. The
result file keeps everything they need: each person's rest joints, axis-angle rotations and
translation (forward kinematics), and the keypoints as posed, which stay rigidly attached to
their joint (:func:`genhmr_core.keypoints.keypoint_attachments`).
"""

from __future__ import annotations

import numpy as np

from .keypoints import keypoint_attachments
from .rotations import axis_angle_to_matrix
from .skeleton import NUM_BODY_JOINTS, NUM_JOINTS, PARENTS


def forward_kinematics(rest_joints: np.ndarray, global_orient: np.ndarray,
                       body_pose: np.ndarray, transl: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions (F, J, 3) and global rotations (F, J, 3, 3) of the SMPL-X skeleton
    (joints after the 21 body joints stay at rest), as the result format defines them."""
    rest = np.asarray(rest_joints, dtype=np.float64)
    frames = len(global_orient)
    local = np.tile(np.eye(3), (frames, NUM_JOINTS, 1, 1))
    local[:, 0] = axis_angle_to_matrix(np.asarray(global_orient, dtype=np.float64))
    local[:, 1:1 + NUM_BODY_JOINTS] = axis_angle_to_matrix(np.asarray(body_pose, np.float64))
    rots = np.empty_like(local)
    pos = np.empty((frames, NUM_JOINTS, 3))
    for j in range(NUM_JOINTS):
        p = PARENTS[j]
        if p < 0:
            rots[:, j] = local[:, j]
            pos[:, j] = rest[0] + np.asarray(transl, dtype=np.float64)
        else:
            rots[:, j] = rots[:, p] @ local[:, j]
            pos[:, j] = pos[:, p] + rots[:, p] @ (rest[j] - rest[p])
    return pos, rots


def carry_keypoints(keypoints3d: np.ndarray, joints: np.ndarray, rots: np.ndarray,
                    new_joints: np.ndarray, new_rots: np.ndarray) -> np.ndarray:
    """Keypoints (F, K, 3) carried rigidly with the joint each is attached to."""
    attached, _ = keypoint_attachments()
    kp = np.asarray(keypoints3d, dtype=np.float64)
    local = np.einsum("fkji,fkj->fki", rots[:, attached], kp - joints[:, attached])
    return new_joints[:, attached] + np.einsum("fkij,fkj->fki", new_rots[:, attached], local)
