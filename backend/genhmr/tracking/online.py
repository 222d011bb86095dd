"""Online association: each frame's people linked to the previous frames' tracklets (norfair).

Norfair (BSD-3) keeps a Kalman filter per tracked person over all its points, predicts where
each point should be in the next frame, matches detections to predictions under a distance
threshold and ages out tracks that stop being matched. We give it, per person, the 17 COCO
keypoints (with their confidences, so joints the detector does not see neither update nor
count) plus the two box corners, and a distance that mixes box overlap with keypoint distance
in units of the person's size: boxes alone cannot tell two crossing people apart, keypoints
alone say little about a person seen from the back. Where the detections come with colour
statistics (:mod:`.appearance`), the distance between a detection's and the tracked person's
running look (a per-frame moving average) counts too, as DeepSORT's appearance term does: two
people walking shoulder to shoulder, or one passing the other at 10 fps, are close in place and
pose, and without it the tracker follows whichever pose is nearer, sliding onto the other
person (vtest.avi: docs/detection.md, "Clothes in the online tracker, and the cheapest
links"). The clothes only rank the matches that place and pose allow; they never refuse one.

This stage is deliberately short-sighted (a lost person's track ends after ``max_gap`` frames):
joining the tracklets of one person across longer gaps is done offline, with the whole clip
known, by :mod:`genhmr.tracking.stitching`.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from genhmr.boxes import box_iou

from .appearance import appearance_distance, mean_appearance


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
    # Hellinger distance to the running look (0..1), times this, is added to the cost of a
    # match that place and pose allow (cost <= max_cost): the clothes rank the candidates, they
    # never refuse one alone, so a person whose colours change (turning round, a sign in front,
    # cut by the picture's edge) is not broken into pieces. vtest.avi over 19 runs (with
    # stitching's priced "no link"): 0 / 0.5 / 1.0 / 1.5 / 2.0 gave IDF1 0.80 / 0.82 / 0.84 /
    # 0.84 / 0.84. Added to the cost alone, the threshold unchanged (so the clothes could
    # refuse a match), 1.0 gave 0.84 but 1.5 0.75: switches 7 -> 16, a person's own changing
    # colours broke their tracklets.
    appearance_weight: float = 1.0
    # The running look keeps this share of itself per frame (0.8 / 0.9 / 0.95: 0.84 each).
    appearance_memory: float = 0.9


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
                # place and pose alone decide whether a detection may continue a person;
                # the clothes' term (at most appearance_weight) only ranks the allowed ones
                distance_threshold=self.config.max_cost + self.config.appearance_weight,
                hit_counter_max=self.config.max_gap,
                initialization_delay=0,  # every detection starts a tracklet; ghosts go later
                detection_threshold=self.config.keypoint_threshold,
                past_detections_length=0,
            )
        finally:
            logging.getLogger().removeFilter(quiet)
        self._last_frame: int | None = None
        self._looks: dict[int, np.ndarray] = {}

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
        cost = cfg.iou_weight * (1.0 - iou) + cfg.keypoint_weight * kp
        if cost > cfg.max_cost:
            return cost + cfg.appearance_weight  # beyond the threshold whatever the clothes
        if cfg.appearance_weight <= 0:
            return cost
        look = self._looks.get(int(tracked.initializing_id))  # type: ignore[attr-defined]
        det_look = detection.data[1]  # type: ignore[attr-defined]
        distance = (None if look is None or det_look is None
                    else appearance_distance(look, det_look))  # None: no region seen in both
        return cost if distance is None else cost + cfg.appearance_weight * distance

    def update(self, frame: int, boxes: np.ndarray, keypoints: np.ndarray,
               looks: list[np.ndarray] | None = None) -> list[int]:
        """Tracklet ids for the frame's detections (boxes (N, 4), keypoints (N, K, 3)); ``looks``:
        their appearance descriptors (:func:`.appearance.describe_appearance`), if known."""
        from norfair import Detection

        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        keypoints = np.asarray(keypoints, dtype=np.float64)
        period = 1 if self._last_frame is None else max(frame - self._last_frame, 1)
        self._last_frame = frame
        detections = []
        for i, (box, kp) in enumerate(zip(boxes, keypoints, strict=True)):
            points = np.concatenate([kp[:, :2], box.reshape(2, 2)])
            scores = np.concatenate([np.clip(kp[:, 2], 0.0, 1.0), [1.0, 1.0]])
            look = None if looks is None else np.asarray(looks[i], np.float64)
            detections.append(Detection(points=points, scores=scores, data=(i, look)))
        self._tracker.update(detections, period=period)
        ids = [-1] * len(detections)
        for tracked in self._tracker.tracked_objects:
            detection = tracked.last_detection
            if any(detection is d for d in detections):
                index, look = detection.data
                ids[index] = int(tracked.initializing_id)
                if look is not None:
                    self._remember_look(int(tracked.initializing_id), look)
        return ids

    def _remember_look(self, track_id: int, look: np.ndarray) -> None:
        """Blend a matched detection's look into its person's running look (a region not seen
        now keeps its old histogram, a region seen for the first time is taken as it is)."""
        old = self._looks.get(track_id)
        keep = self.config.appearance_memory
        self._looks[track_id] = (look.copy() if old is None else mean_appearance(
            np.stack([old, look]), np.array([keep, 1.0 - keep])).astype(np.float64))
