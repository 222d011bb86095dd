"""How much of joint-angle space a pose set covers, and how many of its poses are distinct.

* **Coverage** per joint: the joint's rotations are binned (15° Euler-angle bins for the hinge
  and spine joints; for the shoulders 15° bins of the arm direction's azimuth and elevation and
  30° twist bins) and counted against the bins a large uniform sample within the joint limits
  reaches. 100 % means the set visits every reachable bin of that joint.
* **Distinct poses**: greedy thinning so that no two kept poses are within 5 cm RMS of each
  other over the 21 body joints' positions (pelvis-relative, global orientation removed, on
  our skeleton). Repeated frames, held poses and tiny variations count once.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .joint_limits import BODY_JOINTS, SHOULDER_LIMITS, sample_poses, swing_twist, to_angles
from .retarget import pose_joint_positions

BIN_DEG = 15.0
TWIST_BIN_DEG = 30.0
DISTINCT_RMS_M = 0.05


def joint_bins(rotations: np.ndarray, joint: str) -> np.ndarray:
    """(N,) integer bin keys of one joint's rotations (N, 3, 3)."""
    if joint in SHOULDER_LIMITS:
        direction, twist = swing_twist(rotations, np.asarray(SHOULDER_LIMITS[joint].axis))
        azimuth = np.degrees(np.arctan2(direction[:, 2], direction[:, 0]))
        elevation = np.degrees(np.arcsin(np.clip(direction[:, 1], -1, 1)))
        cells = np.stack([(azimuth + 180) // BIN_DEG, (elevation + 90) // BIN_DEG,
                          (twist + 180) // TWIST_BIN_DEG], axis=1)
    else:
        cells = (to_angles(rotations, joint) + 180.0) // BIN_DEG
    cells = cells.astype(np.int64)
    return cells[:, 0] * 10_000 + cells[:, 1] * 100 + cells[:, 2]


def reachable_bins(rng: np.random.Generator, samples: int = 200_000) -> dict[str, set[int]]:
    uniform = sample_poses(samples, rng, uniform_fraction=1.0)
    return {j: set(np.unique(joint_bins(uniform[:, k], j)).tolist())
            for k, j in enumerate(BODY_JOINTS)}


def joint_coverage(body_pose: np.ndarray, reachable: dict[str, set[int]]) -> dict[str, float]:
    """Per joint, the fraction of reachable bins visited by ``body_pose`` (N, 21, 3, 3)."""
    out = {}
    for k, joint in enumerate(BODY_JOINTS):
        seen = set(np.unique(joint_bins(body_pose[:, k], joint)).tolist())
        out[joint] = len(seen & reachable[joint]) / max(1, len(reachable[joint]))
    return out


def count_distinct(body_pose: np.ndarray, rest_joints: np.ndarray,
                   rms_m: float = DISTINCT_RMS_M, seed: int = 0) -> int:
    """Number of poses left after greedy thinning at ``rms_m`` RMS joint distance."""
    local = np.concatenate([np.broadcast_to(np.eye(3), (len(body_pose), 1, 3, 3)), body_pose],
                           axis=1)
    pos = pose_joint_positions(local, rest_joints, np.zeros((len(body_pose), 3)))[:, 1:]
    x = pos.reshape(len(pos), -1)
    radius = rms_m * np.sqrt(pos.shape[1])
    tree = cKDTree(x)
    covered = np.zeros(len(x), dtype=bool)
    kept = 0
    for i in np.random.default_rng(seed).permutation(len(x)):
        if covered[i]:
            continue
        kept += 1
        covered[tree.query_ball_point(x[i], radius)] = True
    return kept


def report(sets: dict[str, np.ndarray], rest_joints: np.ndarray, seed: int = 0,
           max_poses: int = 40_000) -> dict[str, dict]:
    """Coverage and distinct-pose counts for named pose sets (each (N, 21, 3, 3)).

    Sets larger than ``max_poses`` are subsampled for the distinct count (reported as such).
    """
    rng = np.random.default_rng(seed)
    reachable = reachable_bins(rng)
    out = {}
    for name, poses in sets.items():
        cov = joint_coverage(poses, reachable)
        sub = poses if len(poses) <= max_poses else poses[
            rng.choice(len(poses), max_poses, replace=False)]
        out[name] = {
            "poses": len(poses),
            "distinct_poses": int(count_distinct(sub, rest_joints, seed=seed)),
            "distinct_counted_on": len(sub),
            "mean_joint_coverage": float(np.mean(list(cov.values()))),
            "joint_coverage": {k: round(v, 4) for k, v in cov.items()},
        }
    return out
