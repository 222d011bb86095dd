"""Benchmark the generative pipeline against the fitting baseline on held-out synthetic clips.

    python tools/bench_generative.py --checkpoint RUN/model.pt [--dataset motion_v1.npz]
        [--sequences 8] [--length 60] [--hypotheses 1] [--refine-steps 20] [--json OUT]

Each sequence is a window of a *validation* clip (never seen in training) on a randomly shaped
default body, filmed by a random (often moving) camera and "detected" through the fitted
MediaPipe noise model: exactly the synthetic conditioning of training, but from held-out motion,
with one camera per sequence so that acceleration error means something. Methods:

(a) the fitting baseline (``genhmr.fitting``: shape from bone lengths, then ``fit_track``);
(b) stage 1 only: iterative token sampling, orientation/shape/camera heads;
(c) stage 1 + stage-2 refinement against the same 2D keypoints.
(b) and (c) run the product's own code path (``genhmr.generative.estimate_track``).

Metrics over the 22 body joints in camera space: MPJPE (pelvis-aligned), PA-MPJPE (similarity
Procrustes), acceleration error (second differences vs the truth, mm/frame²), confidence-weighted
2D reprojection error of the 25 keypoints against the *observed* keypoints (px), and the
tokenizer's own reconstruction error on the same poses (the floor for (b) and (c)). Time per
frame of each stage is reported next to MediaPipe's time per frame on the sample clip measured
in the same run (``--no-mediapipe`` skips that).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from genhmr.body.default_body import load_default_body
from genhmr.fitting.ik_fit import FitConfig, fit_track
from genhmr.fitting.shape import estimate_betas
from genhmr.generative import GenerativeConfig, estimate_track
from genhmr.models.masked_transformer import load_masked_transformer
from genhmr.models.refinement import RefinementConfig, keypoint_rig, pose_keypoints, project
from genhmr.motion.clip import MotionDataset
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


def make_sequences(data: MotionDataset, body, count: int, length: int, seed: int
                   ) -> list[Sequence]:
    keypoint_body = BatchedKeypointBody(body)
    noise = NoiseModel.load()
    clips = [c for c in data.clips("val") if c.num_frames >= length]
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        clip = clips[k % len(clips)]
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
            detected=obs.detected[0], K=K))
    return out


def joints_and_keypoints(body, betas: torch.Tensor, local: torch.Tensor, transl: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    offsets, kp_off = keypoint_rig(body, betas.reshape(1, -1).float())
    n = local.shape[0]
    return pose_keypoints(offsets.expand(n, -1, -1), kp_off.expand(n, -1, -1), local.float(),
                          transl.float())


def run_fit(body, seq: Sequence) -> tuple[torch.Tensor, torch.Tensor]:
    conf = np.where(np.isfinite(seq.uv).all(-1), seq.conf, 0.0)
    world = np.where(np.isfinite(seq.world), seq.world, 0.0)
    kp2d = np.concatenate([np.nan_to_num(seq.uv), conf[..., None]], -1)
    shape = estimate_betas(body, world, conf)
    skeleton = body.skeleton(shape.betas)
    fit = fit_track(skeleton, kp2d, world, seq.detected, seq.K[0], FitConfig())
    local = np.concatenate([fit.global_orient[:, None], fit.body_pose], 1)
    local = torch.as_tensor(axis_angle_to_matrix(local))
    return joints_and_keypoints(body, torch.as_tensor(shape.betas), local,
                                torch.as_tensor(fit.transl))


def run_generative(model, tokenizer, body, seq: Sequence, hypotheses: int,
                   refine_cfg: RefinementConfig) -> dict:
    """(b) and (c) through the product's own path (``genhmr.generative.estimate_track``):
    (b) with zero refinement steps, (c) with ``refine_cfg``."""
    conf = np.where(np.isfinite(seq.uv).all(-1), seq.conf, 0.0)
    kp2d = np.concatenate([np.nan_to_num(seq.uv), conf[..., None]], -1)
    world = np.where(np.isfinite(seq.world), seq.world, 0.0)
    out: dict = {"frames": len(seq.detected)}
    for key, steps in (("sampling", 0), ("refined", refine_cfg.steps)):
        config = GenerativeConfig(hypotheses=hypotheses, refinement=dataclasses.replace(
            refine_cfg, steps=steps))
        t0 = time.perf_counter()
        fit, _ = estimate_track(model, tokenizer, body, None, kp2d, world, seq.detected,
                                seq.K[0], config)
        out[key + "_s"] = time.perf_counter() - t0
        out[key] = (torch.as_tensor(fit.joints3d[:, :22]), torch.as_tensor(fit.keypoints3d))
    return out


def metrics(joints: torch.Tensor, kps: torch.Tensor, seq: Sequence) -> dict[str, float]:
    truth = torch.as_tensor(seq.joints_cam, dtype=torch.float32)
    pred = joints.float()
    aligned = pred - pred[:, :1]
    target = truth - truth[:, :1]
    mpjpe = (aligned - target).norm(dim=-1).mean() * 1000
    pa = (procrustes_align(pred, truth).float() - truth).norm(dim=-1).mean() * 1000
    acc = ((aligned[2:] - 2 * aligned[1:-1] + aligned[:-2])
           - (target[2:] - 2 * target[1:-1] + target[:-2])).norm(dim=-1).mean() * 1000
    conf = torch.as_tensor(np.where(np.isfinite(seq.uv).all(-1), seq.conf, 0.0),
                           dtype=torch.float32)
    uv = torch.as_tensor(np.nan_to_num(seq.uv), dtype=torch.float32)
    proj = project(kps.float(), torch.as_tensor(seq.K, dtype=torch.float32))
    reproj = ((proj - uv).norm(dim=-1) * conf).sum() / conf.sum().clamp(min=1e-8)
    return {"mpjpe_mm": float(mpjpe), "pa_mpjpe_mm": float(pa), "accel_mm": float(acc),
            "reprojection_px": float(reproj)}


def mediapipe_ms_per_frame(frames: int = 20) -> float | None:
    media = Path(os.environ.get("GENHMR_MEDIA_DIR", Path.home() / ".cache/genhmr/media"))
    video = media / "demo.mp4"
    if not video.is_file():
        return None
    import cv2
    from genhmr.detection.mediapipe_detector import PoseDetector

    cap = cv2.VideoCapture(str(video))
    images = [cap.read()[1] for _ in range(frames)]
    cap.release()
    with PoseDetector(tiling="off") as detector:
        detector.detect(images[0])
        t0 = time.perf_counter()
        for i, image in enumerate(images):
            detector.detect(image, timestamp_ms=i * 33)
    return (time.perf_counter() - t0) / frames * 1000


def main() -> int:
    cache = Path(os.environ.get("GENHMR_CACHE", Path.home() / ".cache" / "genhmr"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True,
                        help="masked transformer checkpoint (model.pt or last.pt)")
    parser.add_argument("--dataset", type=Path, default=cache / "datasets" / "motion_v1.npz")
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--length", type=int, default=60)
    parser.add_argument("--hypotheses", type=int, default=1)
    parser.add_argument("--refine-steps", type=int, default=20)
    parser.add_argument("--smooth", type=float, default=RefinementConfig.smooth,
                        help="refinement's temporal smoothness weight")
    parser.add_argument("--temperature", type=float, default=RefinementConfig.temperature,
                        help="refinement's soft-token temperature")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-mediapipe", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    body = load_default_body()
    model, tokenizer = load_masked_transformer(args.checkpoint)
    model.eval()
    tokenizer.eval()
    data = MotionDataset.load(args.dataset)
    sequences = make_sequences(data, body, args.sequences, args.length, args.seed)
    rows: dict[str, list[dict]] = {"(a) fit baseline": [], "(b) sampling": [],
                                   "(c) sampling + refinement": []}
    timing = {"fit_s": 0.0, "sample_s": 0.0, "refine_s": 0.0}
    recon = []
    frames = 0
    for seq in sequences:
        t0 = time.perf_counter()
        joints_a, kp_a = run_fit(body, seq)
        timing["fit_s"] += time.perf_counter() - t0
        gen = run_generative(model, tokenizer, body, seq, args.hypotheses, RefinementConfig(
            steps=args.refine_steps, smooth=args.smooth, temperature=args.temperature))
        timing["sample_s"] += gen["sampling_s"]
        timing["refine_s"] += gen["refined_s"] - gen["sampling_s"]
        frames += gen["frames"]
        rows["(a) fit baseline"].append(metrics(joints_a, kp_a, seq))
        rows["(b) sampling"].append(metrics(*gen["sampling"], seq))
        rows["(c) sampling + refinement"].append(metrics(*gen["refined"], seq))
        with torch.no_grad():
            pose = torch.as_tensor(seq.body_pose, dtype=torch.float32)
            rec = tokenizer.decode_indices(tokenizer.encode(pose).indices)
            eye = torch.eye(3).expand(len(pose), 1, 3, 3)
            j_true, _ = joints_and_keypoints(body, torch.zeros(5), torch.cat([eye, pose], 1),
                                             torch.zeros(len(pose), 3))
            j_rec, _ = joints_and_keypoints(body, torch.zeros(5), torch.cat([eye, rec], 1),
                                            torch.zeros(len(pose), 3))
            recon.append(float((j_rec - j_true).norm(dim=-1).mean() * 1000))
    summary = {name: {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}
               for name, rs in rows.items()}
    ms = {k.replace("_s", "_ms_per_frame"): v / frames * 1000 for k, v in timing.items()}
    mp = None if args.no_mediapipe else mediapipe_ms_per_frame()
    report = {"checkpoint": args.checkpoint.name, "sequences": len(sequences),
              "frames": frames, "hypotheses": args.hypotheses,
              "refine_steps": args.refine_steps, "methods": summary,
              "tokenizer_reconstruction_mm": float(np.mean(recon)), "timing": ms,
              "mediapipe_ms_per_frame": mp}
    if mp:
        report["timing_vs_mediapipe"] = {k: v / mp for k, v in ms.items()}
    print(f"{'method':28s} {'MPJPE':>8s} {'PA-MPJPE':>9s} {'accel':>7s} {'reproj px':>9s}")
    for name, m in summary.items():
        print(f"{name:28s} {m['mpjpe_mm']:8.1f} {m['pa_mpjpe_mm']:9.1f} {m['accel_mm']:7.1f} "
              f"{m['reprojection_px']:9.1f}")
    print("tokenizer reconstruction (floor for b, c): "
          f"{report['tokenizer_reconstruction_mm']:.1f} mm")
    print("time per frame: " + ", ".join(f"{k} {v:.1f}" for k, v in ms.items())
          + (f"; MediaPipe alone {mp:.1f} ms" if mp else ""))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
