"""Batched forward kinematics and keypoints on the SMPL-X skeleton (torch).

The kinematic convention is SMPL-X's: every joint's rest frame is aligned with the model axes,
a joint's rotation is local (relative to its parent), the root rotates about the pelvis and the
translation is added after, so ``joints[:, 0] == rest_joints[0] + transl``.
"""

from __future__ import annotations

import numpy as np
import torch

from genhmr_core.keypoints import keypoint_attachments
from genhmr_core.skeleton import NUM_JOINTS, PARENTS, builtin_rest_joints


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Continuous 6D rotation representation (Zhou et al. 2019) (..., 6) -> (..., 3, 3).

    The two 3-vectors are the first two *columns* of the matrix (Gram-Schmidt completed), so
    the identity is ``[1, 0, 0, 0, 1, 0]``.
    """
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rotation_6d(m: torch.Tensor) -> torch.Tensor:
    return torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)


def forward_kinematics(offsets: torch.Tensor, local_rot: torch.Tensor, transl: torch.Tensor,
                       num_joints: int = NUM_JOINTS) -> tuple[torch.Tensor, torch.Tensor]:
    """Joints (B, n, 3) and global rotations (B, n, 3, 3) of the first n = ``num_joints`` joints.

    offsets (J, 3) or (B, J, 3): the root's rest position, then each joint's offset from its
    parent; local_rot (B, J', 3, 3) for the first J' joints (later ones stay at rest). Joints
    are ordered parents first, so a shorter chain is exact for the joints it keeps.
    """
    batch = local_rot.shape[0]
    offsets = offsets.expand(batch, -1, -1) if offsets.ndim == 2 else offsets
    eye = torch.eye(3, dtype=local_rot.dtype, device=local_rot.device).expand(batch, 3, 3)
    rots: list[torch.Tensor] = []
    pos: list[torch.Tensor] = []
    for j in range(num_joints):
        local = local_rot[:, j] if j < local_rot.shape[1] else eye
        if j == 0:
            rots.append(local)
            pos.append(offsets[:, 0] + transl)
        else:
            p = PARENTS[j]
            rots.append(rots[p] @ local)
            pos.append(pos[p] + (rots[p] @ offsets[:, j].unsqueeze(-1)).squeeze(-1))
    return torch.stack(pos, dim=1), torch.stack(rots, dim=1)


class SkeletonModel(torch.nn.Module):
    """FK over a fixed rest skeleton plus rigidly attached surface keypoints.

    The keypoint attachments default to ``genhmr_core.keypoints``' hand-made offsets; a body
    model passes its own (``BodyModel.skeleton``), measured on its mesh.
    """

    def __init__(self, rest_joints: np.ndarray, name: str = "builtin",
                 keypoint_joints: np.ndarray | None = None,
                 keypoint_offsets: np.ndarray | None = None) -> None:
        super().__init__()
        rest = torch.as_tensor(np.asarray(rest_joints), dtype=torch.float32)
        if rest.shape != (NUM_JOINTS, 3):
            raise ValueError(f"rest_joints must be ({NUM_JOINTS}, 3), got {tuple(rest.shape)}")
        kp_joint, kp_offset = keypoint_attachments()
        if keypoint_joints is not None:
            kp_joint = np.asarray(keypoint_joints)
        if keypoint_offsets is not None:
            kp_offset = np.asarray(keypoint_offsets)
        self.name = name
        self.register_buffer("rest_joints", rest)
        parents = torch.tensor(PARENTS[1:])
        self.register_buffer("offsets", torch.cat([rest[:1], rest[1:] - rest[parents]]))
        self.register_buffer("kp_joint", torch.as_tensor(kp_joint))
        self.register_buffer("kp_offset", torch.as_tensor(kp_offset, dtype=torch.float32))

    def forward(self, local_rot: torch.Tensor, transl: torch.Tensor,
                num_joints: int = NUM_JOINTS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pose the skeleton.

        local_rot (B, J', 3, 3) holds joint-local rotations for the first J' joints (J' = 22
        for root + body; the rest stay at rest); transl (B, 3). ``num_joints`` < J stops the
        chain early (joints are ordered parents first): optimisers that only need the body and
        the keypoints pass 22 and run about twice as fast.
        Returns joints (B, num_joints, 3), global rotations (B, num_joints, 3, 3), keypoints
        (B, K, 3).
        """
        if num_joints <= int(self.kp_joint.max()):
            raise ValueError(f"num_joints={num_joints} drops joints that carry keypoints")
        joints, global_rot = forward_kinematics(self.offsets, local_rot, transl, num_joints)
        kp = joints[:, self.kp_joint] + (
            global_rot[:, self.kp_joint] @ self.kp_offset.unsqueeze(-1)).squeeze(-1)
        return joints, global_rot, kp


def builtin_model() -> SkeletonModel:
    """The built-in skeleton: SMPL-X joint names and hierarchy, our own rest offsets."""
    return SkeletonModel(builtin_rest_joints(), name="builtin")
