"""The same methods and metrics on synthetic sequences with exact truth.

Held-out motion (the registry's validation clips, never trained on) on randomly shaped default
bodies, one random camera per sequence, "detected" through the MediaPipe noise model fitted on
renders (``genhmr.evaluation``, as the shipped model's test and ``tools/bench_generative.py``
use it). What it flatters: the detections follow the noise model, not MediaPipe on real
pixels, and the bodies are the default body the model was trained on; it is here to show
whether a gain on real footage also holds where the truth is exact, and the reverse.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from genhmr.camera import landmarks_in_camera_axes
from genhmr.evaluation import Sequence, make_sequences, run_fit_baseline
from genhmr.generative import GenerativeConfig, estimate_track
from genhmr.models.refinement import RefinementConfig
from genhmr.motion.build import VAL_CLIPS
from genhmr.motion.sources.deepmimic import load_deepmimic
from genhmr.pipeline import JobOptions, generative_betas

from . import scoring


def sequences(motion_dir: Path, body: Any, count: int = 8, length: int = 60,
              seed: int = 0) -> list[Sequence]:
    clips = [c for c in load_deepmimic(motion_dir / "deepmimic") if c.name in VAL_CLIPS]
    return make_sequences(clips, body, count=count, length=length, seed=seed)


def method_keypoints(seq: Sequence, body: Any, generative: tuple[Any, Any]
                     ) -> dict[str, np.ndarray]:
    """Every method's keypoints (F, 25, 3) in camera space on one sequence."""
    kp2d, world = seq.detector_output()
    _, fit_kps = run_fit_baseline(body, seq)
    betas = generative_betas(body, JobOptions(video="", out_dir=""), kp2d, world, seq.detected)
    out = {"mediapipe": landmarks_in_camera_axes(world, kp2d, seq.K),
           "fit": fit_kps.numpy()}
    for name, steps in (("stage1", 0), ("refined", RefinementConfig.steps)):
        config = GenerativeConfig(refinement=dataclasses.replace(RefinementConfig(),
                                                                 steps=steps))
        fit, _ = estimate_track(*generative, body, betas, kp2d, world, seq.detected,
                                seq.K[0], config)
        out[name] = fit.keypoints3d
    return out


def rows(seqs: list[Sequence], body: Any, generative: tuple[Any, Any]) -> list[dict[str, Any]]:
    """Per (sequence, method), scored over the frames where the person was detected."""
    out = []
    for seq in seqs:
        for method, keypoints in method_keypoints(seq, body, generative).items():
            out.append({"sequence": seq.name, "method": method, **scoring.score(
                keypoints, seq.keypoints_cam, seq.detected, None, method != "mediapipe")})
    return out
