"""Tracklets: uninterrupted pieces of one person's track, as the online stage links them.

The offline stages (:mod:`genhmr.tracking.stitching`, :mod:`genhmr.tracking.plausibility`) reason
about whole tracklets: where and how fast they end and start, how big the person is, what they
look like, how their body is proportioned. This module gathers those per-tracklet facts once.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from genhmr.detection.mediapipe_detector import torso_score

from .appearance import mean_appearance
from .proportions import median_lengths

# BlazePose shoulders and hips: their visibility is a detection's torso score.
_TORSO = [11, 12, 23, 24]
_FEET = [27, 28, 29, 30, 31, 32]  # ankles, heels, toes
# Standing height over torso length (mid-shoulders to mid-hips), about 0.3 of the height in
# adults; the padded box of a standing person is ~1.2 times the height, so this factor keeps
# the two size measures roughly interchangeable.
TORSO_TO_HEIGHT = 3.6


def standing_heights(landmarks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(...,) a person's size in pixels, as a standing height, from BlazePose landmarks
    (..., 33, 3: pixels and visibility) and boxes (..., 4): ``TORSO_TO_HEIGHT`` times the 2D
    torso length (mid-shoulders to mid-hips) where the torso is seen, else the box height. The
    box changes with the pose (a crouch halves it, a flip turns it sideways); the torso's
    length barely does, so size and speed stay comparable across a jump."""
    lm = np.asarray(landmarks, dtype=np.float64)
    box = np.asarray(boxes, dtype=np.float64)
    shoulders = (lm[..., 11, :2] + lm[..., 12, :2]) / 2
    hips = (lm[..., 23, :2] + lm[..., 24, :2]) / 2
    torso = np.linalg.norm(shoulders - hips, axis=-1)
    seen = (lm[..., _TORSO, 2] >= 0.5).all(axis=-1) & (torso > 1.0)
    return np.where(seen, TORSO_TO_HEIGHT * torso, box[..., 3] - box[..., 1])


def feet_rows(landmarks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(...,) image row of a person's feet: the lowest of the ankles, heels and toes where all
    are confidently seen, else the box's bottom (which carries the detector's padding)."""
    feet = np.asarray(landmarks, dtype=np.float64)[..., _FEET, :]
    seen = (feet[..., 2] >= 0.5).all(axis=-1)
    return np.where(seen, feet[..., 1].max(axis=-1), np.asarray(boxes, np.float64)[..., 3])


@dataclasses.dataclass(eq=False)
class Tracklet:
    """One online tracklet.

    ``frames`` are positions in the job's list of frames (0 .. F-1, increasing); ``members``
    says which detection of that frame each entry is, so results can be written back.
    """

    id: int
    frames: np.ndarray  # (n,) int
    members: np.ndarray  # (n,) int: index of the detection within its frame
    boxes: np.ndarray  # (n, 4) x0, y0, x1, y1 pixels
    landmarks: np.ndarray  # (n, 33, 3) pixels + visibility
    world: np.ndarray  # (n, 33, 3) metres
    appearance: np.ndarray  # (n, D)

    @property
    def start(self) -> int:
        return int(self.frames[0])

    @property
    def end(self) -> int:
        return int(self.frames[-1])

    @property
    def length(self) -> int:
        return len(self.frames)

    @functools.cached_property
    def scores(self) -> np.ndarray:
        """(n,) torso visibility per frame (the detector's own person score)."""
        return torso_score(self.landmarks)

    @functools.cached_property
    def heights(self) -> np.ndarray:
        """(n,) the person's size in pixels, as a standing height (:func:`standing_heights`)."""
        return standing_heights(self.landmarks, self.boxes)

    @functools.cached_property
    def centres(self) -> np.ndarray:
        """(n, 2) box centre in pixels."""
        return (self.boxes[:, :2] + self.boxes[:, 2:]) / 2

    @functools.cached_property
    def feet_y(self) -> np.ndarray:
        """(n,) image row of the person's feet (:func:`feet_rows`)."""
        return feet_rows(self.landmarks, self.boxes)

    @functools.cached_property
    def look(self) -> np.ndarray:
        """Mean appearance descriptor, frames weighted by their score."""
        return mean_appearance(self.appearance, self.scores)

    @functools.cached_property
    def proportions(self) -> np.ndarray:
        """Median segment lengths (see :mod:`genhmr.tracking.proportions`)."""
        return median_lengths(self.world, self.landmarks[..., 2])

    def piece(self, frames: slice, new_id: int) -> Tracklet:
        """The tracklet's ``frames`` (a slice of its own entries) as a tracklet of its own."""
        return Tracklet(id=new_id, frames=self.frames[frames], members=self.members[frames],
                        boxes=self.boxes[frames], landmarks=self.landmarks[frames],
                        world=self.world[frames], appearance=self.appearance[frames])

    def end_state(self, at_start: bool, window: int = 8) -> tuple[np.ndarray, np.ndarray, float]:
        """(centre, velocity in px per frame, height) at the tracklet's start or end, from a
        least-squares line over its first or last ``window`` frames (one frame: no velocity)."""
        sl = slice(0, window) if at_start else slice(-window, None)
        frames = self.frames[sl].astype(np.float64)
        centres = self.centres[sl]
        height = float(np.median(self.heights[sl]))
        if len(frames) < 2 or np.ptp(frames) == 0:
            velocity = np.zeros(2)
        else:
            t = frames - frames.mean()
            velocity = (t[:, None] * (centres - centres.mean(0))).sum(0) / (t**2).sum()
        edge = 0 if at_start else -1
        anchor = centres.mean(0) + velocity * (frames[edge] - frames.mean())
        return anchor, velocity, height


def build_tracklets(ids_per_frame: list[list[int]], boxes: list[np.ndarray],
                    landmarks: list[np.ndarray], world: list[np.ndarray],
                    appearance: list[np.ndarray]) -> list[Tracklet]:
    """Group per-frame detections by tracklet id; lists are per frame, arrays per detection.

    An id seen twice in one frame cannot happen with the online tracker; it is rejected here
    rather than silently merged.
    """
    grouped: dict[int, list[tuple[int, int]]] = {}
    for f, ids in enumerate(ids_per_frame):
        for d, tid in enumerate(ids):
            if tid < 0:
                continue
            members = grouped.setdefault(int(tid), [])
            if members and members[-1][0] == f:
                raise ValueError(f"tracklet {tid} has two detections in frame {f}")
            members.append((f, d))
    out = []
    for tid in sorted(grouped):
        fr = np.array([f for f, _ in grouped[tid]], dtype=np.int64)
        dm = np.array([d for _, d in grouped[tid]], dtype=np.int64)
        out.append(Tracklet(
            id=tid, frames=fr, members=dm,
            boxes=np.stack([boxes[f][d] for f, d in grouped[tid]]).astype(np.float64),
            landmarks=np.stack([landmarks[f][d] for f, d in grouped[tid]]).astype(np.float64),
            world=np.stack([world[f][d] for f, d in grouped[tid]]).astype(np.float64),
            appearance=np.stack([appearance[f][d] for f, d in grouped[tid]]),
        ))
    return out
