"""Held-out synthetic sequences with ground truth, and the metrics the methods are judged by.

Shared by the benchmark (``tools/bench_generative.py``) and the tests of the shipped model, so
both measure the same thing. A sequence is a window of a *validation* clip (never seen in
training) on a randomly shaped default body, filmed by one random (often moving) camera and
"detected" through the fitted MediaPipe noise model: the synthetic conditioning of training,
but from held-out motion and with one camera per window so that acceleration error means
something.

Metrics over the 22 body joints in camera space: MPJPE (pelvis-aligned), PA-MPJPE (similarity
Procrustes), acceleration error (second differences against the truth, mm/frame²) and the
confidence-weighted 2D reprojection error of the 25 keypoints against the *observed* ones (px).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from genhmr.camera import landmarks_in_camera_axes
from genhmr.fitting.ik_fit import FitConfig, FitResult, fit_track
from genhmr.fitting.shape import estimate_betas
from genhmr.models.refinement import keypoint_rig, pose_keypoints, project
from genhmr.motion.clip import MotionClip
from genhmr.synthetic.cameras import CameraConfig, sample_camera
from genhmr.synthetic.conditioning import BatchedKeypointBody
from genhmr.synthetic.noise import BIAS_FRAME_JOINT, NoiseModel
from genhmr.train.masked_transformer import procrustes_align
from genhmr_core.rotations import axis_angle_to_matrix


@dataclass
class Sequence:
    name: str
    betas: np.ndarray  # (5,)
    body_pose: np.ndarray  # (F, 21, 3, 3) truth
    joints_cam: np.ndarray  # (F, 22, 3) truth, camera space
    uv: np.ndarray  # (F, 25, 2) observed pixels (NaN where missing)
    conf: np.ndarray  # (F, 25)
    world: np.ndarray  # (F, 25, 3)
    detected: np.ndarray  # (F,)
    K: np.ndarray  # (F, 3, 3)
    keypoints_cam: np.ndarray | None = None  # (F, 25, 3) truth keypoints, camera space

    def detector_output(self) -> tuple[np.ndarray, np.ndarray]:
        """(keypoints2d (F, 25, 3) pixels + confidence, world (F, 25, 3)) as the pipeline's
        tracker hands them to a method: missing keypoints have zero confidence, no NaNs."""
        conf = np.where(np.isfinite(self.uv).all(-1), self.conf, 0.0)
        kp2d = np.concatenate([np.nan_to_num(self.uv), conf[..., None]], -1)
        return kp2d, np.where(np.isfinite(self.world), self.world, 0.0)


def make_sequences(clips: list[MotionClip], body, count: int, length: int, seed: int
                   ) -> list[Sequence]:
    """``count`` windows of ``length`` frames, cycling through ``clips`` (those long enough)."""
    keypoint_body = BatchedKeypointBody(body)
    noise = NoiseModel.load()
    usable = [c for c in clips if c.num_frames >= length]
    if not usable:
        raise ValueError(f"no clip has {length} frames")
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        clip = usable[k % len(usable)]
        start = int(rng.integers(0, clip.num_frames - length + 1))
        rot = torch.as_tensor(clip.rotations[start:start + length])[None]
        root = torch.as_tensor(clip.root_position[start:start + length])[None]
        betas = keypoint_body.sample_betas(rng)
        bt = torch.as_tensor(betas)[None]
        with torch.no_grad():
            joints, grot, kps = keypoint_body.pose(bt, rot, root)
            height = float(keypoint_body.heights(bt)[0])
        joints, grot, kps = joints[0].numpy(), grot[0].numpy(), kps[0].numpy()
        track = sample_camera(rng, kps, clip.fps, CameraConfig())
        R, t, K = track.R, track.t, track.K
        kp_cam = np.einsum("fij,fnj->fni", R, kps) + t[:, None]
        frames = R[:, None] @ grot[:, BIAS_FRAME_JOINT]
        obs = noise.apply(kp_cam[None], K[None], rng, image_size=track.image_size,
                          body_height=height, frames=frames[None], dt=1.0 / clip.fps)
        out.append(Sequence(
            name=f"{clip.name}@{start}", betas=betas,
            body_pose=clip.rotations[start:start + length, 1:],
            joints_cam=np.einsum("fij,fnj->fni", R, joints) + t[:, None],
            uv=obs.keypoints_2d[0], conf=obs.confidence[0], world=obs.world[0],
            detected=obs.detected[0], K=K, keypoints_cam=kp_cam))
    return out


def joints_and_keypoints(body, betas: Tensor, local: Tensor, transl: Tensor
                         ) -> tuple[Tensor, Tensor]:
    """Joints (N, 22, 3) and keypoints (N, 25, 3) of local rotations (N, 22, 3, 3)."""
    offsets, kp_off = keypoint_rig(body, betas.reshape(1, -1).float())
    n = local.shape[0]
    return pose_keypoints(offsets.expand(n, -1, -1), kp_off.expand(n, -1, -1), local.float(),
                          transl.float())


def result_joints(body, fit: FitResult, betas: np.ndarray) -> tuple[Tensor, Tensor]:
    """Joints and keypoints of a method's result (either method returns a ``FitResult``)."""
    local = np.concatenate([fit.global_orient[:, None], fit.body_pose], 1)
    return joints_and_keypoints(body, torch.as_tensor(betas),
                                torch.as_tensor(axis_angle_to_matrix(local)),
                                torch.as_tensor(fit.transl))


def run_fit_baseline(body, seq: Sequence) -> tuple[Tensor, Tensor]:
    """The fitting baseline as the pipeline runs it: shape from bone lengths, then the fit."""
    kp2d, world = seq.detector_output()
    shape = estimate_betas(body, world, kp2d[..., 2])
    fit = fit_track(body.skeleton(shape.betas), kp2d,
                    landmarks_in_camera_axes(world, kp2d, seq.K), seq.detected, seq.K[0],
                    FitConfig())
    return result_joints(body, fit, shape.betas)


def metrics(joints: Tensor, kps: Tensor, seq: Sequence) -> dict[str, float]:
    truth = torch.as_tensor(seq.joints_cam, dtype=torch.float32)
    pred = joints.float()
    aligned = pred - pred[:, :1]
    target = truth - truth[:, :1]
    mpjpe = (aligned - target).norm(dim=-1).mean() * 1000
    pa = (procrustes_align(pred, truth).float() - truth).norm(dim=-1).mean() * 1000
    acc = ((aligned[2:] - 2 * aligned[1:-1] + aligned[:-2])
           - (target[2:] - 2 * target[1:-1] + target[:-2])).norm(dim=-1).mean() * 1000
    kp2d, _ = seq.detector_output()
    conf = torch.as_tensor(kp2d[..., 2], dtype=torch.float32)
    uv = torch.as_tensor(kp2d[..., :2], dtype=torch.float32)
    proj = project(kps.float(), torch.as_tensor(seq.K, dtype=torch.float32))
    reproj = ((proj - uv).norm(dim=-1) * conf).sum() / conf.sum().clamp(min=1e-8)
    return {"mpjpe_mm": float(mpjpe), "pa_mpjpe_mm": float(pa), "accel_mm": float(acc),
            "reprojection_px": float(reproj)}
