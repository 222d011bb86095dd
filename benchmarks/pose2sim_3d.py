"""3D accuracy on real footage: Pose2Sim ``Demo_MultiPerson``, 4 calibrated views, against its
triangulated pseudo-ground truth.

The truth (``benchmarks/truth/pose2sim_multiperson_joints3d.npz``, made by
``tools/build_pose2sim_truth.py``) is each person's 33 BlazePose landmarks triangulated from
the 4 views, in the lab's frame, with each camera's calibration. Per view, each of the
product's tracked people is matched to the truth person whose hips are nearest in the picture,
and every method's keypoints are scored on the 16 body points both share (shoulders, elbows,
wrists, hips, knees, ankles, heels, toes) over the frames where the person was tracked and
triangulated from at least 3 of the 4 views (not interpolated), each point only where the
triangulation fitted it within 5 cm (the truth builder's own threshold). The bystander, at the
edge of two views, is never seen by three, so he is not scored: from two views his truth is
too loose (every method, MediaPipe included, is 21 cm off him after Procrustes).

What the truth flatters: it is triangulated from the same landmark network the product reads
(run on each view), so MediaPipe's own definition of every point (where "the hip" is) and its
systematic errors shared by all views are in the truth; a method that reproduces MediaPipe's
landmarks exactly scores better than it would against motion capture. The truth is lightly
smoothed over time, which flatters no method's acceleration but sets a floor of a few
mm/frame² on it. Its reprojection error is 7-12 px (median per view). Its left and right are
made consistent over time and with the triangulated nose (before 2026-12-03 the man was turned
round, a mirror image, for 14 of the frames of his kick; benchmarks/truth/README.md).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from genhmr.camera import project

from genhmr_core.keypoints import mediapipe_to_keypoints_index

from . import scoring
from .methods import Bodies
from .scoring import HIPS, SHOULDERS

TRUTH = Path(__file__).resolve().parent / "truth" / "pose2sim_multiperson_joints3d.npz"
VIEWS = ("cam01", "cam02", "cam03", "cam04")
TRUSTED_ERROR_M = 0.05  # a truth point fitted worse than this by the triangulation is not scored
MIN_VIEWS = 3  # a truth frame counts when triangulated from this many views


@dataclasses.dataclass
class ViewTruth:
    """One view's truth, indexed by the video's frames (NaN / False outside the truth)."""

    keypoints: np.ndarray  # (F, people, 25, 3) camera frame, metres
    known: np.ndarray  # (F, people) triangulated (not interpolated)
    trusted: np.ndarray  # (F, people, 25) each point triangulated within TRUSTED_ERROR_M
    K: np.ndarray  # (3, 3) the calibrated intrinsics
    names: list[str]  # truth people, short names


def view_truth(view: int, num_frames: int) -> ViewTruth:
    truth = np.load(TRUTH, allow_pickle=False)
    rotation = truth["R"][view].astype(np.float64)
    joints = truth["joints3d"][:, :, mediapipe_to_keypoints_index()].astype(np.float64)
    joints = joints @ rotation.T + truth["t"][view].astype(np.float64)
    people = joints.shape[1]
    keypoints = np.full((num_frames, people, joints.shape[2], 3), np.nan)
    known = np.zeros((num_frames, people), bool)
    trusted = np.zeros(keypoints.shape[:3], bool)
    rows = np.arange(num_frames) - int(truth["offsets"][view])
    inside = (rows >= 0) & (rows < len(joints))
    keypoints[inside] = joints[rows[inside]]
    sure = (truth["triangulated"] & ~truth["interpolated"]
            & (truth["views_used"].sum(axis=-1) >= MIN_VIEWS))
    known[inside] = sure[rows[inside]]
    error = truth["joint_error_m"][:, :, mediapipe_to_keypoints_index()]
    trusted[inside] = known[inside][..., None] & (error[rows[inside]] <= TRUSTED_ERROR_M)
    names = [str(d).split(" (")[0] for d in truth["person_descriptions"]]
    return ViewTruth(keypoints=keypoints, known=known, trusted=trusted,
                     K=truth["K"][view].astype(np.float64), names=names)


def match_people(bodies: Bodies, truth: ViewTruth) -> dict[int, int]:
    """Tracked person -> the truth person whose mid-hip is nearest in the picture (median over
    the frames both are seen, at least 10), if within half their torso's length there: a
    track of someone the truth does not score (the bystander) matches nobody."""
    hips = truth.keypoints[:, :, list(HIPS)].mean(axis=2)  # (F, people, 3)
    shoulders = truth.keypoints[:, :, list(SHOULDERS)].mean(axis=2)
    hips_px = project(hips, truth.K)
    torso_px = np.linalg.norm(project(shoulders, truth.K) - hips_px, axis=-1)
    out = {}
    for p in range(bodies.valid.shape[0]):
        distances = []
        for q in range(hips.shape[1]):
            both = bodies.valid[p] & truth.known[:, q]
            apart = np.median(np.linalg.norm(bodies.hips_px[p, both] - hips_px[both, q], axis=1)
                              ) if both.sum() >= 10 else np.inf
            near = apart <= 0.5 * np.median(torso_px[both, q]) if both.any() else False
            distances.append(apart if near else np.inf)
        if np.isfinite(min(distances)):
            out[p] = int(np.argmin(distances))
    return out


def score(bodies: Bodies, person: int, truth: ViewTruth, who: int) -> dict[str, Any]:
    """One method on one tracked person against their truth."""
    return scoring.score(bodies.keypoints[person], truth.keypoints[:, who],
                         bodies.valid[person] & truth.known[:, who], truth.trusted[:, who],
                         bodies.placed)


def view_rows(view: int, methods: dict[str, Bodies]) -> list[dict[str, Any]]:
    """Every (tracked person, method) of one view, scored."""
    num_frames = next(iter(methods.values())).valid.shape[1]
    truth = view_truth(view, num_frames)
    rows = []
    for method, bodies in methods.items():
        for person, who in match_people(bodies, truth).items():
            rows.append({"view": VIEWS[view], "method": method, "track": person,
                         "person": truth.names[who], **score(bodies, person, truth, who)})
    return rows


def pelvis_depth_series(view: int, methods: dict[str, Bodies], person_name: str
                        ) -> dict[str, np.ndarray]:
    """For a plot: the named truth person's pelvis depth (m) per frame, truth and each placed
    method (NaN where unseen)."""
    num_frames = next(iter(methods.values())).valid.shape[1]
    truth = view_truth(view, num_frames)
    who = truth.names.index(person_name)
    hips = list(HIPS)
    out = {"truth": np.where(truth.known[:, who],
                             truth.keypoints[:, who][:, hips, 2].mean(axis=1), np.nan)}
    for method, bodies in methods.items():
        if not bodies.placed:
            continue
        series = np.full(num_frames, np.nan)
        for person, matched in match_people(bodies, truth).items():
            if matched == who:
                seen = bodies.valid[person]
                series[seen] = bodies.keypoints[person][seen][:, hips, 2].mean(axis=1)
        out[method] = series
    return out
