"""What a person looks like, as colour statistics of their torso and legs.

Offline stitching needs to tell whether the person who reappears after a gap is the one who
left. Clothing colour is the cheapest strong cue in a single shot (people rarely change
clothes mid-clip) and needs no learned model: a hue-saturation histogram of the torso (the
shoulders-hips quad) and one of the thighs (hips-knees), plus a coarse brightness histogram
for black, white and grey clothing whose hue is meaningless. Regions come from the detector's
landmarks, so background around the person counts little.
"""

from __future__ import annotations

import cv2
import numpy as np

# BlazePose landmark indices.
_TORSO = (11, 12, 23, 24)  # shoulders, hips
_THIGHS = (23, 24, 25, 26)  # hips, knees
HUE_BINS, SAT_BINS, VALUE_BINS = 8, 4, 4
REGION_SIZE = HUE_BINS * SAT_BINS + VALUE_BINS
APPEARANCE_SIZE = 2 * REGION_SIZE
MIN_REGION_PX = 6  # a region narrower or shorter than this says nothing about colours
MIN_VISIBILITY = 0.5


def _region(frame: np.ndarray, landmarks_px: np.ndarray, indices: tuple[int, ...],
            shrink: float) -> np.ndarray | None:
    points = landmarks_px[list(indices)]
    if np.any(points[:, 2] < MIN_VISIBILITY):
        return None
    x0, y0 = points[:, :2].min(axis=0)
    x1, y1 = points[:, :2].max(axis=0)
    dx, dy = (x1 - x0) * shrink, (y1 - y0) * shrink
    height, width = frame.shape[:2]
    left, right = int(max(x0 + dx, 0)), int(min(x1 - dx, width))
    top, bottom = int(max(y0 + dy, 0)), int(min(y1 - dy, height))
    if right - left < MIN_REGION_PX or bottom - top < MIN_REGION_PX:
        return None
    return frame[top:bottom, left:right]


def _histogram(patch_bgr: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(patch_bgr, cv2.COLOR_BGR2HSV)
    hue_sat = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SAT_BINS], [0, 180, 0, 256])
    value = cv2.calcHist([hsv], [2], None, [VALUE_BINS], [0, 256])
    hist = np.concatenate([hue_sat.ravel(), value.ravel()]).astype(np.float32)
    # Hue-saturation and brightness each sum to one: half of the region's mass each.
    hist[:-VALUE_BINS] /= max(float(hist[:-VALUE_BINS].sum()), 1e-9)
    hist[-VALUE_BINS:] /= max(float(hist[-VALUE_BINS:].sum()), 1e-9)
    return hist / 2.0


def describe_appearance(frame_bgr: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray:
    """(APPEARANCE_SIZE,) float32: torso then thigh histograms, each summing to 1, or all
    zeros for a region whose landmarks are not confidently seen (or too small)."""
    out = np.zeros(APPEARANCE_SIZE, np.float32)
    landmarks_px = np.asarray(landmarks_px, dtype=np.float64)
    for slot, (indices, shrink) in enumerate(((_TORSO, 0.15), (_THIGHS, 0.2))):
        patch = _region(frame_bgr, landmarks_px, indices, shrink)
        if patch is not None:
            out[slot * REGION_SIZE:(slot + 1) * REGION_SIZE] = _histogram(patch)
    return out


def mean_appearance(descriptors: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted mean of (N, APPEARANCE_SIZE) descriptors, region by region, ignoring frames
    where a region was not seen; a region never seen stays zero."""
    descriptors = np.asarray(descriptors, dtype=np.float64).reshape(-1, APPEARANCE_SIZE)
    w = np.ones(len(descriptors)) if weights is None else np.asarray(weights, np.float64)
    out = np.zeros(APPEARANCE_SIZE, np.float32)
    for slot in range(2):
        region = descriptors[:, slot * REGION_SIZE:(slot + 1) * REGION_SIZE]
        seen = region.sum(axis=1) > 0.5
        if not np.any(seen) or w[seen].sum() <= 0:
            continue
        mean = (region[seen] * w[seen, None]).sum(0) / w[seen].sum()
        out[slot * REGION_SIZE:(slot + 1) * REGION_SIZE] = mean / mean.sum()
    return out


def hellinger(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hellinger distance (0 same colours .. 1 nothing in common) between histograms that each
    sum to one, over the last axis (any leading axes)."""
    overlap = np.sqrt(np.asarray(p, np.float64) * np.asarray(q, np.float64)).sum(axis=-1)
    return np.sqrt(np.clip(1.0 - overlap, 0.0, None))


def appearance_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    """:func:`hellinger` averaged over the regions seen in both descriptors; ``None`` when no
    region is seen in both."""
    distances = []
    for slot in range(2):
        ra = np.asarray(a[slot * REGION_SIZE:(slot + 1) * REGION_SIZE], np.float64)
        rb = np.asarray(b[slot * REGION_SIZE:(slot + 1) * REGION_SIZE], np.float64)
        if ra.sum() < 0.5 or rb.sum() < 0.5:
            continue
        distances.append(float(hellinger(ra, rb)))
    return float(np.mean(distances)) if distances else None
