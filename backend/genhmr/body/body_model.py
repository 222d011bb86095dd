"""One interface for every body the product can use (torch, batched).

A :class:`BodyModel` answers four questions on the SMPL-X 55-joint skeleton contract
(``genhmr_core.skeleton``), whichever body sits behind it:

* ``rest_joints(betas)`` / ``rest_vertices(betas)``: the T-pose of a shape;
* ``forward(betas, local_rot, transl)``: forward kinematics and the skinned mesh of a pose;
* ``keypoints(vertices, joints)``: named keypoints (``genhmr_core.keypoints.KEYPOINT_NAMES``) of a
  posed body, through the body's keypoint regressor;
* ``skeleton(betas)``: a fast FK-only :class:`SkeletonModel` with keypoints rigidly attached,
  for optimisers that pose thousands of frames and never need the mesh.

The shape model is the linear one of :class:`genhmr_core.body_mesh.BodyMesh`, which is also what
the result file carries, so the backend and the add-on agree on every shape. Implementations
differ only in how they pose: :class:`LbsBody` (the default body) skins with linear blend
skinning; ``SmplxBody`` runs SMPL-X's own ``lbs`` with its pose correctives.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from genhmr_core.body_mesh import BodyMesh, KeypointRegressor
from genhmr_core.keypoints import keypoint_attachments
from genhmr_core.skeleton import NUM_JOINTS, PARENTS

from .skeleton_model import SkeletonModel, forward_kinematics


@dataclasses.dataclass
class PosedBody:
    """A batch of posed bodies (B = batch)."""

    vertices: torch.Tensor  # (B, V, 3)
    joints: torch.Tensor  # (B, 55, 3)
    global_rotations: torch.Tensor  # (B, 55, 3, 3)
    keypoints: torch.Tensor  # (B, K, 3)


class BodyModel(torch.nn.Module):
    """Shape, pose, skin and keypoints of one body; subclasses implement :meth:`_pose`."""

    def __init__(self, mesh: BodyMesh, regressor: KeypointRegressor, name: str) -> None:
        super().__init__()
        mesh.validate()
        regressor.validate(mesh.num_vertices)
        self.name = name
        self.mesh = mesh
        f32 = torch.float32
        self.register_buffer("v_template", torch.as_tensor(mesh.vertices, dtype=f32))
        self.register_buffer("shape_dirs", torch.as_tensor(mesh.shape_dirs, dtype=f32))
        self.register_buffer("j_template", torch.as_tensor(mesh.joints, dtype=f32))
        self.register_buffer("joint_shape_dirs", torch.as_tensor(mesh.joint_shape_dirs, dtype=f32))
        self.register_buffer("kp_vertex", torch.as_tensor(regressor.vertex, dtype=f32))
        self.register_buffer("kp_joint", torch.as_tensor(regressor.joint, dtype=f32))
        self.register_buffer("shape_limits", torch.as_tensor(mesh.shape_limits, dtype=f32))

    @property
    def num_betas(self) -> int:
        return self.mesh.num_betas

    @property
    def shape_names(self) -> tuple[str, ...]:
        return self.mesh.shape_names

    def betas_tensor(self, betas: torch.Tensor | np.ndarray | None, batch: int = 1
                     ) -> torch.Tensor:
        """Shape coefficients as (N, num_betas), N = rows given (``batch`` zero rows for None);
        fewer coefficients are zero-padded, extra ones dropped. Keeps gradients to ``betas``."""
        like = self.v_template
        if betas is None:
            return torch.zeros(batch, self.num_betas, dtype=like.dtype, device=like.device)
        b = torch.as_tensor(betas, dtype=like.dtype, device=like.device)
        b = b.reshape(1, -1) if b.ndim < 2 else b
        out = torch.zeros(b.shape[0], self.num_betas, dtype=like.dtype, device=like.device)
        n = min(b.shape[1], self.num_betas)
        out[:, :n] = b[:, :n]
        return out

    def rest_joints(self, betas: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """(B, 55, 3) T-pose joints of the shapes."""
        b = self.betas_tensor(betas)
        return self.j_template + torch.einsum("jcb,nb->njc", self.joint_shape_dirs, b)

    def rest_vertices(self, betas: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """(B, V, 3) T-pose mesh of the shapes."""
        b = self.betas_tensor(betas)
        return self.v_template + torch.einsum("vcb,nb->nvc", self.shape_dirs, b)

    def keypoints(self, vertices: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        """(B, K, 3) named keypoints from posed (or rest) vertices (B, V, 3) and joints."""
        return self.kp_vertex @ vertices + self.kp_joint @ joints

    def rest_keypoints(self, betas: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        return self.keypoints(self.rest_vertices(betas), self.rest_joints(betas))

    def forward(self, betas: torch.Tensor | np.ndarray | None, local_rot: torch.Tensor,
                transl: torch.Tensor | None = None) -> PosedBody:
        """Pose bodies: local_rot (B, J', 3, 3) for the first J' joints (the rest stay at
        rest), transl (B, 3). Conventions as SMPL-X (``genhmr_core.result_format``)."""
        batch = local_rot.shape[0]
        full = torch.eye(3, dtype=local_rot.dtype, device=local_rot.device).repeat(
            batch, NUM_JOINTS, 1, 1)
        full[:, : local_rot.shape[1]] = local_rot
        if transl is None:
            transl = torch.zeros(batch, 3, dtype=local_rot.dtype, device=local_rot.device)
        b = self.betas_tensor(betas, batch).expand(batch, -1)
        vertices, joints, rotations = self._pose(b, full, transl)
        return PosedBody(vertices=vertices, joints=joints, global_rotations=rotations,
                         keypoints=self.keypoints(vertices, joints))

    def _pose(self, betas: torch.Tensor, local_rot: torch.Tensor, transl: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(vertices, joints, global rotations) for full (B, 55, 3, 3) local rotations."""
        raise NotImplementedError

    @torch.no_grad()
    def skeleton(self, betas: torch.Tensor | np.ndarray | None = None,
                 scale: float = 1.0) -> SkeletonModel:
        """The FK-only model of one shape: each keypoint rigidly follows the joint that
        ``genhmr_core.keypoints`` assigns it, at its rest offset on this body. ``scale``: the
        person's uniform size (``JobResult.body_scale``), rest joints and offsets scaled about
        the model origin."""
        joints = self.rest_joints(betas)[0] * float(scale)
        kps = self.rest_keypoints(betas)[0] * float(scale)
        kp_joint, _ = keypoint_attachments()
        offsets = kps - joints[torch.as_tensor(kp_joint)]
        return SkeletonModel(joints.cpu().numpy(), name=self.name, keypoint_joints=kp_joint,
                             keypoint_offsets=offsets.cpu().numpy())


def linear_blend_skinning(vertices: torch.Tensor, rest_joints: torch.Tensor,
                          joints: torch.Tensor, rotations: torch.Tensor, weights: torch.Tensor
                          ) -> torch.Tensor:
    """Skin rest vertices (B, V, 3) with dense weights (V, J) for posed joints (B, J, 3) and
    global rotations (B, J, 3, 3) of a skeleton whose rest joints are ``rest_joints``.

    One matmul blends the per-joint affine transforms (B, J, 12) into per-vertex ones, the
    cheapest form on CPU for a few dozen joints.
    """
    t = joints - (rotations @ rest_joints.unsqueeze(-1)).squeeze(-1)
    affine = torch.cat([rotations, t.unsqueeze(-1)], -1)  # (B, J, 3, 4)
    blended = (weights @ affine.flatten(2)).unflatten(-1, (3, 4))  # (B, V, 3, 4)
    return (blended[..., :3] @ vertices.unsqueeze(-1)).squeeze(-1) + blended[..., 3]


class LbsBody(BodyModel):
    """A body posed by forward kinematics and linear blend skinning of its own weights."""

    def __init__(self, mesh: BodyMesh, regressor: KeypointRegressor, name: str) -> None:
        super().__init__(mesh, regressor, name)
        self.register_buffer("weights", torch.as_tensor(mesh.dense_weights(),
                                                        dtype=torch.float32))

    def _pose(self, betas: torch.Tensor, local_rot: torch.Tensor, transl: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rest_v, rest_j = self.rest_vertices(betas), self.rest_joints(betas)
        parents = torch.as_tensor(PARENTS[1:], device=rest_j.device)
        offsets = torch.cat([rest_j[:, :1], rest_j[:, 1:] - rest_j[:, parents]], 1)
        joints, rotations = forward_kinematics(offsets, local_rot, transl)
        vertices = linear_blend_skinning(rest_v, rest_j, joints, rotations, self.weights)
        return vertices, joints, rotations
