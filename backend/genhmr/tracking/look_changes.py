"""Cut a tracklet where the person it follows changes clothes: the online tracker slid onto
someone else.

The online tracker links each frame's poses to the last frame's by place and keypoints. When
two people cross, walk shoulder to shoulder, or one of them leaves the picture next to the
other, the followed pose can slide from one person onto the other and stay there: one tracklet,
two people. Stitching only ever joins whole tracklets, so such a tracklet was a wrong identity
for the rest of its length whatever stitching decided (vtest.avi: a tracklet that is the
person all in black until frame ~352 and the man in the brown jacket after it; with the
truth's own labels joining the tracklets, IDF1 could not get past 0.77).

People do not change clothes mid-clip. So wherever a tracklet's colour statistics
(:mod:`.appearance`) over the second *after* a frame differ from those over the second
*before* it (``min_window_change``, Hellinger, at a local peak), and everything after that
frame still differs from everything before it (``min_lasting_change``: a lasting change, not
glare or someone passing in front for a moment), the tracklet is cut there. Both pieces then go
to stitching like any other tracklets, which joins them again where motion and clothes agree
(a person turning round in the sun, demo.mp4's jumping man: cut, joined again) and to the right
people where they do not. Cuts are made one at a time, the most lasting change first, and each
piece is looked at again.

Pure numpy: windowed means come from cumulative sums, one pass per tracklet.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from .appearance import REGION_SIZE, hellinger
from .tracklets import Tracklet

log = logging.getLogger(__name__)

_REGIONS = 2  # torso, thighs (:func:`.appearance.describe_appearance`)


@dataclasses.dataclass(frozen=True)
class LookChangeConfig:
    """When a tracklet is cut. Chosen on vtest.avi's saved detections over three noise draws
    (docs/detection.md, "A tracklet that changes clothes"): IDF1 0.68 -> 0.73; windows of 0.7
    and 1.5 s gave 0.75 and 0.73, thresholds 0.45 / 0.3 and 0.5 / 0.35 gave 0.70; demo.mp4
    and the four Pose2Sim views scored exactly as before with each."""

    enabled: bool = True
    window_s: float = 1.0  # the before / after windows compared at every frame
    min_window_change: float = 0.4  # Hellinger distance between the two windows' looks
    min_lasting_change: float = 0.3  # ... and between everything before and everything after


def _region_sums(tracklet: Tracklet) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative weighted histogram sums (n + 1, regions, bins) and weights (n + 1, regions):
    each frame weighted by its torso score, a region counted only where it was seen."""
    n = tracklet.length
    hist = np.asarray(tracklet.appearance, np.float64).reshape(n, _REGIONS, REGION_SIZE)
    seen = hist.sum(axis=2) > 0.25  # an unseen region is all zeros
    weight = np.where(seen, np.asarray(tracklet.scores, np.float64)[:, None], 0.0)
    sums = np.zeros((n + 1, _REGIONS, REGION_SIZE))
    weights = np.zeros((n + 1, _REGIONS))
    np.cumsum(hist * weight[..., None], axis=0, out=sums[1:])
    np.cumsum(weight, axis=0, out=weights[1:])
    return sums, weights


def _distance(sums: np.ndarray, weights: np.ndarray, a: np.ndarray, b: np.ndarray,
              c: np.ndarray) -> np.ndarray:
    """Hellinger distance between the mean looks of frames [a, b) and [b, c) (arrays of
    indices), averaged over the regions seen in both; NaN where no region is."""
    first, second = sums[b] - sums[a], sums[c] - sums[b]
    w_first, w_second = weights[b] - weights[a], weights[c] - weights[b]
    both = (w_first > 1e-9) & (w_second > 1e-9)
    p = first / np.maximum(first.sum(axis=-1, keepdims=True), 1e-12)
    q = second / np.maximum(second.sum(axis=-1, keepdims=True), 1e-12)
    counted = both.sum(axis=-1)
    total = np.where(both, hellinger(p, q), 0.0).sum(axis=-1)
    return np.where(counted > 0, total / np.maximum(counted, 1), np.nan)


def look_change_point(tracklet: Tracklet, fps: float,
                      config: LookChangeConfig | None = None) -> int | None:
    """The index (into the tracklet's frames) of its most lasting change of looks, where the
    tracklet should be cut (the second piece starts there); None when there is none."""
    config = config or LookChangeConfig()
    window = max(2, round(config.window_s * fps))
    n = tracklet.length
    if n < 2 * window:
        return None
    sums, weights = _region_sums(tracklet)
    at = np.arange(window, n - window + 1)
    local = _distance(sums, weights, at - window, at, at + window)
    lasting = _distance(sums, weights, np.zeros_like(at), at, np.full_like(at, n))
    best, best_lasting = None, config.min_lasting_change
    for k, i in enumerate(at):
        if not local[k] >= config.min_window_change:
            continue
        around = local[max(0, k - window):k + window + 1]
        if local[k] < np.nanmax(around):
            continue  # not the peak of this change
        if lasting[k] >= best_lasting:
            best, best_lasting = int(i), float(lasting[k])
    return best


def split_at_look_changes(tracklets: list[Tracklet], fps: float,
                          config: LookChangeConfig | None = None) -> list[Tracklet]:
    """Every tracklet cut at each lasting change of looks; the pieces get new ids (after the
    largest given one), a tracklet without a change is returned as it was."""
    config = config or LookChangeConfig()
    if not config.enabled:
        return list(tracklets)
    next_id = max((t.id for t in tracklets), default=-1) + 1
    out: list[Tracklet] = []
    pending = list(tracklets)
    while pending:
        tracklet = pending.pop(0)
        cut = look_change_point(tracklet, fps, config)
        if cut is None:
            out.append(tracklet)
            continue
        log.info("tracklet %d cut at frame %d: its clothes change there", tracklet.id,
                 int(tracklet.frames[cut]))
        pieces = [tracklet.piece(slice(0, cut), next_id),
                  tracklet.piece(slice(cut, None), next_id + 1)]
        next_id += 2
        pending[:0] = pieces
    return sorted(out, key=lambda t: (t.start, t.id))
