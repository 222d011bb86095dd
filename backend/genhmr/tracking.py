"""Multi-person tracking: stable person ids across frames.

Each frame's detections are assigned to live tracks with the Hungarian algorithm
(``scipy.optimize.linear_sum_assignment``) on a cost mixing box overlap (IoU) and keypoint
distance. A track that is not seen stays matchable for ``max_gap`` frames, with its box carried
forward at its last velocity, so a person who is briefly occluded or leaves and comes back keeps
their id. Very short tracks (flicker from false detections) are dropped at the end.

Pure numpy/scipy; no torch, no video.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import linear_sum_assignment

from genhmr.boxes import box_iou


def keypoint_distance(a: np.ndarray, b: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Mean distance between confident keypoints of a (N, K, 3) and b (M, K, 3), in units of
    ``scale`` (N,) (the track's box diagonal). Pairs with no shared confident keypoint get 1."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    weight = np.minimum(a[:, None, :, 2], b[None, :, :, 2])  # (N, M, K)
    dist = np.linalg.norm(a[:, None, :, :2] - b[None, :, :, :2], axis=-1)
    total = weight.sum(-1)
    mean = (weight * dist).sum(-1) / np.maximum(total, 1e-9)
    out = mean / np.maximum(np.asarray(scale, dtype=np.float64)[:, None], 1e-9)
    return np.where(total > 1e-6, out, 1.0)


@dataclasses.dataclass
class TrackerConfig:
    max_gap: int = 30  # frames a lost track stays matchable (1 s at 30 fps)
    max_cost: float = 0.9  # assignments costlier than this start a new track instead
    iou_weight: float = 0.5
    keypoint_weight: float = 1.0
    min_track_length: int = 5  # shorter tracks are treated as false detections and dropped
    velocity_decay: float = 0.8  # carried-forward velocity shrinks each missed frame


@dataclasses.dataclass
class _Track:
    track_id: int
    box: np.ndarray
    keypoints: np.ndarray
    velocity: np.ndarray
    last_frame: int
    length: int = 1

    def predicted_box(self, frame: int, decay: float) -> np.ndarray:
        gap = frame - self.last_frame
        shift = self.velocity * sum(decay**i for i in range(gap))
        return self.box + np.concatenate([shift, shift])

    def predicted_keypoints(self, frame: int, decay: float) -> np.ndarray:
        gap = frame - self.last_frame
        out = self.keypoints.copy()
        out[:, :2] += self.velocity * sum(decay**i for i in range(gap))
        return out


class Tracker:
    """Online tracker; feed frames in order with :meth:`update`, then call :meth:`finish`."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._live: list[_Track] = []
        self._next_id = 0
        self._lengths: dict[int, int] = {}

    def update(self, frame: int, boxes: np.ndarray, keypoints: np.ndarray) -> list[int]:
        """Assign the frame's detections (boxes (N, 4), keypoints (N, K, 3)) to raw track ids."""
        cfg = self.config
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        keypoints = np.asarray(keypoints, dtype=np.float64)
        self._live = [t for t in self._live if frame - t.last_frame <= cfg.max_gap]
        ids = [-1] * len(boxes)
        if self._live and len(boxes):
            pred_boxes = np.stack([t.predicted_box(frame, cfg.velocity_decay) for t in self._live])
            pred_kps = np.stack(
                [t.predicted_keypoints(frame, cfg.velocity_decay) for t in self._live])
            diag = np.linalg.norm(pred_boxes[:, 2:] - pred_boxes[:, :2], axis=1)
            cost = (cfg.iou_weight * (1.0 - box_iou(pred_boxes, boxes))
                    + cfg.keypoint_weight * keypoint_distance(pred_kps, keypoints, diag))
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=False):
                if cost[r, c] > cfg.max_cost:
                    continue
                track = self._live[r]
                gap = frame - track.last_frame
                centre_new = (boxes[c, :2] + boxes[c, 2:]) / 2
                centre_old = (track.box[:2] + track.box[2:]) / 2
                track.velocity = (centre_new - centre_old) / gap
                track.box, track.keypoints = boxes[c], keypoints[c]
                track.last_frame = frame
                track.length += 1
                self._lengths[track.track_id] = track.length
                ids[c] = track.track_id
        for c in range(len(boxes)):
            if ids[c] < 0:
                track = _Track(self._next_id, boxes[c], keypoints[c], np.zeros(2), frame)
                self._next_id += 1
                self._live.append(track)
                self._lengths[track.track_id] = 1
                ids[c] = track.track_id
        return ids

    def finish(self) -> dict[int, int]:
        """Map raw track ids to final ids 0..P-1 (in order of first appearance), dropping short
        tracks. Raw ids missing from the map were discarded."""
        kept = [tid for tid in sorted(self._lengths)
                if self._lengths[tid] >= self.config.min_track_length]
        return {tid: i for i, tid in enumerate(kept)}
