"""Body proportions from the detector's metric 3D landmarks, a cue that survives a change of view.

MediaPipe's world landmarks come out near an average body size, so absolute lengths say little;
the *ratios* between segments (shoulder width, hip width, upper arm, forearm, thigh, shin, torso)
still differ between people a little, and they are wildly off for the false "people" a landmark
model hallucinates on textured background (narrow shoulders, stubby limbs). Left and right are
averaged: the detector swaps them on people seen from behind.
"""

from __future__ import annotations

import numpy as np

# (start, end) landmark pairs per segment; left/right pairs are averaged.
SEGMENTS: dict[str, tuple[tuple[int, int], ...]] = {
    "shoulders": ((11, 12),),
    "hips": ((23, 24),),
    "upper_arm": ((11, 13), (12, 14)),
    "forearm": ((13, 15), (14, 16)),
    "thigh": ((23, 25), (24, 26)),
    "shin": ((25, 27), (26, 28)),
}
NUM_SEGMENTS = len(SEGMENTS) + 1  # + torso (mid-shoulder to mid-hip)
MIN_VISIBILITY = 0.5


def segment_lengths(world: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """(N, NUM_SEGMENTS) metres from world landmarks (N, 33, 3) and 2D visibilities (N, 33);
    NaN where a segment's end points are not confidently seen."""
    world = np.asarray(world, np.float64).reshape(-1, 33, 3)
    vis = np.asarray(visibility, np.float64).reshape(-1, 33)
    out = np.full((len(world), NUM_SEGMENTS), np.nan)
    for column, pairs in enumerate(SEGMENTS.values()):
        lengths = []
        for i, j in pairs:
            length = np.linalg.norm(world[:, i] - world[:, j], axis=1)
            ok = (vis[:, i] >= MIN_VISIBILITY) & (vis[:, j] >= MIN_VISIBILITY)
            lengths.append(np.where(ok, length, np.nan))
        stacked = np.stack(lengths)
        seen = np.isfinite(stacked)
        total = np.where(seen, stacked, 0.0).sum(axis=0)
        count = seen.sum(axis=0)
        out[:, column] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    shoulders = (world[:, 11] + world[:, 12]) / 2
    hips = (world[:, 23] + world[:, 24]) / 2
    torso_ok = (vis[:, [11, 12, 23, 24]] >= MIN_VISIBILITY).all(axis=1)
    out[:, -1] = np.where(torso_ok, np.linalg.norm(shoulders - hips, axis=1), np.nan)
    return out


def median_lengths(world: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """(NUM_SEGMENTS,) median of each segment over the frames that see it (NaN if none)."""
    lengths = segment_lengths(world, visibility)
    out = np.full(NUM_SEGMENTS, np.nan)
    for k in range(NUM_SEGMENTS):
        seen = lengths[:, k][np.isfinite(lengths[:, k])]
        if len(seen):
            out[k] = float(np.median(seen))
    return out


def proportion_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    """Mean absolute log ratio between two persons' median segment lengths, over segments both
    have (0 = same proportions; 0.1 = about 10 % apart); ``None`` with fewer than 3 shared."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    both = np.isfinite(a) & np.isfinite(b) & (a > 1e-3) & (b > 1e-3)
    if both.sum() < 3:
        return None
    ra, rb = a[both] / a[both].sum(), b[both] / b[both].sum()
    return float(np.mean(np.abs(np.log(ra / rb))))
