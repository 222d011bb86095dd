"""A person's joints and keypoints posed again from their rotations, after something changed
their translation, shape or part of their rotations (a re-run range, a resized body)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genhmr_core.result_format import JobResult
from genhmr_core.rotations import axis_angle_to_matrix


def pose_again(result: JobResult, p: int, frames: slice, skeleton: Any) -> None:
    """joints3d and keypoints3d of person ``p`` over ``frames`` from their rotations and
    translation, with ``skeleton`` (``BodyModel.skeleton`` of their shape), in place."""
    local = np.concatenate([result.global_orient[p, frames, None], result.body_pose[p, frames]],
                           axis=1)
    rot = torch.as_tensor(axis_angle_to_matrix(local), dtype=torch.float32)
    transl = torch.as_tensor(result.transl[p, frames], dtype=torch.float32)
    with torch.no_grad():
        joints, _, keypoints = skeleton(rot, transl)
    result.joints3d[p, frames] = joints.numpy()
    result.keypoints3d[p, frames] = keypoints.numpy()
