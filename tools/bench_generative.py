"""Benchmark the generative pipeline against the fitting baseline on held-out synthetic clips.

    python tools/bench_generative.py --checkpoint RUN/model.pt [--dataset motion_v1.npz]
        [--sequences 8] [--length 60] [--hypotheses 1] [--refine-steps N]
        [--refine KEY=VALUE ...] [--json OUT]

Sequences and metrics are ``genhmr.evaluation``'s: windows of the dataset's *validation* clips
on random bodies, one random camera each, "detected" through the fitted MediaPipe noise model.
Methods:

(a) the fitting baseline (``genhmr.fitting``: shape from bone lengths, then ``fit_track``);
(b) stage 1 only: iterative token sampling, orientation/shape/camera heads;
(c) stage 1 + stage-2 refinement against the same 2D keypoints.
(b) and (c) run the product's own code path (``genhmr.generative.estimate_track``).

Reported: MPJPE, PA-MPJPE, acceleration error and 2D reprojection error per method, and the
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
from pathlib import Path

import numpy as np
import torch
from genhmr.body.default_body import load_default_body
from genhmr.evaluation import (
    Sequence,
    joints_and_keypoints,
    make_sequences,
    metrics,
    run_fit_baseline,
)
from genhmr.generative import GenerativeConfig, estimate_track
from genhmr.models.masked_transformer import load_masked_transformer
from genhmr.models.refinement import RefinementConfig
from genhmr.motion.clip import MotionDataset


def run_generative(model, tokenizer, body, seq: Sequence, hypotheses: int, select: str,
                   refine_cfg: RefinementConfig) -> dict:
    """(b) and (c) through the product's own path (``genhmr.generative.estimate_track``):
    (b) with zero refinement steps, (c) with ``refine_cfg``."""
    kp2d, world = seq.detector_output()
    out: dict = {"frames": len(seq.detected)}
    for key, steps in (("sampling", 0), ("refined", refine_cfg.steps)):
        config = GenerativeConfig(hypotheses=hypotheses, select=select,
                                  refinement=dataclasses.replace(refine_cfg, steps=steps))
        t0 = time.perf_counter()
        fit, _ = estimate_track(model, tokenizer, body, None, kp2d, world, seq.detected,
                                seq.K[0], config)
        out[key + "_s"] = time.perf_counter() - t0
        out[key] = (torch.as_tensor(fit.joints3d[:, :22]), torch.as_tensor(fit.keypoints3d))
    return out


def refinement_config(steps: int, overrides: list[str]) -> RefinementConfig:
    """The product's refinement defaults with ``KEY=VALUE`` overrides (typed by the field)."""
    cfg = RefinementConfig(steps=steps)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not hasattr(cfg, key):
            raise SystemExit(f"--refine {item!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(f.name for f in dataclasses.fields(cfg))}")
        kind = type(getattr(cfg, key))
        cfg = dataclasses.replace(cfg, **{key: value.lower() in ("1", "true", "yes")
                                          if kind is bool else kind(value)})
    return cfg


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
    parser.add_argument("--select", choices=("likelihood", "reprojection"),
                        default="likelihood", help="how the kept hypothesis is chosen")
    parser.add_argument("--refine-steps", type=int, default=RefinementConfig.steps)
    parser.add_argument("--refine", action="append", default=[], metavar="KEY=VALUE",
                        help="any RefinementConfig field, e.g. --refine smooth=10 "
                             "--refine landmarks_3d=0.5 (repeatable)")
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
    sequences = make_sequences(data.clips("val"), body, args.sequences, args.length, args.seed)
    refine_cfg = refinement_config(args.refine_steps, args.refine)
    rows: dict[str, list[dict]] = {"(a) fit baseline": [], "(b) sampling": [],
                                   "(c) sampling + refinement": []}
    timing = {"fit_s": 0.0, "sample_s": 0.0, "refine_s": 0.0}
    recon = []
    frames = 0
    for seq in sequences:
        t0 = time.perf_counter()
        joints_a, kp_a = run_fit_baseline(body, seq)
        timing["fit_s"] += time.perf_counter() - t0
        gen = run_generative(model, tokenizer, body, seq, args.hypotheses, args.select,
                             refine_cfg)
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
    clips = sorted({seq.name.split("@")[0] for seq in sequences})
    report = {"checkpoint": args.checkpoint.name, "sequences": len(sequences), "clips": clips,
              "frames": frames, "hypotheses": args.hypotheses, "select": args.select,
              "refinement": dataclasses.asdict(refine_cfg), "methods": summary,
              "tokenizer_reconstruction_mm": float(np.mean(recon)), "timing": ms,
              "mediapipe_ms_per_frame": mp}
    if mp:
        report["timing_vs_mediapipe"] = {k: v / mp for k, v in ms.items()}
    print(f"{len(sequences)} windows of {args.length} frames from {', '.join(clips)} "
          "(validation clips shorter than a window are left out)")
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
