"""Frames a tracked person was not seen in (gaps): where each lies between the seen frames
around it, and the interpolations across it of what a gap should not invent.

A track runs from the person's first detection to their last; frames inside it where the
detector missed them are *gaps*. The generative method (``genhmr.generative``) bridges them:
the body's pose is blended in the pose tokenizer's code space between the frames on either side
(its torch half), while the place and the facing are interpolated here, in plain numpy:
positions along the straight line (refinement's smoothness then curves the path) and rotations
turned evenly the short way round.
"""

from __future__ import annotations

import numpy as np

from .rotations import matrix_to_quaternion, quaternion_to_matrix


def span(valid: np.ndarray) -> np.ndarray:
    """(F,) bool: the frames from the first to the last one seen, gaps included."""
    valid = np.asarray(valid, dtype=bool)
    seen = np.flatnonzero(valid)
    out = np.zeros(len(valid), dtype=bool)
    if len(seen):
        out[seen[0]:seen[-1] + 1] = True
    return out


def solved_frames(valid: np.ndarray, method: str) -> np.ndarray:
    """(F,) bool: the frames of a result's person that hold motion to key. The generative
    method bridges the gaps inside a track (``genhmr.generative.bridge_gaps``; joint
    confidence 0 there, so they read as unsure), so its whole span; other methods leave
    placeholders in the frames they did not see, so only those."""
    return span(valid) if method == "generative" else np.asarray(valid, dtype=bool)


def gap_ends(valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every frame: the seen frame at or before it, the seen frame at or after it, and how
    far along from the first to the second it is (0..1). A seen frame is both its own ends
    (weight 0); before the first and after the last seen frame both ends are that frame."""
    valid = np.asarray(valid, dtype=bool)
    seen = np.flatnonzero(valid)
    if len(seen) == 0:
        raise ValueError("no seen frame to interpolate from")
    frames = np.arange(len(valid))
    after = np.clip(np.searchsorted(seen, frames), 0, len(seen) - 1)
    before = np.clip(np.searchsorted(seen, frames, side="right") - 1, 0, len(seen) - 1)
    a, b = seen[before], seen[after]
    weight = np.where(b > a, (frames - a) / np.maximum(b - a, 1), 0.0)
    return a, b, np.clip(weight, 0.0, 1.0)


def nearest_seen(valid: np.ndarray) -> np.ndarray:
    """(F,) for every frame the nearest seen frame (the earlier one on a tie). Through
    :func:`gap_ends`, so O(F log F): the distance matrix of every frame to every seen one took
    0.8 GB for a 10,000-frame track."""
    frames = np.arange(len(valid))
    before, after, _ = gap_ends(valid)
    return np.where(frames - before <= after - frames, before, after)


def interpolate_missed(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``values`` (F, ...) with the frames where ``valid`` is False replaced by the straight
    line between the seen frames on either side (held flat before the first and after the last
    seen frame)."""
    values = np.asarray(values, dtype=np.float64)
    a, b, w = gap_ends(valid)
    w = w.reshape((-1,) + (1,) * (values.ndim - 1))
    return (1 - w) * values[a] + w * values[b]


def interpolate_missed_rotations(rotations: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``rotations`` (F, ..., 3, 3) with the missed frames turned evenly (the short way round,
    normalised quaternion interpolation) from the seen frame before to the seen frame after;
    held before the first and after the last seen frame."""
    rotations = np.asarray(rotations, dtype=np.float64)
    a, b, w = gap_ends(valid)
    qa, qb = matrix_to_quaternion(rotations[a]), matrix_to_quaternion(rotations[b])
    qb = np.where(np.sum(qa * qb, axis=-1, keepdims=True) < 0, -qb, qb)
    w = w.reshape((-1,) + (1,) * (qa.ndim - 1))
    q = (1 - w) * qa + w * qb
    q /= np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    out = quaternion_to_matrix(q)
    return np.where(np.asarray(valid, bool).reshape((-1,) + (1,) * (out.ndim - 1)),
                    rotations, out)
