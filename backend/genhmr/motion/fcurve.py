"""Evaluate Blender F-curves (keyframes with Bezier handles) outside Blender.

Animation exported from Blender as keyframes (MPFB2's walk cycles, for one) only means what
Blender would play if it is evaluated the way Blender does: each segment between two keys is a
cubic Bezier in (frame, value) whose inner control points are the keys' handles, so the value at
a frame needs the Bezier parameter at which the curve's *frame* coordinate reaches it. A handle
reaching past the other key in time is scaled back to it first, as Blender does (its
``correct_bezpart``). Before the first and after the last key the value is
held (constant extrapolation, Blender's default).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

INTERPOLATIONS = ("BEZIER", "LINEAR", "CONSTANT")


@dataclass(frozen=True)
class Keyframe:
    """One key of one channel: its frame and value, its handles as (frame, value) points, and
    the interpolation of the segment that *starts* at this key."""

    frame: float
    value: float
    handle_left: tuple[float, float]
    handle_right: tuple[float, float]
    interpolation: str = "BEZIER"

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"unsupported keyframe interpolation {self.interpolation!r} "
                             f"(supported: {', '.join(INTERPOLATIONS)})")


def _corrected_handles(k0: Keyframe, k1: Keyframe) -> tuple[np.ndarray, np.ndarray]:
    """The segment's inner control points, each scaled towards its key if it reaches past the
    other key in time (the curve would otherwise run backwards)."""
    p0 = np.array([k0.frame, k0.value])
    p3 = np.array([k1.frame, k1.value])
    h1 = np.array(k0.handle_right, float) - p0
    h2 = np.array(k1.handle_left, float) - p3
    span = p3[0] - p0[0]
    if abs(h1[0]) > span:
        h1 = h1 * (span / abs(h1[0]))
    if abs(h2[0]) > span:
        h2 = h2 * (span / abs(h2[0]))
    return p0 + h1, p3 + h2


def _bezier_segment(k0: Keyframe, k1: Keyframe, frames: np.ndarray) -> np.ndarray:
    p0 = np.array([k0.frame, k0.value])
    p3 = np.array([k1.frame, k1.value])
    p1, p2 = _corrected_handles(k0, k1)

    def coord(s: np.ndarray, i: int) -> np.ndarray:
        u = 1.0 - s
        return u**3 * p0[i] + 3 * u**2 * s * p1[i] + 3 * u * s**2 * p2[i] + s**3 * p3[i]

    low, high = np.zeros_like(frames), np.ones_like(frames)
    for _ in range(48):  # bisection on the frame coordinate, to 2^-48 of the segment
        mid = 0.5 * (low + high)
        before = coord(mid, 0) < frames
        low, high = np.where(before, mid, low), np.where(before, high, mid)
    return coord(0.5 * (low + high), 1)


def evaluate_fcurve(keys: list[Keyframe], frames: np.ndarray) -> np.ndarray:
    """Values of one channel at ``frames`` (any shape, fractional frames allowed)."""
    if not keys:
        raise ValueError("an F-curve needs at least one keyframe")
    keys = sorted(keys, key=lambda k: k.frame)
    t = np.asarray(frames, dtype=np.float64)
    out = np.full(t.shape, keys[0].value)
    out[t >= keys[-1].frame] = keys[-1].value
    for k0, k1 in pairwise(keys):
        inside = (t >= k0.frame) & (t < k1.frame)
        if not inside.any():
            continue
        if k0.interpolation == "CONSTANT":
            out[inside] = k0.value
        elif k0.interpolation == "LINEAR":
            w = (t[inside] - k0.frame) / (k1.frame - k0.frame)
            out[inside] = (1.0 - w) * k0.value + w * k1.value
        else:
            out[inside] = _bezier_segment(k0, k1, t[inside])
    return out
