"""The fitting baseline recovers known poses from synthetic keypoints (exact answer known)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from genhmr.body import builtin_model
from genhmr.body.skeleton_model import rotation_6d_to_matrix
from genhmr.camera import intrinsics, project
from genhmr.fitting import FitConfig, fit_track
from genhmr.fitting.initialization import kabsch, swing

from genhmr_core.keypoints import KEYPOINT_INDEX
from genhmr_core.rotations import axis_angle_to_matrix
from genhmr_core.skeleton import JOINT_INDEX, NUM_BODY_JOINTS

HIPS = [KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]]


def synthetic_motion(frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random poses: arms and legs swinging, torso turning, walking towards +x."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, frames)
    aa = np.zeros((frames, 1 + NUM_BODY_JOINTS, 3))
    aa[:, 0] = np.stack([np.pi + 0.1 * np.sin(t), 0.6 * np.sin(0.5 * t), 0 * t], -1)
    for name, axis, amp in [("left_shoulder", 2, -1.1), ("right_shoulder", 2, 1.1),
                            ("left_elbow", 1, 0.9), ("right_elbow", 1, -0.9),
                            ("left_hip", 0, 0.5), ("right_hip", 0, -0.5),
                            ("left_knee", 0, 0.8), ("right_knee", 0, 0.8)]:
        phase = rng.uniform(0, np.pi)
        aa[:, JOINT_INDEX[name], axis] = amp * (0.6 + 0.4 * np.sin(t + phase))
    transl = np.stack([0.5 * np.sin(0.5 * t), 0.2 + 0 * t, 4.0 + 0.5 * np.cos(t)], -1)
    return aa, transl


def test_swing_and_kabsch_are_exact():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    r = swing(a, b)
    got = np.einsum("bij,bj->bi", r, a)
    cos = np.sum(got * b, -1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(b, axis=-1)
    assert np.allclose(cos, 1.0, atol=1e-9)
    assert np.allclose(np.linalg.det(r), 1.0)
    rot = axis_angle_to_matrix(rng.normal(size=(4, 3)))
    src = rng.normal(size=(4, 6, 3))
    dst = np.einsum("bij,bnj->bni", rot, src)
    assert np.allclose(kabsch(src, dst, np.ones((4, 6))), rot, atol=1e-9)


@pytest.mark.parametrize("noise_px", [0.0, 2.0])
def test_fit_recovers_synthetic_motion(noise_px: float):
    model = builtin_model()
    frames = 40
    aa, transl = synthetic_motion(frames)
    with torch.no_grad():
        local = torch.as_tensor(axis_angle_to_matrix(aa), dtype=torch.float32)
        joints, _, kp = model(local, torch.as_tensor(transl, dtype=torch.float32))
    joints, kp = joints.numpy(), kp.numpy()
    K = intrinsics(1280, 720)
    rng = np.random.default_rng(0)
    uv = project(kp, K) + rng.normal(scale=noise_px, size=kp.shape[:-1] + (2,))
    kp2d = np.concatenate([uv, np.full(kp.shape[:-1] + (1,), 0.95)], -1)
    world = kp - kp[:, HIPS].mean(1, keepdims=True)
    world = world + rng.normal(scale=0.02, size=world.shape) * (noise_px > 0)
    valid = np.ones(frames, bool)
    valid[17] = False  # a dropped frame is bridged
    fit = fit_track(model, kp2d, world, valid, K, FitConfig())

    assert fit.joints3d.shape == (frames, 55, 3)
    assert np.isfinite(fit.joints3d).all()
    body = slice(0, 22)
    rel_fit = fit.joints3d[:, body] - fit.joints3d[:, :1]
    rel_gt = joints[:, body] - joints[:, :1]
    mpjpe = np.linalg.norm(rel_fit - rel_gt, axis=-1)[valid].mean()
    assert mpjpe < (0.03 if noise_px == 0 else 0.05), mpjpe
    depth_err = np.abs(fit.transl[valid, 2] - transl[valid, 2]).mean()
    assert depth_err < 0.15, depth_err
    assert fit.reprojection_px < 2.0 + 1.0 * noise_px, fit.reprojection_px
    # SMPL-X convention: the pelvis is the rest pelvis plus transl.
    assert np.allclose(fit.joints3d[:, 0], fit.transl + model.rest_joints[0].numpy(), atol=1e-5)


def test_rotation_6d_identity():
    m = rotation_6d_to_matrix(torch.tensor([[1.0, 0, 0, 0, 1, 0]]))
    assert torch.allclose(m, torch.eye(3)[None])
