"""What every loader shares: our target skeleton, axis canonicalisation, BVH to SourceMotion,
and the last step of both retargeting routes (rotations or positions to a clip)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from genhmr.body.default_body import load_default_asset
from genhmr_core.skeleton import JOINT_INDEX

from ..bvh import BvhMotion
from ..clip import MotionClip
from ..resample import TARGET_FPS, resample
from ..retarget import (
    JointMap,
    SourceMotion,
    leg_length,
    retarget_rotations,
    rotations_from_positions,
)


@lru_cache(maxsize=1)
def target_rest_joints() -> np.ndarray:
    """Rest joints (55, 3) of our skeleton: the default body at average shape, T-pose."""
    mesh, _ = load_default_asset()
    return np.array(mesh.joints, dtype=np.float64)


def canonical_axes(rest: np.ndarray, pelvis: int, head: int, left_hip: int,
                   right_hip: int) -> np.ndarray:
    """The axis permutation (3, 3) taking a source's rest pose to SMPL-X axes.

    Up is the pelvis-to-head direction and left the right-to-left hip line, each snapped to the
    nearest signed axis, so Z-up files and files whose rest pose faces -Z come out as SMPL-X
    (Y up, left +X, facing +Z). Only exact axis permutations are used: a tilted rest pose stays
    tilted and becomes part of the motion, as it should.
    """
    def snap(v: np.ndarray) -> np.ndarray:
        k = int(np.argmax(np.abs(v)))
        out = np.zeros(3)
        out[k] = np.sign(v[k])
        return out

    up = snap(rest[head] - rest[pelvis])
    left = snap(rest[left_hip] - rest[right_hip])
    if abs(float(up @ left)) > 0.5:
        raise ValueError("cannot tell up from left in the rest pose (hips above the head?)")
    forward = np.cross(left, up)
    return np.stack([left, up, forward])  # rows: source vector -> SMPL-X components


def bvh_source(bvh: BvhMotion, scale: float, axes: np.ndarray | None = None,
               drop_first: bool = False) -> SourceMotion:
    """A BVH file as a :class:`SourceMotion` in metres and SMPL-X axes."""
    a = np.eye(3) if axes is None else np.asarray(axes, float)
    rotations = a @ bvh.rotations @ a.T
    root = bvh.positions[:, 0]
    if np.isnan(root).any():
        root = np.broadcast_to(bvh.offsets[0], root.shape)
    root = (root @ a.T) * scale
    tips = {name: (bvh.end_offsets[j] @ a.T) * scale for j, name in enumerate(bvh.names)
            if not np.isnan(bvh.end_offsets[j]).any()}
    start = 1 if drop_first else 0
    return SourceMotion(names=list(bvh.names), parents=bvh.parents,
                        offsets=(bvh.offsets @ a.T) * scale, rotations=rotations[start:],
                        root_position=root[start:], fps=bvh.fps, tips=tips)


def clip_from_source(name: str, source_name: str, license_text: str, source: SourceMotion,
                     joint_map: JointMap, times: np.ndarray | None = None) -> MotionClip:
    """Retarget onto our skeleton and resample to the training frame rate."""
    local, root, animated = retarget_rotations(source, joint_map, target_rest_joints())
    rotations, root = resample(local, root, source.fps, TARGET_FPS, times_in=times)
    return MotionClip(name=name, source=source_name, license=license_text, fps=TARGET_FPS,
                      rotations=rotations, root_position=root, animated=animated)


def clip_from_positions(name: str, source_name: str, license_text: str,
                        points: dict[str, np.ndarray]) -> MotionClip:
    """Solve rotations on our skeleton from joint positions (SMPL-X axes, metres, sampled at
    the training frame rate; point names as in
    :func:`~genhmr.motion.retarget.rotations_from_positions`). The pelvis path is scaled by the
    ratio of leg lengths, so the feet stay planted on our skeleton."""
    rest = target_rest_joints()
    rotations, animated = rotations_from_positions(points, rest)
    sides = ("left", "right")
    source_leg = np.mean([np.linalg.norm(points[f"{s}_knee"] - points[f"{s}_hip"], axis=-1)
                          + np.linalg.norm(points[f"{s}_ankle"] - points[f"{s}_knee"], axis=-1)
                          for s in sides])
    target_leg = np.mean([leg_length(rest, *(JOINT_INDEX[f"{s}_{j}"]
                                             for j in ("hip", "knee", "ankle"))) for s in sides])
    root = points["pelvis"] * (target_leg / source_leg)
    return MotionClip(name=name, source=source_name, license=license_text, fps=TARGET_FPS,
                      rotations=rotations, root_position=root, animated=animated)
