"""The fitting baseline: SMPL-X body pose, root orientation and translation per frame from the
detector's metric 3D landmarks (inverse kinematics) and 2D keypoints (perspective reprojection).

All frames of a track are optimised together so a temporal smoothness term can remove jitter.
This is the baseline the generative model must beat; it stays selectable as ``method="fit"``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from genhmr_core.keypoints import KEYPOINT_INDEX
from genhmr_core.rotations import matrix_to_axis_angle
from genhmr_core.skeleton import NUM_BODY_JOINTS, NUM_JOINTS, PARENTS

from ..body.skeleton_model import SkeletonModel, matrix_to_rotation_6d, rotation_6d_to_matrix
from .initialization import initial_rotations, solve_translation

_HIPS = [KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]]
_BODY_CHAIN = 1 + NUM_BODY_JOINTS  # joints the losses need; hands, jaw and eyes stay at rest


@dataclasses.dataclass
class FitConfig:
    """Loss weights, tuned on tests/unit/test_ik_fit.py's synthetic motion: the 2D term (errors in
    units of the person's height) must dominate the joint-acceleration term, else translation
    drifts in depth and the reprojection error grows several pixels."""

    iterations: int = 100
    learning_rate: float = 0.03
    weight_2d: float = 20.0
    weight_3d: float = 4.0
    weight_pose_prior: float = 0.02
    weight_smooth: float = 1.0
    huber_delta_2d: float = 0.03  # in units of the person's box height
    device: str = "cpu"


@dataclasses.dataclass
class FitResult:
    global_orient: np.ndarray  # (F, 3) axis-angle, camera space
    body_pose: np.ndarray  # (F, 21, 3)
    transl: np.ndarray  # (F, 3)
    joints3d: np.ndarray  # (F, J, 3)
    keypoints3d: np.ndarray  # (F, K, 3)
    joint_confidence: np.ndarray  # (F, J)
    reprojection_px: float  # mean confidence-weighted 2D error after the fit
    # (F, 21) degrees per body joint, from methods that know it (the generative one)
    joint_uncertainty: np.ndarray | None = None


def joint_confidence(conf: np.ndarray, kp_joint: np.ndarray) -> np.ndarray:
    """Per-joint confidence (F, J): evidence of keypoints attached to the joint or its children;
    joints with no direct evidence inherit half the torso's confidence."""
    frames = conf.shape[0]
    torso = conf[:, _HIPS + [KEYPOINT_INDEX["left_shoulder"], KEYPOINT_INDEX["right_shoulder"]]]
    out = np.tile(0.5 * torso.mean(1, keepdims=True), (1, NUM_JOINTS))
    evidence: dict[int, list[int]] = {}
    for k, j in enumerate(kp_joint):
        evidence.setdefault(int(j), []).append(k)
        if PARENTS[j] >= 0:
            evidence.setdefault(PARENTS[j], []).append(k)
    for j, ks in evidence.items():
        out[:, j] = conf[:, ks].mean(1)
    return out.reshape(frames, NUM_JOINTS)


def fit_track(model: SkeletonModel, keypoints2d: np.ndarray, world: np.ndarray,
              valid: np.ndarray, K: np.ndarray, config: FitConfig | None = None,
              should_stop: Callable[[], bool] | None = None) -> FitResult:
    """Fit one person track.

    keypoints2d (F, K, 3): pixel x, y and confidence; world (F, K, 3): the detector's metric 3D
    keypoints in camera-aligned axes (x right, y down, z forward), hip-centred; valid (F,):
    frames where the person was detected (others are ignored and filled by the nearest fit);
    K (3, 3), or (F, 3, 3) for a lens that zoomed.
    """
    cfg = config or FitConfig()
    valid = np.asarray(valid, dtype=bool)
    conf = np.where(valid[:, None], np.clip(keypoints2d[..., 2], 0.0, 1.0), 0.0)
    rest = model.rest_joints.cpu().numpy().astype(np.float64)

    init_local = initial_rotations(rest, world, conf)
    posed = _posed_keypoints_numpy(model, init_local)  # (F, K, 3) with zero translation
    t = solve_translation(posed, keypoints2d[..., :2], conf, K)

    dev = torch.device(cfg.device)
    f32 = torch.float32
    root6 = torch.tensor(matrix_to_rotation_6d(torch.as_tensor(init_local[:, 0])).numpy(),
                         dtype=f32, device=dev, requires_grad=True)
    body6 = torch.tensor(matrix_to_rotation_6d(torch.as_tensor(init_local[:, 1:])).numpy(),
                         dtype=f32, device=dev, requires_grad=True)
    transl = torch.tensor(t, dtype=f32, device=dev, requires_grad=True)
    model = model.to(dev)

    kp2d = torch.as_tensor(keypoints2d[..., :2], dtype=f32, device=dev)
    w2d = torch.as_tensor(conf, dtype=f32, device=dev)
    world_t = torch.as_tensor(world, dtype=f32, device=dev)
    box_h = _box_heights(keypoints2d, conf)
    scale = torch.as_tensor(box_h, dtype=f32, device=dev)[:, None]
    frames_K = np.broadcast_to(np.asarray(K, dtype=np.float64), (len(valid), 3, 3))
    focal = torch.as_tensor(frames_K[:, [0, 1], [0, 1]][:, None], dtype=f32, device=dev)
    cxy = torch.as_tensor(frames_K[:, :2, 2][:, None].copy(), dtype=f32, device=dev)  # (F, 1, 2)
    identity6 = torch.tensor([1.0, 0, 0, 0, 1.0, 0], dtype=f32, device=dev)
    pair = torch.as_tensor(valid[1:] & valid[:-1], dtype=f32, device=dev)
    triple = torch.as_tensor(valid[2:] & valid[1:-1] & valid[:-2], dtype=f32, device=dev)
    frame_w = torch.as_tensor(valid, dtype=f32, device=dev)

    opt = torch.optim.Adam([root6, body6, transl], lr=cfg.learning_rate)
    for _ in range(cfg.iterations):
        if should_stop is not None and should_stop():
            raise InterruptedError("fit cancelled")
        opt.zero_grad(set_to_none=True)
        local = torch.cat([rotation_6d_to_matrix(root6)[:, None], rotation_6d_to_matrix(body6)], 1)
        joints, _, kp = model(local, transl, num_joints=_BODY_CHAIN)
        z = kp[..., 2:3].clamp(min=0.05)
        uv = kp[..., :2] / z * focal + cxy
        err2d = torch.linalg.norm(uv - kp2d, dim=-1) / scale
        loss_2d = (w2d * torch.nn.functional.huber_loss(
            err2d, torch.zeros_like(err2d), delta=cfg.huber_delta_2d, reduction="none")).sum()
        rel = kp - kp[:, _HIPS].mean(1, keepdim=True)
        loss_3d = (w2d * ((rel - world_t) ** 2).sum(-1)).sum()
        loss_prior = (frame_w[:, None, None] * (body6 - identity6) ** 2).sum()
        vel = joints[1:] - joints[:-1]
        acc = vel[1:] - vel[:-1]
        loss_smooth = (triple[:, None, None] * acc**2).sum() + 0.1 * (
            pair[:, None, None] * vel**2).sum()
        n = max(int(valid.sum()), 1)
        loss = (cfg.weight_2d * loss_2d + cfg.weight_3d * loss_3d
                + cfg.weight_pose_prior * loss_prior + cfg.weight_smooth * loss_smooth) / n
        loss.backward()
        opt.step()

    with torch.no_grad():
        local = torch.cat([rotation_6d_to_matrix(root6)[:, None], rotation_6d_to_matrix(body6)], 1)
        joints, _, kp = model(local, transl)
        z = kp[..., 2:3].clamp(min=0.05)
        uv = kp[..., :2] / z * focal + cxy
        px_err = torch.linalg.norm(uv - kp2d, dim=-1).cpu().numpy()
    local_np = local.cpu().numpy().astype(np.float64)
    reproj = float((px_err * conf).sum() / max(conf.sum(), 1e-9))
    local_np, transl_np, joints_np, kp_np = _fill_invalid(
        valid, local_np, transl.detach().cpu().numpy(), joints.cpu().numpy(), kp.cpu().numpy())
    aa = matrix_to_axis_angle(local_np)
    kp_joint = model.kp_joint.cpu().numpy()
    return FitResult(
        global_orient=aa[:, 0], body_pose=aa[:, 1:1 + NUM_BODY_JOINTS], transl=transl_np,
        joints3d=joints_np, keypoints3d=kp_np,
        joint_confidence=joint_confidence(conf, kp_joint) * valid[:, None],
        reprojection_px=reproj)


def _posed_keypoints_numpy(model: SkeletonModel, local: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        t = torch.zeros(local.shape[0], 3)
        _, _, kp = model(torch.as_tensor(local, dtype=torch.float32), t)
    return kp.numpy().astype(np.float64)


def _box_heights(keypoints2d: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """Per-frame height in pixels of the confident keypoints (the 2D error scale)."""
    out = np.full(keypoints2d.shape[0], 100.0)
    for f in range(keypoints2d.shape[0]):
        ys = keypoints2d[f, conf[f] > 0.3, 1]
        if ys.size >= 2:
            out[f] = max(float(ys.max() - ys.min()), 20.0)
    return out


def _fill_invalid(valid: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Copy each invalid frame's values from the nearest valid frame (keeps outputs finite)."""
    if valid.all() or not valid.any():
        return arrays
    idx = np.flatnonzero(valid)
    nearest = idx[np.abs(np.arange(len(valid))[:, None] - idx[None]).argmin(1)]
    return tuple(a[nearest] for a in arrays)
