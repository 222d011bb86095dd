"""One method's keypoints against a truth: the metrics every section of the report uses.

Scored on the 16 body points every method and every truth here share (shoulders, elbows,
wrists, hips, knees, ankles, heels, toes: MediaPipe's definitions, which our keypoints
follow); the root is the mid-hip. Motion metrics are per frame (so they depend on the frame
rate) and never span a gap (``genhmr_core.pose_metrics``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genhmr_core import pose_metrics as pm
from genhmr_core.keypoints import KEYPOINT_INDEX

BODY_POINTS = tuple(KEYPOINT_INDEX[f"{side}_{part}"] for part in (
    "shoulder", "elbow", "wrist", "hip", "knee", "ankle", "heel", "foot_index")
    for side in ("left", "right"))
HIPS = (KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"])
SHOULDERS = (KEYPOINT_INDEX["left_shoulder"], KEYPOINT_INDEX["right_shoulder"])
ROOTS = (BODY_POINTS.index(HIPS[0]), BODY_POINTS.index(HIPS[1]))  # within BODY_POINTS


def pa_mpjpe_mm(ours: np.ndarray, true: np.ndarray, frames: np.ndarray,
                trusted: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """PA-MPJPE (mm) over ``BODY_POINTS`` of ``ours`` and ``true`` (F, 25, 3), each frame
    Procrustes-aligned, pooled over the points as the report pools them; with each point's
    mean error (metres) and frames counted."""
    points = list(BODY_POINTS)
    mask = None if trusted is None else np.asarray(trusted, bool)[:, points]
    means, counts = pm.pa_joint_errors(np.asarray(ours, np.float64)[:, points],
                                       np.asarray(true, np.float64)[:, points], frames, mask)
    return 1000 * pm.pooled_error(means, counts), means, counts


def score(ours: np.ndarray, true: np.ndarray, frames: np.ndarray, trusted: np.ndarray | None,
          placed: bool) -> dict[str, Any]:
    """``ours`` and ``true`` (F, 25, 3) camera frame, scored over ``frames`` (F,) and, given
    ``trusted`` (F, 25), only the points the truth is sure of: accuracy and smoothness of the
    body (hip-aligned), and, when ``placed`` (the method puts the body somewhere), of its
    pelvis in the camera frame with no alignment."""
    pa_mpjpe, point_means, point_counts = pa_mpjpe_mm(ours, true, frames, trusted)
    points = list(BODY_POINTS)
    ours, true = np.asarray(ours, np.float64)[:, points], np.asarray(true, np.float64)[:, points]
    mask = None if trusted is None else np.asarray(trusted, bool)[:, points]
    row: dict[str, Any] = {
        "frames": int(np.sum(frames)),
        "mpjpe_mm": 1000 * pm.mpjpe(ours, true, frames, ROOTS, mask),
        "pa_mpjpe_mm": pa_mpjpe,
        # per body point (BODY_POINTS' order), what makes PA-MPJPE: mean and frames counted
        "pa_point_mm": [float(v) for v in 1000 * point_means],
        "pa_point_frames": [int(n) for n in point_counts],
        "accel_error_mm": 1000 * pm.accel_error(ours, true, frames, ROOTS, mask),
        "jerk_mm": 1000 * pm.jerk(pm.root_aligned(ours, ROOTS), frames),
        "truth_jerk_mm": 1000 * pm.jerk(pm.root_aligned(true, ROOTS), frames),
    }
    if placed:
        pelvis = ours[:, list(ROOTS)].mean(axis=1)
        pelvis_true = true[:, list(ROOTS)].mean(axis=1)
        seen = np.asarray(frames, bool)
        error = np.linalg.norm(pelvis - pelvis_true, axis=1)[seen]
        distance = np.linalg.norm(pelvis_true, axis=1)[seen]
        row.update({
            "pelvis_error_m": float(np.median(error)),
            "pelvis_error_share": float(np.median(error / distance)),
            "depth_error_m": float(np.median(np.abs(pelvis[seen, 2] - pelvis_true[seen, 2]))),
            "depth_ratio": float(np.median(pelvis[seen, 2] / pelvis_true[seen, 2])),
            "largest_step_cm": 100 * pm.largest_step(pelvis, seen),
            "truth_largest_step_cm": 100 * pm.largest_step(pelvis_true, seen),
            "pelvis_accel_mm": 1000 * pm.acceleration(pelvis, seen),
            "truth_pelvis_accel_mm": 1000 * pm.acceleration(pelvis_true, seen),
        })
    return row
