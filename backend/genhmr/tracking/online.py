"""Online association: each frame's people linked to the previous frames' tracklets (norfair).

Norfair (BSD-3) keeps a Kalman filter per tracked person over all its points, predicts where
each point should be in the next frame, matches detections to predictions under a distance
threshold and ages out tracks that stop being matched. We give it, per person, the 17 COCO
keypoints (with their confidences, so joints the detector does not see neither update nor
count) plus the two box corners, and a distance that mixes box overlap with keypoint distance
in units of the person's size: boxes alone cannot tell two crossing people apart, keypoints
alone say little about a person seen from the back.

This stage is deliberately short-sighted (a lost person's track ends after ``max_gap`` frames):
joining the tracklets of one person across longer gaps is done offline, with the whole clip
known, by :mod:`genhmr.tracking.stitching`.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from genhmr.boxes import box_iou


def keypoint_distance(a: np.ndarray, b: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Mean distance between confident keypoints of a (N, K, 3) and b (M, K, 3), in units of
    ``scale`` (N,) (e.g. the track's box diagonal). Pairs with no shared confident keypoint
    get 1."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    weight = np.minimum(a[:, None, :, 2], b[None, :, :, 2])  # (N, M, K)
    dist = np.linalg.norm(a[:, None, :, :2] - b[None, :, :, :2], axis=-1)
    total = weight.sum(-1)
    mean = (weight * dist).sum(-1) / np.maximum(total, 1e-9)
    out = mean / np.maximum(np.asarray(scale, dtype=np.float64)[:, None], 1e-9)
    return np.where(total > 1e-6, out, 1.0)


class _DropMessage(logging.Filter):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


@dataclasses.dataclass
class OnlineConfig:
    """Frame-to-frame association; see the module docstring."""

    max_cost: float = 0.9  # costlier matches start a new tracklet instead
    iou_weight: float = 0.5
    keypoint_weight: float = 1.0
    max_gap: int = 10  # frames an unmatched tracklet keeps being predicted and matchable
    keypoint_threshold: float = 0.3  # keypoints below this confidence do not update the filter


class OnlineTracker:
    """Feed frames in order with :meth:`update`; each detection gets a tracklet id.

    Tracklet ids are unique for the whole run and never reused, so the offline stage can treat
    each id as one uninterrupted piece of one person's track.
    """

    def __init__(self, config: OnlineConfig | None = None) -> None:
        from norfair import Tracker  # imported here: importing genhmr.tracking stays cheap

        self.config = config or OnlineConfig()
        # norfair warns (on the root logger) that scalar distances are slower than vectorised
        # ones; with a handful of people per frame that is microseconds, and ours needs the
        # keypoint confidences, which its vectorised distances ignore.
        quiet = _DropMessage("scalar distance function")
        logging.getLogger().addFilter(quiet)
        try:
            self._tracker = Tracker(
                distance_function=self._distance,
                distance_threshold=self.config.max_cost,
                hit_counter_max=self.config.max_gap,
                initialization_delay=0,  # every detection starts a tracklet; ghosts go later
                detection_threshold=self.config.keypoint_threshold,
                past_detections_length=0,
            )
        finally:
            logging.getLogger().removeFilter(quiet)
        self._last_frame: int | None = None

    def _distance(self, detection: object, tracked: object) -> float:
        cfg = self.config
        det_points = detection.points  # type: ignore[attr-defined]
        det_scores = detection.scores  # type: ignore[attr-defined]
        estimate = tracked.estimate  # type: ignore[attr-defined]
        last_scores = tracked.last_detection.scores  # type: ignore[attr-defined]
        pred_box = estimate[-2:].reshape(1, 4)
        det_box = det_points[-2:].reshape(1, 4)
        iou = float(box_iou(pred_box, det_box)[0, 0])
        diag = float(np.linalg.norm(pred_box[0, 2:] - pred_box[0, :2]))
        pred_kp = np.concatenate([estimate[:-2], last_scores[:-2, None]], axis=1)
        det_kp = np.concatenate([det_points[:-2], det_scores[:-2, None]], axis=1)
        kp = float(keypoint_distance(pred_kp[None], det_kp[None], np.array([diag]))[0, 0])
        return cfg.iou_weight * (1.0 - iou) + cfg.keypoint_weight * kp

    def update(self, frame: int, boxes: np.ndarray, keypoints: np.ndarray) -> list[int]:
        """Tracklet ids for the frame's detections (boxes (N, 4), keypoints (N, K, 3))."""
        from norfair import Detection

        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        keypoints = np.asarray(keypoints, dtype=np.float64)
        period = 1 if self._last_frame is None else max(frame - self._last_frame, 1)
        self._last_frame = frame
        detections = []
        for i, (box, kp) in enumerate(zip(boxes, keypoints, strict=True)):
            points = np.concatenate([kp[:, :2], box.reshape(2, 2)])
            scores = np.concatenate([np.clip(kp[:, 2], 0.0, 1.0), [1.0, 1.0]])
            detections.append(Detection(points=points, scores=scores, data=i))
        self._tracker.update(detections, period=period)
        ids = [-1] * len(detections)
        for tracked in self._tracker.tracked_objects:
            detection = tracked.last_detection
            if any(detection is d for d in detections):
                ids[detection.data] = int(tracked.initializing_id)
        return ids
