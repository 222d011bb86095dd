"""Ghost rejection: drop tracks that are not people, or that duplicate a person.

A landmark model asked "where is the body in this crop?" answers even when there is none: on
tree tops, floor objects, a jacket on the grass. Those answers have tell-tale signs, checked
per tracklet (before stitching, so a ghost cannot hijack a real person's link) and per person
(after stitching):

* **low confidence**: the median torso visibility the detector itself reports;
* **implausible body**: the median 3D shoulder width of MediaPipe's world landmarks (which
  come out near an average body's size: 0.24-0.34 m on the people of our sample clips, 0.10-
  0.19 m on the false poses) - a collapsed, stick-like pose;
* **a shadow of someone else**: a tracklet whose box lies inside another, more confident
  tracklet's box in most of its frames (a phantom pose over a real person, or a body part
  taken for a small person);
* **too short**: a person seen for less than ``min_duration_s`` (and ``min_frames``) in total
  is flicker, not somebody an artist wants a rig for (0.5 s; 0.7 s would remove vtest.avi's
  one remaining false track, but also the man of Pose2Sim cam03, seen for 0.67 s before he
  walks behind the woman).

Each rejection is logged with its reason (``genhmr.tracking.plausibility`` at INFO).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from genhmr.boxes import box_area, box_intersection

from .tracklets import Tracklet

log = logging.getLogger(__name__)


@dataclasses.dataclass
class PlausibilityConfig:
    min_median_score: float = 0.5  # torso visibility
    min_shoulder_width_m: float = 0.18  # median world-landmark shoulder width
    shadow_containment: float = 0.8  # box share inside the other's box to count a frame
    shadow_fraction: float = 0.6  # share of a tracklet's frames in the other's shadow
    min_duration_s: float = 0.5
    min_frames: int = 5


def _shoulder_width(t: Tracklet) -> float:
    seen = (t.landmarks[:, 11, 2] >= 0.5) & (t.landmarks[:, 12, 2] >= 0.5)
    if not np.any(seen):
        return float("nan")
    widths = np.linalg.norm(t.world[seen, 11] - t.world[seen, 12], axis=1)
    return float(np.median(widths))


def implausible_reason(t: Tracklet, config: PlausibilityConfig) -> str | None:
    """Why tracklet ``t`` alone is not a person, or ``None``."""
    score = float(np.median(t.scores))
    if score < config.min_median_score:
        return f"median torso visibility {score:.2f} < {config.min_median_score}"
    width = _shoulder_width(t)
    if np.isfinite(width) and width < config.min_shoulder_width_m:
        return f"median shoulder width {width:.2f} m < {config.min_shoulder_width_m} m"
    return None


def shadow_of(t: Tracklet, others: list[Tracklet], config: PlausibilityConfig) -> int | None:
    """The id of a more confident tracklet that ``t`` shadows (see the module docstring)."""
    for other in others:
        if other is t or other.end < t.start or other.start > t.end:
            continue
        common, ti, oi = np.intersect1d(t.frames, other.frames, return_indices=True)
        if len(common) < config.shadow_fraction * t.length:
            continue
        if np.median(other.scores[oi]) < np.median(t.scores[ti]):
            continue
        inter = np.array([box_intersection(t.boxes[i], other.boxes[j])[0, 0]
                          for i, j in zip(ti, oi, strict=True)])
        inside = inter / np.maximum(box_area(t.boxes[ti]), 1e-9)
        if (inside >= config.shadow_containment).sum() >= config.shadow_fraction * t.length:
            return other.id
    return None


def reject_ghost_tracklets(tracklets: list[Tracklet],
                           config: PlausibilityConfig) -> list[Tracklet]:
    """The tracklets that may be people (implausible ones and shadows removed)."""
    plausible = []
    for t in tracklets:
        reason = implausible_reason(t, config)
        if reason is None:
            plausible.append(t)
        else:
            log.info("dropped tracklet %d (frames %d-%d): %s", t.id, t.start, t.end, reason)
    kept = []
    for t in plausible:
        owner = shadow_of(t, plausible, config)
        if owner is None:
            kept.append(t)
        else:
            log.info("dropped tracklet %d (frames %d-%d): inside tracklet %d", t.id, t.start,
                     t.end, owner)
    return kept


def long_enough(chain: list[Tracklet], fps: float, config: PlausibilityConfig,
                num_frames: int | None = None) -> bool:
    """Whether a stitched person is seen long enough to be kept. In a clip shorter than that
    (``num_frames``; a still image is one frame), more than half of its frames is enough."""
    seen = sum(t.length for t in chain)
    needed = max(config.min_frames, round(config.min_duration_s * fps))
    if num_frames is not None:
        needed = min(needed, num_frames // 2 + 1)
    if seen < needed:
        log.info("dropped person of tracklets %s: seen in %d frames < %d",
                 [t.id for t in chain], seen, needed)
        return False
    return True
