"""Multi-person tracking: one stable identity per person over the whole clip, no ghosts.

Four stages (each its own module):

1. :mod:`.online` - frame-to-frame association with norfair (Kalman-predicted keypoints and
   boxes; among the matches those allow, clothes nearer the person's running look win),
   giving short, reliable *tracklets*;
2. :mod:`.plausibility` - tracklets that are not people (low confidence, collapsed bodies,
   shadows of a real person) are dropped;
3. :mod:`.look_changes` - a tracklet whose clothes change for good (the tracker slid from one
   person onto another) is cut there, so stitching can give each piece to its own person;
4. :mod:`.stitching` - tracklets of one person are joined across gaps of up to 20 s using
   motion continuity, size (against the clip's ground where one explains the sizes,
   :mod:`.ground_sizes`), appearance (:mod:`.appearance`) and body proportions
   (:mod:`.proportions`), the cheapest set of links winning; people seen too briefly are
   dropped last.

:func:`track_people` runs them over a clip's per-frame detections. No torch, no video.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from genhmr_core.keypoints import mediapipe_to_keypoints_index

from .appearance import APPEARANCE_SIZE, describe_appearance
from .look_changes import LookChangeConfig, split_at_look_changes
from .online import OnlineConfig, OnlineTracker, keypoint_distance
from .plausibility import PlausibilityConfig, long_enough, reject_ghost_tracklets
from .stitching import LinkCost, StitchingConfig, link_cost, stitch
from .tracklets import Tracklet, build_tracklets

__all__ = [
    "APPEARANCE_SIZE",
    "FrameDetections",
    "LinkCost",
    "LookChangeConfig",
    "OnlineConfig",
    "OnlineTracker",
    "PlausibilityConfig",
    "StitchingConfig",
    "TrackingConfig",
    "Tracklet",
    "build_tracklets",
    "describe_appearance",
    "keypoint_distance",
    "link_cost",
    "stitch",
    "track_people",
]


@dataclasses.dataclass
class FrameDetections:
    """One job frame: its video index, the detector's people and their appearance."""

    frame: int
    people: list[Any]  # genhmr.detection.PersonDetection (landmarks_px, world_landmarks, box)
    appearance: list[np.ndarray]  # (APPEARANCE_SIZE,) per person


@dataclasses.dataclass
class TrackingConfig:
    online: OnlineConfig = dataclasses.field(default_factory=OnlineConfig)
    plausibility: PlausibilityConfig = dataclasses.field(default_factory=PlausibilityConfig)
    look_changes: LookChangeConfig = dataclasses.field(default_factory=LookChangeConfig)
    stitching: StitchingConfig = dataclasses.field(default_factory=StitchingConfig)
    stitch: bool = True  # off: every plausible tracklet is its own person (for comparisons)


def track_people(per_frame: list[FrameDetections], config: TrackingConfig | None = None,
                 fps: float = 30.0) -> tuple[list[list[int]], int]:
    """Person index of every detection (-1: dropped) and the number of people.

    People are numbered in order of first appearance.
    """
    config = config or TrackingConfig()
    mp_index = mediapipe_to_keypoints_index()
    online = OnlineTracker(config.online)
    ids: list[list[int]] = []
    for position, frame in enumerate(per_frame):
        if frame.people:
            boxes = np.stack([p.box for p in frame.people])
            keypoints = np.stack([p.landmarks_px[mp_index] for p in frame.people])
            ids.append(online.update(position, boxes, keypoints, frame.appearance))
        else:
            ids.append([])
    tracklets = build_tracklets(
        ids,
        [[p.box for p in f.people] for f in per_frame],
        [[p.landmarks_px for p in f.people] for f in per_frame],
        [[p.world_landmarks for p in f.people] for f in per_frame],
        [f.appearance for f in per_frame],
    )
    tracklets = reject_ghost_tracklets(tracklets, config.plausibility)
    if config.stitch:
        tracklets = split_at_look_changes(tracklets, fps, config.look_changes)
        chains = stitch(tracklets, fps, config.stitching)
    else:
        chains = [[t] for t in sorted(tracklets, key=lambda t: t.start)]
    people = [c for c in chains
              if long_enough(c, fps, config.plausibility, num_frames=len(per_frame))]
    assignment = [[-1] * len(f.people) for f in per_frame]
    for person, chain in enumerate(people):
        for t in chain:
            for position, member in zip(t.frames.tolist(), t.members.tolist(), strict=True):
                assignment[position][member] = person
    return assignment, len(people)
