"""Where the solve is unsure: per-frame confidence summaries, stretches and display colours.

The result holds a confidence per joint and frame (``joint_confidence``: how well the detector
saw the joint's keypoints, times how much the generative samples agreed). The add-on keys it
on each rig, colours the bones by it at the current frame and marks the timeline where a
person's mean over the animated joints drops below a threshold, so the artist knows where to
look (and, later, what to re-run).
"""

from __future__ import annotations

import numpy as np

from . import skeleton

# The joints the rig animates: the pelvis and the 21 body joints.
POSED_JOINTS = np.arange(1 + skeleton.NUM_BODY_JOINTS)
DEFAULT_THRESHOLD = 0.5
_SURE = np.array([0.15, 0.85, 0.25])
_HALF = np.array([0.95, 0.8, 0.15])
_UNSURE = np.array([0.9, 0.15, 0.1])


def frame_confidence(joint_confidence: np.ndarray) -> np.ndarray:
    """A person's confidence per frame (F,): the mean over the animated joints."""
    return np.asarray(joint_confidence, dtype=np.float64)[..., POSED_JOINTS].mean(-1)


def unsure_stretches(confidence: np.ndarray, valid: np.ndarray, threshold: float,
                     bridge: int = 2) -> list[tuple[int, int]]:
    """(first, last) indices of the stretches where a solved person's confidence is below
    ``threshold``; stretches split by at most ``bridge`` confident frames are one (a marker
    per flicker would bury the timeline). Unsolved frames are not "unsure": they have no pose.
    """
    low = (np.asarray(confidence) < threshold) & np.asarray(valid, dtype=bool)
    out: list[tuple[int, int]] = []
    for f in np.flatnonzero(low):
        if out and f - out[-1][1] <= bridge + 1:
            out[-1] = (out[-1][0], int(f))
        else:
            out.append((int(f), int(f)))
    return out


def bone_colour(confidence: float | np.ndarray, threshold: float = DEFAULT_THRESHOLD
                ) -> np.ndarray:
    """RGB (..., 3) for a confidence: red at or below half the threshold, yellow at the
    threshold, green from twice the threshold (or 1) up."""
    c = np.asarray(confidence, dtype=np.float64)[..., None]
    t = max(float(threshold), 1e-6)
    top = min(2.0 * t, 1.0)
    low = np.clip((c - 0.5 * t) / (0.5 * t), 0.0, 1.0)  # red -> yellow
    high = np.clip((c - t) / max(top - t, 1e-6), 0.0, 1.0)  # yellow -> green
    return np.where(c <= t, _UNSURE + low * (_HALF - _UNSURE), _HALF + high * (_SURE - _HALF))
