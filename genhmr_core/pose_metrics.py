"""Accuracy and smoothness of 3D motion against a reference: plain numpy, for benchmarks.

Every function takes joint positions ``(F, J, 3)`` in metres over F frames, and a ``valid``
mask ``(F,)`` of the frames that count (the person seen and the truth known). Metrics that
look at motion over time (acceleration, jerk, steps) only use runs of *consecutive* valid
frames, so a gap in the track is never read as one very fast movement.

Conventions follow the human-mesh-recovery literature, so numbers compare with published ones:

- MPJPE: mean joint distance after aligning the roots (the mid-hip);
- PA-MPJPE: after a per-frame similarity (rotation, scale, translation) by Procrustes;
- acceleration error: mean norm of the difference of second differences of root-aligned
  joints (per frame squared, so it depends on the frame rate);
- jerk (the "jitter" of motion papers): mean norm of third differences, here of root-aligned
  joints, per frame cubed.
"""

from __future__ import annotations

import numpy as np


def runs(valid: np.ndarray, min_length: int = 1) -> list[slice]:
    """Slices of the runs of consecutive True frames at least ``min_length`` long."""
    valid = np.asarray(valid, dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    return [slice(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)
            if b - a >= min_length]


def root_aligned(points: np.ndarray, roots: list[int] | tuple[int, ...]) -> np.ndarray:
    """``points`` (F, J, 3) minus the mean of the ``roots`` joints in each frame."""
    points = np.asarray(points, dtype=np.float64)
    return points - points[:, list(roots)].mean(axis=1, keepdims=True)


def procrustes(pred: np.ndarray, target: np.ndarray,
               weights: np.ndarray | None = None) -> np.ndarray:
    """``pred`` (F, J, 3) moved onto ``target`` by the best similarity in each frame (Umeyama:
    rotation without reflection, uniform scale, translation), fitted to the joints in
    proportion to ``weights`` (F, J) (all equal by default; a frame needs 3 joints weighted)."""
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    w = np.ones(pred.shape[:2]) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    mu_p = (w[..., None] * pred).sum(axis=1, keepdims=True)
    mu_t = (w[..., None] * target).sum(axis=1, keepdims=True)
    p, t = pred - mu_p, target - mu_t
    cov = np.einsum("fj,fji,fjk->fik", w, t, p)  # (F, 3, 3) target x pred
    u, s, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u @ vt))
    d = np.ones((len(pred), 3))
    d[:, 2] = sign
    rotation = u @ (d[:, :, None] * vt)
    variance = (w[..., None] * p ** 2).sum(axis=(1, 2))
    scale = (s * d).sum(axis=1) / np.maximum(variance, 1e-12)
    return scale[:, None, None] * np.einsum("fik,fjk->fji", rotation, p) + mu_t


def _joint_mask(valid: np.ndarray, mask: np.ndarray | None, joints: int) -> np.ndarray:
    """(F, J) the (frame, joint) entries that count: valid frames, and ``mask`` when given."""
    out = np.repeat(np.asarray(valid, dtype=bool)[:, None], joints, axis=1)
    return out if mask is None else out & np.asarray(mask, dtype=bool)


def mpjpe(pred: np.ndarray, target: np.ndarray, valid: np.ndarray,
          roots: list[int] | tuple[int, ...], mask: np.ndarray | None = None) -> float:
    """Mean joint distance (m) after aligning the ``roots`` joints' mean, over valid frames
    and, given ``mask`` (F, J), only the joints it marks (e.g. where the truth is sure)."""
    use = _joint_mask(valid, mask, np.shape(pred)[1])
    if not use.any():
        return float("nan")
    error = np.linalg.norm(root_aligned(pred, roots) - root_aligned(target, roots), axis=-1)
    return float(error[use].mean())


def pa_mpjpe(pred: np.ndarray, target: np.ndarray, valid: np.ndarray,
             mask: np.ndarray | None = None) -> float:
    """Mean joint distance (m) after a per-frame Procrustes similarity fitted to the joints
    that count (valid frames; ``mask`` (F, J) when given), over those joints."""
    return pooled_error(*pa_joint_errors(pred, target, valid, mask))


def pooled_error(means: np.ndarray, counts: np.ndarray) -> float:
    """The mean over every counted (frame, joint) of per-joint means and their counts, as
    :func:`pa_joint_errors` gives them (NaN when nothing counts): a caller that wants both the
    per-joint table and the whole-body number fits the Procrustes once."""
    counts = np.asarray(counts)
    if not counts.any():
        return float("nan")
    return float((np.nan_to_num(means) * counts).sum() / counts.sum())


def pa_joint_errors(pred: np.ndarray, target: np.ndarray, valid: np.ndarray,
                    mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pa_mpjpe` joint by joint: each joint's mean distance (m; NaN where it never
    counts) after the same per-frame Procrustes, and how many frames it counted in, both (J,).
    Where a whole-body mean hides it, this shows which joints an error sits in (a knee bent by
    foot locking, a wrist put in front of the body instead of behind it)."""
    joints = np.shape(pred)[1]
    use = _joint_mask(valid, mask, joints)
    frames = use.sum(axis=1) >= 3
    counts = use[frames].sum(axis=0)
    if not frames.any():
        return np.full(joints, np.nan), counts
    target = np.asarray(target, dtype=np.float64)[frames]
    aligned = procrustes(np.asarray(pred)[frames], target, use[frames])
    error = np.where(use[frames], np.linalg.norm(aligned - target, axis=-1), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, error.sum(axis=0) / counts, np.nan), counts


def _differences(points: np.ndarray, valid: np.ndarray, order: int) -> np.ndarray:
    """``order``-th differences along frames inside runs of consecutive valid frames,
    concatenated: (N, ...) with N the number of complete stencils."""
    points = np.asarray(points, dtype=np.float64)
    parts = [np.diff(points[run], n=order, axis=0) for run in runs(valid, order + 1)]
    if not parts:
        return np.zeros((0,) + points.shape[1:])
    return np.concatenate(parts)


def accel_error(pred: np.ndarray, target: np.ndarray, valid: np.ndarray,
                roots: list[int] | tuple[int, ...], mask: np.ndarray | None = None) -> float:
    """Mean norm (m/frame²) of the difference of root-aligned joints' second differences, over
    stencils of three consecutive valid frames (and, given ``mask`` (F, J), a joint only
    where it counts in all three)."""
    use = _joint_mask(valid, mask, np.shape(pred)[1]).astype(np.float64)
    diff = _differences(root_aligned(pred, roots) - root_aligned(target, roots), valid, 2)
    counted = _stencil_all(use, valid, 3)
    if not counted.any():
        return float("nan")
    return float(np.linalg.norm(diff, axis=-1)[counted].mean())


def _stencil_all(use: np.ndarray, valid: np.ndarray, width: int) -> np.ndarray:
    """(N, J) for each stencil of ``width`` consecutive valid frames (as ``_differences``
    orders them), whether ``use`` holds in all of its frames."""
    parts = [np.stack([use[run][k:len(use[run]) - width + 1 + k] for k in range(width)]).min(0)
             for run in runs(valid, width)]
    if not parts:
        return np.zeros((0, use.shape[1]), bool)
    return np.concatenate(parts) > 0


def acceleration(points: np.ndarray, valid: np.ndarray) -> float:
    """Mean norm (m/frame²) of the second differences of ``points`` (F, ..., 3)."""
    diff = _differences(points, valid, 2)
    return float(np.linalg.norm(diff, axis=-1).mean()) if len(diff) else float("nan")


def jerk(points: np.ndarray, valid: np.ndarray) -> float:
    """Mean norm (m/frame³) of the third differences of ``points`` (F, ..., 3): what motion
    papers call jitter. Pass root-aligned joints for the body's own shaking, a root path for
    the whole body's."""
    diff = _differences(points, valid, 3)
    return float(np.linalg.norm(diff, axis=-1).mean()) if len(diff) else float("nan")


def largest_step(path: np.ndarray, valid: np.ndarray) -> float:
    """The largest distance (m) a point ``path`` (F, 3) moves between consecutive valid
    frames; NaN without two consecutive valid frames."""
    steps = _differences(path, valid, 1)
    return float(np.linalg.norm(steps, axis=-1).max()) if len(steps) else float("nan")


def facing_yaw(left_hip: np.ndarray, right_hip: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(F,) the direction the hips face, as an angle (radians) about ``up``: the right-to-left
    hip line turned a quarter about ``up``, projected on the plane across it."""
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    across = np.asarray(left_hip, dtype=np.float64) - np.asarray(right_hip, dtype=np.float64)
    forward = np.cross(across, up)
    # two fixed axes on the plane across ``up``
    helper = np.array([1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    e1 = helper - up * (helper @ up)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    return np.arctan2(forward @ e2, forward @ e1)


def facing_flips(yaw: np.ndarray, valid: np.ndarray, threshold_deg: float = 90.0) -> int:
    """How many times the facing direction turns more than ``threshold_deg`` from one frame to
    the next (consecutive valid frames): a body cannot turn that far in a frame, so each one is
    a flip of the estimate (front/back or left/right confused)."""
    turns = _differences(np.asarray(yaw, dtype=np.float64), valid, 1)
    wrapped = np.abs((turns + np.pi) % (2 * np.pi) - np.pi)
    return int((wrapped > np.radians(threshold_deg)).sum())
